"""Checks the spans Phoenix returned for examples/two_services.rs (GET /v1/projects/<p>/spans).

Exits 0 when each query is one trace across both services: 2 traces of 5 spans, one root
(`handle_query`) each, `serve_retrieval` (retrieval service) a child of `call_retrieval` (query
service), and every parent among the spans. With --quiet, prints nothing.
"""
import json
import sys
from collections import defaultdict

quiet = "--quiet" in sys.argv
path = next(arg for arg in sys.argv[1:] if not arg.startswith("--"))
problems = []


def need(condition, text):
    if not condition:
        problems.append(text)


try:
    with open(path) as file:
        spans = json.load(file)["data"]
except (OSError, ValueError, KeyError) as error:
    spans = []
    problems.append(f"no span list from Phoenix: {error}")

by_id = {span["context"]["span_id"]: span for span in spans}
traces = defaultdict(list)
for span in spans:
    traces[span["context"]["trace_id"]].append(span)

need(len(traces) == 2, f"{len(traces)} traces, not 2")
expected = ["call_retrieval", "embed_query", "handle_query", "search_index", "serve_retrieval"]
for trace, members in traces.items():
    names = sorted(span["name"] for span in members)
    need(names == expected, f"trace {trace}: spans {names}")
    roots = [span for span in members if not span.get("parent_id")]
    need([span["name"] for span in roots] == ["handle_query"], f"trace {trace}: roots {roots}")
    for span in members:
        parent = span.get("parent_id")
        if not parent:
            continue
        need(parent in by_id, f"{span['name']}: parent {parent} not among the spans")
        if parent in by_id:
            need(by_id[parent]["context"]["trace_id"] == trace, f"{span['name']}: parent in another trace")
        if span["name"] == "serve_retrieval" and parent in by_id:
            need(by_id[parent]["name"] == "call_retrieval",
                 f"serve_retrieval's parent is {by_id[parent]['name']}, not call_retrieval")

if not quiet:
    print(f"{len(spans)} spans in {len(traces)} traces")
    for trace, members in sorted(traces.items()):
        serve = next((s for s in members if s["name"] == "serve_retrieval"), None)
        parent = by_id.get(serve.get("parent_id")) if serve else None
        print(f"trace {trace}: {len(members)} spans; serve_retrieval's parent: "
              f"{parent['name'] if parent else None}")
    for problem in problems:
        print("problem:", problem)
    print("ok" if not problems else "FAILED")
sys.exit(1 if problems else 0)

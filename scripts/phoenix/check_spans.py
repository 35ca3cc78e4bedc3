"""Checks the spans Phoenix returned for the RAG demo (GET /v1/projects/<project>/spans).

Exits 0 when they are all there: LLM spans with model name, input and output messages and token
counts; retriever spans with documents and scores; every parent link inside the set, one root per
trace. With --quiet, prints nothing (used while waiting for Phoenix to ingest).
"""
import json
import sys
from collections import Counter, defaultdict

quiet = "--quiet" in sys.argv
path = next(arg for arg in sys.argv[1:] if not arg.startswith("--"))
problems = []

try:
    with open(path) as file:
        spans = json.load(file)["data"]
except (OSError, ValueError, KeyError) as error:
    spans = []
    problems.append(f"no span list from Phoenix: {error}")


def kind(span):
    return span.get("span_kind") or span["attributes"].get("openinference.span.kind", "")


def need(condition, text):
    if not condition:
        problems.append(text)


by_kind = defaultdict(list)
for span in spans:
    by_kind[kind(span)].append(span)

llm = by_kind.get("LLM", [])
retrievers = by_kind.get("RETRIEVER", [])
need(llm, "no LLM span")
need(retrievers, "no RETRIEVER span")

for span in llm:
    a = span["attributes"]
    name = span["name"]
    need(a.get("llm.model_name"), f"{name}: no llm.model_name")
    need(a.get("llm.input_messages.0.message.role"), f"{name}: no input message role")
    need(a.get("llm.input_messages.0.message.content"), f"{name}: no input message content")
    need(a.get("llm.output_messages.0.message.content"), f"{name}: no output message")
    for count in ("prompt", "completion", "total"):
        need((a.get(f"llm.token_count.{count}") or 0) > 0, f"{name}: no llm.token_count.{count}")

for span in retrievers:
    a = span["attributes"]
    need(a.get("retrieval.documents.0.document.content"), f"{span['name']}: no documents")
    need(a.get("retrieval.documents.0.document.score") is not None, f"{span['name']}: no scores")

ids = {span["context"]["span_id"] for span in spans}
roots = Counter()
for span in spans:
    parent = span.get("parent_id")
    if parent:
        need(parent in ids, f"{span['name']}: parent {parent} not among the spans")
    else:
        roots[span["context"]["trace_id"]] += 1
traces = {span["context"]["trace_id"] for span in spans}
for trace in traces:
    need(roots[trace] == 1, f"trace {trace} has {roots[trace]} roots")

if not quiet:
    print(f"{len(spans)} spans in {len(traces)} traces; by kind: "
          + ", ".join(f"{k or '?'} {len(v)}" for k, v in sorted(by_kind.items())))
    if llm:
        a = llm[0]["attributes"]
        print(f"LLM span {llm[0]['name']!r}: model {a.get('llm.model_name')!r}, "
              f"{sum(1 for k in a if k.startswith('llm.input_messages.') and k.endswith('.role'))} input messages, "
              f"tokens {a.get('llm.token_count.prompt')} + {a.get('llm.token_count.completion')} "
              f"= {a.get('llm.token_count.total')}")
    if retrievers:
        a = retrievers[0]["attributes"]
        documents = sum(1 for k in a if k.startswith("retrieval.documents.") and k.endswith(".document.content"))
        print(f"RETRIEVER span {retrievers[0]['name']!r}: {documents} documents, "
              f"top score {a.get('retrieval.documents.0.document.score')}")
    for problem in problems:
        print("problem:", problem)
    print("ok" if not problems else "FAILED")
sys.exit(1 if problems else 0)

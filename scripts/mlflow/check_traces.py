"""Checks the traces MLflow returned for the RAG demo (what fetch_traces.py wrote).

Usage: check_traces.py TRACES.json [--spans N] [--quiet]

Exits 0 when they are all there: LLM spans (MLflow's span type LLM, or `openinference.span.kind`
LLM) with model name, input and output messages and token counts (`llm.token_count.*`, or the
`mlflow.chat.tokenUsage` MLflow derives from them); retriever spans with documents and scores;
in each trace, every parent link to a span of that trace and exactly one root. With --spans N,
the traces must hold N spans in all (what the exporter said it sent). With --quiet, prints
nothing (used while waiting for MLflow to show every span).
"""
import base64
import json
import sys
from collections import defaultdict

quiet = "--quiet" in sys.argv
argv = [arg for arg in sys.argv[1:] if arg != "--quiet"]
expected_spans = None
if "--spans" in argv:
    at = argv.index("--spans")
    expected_spans = int(argv[at + 1])
    del argv[at:at + 2]
path = argv[0]
problems = []

try:
    with open(path) as file:
        traces = json.load(file)["traces"]
except (OSError, ValueError, KeyError) as error:
    traces = []
    problems.append(f"no trace list from MLflow: {error}")


def any_value(value):
    """The Python value of an OTLP AnyValue in protobuf JSON (int64 may come as a string)."""
    if "string_value" in value:
        return value["string_value"]
    if "int_value" in value:
        return int(value["int_value"])
    if "double_value" in value:
        return float(value["double_value"])
    if "bool_value" in value:
        return value["bool_value"]
    if "array_value" in value:
        return [any_value(v) for v in value["array_value"].get("values", [])]
    if "kvlist_value" in value:
        return {kv["key"]: any_value(kv.get("value", {})) for kv in value["kvlist_value"].get("values", [])}
    if "bytes_value" in value:
        return base64.b64decode(value["bytes_value"])
    return None


def hex_id(value):
    return base64.b64decode(value).hex() if value else None


def need(condition, text):
    if not condition:
        problems.append(text)


spans = []  # (trace id as MLflow names it, span dict with flat attributes)
for trace in traces:
    trace_id = trace.get("trace_info", {}).get("trace_id", "?")
    for span in trace.get("spans", []):
        spans.append((trace_id, {
            "name": span.get("name", "?"),
            "span_id": hex_id(span.get("span_id")),
            "parent_id": hex_id(span.get("parent_span_id")),
            "attributes": {a["key"]: any_value(a.get("value", {})) for a in span.get("attributes", [])},
        }))


def kind(span):
    a = span["attributes"]
    return a.get("mlflow.spanType") or a.get("openinference.span.kind") or ""


def tokens(a):
    """Prompt, completion and total tokens: OpenInference's attributes, else MLflow's usage."""
    usage = a.get("mlflow.chat.tokenUsage") or {}
    if isinstance(usage, str):
        usage = json.loads(usage)
    return (a.get("llm.token_count.prompt") or usage.get("input_tokens") or 0,
            a.get("llm.token_count.completion") or usage.get("output_tokens") or 0,
            a.get("llm.token_count.total") or usage.get("total_tokens") or 0)


by_kind = defaultdict(list)
for _, span in spans:
    by_kind[kind(span)].append(span)

need(traces, "no trace in the experiment")
llm = by_kind.get("LLM", [])
retrievers = by_kind.get("RETRIEVER", [])
need(llm, "no LLM span")
need(retrievers, "no RETRIEVER span")
if expected_spans is not None:
    need(len(spans) == expected_spans, f"{len(spans)} spans in MLflow, the exporter sent {expected_spans}")

for span in llm:
    a = span["attributes"]
    name = span["name"]
    need(a.get("llm.model_name"), f"{name}: no llm.model_name")
    need(a.get("llm.input_messages.0.message.role"), f"{name}: no input message role")
    need(a.get("llm.input_messages.0.message.content"), f"{name}: no input message content")
    need(a.get("llm.output_messages.0.message.content"), f"{name}: no output message")
    for label, count in zip(("prompt", "completion", "total"), tokens(a)):
        need(count > 0, f"{name}: no {label} token count")

for span in retrievers:
    a = span["attributes"]
    need(a.get("retrieval.documents.0.document.content"), f"{span['name']}: no documents")
    need(a.get("retrieval.documents.0.document.score") is not None, f"{span['name']}: no scores")

ids = defaultdict(set)
for trace_id, span in spans:
    ids[trace_id].add(span["span_id"])
roots = defaultdict(int)
for trace_id, span in spans:
    if span["parent_id"]:
        need(span["parent_id"] in ids[trace_id],
             f"{span['name']}: parent {span['parent_id']} not in its trace {trace_id}")
    else:
        roots[trace_id] += 1
for trace in traces:
    trace_id = trace.get("trace_info", {}).get("trace_id", "?")
    need(roots[trace_id] == 1, f"trace {trace_id} has {roots[trace_id]} roots")
    state = trace.get("trace_info", {}).get("state")
    need(state in ("OK", "ERROR"), f"trace {trace_id} is in state {state}, not finished")

if not quiet:
    print(f"{len(spans)} spans in {len(traces)} traces; by kind: "
          + ", ".join(f"{k or '?'} {len(v)}" for k, v in sorted(by_kind.items())))
    if llm:
        a = llm[0]["attributes"]
        prompt, completion, total = tokens(a)
        print(f"LLM span {llm[0]['name']!r}: model {a.get('llm.model_name')!r} "
              f"(MLflow's mlflow.llm.model {a.get('mlflow.llm.model')!r}), "
              f"{sum(1 for k in a if k.startswith('llm.input_messages.') and k.endswith('.role'))} input messages, "
              f"tokens {prompt} + {completion} = {total} "
              f"(MLflow's mlflow.chat.tokenUsage {a.get('mlflow.chat.tokenUsage')})")
    if retrievers:
        a = retrievers[0]["attributes"]
        documents = sum(1 for k in a if k.startswith("retrieval.documents.") and k.endswith(".document.content"))
        print(f"RETRIEVER span {retrievers[0]['name']!r}: {documents} documents, "
              f"top score {a.get('retrieval.documents.0.document.score')}")
    usage = [t.get("trace_info", {}).get("trace_metadata", {}).get("mlflow.trace.tokenUsage") for t in traces]
    print(f"traces with MLflow's mlflow.trace.tokenUsage: {sum(1 for u in usage if u)} of {len(traces)}")
    for problem in problems:
        print("problem:", problem)
    print("ok" if not problems else "FAILED")
sys.exit(1 if problems else 0)

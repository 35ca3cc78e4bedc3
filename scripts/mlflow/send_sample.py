"""Sends MLflow a hand-made OTLP/HTTP protobuf request shaped like the RAG demo's, without Rust.

Stands in for `cargo run --example rag_pipeline` when `scripts/mlflow-e2e.sh --sample` is run: the
same environment (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID), the same request (POST
`$MLFLOW_TRACKING_URI/v1/traces`, `Content-Type: application/x-protobuf`, header
`x-mlflow-experiment-id`), the same resource attributes and OpenInference span attributes as the
exporter writes, and the same `otlp:` summary line at the end.

Each of the --traces (default 2) traces is a query: a CHAIN root with a RETRIEVER child (documents
with ids, contents and scores) over an EMBEDDING span, and a CHAIN "synthesize" child over the LLM
span (model name, provider, input and output messages, token counts).
"""
import argparse
import gzip
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--traces", type=int, default=2, help="how many query traces to send")
parser.add_argument("--requests", type=int, default=1,
                    help="split the spans, in the order they ended, over this many requests")
parser.add_argument("--gzip", action="store_true", help="compress the requests (Content-Encoding: gzip)")
args = parser.parse_args()

base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
experiment_id = os.environ["MLFLOW_EXPERIMENT_ID"]


def value(v):
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def attributes(pairs):
    return [KeyValue(key=k, value=value(v)) for k, v in pairs.items()]


def span(trace_id, name, kind, attrs, parent=None, start=0, duration_ms=5):
    now = time.time_ns()
    return Span(
        trace_id=trace_id,
        span_id=secrets.token_bytes(8),
        parent_span_id=parent.span_id if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now + start * 1_000_000,
        end_time_unix_nano=now + (start + duration_ms) * 1_000_000,
        attributes=attributes({"openinference.span.kind": kind, **attrs}),
        status=Status(code=Status.STATUS_CODE_OK),
    )


def query_trace(question):
    trace_id = secrets.token_bytes(16)
    root = span(trace_id, "RagPipeline.query", "CHAIN", {
        "input.value": json.dumps({"query": question}),
        "input.mime_type": "application/json",
        "output.value": "Spans are dropped when the buffer is full.",
        "output.mime_type": "text/plain",
    }, duration_ms=40)
    retriever = span(trace_id, "VectorRetriever.retrieve", "RETRIEVER", {
        "input.value": question,
        "retrieval.documents.0.document.id": "node-1",
        "retrieval.documents.0.document.content": "A span is dropped when its buffer is full.",
        "retrieval.documents.0.document.score": 0.91,
        "retrieval.documents.0.document.metadata": json.dumps({"file": "spans.md"}),
        "retrieval.documents.1.document.id": "node-7",
        "retrieval.documents.1.document.content": "Handlers see every event of a span.",
        "retrieval.documents.1.document.score": 0.42,
    }, parent=root, start=1, duration_ms=10)
    embedding = span(trace_id, "MockEmbedding.get_query_embedding", "EMBEDDING", {
        "embedding.model_name": "mock-embedding",
        "embedding.embeddings.0.embedding.text": question,
    }, parent=retriever, start=2, duration_ms=3)
    synthesize = span(trace_id, "Synthesizer.synthesize", "CHAIN", {
        "input.value": question,
    }, parent=root, start=12, duration_ms=25)
    llm = span(trace_id, "MockLLM.chat", "LLM", {
        "llm.model_name": "mock-gpt",
        "llm.provider": "openai",
        "llm.invocation_parameters": json.dumps({"temperature": 0.0}),
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Answer from the context.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Spans are dropped when the buffer is full.",
        "output.value": "Spans are dropped when the buffer is full.",
        "output.mime_type": "text/plain",
        "llm.token_count.prompt": 42,
        "llm.token_count.completion": 9,
        "llm.token_count.total": 51,
    }, parent=synthesize, start=13, duration_ms=20)
    # Children end first, as the exporter sends them.
    return [embedding, retriever, llm, synthesize, root]


spans = []
for i in range(args.traces):
    spans += query_trace(f"Sample question {i + 1}: what happens when a span is dropped?")

resource = Resource(attributes=attributes({
    "service.name": "rag_pipeline",
    "openinference.project.name": "instrument-e2e",
    "telemetry.sdk.name": "instrument",
    "telemetry.sdk.language": "rust",
    "telemetry.sdk.version": "sample",
}))


def send(batch):
    """Posts one request with `batch`; returns None when MLflow took it, else the reason."""
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource,
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="instrument"), spans=batch)],
    )])
    headers = {
        "Content-Type": "application/x-protobuf",
        "x-mlflow-experiment-id": experiment_id,
        "User-Agent": "instrument-otlp/sample",
    }
    body = request.SerializeToString()
    if args.gzip:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    http = urllib.request.Request(f"{base}/v1/traces", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(http, timeout=30) as response:
            response.read()
            return None
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read()[:300]!r}"
    except OSError as error:
        return str(error)


size = -(-len(spans) // max(1, args.requests))
exported, dropped, reasons = 0, 0, []
for at in range(0, len(spans), size):
    batch = spans[at:at + size]
    reason = send(batch)
    if reason is None:
        exported += len(batch)
    else:
        dropped += len(batch)
        reasons.append(reason)
print(f"otlp: exported {exported} spans, dropped {dropped}" + (f" ({reasons[0]})" if reasons else ""))
sys.exit(1 if dropped else 0)

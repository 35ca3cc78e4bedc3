#!/usr/bin/env bash
# phoenix-e2e.sh: the RAG demo's traces, exported over OTLP/HTTP, as a real Arize Phoenix shows them.
#
# Makes a Python venv under target/ with arize-phoenix, starts Phoenix on 127.0.0.1 only (HTTP and
# OTLP/gRPC, telemetry off, a scratch working directory), waits until it answers, runs
# `cargo run --example rag_pipeline` with the OTLP exporter pointed at it, then reads the spans back
# from Phoenix's REST API and fails unless they are there: the LLM span with its model name, messages
# and token counts, the retriever span with its documents, and parent links forming one trace per
# query; then runs examples/two_services.rs (two processes, traceparent over HTTP) and fails unless
# each query is one trace across both services. Phoenix is stopped on exit, whatever happens.
#
# Usage: bash scripts/phoenix-e2e.sh      (PHOENIX_PORT=6006 PHOENIX_GRPC_PORT=4317 by default)
# Too heavy for .ci/run (the venv is ~850 MB); the exporter's own tests use an in-process receiver.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/target/phoenix-venv"
PHOENIX_VERSION=${PHOENIX_VERSION:-20.26.1}
export PHOENIX_PORT=${PHOENIX_PORT:-6006}
export PHOENIX_GRPC_PORT=${PHOENIX_GRPC_PORT:-4317}
PROJECT=${PROJECT:-instrument-e2e}
BASE="http://127.0.0.1:$PHOENIX_PORT"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/pip" show arize-phoenix >/dev/null 2>&1; then
    echo "== installing arize-phoenix $PHOENIX_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
fi

echo "== starting Phoenix on $BASE (gRPC on 127.0.0.1:$PHOENIX_GRPC_PORT)"
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/instrument-phoenix.XXXXXX")
export PHOENIX_WORKING_DIR="$WORKDIR"
"$VENV/bin/python" "$REPO/scripts/phoenix/serve_loopback.py" >"$WORKDIR/phoenix.log" 2>&1 &
PHOENIX_PID=$!
stop() {
    kill "$PHOENIX_PID" 2>/dev/null || true
    wait "$PHOENIX_PID" 2>/dev/null || true
    rm -rf "$WORKDIR"
}
trap stop EXIT

for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "$BASE/healthz"; then break; fi
    if ! kill -0 "$PHOENIX_PID" 2>/dev/null; then
        echo "Phoenix exited:"; cat "$WORKDIR/phoenix.log"; exit 1
    fi
    sleep 1
done
curl -fs -o /dev/null "$BASE/healthz" || { echo "Phoenix did not become ready"; tail -20 "$WORKDIR/phoenix.log"; exit 1; }
echo "   ready"

echo "== running the RAG demo with the OTLP exporter"
cd "$REPO"
PHOENIX_COLLECTOR_ENDPOINT="$BASE" PHOENIX_PROJECT_NAME="$PROJECT" \
    cargo run --quiet --example rag_pipeline >"$WORKDIR/demo.log"
grep -E "^(Q:|A:)|otlp" "$WORKDIR/demo.log" || true

echo "== reading the spans back from Phoenix"
# Phoenix ingests asynchronously: give it a few seconds to show every span.
for _ in $(seq 1 30); do
    curl -fs "$BASE/v1/projects/$PROJECT/spans?limit=1000" >"$WORKDIR/spans.json" || true
    if "$VENV/bin/python" "$REPO/scripts/phoenix/check_spans.py" "$WORKDIR/spans.json" --quiet; then break; fi
    sleep 1
done
"$VENV/bin/python" "$REPO/scripts/phoenix/check_spans.py" "$WORKDIR/spans.json"

echo "== two services, one trace: examples/two_services.rs (two processes, traceparent over HTTP)"
PHOENIX_COLLECTOR_ENDPOINT="$BASE" PHOENIX_PROJECT_NAME="$PROJECT-two-services" \
    cargo run --quiet --example two_services >"$WORKDIR/two_services.log"
grep -E "otlp" "$WORKDIR/two_services.log" || true
for _ in $(seq 1 30); do
    curl -fs "$BASE/v1/projects/$PROJECT-two-services/spans?limit=1000" >"$WORKDIR/two_services.json" || true
    if "$VENV/bin/python" "$REPO/scripts/phoenix/check_two_services.py" "$WORKDIR/two_services.json" --quiet; then break; fi
    sleep 1
done
"$VENV/bin/python" "$REPO/scripts/phoenix/check_two_services.py" "$WORKDIR/two_services.json"

#!/usr/bin/env bash
# mlflow-e2e.sh: the RAG demo's traces, exported over OTLP/HTTP, as a real MLflow server shows them.
#
# Makes a Python venv under target/ with mlflow, starts `mlflow server` on 127.0.0.1 only (one
# worker, no job runner, telemetry off, a scratch SQLite store and artifact folder), waits until it
# answers, creates an experiment through the REST API, runs `cargo run --example rag_pipeline` with
# MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_ID set (the exporter then posts OTLP protobuf to
# $MLFLOW_TRACKING_URI/v1/traces with the header x-mlflow-experiment-id), then reads the traces back
# through MLflow's REST API and fails unless they are all there: as many spans as the exporter said
# it sent, the LLM span with its model name, messages and token counts, the retriever span with its
# documents, and in each trace parent links inside it and one root. MLflow is stopped on exit,
# whatever happens; the scratch folder (logs, store, traces.json) is removed after a pass and kept
# after a failure.
#
# Usage: bash scripts/mlflow-e2e.sh [--sample]      (MLFLOW_PORT=5055 by default)
#   --sample  sends a hand-made request shaped like the exporter's (scripts/mlflow/send_sample.py)
#             instead of running the Rust demo: checks MLflow and these scripts without cargo.
# Too heavy for .ci/run (the venv is ~850 MB); the exporter's own tests use an in-process receiver.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/target/mlflow-venv"
PY="$VENV/bin/python"
MLFLOW_VERSION=${MLFLOW_VERSION:-3.17.2}
export MLFLOW_PORT=${MLFLOW_PORT:-5055}
EXPERIMENT=${EXPERIMENT:-instrument-e2e}
BASE="http://127.0.0.1:$MLFLOW_PORT"

SAMPLE=false
case "${1:-}" in
    --sample) SAMPLE=true ;;
    "") ;;
    *) echo "usage: bash scripts/mlflow-e2e.sh [--sample]" >&2; exit 2 ;;
esac

installed() {
    "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('mlflow') != '$MLFLOW_VERSION')"
}
if [ ! -x "$PY" ] || ! installed 2>/dev/null; then
    echo "== installing mlflow $MLFLOW_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "mlflow==$MLFLOW_VERSION"
fi

if curl -s -o /dev/null "$BASE/"; then
    echo "something already listens on $BASE: set MLFLOW_PORT to a free port"; exit 1
fi

echo "== starting MLflow $MLFLOW_VERSION on $BASE"
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/instrument-mlflow.XXXXXX")
# serve.py leads a process group of its own (its pid), so one signal stops the launcher and uvicorn.
"$PY" "$REPO/scripts/mlflow/serve.py" "$WORKDIR" >"$WORKDIR/mlflow.log" 2>&1 &
MLFLOW_PID=$!
stop() {
    local status=$?
    kill -TERM -- "-$MLFLOW_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 -- "-$MLFLOW_PID" 2>/dev/null || break
        sleep 0.25
    done
    kill -KILL -- "-$MLFLOW_PID" 2>/dev/null || true
    wait "$MLFLOW_PID" 2>/dev/null || true
    if [ "$status" -eq 0 ]; then
        rm -rf "$WORKDIR"
    else
        echo "kept $WORKDIR (mlflow.log, demo.log, traces.json) for a look"
    fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in $(seq 1 120); do
    if ! kill -0 "$MLFLOW_PID" 2>/dev/null; then
        echo "MLflow exited:"; cat "$WORKDIR/mlflow.log"; exit 1
    fi
    if curl -fs -o /dev/null "$BASE/health"; then break; fi
    sleep 1
done
curl -fs -o /dev/null "$BASE/health" || { echo "MLflow did not become ready"; tail -20 "$WORKDIR/mlflow.log"; exit 1; }
echo "   ready"

EXPERIMENT_ID=$(curl -fsS -X POST "$BASE/api/2.0/mlflow/experiments/create" \
    -H "Content-Type: application/json" -d "{\"name\": \"$EXPERIMENT\"}" |
    "$PY" -c "import json, sys; print(json.load(sys.stdin)['experiment_id'])")
echo "   experiment $EXPERIMENT has id $EXPERIMENT_ID"

cd "$REPO"
if $SAMPLE; then
    echo "== sending a sample OTLP request shaped like the exporter's"
    DEMO=("$PY" "$REPO/scripts/mlflow/send_sample.py" --traces 3 --requests 2)
else
    echo "== running the RAG demo with the OTLP exporter"
    DEMO=(cargo run --quiet --example rag_pipeline)
fi
demo_status=0
MLFLOW_TRACKING_URI="$BASE" MLFLOW_EXPERIMENT_ID="$EXPERIMENT_ID" "${DEMO[@]}" >"$WORKDIR/demo.log" || demo_status=$?
grep -E "^(Q:|A:)|otlp" "$WORKDIR/demo.log" || true
[ "$demo_status" -eq 0 ] || { echo "the demo failed (exit $demo_status):"; tail -20 "$WORKDIR/demo.log"; exit 1; }
SUMMARY=$(grep -E "^otlp: exported [0-9]+ spans, dropped [0-9]+" "$WORKDIR/demo.log" | tail -1 || true)
[ -n "$SUMMARY" ] || { echo "no 'otlp: exported N spans' line: the exporter did not run"; exit 1; }
SENT=$(sed -E 's/^otlp: exported ([0-9]+) spans.*/\1/' <<<"$SUMMARY")
DROPPED=$(sed -E 's/^otlp: exported [0-9]+ spans, dropped ([0-9]+).*/\1/' <<<"$SUMMARY")
[ "$DROPPED" -eq 0 ] || { echo "the exporter dropped $DROPPED spans"; tail -20 "$WORKDIR/mlflow.log"; exit 1; }

echo "== reading the traces back from MLflow"
# MLflow stores the spans before it answers the export; still, allow a few seconds, as for Phoenix.
for _ in $(seq 1 30); do
    "$PY" "$REPO/scripts/mlflow/fetch_traces.py" "$BASE" "$EXPERIMENT_ID" "$WORKDIR/traces.json" \
        2>"$WORKDIR/fetch.err" || true
    if "$PY" "$REPO/scripts/mlflow/check_traces.py" "$WORKDIR/traces.json" --spans "$SENT" --quiet; then break; fi
    sleep 1
done
cat "$WORKDIR/fetch.err" >&2
"$PY" "$REPO/scripts/mlflow/check_traces.py" "$WORKDIR/traces.json" --spans "$SENT"

"""Reads every trace of an MLflow experiment, with its spans, through MLflow's REST API.

Usage: fetch_traces.py BASE_URL EXPERIMENT_ID OUT.json

Searches the experiment's traces (POST /api/3.0/mlflow/traces/search, page by page), then gets
each one with its spans (GET /api/3.0/mlflow/traces/get?trace_id=...), and writes
{"traces": [{"trace_info": ..., "spans": [...]}, ...]} to OUT.json, spans as MLflow returns them
(OTLP spans in protobuf JSON: base64 ids, attributes as key/AnyValue pairs). Exits non-zero, with
the reason on stderr, when MLflow does not answer.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

base, experiment_id, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


try:
    infos, token = [], None
    while True:
        page = call("POST", "/api/3.0/mlflow/traces/search", {
            "locations": [{"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": experiment_id}}],
            "max_results": 500,
            **({"page_token": token} if token else {}),
        })
        infos += page.get("traces", [])
        token = page.get("next_page_token")
        if not token:
            break
    traces = []
    for info in infos:
        query = urllib.parse.urlencode({"trace_id": info["trace_id"]})
        traces.append(call("GET", f"/api/3.0/mlflow/traces/get?{query}")["trace"])
except (OSError, ValueError, KeyError) as error:
    detail = error.read().decode(errors="replace")[:300] if isinstance(error, urllib.error.HTTPError) else ""
    print(f"reading traces from MLflow failed: {error} {detail}".rstrip(), file=sys.stderr)
    sys.exit(1)

with open(out, "w") as file:
    json.dump({"traces": traces}, file)

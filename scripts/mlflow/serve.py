"""Runs the MLflow tracking server for the end-to-end check, reachable from this machine only.

Usage: serve.py WORKDIR   (the port comes from MLFLOW_PORT, 5055 by default)

`mlflow server` is a launcher: it starts uvicorn as a child process (and, unless told not to, a job
runner beside it). This wrapper makes itself the leader of a new process group before handing over,
so the script stops the whole tree with one signal to that group (its pid), and it sets up a lean,
private server: HTTP on 127.0.0.1 only, one worker, no job runner, telemetry off, and a scratch
store in WORKDIR (SQLite file for the backend, a folder for artifacts).
"""
import os
import sys

workdir = os.path.abspath(sys.argv[1])
settings = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}
for name, value in settings.items():
    os.environ.setdefault(name, value)

os.setpgid(0, 0)
os.chdir(workdir)
mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
os.execv(mlflow, [
    mlflow, "server",
    "--host", "127.0.0.1",
    "--port", os.environ.get("MLFLOW_PORT", "5055"),
    "--workers", "1",
    "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
    "--artifacts-destination", f"{workdir}/artifacts",
])

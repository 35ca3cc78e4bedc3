"""Runs Arize Phoenix for the end-to-end check, reachable from this machine only.

Phoenix takes its HTTP host from PHOENIX_HOST, but opens its OTLP/gRPC port on every interface. This
wrapper makes gRPC servers bind to 127.0.0.1 before handing over to `phoenix serve`, and turns
Phoenix's telemetry off. Ports and the working directory come from the environment.
"""
import os
import sys
import tempfile

settings = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_PORT": "6006",
    "PHOENIX_GRPC_PORT": "4317",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "DO_NOT_TRACK": "1",
    "OTEL_SDK_DISABLED": "true",
}
for name, value in settings.items():
    os.environ.setdefault(name, value)
os.environ.setdefault("PHOENIX_WORKING_DIR", tempfile.mkdtemp(prefix="instrument-phoenix-"))

import grpc.aio  # noqa: E402

original_server = grpc.aio.server


def loopback_server(*args, **kwargs):
    server = original_server(*args, **kwargs)
    for method in ("add_insecure_port", "add_secure_port"):
        bind = getattr(server, method)

        def on_loopback(address, *more, bind=bind):
            host, _, port = address.rpartition(":")
            return bind(f"127.0.0.1:{port}", *more)

        setattr(server, method, on_loopback)
    return server


grpc.aio.server = loopback_server

from phoenix.server.main import main  # noqa: E402

sys.argv = ["phoenix", "serve"]
main()

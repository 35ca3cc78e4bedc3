#!/usr/bin/env bash
# aim-e2e.sh: the RAG demo's traces, exported as JSON Lines, loaded into a real Aim repository and
# read back with Aim's own query API.
#
# Makes a Python venv under target/ with aim (pinned), runs `cargo run --example rag_pipeline` with
# INSTRUMENT_JSONL pointing into a scratch directory (or takes an existing export with --export),
# imports the file into a fresh Aim repository there (scripts/aim/import_jsonl.py: one Aim Run per
# trace, the LLM calls' prompts, messages and responses as Aim Texts), then fails unless
# scripts/aim/check_repo.py finds every LLM call of the export in the repository with the same
# messages and response, and one run per trace. No Aim server is started: import and query work on
# the repository's files. Telemetry is off. The scratch directory is removed on exit.
#
# Usage: bash scripts/aim-e2e.sh [--export FILE]     (AIM_VERSION=3.29.1 by default)
# Too heavy for .ci/run (the venv is ~390 MB); it needs the network to PyPI the first time.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/target/aim-venv"
AIM_VERSION=${AIM_VERSION:-3.29.1}
EXPERIMENT=${EXPERIMENT:-instrument-e2e}
EXPORT=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --export)
            [ $# -ge 2 ] || { echo "aim-e2e.sh: --export needs a file" >&2; exit 2; }
            EXPORT=$2; shift 2 ;;
        --export=*) EXPORT=${1#--export=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "aim-e2e.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$EXPORT" ]; then
    [ -f "$EXPORT" ] && [ -r "$EXPORT" ] || { echo "aim-e2e.sh: --export $EXPORT: no such readable file" >&2; exit 2; }
    EXPORT=$(cd "$(dirname "$EXPORT")" && pwd)/$(basename "$EXPORT")
fi

# Aim 3.17+ has no telemetry left in its Python code and its UI is built with telemetry_enabled=0;
# the variables below are the documented opt-outs of older versions and of anything else that asks.
export AIM_UI_TELEMETRY_ENABLED=0 DO_NOT_TRACK=1

START=$SECONDS
installed() { "$VENV/bin/python" -c 'import aim, importlib.metadata as m, sys; sys.exit(m.version("aim") != sys.argv[1])' "$AIM_VERSION" 2>/dev/null; }
if [ ! -x "$VENV/bin/python" ] || ! installed; then
    echo "== installing aim $AIM_VERSION into $VENV"
    python3 -m venv "$VENV"
    if ! "$VENV/bin/pip" install -q --disable-pip-version-check "aim==$AIM_VERSION"; then
        echo "aim-e2e.sh: pip could not install aim==$AIM_VERSION into $VENV (see above)" >&2; exit 1
    fi
    installed || { echo "aim-e2e.sh: aim $AIM_VERSION is installed but does not import" >&2; exit 1; }
fi
echo "== aim $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aim"))') ($("$VENV/bin/python" --version)), venv $(du -sh "$VENV" | cut -f1)"

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/instrument-aim.XXXXXX")
cleanup() { rm -rf "$WORKDIR"; }
trap cleanup EXIT

if [ -z "$EXPORT" ]; then
    echo "== running the RAG demo with the JSON Lines exporter"
    EXPORT="$WORKDIR/run.jsonl"
    cd "$REPO"
    if ! INSTRUMENT_JSONL="$EXPORT" cargo run --quiet --example rag_pipeline >"$WORKDIR/demo.log" 2>&1; then
        echo "aim-e2e.sh: the RAG demo failed:" >&2; tail -30 "$WORKDIR/demo.log" >&2; exit 1
    fi
    grep -E "^jsonl:" "$WORKDIR/demo.log" || { echo "aim-e2e.sh: the demo printed no 'jsonl:' line" >&2; tail -20 "$WORKDIR/demo.log" >&2; exit 1; }
    [ -s "$EXPORT" ] || { echo "aim-e2e.sh: the demo wrote nothing to $EXPORT" >&2; exit 1; }
else
    echo "== using the export $EXPORT ($(wc -l <"$EXPORT") lines)"
fi

echo "== importing into a scratch Aim repository"
if ! "$VENV/bin/python" "$REPO/scripts/aim/import_jsonl.py" "$EXPORT" --repo "$WORKDIR/aim" --experiment "$EXPERIMENT"; then
    echo "aim-e2e.sh: the import failed (see above)" >&2; exit 1
fi

echo "== reading it back with Aim's query API"
if ! "$VENV/bin/python" "$REPO/scripts/aim/check_repo.py" --repo "$WORKDIR/aim" --export "$EXPORT" \
    --experiment "$EXPERIMENT" --show-example; then
    echo "aim-e2e.sh: the Aim repository does not hold the export's LLM calls (problems above)" >&2; exit 1
fi
echo "== passed in $((SECONDS - START)) s"

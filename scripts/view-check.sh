#!/usr/bin/env bash
# Opens the RAG demo's HTML report in headless Chromium and checks what it shows: the traces, a
# trace's spans, the LLM span's conversation and token counts, a retriever's documents, the
# search box, no console error, no network request; and that markup in a span's argument renders
# as text; and that a report of 100,000 spans opens, scrolls and filters. Installs Chromium (Debian's package) and playwright-core (npm) when missing; saves a
# screenshot at target/view-check/report.png. About a minute once built.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/view-check
mkdir -p "$out"

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Chromium"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

echo "== the demo, with its report and a JSON Lines export of the same run"
INSTRUMENT_REPORT="$out/report.html" INSTRUMENT_JSONL="$out/run.jsonl" \
    cargo run --quiet --example rag_pipeline >"$out/demo.txt"
grep -A1 "── report" "$out/demo.txt"

echo "== a report of a span whose argument and name hold markup"
cat >"$out/hostile.jsonl" <<'JSONL'
{"span_id":"x-0b3d9a4c-8e1f-4c2a-9d5e-7f6a1b2c3d4e","parent_id":null,"name":"<img src=x onerror=alert(2)>","dispatcher":"<b>d</b>","start_unix_nano":1000,"end_unix_nano":2000,"duration_ns":1000,"status":"error","error":"<script>alert(3)</script>","attributes":{"args":{"query":"</script><script>alert(1)</script>"},"metadata":{},"tags":{}},"events":[]}
JSONL
cargo run --quiet -p instrument-view -- "$out/hostile.jsonl" -o "$out/hostile.html" --title "<script>alert(4)</script>"

echo "== a run of 100,000 spans"
node scripts/view-check/large.mjs "$out/large.jsonl"
cargo run --quiet -p instrument-view -- "$out/large.jsonl" -o "$out/large.html"

echo "== Chromium"
(cd scripts/view-check && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent; })
node scripts/view-check/check.mjs "$out/report.html" "$out/run.jsonl" "$out/hostile.html" "$out/report.png" "$out/large.html"

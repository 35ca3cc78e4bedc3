"""Checks an Aim repository written by import_jsonl.py against the export it came from.

    python check_repo.py --repo DIR --export EXPORT.jsonl [--experiment NAME] [--show-example]

Reads the repository back with Aim's own query API (Repo.query_runs, query_texts, query_metrics)
and exits 0 only when: there is one run per trace of the export and no other run (of the
experiment, when one is given); each run's params name its trace, root span, span count and LLM
call count; every LLM call of the export is there at its step with its prompt, each input message
(text and role), its response (and no response when the export has none), and a context naming
its span, span id, parent, kind, model and token counts; the per-run metrics llm_calls and
total_tokens match; and no text is there that the export does not explain. Otherwise it lists
the problems and exits 1 (2 for a bad export or arguments). With --show-example it also prints one
conversation as read back from Aim.
"""
import argparse
import json
import logging
import os
import sys
from collections import defaultdict

from jsonl_export import ExportError, load_traces

PROG = "check_repo.py"

for _name, _value in {"AIM_UI_TELEMETRY_ENABLED": "0", "DO_NOT_TRACK": "1"}.items():
    os.environ.setdefault(_name, _value)


class QueryFailures(logging.Handler):
    """Aim logs a query that raises (`query failed, ...`) and treats it as matching nothing: record
    those so that a broken query is a problem, not an empty result."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def difference(got, want):
    """Where two texts part: the first differing character and a little of each around it."""
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    start = max(0, at - 30)
    return (f"differs at character {at} (lengths {len(got)} and {len(want)}): Aim has "
            f"{clip(got[start:at + 50], 90)!r}, the export {clip(want[start:at + 50], 90)!r}")


def clip(text, width=160):
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, metavar="DIR", help="the Aim repository (DIR/.aim)")
    parser.add_argument("--export", required=True, metavar="EXPORT.jsonl", help="the file that was imported")
    parser.add_argument("--experiment", metavar="NAME", help="only look at this experiment's runs")
    parser.add_argument("--show-example", action="store_true", help="print one conversation read back from Aim")
    args = parser.parse_args()

    try:
        traces = load_traces(args.export)
    except ExportError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(2)
    calls = [call for trace in traces for call in trace.calls]

    problems = []

    def need(condition, text):
        if not condition:
            problems.append(text)

    try:
        from aim import Repo
    except ImportError as error:
        print(f"{PROG}: error: cannot import Aim ({error})", file=sys.stderr)
        sys.exit(1)
    if not Repo.exists(args.repo):
        print(f"{PROG}: no Aim repository in {args.repo}\nFAILED")
        sys.exit(1)

    failures = QueryFailures()
    logging.getLogger("aim.storage.query").addHandler(failures)
    repo = Repo.from_path(args.repo)
    scope = f"run.experiment == {json.dumps(args.experiment)}" if args.experiment else ""

    # Runs, by the trace they hold.
    runs = {}
    by_trace = defaultdict(list)
    for run_view in repo.query_runs(scope, report_mode=0).iter_runs():
        run = run_view.run
        trace = run.get("trace") or {}
        runs[run.hash] = {"run": run, "trace": trace, "llm": run.get("llm") or {}}
        if isinstance(trace, dict) and trace.get("trace_id"):
            by_trace[trace["trace_id"]].append(run.hash)
        else:
            problems.append(f"run {run.hash} ({run.name}) has no `trace` param")
    need(len(runs) == len(traces), f"{len(runs)} runs in the repository for {len(traces)} traces in the export")

    run_of = {}
    for trace in traces:
        hashes = by_trace.get(trace.trace_id, [])
        if len(hashes) != 1:
            problems.append(f"trace {trace.trace_id}: {len(hashes)} runs, want 1")
            continue
        run_of[trace.trace_id] = hashes[0]
        info = runs[hashes[0]]
        root = trace.root
        got = info["trace"]
        need(got.get("span_count") == len(trace.spans),
             f"trace {trace.trace_id}: span_count {got.get('span_count')}, export has {len(trace.spans)}")
        need(got.get("root_span") == (root.name if root else None),
             f"trace {trace.trace_id}: root_span {got.get('root_span')!r}, export has {root.name if root else None!r}")
        need(info["llm"].get("calls") == len(trace.calls),
             f"trace {trace.trace_id}: llm.calls {info['llm'].get('calls')}, export has {len(trace.calls)}")
    trace_of = {run_hash: trace_id for trace_id, run_hash in run_of.items()}

    # Every text in those runs, by (trace, step, name, message index).
    texts = {}
    for seq in repo.query_texts(scope, report_mode=0).iter():
        trace_id = trace_of.get(seq.run.hash)
        context = seq.context.to_dict()
        for step, (value, *_rest) in seq.data.items():
            key = (trace_id, step, seq.name, context.get("index") if seq.name == "message" else None)
            if key in texts:
                problems.append(f"run {seq.run.hash}: two {seq.name!r} texts at step {step} (index {key[3]})")
            texts[key] = (value.data, context, seq.run.hash)

    seen = set()
    messages_found = responses_found = 0
    for call in calls:
        trace_id = call.span.trace
        where = f"trace {trace_id} call {call.step} ({call.kind} in span {call.span.span_id})"
        if trace_id not in run_of:
            problems.append(f"{where}: no run")
            continue

        def text(name, index=None):
            key = (trace_id, call.step, name, index)
            seen.add(key)
            return texts.get(key)

        prompt = text("prompt")
        if prompt is None:
            problems.append(f"{where}: no prompt text at step {call.step}")
            continue
        value, context, _ = prompt
        need(value == call.prompt, f"{where}: prompt {difference(value, call.prompt)}")
        expected = {
            "call": call.step, "kind": call.kind, "span": call.span.name, "span_id": call.span.span_id,
            "parent_id": call.span.parent_id, "complete": call.complete,
        }
        if call.model:
            expected["model"] = call.model
        if call.usage:
            expected.update(call.usage)
        for key, want in expected.items():
            need(context.get(key) == want, f"{where}: context {key} is {context.get(key)!r}, want {want!r}")

        for index, message in enumerate(call.messages):
            got = text("message", index)
            if got is None:
                problems.append(f"{where}: no message {index} ({message.role})")
                continue
            messages_found += 1
            value, context, _ = got
            need(value == message.text, f"{where}: message {index} {difference(value, message.text)}")
            need(context.get("role") == message.role,
                 f"{where}: message {index} role {context.get('role')!r}, want {message.role!r}")
            need(context.get("span_id") == call.span.span_id, f"{where}: message {index} in another span's context")

        got = text("response")
        if call.response is None:
            need(got is None, f"{where}: the export has no response, but Aim has {clip(got[0]) if got else ''!r}")
        elif got is None:
            problems.append(f"{where}: no response text")
        else:
            responses_found += 1
            value, context, _ = got
            need(value == call.response, f"{where}: response {difference(value, call.response)}")
            if call.response_role:
                need(context.get("role") == call.response_role,
                     f"{where}: response role {context.get('role')!r}, want {call.response_role!r}")
        if call.response_tool_calls is not None:
            need(text("tool_calls") is not None, f"{where}: no tool_calls text")

    unexpected = defaultdict(list)
    for key, (value, context, run_hash) in texts.items():
        if key not in seen:
            unexpected[run_hash].append((key, value))
    for run_hash, extra in unexpected.items():
        if run_hash not in trace_of:
            problems.append(f"run {run_hash} (not a trace of the export) holds {len(extra)} texts")
            continue
        for (_, step, name, _), value in extra:
            problems.append(f"run {run_hash}: unexpected {name!r} text at step {step}: {clip(value, 80)!r}")

    # Per-run metrics.
    metrics = {}
    metric_query = 'metric.name in ["llm_calls", "total_tokens"]' + (f" and {scope}" if scope else "")
    for seq in repo.query_metrics(metric_query, report_mode=0).iter():
        for step, (value, *_rest) in seq.data.items():
            metrics[(seq.run.hash, seq.name, step)] = value
    for trace in traces:
        run_hash = run_of.get(trace.trace_id)
        if run_hash is None:
            continue
        need(metrics.get((run_hash, "llm_calls", 0)) == len(trace.calls),
             f"trace {trace.trace_id}: metric llm_calls {metrics.get((run_hash, 'llm_calls', 0))}, want {len(trace.calls)}")
        usages = [call.usage for call in trace.calls if call.usage]
        if usages:
            want = sum(u["total_tokens"] for u in usages)
            need(metrics.get((run_hash, "total_tokens", 0)) == want,
                 f"trace {trace.trace_id}: metric total_tokens {metrics.get((run_hash, 'total_tokens', 0))}, want {want}")

    for message in dict.fromkeys(failures.messages):
        problems.append(f"Aim: {message}")
    need(calls, "the export has no LLM call: nothing to check")

    print(f"{len(runs)} runs for {len(traces)} traces; {len(calls)} LLM calls in the export, "
          f"{len(texts)} texts in Aim ({messages_found} input messages and {responses_found} responses compared)")
    if args.show_example and calls:
        call = next((c for c in calls if c.messages and c.complete and c.response), calls[0])
        trace_id = call.span.trace
        print(f"example, read back from Aim: run {run_of.get(trace_id)}, step {call.step}, "
              f"{call.kind} in span {call.span.span_id}")
        context = (texts.get((trace_id, call.step, "prompt", None)) or (None, {}, None))[1]
        details = ", ".join(f"{k} {context[k]}" for k in ("model", "prompt_tokens", "completion_tokens", "total_tokens") if k in context)
        if details:
            print(f"  {details}")
        if call.messages:
            for index in range(len(call.messages)):
                got = texts.get((trace_id, call.step, "message", index))
                if got:
                    print(f"  [{got[1].get('role')}] {clip(got[0], 300)}")
        else:
            got = texts.get((trace_id, call.step, "prompt", None))
            if got:
                print(f"  [prompt] {clip(got[0], 300)}")
        got = texts.get((trace_id, call.step, "response", None))
        if got:
            print(f"  [{got[1].get('role', 'response')}] -> {clip(got[0], 300)}")
    for problem in problems:
        print("problem:", problem)
    print("ok" if not problems else "FAILED")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

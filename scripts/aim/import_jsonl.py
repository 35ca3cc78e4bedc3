"""Loads instrument's JSON Lines span export into an Aim repository, as LlamaIndex's AimCallback would
have tracked the same application.

    python import_jsonl.py EXPORT.jsonl --repo DIR [--experiment NAME]

Creates the Aim repository DIR/.aim when there is none. Each trace (trace_id) becomes one Aim Run:

- run params `trace` (trace id, root span name and id, dispatcher, span count, span names,
  start/end/duration, status, errors, the root span's args and tags, the export file) and `llm`
  (call count, token totals, models);
- for each LLM call (see jsonl_export.py), at step = the call's index in the run, Aim Texts:
  `prompt` (the whole input: the conversation as `role: content` lines, as AimCallback writes it,
  or the completion prompt, or the filled-in prediction template), `message` (chat calls: each
  input message's content, with `index` and `role` in the context), `response` (the answer's
  text; `role` in the context for chats) and `tool_calls` (when the answer asks for tools, as
  JSON). Every Text's context holds the call: `call`, `kind`, `span`, `span_id`, `parent_id`,
  `complete`, `status`, and when known `model`, `prompt_tokens`, `completion_tokens`,
  `total_tokens`, `partial` (a response from an in-progress event), the span's scalar
  `metadata` and `tags`;
- metrics: per call (step = call index) `llm_latency_ms`, `llm_prompt_tokens`,
  `llm_completion_tokens`, `llm_total_tokens`; per run (step 0) `llm_calls`, `span_count`,
  `trace_duration_ms`, and `total_tokens` when any call reported usage.

A run already in the repository for the same trace id is replaced, so importing a file twice leaves
one run per trace. Runs are indexed as they are written, so Aim's query API and `aim runs ls` see
them without `aim up`.

Exit status: 0 on success (an empty export imports nothing and says so), 2 for a bad export or bad
arguments (the message names the line), 1 when Aim fails.
"""
import argparse
import json
import os
import sys
from collections import Counter

from jsonl_export import ExportError, duplicate_span_ids, group_traces, load_spans, assign_traces

PROG = "import_jsonl.py"
INT64 = (-(2**63), 2**63 - 1)

# Aim 3.17+ sends no telemetry; these also cover older versions and anything else that asks.
for _name, _value in {"AIM_UI_TELEMETRY_ENABLED": "0", "DO_NOT_TRACK": "1"}.items():
    os.environ.setdefault(_name, _value)


def fail(message: str, status: int = 2):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(status)


def plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def aim_value(value):
    """A JSON value Aim can store as a param: integers past 64 bits become strings."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value <= INT64[1] else str(value)
    if isinstance(value, list):
        return [aim_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): aim_value(v) for k, v in value.items()}
    return str(value)


def scalars(mapping):
    """The entries of a span's metadata or tags that fit in an Aim context: strings, numbers, bools."""
    return {
        str(k): aim_value(v)
        for k, v in mapping.items()
        if isinstance(v, (str, bool, float)) or (isinstance(v, int) and INT64[0] <= v <= INT64[1])
    }


def call_context(call):
    span = call.span
    context = {
        "call": call.step,
        "kind": call.kind,
        "span": span.name,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "complete": call.complete,
        "status": span.status,
    }
    if call.model:
        context["model"] = call.model
    usage = call.usage
    if usage:
        context.update(usage)
    if call.response_source == "in_progress":
        context["partial"] = True
    if scalars(span.metadata):
        context["metadata"] = scalars(span.metadata)
    if scalars(span.tags):
        context["tags"] = scalars(span.tags)
    return context


def trace_params(trace, source):
    root = trace.root
    params = {
        "trace_id": trace.trace_id,
        "root_span": root.name if root else None,
        "root_span_id": root.span_id if root else None,
        "root_in_export": trace.root_present,
        "dispatcher": root.dispatcher if root else None,
        "dispatchers": sorted({span.dispatcher for span in trace.spans}),
        "span_count": len(trace.spans),
        "span_names": sorted({span.name for span in trace.spans}),
        "start_unix_nano": trace.start_unix_nano,
        "end_unix_nano": trace.end_unix_nano,
        "duration_ms": trace.duration_ns / 1e6,
        "status": "error" if trace.errors else "ok",
        "error_count": len(trace.errors),
        "errors": [{"span": s.name, "span_id": s.span_id, "error": s.error} for s in trace.errors],
        "args": aim_value(root.args) if root else {},
        "tags": aim_value(root.tags) if root else {},
        "source": source,
    }
    return params


def llm_params(trace):
    usages = [call.usage for call in trace.calls if call.usage]
    params = {
        "calls": len(trace.calls),
        "kinds": dict(Counter(call.kind for call in trace.calls)),
        "models": sorted({call.model for call in trace.calls if call.model}),
        "incomplete_calls": sum(1 for call in trace.calls if not call.complete),
    }
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        params[key] = sum(usage[key] for usage in usages) if usages else None
    return params


def track_call(run, Text, call):
    context = call_context(call)
    step = call.step
    run.track(Text(call.prompt), name="prompt", step=step, context=context)
    for index, message in enumerate(call.messages):
        message_context = dict(context, index=index, role=message.role)
        if message.tool_calls:
            message_context["tool_calls"] = True
        run.track(Text(message.text), name="message", step=step, context=message_context)
    response = call.response
    if response is not None:
        response_context = dict(context)
        if call.response_role:
            response_context["role"] = call.response_role
        run.track(Text(response), name="response", step=step, context=response_context)
    tool_calls = call.response_tool_calls
    if tool_calls is not None:
        text = json.dumps(tool_calls, ensure_ascii=False, indent=2, sort_keys=True)
        run.track(Text(text), name="tool_calls", step=step, context=context)
    run.track(call.latency_ms, name="llm_latency_ms", step=step)
    usage = call.usage
    if usage:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            run.track(usage[key], name=f"llm_{key}", step=step)


def open_repo(path):
    from aim import Repo
    from aim.sdk.repo import RepoStatus

    if os.path.exists(path) and not os.path.isdir(path):
        fail(f"--repo {path} is a file, not a directory")
    status = Repo.check_repo_status(path)
    if status == RepoStatus.UPDATE_REQUIRED:
        fail(f"the Aim repository in {path} was made by an older Aim; upgrade it with "
             f"`aim storage --repo {path} upgrade 3.11+ '*'` first", 1)
    os.makedirs(path, exist_ok=True)
    return Repo.from_path(path, init=status == RepoStatus.MISSING), status == RepoStatus.MISSING


def existing_runs(repo, trace_ids):
    """Hashes of the repository's runs that hold one of these traces, by trace id."""
    found = {}
    for run_view in repo.query_runs("", report_mode=0).iter_runs():
        trace = run_view.run.get("trace") or {}
        trace_id = trace.get("trace_id") if isinstance(trace, dict) else None
        if trace_id in trace_ids:
            found.setdefault(trace_id, []).append(run_view.run.hash)
    return found


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("export", metavar="EXPORT.jsonl", help="a file written by instrument's JsonlExporter")
    parser.add_argument("--repo", required=True, metavar="DIR", help="the Aim repository (DIR/.aim), created if missing")
    parser.add_argument("--experiment", default="instrument", metavar="NAME", help="the runs' Aim experiment (default: %(default)s)")
    args = parser.parse_args()

    try:
        spans = load_spans(args.export)
    except ExportError as error:
        fail(str(error))
    for span_id in duplicate_span_ids(spans):
        print(f"{PROG}: warning: span id {span_id!r} appears more than once", file=sys.stderr)
    inferred = assign_traces(spans)
    traces = group_traces(spans)

    if not spans:
        print(f"{PROG}: warning: {args.export} holds no spans; nothing to import", file=sys.stderr)

    try:
        import aim  # noqa: F401
        from aim import Run, Text
        from aim.sdk.index_manager import RepoIndexManager
    except ImportError as error:
        fail(f"cannot import Aim ({error}); install it (pip install aim) or run scripts/aim-e2e.sh", 1)

    try:
        repo, created = open_repo(args.repo)
        replaced = existing_runs(repo, {t.trace_id for t in traces}) if traces and not created else {}
        for hashes in replaced.values():
            for run_hash in hashes:
                if not repo.delete_run(run_hash):
                    fail(f"could not replace run {run_hash} of the same trace in {args.repo}", 1)
        index = RepoIndexManager.get_index_manager(repo)
        source = os.path.abspath(args.export)
        lines = []
        for trace in traces:
            run = Run(repo=repo, experiment=args.experiment, system_tracking_interval=None,
                      log_system_params=False, capture_terminal_logs=False)
            root = trace.root
            run.name = trace.trace_id
            run.description = (f"{root.name if root else '?'}: {len(trace.spans)} spans, "
                               f"{plural(len(trace.calls), 'LLM call')}; imported from {os.path.basename(args.export)}")
            run["trace"] = trace_params(trace, source)
            run["llm"] = llm_params(trace)
            for call in trace.calls:
                track_call(run, Text, call)
            usages = [call.usage for call in trace.calls if call.usage]
            run.track(len(trace.calls), name="llm_calls", step=0)
            run.track(len(trace.spans), name="span_count", step=0)
            run.track(trace.duration_ns / 1e6, name="trace_duration_ms", step=0)
            if usages:
                run.track(sum(u["total_tokens"] for u in usages), name="total_tokens", step=0)
            run_hash = run.hash
            run.close()
            index.index(run_hash)
            lines.append(f"  run {run_hash}  {root.name if root else '?':<24} {len(trace.spans):>3} spans, "
                         f"{plural(len(trace.calls), 'LLM call')}  (trace {trace.trace_id})")
    except SystemExit:
        raise
    except Exception as error:  # Aim's own failures: say what failed, not where in Aim
        fail(f"Aim failed while importing into {args.repo}: {type(error).__name__}: {error}", 1)

    calls = [call for trace in traces for call in trace.calls]
    kinds = Counter(call.kind for call in calls)
    tokens = sum(call.usage["total_tokens"] for call in calls if call.usage)
    print(f"{args.export}: {len(spans)} spans in {len(traces)} traces"
          + (f" ({inferred} spans had no trace_id: grouped by parent links)" if inferred else ""))
    print(f"Aim repository {os.path.abspath(args.repo)}{' (created)' if created else ''}, experiment {args.experiment!r}:")
    for line in lines:
        print(line)
    n_replaced = sum(len(h) for h in replaced.values())
    print(f"runs created: {len(traces)}" + (f" (replacing {n_replaced} from an earlier import)" if n_replaced else ""))
    print(f"LLM calls imported: {len(calls)}"
          + (" (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")" if calls else "")
          + (f", {tokens} tokens" if tokens else "")
          + (f", {sum(1 for c in calls if not c.complete)} without an end event" if any(not c.complete for c in calls) else ""))


if __name__ == "__main__":
    main()

"""Reads instrument's JSON Lines span export and finds the LLM calls in it.

Shared by import_jsonl.py and check_repo.py; needs nothing but the standard library.

A line is one `ExportedSpan` (instrument-handlers/src/export/jsonl_format.rs) and is checked as
strictly as `read_jsonl` checks it: a line that Rust would reject is an `ExportError` naming the
line. Blank lines are skipped.

Spans are grouped into traces by `trace_id`. A span without one (a file from another writer) gets
the trace the exporter would have given it: follow `parent_id` through the file to the outermost
ancestor present; the trace is that ancestor's id, or the id of the first parent missing from the
file.

An LLM call is a pair of start and end events of one kind inside one span: LLMChatStartEvent and
LLMChatEndEvent ("chat"), LLMCompletionStartEvent and LLMCompletionEndEvent ("completion"),
LLMPredictStartEvent and LLMPredictEndEvent ("predict"). A start with no end is still a call
(`complete` is False): its response is the last in-progress event's, if any. An end with no start
is a call too. A trace's calls are numbered from 0 in the order they started: that number is the
call's Aim step.
"""
import json
import string
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

U64_MAX = 2**64 - 1

START = {"LLMChatStartEvent": "chat", "LLMCompletionStartEvent": "completion", "LLMPredictStartEvent": "predict"}
PROGRESS = {"LLMChatInProgressEvent": "chat", "LLMCompletionInProgressEvent": "completion"}
END = {"LLMChatEndEvent": "chat", "LLMCompletionEndEvent": "completion", "LLMPredictEndEvent": "predict"}

# The token counts providers report, as instrument_handlers::token_counting::usage_from reads them.
PROMPT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
COMPLETION_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")
CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")


class ExportError(Exception):
    """The export cannot be read: the message names the file and, for a bad line, its number."""


@dataclass
class Span:
    line: int
    span_id: str
    parent_id: Optional[str]
    name: str
    trace_id: Optional[str]  # as written; None when the line had none
    dispatcher: str
    start_unix_nano: int
    end_unix_nano: int
    duration_ns: int
    status: str
    error: Optional[str]
    args: Dict[str, Any]
    metadata: Dict[str, Any]
    tags: Dict[str, Any]
    events: List[Dict[str, Any]]
    trace: str = ""  # the trace it belongs to: trace_id, or the one worked out from parent links


@dataclass
class Message:
    role: str
    content: Optional[str]
    tool_calls: bool = False

    @property
    def text(self) -> str:
        return self.content or ""


@dataclass
class LLMCall:
    kind: str  # chat | completion | predict
    span: Span
    first_event_ns: int
    start: Optional[Dict[str, Any]] = None  # the start event's attributes
    end: Optional[Dict[str, Any]] = None  # the end event's attributes
    progress: Optional[Dict[str, Any]] = None  # the last in-progress event's attributes
    start_ns: Optional[int] = None
    end_ns: Optional[int] = None
    step: int = -1  # index within the trace, set by group_traces

    @property
    def complete(self) -> bool:
        return self.end is not None

    @property
    def messages(self) -> List[Message]:
        """The conversation sent (chat calls only)."""
        if self.kind != "chat":
            return []
        source = self.start or self.end or self.progress or {}
        return [_message(m) for m in source.get("messages", [])]

    @property
    def prompt(self) -> str:
        """The input as one text: the conversation as `role: content` lines (as LlamaIndex's
        AimCallback writes it), the completion prompt, or the prediction's filled-in template."""
        if self.kind == "chat":
            return "\n".join(f"{m.role}: {m.text}" for m in self.messages)
        if self.kind == "completion":
            source = self.start or self.end or self.progress or {}
            return source.get("prompt", "")
        if self.start is None:
            return ""
        return render_template(self.start.get("template"), self.start.get("template_args"))

    @property
    def response_source(self) -> Optional[str]:
        """"end", "in_progress" (a call that never ended: its last partial response), or None."""
        if self.kind == "predict":
            return "end" if self.end is not None else None
        if self.end is not None and self.end.get("response") is not None:
            return "end"
        if self.end is None and self.progress is not None and self.progress.get("response") is not None:
            return "in_progress"
        return None

    @property
    def _response(self) -> Optional[Dict[str, Any]]:
        source = self.response_source
        if source == "end":
            return self.end.get("response")
        if source == "in_progress":
            return self.progress.get("response")
        return None

    @property
    def response(self) -> Optional[str]:
        """The model's answer as text; None when there is none."""
        if self.kind == "predict":
            return self.end.get("output") if self.end is not None else None
        response = self._response
        if response is None:
            return None
        if self.kind == "chat":
            return _message(response.get("message") or {}).text
        return response.get("text", "")

    @property
    def response_role(self) -> Optional[str]:
        response = self._response
        if self.kind == "chat" and response is not None:
            return _message(response.get("message") or {}).role
        return None

    @property
    def response_tool_calls(self) -> Any:
        """The tool calls the model asked for in its chat response, as written; None when none."""
        response = self._response
        if self.kind != "chat" or response is None:
            return None
        kwargs = (response.get("message") or {}).get("additional_kwargs") or {}
        return kwargs.get("tool_calls") or None

    @property
    def model(self) -> Optional[str]:
        """The model's name: from the start event's model_dict, else the raw response's `model`."""
        model_dict = (self.start or {}).get("model_dict") or {}
        for key in ("model", "model_name"):
            if isinstance(model_dict.get(key), str) and model_dict[key]:
                return model_dict[key]
        raw = (self._response or {}).get("raw")
        if isinstance(raw, dict) and isinstance(raw.get("model"), str) and raw["model"]:
            return raw["model"]
        return None

    @property
    def usage(self) -> Optional[Dict[str, int]]:
        """prompt_tokens, completion_tokens and total_tokens from the response, or None."""
        response = self._response
        if response is None:
            return None
        return usage_from(response.get("raw"), response.get("additional_kwargs"))

    @property
    def latency_ms(self) -> float:
        if self.start_ns is not None and self.end_ns is not None and self.end_ns >= self.start_ns:
            return (self.end_ns - self.start_ns) / 1e6
        return self.span.duration_ns / 1e6


@dataclass
class Trace:
    trace_id: str
    spans: List[Span] = field(default_factory=list)
    calls: List[LLMCall] = field(default_factory=list)

    @property
    def root(self) -> Optional[Span]:
        """The span whose id is the trace id or, when it is not in the file, the earliest span
        whose parent is outside the trace."""
        for span in self.spans:
            if span.span_id == self.trace_id:
                return span
        ids = {span.span_id for span in self.spans}
        tops = [s for s in self.spans if s.parent_id is None or s.parent_id not in ids]
        return min(tops, key=lambda s: (s.start_unix_nano, s.line)) if tops else None

    @property
    def root_present(self) -> bool:
        return any(span.span_id == self.trace_id for span in self.spans)

    @property
    def start_unix_nano(self) -> int:
        return min(span.start_unix_nano for span in self.spans)

    @property
    def end_unix_nano(self) -> int:
        return max(span.end_unix_nano for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """The root span's duration when the root is in the file, else the spans' extent."""
        for span in self.spans:
            if span.span_id == self.trace_id:
                return span.duration_ns
        return self.end_unix_nano - self.start_unix_nano

    @property
    def errors(self) -> List[Span]:
        return [span for span in self.spans if span.status == "error"]


def usage_from(raw: Any, additional_kwargs: Any) -> Optional[Dict[str, int]]:
    """A port of instrument_handlers::token_counting::usage_from: the first of raw.usage,
    raw.usage_metadata, raw and additional_kwargs that names a prompt or completion count.
    Cache reads and writes count as prompt tokens; the total is prompt plus completion."""
    raw = raw if isinstance(raw, dict) else None
    candidates = [
        raw.get("usage") if raw else None,
        raw.get("usage_metadata") if raw else None,
        raw,
        additional_kwargs,
    ]
    for candidate in candidates:
        if not isinstance(candidate, dict):
            continue

        def first(keys):
            for key in keys:
                value = _count(candidate.get(key))
                if value is not None:
                    return value
            return None

        prompt, completion = first(PROMPT_KEYS), first(COMPLETION_KEYS)
        if prompt is None and completion is None:
            continue
        cached = sum(_count(candidate.get(key)) or 0 for key in CACHE_KEYS)
        prompt = (prompt or 0) + cached
        completion = completion or 0
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return None


def _count(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= U64_MAX else None
    if isinstance(value, float):
        ok = value == value and 0 <= value <= 9.0e15 and value.is_integer()
        return int(value) if ok else None
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
        return number if 0 <= number <= U64_MAX else None
    return None


class _KeepUnknown(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def render_template(template: Any, template_args: Any) -> str:
    """A prediction's prompt: the template (a string, or an object with a string `template`) with
    `{name}` filled from template_args; the template as written when it cannot be filled."""
    if isinstance(template, dict) and isinstance(template.get("template"), str):
        text = template["template"]
    elif isinstance(template, str):
        text = template
    else:
        return json.dumps(template, ensure_ascii=False, sort_keys=True)
    if not template_args:
        return text
    values = _KeepUnknown(
        {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in template_args.items()}
    )
    try:
        return string.Formatter().vformat(text, (), values)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return text


def _message(value: Dict[str, Any]) -> Message:
    kwargs = value.get("additional_kwargs") or {}
    return Message(
        role=value.get("role") or "user",
        content=value.get("content"),
        tool_calls=bool(isinstance(kwargs, dict) and kwargs.get("tool_calls")),
    )


# ---- reading and checking lines ------------------------------------------------------------------


class _Bad(Exception):
    pass


def _need(condition: bool, text: str):
    if not condition:
        raise _Bad(text)


def _string(obj, key, where, optional=False):
    value = obj.get(key)
    if value is None and optional:
        return None
    _need(key in obj or optional, f"{where}: missing field `{key}`")
    _need(isinstance(value, str), f"{where}: `{key}` must be a string, not {_kind(value)}")
    return value


def _u64(obj, key, where):
    _need(key in obj, f"{where}: missing field `{key}`")
    value = obj[key]
    _need(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX,
        f"{where}: `{key}` must be a non-negative integer, not {_kind(value)}",
    )
    return value


def _object(obj, key, where, optional=False):
    value = obj.get(key)
    if value is None and optional:
        return {}
    _need(key in obj, f"{where}: missing field `{key}`")
    _need(isinstance(value, dict), f"{where}: `{key}` must be an object, not {_kind(value)}")
    return value


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check_messages(attrs, where):
    messages = attrs.get("messages")
    _need(isinstance(messages, list), f"{where}: `messages` must be a list, not {_kind(messages)}")
    for index, message in enumerate(messages):
        _check_message(message, f"{where}: messages[{index}]")


def _check_message(message, where):
    _need(isinstance(message, dict), f"{where} must be an object, not {_kind(message)}")
    role = message.get("role")
    _need(role is None or isinstance(role, str), f"{where}: `role` must be a string, not {_kind(role)}")
    content = message.get("content")
    _need(content is None or isinstance(content, str), f"{where}: `content` must be a string or null, not {_kind(content)}")


def _check_llm_event(name: str, attrs: Any, where: str):
    """The fields the importer reads, checked as the Rust event structs define them."""
    _need(isinstance(attrs, dict), f"{where}: attributes must be an object, not {_kind(attrs)}")
    if name in ("LLMChatStartEvent", "LLMChatInProgressEvent", "LLMChatEndEvent"):
        _check_messages(attrs, where)
        response = attrs.get("response")
        if name == "LLMChatStartEvent" or (name == "LLMChatEndEvent" and response is None):
            return _check_model_dict(name, attrs, where)
        _need(isinstance(response, dict), f"{where}: `response` must be an object, not {_kind(response)}")
        _check_message(response.get("message"), f"{where}: response.message")
    elif name in ("LLMCompletionStartEvent", "LLMCompletionInProgressEvent", "LLMCompletionEndEvent"):
        _string(attrs, "prompt", where)
        if name != "LLMCompletionStartEvent":
            response = attrs.get("response")
            _need(isinstance(response, dict), f"{where}: `response` must be an object, not {_kind(response)}")
            _string(response, "text", f"{where}: response")
    elif name == "LLMPredictStartEvent":
        _need("template" in attrs, f"{where}: missing field `template`")
        args = attrs.get("template_args")
        _need(args is None or isinstance(args, dict), f"{where}: `template_args` must be an object or null")
    elif name == "LLMPredictEndEvent":
        _string(attrs, "output", where)
    _check_model_dict(name, attrs, where)


def _check_model_dict(name, attrs, where):
    if name in ("LLMChatStartEvent", "LLMCompletionStartEvent"):
        model_dict = attrs.get("model_dict")
        _need(model_dict is None or isinstance(model_dict, dict), f"{where}: `model_dict` must be an object")


def parse_line(text: str, number: int) -> Span:
    """One line as a Span; _Bad with the reason when it is not an ExportedSpan."""
    try:
        obj = json.loads(text)
    except ValueError as error:
        raise _Bad(f"not JSON ({error})") from None
    _need(isinstance(obj, dict), f"a span must be a JSON object, not {_kind(obj)}")
    where = "span"
    span_id = _string(obj, "span_id", where)
    where = f"span {span_id!r}"
    _need("status" in obj, f"{where}: missing field `status`")
    status = obj.get("status")
    _need(status in ("ok", "error"), f"{where}: `status` must be \"ok\" or \"error\", not {json.dumps(status)}")
    attributes = _object(obj, "attributes", where)
    events = obj.get("events")
    if events is None and "events" not in obj:
        events = []
    _need(isinstance(events, list), f"{where}: `events` must be a list, not {_kind(events)}")
    for index, event in enumerate(events):
        at = f"{where}: events[{index}]"
        _need(isinstance(event, dict), f"{at} must be an object, not {_kind(event)}")
        name = _string(event, "name", at)
        _u64(event, "time_unix_nano", at)
        _need("attributes" in event, f"{at}: missing field `attributes`")
        if name in START or name in PROGRESS or name in END:
            _check_llm_event(name, event["attributes"], f"{at} ({name})")
    return Span(
        line=number,
        span_id=span_id,
        parent_id=_string(obj, "parent_id", where, optional=True),
        name=_string(obj, "name", where),
        trace_id=_string(obj, "trace_id", where, optional=True),
        dispatcher=_string(obj, "dispatcher", where),
        start_unix_nano=_u64(obj, "start_unix_nano", where),
        end_unix_nano=_u64(obj, "end_unix_nano", where),
        duration_ns=_u64(obj, "duration_ns", where),
        status=status,
        error=_string(obj, "error", where, optional=True),
        args=_object(attributes, "args", f"{where}: attributes", optional=True),
        metadata=_object(attributes, "metadata", f"{where}: attributes", optional=True),
        tags=_object(attributes, "tags", f"{where}: attributes", optional=True),
        events=events,
    )


def load_spans(path: str) -> List[Span]:
    """Every span in the file, in file order. ExportError when the file cannot be read or a line is
    not a span."""
    spans = []
    try:
        with open(path, "rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ExportError(f"{path}:{number}: not UTF-8 ({error.reason} at byte {error.start})") from None
                if not text.strip():
                    continue
                try:
                    spans.append(parse_line(text, number))
                except _Bad as error:
                    raise ExportError(f"{path}:{number}: {error}") from None
    except OSError as error:
        raise ExportError(f"cannot read {path}: {error.strerror or error}") from None
    return spans


# ---- traces and calls ----------------------------------------------------------------------------


def assign_traces(spans: List[Span]) -> int:
    """Sets `trace` on every span; returns how many had no trace_id."""
    by_id: Dict[str, Span] = {}
    for span in spans:
        by_id.setdefault(span.span_id, span)
    inferred = 0
    for span in spans:
        if span.trace_id:
            span.trace = span.trace_id
            continue
        inferred += 1
        current, seen = span, {span.span_id}
        trace = None
        while current.parent_id is not None:
            parent = by_id.get(current.parent_id)
            if parent is None:
                trace = current.parent_id  # the nearest ancestor not in the file
                break
            if parent.trace_id:
                trace = parent.trace_id
                break
            if parent.span_id in seen:  # a cycle of parent links: stop at the span that closes it
                break
            seen.add(parent.span_id)
            current = parent
        span.trace = trace or current.span_id
    return inferred


def llm_calls(span: Span) -> List[LLMCall]:
    """The LLM calls whose events are in this span, in order."""
    calls: List[LLMCall] = []
    open_calls: Dict[str, deque] = {}
    for event in span.events:
        name, time, attrs = event["name"], event["time_unix_nano"], event["attributes"]
        if name in START:
            call = LLMCall(START[name], span, time, start=attrs, start_ns=time)
            calls.append(call)
            open_calls.setdefault(call.kind, deque()).append(call)
        elif name in PROGRESS:
            pending = open_calls.get(PROGRESS[name])
            if pending:
                pending[-1].progress = attrs
            else:
                call = LLMCall(PROGRESS[name], span, time, progress=attrs)
                calls.append(call)
                open_calls.setdefault(call.kind, deque()).append(call)
        elif name in END:
            pending = open_calls.get(END[name])
            if pending:
                call = pending.popleft()
            else:
                call = LLMCall(END[name], span, time)
                calls.append(call)
            call.end, call.end_ns = attrs, time
    return calls


def group_traces(spans: List[Span]) -> List[Trace]:
    """The spans grouped by trace, traces in order of their first span's start; each trace's LLM
    calls numbered in order of their first event."""
    assign_traces(spans)
    traces: Dict[str, Trace] = {}
    for span in spans:
        traces.setdefault(span.trace, Trace(span.trace)).spans.append(span)
    for trace in traces.values():
        calls = [call for span in trace.spans for call in llm_calls(span)]
        calls.sort(key=lambda c: (c.first_event_ns, c.span.line))
        for step, call in enumerate(calls):
            call.step = step
        trace.calls = calls
    return sorted(traces.values(), key=lambda t: (t.start_unix_nano, t.spans[0].line))


def duplicate_span_ids(spans: List[Span]) -> List[str]:
    counts = Counter(span.span_id for span in spans)
    return sorted(span_id for span_id, count in counts.items() if count > 1)


def load_traces(path: str) -> List[Trace]:
    return group_traces(load_spans(path))

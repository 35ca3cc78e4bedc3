//! `FineTuningHandler`: collects every chat call as an OpenAI fine-tuning example and writes them
//! as JSONL (LlamaIndex's `OpenAIFineTuningHandler`).

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use instrument_core::callbacks::{
    CBEventType, CallbackError, CallbackHandler, EventPayload, Payload,
};
use instrument_core::events::{
    LLMChatEndEvent, LLMChatStartEvent, LLMCompletionEndEvent, LLMCompletionStartEvent,
};
use instrument_core::llm::{ChatMessage, ChatResponse, MessageRole};
use instrument_core::{EventEnvelope, EventHandler, to_json_guarded};
use serde_json::{Map, Value};

use crate::bounded::Bounded;
use crate::call_key::CallKey;

/// One LLM call as a fine-tuning example: the messages sent (a completion's prompt as the user's
/// message), the answer last, and the functions the model was offered.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuningExample {
    /// The call's id: the callback event's id, or, for instrumentation events, the id of the span
    /// they were emitted in (the end event's id outside any span).
    pub event_id: String,
    /// The messages in OpenAI's form (`role`, `content`, plus extras such as `tool_calls`), the
    /// model's answer last with the role `assistant`.
    pub messages: Vec<Value>,
    /// The functions (`name`, `description`, `parameters`) offered to the model; empty if none.
    pub functions: Vec<Value>,
}

impl FineTuningExample {
    /// The example as one JSONL line's object: `{"messages": [..]}`, plus `"functions": [..]` when
    /// there are any.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("messages".into(), Value::Array(self.messages.clone()));
        if !self.functions.is_empty() {
            object.insert("functions".into(), Value::Array(self.functions.clone()));
        }
        Value::Object(object)
    }

    /// The example as LlamaIndex's `get_finetuning_events` gives each call: `{"messages": [..],
    /// "response": {..}}`, the answer apart from the messages that led to it.
    #[must_use]
    pub fn to_event(&self) -> Value {
        let (response, messages) = self
            .messages
            .split_last()
            .map_or((Value::Null, &[][..]), |(last, rest)| (last.clone(), rest));
        let mut object = Map::new();
        object.insert("messages".into(), Value::Array(messages.to_vec()));
        object.insert("response".into(), response);
        Value::Object(object)
    }
}

/// The error of [`FineTuningHandler::save_finetuning_events`]: the file could not be written. The
/// target is then left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FineTuningError {
    /// Writing the examples failed.
    #[error("could not write fine-tuning examples to {}", path.display())]
    Write {
        /// The file asked for.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}

/// What a call's start told: the messages, and the functions offered.
#[derive(Debug, Default)]
struct Pending {
    messages: Option<Vec<ChatMessage>>,
    functions: Vec<Value>,
}

#[derive(Debug)]
struct State {
    examples: Bounded<FineTuningExample>,
    pending: VecDeque<(CallKey, Pending)>,
}

/// A handler that collects every LLM call (the messages sent and the answer) as an OpenAI
/// fine-tuning example, and writes them as JSONL (LlamaIndex's `OpenAIFineTuningHandler`, also
/// exported under that name).
///
/// It listens both ways a pipeline can be observed. As a [`CallbackHandler`]: each `Llm` event,
/// whose start or end gives the `prompt` (a completion call: the user's message) or the `messages`
/// (a chat), and whose end gives the answer, a `response` (a chat) or a `completion`; the
/// functions come from the start's or end's `additional_kwargs` (`tools` in OpenAI's tool form or
/// as `{name, description, parameters}`, or `functions`). As an [`EventHandler`]: the start and end
/// events of chat and completion calls ([`LLMChatStartEvent`], [`LLMChatEndEvent`],
/// [`LLMCompletionStartEvent`], [`LLMCompletionEndEvent`]), matched by the span they were emitted
/// in. Clones share what they collected. Calls without an answer, or whose answer has neither text
/// nor tool calls, are skipped.
///
/// It keeps the last [`capacity`](Self::capacity) examples, counting the ones it lets go in
/// [`evicted`](Self::evicted).
///
/// ```
/// use std::sync::Arc;
/// use instrument::callbacks::{CallbackError, CallbackManager, CBEventType, EventPayload, Payload};
/// use instrument::llm::{ChatMessage, ChatResponse};
/// use instrument::handlers::FineTuningHandler;
///
/// let finetuning = FineTuningHandler::new();
/// let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);
/// let llm = manager.event(CBEventType::Llm, None)?;
/// llm.on_end(Some(
///     Payload::new()
///         .with_serialized(EventPayload::Messages, &[ChatMessage::user("Capital of France?")])
///         .with_serialized(EventPayload::Response, &ChatResponse::new(ChatMessage::assistant("Paris."))),
/// ))?;
///
/// let dir = std::env::temp_dir().join(format!("finetuning-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("examples.jsonl");
/// assert_eq!(finetuning.save_finetuning_events(&path).unwrap(), 1);
/// assert_eq!(
///     std::fs::read_to_string(&path).unwrap(),
///     "{\"messages\":[{\"role\":\"user\",\"content\":\"Capital of France?\"},\
///       {\"role\":\"assistant\",\"content\":\"Paris.\"}]}\n",
/// );
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), CallbackError>(())
/// ```
#[derive(Clone)]
pub struct FineTuningHandler {
    state: Arc<Mutex<State>>,
    verbose: bool,
}

impl Default for FineTuningHandler {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for FineTuningHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("FineTuningHandler")
            .field("examples", &state.examples.len())
            .field("capacity", &state.examples.capacity())
            .field("evicted", &state.examples.evicted())
            .finish_non_exhaustive()
    }
}

impl FineTuningHandler {
    /// How many examples a handler keeps unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A handler keeping [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) examples.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A handler keeping at most `capacity` examples (at least one), evicting the oldest.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                examples: Bounded::new(capacity),
                pending: VecDeque::new(),
            })),
            verbose: true,
        }
    }

    /// The handler, printing `Wrote N examples to PATH` after saving (the default) or not.
    #[must_use]
    pub fn with_verbose(self, verbose: bool) -> Self {
        Self { verbose, ..self }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The examples collected, oldest first.
    #[must_use]
    pub fn examples(&self) -> Vec<FineTuningExample> {
        self.lock().examples.to_vec()
    }

    /// Each call recorded, by its event id, as LlamaIndex's `get_finetuning_events` gives it:
    /// `{"messages": [..], "response": {..}}` ([`FineTuningExample::to_event`]), oldest first.
    #[must_use]
    pub fn get_finetuning_events(&self) -> Vec<(String, Value)> {
        self.lock()
            .examples
            .iter()
            .map(|example| (example.event_id.clone(), example.to_event()))
            .collect()
    }

    /// How many examples are kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().examples.len()
    }

    /// Whether no example is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many examples this handler keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.lock().examples.capacity()
    }

    /// How many examples were evicted to stay within the capacity, since the handler was made.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.lock().examples.evicted()
    }

    /// Forgets every example and every call still waiting for its end.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.examples.clear();
        state.pending.clear();
    }

    /// Writes the examples to `path` as JSONL, one [`FineTuningExample::to_json`] object per line
    /// (`messages` before `functions`, `role` and `content` first in each message), replacing the
    /// file; prints `Wrote N examples to PATH` unless made quiet
    /// ([`with_verbose`](Self::with_verbose)), and returns N.
    ///
    /// The examples are written to a temporary file beside `path`, then renamed over it, so `path`
    /// holds either its old content or all the examples, never part of them.
    ///
    /// # Errors
    /// [`FineTuningError::Write`] when the temporary file cannot be made or written, or the rename
    /// fails; the temporary file is removed.
    pub fn save_finetuning_events(&self, path: impl AsRef<Path>) -> Result<usize, FineTuningError> {
        let path = path.as_ref();
        let events: Vec<Value> = self
            .lock()
            .examples
            .iter()
            .map(FineTuningExample::to_json)
            .collect();
        write_atomically(path, &events).map_err(|source| FineTuningError::Write {
            path: path.to_owned(),
            source,
        })?;
        if self.verbose {
            println!("Wrote {} examples to {}", events.len(), path.display());
        }
        Ok(events.len())
    }

    fn start(&self, key: CallKey, pending: Pending) {
        let mut state = self.lock();
        state.pending.retain(|(k, _)| *k != key);
        if state.pending.len() == state.examples.capacity() {
            state.pending.pop_front();
        }
        state.pending.push_back((key, pending));
    }

    fn end(
        &self,
        key: &CallKey,
        event_id: String,
        messages: Option<Vec<ChatMessage>>,
        functions: Vec<Value>,
        answer: Option<ChatMessage>,
    ) {
        let mut state = self.lock();
        let pending = state
            .pending
            .iter()
            .position(|(k, _)| k == key)
            .and_then(|at| state.pending.remove(at))
            .map(|(_, pending)| pending)
            .unwrap_or_default();
        let Some(answer) = answer.filter(says_something) else {
            return;
        };
        let messages = messages.or(pending.messages).unwrap_or_default();
        let mut all_functions = pending.functions;
        all_functions.extend(functions);
        let mut messages: Vec<Value> = messages.iter().map(openai_message).collect();
        messages.push(openai_message(&ChatMessage {
            role: MessageRole::Assistant,
            ..answer
        }));
        let example = FineTuningExample {
            event_id,
            messages,
            functions: all_functions,
        };
        state.examples.push(example);
    }
}

/// Whether an answer can teach anything: it has text or calls tools. A call whose answer was not
/// recorded (a `tracing` span whose content capture was off) makes no example.
fn says_something(answer: &ChatMessage) -> bool {
    answer.content.is_some() || answer.additional_kwargs.contains_key("tool_calls")
}

/// A message as OpenAI takes it: `role`, `content` (left out when there is none), then the
/// message's extras (`tool_calls`, `name`, ...).
fn openai_message(message: &ChatMessage) -> Value {
    let mut object = Map::new();
    object.insert("role".into(), Value::String(message.role.as_str().into()));
    if let Some(content) = &message.content {
        object.insert("content".into(), Value::String(content.clone()));
    }
    // The extras come from the user: copied through the guard (bounded, secrets redacted).
    if let Value::Object(extras) = to_json_guarded(&message.additional_kwargs) {
        for (key, value) in extras {
            if !object.contains_key(&key) {
                object.insert(key, value);
            }
        }
    }
    Value::Object(object)
}

/// The functions offered in a call's extra arguments: `tools` (OpenAI tools, whose `function` is
/// taken, or functions already) then `functions`.
fn functions_from(kwargs: Option<&Map<String, Value>>) -> Vec<Value> {
    let Some(kwargs) = kwargs else {
        return Vec::new();
    };
    let list = |key: &str| {
        kwargs
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    list("tools")
        .map(|tool| to_json_guarded(tool.get("function").unwrap_or(tool)))
        .chain(list("functions").map(to_json_guarded))
        .collect()
}

/// Messages from a payload value: serialised `ChatMessage`s, or strings taken as user messages.
fn messages_from(value: &Value) -> Vec<ChatMessage> {
    let one = |value: &Value| match value {
        Value::String(s) => Some(ChatMessage::user(s.clone())),
        Value::Object(_) => serde_json::from_value(value.clone()).ok(),
        _ => None,
    };
    match value {
        Value::Array(values) => values.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// The answer from a payload value: a serialised `ChatResponse`, `ChatMessage` or
/// `CompletionResponse` (its `text`), or a string.
fn answer_from(value: &Value) -> Option<ChatMessage> {
    match value {
        Value::String(s) => Some(ChatMessage::assistant(s.clone())),
        Value::Object(object) if object.contains_key("message") => {
            serde_json::from_value::<ChatResponse>(value.clone())
                .ok()
                .map(|r| r.message)
        }
        Value::Object(object) if !object.contains_key("role") => object
            .get("text")
            .and_then(Value::as_str)
            .map(ChatMessage::assistant),
        Value::Object(_) => serde_json::from_value(value.clone()).ok(),
        _ => None,
    }
}

/// The messages a callback payload gives: its `prompt` as the user's message (a completion
/// call), else its `messages`.
fn payload_messages(payload: Option<&Payload>) -> Option<Vec<ChatMessage>> {
    let payload = payload?;
    match payload.get(EventPayload::Prompt) {
        Some(Value::String(prompt)) => Some(vec![ChatMessage::user(prompt.clone())]),
        Some(other) => Some(vec![ChatMessage::user(other.to_string())]),
        None => payload.get(EventPayload::Messages).map(messages_from),
    }
}

/// The answer a callback payload's end gives: a chat's `response`, else a `completion`.
fn payload_answer(payload: Option<&Payload>) -> Option<ChatMessage> {
    let payload = payload?;
    payload
        .get(EventPayload::Response)
        .or_else(|| payload.get(EventPayload::Completion))
        .and_then(answer_from)
}

fn payload_kwargs(payload: Option<&Payload>) -> Option<&Map<String, Value>> {
    payload?
        .get(EventPayload::AdditionalKwargs)
        .and_then(Value::as_object)
}

impl CallbackHandler for FineTuningHandler {
    /// Keeps an `Llm` start's messages and functions until its end.
    fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
        _parent_id: &str,
    ) -> Result<String, CallbackError> {
        if event_type == CBEventType::Llm {
            let pending = Pending {
                messages: payload_messages(payload),
                functions: functions_from(payload_kwargs(payload)),
            };
            self.start(CallKey::Callback(event_id.to_owned()), pending);
        }
        Ok(event_id.to_owned())
    }

    /// Makes an example of an `Llm` end that has a `response` or a `completion`.
    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError> {
        if event_type == CBEventType::Llm {
            self.end(
                &CallKey::Callback(event_id.to_owned()),
                event_id.to_owned(),
                payload_messages(payload),
                functions_from(payload_kwargs(payload)),
                payload_answer(payload),
            );
        }
        Ok(())
    }
}

impl EventHandler for FineTuningHandler {
    /// Keeps a chat or completion start's messages (a completion's prompt as the user's
    /// message) and functions, and makes an example of the end that has an answer.
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(start) = event.downcast_ref::<LLMChatStartEvent>() {
            let pending = Pending {
                messages: Some(start.messages.clone()),
                functions: functions_from(Some(&start.additional_kwargs)),
            };
            self.start(CallKey::of(event), pending);
        } else if let Some(start) = event.downcast_ref::<LLMCompletionStartEvent>() {
            let pending = Pending {
                messages: Some(vec![ChatMessage::user(start.prompt.clone())]),
                functions: functions_from(Some(&start.additional_kwargs)),
            };
            self.start(CallKey::of(event), pending);
        } else if let Some(end) = event.downcast_ref::<LLMChatEndEvent>() {
            self.end(
                &CallKey::of(event),
                instrumented_call_id(event),
                Some(end.messages.clone()),
                Vec::new(),
                end.response.as_ref().map(|r| r.message.clone()),
            );
        } else if let Some(end) = event.downcast_ref::<LLMCompletionEndEvent>() {
            self.end(
                &CallKey::of(event),
                instrumented_call_id(event),
                Some(vec![ChatMessage::user(end.prompt.clone())]),
                Vec::new(),
                Some(ChatMessage::assistant(end.response.text.clone())),
            );
        }
    }
}

/// The id an instrumented call is known by: its span's, else its end event's.
fn instrumented_call_id(event: &EventEnvelope<'_>) -> String {
    event
        .span_id()
        .map_or_else(|| event.id().to_string(), |span| span.to_string())
}

/// Keys written first, in this order, wherever they appear; the others follow in the map's order.
const FIRST_KEYS: [&str; 7] = [
    "messages",
    "functions",
    "role",
    "content",
    "name",
    "description",
    "parameters",
];

/// A value serialised with [`FIRST_KEYS`] first, so lines read `{"messages": [{"role": ..,
/// "content": ..}]}` as OpenAI's examples do, whatever order `serde_json`'s map keeps.
struct Ordered<'a>(&'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                let first = FIRST_KEYS.iter().filter_map(|k| map.get_key_value(*k));
                let rest = map
                    .iter()
                    .filter(|(k, _)| !FIRST_KEYS.contains(&k.as_str()));
                for (key, value) in first.chain(rest) {
                    out.serialize_entry(key, &Ordered(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Ordered)),
            other => other.serialize(serializer),
        }
    }
}

/// Writes `events` as JSONL to a new file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, events: &[Value]) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.map_or_else(|| PathBuf::from(&temp_name), |d| d.join(&temp_name));
    let written = (|| {
        let file = File::options().write(true).create_new(true).open(&temp)?;
        let mut out = BufWriter::new(file);
        for event in events {
            serde_json::to_writer(&mut out, &Ordered(event))?;
            out.write_all(b"\n")?;
        }
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn functions_come_from_tools_and_functions() {
        let kwargs = json!({
            "tools": [
                {"type": "function", "function": {"name": "a", "description": "", "parameters": {}}},
                {"name": "b", "description": "", "parameters": {}},
            ],
            "functions": [{"name": "c"}],
        });
        let names: Vec<_> = functions_from(kwargs.as_object())
            .into_iter()
            .map(|f| f["name"].clone())
            .collect();
        assert_eq!(names, [json!("a"), json!("b"), json!("c")]);
    }
}

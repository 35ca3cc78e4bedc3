//! The callback side of [`TokenCountingHandler`]: the ends of `Llm` and `Embedding` events, with
//! the model their starts named.

use instrument_core::callbacks::{
    CBEventType, CallbackError, CallbackHandler, EventPayload, Payload,
};

use super::handler::TokenCountingHandler;
use super::payload;
use crate::call_key::CallKey;

/// The name this handler gives in a [`CallbackError`].
const NAME: &str = "TokenCountingHandler";

impl TokenCountingHandler {
    /// Counts an LLM callback payload; `None` if it holds no prompt, messages or answer.
    fn count_llm_payload(
        &self,
        payload: &Payload,
        event_id: &str,
        started: Option<String>,
    ) -> Option<u64> {
        let (prompt, answer) = if payload.contains(EventPayload::Prompt)
            || payload.contains(EventPayload::Completion)
        {
            (
                payload.get(EventPayload::Prompt).map(payload::text),
                payload
                    .get(EventPayload::Completion)
                    .map(payload::completion),
            )
        } else if payload.contains(EventPayload::Messages)
            || payload.contains(EventPayload::Response)
        {
            (
                payload
                    .get(EventPayload::Messages)
                    .map(payload::messages_text),
                payload
                    .get(EventPayload::Response)
                    .map(payload::chat_response),
            )
        } else {
            return None;
        };
        let answer = answer.unwrap_or_default();
        let model = answer.model.clone().or(started);
        Some(self.count_llm(
            event_id.to_owned(),
            prompt.unwrap_or_default(),
            answer,
            model,
        ))
    }
}

impl CallbackHandler for TokenCountingHandler {
    /// Checks the token budget at the start of every event, as LlamaIndex's `_check_budget` does,
    /// and notes the model an `Llm` or `Embedding` start names, for its end.
    ///
    /// # Errors
    /// With a budget, when more LLM tokens than it allows were counted already: a
    /// [`CallbackError`] whose source is [`TokenBudgetExceeded`](super::TokenBudgetExceeded), so
    /// the call after the one that crossed the budget fails before it runs.
    fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
        _parent_id: &str,
    ) -> Result<String, CallbackError> {
        self.check_budget()
            .map_err(|err| CallbackError::from_source(NAME, err))?;
        if matches!(event_type, CBEventType::Llm | CBEventType::Embedding)
            && let Some(model) = payload.and_then(payload::model)
        {
            self.started(CallKey::Callback(event_id.to_owned()), Some(model));
        }
        Ok(event_id.to_owned())
    }

    /// Counts `Llm` and `Embedding` ends. Crossing the budget here is not an error: the call has
    /// run, and its answer is the caller's; the next event's start is refused.
    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError> {
        if !matches!(event_type, CBEventType::Llm | CBEventType::Embedding) {
            return Ok(());
        }
        let started = self.ended(&CallKey::Callback(event_id.to_owned()));
        let Some(payload) = payload else {
            return Ok(());
        };
        match event_type {
            CBEventType::Llm => {
                self.count_llm_payload(payload, event_id, started);
            }
            CBEventType::Embedding => {
                if let Some(chunks) = payload.get(EventPayload::Chunks) {
                    let chunks = match chunks {
                        serde_json::Value::Array(chunks) => {
                            chunks.iter().map(payload::text).collect()
                        }
                        other => vec![payload::text(other)],
                    };
                    self.count_embedding(event_id, chunks, started);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

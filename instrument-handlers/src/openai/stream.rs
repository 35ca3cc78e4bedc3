//! A streamed chat whose span lasts as long as the stream: each delta is reported as it arrives,
//! and the end event has the whole answer, tool calls joined from their pieces, and the usage of
//! the final chunk.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::types::chat::{ChatCompletionResponseStream, CreateChatCompletionStreamResponse};
use futures_core::Stream;
use instrument_core::events::{LLMChatEndEvent, LLMChatInProgressEvent};
use instrument_core::llm::{ChatMessage, ChatResponse};
use serde_json::{Value, json};

use super::call::Call;
use super::convert;
use super::tool_calls;

/// The API's chunks, unchanged, with the call reported around them; see
/// [`super::InstrumentedClient::stream_chat`]. Dropping it before the end drops the span as
/// `"cancelled"`.
#[must_use = "streams do nothing unless polled"]
pub struct InstrumentedChatStream {
    chunks: ChatCompletionResponseStream,
    call: Call,
    messages: Vec<ChatMessage>,
    text: String,
    /// Tool calls by index, their arguments joined.
    tools: Vec<Value>,
    /// The last chunk that reported usage, else the last chunk.
    raw: Option<Value>,
    finish_reason: Option<String>,
    /// Set once the call has ended (by an error or the stream's end): what comes after passes
    /// through unreported.
    ended: bool,
}

impl std::fmt::Debug for InstrumentedChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedChatStream")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl InstrumentedChatStream {
    pub(crate) fn new(
        call: Call,
        messages: Vec<ChatMessage>,
        chunks: ChatCompletionResponseStream,
    ) -> Self {
        Self {
            chunks,
            call,
            messages,
            text: String::new(),
            tools: Vec::new(),
            raw: None,
            finish_reason: None,
            ended: false,
        }
    }

    /// The answer so far, with `delta` as its newest piece.
    fn response(&self, delta: Option<String>) -> ChatResponse {
        let mut message = ChatMessage::assistant(self.text.clone());
        if !self.tools.is_empty() {
            message
                .additional_kwargs
                .insert("tool_calls".into(), Value::Array(self.tools.clone()));
        }
        let mut response = ChatResponse::new(message);
        response.delta = delta;
        response.raw.clone_from(&self.raw);
        if let Some(reason) = &self.finish_reason {
            response
                .additional_kwargs
                .insert("finish_reason".into(), reason.as_str().into());
        }
        response
    }

    /// Takes in one chunk; reports it when it carried text.
    fn chunk(&mut self, chunk: &CreateChatCompletionStreamResponse) {
        let chunk = convert::json(chunk);
        let choice = &chunk["choices"][0];
        let delta = choice["delta"]["content"].as_str().map(str::to_owned);
        if let Some(piece) = &delta {
            self.text.push_str(piece);
        }
        if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
            for call in calls {
                self.tool_piece(call);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
        if !chunk["usage"].is_null() || self.raw.as_ref().is_none_or(|raw| raw["usage"].is_null()) {
            self.raw = Some(chunk);
        }
        if delta.as_deref().is_some_and(|piece| !piece.is_empty()) {
            let event = LLMChatInProgressEvent {
                messages: self.messages.clone(),
                response: self.response(delta),
            };
            self.call.emit(event);
        }
    }

    /// Joins a piece of a streamed tool call into the one at its index.
    fn tool_piece(&mut self, piece: &Value) {
        let index = piece["index"]
            .as_u64()
            .and_then(|index| usize::try_from(index).ok())
            .unwrap_or(self.tools.len());
        if index > 1024 {
            return;
        }
        while self.tools.len() <= index {
            self.tools
                .push(json!({"type": "function", "function": {"name": "", "arguments": ""}}));
        }
        let tool = &mut self.tools[index];
        if let Some(id) = piece["id"].as_str() {
            tool["id"] = id.into();
        }
        let function = &piece["function"];
        for key in ["name", "arguments"] {
            if let Some(part) = function[key].as_str() {
                let joined = format!(
                    "{}{part}",
                    tool["function"][key].as_str().unwrap_or_default()
                );
                tool["function"][key] = joined.into();
            }
        }
    }

    /// The stream ended: the end event, the tool calls, and the span's exit.
    fn finish(&mut self) {
        let response = self.response(None);
        let tool_events = tool_calls(&response.message.additional_kwargs);
        let end = LLMChatEndEvent {
            messages: std::mem::take(&mut self.messages),
            response: Some(response),
        };
        self.call.emit(end);
        for event in tool_events {
            self.call.emit(event);
        }
        self.call.exit();
    }
}

impl Stream for InstrumentedChatStream {
    type Item = Result<CreateChatCompletionStreamResponse, OpenAIError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Polled inside the call's span, so what the stream emits belongs to it.
        let polled = {
            let chunks = &mut this.chunks;
            this.call.in_scope(|| chunks.as_mut().poll_next(cx))
        };
        if this.ended {
            return polled;
        }
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => this.chunk(chunk),
            Poll::Ready(Some(Err(error))) => {
                this.ended = true;
                this.call.fail(error);
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.finish();
            }
            Poll::Pending => {}
        }
        polled
    }
}

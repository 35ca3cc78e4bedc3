//! The instrumentation side of [`TokenCountingHandler`]: LLM and embedding end events, with the
//! model their start events named.

use instrument_core::events::{
    EmbeddingEndEvent, EmbeddingStartEvent, LLMChatEndEvent, LLMChatStartEvent,
    LLMCompletionEndEvent, LLMCompletionStartEvent,
};
use instrument_core::{EventEnvelope, EventHandler};

use super::handler::TokenCountingHandler;
use super::model;
use super::payload::Answer;
use super::usage::usage_from;
use crate::call_key::CallKey;

impl EventHandler for TokenCountingHandler {
    /// Counts [`LLMChatEndEvent`], [`LLMCompletionEndEvent`] and [`EmbeddingEndEvent`], with the
    /// model their [`LLMChatStartEvent`], [`LLMCompletionStartEvent`] or [`EmbeddingStartEvent`]
    /// named. Going over the budget here is not an error; see
    /// [`TokenCountingHandler::check_budget`].
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(start) = event.downcast_ref::<LLMChatStartEvent>() {
            let model = model::named_in(&[&start.additional_kwargs, &start.model_dict]);
            self.started(CallKey::of(event), model);
        } else if let Some(start) = event.downcast_ref::<LLMCompletionStartEvent>() {
            let model = model::named_in(&[&start.additional_kwargs, &start.model_dict]);
            self.started(CallKey::of(event), model);
        } else if let Some(start) = event.downcast_ref::<EmbeddingStartEvent>() {
            self.started(CallKey::of(event), model::named_in(&[&start.model_dict]));
        } else if let Some(chat) = event.downcast_ref::<LLMChatEndEvent>() {
            let started = self.ended(&CallKey::of(event));
            let prompt = chat
                .messages
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n");
            let answer = chat
                .response
                .as_ref()
                .map_or_else(Answer::default, |r| Answer {
                    text: r.to_string(),
                    usage: usage_from(r.raw.as_ref(), Some(&r.additional_kwargs)),
                    model: model::served(r.raw.as_ref()),
                });
            let model = answer.model.clone().or(started);
            self.count_llm(event.id().to_string(), prompt, answer, model);
        } else if let Some(done) = event.downcast_ref::<LLMCompletionEndEvent>() {
            let started = self.ended(&CallKey::of(event));
            let response = &done.response;
            let answer = Answer {
                text: response.text.clone(),
                usage: usage_from(response.raw.as_ref(), Some(&response.additional_kwargs)),
                model: model::served(response.raw.as_ref()),
            };
            let model = answer.model.clone().or(started);
            self.count_llm(event.id().to_string(), done.prompt.clone(), answer, model);
        } else if let Some(embedding) = event.downcast_ref::<EmbeddingEndEvent>() {
            let started = self.ended(&CallKey::of(event));
            self.count_embedding(
                &event.id().to_string(),
                embedding.chunks.iter().cloned(),
                started,
            );
        }
    }
}

//! `async-openai`, observed (feature `openai`): [`InstrumentedClient`] wraps an
//! [`async_openai::Client`] so that every chat, streamed chat, completion and embedding call is a
//! span that emits the catalog's events, as LlamaIndex's own `OpenAI` LLM does. Token counting,
//! fine-tuning files, debug traces and the OTLP export then see the calls with no hand-built
//! events.
//!
//! | call | span | events, in the span |
//! |---|---|---|
//! | [`InstrumentedClient::chat`] | `OpenAI.chat` | `LLMChatStartEvent`, `LLMChatEndEvent`, one `LLMToolCallEvent` per tool call in the answer |
//! | [`InstrumentedClient::stream_chat`] | `OpenAI.stream_chat`, as long as the stream | `LLMChatStartEvent`, `LLMChatInProgressEvent` per delta, one `LLMChatEndEvent` with the whole text and the usage |
//! | [`InstrumentedClient::complete`] | `OpenAI.complete` | `LLMCompletionStartEvent`, `LLMCompletionEndEvent` |
//! | [`InstrumentedClient::embed`] | `OpenAIEmbedding.get_text_embedding_batch` | `EmbeddingStartEvent`, `EmbeddingEndEvent` with the texts and vectors |
//!
//! Start events carry the messages (or prompt), `model_dict` (the model) and `additional_kwargs`
//! (every other setting of the request: temperature, max tokens, tools, ...); end events carry the
//! answer with the whole API response as `raw`, whose `usage` is what token counting reads. A
//! streamed chat asks the server for its usage (`stream_options.include_usage`), so the end event
//! has it too. An API error drops the span with the error's text; a stream or call dropped before
//! it finished drops it as `"cancelled"`.
//!
//! Any OpenAI-compatible server works through `async-openai`'s own configuration (OpenAI, Azure,
//! vLLM, Ollama, llama.cpp): `OpenAIConfig::new().with_api_base(url).with_api_key(key)`.
//!
//! ```no_run
//! use async_openai::config::OpenAIConfig;
//! use async_openai::types::chat::CreateChatCompletionRequestArgs;
//! use instrument::handlers::openai::InstrumentedClient;
//!
//! # async fn run() -> Result<(), async_openai::error::OpenAIError> {
//! let config = OpenAIConfig::new().with_api_base("http://127.0.0.1:8000/v1");
//! let client = InstrumentedClient::new(async_openai::Client::with_config(config));
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages([async_openai::types::chat::ChatCompletionRequestUserMessage::from("Hi").into()])
//!     .build()?;
//! let answer = client.chat(request).await?; // a span with its start and end events
//! # drop(answer);
//! # Ok(()) }
//! ```

mod call;
mod convert;
mod stream;

use std::future::Future;

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionStreamOptions, CreateChatCompletionRequest, CreateChatCompletionResponse,
};
use async_openai::types::completions::{CreateCompletionRequest, CreateCompletionResponse};
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};
use instrument_core::events::{
    EmbeddingEndEvent, EmbeddingStartEvent, LLMChatEndEvent, LLMChatStartEvent,
    LLMCompletionEndEvent, LLMCompletionStartEvent, LLMToolCallEvent,
};
use instrument_core::llm::ToolMetadata;
use instrument_core::{Dispatcher, get_dispatcher};
use serde_json::Value;

use call::Call;
pub use stream::InstrumentedChatStream;

/// The dispatcher calls are reported on unless [`InstrumentedClient::with_dispatcher`] names
/// another; handlers on it, or on the root, see them.
pub const DISPATCHER: &str = "instrument::openai";

/// Span names, as LlamaIndex names its OpenAI classes' methods.
pub const CHAT_SPAN: &str = "OpenAI.chat";
/// The span of a streamed chat.
pub const STREAM_CHAT_SPAN: &str = "OpenAI.stream_chat";
/// The span of a legacy completion.
pub const COMPLETE_SPAN: &str = "OpenAI.complete";
/// The span of an embedding call.
pub const EMBED_SPAN: &str = "OpenAIEmbedding.get_text_embedding_batch";

/// An [`async_openai::Client`] whose calls are spans with the catalog's events; see the
/// [module docs](self). Cheap to clone, as the client is.
#[derive(Clone, Debug)]
pub struct InstrumentedClient<C: Config> {
    client: Client<C>,
    dispatcher: &'static Dispatcher,
}

impl<C: Config> InstrumentedClient<C> {
    /// Wraps `client`; calls are reported on the [`DISPATCHER`] dispatcher.
    #[must_use]
    pub fn new(client: Client<C>) -> Self {
        Self {
            client,
            dispatcher: get_dispatcher(DISPATCHER),
        }
    }

    /// Reports calls on `dispatcher` instead (your application's, say).
    #[must_use]
    pub fn with_dispatcher(mut self, dispatcher: &'static Dispatcher) -> Self {
        self.dispatcher = dispatcher;
        self
    }

    /// The wrapped client, for the calls this wrapper does not observe.
    #[must_use]
    pub fn inner(&self) -> &Client<C> {
        &self.client
    }

    /// A chat completion, in a [`CHAT_SPAN`] span.
    ///
    /// # Errors
    /// What the client returns; the span is then dropped with the error.
    pub async fn chat(
        &self,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, OpenAIError> {
        let json = convert::json(&request);
        let messages = convert::request_messages(&json);
        let (model_dict, additional_kwargs) = convert::settings(&json);
        let mut call = Call::start(self.dispatcher, CHAT_SPAN);
        call.emit(LLMChatStartEvent {
            messages: messages.clone(),
            additional_kwargs,
            model_dict,
        });
        finish(
            call,
            self.client.chat().create(request),
            |response, call| {
                let answer = convert::chat_response(&convert::json(response));
                let tool_calls = tool_calls(&answer.message.additional_kwargs);
                call.emit(LLMChatEndEvent {
                    messages,
                    response: Some(answer),
                });
                for event in tool_calls {
                    call.emit(event);
                }
            },
        )
        .await
    }

    /// A streamed chat completion: the span lasts as long as the returned stream, which yields
    /// the API's chunks unchanged. The request asks for the usage in a final chunk
    /// (`stream_options.include_usage`), so that token counts are the server's: that last chunk
    /// has no `choices`, so read `chunk.choices.first()` rather than `choices[0]`.
    ///
    /// # Errors
    /// What the client returns when the stream cannot start; the span is then dropped with it.
    pub async fn stream_chat(
        &self,
        mut request: CreateChatCompletionRequest,
    ) -> Result<InstrumentedChatStream, OpenAIError> {
        let options = request
            .stream_options
            .get_or_insert_with(ChatCompletionStreamOptions::default);
        options.include_usage = Some(true);
        let json = convert::json(&request);
        let messages = convert::request_messages(&json);
        let (model_dict, additional_kwargs) = convert::settings(&json);
        let mut call = Call::start(self.dispatcher, STREAM_CHAT_SPAN);
        call.emit(LLMChatStartEvent {
            messages: messages.clone(),
            additional_kwargs,
            model_dict,
        });
        match self.client.chat().create_stream(request).await {
            Ok(chunks) => Ok(InstrumentedChatStream::new(call, messages, chunks)),
            Err(error) => {
                call.fail(&error);
                Err(error)
            }
        }
    }

    /// A legacy completion (`/completions`), in a [`COMPLETE_SPAN`] span.
    ///
    /// # Errors
    /// What the client returns; the span is then dropped with the error.
    pub async fn complete(
        &self,
        request: CreateCompletionRequest,
    ) -> Result<CreateCompletionResponse, OpenAIError> {
        let json = convert::json(&request);
        let prompt = convert::prompt(&json);
        let (model_dict, additional_kwargs) = convert::settings(&json);
        let mut call = Call::start(self.dispatcher, COMPLETE_SPAN);
        call.emit(LLMCompletionStartEvent {
            prompt: prompt.clone(),
            additional_kwargs,
            model_dict,
        });
        finish(
            call,
            self.client.completions().create(request),
            |response, call| {
                call.emit(LLMCompletionEndEvent {
                    prompt,
                    response: convert::completion_response(&convert::json(response)),
                });
            },
        )
        .await
    }

    /// Embeddings of the request's texts, in an [`EMBED_SPAN`] span.
    ///
    /// # Errors
    /// What the client returns; the span is then dropped with the error.
    pub async fn embed(
        &self,
        request: CreateEmbeddingRequest,
    ) -> Result<CreateEmbeddingResponse, OpenAIError> {
        let json = convert::json(&request);
        let chunks = convert::embedding_inputs(&json);
        let (mut model_dict, _) = convert::settings(&json);
        model_dict.insert("class_name".into(), "OpenAIEmbedding".into());
        let mut call = Call::start(self.dispatcher, EMBED_SPAN);
        call.emit(EmbeddingStartEvent { model_dict });
        finish(
            call,
            self.client.embeddings().create(request),
            |response, call| {
                let response = convert::json(response);
                call.emit(EmbeddingEndEvent {
                    chunks,
                    embeddings: convert::embedding_vectors(&response),
                });
                call.record_usage(&response);
            },
        )
        .await
    }
}

/// Awaits `request` for `call`: on success `end` emits the end events and the span exits; on an
/// error the span is dropped with it; if this future is dropped first, so is the span, as
/// `"cancelled"`.
async fn finish<T>(
    mut call: Call,
    request: impl Future<Output = Result<T, OpenAIError>>,
    end: impl FnOnce(&T, &mut Call),
) -> Result<T, OpenAIError> {
    let result = request.await;
    match &result {
        Ok(response) => {
            end(response, &mut call);
            call.exit();
        }
        Err(error) => call.fail(error),
    }
    result
}

/// One `LLMToolCallEvent` per tool call an answer asks for.
fn tool_calls(kwargs: &serde_json::Map<String, Value>) -> Vec<LLMToolCallEvent> {
    kwargs
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|call| LLMToolCallEvent {
                    tool_id: call["id"].as_str().map(str::to_owned),
                    tool: ToolMetadata::new(
                        call["function"]["name"].as_str().unwrap_or_default(),
                        "",
                    ),
                    arguments: call["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

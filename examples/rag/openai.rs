//! The pipeline on a real model: any OpenAI-compatible server, through `instrument`'s
//! instrumented `async-openai` client, which reports each call itself (`OpenAI.stream_chat` and
//! `OpenAIEmbedding.get_text_embedding_batch` spans with their events and the server's usage).
//!
//! `OPENAI_BASE_URL` and `OPENAI_API_KEY` turn it on; `OPENAI_MODEL` (default `gpt-4o-mini`) and
//! `OPENAI_EMBEDDING_MODEL` (default `text-embedding-3-small`) choose the models.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use futures_core::Stream;
use instrument::handlers::openai::{InstrumentedChatStream, InstrumentedClient};
use instrument::llm::{ChatMessage, ChatResponse, Embedding, MessageRole};
use serde_json::{Map, Value, json};

use super::llm::Llm;

/// Where the model is and which models to use.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// The API base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The API key.
    pub api_key: String,
    /// The chat model.
    pub model: String,
    /// The embedding model.
    pub embedding_model: String,
}

/// The key stays out of logs.
impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &instrument::REDACTED)
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .finish()
    }
}

impl OpenAiSettings {
    /// The settings `OPENAI_BASE_URL` and `OPENAI_API_KEY` give (both needed), with the models
    /// from `OPENAI_MODEL` and `OPENAI_EMBEDDING_MODEL` or their defaults.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Some(Self {
            base_url: var("OPENAI_BASE_URL")?,
            api_key: var("OPENAI_API_KEY")?,
            model: var("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned()),
            embedding_model: var("OPENAI_EMBEDDING_MODEL")
                .unwrap_or_else(|| "text-embedding-3-small".to_owned()),
        })
    }

    /// The instrumented client, reporting on the pipeline's dispatcher.
    #[must_use]
    pub fn client(&self) -> InstrumentedClient<OpenAIConfig> {
        // The demo's `async-openai` speaks TLS through rustls with ring, the provider the OTLP
        // transport uses too; an application installs the one it built (`Err`: already installed).
        // (ring's is deprecated only for lacking post-quantum key exchange.)
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = OpenAIConfig::new()
            .with_api_base(&self.base_url)
            .with_api_key(&self.api_key);
        InstrumentedClient::new(async_openai::Client::with_config(config))
            .with_dispatcher(super::dispatcher!())
    }
}

/// A chat model behind the instrumented client.
#[derive(Debug, Clone)]
pub struct OpenAiLlm {
    client: InstrumentedClient<OpenAIConfig>,
    model: String,
}

impl OpenAiLlm {
    /// The chat model of `settings`.
    #[must_use]
    pub fn new(settings: &OpenAiSettings) -> Self {
        Self {
            client: settings.client(),
            model: settings.model.clone(),
        }
    }
}

impl Llm for OpenAiLlm {
    fn metadata(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({"model": self.model, "class_name": "OpenAI"}) else {
            unreachable!("a JSON object literal")
        };
        map
    }

    fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> impl Stream<Item = ChatResponse> + Send + Unpin + '_ {
        let request = CreateChatCompletionRequestArgs::default()
            .model(&self.model)
            .temperature(0.0)
            .messages(messages.iter().map(request_message).collect::<Vec<_>>())
            .build();
        let starting: StartFuture<'_> = match request {
            Ok(request) => Box::pin(self.client.stream_chat(request)),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        };
        OpenAiStream::Starting(starting)
    }

    /// The client reports its own calls: no second span around them.
    fn reports_its_calls(&self) -> bool {
        true
    }
}

fn request_message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    let text = message.text().to_owned();
    match message.role {
        MessageRole::System | MessageRole::Developer => {
            ChatCompletionRequestSystemMessage::from(text).into()
        }
        _ => ChatCompletionRequestUserMessage::from(text).into(),
    }
}

type StartFuture<'a> =
    Pin<Box<dyn Future<Output = Result<InstrumentedChatStream, OpenAIError>> + Send + 'a>>;

/// The answer as the pipeline reads it: the text so far with the newest piece as `delta`, and
/// the usage on the last item.
enum OpenAiStream<'a> {
    Starting(StartFuture<'a>),
    Streaming {
        chunks: Box<InstrumentedChatStream>,
        text: String,
        usage: Option<Value>,
    },
    Done,
}

impl Stream for OpenAiStream<'_> {
    type Item = ChatResponse;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatResponse>> {
        loop {
            match &mut *self {
                OpenAiStream::Starting(future) => match ready!(future.as_mut().poll(cx)) {
                    Ok(chunks) => {
                        *self = OpenAiStream::Streaming {
                            chunks: Box::new(chunks),
                            text: String::new(),
                            usage: None,
                        };
                    }
                    Err(error) => {
                        eprintln!("the model could not be reached: {error}");
                        *self = OpenAiStream::Done;
                    }
                },
                OpenAiStream::Streaming {
                    chunks,
                    text,
                    usage,
                } => match ready!(Pin::new(&mut **chunks).poll_next(cx)) {
                    Some(Ok(chunk)) => {
                        let chunk = serde_json::to_value(&chunk).unwrap_or(Value::Null);
                        if !chunk["usage"].is_null() {
                            *usage = Some(json!({"usage": chunk["usage"]}));
                        }
                        let Some(piece) = chunk["choices"][0]["delta"]["content"]
                            .as_str()
                            .filter(|piece| !piece.is_empty())
                        else {
                            continue;
                        };
                        text.push_str(piece);
                        return Poll::Ready(Some(
                            ChatResponse::new(ChatMessage::assistant(text.clone()))
                                .with_delta(piece),
                        ));
                    }
                    Some(Err(error)) => {
                        eprintln!("the model's stream failed: {error}");
                        *self = OpenAiStream::Done;
                    }
                    None => {
                        // One last item carries the usage, with no new text.
                        let last = usage.take().map(|raw| {
                            ChatResponse::new(ChatMessage::assistant(text.clone()))
                                .with_delta("")
                                .with_raw(raw)
                        });
                        *self = OpenAiStream::Done;
                        if last.is_some() {
                            return Poll::Ready(last);
                        }
                    }
                },
                OpenAiStream::Done => return Poll::Ready(None),
            }
        }
    }
}

/// An embedding model behind the instrumented client.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedding {
    client: InstrumentedClient<OpenAIConfig>,
    model: String,
}

impl OpenAiEmbedding {
    /// The embedding model of `settings`.
    #[must_use]
    pub fn new(settings: &OpenAiSettings) -> Self {
        Self {
            client: settings.client(),
            model: settings.embedding_model.clone(),
        }
    }

    /// Embeds `texts`, one vector each; empty vectors when the server cannot be reached.
    pub async fn embed(&self, texts: &[String]) -> Vec<Embedding> {
        let request = CreateEmbeddingRequestArgs::default()
            .model(&self.model)
            .input(texts.to_vec())
            .build();
        let response = match request {
            Ok(request) => self.client.embed(request).await,
            Err(error) => Err(error),
        };
        match response {
            Ok(response) => {
                let mut data = response.data;
                data.sort_by_key(|item| item.index);
                data.into_iter()
                    .map(|item| item.embedding.into_iter().map(f64::from).collect())
                    .collect()
            }
            Err(error) => {
                eprintln!("the embedding model could not be reached: {error}");
                vec![Vec::new(); texts.len()]
            }
        }
    }
}

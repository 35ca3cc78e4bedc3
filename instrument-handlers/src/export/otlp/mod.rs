//! OTLP export: [`OtlpExporter`] sends spans to Arize Phoenix or any OpenTelemetry collector as
//! OTLP/HTTP protobuf (`POST {endpoint}/v1/traces`, `Content-Type: application/x-protobuf`), with
//! the OpenInference attributes Phoenix reads. Behind the `otlp` feature, off by default.
//!
//! # What a span becomes
//!
//! - Ids: the span id is the low 64 bits of the span's UUID; the trace id is the one the core fixed
//!   when the trace's root started ([`instrument_core::SpanStart::trace_id`]: the root's UUID, or
//!   the remote trace its context continues), the same one a `traceparent` injected anywhere in
//!   the trace carries and every other exporter writes. Parent links, start and end in Unix nanoseconds,
//!   status `ERROR` with the drop error as message ([`instrument_core::SpanEnd::error`]), `OK`
//!   otherwise. One `ScopeSpans` per dispatcher, named after it.
//! - Resource: `service.name` and `openinference.project.name` ([`OtlpConfig::service_name`],
//!   [`OtlpConfig::project_name`], defaults `instrument` and `default`), plus `telemetry.sdk.*`.
//! - OpenInference attributes from the built-in events emitted inside the span:
//!   `openinference.span.kind` (`LLM` for chat, completion and predict events, `EMBEDDING`,
//!   `RETRIEVER`, `RERANKER`, `TOOL` for tool calls, `AGENT` for agent steps, `CHAIN` otherwise; the
//!   first kind other than `CHAIN` wins), `input.value`/`output.value` with their `*.mime_type`,
//!   `llm.model_name`, `llm.provider` and `llm.invocation_parameters` from the model's settings and
//!   the call's keyword arguments, `llm.input_messages.{i}.message.role|content`,
//!   `llm.output_messages.{i}...`, `llm.token_count.prompt|completion|total` from the usage the
//!   provider reported ([`crate::token_counting::usage_from`]) and `llm.cost.prompt|completion|total`
//!   (dollars, from [`crate::token_counting::PriceTable::builtin`], when the answering model is in it), `embedding.model_name`,
//!   `embedding.embeddings.{i}.embedding.text|vector`,
//!   `retrieval.documents.{i}.document.id|content|score|metadata`, `reranker.query|model_name|top_k`
//!   and `reranker.input_documents|output_documents`, `tool.name|description|parameters`. Every event
//!   is also an OTLP span event (its class name and time; `exception.message` for
//!   `ExceptionEvent`).
//! - OpenTelemetry GenAI convention attributes beside them, for backends that read those (Langfuse,
//!   MLflow, Datadog): `gen_ai.operation.name` (`chat`, `text_completion`, `embeddings`),
//!   `gen_ai.provider.name` (OpenInference's provider names mapped to the conventions':
//!   `google` → `gcp.gen_ai`, `mistralai` → `mistral_ai`, …), `gen_ai.request.model`, and from
//!   the end of an LLM call `gen_ai.response.model` (the response's `raw.model`),
//!   `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens`.
//! - From the span itself: its arguments as a JSON object become `input.value` (redacted ones stay
//!   `"[REDACTED]"`) and its return value `output.value`, each only when no event set it;
//!   `metadata` is what was recorded into it, as JSON; `tag.tags` lists its tags as `key=value`, and
//!   the tags `session_id`/`session.id` and `user_id`/`user.id` become `session.id` and `user.id`.
//!
//! # Transport
//!
//! `ureq` with rustls on the exporter's own thread: `http://` and `https://` (Mozilla's roots, or
//! only the CA certificates of [`OtlpConfig::ca_certificate`]; mutual TLS with
//! [`OtlpConfig::client_certificate`]), kept-alive connections between batches, proxies from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY`, optional gzip bodies
//! ([`Compression::Gzip`]). Failed batches are retried as the OpenTelemetry SDKs do: only
//! transport errors and `429`/`502`/`503`/`504`, with exponential backoff and jitter, the server's
//! `Retry-After` honoured, until [`DEFAULT_MAX_ELAPSED`] (or [`OtlpConfig::retry`]'s) has passed;
//! any other status and an untrusted certificate fail at once. [`OtlpConfig::from_env`] reads the
//! standard `OTEL_*` variables.
//!
//! # Why these crates
//!
//! The messages come from `opentelemetry-proto` (features `gen-tonic-messages` and `trace`, no
//! tonic) and are encoded with `prost`. Measured as scratch crates on this two-core machine (debug
//! build, clean target): `opentelemetry-proto` + `prost` built 43 crates in 7.4 s;
//! `opentelemetry-otlp` with `http-proto` and its blocking `reqwest` client (plus the
//! `opentelemetry_sdk` it needs) built 125 crates in 17.3 s, and would bring its own batch
//! processor and runtime we do not need, since the exporter's thread already batches. `ureq` is
//! the small blocking client that fits a background thread; the generated messages keep the field
//! numbers right by construction and let receivers decode with the same types ([`proto`]).
//!
//! # Cost on the traced code
//!
//! The recording thread captures arguments (as [`crate::JsonlExporter`] does), maps a built-in
//! event's fields to attribute writes, and hands small records to the exporter's thread with
//! `try_send` on a bounded queue. It never encodes, never touches the network and never blocks:
//! when the queue is full the record is dropped and counted ([`OtlpExporter::dropped_spans`],
//! [`OtlpExporter::dropped_events`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use instrument::handlers::export::otlp::OtlpExporter;
//!
//! let exporter = OtlpExporter::builder("http://127.0.0.1:6006").project_name("rag").build()?;
//! exporter.register(instrument::get_dispatcher("my_app"));
//! // ... traced work ...
//! exporter.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), instrument::handlers::export::otlp::OtlpError>(())
//! ```

mod config;
mod encode;
mod env;
mod error;
mod events;
mod exporter;
mod genai;
mod openinference;
mod presets;
pub mod proto;
mod retry;
mod sink;
mod transport;

pub use config::{
    Compression, DEFAULT_ENDPOINT, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_DELAY, DEFAULT_MAX_ELAPSED, DEFAULT_PROJECT_NAME,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_SERVICE_NAME, DEFAULT_TIMEOUT, OtlpConfig,
};
pub use error::OtlpError;
pub(crate) use events::{EventAttrs, event_attrs};
pub use exporter::{DEFAULT_CLOSE_TIMEOUT, OtlpExporter};
pub use presets::{LANGFUSE_CLOUD, PHOENIX_CLOUD, WEAVE_CLOUD};

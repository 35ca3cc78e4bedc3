//! The OTLP trace messages the exporter sends, re-exported from `opentelemetry-proto` with `prost`'s
//! [`Message`] trait, so that a receiver written in Rust (a test, a proxy) can decode a request
//! without depending on those crates itself.
//!
//! ```
//! use instrument::handlers::export::otlp::proto::{ExportTraceServiceRequest, Message};
//!
//! let request = ExportTraceServiceRequest::default();
//! let bytes = request.encode_to_vec();
//! assert_eq!(ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap(), request);
//! ```

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
pub use prost::Message;

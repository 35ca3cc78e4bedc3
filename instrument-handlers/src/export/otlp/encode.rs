//! Ended spans as OTLP messages: one `Span` per span, grouped into one `ScopeSpans` per dispatcher
//! under the exporter's resource, encoded with `prost`.

use instrument_core::{Tags, TraceParent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message as _;

use super::events::EventAttrs;
use super::openinference::{AttrValue, Attrs, SpanKind, SpanOwn};
use crate::export::assemble::FinishedSpan;

/// `service.name`, `openinference.project.name`, the SDK's name, language and version, then the
/// configured attributes.
pub(crate) fn resource(
    service_name: &str,
    project_name: &str,
    extra: &[(String, String)],
) -> Resource {
    let attributes = [
        ("service.name", service_name),
        ("openinference.project.name", project_name),
        ("telemetry.sdk.name", "instrument"),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .chain(
        extra
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    )
    .map(|(key, value)| key_value(key.to_owned(), AttrValue::from(value)))
    .collect();
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// OTLP span events kept per span at most; later ones are counted in `dropped_events_count`.
const MAX_EVENTS_PER_SPAN: usize = 1000;

/// The OTLP span of a finished span: its events' OpenInference attributes (the first kind other
/// than `CHAIN` wins: a span that calls an LLM is an LLM span), then its own.
pub(crate) fn span(finished: &FinishedSpan) -> Span {
    let record = &finished.record;
    let mut kind = None;
    let mut attrs = Attrs::new();
    let mut events = Vec::with_capacity(finished.events.len().min(MAX_EVENTS_PER_SPAN));
    for event in &finished.events {
        let EventAttrs {
            kind: event_kind,
            attrs: event_span_attrs,
            event_attrs,
        } = event.attrs.as_deref().cloned().unwrap_or_default();
        if event_kind.is_some() && matches!(kind, None | Some(SpanKind::Chain)) {
            kind = event_kind;
        }
        attrs.extend(event_span_attrs);
        if events.len() < MAX_EVENTS_PER_SPAN {
            events.push(self::event(event.name, event.at.unix_nanos(), event_attrs));
        }
    }
    let dropped_events_count =
        u32::try_from(finished.events.len() - events.len()).unwrap_or(u32::MAX);
    let no_tags = Tags::default();
    SpanOwn {
        kind,
        args: record.args.as_deref(),
        result: record.result(),
        metadata: Some(record.metadata()),
        tags: record.raw_tags().unwrap_or(&no_tags),
    }
    .apply(&mut attrs);
    let status = match record.error() {
        Some(message) => Status {
            message: message.to_owned(),
            code: status::StatusCode::Error as i32,
        },
        None => Status {
            message: String::new(),
            code: status::StatusCode::Ok as i32,
        },
    };
    Span {
        trace_id: record.trace_id.to_vec(),
        span_id: TraceParent::parent_id_for(&record.id).to_vec(),
        parent_span_id: record
            .parent
            .map(|parent| TraceParent::parent_id_for(&parent).to_vec())
            .unwrap_or_default(),
        name: record.id.name().to_owned(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: record.start.unix_nanos(),
        end_time_unix_nano: record.end.unix_nanos(),
        attributes: attributes(attrs),
        events,
        dropped_events_count,
        status: Some(status),
        ..Span::default()
    }
}

/// An OTLP span event: the event's class name, time and attributes.
pub(crate) fn event(
    name: &str,
    time_unix_nano: u64,
    attrs: Vec<(String, AttrValue)>,
) -> span::Event {
    span::Event {
        time_unix_nano,
        name: name.to_owned(),
        attributes: attrs
            .into_iter()
            .map(|(key, value)| key_value(key, value))
            .collect(),
        ..span::Event::default()
    }
}

/// The request carrying `spans` (with the dispatcher each was made on), encoded.
pub(crate) fn request(resource: &Resource, spans: Vec<(&'static str, Span)>) -> Vec<u8> {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for (dispatcher, span) in spans {
        match scopes.iter_mut().find(|scope| {
            scope
                .scope
                .as_ref()
                .is_some_and(|scope| scope.name == dispatcher)
        }) {
            Some(scope) => scope.spans.push(span),
            None => scopes.push(ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: dispatcher.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans: vec![span],
                ..ScopeSpans::default()
            }),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: scopes,
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn attributes(attrs: Attrs) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|(key, value)| key_value(key, value))
        .collect()
}

fn key_value(key: String, value: AttrValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(any(value)),
        ..KeyValue::default()
    }
}

fn any(value: AttrValue) -> AnyValue {
    use any_value::Value;
    let value = match value {
        AttrValue::Str(text) => Value::StringValue(text),
        AttrValue::Int(n) => Value::IntValue(n),
        AttrValue::Double(x) => Value::DoubleValue(x),
        AttrValue::Strs(list) => array(list.into_iter().map(Value::StringValue)),
        AttrValue::Doubles(list) => array(list.into_iter().map(Value::DoubleValue)),
    };
    AnyValue { value: Some(value) }
}

fn array(values: impl Iterator<Item = any_value::Value>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: values
            .map(|value| AnyValue { value: Some(value) })
            .collect(),
    })
}

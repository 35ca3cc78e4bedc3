//! The OTLP sink: finished spans become OTLP spans, kept for a batch and sent when the batch is
//! full or its oldest span has waited long enough.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::encode;
use super::retry::{self, Sending};
use crate::export::assemble::FinishedSpan;
use crate::export::deadline::Deadline;
use crate::export::error::ExportError;
use crate::export::pipeline::{Sink, SinkCounters, Wants};

/// Sends spans to an OTLP/HTTP receiver in batches.
pub(crate) struct OtlpSink {
    pub(crate) sending: Sending,
    pub(crate) resource: Resource,
    pub(crate) max_batch_size: usize,
    pub(crate) max_delay: Duration,
    pub(crate) counters: Arc<SinkCounters>,
    batch: Vec<(&'static str, Span)>,
    /// When the oldest span in `batch` ended.
    batch_since: Option<Instant>,
    /// The first failure since the last flush.
    error: Option<String>,
}

impl OtlpSink {
    pub(crate) fn new(
        sending: Sending,
        resource: Resource,
        max_batch_size: usize,
        max_delay: Duration,
    ) -> Self {
        Self {
            sending,
            resource,
            max_batch_size,
            max_delay,
            counters: Arc::default(),
            batch: Vec::new(),
            batch_since: None,
            error: None,
        }
    }
}

impl Sink for OtlpSink {
    fn wants(&self) -> Wants {
        Wants {
            result: true,
            event_json: false,
            event_otlp: true,
        }
    }

    fn accept(&mut self, span: &FinishedSpan) {
        self.batch
            .push((span.record.dispatcher, encode::span(span)));
        self.batch_since.get_or_insert_with(Instant::now);
    }

    fn full(&self) -> bool {
        self.batch.len() >= self.max_batch_size
    }

    fn due(&self) -> Option<Instant> {
        self.batch_since.map(|since| since + self.max_delay)
    }

    /// Sends the batch, in requests of at most `max_batch_size` spans.
    fn flush(&mut self, deadline: &Deadline) {
        self.batch_since = None;
        while !self.batch.is_empty() {
            let take = self.batch.len().min(self.max_batch_size);
            let spans: Vec<_> = self.batch.drain(..take).collect();
            let count = spans.len() as u64;
            let body = encode::request(&self.resource, spans);
            match retry::send(&self.sending, deadline, &body) {
                Ok(()) => {
                    self.counters.exported.fetch_add(count, Ordering::Relaxed);
                }
                Err(error) => {
                    self.counters.dropped.fetch_add(count, Ordering::Relaxed);
                    self.error.get_or_insert(error);
                }
            }
        }
    }

    fn take_error(&mut self) -> Option<ExportError> {
        Some(ExportError::Sink {
            sink: "otlp",
            message: self.error.take()?,
        })
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}

//! The exporter's thread: it joins events to their spans, works out trace ids, builds OTLP spans,
//! and sends them in batches, so that recording threads never encode or touch the network.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use instrument_core::SpanId;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, span};

use super::encode;
use super::events::EventAttrs;
use super::message::{EndRecord, Message};
use super::openinference::{Attrs, SpanKind};
use super::retry::{self, Deadline, Sending};
use super::trace_ids::{RecentTraces, trace_of};

/// How long the worker sleeps when its queue is empty. Recording threads do not wake it (that would
/// cost them a system call per span); a full queue, a flush or a shutdown does.
const POLL: Duration = Duration::from_millis(10);

/// Spans followed as open at most; past this, new spans are exported without their events.
const MAX_OPEN: usize = 1 << 16;

/// OTLP span events kept per span at most; later ones are counted in `dropped_events_count`.
const MAX_EVENTS_PER_SPAN: usize = 1000;

/// Counters and the flush deadline, shared by the exporter's handles and its thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) dropped_spans: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) exported_spans: AtomicU64,
    pub(crate) deadline: Deadline,
    /// Set by a shutdown that could not queue its stop in time: the worker stops once its queue
    /// runs dry.
    pub(crate) stop_when_idle: AtomicBool,
}

/// A span the worker saw start and not yet end.
pub(crate) struct OpenSpan {
    pub(crate) trace_id: [u8; 16],
    pub(crate) kind: Option<SpanKind>,
    pub(crate) attrs: Attrs,
    pub(crate) events: Vec<span::Event>,
}

/// The worker's state.
pub(crate) struct Worker {
    pub(crate) sending: Sending,
    pub(crate) resource: Resource,
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_batch_size: usize,
    pub(crate) max_delay: Duration,
    open: HashMap<SpanId, OpenSpan>,
    recent: RecentTraces,
    batch: Vec<(&'static str, Span)>,
    /// When the oldest span in `batch` ended.
    batch_since: Option<Instant>,
    /// The first failure since the last flush.
    error: Option<String>,
}

impl Worker {
    pub(crate) fn new(
        sending: Sending,
        resource: Resource,
        shared: Arc<Shared>,
        max_batch_size: usize,
        max_delay: Duration,
    ) -> Self {
        Self {
            sending,
            resource,
            shared,
            max_batch_size,
            max_delay,
            open: HashMap::new(),
            recent: RecentTraces::default(),
            batch: Vec::new(),
            batch_since: None,
            error: None,
        }
    }

    /// Runs until told to stop or every sender is gone, sending what remains before it returns.
    pub(crate) fn run(mut self, queue: &Receiver<Message>) {
        loop {
            match queue.try_recv() {
                Ok(Message::Flush { answer, stop }) => {
                    self.send_batch();
                    let _ = answer.send(self.error.take());
                    self.shared.deadline.end();
                    if stop {
                        break;
                    }
                }
                Ok(message) => {
                    self.handle(message);
                    if self.batch_due() {
                        self.send_batch();
                    }
                }
                Err(TryRecvError::Empty) => {
                    if self.shared.stop_when_idle.load(Ordering::Acquire) {
                        self.send_batch();
                        break;
                    }
                    if self.batch_due() {
                        self.send_batch();
                    }
                    std::thread::park_timeout(self.wait());
                }
                Err(TryRecvError::Disconnected) => {
                    self.send_batch();
                    return;
                }
            }
        }
        // Stopped: what arrived after the shutdown is not sent.
        while let Ok(message) = queue.try_recv() {
            match message {
                Message::End(_) => self.count(&self.shared.dropped_spans, 1),
                Message::Flush { answer, .. } => {
                    let _ = answer.send(None);
                    self.shared.deadline.end();
                }
                Message::Start { .. } | Message::Event { .. } => {}
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Start {
                id,
                parent,
                context_trace,
            } => self.start(id, parent, context_trace),
            Message::Event {
                span,
                name,
                at,
                attrs,
            } => self.event(span, name, at.unix_nanos(), attrs),
            Message::End(record) => self.end(*record),
            Message::Flush { .. } => {}
        }
    }

    fn start(&mut self, id: SpanId, parent: Option<SpanId>, context_trace: Option<[u8; 16]>) {
        if self.open.len() >= MAX_OPEN {
            return;
        }
        let (open, recent) = (&self.open, &self.recent);
        let trace_id = trace_of(id, parent, context_trace, |parent| {
            open.get(parent)
                .map(|span| span.trace_id)
                .or_else(|| recent.get(parent))
        });
        self.open.insert(
            id,
            OpenSpan {
                trace_id,
                kind: None,
                attrs: Attrs::new(),
                events: Vec::new(),
            },
        );
    }

    fn event(&mut self, id: SpanId, name: &str, at: u64, attrs: Option<Box<EventAttrs>>) {
        let Some(span) = self.open.get_mut(&id) else {
            return;
        };
        let EventAttrs {
            kind,
            attrs,
            event_attrs,
        } = attrs.map(|attrs| *attrs).unwrap_or_default();
        // The first kind other than CHAIN wins: a span that calls an LLM is an LLM span.
        if kind.is_some() && matches!(span.kind, None | Some(SpanKind::Chain)) {
            span.kind = kind;
        }
        span.attrs.extend(attrs);
        if span.events.len() < MAX_EVENTS_PER_SPAN {
            span.events.push(encode::event(name, at, event_attrs));
        } else {
            self.shared.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end(&mut self, record: EndRecord) {
        let open = self.open.remove(&record.id);
        let trace_id = match &open {
            Some(open) => open.trace_id,
            None => {
                let (open, recent) = (&self.open, &self.recent);
                trace_of(record.id, record.parent, None, |parent| {
                    open.get(parent)
                        .map(|span| span.trace_id)
                        .or_else(|| recent.get(parent))
                })
            }
        };
        self.recent.insert(record.id, trace_id);
        let dispatcher = record.dispatcher;
        self.batch
            .push((dispatcher, encode::span(record, trace_id, open)));
        self.batch_since.get_or_insert_with(Instant::now);
    }

    fn batch_due(&self) -> bool {
        self.batch.len() >= self.max_batch_size
            || self
                .batch_since
                .is_some_and(|since| since.elapsed() >= self.max_delay)
    }

    /// How long to sleep with an empty queue: until the batch is due, at most `POLL`.
    fn wait(&self) -> Duration {
        match self.batch_since {
            Some(since) => self.max_delay.saturating_sub(since.elapsed()).min(POLL),
            None => POLL,
        }
    }

    /// Sends the batch (in requests of at most `max_batch_size` spans).
    fn send_batch(&mut self) {
        self.batch_since = None;
        while !self.batch.is_empty() {
            let take = self.batch.len().min(self.max_batch_size);
            let spans: Vec<_> = self.batch.drain(..take).collect();
            let count = spans.len() as u64;
            let body = encode::request(&self.resource, spans);
            match retry::send(&self.sending, &self.shared.deadline, &body) {
                Ok(()) => self.count(&self.shared.exported_spans, count),
                Err(error) => {
                    self.count(&self.shared.dropped_spans, count);
                    self.error.get_or_insert(error);
                }
            }
        }
    }

    fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

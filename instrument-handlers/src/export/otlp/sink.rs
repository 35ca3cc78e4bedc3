//! The OTLP sink: finished spans become OTLP spans, kept for a batch, and handed as encoded
//! requests to the sink's own sending thread, so that a slow or unreachable backend (a request
//! that hangs, retries that back off for a minute) never holds up the pipeline's thread and the
//! other sinks it feeds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::encode;
use super::retry::{self, Sending};
use crate::export::assemble::FinishedSpan;
use crate::export::deadline::Deadline;
use crate::export::error::ExportError;
use crate::export::pipeline::{Sink, SinkCounters, Wants};

/// One encoded request and the spans in it.
struct Request {
    body: Vec<u8>,
    spans: u64,
}

/// What the sink and its sending thread share.
#[derive(Default)]
struct Shared {
    counters: Arc<SinkCounters>,
    /// What was handed over and not yet sent or given up.
    in_flight: Mutex<InFlight>,
    /// Signalled whenever a request is done.
    progress: Condvar,
    /// Spans handed over at most: half the pipeline's queue (each span is two messages there), so
    /// that what fits in the queue while the backend is away also waits here.
    capacity: AtomicU64,
    /// The first failure since the last flush.
    error: Mutex<Option<String>>,
    /// Set when the sink is dropped: remaining requests get one try, no retries.
    stopping: AtomicBool,
}

/// Requests and spans handed over to the sending thread.
#[derive(Default)]
struct InFlight {
    requests: usize,
    spans: u64,
}

impl Shared {
    fn done(&self, spans: u64) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.requests = in_flight.requests.saturating_sub(1);
        in_flight.spans = in_flight.spans.saturating_sub(spans);
        self.progress.notify_all();
    }

    fn failed(&self, spans: u64, error: String) {
        self.counters.dropped.fetch_add(spans, Ordering::Relaxed);
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
    }
}

/// Sends spans to an OTLP/HTTP receiver in batches.
pub(crate) struct OtlpSink {
    resource: Resource,
    max_batch_size: usize,
    max_delay: Duration,
    shared: Arc<Shared>,
    batch: Vec<(&'static str, Span)>,
    /// When the oldest span in `batch` ended.
    batch_since: Option<Instant>,
    /// How requests are sent, until `attach` hands it to the sending thread.
    sending: Option<Sending>,
    requests: Option<Sender<Request>>,
}

impl OtlpSink {
    pub(crate) fn new(
        sending: Sending,
        resource: Resource,
        max_batch_size: usize,
        max_delay: Duration,
    ) -> Self {
        Self {
            resource,
            max_batch_size,
            max_delay,
            shared: Arc::default(),
            batch: Vec::new(),
            batch_since: None,
            sending: Some(sending),
            requests: None,
        }
    }

    /// Hands the batch over in requests of at most `max_batch_size` spans. When the sending
    /// thread already holds its capacity, a request waits with `wait` (until the deadline) and is
    /// dropped and counted without.
    fn hand_over(&mut self, deadline: &Deadline, wait: bool) {
        self.batch_since = None;
        while !self.batch.is_empty() {
            let take = self.batch.len().min(self.max_batch_size);
            let spans: Vec<_> = self.batch.drain(..take).collect();
            let count = spans.len() as u64;
            if !self.reserve(count, deadline, wait) {
                self.shared.failed(
                    count,
                    "the OTLP receiver is not keeping up: a batch was dropped".into(),
                );
                continue;
            }
            let request = Request {
                body: encode::request(&self.resource, spans),
                spans: count,
            };
            let sent = self
                .requests
                .as_ref()
                .is_some_and(|requests| requests.send(request).is_ok());
            if !sent {
                self.shared
                    .failed(count, "the OTLP sending thread has stopped".into());
                self.shared.done(count);
            }
        }
    }

    /// Makes room for `spans` more in flight: at once, or, with `wait`, once the sending thread
    /// has made room before the deadline. A request larger than the capacity fits when nothing
    /// else is in flight.
    fn reserve(&self, spans: u64, deadline: &Deadline, wait: bool) -> bool {
        let capacity = self.shared.capacity.load(Ordering::Relaxed);
        self.wait_for(deadline, wait, |in_flight| {
            let fits = in_flight.requests == 0 || in_flight.spans + spans <= capacity;
            if fits {
                in_flight.requests += 1;
                in_flight.spans += spans;
            }
            fits
        })
    }

    /// Waits until the sending thread has sent (or given up) everything, or the deadline passed:
    /// whether it is done.
    fn wait_idle(&self, deadline: &Deadline) -> bool {
        self.wait_for(deadline, true, |in_flight| in_flight.requests == 0)
    }

    /// Checks `ready` (which may update what is in flight) each time the sending thread makes
    /// progress, until it holds or, waiting only with `wait`, the deadline has passed: whether it
    /// held.
    fn wait_for(
        &self,
        deadline: &Deadline,
        wait: bool,
        mut ready: impl FnMut(&mut InFlight) -> bool,
    ) -> bool {
        let mut in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if ready(&mut in_flight) {
                return true;
            }
            let left = deadline
                .get()
                .map(|end| end.saturating_duration_since(Instant::now()))
                .filter(|left| wait && !left.is_zero());
            let Some(left) = left else {
                return false;
            };
            in_flight = self
                .shared
                .progress
                .wait_timeout(in_flight, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The sending thread: sends each request, retrying as configured, until the sink is gone.
fn send_all(sending: &Sending, shared: &Shared, deadline: &Deadline, requests: &Receiver<Request>) {
    while let Ok(request) = requests.recv() {
        match retry::send(sending, deadline, &shared.stopping, &request.body) {
            Ok(rejected) => {
                let rejected = rejected.min(request.spans);
                shared
                    .counters
                    .exported
                    .fetch_add(request.spans - rejected, Ordering::Relaxed);
                if rejected > 0 {
                    shared.failed(
                        rejected,
                        format!(
                            "the receiver rejected {rejected} of {} spans",
                            request.spans
                        ),
                    );
                }
            }
            Err(error) => shared.failed(request.spans, error),
        }
        shared.done(request.spans);
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

    fn attach(
        &mut self,
        deadline: &Arc<Deadline>,
        queue_capacity: usize,
    ) -> Result<(), ExportError> {
        let Some(sending) = self.sending.take() else {
            return Ok(());
        };
        let capacity = (queue_capacity / 2).max(self.max_batch_size) as u64;
        self.shared.capacity.store(capacity, Ordering::Relaxed);
        // Bounded by `capacity` in spans, not by the channel.
        let (requests, received) = mpsc::channel();
        let shared = Arc::clone(&self.shared);
        let deadline = Arc::clone(deadline);
        std::thread::Builder::new()
            .name("instrument-otlp".to_owned())
            .spawn(move || send_all(&sending, &shared, &deadline, &received))
            .map_err(ExportError::Thread)?;
        self.requests = Some(requests);
        Ok(())
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
        self.batch_since
            .map(|since| since.checked_add(self.max_delay).unwrap_or(since))
    }

    fn flush(&mut self, deadline: &Deadline, wait: bool) -> bool {
        self.hand_over(deadline, wait);
        !wait || self.wait_idle(deadline)
    }

    fn take_error(&mut self) -> Option<ExportError> {
        let message = self
            .shared
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(ExportError::Sink {
            sink: "otlp",
            message,
        })
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.shared.counters)
    }
}

impl Drop for OtlpSink {
    /// The pipeline has stopped: requests still queued get one try each, and the sending thread
    /// ends when they are done.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
    }
}

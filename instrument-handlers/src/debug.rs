//! `DebugHandler`: keeps the start and end of every callback event, times them, and prints each
//! trace as it ends (LlamaIndex's `LlamaDebugHandler`).

mod event;
mod store;
mod trace;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use instrument_core::callbacks::{CBEventType, CallbackError, CallbackHandler, Payload, TraceMap};

pub use event::{CBEvent, EventPair, EventStage, EventStats};
use store::Store;

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A callback handler for looking at what a pipeline did: it keeps the start and end of every event
/// by id and by type, answers how long each type took, and prints every trace when it ends
/// (LlamaIndex's `LlamaDebugHandler`).
///
/// The printout, also returned by [`format_trace`](Self::format_trace), is a line of ten `*`,
/// `Trace: {trace_id}`, one line per event of the trace in depth-first start order, and the ten `*`
/// again. An event's line is `|_CBEventType.QUERY -> 0.420000 seconds`, indented four spaces at the
/// top level and two more per level below. Seconds are printed with six decimals (`{:.6}`, the
/// microseconds LlamaIndex's timestamps keep), not in Python's shortest float form. An event that
/// has not ended is printed with zero seconds, as LlamaIndex does; one the handler never saw, or
/// has evicted, is left out, its children still shown at their depth.
///
/// It records every start and every end it is not told to ignore, as LlamaIndex's handler does:
/// an end whose start it never saw (ignored, or evicted) and a start that has not ended yet are
/// kept too, as pairs of one event. It keeps the events of at most [`capacity`](Self::capacity)
/// ids, evicting the ids seen first and counting them in [`evicted`](Self::evicted).
/// Printing goes to stdout unless [`with_writer`](Self::with_writer) says otherwise; a failed write
/// is ignored, never an error of the traced program.
///
/// ```
/// use std::sync::Arc;
/// use instrument::callbacks::{CallbackError, CallbackManager, CBEventType, EventPayload, Payload};
/// use instrument::handlers::DebugHandler;
///
/// let debug = Arc::new(DebugHandler::new().with_print_trace_on_end(false));
/// let manager = CallbackManager::new(vec![debug.clone()]);
/// manager.with_trace("query", || -> Result<(), CallbackError> {
///     let query = manager.event(CBEventType::Query, None)?;
///     let llm = manager.event(CBEventType::Llm, Some(Payload::new().with(EventPayload::Prompt, "Hi")))?;
///     llm.on_end(Some(Payload::new().with(EventPayload::Completion, "Hello")))?;
///     query.on_end(None)
/// })?;
///
/// let llm = debug.get_llm_inputs_outputs();
/// assert_eq!(llm[0][0].payload.as_ref().unwrap().get_str(EventPayload::Prompt), Some("Hi"));
/// assert_eq!(llm[0][1].payload.as_ref().unwrap().get_str(EventPayload::Completion), Some("Hello"));
/// assert_eq!(debug.get_event_time_info(CBEventType::Query).total_count, 1);
/// assert_eq!(debug.get_event_pairs(None).len(), 2);
/// assert_eq!(debug.sequential_events().len(), 4); // two starts, two ends, as they came
/// debug.flush_event_logs();
/// assert!(debug.get_event_pairs(None).is_empty());
/// # Ok::<(), CallbackError>(())
/// ```
pub struct DebugHandler {
    store: Mutex<Store>,
    /// The id and map of the trace last begun or ended, for [`DebugHandler::print_trace_map`].
    last_trace: Mutex<(Option<String>, TraceMap)>,
    print_trace_on_end: AtomicBool,
    writer: Mutex<Box<dyn Write + Send>>,
    clock: Clock,
    starts_to_ignore: Vec<CBEventType>,
    ends_to_ignore: Vec<CBEventType>,
}

impl Default for DebugHandler {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for DebugHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.lock();
        f.debug_struct("DebugHandler")
            .field("events", &store.len())
            .field("capacity", &store.capacity())
            .field("evicted", &store.evicted())
            .field("print_trace_on_end", &self.print_trace_on_end())
            .finish_non_exhaustive()
    }
}

impl DebugHandler {
    /// How many events a handler keeps unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A handler keeping [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) events, printing each trace
    /// to stdout as it ends.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A handler keeping at most `capacity` events (at least one), evicting the oldest.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            store: Mutex::new(Store::new(capacity.max(1))),
            last_trace: Mutex::new((None, TraceMap::new())),
            print_trace_on_end: AtomicBool::new(true),
            writer: Mutex::new(Box::new(io::stdout())),
            clock: Arc::new(Utc::now),
            starts_to_ignore: Vec::new(),
            ends_to_ignore: Vec::new(),
        }
    }

    /// The handler, printing traces as they end or not.
    #[must_use]
    pub fn with_print_trace_on_end(self, print: bool) -> Self {
        self.set_print_trace_on_end(print);
        self
    }

    /// Switches printing traces as they end on or off.
    pub fn set_print_trace_on_end(&self, print: bool) {
        self.print_trace_on_end.store(print, Ordering::Relaxed);
    }

    /// Whether traces are printed as they end.
    #[must_use]
    pub fn print_trace_on_end(&self) -> bool {
        self.print_trace_on_end.load(Ordering::Relaxed)
    }

    /// The handler, printing to `writer` instead of stdout.
    #[must_use]
    pub fn with_writer(self, writer: impl Write + Send + 'static) -> Self {
        Self {
            writer: Mutex::new(Box::new(writer)),
            ..self
        }
    }

    /// The handler, timing events with `clock` instead of the wall clock (for tests and replays).
    #[must_use]
    pub fn with_clock(self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self {
            clock: Arc::new(clock),
            ..self
        }
    }

    /// The handler, not told of the starts of events of these types.
    #[must_use]
    pub fn with_event_starts_to_ignore(self, types: impl IntoIterator<Item = CBEventType>) -> Self {
        Self {
            starts_to_ignore: types.into_iter().collect(),
            ..self
        }
    }

    /// The handler, not told of the ends of events of these types.
    #[must_use]
    pub fn with_event_ends_to_ignore(self, types: impl IntoIterator<Item = CBEventType>) -> Self {
        Self {
            ends_to_ignore: types.into_iter().collect(),
            ..self
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        id: &str,
        stage: EventStage,
    ) {
        let event = CBEvent {
            event_type,
            payload: payload.cloned(),
            time: (self.clock)(),
            id: id.to_owned(),
            stage,
        };
        self.lock().record(event);
    }

    /// The events of `event_type` in the order they came, or, with `None`, every event
    /// ([`sequential_events`](Self::sequential_events)), as LlamaIndex's `get_events`.
    #[must_use]
    pub fn get_events(&self, event_type: Option<CBEventType>) -> Vec<CBEvent> {
        self.lock().events(event_type)
    }

    /// Every start and end kept, in the order they came.
    #[must_use]
    pub fn sequential_events(&self) -> Vec<CBEvent> {
        self.get_events(None)
    }

    /// The events kept, by type, each type's in the order they came.
    #[must_use]
    pub fn event_pairs_by_type(&self) -> HashMap<CBEventType, Vec<CBEvent>> {
        let mut by_type: HashMap<CBEventType, Vec<CBEvent>> = HashMap::new();
        for event in self.sequential_events() {
            by_type.entry(event.event_type).or_default().push(event);
        }
        by_type
    }

    /// The events kept, by id, each id's in the order they came.
    #[must_use]
    pub fn event_pairs_by_id(&self) -> HashMap<String, Vec<CBEvent>> {
        self.lock().by_id()
    }

    /// The events of each id, of `event_type` or of every type, in the order the ids were first
    /// seen: usually a start and its end, or one of them alone (see [`EventPair`]).
    #[must_use]
    pub fn get_event_pairs(&self, event_type: Option<CBEventType>) -> Vec<EventPair> {
        self.lock().pairs(event_type)
    }

    /// The pairs of LLM events: the prompts or messages each call was given, and what it
    /// answered.
    #[must_use]
    pub fn get_llm_inputs_outputs(&self) -> Vec<EventPair> {
        self.get_event_pairs(Some(CBEventType::Llm))
    }

    /// How many events of `event_type` ended, and how long they took in all and on average.
    #[must_use]
    pub fn get_event_time_info(&self, event_type: CBEventType) -> EventStats {
        EventStats::of(&self.get_event_pairs(Some(event_type)))
    }

    /// Forgets every event kept. The eviction count stays.
    pub fn flush_event_logs(&self) {
        self.lock().clear();
    }

    /// The printout of a trace whose shape is `trace_map`, with the durations of the events this
    /// handler kept; see the [type's documentation](Self) for the format. Every line, the last
    /// included, ends with `\n`; a missing `trace_id` prints as `None`, as in Python.
    #[must_use]
    pub fn format_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) -> String {
        trace::format(&self.lock(), trace_id, trace_map)
    }

    /// Writes [`format_trace`](Self::format_trace) to the handler's writer, ignoring write errors.
    pub fn print_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        self.write(&self.format_trace(trace_id, trace_map));
    }

    /// The printout of the trace last ended (or begun, while it runs, with the map it had then:
    /// empty), as LlamaIndex's `print_trace_map` prints it.
    #[must_use]
    pub fn format_trace_map(&self) -> String {
        let (trace_id, trace_map) = self
            .last_trace
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.format_trace(trace_id.as_deref(), &trace_map)
    }

    /// Writes [`format_trace_map`](Self::format_trace_map) to the handler's writer, ignoring
    /// write errors (LlamaIndex's `print_trace_map`).
    pub fn print_trace_map(&self) {
        self.write(&self.format_trace_map());
    }

    fn write(&self, text: &str) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writer.write_all(text.as_bytes());
        let _ = writer.flush();
    }

    fn set_last_trace(&self, trace_id: Option<&str>, trace_map: TraceMap) {
        *self
            .last_trace
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (trace_id.map(str::to_owned), trace_map);
    }

    /// How many events are kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many events this handler keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// How many events were evicted to stay within the capacity, since the handler was made.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.lock().evicted()
    }
}

impl CallbackHandler for DebugHandler {
    fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
        _parent_id: &str,
    ) -> Result<String, CallbackError> {
        self.record(event_type, payload, event_id, EventStage::Start);
        Ok(event_id.to_owned())
    }

    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError> {
        self.record(event_type, payload, event_id, EventStage::End);
        Ok(())
    }

    fn start_trace(&self, trace_id: Option<&str>) {
        self.set_last_trace(trace_id, TraceMap::new());
    }

    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        self.set_last_trace(trace_id, trace_map.clone());
        if self.print_trace_on_end() {
            self.print_trace(trace_id, trace_map);
        }
    }

    fn event_starts_to_ignore(&self) -> &[CBEventType] {
        &self.starts_to_ignore
    }

    fn event_ends_to_ignore(&self) -> &[CBEventType] {
        &self.ends_to_ignore
    }
}

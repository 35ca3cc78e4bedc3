//! Span handlers as LlamaIndex has them: completed and dropped spans apart, propagation hooks that
//! carry a handler's own state across a boundary, per-dispatcher shutdown, and Python's dotted
//! dispatcher names.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use instrument::handlers::SimpleSpanHandler;
use instrument::{SHUTDOWN, SpanEnd, SpanHandler, SpanStart, get_dispatcher};
use serde_json::{Map, Value, json};

#[test]
fn dotted_names_make_the_same_tree_as_colons() {
    let child = get_dispatcher("dotted_project.llama1");
    assert!(std::ptr::eq(
        child,
        get_dispatcher("dotted_project::llama1")
    ));
    assert_eq!(child.name(), "dotted_project::llama1");
    let parent = get_dispatcher("dotted_project");
    assert!(std::ptr::eq(child.parent().unwrap(), parent));
    // A span on the dotted child reaches the parent's handlers.
    let spans = parent.add_span_handler(SimpleSpanHandler::default());
    get_dispatcher("dotted_project.llama1").in_span("query", || ());
    assert_eq!(spans.completed().len(), 1);
}

#[test]
fn completed_and_dropped_spans_are_kept_apart() {
    let d = get_dispatcher("split_spans");
    let spans = d.add_span_handler(SimpleSpanHandler::default());
    d.in_span("ok", || ());
    d.enter_span("failed", &[]).drop_with(&"boom");
    let names = |list: Vec<instrument::handlers::SimpleSpan>| -> Vec<&'static str> {
        list.iter().map(|s| s.name).collect()
    };
    assert_eq!(names(spans.completed_spans()), ["ok"]);
    assert_eq!(names(spans.dropped_spans()), ["failed"]);
    assert_eq!(spans.dropped_spans()[0].error(), Some("boom"));
    assert_eq!(names(spans.completed()), ["ok", "failed"]);
}

/// Carries the id of a trace of another system across a queue, as an OpenTelemetry span handler
/// would carry its own context.
#[derive(Default)]
struct Upstream {
    current: Mutex<Option<String>>,
    seen_at_start: Mutex<Vec<Option<String>>>,
}

impl SpanHandler for Upstream {
    type Span = ();

    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        let current = self.current.lock().unwrap().clone();
        self.seen_at_start.lock().unwrap().push(current);
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}

    fn capture_propagation_context(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "upstream.trace_id".into(),
            json!(self.current.lock().unwrap().clone()),
        );
        map
    }

    fn restore_propagation_context(&self, context: &Map<String, Value>) {
        let trace = context.get("upstream.trace_id").and_then(Value::as_str);
        *self.current.lock().unwrap() = trace.map(str::to_owned);
    }
}

/// A handler whose propagation hooks are broken.
struct Broken;

impl SpanHandler for Broken {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn capture_propagation_context(&self) -> Map<String, Value> {
        panic!("capture failed")
    }
    fn restore_propagation_context(&self, _: &Map<String, Value>) {
        panic!("restore failed")
    }
}

#[test]
fn span_handlers_carry_their_own_context_across_a_boundary() {
    let sender = get_dispatcher("propagate_hooks::sender");
    let upstream = get_dispatcher("propagate_hooks").add_span_handler(Upstream::default());
    sender.add_span_handler(Broken);
    let spans = get_dispatcher("propagate_hooks").add_span_handler(SimpleSpanHandler::default());
    *upstream.current.lock().unwrap() = Some("4bf92f3577b34da6".into());

    let panics = instrument::handler_panics();
    let wire = sender.in_span("enqueue", || {
        instrument::instrument_tags(instrument::Tags::from([("request", "42")]), || {
            serde_json::to_string(&sender.capture_propagation_context().to_json()).unwrap()
        })
    });
    assert!(
        instrument::handler_panics() > panics,
        "the broken hook was isolated"
    );
    let carried: Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(carried["handlers"]["upstream.trace_id"], "4bf92f3577b34da6");
    assert_eq!(carried["tags"]["request"], "42");

    // The other side of the queue: another thread that knows nothing of the upstream trace.
    *upstream.current.lock().unwrap() = None;
    std::thread::spawn(move || {
        let _context = sender.restore_propagation_context(&carried).unwrap();
        sender.in_span("dequeue", || ());
    })
    .join()
    .unwrap();

    assert_eq!(
        upstream.current.lock().unwrap().as_deref(),
        Some("4bf92f3577b34da6")
    );
    let starts = upstream.seen_at_start.lock().unwrap().clone();
    assert_eq!(starts.last().unwrap().as_deref(), Some("4bf92f3577b34da6"));
    let enqueue = spans.completed().into_iter().find(|s| s.name == "enqueue");
    let dequeue = spans.completed().into_iter().find(|s| s.name == "dequeue");
    assert_eq!(dequeue.unwrap().parent_id, Some(enqueue.unwrap().id));
    // A malformed `handlers` is an error, and no handler is called.
    let bad = json!({"handlers": [1, 2]});
    assert!(sender.restore_propagation_context(&bad).is_err());
}

/// Records how each span ended for it, and closes.
#[derive(Default)]
struct Ends {
    ends: Mutex<Vec<(&'static str, String)>>,
    closed: AtomicUsize,
}

impl SpanHandler for Ends {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), end: &SpanEnd<'_>) {
        self.ends.lock().unwrap().push((end.name(), "exit".into()));
    }
    fn prepare_to_drop_span(&self, _: (), end: &SpanEnd<'_>) {
        let error = end.error().unwrap_or_default();
        self.ends.lock().unwrap().push((end.name(), error));
    }
    fn close(&self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_dispatcher_shuts_its_own_chain_down() {
    let service = get_dispatcher("shut_one");
    let worker = get_dispatcher("shut_one::worker");
    let other = get_dispatcher("shut_other");
    let service_ends = service.add_span_handler(Ends::default());
    let worker_ends = worker.add_span_handler(Ends::default());
    let other_ends = other.add_span_handler(Ends::default());

    // A span of the worker, followed by the worker's handler and, up the chain, the service's,
    // open on another thread while the service shuts down.
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let job = std::thread::spawn(move || {
        worker.in_span("job", || {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
    });
    entered_rx.recv().unwrap();
    let elsewhere = other.enter_span("elsewhere", &[]);

    service.shutdown();
    assert_eq!(
        *service_ends.ends.lock().unwrap(),
        [("job", SHUTDOWN.to_owned())]
    );
    assert_eq!(service_ends.closed.load(Ordering::SeqCst), 1);
    // The worker's own handler is below the service: not in its chain, not shut down.
    assert!(worker_ends.ends.lock().unwrap().is_empty());
    assert_eq!(worker_ends.closed.load(Ordering::SeqCst), 0);

    release_tx.send(()).unwrap();
    job.join().unwrap();
    elsewhere.exit(None);
    // The job went on for the worker's handler, and ended normally; nothing reached the service's
    // handler twice; another dispatcher's span was not touched.
    assert_eq!(*worker_ends.ends.lock().unwrap(), [("job", "exit".into())]);
    assert_eq!(service_ends.ends.lock().unwrap().len(), 1);
    assert_eq!(
        *other_ends.ends.lock().unwrap(),
        [("elsewhere", "exit".into())]
    );

    // Shutting the worker down closes its chain, the service's handler only once in all.
    worker.shutdown();
    assert_eq!(worker_ends.closed.load(Ordering::SeqCst), 1);
    assert_eq!(service_ends.closed.load(Ordering::SeqCst), 1);
}

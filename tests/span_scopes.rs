//! Span handlers that follow scopes (`SpanHandler::FOLLOWS_SCOPE`): told each time one of their
//! spans becomes and stops being current on a thread, nested, on every way out.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;

use instrument::{SpanEnd, SpanHandler, SpanId, SpanStart, get_dispatcher, span};

#[path = "support/yield_once.rs"]
mod yield_once;
use yield_once::YieldOnce;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Start(&'static str),
    Enter(&'static str),
    Leave(&'static str),
    End(&'static str),
}

/// Records starts, scopes and ends with the thread each happened on.
#[derive(Default)]
struct Scopes(Mutex<Vec<(Step, ThreadId)>>);

impl Scopes {
    fn record(&self, step: Step) {
        let thread = std::thread::current().id();
        self.0.lock().unwrap().push((step, thread));
    }

    fn steps(&self) -> Vec<Step> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn threads(&self) -> Vec<ThreadId> {
        self.0.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }
}

impl SpanHandler for Scopes {
    type Span = ();
    const FOLLOWS_SCOPE: bool = true;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<()> {
        self.record(Step::Start(start.name()));
        Some(())
    }

    fn prepare_to_exit_span(&self, _: (), end: &SpanEnd<'_>) {
        self.record(Step::End(end.name()));
    }

    fn prepare_to_drop_span(&self, _: (), end: &SpanEnd<'_>) {
        self.record(Step::End(end.name()));
    }

    fn enter_scope(&self, id: SpanId) {
        // The span is current while its scope handlers run.
        assert_eq!(instrument::current_span().id(), Some(id));
        self.record(Step::Enter(id.name()));
    }

    fn leave_scope(&self, id: SpanId) {
        assert_eq!(instrument::current_span().id(), Some(id));
        self.record(Step::Leave(id.name()));
    }
}

/// Follows spans from start to end only.
#[derive(Default)]
struct Plain(Mutex<usize>);

impl SpanHandler for Plain {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {
        *self.0.lock().unwrap() += 1;
    }
    fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn enter_scope(&self, _: SpanId) {
        panic!("called although FOLLOWS_SCOPE is false");
    }
}

#[span(dispatcher = "scopes_sync")]
fn outer(query: &str) -> usize {
    inner(query, 2) + 1
}

#[span(dispatcher = "scopes_sync")]
fn inner(query: &str, top_k: usize) -> usize {
    query.len() * top_k
}

#[test]
fn synchronous_scopes_nest_inside_start_and_end() {
    let d = get_dispatcher("scopes_sync");
    let scopes = d.add_span_handler(Scopes::default());
    let plain = d.add_span_handler(Plain::default());
    assert_eq!(outer("abc"), 7);
    use Step::*;
    assert_eq!(
        scopes.steps(),
        [
            Start("outer"),
            Enter("outer"),
            Start("inner"),
            Enter("inner"),
            Leave("inner"),
            End("inner"),
            Leave("outer"),
            End("outer"),
        ]
    );
    assert_eq!(*plain.0.lock().unwrap(), 2, "a plain handler is not asked");
}

#[span(dispatcher = "scopes_fail")]
fn failing(text: &str) -> Result<usize, String> {
    Err(format!("bad {text}"))
}

#[span(dispatcher = "scopes_fail")]
fn panicking(text: &str) -> usize {
    panic!("cannot parse {text}")
}

#[test]
fn scopes_are_left_on_err_and_on_panic_before_the_span_ends() {
    let d = get_dispatcher("scopes_fail");
    let scopes = d.add_span_handler(Scopes::default());
    assert!(failing("x").is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| panicking("y"))).is_err());
    use Step::*;
    assert_eq!(
        scopes.steps(),
        [
            Start("failing"),
            Enter("failing"),
            Leave("failing"),
            End("failing"),
            Start("panicking"),
            Enter("panicking"),
            Leave("panicking"),
            End("panicking"),
        ]
    );
    assert_eq!(instrument::current_span().id(), None);
}

#[span(dispatcher = "scopes_async")]
async fn fetch(url: &str, attempt: usize) -> usize {
    YieldOnce(false).await;
    url.len() + attempt
}

#[test]
fn an_async_span_is_entered_once_per_poll_on_the_polling_thread() {
    let d = get_dispatcher("scopes_async");
    let scopes = d.add_span_handler(Scopes::default());
    let mut future = Box::pin(fetch("/a", 1));
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    let other = std::thread::spawn(move || {
        let ready = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(ready, Poll::Ready(3));
        std::thread::current().id()
    })
    .join()
    .unwrap();
    use Step::*;
    assert_eq!(
        scopes.steps(),
        [
            Start("fetch"),
            Enter("fetch"),
            Leave("fetch"),
            Enter("fetch"),
            Leave("fetch"),
            End("fetch"),
        ]
    );
    let here = std::thread::current().id();
    assert_eq!(scopes.threads()[1..3], [here, here]);
    assert_eq!(scopes.threads()[3..5], [other, other]);
}

#[test]
fn guards_in_scope_are_scopes_too() {
    let d = get_dispatcher("scopes_guard");
    let scopes = d.add_span_handler(Scopes::default());
    let mut guard = d.enter_span("manual", &[]);
    guard.in_scope(|| ());
    guard.in_scope(|| ());
    guard.exit(None);
    use Step::*;
    assert_eq!(
        scopes.steps(),
        [
            Start("manual"),
            Enter("manual"),
            Leave("manual"),
            Enter("manual"),
            Leave("manual"),
            End("manual"),
        ]
    );
}

/// Panics when entering, to show the span and the other handlers go on.
struct BadEnter;

impl SpanHandler for BadEnter {
    type Span = ();
    const FOLLOWS_SCOPE: bool = true;
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    fn enter_scope(&self, _: SpanId) {
        panic!("enter_scope failed");
    }
}

#[test]
fn a_panicking_scope_handler_is_isolated() {
    let d = get_dispatcher("scopes_bad");
    d.add_span_handler(BadEnter);
    let scopes = d.add_span_handler(Scopes::default());
    let before = instrument::handler_panics();
    assert_eq!(d.in_span("work", || 5), 5);
    assert!(instrument::handler_panics() > before);
    use Step::*;
    assert_eq!(
        scopes.steps(),
        [Start("work"), Enter("work"), Leave("work"), End("work")]
    );
}

#[test]
fn contexts_carried_into_threads_and_tasks_enter_the_span_there() {
    let d = get_dispatcher("scopes_context");
    let scopes = d.add_span_handler(Scopes::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (thread, task) = d.in_span("request", || {
        let thread = instrument::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap();
        let task = runtime.block_on(async {
            instrument::spawn(async { std::thread::current().id() })
                .await
                .unwrap()
        });
        (thread, task)
    });
    use Step::*;
    let steps = scopes.steps();
    assert_eq!(
        steps,
        [
            Start("request"),
            Enter("request"),
            Enter("request"),
            Leave("request"),
            Enter("request"),
            Leave("request"),
            Leave("request"),
            End("request"),
        ]
    );
    let threads = scopes.threads();
    assert_eq!(threads[2..4], [thread, thread]);
    assert_eq!(threads[4..6], [task, task]);
    // Captured outside any span, or by hand, a context enters nothing.
    let outside = instrument::Context::current();
    outside.scope(|| ());
    assert_eq!(scopes.steps().len(), steps.len());
}

#[span(dispatcher = "scopes_parent_at_call")]
async fn made_inside(url: &str) -> usize {
    url.len()
}

#[test]
fn an_async_fn_takes_its_parent_when_called_not_when_first_polled() {
    let d = get_dispatcher("scopes_parent_at_call");
    let spans = d.add_span_handler(instrument::handlers::SimpleSpanHandler::default());
    // Made inside `request`, polled after `request` ended, on another thread.
    let future = d.in_span("request", || made_inside("/a"));
    let polled = std::thread::spawn(move || {
        let mut future = Box::pin(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(len) => len,
            Poll::Pending => unreachable!("nothing to wait for"),
        }
    })
    .join()
    .unwrap();
    assert_eq!(polled, 2);
    let all = spans.completed();
    let request = all.iter().find(|s| s.name == "request").unwrap();
    let made = all.iter().find(|s| s.name == "made_inside").unwrap();
    assert_eq!(made.parent_id, Some(request.id));
}

//! The dispatcher tree: names, parents, propagation, and handler changes at any time.

mod common;

use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::recorder_on;
use instrument::{get_dispatcher, root};

#[test]
fn same_name_gives_the_same_dispatcher() {
    let a = get_dispatcher("tree::same");
    assert!(ptr::eq(a, get_dispatcher("tree::same")));
    assert_eq!(a.name(), "tree::same");
    assert!(ptr::eq(get_dispatcher(""), root()));
    assert!(ptr::eq(get_dispatcher("root"), root()));
    assert!(root().is_root());
    assert!(root().parent().is_none());
    assert!(!root().propagate(), "the root does not propagate");
}

#[test]
fn parent_is_the_nearest_registered_ancestor_and_children_are_reparented() {
    let leaf = get_dispatcher("reparent::a::b::c");
    assert!(ptr::eq(leaf.parent().unwrap(), root()));

    let top = get_dispatcher("reparent");
    assert!(
        ptr::eq(leaf.parent().unwrap(), top),
        "re-parented under `reparent`"
    );

    let middle = get_dispatcher("reparent::a::b");
    assert!(
        ptr::eq(leaf.parent().unwrap(), middle),
        "then under the nearer `reparent::a::b`"
    );
    assert!(ptr::eq(middle.parent().unwrap(), top));

    // A sibling whose name merely shares a prefix is not a child.
    let sibling = get_dispatcher("reparent::a::bee");
    assert!(ptr::eq(sibling.parent().unwrap(), top));
}

#[test]
fn spans_and_events_reach_ancestors_until_propagate_is_off() {
    let top = get_dispatcher("propagation_tree");
    let mid = get_dispatcher("propagation_tree::mid");
    let leaf = get_dispatcher("propagation_tree::mid::leaf");
    let at_top = recorder_on(top);
    let at_mid = recorder_on(mid);

    leaf.in_span("first", || ());
    assert_eq!(at_mid.by_name("first").len(), 1);
    assert_eq!(at_top.by_name("first").len(), 1);
    assert_eq!(leaf.span_handler_count(), 2);

    mid.set_propagate(false);
    leaf.in_span("second", || ());
    assert_eq!(at_mid.by_name("second").len(), 1, "mid still handles");
    assert_eq!(at_top.by_name("second").len(), 0, "but stops the walk");

    mid.set_propagate(true);
    leaf.in_span("third", || ());
    assert_eq!(at_top.by_name("third").len(), 1);
}

#[test]
fn handler_changes_are_seen_by_later_calls() {
    let d = get_dispatcher("handler_changes");
    assert!(!d.is_enabled());
    d.in_span("before", || ());

    let recorder = recorder_on(d);
    assert!(d.is_enabled());
    d.in_span("during", || ());
    assert_eq!(recorder.ended().len(), 1);
    assert_eq!(recorder.ended()[0].name, "during");
}

#[test]
fn removing_a_handler_stops_it() {
    let d = get_dispatcher("handler_removal");
    let counter = d.add_span_handler(Counter::default());
    d.in_span("one", || ());
    assert!(d.remove_span_handler(counter));
    assert!(!d.remove_span_handler(counter), "already removed");
    d.in_span("two", || ());
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert!(!d.is_enabled());
}

#[derive(Default)]
struct Counter(std::sync::atomic::AtomicUsize);

impl instrument::SpanHandler for Counter {
    type Span = ();
    fn new_span(&self, _: &instrument::SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, (): (), _: &instrument::SpanEnd<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn prepare_to_drop_span(&self, (): (), _: &instrument::SpanEnd<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn handlers_change_from_many_threads_while_spans_run() {
    let d = get_dispatcher("concurrent_changes");
    let stable = d.add_span_handler(Counter::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let stop = Arc::clone(&stop);
        workers.push(std::thread::spawn(move || {
            let mut made = 0usize;
            while !stop.load(Ordering::Relaxed) {
                d.in_span("work", || ());
                made += 1;
            }
            made
        }));
    }
    let changers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let extra = d.add_span_handler(Counter::default());
                    d.in_span("changer", || ());
                    assert!(d.remove_span_handler(extra));
                    assert!(extra.0.load(Ordering::SeqCst) >= 1);
                }
            })
        })
        .collect();
    for c in changers {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let made: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    // The handler that stayed registered saw every span: the workers' and the changers'.
    assert_eq!(stable.0.load(Ordering::SeqCst), made + 400);
    assert_eq!(d.span_handler_count(), 1);
}

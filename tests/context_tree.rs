//! Parent/child links survive threads, `.await`, work-stealing runtimes, spawned tasks and `join!`.

mod common;

use std::collections::HashMap;

use common::{Seen, recorder_on};
use instrument::{FutureExt, get_dispatcher, span};

const D: &str = "context_tree";

#[span(dispatcher = "context_tree")]
fn leaf(label: &str) -> String {
    label.to_owned()
}

#[span(dispatcher = "context_tree")]
fn thread_branch(t: usize) -> usize {
    for i in 0..4 {
        leaf(&format!("t{t}-{i}"));
    }
    t
}

#[span(dispatcher = "context_tree")]
async fn async_leaf(label: String) -> String {
    tokio::task::yield_now().await;
    label
}

#[span(dispatcher = "context_tree")]
async fn task_branch(k: usize) -> usize {
    let (a, b) = tokio::join!(async_leaf(format!("{k}-a")), async_leaf(format!("{k}-b")));
    assert_eq!((a, b), (format!("{k}-a"), format!("{k}-b")));
    tokio::task::yield_now().await;
    leaf(&format!("{k}-sync"));
    async_leaf(format!("{k}-c")).await;
    k
}

#[span(dispatcher = "context_tree")]
async fn async_root() -> usize {
    let mut handles = Vec::new();
    for k in 0..6 {
        handles.push(instrument::spawn(task_branch(k)));
    }
    for k in 6..8 {
        handles.push(tokio::spawn(task_branch(k).in_current_span()));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    sum
}

#[span(dispatcher = "context_tree")]
fn root_op() -> usize {
    let threads: Vec<_> = (0..4)
        .map(|t| instrument::thread::spawn(move || thread_branch(t)))
        .collect();
    let from_threads: usize = threads.into_iter().map(|h| h.join().unwrap()).sum();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    from_threads + runtime.block_on(async_root())
}

fn arg(span: &Seen, name: &str) -> String {
    let value = &span.args.iter().find(|(n, _)| n == name).unwrap().1;
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[test]
fn a_tree_across_threads_and_tasks_has_every_parent_right() {
    let recorder = recorder_on(get_dispatcher(D));
    assert_eq!(root_op(), (0..4).sum::<usize>() + (0..8).sum::<usize>());

    let spans = recorder.ended();
    assert_eq!(spans.len(), 62, "1 + 4 threads × 5 + 1 + 8 tasks × 5");
    let by_id: HashMap<_, _> = spans.iter().map(|s| (s.id, s)).collect();
    let key = |s: &Seen| -> String {
        match s.name.as_str() {
            "root_op" | "async_root" => s.name.clone(),
            "thread_branch" => format!("thread {}", arg(s, "t")),
            "task_branch" => format!("task {}", arg(s, "k")),
            "leaf" | "async_leaf" => format!("leaf {}", arg(s, "label")),
            other => panic!("unexpected span {other}"),
        }
    };
    for span in &spans {
        let parent = span.parent.map(|p| {
            key(by_id
                .get(&p)
                .unwrap_or_else(|| panic!("parent of {} missing", key(span))))
        });
        let this = key(span);
        let expected = match this.split_once(' ') {
            None if this == "root_op" => None,
            None => Some("root_op".to_owned()),
            Some(("thread", _)) => Some("root_op".to_owned()),
            Some(("task", _)) => Some("async_root".to_owned()),
            Some(("leaf", label)) => Some(match label.strip_prefix('t') {
                Some(rest) => format!("thread {}", rest.split('-').next().unwrap()),
                None => format!("task {}", label.split('-').next().unwrap()),
            }),
            Some(_) => unreachable!(),
        };
        assert_eq!(parent, expected, "parent of {this}");
        assert!(span.exited, "{this} exited");
    }
}

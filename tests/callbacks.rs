//! The legacy callback API: handlers, events, ignore lists, errors, traces, and per-trace state that
//! keeps concurrent traces (threads, tokio tasks) apart.

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use instrument::callbacks::{
    CBEventType, CallbackError, CallbackHandler, CallbackManager, EventPayload, Payload,
    ROOT_EVENT_ID, TraceMap,
};
use serde_json::json;

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Start {
        ty: CBEventType,
        payload: Option<Payload>,
        id: String,
        parent: String,
    },
    End {
        ty: CBEventType,
        payload: Option<Payload>,
        id: String,
    },
    StartTrace(Option<String>),
    EndTrace(Option<String>, TraceMap),
}

/// Records every call; optionally ignores types or fails on one.
#[derive(Default)]
struct Recorder {
    name: &'static str,
    seen: Mutex<Vec<Seen>>,
    ignore_starts: Vec<CBEventType>,
    ignore_ends: Vec<CBEventType>,
    fail_start: Option<CBEventType>,
    fail_end: Option<CBEventType>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            name: "recorder",
            ..Self::default()
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn push(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
    }

    /// `(type, id, parent)` of every start.
    fn starts(&self) -> Vec<(CBEventType, String, String)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Start { ty, id, parent, .. } => Some((ty, id, parent)),
                _ => None,
            })
            .collect()
    }

    fn ends(&self) -> Vec<(CBEventType, String)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::End { ty, id, .. } => Some((ty, id)),
                _ => None,
            })
            .collect()
    }

    fn trace_maps(&self) -> Vec<(Option<String>, TraceMap)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::EndTrace(id, map) => Some((id, map)),
                _ => None,
            })
            .collect()
    }

    fn trace_calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| matches!(s, Seen::StartTrace(_) | Seen::EndTrace(..)))
            .collect()
    }
}

impl CallbackHandler for Recorder {
    fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
        parent_id: &str,
    ) -> Result<String, CallbackError> {
        if self.fail_start == Some(event_type) {
            return Err(CallbackError::handler(self.name, "start refused"));
        }
        self.push(Seen::Start {
            ty: event_type,
            payload: payload.cloned(),
            id: event_id.to_owned(),
            parent: parent_id.to_owned(),
        });
        Ok(event_id.to_owned())
    }

    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError> {
        if self.fail_end == Some(event_type) {
            return Err(CallbackError::handler(
                self.name,
                "Token budget exceeded! Limit: 1, Current: 2",
            ));
        }
        self.push(Seen::End {
            ty: event_type,
            payload: payload.cloned(),
            id: event_id.to_owned(),
        });
        Ok(())
    }

    fn start_trace(&self, trace_id: Option<&str>) {
        self.push(Seen::StartTrace(trace_id.map(str::to_owned)));
    }

    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        self.push(Seen::EndTrace(
            trace_id.map(str::to_owned),
            trace_map.clone(),
        ));
    }

    fn event_starts_to_ignore(&self) -> &[CBEventType] {
        &self.ignore_starts
    }

    fn event_ends_to_ignore(&self) -> &[CBEventType] {
        &self.ignore_ends
    }
}

fn manager_with(recorder: &Arc<Recorder>) -> CallbackManager {
    CallbackManager::new(vec![recorder.clone()])
}

#[test]
fn starts_and_ends_reach_handlers_in_order_with_their_payloads() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);

    let query = manager
        .event(
            CBEventType::Query,
            Some(Payload::new().with(EventPayload::QueryStr, "what is rust?")),
        )
        .unwrap();
    let id = query.id().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    assert_eq!(query.event_type(), CBEventType::Query);
    query
        .on_end(Some(
            Payload::new().with(EventPayload::Response, "a language"),
        ))
        .unwrap();

    assert_eq!(
        recorder.seen(),
        [
            Seen::Start {
                ty: CBEventType::Query,
                payload: Some(Payload::from([(EventPayload::QueryStr, "what is rust?")])),
                id: id.clone(),
                parent: ROOT_EVENT_ID.to_owned(),
            },
            Seen::End {
                ty: CBEventType::Query,
                payload: Some(Payload::from([(EventPayload::Response, "a language")])),
                id,
            },
        ]
    );
}

#[test]
fn leaf_types_are_never_parents() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    manager.with_trace("leaves", || {
        let query = manager.event(CBEventType::Query, None).unwrap();
        for leaf in [
            CBEventType::Llm,
            CBEventType::Embedding,
            CBEventType::Chunking,
        ] {
            assert!(leaf.is_leaf());
            let open_leaf = manager.event(leaf, None).unwrap();
            let inner = manager.event(CBEventType::Templating, None).unwrap();
            assert_eq!(inner.parent_id(), query.id(), "{leaf} became a parent");
            drop(inner);
            drop(open_leaf);
        }
        let after = manager.event(CBEventType::Tree, None).unwrap();
        assert_eq!(after.parent_id(), query.id());
    });
    assert!(CBEventType::ALL.iter().filter(|t| t.is_leaf()).eq(&[
        CBEventType::Chunking,
        CBEventType::Embedding,
        CBEventType::Llm
    ]));
}

#[test]
fn nested_events_get_their_parents_and_a_trace_map_rooted_at_root() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let ids = manager.with_trace("rag", || pipeline(&manager, || {}));

    let maps = recorder.trace_maps();
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].0.as_deref(), Some("rag"));
    ids.assert_shape(&maps[0].1);

    let parents: Vec<_> = recorder
        .starts()
        .into_iter()
        .map(|(ty, _, parent)| (ty, parent))
        .collect();
    assert_eq!(
        parents,
        [
            (CBEventType::Query, ROOT_EVENT_ID.to_owned()),
            (CBEventType::Retrieve, ids.query.clone()),
            (CBEventType::Embedding, ids.retrieve.clone()),
            (CBEventType::Synthesize, ids.query.clone()),
            (CBEventType::Llm, ids.synthesize.clone()),
        ]
    );
    let ended: Vec<_> = recorder.ends().into_iter().map(|(ty, _)| ty).collect();
    assert_eq!(
        ended,
        [
            CBEventType::Embedding,
            CBEventType::Retrieve,
            CBEventType::Llm,
            CBEventType::Synthesize,
            CBEventType::Query,
        ]
    );
    let walk: Vec<_> = maps[0]
        .1
        .depth_first()
        .map(|(depth, id)| (depth, id.to_owned()))
        .collect();
    assert_eq!(
        walk,
        [
            (0, ids.query.clone()),
            (1, ids.retrieve.clone()),
            (2, ids.embedding.clone()),
            (1, ids.synthesize.clone()),
            (2, ids.llm.clone()),
        ]
    );
}

#[test]
fn handlers_skip_the_types_they_ignore() {
    let picky = Arc::new(Recorder {
        name: "picky",
        ignore_starts: vec![CBEventType::Llm],
        ignore_ends: vec![CBEventType::Query],
        ..Recorder::default()
    });
    let all = Recorder::new();
    let manager = CallbackManager::new(vec![picky.clone(), all.clone()]);
    manager.with_trace("ignore", || {
        let query = manager.event(CBEventType::Query, None).unwrap();
        manager
            .event(CBEventType::Llm, None)
            .unwrap()
            .on_end(None)
            .unwrap();
        query.on_end(None).unwrap();
    });

    let types = |r: &Recorder| {
        (
            r.starts().into_iter().map(|s| s.0).collect::<Vec<_>>(),
            r.ends().into_iter().map(|e| e.0).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        types(&picky),
        (vec![CBEventType::Query], vec![CBEventType::Llm])
    );
    assert_eq!(
        types(&all),
        (
            vec![CBEventType::Query, CBEventType::Llm],
            vec![CBEventType::Llm, CBEventType::Query]
        )
    );
    assert_eq!(
        picky.trace_maps()[0].1.event_count(),
        2,
        "the map holds all"
    );
}

#[test]
fn only_the_outermost_trace_calls_start_and_end_trace() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    {
        let outer = manager.as_trace("outer");
        assert!(outer.is_outermost());
        let query = manager.event(CBEventType::Query, None).unwrap();
        {
            let inner = manager.as_trace("inner");
            assert!(!inner.is_outermost());
            manager.with_trace("innermost", || {
                let sub = manager.event(CBEventType::SubQuestion, None).unwrap();
                assert_eq!(sub.parent_id(), query.id(), "nesting keeps the stack");
            });
        }
        assert_eq!(recorder.trace_calls().len(), 1, "no end for inner traces");
        drop(query);
    }
    let calls = recorder.trace_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], Seen::StartTrace(Some("outer".into())));
    let Seen::EndTrace(Some(id), map) = &calls[1] else {
        panic!("expected end_trace, got {:?}", calls[1]);
    };
    assert_eq!(id, "outer");
    assert_eq!(map.event_count(), 2);

    // A new trace after the first one starts afresh, with an empty map.
    manager.with_trace("second", || {
        assert!(CallbackManager::current_trace().trace_map().is_empty());
        assert_eq!(CallbackManager::current_trace().trace_id(), Some("second"));
    });
    assert_eq!(recorder.trace_calls().len(), 4);
    assert!(recorder.trace_maps()[1].1.is_empty());
}

#[test]
fn a_handler_error_on_start_reaches_the_caller_and_stops_later_handlers() {
    let failing = Arc::new(Recorder {
        name: "budget",
        fail_start: Some(CBEventType::Llm),
        ..Recorder::default()
    });
    let after = Recorder::new();
    let manager = CallbackManager::new(vec![failing.clone(), after.clone()]);
    manager.with_trace("errors", || {
        let query = manager.event(CBEventType::Query, None).unwrap();
        let err = manager.event(CBEventType::Llm, None).unwrap_err();
        assert!(matches!(&err, CallbackError::Handler { handler, .. } if handler == "budget"));
        assert_eq!(err.to_string(), "budget: start refused");
        assert_eq!(
            after.starts().len(),
            1,
            "the handler after the failing one is not called"
        );
        let next = manager.event(CBEventType::Synthesize, None).unwrap();
        assert_eq!(
            next.parent_id(),
            query.id(),
            "the failed event was not opened"
        );
    });
}

#[test]
fn a_handler_error_on_end_reaches_the_caller() {
    let failing = Arc::new(Recorder {
        name: "TokenCountingHandler",
        fail_end: Some(CBEventType::Llm),
        ..Recorder::default()
    });
    let manager = CallbackManager::new(vec![failing.clone()]);
    manager.with_trace("errors", || {
        let query = manager.event(CBEventType::Query, None).unwrap();
        let err = manager
            .event(CBEventType::Llm, None)
            .unwrap()
            .on_end(None)
            .unwrap_err();
        assert_eq!(err.message(), "Token budget exceeded! Limit: 1, Current: 2");
        assert_eq!(err.handler_name(), "TokenCountingHandler");
        query.on_end(None).unwrap();
        // The stack is consistent after the error: a new event is at the top again.
        let next = manager.event(CBEventType::Query, None).unwrap();
        assert_eq!(next.parent_id(), ROOT_EVENT_ID);
    });
}

#[test]
fn a_dropped_guard_still_ends_its_event() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    manager.with_trace("drop", || {
        let retrieve = manager.event(CBEventType::Retrieve, None).unwrap();
        let id = retrieve.id().to_owned();
        drop(retrieve);
        assert_eq!(
            recorder.seen().last(),
            Some(&Seen::End {
                ty: CBEventType::Retrieve,
                payload: None,
                id,
            })
        );
        let next = manager.event(CBEventType::Query, None).unwrap();
        assert_eq!(next.parent_id(), ROOT_EVENT_ID, "the dropped event closed");
    });

    // An error from ending a dropped guard has nowhere to go: it is counted.
    let failing = Arc::new(Recorder {
        name: "failing",
        fail_end: Some(CBEventType::Query),
        ..Recorder::default()
    });
    let manager = CallbackManager::new(vec![failing]);
    drop(manager.event(CBEventType::Query, None).unwrap());
    assert_eq!(manager.swallowed_errors(), 1);
}

#[test]
fn a_guard_dropped_by_a_panic_ends_with_an_exception_payload() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _query = manager.event(CBEventType::Query, None).unwrap();
        panic!("boom");
    }));
    assert!(result.is_err());
    let Some(Seen::End { payload, .. }) = recorder.seen().pop() else {
        panic!("the event did not end");
    };
    assert_eq!(
        payload.unwrap().get(EventPayload::Exception),
        Some(&json!("panic"))
    );
}

/// The ids of one pipeline run: query > (retrieve > embedding, synthesize > llm).
#[derive(Debug)]
struct PipelineIds {
    query: String,
    retrieve: String,
    embedding: String,
    synthesize: String,
    llm: String,
}

impl PipelineIds {
    fn assert_shape(&self, map: &TraceMap) {
        assert_eq!(map.roots(), [self.query.as_str()]);
        assert_eq!(
            map.children(&self.query),
            [self.retrieve.as_str(), self.synthesize.as_str()]
        );
        assert_eq!(map.children(&self.retrieve), [self.embedding.as_str()]);
        assert_eq!(map.children(&self.synthesize), [self.llm.as_str()]);
        assert!(map.children(&self.embedding).is_empty());
        assert!(map.children(&self.llm).is_empty());
        assert_eq!(map.event_count(), 5, "nothing from other traces: {map:?}");
    }

    fn all(&self) -> HashSet<&str> {
        [
            &self.query,
            &self.retrieve,
            &self.embedding,
            &self.synthesize,
            &self.llm,
        ]
        .into_iter()
        .map(String::as_str)
        .collect()
    }
}

/// One pipeline run, calling `step` between events (to interleave with another run).
fn pipeline(manager: &CallbackManager, step: impl Fn()) -> PipelineIds {
    let open = |ty| {
        step();
        manager.event(ty, None).unwrap()
    };
    let query = open(CBEventType::Query);
    let retrieve = open(CBEventType::Retrieve);
    let embedding = open(CBEventType::Embedding);
    let ids = (
        query.id().to_owned(),
        retrieve.id().to_owned(),
        embedding.id().to_owned(),
    );
    step();
    embedding.on_end(None).unwrap();
    step();
    retrieve.on_end(None).unwrap();
    let synthesize = open(CBEventType::Synthesize);
    let llm = open(CBEventType::Llm);
    let more = (synthesize.id().to_owned(), llm.id().to_owned());
    step();
    llm.on_end(None).unwrap();
    step();
    synthesize.on_end(None).unwrap();
    step();
    query.on_end(None).unwrap();
    PipelineIds {
        query: ids.0,
        retrieve: ids.1,
        embedding: ids.2,
        synthesize: more.0,
        llm: more.1,
    }
}

/// Yields, then waits for the other run, so that two runs interleave and move between workers.
async fn step(barrier: &tokio::sync::Barrier) {
    tokio::task::yield_now().await;
    barrier.wait().await;
}

async fn pipeline_async(manager: &CallbackManager, barrier: &tokio::sync::Barrier) -> PipelineIds {
    step(barrier).await;
    let query = manager.event(CBEventType::Query, None).unwrap();
    step(barrier).await;
    let retrieve = manager.event(CBEventType::Retrieve, None).unwrap();
    step(barrier).await;
    let embedding = manager.event(CBEventType::Embedding, None).unwrap();
    let ids = (
        query.id().to_owned(),
        retrieve.id().to_owned(),
        embedding.id().to_owned(),
    );
    step(barrier).await;
    embedding.on_end(None).unwrap();
    step(barrier).await;
    retrieve.on_end(None).unwrap();
    step(barrier).await;
    let synthesize = manager.event(CBEventType::Synthesize, None).unwrap();
    step(barrier).await;
    let llm = manager.event(CBEventType::Llm, None).unwrap();
    let more = (synthesize.id().to_owned(), llm.id().to_owned());
    step(barrier).await;
    llm.on_end(None).unwrap();
    step(barrier).await;
    synthesize.on_end(None).unwrap();
    step(barrier).await;
    query.on_end(None).unwrap();
    PipelineIds {
        query: ids.0,
        retrieve: ids.1,
        embedding: ids.2,
        synthesize: more.0,
        llm: more.1,
    }
}

/// Each trace's map holds exactly its own run, and the two runs share no id.
fn assert_separate(recorder: &Recorder, runs: &[(String, PipelineIds)]) {
    let maps = recorder.trace_maps();
    assert_eq!(maps.len(), runs.len());
    for (trace_id, ids) in runs {
        let (_, map) = maps
            .iter()
            .find(|(id, _)| id.as_deref() == Some(trace_id.as_str()))
            .unwrap_or_else(|| panic!("no end_trace for {trace_id}"));
        ids.assert_shape(map);
    }
    assert!(runs[0].1.all().is_disjoint(&runs[1].1.all()));
    assert_eq!(
        recorder
            .trace_calls()
            .iter()
            .filter(|c| matches!(c, Seen::StartTrace(_)))
            .count(),
        runs.len()
    );
}

#[test]
fn two_traces_at_once_on_two_threads_get_two_trace_maps() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let barrier = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|t| {
            let manager = manager.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let trace_id = format!("thread-{t}");
                let ids = manager.with_trace(trace_id.clone(), || {
                    pipeline(&manager, || {
                        barrier.wait();
                    })
                });
                (trace_id, ids)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_separate(&recorder, &runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_traces_at_once_on_two_tokio_tasks_get_two_trace_maps() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|t| {
            let manager = manager.clone();
            let barrier = Arc::clone(&barrier);
            let trace_id = format!("task-{t}");
            let traced = manager
                .clone()
                .with_trace_async(trace_id.clone(), async move {
                    pipeline_async(&manager, &barrier).await
                });
            tokio::spawn(async move { (trace_id, traced.await) })
        })
        .collect();
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.unwrap());
    }
    assert_separate(&recorder, &runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_trace_made_inside_a_trace_joins_it_below_the_open_event() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let (query_id, child_ids) = manager
        .with_trace_async("outer", async {
            let query = manager.event(CBEventType::Query, None).unwrap();
            let query_id = query.id().to_owned();
            let children: Vec<_> = (0..2)
                .map(|_| {
                    let manager = manager.clone();
                    tokio::spawn(manager.clone().with_trace_async("nested", async move {
                        tokio::task::yield_now().await;
                        let sub = manager.event(CBEventType::SubQuestion, None).unwrap();
                        tokio::task::yield_now().await;
                        let llm = manager.event(CBEventType::Llm, None).unwrap();
                        assert_eq!(llm.parent_id(), sub.id());
                        sub.id().to_owned()
                    }))
                })
                .collect();
            let mut ids = Vec::new();
            for child in children {
                ids.push(child.await.unwrap());
            }
            drop(query);
            (query_id, ids)
        })
        .await;

    let calls = recorder.trace_calls();
    assert_eq!(calls.len(), 2, "nested traces call nothing: {calls:?}");
    let (_, map) = &recorder.trace_maps()[0];
    let mut children = map.children(&query_id).to_vec();
    children.sort();
    let mut expected = child_ids.clone();
    expected.sort();
    assert_eq!(children, expected);
    assert_eq!(map.event_count(), 5);
}

#[test]
fn a_trace_handle_carries_the_trace_and_parent_into_another_thread() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let (query_id, thread_event) = manager.with_trace("carried", || {
        let query = manager.event(CBEventType::Query, None).unwrap();
        let handle = CallbackManager::current_trace();
        assert_eq!(handle.parent_id(), query.id());
        assert!(handle.is_traced());
        let thread_event = std::thread::scope(|s| {
            s.spawn(|| {
                let _in_trace = handle.attach();
                let retrieve = manager.event(CBEventType::Retrieve, None).unwrap();
                assert_eq!(retrieve.parent_id(), query.id());
                let nested = manager.as_trace("nested");
                assert!(!nested.is_outermost(), "nested: calls nothing");
                retrieve.id().to_owned()
            })
            .join()
            .unwrap()
        });
        (query.id().to_owned(), thread_event)
    });
    let maps = recorder.trace_maps();
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0].1.children(&query_id), [thread_event]);
    assert_eq!(recorder.trace_calls().len(), 2);
}

#[test]
fn events_outside_any_trace_use_a_per_thread_state() {
    let recorder = Recorder::new();
    let manager = manager_with(&recorder);
    let outer = manager.event(CBEventType::Query, None).unwrap();
    let handle = CallbackManager::current_trace();
    assert!(!handle.is_traced());
    assert_eq!(handle.trace_id(), None);
    let inner = manager.event(CBEventType::Retrieve, None).unwrap();
    assert_eq!(inner.parent_id(), outer.id());
    // Another thread has its own implicit state.
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = manager.event(CBEventType::Query, None).unwrap();
            assert_eq!(other.parent_id(), ROOT_EVENT_ID);
        });
    });
    // A trace begun here starts afresh.
    manager.with_trace("fresh", || {
        let traced = manager.event(CBEventType::Query, None).unwrap();
        assert_eq!(traced.parent_id(), ROOT_EVENT_ID);
    });
    drop(inner);
    let next = manager.event(CBEventType::Synthesize, None).unwrap();
    assert_eq!(next.parent_id(), outer.id());
    assert!(recorder.trace_calls().len() == 2);
}

#[test]
fn handlers_are_added_removed_by_identity_and_replaced() {
    let a = Recorder::new();
    let b = Recorder::new();
    let manager = CallbackManager::default();
    manager.add_handler(a.clone());
    manager.add_handler(b.clone());
    assert_eq!(manager.handlers().len(), 2);
    assert!(manager.remove_handler(&a));
    assert!(!manager.remove_handler(&a));
    drop(manager.event(CBEventType::Query, None).unwrap());
    assert!(a.seen().is_empty());
    assert_eq!(b.seen().len(), 2);
    let clone = manager.clone();
    clone.set_handlers(vec![a.clone()]);
    assert_eq!(manager.handlers().len(), 1, "clones share the handlers");
}

#[test]
fn types_and_keys_have_llamaindex_strings() {
    let types = [
        "chunking",
        "node_parsing",
        "embedding",
        "llm",
        "query",
        "retrieve",
        "synthesize",
        "tree",
        "sub_question",
        "templating",
        "function_call",
        "reranking",
        "exception",
        "agent_step",
    ];
    for (ty, s) in CBEventType::ALL.into_iter().zip(types) {
        assert_eq!(ty.to_string(), s);
        assert_eq!(s.parse::<CBEventType>(), Ok(ty));
        assert_eq!(serde_json::to_value(ty).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<CBEventType>(json!(s)).unwrap(), ty);
        assert_eq!(ty.qualified_name().parse::<CBEventType>(), Ok(ty));
    }
    assert_eq!(CBEventType::Llm.qualified_name(), "CBEventType.LLM");
    assert_eq!(
        CBEventType::NodeParsing.qualified_name(),
        "CBEventType.NODE_PARSING"
    );
    assert!("LLM".parse::<CBEventType>().is_err());

    assert_eq!(EventPayload::Prompt.as_str(), "formatted_prompt");
    assert_eq!(
        EventPayload::FunctionOutput.to_string(),
        "function_call_response"
    );
    assert_eq!(
        EventPayload::QueryWrapperPrompt.as_str(),
        "query_wrapper_prompt"
    );
    for key in EventPayload::ALL {
        assert_eq!(serde_json::to_value(key).unwrap(), json!(key.as_str()));
        assert_eq!(key.as_str().parse::<EventPayload>(), Ok(key));
    }

    let payload = Payload::new()
        .with(EventPayload::Prompt, "hi")
        .with(EventPayload::TopK, 2)
        .with_serialized(EventPayload::TemplateVars, &[("name", "ada")]);
    let value = serde_json::to_value(&payload).unwrap();
    assert_eq!(
        value,
        json!({"formatted_prompt": "hi", "top_k": 2, "template_vars": [["name", "ada"]]})
    );
    assert_eq!(serde_json::from_value::<Payload>(value).unwrap(), payload);
    assert_eq!(payload.get_u64(EventPayload::TopK), Some(2));
    assert_eq!(payload.to_json(), serde_json::to_value(&payload).unwrap());
}

/// A callback handler that panics: the caller gets an error, the program goes on.
#[test]
fn a_panicking_callback_handler_is_an_error_not_a_crash() {
    struct Panics;
    impl CallbackHandler for Panics {
        fn on_event_start(
            &self,
            _: CBEventType,
            _: Option<&Payload>,
            _: &str,
            _: &str,
        ) -> Result<String, CallbackError> {
            panic!("handler bug")
        }
        fn on_event_end(
            &self,
            _: CBEventType,
            _: Option<&Payload>,
            _: &str,
        ) -> Result<(), CallbackError> {
            Ok(())
        }
    }
    let manager = CallbackManager::new(vec![std::sync::Arc::new(Panics)]);
    let before = instrument::handler_panics();
    let Err(error) = manager.event(CBEventType::Query, None) else {
        panic!("expected an error, not a started event");
    };
    assert!(
        error.to_string().contains("panicked: handler bug"),
        "{error}"
    );
    assert_eq!(instrument::handler_panics() - before, 1);
}

#[test]
fn caller_given_ids_and_parents_are_kept_everywhere() -> Result<(), CallbackError> {
    let recorder = Recorder::new();
    let manager = CallbackManager::new(vec![recorder.clone()]);
    let ids = manager.with_trace("ported", || -> Result<_, CallbackError> {
        // LlamaIndex's `on_event_start(event_type, payload, event_id, parent_id)`.
        let query = manager.on_event_start(CBEventType::Query, None, Some("query-1"), None)?;
        let retrieve = manager.on_event_start(CBEventType::Retrieve, None, Some("r-1"), None)?;
        // An explicit parent wins over the open event.
        let side = manager.on_event_start(CBEventType::Tree, None, None, Some("query-1"))?;
        manager.on_event_end(CBEventType::Tree, None, Some(&side))?;
        manager.on_event_end(CBEventType::Retrieve, None, Some(&retrieve))?;
        // The guard form with an id of the caller's.
        let llm = manager.event_with_id(CBEventType::Llm, None, "llm-1")?;
        assert_eq!(llm.id(), "llm-1");
        assert_eq!(llm.parent_id(), "query-1");
        llm.on_end(None)?;
        manager.on_event_end(CBEventType::Query, None, Some(&query))?;
        Ok((query, retrieve, side))
    })?;
    let (query, retrieve, side) = ids;
    assert_eq!((query.as_str(), retrieve.as_str()), ("query-1", "r-1"));
    assert!(
        uuid::Uuid::parse_str(&side).is_ok(),
        "generated when not given"
    );
    assert_eq!(
        recorder.starts(),
        [
            (CBEventType::Query, query.clone(), ROOT_EVENT_ID.to_owned()),
            (CBEventType::Retrieve, retrieve.clone(), query.clone()),
            (CBEventType::Tree, side.clone(), query.clone()),
            (CBEventType::Llm, "llm-1".to_owned(), query.clone()),
        ]
    );
    assert_eq!(
        recorder.ends(),
        [
            (CBEventType::Tree, side.clone()),
            (CBEventType::Retrieve, retrieve.clone()),
            (CBEventType::Llm, "llm-1".to_owned()),
            (CBEventType::Query, query.clone()),
        ]
    );
    let (_, map) = &recorder.trace_maps()[0];
    assert_eq!(map.roots(), std::slice::from_ref(&query));
    assert_eq!(map.children(&query), [retrieve, side, "llm-1".to_owned()]);
    Ok(())
}

#[test]
fn a_handler_called_directly_returns_the_id_it_recorded() -> Result<(), CallbackError> {
    let recorder = Recorder::new();
    let id = recorder.on_event_start(CBEventType::Llm, None, "given", ROOT_EVENT_ID)?;
    assert_eq!(id, "given");
    Ok(())
}

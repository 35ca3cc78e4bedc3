//! The callback bridge: instrumentation events and spans on a dispatcher reach legacy callback
//! handlers as paired starts and ends, nested by the span tree, one trace per root span.

use std::sync::{Arc, Barrier, Mutex};

use instrument::callbacks::{
    CBEventType, CallbackBridge, CallbackError, CallbackHandler, CallbackManager, EventPayload,
    Payload, ROOT_EVENT_ID, TraceMap,
};
use instrument::events::{
    AgentToolCallEvent, ChunkingEndEvent, ChunkingStartEvent, ExceptionEvent, LLMChatEndEvent,
    LLMChatStartEvent, LLMPredictEndEvent, LLMPredictStartEvent, NodeParsingEndEvent,
    NodeParsingStartEvent, QueryEndEvent, QueryStartEvent, ReRankEndEvent, ReRankStartEvent,
    RetrievalEndEvent, RetrievalStartEvent, SynthesizeEndEvent, SynthesizeStartEvent,
};
use instrument::llm::{ChatMessage, ChatResponse, NodeWithScore, TextNode, ToolMetadata};
use instrument::{Dispatcher, current_span, get_dispatcher};
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

/// Records every callback; optionally fails every start of one type.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    fail_start: Option<CBEventType>,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
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

    fn start_of(&self, ty: CBEventType) -> (String, String, Option<Payload>) {
        let found: Vec<_> = self
            .seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Start {
                    ty: t,
                    id,
                    parent,
                    payload,
                } if t == ty => Some((id, parent, payload)),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "one {ty} start expected: {found:#?}");
        found.into_iter().next().unwrap()
    }

    fn end_of(&self, id: &str) -> Option<Payload> {
        let found: Vec<_> = self
            .seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::End { id: i, payload, .. } if i == id => Some(payload),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "one end of {id} expected: {found:#?}");
        found.into_iter().next().unwrap()
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

    fn trace_starts(&self) -> Vec<Option<String>> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::StartTrace(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    fn trace_ends(&self) -> Vec<(Option<String>, TraceMap)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::EndTrace(id, map) => Some((id, map)),
                _ => None,
            })
            .collect()
    }
}

impl CallbackHandler for Recorder {
    fn on_event_start(
        &self,
        ty: CBEventType,
        payload: Option<&Payload>,
        id: &str,
        parent: &str,
    ) -> Result<String, CallbackError> {
        self.seen.lock().unwrap().push(Seen::Start {
            ty,
            payload: payload.cloned(),
            id: id.to_owned(),
            parent: parent.to_owned(),
        });
        if self.fail_start == Some(ty) {
            return Err(CallbackError::handler(
                "Recorder",
                "Token budget exceeded! Limit: 1, Current: 2",
            ));
        }
        Ok(id.to_owned())
    }

    fn on_event_end(
        &self,
        ty: CBEventType,
        payload: Option<&Payload>,
        id: &str,
    ) -> Result<(), CallbackError> {
        self.seen.lock().unwrap().push(Seen::End {
            ty,
            payload: payload.cloned(),
            id: id.to_owned(),
        });
        Ok(())
    }

    fn start_trace(&self, trace_id: Option<&str>) {
        let id = trace_id.map(str::to_owned);
        self.seen.lock().unwrap().push(Seen::StartTrace(id));
    }

    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        let id = trace_id.map(str::to_owned);
        let map = trace_map.clone();
        self.seen.lock().unwrap().push(Seen::EndTrace(id, map));
    }
}

/// A recorder behind a manager behind a bridge on the dispatcher `name`.
fn bridged(name: &str, recorder: Recorder) -> (Arc<Recorder>, CallbackBridge, &'static Dispatcher) {
    let recorder = Arc::new(recorder);
    let bridge = CallbackBridge::new(CallbackManager::new(vec![recorder.clone()]));
    let dispatcher = get_dispatcher(name);
    dispatcher.add_event_handler(bridge.clone());
    dispatcher.add_span_handler(bridge.clone());
    (recorder, bridge, dispatcher)
}

fn keys(payload: Option<&Payload>) -> Vec<EventPayload> {
    payload.map_or_else(Vec::new, |p| p.iter().map(|(k, _)| k).collect())
}

fn chat_start() -> LLMChatStartEvent {
    let mut model = serde_json::Map::new();
    model.insert("model".into(), json!("gpt-test"));
    LLMChatStartEvent {
        messages: vec![ChatMessage::user("why?")],
        additional_kwargs: serde_json::Map::new(),
        model_dict: model,
    }
}

fn chat_end() -> LLMChatEndEvent {
    LLMChatEndEvent {
        messages: vec![ChatMessage::user("why?")],
        response: Some(ChatResponse::new(ChatMessage::assistant("because"))),
    }
}

/// query → (retrieve, synthesize → chat), each in its own span, as a RAG query engine runs.
fn rag_query(d: &'static Dispatcher) -> String {
    d.in_span("query", || {
        let root = current_span().id().unwrap().to_string();
        d.event(QueryStartEvent {
            query: "why?".into(),
        });
        d.in_span("retrieve", || {
            d.event(RetrievalStartEvent {
                str_or_query_bundle: "why?".into(),
            });
            d.event(RetrievalEndEvent {
                str_or_query_bundle: "why?".into(),
                nodes: vec![NodeWithScore::new(TextNode::new("it is so"), 0.9)],
            });
        });
        d.in_span("synthesize", || {
            d.event(SynthesizeStartEvent {
                query: "why?".into(),
            });
            d.in_span("chat", || {
                d.event(chat_start());
                d.event(chat_end());
            });
            d.event(SynthesizeEndEvent {
                query: "why?".into(),
                response: json!({"response": "because"}),
            });
        });
        d.event(QueryEndEvent {
            query: "why?".into(),
            response: json!({"response": "because"}),
        });
        root
    })
}

#[test]
fn pipeline_of_nested_spans_becomes_one_callback_trace() {
    let (rec, bridge, d) = bridged("tests::callback_bridge::pipeline", Recorder::default());
    let root_span = rag_query(d);

    let (query, query_parent, query_start) = rec.start_of(CBEventType::Query);
    let (retrieve, retrieve_parent, _) = rec.start_of(CBEventType::Retrieve);
    let (synth, synth_parent, _) = rec.start_of(CBEventType::Synthesize);
    let (llm, llm_parent, llm_start) = rec.start_of(CBEventType::Llm);
    assert_eq!(query_parent, ROOT_EVENT_ID);
    assert_eq!(retrieve_parent, query);
    assert_eq!(synth_parent, query);
    assert_eq!(llm_parent, synth);

    // Starts in order, ends inner first.
    let types: Vec<_> = rec.starts().into_iter().map(|(ty, ..)| ty).collect();
    assert_eq!(
        types,
        [
            CBEventType::Query,
            CBEventType::Retrieve,
            CBEventType::Synthesize,
            CBEventType::Llm
        ]
    );
    assert_eq!(
        rec.ends(),
        [
            (CBEventType::Retrieve, retrieve.clone()),
            (CBEventType::Llm, llm.clone()),
            (CBEventType::Synthesize, synth.clone()),
            (CBEventType::Query, query.clone()),
        ]
    );

    // Payloads under LlamaIndex's keys.
    let query_start = query_start.unwrap();
    assert_eq!(query_start.get_str(EventPayload::QueryStr), Some("why?"));
    assert_eq!(keys(rec.end_of(&retrieve).as_ref()), [EventPayload::Nodes]);
    assert_eq!(
        keys(llm_start.as_ref()),
        [
            EventPayload::Messages,
            EventPayload::AdditionalKwargs,
            EventPayload::Serialized
        ]
    );
    let llm_start = llm_start.unwrap();
    assert_eq!(
        llm_start.get(EventPayload::Serialized),
        Some(&json!({"model": "gpt-test"}))
    );
    assert_eq!(
        llm_start.get(EventPayload::Messages).unwrap()[0]["content"],
        "why?"
    );
    let llm_end = rec.end_of(&llm).unwrap();
    assert_eq!(
        keys(Some(&llm_end)),
        [EventPayload::Messages, EventPayload::Response]
    );
    assert_eq!(
        llm_end.get(EventPayload::Response).unwrap()["message"]["content"],
        "because"
    );
    assert_eq!(
        rec.end_of(&query).unwrap().get(EventPayload::Response),
        Some(&json!({"response": "because"}))
    );

    // One trace, named after the root span, holding the whole tree.
    assert_eq!(rec.trace_starts(), [Some(root_span.clone())]);
    let traces = rec.trace_ends();
    assert_eq!(traces.len(), 1);
    let (trace_id, map) = &traces[0];
    assert_eq!(trace_id.as_deref(), Some(root_span.as_str()));
    assert_eq!(map.roots(), [query.as_str()]);
    assert_eq!(map.children(&query), [retrieve, synth.clone()]);
    assert_eq!(map.children(&synth), [llm]);
    assert_eq!(map.event_count(), 4);
    assert!(matches!(rec.seen().first(), Some(Seen::StartTrace(_))));
    assert!(matches!(rec.seen().last(), Some(Seen::EndTrace(..))));

    assert_eq!(bridge.errors(), 0);
    assert_eq!(bridge.open_spans(), 0);
    assert_eq!(bridge.open_events(), 0);
}

#[test]
fn two_root_spans_on_two_threads_give_two_traces() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::two_roots", Recorder::default());
    let both_open = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let both_open = Arc::clone(&both_open);
            std::thread::spawn(move || {
                d.in_span("request", || {
                    let root = current_span().id().unwrap().to_string();
                    d.event(QueryStartEvent {
                        query: "why?".into(),
                    });
                    both_open.wait();
                    d.in_span("chat", || {
                        d.event(chat_start());
                        d.event(chat_end());
                    });
                    both_open.wait();
                    d.event(QueryEndEvent {
                        query: "why?".into(),
                        response: json!(null),
                    });
                    root
                })
            })
        })
        .collect();
    let mut roots: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    roots.sort();

    let mut started: Vec<String> = rec.trace_starts().into_iter().flatten().collect();
    started.sort();
    assert_eq!(started, roots);

    let traces = rec.trace_ends();
    assert_eq!(traces.len(), 2);
    let starts = rec.starts();
    for (_, map) in &traces {
        // Each trace holds its own query and its own LLM call below it, nothing of the other.
        assert_eq!(map.roots().len(), 1);
        let query = &map.roots()[0];
        let children = map.children(query);
        assert_eq!(children.len(), 1);
        assert!(starts.iter().any(|(ty, id, parent)| *ty == CBEventType::Llm
            && id == &children[0]
            && parent == query));
        assert_eq!(map.event_count(), 2);
    }
    assert_ne!(traces[0].1, traces[1].1);
}

#[test]
fn spans_on_other_threads_join_their_roots_trace() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::threads", Recorder::default());
    d.in_span("query", || {
        d.event(QueryStartEvent {
            query: "why?".into(),
        });
        instrument::thread::spawn(move || {
            d.in_span("retrieve", || {
                d.event(RetrievalStartEvent {
                    str_or_query_bundle: "why?".into(),
                });
                d.event(RetrievalEndEvent {
                    str_or_query_bundle: "why?".into(),
                    nodes: vec![],
                });
            });
        })
        .join()
        .unwrap();
        d.event(QueryEndEvent {
            query: "why?".into(),
            response: json!(null),
        });
    });
    let (query, ..) = rec.start_of(CBEventType::Query);
    let (retrieve, parent, _) = rec.start_of(CBEventType::Retrieve);
    assert_eq!(parent, query);
    assert_eq!(rec.trace_starts().len(), 1);
    let traces = rec.trace_ends();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].1.children(&query), [retrieve]);
}

#[test]
fn a_span_ending_with_events_open_ends_them() {
    let (rec, bridge, d) = bridged("tests::callback_bridge::open_at_end", Recorder::default());
    let mut span = d.enter_span("parse", &[]);
    span.in_scope(|| {
        d.event(NodeParsingStartEvent {
            documents: vec![TextNode::new("doc")],
        });
        d.event(ChunkingStartEvent {
            text: vec!["doc".into()],
        });
    });
    assert_eq!(bridge.open_events(), 2);
    span.drop_with(&"parser failed");

    let (parse, _, parse_start) = rec.start_of(CBEventType::NodeParsing);
    let (chunk, chunk_parent, chunk_start) = rec.start_of(CBEventType::Chunking);
    assert_eq!(chunk_parent, parse);
    assert_eq!(keys(parse_start.as_ref()), [EventPayload::Documents]);
    assert_eq!(keys(chunk_start.as_ref()), [EventPayload::Chunks]);
    // Inner first, each with the span's error.
    assert_eq!(
        rec.ends(),
        [
            (CBEventType::Chunking, chunk.clone()),
            (CBEventType::NodeParsing, parse.clone())
        ]
    );
    for id in [&chunk, &parse] {
        let payload = rec.end_of(id).unwrap();
        assert_eq!(
            payload.get_str(EventPayload::Exception),
            Some("parser failed")
        );
    }
    assert_eq!(rec.trace_ends().len(), 1);
    assert_eq!(bridge.open_events(), 0);
    assert_eq!(bridge.open_spans(), 0);

    // A later end event of the same span finds nothing to end.
    d.event(ChunkingEndEvent { chunks: vec![] });
    assert_eq!(rec.ends().len(), 2);
}

#[test]
fn pairs_by_span_and_family() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::pairing", Recorder::default());
    d.in_span("parse", || {
        d.event(NodeParsingStartEvent { documents: vec![] });
        d.event(ChunkingStartEvent { text: vec![] });
        // The node-parsing end closes node parsing, not the chunking opened after it.
        d.event(NodeParsingEndEvent {
            nodes: vec![TextNode::new("a")],
        });
        d.event(ChunkingEndEvent {
            chunks: vec!["a".into()],
        });
    });
    let (parse, ..) = rec.start_of(CBEventType::NodeParsing);
    let (chunk, ..) = rec.start_of(CBEventType::Chunking);
    assert_eq!(
        rec.ends(),
        [
            (CBEventType::NodeParsing, parse.clone()),
            (CBEventType::Chunking, chunk.clone())
        ]
    );
    assert_eq!(keys(rec.end_of(&parse).as_ref()), [EventPayload::Nodes]);
    assert_eq!(
        rec.end_of(&chunk).unwrap().get(EventPayload::Chunks),
        Some(&json!(["a"]))
    );
}

#[test]
fn events_without_an_end_start_and_end_at_once() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::instants", Recorder::default());
    d.in_span("agent", || {
        d.event(LLMPredictStartEvent {
            template: json!("Answer {q}"),
            template_args: Some(serde_json::Map::from_iter([("q".into(), json!("why?"))])),
        });
        d.event(AgentToolCallEvent {
            arguments: r#"{"x": 1}"#.into(),
            tool: ToolMetadata::new("calc", "adds"),
        });
        d.event(ExceptionEvent::new("tool failed"));
        d.event(LLMPredictEndEvent {
            output: "because".into(),
        });
    });
    let (templating, parent, payload) = rec.start_of(CBEventType::Templating);
    assert_eq!(parent, ROOT_EVENT_ID);
    assert_eq!(
        keys(payload.as_ref()),
        [EventPayload::Template, EventPayload::TemplateVars]
    );
    let (call, _, payload) = rec.start_of(CBEventType::FunctionCall);
    let payload = payload.unwrap();
    assert_eq!(
        payload.get_str(EventPayload::FunctionCall),
        Some(r#"{"x": 1}"#)
    );
    assert_eq!(payload.get(EventPayload::Tool).unwrap()["name"], "calc");
    let (exception, _, payload) = rec.start_of(CBEventType::Exception);
    assert_eq!(
        payload.unwrap().get_str(EventPayload::Exception),
        Some("tool failed")
    );
    assert_eq!(
        rec.ends(),
        [
            (CBEventType::Templating, templating),
            (CBEventType::FunctionCall, call),
            (CBEventType::Exception, exception)
        ]
    );
}

#[test]
fn rerank_payload() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::rerank", Recorder::default());
    let nodes = vec![NodeWithScore::new(TextNode::new("a"), 0.5)];
    d.in_span("rerank", || {
        d.event(ReRankStartEvent {
            query: Some("why?".into()),
            nodes: nodes.clone(),
            top_n: 1,
            model_name: "rerank-test".into(),
        });
        d.event(ReRankEndEvent { nodes });
    });
    let (id, _, payload) = rec.start_of(CBEventType::Reranking);
    let payload = payload.unwrap();
    assert_eq!(payload.get_str(EventPayload::QueryStr), Some("why?"));
    assert_eq!(payload.get_u64(EventPayload::TopK), Some(1));
    assert_eq!(
        payload.get_str(EventPayload::ModelName),
        Some("rerank-test")
    );
    assert_eq!(payload.get(EventPayload::Nodes).unwrap()[0]["score"], 0.5);
    assert_eq!(keys(rec.end_of(&id).as_ref()), [EventPayload::Nodes]);
}

#[test]
fn handler_errors_are_counted_and_the_pipeline_goes_on() {
    let recorder = Recorder {
        fail_start: Some(CBEventType::Llm),
        ..Recorder::default()
    };
    let (rec, bridge, d) = bridged("tests::callback_bridge::errors", recorder);
    let answer = d.in_span("query", || {
        d.event(QueryStartEvent {
            query: "why?".into(),
        });
        d.in_span("chat", || {
            d.event(chat_start());
            d.event(chat_end());
        });
        d.event(QueryEndEvent {
            query: "why?".into(),
            response: json!(null),
        });
        42
    });
    assert_eq!(answer, 42);
    assert_eq!(bridge.errors(), 1);
    // The refused LLM event was never opened, so it has no end; the query still ends.
    let (query, ..) = rec.start_of(CBEventType::Query);
    assert_eq!(rec.ends(), [(CBEventType::Query, query)]);
    assert_eq!(rec.trace_ends().len(), 1);
}

#[test]
fn events_outside_spans_pair_in_the_current_callback_trace() {
    let (rec, bridge, d) = bridged("tests::callback_bridge::no_span", Recorder::default());
    bridge.manager().with_trace("manual", || {
        d.event(QueryStartEvent {
            query: "why?".into(),
        });
        d.event(chat_start());
        d.event(chat_end());
        d.event(QueryEndEvent {
            query: "why?".into(),
            response: json!(null),
        });
    });
    let (query, parent, _) = rec.start_of(CBEventType::Query);
    let (llm, llm_parent, _) = rec.start_of(CBEventType::Llm);
    assert_eq!(parent, ROOT_EVENT_ID);
    assert_eq!(llm_parent, query);
    assert_eq!(
        rec.ends(),
        [
            (CBEventType::Llm, llm.clone()),
            (CBEventType::Query, query.clone())
        ]
    );
    assert_eq!(rec.trace_starts(), [Some("manual".to_owned())]);
    assert_eq!(rec.trace_ends()[0].1.children(&query), [llm]);
    assert_eq!(bridge.open_events(), 0);
}

#[test]
fn a_root_span_inside_a_callback_trace_joins_it() {
    let (rec, _bridge, d) = bridged("tests::callback_bridge::joins", Recorder::default());
    let manager = CallbackManager::new(vec![]);
    // The trace is begun by another manager's `as_trace`; the bridge's handlers see no trace of
    // their own, and the span's events nest in that trace.
    manager.with_trace("outer", || {
        d.in_span("query", || {
            d.event(QueryStartEvent {
                query: "why?".into(),
            });
            d.event(QueryEndEvent {
                query: "why?".into(),
                response: json!(null),
            });
        });
        let map = CallbackManager::current_trace().trace_map();
        let (query, parent, _) = rec.start_of(CBEventType::Query);
        assert_eq!(parent, ROOT_EVENT_ID);
        assert_eq!(map.roots(), [query]);
    });
    assert!(rec.trace_starts().is_empty());
}

/// A stream of ready items.
struct Iter<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[test]
fn a_streamed_chat_is_one_llm_event_ended_with_its_stream() {
    use futures_core::Stream;
    use instrument::llm::stream::ChatStream;

    let (rec, bridge, d) = bridged("tests::callback_bridge::stream", Recorder::default());
    let chunks = || {
        Iter(
            vec![
                ChatResponse::new(ChatMessage::assistant("Hel")).with_delta("Hel"),
                ChatResponse::new(ChatMessage::assistant("Hello")).with_delta("lo"),
            ]
            .into_iter(),
        )
    };
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());

    // Read to the end: the LLM event ends with the whole answer.
    let mut stream = d.in_span("query", || {
        d.event(QueryStartEvent {
            query: "why?".into(),
        });
        ChatStream::new(d, chat_start(), chunks())
    });
    while let std::task::Poll::Ready(Some(_)) = std::pin::Pin::new(&mut stream).poll_next(&mut cx) {
    }
    let (query, ..) = rec.start_of(CBEventType::Query);
    let (llm, parent, _) = rec.start_of(CBEventType::Llm);
    assert_eq!(parent, query);
    let end = rec.end_of(&llm).unwrap();
    assert_eq!(
        end.get(EventPayload::Response).unwrap()["message"]["content"],
        "Hello"
    );

    // Dropped early: the LLM event ends with the span's "cancelled".
    let mut stream = ChatStream::new(d, chat_start(), chunks());
    assert!(
        std::pin::Pin::new(&mut stream)
            .poll_next(&mut cx)
            .is_ready()
    );
    drop(stream);
    let cancelled: Vec<_> = rec
        .seen()
        .into_iter()
        .filter_map(|s| match s {
            Seen::End {
                ty: CBEventType::Llm,
                payload,
                ..
            } => payload,
            _ => None,
        })
        .filter(|p| p.get_str(EventPayload::Exception) == Some("cancelled"))
        .collect();
    assert_eq!(cancelled.len(), 1);
    // Its query span exited before the stream ended; that ended the query event, nothing else.
    assert_eq!(bridge.open_events(), 0);
}

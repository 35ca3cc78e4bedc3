//! The built-in event catalog: LlamaIndex's class names, LlamaIndex's JSON shapes, delivery to
//! handlers, and the data types' round trip through JSON.

use std::sync::Mutex;

use instrument::events::*;
use instrument::llm::{
    ChatMessage, ChatResponse, CompletionResponse, MessageRole, NodeWithScore, QueryBundle,
    QueryType, SparseEmbedding, TextNode, ToolMetadata,
};
use instrument::{Event, EventEnvelope, EventHandler, SpanId, get_dispatcher};
use serde_json::{Map, Value, json};

fn model_dict() -> Map<String, Value> {
    let Value::Object(map) = json!({"model": "gpt-4o-mini", "temperature": 0.1}) else {
        unreachable!()
    };
    map
}

fn scored_nodes() -> Vec<NodeWithScore> {
    vec![
        NodeWithScore::new(
            TextNode::new("Paris is the capital of France.")
                .with_id("n1")
                .with_metadata("file_name", "france.txt"),
            0.9,
        ),
        NodeWithScore::unscored(TextNode::new("Berlin is in Germany.").with_id("n2")),
    ]
}

fn chat_end() -> LLMChatEndEvent {
    LLMChatEndEvent {
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Capital of France?"),
        ],
        response: Some(
            ChatResponse::new(ChatMessage::assistant("Paris.")).with_raw(json!({
                "id": "chatcmpl-1",
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
            })),
        ),
    }
}

/// One of every event in the catalog.
fn every_event() -> Vec<Box<dyn Event>> {
    let tool = ToolMetadata::new("search", "Searches the web");
    let query = QueryType::from("q");
    vec![
        Box::new(LLMPredictStartEvent {
            template: json!({"template": "{x}"}),
            template_args: None,
        }),
        Box::new(LLMPredictEndEvent { output: "o".into() }),
        Box::new(LLMStructuredPredictStartEvent {
            output_cls: json!("Answer"),
            template: json!({}),
            template_args: None,
        }),
        Box::new(LLMStructuredPredictInProgressEvent { output: json!({}) }),
        Box::new(LLMStructuredPredictEndEvent { output: json!({}) }),
        Box::new(LLMCompletionStartEvent {
            prompt: "p".into(),
            additional_kwargs: Map::new(),
            model_dict: model_dict(),
        }),
        Box::new(LLMCompletionInProgressEvent {
            prompt: "p".into(),
            response: CompletionResponse::new("a").with_delta("a"),
        }),
        Box::new(LLMCompletionEndEvent {
            prompt: "p".into(),
            response: CompletionResponse::new("ab"),
        }),
        Box::new(LLMChatStartEvent {
            messages: vec![ChatMessage::user("hi")],
            additional_kwargs: Map::new(),
            model_dict: model_dict(),
        }),
        Box::new(LLMChatInProgressEvent {
            messages: vec![ChatMessage::user("hi")],
            response: ChatResponse::new(ChatMessage::assistant("he")).with_delta("he"),
        }),
        Box::new(chat_end()),
        Box::new(LLMToolCallEvent {
            tool_id: Some("call_1".into()),
            tool: tool.clone(),
            arguments: "{}".into(),
        }),
        Box::new(EmbeddingStartEvent {
            model_dict: model_dict(),
        }),
        Box::new(EmbeddingEndEvent {
            chunks: vec![],
            embeddings: vec![],
        }),
        Box::new(SparseEmbeddingStartEvent {
            model_dict: model_dict(),
        }),
        Box::new(SparseEmbeddingEndEvent {
            chunks: vec![],
            embeddings: vec![],
        }),
        Box::new(RetrievalStartEvent {
            str_or_query_bundle: query.clone(),
        }),
        Box::new(RetrievalEndEvent {
            str_or_query_bundle: query.clone(),
            nodes: vec![],
        }),
        Box::new(QueryStartEvent {
            query: query.clone(),
        }),
        Box::new(QueryEndEvent {
            query: query.clone(),
            response: json!("r"),
        }),
        Box::new(SynthesizeStartEvent {
            query: query.clone(),
        }),
        Box::new(SynthesizeEndEvent {
            query: query.clone(),
            response: json!("r"),
        }),
        Box::new(GetResponseStartEvent {
            query_str: "q".into(),
            text_chunks: vec![],
        }),
        Box::new(GetResponseEndEvent {}),
        Box::new(ReRankStartEvent {
            query: Some(query),
            nodes: vec![],
            top_n: 2,
            model_name: "rerank-1".into(),
        }),
        Box::new(ReRankEndEvent { nodes: vec![] }),
        Box::new(AgentRunStepStartEvent {
            task_id: "t".into(),
            step: None,
            input: None,
        }),
        Box::new(AgentRunStepEndEvent {
            step_output: json!({}),
        }),
        Box::new(AgentChatWithStepStartEvent {
            user_msg: "hi".into(),
        }),
        Box::new(AgentChatWithStepEndEvent { response: None }),
        Box::new(AgentToolCallEvent {
            arguments: "{}".into(),
            tool,
        }),
        Box::new(ChunkingStartEvent { text: vec![] }),
        Box::new(ChunkingEndEvent { chunks: vec![] }),
        Box::new(NodeParsingStartEvent { documents: vec![] }),
        Box::new(NodeParsingEndEvent { nodes: vec![] }),
        Box::new(ExceptionEvent::new("boom")),
        Box::new(SpanDropEvent {
            span_id: SpanId::new("demo"),
            err_str: "e".into(),
        }),
    ]
}

#[test]
fn class_names_are_llama_index_names() {
    let names: Vec<&str> = every_event().iter().map(|e| e.class_name()).collect();
    assert_eq!(
        names,
        [
            "LLMPredictStartEvent",
            "LLMPredictEndEvent",
            "LLMStructuredPredictStartEvent",
            "LLMStructuredPredictInProgressEvent",
            "LLMStructuredPredictEndEvent",
            "LLMCompletionStartEvent",
            "LLMCompletionInProgressEvent",
            "LLMCompletionEndEvent",
            "LLMChatStartEvent",
            "LLMChatInProgressEvent",
            "LLMChatEndEvent",
            "LLMToolCallEvent",
            "EmbeddingStartEvent",
            "EmbeddingEndEvent",
            "SparseEmbeddingStartEvent",
            "SparseEmbeddingEndEvent",
            "RetrievalStartEvent",
            "RetrievalEndEvent",
            "QueryStartEvent",
            "QueryEndEvent",
            "SynthesizeStartEvent",
            "SynthesizeEndEvent",
            "GetResponseStartEvent",
            "GetResponseEndEvent",
            "ReRankStartEvent",
            "ReRankEndEvent",
            "AgentRunStepStartEvent",
            "AgentRunStepEndEvent",
            "AgentChatWithStepStartEvent",
            "AgentChatWithStepEndEvent",
            "AgentToolCallEvent",
            "ChunkingStartEvent",
            "ChunkingEndEvent",
            "NodeParsingStartEvent",
            "NodeParsingEndEvent",
            "ExceptionEvent",
            "SpanDropEvent",
        ]
    );
}

#[test]
fn every_event_serializes_to_a_json_object() {
    for event in every_event() {
        let json = event.to_json().unwrap();
        assert!(json.is_object(), "{}: {json}", event.class_name());
    }
}

#[test]
fn chat_end_json_has_messages_and_raw_usage() {
    assert_eq!(
        chat_end().to_json().unwrap(),
        json!({
            "messages": [
                {"role": "system", "content": "Be brief.", "additional_kwargs": {}},
                {"role": "user", "content": "Capital of France?", "additional_kwargs": {}},
            ],
            "response": {
                "message": {"role": "assistant", "content": "Paris.", "additional_kwargs": {}},
                "delta": null,
                "raw": {
                    "id": "chatcmpl-1",
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
                },
                "additional_kwargs": {},
            },
        })
    );
}

#[test]
fn retrieval_end_json_has_nodes_and_scores() {
    let event = RetrievalEndEvent {
        str_or_query_bundle: QueryBundle::new("capital of France").into(),
        nodes: scored_nodes(),
    };
    assert_eq!(
        event.to_json().unwrap(),
        json!({
            "str_or_query_bundle": {
                "query_str": "capital of France",
                "custom_embedding_strs": null,
                "embedding": null,
            },
            "nodes": [
                {
                    "node": {
                        "id_": "n1",
                        "text": "Paris is the capital of France.",
                        "metadata": {"file_name": "france.txt"},
                    },
                    "score": 0.9,
                },
                {
                    "node": {"id_": "n2", "text": "Berlin is in Germany.", "metadata": {}},
                    "score": null,
                },
            ],
        })
    );
    let plain = RetrievalStartEvent {
        str_or_query_bundle: "capital".into(),
    };
    assert_eq!(
        plain.to_json().unwrap(),
        json!({"str_or_query_bundle": "capital"})
    );
}

#[test]
fn embedding_json_has_model_dict_chunks_and_embeddings() {
    let start = EmbeddingStartEvent {
        model_dict: model_dict(),
    };
    assert_eq!(
        start.to_json().unwrap(),
        json!({"model_dict": {"model": "gpt-4o-mini", "temperature": 0.1}})
    );
    let end = EmbeddingEndEvent {
        chunks: vec!["a".into(), "b".into()],
        embeddings: vec![vec![0.1, 0.2], vec![0.3, -0.4]],
    };
    assert_eq!(
        end.to_json().unwrap(),
        json!({"chunks": ["a", "b"], "embeddings": [[0.1, 0.2], [0.3, -0.4]]})
    );
    let sparse = SparseEmbeddingEndEvent {
        chunks: vec!["a".into()],
        embeddings: vec![SparseEmbedding::from([(3, 0.5), (17, 1.25)])],
    };
    assert_eq!(
        sparse.to_json().unwrap(),
        json!({"chunks": ["a"], "embeddings": [{"3": 0.5, "17": 1.25}]})
    );
}

#[test]
fn rerank_and_tool_call_json() {
    let rerank = ReRankStartEvent {
        query: Some("q".into()),
        nodes: vec![],
        top_n: 3,
        model_name: "rerank-english-v3.0".into(),
    };
    assert_eq!(
        rerank.to_json().unwrap(),
        json!({"query": "q", "nodes": [], "top_n": 3, "model_name": "rerank-english-v3.0"})
    );
    let call = AgentToolCallEvent {
        arguments: r#"{"city": "Paris"}"#.into(),
        tool: ToolMetadata::new("weather", "Weather in a city").with_parameters(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        })),
    };
    assert_eq!(
        call.to_json().unwrap(),
        json!({
            "arguments": "{\"city\": \"Paris\"}",
            "tool": {
                "name": "weather",
                "description": "Weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        })
    );
    assert_eq!(
        ExceptionEvent::new("rate limited").to_json().unwrap(),
        json!({"exception": "rate limited"})
    );
    assert_eq!(GetResponseEndEvent {}.to_json().unwrap(), json!({}));
}

/// Keeps what a handler of the catalog would: class names, chat answers with usage, retrieved ids.
#[derive(Default)]
struct Catalog {
    classes: Mutex<Vec<&'static str>>,
    answers: Mutex<Vec<(String, Value)>>,
    retrieved: Mutex<Vec<(String, Option<f64>)>>,
    envelopes: Mutex<Vec<Value>>,
}

impl EventHandler for Catalog {
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.classes.lock().unwrap().push(event.class_name());
        self.envelopes
            .lock()
            .unwrap()
            .push(event.to_json().unwrap());
        if let Some(end) = event.downcast_ref::<LLMChatEndEvent>() {
            let response = end.response.as_ref().unwrap();
            self.answers.lock().unwrap().push((
                response.message.text().to_owned(),
                response.usage().cloned().unwrap_or_default(),
            ));
        } else if let Some(end) = event.downcast_ref::<RetrievalEndEvent>() {
            self.retrieved
                .lock()
                .unwrap()
                .extend(end.nodes.iter().map(|n| (n.id().to_owned(), n.score)));
        }
    }
}

#[test]
fn handler_receives_and_downcasts_catalog_events() {
    let dispatcher =
        get_dispatcher("tests::event_catalog::handler_receives_and_downcasts_catalog_events");
    let catalog = dispatcher.add_event_handler(Catalog::default());

    dispatcher.event(RetrievalStartEvent {
        str_or_query_bundle: "capital of France".into(),
    });
    dispatcher.event(RetrievalEndEvent {
        str_or_query_bundle: "capital of France".into(),
        nodes: scored_nodes(),
    });
    dispatcher.event(chat_end());

    assert_eq!(
        *catalog.classes.lock().unwrap(),
        [
            "RetrievalStartEvent",
            "RetrievalEndEvent",
            "LLMChatEndEvent"
        ]
    );
    assert_eq!(
        *catalog.retrieved.lock().unwrap(),
        [("n1".to_owned(), Some(0.9)), ("n2".to_owned(), None)]
    );
    assert_eq!(
        *catalog.answers.lock().unwrap(),
        [(
            "Paris.".to_owned(),
            json!({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12})
        )]
    );
    let envelopes = catalog.envelopes.lock().unwrap();
    assert_eq!(envelopes[2]["class_name"], "LLMChatEndEvent");
    assert_eq!(envelopes[2]["response"]["message"]["content"], "Paris.");
    assert!(envelopes[2]["id_"].is_string());
}

#[test]
fn every_event_reaches_a_handler() {
    let dispatcher = get_dispatcher("tests::event_catalog::every_event_reaches_a_handler");
    let catalog = dispatcher.add_event_handler(Catalog::default());
    let events = every_event();
    for event in &events {
        // `dispatcher.event` takes a concrete type: emit a clone of each as its own type.
        dispatch_boxed(dispatcher, event.as_ref());
    }
    let expected: Vec<&str> = events.iter().map(|e| e.class_name()).collect();
    assert_eq!(*catalog.classes.lock().unwrap(), expected);
}

/// Emits a clone of `event` as its own type.
fn dispatch_boxed(dispatcher: &instrument::Dispatcher, event: &dyn Event) {
    macro_rules! emit_as {
        ($($ty:ty),* $(,)?) => {
            let any: &dyn std::any::Any = event;
            $(
                if let Some(typed) = any.downcast_ref::<$ty>() {
                    return dispatcher.event(typed.clone());
                }
            )*
            panic!("not in the catalog: {}", event.class_name());
        };
    }
    emit_as!(
        LLMPredictStartEvent,
        LLMPredictEndEvent,
        LLMStructuredPredictStartEvent,
        LLMStructuredPredictInProgressEvent,
        LLMStructuredPredictEndEvent,
        LLMCompletionStartEvent,
        LLMCompletionInProgressEvent,
        LLMCompletionEndEvent,
        LLMChatStartEvent,
        LLMChatInProgressEvent,
        LLMChatEndEvent,
        LLMToolCallEvent,
        EmbeddingStartEvent,
        EmbeddingEndEvent,
        SparseEmbeddingStartEvent,
        SparseEmbeddingEndEvent,
        RetrievalStartEvent,
        RetrievalEndEvent,
        QueryStartEvent,
        QueryEndEvent,
        SynthesizeStartEvent,
        SynthesizeEndEvent,
        GetResponseStartEvent,
        GetResponseEndEvent,
        ReRankStartEvent,
        ReRankEndEvent,
        AgentRunStepStartEvent,
        AgentRunStepEndEvent,
        AgentChatWithStepStartEvent,
        AgentChatWithStepEndEvent,
        AgentToolCallEvent,
        ChunkingStartEvent,
        ChunkingEndEvent,
        NodeParsingStartEvent,
        NodeParsingEndEvent,
        ExceptionEvent,
        SpanDropEvent,
    );
}

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_value(serde_json::to_value(value).unwrap()).unwrap()
}

#[test]
fn data_types_round_trip_through_json() {
    let message = ChatMessage::assistant("calling a tool")
        .with_kwarg("tool_calls", json!([{"id": "call_1"}]));
    assert_eq!(round_trip(&message), message);

    let response = chat_end().response.unwrap().with_delta("Paris.");
    assert_eq!(round_trip(&response), response);

    let completion =
        CompletionResponse::new("done").with_raw(json!({"usage": {"input_tokens": 3}}));
    assert_eq!(round_trip(&completion), completion);
    assert_eq!(completion.usage(), Some(&json!({"input_tokens": 3})));

    for node in scored_nodes() {
        assert_eq!(round_trip(&node), node);
    }

    let bundle = QueryBundle {
        query_str: "q".into(),
        custom_embedding_strs: Some(vec!["q1".into(), "q2".into()]),
        embedding: Some(vec![0.25, -1.0]),
    };
    assert_eq!(round_trip(&bundle), bundle);
    assert_eq!(bundle.embedding_strs(), ["q1", "q2"]);
    let as_query = QueryType::from(bundle);
    assert_eq!(round_trip(&as_query), as_query);
    assert_eq!(as_query.query_str(), "q");
    assert_eq!(
        round_trip(&QueryType::from("plain")),
        QueryType::from("plain")
    );

    let tool = ToolMetadata::new("search", "Searches");
    assert_eq!(round_trip(&tool), tool);
    assert_eq!(
        tool.to_openai_tool(),
        json!({"type": "function", "function": {
            "name": "search",
            "description": "Searches",
            "parameters": {"type": "object", "properties": {}},
        }})
    );
}

#[test]
fn roles_serialize_lowercase() {
    let roles = [
        (MessageRole::System, "system"),
        (MessageRole::Developer, "developer"),
        (MessageRole::User, "user"),
        (MessageRole::Assistant, "assistant"),
        (MessageRole::Function, "function"),
        (MessageRole::Tool, "tool"),
        (MessageRole::Chatbot, "chatbot"),
        (MessageRole::Model, "model"),
    ];
    for (role, name) in roles {
        assert_eq!(serde_json::to_value(role).unwrap(), json!(name));
        assert_eq!(
            serde_json::from_value::<MessageRole>(json!(name)).unwrap(),
            role
        );
        assert_eq!(role.to_string(), name);
    }
}

#[test]
fn llama_index_json_reads_back() {
    // A message and a node as LlamaIndex writes them, with fields we do not keep.
    let message: ChatMessage = serde_json::from_value(json!({
        "role": "tool",
        "content": "42",
        "additional_kwargs": {"tool_call_id": "call_1"},
        "blocks": [],
    }))
    .unwrap();
    assert_eq!(message.role, MessageRole::Tool);
    assert_eq!(message.additional_kwargs["tool_call_id"], "call_1");

    let node: NodeWithScore = serde_json::from_value(json!({
        "node": {
            "id_": "abc",
            "embedding": null,
            "metadata": {"page": 2},
            "excluded_embed_metadata_keys": [],
            "relationships": {},
            "text": "hello",
            "class_name": "TextNode",
        },
        "score": 0.5,
    }))
    .unwrap();
    assert_eq!(node.id(), "abc");
    assert_eq!(node.node.metadata["page"], 2);
    assert_eq!(node.score, Some(0.5));
}

//! What each built-in event says about the span it was emitted in, as OpenInference attributes.
//!
//! This runs on the recording thread, because an event is borrowed and gone once its handlers
//! return; it only reads the event's fields and builds a list of attribute writes. Merging them into
//! the span happens on the exporter's thread.

use instrument_core::events::{
    AgentChatWithStepEndEvent, AgentChatWithStepStartEvent, AgentRunStepEndEvent,
    AgentRunStepStartEvent, AgentToolCallEvent, EmbeddingEndEvent, EmbeddingStartEvent,
    ExceptionEvent, GetResponseStartEvent, LLMChatEndEvent, LLMChatInProgressEvent,
    LLMChatStartEvent, LLMCompletionEndEvent, LLMCompletionInProgressEvent,
    LLMCompletionStartEvent, LLMPredictEndEvent, LLMPredictStartEvent,
    LLMStructuredPredictEndEvent, LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent, LLMToolCallEvent, QueryEndEvent, QueryStartEvent,
    ReRankEndEvent, ReRankStartEvent, RetrievalEndEvent, RetrievalStartEvent,
    SparseEmbeddingEndEvent, SparseEmbeddingStartEvent, SynthesizeEndEvent, SynthesizeStartEvent,
};
use instrument_core::llm::{ChatMessage, NodeWithScore, ToolMetadata};
use instrument_core::{EventEnvelope, to_json_guarded, to_json_string_guarded};
use serde_json::{Map, Value};

use super::genai::{self, Operation};
use super::openinference::{
    AttrList, AttrValue, JSON, SpanKind, TEXT, set_input, set_input_text, set_output,
    set_output_text,
};
use crate::token_counting::{PriceTable, Usage, cost_of, usage_from};

/// What one event adds to its span: a kind, attribute writes, and attributes of the OTLP span
/// event that records the moment itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventAttrs {
    pub(crate) kind: Option<SpanKind>,
    pub(crate) attrs: AttrList,
    pub(crate) event_attrs: AttrList,
}

impl EventAttrs {
    fn kind(kind: SpanKind) -> Self {
        Self {
            kind: Some(kind),
            ..Self::default()
        }
    }
}

/// The attributes of a built-in event; `None` for events outside the catalog (they still become
/// OTLP span events, with their name and time only).
pub(crate) fn event_attrs(event: &EventEnvelope<'_>) -> Option<EventAttrs> {
    llm(event)
        .or_else(|| tools_and_agents(event))
        .or_else(|| retrieval(event))
        .or_else(|| queries(event))
}

fn llm(event: &EventEnvelope<'_>) -> Option<EventAttrs> {
    let mut out = EventAttrs::kind(SpanKind::Llm);
    let attrs = &mut out.attrs;
    if let Some(start) = event.downcast_ref::<LLMChatStartEvent>() {
        messages(attrs, "llm.input_messages", &start.messages);
        set_input(attrs, &json(&start.messages));
        model(
            attrs,
            Operation::Chat,
            &start.model_dict,
            &start.additional_kwargs,
        );
    } else if let Some(end) = event.downcast_ref::<LLMChatEndEvent>() {
        messages(attrs, "llm.input_messages", &end.messages);
        if let Some(response) = &end.response {
            messages(
                attrs,
                "llm.output_messages",
                std::slice::from_ref(&response.message),
            );
            set_output_text(attrs, response.message.text().to_owned(), TEXT);
            let usage = tokens(attrs, response.raw.as_ref(), &response.additional_kwargs);
            genai::response(attrs, Operation::Chat, response.raw.as_ref(), usage);
        } else {
            genai::response(attrs, Operation::Chat, None, None);
        }
    } else if let Some(start) = event.downcast_ref::<LLMCompletionStartEvent>() {
        set_input_text(attrs, start.prompt.clone(), TEXT);
        model(
            attrs,
            Operation::TextCompletion,
            &start.model_dict,
            &start.additional_kwargs,
        );
    } else if let Some(end) = event.downcast_ref::<LLMCompletionEndEvent>() {
        set_output_text(attrs, end.response.text.clone(), TEXT);
        let usage = tokens(
            attrs,
            end.response.raw.as_ref(),
            &end.response.additional_kwargs,
        );
        genai::response(
            attrs,
            Operation::TextCompletion,
            end.response.raw.as_ref(),
            usage,
        );
    } else if let Some(start) = event.downcast_ref::<LLMPredictStartEvent>() {
        match &start.template_args {
            Some(args) => set_input_text(attrs, to_json_string_guarded(args), JSON),
            None => set_input(attrs, &start.template),
        }
    } else if let Some(end) = event.downcast_ref::<LLMPredictEndEvent>() {
        set_output_text(attrs, end.output.clone(), TEXT);
    } else if let Some(start) = event.downcast_ref::<LLMStructuredPredictStartEvent>() {
        match &start.template_args {
            Some(args) => set_input_text(attrs, to_json_string_guarded(args), JSON),
            None => set_input(attrs, &start.template),
        }
    } else if let Some(end) = event.downcast_ref::<LLMStructuredPredictEndEvent>() {
        set_output(attrs, &end.output);
    } else if !(event.is::<LLMChatInProgressEvent>()
        || event.is::<LLMCompletionInProgressEvent>()
        || event.is::<LLMStructuredPredictInProgressEvent>())
    {
        return None;
    }
    Some(out)
}

fn tools_and_agents(event: &EventEnvelope<'_>) -> Option<EventAttrs> {
    if let Some(call) = event.downcast_ref::<LLMToolCallEvent>() {
        return Some(tool(&call.tool, &call.arguments));
    }
    if let Some(call) = event.downcast_ref::<AgentToolCallEvent>() {
        return Some(tool(&call.tool, &call.arguments));
    }
    let mut out = EventAttrs::kind(SpanKind::Agent);
    if let Some(start) = event.downcast_ref::<AgentRunStepStartEvent>() {
        if let Some(input) = &start.input {
            set_input_text(&mut out.attrs, input.clone(), TEXT);
        }
    } else if let Some(end) = event.downcast_ref::<AgentRunStepEndEvent>() {
        set_output(&mut out.attrs, &end.step_output);
    } else if let Some(start) = event.downcast_ref::<AgentChatWithStepStartEvent>() {
        set_input_text(&mut out.attrs, start.user_msg.clone(), TEXT);
    } else if let Some(end) = event.downcast_ref::<AgentChatWithStepEndEvent>() {
        if let Some(response) = &end.response {
            set_output(&mut out.attrs, response);
        }
    } else {
        return None;
    }
    Some(out)
}

fn tool(tool: &ToolMetadata, arguments: &str) -> EventAttrs {
    let mut out = EventAttrs::kind(SpanKind::Tool);
    let attrs = &mut out.attrs;
    attrs.push(("tool.name".to_owned(), tool.name.as_str().into()));
    attrs.push((
        "tool.description".to_owned(),
        tool.description.as_str().into(),
    ));
    attrs.push((
        "tool.parameters".to_owned(),
        AttrValue::Str(to_json_string_guarded(&tool.parameters)),
    ));
    let mime = if serde_json::from_str::<Value>(arguments).is_ok() {
        JSON
    } else {
        TEXT
    };
    set_input_text(attrs, arguments.to_owned(), mime);
    out
}

fn retrieval(event: &EventEnvelope<'_>) -> Option<EventAttrs> {
    if let Some(start) = event.downcast_ref::<EmbeddingStartEvent>() {
        return Some(embedding_model(&start.model_dict));
    }
    if let Some(end) = event.downcast_ref::<EmbeddingEndEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Embedding);
        for (i, chunk) in end.chunks.iter().enumerate() {
            let key = format!("embedding.embeddings.{i}.embedding.text");
            out.attrs.push((key, chunk.as_str().into()));
        }
        for (i, vector) in end.embeddings.iter().enumerate() {
            let key = format!("embedding.embeddings.{i}.embedding.vector");
            out.attrs.push((key, AttrValue::Doubles(vector.clone())));
        }
        genai::response(&mut out.attrs, Operation::Embeddings, None, None);
        return Some(out);
    }
    if let Some(start) = event.downcast_ref::<SparseEmbeddingStartEvent>() {
        return Some(embedding_model(&start.model_dict));
    }
    if let Some(end) = event.downcast_ref::<SparseEmbeddingEndEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Embedding);
        for (i, chunk) in end.chunks.iter().enumerate() {
            let key = format!("embedding.embeddings.{i}.embedding.text");
            out.attrs.push((key, chunk.as_str().into()));
        }
        genai::response(&mut out.attrs, Operation::Embeddings, None, None);
        return Some(out);
    }
    if let Some(start) = event.downcast_ref::<RetrievalStartEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Retriever);
        let query = start.str_or_query_bundle.query_str().to_owned();
        set_input_text(&mut out.attrs, query, TEXT);
        return Some(out);
    }
    if let Some(end) = event.downcast_ref::<RetrievalEndEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Retriever);
        let query = end.str_or_query_bundle.query_str().to_owned();
        set_input_text(&mut out.attrs, query, TEXT);
        documents(&mut out.attrs, "retrieval.documents", &end.nodes);
        return Some(out);
    }
    if let Some(start) = event.downcast_ref::<ReRankStartEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Reranker);
        let attrs = &mut out.attrs;
        if let Some(query) = &start.query {
            attrs.push(("reranker.query".to_owned(), query.query_str().into()));
        }
        attrs.push((
            "reranker.model_name".to_owned(),
            start.model_name.as_str().into(),
        ));
        attrs.push((
            "reranker.top_k".to_owned(),
            AttrValue::Int(i64::try_from(start.top_n).unwrap_or(i64::MAX)),
        ));
        documents(attrs, "reranker.input_documents", &start.nodes);
        return Some(out);
    }
    if let Some(end) = event.downcast_ref::<ReRankEndEvent>() {
        let mut out = EventAttrs::kind(SpanKind::Reranker);
        documents(&mut out.attrs, "reranker.output_documents", &end.nodes);
        return Some(out);
    }
    None
}

/// `embedding.model_name`, and the GenAI operation, request model and provider, from an embedding
/// call's start.
fn embedding_model(model_dict: &Map<String, Value>) -> EventAttrs {
    let mut out = EventAttrs::kind(SpanKind::Embedding);
    let name = model_name(model_dict, &Map::new());
    let provider = provider(model_dict, &Map::new());
    genai::request(
        &mut out.attrs,
        Operation::Embeddings,
        name.as_ref(),
        provider.as_deref(),
    );
    if let Some(name) = name {
        out.attrs.push(("embedding.model_name".to_owned(), name));
    }
    out
}

fn queries(event: &EventEnvelope<'_>) -> Option<EventAttrs> {
    let mut out = EventAttrs::kind(SpanKind::Chain);
    let attrs = &mut out.attrs;
    if let Some(start) = event.downcast_ref::<QueryStartEvent>() {
        set_input_text(attrs, start.query.query_str().to_owned(), TEXT);
    } else if let Some(end) = event.downcast_ref::<QueryEndEvent>() {
        set_output(attrs, &end.response);
    } else if let Some(start) = event.downcast_ref::<SynthesizeStartEvent>() {
        set_input_text(attrs, start.query.query_str().to_owned(), TEXT);
    } else if let Some(end) = event.downcast_ref::<SynthesizeEndEvent>() {
        set_output(attrs, &end.response);
    } else if let Some(start) = event.downcast_ref::<GetResponseStartEvent>() {
        set_input_text(attrs, start.query_str.clone(), TEXT);
    } else if let Some(error) = event.downcast_ref::<ExceptionEvent>() {
        out.kind = None;
        out.event_attrs.push((
            "exception.message".to_owned(),
            error.exception.as_str().into(),
        ));
    } else {
        return None;
    }
    Some(out)
}

/// `{prefix}.{i}.message.role` and `.content` for each message.
fn messages(attrs: &mut AttrList, prefix: &str, messages: &[ChatMessage]) {
    for (i, message) in messages.iter().enumerate() {
        attrs.push((
            format!("{prefix}.{i}.message.role"),
            message.role.as_str().into(),
        ));
        if let Some(content) = &message.content {
            attrs.push((
                format!("{prefix}.{i}.message.content"),
                content.as_str().into(),
            ));
        }
    }
}

/// `{prefix}.{i}.document.id`, `.content`, `.score` (when scored) and `.metadata` (as JSON, when
/// not empty) for each node.
fn documents(attrs: &mut AttrList, prefix: &str, nodes: &[NodeWithScore]) {
    for (i, node) in nodes.iter().enumerate() {
        attrs.push((format!("{prefix}.{i}.document.id"), node.id().into()));
        attrs.push((format!("{prefix}.{i}.document.content"), node.text().into()));
        if let Some(score) = node.score {
            attrs.push((
                format!("{prefix}.{i}.document.score"),
                AttrValue::Double(score),
            ));
        }
        if !node.node.metadata.is_empty() {
            attrs.push((
                format!("{prefix}.{i}.document.metadata"),
                AttrValue::Str(to_json_string_guarded(&node.node.metadata)),
            ));
        }
    }
}

/// `llm.model_name`, `llm.provider` and `llm.invocation_parameters` (the model's settings with the
/// call's keyword arguments over them) from an LLM call's start, and the GenAI operation, request
/// model and provider.
fn model(
    attrs: &mut AttrList,
    operation: Operation,
    model_dict: &Map<String, Value>,
    kwargs: &Map<String, Value>,
) {
    let name = model_name(model_dict, kwargs);
    let provider = provider(model_dict, kwargs);
    genai::request(attrs, operation, name.as_ref(), provider.as_deref());
    if let Some(name) = name {
        attrs.push(("llm.model_name".to_owned(), name));
    }
    if let Some(provider) = provider {
        attrs.push(("llm.provider".to_owned(), provider.into()));
    }
    // Through the guard: the model's settings are where API keys sit, and they come from the user.
    let mut parameters = object(to_json_guarded(model_dict));
    parameters.remove("class_name");
    parameters.extend(object(to_json_guarded(kwargs)));
    if !parameters.is_empty() {
        attrs.push((
            "llm.invocation_parameters".to_owned(),
            AttrValue::Str(Value::Object(parameters).to_string()),
        ));
    }
}

/// The first of `model`, `model_name` in the keyword arguments, then in the model's settings.
fn model_name(model_dict: &Map<String, Value>, kwargs: &Map<String, Value>) -> Option<AttrValue> {
    [kwargs, model_dict]
        .into_iter()
        .flat_map(|map| ["model", "model_name"].map(|key| map.get(key)))
        .flatten()
        .find_map(Value::as_str)
        .map(AttrValue::from)
}

/// `provider` when given; else the provider behind the LLM's `class_name` (`OpenAI` → `openai`).
fn provider(model_dict: &Map<String, Value>, kwargs: &Map<String, Value>) -> Option<String> {
    if let Some(provider) = [kwargs, model_dict]
        .into_iter()
        .find_map(|map| map.get("provider").and_then(Value::as_str))
    {
        return Some(provider.to_owned());
    }
    let class = model_dict.get("class_name")?.as_str()?.to_ascii_lowercase();
    const KNOWN: [(&str, &str); 10] = [
        ("azure", "azure"),
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("gemini", "google"),
        ("vertex", "google"),
        ("mistral", "mistralai"),
        ("cohere", "cohere"),
        ("groq", "groq"),
        ("bedrock", "aws"),
        ("deepseek", "deepseek"),
    ];
    KNOWN
        .iter()
        .find(|(needle, _)| class.contains(needle))
        .map(|(_, provider)| (*provider).to_owned())
}

/// `llm.token_count.prompt`, `.completion` and `.total` from the usage the provider reported; that
/// usage.
fn tokens(attrs: &mut AttrList, raw: Option<&Value>, kwargs: &Map<String, Value>) -> Option<Usage> {
    let usage = usage_from(raw, Some(kwargs));
    if let Some(usage) = usage {
        let count = |n: u64| AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
        attrs.push(("llm.token_count.prompt".to_owned(), count(usage.prompt)));
        attrs.push((
            "llm.token_count.completion".to_owned(),
            count(usage.completion),
        ));
        attrs.push(("llm.token_count.total".to_owned(), count(usage.total())));
        if let Some(model) = raw.and_then(|raw| raw["model"].as_str()) {
            cost(attrs, model, &usage);
        }
    }
    usage
}

/// `llm.cost.prompt|completion|total` in US dollars (OpenInference's cost attributes), when the
/// built-in price table knows the model that answered (`raw.model`) and every kind of token it
/// used; nothing otherwise, never a guess.
fn cost(attrs: &mut AttrList, model: &str, usage: &Usage) {
    static TABLE: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
    let Some(cost) = cost_of(model, usage, TABLE.get_or_init(PriceTable::builtin)) else {
        return;
    };
    for (key, amount) in [
        ("llm.cost.prompt", cost.prompt()),
        ("llm.cost.completion", cost.completion),
        ("llm.cost.total", cost.total()),
    ] {
        attrs.push((key.to_owned(), AttrValue::Double(amount.dollars())));
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    to_json_guarded(value)
}

/// The map of a guarded map's JSON (empty if it was not one).
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

//! What a report shows, worked out from exported spans: the traces, each span's place in its
//! tree and its kind, and what its events say about the LLM call, the documents or the tool it
//! stands for. The page's script only draws this; it decides nothing.

use std::collections::HashMap;
use std::ops::Add;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::export::span_kind::SpanKind as Kind;
use crate::export::{ExportedEvent, ExportedSpan, SpanStatus};
use crate::token_counting::{PriceTable, Usage, Usd, cost_of, model, usage_from};

use super::secrets::redacted;

/// The error text of a span cancelled before it ended (a dropped future).
const CANCELLED: &str = "cancelled";

/// Everything a report's page is given.
#[derive(Debug, Serialize)]
pub(crate) struct Digest {
    pub(crate) title: String,
    /// The traces in the order their roots started; traces made of spans whose parents form a
    /// loop come last.
    pub(crate) traces: Vec<Trace>,
    /// Every span, trace by trace, each trace's spans in tree order (a parent before its
    /// children, siblings by start time): a trace's rows are one slice of this.
    pub(crate) spans: Vec<Span>,
}

/// One trace: a root span and everything under it.
#[derive(Debug, Serialize)]
pub(crate) struct Trace {
    /// The root's index in [`Digest::spans`]; the trace's spans follow it.
    pub(crate) first: usize,
    /// How many spans the trace has.
    pub(crate) count: usize,
    pub(crate) name: String,
    pub(crate) trace_id: Option<String>,
    pub(crate) start_unix_nano: u64,
    /// From the first start to the last end among its spans.
    pub(crate) duration_ns: u64,
    pub(crate) status: Status,
    pub(crate) errors: usize,
    /// Tokens reported by its LLM spans, where any did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tokens: Option<u64>,
    /// What they cost, where the models are priced.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub(crate) cost: Option<Usd>,
}

/// How a span ended, as the page marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Error,
    Cancelled,
}

/// One span, placed in its trace.
#[derive(Debug, Serialize)]
pub(crate) struct Span {
    pub(crate) id: String,
    /// The parent's index in [`Digest::spans`]; absent for a trace's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<usize>,
    pub(crate) depth: usize,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) dispatcher: String,
    /// Nanoseconds from its trace's start.
    pub(crate) offset_ns: u64,
    pub(crate) duration_ns: u64,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    pub(crate) args: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub(crate) metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub(crate) tags: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) llm: Option<Llm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) documents: Option<Vec<Document>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool: Option<Tool>,
}

/// One event inside a span.
#[derive(Debug, Serialize)]
pub(crate) struct Event {
    pub(crate) name: String,
    /// Nanoseconds from the span's start.
    pub(crate) offset_ns: u64,
    pub(crate) attributes: Value,
}

/// An LLM call, as its events told it.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Llm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    /// The conversation sent: chat messages, or a completion's prompt as one user message.
    pub(crate) messages: Vec<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_tokens: Option<u64>,
    /// What the calls cost, where their models are priced; summed per trace.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub(crate) cost: Option<Usd>,
}

/// One message of a conversation.
#[derive(Debug, Serialize)]
pub(crate) struct Message {
    pub(crate) role: String,
    pub(crate) content: String,
}

/// One document a retriever or reranker returned, in rank order.
#[derive(Debug, Serialize)]
pub(crate) struct Document {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) score: Option<f64>,
}

/// A tool call.
#[derive(Debug, Serialize)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// Works out the report of `spans` (in any order: a file's, children first).
pub(crate) fn digest(title: &str, spans: Vec<ExportedSpan>) -> Digest {
    let prices = PriceTable::builtin();
    let by_id: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(index, span)| (span.span_id.as_str(), index))
        .collect();
    // A span whose parent is not in the file is a root: a remote caller's child, or a file
    // that holds part of a run.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        match span.parent_id.as_deref().and_then(|p| by_id.get(p)) {
            Some(&parent) if parent != index => children[parent].push(index),
            _ => roots.push(index),
        }
    }
    let start_of = |index: &usize| spans[*index].start_unix_nano;
    roots.sort_by_key(start_of);
    for list in &mut children {
        list.sort_by_key(start_of);
    }
    drop(by_id);

    let mut order = Vec::with_capacity(spans.len());
    // Each trace's root, and its slice of `order`.
    let mut traces: Vec<(usize, usize, usize)> = Vec::with_capacity(roots.len());
    let mut placed = vec![false; spans.len()];
    // Spans whose parents form a loop (a file edited by hand, say) reach no root: each such
    // loop becomes a trace of its own rather than being lost.
    let mut stray = 0..spans.len();
    let mut roots = roots.into_iter();
    while let Some(root) = roots.next().or_else(|| stray.find(|&index| !placed[index])) {
        let first = order.len();
        // Depth first, parents before children; an explicit stack, so a deep tree cannot
        // overflow the thread's.
        let mut stack = vec![(root, None::<usize>, 0usize)];
        while let Some((index, parent, depth)) = stack.pop() {
            if std::mem::replace(&mut placed[index], true) {
                continue;
            }
            let at = order.len();
            order.push((index, parent, depth, traces.len()));
            for &child in children[index].iter().rev() {
                stack.push((child, Some(at), depth + 1));
            }
        }
        traces.push((root, first, order.len() - first));
    }
    drop(children);

    let trace_ids: Vec<Option<String>> = traces
        .iter()
        .map(|&(root, ..)| spans[root].trace_id.clone())
        .collect();
    let mut slots: Vec<Option<ExportedSpan>> = spans.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(order.len());
    let mut trace_starts = Vec::with_capacity(traces.len());
    for &(_, first, count) in &traces {
        let start = order[first..first + count]
            .iter()
            .filter_map(|(index, ..)| slots[*index].as_ref())
            .map(|span| span.start_unix_nano)
            .min()
            .unwrap_or(0);
        trace_starts.push(start);
    }
    for (index, parent, depth, trace) in order {
        let Some(span) = slots[index].take() else {
            continue;
        };
        out.push(span_view(span, parent, depth, trace_starts[trace], &prices));
    }

    let traces = traces
        .into_iter()
        .zip(trace_starts)
        .zip(trace_ids)
        .map(|(((_, first, count), start), trace_id)| {
            trace_view(&out[first..first + count], first, start, trace_id)
        })
        .collect();
    Digest {
        title: title.to_owned(),
        traces,
        spans: out,
    }
}

fn trace_view(spans: &[Span], first: usize, start: u64, trace_id: Option<String>) -> Trace {
    let root = &spans[0];
    let end = spans
        .iter()
        .map(|span| span.offset_ns.saturating_add(span.duration_ns))
        .max()
        .unwrap_or(0);
    let errors = spans.iter().filter(|s| s.status != Status::Ok).count();
    let llms = || spans.iter().filter_map(|span| span.llm.as_ref());
    let tokens = llms()
        .filter_map(|llm| llm.total_tokens)
        .reduce(u64::saturating_add);
    let cost = llms().filter_map(|llm| llm.cost).reduce(Add::add);
    Trace {
        first,
        count: spans.len(),
        name: root.name.clone(),
        trace_id,
        start_unix_nano: start,
        duration_ns: end,
        status: root.status,
        errors,
        tokens,
        cost,
    }
}

fn span_view(
    mut span: ExportedSpan,
    parent: Option<usize>,
    depth: usize,
    trace_start: u64,
    prices: &PriceTable,
) -> Span {
    let status = match (span.status, span.error.as_deref()) {
        (SpanStatus::Ok, _) => Status::Ok,
        (SpanStatus::Error, Some(CANCELLED)) => Status::Cancelled,
        (SpanStatus::Error, _) => Status::Error,
    };
    for event in &mut span.events {
        event.attributes = redacted(std::mem::take(&mut event.attributes));
    }
    let kind = kind_of(&span);
    let llm = (kind == Kind::Llm).then(|| llm_of(&span.events, prices));
    let documents = matches!(kind, Kind::Retriever | Kind::Reranker)
        .then(|| documents_of(&span.events))
        .flatten();
    let tool = tool_of(&span.events);
    let start = span.start_unix_nano;
    let events = span
        .events
        .into_iter()
        .map(|event| Event {
            offset_ns: event.time_unix_nano.saturating_sub(start),
            attributes: compact(&event.name, event.attributes),
            name: event.name,
        })
        .collect();
    Span {
        id: span.span_id,
        parent,
        depth,
        name: span.name,
        kind,
        dispatcher: span.dispatcher,
        offset_ns: start.saturating_sub(trace_start),
        duration_ns: span.duration_ns,
        status,
        error: span.error,
        args: redacted_map(span.attributes.args),
        result: span.attributes.result.map(redacted),
        metadata: redacted_map(span.attributes.metadata),
        tags: redacted_map(span.attributes.tags),
        events,
        llm,
        documents,
        tool,
    }
}

fn redacted_map(map: Map<String, Value>) -> Map<String, Value> {
    match redacted(Value::Object(map)) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A streamed call's progress events repeat the conversation and the whole answer so far each
/// time: kept with their delta only, so that a stream of N pieces costs the file O(N), not
/// O(N²). The start and end events keep everything.
pub(crate) fn compact(name: &str, attributes: Value) -> Value {
    let Value::Object(mut map) = attributes else {
        return attributes;
    };
    if name.ends_with("InProgressEvent") {
        map.remove("messages");
        map.remove("prompt");
        if let Some(Value::Object(response)) = map.get_mut("response") {
            response.retain(|key, _| key == "delta");
        }
    }
    Value::Object(map)
}

/// The span's kind, from the catalog events emitted in it (the first that tells), else from a
/// kind recorded as metadata, else a chain.
fn kind_of(span: &ExportedSpan) -> Kind {
    span.events
        .iter()
        .find_map(|event| event_kind(&event.name))
        .or_else(|| {
            ["openinference.span.kind", "span.kind", "kind"]
                .iter()
                .find_map(|key| span.attributes.metadata.get(*key)?.as_str())
                .and_then(Kind::named)
        })
        .unwrap_or(Kind::Chain)
}

fn event_kind(name: &str) -> Option<Kind> {
    let name = name.strip_suffix("Event")?;
    Some(if name.starts_with("LLM") && name != "LLMToolCall" {
        Kind::Llm
    } else if name.starts_with("Embedding") || name.starts_with("SparseEmbedding") {
        Kind::Embedding
    } else if name.starts_with("Retrieval") {
        Kind::Retriever
    } else if name.starts_with("ReRank") {
        Kind::Reranker
    } else if name == "AgentToolCall" || name == "LLMToolCall" {
        Kind::Tool
    } else if name.starts_with("Agent") {
        Kind::Agent
    } else {
        return None;
    })
}

/// The conversation, response, model, tokens and cost of an LLM span, from its events: the
/// start event's messages or prompt, the end event's response and usage, the model as token
/// counting reads it (the one the response says served the call, else the one its start named).
fn llm_of(events: &[ExportedEvent], prices: &PriceTable) -> Llm {
    let mut llm = Llm::default();
    // Each end event is one call's answer; a span that made several adds them up.
    let mut usages = Vec::new();
    for event in events {
        let attributes = &event.attributes;
        if event.name.ends_with("StartEvent") {
            if let Some(messages) = attributes.get("messages").and_then(Value::as_array) {
                llm.messages = messages.iter().map(message).collect();
            } else if let Some(prompt) = attributes.get("prompt").and_then(Value::as_str) {
                llm.messages = vec![Message {
                    role: "user".to_owned(),
                    content: prompt.to_owned(),
                }];
            }
            let settings = ["additional_kwargs", "model_dict"]
                .map(|key| attributes.get(key).and_then(Value::as_object));
            if let Some(model) =
                model::named_in(&settings.into_iter().flatten().collect::<Vec<_>>())
            {
                llm.model = Some(model);
            }
        } else if event.name.ends_with("EndEvent") {
            if llm.messages.is_empty()
                && let Some(messages) = attributes.get("messages").and_then(Value::as_array)
            {
                llm.messages = messages.iter().map(message).collect();
            }
            let Some(response) = attributes.get("response").filter(|r| !r.is_null()) else {
                continue;
            };
            llm.response = Some(match response.get("message") {
                Some(reply) => message(reply),
                None => Message {
                    role: "assistant".to_owned(),
                    content: text_of(response.get("text").unwrap_or(response)),
                },
            });
            let raw = response.get("raw");
            // The model that served the call, else the one its start named.
            if let Some(served) = model::served(raw) {
                llm.model = Some(served);
            }
            let model = llm.model.clone();
            if let Some(usage) = usage_from(
                raw,
                response.get("additional_kwargs").and_then(Value::as_object),
            ) {
                usages.push((model, usage));
            }
        }
    }
    let sum = |part: fn(&Usage) -> u64| {
        usages
            .iter()
            .map(|(_, usage)| part(usage))
            .reduce(u64::saturating_add)
    };
    llm.prompt_tokens = sum(|usage| usage.prompt);
    llm.completion_tokens = sum(|usage| usage.completion);
    llm.total_tokens = sum(Usage::total);
    // Priced when every call's model is.
    let costs: Option<Vec<Usd>> = usages
        .iter()
        .map(|(model, usage)| Some(cost_of(model.as_deref()?, usage, prices)?.total()))
        .collect();
    llm.cost = costs
        .filter(|costs| !costs.is_empty())
        .map(|costs| costs.into_iter().sum());
    llm
}

fn message(value: &Value) -> Message {
    Message {
        role: value
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user")
            .to_owned(),
        content: value.get("content").map_or_else(|| text_of(value), text_of),
    }
}

/// A value as text: a string as it is, anything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The documents of a retriever's or reranker's end event, in rank order.
fn documents_of(events: &[ExportedEvent]) -> Option<Vec<Document>> {
    let nodes = events
        .iter()
        .rev()
        .filter(|event| event.name.ends_with("EndEvent"))
        .find_map(|event| event.attributes.get("nodes")?.as_array())?;
    Some(
        nodes
            .iter()
            .map(|scored| {
                let node = scored.get("node").unwrap_or(scored);
                Document {
                    id: node
                        .get("id_")
                        .or_else(|| node.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    text: text_of(node.get("text").unwrap_or(node)),
                    score: scored.get("score").and_then(Value::as_f64),
                }
            })
            .collect(),
    )
}

/// The tool called in a span, from its tool-call event.
fn tool_of(events: &[ExportedEvent]) -> Option<Tool> {
    let call = events
        .iter()
        .find(|event| event.name == "AgentToolCallEvent" || event.name == "LLMToolCallEvent")?;
    let name = call
        .attributes
        .get("tool")
        .and_then(|tool| tool.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let arguments = call
        .attributes
        .get("arguments")
        .map(text_of)
        .unwrap_or_default();
    Some(Tool { name, arguments })
}

/// An amount as the page shows it: `$0.00045`.
fn as_text<S: Serializer>(amount: &Option<Usd>, serializer: S) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => serializer.collect_str(amount),
        None => serializer.serialize_none(),
    }
}

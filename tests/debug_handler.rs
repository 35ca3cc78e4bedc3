//! `DebugHandler`: event pairs by type and id, timing, flushing, bounded storage, and the trace
//! printout in LlamaIndex's format.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use instrument::callbacks::{
    CBEventType, CallbackError, CallbackHandler, CallbackManager, EventPayload, Payload,
    ROOT_EVENT_ID, TraceMap,
};
use instrument::handlers::{DebugHandler, EventStage, EventStats, LlamaDebugHandler};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A clock that moves a quarter of a second each time it is read.
fn stepping_clock() -> impl Fn() -> DateTime<Utc> + Send + Sync + 'static {
    let ticks = AtomicI64::new(0);
    let epoch = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    move || epoch + TimeDelta::milliseconds(250 * ticks.fetch_add(1, Ordering::Relaxed))
}

/// Query { Retrieve, Synthesize { Llm } }, every start and end one tick apart.
fn run_query(manager: &CallbackManager) -> Result<(), CallbackError> {
    manager.with_trace("query", || {
        let query = manager.event(
            CBEventType::Query,
            Some(Payload::new().with(EventPayload::QueryStr, "why?")),
        )?;
        manager.event(CBEventType::Retrieve, None)?.on_end(None)?;
        let synthesize = manager.event(CBEventType::Synthesize, None)?;
        let llm = manager.event(
            CBEventType::Llm,
            Some(Payload::new().with(EventPayload::Prompt, "Say why.")),
        )?;
        llm.on_end(Some(
            Payload::new().with(EventPayload::Completion, "Because."),
        ))?;
        synthesize.on_end(None)?;
        query.on_end(Some(
            Payload::new().with(EventPayload::Response, "Because."),
        ))
    })
}

const EXPECTED: &str = "\
**********
Trace: query
    |_CBEventType.QUERY -> 1.750000 seconds
      |_CBEventType.RETRIEVE -> 0.250000 seconds
      |_CBEventType.SYNTHESIZE -> 0.750000 seconds
        |_CBEventType.LLM -> 0.250000 seconds
**********
";

#[test]
fn prints_the_trace_when_it_ends_in_llamaindex_format() -> Result<(), CallbackError> {
    let out = Shared::default();
    let debug = Arc::new(
        DebugHandler::new()
            .with_writer(out.clone())
            .with_clock(stepping_clock()),
    );
    assert!(debug.print_trace_on_end());
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    assert_eq!(out.text(), EXPECTED);
    Ok(())
}

#[test]
fn printing_can_be_switched_off_and_on() -> Result<(), CallbackError> {
    let out = Shared::default();
    let debug = Arc::new(
        DebugHandler::new()
            .with_writer(out.clone())
            .with_clock(stepping_clock())
            .with_print_trace_on_end(false),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    assert_eq!(out.text(), "");

    debug.set_print_trace_on_end(true);
    run_query(&manager)?;
    assert!(out.text().starts_with("**********\nTrace: query\n"));
    Ok(())
}

#[test]
fn format_trace_draws_any_trace_map() -> Result<(), CallbackError> {
    let debug = Arc::new(
        DebugHandler::new()
            .with_print_trace_on_end(false)
            .with_clock(stepping_clock()),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    let query = manager.event(CBEventType::Query, None)?;
    let query_id = query.id().to_owned();
    let open = manager.event(CBEventType::Retrieve, None)?;
    let open_id = open.id().to_owned();
    std::mem::forget(open); // never ends
    query.on_end(None)?;

    let mut map = TraceMap::new();
    map.push(ROOT_EVENT_ID, query_id.clone());
    map.push(&query_id, "unknown");
    map.push("unknown", open_id);
    assert_eq!(
        debug.format_trace(Some("t"), &map),
        "**********\n\
         Trace: t\n    \
         |_CBEventType.QUERY -> 0.500000 seconds\n        \
         |_CBEventType.RETRIEVE -> 0.000000 seconds\n\
         **********\n",
    );
    assert_eq!(
        debug.format_trace(None, &TraceMap::new()),
        "**********\nTrace: None\n**********\n"
    );
    Ok(())
}

#[test]
fn pairs_by_type_and_by_id_in_start_order() -> Result<(), CallbackError> {
    let debug = Arc::new(
        DebugHandler::new()
            .with_print_trace_on_end(false)
            .with_clock(stepping_clock()),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;

    let all = debug.get_event_pairs(None);
    let types: Vec<_> = all.iter().map(|p| p.event_type()).collect();
    assert_eq!(
        types,
        [
            CBEventType::Query,
            CBEventType::Retrieve,
            CBEventType::Synthesize,
            CBEventType::Llm
        ]
    );
    for pair in &all {
        let (start, end) = (pair.start().unwrap(), pair.end().unwrap());
        assert_eq!(start.id, end.id);
        assert!(start.time <= end.time);
        assert_eq!(
            (pair.len(), start.stage, end.stage),
            (2, EventStage::Start, EventStage::End)
        );
    }

    let llm = debug.get_llm_inputs_outputs();
    assert_eq!(llm.len(), 1);
    assert_eq!(
        llm[0][0]
            .payload
            .as_ref()
            .unwrap()
            .get_str(EventPayload::Prompt),
        Some("Say why.")
    );
    assert_eq!(
        llm[0][1]
            .payload
            .as_ref()
            .unwrap()
            .get_str(EventPayload::Completion),
        Some("Because.")
    );
    let events = llm[0].clone().into_events();
    assert_eq!(
        (events[0].event_type, events[1].event_type),
        (CBEventType::Llm, CBEventType::Llm)
    );
    assert_eq!(debug.get_event_pairs(Some(CBEventType::Retrieve)).len(), 1);
    assert!(
        debug
            .get_event_pairs(Some(CBEventType::Embedding))
            .is_empty()
    );
    Ok(())
}

#[test]
fn time_info_sums_and_averages_per_type() -> Result<(), CallbackError> {
    let debug = Arc::new(
        DebugHandler::new()
            .with_print_trace_on_end(false)
            .with_clock(stepping_clock()),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    run_query(&manager)?;

    assert_eq!(
        debug.get_event_time_info(CBEventType::Query),
        EventStats {
            total_secs: 3.5,
            average_secs: 1.75,
            total_count: 2
        }
    );
    assert_eq!(
        debug.get_event_time_info(CBEventType::Llm),
        EventStats {
            total_secs: 0.5,
            average_secs: 0.25,
            total_count: 2
        }
    );
    assert_eq!(
        debug.get_event_time_info(CBEventType::Tree),
        EventStats::default()
    );
    Ok(())
}

#[test]
fn flush_forgets_everything() -> Result<(), CallbackError> {
    let debug = Arc::new(DebugHandler::new().with_print_trace_on_end(false));
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    assert_eq!(debug.len(), 4);
    debug.flush_event_logs();
    assert!(debug.is_empty());
    assert!(debug.get_event_pairs(None).is_empty());
    assert_eq!(debug.get_event_time_info(CBEventType::Query).total_count, 0);
    Ok(())
}

#[test]
fn storage_is_bounded_and_evicts_the_oldest() -> Result<(), CallbackError> {
    let debug = Arc::new(DebugHandler::with_capacity(3).with_print_trace_on_end(false));
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    assert_eq!(debug.capacity(), 3);
    assert_eq!(debug.len(), 3);
    // The LLM's start evicted the query; the query's end came back as an end alone, evicting the
    // retrieval, the oldest id then.
    assert_eq!(debug.evicted(), 2);
    let kept: Vec<_> = debug
        .get_event_pairs(None)
        .iter()
        .map(|p| (p.event_type(), p.is_complete()))
        .collect();
    assert_eq!(
        kept,
        [
            (CBEventType::Synthesize, true),
            (CBEventType::Llm, true),
            (CBEventType::Query, false),
        ]
    );
    Ok(())
}

#[test]
fn ignored_starts_and_ends_are_left_out_and_the_other_half_kept() -> Result<(), CallbackError> {
    let debug = Arc::new(
        DebugHandler::new()
            .with_print_trace_on_end(false)
            .with_event_starts_to_ignore([CBEventType::Llm])
            .with_event_ends_to_ignore([CBEventType::Llm, CBEventType::Retrieve]),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    assert!(debug.get_llm_inputs_outputs().is_empty());
    let retrieve = debug.get_event_pairs(Some(CBEventType::Retrieve));
    assert_eq!(retrieve.len(), 1);
    assert!(retrieve[0].start().is_some() && retrieve[0].end().is_none());
    assert!(!retrieve[0].is_complete());
    assert_eq!(retrieve[0].duration_secs(), 0.0);
    assert_eq!(debug.get_event_pairs(None).len(), 3);
    Ok(())
}

// Ported from LlamaIndex's `tests/callbacks/test_llama_debug.py`.

const TEST_ID: &str = "my awesome test ID with the best name";

fn test_payload() -> Payload {
    Payload::new()
        .with(EventPayload::Chunks, vec!["one"])
        .with(EventPayload::Response, "two")
}

#[test]
fn llamaindex_on_event_start() -> Result<(), CallbackError> {
    let handler = LlamaDebugHandler::new();
    let event_id = handler.on_event_start(
        CBEventType::Llm,
        Some(&test_payload()),
        TEST_ID,
        ROOT_EVENT_ID,
    )?;
    assert_eq!(event_id, TEST_ID);
    assert_eq!(handler.event_pairs_by_type().len(), 1);
    assert_eq!(handler.sequential_events().len(), 1);
    let events = &handler.event_pairs_by_type()[&CBEventType::Llm];
    assert_eq!(events[0].payload, Some(test_payload()));
    Ok(())
}

#[test]
fn llamaindex_on_event_end() -> Result<(), CallbackError> {
    let handler = LlamaDebugHandler::new();
    handler.on_event_end(CBEventType::Embedding, Some(&test_payload()), TEST_ID)?;
    assert_eq!(handler.event_pairs_by_type().len(), 1);
    assert_eq!(handler.sequential_events().len(), 1);
    let events = &handler.event_pairs_by_type()[&CBEventType::Embedding];
    assert_eq!(events[0].payload, Some(test_payload()));
    assert_eq!(events[0].id, TEST_ID);
    assert_eq!(events[0].stage, EventStage::End);
    Ok(())
}

#[test]
fn llamaindex_get_event_stats() -> Result<(), CallbackError> {
    let handler = LlamaDebugHandler::new().with_clock(stepping_clock());
    let event_id =
        handler.on_event_start(CBEventType::Chunking, Some(&test_payload()), "c", "root")?;
    handler.on_event_end(CBEventType::Chunking, None, &event_id)?;
    assert_eq!(
        handler.event_pairs_by_type()[&CBEventType::Chunking].len(),
        2
    );
    let stats = handler.get_event_time_info(CBEventType::Chunking);
    assert_eq!(stats.total_count, 1);
    assert!(stats.total_secs > 0.0);
    Ok(())
}

#[test]
fn llamaindex_flush_events() -> Result<(), CallbackError> {
    let handler = LlamaDebugHandler::new();
    for id in ["a", "b"] {
        let event_id =
            handler.on_event_start(CBEventType::Chunking, Some(&test_payload()), id, "root")?;
        handler.on_event_end(CBEventType::Chunking, None, &event_id)?;
    }
    assert_eq!(
        handler.event_pairs_by_type()[&CBEventType::Chunking].len(),
        4
    );
    handler.flush_event_logs();
    assert_eq!(handler.event_pairs_by_type().len(), 0);
    assert_eq!(handler.sequential_events().len(), 0);
    Ok(())
}

#[test]
fn llamaindex_ignore_events() -> Result<(), CallbackError> {
    let handler = Arc::new(
        LlamaDebugHandler::new()
            .with_print_trace_on_end(false)
            .with_event_starts_to_ignore([CBEventType::Chunking])
            .with_event_ends_to_ignore([CBEventType::Llm]),
    );
    let manager = CallbackManager::new(vec![handler.clone()]);
    for event_type in [
        CBEventType::Chunking,
        CBEventType::Llm,
        CBEventType::Embedding,
    ] {
        let event_id = manager.on_event_start(event_type, Some(&test_payload()), None, None)?;
        manager.on_event_end(event_type, Some(&test_payload()), Some(&event_id))?;
    }
    assert_eq!(handler.event_pairs_by_type().len(), 3);
    assert_eq!(handler.sequential_events().len(), 4);
    // In the order they came: the chunking end, the LLM start, the embedding's start and end.
    let stages: Vec<_> = handler
        .get_events(None)
        .iter()
        .map(|e| (e.event_type, e.stage))
        .collect();
    assert_eq!(
        stages,
        [
            (CBEventType::Chunking, EventStage::End),
            (CBEventType::Llm, EventStage::Start),
            (CBEventType::Embedding, EventStage::Start),
            (CBEventType::Embedding, EventStage::End),
        ]
    );
    assert_eq!(handler.get_events(Some(CBEventType::Embedding)).len(), 2);
    Ok(())
}

#[test]
fn print_trace_map_prints_the_trace_last_ended() -> Result<(), CallbackError> {
    let out = Shared::default();
    let debug = Arc::new(
        DebugHandler::new()
            .with_print_trace_on_end(false)
            .with_clock(stepping_clock())
            .with_writer(out.clone()),
    );
    let manager = CallbackManager::new(vec![debug.clone()]);
    run_query(&manager)?;
    debug.print_trace_map();
    let text = out.text();
    assert!(text.starts_with("**********\nTrace: query\n"), "{text}");
    assert_eq!(text.matches("|_CBEventType.").count(), 4, "{text}");
    assert_eq!(debug.format_trace_map(), text);
    Ok(())
}

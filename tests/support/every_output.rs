//! Every handler and exporter on one dispatcher, and everything they produced read back: for tests
//! that a value, however odd, costs no span and leaks nowhere.
//!
//! Installed: `SimpleSpanHandler`; a `CallbackBridge` to a `CallbackManager` holding a
//! `DebugHandler` (printing into a buffer) and a `FineTuningHandler`; `JsonlExporter` and
//! `ChromeTraceExporter` writing files; `OtlpExporter` sending to the in-process receiver.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use instrument::Dispatcher;
use instrument::callbacks::{CallbackBridge, CallbackManager};
use instrument::handlers::export::otlp::OtlpExporter;
use instrument::handlers::export::otlp::proto::{Message, Span};
use instrument::handlers::export::{ChromeTraceExporter, ExportedSpan, JsonlExporter, read_jsonl};
use instrument::handlers::{
    CBEvent, DebugHandler, FineTuningHandler, SimpleSpan, SimpleSpanHandler,
};
use serde_json::Value;

use super::otlp_receiver::{Answer, Receiver, spans};

/// A `Write` into a buffer the test reads.
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A file for one test, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "instrument-every-output-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The handlers and exporters, installed on `dispatcher`.
pub struct EveryOutput {
    pub dispatcher: &'static Dispatcher,
    pub simple: &'static SimpleSpanHandler,
    pub debug: Arc<DebugHandler>,
    debug_printout: SharedBuf,
    pub finetuning: FineTuningHandler,
    /// The manager the bridge calls; tests may also call it directly.
    pub callbacks: CallbackManager,
    jsonl: JsonlExporter,
    jsonl_file: TempFile,
    chrome: ChromeTraceExporter,
    chrome_file: TempFile,
    finetuning_file: TempFile,
    otlp: OtlpExporter,
    receiver: Receiver,
}

/// Everything the outputs held, read back.
pub struct Outputs {
    pub simple: Vec<SimpleSpan>,
    /// `SimpleSpanHandler::format_trace_trees`.
    pub simple_trees: String,
    pub debug_events: Vec<CBEvent>,
    /// What the `DebugHandler` printed, plus `format_trace_map`.
    pub debug_printout: String,
    pub jsonl_text: String,
    pub jsonl: Vec<ExportedSpan>,
    pub chrome_text: String,
    pub chrome: Value,
    pub finetuning_text: String,
    pub otlp: Vec<Span>,
    /// The OTLP requests as protobuf bytes, as they went over the wire (before gzip).
    pub otlp_bytes: Vec<u8>,
}

impl Outputs {
    /// Every output as text, by name: for greps.
    pub fn texts(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SimpleSpanHandler spans", format!("{:?}", self.simple)),
            (
                "SimpleSpanHandler spans as JSON",
                serde_json::to_string(&self.simple).unwrap(),
            ),
            ("SimpleSpanHandler trees", self.simple_trees.clone()),
            (
                "DebugHandler events",
                serde_json::to_string(&self.debug_events).unwrap(),
            ),
            (
                "DebugHandler events (Debug)",
                format!("{:?}", self.debug_events),
            ),
            ("DebugHandler printout", self.debug_printout.clone()),
            ("JsonlExporter file", self.jsonl_text.clone()),
            ("ChromeTraceExporter file", self.chrome_text.clone()),
            ("FineTuningHandler file", self.finetuning_text.clone()),
            (
                "OtlpExporter bytes",
                String::from_utf8_lossy(&self.otlp_bytes).into_owned(),
            ),
        ]
    }

    pub fn jsonl_span(&self, name: &str) -> &ExportedSpan {
        let found: Vec<_> = self.jsonl.iter().filter(|s| s.name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "{name} in the JSONL file: {:#?}",
            self.jsonl
        );
        found[0]
    }

    pub fn simple_span(&self, name: &str) -> &SimpleSpan {
        let found: Vec<_> = self.simple.iter().filter(|s| s.name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "{name} in SimpleSpanHandler: {:#?}",
            self.simple
        );
        found[0]
    }

    /// The Chrome trace's complete ("X") event of span `name`.
    pub fn chrome_span(&self, name: &str) -> &Value {
        let found: Vec<_> = self.chrome["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X" && e["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "{name} in the Chrome trace");
        found[0]
    }

    /// The Chrome trace's instant events.
    pub fn chrome_instants(&self) -> Vec<&Value> {
        self.chrome["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "i")
            .collect()
    }

    pub fn otlp_span(&self, name: &str) -> &Span {
        let found: Vec<_> = self.otlp.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "{name} in OTLP: {:#?}", self.otlp);
        found[0]
    }
}

/// A string attribute of an OTLP span.
pub fn otlp_text<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    super::otlp_receiver::string_attr(&span.attributes, key)
}

impl EveryOutput {
    pub fn install(test: &str) -> Self {
        let dispatcher: &'static Dispatcher = instrument::get_dispatcher(test);
        let simple = dispatcher.add_span_handler(SimpleSpanHandler::default());

        let debug_printout = SharedBuf::default();
        let debug = Arc::new(DebugHandler::new().with_writer(debug_printout.clone()));
        let finetuning = FineTuningHandler::new().with_verbose(false);
        let callbacks = CallbackManager::new(vec![debug.clone(), Arc::new(finetuning.clone())]);
        let bridge = CallbackBridge::new(callbacks.clone());
        dispatcher.add_event_handler(bridge.clone());
        dispatcher.add_span_handler(bridge);

        let jsonl_file = TempFile::new(&format!("{test}.jsonl"));
        let jsonl = JsonlExporter::create(&jsonl_file.0).unwrap();
        jsonl.register(dispatcher);

        let chrome_file = TempFile::new(&format!("{test}.json"));
        let chrome = ChromeTraceExporter::new();
        chrome.register(dispatcher);

        let receiver = Receiver::start(Answer::OK);
        let otlp = OtlpExporter::new(receiver.url()).unwrap();
        otlp.register(dispatcher);

        Self {
            dispatcher,
            simple,
            debug,
            debug_printout,
            finetuning,
            callbacks,
            jsonl,
            jsonl_file,
            chrome,
            chrome_file,
            finetuning_file: TempFile::new(&format!("{test}.finetuning.jsonl")),
            otlp,
            receiver,
        }
    }

    /// Flushes every exporter and reads every output back.
    pub fn finish(&self) -> Outputs {
        self.jsonl.flush().unwrap();
        self.chrome.write_to(&self.chrome_file.0).unwrap();
        self.finetuning
            .save_finetuning_events(&self.finetuning_file.0)
            .unwrap();
        self.otlp.flush(Duration::from_secs(10)).unwrap();
        let received = self.receiver.take();
        let mut otlp_bytes = Vec::new();
        for request in &received {
            otlp_bytes.extend(request.request.encode_to_vec());
        }
        let chrome_text = self.chrome_file.text();
        Outputs {
            simple: self.simple.completed(),
            simple_trees: self.simple.format_trace_trees(),
            debug_events: self.debug.sequential_events(),
            debug_printout: format!(
                "{}{}",
                self.debug_printout.text(),
                self.debug.format_trace_map()
            ),
            jsonl_text: self.jsonl_file.text(),
            jsonl: read_jsonl(&self.jsonl_file.0).unwrap(),
            chrome: serde_json::from_str(&chrome_text).unwrap(),
            chrome_text,
            finetuning_text: self.finetuning_file.text(),
            otlp: spans(&received),
            otlp_bytes,
        }
    }
}

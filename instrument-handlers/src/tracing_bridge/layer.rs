//! `InstrumentLayer`: `tracing` spans and events as instrument spans and events.

use instrument_core::{Arg, Context, Dispatcher, SpanGuard, SpanId, current_span, current_tags};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::event::TracingEvent;
use super::fields::{self, Fields};
use super::loop_guard::{self, Bridging};
use super::{entered, genai, target};

/// A [`Layer`] that turns the `tracing` spans and events of other crates (reqwest, tokio, sqlx …)
/// into instrument spans and [`TracingEvent`]s, on the dispatcher named after each one's target.
///
/// Add it to a [`tracing_subscriber::Registry`]-based subscriber. A `tracing` span becomes an
/// instrument span called by the span's name, with its fields as arguments; it is current in
/// instrument while it is entered in `tracing`, and ends when `tracing` closes it. Its parent is:
///
/// - for a span opened in the current context, instrument's current span: the bridged span of the
///   entered `tracing` span, or an instrument span opened inside it, or, outside any `tracing`
///   span, the instrument span the code runs in;
/// - for a span given an explicit parent, that parent's bridged span (or the nearest bridged
///   ancestor's); none for an explicit root.
///
/// A bridged span ends normally, with the fields recorded after it started as its result
/// (`"recorded"`), unless it has an `error` field, or an `ERROR` event with an `error` field happened
/// directly in it (what `#[tracing::instrument(err)]` emits): then it is dropped with that error's
/// text, and handlers see a `SpanDropEvent`.
///
/// Spans that follow the OpenTelemetry GenAI conventions (`gen_ai.operation.name` and friends, as
/// `rig` records its model calls) become LLM calls too: when such a span closes, the catalog's
/// events for it (`LLMChatStartEvent` and `LLMChatEndEvent` with the messages, model and usage;
/// completion, embedding, tool-call and agent events) are emitted inside its bridged span, so
/// `TokenCountingHandler`, `FineTuningHandler` and the exporters see the call as they see one
/// made in instrument. The field names read and how each becomes an event are in the docs of the
/// `genai` module of this bridge (source `tracing_bridge/genai/mod.rs`);
/// [`InstrumentLayer::without_genai`] turns this off.
///
/// Only dispatchers with a handler anywhere up their chain cost more than a lookup: a span or event
/// whose dispatcher has none is not bridged, and its fields are never read. Spans and events made by
/// [`super::TracingForwarder`] are ignored, so the two directions can be installed together.
///
/// ```
/// use instrument::handlers::SimpleSpanHandler;
/// use instrument::handlers::tracing_bridge::InstrumentLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let spans = instrument::get_dispatcher("doc_layer::db")
///     .add_span_handler(SimpleSpanHandler::default());
/// let subscriber = tracing_subscriber::Registry::default().with(InstrumentLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!(target: "doc_layer::db", "query", table = "users").in_scope(|| ());
/// });
/// assert_eq!(spans.completed()[0].name, "query");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct InstrumentLayer {
    genai: bool,
}

impl Default for InstrumentLayer {
    fn default() -> Self {
        Self { genai: true }
    }
}

impl InstrumentLayer {
    /// A layer that bridges every span and event whose dispatcher has handlers, and emits the
    /// catalog's LLM events for spans that follow the GenAI conventions.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer, bridging GenAI spans as plain spans: no catalog events for them. For programs
    /// that already emit LLM events around the same calls, which would otherwise be counted twice.
    #[must_use]
    pub fn without_genai(self) -> Self {
        Self { genai: false }
    }
}

/// What a bridged span keeps in its `tracing` extensions.
struct Bridged {
    id: SpanId,
    /// The bridged span's context: its id and the trace it belongs to, for entering it and for
    /// its descendants.
    context: Context,
    guard: Option<SpanGuard>,
    /// The dispatcher the span was started on, which its GenAI events are emitted on.
    dispatcher: &'static Dispatcher,
    /// The `tracing` span's name.
    name: &'static str,
    /// The span's fields, as given at creation and recorded after.
    fields: Fields,
    /// The fields recorded after creation, which the span ends with.
    recorded: Fields,
    /// The error of an `ERROR` event with an `error` field inside the span.
    error: Option<String>,
}

impl<S> Layer<S> for InstrumentLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let metadata = attrs.metadata();
        if loop_guard::is_forwarded(metadata) {
            return;
        }
        let dispatcher = target::dispatcher(metadata);
        if !dispatcher.is_enabled() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // The parent's context: the current one when instrument has a current span, else the
        // nearest bridged ancestor's (with its trace), else none.
        let parent = if attrs.is_contextual() && current_span().id().is_some() {
            None
        } else {
            match bridged_ancestor(span.parent()) {
                Some(ancestor) => Some(ancestor),
                // No span anywhere: the context as it is (a trace it carries included).
                None if attrs.is_contextual() => None,
                // An explicit root.
                None => Some(Context::default()),
            }
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let mut guard = {
            let _bridging = Bridging::enter();
            let _parent = parent.map(|parent| parent.with_tags(current_tags()).attach());
            dispatcher.enter_span(metadata.name(), &fields.args())
        };
        let Some(bridged) = guard.id() else {
            return; // inside an instrument handler: nothing records
        };
        let context = guard.in_scope(Context::current);
        span.extensions_mut().insert(Bridged {
            id: bridged,
            context,
            guard: Some(guard),
            dispatcher,
            name: metadata.name(),
            fields,
            recorded: Fields::default(),
            error: None,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(bridged) = extensions.get_mut::<Bridged>() {
            values.record(&mut bridged.fields);
            values.record(&mut bridged.recorded);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        if let Some(bridged) = bridged_context(ctx.span(id)) {
            entered::enter(bridged);
        }
    }

    fn on_exit(&self, id: &Id, ctx: LayerContext<'_, S>) {
        if let Some(bridged) = bridged_id(ctx.span(id)) {
            entered::exit(bridged);
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(mut bridged) = span.extensions_mut().remove::<Bridged>() else {
            return;
        };
        let Some(guard) = bridged.guard.take() else {
            return;
        };
        end(guard, bridged, self.genai);
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        if loop_guard::is_forwarded(metadata) {
            return;
        }
        let marks_error =
            *metadata.level() == Level::ERROR && metadata.fields().field(fields::ERROR).is_some();
        let dispatcher = target::dispatcher(metadata);
        if !marks_error && !dispatcher.is_enabled() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if marks_error {
            mark_error(ctx.event_span(event), &fields);
        }
        if !dispatcher.is_enabled() {
            return;
        }
        let message = fields.take(fields::MESSAGE).map(|m| fields::text(&m));
        let payload = TracingEvent {
            target: metadata.target(),
            level: metadata.level().as_str(),
            message,
            fields: fields.into_map(),
        };
        let _bridging = Bridging::enter();
        // An event with an explicit parent (or none) belongs there, not to the current span.
        let _parent = (!event.is_contextual()).then(|| {
            bridged_ancestor(event.parent().and_then(|id| ctx.span(id)))
                .unwrap_or_default()
                .with_tags(current_tags())
                .attach()
        });
        dispatcher.event(payload);
    }
}

/// Ends a bridged span: dropped with its error, if it has one, else exited with what was recorded
/// after it started. With `genai`, the events of the GenAI call it records are emitted inside it
/// first.
fn end(mut guard: SpanGuard, bridged: Bridged, genai: bool) {
    let _bridging = Bridging::enter();
    let error = bridged
        .fields
        .get(fields::ERROR)
        .map(fields::text)
        .or(bridged.error);
    if genai {
        let failed = error.is_some();
        genai::emit(
            &mut guard,
            bridged.dispatcher,
            bridged.name,
            &bridged.fields,
            failed,
        );
    }
    if let Some(error) = error {
        guard.drop_with(&error);
    } else if bridged.recorded.is_empty() {
        guard.exit(None);
    } else {
        let recorded = bridged.recorded.into_map();
        guard.exit(Some(Arg::new("recorded", &recorded)));
    }
}

/// The id of the bridged span of `span`, if it was bridged.
fn bridged_id<S>(span: Option<SpanRef<'_, S>>) -> Option<SpanId>
where
    S: for<'a> LookupSpan<'a>,
{
    span?.extensions().get::<Bridged>().map(|b| b.id)
}

/// The context of `span`'s bridged span, if it has one.
fn bridged_context<S>(span: Option<SpanRef<'_, S>>) -> Option<Context>
where
    S: for<'a> LookupSpan<'a>,
{
    span?
        .extensions()
        .get::<Bridged>()
        .map(|b| b.context.clone())
}

/// The context of the bridged span of `span` or of its nearest bridged ancestor.
fn bridged_ancestor<S>(mut span: Option<SpanRef<'_, S>>) -> Option<Context>
where
    S: for<'a> LookupSpan<'a>,
{
    while let Some(current) = span {
        if let Some(bridged) = current.extensions().get::<Bridged>() {
            return Some(bridged.context.clone());
        }
        span = current.parent();
    }
    None
}

/// Marks the bridged span an `ERROR` event with an `error` field happened in, so that it is dropped
/// with that error when it closes; the first such error wins.
#[cold]
fn mark_error<S>(span: Option<SpanRef<'_, S>>, fields: &Fields)
where
    S: for<'a> LookupSpan<'a>,
{
    let (Some(span), Some(error)) = (span, fields.get(fields::ERROR)) else {
        return;
    };
    if let Some(bridged) = span.extensions_mut().get_mut::<Bridged>() {
        bridged.error.get_or_insert_with(|| fields::text(error));
    }
}

//! W3C `traceparent` / `tracestate`: strict parsing that never panics, lowercase version-00 output,
//! and a trace that continues across a hop between "processes" (threads that share only strings).

mod common;

use common::recorder_on;
use instrument::{
    Context, REMOTE_SPAN_NAME, SpanId, Tags, TraceParent, TraceParentError, extract_traceparent,
    get_dispatcher, inject_traceparent,
};

const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn malformed_headers_are_errors() {
    let long = format!("{GOOD}{}", "-a".repeat(100_000));
    let cases: Vec<(&str, String, TraceParentError)> = vec![
        ("empty", String::new(), TraceParentError::Length(0)),
        ("one short", GOOD[..54].into(), TraceParentError::Length(54)),
        ("one long", format!("{GOOD}0"), TraceParentError::Length(56)),
        (
            "extra field on version 00",
            format!("{GOOD}-what"),
            TraceParentError::Length(60),
        ),
        (
            "very long version 00",
            format!("{GOOD}{}", "0".repeat(1 << 20)),
            TraceParentError::Length(55 + (1 << 20)),
        ),
        (
            "short trace-id",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01x".into(),
            TraceParentError::Delimiter(35),
        ),
        (
            "short parent-id",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01x".into(),
            TraceParentError::Delimiter(52),
        ),
        (
            "non-hex trace-id",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01".into(),
            TraceParentError::TraceId("4bf92f3577b34da6a3ce929d0e0e473g".into()),
        ),
        (
            "non-hex parent-id",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01".into(),
            TraceParentError::ParentId("00f067aa0ba902bz".into()),
        ),
        (
            "non-hex flags",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x".into(),
            TraceParentError::Flags("0x".into()),
        ),
        (
            "non-hex version",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            TraceParentError::Version("0g".into()),
        ),
        (
            "uppercase trace-id",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".into(),
            TraceParentError::TraceId("4BF92F3577B34DA6A3CE929D0E0E4736".into()),
        ),
        (
            "uppercase parent-id",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01".into(),
            TraceParentError::ParentId("00F067AA0BA902B7".into()),
        ),
        (
            "uppercase version",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            TraceParentError::Version("0A".into()),
        ),
        (
            "zero trace-id",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".into(),
            TraceParentError::ZeroTraceId,
        ),
        (
            "zero parent-id",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".into(),
            TraceParentError::ZeroParentId,
        ),
        (
            "version ff",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            TraceParentError::VersionFf,
        ),
        (
            "version ff, longer",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x".into(),
            TraceParentError::VersionFf,
        ),
        (
            "future version, no dash after flags",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x".into(),
            TraceParentError::Delimiter(55),
        ),
        (
            "underscores",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01".into(),
            TraceParentError::Delimiter(2),
        ),
        (
            "leading space",
            format!(" {}", &GOOD[..54]),
            TraceParentError::Version(" 0".into()),
        ),
        (
            "trailing space",
            format!("{GOOD} "),
            TraceParentError::Length(56),
        ),
        (
            "space in trace-id",
            "00-4bf92f3577b34da6 3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            TraceParentError::TraceId("4bf92f3577b34da6 3ce929d0e0e4736".into()),
        ),
        (
            "unicode in trace-id",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01".into(),
            TraceParentError::TraceId("4bf92f3577b34da6a3ce929d0e0e47é".into()),
        ),
        (
            "unicode straddling a dash",
            "00-4bf92f3577b34da6a3ce929d0e0e473é00f067aa0ba902b7-01".into(),
            TraceParentError::Delimiter(35),
        ),
        (
            "all unicode",
            "é".repeat(40),
            TraceParentError::Version("é".into()),
        ),
        (
            "very long, dashes replaced",
            long.replace('-', "+"),
            TraceParentError::Length(200_055),
        ),
        (
            "very long, split in the version",
            format!("xé{long}"),
            TraceParentError::Version("x\u{fffd}".into()),
        ),
    ];
    for (what, header, expected) in cases {
        assert_eq!(TraceParent::parse(&header), Err(expected), "{what}");
        let error = extract_traceparent(&header, Some("k=v")).unwrap_err();
        assert!(error.to_string().len() < 200, "{what}: {error}");
    }
}

#[test]
fn valid_headers_round_trip() {
    let good = [
        GOOD,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-00000000000000000000000000000001-0000000000000001-01",
        "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-00",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ];
    for header in good {
        let parsed = TraceParent::parse(header).unwrap();
        assert_eq!(parsed.to_string(), header);
        assert_eq!(header.parse::<TraceParent>().unwrap(), parsed);
        assert_eq!(parsed.tracestate, None);
    }
    let parsed = TraceParent::parse(GOOD).unwrap();
    assert_eq!(hex(&parsed.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&parsed.parent_id), "00f067aa0ba902b7");
    assert!(parsed.sampled);
}

#[test]
fn future_versions_and_unknown_flags_are_read_and_sent_as_version_00() {
    let body = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
    for header in [
        format!("01-{body}-01"),
        format!("01-{body}-01-"),
        format!("cc-{body}-01-what-the-future-will-bring"),
        format!("fe-{body}-03-é"),
        format!("00-{body}-03"),
        format!("00-{body}-ff"),
    ] {
        let parsed = TraceParent::parse(&header).unwrap();
        assert!(parsed.sampled, "{header}");
        assert_eq!(parsed.to_string(), GOOD, "{header}");
    }
    let unsampled = TraceParent::parse(&format!("7f-{body}-fe-x")).unwrap();
    assert!(!unsampled.sampled);
}

#[test]
fn tracestate_passes_through_unchanged_and_bad_ones_are_dropped() {
    let state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE , x@y=a b";
    let cx = extract_traceparent(GOOD, Some(state)).unwrap();
    let remote = cx.span_id().unwrap();
    assert_eq!(remote.name(), REMOTE_SPAN_NAME);
    let child = SpanId::new("child");
    let (traceparent, tracestate) =
        inject_traceparent(&Context::new(Some(child), Tags::new())).unwrap();
    assert!(traceparent.starts_with("00-") && tracestate.is_none());

    let (_, forwarded) = cx
        .scope(|| {
            assert_eq!(Context::current().span_id(), Some(remote));
            inject_traceparent(&Context::current())
        })
        .unwrap();
    assert_eq!(forwarded.as_deref(), Some(state));

    for bad in ["", "  \t ", "a=b\r\nx-evil: 1", "a=\u{7f}", "é=1", "a=b\0"] {
        let cx = extract_traceparent(GOOD, Some(bad)).unwrap();
        assert_eq!(
            inject_traceparent(&cx).unwrap().1,
            None,
            "{bad:?} is dropped"
        );
    }
}

#[test]
fn zero_ids_built_by_hand_are_errors() {
    let mut header = TraceParent::parse(GOOD).unwrap();
    header.parent_id = [0; 8];
    assert_eq!(
        header.to_context().unwrap_err(),
        TraceParentError::ZeroParentId
    );
    header.trace_id = [0; 16];
    assert_eq!(
        header.to_context().unwrap_err(),
        TraceParentError::ZeroTraceId
    );
}

/// xorshift64*: a fixed seed, so a failure names its case and replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, chars: &[char]) -> char {
        chars[self.below(chars.len())]
    }
}

const ALPHABET: &[char] = &[
    '0', '1', '9', 'a', 'f', 'g', 'A', 'F', '-', ' ', '\t', '\n', '\0', 'é', '€', '😀', '\u{fffd}',
    '+', 'z',
];

/// A valid version-00 header, as bytes and as text.
fn random_valid(rng: &mut Rng) -> (TraceParent, String) {
    let mut trace_id = [0u8; 16];
    let mut parent_id = [0u8; 8];
    for byte in trace_id.iter_mut().chain(parent_id.iter_mut()) {
        // Mostly-zero bytes now and then, to come near the all-zero ids.
        *byte = if rng.below(4) == 0 {
            0
        } else {
            rng.next() as u8
        };
    }
    trace_id[rng.below(16)] |= 1;
    parent_id[rng.below(8)] |= 1;
    let sampled = rng.below(2) == 0;
    let text = format!(
        "00-{}-{}-{:02x}",
        hex(&trace_id),
        hex(&parent_id),
        u8::from(sampled)
    );
    let header = TraceParent {
        trace_id,
        parent_id,
        sampled,
        tracestate: None,
    };
    (header, text)
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 if at < chars.len() => chars[at] = rng.pick(ALPHABET),
            1 => chars.insert(at, rng.pick(ALPHABET)),
            2 if at < chars.len() => {
                chars.remove(at);
            }
            3 => chars.truncate(at),
            4 if at < chars.len() => chars[at] = chars[at].to_ascii_uppercase(),
            _ => chars.extend(std::iter::repeat_n('-', rng.below(3)).chain(['a', 'b'])),
        }
    }
    chars.into_iter().collect()
}

/// Whatever `parse` accepts is a well-formed header that reads back the same.
fn check(input: &str) {
    let Ok(parsed) = TraceParent::parse(input) else {
        return;
    };
    let shown = parsed.to_string();
    assert_eq!(shown.len(), 55, "{input:?}");
    assert!(
        shown
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{input:?}"
    );
    assert_eq!(
        TraceParent::parse(&shown).as_ref(),
        Ok(&parsed),
        "{input:?}"
    );
    if input.starts_with("00-") && (input.ends_with("-00") || input.ends_with("-01")) {
        assert_eq!(shown, input);
    }
    let cx = parsed.to_context().unwrap();
    assert_eq!(cx.trace_id(), Some(parsed.trace_id));
}

#[test]
fn random_input_never_panics_and_valid_headers_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let (header, text) = random_valid(&mut rng);
        assert_eq!(TraceParent::parse(&text).as_ref(), Ok(&header), "{text}");
        assert_eq!(header.to_string(), text);
        check(&text);

        let mutated = mutate(&mut rng, &text);
        check(&mutated);

        let len = rng.below(70);
        let noise: String = (0..len).map(|_| rng.pick(ALPHABET)).collect();
        check(&noise);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn trace_continues_across_a_hop_between_processes() {
    let a = get_dispatcher("tests::traceparent::hop_sender");
    let b = get_dispatcher("tests::traceparent::hop_receiver");
    let recorder_a = recorder_on(a);
    let recorder_b = recorder_on(b);

    // Process A: a trace begun here, at `handle`; the call is made inside its child `call`.
    let (call, traceparent, tracestate) = a.in_span("handle", || {
        let mut guard = a.enter_span("call", &[]);
        let (traceparent, tracestate) =
            guard.in_scope(|| inject_traceparent(&Context::current()).unwrap());
        (guard.id().unwrap(), traceparent, tracestate)
    });
    let handle = recorder_a.one("handle").id;
    let expected = format!(
        "00-{}-{}-01",
        hex(&handle.uuid().into_bytes()),
        hex(&TraceParent::parent_id_for(&call))
    );
    assert_eq!(
        traceparent, expected,
        "trace-id from the root, parent-id the calling span's low half"
    );
    assert_eq!(tracestate, None);

    // Process B: only the header strings cross.
    let (served, downstream) = std::thread::spawn(move || {
        let cx = extract_traceparent(&traceparent, tracestate.as_deref()).unwrap();
        cx.scope(|| {
            let mut guard = b.enter_span("serve", &[]);
            let downstream = guard.in_scope(|| inject_traceparent(&Context::current()).unwrap());
            (guard.id().unwrap(), downstream)
        })
    })
    .join()
    .unwrap();

    let seen = recorder_b.one("serve");
    let parent = seen.parent.unwrap();
    assert_eq!(
        TraceParent::parent_id_for(&parent),
        TraceParent::parent_id_for(&call)
    );
    assert_eq!(parent.name(), REMOTE_SPAN_NAME);
    assert_eq!(recorder_a.one("call").id, call);

    // B's own call downstream stays in the trace, with `serve` as parent.
    let downstream = TraceParent::parse(&downstream.0).unwrap();
    assert_eq!(downstream.trace_id, handle.uuid().into_bytes());
    assert_eq!(downstream.parent_id, TraceParent::parent_id_for(&served));
    assert!(downstream.sampled);
}

#[test]
fn a_started_trace_keeps_one_trace_id_across_calls_threads_and_hops() {
    let a = get_dispatcher("tests::traceparent::started_sender");
    let b = get_dispatcher("tests::traceparent::started_receiver");
    let _ = recorder_on(a);
    let recorder_b = recorder_on(b);

    let request = Context::current().with_new_trace();
    let trace_id = request.trace_id().unwrap();
    let (calls, spans) = request.scope(|| {
        a.in_span("handle", || {
            let mut calls = Vec::new();
            let mut spans = Vec::new();
            for name in ["retrieve", "synthesize"] {
                let mut guard = a.enter_span(name, &[]);
                calls.push(guard.in_scope(|| {
                    // Carried into another thread too.
                    instrument::thread::spawn(|| inject_traceparent(&Context::current()).unwrap())
                        .join()
                        .unwrap()
                }));
                spans.push(guard.id().unwrap());
            }
            (calls, spans)
        })
    });
    assert_eq!(
        Context::current().trace_id(),
        None,
        "restored after the scope"
    );

    for ((traceparent, tracestate), span) in calls.into_iter().zip(spans) {
        let parsed = TraceParent::parse(&traceparent).unwrap();
        assert_eq!(
            parsed.trace_id, trace_id,
            "one trace-id for the whole trace"
        );
        assert_eq!(parsed.parent_id, TraceParent::parent_id_for(&span));

        let received = std::thread::spawn(move || {
            let cx = extract_traceparent(&traceparent, tracestate.as_deref()).unwrap();
            let _attached = cx.attach();
            assert_eq!(Context::current().trace_id(), Some(trace_id));
            b.in_span("serve", || Context::current().trace_id())
        })
        .join()
        .unwrap();
        assert_eq!(received, Some(trace_id));
        let parent = recorder_b
            .by_name("serve")
            .last()
            .and_then(|s| s.parent)
            .unwrap();
        assert_eq!(
            TraceParent::parent_id_for(&parent),
            TraceParent::parent_id_for(&span)
        );
    }
}

#[test]
fn no_span_no_header() {
    assert_eq!(inject_traceparent(&Context::new(None, Tags::new())), None);
    assert_eq!(
        inject_traceparent(&Context::new(None, Tags::new()).with_new_trace()),
        None
    );
}

//! `instrument-view` as a user runs it: a JSON Lines export in, one HTML page out, and clear
//! errors for a file that is not an export.

use std::path::PathBuf;
use std::process::Command;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("instrument-view-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn view(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_instrument-view"))
        .args(args)
        .output()
        .unwrap()
}

const LINE: &str = r#"{"span_id":"query-0b3d9a4c-8e1f-4c2a-9d5e-7f6a1b2c3d4e","parent_id":null,"name":"query","dispatcher":"app","start_unix_nano":1000,"end_unix_nano":5000,"duration_ns":4000,"status":"ok","attributes":{"args":{"question":"what is a span?"},"metadata":{},"tags":{}},"events":[]}"#;

#[test]
fn a_jsonl_export_becomes_a_report_beside_it() {
    let dir = dir("ok");
    let input = dir.join("run.jsonl");
    std::fs::write(&input, format!("{LINE}\n\n")).unwrap();
    let out = view(&[input.as_os_str(), "--title".as_ref(), "nightly".as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.starts_with("wrote 1 spans in 1 traces to "), "{said}");
    let page = std::fs::read_to_string(dir.join("run.html")).unwrap();
    assert!(page.contains("<title>nightly</title>"));
    assert!(page.contains(r#""question":"what is a span?""#));

    let elsewhere = dir.join("elsewhere.html");
    let out = view(&[
        input.as_os_str(),
        "-o".as_ref(),
        elsewhere.as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    // The title defaults to the input's file name.
    assert!(
        std::fs::read_to_string(&elsewhere)
            .unwrap()
            .contains("<title>run.jsonl</title>")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_line_that_is_not_a_span_is_named_with_its_number() {
    let dir = dir("bad");
    let input = dir.join("run.jsonl");
    std::fs::write(&input, format!("{LINE}\n{{\"name\": 3}}\n")).unwrap();
    let out = view(&[input.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("run.jsonl:2: not an exported span"), "{said}");
    assert!(!dir.join("run.html").exists(), "no page from a broken file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_file_and_an_output_over_the_input_are_refused() {
    let dir = dir("refused");
    let missing = dir.join("missing.jsonl");
    let out = view(&[missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("missing.jsonl")
    );

    let input = dir.join("run.html");
    std::fs::write(&input, LINE).unwrap();
    let out = view(&[input.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let spelled_otherwise = dir.join(".").join("run.html");
    let out = view(&[
        input.as_os_str(),
        "-o".as_ref(),
        spelled_otherwise.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&input).unwrap(),
        LINE,
        "the input is untouched"
    );

    let out = view(&[]);
    assert_eq!(out.status.code(), Some(2), "no input: a usage error");
    std::fs::remove_dir_all(&dir).ok();
}

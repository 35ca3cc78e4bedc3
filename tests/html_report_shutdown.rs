//! `instrument::shutdown()` writes the HTML report a last time, with the spans it ended itself.
//! (A file of its own: shutdown closes every handler of the process.)

use instrument::handlers::export::HtmlReportExporter;

#[test]
fn shutdown_writes_the_report_with_the_spans_it_ended() {
    let path = std::env::temp_dir().join(format!(
        "instrument-test-report-shutdown-{}.html",
        std::process::id()
    ));
    let report = HtmlReportExporter::create(&path).unwrap();
    let app = instrument::get_dispatcher("tests::html_report_shutdown");
    report.register(app);

    app.in_span("finished", || ());
    // Still open when the program shuts down.
    let open = app.enter_span("long_running", &[]);
    instrument::shutdown();
    drop(open);

    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.contains(r#""name":"finished""#));
    assert!(page.contains(r#""name":"long_running""#));
    assert!(page.contains(r#""error":"dispatcher shutdown""#));
    assert_eq!(report.written(), 2);
    assert!(report.write().is_err(), "nothing is written after shutdown");
    std::fs::remove_file(&path).ok();
}

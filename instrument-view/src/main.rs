//! `instrument-view`: a JSON Lines export (`JsonlExporter`, or `INSTRUMENT_JSONL=` in the demo)
//! turned into one HTML report that opens from a file, offline.
//!
//! ```sh
//! instrument-view run.jsonl -o run.html --title "nightly evaluation"
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command, value_parser};
use instrument_handlers::export::{DEFAULT_REPORT_TITLE, HtmlReport, read_jsonl};

fn command() -> Command {
    Command::new("instrument-view")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Writes a JSON Lines export of `instrument` as a self-contained HTML report")
        .arg(
            Arg::new("input")
                .help("The JSON Lines file: one exported span per line")
                .required(true)
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .help("Where to write the report [default: the input with an .html extension]")
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("title")
                .short('t')
                .long("title")
                .help("The report's title [default: the input's file name]"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .long("quiet")
                .action(ArgAction::SetTrue)
                .help("Print nothing on success"),
        )
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let input = matches
        .get_one::<PathBuf>("input")
        .expect("required by clap");
    let output = matches
        .get_one::<PathBuf>("output")
        .cloned()
        .unwrap_or_else(|| input.with_extension("html"));
    if same_file(&output, input) {
        eprintln!(
            "instrument-view: the output would replace the input {}; name another with -o",
            input.display()
        );
        return ExitCode::from(2);
    }
    let title = matches
        .get_one::<String>("title")
        .cloned()
        .unwrap_or_else(|| {
            input.file_name().map_or_else(
                || DEFAULT_REPORT_TITLE.to_owned(),
                |name| name.to_string_lossy().into_owned(),
            )
        });
    let spans = match read_jsonl(input) {
        Ok(spans) => spans,
        Err(error) => {
            eprintln!("instrument-view: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = HtmlReport::new(spans).title(title);
    if let Err(error) = report.save(&output) {
        eprintln!("instrument-view: {error}");
        return ExitCode::FAILURE;
    }
    if !matches.get_flag("quiet") {
        let size = std::fs::metadata(&output).map_or(0, |m| m.len());
        println!(
            "wrote {} spans in {} traces to {} ({} KiB)",
            report.span_count(),
            report.trace_count(),
            output.display(),
            size.div_ceil(1024)
        );
    }
    ExitCode::SUCCESS
}

/// Whether `a` and `b` name one existing file, however each is spelled.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }
}

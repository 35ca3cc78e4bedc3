//! Turning dispatchers off and on by name, and sampling their traces, in the style of `RUST_LOG`:
//! `INSTRUMENT_FILTER` at start, [`set_filter`](crate::set_filter) at run time. A dispatcher that is
//! off reaches no handler, so its spans and events cost what they cost with no handler at all; one
//! given a ratio keeps that share of the traces that start on it (head sampling, decided by each
//! trace's root span). The filter is applied when handler chains are computed, never on a span's
//! path.

use std::sync::{Mutex, PoisonError};

/// The environment variable read for the filter when the first dispatcher is made.
pub const FILTER_ENV: &str = "INSTRUMENT_FILTER";

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A directive is neither `on`, `off` nor a ratio from 0 to 1, alone or as `name=...`.
    #[error(
        "filter directive `{0}` is not `on`, `off` or a sampling ratio from 0 to 1, alone or as \
         `name=...` (as in `my_app=on,my_app::cache=off,my_app::chat=0.1`)"
    )]
    BadDirective(String),
}

/// One directive: dispatchers named `target` (`::` or `.`-separated) and those below it are off,
/// or on keeping a ratio of their traces; an empty target is every dispatcher.
#[derive(Debug, Clone, PartialEq)]
struct Directive {
    target: String,
    /// `None`: off; else on, keeping this ratio of the traces that start there.
    keep: Option<f64>,
}

/// A parsed filter: directives, the most specific of which decides for each dispatcher.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Filter {
    directives: Vec<Directive>,
}

impl Filter {
    /// Parses `my_app=on,my_app::cache=off` (spaces allowed, `.` read as `::`); empty is "all on".
    fn parse(text: &str) -> Result<Self, FilterError> {
        let mut directives = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (target, state) = match part.split_once('=') {
                Some((target, state)) => (target.trim(), state.trim()),
                None => ("", part),
            };
            let keep = match state.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => Some(1.0),
                "off" | "false" | "0" => None,
                ratio => match ratio.parse::<f64>() {
                    Ok(ratio) if (0.0..=1.0).contains(&ratio) => Some(ratio),
                    _ => return Err(FilterError::BadDirective(part.to_owned())),
                },
            };
            if target.chars().any(char::is_whitespace) {
                return Err(FilterError::BadDirective(part.to_owned()));
            }
            directives.push(Directive {
                target: target.replace('.', "::"),
                keep,
            });
        }
        Ok(Self { directives })
    }

    /// Whether the dispatcher called `name` is on (`None`: off), and if so the ratio of the traces
    /// starting there that it keeps. The directive with the longest target that is `name` or an
    /// ancestor of it decides (the last such given, on a tie); on when none does.
    pub(crate) fn verdict(&self, name: &str) -> Option<f64> {
        let covers = |target: &str| {
            target.is_empty()
                || name == target
                || name
                    .strip_prefix(target)
                    .is_some_and(|rest| rest.starts_with("::"))
        };
        self.directives
            .iter()
            .filter(|d| covers(&d.target))
            .fold(None::<&Directive>, |best, d| match best {
                Some(b) if b.target.len() > d.target.len() => Some(b),
                _ => Some(d),
            })
            .map_or(Some(1.0), |d| d.keep)
    }
}

static FILTER: Mutex<Option<Filter>> = Mutex::new(None);

/// The filter in force: `INSTRUMENT_FILTER`'s on first use (an unreadable value is reported on
/// stderr and ignored), or the last [`set_filter`](crate::set_filter).
pub(crate) fn current() -> Filter {
    let mut filter = FILTER.lock().unwrap_or_else(PoisonError::into_inner);
    filter.get_or_insert_with(from_env).clone()
}

fn from_env() -> Filter {
    let Ok(text) = std::env::var(FILTER_ENV) else {
        return Filter::default();
    };
    Filter::parse(&text).unwrap_or_else(|error| {
        eprintln!("instrument: {FILTER_ENV} is ignored: {error}");
        Filter::default()
    })
}

/// Parses `directives` and makes them the filter in force; the caller recomputes the chains.
pub(crate) fn replace(directives: &str) -> Result<(), FilterError> {
    let parsed = Filter::parse(directives)?;
    *FILTER.lock().unwrap_or_else(PoisonError::into_inner) = Some(parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_directive_decides() {
        let filter =
            Filter::parse("off, app=on, app::cache=off, app.cache.warm=on, app::chat=0.25")
                .unwrap();
        assert_eq!(filter.verdict("other"), None);
        assert_eq!(filter.verdict("app"), Some(1.0));
        assert_eq!(filter.verdict("app::rag"), Some(1.0));
        assert_eq!(filter.verdict("app::cache"), None);
        assert_eq!(filter.verdict("app::cache::cold"), None);
        assert_eq!(filter.verdict("app::cache::warm"), Some(1.0));
        assert_eq!(filter.verdict("app::chat::stream"), Some(0.25));
        // A prefix that is not a path is no ancestor: the bare `off` decides.
        assert_eq!(filter.verdict("application"), None);
        assert_eq!(Filter::parse("").unwrap().verdict("anything"), Some(1.0));
        for bad in ["app=maybe", "app=1.5", "app=-0.1", "app=NaN"] {
            assert_eq!(
                Filter::parse(bad),
                Err(FilterError::BadDirective(bad.into()))
            );
        }
    }
}

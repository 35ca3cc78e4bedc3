//! Turning dispatchers off and on by name, in the style of `RUST_LOG`: `INSTRUMENT_FILTER` at start,
//! [`set_filter`](crate::set_filter) at run time. A dispatcher that is off reaches no handler, so its spans and events
//! cost what they cost with no handler at all: the filter is applied when handler chains are
//! computed, never on a span's path.

use std::sync::{Mutex, PoisonError};

/// The environment variable read for the filter when the first dispatcher is made.
pub const FILTER_ENV: &str = "INSTRUMENT_FILTER";

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A directive is neither `on`, `off`, `name=on` nor `name=off`.
    #[error(
        "filter directive `{0}` is not `on`, `off`, `name=on` or `name=off` (as in \
         `my_app=on,my_app::cache=off`)"
    )]
    BadDirective(String),
}

/// One directive: dispatchers named `target` (`::` or `.`-separated) and those below it are on or
/// off; an empty target is every dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    target: String,
    on: bool,
}

/// A parsed filter: directives, the most specific of which decides for each dispatcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
            let on = match state.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err(FilterError::BadDirective(part.to_owned())),
            };
            if target.chars().any(char::is_whitespace) {
                return Err(FilterError::BadDirective(part.to_owned()));
            }
            directives.push(Directive {
                target: target.replace('.', "::"),
                on,
            });
        }
        Ok(Self { directives })
    }

    /// Whether the dispatcher called `name` is on: the directive with the longest target that is
    /// `name` or an ancestor of it decides (the last such given, on a tie); on when none does.
    pub(crate) fn allows(&self, name: &str) -> bool {
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
            .is_none_or(|d| d.on)
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
        let filter = Filter::parse("off, app=on, app::cache=off, app.cache.warm=on").unwrap();
        assert!(!filter.allows("other"));
        assert!(filter.allows("app"));
        assert!(filter.allows("app::rag"));
        assert!(!filter.allows("app::cache"));
        assert!(!filter.allows("app::cache::cold"));
        assert!(filter.allows("app::cache::warm"));
        // A prefix that is not a path is no ancestor: the bare `off` decides.
        assert!(!filter.allows("application"));
        assert!(Filter::parse("").unwrap().allows("anything"));
        assert_eq!(
            Filter::parse("app=maybe"),
            Err(FilterError::BadDirective("app=maybe".into()))
        );
    }
}

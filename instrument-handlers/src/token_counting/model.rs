//! Which model a call used: the one its response says served it, else the one its start named.
//!
//! An LLM or embedding call's end event carries the response but not the model's settings, which
//! came with its start event; the two meet under the call's key ([`CallKey`]).

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::call_key::CallKey;

/// Where model settings and call arguments name the model, in order.
const MODEL_KEYS: [&str; 2] = ["model", "model_name"];
/// Where a provider's raw response names the model that served the call: OpenAI and Anthropic,
/// then Gemini (Python SDK, REST API).
const SERVED_KEYS: [&str; 3] = ["model", "model_version", "modelVersion"];
/// How many starts wait for their end at most; a start whose end never comes (a call that failed
/// before its end event) is forgotten once this many newer ones wait.
const PENDING_CAPACITY: usize = 1024;

/// The model named in `maps` (a call's arguments, then its model's settings): the first `model` or
/// `model_name` that is a non-empty string.
pub(crate) fn named_in(maps: &[&Map<String, Value>]) -> Option<String> {
    maps.iter()
        .flat_map(|map| MODEL_KEYS.iter().filter_map(|key| map.get(*key)))
        .find_map(non_empty)
}

/// The model a provider's raw response says served the call.
pub(crate) fn served(raw: Option<&Value>) -> Option<String> {
    let raw = raw?.as_object()?;
    SERVED_KEYS
        .iter()
        .filter_map(|key| raw.get(*key))
        .find_map(non_empty)
}

fn non_empty(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The models named by calls that started and have not ended, oldest first.
#[derive(Debug, Default)]
pub(super) struct PendingModels {
    starts: VecDeque<(CallKey, Option<String>)>,
}

impl PendingModels {
    /// A call under `key` started, naming `model` (or none).
    pub(super) fn start(&mut self, key: CallKey, model: Option<String>) {
        if self.starts.len() == PENDING_CAPACITY {
            self.starts.pop_front();
        }
        self.starts.push_back((key, model));
    }

    /// The call under `key` that started last has ended: the model its start named. Calls under
    /// one key end in the reverse order of their starts (a call inside another).
    pub(super) fn end(&mut self, key: &CallKey) -> Option<String> {
        let at = self.starts.iter().rposition(|(k, _)| k == key)?;
        self.starts.remove(at).and_then(|(_, model)| model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_before_settings_and_model_before_model_name() {
        let settings = json!({"model_name": "text-embedding-3-small", "model": " "});
        let kwargs = json!({"model": "gpt-4o"});
        let (settings, kwargs) = (settings.as_object().unwrap(), kwargs.as_object().unwrap());
        assert_eq!(named_in(&[kwargs, settings]).as_deref(), Some("gpt-4o"));
        assert_eq!(
            named_in(&[settings]).as_deref(),
            Some("text-embedding-3-small")
        );
        assert_eq!(named_in(&[&Map::new()]), None);
    }

    #[test]
    fn the_response_names_the_model_that_served() {
        let cases = [
            (
                json!({"model": "gpt-4o-2024-08-06"}),
                Some("gpt-4o-2024-08-06"),
            ),
            (
                json!({"modelVersion": "gemini-2.5-flash"}),
                Some("gemini-2.5-flash"),
            ),
            (
                json!({"model_version": "gemini-2.5-pro"}),
                Some("gemini-2.5-pro"),
            ),
            (json!({"model": 3}), None),
            (json!("gpt-4o"), None),
        ];
        for (raw, model) in cases {
            assert_eq!(served(Some(&raw)).as_deref(), model, "{raw}");
        }
    }

    #[test]
    fn ends_meet_their_own_starts_latest_first() {
        let mut pending = PendingModels::default();
        let a = CallKey::Callback("a".into());
        let b = CallKey::Callback("b".into());
        pending.start(a.clone(), Some("outer".into()));
        pending.start(b.clone(), Some("other".into()));
        pending.start(a.clone(), None);
        assert_eq!(pending.end(&a), None);
        assert_eq!(pending.end(&a).as_deref(), Some("outer"));
        assert_eq!(pending.end(&a), None);
        assert_eq!(pending.end(&b).as_deref(), Some("other"));
    }

    #[test]
    fn starts_without_ends_are_forgotten_oldest_first() {
        let mut pending = PendingModels::default();
        for n in 0..=PENDING_CAPACITY {
            pending.start(CallKey::Callback(n.to_string()), Some(n.to_string()));
        }
        assert_eq!(pending.starts.len(), PENDING_CAPACITY);
        assert_eq!(pending.end(&CallKey::Callback("0".into())), None);
        assert_eq!(
            pending.end(&CallKey::Callback("1".into())).as_deref(),
            Some("1")
        );
    }
}

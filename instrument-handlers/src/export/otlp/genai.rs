//! OpenTelemetry GenAI convention attributes, written beside OpenInference's on LLM and embedding
//! spans so that backends reading the conventions (Langfuse, MLflow, Datadog, …) show the model
//! and the tokens: `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
//! `gen_ai.response.model`, `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens`
//! (names and well-known values from the conventions' `docs/gen-ai/gen-ai-spans.md` and attribute
//! registry).

use serde_json::Value;

use super::openinference::{AttrList, AttrValue};
use crate::token_counting::Usage;

const OPERATION: &str = "gen_ai.operation.name";
const PROVIDER: &str = "gen_ai.provider.name";
const REQUEST_MODEL: &str = "gen_ai.request.model";
const RESPONSE_MODEL: &str = "gen_ai.response.model";
const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";

/// The conventions' operation of an event's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// `chat`.
    Chat,
    /// `text_completion`.
    TextCompletion,
    /// `embeddings`.
    Embeddings,
}

impl Operation {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::TextCompletion => "text_completion",
            Self::Embeddings => "embeddings",
        }
    }
}

/// What a call's start tells: the operation, the model asked for and who serves it.
pub(super) fn request(
    attrs: &mut AttrList,
    operation: Operation,
    model: Option<&AttrValue>,
    provider: Option<&str>,
) {
    attrs.push((OPERATION.to_owned(), operation.as_str().into()));
    if let Some(model) = model {
        attrs.push((REQUEST_MODEL.to_owned(), model.clone()));
    }
    if let Some(provider) = provider {
        attrs.push((PROVIDER.to_owned(), provider_name(provider).into()));
    }
}

/// What a call's end tells: the operation, the model that answered (`raw.model`, where providers
/// put it) and the tokens used.
pub(super) fn response(
    attrs: &mut AttrList,
    operation: Operation,
    raw: Option<&Value>,
    usage: Option<Usage>,
) {
    attrs.push((OPERATION.to_owned(), operation.as_str().into()));
    if let Some(model) = raw.and_then(|raw| raw.get("model")).and_then(Value::as_str) {
        attrs.push((RESPONSE_MODEL.to_owned(), model.into()));
    }
    if let Some(usage) = usage {
        let count = |n: u64| AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
        attrs.push((INPUT_TOKENS.to_owned(), count(usage.prompt)));
        attrs.push((OUTPUT_TOKENS.to_owned(), count(usage.completion)));
    }
}

/// The conventions' name of a provider that OpenInference names otherwise (`google` →
/// `gcp.gen_ai`, `mistralai` → `mistral_ai`, `aws` → `aws.bedrock`, `azure` → `azure.ai.openai`,
/// `xai` → `x_ai`); any other name as it is.
fn provider_name(provider: &str) -> &str {
    match provider {
        "google" => "gcp.gen_ai",
        "mistralai" => "mistral_ai",
        "aws" => "aws.bedrock",
        "azure" => "azure.ai.openai",
        "xai" => "x_ai",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn start_and_end_attributes() {
        let mut attrs = AttrList::new();
        request(
            &mut attrs,
            Operation::Chat,
            Some(&"gpt-4o".into()),
            Some("google"),
        );
        response(
            &mut attrs,
            Operation::Chat,
            Some(&json!({"model": "gpt-4o-2024-08-06"})),
            Some(Usage {
                prompt: 12,
                completion: 5,
                ..Usage::default()
            }),
        );
        let get = |key: &str| attrs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
        assert_eq!(get(OPERATION), Some(&"chat".into()));
        assert_eq!(get(REQUEST_MODEL), Some(&"gpt-4o".into()));
        assert_eq!(get(PROVIDER), Some(&"gcp.gen_ai".into()));
        assert_eq!(get(RESPONSE_MODEL), Some(&"gpt-4o-2024-08-06".into()));
        assert_eq!(get(INPUT_TOKENS), Some(&AttrValue::Int(12)));
        assert_eq!(get(OUTPUT_TOKENS), Some(&AttrValue::Int(5)));

        let mut bare = AttrList::new();
        response(&mut bare, Operation::Embeddings, None, None);
        assert_eq!(bare, [(OPERATION.to_owned(), "embeddings".into())]);
    }
}

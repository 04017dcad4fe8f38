//! Anthropic Messages API provider: structured output through one forced tool call.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::parse::{self, RawAnswer};
use super::prompt::ANSWER_TOOL;
use super::provider::{
    Answer, ProviderConfig, ProviderError, Request, Suggester, get_ok, post_json,
};
use crate::secrets::Secret;

pub const DEFAULT_BASE: &str = "https://api.anthropic.com";
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
const API_VERSION: &str = "2023-06-01";
const MAX_TOKENS: u32 = 1024;

pub struct Anthropic {
    client: reqwest::Client,
    url: String,
    key: Secret,
    model: String,
    timeout: Duration,
}

impl Anthropic {
    pub fn new(cfg: &ProviderConfig, key: Secret) -> Result<Self, ProviderError> {
        Ok(Anthropic {
            client: super::provider::http_client("anthropic", cfg.timeout)?,
            url: endpoint(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE)),
            key,
            model: cfg.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
            timeout: cfg.timeout,
        })
    }
}

/// `{base}/v1/messages`, whether or not the base already ends in /v1.
pub fn endpoint(base: &str) -> String {
    super::provider::v1_url(base, "messages")
}

/// The request body.
pub fn body(model: &str, req: &Request) -> Value {
    json!({
        "model": model,
        "max_tokens": MAX_TOKENS,
        "temperature": req.temperature,
        "system": req.system,
        "messages": [{"role": "user", "content": req.user}],
        "tools": [{
            "name": ANSWER_TOOL,
            "description": "Record the labels that apply to the item, with confidences.",
            "input_schema": req.schema,
        }],
        "tool_choice": {"type": "tool", "name": ANSWER_TOOL},
    })
}

/// Read the tool call (or, failing that, JSON in a text block) and the usage.
pub fn read_response(v: &Value, req: &Request) -> Result<Answer, String> {
    let blocks =
        v.get("content").and_then(Value::as_array).ok_or("no `content` in the response")?;
    let tool = blocks.iter().find(|b| {
        b.get("type").and_then(Value::as_str) == Some("tool_use")
            && b.get("name").and_then(Value::as_str) == Some(ANSWER_TOOL)
    });
    let raw: RawAnswer = match tool {
        Some(b) => {
            let input = b.get("input").ok_or("tool call without input")?;
            parse::from_value(input)
                .map_err(|e| e.to_string())?
                .ok_or("tool call input has no `labels`")?
        }
        None => {
            let text: String = blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n");
            parse::parse_answer(&text).map_err(|e| e.to_string())?
        }
    };
    let (tokens_in, tokens_out) = usage(v, req);
    Ok(Answer { raw, tokens_in, tokens_out })
}

fn usage(v: &Value, req: &Request) -> (u64, u64) {
    super::provider::reported_usage(v, ("input_tokens", "output_tokens"), req, 0)
}

impl Suggester for Anthropic {
    fn provider(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn remote(&self) -> bool {
        true
    }

    fn max_temperature(&self) -> f64 {
        1.0
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = format!("{}models", self.url.trim_end_matches("messages"));
            let headers = [("x-api-key", self.key.expose()), ("anthropic-version", API_VERSION)];
            get_ok(&self.client, "anthropic", &url, &headers, Some(&self.key), self.timeout).await
        })
    }

    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        Box::pin(async move {
            let headers = [
                ("x-api-key", self.key.expose()),
                ("anthropic-version", API_VERSION),
                ("content-type", "application/json"),
            ];
            let body = body(&self.model, req);
            let v = post_json(
                &self.client,
                "anthropic",
                &self.url,
                &headers,
                &body,
                Some(&self.key),
                self.timeout,
            )
            .await?;
            read_response(&v, req).map_err(|message| ProviderError::BadAnswer {
                provider: "anthropic".into(),
                message,
                usage: Some(usage(&v, req)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Item;
    use std::sync::Arc;

    fn req() -> Request {
        Request {
            item: Arc::new(Item::default()),
            system: "s".into(),
            user: "u".into(),
            schema: json!({"type": "object"}),
            temperature: 0.0,
        }
    }

    #[test]
    fn endpoint_with_or_without_v1() {
        assert_eq!(endpoint("https://api.anthropic.com"), "https://api.anthropic.com/v1/messages");
        assert_eq!(endpoint("http://h:1/v1/"), "http://h:1/v1/messages");
    }

    #[test]
    fn reads_tool_use_and_usage() {
        let v = json!({
            "content": [
                {"type": "text", "text": "Let me label it."},
                {"type": "tool_use", "id": "t1", "name": ANSWER_TOOL,
                 "input": {"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}}
            ],
            "usage": {"input_tokens": 120, "output_tokens": 30}
        });
        let a = read_response(&v, &req()).unwrap();
        assert_eq!(a.raw.labels[0].name, "bug");
        assert_eq!((a.tokens_in, a.tokens_out), (120, 30));
        let b = body("m", &req());
        assert_eq!(b["tool_choice"]["name"], ANSWER_TOOL);
        assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
    }
}

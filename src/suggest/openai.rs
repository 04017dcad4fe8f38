//! OpenAI-compatible Chat Completions provider (OpenAI, LiteLLM, vLLM, Ollama, llama.cpp):
//! strict JSON-schema response format, Bearer key optional for local servers.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::parse;
use super::prompt::ANSWER_TOOL;
use super::provider::{
    Answer, ProviderConfig, ProviderError, Request, Suggester, estimate_tokens, post_json,
};
use crate::secrets::Secret;

pub const DEFAULT_BASE: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    key: Option<Secret>,
    /// "Bearer <key>", built once; never formatted into any message.
    auth: Option<String>,
    model: String,
    timeout: Duration,
}

impl OpenAi {
    pub fn new(cfg: &ProviderConfig, key: Option<Secret>) -> Result<Self, ProviderError> {
        let client = super::provider::http_client("openai", cfg.timeout)?;
        let auth = key.as_ref().map(|k| format!("Bearer {}", k.expose()));
        Ok(OpenAi {
            client,
            url: endpoint(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE)),
            key,
            auth,
            model: cfg.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
            timeout: cfg.timeout,
        })
    }
}

/// `{base}/v1/chat/completions` for bases given with or without /v1 (and trailing slashes).
pub fn endpoint(base: &str) -> String {
    super::provider::v1_url(base, "chat/completions")
}

pub fn body(model: &str, req: &Request) -> Value {
    json!({
        "model": model,
        "temperature": req.temperature,
        "messages": [
            {"role": "system", "content": req.system},
            {"role": "user", "content": req.user}
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": ANSWER_TOOL, "strict": true, "schema": req.schema}
        }
    })
}

pub fn read_response(v: &Value, req: &Request) -> Result<Answer, String> {
    let msg = v.pointer("/choices/0/message").ok_or("no `choices[0].message` in the response")?;
    if let Some(r) = msg.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        return Err(format!("the model refused: {}", crate::text::one_line(r)));
    }
    let raw = parse::parse_answer(content(v)).map_err(|e| e.to_string())?;
    let (tokens_in, tokens_out) = usage(v, req);
    Ok(Answer { raw, tokens_in, tokens_out })
}

fn content(v: &Value) -> &str {
    v.pointer("/choices/0/message/content").and_then(Value::as_str).unwrap_or_default()
}

fn usage(v: &Value, req: &Request) -> (u64, u64) {
    let keys = ("prompt_tokens", "completion_tokens");
    super::provider::reported_usage(v, keys, req, estimate_tokens(content(v)))
}

impl Suggester for OpenAi {
    fn provider(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn remote(&self) -> bool {
        true
    }

    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        Box::pin(async move {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(a) = &self.auth {
                headers.push(("authorization", a.as_str()));
            }
            let body = body(&self.model, req);
            let v = post_json(
                &self.client,
                "openai",
                &self.url,
                &headers,
                &body,
                self.key.as_ref(),
                self.timeout,
            )
            .await?;
            read_response(&v, req).map_err(|message| ProviderError::BadAnswer {
                provider: "openai".into(),
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

    #[test]
    fn endpoint_accepts_any_base_form() {
        for b in ["http://h:4000", "http://h:4000/", "http://h:4000/v1", "http://h:4000/v1/"] {
            assert_eq!(endpoint(b), "http://h:4000/v1/chat/completions", "{b}");
        }
    }

    #[test]
    fn reads_content_and_usage() {
        let req = Request {
            item: Arc::new(Item::default()),
            system: "s".into(),
            user: "u".into(),
            schema: json!({}),
            temperature: 0.0,
        };
        let v = json!({"choices": [{"message": {"role": "assistant",
            "content": "{\"labels\":[{\"name\":\"bug\",\"confidence\":0.8}],\"rationale\":\"x\"}"}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 9}});
        let a = read_response(&v, &req).unwrap();
        assert_eq!((a.raw.labels[0].name.as_str(), a.tokens_in, a.tokens_out), ("bug", 50, 9));
        let b = body("m", &req);
        assert_eq!(b["response_format"]["json_schema"]["strict"], true);
    }
}

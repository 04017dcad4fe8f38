//! OpenAI-compatible Chat Completions provider (OpenAI, LiteLLM, vLLM, Ollama, llama.cpp):
//! a JSON-schema response format where the server takes one, negotiated down to `json_object`
//! and then plain text (schema in the prompt, same validation) where it does not; an output
//! limit sized to the answer; the Bearer key optional for local servers.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::parse;
use super::prompt::ANSWER_TOOL;
use super::provider::{
    Answer, ProviderConfig, ProviderError, Request, Suggester, estimate_tokens, get_ok, post_json,
};
use crate::secrets::Secret;

pub const DEFAULT_BASE: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// How the answer's JSON is asked for, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    JsonSchema,
    JsonObject,
    Text,
}

impl ResponseFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json_schema" => Some(Self::JsonSchema),
            "json_object" => Some(Self::JsonObject),
            "text" => Some(Self::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonSchema => "json_schema",
            Self::JsonObject => "json_object",
            Self::Text => "text",
        }
    }

    /// The next weaker format, once a server refused this one.
    fn weaker(self) -> Option<Self> {
        match self {
            Self::JsonSchema => Some(Self::JsonObject),
            Self::JsonObject => Some(Self::Text),
            Self::Text => None,
        }
    }
}

/// The format in use, and whether it may still be lowered (`auto`).
#[derive(Debug, Clone, Copy)]
struct Negotiation {
    format: ResponseFormat,
    negotiable: bool,
    /// A server refused a stronger format during this run.
    lowered: bool,
    /// The output limit's parameter: `max_tokens`, or `max_completion_tokens` for models
    /// that refuse the older name.
    limit_param: &'static str,
}

pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    key: Option<Secret>,
    /// "Bearer <key>", built once; never formatted into any message.
    auth: Option<String>,
    model: String,
    timeout: Duration,
    /// What this base URL accepts, learned once per run and shared by every request.
    negotiation: Mutex<Negotiation>,
}

impl OpenAi {
    pub fn new(cfg: &ProviderConfig, key: Option<Secret>) -> Result<Self, ProviderError> {
        let client = super::provider::http_client("openai", cfg.timeout)?;
        let auth = key.as_ref().map(|k| format!("Bearer {}", k.expose()));
        let forced = ResponseFormat::parse(&cfg.response_format);
        let negotiation = Negotiation {
            format: forced.unwrap_or(ResponseFormat::JsonSchema),
            negotiable: forced.is_none(),
            lowered: false,
            limit_param: "max_tokens",
        };
        Ok(OpenAi {
            client,
            url: endpoint(cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE)),
            key,
            auth,
            model: cfg.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into()),
            timeout: cfg.timeout,
            negotiation: Mutex::new(negotiation),
        })
    }

    fn negotiation(&self) -> Negotiation {
        *self.negotiation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lower the format after `refused` was refused; false when there is nothing weaker (or
    /// the format is forced). Another request may have lowered it already.
    fn lower(&self, refused: ResponseFormat) -> bool {
        let mut n = self.negotiation.lock().unwrap_or_else(|p| p.into_inner());
        if !n.negotiable {
            return false;
        }
        if n.format != refused {
            return true;
        }
        match refused.weaker() {
            Some(w) => {
                tracing::warn!(url = %self.url, from = refused.as_str(), to = w.as_str(),
                    "server refused the response format; asking with a weaker one");
                n.format = w;
                n.lowered = true;
                true
            }
            None => false,
        }
    }

    async fn post(&self, body: &Value) -> Result<Value, ProviderError> {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &self.auth {
            headers.push(("authorization", a.as_str()));
        }
        let key = self.key.as_ref();
        post_json(&self.client, "openai", &self.url, &headers, body, key, self.timeout).await
    }
}

/// `{base}/v1/chat/completions` for bases given with or without /v1 (and trailing slashes).
pub fn endpoint(base: &str) -> String {
    super::provider::v1_url(base, "chat/completions")
}

/// Output tokens an answer needs: a few per label the schema offers plus the rationale. Sized
/// so a model that loops stops well before the context fills.
pub fn max_tokens(req: &Request) -> u64 {
    let labels = req
        .schema
        .pointer("/properties/labels/items/properties/name/enum")
        .and_then(Value::as_array)
        .map_or(20, Vec::len) as u64;
    // The summary and keywords take about 120 tokens more.
    (420 + 16 * labels).clamp(512, 4096)
}

pub fn body(model: &str, req: &Request, format: ResponseFormat, limit: u64) -> Value {
    // Without a schema-constrained format the schema goes into the prompt; the answer is
    // validated the same way whatever the format.
    let system = match format {
        ResponseFormat::JsonSchema => req.system.clone(),
        _ => format!(
            "{}\n\nAnswer with one JSON object and nothing else. It must match this JSON \
             schema:\n{}",
            req.system, req.schema
        ),
    };
    let mut b = json!({
        "model": model,
        "temperature": req.temperature,
        "max_tokens": limit,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": req.user}
        ],
    });
    match format {
        ResponseFormat::JsonSchema => {
            b["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": ANSWER_TOOL, "strict": true, "schema": req.schema}
            });
        }
        ResponseFormat::JsonObject => b["response_format"] = json!({"type": "json_object"}),
        ResponseFormat::Text => {}
    }
    b
}

/// A refusal of the response format (llama-cpp-python: 500 "Input should be 'text' or
/// 'json_object'"; others 400 "response_format ... not supported").
fn refuses_format(e: &ProviderError) -> bool {
    let ProviderError::Status { status, message, .. } = e else { return false };
    let m = message.to_ascii_lowercase();
    (400..600).contains(status)
        && status != &429
        && ["response_format", "json_schema", "json_object"].iter().any(|p| m.contains(p))
}

/// OpenAI's 400 for a model that takes `max_completion_tokens` instead of `max_tokens`.
fn wants_completion_limit(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Status { status: 400, message, .. }
        if message.contains("max_completion_tokens"))
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

/// True when the model stopped at the output limit.
fn truncated(v: &Value) -> bool {
    v.pointer("/choices/0/finish_reason").and_then(Value::as_str) == Some("length")
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

    fn negotiated(&self) -> Option<String> {
        let n = self.negotiation();
        n.lowered.then(|| n.format.as_str().to_string())
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let base = self.url.trim_end_matches("chat/completions");
            let url = format!("{base}models");
            let headers: Vec<(&str, &str)> =
                self.auth.as_deref().map(|a| ("authorization", a)).into_iter().collect();
            get_ok(&self.client, "openai", &url, &headers, self.key.as_ref(), self.timeout).await
        })
    }

    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        Box::pin(async move {
            let mut limit = max_tokens(req);
            let mut retried_longer = false;
            // A cut-off answer was billed: the retry's error carries both costs.
            let mut billed = (0, 0);
            loop {
                let Negotiation { format, limit_param, .. } = self.negotiation();
                let mut sent = body(&self.model, req, format, limit);
                if limit_param != "max_tokens"
                    && let Some(o) = sent.as_object_mut()
                {
                    o.remove("max_tokens");
                    o.insert(limit_param.into(), json!(limit));
                }
                let v = match self.post(&sent).await {
                    Ok(v) => v,
                    // Newer OpenAI models take the output limit under another name.
                    Err(e) if limit_param == "max_tokens" && wants_completion_limit(&e) => {
                        self.negotiation.lock().unwrap_or_else(|p| p.into_inner()).limit_param =
                            "max_completion_tokens";
                        continue;
                    }
                    // Not a failure of this item: the same request in a weaker format.
                    Err(e) if refuses_format(&e) && self.lower(format) => continue,
                    // The cut-off answer before this failed retry was billed: say so with it.
                    Err(e) if billed != (0, 0) => {
                        tracing::warn!("the longer retry of a cut-off answer failed: {e}");
                        return Err(ProviderError::Truncated {
                            provider: "openai".into(),
                            limit: limit / 2,
                            usage: Some(billed),
                        });
                    }
                    Err(e) => return Err(e),
                };
                if truncated(&v) {
                    let (i, o) = usage(&v, req);
                    billed = (billed.0 + i, billed.1 + o);
                    if retried_longer {
                        return Err(ProviderError::Truncated {
                            provider: "openai".into(),
                            limit,
                            usage: Some(billed),
                        });
                    }
                    // Once, with twice the room; a model that loops fills that too.
                    tracing::info!(limit, "answer cut off at the output limit; asking once more");
                    retried_longer = true;
                    limit *= 2;
                    continue;
                }
                let add = |(i, o): (u64, u64)| (i + billed.0, o + billed.1);
                return match read_response(&v, req) {
                    Ok(mut a) => {
                        (a.tokens_in, a.tokens_out) = add((a.tokens_in, a.tokens_out));
                        Ok(a)
                    }
                    Err(message) => Err(ProviderError::BadAnswer {
                        provider: "openai".into(),
                        message,
                        usage: Some(add(usage(&v, req))),
                    }),
                };
            }
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
        let b = body("m", &req, ResponseFormat::JsonSchema, 512);
        assert_eq!(b["response_format"]["json_schema"]["strict"], true);
        assert_eq!(b["max_tokens"], 512);
        let t = body("m", &req, ResponseFormat::Text, 512);
        assert!(t.get("response_format").is_none());
        assert!(t["messages"][0]["content"].as_str().unwrap().contains("JSON schema"));
    }
}

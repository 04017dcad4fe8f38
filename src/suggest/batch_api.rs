//! The providers' batch APIs: Anthropic's Message Batches and OpenAI's Batch API (a JSONL
//! file uploaded to /v1/files, then a batch on /v1/chat/completions). Half the price, run on
//! the provider's side within 24 hours; sift submits, polls, streams the results and cancels.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::provider::{self, Answer, Call, ProviderError, Request, v1_url};
use crate::secrets::{Secret, Service};

/// Where a batch stands, as the provider says.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStatus {
    /// No request of it will change any more (its results can be collected).
    pub ended: bool,
    /// The provider's own word (`in_progress`, `ended`, `completed`, `expired`, ...).
    pub status: String,
    /// The provider's request counts, as given.
    pub counts: Value,
    /// Anthropic: the results file.
    pub results_url: Option<String>,
    /// OpenAI: the output and error files.
    pub files: Vec<String>,
    /// Why the provider refused the whole batch (OpenAI `failed`: the input did not
    /// validate); nothing of it ran.
    pub refused: Option<String>,
}

/// What became of one request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The provider's response body, as a live request would have had it.
    Answer(Value),
    /// The request failed or expired: asked again live (`kind` as in monitor logs).
    Failed { kind: String, message: String },
    /// Cancelled before it ran: not asked.
    Canceled,
}

/// A provider's batch API.
pub trait BatchApi: Send + Sync {
    fn provider(&self) -> &str;
    fn model(&self) -> &str;
    /// Most requests, and most bytes of requests, in one batch (the documented limits).
    fn limits(&self) -> (usize, usize);
    /// One request of a batch, under its custom id.
    fn line(&self, custom_id: &str, req: &Request) -> Value;
    /// Create a batch of these requests; its id.
    fn submit<'a>(&'a self, lines: &'a [Value]) -> BoxFuture<'a, Result<String, ProviderError>>;
    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>>;
    /// The result files of an ended batch, opened for streaming.
    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<JsonLines>, ProviderError>>;
    /// One line of a result file: its custom id and outcome (None: not a result line).
    fn outcome(&self, line: &Value) -> Option<(String, BatchOutcome)>;
    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// A response body read as a live answer is.
    fn read(&self, body: &Value, req: &Request) -> Result<Answer, String>;
    /// The tokens a response body reports (billed even when the answer is unusable).
    fn usage(&self, body: &Value) -> (u64, u64);
}

/// Uploads and result files may be large: they get this long, not the request timeout.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Tokens a body reports under these two keys of its `usage`.
fn reported(body: &Value, (i, o): (&str, &str)) -> (u64, u64) {
    let get = |k: &str| body.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).unwrap_or(0);
    (get(i), get(o))
}

/// Longest line of a result file: one response with its usage.
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// A result file read line by line as it arrives (a 100k-request file is never held whole).
pub struct JsonLines {
    resp: reqwest::Response,
    buf: Vec<u8>,
    done: bool,
    what: String,
}

impl JsonLines {
    fn new(resp: reqwest::Response, what: String) -> Self {
        JsonLines { resp, buf: Vec::new(), done: false, what }
    }

    /// The next JSON line; blank and unparsable lines are skipped (said in the log).
    pub async fn next(&mut self) -> Result<Option<Value>, ProviderError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                if let Some(v) = self.parse(&line) {
                    return Ok(Some(v));
                }
                continue;
            }
            if self.done {
                let rest = std::mem::take(&mut self.buf);
                return Ok(if rest.is_empty() { None } else { self.parse(&rest) });
            }
            match self.resp.chunk().await {
                Ok(Some(c)) => {
                    self.buf.extend_from_slice(&c);
                    if self.buf.len() > MAX_LINE_BYTES && !self.buf.contains(&b'\n') {
                        return Err(ProviderError::BadAnswer {
                            provider: self.what.clone(),
                            message: format!("a result line is longer than {MAX_LINE_BYTES} bytes"),
                            usage: None,
                        });
                    }
                }
                Ok(None) => self.done = true,
                Err(e) => {
                    return Err(ProviderError::Transport {
                        provider: self.what.clone(),
                        url: String::new(),
                        message: crate::secrets::scrub(&e.without_url().to_string()).into_owned(),
                    });
                }
            }
        }
    }

    fn parse(&self, line: &[u8]) -> Option<Value> {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return None;
        }
        match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(what = %self.what, "a result line is not JSON: {e}");
                None
            }
        }
    }
}

/// How a batch client reaches its provider.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub model: String,
    pub base_url: Option<String>,
    pub timeout: Duration,
}

/// The batch API of `provider` (anthropic or openai), with its key.
pub fn build(provider: &str, cfg: &BatchConfig) -> Result<Box<dyn BatchApi>, ProviderError> {
    let not = |message: String| ProviderError::NotConfigured { provider: provider.into(), message };
    let client = provider::http_client(provider, cfg.timeout)?;
    match provider {
        "anthropic" => {
            let key = crate::secrets::lookup(Service::Anthropic).ok_or_else(|| {
                not("no API key (set ANTHROPIC_API_KEY or run `sift auth anthropic`)".into())
            })?;
            let base =
                cfg.base_url.clone().unwrap_or_else(|| super::anthropic::DEFAULT_BASE.into());
            Ok(Box::new(AnthropicBatches { client, base, key, cfg: cfg.clone() }))
        }
        "openai" => {
            let key = crate::secrets::lookup(Service::Openai)
                .ok_or_else(|| not("no API key (set OPENAI_API_KEY)".into()))?;
            let base = cfg.base_url.clone().unwrap_or_else(|| super::openai::DEFAULT_BASE.into());
            let auth = format!("Bearer {}", key.expose());
            Ok(Box::new(OpenAiBatches { client, base, key, auth, cfg: cfg.clone() }))
        }
        other => {
            Err(not(format!("`{other}` has no batch API: --batch works with anthropic and openai")))
        }
    }
}

/// The same scheme, host and port: a results URL elsewhere never gets the key.
fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

// ---- Anthropic ---------------------------------------------------------------------------------

struct AnthropicBatches {
    client: reqwest::Client,
    base: String,
    key: Secret,
    cfg: BatchConfig,
}

const ANTHROPIC_VERSION: &str = "2023-06-01";

impl AnthropicBatches {
    fn url(&self, path: &str) -> String {
        v1_url(&self.base, path)
    }

    fn headers(&self) -> [(&'static str, &str); 2] {
        [("x-api-key", self.key.expose()), ("anthropic-version", ANTHROPIC_VERSION)]
    }

    fn call<'a>(&'a self, url: &'a str) -> Call<'a> {
        Call { provider: "anthropic", url, key: Some(&self.key), timeout: self.cfg.timeout }
    }
}

impl BatchApi for AnthropicBatches {
    fn provider(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn limits(&self) -> (usize, usize) {
        (100_000, 256 * 1024 * 1024)
    }

    fn line(&self, custom_id: &str, req: &Request) -> Value {
        json!({"custom_id": custom_id, "params": super::anthropic::body(&self.cfg.model, req)})
    }

    fn submit<'a>(&'a self, lines: &'a [Value]) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let url = self.url("messages/batches");
            let body = json!({ "requests": lines });
            let rb = self.client.post(&url).json(&body);
            let v = provider::send_json(self.call(&url), rb, &self.headers()).await?;
            batch_id(&v, "anthropic")
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let url = self.url(&format!("messages/batches/{}", path_segment(id)));
            let rb = self.client.get(&url);
            let v = provider::send_json(self.call(&url), rb, &self.headers()).await?;
            let status = text(&v, "processing_status");
            Ok(BatchStatus {
                ended: status == "ended",
                counts: v.get("request_counts").cloned().unwrap_or(Value::Null),
                results_url: v.get("results_url").and_then(Value::as_str).map(str::to_string),
                files: Vec::new(),
                refused: None,
                status,
            })
        })
    }

    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<JsonLines>, ProviderError>> {
        Box::pin(async move {
            let Some(url) = &status.results_url else { return Ok(Vec::new()) };
            if !same_origin(url, &self.url("messages")) {
                return Err(ProviderError::NotConfigured {
                    provider: "anthropic".into(),
                    message: format!(
                        "the results of the batch are at {}, not at the API's address: the key \
                         is not sent there",
                        provider::strip_userinfo(url)
                    ),
                });
            }
            let rb = self.client.get(url);
            let call = Call { timeout: TRANSFER_TIMEOUT, ..self.call(url) };
            let resp = provider::open_stream(call, rb, &self.headers()).await?;
            Ok(vec![JsonLines::new(resp, "anthropic".into())])
        })
    }

    fn outcome(&self, line: &Value) -> Option<(String, BatchOutcome)> {
        let id = line.get("custom_id")?.as_str()?.to_string();
        let result = line.get("result")?;
        let outcome = match text(result, "type").as_str() {
            "succeeded" => BatchOutcome::Answer(result.get("message")?.clone()),
            "canceled" => BatchOutcome::Canceled,
            "expired" => BatchOutcome::Failed {
                kind: "batch_expired".into(),
                message: "the batch expired before this request ran".into(),
            },
            _ => {
                let e = result.pointer("/error/error").or_else(|| result.get("error"));
                let kind = e.map(|e| text(e, "type")).unwrap_or_default();
                let message = e.map(|e| text(e, "message")).unwrap_or_default();
                BatchOutcome::Failed {
                    kind: format!("batch_{}", if kind.is_empty() { "errored" } else { &kind }),
                    message: crate::text::one_line(&message),
                }
            }
        };
        Some((id, outcome))
    }

    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = self.url(&format!("messages/batches/{}/cancel", path_segment(id)));
            let rb = self.client.post(&url);
            provider::send_json(self.call(&url), rb, &self.headers()).await.map(|_| ())
        })
    }

    fn read(&self, body: &Value, req: &Request) -> Result<Answer, String> {
        super::anthropic::read_response(body, req)
    }

    fn usage(&self, body: &Value) -> (u64, u64) {
        reported(body, ("input_tokens", "output_tokens"))
    }
}

// ---- OpenAI ------------------------------------------------------------------------------------

struct OpenAiBatches {
    client: reqwest::Client,
    base: String,
    key: Secret,
    /// "Bearer <key>", never formatted into any message.
    auth: String,
    cfg: BatchConfig,
}

impl OpenAiBatches {
    fn url(&self, path: &str) -> String {
        v1_url(&self.base, path)
    }

    fn headers(&self) -> [(&'static str, &str); 1] {
        [("authorization", self.auth.as_str())]
    }

    fn call<'a>(&'a self, url: &'a str) -> Call<'a> {
        Call { provider: "openai", url, key: Some(&self.key), timeout: self.cfg.timeout }
    }

    /// Upload the requests as a JSONL file with purpose `batch`; its file id.
    async fn upload(&self, lines: &[Value]) -> Result<String, ProviderError> {
        let mut jsonl = String::new();
        for l in lines {
            jsonl.push_str(&l.to_string());
            jsonl.push('\n');
        }
        let boundary = format!("sift-{:016x}", rand::random::<u64>());
        let body = multipart(&boundary, &jsonl);
        let url = self.url("files");
        let rb = self
            .client
            .post(&url)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        let call = Call { timeout: TRANSFER_TIMEOUT, ..self.call(&url) };
        let v = provider::send_json(call, rb, &self.headers()).await?;
        batch_id(&v, "openai")
    }
}

/// A multipart/form-data body with `purpose=batch` and the JSONL as `file`.
fn multipart(boundary: &str, jsonl: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sift-batch.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n{jsonl}\r\n--{boundary}--\r\n"
    )
}

impl BatchApi for OpenAiBatches {
    fn provider(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn limits(&self) -> (usize, usize) {
        (50_000, 200 * 1024 * 1024)
    }

    fn line(&self, custom_id: &str, req: &Request) -> Value {
        let format = super::openai::ResponseFormat::JsonSchema;
        let body =
            super::openai::body(&self.cfg.model, req, format, super::openai::max_tokens(req));
        json!({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})
    }

    fn submit<'a>(&'a self, lines: &'a [Value]) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let file = self.upload(lines).await?;
            let url = self.url("batches");
            let body = json!({
                "input_file_id": file,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            });
            let rb = self.client.post(&url).json(&body);
            let v = provider::send_json(self.call(&url), rb, &self.headers()).await?;
            batch_id(&v, "openai")
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let url = self.url(&format!("batches/{}", path_segment(id)));
            let rb = self.client.get(&url);
            let v = provider::send_json(self.call(&url), rb, &self.headers()).await?;
            let status = text(&v, "status");
            let files = ["output_file_id", "error_file_id"]
                .iter()
                .filter_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
                .collect();
            let refused = (status == "failed").then(|| {
                let why: Vec<String> = v
                    .pointer("/errors/data")
                    .and_then(Value::as_array)
                    .map(|e| e.iter().map(|e| text(e, "message")).collect())
                    .unwrap_or_default();
                crate::text::one_line(&why.join("; "))
            });
            Ok(BatchStatus {
                ended: matches!(status.as_str(), "completed" | "failed" | "expired" | "cancelled"),
                counts: v.get("request_counts").cloned().unwrap_or(Value::Null),
                results_url: None,
                files,
                refused,
                status,
            })
        })
    }

    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<JsonLines>, ProviderError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for file in &status.files {
                let url = self.url(&format!("files/{}/content", path_segment(file)));
                let rb = self.client.get(&url);
                let call = Call { timeout: TRANSFER_TIMEOUT, ..self.call(&url) };
                let resp = provider::open_stream(call, rb, &self.headers()).await?;
                out.push(JsonLines::new(resp, "openai".into()));
            }
            Ok(out)
        })
    }

    fn outcome(&self, line: &Value) -> Option<(String, BatchOutcome)> {
        let id = line.get("custom_id")?.as_str()?.to_string();
        let status = line.pointer("/response/status_code").and_then(Value::as_u64);
        let body = line.pointer("/response/body");
        let outcome = match (status, body) {
            (Some(200..=299), Some(b)) => BatchOutcome::Answer(b.clone()),
            _ => {
                let e = line.get("error").filter(|e| !e.is_null());
                let e = e.or_else(|| line.pointer("/response/body/error"));
                let code = e.map(|e| text(e, "code")).unwrap_or_default();
                let kind = match (code.as_str(), status) {
                    ("batch_cancelled", _) => return Some((id, BatchOutcome::Canceled)),
                    ("", Some(s)) => format!("http_{s}"),
                    ("", None) => "batch_errored".into(),
                    (c, _) if c.starts_with("batch_") => c.to_string(),
                    (c, _) => format!("batch_{c}"),
                };
                let message = e.map(|e| text(e, "message")).unwrap_or_default();
                BatchOutcome::Failed { kind, message: crate::text::one_line(&message) }
            }
        };
        Some((id, outcome))
    }

    fn cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = self.url(&format!("batches/{}/cancel", path_segment(id)));
            let rb = self.client.post(&url);
            provider::send_json(self.call(&url), rb, &self.headers()).await.map(|_| ())
        })
    }

    fn read(&self, body: &Value, req: &Request) -> Result<Answer, String> {
        super::openai::read_response(body, req)
    }

    fn usage(&self, body: &Value) -> (u64, u64) {
        reported(body, ("prompt_tokens", "completion_tokens"))
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A batch's or file's id from the provider's answer.
fn batch_id(v: &Value, provider: &str) -> Result<String, ProviderError> {
    let id = text(v, "id");
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)) {
        return Err(ProviderError::BadAnswer {
            provider: provider.into(),
            message: "the answer has no usable `id`".into(),
            usage: None,
        });
    }
    Ok(id)
}

/// An id as one URL path segment (ids come from the provider; a stored one may be edited).
fn path_segment(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || "_-".contains(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai() -> OpenAiBatches {
        let cfg = BatchConfig {
            model: "gpt-4o-mini".into(),
            base_url: None,
            timeout: Duration::from_secs(5),
        };
        let key = Secret::new("k".into(), crate::secrets::Source::Keyring);
        OpenAiBatches {
            client: crate::net::client(Duration::from_secs(5)).unwrap(),
            base: "http://x".into(),
            auth: "Bearer k".into(),
            key,
            cfg,
        }
    }

    #[test]
    fn openai_result_lines_read_as_outcomes() {
        let o = openai();
        let ok = json!({"id": "batch_req_1", "custom_id": "c1", "response": {"status_code": 200, "request_id": "r", "body": {"choices": []}}, "error": null});
        assert_eq!(
            o.outcome(&ok),
            Some(("c1".into(), BatchOutcome::Answer(json!({"choices": []}))))
        );
        let expired = json!({"id": "batch_req_2", "custom_id": "c2", "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}});
        assert!(
            matches!(o.outcome(&expired), Some((_, BatchOutcome::Failed { kind, .. })) if kind == "batch_expired")
        );
        let bad = json!({"custom_id": "c3", "response": {"status_code": 400, "body": {"error": {"message": "bad", "type": "invalid_request_error", "code": null}}}, "error": null});
        assert!(
            matches!(o.outcome(&bad), Some((_, BatchOutcome::Failed { kind, .. })) if kind == "http_400")
        );
        let cancelled = json!({"custom_id": "c4", "response": null, "error": {"code": "batch_cancelled", "message": "cancelled"}});
        assert_eq!(o.outcome(&cancelled), Some(("c4".into(), BatchOutcome::Canceled)));
        assert_eq!(o.outcome(&json!({"no": "id"})), None);
    }

    fn anthropic() -> AnthropicBatches {
        let cfg =
            BatchConfig { model: "m".into(), base_url: None, timeout: Duration::from_secs(5) };
        let key = Secret::new("k".into(), crate::secrets::Source::Keyring);
        AnthropicBatches {
            client: crate::net::client(Duration::from_secs(5)).unwrap(),
            base: "http://x".into(),
            key,
            cfg,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// A result line of any shape and text, from either provider: an outcome or nothing,
        /// never a panic; a failure's message is one line.
        #[test]
        fn result_lines_of_any_shape_are_read_or_skipped(
            id in proptest::prelude::any::<String>(),
            kind in proptest::prelude::any::<String>(),
            message in "\\PC{0,40}|[\u{0}-\u{1f}]{0,5}",
            status in proptest::prelude::any::<u16>(),
            line in proptest::prelude::any::<String>(),
        ) {
            let a = anthropic();
            let o = openai();
            let lines = [
                json!({"custom_id": id, "result": {"type": kind, "error": {"error": {"type": kind, "message": message}}}}),
                json!({"custom_id": id, "response": {"status_code": status, "body": {"error": {"message": message}}}, "error": {"code": kind, "message": message}}),
                json!({"custom_id": id, "result": line}),
                json!({"custom_id": line, "response": null, "error": null}),
                serde_json::from_str(&line).unwrap_or(Value::Null),
                json!(line),
            ];
            for l in &lines {
                for api in [&a as &dyn BatchApi, &o] {
                    if let Some((_, BatchOutcome::Failed { message, .. })) = api.outcome(l) {
                        proptest::prop_assert!(!message.contains('\n'), "{message:?}");
                    }
                    let _ = api.usage(l);
                }
            }
        }
    }

    #[test]
    fn ids_and_origins_are_checked() {
        assert!(batch_id(&json!({"id": "msgbatch_01"}), "a").is_ok());
        assert!(batch_id(&json!({"id": "../../x"}), "a").is_err());
        assert_eq!(path_segment("batch_1/../x"), "batch_1x");
        assert!(same_origin(
            "https://api.anthropic.com/v1/a",
            "https://api.anthropic.com/v1/messages"
        ));
        assert!(!same_origin("https://evil.example/v1/a", "https://api.anthropic.com/v1/messages"));
    }
}

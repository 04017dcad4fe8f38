//! The `Suggester` trait every provider implements, its request/answer/error types, the
//! HTTP plumbing shared by the remote providers (capped body reads, Retry-After), and the
//! factory that builds a provider by name from settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::model::Item;
use crate::secrets::{self, Secret, Service};
use crate::suggest::parse::RawAnswer;
use crate::taxonomy::Taxonomy;

/// Largest provider response body sift reads; anything longer is refused unread.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What a provider is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub item: Arc<Item>,
    pub system: String,
    pub user: String,
    pub schema: Value,
    pub temperature: f64,
}

/// A provider's answer with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub raw: RawAnswer,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// Why a provider gave no answer. Messages carry the provider and URL, never a key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider}: HTTP {status} from {url}: {message}")]
    Status {
        provider: String,
        url: String,
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("{provider}: no answer from {url} within {secs} s")]
    Timeout { provider: String, url: String, secs: u64 },
    #[error("{provider}: cannot reach {url}: {message}")]
    Transport { provider: String, url: String, message: String },
    #[error("{provider}: answer from {url} is larger than {limit} bytes; not read")]
    TooLarge { provider: String, url: String, limit: usize },
    /// The provider answered (and billed) but the answer is unusable; `usage` is what the
    /// answer reported it cost (input, output tokens), so the budget still counts it.
    #[error("{provider}: unusable answer: {message}")]
    BadAnswer { provider: String, message: String, usage: Option<(u64, u64)> },
    /// The answer hit the output token limit (`finish_reason: length`), even after one
    /// retry with a higher limit: the cut-off JSON is not an answer.
    #[error("{provider}: the answer was cut off at {limit} output tokens")]
    Truncated { provider: String, limit: u64, usage: Option<(u64, u64)> },
    #[error("{provider} is not configured: {message}")]
    NotConfigured { provider: String, message: String },
}

impl ProviderError {
    /// Rate limits, server errors and timeouts are worth another try; the rest are not.
    pub fn retryable(&self) -> bool {
        match self {
            // A 5xx that says the request itself is invalid fails the same way every time.
            ProviderError::Status { status, message, .. } => {
                *status == 429 || (*status >= 500 && !request_invalid(message))
            }
            ProviderError::Timeout { .. } | ProviderError::Transport { .. } => true,
            _ => false,
        }
    }

    /// The wait the server asked for, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Tokens an unusable answer still cost (input, output), when the answer said.
    pub fn usage(&self) -> Option<(u64, u64)> {
        match self {
            ProviderError::BadAnswer { usage, .. } | ProviderError::Truncated { usage, .. } => {
                *usage
            }
            _ => None,
        }
    }

    /// Short kind name for the monitor log.
    pub fn kind(&self) -> String {
        match self {
            ProviderError::Status { status, .. } => format!("http_{status}"),
            ProviderError::Timeout { .. } => "timeout".into(),
            ProviderError::Transport { .. } => "transport".into(),
            ProviderError::TooLarge { .. } => "too_large".into(),
            ProviderError::BadAnswer { .. } => "bad_answer".into(),
            ProviderError::Truncated { .. } => "truncated".into(),
            ProviderError::NotConfigured { .. } => "not_configured".into(),
        }
    }
}

/// An error message that blames the request, not the server's state (llama.cpp's server
/// answers 500 for a request shape it does not take): sending it again cannot help.
pub fn request_invalid(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "input should be",
        "invalid",
        "unsupported",
        "not supported",
        "validation error",
        "unknown field",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// A source of label suggestions. Object-safe: the runner holds `Arc<dyn Suggester>`.
pub trait Suggester: Send + Sync {
    /// Provider name as recorded in runs (anthropic, openai, local, keywords).
    fn provider(&self) -> &str;
    /// Model name as recorded in runs and used in the cache key.
    fn model(&self) -> &str;
    /// True for network providers: retries, the token budget and the cache apply.
    fn remote(&self) -> bool;
    /// The highest sampling temperature the API accepts (OpenAI's 2 unless a provider says).
    fn max_temperature(&self) -> f64 {
        2.0
    }
    /// Ask for labels for one item.
    fn suggest<'a>(&'a self, req: &'a Request) -> BoxFuture<'a, Result<Answer, ProviderError>>;
    /// What the provider settled on while answering (an OpenAI-compatible server's response
    /// format), for the run's record.
    fn negotiated(&self) -> Option<String> {
        None
    }
    /// Whether the provider answers now (readiness checks); offline providers always do.
    fn probe(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

/// What building a provider needs besides its name.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// False when `base_url` is named only by the shared workspace file: no key goes there.
    pub send_key: bool,
    pub timeout: Duration,
    /// Folder of trained local models (.sift/models).
    pub models_dir: PathBuf,
    /// `auto` (negotiate), `json_schema`, `json_object` or `text` (OpenAI-compatible servers).
    pub response_format: String,
}

/// Provider names sift knows.
pub const PROVIDERS: &[&str] = &["anthropic", "openai", "local", "keywords"];

/// Build a provider by name. Missing keys and untrained models give `NotConfigured`.
pub fn build(
    name: &str,
    cfg: &ProviderConfig,
    tax: &Taxonomy,
) -> Result<Arc<dyn Suggester>, ProviderError> {
    let not = |message: String| ProviderError::NotConfigured { provider: name.into(), message };
    // A password in the base URL (a proxy's key) is a secret like any other.
    if let Some(pw) = cfg
        .base_url
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .and_then(|u| u.password().map(str::to_string))
    {
        secrets::remember(&pw);
    }
    match name {
        "anthropic" => {
            if !cfg.send_key {
                return Err(not(untrusted_base_url(cfg)));
            }
            let key = secrets::lookup(Service::Anthropic).ok_or_else(|| {
                not("no API key (set ANTHROPIC_API_KEY or run `sift auth anthropic`)".into())
            })?;
            Ok(Arc::new(super::anthropic::Anthropic::new(cfg, key)?))
        }
        "openai" => {
            // Keyless servers (Ollama, llama.cpp) still work at an untrusted base URL.
            let key = secrets::lookup(Service::Openai).filter(|_| cfg.send_key);
            // Local OpenAI-compatible servers (Ollama, llama.cpp, vLLM) need no key.
            if key.is_none() && cfg.base_url.is_none() {
                return Err(not(
                    "no API key (set OPENAI_API_KEY) and no --base-url of a keyless server".into(),
                ));
            }
            Ok(Arc::new(super::openai::OpenAi::new(cfg, key)?))
        }
        "keywords" => Ok(Arc::new(super::offline::KeywordProvider::new(tax))),
        "local" => super::offline::build_local(cfg, tax).map_err(not),
        other => Err(ProviderError::NotConfigured {
            provider: other.into(),
            message: format!("unknown provider; use one of {}", PROVIDERS.join(", ")),
        }),
    }
}

/// Why no key is sent to the configured base URL.
pub fn untrusted_base_url(cfg: &ProviderConfig) -> String {
    format!(
        "the API key is not sent to {}: only the workspace sift.toml names it (suggest.base_url); \
         allow it with base_url in your own config, SIFT_BASE_URL or --base-url",
        cfg.base_url.as_deref().map(strip_userinfo).unwrap_or_default()
    )
}

/// A URL without its user name and password (`https://u:secret@proxy` is a way to pass a
/// proxy's key): for run records and error messages.
pub(crate) fn strip_userinfo(u: &str) -> String {
    match reqwest::Url::parse(u) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// POST a JSON body and return the JSON answer, reading at most MAX_BODY_BYTES.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    key: Option<&Secret>,
    timeout: Duration,
) -> Result<Value, ProviderError> {
    let call = Call { provider, url, key, timeout };
    send_json(call, client.post(url).json(body), headers).await
}

/// Where a request goes and how its errors are told: the URL without credentials, the key
/// scrubbed from every message.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    pub provider: &'a str,
    pub url: &'a str,
    pub key: Option<&'a Secret>,
    pub timeout: Duration,
}

impl Call<'_> {
    fn transport(&self, e: reqwest::Error) -> ProviderError {
        let e = e.without_url();
        let (provider, url) = (self.provider.to_string(), strip_userinfo(self.url));
        if e.is_timeout() {
            ProviderError::Timeout { provider, url, secs: self.timeout.as_secs() }
        } else {
            ProviderError::Transport { provider, url, message: redact(&error_chain(&e), self.key) }
        }
    }
}

/// Send a request with headers (keys marked sensitive), without judging its status.
pub(crate) async fn send(
    call: Call<'_>,
    mut rb: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> Result<reqwest::Response, ProviderError> {
    for (k, v) in headers {
        let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
            ProviderError::NotConfigured {
                provider: call.provider.into(),
                message: format!("the value of header {k} is not valid in HTTP"),
            }
        })?;
        // Sensitive values print as "Sensitive" in any debug or trace output.
        value.set_sensitive(
            k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("x-api-key"),
        );
        rb = rb.header(*k, value);
    }
    rb.timeout(call.timeout).send().await.map_err(|e| call.transport(e))
}

/// Send a request and open its body for streaming when the status is 2xx; otherwise the
/// API's error, as for any request.
pub(crate) async fn open_stream(
    call: Call<'_>,
    rb: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> Result<reqwest::Response, ProviderError> {
    let resp = send(call, rb, headers).await?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    match read_json(call, resp).await {
        Err(e) => Err(e),
        Ok(_) => Err(ProviderError::Transport {
            provider: call.provider.into(),
            url: strip_userinfo(call.url),
            message: "unexpected answer".into(),
        }),
    }
}

/// Send a request and read its JSON answer (at most MAX_BODY_BYTES).
pub(crate) async fn send_json(
    call: Call<'_>,
    rb: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> Result<Value, ProviderError> {
    let resp = send(call, rb, headers).await?;
    read_json(call, resp).await
}

/// A response's JSON body, or the API's error for a status outside 2xx.
async fn read_json(call: Call<'_>, mut resp: reqwest::Response) -> Result<Value, ProviderError> {
    let (provider, key) = (call.provider, call.key);
    let shown = strip_userinfo(call.url);
    let transport = |e: reqwest::Error| call.transport(e);
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    if let Some(len) = resp.content_length()
        && len > MAX_BODY_BYTES as u64
    {
        return Err(ProviderError::TooLarge {
            provider: provider.into(),
            url: shown.clone(),
            limit: MAX_BODY_BYTES,
        });
    }
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ProviderError::TooLarge {
                provider: provider.into(),
                url: shown.clone(),
                limit: MAX_BODY_BYTES,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        let message = redact(&error_message(&bytes), key);
        return Err(ProviderError::Status {
            provider: provider.into(),
            url: shown.clone(),
            status,
            retry_after,
            message,
        });
    }
    // A body that is not JSON carries no usage; it is not counted against the budget.
    serde_json::from_slice(&bytes).map_err(|e| ProviderError::BadAnswer {
        provider: provider.into(),
        message: format!("response is not JSON: {e}"),
        usage: None,
    })
}

/// GET a URL and succeed on any 2xx answer: a provider's model list, asked to see that it is
/// reachable and takes the key. The body is not read.
pub(crate) async fn get_ok(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, &str)],
    key: Option<&Secret>,
    timeout: Duration,
) -> Result<(), ProviderError> {
    let shown = strip_userinfo(url);
    let mut rb = client.get(url).timeout(timeout);
    for (k, v) in headers {
        let Ok(mut value) = reqwest::header::HeaderValue::from_str(v) else { continue };
        value.set_sensitive(true);
        rb = rb.header(*k, value);
    }
    let resp = rb.send().await.map_err(|e| {
        let e = e.without_url();
        if e.is_timeout() {
            ProviderError::Timeout {
                provider: provider.into(),
                url: shown.clone(),
                secs: timeout.as_secs(),
            }
        } else {
            let message = redact(&error_chain(&e), key);
            ProviderError::Transport { provider: provider.into(), url: shown.clone(), message }
        }
    })?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(ProviderError::Status {
        provider: provider.into(),
        url: shown,
        status,
        retry_after: retry_after(resp.headers()),
        message: "the provider's model list did not answer".into(),
    })
}

/// The API's own error message when it sent one, else the start of the body; one line, short.
fn error_message(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    // Scrubbed before it is cut short: a key cut in half would no longer be recognised.
    let whole = from_json.unwrap_or_else(|| text.into_owned());
    let msg = crate::text::one_line(&crate::secrets::scrub(&whole));
    let short: String = msg.chars().take(300).collect();
    if short.is_empty() { "(empty body)".into() } else { short }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Never let a key through, even if a server echoes it back.
pub(crate) fn redact(text: &str, key: Option<&Secret>) -> String {
    let text = match key {
        Some(k) if !k.expose().is_empty() => text.replace(k.expose(), "<redacted>"),
        _ => text.to_string(),
    };
    crate::secrets::scrub(&text).into_owned()
}

/// The HTTP client of a remote provider; failing to build one leaves it not configured.
pub fn http_client(provider: &str, timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    crate::net::client(timeout).map_err(|e| ProviderError::NotConfigured {
        provider: provider.into(),
        message: format!("cannot build an HTTP client: {e}"),
    })
}

/// Tokens in and out as the provider reports them under `usage.<in_key>` and
/// `usage.<out_key>`; input is estimated from the prompt when absent, output is `out_default`.
pub fn reported_usage(
    v: &Value,
    (in_key, out_key): (&str, &str),
    req: &Request,
    out_default: u64,
) -> (u64, u64) {
    let usage = |k: &str| v.get("usage").and_then(|u| u.get(k)).and_then(Value::as_u64);
    let tokens_in =
        usage(in_key).unwrap_or_else(|| estimate_tokens(&req.system) + estimate_tokens(&req.user));
    (tokens_in, usage(out_key).unwrap_or(out_default))
}

/// `{base}/v1/{path}`, whether or not the base already ends in /v1 (or has trailing slashes):
/// users paste either form, and proxies document either.
pub fn v1_url(base: &str, path: &str) -> String {
    let b = base.trim_end_matches('/');
    let b = b.strip_suffix("/v1").unwrap_or(b);
    format!("{b}/v1/{path}")
}

/// Retry-After (seconds or HTTP date) or retry-after-ms, capped at ten minutes.
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let cap = Duration::from_secs(600);
    if let Some(ms) = h.get("retry-after-ms").and_then(|v| v.to_str().ok())
        && let Ok(ms) = ms.trim().parse::<f64>()
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0).min(cap));
    }
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(cap));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO).min(cap))
}

/// Rough token count of text when a server does not report usage (about four characters
/// per token for English).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn errors_are_short_and_redacted() {
        let key = Secret::new("sk-abc".into(), secrets::Source::Env("OPENAI_API_KEY"));
        let body = br#"{"error": {"message": "bad key sk-abc\u001b[2J"}}"#;
        let m = redact(&error_message(body), Some(&key));
        assert_eq!(m, "bad key <redacted>");
        assert!(
            ProviderError::Status {
                provider: "p".into(),
                url: "u".into(),
                status: 429,
                retry_after: None,
                message: m
            }
            .retryable()
        );
    }

    #[tokio::test]
    async fn errors_never_show_credentials_in_the_url() {
        // Nothing listens on port 1 of localhost: the connection is refused at once.
        let url = "http://proxy-user:pw-SECRET@127.0.0.1:1/v1/chat/completions";
        let client = http_client("openai", Duration::from_secs(5)).unwrap();
        let body = serde_json::json!({});
        let e = post_json(&client, "openai", url, &[], &body, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(matches!(e, ProviderError::Transport { .. }), "{text}");
        assert!(!text.contains("pw-SECRET") && !text.contains("proxy-user"), "{text}");
        assert!(text.contains("127.0.0.1:1"), "the URL is still named: {text}");
    }
}

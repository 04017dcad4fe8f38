//! The GitHub REST client: headers GitHub documents, the token sent only to the configured API
//! host, conditional requests, rate-limit waits (primary, secondary, retry-after) and the pause
//! between mutations.
//!
//! Why reqwest here and octocrab only for `GET /user`: pulling needs per-request control of
//! `If-None-Match`, the raw `ETag` and `Link` headers, and a refusal to follow a pagination link
//! to another host before any request (and token) leaves; rate-limit waits must be injectable so
//! tests need not sleep. octocrab's typed API hides those details, so the paged and mutating
//! calls go through this client; octocrab (with the same rustls provider and base path) resolves
//! the authenticated login, which is what it fits.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::secrets::Secret;
use crate::workspace::GithubSettings;

/// GitHub's REST API version this client speaks.
pub const API_VERSION: &str = "2022-11-28";

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{method} {url}: GitHub answered {status}: {message}")]
    Http { method: String, url: String, status: u16, message: String },
    #[error(
        "refusing to follow a link to {url}: it is not on the configured API host {api}, and the \
         token is only ever sent there"
    )]
    ForeignLink { url: String, api: String },
    #[error(
        "{url}: rate limited; GitHub asks to wait {wait_secs} s, more than the {max_secs} s sift waits"
    )]
    RateLimited { url: String, wait_secs: u64, max_secs: u64 },
    #[error("{url}: still failing after {attempts} attempts: {last}")]
    GaveUp { url: String, attempts: u32, last: String },
    #[error("{url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{method} {url}: {reason}; GitHub may or may not have acted on it")]
    Ambiguous { method: String, url: String, reason: String },
    #[error("{url}: unexpected response body: {reason}")]
    Body { url: String, reason: String },
    #[error(
        "bad API URL {0:?}: give an http(s) URL such as https://api.github.com or https://host/api/v3"
    )]
    BadApiUrl(String),
    #[error(
        "{}: github.api_url = {url:?} would receive your GitHub token, and sift.toml is shared \
         through git, so it may not choose where the token goes; if you trust that host, set \
         api_url = {url:?} under [github] in your own config ({user_config}), or set \
         SIFT_GITHUB_API_URL, or pass --api-url",
        file.display()
    )]
    UntrustedApiUrl { file: std::path::PathBuf, url: String, user_config: String },
    #[error("bad repository {0:?}: give OWNER/REPO")]
    BadRepo(String),
    #[error(
        "no GitHub token: run `sift auth set github`, set GITHUB_TOKEN, or log in with `gh auth login`"
    )]
    NoToken,
    #[error("push {push}: {reason}")]
    Journal { push: String, reason: String },
    #[error("octocrab: {0}")]
    Octocrab(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub type Result<T> = std::result::Result<T, GithubError>;

/// How long to wait, and how often to retry. Tests shrink these; GitHub's guidance is the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    /// First wait on a secondary rate limit without retry-after (GitHub: at least a minute).
    pub secondary_min: Duration,
    /// First wait after a 5xx or a network error; doubles each attempt.
    pub retry_base: Duration,
    /// The longest single wait sift accepts before giving up with an error.
    pub max_wait: Duration,
    /// Attempts per request (rate limits and server errors).
    pub attempts: u32,
    /// Pause between mutations.
    pub mutation_interval: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            secondary_min: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
            attempts: 6,
            mutation_interval: Duration::from_millis(1000),
        }
    }
}

impl Pacing {
    /// Settings, then the environment (SIFT_GITHUB_SECONDARY_WAIT_MS, SIFT_GITHUB_RETRY_BASE_MS,
    /// SIFT_GITHUB_MAX_WAIT_SECS), which lets scripts and tests shorten the waits.
    pub fn from_settings(gs: &GithubSettings) -> Self {
        let env_u64 =
            |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let mut p = Pacing {
            mutation_interval: Duration::from_millis(gs.mutation_interval_ms),
            ..Pacing::default()
        };
        if let Some(ms) = env_u64("SIFT_GITHUB_SECONDARY_WAIT_MS") {
            p.secondary_min = Duration::from_millis(ms);
        }
        if let Some(ms) = env_u64("SIFT_GITHUB_RETRY_BASE_MS") {
            p.retry_base = Duration::from_millis(ms);
        }
        if let Some(s) = env_u64("SIFT_GITHUB_MAX_WAIT_SECS") {
            p.max_wait = Duration::from_secs(s);
        }
        p
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| GithubError::Body { url: self.url.to_string(), reason: e.to_string() })
    }

    /// The `rel="next"` target of the Link header, if any.
    pub fn next_link(&self) -> Option<String> {
        next_link(self.header("link")?)
    }
}

/// Parse `<url>; rel="next", <url>; rel="last"` and return the next URL.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = target.strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// Percent-encode one path segment (label names hold spaces, slashes, colons...).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An owner/name pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.trim().split_once('/') {
            Some((o, n)) if ok(o) && ok(n) => {
                Ok(RepoSlug { owner: o.to_string(), name: n.to_string() })
            }
            _ => Err(GithubError::BadRepo(s.to_string())),
        }
    }

    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// `/repos/OWNER/REPO`
    pub fn path(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }
}

/// Which failures `send` retries by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Rate limits, server errors and network errors: for reads, and for mutations that do
    /// no harm when repeated (adding a label twice, editing a comment to the same text).
    Always,
    /// Only failures after which GitHub cannot have acted: rate limits (GitHub refused) and
    /// connections that never opened. A timeout, a broken connection or a 5xx after the
    /// request went out comes back as `GithubError::Ambiguous`: a POST that creates something
    /// (a comment) must not be repeated blindly, or it lands twice.
    Unambiguous,
}

/// The client. Mutations go through `mutate`, which keeps them serial and spaced.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    pub pacing: Pacing,
    last_mutation: Option<Instant>,
    /// Requests sent (every attempt), for reports and tests.
    pub requests: u64,
}

impl Client {
    pub fn new(api_url: &str, token: Secret, pacing: Pacing) -> Result<Self> {
        crate::net::install_crypto();
        let trimmed = api_url.trim().trim_end_matches('/');
        let base = Url::parse(trimmed).map_err(|_| GithubError::BadApiUrl(api_url.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(GithubError::BadApiUrl(api_url.to_string()));
        }
        let api_for_redirect = base.clone();
        // Follow redirects (renamed repositories answer 301) only on the API host, so the
        // token never travels elsewhere.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > 5 || !same_origin(&api_for_redirect, attempt.url()) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("sift/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .redirect(policy)
            .build()
            .map_err(|e| GithubError::Transport { url: base.to_string(), source: e })?;
        Ok(Client { http, base, token, pacing, last_mutation: None, requests: 0 })
    }

    /// The API base URL as configured (no trailing slash).
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// An absolute URL for an API path such as `/repos/o/r/issues`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base(), path_and_query)
    }

    /// Refuse any URL outside the API base (another host, port, scheme or path prefix).
    pub fn check_url(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse(url).map_err(|_| GithubError::ForeignLink {
            url: crate::text::one_line(url),
            api: self.base().to_string(),
        })?;
        let prefix = self.base.path().trim_end_matches('/');
        if same_origin(&self.base, &parsed) && parsed.path().starts_with(prefix) {
            Ok(parsed)
        } else {
            Err(GithubError::ForeignLink {
                url: crate::text::one_line(url),
                api: self.base().to_string(),
            })
        }
    }

    /// GET with an optional ETag (a 304 comes back as a response, not an error).
    pub async fn get(&mut self, url: &str, etag: Option<&str>) -> Result<Response> {
        self.send(Method::GET, url, None, etag).await
    }

    /// GET every page of a JSON array, following Link rel="next" on the API host only.
    pub async fn get_all<T: serde::de::DeserializeOwned>(&mut self, url: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next {
            let resp = self.get(&u, None).await?;
            next = resp.next_link();
            out.extend(resp.json::<Vec<T>>()?);
        }
        Ok(out)
    }

    /// A mutation: serial, at least `pacing.mutation_interval` after the previous one.
    pub async fn mutate(
        &mut self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response> {
        self.mutate_with(method, url, body, Retry::Always).await
    }

    /// A POST that creates something each time it lands (a comment): retried only where GitHub
    /// cannot have acted; see `Retry::Unambiguous`.
    pub async fn create(&mut self, url: &str, body: &serde_json::Value) -> Result<Response> {
        self.mutate_with(Method::POST, url, Some(body), Retry::Unambiguous).await
    }

    async fn mutate_with(
        &mut self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        retry: Retry,
    ) -> Result<Response> {
        if let Some(last) = self.last_mutation {
            let since = last.elapsed();
            if since < self.pacing.mutation_interval {
                tokio::time::sleep(self.pacing.mutation_interval - since).await;
            }
        }
        let result = self.send_with(method, url, body, None, retry).await;
        self.last_mutation = Some(Instant::now());
        result
    }

    /// The pause before the next attempt after a server or network error (`attempt` from 0).
    pub async fn retry_pause(&self, url: &str, attempt: u32) -> Result<()> {
        self.wait(url, self.backoff(self.pacing.retry_base, attempt)).await
    }

    fn headers(&self, etag: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("application/vnd.github+json"));
        h.insert("x-github-api-version", HeaderValue::from_static(API_VERSION));
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", self.token.expose())) {
            v.set_sensitive(true);
            h.insert("authorization", v);
        }
        if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
            h.insert("if-none-match", tag);
        }
        h
    }

    /// Send one request with retries for rate limits and server errors.
    pub async fn send(
        &mut self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        etag: Option<&str>,
    ) -> Result<Response> {
        self.send_with(method, url, body, etag, Retry::Always).await
    }

    async fn send_with(
        &mut self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        etag: Option<&str>,
        retry: Retry,
    ) -> Result<Response> {
        let ambiguous = |reason: String| GithubError::Ambiguous {
            method: method.to_string(),
            url: url.to_string(),
            reason,
        };
        let parsed = self.check_url(url)?;
        let mut last = String::new();
        for attempt in 0..self.pacing.attempts.max(1) {
            let mut req =
                self.http.request(method.clone(), parsed.clone()).headers(self.headers(etag));
            if let Some(b) = body {
                req = req.json(b);
            }
            self.requests += 1;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                    // A connection that never opened carried nothing; after that, the request
                    // may have reached GitHub.
                    if retry == Retry::Unambiguous && !e.is_connect() {
                        return Err(ambiguous(crate::text::one_line(&e.to_string())));
                    }
                    last = e.to_string();
                    self.wait(url, self.backoff(self.pacing.retry_base, attempt)).await?;
                    continue;
                }
                Err(e) => return Err(GithubError::Transport { url: url.to_string(), source: e }),
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let final_url = resp.url().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| GithubError::Transport { url: url.to_string(), source: e })?
                .to_vec();
            let response = Response { status, headers, body: bytes, url: final_url };
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            if let Some(wait) = self.rate_limit_wait(&response, attempt) {
                last = format!("{status}: {}", error_message(&response.body));
                tracing::warn!(
                    url,
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "rate limited"
                );
                self.wait(url, wait).await?;
                continue;
            }
            if status.is_server_error() {
                last = format!("{status}: {}", error_message(&response.body));
                if retry == Retry::Unambiguous {
                    return Err(ambiguous(format!("GitHub answered {last}")));
                }
                self.wait(url, self.backoff(self.pacing.retry_base, attempt)).await?;
                continue;
            }
            return Err(GithubError::Http {
                method: method.to_string(),
                url: url.to_string(),
                status: status.as_u16(),
                message: error_message(&response.body),
            });
        }
        Err(GithubError::GaveUp { url: url.to_string(), attempts: self.pacing.attempts, last })
    }

    fn backoff(&self, base: Duration, attempt: u32) -> Duration {
        base.saturating_mul(1u32 << attempt.min(16))
    }

    /// How long GitHub asks us to wait, when the response is a rate limit.
    fn rate_limit_wait(&self, r: &Response, attempt: u32) -> Option<Duration> {
        if r.status != StatusCode::FORBIDDEN && r.status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        if let Some(secs) = r.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_secs(secs));
        }
        if r.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
            let reset = r.header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok());
            let now = jiff::Timestamp::now().as_second();
            // One extra second absorbs clock skew between GitHub and us.
            let secs = reset.map(|t| (t - now).max(0) + 1).unwrap_or(60);
            return Some(Duration::from_secs(secs as u64));
        }
        let message = error_message(&r.body).to_ascii_lowercase();
        if r.status == StatusCode::TOO_MANY_REQUESTS
            || message.contains("secondary rate limit")
            || message.contains("abuse")
        {
            return Some(self.backoff(self.pacing.secondary_min, attempt));
        }
        None
    }

    async fn wait(&self, url: &str, wait: Duration) -> Result<()> {
        if wait > self.pacing.max_wait {
            return Err(GithubError::RateLimited {
                url: url.to_string(),
                wait_secs: wait.as_secs(),
                max_secs: self.pacing.max_wait.as_secs(),
            });
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The authenticated user's login (GET /user), through octocrab.
    pub async fn login(&mut self) -> Result<String> {
        let uri: http::Uri =
            self.base().parse().map_err(|_| GithubError::BadApiUrl(self.base().to_string()))?;
        // octocrab sends X-GitHub-Api-Version itself.
        let oc = octocrab::Octocrab::builder()
            .base_uri(uri)
            .map_err(|e| GithubError::Octocrab(e.to_string()))?
            .personal_token(self.token.expose().to_string())
            .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
            .build()
            .map_err(|e| GithubError::Octocrab(e.to_string()))?;
        self.requests += 1;
        let me =
            oc.current().user().await.map_err(|e| GithubError::Octocrab(octocrab_message(&e)))?;
        Ok(me.login)
    }
}

fn octocrab_message(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let message = crate::secrets::scrub(&source.message).into_owned();
            format!("GET /user: GitHub answered {}: {message}", source.status_code)
        }
        other => {
            let text = crate::secrets::scrub(&other.to_string()).into_owned();
            format!("GET /user: {}", crate::text::one_line(&text))
        }
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// GitHub's `message` field, or the start of the body.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let m = v.get("message")?.as_str()?.to_string();
            let errors = v.get("errors").map(|e| format!(" ({e})")).unwrap_or_default();
            Some(format!("{m}{errors}"))
        })
        .unwrap_or_else(|| crate::secrets::scrub(&text).chars().take(200).collect());
    crate::text::one_line(&crate::secrets::scrub(&msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let l = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(next_link(l).unwrap(), "https://api.github.com/repositories/1/issues?page=2");
        assert!(next_link(r#"<https://x/?page=1>; rel="prev""#).is_none());
    }

    #[test]
    fn repo_slugs() {
        assert_eq!(RepoSlug::parse("o/r.rs").unwrap().full(), "o/r.rs");
        assert!(RepoSlug::parse("o").is_err());
        assert!(RepoSlug::parse("o/../x").is_err());
        assert!(RepoSlug::parse("o/r?x=1").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("good first issue"), "good%20first%20issue");
        assert_eq!(encode_segment("a/b:c"), "a%2Fb%3Ac");
    }

    /// A server that reads each request and hangs up without answering; counts connections.
    async fn hang_up_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                drop(sock);
            }
        });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn a_create_is_not_repeated_after_the_connection_breaks() {
        let (base, seen) = hang_up_server().await;
        let pacing = Pacing {
            retry_base: Duration::from_millis(1),
            mutation_interval: Duration::ZERO,
            attempts: 3,
            ..Pacing::default()
        };
        let token = Secret::new("t".into(), crate::secrets::Source::Env("GITHUB_TOKEN"));
        let mut c = Client::new(&base, token, pacing).unwrap();
        let url = c.url("/repos/o/r/issues/1/comments");
        let e = c.create(&url, &serde_json::json!({"body": "x"})).await.unwrap_err();
        assert!(matches!(e, GithubError::Ambiguous { .. }), "{e}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        // An ordinary mutation (safe to repeat) is retried.
        let e = c.mutate(Method::PATCH, &url, None).await.unwrap_err();
        assert!(matches!(e, GithubError::GaveUp { attempts: 3, .. }), "{e}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn only_the_api_base_is_allowed() {
        let c = Client::new(
            "https://ghe.example.com/api/v3/",
            Secret::new("t".into(), crate::secrets::Source::Env("GITHUB_TOKEN")),
            Pacing::default(),
        )
        .unwrap();
        assert_eq!(c.url("/user"), "https://ghe.example.com/api/v3/user");
        assert!(c.check_url("https://ghe.example.com/api/v3/repos/o/r/issues?page=2").is_ok());
        assert!(c.check_url("https://evil.example.com/api/v3/repos").is_err());
        assert!(c.check_url("https://ghe.example.com:8443/api/v3/repos").is_err());
        assert!(c.check_url("http://ghe.example.com/api/v3/repos").is_err());
        assert!(c.check_url("https://ghe.example.com/other").is_err());
    }
}

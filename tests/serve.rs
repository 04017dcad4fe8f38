//! `sift serve` as a process over a real socket, with an OpenAI stand-in (axum) speaking the
//! Chat Completions wire format: every status code, slow clients and providers, the
//! concurrency limit, the fallback chain, the token rule, metrics, recording, and a SIGTERM
//! that lets the request in flight finish. No test waits on a clock to decide its outcome:
//! the stand-in holds answers until the test lets them go.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sift::workspace::Overrides;

const KEY: &str = "sk-test-SERVE-1a2b3c4d5e6f";
const TOKEN: &str = "serve-token-7f6e5d4c3b2a";

/// How the OpenAI stand-in answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// A chat completion naming `bug` at 0.9 and `documentation` at 0.7.
    Answer,
    /// HTTP 500 with an OpenAI error body.
    Fail,
    /// For the sft taxonomy split in two calls: `fix` to call 1, `snippet` to call 2.
    TwoCalls,
}

struct Provider {
    mode: Mode,
    /// Chat completion requests received.
    seen: AtomicUsize,
    /// Answers wait until this is true.
    gate: tokio::sync::watch::Sender<bool>,
    /// Every request body received.
    bodies: std::sync::Mutex<Vec<Value>>,
}

async fn completions(State(p): State<Arc<Provider>>, Json(req): Json<Value>) -> Response {
    p.seen.fetch_add(1, Ordering::SeqCst);
    p.bodies.lock().unwrap().push(req.clone());
    let mut open = p.gate.subscribe();
    // Waits for the test to open the gate (or forever, for a provider that never answers).
    let _ = open.wait_for(|v| *v).await;
    if p.mode == Mode::Fail {
        let body = json!({"error": {"message": "upstream exploded", "type": "server_error"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    let system = req["messages"][0]["content"].as_str().unwrap_or_default();
    let content = match p.mode {
        Mode::TwoCalls if system.contains("This is call 1 of 2") => json!({
            "labels": [{"name": "fix", "confidence": 0.9}], "rationale": "one",
            "summary": "s", "keywords": ["k"],
        }),
        Mode::TwoCalls => {
            json!({"labels": [{"name": "snippet", "confidence": 0.8}], "rationale": "two"})
        }
        _ => json!({
            "labels": [{"name": "bug", "confidence": 0.9}, {"name": "documentation", "confidence": 0.7}],
            "rationale": "the reporter describes a crash",
        }),
    };
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": content.to_string()}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }))
    .into_response()
}

async fn models(State(p): State<Arc<Provider>>) -> Response {
    if p.mode == Mode::Fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "down"}})))
            .into_response();
    }
    Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}))
        .into_response()
}

/// Start the stand-in; the gate starts open unless `held`.
async fn provider(mode: Mode, held: bool) -> (String, Arc<Provider>) {
    let (gate, _) = tokio::sync::watch::channel(!held);
    let p =
        Arc::new(Provider { mode, seen: AtomicUsize::new(0), gate, bodies: Default::default() });
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .route("/v1/models", axum::routing::get(models))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, p)
}

/// Wait until the stand-in has received `n` requests (bounded only so a broken build fails).
async fn seen(p: &Provider, n: usize) {
    for _ in 0..6000 {
        if p.seen.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the provider saw {} requests, not {n}", p.seen.load(Ordering::SeqCst));
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&dir.path().join("ws"), &ov).unwrap());
    dir
}

fn ws(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ws")
}

/// A running `sift serve` and the address it printed.
struct Server {
    child: Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

fn command(dir: &tempfile::TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.arg("--workspace").arg(ws(dir)).arg("serve").args(args);
    c.env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("OPENAI_API_KEY", KEY)
        .env_remove("SIFT_SERVE_TOKEN")
        .env_remove("SIFT_LOG");
    c
}

fn start(mut c: Command) -> Server {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        panic!("no address printed: {line:?}; stderr: {}", stderr.join().unwrap());
    };
    Server { url: addr.to_string(), child, stderr }
}

impl Server {
    /// SIGTERM, then the exit status and everything said on stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        terminate(&self.child);
        let status = self.child.wait().unwrap();
        (status, self.stderr.join().unwrap())
    }
}

fn terminate(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

fn client() -> reqwest::Client {
    sift::net::client(Duration::from_secs(120)).unwrap()
}

async fn post(
    url: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = client()
        .post(format!("{url}/predict"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(url: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut rb = client().get(format!("{url}{path}"));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The value of one metric line (`name{labels} value`).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

const ISSUE: &str = r#"{"title": "Crash on save", "body": "The editor crashes when I save a file with an emoji in its name."}"#;

fn openai(base: &str) -> Vec<String> {
    ["--addr", "127.0.0.1:0", "--provider", "openai", "--base-url", base, "--retries", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_code_with_its_reason() {
    let dir = workspace();
    let (base, p) = provider(Mode::Answer, false).await;
    let a = openai(&base);
    let s = start(command(&dir, &args(&a)));

    let (status, _, v) = post(&s.url, ISSUE, None).await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> =
        v["labels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bug", "documentation"]);
    assert_eq!(v["labels"][0]["confidence"], json!(0.9));
    assert_eq!(v["version"]["provider"], "openai");
    assert_eq!(v["version"]["model"], "gpt-4o-mini");
    assert_eq!(v["version"]["sift"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["version"]["prompt_hash"].as_str().unwrap().len(), 64);
    assert_eq!(v["rationale"], "the reporter describes a crash");

    // The same text again is answered from the cache: the provider is not asked twice.
    let (status, _, v) = post(&s.url, ISSUE, None).await;
    assert_eq!((status, v["cached"].as_bool()), (200, Some(true)));
    assert_eq!(p.seen.load(Ordering::SeqCst), 1);

    // top_k and thresholds cut the answer; allowed_labels restricts what is asked.
    let cut = r#"{"title": "Crash on save", "body": "The editor crashes when I save a file with an emoji in its name.", "top_k": 1}"#;
    let (_, _, v) = post(&s.url, cut, None).await;
    assert_eq!(v["labels"].as_array().unwrap().len(), 1);
    let cut = r#"{"title": "Crash on save", "body": "The editor crashes when I save a file with an emoji in its name.", "thresholds": {"documentation": 0.8}}"#;
    let (_, _, v) = post(&s.url, cut, None).await;
    assert_eq!(v["labels"], json!([{"name": "bug", "confidence": 0.9}]));
    let only = r#"{"title": "Crash", "body": "b", "allowed_labels": ["documentation"]}"#;
    let (_, _, v) = post(&s.url, only, None).await;
    assert_eq!(v["labels"], json!([{"name": "documentation", "confidence": 0.7}]));

    let (status, _, v) = post(&s.url, r#"{"title": "x", "#, None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("EOF"), "{v}");
    let (status, _, v) = post(&s.url, r#"{"title": "x", "colour": 1}"#, None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("colour"), "{v}");

    let (status, _, v) =
        post(&s.url, r#"{"title": "x", "allowed_labels": ["bug", "wontfix-ish", "nope"]}"#, None)
            .await;
    assert_eq!(status, 422);
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("\"wontfix-ish\"") && e.contains("\"nope\"") && !e.contains("\"bug\""),
        "{e}"
    );
    let (status, _, _) = post(&s.url, r#"{"title": "x", "top_k": 0}"#, None).await;
    assert_eq!(status, 422);

    let (status, _, v) = post(&s.url, r#"{"item": "demo:999999"}"#, None).await;
    assert_eq!(status, 404, "{v}");
    let (status, _, v) = post(&s.url, r#"{"item": "demo:101"}"#, None).await;
    assert_eq!((status, v["item"].as_str()), (200, Some("demo:101")), "{v}");

    let huge = format!(r#"{{"title": "x", "body": "{}"}}"#, "a".repeat(1024 * 1024 + 10));
    let (status, _, v) = post(&s.url, &huge, None).await;
    assert_eq!(status, 413, "{v}");

    assert_eq!(get(&s.url, "/healthz", None).await.0, 200);
    let (status, body) = get(&s.url, "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""provider":"openai","reachable":true"#), "{body}");
    let (status, body) = get(&s.url, "/version", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("gpt-4o-mini"));
    assert_eq!(get(&s.url, "/nope", None).await.0, 404);
    let (status, _) = get(&s.url, "/predict", None).await;
    assert_eq!(status, 405);

    let (_, metrics) = get(&s.url, "/metrics", None).await;
    let count = |st: &str| {
        metric(&metrics, &format!(r#"sift_serve_requests_total{{route="/predict",status="{st}"}}"#))
    };
    assert_eq!(count("200"), 6.0, "{metrics}");
    assert_eq!(count("400"), 2.0);
    assert_eq!(count("422"), 2.0);
    assert_eq!(count("404"), 1.0);
    assert_eq!(count("413"), 1.0);
    assert_eq!(metric(&metrics, "sift_serve_cache_hits_total"), 3.0, "{metrics}");
    // The provider was asked for the issue, the restricted prompt (its own cache key) and
    // the stored item; the rest came from the cache.
    assert_eq!(p.seen.load(Ordering::SeqCst), 3);
    assert_eq!(metric(&metrics, r#"sift_serve_tokens_total{direction="in"}"#), 360.0);
    assert_eq!(metric(&metrics, r#"sift_serve_tokens_total{direction="out"}"#), 90.0);

    let (status, err) = s.stop();
    assert!(status.success(), "{err}");
    assert!(!err.contains(KEY));
    let log = std::fs::read_dir(ws(&dir).join(".sift/logs")).unwrap();
    let mut lines = 0;
    for f in log.flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(!text.contains(KEY), "key in {}", f.path().display());
        if f.file_name().to_string_lossy().starts_with("serve-") {
            lines += text.lines().count();
        }
    }
    // One monitor line per prediction, as `sift suggest` writes per item.
    assert_eq!(lines, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_does_not_answer_is_a_504_and_a_slow_body_a_408() {
    let dir = workspace();
    let (base, p) = provider(Mode::Answer, true).await;
    let mut a = openai(&base);
    a.extend(["--request-timeout", "1", "--timeout", "600"].map(String::from));
    let s = start(command(&dir, &args(&a)));
    let (status, _, v) = post(&s.url, ISSUE, None).await;
    assert_eq!(status, 504, "{v}");
    assert_eq!(p.seen.load(Ordering::SeqCst), 1);

    // Headers promise 100 bytes; 10 arrive, then nothing.
    let addr = s.url.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        let head = "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"title\": ";
        tcp.write_all(head.as_bytes()).unwrap();
        let mut buf = String::new();
        let _ = tcp.read_to_string(&mut buf);
        buf
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (status, err) = s.stop();
    assert!(status.success(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_limit_get_503_with_retry_after() {
    let dir = workspace();
    let (base, p) = provider(Mode::Answer, true).await;
    let mut a = openai(&base);
    a.extend(["--max-concurrent", "2"].map(String::from));
    let s = start(command(&dir, &args(&a)));
    let body = |i: usize| format!(r#"{{"title": "Issue {i}", "body": "text {i}"}}"#);
    let url = s.url.clone();
    let (b0, b1) = (body(0), body(1));
    let first = tokio::spawn({
        let url = url.clone();
        async move { post(&url, &b0, None).await.0 }
    });
    let second = tokio::spawn({
        let url = url.clone();
        async move { post(&url, &b1, None).await.0 }
    });
    seen(&p, 2).await;
    let (status, headers, v) = post(&url, &body(2), None).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    p.gate.send_replace(true);
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (200, 200));
    // Slots come back when requests finish.
    assert_eq!(post(&url, &body(3), None).await.0, 200);
    let (_, metrics) = get(&url, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, r#"sift_serve_requests_total{route="/predict",status="503"}"#),
        1.0
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_falls_back_and_is_counted() {
    let dir = workspace();
    // Without the demo's trained model, the chain's `local` is skipped and keywords answer.
    std::fs::remove_dir_all(ws(&dir).join(".sift/models")).unwrap();
    let (base, p) = provider(Mode::Fail, false).await;
    let s = start(command(&dir, &args(&openai(&base))));
    let (status, _, v) = post(&s.url, ISSUE, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["fallback"], true);
    assert_eq!(v["version"]["provider"], "keywords");
    assert!(v["rationale"].as_str().unwrap().starts_with("[fallback: keywords]"), "{v}");
    assert_eq!(p.seen.load(Ordering::SeqCst), 1);
    let (_, metrics) = get(&s.url, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, r#"sift_serve_provider_errors_total{kind="http_500"}"#),
        1.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, r#"sift_serve_fallbacks_total{provider="keywords"}"#), 1.0);
    // The keyword fallback is always there: ready even with the primary down.
    let (status, body) = get(&s.url, "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_call_taxonomy_is_served_call_by_call_and_cached_per_call() {
    let dir = workspace();
    let labels = ws(&dir).join("labels.yml");
    let text = std::fs::read_to_string(&labels).unwrap().replacen(
        "  sft:\n    max_labels: 12\n",
        "  sft:\n    max_labels: 12\n    calls: [[intent, language, domain, task, difficulty], \
         [concept, agentic, constraint, context]]\n",
        1,
    );
    std::fs::write(&labels, text).unwrap();
    let (base, p) = provider(Mode::TwoCalls, false).await;
    let mut a = openai(&base);
    a.extend(["--taxonomy".to_string(), "sft".to_string()]);
    let s = start(command(&dir, &args(&a)));
    let body = r#"{"title": "Borrow error", "body": "fn main() { let x = vec![1]; }"}"#;
    let (status, _, v) = post(&s.url, body, None).await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> =
        v["labels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fix", "snippet"], "{v}");
    let bodies = p.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    let user = bodies[1]["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("- intent: fix (0.90)"), "call 2 is told call 1's answer: {user}");
    // The same text again: both calls come from the cache.
    let (status, _, v) = post(&s.url, body, None).await;
    assert_eq!((status, v["cached"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(p.seen.load(Ordering::SeqCst), 2);
    let (status, _) = s.stop();
    assert!(status.success());
    let mut log = String::new();
    for e in std::fs::read_dir(ws(&dir).join(".sift/logs")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("serve-") {
            log.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    assert_eq!(log.lines().filter(|l| l.contains(r#""call":"#)).count(), 2, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fallback_and_a_failing_provider_is_a_502() {
    let dir = workspace();
    let toml = ws(&dir).join("sift.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace(r#"fallback = ["local", "keywords"]"#, "fallback = []");
    std::fs::write(&toml, text).unwrap();
    let (base, _p) = provider(Mode::Fail, false).await;
    let s = start(command(&dir, &args(&openai(&base))));
    let (status, _, v) = post(&s.url, ISSUE, None).await;
    assert_eq!(status, 502, "{v}");
    assert!(v["error"].as_str().unwrap().contains("upstream exploded"), "{v}");
    let (status, body) = get(&s.url, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    let (status, err) = s.stop();
    assert!(status.success(), "{err}");
    assert!(!err.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_a_token_is_required_and_never_shown() {
    let dir = workspace();
    let out = command(&dir, &["--addr", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SIFT_SERVE_TOKEN"), "{err}");

    let mut c = command(&dir, &["--addr", "0.0.0.0:0"]);
    c.env("SIFT_SERVE_TOKEN", TOKEN).env("SIFT_LOG", "debug");
    let s = start(c);
    let port = s.url.rsplit(':').next().unwrap().to_string();
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(post(&url, ISSUE, None).await.0, 401);
    let (status, headers, _) = post(&url, ISSUE, Some("wrong")).await;
    assert_eq!(status, 401);
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(post(&url, ISSUE, Some(TOKEN)).await.0, 200);
    assert_eq!(get(&url, "/metrics", None).await.0, 401);
    assert_eq!(get(&url, "/metrics", Some(TOKEN)).await.0, 200);
    // Probes of orchestrators carry no token.
    assert_eq!(get(&url, "/healthz", None).await.0, 200);
    assert_eq!(get(&url, "/readyz", None).await.0, 200);
    let (status, err) = s.stop();
    assert!(status.success());
    assert!(!err.contains(TOKEN), "token on stderr");
    let mut stack = vec![ws(&dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(TOKEN), "token in {}", p.display());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_and_records_it() {
    let dir = workspace();
    let (base, p) = provider(Mode::Answer, true).await;
    let mut a = openai(&base);
    a.push("--record".into());
    let s = start(command(&dir, &args(&a)));
    let url = s.url.clone();
    let in_flight = tokio::spawn(async move { post(&url, ISSUE, None).await });
    seen(&p, 1).await;
    let day_before = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    terminate(&s.child);
    // Wait until the server has stopped taking connections: the signal has landed and the
    // request is still in flight. Only then does the answer it waits for arrive.
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut refused = false;
    for _ in 0..6000 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the server kept taking connections after SIGTERM");
    p.gate.send_replace(true);
    let (status, _, v) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{v}");
    let Server { mut child, stderr, .. } = s;
    assert!(child.wait().unwrap().success());
    let err = stderr.join().unwrap();
    assert!(err.contains("stopping") && err.contains("stopped"), "{err}");

    // Recorded as a suggestion of today's serve run, with the served text as its item.
    let store = sift::store::Store::open(&ws(&dir).join(".sift/store.db")).unwrap();
    // The run is named for the UTC day of the answer (the test may straddle midnight).
    let day_after = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let (day, run) = [day_before, day_after]
        .into_iter()
        .find_map(|d| store.run(&format!("serve-{d}")).unwrap().map(|r| (d, r)))
        .expect("the day's serve run");
    assert_eq!((run.provider.as_str(), run.status.as_str()), ("openai", "done"));
    let sugg = store.run_suggestions(&run.id).unwrap();
    assert_eq!(sugg.len(), 1);
    let key = v["item"].as_str().unwrap();
    assert_eq!(sugg[0].item, key);
    assert_eq!(sugg[0].labels[0].name, "bug");
    assert_eq!(store.item(key).unwrap().unwrap().title, "Crash on save");
    drop(store);

    // The store is a cache: a rebuild brings the served item and its suggestion back.
    std::fs::remove_file(ws(&dir).join(".sift/store.db")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(ws(&dir))
        .args(["rebuild"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = sift::store::Store::open(&ws(&dir).join(".sift/store.db")).unwrap();
    let run = store.run(&format!("serve-{day}")).unwrap().unwrap();
    assert_eq!(store.run_suggestions(&run.id).unwrap().len(), 1);
    assert!(store.item(key).unwrap().is_some());
}

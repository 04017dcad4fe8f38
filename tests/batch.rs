//! `sift suggest --batch`, `sift runs poll` and `sift runs cancel` against local stand-ins of
//! Anthropic's Message Batches API and OpenAI's Batch API (axum), speaking their documented
//! formats: batch objects with processing status and request counts, JSONL results by custom
//! id with succeeded, errored, expired and cancelled entries, files uploaded as multipart.
//! No outcome depends on a clock: a batch ends when the test releases it.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sift::workspace::Overrides;

const KEY: &str = "sk-test-BATCH-0a1b2c3d4e5f";

/// One batch as the stand-in keeps it.
struct Batch {
    /// (custom id, request params or body)
    requests: Vec<(String, Value)>,
    canceled: bool,
}

/// Both providers' batch APIs in one stand-in.
#[derive(Default)]
struct Provider {
    batches: Mutex<HashMap<String, Batch>>,
    /// Uploaded OpenAI files: id -> JSONL lines.
    files: Mutex<HashMap<String, Vec<Value>>>,
    /// Batches end once this is true (or once cancelled).
    released: AtomicBool,
    created: AtomicUsize,
    status_polls: AtomicUsize,
    live: AtomicUsize,
    /// Custom ids of the first batch that error, and that expire.
    errored: Vec<String>,
    expired: Vec<String>,
    /// In a cancelled batch, how many requests had run.
    ran_before_cancel: usize,
    /// OpenAI batches fail validation.
    refuse: bool,
}

type Shared = Arc<Provider>;

fn message(tokens_in: u64, tokens_out: u64) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "record_labels",
                     "input": {"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}
    })
}

fn completion() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "{\"labels\": [{\"name\": \"bug\", \"confidence\": 0.9}], \"rationale\": \"r\"}"}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    })
}

impl Provider {
    fn ended(&self, b: &Batch) -> bool {
        b.canceled || self.released.load(Ordering::SeqCst)
    }

    /// What became of request `i` of a batch: succeeded, errored, expired or canceled.
    fn fate(&self, b: &Batch, i: usize, first: bool) -> &'static str {
        let id = &b.requests[i].0;
        if b.canceled && i >= self.ran_before_cancel {
            "canceled"
        } else if first && self.errored.contains(id) {
            "errored"
        } else if first && self.expired.contains(id) {
            "expired"
        } else {
            "succeeded"
        }
    }
}

// ---- Anthropic Message Batches ------------------------------------------------------------------

fn anthropic_batch(id: &str, b: &Batch, p: &Provider, base: &str) -> Value {
    let n = b.requests.len() as u64;
    let ended = p.ended(b);
    let status = match (ended, b.canceled) {
        (true, _) => "ended",
        (false, true) => "canceling",
        _ => "in_progress",
    };
    json!({
        "id": id, "type": "message_batch", "processing_status": status,
        "request_counts": {"processing": if ended { 0 } else { n }, "succeeded": if ended { n } else { 0 },
                           "errored": 0, "canceled": 0, "expired": 0},
        "ended_at": null, "created_at": "2026-12-06T00:00:00Z", "expires_at": "2026-12-07T00:00:00Z",
        "cancel_initiated_at": null,
        "results_url": if ended { json!(format!("{base}/v1/messages/batches/{id}/results")) } else { Value::Null }
    })
}

async fn a_create(State((p, base)): State<(Shared, String)>, Json(body): Json<Value>) -> Response {
    assert!(body["requests"].as_array().is_some_and(|r| !r.is_empty()));
    let n = p.created.fetch_add(1, Ordering::SeqCst);
    let id = format!("msgbatch_{n:04}");
    let requests = body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["custom_id"].as_str().unwrap().to_string(), r["params"].clone()))
        .collect();
    let b = Batch { requests, canceled: false };
    let v = anthropic_batch(&id, &b, &p, &base);
    p.batches.lock().unwrap().insert(id, b);
    Json(v).into_response()
}

async fn a_get(State((p, base)): State<(Shared, String)>, Path(id): Path<String>) -> Response {
    p.status_polls.fetch_add(1, Ordering::SeqCst);
    let batches = p.batches.lock().unwrap();
    Json(anthropic_batch(&id, &batches[&id], &p, &base)).into_response()
}

async fn a_results(State((p, _)): State<(Shared, String)>, Path(id): Path<String>) -> Response {
    let batches = p.batches.lock().unwrap();
    let b = &batches[&id];
    let first = id == "msgbatch_0000";
    let mut out = String::new();
    for (i, (cid, _)) in b.requests.iter().enumerate() {
        let result = match p.fate(b, i, first) {
            "errored" => json!({"type": "errored", "error": {"type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"}}}),
            "expired" => json!({"type": "expired"}),
            "canceled" => json!({"type": "canceled"}),
            _ => json!({"type": "succeeded", "message": message(100, 20)}),
        };
        out.push_str(&json!({"custom_id": cid, "result": result}).to_string());
        out.push('\n');
    }
    ([("content-type", "application/binary")], out).into_response()
}

async fn a_cancel(State((p, base)): State<(Shared, String)>, Path(id): Path<String>) -> Response {
    let mut batches = p.batches.lock().unwrap();
    let b = batches.get_mut(&id).unwrap();
    b.canceled = true;
    Json(anthropic_batch(&id, b, &p, &base)).into_response()
}

async fn a_live(State((p, _)): State<(Shared, String)>) -> Response {
    p.live.fetch_add(1, Ordering::SeqCst);
    Json(message(100, 20)).into_response()
}

// ---- OpenAI Batch API -----------------------------------------------------------------------------

async fn o_upload(State((p, _)): State<(Shared, String)>, body: axum::body::Bytes) -> Response {
    // The multipart body: the JSONL lines are the ones holding a custom_id.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("name=\"purpose\"\r\n\r\nbatch\r\n"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with("{\"custom_id\"") || l.contains("\"custom_id\":"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = format!("file-in{}", p.files.lock().unwrap().len());
    p.files.lock().unwrap().insert(id.clone(), lines);
    Json(json!({"id": id, "object": "file", "bytes": body.len(), "created_at": 0,
                "filename": "sift-batch.jsonl", "purpose": "batch"}))
    .into_response()
}

fn openai_batch(id: &str, b: &Batch, p: &Provider) -> Value {
    let n = b.requests.len();
    if p.refuse {
        return json!({"id": id, "object": "batch", "status": "failed", "output_file_id": null,
            "error_file_id": null, "request_counts": {"total": n, "completed": 0, "failed": 0},
            "errors": {"object": "list", "data": [{"code": "invalid_json_line", "line": 1,
                "message": "This line is not parseable as valid JSON."}]}});
    }
    let status = match (p.ended(b), b.canceled) {
        (true, true) => "cancelled",
        (true, false) => "completed",
        (false, true) => "cancelling",
        _ => "in_progress",
    };
    let ended = p.ended(b);
    json!({
        "id": id, "object": "batch", "endpoint": "/v1/chat/completions", "status": status,
        "input_file_id": "file-in", "completion_window": "24h",
        "output_file_id": if ended { json!(format!("file-out-{id}")) } else { Value::Null },
        "error_file_id": if ended { json!(format!("file-err-{id}")) } else { Value::Null },
        "request_counts": {"total": n, "completed": if ended { n } else { 0 }, "failed": 0}
    })
}

async fn o_create(State((p, _)): State<(Shared, String)>, Json(body): Json<Value>) -> Response {
    assert_eq!(body["endpoint"], "/v1/chat/completions");
    assert_eq!(body["completion_window"], "24h");
    let file = body["input_file_id"].as_str().unwrap();
    let lines = p.files.lock().unwrap()[file].clone();
    let requests = lines
        .iter()
        .map(|l| {
            assert_eq!(
                (l["method"].as_str(), l["url"].as_str()),
                (Some("POST"), Some("/v1/chat/completions"))
            );
            (l["custom_id"].as_str().unwrap().to_string(), l["body"].clone())
        })
        .collect();
    let n = p.created.fetch_add(1, Ordering::SeqCst);
    let id = format!("batch_{n:04}");
    let b = Batch { requests, canceled: false };
    let v = openai_batch(&id, &b, &p);
    p.batches.lock().unwrap().insert(id, b);
    Json(v).into_response()
}

async fn o_get(State((p, _)): State<(Shared, String)>, Path(id): Path<String>) -> Response {
    p.status_polls.fetch_add(1, Ordering::SeqCst);
    let batches = p.batches.lock().unwrap();
    Json(openai_batch(&id, &batches[&id], &p)).into_response()
}

async fn o_content(State((p, _)): State<(Shared, String)>, Path(file): Path<String>) -> Response {
    let batches = p.batches.lock().unwrap();
    let (errors, id) = match file.strip_prefix("file-out-") {
        Some(id) => (false, id.to_string()),
        None => (true, file.strip_prefix("file-err-").unwrap().to_string()),
    };
    let b = &batches[&id];
    let first = id == "batch_0000";
    let mut out = String::new();
    for (i, (cid, _)) in b.requests.iter().enumerate() {
        let line = match (p.fate(b, i, first), errors) {
            ("succeeded", false) => json!({"id": format!("batch_req_{i}"), "custom_id": cid,
                "response": {"status_code": 200, "request_id": "req_1", "body": completion()}, "error": null}),
            ("expired", true) => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": null,
                "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
            }
            ("errored", true) => json!({"id": format!("batch_req_{i}"), "custom_id": cid,
                "response": {"status_code": 500, "request_id": "req_2", "body": {"error": {"message": "The server had an error", "type": "server_error"}}}, "error": null}),
            ("canceled", true) => {
                json!({"id": format!("batch_req_{i}"), "custom_id": cid, "response": null,
                "error": {"code": "batch_cancelled", "message": "This request was cancelled."}})
            }
            _ => continue,
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out.into_response()
}

async fn o_cancel(State((p, _)): State<(Shared, String)>, Path(id): Path<String>) -> Response {
    let mut batches = p.batches.lock().unwrap();
    let b = batches.get_mut(&id).unwrap();
    b.canceled = true;
    let mut v = openai_batch(&id, b, &p);
    v["status"] = json!("cancelling");
    Json(v).into_response()
}

async fn o_live(State((p, _)): State<(Shared, String)>) -> Response {
    p.live.fetch_add(1, Ordering::SeqCst);
    Json(completion()).into_response()
}

/// Start the stand-in on a thread of its own (the tests run sift as blocking processes).
fn start(p: Provider) -> (String, Shared) {
    let p = Arc::new(p);
    let (tx, rx) = std::sync::mpsc::channel();
    let state = p.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            use axum::routing::{get, post};
            let app = axum::Router::new()
                .route("/v1/messages/batches", post(a_create))
                .route("/v1/messages/batches/{id}", get(a_get))
                .route("/v1/messages/batches/{id}/results", get(a_results))
                .route("/v1/messages/batches/{id}/cancel", post(a_cancel))
                .route("/v1/messages", post(a_live))
                .route("/v1/files", post(o_upload))
                .route("/v1/files/{id}/content", get(o_content))
                .route("/v1/batches", post(o_create))
                .route("/v1/batches/{id}", get(o_get))
                .route("/v1/batches/{id}/cancel", post(o_cancel))
                .route("/v1/chat/completions", post(o_live))
                .with_state((state, base.clone()));
            tx.send(base).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), p)
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&dir.path().join("ws"), &ov).unwrap());
    let toml = dir.path().join("ws/sift.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace(r#"fallback = ["local", "keywords"]"#, "fallback = []"))
        .unwrap();
    dir
}

fn ws(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ws")
}

fn command(dir: &tempfile::TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sift"));
    c.arg("--workspace").arg(ws(dir)).args(args);
    c.env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("ANTHROPIC_API_KEY", KEY)
        .env("OPENAI_API_KEY", KEY)
        .env_remove("SIFT_LOG");
    c
}

fn sift(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn store(dir: &tempfile::TempDir) -> sift::store::Store {
    sift::store::Store::open(&ws(dir).join(".sift/store.db")).unwrap()
}

/// Wait (bounded only so a broken build fails) until `f` holds.
fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..6000 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

fn assert_no_key(dir: &tempfile::TempDir, outputs: &[&Output]) {
    for o in outputs {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(KEY));
        assert!(!String::from_utf8_lossy(&o.stderr).contains(KEY));
    }
    let mut stack = vec![ws(dir).join(".sift"), ws(dir).join("runs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
                    "key in {}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn anthropic_batches_are_split_collected_and_failures_asked_live() {
    let dir = workspace();
    let (base, p) = start(Provider {
        errored: vec!["r1".into()],
        expired: vec!["r0".into()],
        ..Default::default()
    });
    p.released.store(true, Ordering::SeqCst);
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "5",
        "--few-shot",
        "0",
        "--batch",
        "--batch-size",
        "2",
        "--poll-interval",
        "0.01",
        "--name",
        "nightly",
        "--json",
    ];
    let out = sift(&dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    // Five items in batches of at most two: three batches.
    assert_eq!(p.created.load(Ordering::SeqCst), 3);
    assert_eq!(r["batches"].as_array().unwrap().len(), 3, "{r}");
    let params = p.batches.lock().unwrap()["msgbatch_0000"].requests[0].1.clone();
    assert_eq!(params["tool_choice"]["name"], "record_labels");
    assert_eq!(params["model"], "claude-sonnet-4-5");
    // The errored and the expired request of the first batch were asked again live.
    assert_eq!(p.live.load(Ordering::SeqCst), 2);
    assert_eq!((r["suggested"].as_u64(), r["failed"].as_u64()), (Some(5), Some(0)), "{r}");
    assert_eq!(r["errors_by_kind"]["batch_overloaded_error"], 1, "{r}");
    assert_eq!(r["errors_by_kind"]["batch_expired"], 1, "{r}");
    // Tokens as results arrived: 3 batch answers and 2 live ones, 120 tokens each.
    let run = &r["run"];
    assert_eq!((run["tokens_in"].as_u64(), run["tokens_out"].as_u64()), (Some(500), Some(100)));
    assert_eq!(run["config"]["batch_tokens"], json!([300, 60]));
    assert_eq!(r["budget_used"].as_u64(), Some(600));
    // claude-sonnet: $3 in, $15 out per million; the batch part at half price.
    let want = (200.0 * 3.0 + 40.0 * 15.0) / 1e6 + 0.5 * (300.0 * 3.0 + 60.0 * 15.0) / 1e6;
    assert!((run["cost_usd"].as_f64().unwrap() - want).abs() < 1e-9, "{run}");
    let st = store(&dir);
    let id = run["id"].as_str().unwrap();
    assert_eq!(st.run_suggestions(id).unwrap().len(), 5);
    assert!(st.run_batches(id).unwrap().iter().all(|b| b.status == "collected"));
    // Every answer goes through the monitor log and the cache: a new run asks nothing.
    let log =
        std::fs::read_to_string(ws(&dir).join(format!(".sift/logs/suggest-{id}.jsonl"))).unwrap();
    assert_eq!(log.lines().count(), 5);
    let again = [&args[..16], &["--name", "again", "--json"]].concat();
    let out2 = sift(&dir, &again);
    assert_eq!(json_of(&out2)["cached"].as_u64(), Some(5));
    assert_eq!(p.created.load(Ordering::SeqCst), 3, "no batch for cached items");
    assert_no_key(&dir, &[&out, &out2]);
}

#[test]
fn a_killed_wait_is_picked_up_by_another_process() {
    let dir = workspace();
    let (base, p) = start(Provider::default());
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "3",
        "--few-shot",
        "0",
        "--batch",
        "--poll-interval",
        "0.01",
        "--name",
        "killed",
    ];
    let mut child =
        command(&dir, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    until("the batch is polled", || p.status_polls.load(Ordering::SeqCst) >= 1);
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    // Another machine: the workspace without its store, rebuilt from its files (the batch
    // travels in the run's journal).
    for f in ["store.db", "store.db-wal", "store.db-shm"] {
        let _ = std::fs::remove_file(ws(&dir).join(".sift").join(f));
    }
    let out = sift(&dir, &["rebuild"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        store(&dir).run_batches(&store(&dir).run("killed").unwrap().unwrap().id).unwrap().len(),
        1
    );
    p.released.store(true, Ordering::SeqCst);
    let poll = ["runs", "poll", "killed", "--base-url", &base, "--poll-interval", "0.01", "--json"];
    let out = sift(&dir, &poll);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!(r["suggested"].as_u64(), Some(3), "{r}");
    assert_eq!(
        p.created.load(Ordering::SeqCst),
        1,
        "the recorded batch is collected, not sent again"
    );
    assert_eq!(p.live.load(Ordering::SeqCst), 0);
    // The run's own base URL is not taken from its record: without it, poll says so.
    let out = sift(&dir, &["runs", "poll", "killed"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--base-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn openai_batches_are_uploaded_and_cancelled_midway_then_resumed() {
    let dir = workspace();
    let (base, p) = start(Provider { ran_before_cancel: 1, ..Default::default() });
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "3",
        "--few-shot",
        "0",
        "--batch",
        "--poll-interval",
        "0.01",
        "--name",
        "cancelled",
        "--json",
    ];
    let child = command(&dir, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    until("the batch is polled", || p.status_polls.load(Ordering::SeqCst) >= 1);
    // Another process cancels it.
    let out = sift(&dir, &["runs", "cancel", "cancelled", "--base-url", &base]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancel requested for 1 batch"));
    let waited = child.wait_with_output().unwrap();
    assert!(!waited.status.success(), "a cancelled run is not done");
    let r = json_of(&waited);
    assert_eq!(r["run"]["status"], "canceled");
    // One request had run before the cancel: kept; the two others not asked.
    assert_eq!((r["suggested"].as_u64(), r["not_asked"].as_u64()), (Some(1), Some(2)), "{r}");
    let body = p.batches.lock().unwrap()["batch_0000"].requests[0].1.clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    // Resumed: the rest goes out in a new batch.
    p.released.store(true, Ordering::SeqCst);
    let poll =
        ["runs", "poll", "cancelled", "--base-url", &base, "--poll-interval", "0.01", "--json"];
    let out = sift(&dir, &poll);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!((r["suggested"].as_u64(), r["skipped"].as_u64()), (Some(2), Some(1)), "{r}");
    assert_eq!(p.created.load(Ordering::SeqCst), 2);
    assert_eq!(p.batches.lock().unwrap()["batch_0001"].requests.len(), 2);
    assert_no_key(&dir, &[&waited, &out]);
}

#[test]
fn an_anthropic_batch_cancelled_midway_ends_the_run_cancelled() {
    let dir = workspace();
    let (base, p) = start(Provider { ran_before_cancel: 2, ..Default::default() });
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "4",
        "--few-shot",
        "0",
        "--batch",
        "--poll-interval",
        "0.01",
        "--name",
        "stopped",
        "--json",
    ];
    let child = command(&dir, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    until("the batch is polled", || p.status_polls.load(Ordering::SeqCst) >= 1);
    let out = sift(&dir, &["runs", "cancel", "stopped", "--base-url", &base]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&child.wait_with_output().unwrap());
    // Anthropic ends a cancelled batch as `ended`: the cancelled entries say what happened.
    assert_eq!(r["run"]["status"], "canceled", "{r}");
    assert_eq!((r["suggested"].as_u64(), r["not_asked"].as_u64()), (Some(2), Some(2)), "{r}");
    // A second cancel finds nothing open.
    let out = sift(&dir, &["runs", "cancel", "stopped", "--base-url", &base]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancel requested for 0 batches"));
}

#[test]
fn the_daily_budget_bounds_what_is_submitted() {
    let dir = workspace();
    let (base, p) = start(Provider::default());
    p.released.store(true, Ordering::SeqCst);
    // Room for about two requests at their most (prompt plus the output limit).
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "6",
        "--few-shot",
        "0",
        "--batch",
        "--poll-interval",
        "0.01",
        "--budget",
        "5000",
        "--json",
    ];
    let out = sift(&dir, &args);
    let r = json_of(&out);
    assert_eq!(r["run"]["status"], "budget_exhausted", "{r}");
    let sent = p.batches.lock().unwrap()["msgbatch_0000"].requests.len();
    assert!((1..6).contains(&sent), "{sent} of 6 sent");
    assert_eq!(r["suggested"].as_u64(), Some(sent as u64));
    assert_eq!(r["not_asked"].as_u64(), Some(6 - sent as u64), "{r}");
}

#[test]
fn a_batch_the_provider_refuses_is_said_and_not_asked_live() {
    let dir = workspace();
    let (base, p) = start(Provider { refuse: true, ..Default::default() });
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &base,
        "--dataset",
        "demo",
        "--limit",
        "2",
        "--few-shot",
        "0",
        "--batch",
        "--poll-interval",
        "0.01",
        "--json",
    ];
    let out = sift(&dir, &args);
    let r = json_of(&out);
    assert_eq!((r["suggested"].as_u64(), r["not_asked"].as_u64()), (Some(0), Some(2)), "{r}");
    assert_eq!(p.live.load(Ordering::SeqCst), 0, "not asked live at twice the price");
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("was refused") && warnings.contains("not parseable"), "{warnings}");
}

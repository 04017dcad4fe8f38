//! Suggestion runner against local fake Anthropic and OpenAI servers (wiremock) speaking the
//! real wire formats: answers, retries, budget, cache, resume, runs, and key hygiene.

// Test helpers panic on setup failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sift::store::Store;
use sift::workspace::Overrides;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-SECRET-9f8e7d6c5b4a";

/// A demo workspace with its items imported (and a keywords run per dataset).
fn workspace(fallback: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ov = Overrides { annotator: Some("tester".into()), theme: None };
    drop(sift::demo::prepare(&ws, &ov).unwrap());
    let toml = ws.join("sift.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let list: Vec<String> = fallback.iter().map(|f| format!("{f:?}")).collect();
    let text = text.replace(
        r#"fallback = ["local", "keywords"]"#,
        &format!("fallback = [{}]", list.join(", ")),
    );
    std::fs::write(&toml, text).unwrap();
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

async fn sift(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    let mut c = command(dir, args);
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
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

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&ws(dir).join(".sift/store.db")).unwrap()
}

/// The key must not be in any file of the state folder (store, WAL, logs) nor in output.
fn assert_no_key(dir: &tempfile::TempDir, outputs: &[&Output]) {
    for o in outputs {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(KEY), "key in stdout");
        assert!(!String::from_utf8_lossy(&o.stderr).contains(KEY), "key in stderr");
    }
    let mut stack = vec![ws(dir).join(".sift")];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                let bytes = std::fs::read(&p).unwrap();
                let hit = bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes());
                assert!(!hit, "key found in {}", p.display());
            }
        }
    }
    assert!(files >= 2, "expected the store and a log to be checked");
}

fn monitor_lines(dir: &tempfile::TempDir, run_id: &str) -> Vec<Value> {
    let p = ws(dir).join(format!(".sift/logs/suggest-{run_id}.jsonl"));
    std::fs::read_to_string(&p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn anthropic_answer(input: Value, tokens_in: u64, tokens_out: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [
            {"type": "text", "text": "Labeling."},
            {"type": "tool_use", "id": "toolu_1", "name": "record_labels", "input": input}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}
    }))
}

fn openai_answer(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    }))
}

/// A fake OpenAI server that answers every request with `bug` at 0.9.
async fn openai_answering_bug() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#,
        ))
        .mount(&server)
        .await;
    server
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn run_id(out: &Output) -> String {
    json_of(out)["run"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_answers_are_validated_stored_and_cached() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    let input = json!({
        "labels": [
            {"name": "crash", "confidence": 0.95},
            {"name": "wontfix", "confidence": 0.9},
            {"name": "performance", "confidence": 1.7}
        ],
        "rationale": "it crashes"
    });
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(anthropic_answer(input, 500, 40))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = ["suggest", "--provider", "anthropic", "--model", "claude-test", "--base-url", &uri];
    let first = sift(
        &dir,
        &[&args[..], &["--dataset", "demo", "--limit", "3", "--name", "a1", "--json"]].concat(),
    )
    .await;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let report = json_of(&first);
    assert_eq!(report["suggested"], 3);
    assert_eq!(report["dropped_labels"], 3);
    assert_eq!(report["run"]["tokens_in"], 1500);
    assert_eq!(report["run"]["status"], "done");
    assert_eq!(requests(&server).await, 3);

    // What the server was sent: a forced tool call with the taxonomy's schema, item as data.
    let sent = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "record_labels"}));
    assert!(body["tools"][0]["input_schema"]["properties"]["labels"].is_object());
    assert!(body["messages"][0]["content"].as_str().unwrap().contains("<sift_item>"));
    // Few-shot examples (default 3) come from the most similar gold-labeled demo items.
    assert!(sent.iter().any(|r| String::from_utf8_lossy(&r.body).contains("<sift_example>")));

    let s = store(&dir);
    let run = s.run("a1").unwrap().unwrap();
    assert_eq!((run.provider.as_str(), run.model.as_str()), ("anthropic", "claude-test"));
    assert_eq!(run.prompt_hash.len(), 64);
    assert!(run.bundle.contains("## taxonomy"));
    assert!(run.bundle.contains("policy: most similar gold-labeled items; up to 3 per item"));
    let sugg = s.run_suggestions(&run.id).unwrap();
    assert_eq!(sugg.len(), 3);
    for x in &sugg {
        // crash -> bug; performance's 1.7 is no confidence: counted as 0, below min_confidence.
        assert_eq!(x.labels.len(), 1, "{x:?}");
        assert_eq!(x.labels[0].name, "bug");
        assert_eq!(x.labels[0].confidence, Some(0.95));
        assert_eq!(x.dropped, ["wontfix"]);
    }
    let lines = monitor_lines(&dir, &run.id);
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0]["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().contains("1.7 of \"performance\" is outside 0..1"))
    );
    assert_eq!(lines[0]["tokens_in"], 500);
    drop(s);

    // A second run over the same items: every answer comes from the cache, no request.
    let second = sift(
        &dir,
        &[&args[..], &["--dataset", "demo", "--limit", "3", "--name", "a2", "--json"]].concat(),
    )
    .await;
    assert!(second.status.success());
    let r2 = json_of(&second);
    assert_eq!(r2["cached"], 3);
    assert_eq!(r2["run"]["tokens_in"], 0);
    assert_eq!(requests(&server).await, 3, "the cache must answer without the server");
    assert_eq!(store(&dir).run_suggestions(&run_id(&second)).unwrap().len(), 3);
    assert_no_key(&dir, &[&first, &second]);
}

/// One OpenAI-compatible answer for one item, with no fallback.
async fn openai_once(content: &str, base_suffix: &str) -> (tempfile::TempDir, Output, MockServer) {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(openai_answer(content))
        .mount(&server)
        .await;
    let base = format!("{}{base_suffix}", server.uri());
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &base,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    (dir, out, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_tolerates_fences_and_prose_and_accepts_any_base_url() {
    let answer =
        r#"{"labels": [{"name": "documentation", "confidence": 0.8}], "rationale": "docs"}"#;
    for (content, suffix) in [
        (format!("```json\n{answer}\n```"), ""),
        (format!("Here you go:\n{answer}\nAnything else?"), "/v1"),
        (answer.to_string(), "/v1/"),
    ] {
        let (dir, out, server) = openai_once(&content, suffix).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sent = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        let s = store(&dir);
        let sugg = s.run_suggestions(&run_id(&out)).unwrap();
        assert_eq!(sugg[0].labels[0].name, "documentation", "{content}");
        assert_eq!(sugg[0].rationale, "docs");
        assert_no_key(&dir, &[&out]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_json_fails_the_item_or_falls_back() {
    let (dir, out, server) =
        openai_once("I believe this is a bug, with high confidence.", "").await;
    assert!(!out.status.success(), "all items failed: exit 1");
    let r = json_of(&out);
    assert_eq!((r["failed"].as_u64(), r["suggested"].as_u64()), (Some(1), Some(0)));
    assert_eq!(r["run"]["status"], "failed");
    assert_eq!(requests(&server).await, 1, "a bad answer is not retried");
    assert_eq!(r["run"]["tokens_in"], 100, "an unusable answer is still paid for");
    let lines = monitor_lines(&dir, &run_id(&out));
    assert_eq!(lines[0]["errors"], json!(["bad_answer"]));
    drop(dir);

    // With keywords as fallback the item still gets a suggestion, marked as a fallback.
    let dir = workspace(&["keywords"]);
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(openai_answer("no json here")).mount(&server).await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "2",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success());
    let r = json_of(&out);
    assert_eq!(r["providers"]["keywords"], 2);
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    assert!(sugg.iter().all(|s| s.rationale.starts_with("[fallback: keywords]")));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_exits_2() {
    let dir = workspace(&[]);
    let out = sift(&dir, &["suggest", "--provider", "antropic", "--dataset", "demo"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown provider"));
    let out = sift(&dir, &["suggest", "--dataset", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    // A name already used by a run made differently.
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "keywords",
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--name",
            "demo-keywords",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sift(&dir, &["export", "--what", "suggestions", "--out", "s.jsonl"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--run"));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_key_falls_back_to_the_next_provider() {
    let dir = workspace(&["keywords"]);
    let mut c = command(
        &dir,
        &["suggest", "--provider", "anthropic", "--dataset", "demo", "--limit", "2", "--json"],
    );
    c.env_remove("ANTHROPIC_API_KEY");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    // The keyring of the machine may hold a key; only check when it fell back.
    let r = json_of(&out);
    if r["run"]["provider"] == "keywords" {
        assert!(r["warnings"][0].as_str().unwrap().contains("not configured"));
        assert_eq!(r["suggested"], 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_server_errors_are_retried_with_backoff() {
    // 429 with Retry-After: waits at least that long, then succeeds.
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(anthropic_answer(
            json!({"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}),
            10,
            5,
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let uri = server.uri();
    let t = Instant::now();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "anthropic",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--retry-base-ms",
            "10",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(requests(&server).await, 2);
    let r = json_of(&out);
    assert_eq!((r["retries"].as_u64(), r["suggested"].as_u64()), (Some(1), Some(1)));
    let lines = monitor_lines(&dir, &run_id(&out));
    assert_eq!(lines[0]["retries"], 1);
    assert_eq!(lines[0]["errors"], json!(["http_429"]));

    let dir = workspace(&[]);
    // 429 without Retry-After twice, then success: exponential backoff from the base.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(openai_answer(r#"{"labels": [], "rationale": "none"}"#))
        .with_priority(2)
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--retry-base-ms",
            "10",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(requests(&server).await, 3);
    assert_eq!(json_of(&out)["retries"], 2);

    let dir = workspace(&[]);
    // 500 every time: the first try and 3 retries, then the item fails.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--retry-base-ms",
            "10",
            "--json",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(requests(&server).await, 4);
    let lines = monitor_lines(&dir, &run_id(&out));
    assert_eq!(lines[0]["errors"].as_array().unwrap().len(), 4);
    assert!(lines[0]["error"].as_str().unwrap().contains("HTTP 500"));

    let dir = workspace(&[]);
    // 401 echoing the key: not retried, and the key is redacted everywhere.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}}),
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(requests(&server).await, 1);
    let lines = monitor_lines(&dir, &run_id(&out));
    assert!(lines[0]["error"].as_str().unwrap().contains("<redacted>"));
    assert_no_key(&dir, &[&out]);
}

#[tokio::test(flavor = "multi_thread")]
async fn hangs_time_out_and_huge_bodies_are_refused() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer(r#"{"labels": []}"#).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let uri = server.uri();
    let t = Instant::now();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--timeout",
            "1",
            "--retries",
            "1",
            "--retry-base-ms",
            "10",
            "--json",
        ],
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(5), "timed out, did not wait for the hang");
    assert!(!out.status.success());
    assert_eq!(requests(&server).await, 2, "a timeout is retried");
    let lines = monitor_lines(&dir, &run_id(&out));
    assert_eq!(lines[0]["errors"], json!(["timeout", "timeout"]));

    let server = MockServer::start().await;
    let huge =
        format!(r#"{{"choices": [{{"message": {{"content": "{}"}}}}]}}"#, "x".repeat(8 << 20));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(requests(&server).await, 1, "not retried");
    let lines = monitor_lines(&dir, &run_id(&out));
    assert_eq!(lines[0]["errors"], json!(["too_large"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_budget_stops_the_run_and_the_run_resumes() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(anthropic_answer(
            json!({"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}),
            1000,
            200,
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let base = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "6",
        "--concurrency",
        "1",
        "--name",
        "budgeted",
        "--json",
    ];
    let out = sift(&dir, &[&base[..], &["--budget", "3000"]].concat()).await;
    assert!(!out.status.success(), "a budget stop is not a complete run");
    let r = json_of(&out);
    assert_eq!(r["run"]["status"], "budget_exhausted");
    // A request is sent only when its worst case (input and output limit) still fits: the
    // spending never passes the budget.
    let done = r["suggested"].as_u64().unwrap();
    assert!((1..6).contains(&done), "{r}");
    assert_eq!(requests(&server).await as u64, done);
    let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let used = store(&dir).budget_used(&day).unwrap();
    assert_eq!(used, done * 1200);
    assert!(used <= 3000);
    let warned =
        r["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("80%"));
    assert_eq!(warned, used * 100 >= 3000 * 80, "{r}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("resume"));

    // Same name, more budget: the done items are skipped, the rest asked.
    let out = sift(&dir, &[&base[..], &["--budget", "100000"]].concat()).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!((r["skipped"].as_u64(), r["suggested"].as_u64()), (Some(done), Some(6 - done)));
    assert_eq!(requests(&server).await, 6);
    let s = store(&dir);
    let run = s.run("budgeted").unwrap().unwrap();
    assert_eq!(run.status, "done");
    assert_eq!(run.tokens_in, 6000);
    assert_eq!(s.run_suggestions(&run.id).unwrap().len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_leaves_a_resumable_run() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            openai_answer(r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#)
                .set_delay(Duration::from_millis(100)),
        )
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "20",
        "--concurrency",
        "1",
        "--name",
        "stopped",
        "--json",
    ];
    let mut c = command(&dir, &args);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Two requests seen means the first answer came back and the run loop (with its Ctrl-C
    // handler) is running.
    let t = Instant::now();
    while requests(&server).await < 2 && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let r = json_of(&out);
    assert_eq!(r["run"]["status"], "interrupted");
    let done = r["suggested"].as_u64().unwrap();
    assert!(done > 0 && done < 20, "{done}");
    let s = store(&dir);
    assert_eq!(s.run("stopped").unwrap().unwrap().status, "interrupted");
    assert_eq!(s.run_suggestions(&run_id(&out)).unwrap().len() as u64, done, "answers kept");
    drop(s);
    let out = sift(&dir, &args).await;
    let r = json_of(&out);
    assert_eq!(r["skipped"].as_u64(), Some(done));
    assert_eq!(r["run"]["status"], "done");
    assert_eq!(store(&dir).run_suggestions(&run_id(&out)).unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_import_export_compare_and_list() {
    let dir = workspace(&[]);
    let file = dir.path().join("external.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"item": "demo:101", "labels": [{"name": "bug", "confidence": 0.95}, {"name": "wontfix", "confidence": 0.9}]}"#,
            r#"{"item": "demo:102", "labels": [{"name": "documentation"}]}"#,
            "not json",
            r#"{"item": "demo:nope", "labels": []}"#,
            r#"{"item": "demo:103", "labels": ["docs", "question"]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = sift(&dir, &["runs", "import", f, "--name", "ext", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!(r["imported"], 3);
    assert_eq!(r["dropped_labels"]["wontfix"], 1);
    let errors: Vec<String> = serde_json::from_value(r["errors"].clone()).unwrap();
    assert!(errors[0].contains(":3:"), "{errors:?}");
    assert!(errors[1].contains(":4:") && errors[1].contains("unknown item"), "{errors:?}");
    let s = store(&dir);
    let run = s.run("ext").unwrap().unwrap();
    assert_eq!(run.provider, "import");
    let sugg = s.run_suggestions(&run.id).unwrap();
    let names: Vec<&str> = sugg[2].labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["documentation", "question"], "aliases mapped");
    let age = jiff::Timestamp::now()
        .duration_since(sugg[0].created_at.parse::<jiff::Timestamp>().unwrap());
    assert!(age.as_secs() < 120, "dated at import time");
    drop(s);

    let export = dir.path().join("out/sugg.jsonl");
    let out = sift(&dir, &["runs", "export", "ext", "--out", export.to_str().unwrap()]).await;
    assert!(out.status.success());
    let lines: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["item"], "demo:101");
    assert_eq!(lines[0]["labels"], json!([{"name": "bug", "confidence": 0.95}]));
    assert_eq!(lines[0]["run"], run.id);
    assert_eq!(lines[0]["prompt_hash"], run.prompt_hash);

    let out = sift(&dir, &["runs", "compare", "demo-keywords", "ext", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = json_of(&out);
    assert_eq!(c["common_items"], 3);
    assert!(c["kappa"].as_object().unwrap().contains_key("bug"));
    assert!(c["prompt_diff"].as_str().unwrap().starts_with("---"));
    assert!(c["gold_a"]["items"].as_u64().unwrap() > 0, "demo annotations give gold");
    let flipped = c["flipped"].as_array().unwrap();
    assert!(flipped.iter().all(|f| f["a"] != f["b"]));

    let out = sift(&dir, &["runs", "show", "ext", "--json"]).await;
    assert!(json_of(&out)["bundle"].as_str().unwrap().starts_with("# imported from"));
    let out = sift(&dir, &["runs", "list", "--json"]).await;
    let list = json_of(&out);
    let ext = list.as_array().unwrap().iter().find(|r| r["name"] == "ext").unwrap();
    assert_eq!(ext["suggestions"], 3);
    let out = sift(&dir, &["runs", "mark", "ext", "--state", "baseline"]).await;
    assert!(out.status.success());
    assert_eq!(store(&dir).run("ext").unwrap().unwrap().state, sift::model::RunState::Baseline);
}

#[tokio::test(flavor = "multi_thread")]
async fn tui_entry_point_suggests_for_given_keys_even_inside_a_runtime() {
    use std::sync::{Arc, Mutex};
    let dir = workspace(&["keywords"]);
    let w = sift::workspace::Workspace::open(&ws(&dir), None, &Overrides::default()).unwrap();
    let labels = sift::taxonomy::LabelsFile::load(&w.labels_path()).unwrap();
    let keys = vec!["demo:101".to_string(), "demo:102".to_string()];
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let (seen2, store_path) = (seen.clone(), w.store_path());
    let on_item = sift::suggest::OnItem(Arc::new(move |r: &sift::suggest::ItemResult| {
        // The suggestion is stored before the callback: another connection can read it.
        let stored = Store::open(&store_path).unwrap().latest_suggestion(&r.key).unwrap().is_some();
        seen2.lock().unwrap().push((r.key.clone(), stored));
    }));
    let r = sift::suggest::suggest_keys_blocking(
        &w,
        &labels,
        keys.clone(),
        Some("keywords".into()),
        &sift::suggest::NoExamples,
        Some(on_item),
    )
    .unwrap();
    assert_eq!(r.items.len(), 2);
    assert!(r.items.iter().all(|i| i.suggestion.is_some()));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, [("demo:101".to_string(), true), ("demo:102".to_string(), true)]);
    // Asking again re-suggests into the same run rather than making a new one.
    let again = sift::suggest::suggest_keys_blocking(
        &w,
        &labels,
        keys,
        Some("keywords".into()),
        &sift::suggest::NoExamples,
        None,
    )
    .unwrap();
    assert_eq!(again.run.id, r.run.id);
    assert_eq!(again.suggested, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn train_then_suggest_with_the_local_model() {
    let dir = workspace(&["keywords"]);
    // The demo trains a model on its history; this workspace starts without one.
    std::fs::remove_dir_all(ws(&dir).join(".sift/models")).unwrap();
    // Before training, `local` is not configured and the chain falls back to keywords.
    let out = sift(
        &dir,
        &["suggest", "--provider", "local", "--dataset", "demo", "--limit", "2", "--json"],
    )
    .await;
    let r = json_of(&out);
    assert_eq!(r["run"]["provider"], "keywords");
    assert!(r["warnings"][0].as_str().unwrap().contains("sift train"));

    let out = sift(&dir, &["train", "--dataset", "demo", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = json_of(&out);
    assert_eq!(t["taxonomy"], "issues");
    let gold = t["examples"].as_u64().unwrap();
    assert!(gold >= 20, "{gold}");
    assert!(ws(&dir).join(".sift/models/issues.model").is_file());
    let fp = t["fingerprint"].as_str().unwrap();
    assert!(t.get("cross_validation").is_none(), "only with --cv");

    // --cv: every gold item is scored once by a model that did not see it.
    let out = sift(&dir, &["train", "--dataset", "demo", "--cv", "3", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cv = &json_of(&out)["cross_validation"];
    assert_eq!(cv["folds"], 3);
    assert_eq!(cv["pooled"]["items"].as_u64(), Some(gold));
    assert_eq!(cv["fold_macro_f1"].as_array().unwrap().len(), 3);
    let f1 = cv["macro_f1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&f1), "{cv}");
    let text = sift(&dir, &["train", "--dataset", "demo", "--cv", "3"]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("3-fold cross-validation"));
    let out = sift(&dir, &["train", "--dataset", "demo", "--cv", "1"]).await;
    assert_eq!(out.status.code(), Some(2), "one fold is a usage error");

    let out = sift(&dir, &["suggest", "--provider", "local", "--dataset", "demo", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert_eq!(r["providers"]["local"], 60);
    assert_eq!(r["run"]["model"], format!("local:{}", &fp[..12]));
    assert!(r["warnings"].as_array().unwrap().is_empty(), "fresh model: {}", r["warnings"]);
    // New gold labels make the model stale: the run says so.
    let log = ws(&dir).join("annotations/demo/tester.jsonl");
    std::fs::write(
        &log,
        "{\"item\": \"demo:150\", \"annotator\": \"tester\", \"labels\": [\"ux\"]}\n",
    )
    .unwrap();
    let stale = json_of(
        &sift(
            &dir,
            &["suggest", "--provider", "local", "--dataset", "demo", "--limit", "1", "--json"],
        )
        .await,
    );
    assert!(stale["warnings"][0].as_str().unwrap().contains("sift train"), "{}", stale["warnings"]);
    // Every item got an answer: labels at or above min_confidence, or an abstention with the
    // model's probabilities kept for audit.
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    assert_eq!(sugg.len(), 60);
    for s in &sugg {
        assert!(!s.labels.is_empty() || (s.abstained && !s.raw_labels.is_empty()), "{s:?}");
        assert!(s.labels.iter().all(|l| l.confidence.unwrap() >= 0.6));
    }
}

/// A fake Anthropic server answering `first` at temperature 0 and `second` at the
/// arbitration's 0.3.
async fn answering_by_temperature(first: Value, second: Value) -> MockServer {
    let server = MockServer::start().await;
    for (temperature, input) in [(0.0, first), (0.3, second)] {
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"temperature": temperature})))
            .respond_with(anthropic_answer(input, 100, 10))
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn arbitration_reasks_low_confidence_items_and_records_both_answers() {
    let dir = workspace(&[]);
    let server = answering_by_temperature(
        json!({"labels": [{"name": "bug", "confidence": 0.5}], "rationale": "unsure"}),
        json!({"labels": [{"name": "question", "confidence": 0.85}], "rationale": "asks"}),
    )
    .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "anthropic",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--arbitration",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(requests(&server).await, 2);
    let r = json_of(&out);
    assert_eq!(r["run"]["tokens_in"], 200, "both answers are paid for");
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    assert_eq!(sugg[0].labels[0].name, "question");
    assert!(sugg[0].rationale.contains("arbitration"), "{}", sugg[0].rationale);
    let line = &monitor_lines(&dir, &run_id(&out))[0];
    assert_eq!(line["arbitration"]["kept"], "second");
    assert_eq!(line["arbitration"]["first"]["labels"][0]["name"], "bug");
    assert_eq!(line["arbitration"]["second"]["labels"][0]["name"], "question");

    // Again with arbitration: the first answer comes from the cache, only the re-ask is sent.
    let args = ["suggest", "--provider", "anthropic", "--base-url", &uri, "--dataset", "demo"];
    let again = [&args[..], &["--limit", "1", "--arbitration", "--json"]].concat();
    let out = sift(&dir, &again).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(requests(&server).await, 3, "one re-ask, no first ask");
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    assert_eq!(sugg[0].labels[0].name, "question");
    assert_eq!(monitor_lines(&dir, &run_id(&out))[0]["cached"], true);

    // Without arbitration the cache holds the first answer, not the arbitrated one.
    let out = sift(&dir, &[&args[..], &["--limit", "1", "--json"]].concat()).await;
    assert_eq!(requests(&server).await, 3, "answered from the cache");
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    assert!(sugg[0].abstained, "the first answer (bug 0.5) is below min_confidence: {sugg:?}");
    assert!(!sugg[0].rationale.contains("arbitration"));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_not_sent_to_a_base_url_only_the_shared_workspace_file_names() {
    let dir = workspace(&[]);
    let server = openai_answering_bug().await;
    let uri = server.uri();
    let toml = ws(&dir).join("sift.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("fallback = []", &format!("fallback = []\nbase_url = {uri:?}"));
    std::fs::write(&toml, text).unwrap();
    let args = ["suggest", "--provider", "openai", "--dataset", "demo", "--limit", "1", "--json"];
    let out = sift(&dir, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    assert!(r["warnings"].to_string().contains("not sent"), "{r}");
    let auth = |req: &wiremock::Request| req.headers.get("authorization").is_some();
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1, "a keyless request still goes out");
    assert!(!auth(&seen[0]), "no key to a host only sift.toml names");
    // Anthropic needs its key: it is not configured there at all.
    let args = ["suggest", "--provider", "anthropic", "--dataset", "demo", "--limit", "1"];
    let out = sift(&dir, &args).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not sent"));
    assert_eq!(requests(&server).await, 1);
    // The user names the same origin in their own config: the key goes.
    let config = dir.path().join("config/sift");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), format!("[suggest]\nbase_url = {uri:?}\n")).unwrap();
    let args = ["suggest", "--provider", "openai", "--dataset", "demo", "--limit", "2", "--json"];
    let out = sift(&dir, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = server.received_requests().await.unwrap();
    assert!(seen.len() > 1 && auth(seen.last().unwrap()), "allowed by the user");
    assert_no_key(&dir, &[&out]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_is_probed_again_and_fallback_answers_stay_attributed() {
    let dir = workspace(&["keywords"]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("overloaded"))
        .up_to_n_times(5)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#,
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "30",
        "--concurrency",
        "1",
        "--retries",
        "0",
        "--name",
        "flaky",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_of(&out);
    // Items 1-5 fail (the breaker opens), 6-14 skip openai, item 15 probes it and it is back.
    assert_eq!(r["providers"], json!({"keywords": 14, "openai": 16}), "{r}");
    assert_eq!(requests(&server).await, 21);
    let warned = r["warnings"].as_array().unwrap().iter().any(|w| {
        let w = w.as_str().unwrap();
        w.contains("keywords 14") && w.contains("--name flaky")
    });
    assert!(warned, "{}", r["warnings"]);

    // Each stored and exported answer names the model that gave it.
    let id = run_id(&out);
    let model = r["run"]["model"].as_str().unwrap().to_string();
    let rows = store(&dir).run_suggestions(&id).unwrap();
    assert_eq!(rows.iter().filter(|s| s.provider == "keywords").count(), 14);
    let file = dir.path().join("s.jsonl");
    let f = file.to_str().unwrap();
    let exported = sift(&dir, &["export", "--what", "suggestions", "--run", &id, "--out", f]).await;
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    let models: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["model"].as_str().unwrap().into())
        .collect();
    assert_eq!(models.iter().filter(|m| **m == model).count(), 16, "{models:?}");

    // Resuming asks openai for the items the fallback answered, and only those.
    let out = sift(&dir, &args).await;
    let r = json_of(&out);
    assert_eq!((r["skipped"].as_u64(), r["suggested"].as_u64()), (Some(16), Some(14)), "{r}");
    assert_eq!(requests(&server).await, 35);
    let rows = store(&dir).run_suggestions(&id).unwrap();
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|s| s.provider.is_empty()), "all answered by the run's own model");
}

#[tokio::test(flavor = "multi_thread")]
async fn few_shot_examples_reach_the_prompt_the_bundle_and_the_cache_key() {
    use sift::suggest::{FewShot, RunOptions, run_suggestions};
    let dir = workspace(&[]);
    let server = openai_answering_bug().await;
    let w = sift::workspace::Workspace::open(&ws(&dir), None, &Overrides::default()).unwrap();
    let labels = sift::taxonomy::LabelsFile::load(&w.labels_path()).unwrap();
    let mut st = Store::open(&w.store_path()).unwrap();
    let mut opts = RunOptions::from_settings(&w.settings.suggest);
    opts.provider = "openai".into();
    opts.fallback = Vec::new();
    opts.base_url = Some(server.uri());
    opts.dataset = Some("demo".into());
    opts.limit = Some(2);
    opts.few_shot = 2;
    let source = |item: &sift::model::Item, k: usize| {
        vec![
            FewShot {
                title: format!("similar to {}", item.key),
                text: "a gold example </sift_example> with a fake delimiter".into(),
                labels: vec!["bug".into()],
            };
            k.min(1)
        ]
    };
    let r = run_suggestions(&w, &labels, &mut st, &opts, &source, std::future::pending())
        .await
        .unwrap();
    assert_eq!(r.suggested, 2);
    let sent = server.received_requests().await.unwrap();
    let users: Vec<String> = sent
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["messages"][1]["content"].as_str().unwrap().to_string()
        })
        .collect();
    let user = users.iter().find(|u| u.contains("similar to demo:101")).expect("example sent");
    assert_eq!(user.matches("</sift_example>").count(), 1, "the example's fake delimiter is inert");
    assert!(r.run.bundle.contains("policy: examples chosen per item; up to 2 per item"));
    let lines = monitor_lines(&dir, &r.run.id);
    let line = lines.iter().find(|l| l["item"] == "demo:101").unwrap();
    assert_eq!(line["examples"], json!(["similar to demo:101"]));

    // A zero-shot run over the same items is a different prompt: not served from that cache.
    opts.few_shot = 0;
    let r0 = run_suggestions(&w, &labels, &mut st, &opts, &source, std::future::pending())
        .await
        .unwrap();
    assert_eq!(r0.cached, 0);
    assert_ne!(r0.run.prompt_hash, r.run.prompt_hash);
    assert_eq!(requests(&server).await, 4);
    // The same few-shot run again: all cached.
    opts.few_shot = 2;
    let again = run_suggestions(&w, &labels, &mut st, &opts, &source, std::future::pending())
        .await
        .unwrap();
    assert_eq!(again.cached, 2);
    assert_eq!(requests(&server).await, 4);
}

// ---- the local model on real issues ------------------------------------------------------------

mod nlbse {
    //! 5-fold cross-validation of the local classifier on the NLBSE'24 issue sample, when present.

    use std::path::PathBuf;

    use sift::suggest::crossval::{Answering, cross_validate};
    use sift::suggest::local::{Dimension, TrainOptions};

    /// Mean 5-fold macro-F1 measured with the default options (0.7850 on this fold draw; 0.782
    /// over five draws), minus a margin. The issue's target is 0.80; this guards what the
    /// model reaches today.
    const MIN_MACRO_F1: f64 = 0.775;
    const MAX_ECE: f64 = 0.05;

    fn dataset() -> Option<PathBuf> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/nlbse24/issues_train.csv");
        path.exists().then_some(path)
    }

    /// A text (`title + "\n" + body`) with its one gold label.
    fn load(path: &PathBuf) -> Vec<(String, Vec<String>)> {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (title, body, label) = (col("title"), col("body"), col("label"));
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (format!("{}\n{}", &r[title], &r[body]), vec![r[label].to_string()])
            })
            .collect()
    }

    #[test]
    fn nlbse24_five_fold_macro_f1_and_calibration() {
        let Some(path) = dataset() else {
            println!("skipped: ../shared/data/nlbse24/issues_train.csv not found");
            return;
        };
        let data = load(&path);
        let labels = ["bug", "feature", "question"].map(String::from).to_vec();
        let dims = [Dimension { name: "type".into(), single: true, labels }];
        let opts = TrainOptions::default();
        let cv = cross_validate(&data, &dims, &opts, Answering::TopLabel, (5, 42), None).unwrap();
        let (mean, ece) = (cv.macro_f1.unwrap(), cv.pooled.ece.unwrap());
        println!(
            "5-fold macro-F1 {mean:.4} per fold {:.3?}, pooled ECE {ece:.4}",
            cv.fold_macro_f1
        );
        assert_eq!(cv.pooled.items, 1500);
        assert!(mean >= MIN_MACRO_F1, "macro-F1 {mean:.4} < {MIN_MACRO_F1}");
        assert!(ece <= MAX_ECE, "ECE {ece:.4} > {MAX_ECE}");
    }
}

#[tokio::test]
async fn label_auto_asks_for_a_fresh_answer_past_the_cache() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    let input = json!({"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(anthropic_answer(input, 100, 10))
        .mount(&server)
        .await;
    let issue = |n: i64| sift::model::Item {
        key: format!("github:o/r#{n}"),
        dataset: "o-r".into(),
        kind: Some(sift::model::ItemKind::Issue),
        title: format!("Crash number {n}"),
        body: "It crashes.".into(),
        repo: Some("o/r".into()),
        number: Some(n),
        ..Default::default()
    };
    store(&dir).upsert_items(&[issue(1), issue(2)], "2026-11-20T00:00:00Z").unwrap();
    let uri = server.uri();
    let run = |name: &'static str| {
        let uri = uri.clone();
        let dir = &dir;
        async move {
            let args =
                ["suggest", "--provider", "anthropic", "--base-url", &uri, "--dataset", "o-r"];
            sift(dir, &[&args[..], &["--name", name, "--json"]].concat()).await
        }
    };
    assert!(run("first").await.status.success());
    assert_eq!(requests(&server).await, 2);
    // `/label auto` on #2 (as a pull records it): the next run asks again for #2 only.
    store(&dir).set_issue_flags("github:o/r#2", false, true).unwrap();
    let second = run("second").await;
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let r = json_of(&second);
    assert_eq!((r["cached"].as_u64(), r["suggested"].as_u64()), (Some(1), Some(2)), "{r}");
    assert_eq!(requests(&server).await, 3, "one fresh request, one cached answer");
    assert_eq!(store(&dir).issue_flags("github:o/r#2").unwrap(), Some((false, false)));
    // Answered: a third run is all cache again.
    assert!(run("third").await.status.success());
    assert_eq!(requests(&server).await, 3);
}

/// A named run is worked by one process: a second one started meanwhile (a resume or a new run
/// with the same name) stops with a clear message and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_on_the_same_run_is_refused() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    // Slow answers keep the first process busy until it is stopped.
    Mock::given(method("POST"))
        .respond_with(
            openai_answer(r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#)
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--name",
        "same",
        "--concurrency",
        "1",
        "--json",
    ];
    let mut c = command(&dir, &args);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut first = c.spawn().unwrap();
    // A request on the wire means the first process holds the run.
    let t = Instant::now();
    while requests(&server).await < 1 && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(requests(&server).await, 1);
    let second = sift(&dir, &args).await;
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("run `same` is being worked by another sift process"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert_eq!(requests(&server).await, 1, "the second process sent nothing");
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed: the lock went with the process, and the run resumes.
    Mock::given(method("POST"))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#,
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    let third = sift(&dir, &[&args[..], &["--limit", "2"]].concat()).await;
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
}

/// Counts requests as they arrive, answering `bug` at once.
struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl wiremock::Respond for Counting {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        openai_answer(r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#)
    }
}

/// The first request goes out before later items are prepared: few-shot examples (a
/// similarity query per item) are chosen as slots free up, not all before the first request.
#[tokio::test(flavor = "multi_thread")]
async fn items_are_prepared_as_requests_go_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    let sent = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST")).respond_with(Counting(sent.clone())).mount(&server).await;
    let w = sift::workspace::Workspace::open(&ws(&dir), None, &Overrides::default()).unwrap();
    let labels = sift::taxonomy::LabelsFile::load(&w.labels_path()).unwrap();
    let mut opts = sift::suggest::runner::RunOptions::from_settings(&w.settings.suggest);
    opts.provider = "openai".into();
    opts.fallback = vec![];
    opts.base_url = Some(server.uri());
    opts.dataset = Some("demo".into());
    opts.limit = Some(4);
    opts.concurrency = 1;
    opts.few_shot = 2;
    opts.name = Some("lazy".into());
    // When each item's examples were asked for, how many requests had gone out.
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (seen2, sent2) = (seen.clone(), sent.clone());
    let examples = move |_: &sift::model::Item, _: usize| -> Vec<sift::suggest::prompt::FewShot> {
        seen2.lock().unwrap().push(sent2.load(Ordering::SeqCst));
        Vec::new()
    };
    let report = tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&w.store_path()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(sift::suggest::runner::run_suggestions(
            &w,
            &labels,
            &mut store,
            &opts,
            &examples,
            std::future::pending(),
        ))
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.suggested, 4);
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3]);
    // The run records the fingerprint of its items, and `runs show` says the same.
    let fp = report.run.dataset_fingerprint.clone();
    assert_eq!(fp.len(), 64);
    assert_eq!(store(&dir).run("lazy").unwrap().unwrap().dataset_fingerprint, fp);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_run_keeps_its_fingerprint_and_a_whole_monitor_log() {
    let dir = workspace(&[]);
    let server = openai_answering_bug().await;
    let uri = server.uri();
    let args = |limit: &'static str| {
        vec![
            "suggest".to_string(),
            "--provider".into(),
            "openai".into(),
            "--base-url".into(),
            uri.clone(),
            "--dataset".into(),
            "demo".into(),
            "--name".into(),
            "again".into(),
            "--limit".into(),
            limit.into(),
            "--json".into(),
        ]
    };
    let a: Vec<String> = args("3");
    let first = sift(&dir, &a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let fp = json_of(&first)["run"]["dataset_fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fp.len(), 64);
    let id = run_id(&first);
    // A kill -9 mid-line leaves a fragment; the resume must not append onto it.
    let log = ws(&dir).join(format!(".sift/logs/suggest-{id}.jsonl"));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"{\"item\":\"demo:1").unwrap();
    drop(f);
    let b: Vec<String> = args("6");
    let second = sift(&dir, &b.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(json_of(&second)["run"]["dataset_fingerprint"].as_str(), Some(fp.as_str()));
    let shown = command(&dir, &["runs", "show", "again", "--json"]).output().unwrap();
    assert_eq!(json_of(&shown)["dataset_fingerprint"].as_str(), Some(fp.as_str()));
    let lines = monitor_lines(&dir, &id);
    assert_eq!(lines.len(), 6, "every line whole: {lines:?}");
}

/// A model trained on every dataset is not stale for a run over one of them, nor for a run
/// whose primary is another provider; `sift eval` leaves the model's training items out.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_model_is_not_called_stale_and_eval_leaves_its_training_items_out() {
    let dir = workspace(&["local", "keywords"]);
    // A second dataset of the same taxonomy, with gold labels: `sift train` covers both.
    let more = dir.path().join("more.jsonl");
    std::fs::write(
        &more,
        "{\"id\":\"1\",\"title\":\"Crash on start\",\"body\":\"it crashes\",\"labels\":[\"bug\"]}\n",
    )
    .unwrap();
    let out = sift(&dir, &["import", more.to_str().unwrap(), "--dataset", "more"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sift(&dir, &["train", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trained = json_of(&out)["examples"].as_u64().unwrap();
    for provider in ["local", "keywords"] {
        let args =
            ["suggest", "--provider", provider, "--dataset", "demo", "--limit", "2", "--json"];
        let r = json_of(&sift(&dir, &args).await);
        let warnings = r["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().all(|w| !w.as_str().unwrap().contains("trained on other gold")),
            "{provider}: {warnings:?}"
        );
    }
    let out = sift(&dir, &["suggest", "--provider", "local", "--dataset", "demo", "--json"]).await;
    let run = run_id(&out);
    let eval = json_of(&sift(&dir, &["eval", "--run", &run, "--dataset", "demo", "--json"]).await);
    // Trained on every gold item of the taxonomy: the demo's 46 among them.
    let demo_gold = 46;
    assert!(trained > demo_gold, "{trained}");
    assert_eq!(eval["left_out_trained"].as_u64(), Some(demo_gold), "{eval}");
    assert_eq!(eval["items"].as_u64(), Some(0), "every demo gold item was trained on: {eval}");
    let text = sift(&dir, &["eval", "--run", &run, "--dataset", "demo"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("{demo_gold} gold items left out")), "{text}");
    let args = ["eval", "--run", &run, "--dataset", "demo", "--include-trained", "--json"];
    let all = json_of(&sift(&dir, &args).await);
    assert_eq!(all["items"].as_u64(), Some(demo_gold));
    assert_eq!(all["left_out_trained"].as_u64(), Some(0));
}

// ---- servers people really run (llama.cpp, LiteLLM, vLLM, Ollama) -------------------------

/// llama-cpp-python's answer to a JSON-schema response format it does not take.
fn refuses_json_schema() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(json!({"error": {
        "message": "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), \
                    'msg': \"Input should be 'text' or 'json_object'\"}]",
        "type": "internal_server_error"}}))
}

fn set_in_suggest(dir: &tempfile::TempDir, line: &str) {
    let toml = ws(dir).join("sift.toml");
    let text =
        std::fs::read_to_string(&toml).unwrap().replace("[suggest]", &format!("[suggest]\n{line}"));
    std::fs::write(&toml, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_json_schema_is_asked_with_json_object_and_says_why() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"response_format": {"type": "json_schema"}})))
        .respond_with(refuses_json_schema())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"response_format": {"type": "json_object"}})))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#,
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "5",
        "--name",
        "nego",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    let r = json_of(&out);
    assert_eq!(r["suggested"], 5, "{r}");
    assert_eq!(r["run"]["config"]["response_format_used"], "json_object");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 6, "one refusal, then every item answered once");
    let sent: Value = reqs[1].body_json().unwrap();
    assert!(sent["messages"][0]["content"].as_str().unwrap().contains("JSON schema"));
    assert!(sent["max_tokens"].as_u64().unwrap() >= 512, "an output limit is set");
    let schema = &reqs[0].body_json::<Value>().unwrap()["response_format"]["json_schema"]["schema"];
    let conf = &schema["properties"]["labels"]["items"]["properties"]["confidence"];
    assert_eq!((conf["minimum"].as_f64(), conf["maximum"].as_f64()), (Some(0.0), Some(1.0)));
    assert!(r["warnings"].to_string().contains("answers were asked as json_object"), "{r}");

    // Forced to json_schema: the refusal is not retried, and what the server said is shown.
    set_in_suggest(&dir, "response_format = \"json_schema\"");
    let before = server.received_requests().await.unwrap().len();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "2",
        "--name",
        "forced",
        "--model",
        "other-model",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    let r = json_of(&out);
    assert_eq!(r["failed"], 2, "{r}");
    assert_eq!(server.received_requests().await.unwrap().len() - before, 2, "no retries");
    assert_eq!(r["errors_by_kind"]["http_500"], 2);
    assert!(r["first_errors"]["http_500"].as_str().unwrap().contains("Input should be"), "{r}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Input should be 'text' or 'json_object'")
    );
    let log = monitor_lines(&dir, &run_id(&out));
    assert!(log[0]["error_messages"][0].as_str().unwrap().contains("Input should be"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_cut_off_at_the_limit_is_asked_once_more_then_recorded_as_truncated() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": "{\"labels\": [{\"name\": \"bu"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 512, "total_tokens": 612}})))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "1",
        "--json",
    ];
    let r = json_of(&sift(&dir, &args).await);
    assert_eq!(r["failed"], 1);
    assert_eq!(r["errors_by_kind"]["truncated"], 1, "{r}");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2, "once more with a higher limit, then no retries");
    let limits: Vec<u64> = reqs
        .iter()
        .map(|q| q.body_json::<Value>().unwrap()["max_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(limits[1], limits[0] * 2);
    // Both cut-off answers were billed.
    assert_eq!(r["run"]["tokens_out"], 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_adapts_to_a_server_that_queues() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            openai_answer(r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#)
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let uri = server.uri();
    // A loopback server starts at one request at a time.
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "1",
        "--json",
    ];
    let r = json_of(&sift(&dir, &args).await);
    assert_eq!(r["suggested"], 1);
    assert_eq!(r["concurrency_start"], 1, "{r}");
    // Timeouts halve the concurrency given (4 -> 2 -> 1).
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "4",
        "--concurrency",
        "4",
        "--timeout",
        "1",
        "--retries",
        "0",
        "--json",
    ];
    let r = json_of(&sift(&dir, &args).await);
    assert_eq!(r["concurrency"], 1, "{r}");
    assert!(r["warnings"].to_string().contains("concurrency lowered to"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_with_other_settings_is_recorded_and_said() {
    let dir = workspace(&[]);
    let server = openai_answering_bug().await;
    let uri = server.uri();
    let first = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "1",
        "--name",
        "again",
        "--json",
    ];
    json_of(&sift(&dir, &first).await);
    let second = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "2",
        "--name",
        "again",
        "--timeout",
        "30",
        "--concurrency",
        "2",
        "--json",
    ];
    let r = json_of(&sift(&dir, &second).await);
    let w = r["warnings"].to_string();
    assert!(w.contains("resuming run with other settings") && w.contains("timeout_secs 30"), "{w}");
    let run = store(&dir).run("again").unwrap().unwrap();
    let resumes = run.config["resumes"].as_array().unwrap();
    assert_eq!(resumes.len(), 1);
    assert_eq!(resumes[0]["concurrency"], 2);
    // Suggestions export in reading order.
    let out = dir.path().join("s.jsonl");
    let o = sift(
        &dir,
        &["export", "--what", "suggestions", "--run", "again", "--out", out.to_str().unwrap()],
    )
    .await;
    assert!(o.status.success());
    let items: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["item"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = items.clone();
    sorted.sort_by(|a, b| sift::text::natural_cmp(a, b));
    assert_eq!(items, sorted);
}

/// A re-asked answer with confidences outside 0..1 does not replace a sound first answer.
#[tokio::test(flavor = "multi_thread")]
async fn arbitration_keeps_the_answer_with_fewer_validation_issues() {
    let dir = workspace(&[]);
    let server = answering_by_temperature(
        json!({"labels": [{"name": "bug", "confidence": 0.55}], "rationale": "unsure"}),
        json!({"labels": [{"name": "question", "confidence": 3.0}], "rationale": "sure!"}),
    )
    .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "1",
        "--arbitration",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(requests(&server).await, 2);
    let line = &monitor_lines(&dir, &run_id(&out))[0];
    assert_eq!(line["arbitration"]["kept"], "first", "{line}");
}

/// Matches a JSON body that has `key` at its top level.
struct HasKey(&'static str);

impl wiremock::Match for HasKey {
    fn matches(&self, request: &wiremock::Request) -> bool {
        request.body_json::<Value>().is_ok_and(|v| v.get(self.0).is_some())
    }
}

/// Newer OpenAI models refuse `max_tokens` and take `max_completion_tokens`: learned once.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_wants_max_completion_tokens_gets_it() {
    let dir = workspace(&[]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(HasKey("max_tokens"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. \
                        Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error", "param": "max_tokens"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(HasKey("max_completion_tokens"))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r"}"#,
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "3",
        "--json",
    ];
    let r = json_of(&sift(&dir, &args).await);
    assert_eq!(r["providers"]["openai"], 3, "{r}");
    assert_eq!(requests(&server).await, 4, "one refusal, then each item once");
}

/// Two runs over different items are compared on what they share, and the user is told.
#[tokio::test(flavor = "multi_thread")]
async fn comparing_runs_over_different_items_says_so() {
    let dir = workspace(&[]);
    let base = ["suggest", "--provider", "keywords", "--dataset", "demo"];
    let a = json_of(
        &sift(&dir, &[&base[..], &["--limit", "3", "--name", "k3", "--json"]].concat()).await,
    );
    let b = json_of(
        &sift(&dir, &[&base[..], &["--limit", "5", "--name", "k5", "--json"]].concat()).await,
    );
    assert_ne!(a["run"]["dataset_fingerprint"], b["run"]["dataset_fingerprint"]);
    let out = sift(&dir, &["runs", "compare", "k3", "k5"]).await;
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cover different items") && err.contains("only the 3 items"), "{err}");
    let j = json_of(&sift(&dir, &["runs", "compare", "k3", "k5", "--json"]).await);
    assert_eq!(j["same_items"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn arbitration_reasks_only_the_low_confidence_dimensions() {
    let dir = workspace(&[]);
    // On the demo's SFT conversations: intent and difficulty are sure, language is not.
    let server = answering_by_temperature(
        json!({"labels": [{"name": "fix", "confidence": 0.9}, {"name": "python", "confidence": 0.4},
                          {"name": "beginner", "confidence": 0.8}], "rationale": "first"}),
        json!({"labels": [{"name": "rust", "confidence": 0.85}], "rationale": "second"}),
    )
    .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &uri,
        "--dataset",
        "demo-chat",
        "--limit",
        "1",
        "--arbitration",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    // The re-ask's prompt and schema speak of the language dimension only.
    let second: Value = serde_json::from_slice(&reqs[1].body).unwrap();
    let system = second["system"].as_str().unwrap();
    assert!(system.contains("rust") && !system.contains("beginner"), "{system}");
    let schema = second["tools"][0]["input_schema"].to_string();
    assert!(schema.contains("rust") && !schema.contains("\"fix\""), "{schema}");
    let sugg = store(&dir).run_suggestions(&run_id(&out)).unwrap();
    let mut names: Vec<&str> = sugg[0].labels.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["beginner", "fix", "rust"], "sure dimensions kept, language replaced");
    let line = &monitor_lines(&dir, &run_id(&out))[0];
    assert_eq!(line["arbitration"]["dimensions"], json!(["language"]));
    assert_eq!(line["arbitration"]["kept_by_dimension"]["language"], "second");
    assert_eq!(line["arbitration"]["first"]["labels"][1]["name"], "python", "both answers kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn summaries_and_keywords_are_stored_and_a_fallback_summarises_from_the_text() {
    let dir = workspace(&["keywords"]);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer(
            r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "r",
                "summary": "Saving a file whose name has an emoji\ncrashes the editor.",
                "keywords": ["Crash", "emoji", "crash", "file name", "save", "editor", "unicode", "path", "ninth"]}"#,
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let required = body["response_format"]["json_schema"]["schema"]["required"].to_string();
    assert!(required.contains("summary") && required.contains("keywords"), "{required}");
    let s = &store(&dir).run_suggestions(&run_id(&out)).unwrap()[0];
    assert_eq!(s.summary, "Saving a file whose name has an emoji crashes the editor.");
    assert_eq!(
        s.keywords,
        ["crash", "emoji", "file name", "save", "editor", "unicode", "path", "ninth"]
    );

    // The provider is down: the keyword fallback answers, and the summary is the title and
    // the start of the text.
    let down = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&down).await;
    let uri = down.uri();
    let out = sift(
        &dir,
        &[
            "suggest",
            "--provider",
            "openai",
            "--base-url",
            &uri,
            "--dataset",
            "demo",
            "--limit",
            "2",
            "--retries",
            "0",
            "--name",
            "down",
            "--json",
        ],
    )
    .await;
    let st = store(&dir);
    let sugg = st.run_suggestions(&run_id(&out)).unwrap();
    let s = sugg.iter().find(|s| s.provider == "keywords").expect("a fallback answer");
    let item = st.item(&s.item).unwrap().unwrap();
    assert!(s.summary.starts_with(item.title.trim()), "{} / {}", s.summary, item.title);
    assert!(s.summary.chars().count() <= item.title.chars().count() + 2 + 150, "{}", s.summary);
    assert!(s.keywords.is_empty());
}

/// An OpenAI stand-in for a two-call prompt that answers by the call its system prompt names;
/// call 2 fails with 500 until `fixed` is set.
struct TwoCalls {
    fixed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl wiremock::Respond for TwoCalls {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        if system.contains("This is call 1 of 2") {
            return openai_answer(
                r#"{"labels": [{"name": "fix", "confidence": 0.9}, {"name": "rust", "confidence": 0.9},
                               {"name": "beginner", "confidence": 0.8}],
                    "rationale": "a bug fix", "summary": "Fixing a Rust borrow error.",
                    "keywords": ["rust", "borrow", "fix", "compiler", "error"]}"#,
            );
        }
        if !self.fixed.load(std::sync::atomic::Ordering::SeqCst) {
            return ResponseTemplate::new(500).set_body_json(
                json!({"error": {"message": "overloaded", "type": "server_error"}}),
            );
        }
        // It also names a language: call 1 answered that dimension, so this is dropped.
        openai_answer(
            r#"{"labels": [{"name": "error-handling", "confidence": 0.8},
                           {"name": "snippet", "confidence": 0.9},
                           {"name": "python", "confidence": 0.99}],
                "rationale": "the user pastes code"}"#,
        )
    }
}

fn call_of(req: &wiremock::Request) -> (usize, Value) {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    let n = if system.contains("This is call 1 of 2") { 1 } else { 2 };
    (n, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_call_prompt_asks_in_order_and_a_failed_call_resumes_alone() {
    let dir = workspace(&[]);
    let labels = ws(&dir).join("labels.yml");
    let text = std::fs::read_to_string(&labels).unwrap();
    let text = text.replacen(
        "  sft:\n    max_labels: 12\n",
        "  sft:\n    max_labels: 12\n    calls: [[intent, language, domain, task, difficulty], \
         [concept, agentic, constraint, context]]\n",
        1,
    );
    assert!(text.contains("calls: [[intent"), "the demo's labels.yml changed shape");
    std::fs::write(&labels, text).unwrap();
    let fixed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(TwoCalls { fixed: fixed.clone() })
        .mount(&server)
        .await;
    let uri = server.uri();
    let args = [
        "suggest",
        "--provider",
        "openai",
        "--base-url",
        &uri,
        "--dataset",
        "demo-chat",
        "--limit",
        "1",
        "--retries",
        "1",
        "--name",
        "two-calls",
        "--json",
    ];

    // Call 2 fails: the item fails, call 1 answered once, call 2 was retried once.
    let out = sift(&dir, &args).await;
    let report = json_of(&out);
    assert_eq!((report["failed"].as_u64(), report["suggested"].as_u64()), (Some(1), Some(0)));
    let reqs = server.received_requests().await.unwrap();
    let calls: Vec<usize> = reqs.iter().map(|r| call_of(r).0).collect();
    assert_eq!(calls, [1, 2, 2], "call 1, then call 2 and its retry");
    // Call 1 asks about its own dimensions and for the summary; call 2 about the rest.
    let (_, first) = call_of(&reqs[0]);
    let schema = first["response_format"]["json_schema"]["schema"].to_string();
    assert!(schema.contains("\"fix\"") && !schema.contains("snippet"), "{schema}");
    assert!(schema.contains("keywords"), "{schema}");
    let (_, second) = call_of(&reqs[1]);
    let schema = second["response_format"]["json_schema"]["schema"].to_string();
    assert!(schema.contains("snippet") && !schema.contains("\"fix\""), "{schema}");
    assert!(!schema.contains("keywords"), "{schema}");
    // The later call is told the earlier call's validated answers.
    let user = second["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with("Answers of the earlier calls (validated by sift):"), "{user}");
    for want in ["- intent: fix (0.90)", "- language: rust (0.90)", "- domain: (none)"] {
        assert!(user.contains(want), "{want} in {user}");
    }
    let id = run_id(&out);
    let lines = monitor_lines(&dir, &id);
    assert_eq!(lines.len(), 3, "one entry per call and one for the item: {lines:#?}");
    assert_eq!((lines[0]["call"].as_u64(), lines[0]["tokens_in"].as_u64()), (Some(1), Some(100)));
    assert_eq!(lines[0]["labels"].as_array().unwrap().len(), 3);
    assert_eq!((lines[1]["call"].as_u64(), lines[1]["retries"].as_u64()), (Some(2), Some(1)));
    assert_eq!(lines[1]["errors"], json!(["http_500", "http_500"]));
    assert!(
        lines[2]["error"].as_str().unwrap().starts_with("call 2 of 2 (concept"),
        "{}",
        lines[2]
    );
    let bundle = store(&dir).run(&id).unwrap().unwrap().bundle;
    assert!(
        bundle.contains("## call 1 of 2: intent, language") && bundle.contains("## call 2 of 2")
    );

    // Resumed: call 1 comes from the cache, only call 2 is asked.
    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = sift(&dir, &args).await;
    let report = json_of(&out);
    assert_eq!(report["suggested"].as_u64(), Some(1), "{report}");
    let reqs = server.received_requests().await.unwrap();
    let calls: Vec<usize> = reqs.iter().map(|r| call_of(r).0).collect();
    assert_eq!(calls, [1, 2, 2, 2], "only call 2 asked again");
    let s = &store(&dir).run_suggestions(&id).unwrap()[0];
    let mut names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["beginner", "error-handling", "fix", "rust", "snippet"]);
    assert_eq!(s.summary, "Fixing a Rust borrow error.", "the summary comes from call 1");
    let lines = monitor_lines(&dir, &id);
    assert_eq!(lines.len(), 6);
    assert_eq!((lines[3]["call"].as_u64(), lines[3]["cached"].as_bool()), (Some(1), Some(true)));
    assert_eq!((lines[4]["call"].as_u64(), lines[4]["cached"].as_bool()), (Some(2), Some(false)));
    assert_eq!(lines[4]["tokens_in"].as_u64(), Some(100));

    // A new run of the same prompt finds both calls in the cache.
    let again = [&args[..11], &["--name", "two-calls-again", "--json"]].concat();
    let out = sift(&dir, &again).await;
    assert_eq!(json_of(&out)["cached"].as_u64(), Some(1));
    assert_eq!(requests(&server).await, 4, "nothing asked");
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_files_in_the_workspace_shape_the_prompt_and_compare_by_section() {
    let dir = workspace(&[]);
    let prompts = ws(&dir).join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("system.md"), "You triage issues for the Acme editor.\r\n")
        .unwrap();
    std::fs::write(prompts.join("instructions.md"), "Crashes are bugs.\n").unwrap();
    let server = openai_answering_bug().await;
    let uri = server.uri();
    let run = |name: &'static str| {
        let uri = uri.clone();
        let dir = &dir;
        async move {
            let args = [
                "suggest",
                "--provider",
                "openai",
                "--base-url",
                &uri,
                "--dataset",
                "demo",
                "--limit",
                "1",
                "--few-shot",
                "0",
                "--name",
                name,
                "--json",
            ];
            let out = sift(dir, &args).await;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            out
        }
    };
    let first = run("acme-1").await;
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You triage issues for the Acme editor.\n\nInstructions:\nCrashes are bugs.\n\ntaxonomy: issues"), "{system}");
    let bundle = store(&dir).run(&run_id(&first)).unwrap().unwrap().bundle;
    assert!(bundle.contains("## system (prompts/system.md)\nYou triage issues"), "{bundle}");
    assert!(bundle.contains("## instructions (prompts/instructions.md)\nCrashes are bugs."));
    // A changed instruction is a new prompt, and the comparison names the section.
    std::fs::write(prompts.join("instructions.md"), "Crashes are bugs.\nTypos are docs.\n")
        .unwrap();
    let second = run("acme-2").await;
    assert_ne!(json_of(&first)["run"]["prompt_hash"], json_of(&second)["run"]["prompt_hash"]);
    let c = json_of(&sift(&dir, &["runs", "compare", "acme-1", "acme-2", "--json"]).await);
    let sections = c["prompt_sections"].as_array().unwrap();
    assert_eq!(sections.len(), 1, "{c}");
    assert_eq!(sections[0]["section"], "instructions (prompts/instructions.md)");
    assert!(sections[0]["diff"].as_str().unwrap().contains("+Typos are docs."));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_host_never_carries_the_key() {
    let dir = workspace(&[]);
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(anthropic_answer(
            json!({"labels": [{"name": "bug", "confidence": 0.9}]}),
            1,
            1,
        ))
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/v1/messages", elsewhere.uri())),
        )
        .mount(&api)
        .await;
    let uri = api.uri();
    let args = [
        "suggest",
        "--provider",
        "anthropic",
        "--base-url",
        &uri,
        "--dataset",
        "demo",
        "--limit",
        "1",
        "--retries",
        "0",
        "--json",
    ];
    let out = sift(&dir, &args).await;
    assert_eq!(requests(&elsewhere).await, 0, "the redirect to another host is not followed");
    assert_eq!(json_of(&out)["failed"].as_u64(), Some(1));
}

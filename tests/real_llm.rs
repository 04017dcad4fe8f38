//! sift's OpenAI-compatible provider against a real server (llama-cpp-python, LiteLLM, vLLM,
//! Ollama): runs only when SIFT_REAL_LLM_URL names one (scripts/real-llm.sh starts
//! llama-cpp-python with SmolLM2-135M and a LiteLLM proxy and runs this against each), and
//! says so when skipped. Prints what a user waits for: items answered, seconds per item,
//! requests sent.
// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

#[test]
fn a_real_openai_compatible_server_answers_through_sift() {
    let Ok(url) = std::env::var("SIFT_REAL_LLM_URL") else {
        eprintln!("skipped: SIFT_REAL_LLM_URL is not set (scripts/real-llm.sh sets it)");
        return;
    };
    let model = std::env::var("SIFT_REAL_LLM_MODEL").unwrap_or_else(|_| "smollm2".into());
    let items: usize =
        std::env::var("SIFT_REAL_LLM_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ov = sift::workspace::Overrides { annotator: Some("real".into()), theme: None };
    drop(sift::demo::prepare(&ws, &ov).unwrap());
    let limit = items.to_string();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sift"))
        .arg("--workspace")
        .arg(&ws)
        .args(["suggest", "--provider", "openai", "--base-url", &url, "--model", &model])
        .args(["--dataset", "demo", "--limit", &limit, "--timeout", "600", "--json"])
        .args(["--name", "real"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let answered = r["suggested"].as_u64().unwrap_or(0);
    let by_provider = &r["providers"];
    let from_server = by_provider["openai"].as_u64().unwrap_or(0);
    println!(
        "{url}: {from_server} of {items} items answered by the server ({answered} in all, \
         {} failed), {:.1} s per item, {} retries, errors {}, format {}, concurrency {} -> {}",
        r["failed"],
        secs / items as f64,
        r["retries"],
        r["errors_by_kind"],
        r["run"]["config"]["response_format_used"].as_str().unwrap_or("json_schema"),
        r["concurrency_start"],
        r["concurrency"],
    );
    println!("stderr: {stderr}");
    // The request is accepted: whatever format the server takes was negotiated, and no
    // request failed for its shape.
    let first = r["first_errors"].to_string();
    assert!(!first.contains("response_format") && !first.contains("Input should be"), "{first}");
    assert!(from_server > 0, "the server answered no item: {r}");
    // A loopback server is asked one request at a time unless told otherwise.
    if url.contains("127.0.0.1") || url.contains("localhost") {
        assert_eq!(r["concurrency_start"], 1);
    }
}

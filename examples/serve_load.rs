//! Load generator for `sift serve` (BENCHMARKS.md, "serve"): concurrent keep-alive clients
//! sending real issue texts from a CSV (title, body columns; e.g. ../shared/data/nlbse24),
//! latency percentiles, throughput, statuses, and the server's RSS read from /proc as the
//! requests go by. Also a stand-in OpenAI server answering after a fixed delay.
//!
//! ```text
//! serve_load load --url http://127.0.0.1:8787 --csv issues.csv --clients 32 --requests 20000 --pid PID
//! serve_load stand-in --delay-ms 100
//! ```
// A measuring tool: setup failures end it with a message, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match args.get(1).map(String::as_str) {
        Some("load") => rt.block_on(load(&args)),
        Some("stand-in") => rt.block_on(stand_in(&args)),
        _ => {
            eprintln!(
                "usage: serve_load load --url URL --csv FILE [--clients N] [--requests N] [--pid PID] [--unique] | stand-in --delay-ms MS"
            );
            std::process::exit(2);
        }
    }
}

/// Titles and bodies of the CSV's rows.
fn texts(path: &str) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (t, b) = (col("title"), col("body"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec.get(t).unwrap_or("").to_string(), rec.get(b).unwrap_or("").to_string())
        })
        .collect()
}

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn load(args: &[String]) {
    let url = format!("{}/predict", arg(args, "--url").expect("--url"));
    let rows = Arc::new(texts(&arg(args, "--csv").expect("--csv")));
    let clients: usize = arg(args, "--clients").map_or(32, |v| v.parse().unwrap());
    let total: usize = arg(args, "--requests").map_or(10_000, |v| v.parse().unwrap());
    let pid: Option<u32> = arg(args, "--pid").map(|v| v.parse().unwrap());
    // Every request a text of its own (a suffix), so a remote provider's cache never answers.
    let unique = args.iter().any(|a| a == "--unique");
    // Unique across runs too: a second run on the same workspace must not hit the first's cache.
    let nonce: u64 = rand::random();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let sampler = pid.map(|pid| {
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut decile = 1;
            while decile <= 10 {
                if done.load(Ordering::SeqCst) * 10 >= total * decile {
                    samples.push((done.load(Ordering::SeqCst), rss_kb(pid, "VmRSS:").unwrap_or(0)));
                    decile += 1;
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            samples
        })
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, rows, next, done) = (url.clone(), rows.clone(), next.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            // One client, one keep-alive connection.
            let client = sift::net::client(Duration::from_secs(60)).unwrap();
            let mut lat = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let (title, body) = &rows[i % rows.len()];
                let body = if unique {
                    format!("{body}\n\n(request {nonce:016x}-{i})")
                } else {
                    body.clone()
                };
                let payload = json!({"title": title, "body": body}).to_string();
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await;
                let status = match resp {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                lat.push(t.elapsed());
                *statuses.entry(status).or_default() += 1;
                done.fetch_add(1, Ordering::SeqCst);
            }
            (lat, statuses)
        }));
    }
    let mut lat = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        let (l, s) = t.await.unwrap();
        lat.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    let samples = match sampler {
        Some(s) => s.await.unwrap(),
        None => Vec::new(),
    };
    let out = json!({
        "requests": lat.len(),
        "clients": clients,
        "seconds": secs,
        "rps": lat.len() as f64 / secs,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "statuses": statuses,
        "rss_kb_by_decile": samples,
        "peak_rss_kb": pid.and_then(|p| rss_kb(p, "VmHWM:")),
    });
    println!("{out}");
}

/// An OpenAI Chat Completions stand-in that answers after `--delay-ms`.
async fn stand_in(args: &[String]) {
    let delay = Duration::from_millis(arg(args, "--delay-ms").map_or(100, |v| v.parse().unwrap()));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |_body: axum::body::Bytes| async move {
            tokio::time::sleep(delay).await;
            let content = json!({
                "labels": [{"name": "bug", "confidence": 0.9}],
                "rationale": "stand-in",
            });
            axum::Json(json!({
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content.to_string()}}],
                "usage": {"prompt_tokens": 400, "completion_tokens": 30},
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on http://{}", listener.local_addr().unwrap());
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    axum::serve(listener, app).await.unwrap();
}

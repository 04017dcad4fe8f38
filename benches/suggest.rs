//! Runner overhead: 1,000 items against a local fake OpenAI-compatible server that answers
//! each request in 100 ms, at concurrency 16. The ideal is 1000 / 16 * 0.1 s = 6.25 s.

use std::time::{Duration, Instant};

use serde_json::json;
use sift::store::Store;
use sift::suggest::{NoExamples, RunOptions, run_suggestions};
use sift::taxonomy::LabelsFile;
use sift::workspace::{Overrides, Workspace};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ITEMS: usize = 1000;
const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_millis(100);
const REPEATS: usize = 3;

pub fn run(filter: &str) {
    if !filter.is_empty() && !"suggest".contains(filter) {
        return;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return eprintln!("suggest_runner: no runtime: {e}"),
    };
    let mut times = Vec::new();
    for i in 0..REPEATS {
        match rt.block_on(once(i)) {
            Ok(t) => times.push(t),
            Err(e) => return eprintln!("suggest_runner: {e}"),
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let ideal = LATENCY.as_secs_f64() * (ITEMS as f64 / CONCURRENCY as f64);
    crate::common::row(
        &format!(
            "suggest: {ITEMS} items, concurrency {CONCURRENCY}, provider {} ms",
            LATENCY.as_millis()
        ),
        &format!("<= {:.2} s", ideal * 1.2),
        format!(
            "{:.2} s median of {REPEATS} ({:.3}x the ideal {ideal:.2} s; runs {})",
            median.as_secs_f64(),
            median.as_secs_f64() / ideal,
            times.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect::<Vec<_>>().join(", ")
        ),
    );
}

async fn once(i: usize) -> Result<Duration, String> {
    let server = MockServer::start().await;
    let content = r#"{"labels": [{"name": "bug", "confidence": 0.9}], "rationale": "bench"}"#;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "choices": [{"message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 300, "completion_tokens": 20}
                }))
                .set_delay(LATENCY),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    Workspace::init(dir.path(), "bench").map_err(|e| e.to_string())?;
    let ws = Workspace::open(dir.path(), None, &Overrides::default()).map_err(|e| e.to_string())?;
    let labels = LabelsFile::load(&ws.labels_path()).map_err(|e| e.to_string())?;
    let mut store = Store::open(&ws.store_path()).map_err(|e| e.to_string())?;
    let items = sift::synth::issues(ITEMS, 7 + i as u64);
    store.upsert_items(&items, "2026-11-22T00:00:00Z").map_err(|e| e.to_string())?;
    let mut opts = RunOptions::from_settings(&ws.settings.suggest);
    opts.provider = "openai".into();
    opts.fallback = Vec::new();
    opts.base_url = Some(server.uri());
    opts.concurrency = CONCURRENCY;
    opts.daily_budget = 0;
    let t = Instant::now();
    let report =
        run_suggestions(&ws, &labels, &mut store, &opts, &NoExamples, std::future::pending())
            .await
            .map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    if report.suggested != ITEMS {
        return Err(format!("only {} of {ITEMS} items suggested", report.suggested));
    }
    Ok(elapsed)
}

//! Similar-items rows: build the similarity index over 100,000 items, then top-5 latency.
// A benchmark aborts on setup failure by design.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use sift::model::Item;
use sift::store::Store;
use sift::synth;
use sift::text::keywords::LabelMatcher;

fn n() -> usize {
    std::env::var("SIMILAR_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}
const QUERIES: usize = 300;

pub fn run(filter: &str) {
    if !filter.is_empty() && !"similar".contains(filter) {
        return;
    }
    bench_kind("issues", &synth::issues(n(), 11));
    bench_kind("conversations", &synth::conversations(n(), 11));
}

fn bench_kind(kind: &str, items: &[Item]) {
    let mut index_secs = Vec::new();
    let mut p50 = Vec::new();
    let mut p95 = Vec::new();
    let mut found = 0usize;
    for run in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("store.db")).expect("open store");
        for chunk in items.chunks(2000) {
            store.upsert_items(chunk, "2026-01-01T00:00:00Z").expect("upsert");
        }
        let t = Instant::now();
        let report = store.refresh_index(&LabelMatcher::new()).expect("refresh");
        index_secs.push(t.elapsed().as_secs_f64());
        assert_eq!(report.docs as usize, items.len());
        // Spread the query items over the whole store, differently in each run.
        let step = items.len() / QUERIES;
        let mut times = Vec::with_capacity(QUERIES);
        for q in 0..QUERIES {
            let key = &items[(q * step + run * 7) % items.len()].key;
            let t = Instant::now();
            let got = sift::similar::similar(&store, key, 5).expect("similar");
            times.push(t.elapsed());
            found += got.len();
        }
        p50.push(percentile_ms(times.clone(), 50.0));
        p95.push(percentile_ms(times, 95.0));
    }
    row(
        &format!("similarity index over 100k {kind}"),
        "<= 10 s",
        format!("{:.2} s", median(index_secs)),
    );
    row(
        &format!("similar top-5 over 100k {kind}, p95"),
        "<= 20 ms",
        format!("{:.2} ms (p50 {:.2} ms)", median(p95), median(p50)),
    );
    println!("  ({:.1} results per query on average)", found as f64 / (3 * QUERIES) as f64);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile_ms(mut xs: Vec<Duration>, p: f64) -> f64 {
    xs.sort();
    let i = ((p / 100.0) * (xs.len() - 1) as f64).round() as usize;
    xs[i].as_secs_f64() * 1000.0
}

fn row(name: &str, target: &str, measured: String) {
    println!("{name:<58} target {target:<12} measured {measured}");
}

//! Gold benchmarks: 100,000 items x 3 annotators x 10 labels — replaying the annotations log
//! into a fresh store, and `sift stats` (store read + tables + metrics) without and with the
//! bootstrap intervals. Included from benches.rs; `run(filter)` prints medians of 3 runs.

// A benchmark whose setup fails must stop loudly; there is nothing to recover.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sift::dataset::stats;
use sift::model::{Annotation, Mode};
use sift::store::Store;
use sift::taxonomy::{LabelsFile, Taxonomy};
use sift::workspace::log;
use sift::workspace::{Overrides, Workspace};

const ITEMS: usize = 100_000;
const ANNOTATORS: [&str; 3] = ["alice", "bob", "carol"];
const AREAS: [&str; 7] = ["bug", "enhancement", "docs", "question", "ux", "perf", "security"];
const PRIORITIES: [&str; 3] = ["p0", "p1", "p2"];

fn labels_yml() -> String {
    format!(
        "taxonomies:\n  bench:\n    dimensions:\n      - name: area\n        select: many\n        \
         labels: [{}]\n      - name: priority\n        select: one\n        labels: [{}]\n",
        AREAS.join(", "),
        PRIORITIES.join(", ")
    )
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// CPU time of this thread (user + system, Linux /proc, 10 ms ticks), so a busy shared machine
/// can be told apart from a slow benchmark; zero where unavailable.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let ticks: u64 =
        rest.split_whitespace().skip(11).take(2).filter_map(|n| n.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// Wall and on-CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (t, c) = (Instant::now(), cpu_time());
    let out = f();
    (out, t.elapsed(), cpu_time().saturating_sub(c))
}

fn row(name: &str, target: &str, wall: Vec<Duration>, cpu: Vec<Duration>) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<58} target {target:<12} measured {:.0} ms (on-CPU {:.0} ms)",
        ms(median(wall)),
        ms(median(cpu))
    );
}

/// Annotators mostly agree: each starts from the item's "true" answer and flips a label
/// now and then, as real annotators do.
fn records(who: &str, rng_seed: u64) -> Vec<Annotation> {
    let mut truth_rng = ChaCha8Rng::seed_from_u64(7);
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    (0..ITEMS)
        .map(|i| {
            let mut labels: Vec<String> = AREAS
                .iter()
                .filter(|_| truth_rng.random_bool(0.2))
                .map(|s| s.to_string())
                .collect();
            let p = truth_rng.random_range(0..3);
            if rng.random_bool(0.1) {
                labels.push(AREAS[rng.random_range(0..AREAS.len())].to_string());
                labels.sort();
                labels.dedup();
            }
            let p = if rng.random_bool(0.1) { rng.random_range(0..3) } else { p };
            labels.push(PRIORITIES[p].to_string());
            Annotation {
                item: format!("bench:{i}"),
                annotator: who.to_string(),
                labels,
                at: "2026-11-20T10:00:00Z".into(),
                mode: Mode::Blind,
                note: String::new(),
                duration_ms: Some(4000 + (i % 9000) as u64),
                suggestion: None,
                week: None,
                retracted: false,
            }
        })
        .collect()
}

fn setup(dir: &Path) -> (Workspace, Taxonomy) {
    std::fs::write(dir.join("labels.yml"), labels_yml()).expect("write labels.yml");
    Workspace::init(dir, "bench").expect("init workspace");
    let ws = Workspace::open(dir, None, &Overrides::default()).expect("open workspace");
    let labels = LabelsFile::load(&ws.labels_path()).expect("labels.yml");
    let taxonomy = labels.get("bench").expect("taxonomy").clone();
    for (n, who) in ANNOTATORS.iter().enumerate() {
        log::append_many(&ws, "bench", who, &records(who, n as u64 + 1)).expect("append");
    }
    (ws, taxonomy)
}

pub fn run(filter: &str) {
    if !"gold".contains(filter) && !filter.is_empty() && !filter.contains("gold") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (ws, taxonomy) = setup(dir.path());
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut store = None;
    for i in 0..3 {
        let path = dir.path().join(format!("store-{i}.db"));
        let ((s, report), w, c) = timed(|| {
            let mut s = Store::open(&path).expect("store");
            let report = log::replay(&ws, &mut s).expect("replay");
            (s, report)
        });
        wall.push(w);
        cpu.push(c);
        assert_eq!(report.records, ITEMS * ANNOTATORS.len());
        store = Some(s);
    }
    row("gold: replay 300,000 records into a fresh store", "<= 2000 ms", wall, cpu);
    let Some(store) = store else { return };
    for (name, target, with_ci) in [
        ("gold: stats, no intervals (100k x 3 x 10)", "<= 300 ms", false),
        ("gold: stats with bootstrap intervals (100k x 3 x 10)", "<= 5000 ms", true),
    ] {
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let datasets = ["bench".to_string()];
            let (s, w, c) = timed(|| {
                stats::agreement_stats_from_store(&store, &datasets, &taxonomy, None, with_ci, None)
                    .expect("stats")
            });
            std::hint::black_box(&s);
            wall.push(w);
            cpu.push(c);
        }
        row(name, target, wall, cpu);
    }
}

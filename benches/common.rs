//! Shared benchmark helpers: timing, medians, peak RSS of child processes, machine facts.

use std::time::{Duration, Instant};

/// Time `f` `runs` times; return the median.
pub fn median_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Percentile (0-100) of durations in milliseconds.
pub fn percentile_ms(mut xs: Vec<Duration>, p: f64) -> f64 {
    xs.sort();
    let i = ((p / 100.0) * (xs.len() - 1) as f64).round() as usize;
    xs[i].as_secs_f64() * 1000.0
}

pub fn row(name: &str, target: &str, measured: String) {
    println!("{name:<58} target {target:<12} measured {measured}");
}

/// Peak resident set size of this process in MB (VmHWM).
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.to_string()))
        .and_then(|l| l.split(':').nth(1).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

/// Run `args` in a fresh copy of this benchmark binary (so its peak RSS is its own);
/// returns (seconds, peak RSS MB) printed by the child on its last line.
pub fn in_child(args: &[&str]) -> (f64, f64) {
    let text = child_output(args);
    let last = text.trim().lines().last().unwrap_or_default().to_string();
    let mut parts = last.rsplit(' ');
    let rss: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    let secs: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    (secs, rss)
}

/// Run a child and return everything it printed.
pub fn child_output(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("bench binary path");
    let out = std::process::Command::new(exe)
        .env("SIFT_BENCH_CHILD", args.join("\u{1f}"))
        .output()
        .expect("spawn bench child");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// If this process is a benchmark child, do its job and return true.
pub fn child_main() -> bool {
    let Ok(spec) = std::env::var("SIFT_BENCH_CHILD") else { return false };
    let args: Vec<&str> = spec.split('\u{1f}').collect();
    let t = Instant::now();
    crate::foundation::child(&args);
    crate::tui::child(&args);
    println!("{} {}", t.elapsed().as_secs_f64(), peak_rss_mb());
    true
}

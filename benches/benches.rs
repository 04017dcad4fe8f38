//! sift's benchmarks: a plain harness (`harness = false`) over realistic synthetic data.
//! `cargo bench --bench benches [-- FILTER]`; each row prints the median of several runs.
// A benchmark whose setup fails must stop loudly; there is nothing to recover.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;
mod foundation;
mod github;
mod gold;
mod local;
mod similar;
mod suggest;
mod tui;

fn main() {
    if common::child_main() {
        return;
    }
    // cargo passes `--bench`; the first free argument is a substring filter on group names.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    println!("machine: {}", common::machine());
    foundation::run(&filter);
    github::run(&filter);
    gold::run(&filter);
    similar::run(&filter);
    tui::run(&filter);
    suggest::run(&filter);
    local::run(&filter);
}

//! sift's benchmarks: a plain harness (`harness = false`); `cargo bench --bench benches [-- FILTER]`.

// Benchmarks stop at the first failure; there is nothing to recover.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod gold;

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    gold::run(&filter);
}

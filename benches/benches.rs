//! sift's benchmarks: a plain harness (`harness = false`) over realistic synthetic data.
//! `cargo bench --bench benches [-- FILTER]`; each row prints the median of several runs.

mod similar;

fn main() {
    // cargo passes `--bench`; the first free argument is a substring filter on group names.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    similar::run(&filter);
}

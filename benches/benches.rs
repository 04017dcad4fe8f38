//! Benchmarks (harness = false): `cargo bench --bench benches [-- FILTER]`.

mod suggest;

fn main() {
    // cargo passes --bench to harness-less benches; the first other argument filters.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    suggest::run(&filter);
}

//! sift: a keyboard-driven terminal workstation for labeling GitHub issues and SFT chat samples.
//!
//! The binary is thin; everything lives here so tests and benchmarks reach it.

/// `println!` that returns the write error instead of panicking, so `sift ... | head` ends
/// quietly (main treats a broken pipe as a normal end) rather than with a panic message.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// True when `err` comes from writing to a closed pipe (the reader, e.g. `head`, has exited).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub mod cli;
pub mod dataset;
pub mod demo;
pub mod github;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod net;
pub mod secrets;
pub mod similar;
pub mod sources;
pub mod store;
pub mod suggest;
pub mod synth;
pub mod taxonomy;
pub mod text;
pub mod tui;
pub mod workspace;

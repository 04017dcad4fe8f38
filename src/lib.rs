//! sift: a keyboard-driven terminal workstation for labeling GitHub issues and SFT chat samples.
//!
//! The binary is thin; everything lives here so tests and benchmarks reach it.

/// `println!` that returns the write error instead of panicking, so `sift ... | head` ends
/// quietly (main treats a closed stdout as a normal end) rather than with a panic message.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::stdout(), $($arg)*)?
    }};
}

/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!($crate::stdout(), $($arg)*)?
    }};
}

/// Locked standard output whose broken-pipe errors are marked as such, so they are told apart
/// from a broken pipe anywhere else (a dropped network connection is a real failure).
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// See [`stdout`].
pub struct Stdout(std::io::StdoutLock<'static>);

/// The payload of a write error on a closed standard output.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(mark_closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(mark_closed)
    }
}

fn mark_closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

/// True when `err` comes from writing to a standard output whose reader (e.g. `head`) has
/// exited.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>();
        io.and_then(|e| e.get_ref()).is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// The message of a caught panic (`panic!` with a string or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_string())
}

pub mod app;
pub mod background;
pub mod bot;
pub mod cli;
pub mod dataset;
pub mod demo;
pub mod github;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod net;
pub mod progress;
pub mod rebuild;
pub mod secrets;
pub mod serve;
pub mod similar;
pub mod sources;
pub mod store;
pub mod suggest;
pub mod synth;
pub mod taxonomy;
pub mod text;
pub mod tui;
pub mod workspace;

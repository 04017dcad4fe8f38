//! Tracing to a file (stdout belongs to the TUI and to --json output).

use std::path::{Path, PathBuf};

use tracing_subscriber::EnvFilter;

use crate::workspace::{STATE_DIR, Workspace};

/// Keeps the log file open for the life of the program.
pub struct LogGuard;

/// Log to `<workspace>/.sift/logs/sift.log` when inside a workspace, else to the user cache
/// folder. Level from SIFT_LOG (default info). Failing to log never stops sift.
/// `workspace` is the `--workspace` given on the command line, if any.
pub fn init(workspace: Option<&Path>) -> Option<LogGuard> {
    let dir = log_dir(workspace)?;
    std::fs::create_dir_all(&dir).ok()?;
    let file =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("sift.log")).ok()?;
    let filter = EnvFilter::try_from_env("SIFT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(Scrubbed(file)))
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(LogGuard)
}

/// The log file, with every known secret value scrubbed from what is written to it.
struct Scrubbed(std::fs::File);

impl std::io::Write for Scrubbed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // One formatted event arrives in one write, so a secret is never split across two.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::secrets::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn log_dir(workspace: Option<&Path>) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    match Workspace::discover(&cwd, workspace) {
        Ok(root) => Some(root.join(STATE_DIR).join("logs")),
        Err(_) => {
            directories::ProjectDirs::from("", "", "sift").map(|d| d.cache_dir().join("logs"))
        }
    }
}

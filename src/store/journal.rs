//! The store is a cache: runs with their suggestions, and push journals, are also written as
//! append-only JSON lines in the workspace (`runs/<run>.jsonl`, `pushes/<push>.jsonl`), like
//! annotations, so they survive a lost store and travel through git. `sift rebuild` replays
//! them. Only a store opened for a workspace (`Workspace::open_store`) writes them; one opened
//! on a bare path (tests, benchmarks) or replaying (a rebuild) writes none.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError};
use crate::model::{Item, Run, Suggestion};

/// Folders of the workspace the journals go to.
pub const RUNS_DIR: &str = "runs";
pub const PUSHES_DIR: &str = "pushes";

/// One line of `runs/<run>.jsonl`: the run record as it now is, or a batch of suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Run {
        run: Box<Run>,
    },
    Suggestions {
        suggestions: Vec<Suggestion>,
    },
    /// Items that exist only through the run (texts sent to `sift serve --record`).
    Items {
        items: Vec<Item>,
    },
    /// A provider batch of the run, when it is created and when its status changes: another
    /// machine with the workspace can poll, collect or cancel it.
    Batch {
        batch: Box<super::RunBatch>,
    },
}

/// One line of `pushes/<push>.jsonl`, in the order the store saw them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PushEvent {
    Create {
        repo: String,
        mode: String,
        plan: String,
        at: String,
    },
    Ops {
        ops: Vec<(String, String, String)>,
    },
    OpState {
        seq: i64,
        state: String,
        response: Option<String>,
        at: String,
    },
    Finish {
        status: String,
        at: String,
    },
    Abandon {
        at: String,
    },
    PushedLabel {
        repo: String,
        number: i64,
        label: String,
        at: String,
    },
    LabelRemoved {
        repo: String,
        number: i64,
        label: String,
        at: String,
    },
    /// A human overrode sift on GitHub (seen by a pull): `removed` a label of this push, or
    /// `added` a label to an issue this push labeled.
    Override {
        repo: String,
        number: i64,
        label: String,
        kind: String,
        applied_at: String,
        at: String,
    },
}

/// A journal file name from an id: plain characters only (ids are made by sift, but a file
/// name must never walk out of its folder).
pub(super) fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    format!("{safe}.jsonl")
}

fn append(path: &Path, line: &str) -> Result<()> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    // One write of a whole line: concurrent appenders never interleave within it.
    f.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

impl Store {
    /// Write journals under `root` (a workspace), or none; a rebuild replays them with none.
    pub fn set_journal_root(&mut self, root: Option<PathBuf>) {
        self.journal = root;
    }

    /// Where journals go, if anywhere.
    pub fn journal_root(&self) -> Option<&Path> {
        self.journal.as_deref()
    }

    pub(super) fn journal_run(&self, run_id: &str, event: &RunEvent) -> Result<()> {
        let Some(root) = &self.journal else { return Ok(()) };
        let path = root.join(RUNS_DIR).join(file_name(run_id));
        // The prompt bundle never changes within a run: only its first record carries it (a
        // run is saved every few dozen items, and runs/ travels through git). Replay keeps
        // the bundle it has when a later record brings none.
        let line = match event {
            RunEvent::Run { run } if path.exists() && !run.bundle.is_empty() => {
                let mut lean = run.clone();
                lean.bundle.clear();
                serde_json::to_string(&RunEvent::Run { run: lean })
            }
            _ => serde_json::to_string(event),
        };
        append(&path, &line.unwrap_or_default())
    }

    pub(super) fn journal_push(&self, push_id: &str, event: &PushEvent) -> Result<()> {
        let Some(root) = &self.journal else { return Ok(()) };
        let line = serde_json::to_string(event).unwrap_or_default();
        append(&root.join(PUSHES_DIR).join(file_name(push_id)), &line)
    }
}

/// Read a journal file's events; a line that does not parse is reported as `file:line` and
/// skipped (a torn last line of a killed process among them).
pub fn read_events<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> std::io::Result<(Vec<T>, Vec<String>)> {
    let bytes = std::fs::read(path)?;
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        // A line that is not UTF-8 is one bad line, not a bad file.
        let Ok(line) = std::str::from_utf8(line) else {
            errors.push(format!("{}:{}: not UTF-8", path.display(), i + 1));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => events.push(e),
            Err(e) => errors.push(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    Ok((events, errors))
}

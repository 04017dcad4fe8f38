//! Where each dataset's items came from, appended to `sources/<dataset>.jsonl` by every import
//! and pull: the store is a cache, and `sift rebuild` reads these to fetch the items again.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Workspace;

pub const SOURCES_DIR: &str = "sources";

/// One import or pull of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A file: its path (relative to the workspace when inside it) and SHA-256, and the import
    /// options that shaped the items.
    File {
        path: String,
        sha256: String,
        format: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        taxonomy: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label_column: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        annotator: Option<String>,
        #[serde(default)]
        mixed_kinds: bool,
        at: String,
    },
    /// A GitHub repository.
    Github {
        repo: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_url: Option<String>,
        state: String,
        at: String,
    },
}

impl Source {
    /// How the source is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Source::File { path, sha256, .. } => {
                format!("file {path} (sha256 {})", crate::text::prefix(sha256, 12))
            }
            Source::Github { repo, .. } => format!("GitHub repository {repo}"),
        }
    }

    /// Whether `other` fetches the same thing (a later record of it replaces this one).
    fn same_origin(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::File { path: a, .. }, Source::File { path: b, .. }) => a == b,
            (Source::Github { repo: a, .. }, Source::Github { repo: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// A path as recorded: relative to the workspace when inside it, so a moved checkout works.
pub fn recorded_path(ws: &Workspace, path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let root = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
    abs.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(abs).to_string_lossy().into_owned()
}

/// The file a recorded path names now.
pub fn resolve(ws: &Workspace, recorded: &str) -> PathBuf {
    let p = Path::new(recorded);
    if p.is_absolute() { p.to_path_buf() } else { ws.root.join(p) }
}

/// Append a source record for `dataset`.
pub fn record(ws: &Workspace, dataset: &str, source: &Source) -> std::io::Result<()> {
    let dir = ws.root.join(SOURCES_DIR);
    std::fs::create_dir_all(&dir)?;
    let line = serde_json::to_string(source).map_err(std::io::Error::other)? + "\n";
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{dataset}.jsonl")))?;
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Every dataset's sources, the latest record of each origin, in the order first recorded;
/// lines that cannot be read are returned as `file:line: reason`.
pub fn read_all(ws: &Workspace) -> (Vec<(String, Source)>, Vec<String>) {
    let mut out: Vec<(String, Source)> = Vec::new();
    let mut errors = Vec::new();
    let Ok(dir) = std::fs::read_dir(ws.root.join(SOURCES_DIR)) else { return (out, errors) };
    let mut files: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    for file in files {
        let Some(dataset) = file.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if !super::log::valid_dataset(&dataset) {
            errors.push(format!("{}: not a usable dataset name", file.display()));
            continue;
        }
        match crate::store::journal::read_events::<Source>(&file) {
            Ok((sources, bad)) => {
                errors.extend(bad);
                for s in sources {
                    match out.iter_mut().find(|(d, o)| *d == dataset && o.same_origin(&s)) {
                        Some(slot) => slot.1 = s,
                        None => out.push((dataset.clone(), s)),
                    }
                }
            }
            Err(e) => errors.push(format!("{}: {e}", file.display())),
        }
    }
    (out, errors)
}

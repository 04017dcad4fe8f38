//! annotations/<dataset>/<annotator>.jsonl: durable appends and incremental replay into the store.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::model::Annotation;
use crate::store::{LogOffset, Store, StoreError};
use crate::workspace::{Workspace, valid_annotator};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("annotator ID {0:?} is not usable (letters, digits, '-', '_', '.'; at most 64)")]
    BadAnnotator(String),
    #[error("dataset name {0:?} is not usable as a folder name")]
    BadDataset(String),
}

/// What a replay saw.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayReport {
    pub files: usize,
    pub records: usize,
    /// Lines that could not be read, as `path:line: reason` (the rest of the file still counts).
    pub errors: Vec<String>,
    /// Files whose last line is incomplete (a crash mid-write); it is left for the next replay.
    pub torn: Vec<String>,
}

/// Dataset names become folder names.
pub fn valid_dataset(name: &str) -> bool {
    valid_annotator(name)
}

/// Append one record to its annotator's log and flush it to disk before returning.
pub fn append(ws: &Workspace, dataset: &str, a: &Annotation) -> Result<PathBuf, LogError> {
    append_many(ws, dataset, &a.annotator, std::slice::from_ref(a))
}

/// Append records of one annotator in one write and one flush.
pub fn append_many(
    ws: &Workspace,
    dataset: &str,
    annotator: &str,
    records: &[Annotation],
) -> Result<PathBuf, LogError> {
    if !valid_annotator(annotator) {
        return Err(LogError::BadAnnotator(annotator.to_string()));
    }
    if !valid_dataset(dataset) {
        return Err(LogError::BadDataset(dataset.to_string()));
    }
    let path = ws.annotation_log(dataset, annotator);
    let err = |source| LogError::Io { path: path.clone(), source };
    if let Some(a) = records.iter().find(|a| a.annotator != annotator) {
        return Err(err(std::io::Error::other(format!(
            "record by {:?} cannot go into {annotator:?}'s log",
            a.annotator
        ))));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut buf = String::new();
    for a in records {
        buf.push_str(&serde_json::to_string(a).map_err(|e| err(std::io::Error::other(e)))?);
        buf.push('\n');
    }
    let mut f = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(err)?;
    repair_torn_tail(&mut f).map_err(err)?;
    // One write of whole lines: O_APPEND keeps concurrent appenders from interleaving.
    f.write_all(buf.as_bytes()).map_err(err)?;
    f.sync_data().map_err(err)?;
    Ok(path)
}

/// If the file ends without a newline (a torn write), start the new record on a fresh line
/// so the torn fragment stays one bad line instead of corrupting the next record.
fn repair_torn_tail(f: &mut std::fs::File) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut r = f.try_clone()?;
    r.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    r.read_exact(&mut last)?;
    if last[0] != b'\n' {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// Replay every annotations/<dataset>/<annotator>.jsonl into the store from where the
/// last replay stopped.
pub fn replay(ws: &Workspace, store: &mut Store) -> Result<ReplayReport, LogError> {
    let mut report = ReplayReport::default();
    let dir = ws.annotations_dir();
    for (dataset, file) in log_files(&dir)? {
        report.files += 1;
        replay_file(ws, store, &dataset, &file, &mut report)?;
    }
    Ok(report)
}

fn log_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, LogError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(LogError::Io { path: dir.to_path_buf(), source }),
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if !p.is_dir() {
            continue;
        }
        let dataset = entry.file_name().to_string_lossy().into_owned();
        let files =
            std::fs::read_dir(&p).map_err(|source| LogError::Io { path: p.clone(), source })?;
        for f in files.flatten() {
            let fp = f.path();
            if fp.extension().is_some_and(|e| e == "jsonl") {
                out.push((dataset.clone(), fp));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The store keys logs by their path relative to the workspace, so a moved checkout replays
/// nothing twice.
fn log_key(ws: &Workspace, file: &Path) -> String {
    file.strip_prefix(&ws.root).unwrap_or(file).to_string_lossy().replace('\\', "/")
}

fn replay_file(
    ws: &Workspace,
    store: &mut Store,
    dataset: &str,
    file: &Path,
    report: &mut ReplayReport,
) -> Result<(), LogError> {
    let key = log_key(ws, file);
    // Retry when another process replayed the same file between our read and our write.
    for _ in 0..5 {
        let from = store.log_offset(&key)?.unwrap_or_default();
        let len = std::fs::metadata(file)
            .map_err(|source| LogError::Io { path: file.into(), source })?
            .len();
        if len < from.offset {
            // The file shrank: it was rewritten (e.g. by git). Replay it from the start.
            store.forget_log(&key)?;
            continue;
        }
        if len == from.offset {
            return Ok(());
        }
        let chunk = read_from(file, from, &key)?;
        if store.replay_annotations(&key, dataset, from, &chunk.records, chunk.to)? {
            report.records += chunk.records.len();
            report.errors.extend(chunk.errors);
            if let Some(t) = chunk.torn {
                report.torn.push(t);
            }
            return Ok(());
        }
    }
    Ok(())
}

struct Chunk {
    records: Vec<Annotation>,
    errors: Vec<String>,
    torn: Option<String>,
    to: LogOffset,
}

fn read_from(file: &Path, from: LogOffset, key: &str) -> Result<Chunk, LogError> {
    let err = |source| LogError::Io { path: file.to_path_buf(), source };
    let mut f = std::fs::File::open(file).map_err(err)?;
    f.seek(SeekFrom::Start(from.offset)).map_err(err)?;
    let mut reader = BufReader::new(f);
    let mut chunk = Chunk { records: Vec::new(), errors: Vec::new(), torn: None, to: from };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        let line_no = chunk.to.lines + 1;
        if buf.last() != Some(&b'\n') {
            chunk.torn = Some(format!(
                "{key}:{line_no}: incomplete last line (a write was cut off); it is kept and \
                 read again once completed"
            ));
            break;
        }
        chunk.to.offset += n as u64;
        chunk.to.lines = line_no;
        match parse_line(&buf) {
            Ok(Some(a)) => chunk.records.push(a),
            Ok(None) => {}
            Err(reason) => chunk.errors.push(format!("{key}:{line_no}: {reason}")),
        }
    }
    Ok(chunk)
}

/// Parse one log line; blank lines are allowed.
pub fn parse_line(buf: &[u8]) -> Result<Option<Annotation>, String> {
    let text = std::str::from_utf8(buf).map_err(|_| "not UTF-8".to_string())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let a: Annotation = serde_json::from_str(text).map_err(|e| format!("invalid record: {e}"))?;
    if a.item.trim().is_empty() {
        return Err("empty \"item\"".into());
    }
    if a.annotator.trim().is_empty() {
        return Err("empty \"annotator\"".into());
    }
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mode;
    use crate::workspace::Overrides;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        Workspace::init(dir.path(), "t").unwrap();
        let ws = Workspace::open(dir.path(), None, &Overrides::default()).unwrap();
        (dir, ws)
    }

    fn ann(item: &str, who: &str, label: &str) -> Annotation {
        Annotation {
            item: item.into(),
            annotator: who.into(),
            labels: vec![label.into()],
            at: "2026-11-22T10:00:00Z".into(),
            mode: Mode::Assisted,
            note: String::new(),
            duration_ms: Some(1000),
            suggestion: None,
            week: None,
            retracted: false,
        }
    }

    #[test]
    fn append_then_replay_incrementally() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        append(&ws, "d", &ann("d:1", "alice", "bug")).unwrap();
        append(&ws, "d", &ann("d:1", "bob", "question")).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!((r.files, r.records), (2, 2));
        append(&ws, "d", &ann("d:2", "alice", "bug")).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, 1, "only the new line is replayed");
        assert_eq!(store.latest_answers(Some("d")).unwrap().len(), 3);
    }

    #[test]
    fn torn_last_line_is_reported_and_kept() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let path = append(&ws, "d", &ann("d:1", "alice", "bug")).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"item": "d:2", "annot"#).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, 1);
        assert_eq!(r.torn.len(), 1);
        assert!(r.torn[0].contains("alice.jsonl:2"), "{:?}", r.torn);
        // The next append starts on a fresh line; the fragment becomes one reported bad line.
        append(&ws, "d", &ann("d:3", "alice", "bug")).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, 1);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("alice.jsonl:2"), "{:?}", r.errors);
        assert!(r.torn.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_with_line_numbers() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let dir = ws.annotations_dir().join("d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("carol.jsonl"),
            "{\"item\":\"a\",\"annotator\":\"carol\",\"labels\":[\"bug\"]}\nnot json\n\n{\"item\":\"b\",\"annotator\":\"carol\"}\n",
        )
        .unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, 1);
        assert_eq!(r.errors.len(), 2);
        assert!(r.errors[0].contains("carol.jsonl:2"));
        assert!(r.errors[1].contains("carol.jsonl:4") && r.errors[1].contains("labels"));
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let (_d, ws) = ws();
        let handles: Vec<_> = ["alice", "bob"]
            .into_iter()
            .map(|who| {
                let ws = ws.clone();
                std::thread::spawn(move || {
                    let mut store = Store::open(&ws.store_path()).unwrap();
                    for i in 0..50 {
                        append(&ws, "d", &ann(&format!("d:{i}"), who, "bug")).unwrap();
                        replay(&ws, &mut store).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut store = Store::open(&ws.store_path()).unwrap();
        replay(&ws, &mut store).unwrap();
        assert_eq!(store.annotation_records(Some("d")).unwrap().len(), 100);
    }

    #[test]
    fn rewritten_file_is_replayed_from_scratch() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let path = append(&ws, "d", &ann("d:1", "alice", "bug")).unwrap();
        append(&ws, "d", &ann("d:2", "alice", "bug")).unwrap();
        replay(&ws, &mut store).unwrap();
        std::fs::write(&path, "{\"item\":\"d:9\",\"annotator\":\"alice\",\"labels\":[]}\n")
            .unwrap();
        replay(&ws, &mut store).unwrap();
        let recs = store.annotation_records(Some("d")).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].annotation.item, "d:9");
    }
}

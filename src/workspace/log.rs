//! annotations/<dataset>/<annotator>.jsonl: durable appends and incremental replay into the store.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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
    /// The taxonomy records are checked against cannot be read: nothing is replayed (the
    /// records stay in their logs) until it can.
    #[error("checking annotation records: {0}")]
    Taxonomy(String),
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
    let before = f.metadata().map_err(err)?.len();
    // One write of whole lines: O_APPEND keeps concurrent appenders from interleaving.
    if let Err(e) = f.write_all(buf.as_bytes()).and_then(|_| f.sync_data()) {
        // A record only partly written (a full disk) is cut off again, so that "not saved"
        // is the whole truth and the log keeps no torn line. Only this annotator's own
        // processes append to this file, so nothing else's record is cut.
        let _ = f.set_len(before);
        return Err(err(e));
    }
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
    let mut rules = Rules { ws, labels: None };
    let dir = ws.annotations_dir();
    for (dataset, file) in log_files(&dir)? {
        if !valid_dataset(&dataset) {
            // Debug quoting escapes any control characters in the name.
            report.errors.push(format!(
                "annotations/{dataset:?}: not a usable dataset name; its logs are not read"
            ));
            continue;
        }
        report.files += 1;
        replay_file(ws, store, &dataset, &file, &mut rules, &mut report)?;
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

/// What a replayed record must satisfy, as `sift annotate` and `annotations import` do: it
/// is the annotator's whose log holds it, and its labels are in its dataset's taxonomy
/// (aliases become names). labels.yml is read only when some log has new lines.
struct Rules<'a> {
    ws: &'a Workspace,
    labels: Option<crate::taxonomy::LabelsFile>,
}

impl Rules<'_> {
    fn taxonomy(&mut self, dataset: &str) -> Result<&crate::taxonomy::Taxonomy, LogError> {
        if self.labels.is_none() {
            let path = self.ws.labels_path();
            let loaded = crate::taxonomy::LabelsFile::load(&path)
                .map_err(|e| LogError::Taxonomy(e.to_string()))?;
            self.labels = Some(loaded);
        }
        let name = self.ws.settings.taxonomy_for(dataset);
        match &self.labels {
            Some(l) => l.get(name).map_err(|e| LogError::Taxonomy(e.to_string())),
            None => Err(LogError::Taxonomy("labels.yml was not read".into())),
        }
    }

    fn check(
        &mut self,
        dataset: &str,
        owner: &str,
        mut a: Annotation,
    ) -> Result<Result<Annotation, String>, LogError> {
        if a.annotator != owner {
            return Ok(Err(format!(
                "a record by {:?} in {owner:?}'s log; each log holds its own annotator's records",
                a.annotator
            )));
        }
        match self.taxonomy(dataset)?.answer_labels(&a.labels) {
            Ok(labels) => a.labels = labels,
            Err(e) => return Ok(Err(e)),
        }
        Ok(Ok(a))
    }
}

fn replay_file(
    ws: &Workspace,
    store: &mut Store,
    dataset: &str,
    file: &Path,
    rules: &mut Rules,
    report: &mut ReplayReport,
) -> Result<(), LogError> {
    let owner = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let key = log_key(ws, file);
    // Retry when another process replayed the same file between our read and our write.
    for _ in 0..5 {
        let from = store.log_offset(&key)?.unwrap_or_default();
        let meta =
            std::fs::metadata(file).map_err(|source| LogError::Io { path: file.into(), source })?;
        let (len, mtime_ns) = (meta.len(), settled_mtime_ns(&meta));
        if len == from.offset && mtime_ns != 0 && mtime_ns == from.mtime_ns {
            return Ok(());
        }
        // Each chunk is checked and committed in its own transaction, from where the last
        // one ended: a log of a million new lines never holds the write lock for long.
        let mut at = from;
        let mut apply = |mut chunk: Chunk| -> Result<bool, LogError> {
            let mut records = Vec::with_capacity(chunk.records.len());
            for (line, a) in std::mem::take(&mut chunk.records) {
                match rules.check(dataset, &owner, a)? {
                    Ok(a) => records.push(a),
                    Err(why) => chunk.errors.push(format!("{key}:{line}: {why}; not counted")),
                }
            }
            if !store.replay_annotations(&key, dataset, at, &records, chunk.to)? {
                return Ok(false);
            }
            at = chunk.to;
            report.records += records.len();
            report.errors.extend(chunk.errors);
            report.torn.extend(chunk.torn);
            Ok(true)
        };
        // A shorter file, or one whose replayed part changed, was rewritten (an edit, a
        // rebase, a merge): replay it from the start.
        let read = if len >= from.offset {
            read_from(file, from, &key, mtime_ns, &mut apply)?
        } else {
            Outcome::Rewritten
        };
        match read {
            Outcome::Done => return Ok(()),
            Outcome::Rewritten => store.forget_log(&key)?,
            Outcome::Conflict => {}
        }
    }
    Ok(())
}

/// The file's modification time, or 0 while it is too recent to trust: file systems
/// stamp times in coarse ticks, so a rewrite within the same tick as the last replay would
/// look untouched (git's "racy" files). A 0 never matches, so such a file is re-checked.
fn settled_mtime_ns(meta: &std::fs::Metadata) -> i64 {
    let since_epoch = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).ok();
    let Some(modified) = meta.modified().ok().and_then(since_epoch) else { return 0 };
    let now = since_epoch(std::time::SystemTime::now()).unwrap_or_default();
    if now.saturating_sub(modified) < std::time::Duration::from_secs(2) {
        return 0;
    }
    modified.as_nanos() as i64
}

struct Chunk {
    /// Records with their line numbers.
    records: Vec<(u64, Annotation)>,
    errors: Vec<String>,
    torn: Option<String>,
    to: LogOffset,
}

/// New records applied in one transaction at most.
const REPLAY_CHUNK: usize = 5000;

/// How reading a log ended.
enum Outcome {
    Done,
    /// The part already replayed is no longer what was replayed.
    Rewritten,
    /// Another process replayed part of it meanwhile: read again from the stored offset.
    Conflict,
}

/// Read the complete lines after `from` and hand them to `apply` in chunks of at most
/// [`REPLAY_CHUNK`] records (the last one also when empty, to record the file's state). One
/// pass: the replayed part is hashed, then the new lines; each chunk's offset carries the
/// fingerprint of everything up to it. The reading, hashing and parsing run on a thread of
/// their own, a chunk ahead of `apply` (a million records: a tenth of their replay).
fn read_from(
    file: &Path,
    from: LogOffset,
    key: &str,
    mtime_ns: i64,
    apply: &mut dyn FnMut(Chunk) -> Result<bool, LogError>,
) -> Result<Outcome, LogError> {
    std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel::<Chunk>(1);
        let reader = scope.spawn(move || read_chunks(file, from, key, mtime_ns, &sender));
        for chunk in chunks.iter() {
            if !apply(chunk)? {
                // Dropping the receiver stops the reader at its next chunk.
                return Ok(Outcome::Conflict);
            }
        }
        // A panic while reading is a bug: it goes on as the same panic here.
        match reader.join().unwrap_or_else(|e| std::panic::resume_unwind(e))? {
            true => Ok(Outcome::Done),
            false => Ok(Outcome::Rewritten),
        }
    })
}

/// The reading side of [`read_from`]: false when the replayed part is no longer what was
/// replayed (nothing is sent then); true once the last chunk is sent or nobody takes more.
fn read_chunks(
    file: &Path,
    from: LogOffset,
    key: &str,
    mtime_ns: i64,
    chunks: &std::sync::mpsc::SyncSender<Chunk>,
) -> Result<bool, LogError> {
    let err = |source| LogError::Io { path: file.to_path_buf(), source };
    let f = std::fs::File::open(file).map_err(err)?;
    let mut reader = BufReader::new(f);
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut (&mut reader).take(from.offset), &mut hasher).map_err(err)?;
    // An older store has no fingerprint: its replayed part is taken as it is.
    let known = from.prefix_sha.is_none_or(|sha| hasher.clone().finalize()[..] == sha[..]);
    if copied != from.offset || !known {
        return Ok(false);
    }
    let fresh = |to: LogOffset| Chunk { records: Vec::new(), errors: Vec::new(), torn: None, to };
    let mut chunk = fresh(LogOffset { mtime_ns, ..from });
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
        hasher.update(&buf);
        chunk.to.offset += n as u64;
        chunk.to.lines = line_no;
        match parse_line(&buf) {
            Ok(Some(a)) => chunk.records.push((line_no, a)),
            Ok(None) => {}
            Err(reason) => chunk.errors.push(format!("{key}:{line_no}: {reason}")),
        }
        if chunk.records.len() >= REPLAY_CHUNK {
            chunk.to.prefix_sha = Some(hasher.clone().finalize().into());
            let next = fresh(chunk.to);
            if chunks.send(std::mem::replace(&mut chunk, next)).is_err() {
                return Ok(true);
            }
        }
    }
    chunk.to.prefix_sha = Some(hasher.finalize().into());
    // A receiver that is gone took no more: what it did is its own outcome.
    let _ = chunks.send(chunk);
    Ok(true)
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
    // Logs arrive through git from anyone: what is printed later must be plain text.
    if !valid_annotator(&a.annotator) {
        // Debug quoting escapes any control characters in the name.
        return Err(format!(
            "annotator {:?} is not a usable ID (letters, digits, '-', '_', '.')",
            a.annotator
        ));
    }
    if crate::text::has_control(&a.item) {
        return Err("control characters in \"item\"".into());
    }
    if a.labels.iter().any(|l| crate::text::has_control(l)) {
        return Err("control characters in a label".into());
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

    #[test]
    fn edits_that_keep_or_grow_the_length_are_replayed_from_scratch() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let path = append(&ws, "d", &ann("d:1", "alice", "ux")).unwrap();
        append(&ws, "d", &ann("d:2", "alice", "ux")).unwrap();
        replay(&ws, &mut store).unwrap();
        let labels = |store: &Store| -> Vec<Vec<String>> {
            let recs = store.annotation_records(Some("d")).unwrap();
            recs.into_iter().map(|r| r.annotation.labels).collect()
        };
        // Same length: "ux" becomes "ci" on the first line.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("[\"ux\"]", "[\"ci\"]", 1)).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(labels(&store), [["ci"], ["ux"]]);
        // Longer: the first line changes and grows; nothing is read from a stale offset.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("[\"ci\"]", "[\"bug\",\"perf\"]", 1)).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        // The alias is stored as the label's name.
        assert_eq!(labels(&store), [vec!["bug", "performance"], vec!["ux"]]);
        // Unchanged: nothing is recorded twice.
        replay(&ws, &mut store).unwrap();
        assert_eq!(labels(&store).len(), 2);
    }

    #[test]
    fn hostile_annotator_names_labels_and_folders_are_refused() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let dir = ws.annotations_dir().join("d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bob.jsonl"),
            concat!(
                "{\"item\":\"d:1\",\"annotator\":\"bob\\u001b]0;pwn\\u0007\",\"labels\":[\"x\"]}\n",
                "{\"item\":\"d:1\",\"annotator\":\"bob\",\"labels\":[\"x\\u001b[2J\"]}\n",
                "{\"item\":\"d:1\",\"annotator\":\"bob\",\"labels\":[\"bug\"]}\n",
            ),
        )
        .unwrap();
        let evil = ws.annotations_dir().join("e\u{1b}[2J");
        std::fs::create_dir_all(&evil).unwrap();
        std::fs::write(
            evil.join("bob.jsonl"),
            "{\"item\":\"d:1\",\"annotator\":\"bob\",\"labels\":[]}\n",
        )
        .unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, 1, "{:?}", r.errors);
        assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
        assert!(r.errors.iter().all(|e| !e.contains('\u{1b}')), "{:?}", r.errors);
        assert!(r.errors[2].contains("dataset name"), "{:?}", r.errors);
    }

    /// A log of many new lines is replayed in chunks, each from where the last ended, with
    /// nothing lost or counted twice and the fingerprint of the whole replayed part kept.
    #[test]
    fn a_long_log_replays_in_chunks_exactly_once() {
        let (_d, ws) = ws();
        let mut store = Store::open(&ws.store_path()).unwrap();
        let n = REPLAY_CHUNK * 2 + 7;
        let records: Vec<Annotation> =
            (0..n).map(|i| ann(&format!("d:{i}"), "alice", "bug")).collect();
        let path = append_many(&ws, "d", "alice", &records).unwrap();
        let r = replay(&ws, &mut store).unwrap();
        assert_eq!(r.records, n);
        assert_eq!(store.annotation_records(Some("d")).unwrap().len(), n);
        let at = store.log_offset(&log_key(&ws, &path)).unwrap().unwrap();
        assert_eq!((at.lines, at.offset), (n as u64, std::fs::metadata(&path).unwrap().len()));
        append(&ws, "d", &ann("d:new", "alice", "ux")).unwrap();
        assert_eq!(replay(&ws, &mut store).unwrap().records, 1, "only the new line");
        // An edit inside the replayed part is still noticed: replayed from scratch.
        let text = std::fs::read_to_string(&path).unwrap().replacen("d:0\"", "d:x\"", 1);
        std::fs::write(&path, text).unwrap();
        replay(&ws, &mut store).unwrap();
        let recs = store.annotation_records(Some("d")).unwrap();
        assert_eq!(recs.len(), n + 1);
        assert!(recs.iter().any(|r| r.annotation.item == "d:x"));
    }
}

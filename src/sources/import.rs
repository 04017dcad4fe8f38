//! `sift import`: stream a file into the store in batched transactions, record its labels as
//! annotations, and report every bad record with its location.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::files::{self, Format, ImportError, Parsed, ReadOptions};
use super::seen::{SeenError, SeenKeys};
use crate::app::Context;
use crate::model::{Annotation, Item, ItemKind, Mode, now_rfc3339};
use crate::store::{Derived, UpsertCounts};
use crate::taxonomy::Taxonomy;
use crate::text::keywords::LabelPhrases;
use crate::workspace::log::{self, valid_dataset};
use crate::workspace::valid_annotator;

/// Items written per transaction: big enough to amortise commits, small enough to bound memory.
const BATCH: usize = 2000;
/// Record errors listed in full; beyond this only counted.
const MAX_LISTED_ERRORS: usize = 200;
/// Annotator of file labels when no --annotator is given. A configured annotator ID is not
/// used: labels from a file are not that person's decisions.
pub const IMPORT_ANNOTATOR: &str = "import";

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dataset: String,
    pub format: Format,
    pub taxonomy: Option<String>,
    pub label_column: Option<String>,
    /// `--annotator` as given on this command line, for the file's labels.
    pub annotator: Option<String>,
    /// Allow records of another kind (issues, conversations) than the dataset already holds.
    pub mixed_kinds: bool,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportSummary {
    pub file: String,
    pub dataset: String,
    pub imported: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub label_records: usize,
    pub errors: Vec<String>,
    /// False when reading stopped partway (a cut-off file, an unreadable byte stream): the
    /// records before the break are imported, the rest of the file is not.
    pub complete: bool,
    /// SHA-256 of the file as read.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Read(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The writer stopped taking records (it says why).
    #[error("import stopped")]
    Closed,
    #[error(transparent)]
    Seen(#[from] SeenError),
    /// The file's labels could not be written to the annotator's log.
    #[error("{0:#}")]
    Labels(anyhow::Error),
    #[error(
        "{location}: dataset `{dataset}` holds {held}s and this record is {an} {kind}; import \
         the file under another --dataset name (or pass --mixed-kinds to keep both kinds in one \
         dataset, where records with the same key replace each other)"
    )]
    OtherKind {
        location: String,
        dataset: String,
        held: &'static str,
        an: &'static str,
        kind: &'static str,
    },
}

/// A record as the reader thread hands it over, with what was worked out of its item there
/// (the writer's thread is the import's busiest).
type Record = Result<(Parsed, Derived), files::RecordError>;

/// A batch of items once written, with what was derived from them.
type WrittenBatch = (Vec<Item>, Vec<Derived>);

/// Import one file into `opts.dataset`, and record it in `sources/<dataset>.jsonl`.
pub fn import_file(ctx: &mut Context, path: &Path, opts: &ImportOptions) -> Result<ImportSummary> {
    import_from(ctx, path, opts, true, true)
}

/// `sift import`: [`import_file`], then the similarity index brought in step, then the file's
/// labels replayed from the annotator's log. The replay comes last so that it finds the log
/// settled (written more than two seconds before, see `log::replay`) after a long refresh:
/// replayed while just written, the log would be hashed whole again by the next command to
/// make sure it was not rewritten since (a million labels: 108 MB, before `sift status`
/// could answer).
pub fn import_and_index(
    ctx: &mut Context,
    path: &Path,
    opts: &ImportOptions,
) -> Result<(ImportSummary, crate::store::IndexReport)> {
    let summary = import_from(ctx, path, opts, true, false)?;
    let indexed = crate::similar::refresh_index(ctx).context("updating the similarity index");
    // Replayed even when the refresh failed: the labels are saved in the log either way.
    if summary.label_records > 0 {
        log::replay(&ctx.ws, &mut ctx.store)?;
    }
    Ok((summary, indexed?))
}

/// A reader that hashes what passes through it: the file's SHA-256 comes from the one read.
struct Hashing<R> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        Ok(n)
    }
}

impl<R: std::io::Read> Hashing<R> {
    /// The SHA-256 of the whole input (what the parser left unread included).
    fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(crate::model::hex(&sha2::Digest::finalize(self.hash)))
    }
}

/// [`import_file`]; `record` false when the import replays a recorded source (a rebuild);
/// `replay` false when the caller replays the annotator's log itself (the file's labels are in
/// the log, not yet in the store's answers, when this returns).
pub fn import_from(
    ctx: &mut Context,
    path: &Path,
    opts: &ImportOptions,
    record: bool,
    replay: bool,
) -> Result<ImportSummary> {
    if !valid_dataset(&opts.dataset) {
        bail!("dataset name {:?} must use letters, digits, '-', '_' or '.'", opts.dataset);
    }
    let tax_name = match &opts.taxonomy {
        Some(t) => t.clone(),
        None => ctx.ws.settings.taxonomy_for(&opts.dataset).to_string(),
    };
    let taxonomy = ctx.labels.get(&tax_name)?.clone();
    // Recorded before the first item commits: a dataset is never in the store under a
    // taxonomy other than the one it was imported with, even if the import is killed.
    if opts.taxonomy.is_some() {
        remember_taxonomy(ctx, &opts.dataset, &tax_name)?;
    }
    let held = if opts.mixed_kinds { None } else { ctx.store.dataset_kind(&opts.dataset)? };
    ctx.store.bulk_cache(32)?;
    ctx.store.checkpoint_aside();
    ctx.store.yield_to_saves();
    // The similarity index's text pass goes with the writes (the refresh after the import
    // then reads no text back).
    ctx.store.index_as_written(&opts.dataset, LabelPhrases::new(&taxonomy))?;
    let annotator = opts.annotator.as_deref().unwrap_or(IMPORT_ANNOTATOR).to_string();
    if !valid_annotator(&annotator) {
        bail!("annotator ID {annotator:?} is not usable (letters, digits, '-', '_', '.')");
    }
    let mut summary = ImportSummary {
        file: path.display().to_string(),
        dataset: opts.dataset.clone(),
        ..Default::default()
    };
    let read = ReadOptions {
        dataset: opts.dataset.clone(),
        format: opts.format,
        label_column: opts.label_column.clone(),
    };
    let now = now_rfc3339();
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut derived: Vec<Derived> = Vec::with_capacity(BATCH);
    let mut labels = LabelLog::new(&taxonomy, &annotator, &opts.dataset);
    let mut counts = UpsertCounts::default();
    // Where each key was first seen: a second record with the same key would silently
    // replace the first (and take over its labels). Checked as records are read.
    let mut seen = SeenKeys::new()?;
    let mut errors = 0usize;
    let mut note_error = |summary: &mut ImportSummary, msg: String| {
        errors += 1;
        if summary.errors.len() < MAX_LISTED_ERRORS {
            summary.errors.push(msg);
        }
    };
    let name = path.display().to_string();
    // The file's hash before the import, so items are written with their source at once
    // (checked against the hash of what the import reads; a file that changed meanwhile
    // gets the source of what was read, in a second write).
    // Only a regular file can be read twice (a pipe's data would be used up by the hash):
    // a pipe's items are written with its path alone, and get its hash at the end.
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let before = match regular {
        true => {
            file_sha256(path).map_err(|source| ImportError::Io { path: name.clone(), source })?
        }
        false => String::new(),
    };
    let source = source_of(ctx, path, &before);
    let src = Some(source.as_str());
    let file = std::fs::File::open(path)
        .map_err(|source| ImportError::Io { path: name.clone(), source })?;
    let input = Hashing { inner: file, hash: <sha2::Sha256 as sha2::Digest>::new() };
    // Reading and parsing run on their own thread, a few batches ahead of the writes.
    let (sender, records) = std::sync::mpsc::sync_channel::<Record>(2 * BATCH);
    let (result, input) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            crate::background::lower_priority();
            let mut input = input;
            let read = files::read_reader::<_, Stop, _>(&mut input, &name, &read, |rec| {
                let rec = match rec {
                    Ok(p) => first_of_key(&mut seen, &name, p)?,
                    Err(e) => Err(e),
                };
                sender.send(rec).map_err(|_| Stop::Closed)
            });
            drop(sender);
            (read, input)
        });
        // Written batches are freed on a thread of their own (a few percent of the writer's
        // time otherwise).
        let (dispose, disposed) = std::sync::mpsc::sync_channel::<WrittenBatch>(2);
        scope.spawn(move || {
            crate::background::lower_priority();
            disposed.into_iter().for_each(drop)
        });
        let mut take = |rec: Record| -> Result<(), Stop> {
            match rec {
                Ok((Parsed { item, labels: l, location }, d)) => {
                    let kind = item.kind.unwrap_or(ItemKind::Issue);
                    if let Some(held) = held.filter(|h| *h != kind) {
                        return Err(Stop::OtherKind {
                            location,
                            dataset: opts.dataset.clone(),
                            held: held.as_str(),
                            an: if kind == ItemKind::Issue { "an" } else { "a" },
                            kind: kind.as_str(),
                        });
                    }
                    if !l.is_empty() {
                        labels.push(ctx, item.key.clone(), location, l).map_err(Stop::Labels)?;
                    }
                    batch.push(item);
                    derived.push(d);
                    if batch.len() >= BATCH {
                        let written =
                            ctx.store.upsert_items_from(&batch, Some(&derived), &now, src)?;
                        counts.add(written);
                        let fresh = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
                        let done = (
                            std::mem::replace(&mut batch, fresh.0),
                            std::mem::replace(&mut derived, fresh.1),
                        );
                        // A dropper that is gone leaves the batch to be freed here.
                        let _ = dispose.send(done);
                    }
                }
                Err(e) => {
                    summary.skipped += 1;
                    note_error(&mut summary, e.to_string());
                }
            }
            Ok(())
        };
        let mut written = Ok(());
        for rec in records.iter() {
            written = take(rec);
            if written.is_err() {
                break;
            }
        }
        // Dropping the receiver stops a reader that is still going.
        drop(records);
        let (read, input) = match reader.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        // The writer's stop explains a reader that was cut off.
        let result = match (written, read) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(Stop::Closed)) => Ok(()),
            (Ok(()), r) => r,
        };
        (result, input)
    });
    if !batch.is_empty() {
        counts.add(ctx.store.upsert_items_from(&batch, Some(&derived), &now, src)?);
    }
    let fatal = result.err();
    let sha256 = input.finish().with_context(|| format!("reading {name}"))?;
    summary.sha256 = sha256.clone();
    // A file of another kind than the dataset: refused whole, nothing written.
    if let Some(e @ Stop::OtherKind { .. }) = &fatal
        && counts.inserted + counts.updated + counts.unchanged == 0
    {
        bail!("{e}");
    }
    summary.imported = counts.inserted;
    summary.updated = counts.updated;
    summary.unchanged = counts.unchanged;
    labels.finish(ctx)?;
    let listed = labels.tally.errors.len();
    for e in std::mem::take(&mut labels.tally.errors) {
        note_error(&mut summary, e);
    }
    errors += labels.tally.refused - listed;
    if replay && labels.tally.written > 0 {
        log::replay(&ctx.ws, &mut ctx.store)?;
    }
    summary.label_records = labels.tally.written;
    if errors > summary.errors.len() {
        summary.errors.push(format!("... and {} more bad records", errors - summary.errors.len()));
    }
    summary.complete = fatal.is_none();
    if counts.inserted + counts.updated + counts.unchanged > 0 {
        remember_source(ctx, path, opts, &source, &sha256, record)?;
    }
    if let Some(f) = fatal {
        // Records before the break are saved; say so with the cause.
        summary.errors.push(format!("{f} (records before this point were imported)"));
    }
    tracing::info!(file = %summary.file, imported = summary.imported, updated = summary.updated,
        unchanged = summary.unchanged, skipped = summary.skipped, "import");
    Ok(summary)
}

/// SHA-256 of a whole file.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hash = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut HashWriter(&mut hash))?;
    Ok(crate::model::hex(&sha2::Digest::finalize(hash)))
}

/// Feeds what is written to a hash.
struct HashWriter<'h>(&'h mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The source recorded on items of `path` read with hash `sha256`.
fn source_of(ctx: &Context, path: &Path, sha256: &str) -> String {
    let recorded = crate::workspace::sources::recorded_path(&ctx.ws, path);
    format!("{recorded}#{sha256}")
}

/// Record the file on its items (written with `written`, the source as known before the
/// file was read) and (with `journal`) in `sources/<dataset>.jsonl`, for `sift rebuild`.
fn remember_source(
    ctx: &mut Context,
    path: &Path,
    opts: &ImportOptions,
    written: &str,
    sha256: &str,
    journal: bool,
) -> Result<()> {
    use crate::workspace::sources::{self, Source};
    let recorded = sources::recorded_path(&ctx.ws, path);
    let read = source_of(ctx, path, sha256);
    if read != written {
        ctx.store.replace_source(&opts.dataset, written, &read)?;
    }
    if !journal {
        return Ok(());
    }
    let source = Source::File {
        path: recorded,
        sha256: sha256.to_string(),
        format: opts.format.to_string(),
        taxonomy: opts.taxonomy.clone(),
        label_column: opts.label_column.clone(),
        annotator: opts.annotator.clone(),
        mixed_kinds: opts.mixed_kinds,
        at: now_rfc3339(),
    };
    let dir = ctx.ws.root.join(sources::SOURCES_DIR);
    sources::record(&ctx.ws, &opts.dataset, &source).with_context(|| format!("{}", dir.display()))
}

/// A record as the writer takes it: with what was derived from its item, or refused when
/// its key came earlier in the file.
fn first_of_key(seen: &mut SeenKeys, name: &str, p: Parsed) -> Result<Record, Stop> {
    // Locations are kept without the file name they all start with.
    let at = p.location.strip_prefix(name).unwrap_or(&p.location);
    if let Some(first) = seen.first(&p.item.key, at)? {
        let reason = format!(
            "duplicate key {:?} (first at {}); skipped",
            p.item.key,
            full_location(name, &first)
        );
        return Ok(Err(files::RecordError { location: p.location, reason }));
    }
    let derived = Derived::of(&p.item);
    Ok(Ok((p, derived)))
}

/// A location kept without its file name (every reader's locations start with it, then a
/// ':'), whole again.
fn full_location(name: &str, kept: &str) -> String {
    if kept.starts_with(':') { format!("{name}{kept}") } else { kept.to_string() }
}

/// Labels from the file, written to the annotator's log a chunk at a time as the import
/// goes: a million labeled records are never all held, nor their JSON lines.
struct LabelLog<'a> {
    taxonomy: &'a Taxonomy,
    annotator: &'a str,
    dataset: &'a str,
    /// Whether the annotator has answered in the dataset before (read at the first chunk):
    /// then each chunk's labels are compared with the current answers, and unchanged ones
    /// are not recorded again.
    answered: Option<bool>,
    /// (key, location, labels) waiting for the next chunk.
    pending: Vec<Labelled>,
    /// Where chunks go when there are no answers to compare with (a first import).
    background: Option<Background>,
    tally: Recorded,
}

/// A record's key, its location in the file, and its labels as the file gives them.
type Labelled = (String, String, Vec<String>);

/// Label records appended to the log in one write.
const LABEL_CHUNK: usize = 5000;

/// Chunks checked against the taxonomy, turned into log lines and appended (each with its
/// `fdatasync`) on a thread of their own: on the import's writer thread that was a twentieth
/// of a million-record import.
struct Background {
    /// None once finished.
    chunks: Option<std::sync::mpsc::SyncSender<Vec<Labelled>>>,
    thread: Option<std::thread::JoinHandle<Result<Recorded>>>,
}

/// What was recorded of a file's labels.
#[derive(Default)]
struct Recorded {
    written: usize,
    /// The first labels refused, in file order (reported after the records' own errors).
    errors: Vec<String>,
    /// Labels refused in all.
    refused: usize,
}

impl Recorded {
    /// Check one chunk and append what passes and differs from the `current` answers.
    fn chunk(
        &mut self,
        to: LogRef,
        current: &HashMap<String, Vec<String>>,
        labels: Vec<Labelled>,
    ) -> Result<()> {
        let (records, errors) = label_records(to.taxonomy, to.annotator, current, labels);
        self.refuse(errors.len(), errors);
        if !records.is_empty() {
            log::append_many(to.ws, to.dataset, to.annotator, &records)?;
        }
        self.written += records.len();
        Ok(())
    }

    /// Count `refused` labels and list the first of `errors` (refusals beyond what is listed
    /// are only counted).
    fn refuse(&mut self, refused: usize, errors: Vec<String>) {
        self.refused += refused;
        let room = MAX_LISTED_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
    }

    /// Add what another tally recorded after this one's.
    fn add(&mut self, other: Recorded) {
        self.written += other.written;
        self.refuse(other.refused, other.errors);
    }
}

/// Which log a chunk goes to, and the taxonomy it is checked against.
#[derive(Clone, Copy)]
struct LogRef<'a> {
    ws: &'a crate::workspace::Workspace,
    taxonomy: &'a Taxonomy,
    annotator: &'a str,
    dataset: &'a str,
}

/// Which log the background thread appends to, and the taxonomy it checks against.
struct LogTarget {
    ws: crate::workspace::Workspace,
    taxonomy: Taxonomy,
    annotator: String,
    dataset: String,
}

impl LogTarget {
    fn as_ref(&self) -> LogRef<'_> {
        LogRef {
            ws: &self.ws,
            taxonomy: &self.taxonomy,
            annotator: &self.annotator,
            dataset: &self.dataset,
        }
    }
}

impl Background {
    fn start(target: LogTarget) -> Result<Background> {
        // One chunk queued while one is written: the import never runs far ahead of its log.
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<Labelled>>(1);
        let thread = std::thread::Builder::new()
            .name("label-log".into())
            .spawn(move || {
                crate::background::lower_priority();
                let mut recorded = Recorded::default();
                for chunk in received {
                    recorded.chunk(target.as_ref(), &HashMap::new(), chunk)?;
                }
                Ok(recorded)
            })
            .context("starting the label log's thread")?;
        Ok(Background { chunks: Some(chunks), thread: Some(thread) })
    }

    /// False when the thread has stopped (it failed).
    fn send(&self, chunk: Vec<Labelled>) -> bool {
        self.chunks.as_ref().is_some_and(|c| c.send(chunk).is_ok())
    }

    /// What was recorded, once every chunk sent is written; the first failure otherwise.
    fn finish(&mut self) -> Result<Recorded> {
        self.chunks = None;
        match self.thread.take() {
            // A panic there is a bug: it goes on as the same panic here.
            Some(t) => t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            None => Ok(Recorded::default()),
        }
    }
}

/// An import that stops early still waits for the chunks it handed over: what it sent is in
/// the log when it returns, as when it wrote them itself.
impl Drop for Background {
    fn drop(&mut self) {
        self.chunks = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<'a> LabelLog<'a> {
    fn new(taxonomy: &'a Taxonomy, annotator: &'a str, dataset: &'a str) -> Self {
        LabelLog {
            taxonomy,
            annotator,
            dataset,
            answered: None,
            pending: Vec::new(),
            background: None,
            tally: Recorded::default(),
        }
    }

    fn push(
        &mut self,
        ctx: &Context,
        key: String,
        location: String,
        labels: Vec<String>,
    ) -> Result<()> {
        self.pending.push((key, location, labels));
        if self.pending.len() >= LABEL_CHUNK {
            self.flush(ctx)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &Context) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // Answers already given are looked up a chunk at a time, and only when the annotator
        // has any here (a first import has none).
        let answered = match self.answered {
            Some(a) => a,
            None => *self.answered.insert(
                ctx.store
                    .has_records(self.dataset, self.annotator)
                    .context("reading current answers")?,
            ),
        };
        let labels = std::mem::take(&mut self.pending);
        if !answered {
            return self.send(ctx, labels);
        }
        let keys: Vec<&str> = labels.iter().map(|(k, _, _)| k.as_str()).collect();
        let current = ctx
            .store
            .answers_to(self.dataset, self.annotator, &keys)
            .context("reading current answers")?;
        let to = LogRef {
            ws: &ctx.ws,
            taxonomy: self.taxonomy,
            annotator: self.annotator,
            dataset: self.dataset,
        };
        self.tally.chunk(to, &current, labels)
    }

    /// Hand a chunk to the background thread (started at the first).
    fn send(&mut self, ctx: &Context, labels: Vec<Labelled>) -> Result<()> {
        let background = match self.background.take() {
            Some(b) => b,
            None => Background::start(LogTarget {
                ws: ctx.ws.clone(),
                taxonomy: self.taxonomy.clone(),
                annotator: self.annotator.to_string(),
                dataset: self.dataset.to_string(),
            })?,
        };
        if background.send(labels) {
            self.background = Some(background);
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.background = Some(background);
        self.finish_background()?;
        bail!("the label log's thread stopped")
    }

    /// Flush what waits and wait for the background thread; counts and errors join this
    /// log's. Errors listed before come first: the thread starts only at the first chunk,
    /// when no refusal is listed yet.
    fn finish(&mut self, ctx: &Context) -> Result<()> {
        self.flush(ctx)?;
        self.finish_background()
    }

    fn finish_background(&mut self) -> Result<()> {
        let Some(mut background) = self.background.take() else { return Ok(()) };
        self.tally.add(background.finish()?);
        Ok(())
    }
}

/// Validate file labels against the taxonomy and build import records for the ones that
/// differ from the annotator's current answer (so re-importing adds nothing).
fn label_records(
    taxonomy: &Taxonomy,
    annotator: &str,
    current: &HashMap<String, Vec<String>>,
    labels: Vec<(String, String, Vec<String>)>,
) -> (Vec<Annotation>, Vec<String>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let at = now_rfc3339();
    for (key, location, raw) in labels {
        let (found, unknown) = taxonomy.canonicalize(raw.iter().map(String::as_str));
        if !unknown.is_empty() {
            errors.push(format!(
                "{location}: unknown label{} {} (not in taxonomy `{}`); the item was imported \
                 without its labels",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                taxonomy.name
            ));
            continue;
        }
        if let Err(why) = taxonomy.check_answer(&found) {
            errors.push(format!("{location}: {why}; the item was imported without its labels"));
            continue;
        }
        if current.get(&key) == Some(&found) {
            continue;
        }
        records.push(Annotation {
            item: key,
            annotator: annotator.to_string(),
            labels: found,
            at: at.clone(),
            mode: Mode::Import,
            note: String::new(),
            duration_ms: None,
            suggestion: None,
            week: None,
            retracted: false,
        });
    }
    (records, errors)
}

/// Record a dataset's taxonomy in sift.toml when the file does not name one yet, so the
/// choice is shared through git (the store is only a cache).
pub(crate) fn remember_taxonomy(ctx: &mut Context, dataset: &str, taxonomy: &str) -> Result<()> {
    if ctx.ws.settings.datasets.get(dataset).and_then(|d| d.taxonomy.as_deref()) == Some(taxonomy) {
        return Ok(());
    }
    if ctx.ws.settings.datasets.contains_key(dataset) {
        eprintln!(
            "note: sift.toml already configures dataset `{dataset}`; set its taxonomy there \
             to make `{taxonomy}` permanent"
        );
        return Ok(());
    }
    let path = ctx.ws.settings_path();
    let mut text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // Quoted: a name like `sft.v2` would otherwise be read as a nested table.
    let key = toml::Value::from(dataset).to_string();
    let value = toml::Value::from(taxonomy).to_string();
    text.push_str(&format!("\n[datasets.{key}]\ntaxonomy = {value}\n"));
    std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    ctx.ws.settings.datasets.entry(dataset.to_string()).or_default().taxonomy =
        Some(taxonomy.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Overrides, Workspace};

    fn labelled_import(dir: &Path) -> (Context, std::path::PathBuf, ImportOptions) {
        Workspace::init(dir, "t").unwrap();
        let file = dir.join("issues.jsonl");
        let lines: String = (0..30)
            .map(|i| {
                let label = ["bug", "question"][i % 2];
                format!(
                    "{{\"id\": \"{i}\", \"title\": \"crash {i}\", \"labels\": [\"{label}\"]}}\n"
                )
            })
            .collect();
        std::fs::write(&file, lines).unwrap();
        let ctx = Context::open(Some(dir), &Overrides::default()).unwrap();
        (ctx, file, ImportOptions { dataset: "d".into(), ..Default::default() })
    }

    #[test]
    fn import_and_index_replays_the_labels_after_the_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ctx, file, opts) = labelled_import(dir.path());
        let (summary, report) = import_and_index(&mut ctx, &file, &opts).unwrap();
        assert_eq!((summary.imported, summary.label_records), (30, 30));
        assert_eq!(report.docs, 30, "indexed in the same call");
        let answers = ctx.store.latest_answers(Some("d")).unwrap();
        assert_eq!(answers.len(), 30, "the labels are in the store when it returns");
        assert!(answers.iter().all(|a| a.annotation.annotator == IMPORT_ANNOTATOR));
    }

    #[test]
    fn an_import_told_not_to_replay_leaves_the_labels_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ctx, file, opts) = labelled_import(dir.path());
        let summary = import_from(&mut ctx, &file, &opts, true, false).unwrap();
        assert_eq!(summary.label_records, 30);
        assert!(ctx.store.latest_answers(Some("d")).unwrap().is_empty());
        let replayed = log::replay(&ctx.ws, &mut ctx.store).unwrap();
        assert_eq!(replayed.records, 30);
    }

    #[test]
    fn a_label_log_that_cannot_be_written_fails_the_import_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ctx, file, opts) = labelled_import(dir.path());
        // The dataset's log folder is a file: the appending thread cannot create the log.
        std::fs::create_dir_all(dir.path().join("annotations")).unwrap();
        std::fs::write(dir.path().join("annotations/d"), "in the way").unwrap();
        let why = match import_file(&mut ctx, &file, &opts) {
            Err(e) => format!("{e:#}"),
            Ok(s) => {
                assert!(!s.complete, "{s:?}");
                s.errors.join("\n")
            }
        };
        assert!(why.contains("annotations/d"), "{why}");
        // The items before the failure are kept.
        assert_eq!(ctx.store.item_count(Some("d")).unwrap(), 30);
    }
}

//! `sift rebuild`, and the same on opening a workspace whose store is missing or corrupt: the
//! store is a cache of the workspace's files. Items are fetched again from the sources their
//! imports and pulls recorded (`sources/`), annotations replayed from `annotations/`, runs with
//! their suggestions from `runs/`, push journals from `pushes/`; what cannot be reached is
//! named.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::app::Context;
use crate::sources::import::{ImportOptions, import_from};
use crate::store::LabelOverride;
use crate::store::journal::{self, PushEvent, RunEvent};
use crate::store::{Store, StoreError};
use crate::workspace::sources::{self, Source};
use crate::workspace::{Overrides, Workspace, log};

/// Options of `sift rebuild`.
#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Rebuild even when the store holds runs, pushes or items the workspace's files do not.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

/// What a rebuild restored, and what it could not.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RebuildReport {
    /// Where the previous store went (kept until you delete it).
    pub moved_aside: Option<PathBuf>,
    pub sources: usize,
    pub items: usize,
    pub annotation_records: usize,
    pub runs: usize,
    pub suggestions: usize,
    pub pushes: usize,
    /// Sources that could not be read again, with the reason.
    pub unreachable: Vec<String>,
    /// Files read again whose content changed since they were imported.
    pub changed: Vec<String>,
    /// Lines of the workspace's files that could not be read.
    pub errors: Vec<String>,
}

/// Whether the workspace holds anything a store is rebuilt from.
pub fn has_journals(ws: &Workspace) -> bool {
    [sources::SOURCES_DIR, journal::RUNS_DIR, journal::PUSHES_DIR]
        .iter()
        .any(|d| std::fs::read_dir(ws.root.join(d)).is_ok_and(|mut r| r.next().is_some()))
}

/// Open the workspace as `Context::open` does; a missing store is rebuilt from the workspace's
/// files, and a damaged one is first moved aside, each with a message on stderr. A rebuild
/// fills a new store beside the old and moves it into place only when complete, under a lock,
/// so no process ever opens a half-rebuilt store.
pub fn open(workspace: Option<&Path>, ov: &Overrides) -> Result<Context> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let root = Workspace::discover(&cwd, workspace)?;
    let store = root.join(crate::workspace::STATE_DIR).join("store.db");
    if store.exists() {
        match Context::open(Some(&root), ov) {
            Ok(ctx) => return Ok(ctx),
            Err(e) if is_corrupt(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let _lock = RebuildLock::take(&root)?;
    // Another process may have rebuilt it while this one waited for the lock.
    let mut moved = None;
    if store.exists() {
        match Context::open(Some(&root), ov) {
            Ok(ctx) => return Ok(ctx),
            Err(e) if is_corrupt(&e) => {
                let aside = move_aside(&store, "corrupt")?;
                eprintln!(
                    "warning: the store {} is damaged ({}); moved it to {} and rebuilding",
                    store.display(),
                    crate::text::one_line(&format!("{e:#}")),
                    aside.display()
                );
                moved = Some(aside);
            }
            Err(e) => return Err(e),
        }
    }
    let probe = Workspace::open(&root, crate::workspace::user_config_path().as_deref(), ov)?;
    if has_journals(&probe) {
        eprintln!(
            "note: no store yet; rebuilding it from the workspace's sources, runs and pushes"
        );
        let mut report = rebuild_into_place(&root, ov, &store)?;
        report.moved_aside = moved;
        print_summary(&report, true)?;
    }
    Context::open(Some(&root), ov)
}

/// `sift rebuild [--force]`: restore everything from the workspace's files into a new store,
/// then put it in place of the old one (kept beside it).
pub fn run(workspace: Option<&Path>, ov: &Overrides, args: &RebuildArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let root = Workspace::discover(&cwd, workspace)?;
    let store = root.join(crate::workspace::STATE_DIR).join("store.db");
    let _lock = RebuildLock::take(&root)?;
    if store.exists() && !args.force {
        refuse_losses(&root, ov)?;
    }
    let report = rebuild_into_place(&root, ov, &store)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, false)?;
    }
    Ok(if report.unreachable.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Fill a new store beside `store`, then move the old one aside (if any) and the new one in.
fn rebuild_into_place(root: &Path, ov: &Overrides, store: &Path) -> Result<RebuildReport> {
    let fresh = PathBuf::from(format!("{}.rebuilding", store.display()));
    remove_store_files(&fresh)?;
    let mut ctx = Context::open_with_store(Some(root), ov, Some(&fresh))?;
    let mut report = restore(&mut ctx)?;
    // Closing the connection checkpoints its WAL into the file.
    drop(ctx);
    if store.exists() {
        report.moved_aside = Some(move_aside(store, "before-rebuild")?);
    }
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", fresh.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", store.display()));
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(report)
}

fn remove_store_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

/// Refuse a rebuild that would drop what the workspace's files do not hold: runs and pushes
/// made before sift journaled them, items imported before it recorded sources.
fn refuse_losses(root: &Path, ov: &Overrides) -> Result<()> {
    let ctx = Context::open(Some(root), ov)?;
    let journaled =
        |dir: &str, id: &str| ctx.ws.root.join(dir).join(format!("{id}.jsonl")).is_file();
    let runs = ctx.store.runs()?.iter().filter(|r| !journaled(journal::RUNS_DIR, &r.id)).count();
    let pushes =
        ctx.store.push_ids()?.iter().filter(|p| !journaled(journal::PUSHES_DIR, p)).count();
    let items = ctx.store.items_without_source()?;
    if runs + pushes + items > 0 {
        anyhow::bail!(
            "the store holds {runs} run(s) and {pushes} push(es) made before sift wrote them to \
             runs/ and pushes/, and {items} item(s) imported before it recorded sources/: a \
             rebuild would lose them. `sift rebuild --force` rebuilds anyway (the old store is \
             kept beside the new one)"
        );
    }
    Ok(())
}

/// Held while a process rebuilds the store; others wait for it.
struct RebuildLock {
    _file: std::fs::File,
}

impl RebuildLock {
    fn take(root: &Path) -> Result<Self> {
        let dir = root.join(crate::workspace::STATE_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("rebuild.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock().with_context(|| format!("locking {}", path.display()))?;
        Ok(RebuildLock { _file: file })
    }
}

fn print_summary(r: &RebuildReport, to_stderr: bool) -> Result<()> {
    let mut lines = vec![format!(
        "rebuilt: {} items from {} sources, {} annotation records, {} runs ({} suggestions), {} pushes",
        r.items, r.sources, r.annotation_records, r.runs, r.suggestions, r.pushes
    )];
    if let Some(p) = &r.moved_aside {
        lines.push(format!("the previous store is kept at {}", p.display()));
    }
    lines.extend(r.changed.iter().map(|c| format!("changed since it was imported: {c}")));
    lines.extend(r.unreachable.iter().map(|u| format!("NOT restored: {u}")));
    lines.extend(r.errors.iter().map(|e| format!("skipped: {e}")));
    for l in lines {
        let l = crate::text::one_line(&l);
        if to_stderr {
            eprintln!("{l}");
        } else {
            outln!("{l}");
        }
    }
    Ok(())
}

/// A store SQLite cannot read as a database.
fn is_corrupt(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<StoreError>() {
        Some(StoreError::Sqlite { source: rusqlite::Error::SqliteFailure(f, _), .. }) => matches!(
            f.code,
            rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
        ),
        _ => false,
    })
}

/// Move the store and its WAL files to `store.db.<why>-<time>`; returns the new path.
fn move_aside(store: &Path, why: &str) -> Result<PathBuf> {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S").to_string();
    let aside = PathBuf::from(format!("{}.{why}-{stamp}", store.display()));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", store.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(aside)
}

/// Fill a fresh store from the workspace's files (nothing is written to them meanwhile).
pub fn restore(ctx: &mut Context) -> Result<RebuildReport> {
    let root = ctx.store.journal_root().map(Path::to_path_buf);
    ctx.store.set_journal_root(None);
    let result = restore_all(ctx);
    ctx.store.set_journal_root(root);
    result
}

fn restore_all(ctx: &mut Context) -> Result<RebuildReport> {
    let mut r = RebuildReport::default();
    // Annotations first: the imports below then find the labels of labeled files already
    // answered and append nothing to the logs again.
    let replayed = log::replay(&ctx.ws, &mut ctx.store)?;
    r.errors.extend(replayed.errors);
    let (found, bad) = sources::read_all(&ctx.ws);
    r.errors.extend(bad);
    let bar = crate::progress::bar(found.len() as u64, "sources");
    bar.set_message("rebuild");
    for (dataset, source) in found {
        bar.inc(1);
        r.sources += 1;
        match restore_source(ctx, &dataset, &source) {
            Ok((items, changed)) => {
                r.items += items;
                if changed {
                    r.changed.push(source.describe());
                }
            }
            Err(e) => r.unreachable.push(format!("{}: {e:#}", source.describe())),
        }
    }
    bar.finish_and_clear();
    restore_runs(ctx, &mut r)?;
    restore_pushes(ctx, &mut r)?;
    // Records of items that came back are counted again now that the items exist.
    log::replay(&ctx.ws, &mut ctx.store)?;
    r.annotation_records = ctx.store.annotation_counts()?.iter().map(|(_, n)| *n as usize).sum();
    crate::similar::refresh_index(ctx).context("rebuilding the similarity index")?;
    Ok(r)
}

/// Fetch one source again: (items read, whether a file changed since its import).
fn restore_source(ctx: &mut Context, dataset: &str, source: &Source) -> Result<(usize, bool)> {
    match source {
        Source::File {
            path,
            sha256,
            format,
            taxonomy,
            label_column,
            annotator,
            mixed_kinds,
            ..
        } => {
            // sources/ arrives through git from anyone: only files inside the workspace are
            // read back by themselves, never a path that leads out of it.
            let p = Path::new(path);
            let inside =
                !p.is_absolute() && !p.components().any(|c| c == std::path::Component::ParentDir);
            anyhow::ensure!(
                inside,
                "{} is outside the workspace; import it again with `sift import` if you trust it",
                crate::text::one_line(path)
            );
            let file = sources::resolve(&ctx.ws, path);
            anyhow::ensure!(file.is_file(), "{} is not there any more", file.display());
            let opts = ImportOptions {
                dataset: dataset.to_string(),
                format: format.parse().map_err(anyhow::Error::msg)?,
                taxonomy: taxonomy.clone(),
                label_column: label_column.clone(),
                annotator: annotator.clone(),
                mixed_kinds: *mixed_kinds,
            };
            let s = import_from(ctx, &file, &opts, false, true)?;
            Ok((s.imported + s.updated + s.unchanged, s.sha256 != *sha256))
        }
        Source::Github { repo, api_url, state, .. } => {
            let state = match state.as_str() {
                "closed" => crate::github::IssueState::Closed,
                "all" => crate::github::IssueState::All,
                _ => crate::github::IssueState::Open,
            };
            // The API URL a shared file names is not where the token goes: the pull uses the
            // user's own settings (their config, SIFT_GITHUB_API_URL), and a recorded host
            // they do not name is left to them.
            let configured = ctx.ws.settings.github.api_url.trim_end_matches('/').to_string();
            if let Some(url) = api_url.as_deref().filter(|u| u.trim_end_matches('/') != configured)
            {
                anyhow::bail!(
                    "it was pulled from {}, not the configured API ({configured}); pull it \
                     again with `sift pull {repo} --api-url URL` if you trust that host",
                    crate::text::one_line(url)
                );
            }
            let s = crate::github::pull_repo(ctx, repo, state, None, None, false)?;
            Ok((s.issues, false))
        }
    }
}

/// Journal files of one folder, sorted by name.
fn journal_files(ws: &Workspace, dir: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(ws.root.join(dir)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

fn restore_runs(ctx: &mut Context, r: &mut RebuildReport) -> Result<()> {
    for file in journal_files(&ctx.ws, journal::RUNS_DIR) {
        let (events, bad) = journal::read_events::<RunEvent>(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        r.errors.extend(bad);
        r.runs += 1;
        for e in events {
            // One bad line (a run whose header line was torn) costs that line, not the rebuild.
            let applied = match e {
                RunEvent::Run { run } => ctx.store.save_run(&run),
                RunEvent::Batch { batch } => ctx.store.save_batch(&batch),
                RunEvent::Items { items } => {
                    ctx.store.upsert_items(&items, &crate::model::now_rfc3339()).map(|_| ())
                }
                RunEvent::Suggestions { suggestions } => {
                    r.suggestions += suggestions.len();
                    ctx.store.save_suggestions(&suggestions)
                }
            };
            if let Err(err) = applied {
                r.errors.push(format!("{}: {err}", file.display()));
            }
        }
    }
    Ok(())
}

fn restore_pushes(ctx: &mut Context, r: &mut RebuildReport) -> Result<()> {
    for file in journal_files(&ctx.ws, journal::PUSHES_DIR) {
        let Some(id) = file.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
        let (events, bad) = journal::read_events::<PushEvent>(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        r.errors.extend(bad);
        r.pushes += 1;
        for e in events {
            if let Err(err) = apply_push_event(&mut ctx.store, &id, e) {
                r.errors.push(format!("{}: {err:#}", file.display()));
            }
        }
    }
    Ok(())
}

fn apply_push_event(store: &mut Store, id: &str, e: PushEvent) -> Result<()> {
    match e {
        PushEvent::Create { repo, mode, plan, at } => {
            store.create_push(id, &repo, &mode, &plan, &at)?
        }
        PushEvent::Ops { ops } => store.add_push_ops(id, &ops)?,
        PushEvent::OpState { seq, state, response, at } => {
            store.set_op_state(id, seq, &state, response.as_deref(), &at)?
        }
        PushEvent::Finish { status, at } => store.finish_push(id, &status, &at)?,
        PushEvent::Abandon { at } => store.abandon_push(id, &at)?,
        PushEvent::PushedLabel { repo, number, label, at } => {
            store.record_pushed_label(&repo, number, &label, id, &at)?
        }
        PushEvent::LabelRemoved { repo, number, label, at } => {
            store.mark_label_removed(&repo, number, &label, id, &at)?
        }
        PushEvent::Override { repo, number, label, kind, applied_at, at } => {
            let o = LabelOverride { repo, number, label, kind, applied_at, seen_at: at };
            store.record_override(id, &o)?;
        }
    }
    Ok(())
}

//! `sift demo`: the bundled demo workspace, copied somewhere fresh, imported and suggested
//! offline, then opened for review. Needs no network, token or key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::app::Context;
use crate::sources::files::Format;
use crate::sources::import::{ImportOptions, import_file};
use crate::suggest::local::LocalModel;
use crate::workspace::{Overrides, STATE_DIR};

/// The demo workspace's files: (path relative to the workspace, contents).
pub const FILES: &[(&str, &str)] = &[
    ("sift.toml", include_str!("../sift.toml")),
    ("labels.yml", include_str!("../labels.yml")),
    ("demo/issues.jsonl", include_str!("../demo/issues.jsonl")),
    ("demo/chats.jsonl", include_str!("../demo/chats.jsonl")),
    ("demo/history.jsonl", include_str!("../demo/history.jsonl")),
    ("demo/week.jsonl", include_str!("../demo/week.jsonl")),
    ("annotations/demo/alice.jsonl", include_str!("../annotations/demo/alice.jsonl")),
    ("annotations/demo/bob.jsonl", include_str!("../annotations/demo/bob.jsonl")),
    ("annotations/demo-chat/alice.jsonl", include_str!("../annotations/demo-chat/alice.jsonl")),
    ("annotations/lumen/alice.jsonl", include_str!("../annotations/lumen/alice.jsonl")),
];

/// Datasets of the demo imported from files: (name, items file, label column).
pub const DATASETS: &[(&str, &str, Option<&str>)] = &[
    ("demo", "demo/issues.jsonl", None),
    ("demo-chat", "demo/chats.jsonl", None),
    // Last year's issues as the maintainers labeled them: the local model's training data.
    ("demo-history", "demo/history.jsonl", Some("labels")),
];

/// The repository whose last week the demo replays: its issues as `sift pull` stores them,
/// each labeled by the bot (the local model) when it was opened.
pub const WEEK_REPO: &str = "lumen-editor/lumen";
/// The dataset of `WEEK_REPO`'s issues (named in sift.toml).
const WEEK_DATASET: &str = "lumen";
/// The Monday the dates of demo/week.jsonl start on; they are moved to the last complete week.
const WEEK_FILE_MONDAY: &str = "2026-11-23T00:00:00Z";
/// Minutes between an issue being opened and the bot's suggestion.
const BOT_DELAY_MINUTES: i64 = 3;

/// Write the demo workspace into `dir` (which must not hold a workspace yet).
pub fn write_workspace(dir: &Path) -> Result<()> {
    if dir.join("sift.toml").exists() {
        anyhow::bail!("{} already holds a workspace; pick another --path", dir.display());
    }
    for (rel, text) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::write(&p, text).with_context(|| p.display().to_string())?;
    }
    let state = dir.join(STATE_DIR);
    std::fs::create_dir_all(&state).with_context(|| state.display().to_string())?;
    std::fs::write(state.join(".gitignore"), "*\n").with_context(|| state.display().to_string())?;
    Ok(())
}

/// Build a ready-to-review demo workspace in `dir`: import the items and make offline
/// suggestions. Returns the opened context.
pub fn prepare(dir: &Path, ov: &Overrides) -> Result<Context> {
    write_workspace(dir)?;
    let mut ov = ov.clone();
    // The demo is for trying things: it has an annotator even on a first run.
    ov.annotator.get_or_insert_with(|| "you".to_string());
    let mut ctx = Context::open(Some(dir), &ov)?;
    for (dataset, file, label_column) in DATASETS {
        let opts = ImportOptions {
            dataset: dataset.to_string(),
            format: Format::Auto,
            taxonomy: None,
            label_column: label_column.map(str::to_string),
            annotator: label_column.map(|_| "maintainers".to_string()),
            mixed_kinds: false,
        };
        let s = import_file(&mut ctx, &dir.join(file), &opts)?;
        for e in &s.errors {
            eprintln!("demo import: {}", crate::text::one_line(e));
        }
    }
    for dataset in ["demo", "demo-chat"] {
        let tax = ctx.labels.get(ctx.ws.settings.taxonomy_for(dataset))?.clone();
        crate::suggest::keyword_run(&mut ctx.store, &tax, dataset, &format!("{dataset}-keywords"))?;
    }
    // The local model learns from the history only, so its confidence on the demo's own
    // issues (whose gold it never saw) is honest.
    let model = train_on_history(&ctx)?;
    let tax = ctx.labels.get(ctx.ws.settings.taxonomy_for("demo"))?.clone();
    crate::suggest::local_run(&mut ctx.store, &tax, "demo", "demo-local", &model, None)?;
    bot_week(&mut ctx, &model)?;
    crate::similar::refresh_index(&mut ctx)?;
    Ok(ctx)
}

/// `sift train --dataset demo-history`, and the model it saved.
fn train_on_history(ctx: &Context) -> Result<LocalModel> {
    let report =
        crate::suggest::train::train(&ctx.ws, &ctx.labels, &ctx.store, Some("demo-history"), None)
            .context("training the demo's local model")?;
    let path = crate::suggest::train::model_path(&ctx.ws, &report.taxonomy);
    LocalModel::load(&path).with_context(|| path.display().to_string())
}

/// One issue of demo/week.jsonl.
#[derive(serde::Deserialize)]
struct WeekIssue {
    number: i64,
    title: String,
    body: String,
    author: String,
    state: String,
    created_at: jiff::Timestamp,
}

/// Last week in `WEEK_REPO`, replayed: its issues stored as `sift pull` stores them, opened on
/// the same weekdays of the last complete week, and the bot's run over them, each suggestion
/// made a few minutes after its issue was opened. The labels the bot was confident about are
/// on the issues (it applies them); maintainers' reviews of some of them are in
/// annotations/lumen/, so the push view has a plan and the weekly sample a population.
fn bot_week(ctx: &mut Context, model: &LocalModel) -> Result<()> {
    let now = jiff::Timestamp::now();
    let (monday, _) = crate::metrics::sampling::last_complete_week(now)?.bounds()?;
    let shift = monday.duration_since(WEEK_FILE_MONDAY.parse()?);
    let slug = crate::github::RepoSlug::parse(WEEK_REPO)?;
    let tax = ctx.labels.get(ctx.ws.settings.taxonomy_for(WEEK_DATASET))?.clone();
    let file = FILES.iter().find(|(p, _)| *p == "demo/week.jsonl").map(|(_, t)| *t).unwrap_or("");
    let mut items = Vec::new();
    for (n, line) in file.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let w: WeekIssue =
            serde_json::from_str(line).with_context(|| format!("demo/week.jsonl:{}", n + 1))?;
        let opened = w.created_at.checked_add(shift)?.to_string();
        let mut item = crate::model::Item {
            key: crate::github::pull::issue_key(&slug, w.number),
            dataset: WEEK_DATASET.into(),
            kind: Some(crate::model::ItemKind::Issue),
            title: w.title,
            body: w.body,
            repo: Some(slug.full()),
            number: Some(w.number),
            state: Some(w.state),
            author: Some(w.author),
            url: Some(format!("https://github.com/{}/issues/{}", slug.full(), w.number)),
            created_at: Some(opened.clone()),
            updated_at: Some(opened),
            ..Default::default()
        };
        let said = crate::suggest::offline::model_labels(model, &item.full_text());
        let applied = crate::suggest::validate::finalize(&tax, &said);
        if !applied.abstained {
            item.source_labels = applied.labels.into_iter().map(|l| l.name).collect();
        }
        items.push(item);
    }
    ctx.store.upsert_items(&items, &crate::model::now_rfc3339())?;
    let at = |item: &crate::model::Item| -> String {
        let opened = item.created_at.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let delay = jiff::SignedDuration::from_mins(BOT_DELAY_MINUTES);
        opened.and_then(|t| t.checked_add(delay).ok()).map(|t| t.to_string()).unwrap_or_default()
    };
    crate::suggest::local_run(
        &mut ctx.store,
        &tax,
        WEEK_DATASET,
        "labeling-bot",
        model,
        Some(&at),
    )?;
    Ok(())
}

/// Options of `sift demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to put the demo workspace (default: a new temporary folder).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Print a summary instead of opening the review screen.
    #[arg(long)]
    pub no_tui: bool,
}

/// `sift demo [--path DIR]`.
pub fn run(args: DemoArgs, ov: &Overrides) -> Result<ExitCode> {
    let DemoArgs { path, no_tui } = args;
    let dir = match path {
        Some(p) => {
            std::fs::create_dir_all(&p).with_context(|| p.display().to_string())?;
            p
        }
        // Kept after exit so the user can look at what the session wrote.
        None => tempfile::Builder::new().prefix("sift-demo-").tempdir()?.keep(),
    };
    let ctx = prepare(&dir, ov)?;
    eprintln!("demo workspace: {}", dir.display());
    if no_tui {
        print_summary(&ctx)?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = crate::tui::run(ctx, crate::tui::Options { demo: true, ..Default::default() })?;
    // The workspace is kept: say how to come back to it.
    eprintln!("to open the demo again: sift --workspace {}", dir.display());
    Ok(code)
}

fn print_summary(ctx: &Context) -> Result<()> {
    for d in ctx.store.dataset_counts()? {
        outln!("{:<12} {:>4} {}", d.dataset, d.items, d.kind);
    }
    let (runs, suggestions) = ctx.store.run_counts()?;
    outln!("{runs} runs, {suggestions} suggestions");
    for (who, n) in ctx.store.annotation_counts()? {
        outln!("{who:<12} {n:>4} annotation records");
    }
    Ok(())
}

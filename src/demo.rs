//! `sift demo`: the bundled demo workspace, copied somewhere fresh, imported and suggested
//! offline, then opened for review. Needs no network, token or key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::app::Context;
use crate::sources::files::Format;
use crate::sources::import::{ImportOptions, import_file};
use crate::workspace::{Overrides, STATE_DIR};

/// The demo workspace's files: (path relative to the workspace, contents).
pub const FILES: &[(&str, &str)] = &[
    ("sift.toml", include_str!("../sift.toml")),
    ("labels.yml", include_str!("../labels.yml")),
    ("demo/issues.jsonl", include_str!("../demo/issues.jsonl")),
    ("demo/chats.jsonl", include_str!("../demo/chats.jsonl")),
    ("annotations/demo/alice.jsonl", include_str!("../annotations/demo/alice.jsonl")),
    ("annotations/demo/bob.jsonl", include_str!("../annotations/demo/bob.jsonl")),
    ("annotations/demo-chat/alice.jsonl", include_str!("../annotations/demo-chat/alice.jsonl")),
];

/// Datasets of the demo: (name, items file).
pub const DATASETS: &[(&str, &str)] =
    &[("demo", "demo/issues.jsonl"), ("demo-chat", "demo/chats.jsonl")];

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
    for (dataset, file) in DATASETS {
        let opts = ImportOptions {
            dataset: dataset.to_string(),
            format: Format::Auto,
            taxonomy: None,
            label_column: None,
            annotator: None,
            mixed_kinds: false,
        };
        let s = import_file(&mut ctx, &dir.join(file), &opts)?;
        for e in &s.errors {
            eprintln!("demo import: {}", crate::text::one_line(e));
        }
        let tax = ctx.labels.get(ctx.ws.settings.taxonomy_for(dataset))?.clone();
        crate::suggest::keyword_run(&mut ctx.store, &tax, dataset, &format!("{dataset}-keywords"))?;
    }
    crate::similar::refresh_index(&mut ctx)?;
    Ok(ctx)
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
    let code = crate::tui::run(ctx, crate::tui::Options::default())?;
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

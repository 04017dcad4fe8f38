//! The command line: clap definitions and one thin function per command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use crate::dataset::log;
use crate::sources::files::Format;
use crate::sources::import::{self, ImportOptions};
use crate::store::Store;
use crate::taxonomy::LabelsFile;
use crate::workspace::{Overrides, Workspace, user_config_path};

#[derive(Debug, Parser)]
#[command(
    name = "sift",
    version,
    about = "Label GitHub issues and SFT chat samples at keyboard speed"
)]
pub struct Cli {
    /// Use the workspace in DIR instead of searching upwards from the current folder.
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Annotator ID recorded with every decision (overrides settings).
    #[arg(long, global = true, value_name = "ID")]
    pub annotator: Option<String>,
    /// Colour theme (default, light, high-contrast, gruvbox, or a user theme).
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: sift.toml, labels.yml, annotations/, .sift/.
    Init {
        /// Folder to create the workspace in (default: the current folder).
        dir: Option<PathBuf>,
        /// A name for the workspace.
        #[arg(long)]
        name: Option<String>,
    },
    /// Copy the bundled demo workspace somewhere fresh, import it, suggest offline, open it.
    Demo {
        /// Where to put the demo workspace (default: a new temporary folder).
        #[arg(long)]
        path: Option<PathBuf>,
        /// Print a summary instead of opening the review screen.
        #[arg(long)]
        no_tui: bool,
    },
    /// Open the review screen (the same as `sift` alone, with options).
    Review {
        /// Only items of this dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// Start in blind mode: suggestions hidden until each item is saved.
        #[arg(long)]
        blind: bool,
    },
    /// Report items, annotations, runs and the store.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Import items from a file (ShareGPT, OpenAI messages, Alpaca, issue CSV/JSONL).
    Import {
        file: PathBuf,
        #[arg(long)]
        dataset: String,
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Taxonomy for this dataset (recorded in sift.toml when new).
        #[arg(long)]
        taxonomy: Option<String>,
        /// Column or field holding labels (recorded as annotations of --annotator, mode import).
        #[arg(long, value_name = "COL")]
        label_column: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Ask a provider for label suggestions (a resumable, versioned run).
    Suggest(crate::suggest::cmd::SuggestArgs),
    /// Train the local model on the workspace's gold labels.
    Train(crate::suggest::cmd::TrainArgs),
    /// Suggestion runs: list, show, compare, export, import, mark.
    Runs {
        #[command(subcommand)]
        cmd: crate::suggest::cmd::RunsCommand,
    },
    /// Store, inspect or clear secrets (GitHub token, provider API keys).
    Auth {
        #[command(subcommand)]
        command: crate::github::AuthCommand,
    },
    /// Pull a GitHub repository's issues and comments into the store.
    Pull(crate::github::PullArgs),
    /// Push accepted labels to GitHub (plan first; comment or apply mode; --revert to undo).
    Push(crate::github::PushArgs),
    /// Repository labels: sync them from labels.yml.
    Labels {
        #[command(subcommand)]
        command: crate::github::LabelsCommand,
    },
    /// Items most like ITEM: shared keywords and labels ("has this been seen before?").
    Similar {
        /// Item key, e.g. github:OWNER/REPO#12 or DATASET:ID.
        item: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Record one decision for an item (for scripts); appends to annotations/<dataset>/<you>.jsonl.
    Annotate {
        item: String,
        /// Labels (names or aliases), comma-separated; empty for "no label applies".
        #[arg(long, value_name = "A,B", allow_hyphen_values = true)]
        labels: String,
        #[arg(long)]
        note: Option<String>,
        /// assisted, blind, sample, adjudication or import.
        #[arg(long, default_value = "assisted")]
        mode: String,
        /// ISO week (YYYY-Www) of the accuracy sample this answers (with --mode sample).
        #[arg(long)]
        week: Option<String>,
        /// Dataset of an item not in the store yet.
        #[arg(long)]
        dataset: Option<String>,
        /// Time spent on the decision.
        #[arg(long)]
        duration_ms: Option<u64>,
    },
    /// Import or export annotation records.
    Annotations {
        #[command(subcommand)]
        action: AnnotationsCommand,
    },
    /// Agreement between annotators per dimension and per label.
    Stats {
        #[arg(long)]
        dataset: Option<String>,
        /// Only these annotators (comma-separated; default: everyone).
        #[arg(long, value_name = "A,B")]
        annotators: Option<String>,
        #[arg(long)]
        json: bool,
        /// Skip the bootstrap interval of alpha (faster).
        #[arg(long)]
        no_ci: bool,
    },
    /// Accuracy of a run's suggestions against gold.
    Eval {
        #[arg(long)]
        run: String,
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export gold items as train/val/test files, a dataset card and a review CSV.
    Export {
        /// The split dataset into a folder (`dataset`), or a run's suggestions into a JSONL
        /// file (`suggestions`, with --run).
        #[arg(long, value_enum, default_value = "dataset")]
        what: ExportWhat,
        /// The run to export with `--what suggestions`.
        #[arg(long, required_if_eq("what", "suggestions"))]
        run: Option<String>,
        /// A folder for `--what dataset`, a file for `--what suggestions`.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: crate::dataset::export::ExportFormat,
        #[arg(long, default_value = "80/10/10")]
        split: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Draw the weekly accuracy sample (or report on it with `sample report`).
    Sample {
        #[command(subcommand)]
        action: Option<SampleCommand>,
        /// ISO week YYYY-Www (default: the last complete week).
        #[arg(long)]
        week: Option<String>,
        /// Sample size (default: sample.size in sift.toml).
        #[arg(long)]
        size: Option<usize>,
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
        /// Open the sample in the review screen: blind, records carry mode sample and the week.
        #[arg(long)]
        review: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AnnotationsCommand {
    /// Import records in the log format (item, annotator, labels required); all or nothing.
    Import {
        file: PathBuf,
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        taxonomy: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write every record as JSONL (stdout, or --out FILE).
    Export {
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// Accuracy, per-label precision and drift of the weekly samples.
    Report {
        /// The last week reported (default: the last complete week).
        #[arg(long)]
        week: Option<String>,
        /// How many weeks up to --week.
        #[arg(long, default_value_t = 1)]
        weeks: usize,
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// What `sift export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportWhat {
    Dataset,
    Suggestions,
}

/// Everything a command needs from an opened workspace.
pub struct Context {
    pub ws: Workspace,
    pub store: Store,
    pub labels: LabelsFile,
}

impl Context {
    /// Open the workspace, its taxonomy and store, and replay new annotation records.
    pub fn open(cli_ws: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        let root = Workspace::discover(&cwd, cli_ws)?;
        let ws = Workspace::open(&root, user_config_path().as_deref(), overrides)?;
        let labels = LabelsFile::load(&ws.labels_path())?;
        let mut store = Store::open(&ws.store_path())?;
        let report = log::replay(&ws, &mut store)?;
        for e in report.errors.iter().chain(&report.torn) {
            eprintln!("warning: {}", crate::text::one_line(e));
        }
        Ok(Context { ws, store, labels })
    }

    /// The annotator for records: --annotator, then settings.
    pub fn annotator(&self) -> Option<&str> {
        self.ws.settings.annotator.as_deref()
    }
}

fn overrides(cli: &Cli) -> Overrides {
    Overrides { annotator: cli.annotator.clone(), theme: cli.theme.clone() }
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ov = overrides(&cli);
    let ws_arg = cli.workspace.clone();
    match cli.command {
        None => {
            let ctx = Context::open(ws_arg.as_deref(), &ov)?;
            crate::demo::open_review(ctx)
        }
        Some(Command::Init { dir, name }) => cmd_init(dir, name),
        Some(Command::Demo { path, no_tui }) => crate::demo::run(path, no_tui, &ov),
        Some(Command::Review { dataset, blind }) => {
            let ctx = Context::open(ws_arg.as_deref(), &ov)?;
            crate::tui::run(ctx, crate::tui::Options { dataset, blind, ..Default::default() })
        }
        Some(Command::Status { json }) => cmd_status(&Context::open(ws_arg.as_deref(), &ov)?, json),
        Some(Command::Import { file, dataset, format, taxonomy, label_column, json }) => {
            let mut ctx = Context::open(ws_arg.as_deref(), &ov)?;
            let annotator = ov.annotator.clone();
            let opts = ImportOptions { dataset, format, taxonomy, label_column, annotator };
            cmd_import(&mut ctx, &file, &opts, json)
        }
        Some(Command::Suggest(args)) => {
            crate::suggest::cmd::suggest(&mut Context::open(ws_arg.as_deref(), &ov)?, &args)
        }
        Some(Command::Train(args)) => {
            crate::suggest::cmd::train(&Context::open(ws_arg.as_deref(), &ov)?, &args)
        }
        Some(Command::Runs { cmd }) => {
            crate::suggest::cmd::runs(&mut Context::open(ws_arg.as_deref(), &ov)?, &cmd)
        }
        Some(Command::Auth { command }) => crate::github::cmd_auth(command),
        Some(Command::Pull(args)) => {
            crate::github::cmd_pull(&mut Context::open(ws_arg.as_deref(), &ov)?, args)
        }
        Some(Command::Push(args)) => {
            crate::github::cmd_push(&mut Context::open(ws_arg.as_deref(), &ov)?, args)
        }
        Some(Command::Labels { command }) => {
            crate::github::cmd_labels(&mut Context::open(ws_arg.as_deref(), &ov)?, command)
        }
        Some(Command::Similar { item, limit, json }) => {
            let mut ctx = Context::open(ws_arg.as_deref(), &ov)?;
            crate::similar::cmd_similar(&mut ctx, &item, limit, json)
        }
        Some(cmd) => crate::dataset::commands::run(cmd, ws_arg.as_deref(), &ov),
    }
}

fn cmd_init(dir: Option<PathBuf>, name: Option<String>) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let name = name.unwrap_or_else(|| {
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sift".into())
    });
    Workspace::init(&dir, &name)?;
    outln!("Created a sift workspace in {}", dir.display());
    outln!("Next: sift import FILE --dataset NAME   (or: sift pull OWNER/REPO)");
    Ok(ExitCode::SUCCESS)
}

fn cmd_import(
    ctx: &mut Context,
    file: &Path,
    opts: &ImportOptions,
    json: bool,
) -> Result<ExitCode> {
    let summary = import::import_file(ctx, file, opts)?;
    crate::similar::refresh_index(ctx).context("updating the similarity index")?;
    for e in &summary.errors {
        eprintln!("{}", crate::text::one_line(e));
    }
    if json {
        outln!("{}", serde_json::to_string(&summary)?);
    } else {
        outln!(
            "{}: {} imported, {} updated, {} unchanged, {} skipped; {} label records",
            file.display(),
            summary.imported,
            summary.updated,
            summary.unchanged,
            summary.skipped,
            summary.label_records
        );
    }
    // A file read only partway is a failure even though its first records were imported.
    let anything = summary.imported + summary.updated + summary.unchanged > 0;
    Ok(if anything && summary.complete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[derive(serde::Serialize)]
struct StatusDataset {
    items: i64,
    kind: String,
    taxonomy: String,
}

#[derive(serde::Serialize)]
struct StatusJson {
    items: i64,
    datasets: std::collections::BTreeMap<String, StatusDataset>,
    annotations: i64,
    annotators: std::collections::BTreeMap<String, i64>,
    runs: i64,
    suggestions: i64,
    store: String,
    store_bytes: u64,
}

fn status(ctx: &Context) -> Result<StatusJson> {
    let mut datasets = std::collections::BTreeMap::new();
    for d in ctx.store.dataset_counts()? {
        let e = datasets.entry(d.dataset.clone()).or_insert(StatusDataset {
            items: 0,
            kind: d.kind.clone(),
            taxonomy: ctx.ws.settings.taxonomy_for(&d.dataset).to_string(),
        });
        e.items += d.items;
        if e.kind != d.kind {
            e.kind = "mixed".into();
        }
    }
    let annotators: std::collections::BTreeMap<String, i64> =
        ctx.store.annotation_counts()?.into_iter().collect();
    let (runs, suggestions) = ctx.store.run_counts()?;
    Ok(StatusJson {
        items: ctx.store.item_count(None)?,
        datasets,
        annotations: annotators.values().sum(),
        annotators,
        runs,
        suggestions,
        store: ctx.store.path().display().to_string(),
        store_bytes: ctx.store.size_bytes(),
    })
}

fn cmd_status(ctx: &Context, json: bool) -> Result<ExitCode> {
    let s = status(ctx)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "workspace  {}", ctx.ws.root.display())?;
    writeln!(out, "items      {}", s.items)?;
    for (name, d) in &s.datasets {
        let name = crate::text::one_line(name);
        writeln!(out, "  {name:<20} {:>8} {:<12} taxonomy {}", d.items, d.kind, d.taxonomy)?;
    }
    writeln!(out, "annotations {}", s.annotations)?;
    for (who, n) in &s.annotators {
        let who = crate::text::one_line(who);
        writeln!(out, "  {who:<20} {n:>8}")?;
    }
    writeln!(out, "runs       {}  ({} suggestions)", s.runs, s.suggestions)?;
    writeln!(out, "store      {} ({:.1} MB)", s.store, s.store_bytes as f64 / 1e6)?;
    Ok(ExitCode::SUCCESS)
}

/// Refuse to go on without an annotator ID, with the ways to give one.
pub fn require_annotator(ctx: &Context) -> Result<String> {
    match ctx.annotator() {
        Some(a) if crate::workspace::valid_annotator(a) => Ok(a.to_string()),
        Some(a) => bail!("annotator ID {a:?} is not usable (letters, digits, '-', '_', '.')"),
        None => bail!(
            "no annotator ID: pass --annotator ID, set SIFT_ANNOTATOR, or put annotator = \"ID\" in {}",
            user_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "config.toml".into())
        ),
    }
}

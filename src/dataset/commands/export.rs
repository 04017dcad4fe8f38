//! `sift export`: gold items as train/val/test files, or a run's suggestions as JSONL.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{print_json, scope};
use crate::app::Context;
use crate::dataset::export::{self, ExportFormat, ExportInput, SplitRatios};
use crate::dataset::stats;

/// Options of `sift export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The split dataset into a folder (`dataset`), or a run's suggestions into a JSONL
    /// file (`suggestions`, with --run).
    #[arg(long, value_enum, default_value = "dataset")]
    pub what: ExportWhat,
    /// The run to export with `--what suggestions`.
    #[arg(long, required_if_eq("what", "suggestions"))]
    pub run: Option<String>,
    /// A folder for `--what dataset`, a file for `--what suggestions`.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    #[arg(long, default_value = "80/10/10")]
    pub split: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only items whose gold labels and signals match every term, e.g.
    /// 'difficulty:hard language:rust lang:rust tools:yes turns:>4 bug'.
    #[arg(long = "where", value_name = "TERMS")]
    pub select: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// What `sift export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportWhat {
    Dataset,
    Suggestions,
}

/// `sift export`.
pub fn run(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    match args.what {
        ExportWhat::Suggestions => suggestions(ctx, args),
        ExportWhat::Dataset => dataset(ctx, args),
    }
}

/// `sift export --what suggestions --run RUN --out FILE`.
fn suggestions(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    let (Some(run), out) = (&args.run, &args.out) else {
        bail!("--what suggestions needs --run RUN")
    };
    let n = crate::suggest::runs::export_suggestions(&ctx.store, run, out)?;
    if args.json {
        print_json(&serde_json::json!({ "run": run, "out": out, "suggestions": n }))?;
    } else {
        outln!("{n} suggestions of run {run} written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sift export --out DIR`.
fn dataset(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    let ratios = SplitRatios::parse(&args.split)?;
    let (datasets, taxonomy) = scope(ctx, args.dataset.as_deref())?;
    // One pass over the records gives gold and agreement, without holding every answer.
    let (report, gold) = stats::report_with_gold(&ctx.store, &datasets, &taxonomy)?;
    if gold.is_empty() {
        bail!("no item has gold labels yet (answers that agree, or an adjudication)");
    }
    let select = match &args.select {
        Some(text) => Some(
            crate::dataset::formats::Where::parse(text, &taxonomy).map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    // The notes explaining gold, from the records streamed oldest first.
    let mut notes = export::Notes::new(&gold);
    let only = crate::dataset::only_dataset(&datasets);
    ctx.store.for_each_record_ref(only, |r| {
        if datasets.iter().any(|d| d == r.dataset) {
            notes.take_parts(r.item, r.annotator, r.labels, r.mode, r.note);
        }
    })?;
    let notes = notes.finish();
    let suggestions = ctx.store.latest_suggestions()?;
    let agreement = report.agreement;
    let bar = crate::progress::bar(0, "items");
    bar.set_message("export");
    let input = ExportInput {
        gold: &gold,
        notes: &notes,
        suggestions: &suggestions,
        agreement: &agreement,
        datasets: &datasets,
        taxonomy: &taxonomy.name,
        select: select.as_ref(),
        progress: Some(&bar),
    };
    let summary = export::export(&ctx.store, &input, &args.out, args.format, ratios, args.seed)?;
    bar.finish_and_clear();
    if args.json {
        print_json(&summary)?;
    } else {
        writeln!(
            crate::stdout(),
            "{} items -> {} (train {}, val {}, test {})",
            summary.items,
            args.out.display(),
            summary.splits.get("train").unwrap_or(&0),
            summary.splits.get("val").unwrap_or(&0),
            summary.splits.get("test").unwrap_or(&0)
        )?;
        if !summary.left_out.is_empty() {
            writeln!(
                crate::stdout(),
                "{} conversations left out: their turns do not alternate as LLaMA-Factory needs ({})",
                summary.left_out.len(),
                summary
                    .left_out
                    .iter()
                    .take(5)
                    .map(|k| crate::text::one_line(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if summary.duplicates > 0 {
            writeln!(
                crate::stdout(),
                "{} items repeat another item's text; each is in its original's split",
                summary.duplicates
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

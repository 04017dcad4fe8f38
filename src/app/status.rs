//! `sift status`: items, annotations, runs and the store of the workspace.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::Context;

/// Options of `sift status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
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
    datasets: BTreeMap<String, StatusDataset>,
    annotations: i64,
    /// Records for items not in the store yet (counted once the items are imported).
    pending_annotations: i64,
    annotators: BTreeMap<String, i64>,
    runs: i64,
    suggestions: i64,
    store: String,
    store_bytes: u64,
}

fn status(ctx: &Context) -> Result<StatusJson> {
    let mut datasets = BTreeMap::new();
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
    let annotators: BTreeMap<String, i64> = ctx.store.annotation_counts()?.into_iter().collect();
    let (runs, suggestions) = ctx.store.run_counts()?;
    Ok(StatusJson {
        items: ctx.store.item_count(None)?,
        datasets,
        annotations: annotators.values().sum(),
        pending_annotations: ctx.store.pending_annotations()?,
        annotators,
        runs,
        suggestions,
        store: ctx.store.path().display().to_string(),
        store_bytes: ctx.store.size_bytes(),
    })
}

/// `sift status [--json]`.
pub fn run(ctx: &Context, args: &StatusArgs) -> Result<ExitCode> {
    let s = status(ctx)?;
    if args.json {
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
    if s.pending_annotations > 0 {
        writeln!(
            out,
            "  pending {:>13}  records for items not in the store yet (import or pull them)",
            s.pending_annotations
        )?;
    }
    for (who, n) in &s.annotators {
        let who = crate::text::one_line(who);
        writeln!(out, "  {who:<20} {n:>8}")?;
    }
    writeln!(out, "runs       {}  ({} suggestions)", s.runs, s.suggestions)?;
    writeln!(out, "store      {} ({:.1} MB)", s.store, s.store_bytes as f64 / 1e6)?;
    Ok(ExitCode::SUCCESS)
}

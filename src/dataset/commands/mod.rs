//! Command-line handlers of the gold-label commands: annotate, annotations, stats, eval,
//! export and sample. Each file owns its command's arguments and handler; this one holds what
//! they share (the datasets in scope, their answers and gold).

pub mod annotate;
pub mod eval;
pub mod export;
pub mod sample;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{Result, bail};

use crate::app::Context;
use crate::metrics::gold::{self, Gold};
use crate::taxonomy::Taxonomy;

/// Print one JSON document on stdout; a closed pipe is an error, not a panic.
fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = crate::stdout();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Split a comma-separated list, dropping blanks.
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The datasets a command covers and their (shared) taxonomy.
pub fn scope(ctx: &Context, dataset: Option<&str>) -> Result<(Vec<String>, Taxonomy)> {
    let datasets = match dataset {
        Some(d) => {
            ctx.require_dataset(d)?;
            vec![d.to_string()]
        }
        None => ctx.store.annotated_datasets()?,
    };
    let mut datasets = datasets;
    let names: BTreeSet<String> =
        datasets.iter().map(|d| ctx.ws.settings.taxonomy_for(d).to_string()).collect();
    let default = &ctx.ws.settings.taxonomy;
    let name = match names.len() {
        0 => default.clone(),
        1 => names.into_iter().next().unwrap_or_default(),
        // Datasets of different taxonomies cannot share one table: take those of the
        // workspace's default taxonomy, and say which were left out.
        _ if names.contains(default) => {
            let (kept, left): (Vec<String>, Vec<String>) =
                datasets.into_iter().partition(|d| ctx.ws.settings.taxonomy_for(d) == default);
            eprintln!(
                "note: showing {} (taxonomy `{default}`); use --dataset for {}",
                kept.join(", "),
                left.join(", ")
            );
            datasets = kept;
            default.clone()
        }
        _ => bail!(
            "datasets {} use different taxonomies ({}); pick one with --dataset",
            datasets.join(", "),
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Ok((datasets, ctx.labels.get(&name)?.clone()))
}

/// Current answers of the datasets in scope.
pub fn answers_in(ctx: &Context, datasets: &[String]) -> Result<Vec<crate::store::LabelAnswer>> {
    let mut out = Vec::new();
    if datasets.len() == 1 {
        return Ok(ctx.store.current_answers(Some(&datasets[0]))?);
    }
    for r in ctx.store.current_answers(None)? {
        if datasets.contains(&r.dataset) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Gold of the datasets in scope.
pub fn gold_in(ctx: &Context, datasets: &[String]) -> Result<BTreeMap<String, Gold>> {
    Ok(gold::gold_map(&gold::group(&answers_in(ctx, datasets)?)))
}

fn f3(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

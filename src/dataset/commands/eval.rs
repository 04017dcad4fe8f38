//! `sift eval --run RUN`: a run's suggestions against gold.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{f3, gold_in, print_json, scope};
use crate::app::Context;
use crate::dataset::stats;
use crate::text::one_line;

/// Options of `sift eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `sift eval --run RUN`.
pub fn run(ctx: &Context, args: &EvalArgs) -> Result<ExitCode> {
    let (run, dataset, json) = (args.run.as_str(), args.dataset.as_deref(), args.json);
    let Some(r) = ctx.store.run(run)? else {
        bail!("no run named {:?} (see `sift runs list`)", one_line(run))
    };
    let (datasets, taxonomy) = scope(ctx, dataset)?;
    let gold = gold_in(ctx, &datasets)?;
    let suggestions = ctx.store.run_suggestions(&r.id)?;
    let report = stats::evaluate_run(&gold, &suggestions, &taxonomy);
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("run".into(), r.id.clone().into());
        }
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(
        out,
        "run {} ({} / {}): {} gold items scored",
        r.id, r.provider, r.model, report.items
    )?;
    writeln!(
        out,
        "micro P/R/F1 {} {} {}   macro P/R/F1 {} {} {}   exact match {}   ECE {}",
        f3(report.micro.precision),
        f3(report.micro.recall),
        f3(report.micro.f1),
        f3(report.macro_avg.precision),
        f3(report.macro_avg.recall),
        f3(report.macro_avg.f1),
        f3(report.exact_match),
        f3(report.ece)
    )?;
    writeln!(
        out,
        "  {:<20} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "label", "precision", "recall", "f1", "support", "best thr"
    )?;
    for (l, s) in &report.labels {
        writeln!(
            out,
            "  {:<20} {:>9} {:>9} {:>9} {:>8} {:>10}",
            one_line(l),
            f3(s.precision),
            f3(s.recall),
            f3(s.f1),
            s.support,
            f3(s.best_threshold)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

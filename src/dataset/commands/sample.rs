//! `sift sample` (draw the weekly accuracy sample) and `sift sample report`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::{f3, print_json};
use crate::app::Context;
use crate::dataset::sample::{self, SampleSource, Scope};
use crate::metrics::sampling::{IsoWeek, last_complete_week};
use crate::text::one_line;

/// Options of `sift sample`.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    #[command(subcommand)]
    pub action: Option<SampleCommand>,
    /// ISO week YYYY-Www (default: the last complete week).
    #[arg(long)]
    pub week: Option<String>,
    /// Sample size (default: sample.size in sift.toml).
    #[arg(long, value_parser = crate::suggest::cmd::at_least_one)]
    pub size: Option<usize>,
    #[arg(long, value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Open the sample in the review screen: blind, records carry mode sample and the week.
    #[arg(long)]
    pub review: bool,
}

/// `sift sample report`.
#[derive(Debug, clap::Subcommand)]
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

/// `sift sample` and `sift sample report` (`--review` opens the review screen: see
/// `tui::review_sample`, which draws through [`draw_for_review`]).
pub fn run(ctx: &Context, args: SampleArgs) -> Result<ExitCode> {
    match args.action {
        Some(SampleCommand::Report { week, weeks, repo, dataset, json }) => {
            if let Some(d) = &dataset {
                ctx.require_dataset(d)?;
            }
            cmd_sample_report(ctx, week.as_deref(), weeks, Scope { dataset, repo }, json)
        }
        None => {
            if let Some(d) = &args.dataset {
                ctx.require_dataset(d)?;
            }
            let scope = Scope { dataset: args.dataset, repo: args.repo };
            cmd_sample(ctx, args.week.as_deref(), args.size, scope, args.json)
        }
    }
}

fn week_or_last(week: Option<&str>) -> Result<IsoWeek> {
    match week {
        Some(w) => IsoWeek::parse(w).map_err(anyhow::Error::msg),
        None => last_complete_week(jiff::Timestamp::now()).map_err(anyhow::Error::msg),
    }
}

/// The week and items of `sift sample --review`: the week's sample, for a blind review queue.
pub fn draw_for_review(ctx: &Context, args: &SampleArgs) -> Result<(IsoWeek, Vec<String>)> {
    if let Some(d) = &args.dataset {
        ctx.require_dataset(d)?;
    }
    let week = week_or_last(args.week.as_deref())?;
    let size = args.size.unwrap_or(ctx.ws.settings.sample.size);
    let scope = Scope { dataset: args.dataset.clone(), repo: args.repo.clone() };
    let source = SampleSource::new(&ctx.store, scope)?;
    let activity = source.activities(&[week])?.pop().unwrap_or_default();
    let s = sample::draw(&activity, week, size, &ctx.ws.id());
    anyhow::ensure!(
        !s.items.is_empty(),
        "no item got a suggestion or a pushed label in {week}: nothing to sample"
    );
    Ok((week, s.items))
}

/// `sift sample`.
fn cmd_sample(
    ctx: &Context,
    week: Option<&str>,
    size: Option<usize>,
    scope: Scope,
    json: bool,
) -> Result<ExitCode> {
    let week = week_or_last(week)?;
    let size = size.unwrap_or(ctx.ws.settings.sample.size);
    let source = SampleSource::new(&ctx.store, scope)?;
    let activity = source.activities(&[week])?.pop().unwrap_or_default();
    let s = sample::draw(&activity, week, size, &ctx.ws.id());
    if s.population < size {
        eprintln!(
            "note: only {} item(s) got a suggestion or a pushed label in {week}, fewer than the \
             sample size {size}; the sample is the whole population",
            s.population
        );
    }
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "sample {week}: {} of {} items", s.items.len(), s.population)?;
    for k in &s.items {
        let labels = activity.labels_of(k).map(|l| l.join(", ")).unwrap_or_default();
        writeln!(out, "  {:<40} {}", one_line(k), one_line(&labels))?;
    }
    writeln!(out, "review: sift annotate ITEM --labels ... --mode sample --week {week}")?;
    Ok(ExitCode::SUCCESS)
}

/// `sift sample report`.
fn cmd_sample_report(
    ctx: &Context,
    week: Option<&str>,
    weeks: usize,
    scope: Scope,
    json: bool,
) -> Result<ExitCode> {
    let last = week_or_last(week)?;
    let mut span = last.weeks_before(weeks.max(1) - 1).map_err(anyhow::Error::msg)?;
    span.push(last);
    let source = SampleSource::new(&ctx.store, scope)?;
    let records = ctx.store.annotation_records(None)?;
    let reports = sample::report(
        &source,
        &span,
        ctx.ws.settings.sample.size,
        &ctx.ws.id(),
        &records,
        ctx.ws.settings.sample.target_accuracy,
    )?;
    if json {
        print_json(&serde_json::json!({ "weeks": reports }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "week      reviewed  accuracy  95% CI            PSI     chi2 p  flags")?;
    for r in &reports {
        let ci = r.ci95.map_or_else(|| "-".to_string(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
        writeln!(
            out,
            "{:<9} {:>4}/{:<4} {:>8}  {:<16} {:>7} {:>7}  {}",
            r.week,
            r.reviewed,
            r.size,
            f3(r.accuracy),
            ci,
            f3(r.psi),
            f3(r.chi2_p),
            r.flags.join(", ")
        )?;
    }
    let overridden: Vec<_> = reports.iter().filter(|r| !r.overrides.is_empty()).collect();
    if !overridden.is_empty() {
        writeln!(
            out,
            "\noverrides on GitHub (seen by `sift pull`), by the week sift applied the label:"
        )?;
        writeln!(out, "week      label                 applied  removed  rate    added by humans")?;
        for r in overridden {
            for (label, o) in &r.overrides {
                writeln!(
                    out,
                    "{:<9} {:<20} {:>8} {:>8}  {:>6}  {:>6}",
                    r.week,
                    crate::text::truncate_width(&one_line(label), 20),
                    o.applied,
                    o.removed,
                    f3(o.rate),
                    o.added
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

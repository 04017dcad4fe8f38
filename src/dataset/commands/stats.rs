//! `sift stats`: agreement between annotators per dimension and per label.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::{comma_list, f3, print_json, scope};
use crate::app::Context;
use crate::dataset::stats::{self, AgreementStats, AnnotatorStats};
use crate::metrics::agreement::{AgreementReport, band};
use crate::text::one_line;

/// Options of `sift stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only these annotators (comma-separated; default: everyone).
    #[arg(long, value_name = "A,B")]
    pub annotators: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Skip the bootstrap interval of alpha (faster).
    #[arg(long)]
    pub no_ci: bool,
}

/// `sift stats`.
pub fn run(ctx: &Context, args: &StatsArgs) -> Result<ExitCode> {
    let StatsArgs { dataset, annotators, json, no_ci } = args;
    let (json, no_ci) = (*json, *no_ci);
    let (datasets, taxonomy) = scope(ctx, dataset.as_deref())?;
    let selected = annotators.as_deref().map(comma_list);
    // Bootstrap intervals take seconds on large stores: say how far along they are.
    let bar = (!no_ci).then(|| crate::progress::bar(0, "tables"));
    if let Some(b) = &bar {
        b.set_message("agreement with intervals");
    }
    let report = stats::stats_report(
        &ctx.store,
        &datasets,
        &taxonomy,
        selected.as_deref(),
        !no_ci,
        bar.as_ref(),
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        print_json(&report.agreement)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    write!(out, "{}", stats_text(&report.agreement, &report.annotators))?;
    writeln!(
        out,
        "gold: {} items; disagreements awaiting adjudication: {}",
        report.gold, report.disagreements
    )?;
    Ok(ExitCode::SUCCESS)
}

fn agreement_row(name: &str, r: &AgreementReport) -> String {
    let ci = r.alpha_ci95.map_or_else(String::new, |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"));
    let strength = r.krippendorff_alpha.map_or("-", |a| band(a).name());
    let percent = r.percent_agreement.map_or_else(|| "-".into(), |p| format!("{:.1}%", p * 100.0));
    format!(
        "  {:<20} {:>6} {:>6} {:>7} {:>8} {:>6} {:>8} {:<16} {}\n",
        one_line(name),
        r.items,
        r.pairable_items,
        percent,
        f3(r.fleiss_kappa),
        r.fleiss_items,
        f3(r.krippendorff_alpha),
        ci,
        strength
    )
}

/// The text form of `sift stats`: agreement tables with Landis & Koch bands, Cohen's kappa per
/// pair, and the annotator table.
pub fn stats_text(s: &AgreementStats, annotators: &[AnnotatorStats]) -> String {
    let mut t = format!("{} items, annotators: {}\n", s.items, one_line(&s.annotators.join(", ")));
    let header = format!(
        "  {:<20} {:>6} {:>6} {:>7} {:>8} {:>6} {:>8} {:<16} {}\n",
        "", "items", "paired", "agree%", "fleiss", "all", "alpha", "alpha 95% CI", "band (alpha)"
    );
    t.push_str(
        "(items: answered by anyone; paired: by two or more, what agree% and alpha use; all: by \
         every annotator, what Fleiss' kappa uses. An unanswered dimension is missing, not a \
         disagreement.)\n",
    );
    for (title, map) in [("dimensions", &s.dimensions), ("labels", &s.labels)] {
        t.push_str(&format!("\n{title}\n{header}"));
        for (name, r) in map {
            t.push_str(&agreement_row(name, r));
        }
    }
    t.push_str("\nCohen's kappa per pair (dimensions)\n");
    for (dim, r) in &s.dimensions {
        for (pair, k) in &r.cohen_kappa {
            let b = k.map_or("-", |k| band(k).name());
            let pair = one_line(pair);
            t.push_str(&format!("  {:<20} {:<24} {:>8} {}\n", one_line(dim), pair, f3(*k), b));
        }
    }
    t.push_str(
        "\nannotators              records  items/h  median s  accepted (blind)  accepted (assisted)\n",
    );
    for a in annotators {
        let acc = |x: &stats::Acceptance| match x.rate {
            Some(r) => format!("{:.0}% of {}", r * 100.0, x.with_suggestion),
            None => "-".to_string(),
        };
        t.push_str(&format!(
            "  {:<20} {:>8} {:>8} {:>9} {:>17} {:>20}\n",
            one_line(&a.annotator),
            a.records,
            a.items_per_hour.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            a.median_seconds.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            acc(&a.blind),
            acc(&a.assisted)
        ));
    }
    t
}

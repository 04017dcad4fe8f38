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
    /// Also score items the run's local model was trained on (left out by default: a model
    /// scored on its own training data looks far better than it is).
    #[arg(long)]
    pub include_trained: bool,
    /// Write into labels.yml, per label, the lowest threshold whose suggestions reach
    /// --min-precision on gold (else the F1-best one), and show the change.
    #[arg(long)]
    pub write_thresholds: bool,
    /// The precision --write-thresholds aims for.
    #[arg(long, default_value_t = 0.9, value_name = "P", requires = "write_thresholds")]
    pub min_precision: f64,
    #[arg(long)]
    pub json: bool,
}

/// Items the local models that answered in this run were trained on (from the training sets
/// `sift train` saves beside each model).
fn trained_items(
    ctx: &Context,
    run: &crate::model::Run,
    suggestions: &[crate::model::Suggestion],
) -> Vec<String> {
    let mut models: Vec<&str> = vec![run.model.as_str()];
    models.extend(suggestions.iter().map(|s| s.model.as_str()).filter(|m| !m.is_empty()));
    models.sort_unstable();
    models.dedup();
    models
        .into_iter()
        .filter(|m| m.starts_with("local:"))
        .filter_map(|m| crate::suggest::train::TrainingSet::of_model_name(&ctx.ws, m))
        .flat_map(|set| set.items)
        .collect()
}

/// `sift eval --run RUN`.
pub fn run(ctx: &Context, args: &EvalArgs) -> Result<ExitCode> {
    let (run, dataset, json) = (args.run.as_str(), args.dataset.as_deref(), args.json);
    let (datasets, taxonomy) = scope(ctx, dataset)?;
    let Some(r) = ctx.store.run(run)? else {
        bail!("no run named {:?} (see `sift runs list`)", one_line(run))
    };
    let mut gold = gold_in(ctx, &datasets)?;
    let suggestions = ctx.store.run_suggestions(&r.id)?;
    let trained =
        if args.include_trained { Vec::new() } else { trained_items(ctx, &r, &suggestions) };
    let before = gold.len();
    for key in &trained {
        gold.remove(key);
    }
    let left_out = before - gold.len();
    if args.write_thresholds {
        return write_thresholds(ctx, &taxonomy, &gold, &suggestions, args.min_precision, json);
    }
    let report = stats::evaluate_run(&gold, &suggestions, &taxonomy);
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("run".into(), r.id.clone().into());
            o.insert("left_out_trained".into(), left_out.into());
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
    if left_out > 0 {
        writeln!(
            out,
            "{left_out} gold items left out: the run's local model was trained on them \
             (--include-trained scores them too)"
        )?;
    }
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

/// `sift eval --write-thresholds`: pick, write into labels.yml, show the diff.
fn write_thresholds(
    ctx: &Context,
    tax: &crate::taxonomy::Taxonomy,
    gold: &std::collections::BTreeMap<String, crate::metrics::gold::Gold>,
    suggestions: &[crate::model::Suggestion],
    min_precision: f64,
    json: bool,
) -> Result<ExitCode> {
    use crate::dataset::thresholds;
    if !(0.0..=1.0).contains(&min_precision) {
        bail!("--min-precision {min_precision} is outside 0..1");
    }
    let gold: std::collections::BTreeMap<String, Vec<String>> =
        gold.iter().map(|(k, g)| (k.clone(), g.labels.clone())).collect();
    let picked = thresholds::pick(tax, &gold, suggestions, min_precision);
    if picked.is_empty() {
        bail!(
            "the run has no suggestions on gold items of taxonomy `{}`: nothing to pick from",
            tax.name
        );
    }
    let path = &ctx.labels.path;
    let before =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let wanted: std::collections::BTreeMap<String, f64> =
        picked.iter().map(|(k, p)| (k.clone(), p.threshold)).collect();
    let after = thresholds::write_into(&before, &tax.name, &wanted)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // What is written must read back as the same taxonomy with these thresholds.
    let check = crate::taxonomy::LabelsFile::parse(&after, path)?;
    let t = check.get(&tax.name)?;
    if let Some((l, _)) = wanted.iter().find(|(l, v)| (t.threshold_for(l) - **v).abs() > 1e-9) {
        bail!(
            "{}: the threshold of `{l}` did not land where sift wrote it; file left as it was",
            path.display()
        );
    }
    if after != before {
        std::fs::write(path, &after).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if json {
        print_json(
            &serde_json::json!({"labels_file": path, "min_precision": min_precision, "thresholds": picked, "changed": after != before}),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::stdout();
    writeln!(out, "thresholds for precision {min_precision} on gold ({} labels):", picked.len())?;
    for (l, p) in &picked {
        writeln!(
            out,
            "  {:<20} {:>5.2}  precision {:.3} recall {:.3} on {} suggestions{}",
            one_line(l),
            p.threshold,
            p.precision,
            p.recall,
            p.predicted,
            if p.rule == "f1" { "  (precision not reached: F1-best)" } else { "" }
        )?;
    }
    if after == before {
        writeln!(out, "{} already holds these thresholds", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = path.display().to_string();
    let diff = similar::TextDiff::from_lines(&before, &after);
    write!(out, "{}", diff.unified_diff().context_radius(2).header(&name, &name))?;
    writeln!(out, "written to {name}: review the change in git before committing it")?;
    Ok(ExitCode::SUCCESS)
}

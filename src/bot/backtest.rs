//! `sift triage --backtest OWNER/REPO`: the bot's decisions replayed on recent issues humans
//! labeled, per stage and per label, sending nothing.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::act::Bot;
use super::decide::{self, Stage};
use crate::github::client::RepoSlug;
use crate::model::LabelScore;
use crate::taxonomy::Taxonomy;

/// One stage's replay.
#[derive(Debug, Default, Serialize)]
pub struct StageReport {
    pub stage: String,
    pub would_apply: usize,
    pub would_comment: usize,
    pub would_abstain: usize,
    /// Issues no provider answered.
    pub no_prediction: usize,
    pub labels: BTreeMap<String, LabelReport>,
}

/// One label's replay: what the stage would have applied (for `comment`, recommended at or
/// above the threshold) against the humans' labels.
#[derive(Debug, Default, Serialize)]
pub struct LabelReport {
    pub threshold: f64,
    pub matches: usize,
    pub mismatches: usize,
    /// Human labels the stage would not have applied.
    pub missed: usize,
    pub precision: Option<f64>,
}

/// One labeled issue: the humans' labels (canonical) and the suggestion, if any.
pub struct Case {
    pub human: HashSet<String>,
    pub suggested: Option<Vec<LabelScore>>,
}

/// Replay every stage over the cases. Pure.
pub fn replay(tax: &Taxonomy, cases: &[Case], abstain_label: &str) -> Vec<StageReport> {
    [Stage::Comment, Stage::ApplyConfident, Stage::Apply]
        .into_iter()
        .map(|stage| replay_stage(tax, cases, abstain_label, stage))
        .collect()
}

fn replay_stage(tax: &Taxonomy, cases: &[Case], abstain: &str, stage: Stage) -> StageReport {
    let mut r = StageReport { stage: stage.as_str().into(), ..Default::default() };
    for c in cases {
        let Some(labels) = &c.suggested else {
            r.no_prediction += 1;
            continue;
        };
        let d = decide::decide(&decide::Inputs {
            tax,
            stage,
            labels,
            present: &[],
            abstain_label: abstain,
            capped: None,
        });
        let predicted: HashSet<String> = match (stage, d.decision) {
            (_, "abstained") => {
                r.would_abstain += 1;
                HashSet::new()
            }
            (Stage::Comment, _) => {
                r.would_comment += 1;
                labels
                    .iter()
                    .filter(|l| crate::suggest::validate::score(l) >= d.thresholds[&l.name])
                    .map(|l| l.name.clone())
                    .collect()
            }
            (_, "applied") => {
                r.would_apply += 1;
                d.add.iter().filter(|l| tax.label(l).is_some()).cloned().collect()
            }
            _ => {
                r.would_comment += 1;
                HashSet::new()
            }
        };
        for l in tax.label_names() {
            let e = r.labels.entry(l.clone()).or_default();
            e.threshold = tax.threshold_for(&l);
            match (predicted.contains(&l), c.human.contains(&l)) {
                (true, true) => e.matches += 1,
                (true, false) => e.mismatches += 1,
                (false, true) => e.missed += 1,
                (false, false) => {}
            }
        }
    }
    for e in r.labels.values_mut() {
        let n = e.matches + e.mismatches;
        e.precision = (n > 0).then(|| e.matches as f64 / n as f64);
    }
    r
}

/// `sift triage --backtest`.
pub fn run(bot: &mut Bot, repo: &str, last: usize, json: bool) -> Result<ExitCode> {
    let slug = RepoSlug::parse(repo)?;
    let items = bot.labeled_issues(&slug, last)?;
    if items.is_empty() {
        outln!("{}: no issues with labels of the taxonomy to replay", slug.full());
        return Ok(ExitCode::SUCCESS);
    }
    let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
    let report = bot.suggest_many(keys)?;
    let dataset = crate::github::pull::dataset_for(&bot.ctx.ws.settings, &slug);
    let tax = bot.ctx.labels.get(bot.ctx.ws.settings.taxonomy_for(&dataset))?.clone();
    let by_key: BTreeMap<&str, Vec<LabelScore>> = report
        .items
        .iter()
        .filter_map(|r| r.suggestion.as_ref().map(|s| (r.key.as_str(), s.labels.clone())))
        .collect();
    let cases: Vec<Case> = items
        .iter()
        .map(|i| Case {
            human: tax
                .canonicalize(i.source_labels.iter().map(String::as_str))
                .0
                .into_iter()
                .collect(),
            suggested: by_key.get(i.key.as_str()).cloned(),
        })
        .collect();
    let stages = replay(&tax, &cases, &bot.ctx.ws.settings.bot.abstain_label);
    if json {
        let v = serde_json::json!({"repo": slug.full(), "issues": cases.len(), "stages": stages});
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{}: {} labeled issues replayed (run {}); nothing was sent",
        slug.full(),
        cases.len(),
        report.run.name.as_deref().unwrap_or(&report.run.id)
    );
    for s in &stages {
        outln!(
            "\nstage {}: would apply {}, would comment {}, would abstain {}, no prediction {}",
            s.stage,
            s.would_apply,
            s.would_comment,
            s.would_abstain,
            s.no_prediction
        );
        outln!(
            "  {:<24} {:>9} {:>7} {:>10} {:>6} {:>9}",
            "label",
            "threshold",
            "match",
            "mismatch",
            "missed",
            "precision"
        );
        for (name, l) in &s.labels {
            let p = l.precision.map_or("-".to_string(), |p| format!("{p:.2}"));
            outln!(
                "  {:<24} {:>9.2} {:>7} {:>10} {:>6} {:>9}",
                crate::text::one_line(name),
                l.threshold,
                l.matches,
                l.mismatches,
                l.missed,
                p
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! The weekly accuracy sample: its population, the seeded draw, and the per-week report
//! (accuracy and per-label precision with Wilson intervals, drift against four weeks before).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::metrics::gold::label_set;
use crate::metrics::sampling::{self, IsoWeek, WeekError};
use crate::model::Mode;
use crate::store::{AnswerRow, Store, StoreError, TimedPushedLabel, TimedSuggestion};

/// Weeks of baseline for drift.
pub const BASELINE_WEEKS: usize = 4;

/// PSI above this flags drift.
pub const PSI_THRESHOLD: f64 = 0.2;

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{0}")]
    Week(#[from] WeekError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which items may enter the population.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only items of this dataset.
    pub dataset: Option<String>,
    /// Only issues of this OWNER/REPO.
    pub repo: Option<String>,
}

/// What sift did to items in one week: suggestions made and labels pushed in [start, end).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekActivity {
    /// Item -> labels of the latest suggestion made during the week, highest confidence first.
    pub suggested: BTreeMap<String, Vec<String>>,
    /// Item -> labels sift pushed during the week (sorted).
    pub pushed: BTreeMap<String, Vec<String>>,
}

impl WeekActivity {
    /// Build from raw rows, keeping only those inside `week` and in scope.
    pub fn new(
        week: IsoWeek,
        suggestions: &[TimedSuggestion],
        pushed: &[TimedPushedLabel],
        in_scope: impl Fn(&str) -> bool,
    ) -> Result<WeekActivity, WeekError> {
        let (start, end) = week.bounds()?;
        let inside = |at: &str| at.parse::<Timestamp>().is_ok_and(|t| t >= start && t < end);
        let mut latest: BTreeMap<String, (Timestamp, Vec<String>)> = BTreeMap::new();
        for s in suggestions.iter().filter(|s| in_scope(&s.item) && inside(&s.created_at)) {
            let Ok(at) = s.created_at.parse::<Timestamp>() else { continue };
            let mut labels = s.labels.clone();
            labels.sort_by(|a, b| {
                b.confidence
                    .unwrap_or(0.0)
                    .total_cmp(&a.confidence.unwrap_or(0.0))
                    .then(a.name.cmp(&b.name))
            });
            let names = labels.into_iter().map(|l| l.name).collect();
            match latest.get(&s.item) {
                Some((t, _)) if *t > at => {}
                _ => {
                    latest.insert(s.item.clone(), (at, names));
                }
            }
        }
        let mut out = WeekActivity {
            suggested: latest.into_iter().map(|(k, (_, v))| (k, v)).collect(),
            ..Default::default()
        };
        for p in pushed.iter().filter(|p| in_scope(&p.item) && inside(&p.added_at)) {
            let labels = out.pushed.entry(p.item.clone()).or_default();
            labels.push(p.label.clone());
            *labels = label_set(labels);
        }
        Ok(out)
    }

    /// The labels sift gave an item this week: its suggestion, else what it pushed.
    pub fn labels_of(&self, item: &str) -> Option<&Vec<String>> {
        self.suggested.get(item).or_else(|| self.pushed.get(item))
    }

    /// The population with each item's stratum (its top suggested label).
    pub fn population(&self) -> Vec<(String, Option<String>)> {
        let keys: BTreeSet<&String> = self.suggested.keys().chain(self.pushed.keys()).collect();
        keys.into_iter()
            .map(|k| (k.clone(), self.labels_of(k).and_then(|l| l.first().cloned())))
            .collect()
    }

    /// How often each label was given this week (one count per item and label).
    pub fn label_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let keys: BTreeSet<&String> = self.suggested.keys().chain(self.pushed.keys()).collect();
        for k in keys {
            for l in self.labels_of(k).into_iter().flatten() {
                *counts.entry(l.clone()).or_default() += 1;
            }
        }
        counts
    }
}

/// The seed text of a week's draw: the same workspace and week give the same items anywhere.
pub fn seed_text(workspace_id: &str, week: IsoWeek) -> String {
    format!("sift-sample:{workspace_id}:{week}")
}

/// A drawn sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub week: String,
    pub population: usize,
    pub items: Vec<String>,
}

impl Sample {
    /// True when the population was no larger than the size asked for (all of it was taken).
    pub fn is_whole_population(&self) -> bool {
        self.items.len() == self.population
    }
}

/// Draw the sample for `week` from its activity.
pub fn draw(activity: &WeekActivity, week: IsoWeek, size: usize, workspace_id: &str) -> Sample {
    let population = activity.population();
    let mut items = sampling::draw_sample(&population, size, &seed_text(workspace_id, week));
    // Listed and reviewed in reading order: demo:2 before demo:10.
    items.sort_by(|a, b| crate::text::natural_cmp(a, b));
    Sample { week: week.to_string(), population: population.len(), items }
}

/// Precision of one suggested label in the sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelPrecision {
    pub precision: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// Reviewed items whose suggestion had the label.
    pub suggested: u64,
}

/// How humans overrode one label sift applied during a week (seen by later `sift pull`s).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OverrideRate {
    /// Times sift applied the label this week.
    pub applied: u64,
    /// Of those, removed by a human since.
    pub removed: u64,
    /// Times a human added the label to an issue sift labeled this week.
    pub added: u64,
    /// `removed / applied`.
    pub rate: Option<f64>,
}

/// Override rates per label for one week: `overrides` are those of labels applied in the week.
pub fn override_rates(
    activity: &WeekActivity,
    overrides: &[crate::store::LabelOverride],
) -> BTreeMap<String, OverrideRate> {
    let mut out: BTreeMap<String, OverrideRate> = BTreeMap::new();
    for labels in activity.pushed.values() {
        for l in labels {
            out.entry(l.clone()).or_default().applied += 1;
        }
    }
    for o in overrides {
        let e = out.entry(o.label.clone()).or_default();
        match o.kind.as_str() {
            "removed" => e.removed += 1,
            _ => e.added += 1,
        }
    }
    for e in out.values_mut() {
        e.rate = (e.applied > 0).then(|| e.removed as f64 / e.applied as f64);
    }
    out
}

/// One week of `sift sample report` (and one point of the sample view's trend).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekReport {
    pub week: String,
    /// Sample items with a sample answer for this week.
    pub reviewed: u64,
    /// Items drawn for the week.
    pub size: u64,
    /// Exact-set accuracy of the suggestions against the sample answers.
    pub accuracy: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub labels: BTreeMap<String, LabelPrecision>,
    pub psi: Option<f64>,
    pub chi2_p: Option<f64>,
    /// "drift" when PSI > 0.2; "below_target" when the accuracy interval's upper bound is
    /// under the target accuracy.
    pub flags: Vec<String>,
    /// This week's suggested-label counts and the baseline's (previous four weeks), for bars.
    #[serde(skip)]
    pub distribution: BTreeMap<String, (u64, u64)>,
    /// Per label: how often humans overrode what sift applied this week.
    pub overrides: BTreeMap<String, OverrideRate>,
}

/// Score one week. `answers` are the week's sample answers (item -> labels); `baseline` the
/// label counts of the weeks before.
pub fn week_report(
    week: IsoWeek,
    activity: &WeekActivity,
    sample: &Sample,
    answers: &BTreeMap<String, Vec<String>>,
    baseline: &BTreeMap<String, u64>,
    target_accuracy: f64,
) -> WeekReport {
    let mut correct = 0u64;
    let mut scored = 0u64;
    let mut per_label: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (item, answer) in answers {
        let suggested = activity.labels_of(item).cloned().unwrap_or_default();
        scored += 1;
        correct += u64::from(label_set(&suggested) == label_set(answer));
        for l in label_set(&suggested) {
            let e = per_label.entry(l.clone()).or_default();
            e.0 += 1;
            e.1 += u64::from(answer.contains(&l));
        }
    }
    let ci = |k: u64, n: u64| sampling::wilson(k, n).map(|(lo, hi)| [lo, hi]);
    let ratio = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    let labels = per_label
        .into_iter()
        .map(|(l, (n, k))| {
            (l, LabelPrecision { precision: ratio(k, n), ci95: ci(k, n), suggested: n })
        })
        .collect();
    let current = activity.label_counts();
    let names: BTreeSet<&String> = current.keys().chain(baseline.keys()).collect();
    let count = |m: &BTreeMap<String, u64>, l: &String| m.get(l).copied().unwrap_or(0);
    let cur: Vec<u64> = names.iter().map(|l| count(&current, l)).collect();
    let base: Vec<u64> = names.iter().map(|l| count(baseline, l)).collect();
    let psi = sampling::psi(&base, &cur);
    let chi2_p = sampling::chi_square(&base, &cur).map(|c| c.p_value);
    let ci95 = ci(correct, scored);
    let mut flags = Vec::new();
    if psi.is_some_and(|p| p > PSI_THRESHOLD) {
        flags.push("drift".to_string());
    }
    if ci95.is_some_and(|[_, hi]| hi < target_accuracy) {
        flags.push("below_target".to_string());
    }
    WeekReport {
        week: week.to_string(),
        reviewed: scored,
        size: sample.items.len() as u64,
        accuracy: ratio(correct, scored),
        ci95,
        labels,
        psi,
        chi2_p,
        flags,
        distribution: names
            .iter()
            .map(|l| ((*l).clone(), (count(&current, l), count(baseline, l))))
            .collect(),
        overrides: BTreeMap::new(),
    }
}

/// The latest sample answer per item for `week`, from records oldest first.
pub fn sample_answers(records: &[AnswerRow], week: IsoWeek) -> BTreeMap<String, Vec<String>> {
    let w = week.to_string();
    records
        .iter()
        .filter(|r| r.annotation.mode == Mode::Sample && r.annotation.week.as_deref() == Some(&w))
        .map(|r| (r.annotation.item.clone(), r.annotation.labels.clone()))
        .collect()
}

/// Reads the store for a range of weeks and builds activities (IO edge of this module).
pub struct SampleSource<'a> {
    pub store: &'a Store,
    pub scope: Scope,
    datasets: Option<HashMap<String, String>>,
}

impl<'a> SampleSource<'a> {
    pub fn new(store: &'a Store, scope: Scope) -> Result<Self, SampleError> {
        let datasets = match scope.dataset {
            Some(_) => Some(store.item_datasets()?),
            None => None,
        };
        Ok(SampleSource { store, scope, datasets })
    }

    /// Whether an item is in the scope's dataset and repository.
    pub fn in_scope(&self, item: &str) -> bool {
        let repo_ok = self.scope.repo.as_ref().is_none_or(|r| {
            item.strip_prefix("github:")
                .and_then(|rest| rest.rsplit_once('#'))
                .is_some_and(|(repo, _)| repo.eq_ignore_ascii_case(r))
        });
        let dataset_ok = match (&self.scope.dataset, &self.datasets) {
            (Some(d), Some(map)) => map.get(item) == Some(d),
            _ => true,
        };
        repo_ok && dataset_ok
    }

    /// Overrides, in scope, of labels sift applied during `week`.
    pub fn overrides(
        &self,
        week: IsoWeek,
    ) -> Result<Vec<crate::store::LabelOverride>, SampleError> {
        let (start, end) = week.bounds()?;
        let day = jiff::SignedDuration::from_hours(24);
        let from = start.checked_sub(day).map_err(|_| WeekError::OutOfRange)?.to_string();
        let to = end.checked_add(day).map_err(|_| WeekError::OutOfRange)?.to_string();
        let inside = |at: &str| at.parse::<Timestamp>().is_ok_and(|t| t >= start && t < end);
        Ok(self
            .store
            .overrides_between(&from, &to)?
            .into_iter()
            .filter(|o| inside(&o.applied_at))
            .filter(|o| self.in_scope(&format!("github:{}#{}", o.repo, o.number)))
            .collect())
    }

    /// Activity of each week in `weeks` (chronological), read in one pass.
    pub fn activities(&self, weeks: &[IsoWeek]) -> Result<Vec<WeekActivity>, SampleError> {
        let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else {
            return Ok(Vec::new());
        };
        // Text bounds a day wider than the weeks: stored times may carry other offsets or
        // precision; WeekActivity::new applies the exact bounds.
        let day = jiff::SignedDuration::from_hours(24);
        let from = first.start()?.checked_sub(day).map_err(|_| WeekError::OutOfRange)?;
        let to = last.end()?.checked_add(day).map_err(|_| WeekError::OutOfRange)?;
        let (from, to) = (from.to_string(), to.to_string());
        let suggestions = self.store.suggestions_between(&from, &to)?;
        let pushed = self.store.pushed_labels_between(&from, &to)?;
        weeks
            .iter()
            .map(|w| Ok(WeekActivity::new(*w, &suggestions, &pushed, |k| self.in_scope(k))?))
            .collect()
    }
}

/// Reports for `weeks` (chronological), each against its previous four weeks.
pub fn report(
    source: &SampleSource,
    weeks: &[IsoWeek],
    size: usize,
    workspace_id: &str,
    records: &[AnswerRow],
    target_accuracy: f64,
) -> Result<Vec<WeekReport>, SampleError> {
    let Some(first) = weeks.first() else { return Ok(Vec::new()) };
    let mut span = first.weeks_before(BASELINE_WEEKS)?;
    span.extend_from_slice(weeks);
    let activities = source.activities(&span)?;
    let mut out = Vec::with_capacity(weeks.len());
    for (i, week) in weeks.iter().enumerate() {
        let at = i + BASELINE_WEEKS;
        let activity = &activities[at];
        let mut baseline: BTreeMap<String, u64> = BTreeMap::new();
        for a in &activities[at - BASELINE_WEEKS..at] {
            for (l, n) in a.label_counts() {
                *baseline.entry(l).or_default() += n;
            }
        }
        let sample = draw(activity, *week, size, workspace_id);
        let mut answers = sample_answers(records, *week);
        answers.retain(|k, _| source.in_scope(k));
        let mut r = week_report(*week, activity, &sample, &answers, &baseline, target_accuracy);
        r.overrides = override_rates(activity, &source.overrides(*week)?);
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelScore;

    fn sugg(item: &str, label: &str, at: &str) -> TimedSuggestion {
        TimedSuggestion {
            item: item.into(),
            run: "r".into(),
            labels: vec![LabelScore { name: label.into(), confidence: Some(0.9) }],
            created_at: at.into(),
        }
    }

    #[test]
    fn activity_keeps_the_week_and_the_latest_suggestion() {
        let week = IsoWeek::parse("2026-W47").unwrap(); // Mon 2026-11-16 .. Sun 2026-11-22
        let rows = vec![
            sugg("a", "bug", "2026-11-16T00:00:00Z"),
            sugg("a", "ux", "2026-11-18T00:00:00Z"),
            sugg("b", "bug", "2026-11-23T00:00:00Z"),
            sugg("c", "bug", "2026-11-15T23:59:59Z"),
        ];
        let pushed = vec![TimedPushedLabel {
            item: "d".into(),
            label: "question".into(),
            added_at: "2026-11-20T12:00:00Z".into(),
        }];
        let a = WeekActivity::new(week, &rows, &pushed, |_| true).unwrap();
        assert_eq!(
            a.population(),
            vec![
                ("a".to_string(), Some("ux".to_string())),
                ("d".to_string(), Some("question".to_string()))
            ]
        );
    }

    #[test]
    fn report_scores_accuracy_precision_and_flags() {
        let week = IsoWeek::parse("2026-W47").unwrap();
        let mut activity = WeekActivity::default();
        let mut answers = BTreeMap::new();
        for i in 0..20 {
            let k = format!("k{i:02}");
            activity.suggested.insert(k.clone(), vec!["bug".into()]);
            // 17 of 20 right.
            answers.insert(k, vec![if i < 17 { "bug" } else { "ux" }.to_string()]);
        }
        let sample = draw(&activity, week, 20, "ws");
        let baseline: BTreeMap<String, u64> = [("ux".to_string(), 40)].into();
        let r = week_report(week, &activity, &sample, &answers, &baseline, 0.95);
        assert_eq!(r.reviewed, 20);
        assert_eq!(r.accuracy, Some(0.85));
        let [lo, hi] = r.ci95.unwrap();
        assert!((lo - 0.640).abs() < 5e-4 && (hi - 0.948).abs() < 5e-4, "{lo} {hi}");
        assert_eq!(r.labels["bug"].precision, Some(0.85));
        // All suggestions moved from ux to bug: drift; and 0.948 < 0.95: below target.
        assert_eq!(r.flags, ["drift", "below_target"]);
        assert!(r.psi.unwrap() > 0.2);
    }
}

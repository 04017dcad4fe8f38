//! Agreement per dimension and per label, suggestion accuracy against gold, and per-annotator
//! throughput and acceptance. Pure: callers read the store; the statistics come from metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::dataset::gold::{Gold, label_set};
use crate::metrics::agreement::{self, AgreementReport, SetRecord};
use crate::metrics::evaluation::{self, EvalItem, EvalReport};
use crate::model::{Mode, Suggestion};
use crate::store::{AnswerRow, LabelAnswer};
use crate::taxonomy::{Select, Taxonomy};

/// Seed of the bootstrap intervals, so `sift stats` prints the same interval every time.
pub const BOOTSTRAP_SEED: u64 = 0x5EED_0001;

/// `sift stats --json`: agreement over the selected annotators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementStats {
    /// Items with at least one answer from a selected annotator.
    pub items: usize,
    pub annotators: Vec<String>,
    /// Per dimension: nominal over its categories (the label, or the label set for multi-select).
    pub dimensions: BTreeMap<String, AgreementReport>,
    /// Per label: binary presence.
    pub labels: BTreeMap<String, AgreementReport>,
}

/// Agreement of current answers (adjudications are rulings, not answers, and are left out).
/// `selected` limits the annotators; `with_ci` adds the bootstrap interval of alpha.
pub fn agreement_stats(
    answers: &[LabelAnswer],
    taxonomy: &Taxonomy,
    selected: Option<&[String]>,
    with_ci: bool,
) -> AgreementStats {
    let records: Vec<SetRecord> = answers
        .iter()
        .filter(|a| a.mode != Mode::Adjudication)
        .filter(|a| selected.is_none_or(|s| s.contains(&a.annotator)))
        .map(|a| (a.item.clone(), a.annotator.clone(), a.labels.clone()))
        .collect();
    let annotators: BTreeSet<&str> = records.iter().map(|r| r.1.as_str()).collect();
    let items: BTreeSet<&str> = records.iter().map(|r| r.0.as_str()).collect();
    let dimensions = taxonomy
        .dimensions
        .iter()
        .map(|d| {
            let names: Vec<String> = d.labels.iter().map(|l| l.name.clone()).collect();
            let table = agreement::set_table(&records, Some(&names));
            (d.name.clone(), agreement::report(&table, with_ci, BOOTSTRAP_SEED))
        })
        .collect();
    let names = taxonomy.label_names();
    let labels = names
        .iter()
        .zip(agreement::label_presence_tables(&records, &names))
        .map(|(name, table)| (name.clone(), agreement::report(&table, with_ci, BOOTSTRAP_SEED)))
        .collect();
    AgreementStats {
        items: items.len(),
        annotators: annotators.into_iter().map(str::to_owned).collect(),
        dimensions,
        labels,
    }
}

/// How often an annotator's saved labels equal the suggestion they were shown (or, in blind
/// mode, the suggestion recorded beside the answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Acceptance {
    /// Records that carry a suggestion.
    pub with_suggestion: u64,
    /// Of those, records whose labels equal the suggestion's labels.
    pub unchanged: u64,
    pub rate: Option<f64>,
}

impl Acceptance {
    fn add(&mut self, unchanged: bool) {
        self.with_suggestion += 1;
        self.unchanged += u64::from(unchanged);
        self.rate = Some(self.unchanged as f64 / self.with_suggestion as f64);
    }
}

/// Throughput and acceptance of one annotator (the stats screen's annotator table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorStats {
    pub annotator: String,
    pub records: u64,
    /// Distinct items answered.
    pub items: u64,
    /// Records per hour of active time (durations, else gaps between records under 10 min).
    pub items_per_hour: Option<f64>,
    pub median_seconds: Option<f64>,
    pub blind: Acceptance,
    pub assisted: Acceptance,
}

/// A gap between two records longer than this is a break, not time spent on the item.
const IDLE_GAP_SECONDS: f64 = 600.0;

/// Throughput and acceptance per annotator from every record (oldest first), sorted by name.
pub fn annotator_stats(records: &[AnswerRow]) -> Vec<AnnotatorStats> {
    let mut by: BTreeMap<&str, Vec<&AnswerRow>> = BTreeMap::new();
    for r in records {
        by.entry(r.annotation.annotator.as_str()).or_default().push(r);
    }
    by.into_iter().map(|(who, rows)| one_annotator(who, &rows)).collect()
}

fn one_annotator(who: &str, rows: &[&AnswerRow]) -> AnnotatorStats {
    let mut seconds = Vec::new();
    let mut previous: Option<jiff::Timestamp> = None;
    let mut blind = Acceptance::default();
    let mut assisted = Acceptance::default();
    let mut items = BTreeSet::new();
    for r in rows {
        let a = &r.annotation;
        items.insert(a.item.as_str());
        let at: Option<jiff::Timestamp> = a.at.parse().ok();
        let spent = match (a.duration_ms, at, previous) {
            (Some(ms), _, _) => Some(ms as f64 / 1000.0),
            (None, Some(now), Some(before)) => {
                let gap = now.duration_since(before).as_secs_f64();
                (0.0..=IDLE_GAP_SECONDS).contains(&gap).then_some(gap)
            }
            _ => None,
        };
        seconds.extend(spent);
        if at.is_some() {
            previous = at;
        }
        if let Some(s) = &a.suggestion {
            let shown: Vec<String> = s.labels.iter().map(|l| l.name.clone()).collect();
            let unchanged = label_set(&shown) == label_set(&a.labels);
            match a.mode {
                Mode::Blind | Mode::Sample => blind.add(unchanged),
                Mode::Assisted => assisted.add(unchanged),
                Mode::Adjudication | Mode::Import => {}
            }
        }
    }
    let total: f64 = seconds.iter().sum();
    AnnotatorStats {
        annotator: who.to_string(),
        records: rows.len() as u64,
        items: items.len() as u64,
        items_per_hour: (total > 0.0).then(|| seconds.len() as f64 * 3600.0 / total),
        median_seconds: median(&mut seconds),
        blind,
        assisted,
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Score a run's suggestions against gold. Items with gold that the run made a suggestion for
/// are scored; an abstention or a suggestion naming no valid label is a miss, not skipped.
pub fn evaluate_run(
    gold: &BTreeMap<String, Gold>,
    suggestions: &[Suggestion],
    taxonomy: &Taxonomy,
) -> EvalReport {
    let by_item: HashMap<&str, &Suggestion> =
        suggestions.iter().map(|s| (s.item.as_str(), s)).collect();
    let items: Vec<EvalItem> = gold
        .iter()
        .filter_map(|(key, g)| {
            let s = by_item.get(key.as_str())?;
            let predicted = if s.abstained {
                Vec::new()
            } else {
                s.labels.iter().map(|l| (l.name.clone(), l.confidence)).collect()
            };
            Some(EvalItem { gold: g.labels.clone(), predicted })
        })
        .collect();
    let dims: Vec<evaluation::Dimension> = taxonomy
        .dimensions
        .iter()
        .filter(|d| d.select == Select::One)
        .map(|d| evaluation::Dimension {
            name: d.name.clone(),
            labels: d.labels.iter().map(|l| l.name.clone()).collect(),
        })
        .collect();
    evaluation::evaluate(&items, &taxonomy.label_names(), &dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Annotation, LabelScore, SuggestionRef};

    fn rec(
        who: &str,
        item: &str,
        labels: &[&str],
        mode: Mode,
        ms: u64,
        sugg: &[&str],
    ) -> AnswerRow {
        AnswerRow {
            id: 0,
            dataset: "d".into(),
            annotation: Annotation {
                item: item.into(),
                annotator: who.into(),
                labels: labels.iter().map(|s| s.to_string()).collect(),
                at: String::new(),
                mode,
                note: String::new(),
                duration_ms: Some(ms),
                suggestion: Some(SuggestionRef {
                    run: "r".into(),
                    labels: sugg
                        .iter()
                        .map(|s| LabelScore { name: s.to_string(), confidence: None })
                        .collect(),
                }),
                week: None,
            },
        }
    }

    #[test]
    fn throughput_and_acceptance_split_by_mode() {
        let rows = vec![
            rec("a", "1", &["bug"], Mode::Assisted, 10_000, &["bug"]),
            rec("a", "2", &["ux"], Mode::Assisted, 20_000, &["bug"]),
            rec("a", "3", &["bug"], Mode::Blind, 30_000, &["bug"]),
        ];
        let s = annotator_stats(&rows);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].median_seconds, Some(20.0));
        // 3 records in 60 s of work: 180 per hour.
        assert!((s[0].items_per_hour.unwrap() - 180.0).abs() < 1e-9);
        assert_eq!(s[0].assisted.with_suggestion, 2);
        assert_eq!(s[0].assisted.rate, Some(0.5));
        assert_eq!(s[0].blind.rate, Some(1.0));
    }
}

//! A run's statistics (seed 001's stats file): per-dimension label distributions, confidence
//! quantiles, abstentions, unmapped labels, the arbitration rate, and tokens and cost per item.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Run, Suggestion};
use crate::taxonomy::Taxonomy;

/// Confidence quantiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
}

/// One dimension of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DimensionStats {
    /// Items with at least one label of this dimension.
    pub answered: usize,
    /// How often each label was suggested.
    pub labels: BTreeMap<String, usize>,
    /// Quantiles of the confidences given in this dimension (none without confidences).
    pub confidence: Option<Quantiles>,
}

/// Everything `sift runs show --json` says of a run's answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStats {
    pub items: usize,
    pub abstained: usize,
    pub abstention_rate: Option<f64>,
    pub dimensions: BTreeMap<String, DimensionStats>,
    /// Quantiles of each item's highest confidence.
    pub top_confidence: Option<Quantiles>,
    /// Labels the model gave that are not in the taxonomy (or are deprecated), with counts.
    pub unmapped_labels: BTreeMap<String, usize>,
    /// Items re-asked at a higher temperature, from the run's monitor log.
    pub arbitrated: usize,
    pub arbitration_rate: Option<f64>,
    /// Items answered by a fallback provider.
    pub fallbacks: usize,
    /// Suggestions that break a consistency rule of labels.yml, and how often each rule broke.
    pub consistency_violations: usize,
    pub violations: BTreeMap<String, usize>,
    pub tokens_per_item: Option<f64>,
    pub cost_per_item_usd: Option<f64>,
}

/// Statistics of `run` from its suggestions and its monitor log's lines.
pub fn run_stats(run: &Run, tax: &Taxonomy, suggestions: &[Suggestion], log: &[Value]) -> RunStats {
    let n = suggestions.len();
    let mut s = RunStats { items: n, ..Default::default() };
    let mut by_dim: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut tops = Vec::new();
    for sug in suggestions {
        s.abstained += usize::from(sug.abstained);
        s.fallbacks += usize::from(!sug.provider.is_empty());
        s.consistency_violations += usize::from(!sug.violations.is_empty());
        for v in &sug.violations {
            *s.violations.entry(v.clone()).or_default() += 1;
        }
        for d in &sug.dropped {
            *s.unmapped_labels.entry(d.clone()).or_default() += 1;
        }
        let mut seen_dims = std::collections::BTreeSet::new();
        for l in &sug.labels {
            let dim = tax.dimension_of(&l.name).map_or("(unknown)".to_string(), |d| d.name.clone());
            let e = s.dimensions.entry(dim.clone()).or_default();
            *e.labels.entry(l.name.clone()).or_default() += 1;
            if seen_dims.insert(dim.clone()) {
                e.answered += 1;
            }
            if let Some(c) = l.confidence {
                by_dim.entry(dim).or_default().push(c);
            }
        }
        if let Some(top) = sug.labels.iter().filter_map(|l| l.confidence).reduce(f64::max) {
            tops.push(top);
        }
    }
    for (dim, mut confs) in by_dim {
        if let Some(e) = s.dimensions.get_mut(&dim) {
            e.confidence = quantiles(&mut confs);
        }
    }
    s.top_confidence = quantiles(&mut tops);
    let ratio = |k: usize| (n > 0).then(|| k as f64 / n as f64);
    s.abstention_rate = ratio(s.abstained);
    // Only items actually asked again: a skipped or failed re-ask has no second answer.
    // A multi-call prompt's per-call entries (with `call`) repeat what their item's says.
    s.arbitrated = log
        .iter()
        .filter(|l| l.get("call").is_none())
        .filter(|l| l.pointer("/arbitration/second").is_some_and(|a| !a.is_null()))
        .count();
    s.arbitration_rate = ratio(s.arbitrated);
    s.tokens_per_item = (n > 0).then(|| (run.tokens_in + run.tokens_out) as f64 / n as f64);
    s.cost_per_item_usd = (n > 0).then(|| run.cost_usd / n as f64);
    s
}

/// Nearest-rank quantiles; None for no values.
fn quantiles(v: &mut [f64]) -> Option<Quantiles> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        (v[i] * 1000.0).round() / 1000.0
    };
    Some(Quantiles { p10: q(0.10), p25: q(0.25), p50: q(0.50), p75: q(0.75), p90: q(0.90) })
}

/// The lines of a run's monitor log (`.sift/logs/suggest-<run>.jsonl`); a missing file or a
/// bad line is no line.
pub fn monitor_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelScore;

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: kind\n        select: many\n        labels: [bug, docs]\n      - name: level\n        select: one\n        labels: [easy, hard]\n";
        crate::taxonomy::LabelsFile::parse(text, std::path::Path::new("l.yml"))
            .unwrap()
            .taxonomies
            .remove("t")
            .unwrap()
    }

    fn sug(labels: &[(&str, f64)], abstained: bool, dropped: &[&str]) -> Suggestion {
        Suggestion {
            labels: labels
                .iter()
                .map(|(n, c)| LabelScore { name: (*n).into(), confidence: Some(*c) })
                .collect(),
            abstained,
            dropped: dropped.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn distributions_quantiles_and_rates() {
        let run = Run { tokens_in: 300, tokens_out: 100, cost_usd: 0.04, ..Default::default() };
        let s = vec![
            sug(&[("bug", 0.9), ("hard", 0.6)], false, &[]),
            sug(&[("docs", 0.8)], false, &["wontfix"]),
            sug(&[("bug", 0.5)], false, &["wontfix"]),
            sug(&[], true, &[]),
        ];
        let log = vec![
            serde_json::json!({"arbitration": {"kept": "first", "second": {"labels": []}}}),
            serde_json::json!({"arbitration": {"kept": "first", "second": null}}),
            serde_json::json!({}),
        ];
        let st = run_stats(&run, &tax(), &s, &log);
        assert_eq!((st.items, st.abstained, st.abstention_rate), (4, 1, Some(0.25)));
        assert_eq!(st.dimensions["kind"].labels["bug"], 2);
        assert_eq!(st.dimensions["kind"].answered, 3);
        assert_eq!(st.dimensions["level"].answered, 1);
        assert_eq!(st.unmapped_labels["wontfix"], 2);
        assert_eq!((st.arbitrated, st.arbitration_rate), (1, Some(0.25)));
        assert_eq!(st.tokens_per_item, Some(100.0));
        let top = st.top_confidence.unwrap();
        assert_eq!((top.p10, top.p50, top.p90), (0.5, 0.8, 0.9));
    }
}

//! Scores label suggestions against gold labels: P/R/F1, exact match, confusion, calibration.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::taxonomy::{Select, Taxonomy};

/// Row and column of a confusion matrix for "no label in this dimension".
pub const NONE_LABEL: &str = "(none)";

/// Equal-width confidence bins for calibration.
pub const CALIBRATION_BINS: usize = 15;

/// The coverage curve's thresholds are 0, 1/STEPS, ..., 1.
pub const COVERAGE_STEPS: u32 = 20;

/// One item to score: its gold labels and the suggested labels with their confidences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalItem {
    pub gold: Vec<String>,
    pub predicted: Vec<(String, Option<f64>)>,
}

/// A single-select dimension: at most one of its labels applies to an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub labels: Vec<String>,
}

/// The single-select dimensions of a taxonomy: the ones that get a confusion matrix.
pub fn single_select(tax: &Taxonomy) -> Vec<Dimension> {
    let singles = tax.dimensions.iter().filter(|d| d.select == Select::One);
    singles
        .map(|d| Dimension {
            name: d.name.clone(),
            labels: d.labels.iter().map(|l| l.name.clone()).collect(),
        })
        .collect()
}

/// Precision, recall and F1; `None` where the denominator is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// Scores of one label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelScores {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Items whose gold has this label.
    pub support: u64,
    /// Confidence cut-off that maximises this label's F1; `None` if no cut-off finds a hit.
    pub best_threshold: Option<f64>,
}

/// Gold (rows) against predicted (columns) for one dimension, [`NONE_LABEL`] last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub matrix: Vec<Vec<u64>>,
}

/// One bar of the reliability diagram: predictions with confidence in [lower, upper).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    /// Exclusive, except that the last bin also holds confidence 1.0.
    pub upper: f64,
    pub count: u64,
    pub mean_confidence: Option<f64>,
    pub accuracy: Option<f64>,
}

/// Precision and coverage when only predictions with confidence ≥ `threshold` are kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoveragePoint {
    pub threshold: f64,
    /// Share of kept predictions that are in gold.
    pub precision: Option<f64>,
    /// Share of items that keep at least one predicted label.
    pub coverage: Option<f64>,
    /// Predictions kept.
    pub kept: u64,
}

/// Everything [`evaluate`] measures; `None` (JSON null) where undefined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub items: usize,
    pub micro: Scores,
    #[serde(rename = "macro")]
    pub macro_avg: Scores,
    pub exact_match: Option<f64>,
    pub ece: Option<f64>,
    pub labels: BTreeMap<String, LabelScores>,
    pub confusion: BTreeMap<String, Confusion>,
    pub reliability: Vec<ReliabilityBin>,
    pub coverage: Vec<CoveragePoint>,
}

/// An item reduced to label indices into the universe.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scored {
    /// Sorted, deduplicated.
    gold: Vec<usize>,
    /// Sorted by label, one entry per label, confidence `None` unless in [0, 1].
    predicted: Vec<(usize, Option<f64>)>,
}

impl Scored {
    fn is_gold(&self, label: usize) -> bool {
        self.gold.binary_search(&label).is_ok()
    }

    fn predicted_labels(&self) -> impl Iterator<Item = usize> + '_ {
        self.predicted.iter().map(|&(label, _)| label)
    }
}

/// Label name → index in the universe (the first occurrence if a name repeats).
fn label_index(universe: &[String]) -> HashMap<&str, usize> {
    let mut index = HashMap::new();
    for (i, label) in universe.iter().enumerate() {
        index.entry(label.as_str()).or_insert(i);
    }
    index
}

/// Drops labels outside the universe (gold and predicted alike, so both are scored on the same
/// labels), merges repeated predictions keeping the highest confidence, and treats a confidence
/// outside [0, 1] (or NaN) as missing rather than guessing what scale it was on.
fn normalise(item: &EvalItem, index: &HashMap<&str, usize>) -> Scored {
    let mut gold: Vec<usize> =
        item.gold.iter().filter_map(|l| index.get(l.as_str()).copied()).collect();
    gold.sort_unstable();
    gold.dedup();
    let mut best: BTreeMap<usize, Option<f64>> = BTreeMap::new();
    for (label, confidence) in &item.predicted {
        let Some(&i) = index.get(label.as_str()) else { continue };
        let confidence = confidence.filter(|c| (0.0..=1.0).contains(c));
        let slot = best.entry(i).or_insert(confidence);
        if rank(confidence) > rank(*slot) {
            *slot = confidence;
        }
    }
    Scored { gold, predicted: best.into_iter().collect() }
}

/// Orders confidences with a missing one below every real one.
fn rank(confidence: Option<f64>) -> f64 {
    confidence.unwrap_or(-1.0)
}

/// For thresholds, a prediction without a confidence counts as confidence 0: it survives only
/// the threshold 0, where every prediction is kept.
fn threshold_confidence(confidence: Option<f64>) -> f64 {
    confidence.unwrap_or(0.0)
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// True positives, false positives and false negatives of one label or of all labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    hits: u64,
    false_alarms: u64,
    misses: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.hits += other.hits;
        self.false_alarms += other.false_alarms;
        self.misses += other.misses;
    }

    fn precision(self) -> Option<f64> {
        ratio(self.hits, self.hits + self.false_alarms)
    }

    fn recall(self) -> Option<f64> {
        ratio(self.hits, self.hits + self.misses)
    }

    /// 2tp / (2tp + fp + fn): equal to the harmonic mean of P and R when both exist, and 0
    /// (not undefined) when the label was only ever predicted wrongly or only ever missed.
    fn f1(self) -> Option<f64> {
        ratio(2 * self.hits, 2 * self.hits + self.false_alarms + self.misses)
    }

    fn scores(self) -> Scores {
        Scores { precision: self.precision(), recall: self.recall(), f1: self.f1() }
    }

    fn is_empty(self) -> bool {
        self.hits + self.false_alarms + self.misses == 0
    }
}

fn tallies(items: &[Scored], label_count: usize) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); label_count];
    for item in items {
        for label in item.predicted_labels() {
            if item.is_gold(label) {
                tallies[label].hits += 1;
            } else {
                tallies[label].false_alarms += 1;
            }
        }
        for &label in &item.gold {
            if !item.predicted.iter().any(|&(p, _)| p == label) {
                tallies[label].misses += 1;
            }
        }
    }
    tallies
}

fn micro(tallies: &[Tally]) -> Scores {
    let mut total = Tally::default();
    tallies.iter().for_each(|&t| total.add(t));
    total.scores()
}

/// Unweighted mean over labels that occur in gold or in predictions. Within that set a label
/// never predicted has precision 0 and a label never in gold has recall 0 (as scikit-learn's
/// default), so that a model cannot raise its macro precision by staying silent on a label.
fn macro_average(tallies: &[Tally]) -> Scores {
    let active: Vec<Tally> = tallies.iter().copied().filter(|t| !t.is_empty()).collect();
    let mean = |f: fn(Tally) -> Option<f64>| {
        let n = active.len() as f64;
        (!active.is_empty()).then(|| active.iter().map(|&t| f(t).unwrap_or(0.0)).sum::<f64>() / n)
    };
    Scores { precision: mean(Tally::precision), recall: mean(Tally::recall), f1: mean(Tally::f1) }
}

/// Share of all items whose predicted set equals the gold set. An empty prediction (or one that
/// names no label of the universe) is always a miss, even against an empty gold set.
fn exact_match(items: &[Scored]) -> Option<f64> {
    let hits = items
        .iter()
        .filter(|item| {
            !item.predicted.is_empty() && item.predicted_labels().eq(item.gold.iter().copied())
        })
        .count();
    ratio(hits as u64, items.len() as u64)
}

/// Confusion matrix of one single-select dimension.
///
/// Gold: the dimension's label in gold (if gold has several, the first in the dimension's
/// order). Predicted: the dimension's label with the highest confidence, ties and missing
/// confidences going to the first in the dimension's order.
fn confusion(items: &[Scored], dimension: &[Option<usize>], names: &[String]) -> Confusion {
    let none = dimension.len();
    let mut matrix = vec![vec![0u64; none + 1]; none + 1];
    for item in items {
        let gold = dimension.iter().position(|&l| l.is_some_and(|l| item.is_gold(l)));
        let predicted = top_prediction(item, dimension);
        matrix[gold.unwrap_or(none)][predicted.unwrap_or(none)] += 1;
    }
    let mut labels = names.to_vec();
    labels.push(NONE_LABEL.to_owned());
    Confusion { labels, matrix }
}

/// Position within `dimension` of the item's most confident prediction in that dimension.
fn top_prediction(item: &Scored, dimension: &[Option<usize>]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (position, label) in dimension.iter().enumerate() {
        let Some(label) = label else { continue };
        let Some(&(_, confidence)) = item.predicted.iter().find(|&&(p, _)| p == *label) else {
            continue;
        };
        if best.is_none_or(|(_, top)| rank(confidence) > top) {
            best = Some((position, rank(confidence)));
        }
    }
    best.map(|(position, _)| position)
}

/// Each prediction that carries a confidence: (confidence, whether it is in gold).
fn calibration_events(items: &[Scored]) -> Vec<(f64, bool)> {
    let mut events = Vec::new();
    for item in items {
        for &(label, confidence) in &item.predicted {
            if let Some(c) = confidence {
                events.push((c, item.is_gold(label)));
            }
        }
    }
    events
}

/// Reliability diagram over [`CALIBRATION_BINS`] equal-width bins of confidence.
fn reliability(events: &[(f64, bool)]) -> Vec<ReliabilityBin> {
    let bins = CALIBRATION_BINS;
    let mut sums = vec![(0u64, 0.0f64, 0u64); bins];
    for &(confidence, correct) in events {
        // Confidence 1.0 would open a 16th bin; it belongs to the last one.
        let bin = ((confidence * bins as f64) as usize).min(bins - 1);
        sums[bin].0 += 1;
        sums[bin].1 += confidence;
        sums[bin].2 += u64::from(correct);
    }
    sums.iter()
        .enumerate()
        .map(|(i, &(count, confidence, correct))| ReliabilityBin {
            lower: i as f64 / bins as f64,
            upper: (i + 1) as f64 / bins as f64,
            count,
            mean_confidence: (count > 0).then(|| confidence / count as f64),
            accuracy: ratio(correct, count),
        })
        .collect()
}

/// Expected calibration error: Σ over bins of |accuracy − mean confidence| · n_bin / N.
fn expected_calibration_error(bins: &[ReliabilityBin]) -> Option<f64> {
    let total: u64 = bins.iter().map(|b| b.count).sum();
    let gap = |b: &ReliabilityBin| match (b.accuracy, b.mean_confidence) {
        (Some(accuracy), Some(confidence)) => (accuracy - confidence).abs() * b.count as f64,
        _ => 0.0,
    };
    (total > 0).then(|| bins.iter().map(gap).sum::<f64>() / total as f64)
}

/// Precision of kept predictions and item coverage at thresholds 0.00, 0.05, ..., 1.00.
fn coverage_curve(items: &[Scored]) -> Vec<CoveragePoint> {
    (0..=COVERAGE_STEPS)
        .map(|step| {
            // Dividing (rather than adding 0.05 repeatedly) gives exactly the decimal thresholds.
            let threshold = f64::from(step) / f64::from(COVERAGE_STEPS);
            let (mut kept, mut correct, mut covered) = (0u64, 0u64, 0u64);
            for item in items {
                let before = kept;
                for &(label, confidence) in &item.predicted {
                    if threshold_confidence(confidence) >= threshold {
                        kept += 1;
                        correct += u64::from(item.is_gold(label));
                    }
                }
                covered += u64::from(kept > before);
            }
            CoveragePoint {
                threshold,
                precision: ratio(correct, kept),
                coverage: ratio(covered, items.len() as u64),
                kept,
            }
        })
        .collect()
}

/// The confidence cut-off that maximises F1 for one label, scanning its distinct confidences.
///
/// Ties go to the higher cut-off (fewer suggestions for the same F1). `None` when no cut-off
/// keeps a correct prediction, since then every cut-off scores F1 = 0.
fn best_threshold(items: &[Scored], label: usize, support: u64) -> Option<f64> {
    let mut predictions: Vec<(f64, bool)> = items
        .iter()
        .filter_map(|item| {
            let &(_, confidence) = item.predicted.iter().find(|&&(p, _)| p == label)?;
            Some((threshold_confidence(confidence), item.is_gold(label)))
        })
        .collect();
    predictions.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let (mut hits, mut kept) = (0u64, 0u64);
    let mut best: Option<(f64, f64)> = None;
    for (i, &(confidence, correct)) in predictions.iter().enumerate() {
        hits += u64::from(correct);
        kept += 1;
        // Score a cut-off only once all predictions at this confidence are kept.
        if predictions.get(i + 1).is_some_and(|next| next.0 == confidence) {
            continue;
        }
        let f1 = 2.0 * hits as f64 / (kept + support) as f64;
        if hits > 0 && best.is_none_or(|(_, top)| f1 > top) {
            best = Some((confidence, f1));
        }
    }
    best.map(|(threshold, _)| threshold)
}

fn label_scores(items: &[Scored], tallies: &[Tally]) -> Vec<LabelScores> {
    tallies
        .iter()
        .enumerate()
        .map(|(label, &t)| {
            let support = t.hits + t.misses;
            LabelScores {
                precision: t.precision(),
                recall: t.recall(),
                f1: t.f1(),
                support,
                best_threshold: best_threshold(items, label, support),
            }
        })
        .collect()
}

/// Scores `items` over the label `universe`; `dimensions` get confusion matrices.
///
/// Every item counts (none is skipped for lacking a prediction); predicted and gold labels
/// outside the universe are dropped first. Precision, recall, F1 and exact match use every
/// prediction whatever its confidence. Calibration uses only predictions with a confidence in
/// [0, 1]; for the coverage curve and best thresholds a prediction without one counts as
/// confidence 0.
pub fn evaluate(items: &[EvalItem], universe: &[String], dimensions: &[Dimension]) -> EvalReport {
    let index = label_index(universe);
    let scored: Vec<Scored> = items.iter().map(|item| normalise(item, &index)).collect();
    let tallies = tallies(&scored, universe.len());
    let per_label = label_scores(&scored, &tallies);
    let labels = index.iter().map(|(&name, &i)| (name.to_owned(), per_label[i])).collect();
    let confusion = dimensions
        .iter()
        .map(|d| {
            let positions: Vec<Option<usize>> =
                d.labels.iter().map(|l| index.get(l.as_str()).copied()).collect();
            (d.name.clone(), confusion(&scored, &positions, &d.labels))
        })
        .collect();
    let reliability = reliability(&calibration_events(&scored));
    EvalReport {
        items: items.len(),
        micro: micro(&tallies),
        macro_avg: macro_average(&tallies),
        exact_match: exact_match(&scored),
        ece: expected_calibration_error(&reliability),
        labels,
        confusion,
        reliability,
        coverage: coverage_curve(&scored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|l| l.to_string()).collect()
    }

    fn item(gold: &[&str], predicted: &[(&str, Option<f64>)]) -> EvalItem {
        EvalItem {
            gold: strings(gold),
            predicted: predicted.iter().map(|&(l, c)| (l.to_string(), c)).collect(),
        }
    }

    fn near(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 1e-9)
    }

    /// Three items over {bug, ui, docs}:
    /// 1. gold {bug, ui}, predicted {bug .9, docs .6}: bug TP, docs FP, ui FN
    /// 2. gold {ui}, predicted {ui .8}: exact
    /// 3. gold {docs}, predicted {} : docs FN, counts as a miss
    fn small_case() -> (Vec<EvalItem>, Vec<String>) {
        let items = vec![
            item(&["bug", "ui"], &[("bug", Some(0.9)), ("docs", Some(0.6))]),
            item(&["ui"], &[("ui", Some(0.8))]),
            item(&["docs"], &[]),
        ];
        (items, strings(&["bug", "ui", "docs"]))
    }

    #[test]
    fn per_label_micro_macro_and_exact() {
        let (items, universe) = small_case();
        let report = evaluate(&items, &universe, &[]);
        assert_eq!(report.items, 3);
        let bug = report.labels["bug"];
        assert_eq!(
            (bug.precision, bug.recall, bug.f1, bug.support),
            (Some(1.0), Some(1.0), Some(1.0), 1)
        );
        let ui = report.labels["ui"];
        assert_eq!((ui.precision, ui.recall, ui.support), (Some(1.0), Some(0.5), 2));
        assert!(near(ui.f1, 2.0 / 3.0));
        let docs = report.labels["docs"];
        assert_eq!(
            (docs.precision, docs.recall, docs.f1, docs.support),
            (Some(0.0), Some(0.0), Some(0.0), 1)
        );
        // Micro: TP 2, FP 1, FN 2.
        assert!(near(report.micro.precision, 2.0 / 3.0));
        assert!(near(report.micro.recall, 0.5));
        assert!(near(report.micro.f1, 4.0 / 7.0));
        // Macro over bug, ui, docs.
        assert!(near(report.macro_avg.precision, 2.0 / 3.0));
        assert!(near(report.macro_avg.recall, 0.5));
        assert!(near(report.macro_avg.f1, (1.0 + 2.0 / 3.0) / 3.0));
        assert!(near(report.exact_match, 1.0 / 3.0));
    }

    #[test]
    fn labels_outside_universe_are_dropped_and_empty_predictions_miss() {
        let items = vec![
            item(&["bug"], &[("nonsense", Some(0.99))]),
            item(&["bug"], &[("bug", None), ("bug", Some(0.4)), ("other", None)]),
            item(&[], &[]),
        ];
        let report = evaluate(&items, &strings(&["bug", "ui"]), &[]);
        assert_eq!(report.items, 3);
        assert!(near(report.exact_match, 1.0 / 3.0));
        let bug = report.labels["bug"];
        assert_eq!((bug.precision, bug.recall, bug.support), (Some(1.0), Some(0.5), 2));
        // The repeated "bug" keeps its real confidence: one calibration event at 0.4.
        assert_eq!(report.reliability.iter().map(|b| b.count).sum::<u64>(), 1);
        let ui = report.labels["ui"];
        assert_eq!((ui.precision, ui.recall, ui.f1, ui.support), (None, None, None, 0));
        // ui has no support and no predictions, so macro is over bug alone.
        assert_eq!(report.macro_avg.precision, Some(1.0));
        assert_eq!(report.macro_avg.recall, Some(0.5));
    }

    #[test]
    fn no_predictions_means_undefined_precision() {
        let items = vec![item(&["bug"], &[])];
        let report = evaluate(&items, &strings(&["bug"]), &[]);
        assert_eq!(report.micro.precision, None);
        assert_eq!(report.micro.recall, Some(0.0));
        assert_eq!(report.labels["bug"].precision, None);
        assert_eq!(report.macro_avg.precision, Some(0.0));
        assert_eq!(report.ece, None);
        assert_eq!(report.exact_match, Some(0.0));
        let empty = evaluate(&[], &strings(&["bug"]), &[]);
        assert_eq!((empty.exact_match, empty.micro.f1, empty.macro_avg.f1), (None, None, None));
        assert_eq!(empty.coverage[0].coverage, None);
    }

    #[test]
    fn confusion_uses_top_confidence_within_dimension() {
        let universe = strings(&["low", "high", "bug"]);
        let dimension = Dimension { name: "priority".into(), labels: strings(&["low", "high"]) };
        let items = vec![
            item(&["low", "bug"], &[("high", Some(0.3)), ("low", Some(0.7)), ("bug", Some(0.99))]),
            item(&["low"], &[("high", Some(0.9)), ("low", Some(0.2))]),
            item(&["high"], &[("bug", Some(0.9))]),
            item(&["bug"], &[("low", None)]),
        ];
        let report = evaluate(&items, &universe, &[dimension]);
        let confusion = &report.confusion["priority"];
        assert_eq!(confusion.labels, ["low", "high", NONE_LABEL]);
        // Rows gold, columns predicted: low→low, low→high, high→(none), (none)→low.
        assert_eq!(confusion.matrix, vec![vec![1, 1, 0], vec![0, 0, 1], vec![1, 0, 0]]);
    }

    #[test]
    fn calibration_bins_and_ece() {
        // Confidence 0.9: 2 right, 1 wrong (acc 2/3); 0.1: 1 wrong; 1.0: right (last bin).
        let items = vec![
            item(&["a"], &[("a", Some(0.9)), ("b", Some(0.1))]),
            item(&["a"], &[("a", Some(0.9))]),
            item(&["b"], &[("a", Some(0.9)), ("b", Some(1.0)), ("c", None)]),
        ];
        let report = evaluate(&items, &strings(&["a", "b", "c"]), &[]);
        assert_eq!(report.reliability.len(), CALIBRATION_BINS);
        let first = report.reliability[1];
        assert!(near(Some(first.lower), 1.0 / 15.0) && near(Some(first.upper), 2.0 / 15.0));
        assert_eq!((first.count, first.accuracy), (1, Some(0.0)));
        let high = report.reliability[13];
        assert_eq!(high.count, 3);
        assert!(near(high.mean_confidence, 0.9) && near(high.accuracy, 2.0 / 3.0));
        let last = report.reliability[14];
        assert_eq!((last.count, last.accuracy, last.mean_confidence), (1, Some(1.0), Some(1.0)));
        assert_eq!(report.reliability[0].accuracy, None);
        // ECE = (|0 - 0.1|·1 + |2/3 - 0.9|·3 + 0·1) / 5
        let expected = (0.1 + (0.9 - 2.0 / 3.0) * 3.0) / 5.0;
        assert!(near(report.ece, expected));
    }

    #[test]
    fn coverage_curve_by_hand() {
        let (items, universe) = small_case();
        let report = evaluate(&items, &universe, &[]);
        assert_eq!(report.coverage.len(), 21);
        let at = |t: f64| report.coverage.iter().find(|p| p.threshold == t).copied().unwrap();
        // 0.0 keeps all 3 predictions (2 right), 2 of 3 items covered.
        assert_eq!((at(0.0).kept, at(0.0).precision), (3, Some(2.0 / 3.0)));
        assert!(near(at(0.0).coverage, 2.0 / 3.0));
        // 0.6 is kept at exactly 0.6; 0.65 keeps bug .9 and ui .8.
        assert_eq!(at(0.6).kept, 3);
        assert_eq!((at(0.65).kept, at(0.65).precision), (2, Some(1.0)));
        // 0.85 keeps only bug .9; 0.95 keeps nothing.
        assert!(near(at(0.85).coverage, 1.0 / 3.0));
        assert_eq!((at(0.95).kept, at(0.95).precision), (0, None));
        assert_eq!(at(0.95).coverage, Some(0.0));
        assert_eq!(at(1.0).threshold, 1.0);
    }

    #[test]
    fn best_threshold_scans_distinct_confidences() {
        // Label "a", support 3. Predictions: .9 right, .8 wrong, .8 right, .5 right, .3 wrong.
        // Cut-offs: .9 → F1 2/(1+3)=0.5; .8 → 4/(3+3)=0.667; .5 → 6/(4+3)=0.857; .3 → 6/8=0.75.
        let items = vec![
            item(&["a"], &[("a", Some(0.9))]),
            item(&[], &[("a", Some(0.8))]),
            item(&["a"], &[("a", Some(0.8))]),
            item(&["a"], &[("a", Some(0.5))]),
            item(&[], &[("a", Some(0.3))]),
            item(&[], &[("b", Some(0.7))]),
        ];
        let report = evaluate(&items, &strings(&["a", "b"]), &[]);
        assert_eq!(report.labels["a"].best_threshold, Some(0.5));
        // "b" never finds a hit.
        assert_eq!(report.labels["b"].best_threshold, None);
    }

    #[test]
    fn confidence_off_the_unit_scale_counts_as_missing() {
        // 85.0 looks like a percentage: not guessed at, so no calibration event, and it is
        // kept only at threshold 0. It still counts as a prediction for precision and recall.
        let items =
            vec![item(&["a"], &[("a", Some(85.0))]), item(&["a"], &[("a", Some(f64::NAN))])];
        let report = evaluate(&items, &strings(&["a"]), &[]);
        assert_eq!(report.ece, None);
        assert_eq!(report.reliability.iter().map(|b| b.count).sum::<u64>(), 0);
        assert_eq!((report.coverage[0].kept, report.coverage[1].kept), (2, 0));
        assert_eq!(report.micro.precision, Some(1.0));
        assert_eq!(report.labels["a"].best_threshold, Some(0.0));
    }

    #[test]
    fn json_shape() {
        let (items, universe) = small_case();
        let dimension = Dimension { name: "kind".into(), labels: strings(&["bug", "docs"]) };
        let report = evaluate(&items, &universe, &[dimension]);
        let value = serde_json::to_value(&report).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut expected = vec![
            "items",
            "micro",
            "macro",
            "exact_match",
            "ece",
            "labels",
            "confusion",
            "reliability",
            "coverage",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["labels"]["docs"]["support"], 1);
        assert!(value["labels"]["docs"]["best_threshold"].is_null());
        assert_eq!(value["confusion"]["kind"]["labels"][2], NONE_LABEL);
        assert!(value["reliability"][0]["accuracy"].is_null());
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.starts_with(r#"{"items":3,"micro":{"precision":"#), "{text}");
        assert!(!text.contains("NaN"));
    }
}

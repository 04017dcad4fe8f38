//! Statistics of two runs over the same items: McNemar's test on per-item correctness, the
//! micro-F1 difference with a paired bootstrap interval, and confidence histograms.

use rand::{Rng, SeedableRng};
use serde::Serialize;

/// McNemar's test on the items exactly one run got right.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McNemar {
    /// Items the first run got right and the second wrong.
    pub only_a: u64,
    /// Items the second run got right and the first wrong.
    pub only_b: u64,
    /// (b - c)² / (b + c), without continuity correction (Agresti's form).
    pub statistic: f64,
    pub p_value: f64,
    /// The p-value is the exact two-sided binomial one (fewer than 25 discordant items),
    /// not the chi-square approximation.
    pub exact: bool,
}

/// Below this many discordant items the chi-square approximation is poor: the exact
/// binomial test is used.
const EXACT_BELOW: u64 = 25;

/// McNemar's test; None when no item was decided differently (nothing to test).
pub fn mcnemar(only_a: u64, only_b: u64) -> Option<McNemar> {
    let n = only_a + only_b;
    if n == 0 {
        return None;
    }
    let d = only_a as f64 - only_b as f64;
    let statistic = d * d / n as f64;
    let exact = n < EXACT_BELOW;
    let p_value = if exact {
        binomial_two_sided(only_a.min(only_b), n)
    } else {
        crate::metrics::sampling::chi_square_p_value(statistic, 1)?
    };
    Some(McNemar { only_a, only_b, statistic, p_value, exact })
}

/// Two-sided p of k or fewer successes in n fair coin flips: 2·P(X ≤ k), at most 1.
fn binomial_two_sided(k: u64, n: u64) -> f64 {
    let mut term = 0.5f64.powi(n as i32); // C(n, 0) / 2^n
    let mut tail = term;
    for i in 1..=k {
        term *= (n - i + 1) as f64 / i as f64;
        tail += term;
    }
    (2.0 * tail).min(1.0)
}

/// One item scored by both runs against gold.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedItem {
    pub gold: Vec<String>,
    pub a: Vec<String>,
    pub b: Vec<String>,
}

/// Micro-F1 of both runs and its difference (B − A), with a paired bootstrap 95% interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct F1Difference {
    pub items: usize,
    pub f1_a: f64,
    pub f1_b: f64,
    pub difference: f64,
    /// Percentile interval of the difference over resampled item sets (None below 2 items).
    pub ci95: Option<[f64; 2]>,
    pub draws: usize,
}

/// True positives, false positives and false negatives of one item, for each run.
/// Label lists are taken as sets (a repeated label counts once).
fn tallies(item: &PairedItem) -> [[u64; 3]; 2] {
    use std::collections::BTreeSet;
    let gold: BTreeSet<&String> = item.gold.iter().collect();
    let count = |pred: &[String]| {
        let pred: BTreeSet<&String> = pred.iter().collect();
        let tp = pred.intersection(&gold).count() as u64;
        [tp, pred.len() as u64 - tp, gold.len() as u64 - tp]
    };
    [count(&item.a), count(&item.b)]
}

fn f1(t: [u64; 3]) -> f64 {
    let denom = 2 * t[0] + t[1] + t[2];
    if denom == 0 { 1.0 } else { 2.0 * t[0] as f64 / denom as f64 }
}

fn add(sum: &mut [[u64; 3]; 2], t: &[[u64; 3]; 2]) {
    for r in 0..2 {
        for k in 0..3 {
            sum[r][k] += t[r][k];
        }
    }
}

/// The micro-F1 difference between two runs on the same gold items, with a bootstrap over
/// items (both runs resampled together, so the pairing is kept); seeded, so reproducible.
pub fn f1_difference(items: &[PairedItem], draws: usize, seed: u64) -> Option<F1Difference> {
    if items.is_empty() {
        return None;
    }
    let per_item: Vec<[[u64; 3]; 2]> = items.iter().map(tallies).collect();
    let mut total = [[0u64; 3]; 2];
    per_item.iter().for_each(|t| add(&mut total, t));
    let (f1_a, f1_b) = (f1(total[0]), f1(total[1]));
    let ci95 = (items.len() >= 2 && draws > 0).then(|| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut diffs: Vec<f64> = (0..draws)
            .map(|_| {
                let mut sum = [[0u64; 3]; 2];
                for _ in 0..per_item.len() {
                    add(&mut sum, &per_item[rng.random_range(0..per_item.len())]);
                }
                f1(sum[1]) - f1(sum[0])
            })
            .collect();
        diffs.sort_by(f64::total_cmp);
        let at = |p: f64| diffs[((p * draws as f64) as usize).min(draws - 1)];
        [at(0.025), at(0.975)]
    });
    Some(F1Difference { items: items.len(), f1_a, f1_b, difference: f1_b - f1_a, ci95, draws })
}

/// Counts of confidences in `bins` equal bins over [0, 1] (1.0 goes in the last).
pub fn histogram(confidences: &[f64], bins: usize) -> Vec<usize> {
    let mut h = vec![0; bins.max(1)];
    for c in confidences.iter().filter(|c| c.is_finite()) {
        let i = ((c.clamp(0.0, 1.0) * h.len() as f64) as usize).min(h.len() - 1);
        h[i] += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_agresti_and_an_exact_count() {
        // Agresti, Categorical Data Analysis (2002), table 10.1: presidential approval in
        // two surveys, 150 approve-then-disapprove and 86 the other way: z² = 17.36.
        let m = mcnemar(150, 86).unwrap();
        assert!((m.statistic - 17.356).abs() < 1e-3, "{}", m.statistic);
        assert!(!m.exact && m.p_value < 0.001, "{}", m.p_value);
        // 1 against 5: 2·(C(6,0) + C(6,1)) / 2^6 = 14/64.
        let m = mcnemar(1, 5).unwrap();
        assert!(m.exact);
        assert!((m.p_value - 14.0 / 64.0).abs() < 1e-12, "{}", m.p_value);
        // Symmetric, capped at 1, and nothing to test without discordant items.
        assert_eq!(mcnemar(5, 1).unwrap().p_value, m.p_value);
        assert_eq!(mcnemar(3, 3).unwrap().p_value, 1.0);
        assert!(mcnemar(0, 0).is_none());
    }

    fn item(gold: &[&str], a: &[&str], b: &[&str]) -> PairedItem {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PairedItem { gold: v(gold), a: v(a), b: v(b) }
    }

    #[test]
    fn f1_difference_and_its_interval() {
        // A: tp 1, fp 1, fn 1 -> 0.5; B: tp 2, fp 0, fn 0 -> 1.0.
        let items = vec![item(&["bug"], &["bug", "ux"], &["bug"]), item(&["docs"], &[], &["docs"])];
        let d = f1_difference(&items, 500, 7).unwrap();
        assert_eq!((d.f1_a, d.f1_b, d.difference), (0.5, 1.0, 0.5));
        let [lo, hi] = d.ci95.unwrap();
        assert!(lo <= d.difference && d.difference <= hi && lo >= 0.0 && hi <= 1.0, "{lo} {hi}");
        assert_eq!(f1_difference(&items, 500, 7), Some(d), "seeded: the same interval");
        // Identical runs: a difference of exactly zero, in every resample.
        let same = vec![item(&["a"], &["a"], &["a"]), item(&["b"], &["c"], &["c"])];
        assert_eq!(f1_difference(&same, 200, 1).unwrap().ci95, Some([0.0, 0.0]));
        assert!(f1_difference(&[], 10, 1).is_none());
    }

    #[test]
    fn histogram_bins_the_unit_interval() {
        assert_eq!(histogram(&[0.0, 0.05, 0.5, 0.99, 1.0, f64::NAN, 1.7], 4), [2, 0, 1, 3]);
    }
}

//! Several runs compared at once (seed 001's `compare_models`): per dimension, how often each
//! pair of runs gave the same labels on the items both answered, and, when one run is the
//! reference (a strong model's run used as gold), each run's accuracy against it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::model::{Run, Suggestion};
use crate::taxonomy::Taxonomy;

/// One run's answers, by item.
pub struct RunAnswers {
    pub run: Run,
    pub by_item: HashMap<String, Suggestion>,
}

/// The comparison of N runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Matrix {
    /// Run ids, in the order given (rows and columns of every matrix).
    pub runs: Vec<String>,
    pub names: Vec<Option<String>>,
    /// Items answered by every run.
    pub common_items: usize,
    /// Per dimension: share of the common items on which runs i and j chose the same labels.
    pub agreement: BTreeMap<String, Vec<Vec<Option<f64>>>>,
    /// With a reference: per run, per dimension, exact-match accuracy against it, and micro F1
    /// over all labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub accuracy: BTreeMap<String, RunAccuracy>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunAccuracy {
    pub dimensions: BTreeMap<String, Option<f64>>,
    pub micro_f1: Option<f64>,
}

/// The labels of one dimension in a suggestion.
fn dim_labels(s: &Suggestion, tax: &Taxonomy, dim: &str) -> BTreeSet<String> {
    s.labels
        .iter()
        .filter(|l| tax.dimension_of(&l.name).is_some_and(|d| d.name == dim))
        .map(|l| l.name.clone())
        .collect()
}

/// Compare `runs`; `reference` is an index into them.
pub fn compare(runs: &[RunAnswers], tax: &Taxonomy, reference: Option<usize>) -> Matrix {
    let common: Vec<&String> = match runs.first() {
        Some(first) => {
            let mut keys: Vec<&String> = first
                .by_item
                .keys()
                .filter(|k| runs.iter().all(|r| r.by_item.contains_key(*k)))
                .collect();
            keys.sort();
            keys
        }
        None => Vec::new(),
    };
    let n = runs.len();
    let mut m = Matrix {
        runs: runs.iter().map(|r| r.run.id.clone()).collect(),
        names: runs.iter().map(|r| r.run.name.clone()).collect(),
        common_items: common.len(),
        agreement: BTreeMap::new(),
        reference: reference.map(|i| runs[i].run.id.clone()),
        accuracy: BTreeMap::new(),
    };
    let share = |k: usize| (!common.is_empty()).then(|| k as f64 / common.len() as f64);
    for d in &tax.dimensions {
        let mut grid = vec![vec![None; n]; n];
        for i in 0..n {
            for j in 0..n {
                let same = common
                    .iter()
                    .filter(|k| {
                        dim_labels(&runs[i].by_item[**k], tax, &d.name)
                            == dim_labels(&runs[j].by_item[**k], tax, &d.name)
                    })
                    .count();
                grid[i][j] = share(same);
            }
        }
        m.agreement.insert(d.name.clone(), grid);
    }
    if let Some(r) = reference {
        for run in runs.iter().enumerate().filter(|(i, _)| *i != r).map(|(_, run)| run) {
            m.accuracy.insert(run.run.id.clone(), accuracy(&runs[r], run, tax, &common));
        }
    }
    m
}

/// A run against the reference on the common items.
fn accuracy(
    reference: &RunAnswers,
    run: &RunAnswers,
    tax: &Taxonomy,
    common: &[&String],
) -> RunAccuracy {
    let mut a = RunAccuracy::default();
    for d in &tax.dimensions {
        let right = common
            .iter()
            .filter(|k| {
                dim_labels(&reference.by_item[**k], tax, &d.name)
                    == dim_labels(&run.by_item[**k], tax, &d.name)
            })
            .count();
        let acc = (!common.is_empty()).then(|| right as f64 / common.len() as f64);
        a.dimensions.insert(d.name.clone(), acc);
    }
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for k in common {
        let gold: BTreeSet<&str> =
            reference.by_item[*k].labels.iter().map(|l| l.name.as_str()).collect();
        let got: BTreeSet<&str> = run.by_item[*k].labels.iter().map(|l| l.name.as_str()).collect();
        tp += got.intersection(&gold).count();
        fp += got.difference(&gold).count();
        fn_ += gold.difference(&got).count();
    }
    let denom = 2 * tp + fp + fn_;
    a.micro_f1 = (denom > 0).then(|| 2.0 * tp as f64 / denom as f64);
    a
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

    fn run(id: &str, answers: &[(&str, &[&str])]) -> RunAnswers {
        RunAnswers {
            run: Run { id: id.into(), ..Default::default() },
            by_item: answers
                .iter()
                .map(|(k, labels)| {
                    let s = Suggestion {
                        item: (*k).into(),
                        labels: labels
                            .iter()
                            .map(|l| LabelScore { name: (*l).into(), confidence: Some(0.9) })
                            .collect(),
                        ..Default::default()
                    };
                    ((*k).to_string(), s)
                })
                .collect(),
        }
    }

    #[test]
    fn pairwise_agreement_per_dimension_and_accuracy_against_a_reference() {
        let a = run("a", &[("1", &["bug", "easy"]), ("2", &["docs", "hard"]), ("3", &["bug"])]);
        let b = run("b", &[("1", &["bug", "hard"]), ("2", &["docs", "hard"]), ("3", &["bug"])]);
        let c = run("c", &[("1", &["docs", "easy"]), ("2", &["docs", "hard"])]);
        let m = compare(&[a, b, c], &tax(), Some(0));
        assert_eq!(m.common_items, 2, "item 3 is not in run c");
        let kind = &m.agreement["kind"];
        assert_eq!(kind[0][0], Some(1.0));
        assert_eq!(kind[0][1], Some(1.0));
        assert_eq!(kind[0][2], Some(0.5));
        assert_eq!(m.agreement["level"][0][1], Some(0.5));
        assert_eq!(m.accuracy["b"].dimensions["level"], Some(0.5));
        assert_eq!(m.accuracy["c"].dimensions["kind"], Some(0.5));
        // b vs a: 3 of 4 labels shared -> tp 3, fp 1, fn 1.
        assert_eq!(m.accuracy["b"].micro_f1, Some(0.75));
        assert!(!m.accuracy.contains_key("a"));
    }
}

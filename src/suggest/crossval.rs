//! K-fold cross-validation of the local model: how well it labels gold items it was not
//! trained on, scored by the same evaluation as `sift eval`.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::local::{Dimension, LocalError, LocalModel, TrainOptions, label_key};
use super::{offline, validate};
use crate::metrics::evaluation::{self, EvalItem, EvalReport};
use crate::taxonomy::Taxonomy;

/// Which of the model's labels count as its answer for a held-out item.
#[derive(Debug, Clone, Copy)]
pub enum Answering<'a> {
    /// Exactly what `sift suggest --provider local` records: the taxonomy's validation (top
    /// label per single-select dimension, `min_confidence`, `max_labels` over all dimensions).
    /// An item where no label passes is an abstention and counts as a miss.
    AsARun(&'a Taxonomy),
    /// The benchmark convention: the top label of every single-select dimension, never an
    /// abstention; multi-select labels at or above 0.5.
    TopLabel,
}

/// What a cross-validation measured.
#[derive(Debug, Clone, Serialize)]
pub struct CrossValidation {
    pub folds: usize,
    pub seed: u64,
    /// Held-out items where the model named no label.
    pub abstained: usize,
    /// Macro-F1 of each held-out fold.
    pub fold_macro_f1: Vec<Option<f64>>,
    /// Mean of the folds' macro-F1 (the usual k-fold figure).
    pub macro_f1: Option<f64>,
    /// Every fold's predictions pooled: ECE, per-label scores, confusion.
    pub pooled: EvalReport,
}

/// Fold of every example, stratified by label set: each set's examples are shuffled and dealt
/// round-robin, continuing where the previous set stopped so fold sizes stay even.
pub fn stratified_folds<L: AsRef<[String]>>(labels: &[L], k: usize, seed: u64) -> Vec<usize> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        groups.entry(label_key(l.as_ref())).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; labels.len()];
    let mut offset = 0;
    for members in groups.values_mut() {
        members.shuffle(&mut rng);
        members.iter().enumerate().for_each(|(j, &i)| fold[i] = (j + offset) % k.max(1));
        offset += members.len();
    }
    fold
}

/// Trains on `k - 1` folds and predicts the held-out one, `k` times.
pub fn cross_validate<T: AsRef<str>, L: AsRef<[String]>>(
    examples: &[(T, L)],
    dims: &[Dimension],
    opts: &TrainOptions,
    answering: Answering,
    (k, seed): (usize, u64),
    progress: Option<&indicatif::ProgressBar>,
) -> Result<CrossValidation, LocalError> {
    if k < 2 || k > examples.len() {
        let n = examples.len();
        let reason =
            format!("cross-validation with {k} folds needs at least {k} gold items, not {n}");
        return Err(LocalError::InvalidOptions(reason));
    }
    let labels: Vec<&[String]> = examples.iter().map(|(_, l)| l.as_ref()).collect();
    let fold = stratified_folds(&labels, k, seed);
    let universe: Vec<String> = dims.iter().flat_map(|d| d.labels.iter().cloned()).collect();
    let singles: Vec<evaluation::Dimension> = dims
        .iter()
        .filter(|d| d.single)
        .map(|d| evaluation::Dimension { name: d.name.clone(), labels: d.labels.clone() })
        .collect();
    let (mut fold_macro_f1, mut pooled) = (Vec::with_capacity(k), Vec::new());
    for f in 0..k {
        let train: Vec<(&str, &[String])> = (0..examples.len())
            .filter(|&i| fold[i] != f)
            .map(|i| (examples[i].0.as_ref(), labels[i]))
            .collect();
        let model = LocalModel::train(&train, dims, opts)?;
        let held = (0..examples.len()).filter(|&i| fold[i] == f);
        let items: Vec<EvalItem> =
            held.map(|i| held_out(&model, examples[i].0.as_ref(), labels[i], answering)).collect();
        fold_macro_f1.push(evaluation::evaluate(&items, &universe, &singles).macro_avg.f1);
        pooled.extend(items);
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    let defined: Vec<f64> = fold_macro_f1.iter().flatten().copied().collect();
    let macro_f1 =
        (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    let abstained = pooled.iter().filter(|i| i.predicted.is_empty()).count();
    let pooled = evaluation::evaluate(&pooled, &universe, &singles);
    Ok(CrossValidation { folds: k, seed, abstained, fold_macro_f1, macro_f1, pooled })
}

/// The model's answer for one held-out item.
fn held_out(model: &LocalModel, text: &str, gold: &[String], answering: Answering) -> EvalItem {
    let predicted = match answering {
        Answering::AsARun(tax) => {
            let valid = validate::finalize(tax, &offline::model_labels(model, text));
            valid.labels.into_iter().map(|l| (l.name, l.confidence)).collect()
        }
        Answering::TopLabel => top_labels(model, text),
    };
    EvalItem { gold: gold.to_vec(), predicted }
}

fn top_labels(model: &LocalModel, text: &str) -> Vec<(String, Option<f64>)> {
    let mut predicted = Vec::new();
    for dim in model.predict_dimensions(text) {
        let mut ranked = dim.labels;
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        if dim.single {
            ranked.truncate(1);
        } else {
            ranked.retain(|(_, p)| *p >= 0.5);
        }
        predicted.extend(ranked.into_iter().map(|(l, p)| (l, Some(p))));
    }
    predicted
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::taxonomy::LabelsFile;

    fn dims() -> Vec<Dimension> {
        let labels = ["bug", "feature", "question"].map(String::from).to_vec();
        vec![Dimension { name: "type".into(), single: true, labels }]
    }

    /// A taxonomy with the same labels, multi-select, abstaining below `min_confidence`.
    fn taxonomy(min_confidence: f64) -> Taxonomy {
        let yml = format!(
            "taxonomies:\n  t:\n    max_labels: 1\n    min_confidence: {min_confidence}\n    \
             dimensions:\n      - name: type\n        select: many\n        \
             labels: [bug, feature, question]\n"
        );
        LabelsFile::parse(&yml, Path::new("labels.yml")).unwrap().get("t").unwrap().clone()
    }

    /// Three kinds of issue text, told apart by their words.
    fn examples(n: usize) -> Vec<(String, Vec<String>)> {
        let kinds = [
            ("bug", "crash when saving, error and stack trace, it fails"),
            ("feature", "please add support for an option, it would be nice"),
            ("question", "how do I configure this? is it possible to"),
        ];
        (0..n)
            .map(|i| {
                let (label, words) = kinds[i % 3];
                (format!("{label} report {i}\n{words} item{i}"), vec![label.to_string()])
            })
            .collect()
    }

    #[test]
    fn folds_are_stratified_even_and_seeded() {
        let labels: Vec<Vec<String>> = examples(90).into_iter().map(|(_, l)| l).collect();
        let folds = stratified_folds(&labels, 5, 7);
        for f in 0..5 {
            let members: Vec<usize> = (0..90).filter(|&i| folds[i] == f).collect();
            assert_eq!(members.len(), 18);
            for label in ["bug", "feature", "question"] {
                let n = members.iter().filter(|&&i| labels[i][0] == label).count();
                assert_eq!(n, 6, "fold {f} {label}");
            }
        }
        assert_eq!(folds, stratified_folds(&labels, 5, 7));
        assert_ne!(folds, stratified_folds(&labels, 5, 8));
    }

    #[test]
    fn separable_data_scores_high_and_every_item_is_held_out_once() {
        let opts = TrainOptions::default();
        let bar = indicatif::ProgressBar::hidden();
        let cv =
            cross_validate(&examples(90), &dims(), &opts, Answering::TopLabel, (5, 1), Some(&bar));
        let cv = cv.unwrap();
        assert_eq!(bar.position(), 5, "the bar counts the folds");
        assert_eq!(cv.pooled.items, 90);
        assert_eq!(cv.fold_macro_f1.len(), 5);
        assert_eq!(cv.abstained, 0);
        assert!(cv.macro_f1.unwrap() > 0.95, "{:?}", cv.macro_f1);
        assert!(cv.pooled.ece.is_some());
    }

    #[test]
    fn answers_as_a_run_abstain_below_min_confidence() {
        let (data, opts) = (examples(60), TrainOptions::default());
        let multi = vec![Dimension { single: false, ..dims().remove(0) }];
        let loose = taxonomy(0.3);
        let cv =
            cross_validate(&data, &multi, &opts, Answering::AsARun(&loose), (3, 1), None).unwrap();
        assert!(cv.abstained < 6, "{} abstentions", cv.abstained);
        assert!(cv.macro_f1.unwrap() > 0.9, "{:?}", cv.macro_f1);
        let strict = taxonomy(1.0);
        let cv =
            cross_validate(&data, &multi, &opts, Answering::AsARun(&strict), (3, 1), None).unwrap();
        assert_eq!(cv.abstained, 60);
        assert_eq!(cv.pooled.micro.recall, Some(0.0));
    }

    #[test]
    fn too_few_examples_for_the_folds_is_an_error() {
        let opts = TrainOptions::default();
        let err = cross_validate(&examples(3), &dims(), &opts, Answering::TopLabel, (5, 1), None);
        let Err(LocalError::InvalidOptions(reason)) = err else { panic!("{err:?}") };
        assert!(reason.contains("5 folds needs at least 5 gold items, not 3"), "{reason}");
    }
}

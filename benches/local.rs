//! Local model rows: training time on 10,000 issues, inference rate, and the NLBSE'24
//! cross-validated macro-F1 and calibration when `../shared` is beside the repository.
// A benchmark aborts on setup failure by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use sift::suggest::crossval::{Answering, CrossValidation, cross_validate};
use sift::suggest::local::{Dimension, LocalModel, TrainOptions};
use sift::synth;

use crate::common::{median, row};

pub fn run(filter: &str) {
    if !filter.is_empty() && !"local".contains(filter) {
        return;
    }
    speed();
    nlbse();
}

/// `(text, labels)` of synthetic issues, as `sift train` builds them from the store.
fn synthetic(n: usize, seed: u64) -> Vec<(String, Vec<String>)> {
    synth::issues(n, seed).into_iter().map(|i| (i.full_text(), i.source_labels.clone())).collect()
}

fn speed() {
    let train = synthetic(10_000, 21);
    let unseen = synthetic(10_000, 22);
    let bytes = train.iter().map(|(t, _)| t.len()).sum::<usize>() / train.len();
    let dims = [Dimension {
        name: "labels".into(),
        single: false,
        labels: synth::LABELS.iter().map(|l| l.to_string()).collect(),
    }];
    let (mut train_secs, mut rates) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let model = LocalModel::train(&train, &dims, &TrainOptions::default()).expect("train");
        train_secs.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let predicted: usize = unseen.iter().map(|(text, _)| model.predict(text).len()).sum();
        rates.push(unseen.len() as f64 / t.elapsed().as_secs_f64());
        assert_eq!(predicted, unseen.len() * synth::LABELS.len());
    }
    row(
        &format!("local model: train on 10,000 issues (~{:.1} KB), 10 labels", bytes as f64 / 1e3),
        "<= 10 s",
        format!("{:.2} s", median(train_secs)),
    );
    row(
        "local model: inference, one thread",
        ">= 5,000/s",
        format!("{:.0} items/s", median(rates)),
    );
}

/// Fold draws; each is a full 5-fold cross-validation (42 is the draw `tests/suggest.rs` uses).
const FOLD_SEEDS: [u64; 5] = [42, 1, 2, 3, 4];

fn nlbse() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nlbse24/issues_train.csv");
    if !path.exists() {
        println!("local model: NLBSE'24 rows skipped ({} not found)", path.display());
        return;
    }
    let data = load(&path);
    let labels = ["bug", "feature", "question"].map(String::from).to_vec();
    let dims = [Dimension { name: "type".into(), single: true, labels }];
    let opts = TrainOptions::default();
    let runs: Vec<CrossValidation> = FOLD_SEEDS
        .iter()
        .map(|&seed| {
            cross_validate(&data, &dims, &opts, Answering::TopLabel, (5, seed), None).expect("cv")
        })
        .collect();
    let means: Vec<f64> = runs.iter().map(|cv| cv.macro_f1.expect("macro-F1")).collect();
    let eces: Vec<f64> = runs.iter().map(|cv| cv.pooled.ece.expect("ECE")).collect();
    let (mean, lo, hi) = spread(&means);
    row(
        "local model: NLBSE'24 5-fold macro-F1, mean of 5 fold draws",
        ">= 0.80",
        format!("{mean:.4} (draws {lo:.4}-{hi:.4}; seed 42: {:.4})", means[0]),
    );
    let (ece, lo, hi) = spread(&eces);
    row(
        "local model: NLBSE'24 ECE (15 bins, pooled per draw), mean",
        "<= 0.05",
        format!("{ece:.4} (draws {lo:.4}-{hi:.4})"),
    );
}

/// Mean, minimum and maximum.
fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let (lo, hi) =
        xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    (xs.iter().sum::<f64>() / xs.len() as f64, lo, hi)
}

fn load(path: &PathBuf) -> Vec<(String, Vec<String>)> {
    let mut reader = csv::Reader::from_path(path).expect("open NLBSE csv");
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let (title, body, label) = (col("title"), col("body"), col("label"));
    let rows = reader.records().map(|r| r.expect("record"));
    rows.map(|r| (format!("{}\n{}", &r[title], &r[body]), vec![r[label].to_string()])).collect()
}

//! Local model rows: training time on 10,000 issues, inference rate, and the NLBSE'24
//! cross-validated macro-F1 and calibration when `../shared` is beside the repository.
// A benchmark aborts on setup failure by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
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

const NLBSE_LABELS: [&str; 3] = ["bug", "feature", "question"];
/// Fold assignments drawn; each is a full 5-fold cross-validation.
const FOLD_SEEDS: [u64; 5] = [42, 1, 2, 3, 4];

type Row = (String, Vec<String>);

fn nlbse() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nlbse24/issues_train.csv");
    if !path.exists() {
        println!("local model: NLBSE'24 rows skipped ({} not found)", path.display());
        return;
    }
    let data = load(&path);
    let dims = [Dimension {
        name: "type".into(),
        single: true,
        labels: NLBSE_LABELS.iter().map(|l| l.to_string()).collect(),
    }];
    let (mut means, mut confidences) = (Vec::new(), Vec::new());
    for seed in FOLD_SEEDS {
        let fold = folds(&data, 5, seed);
        let mut f1s = Vec::new();
        for f in 0..5 {
            let train: Vec<&Row> =
                (0..data.len()).filter(|&i| fold[i] != f).map(|i| &data[i]).collect();
            let train: Vec<(&str, &[String])> =
                train.iter().map(|(t, l)| (t.as_str(), l.as_slice())).collect();
            let model = LocalModel::train(&train, &dims, &TrainOptions::default()).expect("train");
            let mut pairs = Vec::new();
            for i in (0..data.len()).filter(|&i| fold[i] == f) {
                let p = model.predict(&data[i].0);
                let best = (0..3).max_by(|&a, &b| p[a].1.total_cmp(&p[b].1)).unwrap();
                let truth = NLBSE_LABELS.iter().position(|l| *l == data[i].1[0]).unwrap();
                pairs.push((truth, best));
                confidences.push((p[best].1, truth == best));
            }
            f1s.push(macro_f1(&pairs));
        }
        means.push(f1s.iter().sum::<f64>() / f1s.len() as f64);
    }
    let mean = means.iter().sum::<f64>() / means.len() as f64;
    let (lo, hi) = means.iter().fold((1.0f64, 0.0f64), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    row(
        "local model: NLBSE'24 5-fold macro-F1, mean of 5 fold draws",
        ">= 0.80",
        format!("{mean:.4} (draws {lo:.4}-{hi:.4}; seed 42: {:.4})", means[0]),
    );
    row(
        "local model: NLBSE'24 ECE, 15 bins, pooled",
        "<= 0.05",
        format!("{:.4}", ece(&confidences)),
    );
}

fn load(path: &PathBuf) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).expect("open NLBSE csv");
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let (title, body, label) = (col("title"), col("body"), col("label"));
    let rows = reader.records().map(|r| r.expect("record"));
    rows.map(|r| (format!("{}\n{}", &r[title], &r[body]), vec![r[label].to_string()])).collect()
}

/// Stratified folds, dealt as in `tests/suggest.rs` so seed 42 reproduces the guarded figure.
fn folds(data: &[Row], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; data.len()];
    let mut offset = 0;
    for label in NLBSE_LABELS {
        let mut rows: Vec<usize> = (0..data.len()).filter(|&i| data[i].1[0] == label).collect();
        rows.shuffle(&mut rng);
        rows.iter().enumerate().for_each(|(j, &i)| fold[i] = (j + offset) % k);
        offset += rows.len();
    }
    fold
}

fn macro_f1(pairs: &[(usize, usize)]) -> f64 {
    let f1 = |c: usize| {
        let tp = pairs.iter().filter(|p| p.0 == c && p.1 == c).count() as f64;
        let fp = pairs.iter().filter(|p| p.0 != c && p.1 == c).count() as f64;
        let fn_ = pairs.iter().filter(|p| p.0 == c && p.1 != c).count() as f64;
        if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
    };
    (0..NLBSE_LABELS.len()).map(f1).sum::<f64>() / NLBSE_LABELS.len() as f64
}

/// Expected calibration error over 15 equal-width bins of top-label confidence.
fn ece(predictions: &[(f64, bool)]) -> f64 {
    let mut bins = [(0.0, 0.0); 15];
    for &(confidence, correct) in predictions {
        let bin = &mut bins[((confidence * 15.0) as usize).min(14)];
        bin.0 += confidence;
        bin.1 += f64::from(u8::from(correct));
    }
    bins.iter().map(|b| (b.0 - b.1).abs()).sum::<f64>() / predictions.len() as f64
}

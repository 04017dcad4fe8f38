//! Training tasks: samples per dimension, the stratified hold-out, linear heads and their
//! training.

use super::*;

/// What one example should score.
pub(super) enum Target {
    /// Index of the one label (single-select).
    Class(usize),
    /// Presence of each label (multi-select).
    Flags(Vec<bool>),
}

/// The training samples of one dimension: `(example index, target)`.
pub(super) struct Task {
    pub(super) outputs: usize,
    pub(super) single: bool,
    pub(super) samples: Vec<(usize, Target)>,
}

impl Task {
    pub(super) fn build<T, L: AsRef<[String]>>(
        dim: &Dimension,
        examples: &[(T, L)],
    ) -> Result<Self, LocalError> {
        let samples =
            if dim.single { single_samples(dim, examples) } else { multi_samples(dim, examples) };
        let task = Task { outputs: dim.labels.len(), single: dim.single, samples };
        let reason = if task.single && task.class_counts().iter().filter(|&&c| c > 0).count() < 2 {
            "fewer than 2 labels have examples"
        } else if !task.single && !task.has_informative_label() {
            "no label has both positive and negative examples"
        } else {
            return Ok(task);
        };
        Err(LocalError::NotEnoughData { dimension: dim.name.clone(), reason: reason.into() })
    }

    pub(super) fn class_of(&self, sample: usize) -> usize {
        match self.samples[sample].1 {
            Target::Class(c) => c,
            Target::Flags(_) => 0,
        }
    }

    pub(super) fn flag(&self, sample: usize, label: usize) -> bool {
        matches!(&self.samples[sample].1, Target::Flags(f) if f[label])
    }

    pub(super) fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.outputs];
        (0..self.samples.len()).for_each(|s| counts[self.class_of(s)] += 1);
        counts
    }

    pub(super) fn has_informative_label(&self) -> bool {
        let seen = |j: usize, want: bool| (0..self.samples.len()).any(|s| self.flag(s, j) == want);
        (0..self.outputs).any(|j| seen(j, true) && seen(j, false))
    }
}

/// Examples carrying exactly one label of the dimension; others are ambiguous and skipped.
pub(super) fn single_samples<T, L: AsRef<[String]>>(
    dim: &Dimension,
    examples: &[(T, L)],
) -> Vec<(usize, Target)> {
    let index: BTreeMap<&str, usize> =
        dim.labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let only_label = |labels: &[String]| {
        let mut hits: BTreeSet<usize> = BTreeSet::new();
        hits.extend(labels.iter().filter_map(|l| index.get(l.as_str()).copied()));
        if hits.len() == 1 { hits.pop_first() } else { None }
    };
    let classes = examples.iter().map(|(_, labels)| only_label(labels.as_ref()));
    classes.enumerate().filter_map(|(i, c)| Some((i, Target::Class(c?)))).collect()
}

/// Every example with any label of the label space counts, absent labels as negatives; an
/// example with no label at all is unlabelled rather than negative for everything.
pub(super) fn multi_samples<T, L: AsRef<[String]>>(
    dim: &Dimension,
    examples: &[(T, L)],
) -> Vec<(usize, Target)> {
    examples
        .iter()
        .enumerate()
        .filter(|(_, (_, labels))| !labels.as_ref().is_empty())
        .map(|(i, (_, labels))| {
            let labels = labels.as_ref();
            (i, Target::Flags(dim.labels.iter().map(|l| labels.contains(l)).collect()))
        })
        .collect()
}

/// Marks held-out examples, stratified by label set so rare sets are represented.
pub(super) fn stratified_holdout(
    keys: &[String],
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<bool> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.as_str()).or_default().push(i);
    }
    let mut held = vec![false; keys.len()];
    // The fractional remainder carries over so many small groups still add up to `fraction`.
    let mut carry = 0.0;
    for members in groups.values_mut() {
        members.shuffle(rng);
        let want = members.len() as f64 * fraction + carry;
        let take = want.floor() as usize;
        carry = want - take as f64;
        members.iter().take(take).for_each(|&i| held[i] = true);
    }
    held
}

// ---------------------------------------------------------------------------------------------
// Models and calibration
// ---------------------------------------------------------------------------------------------

/// A linear scorer over the compact vocabulary; weights are feature-major.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Linear {
    pub(super) outputs: usize,
    pub(super) weights: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

impl Linear {
    pub(super) fn scores(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let mut out = self.bias.clone();
        for &(j, v) in x {
            let w = &self.weights[j as usize * self.outputs..(j as usize + 1) * self.outputs];
            out.iter_mut().zip(w).for_each(|(o, w)| *o += v * w);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Head {
    pub(super) linear: Linear,
    pub(super) calibration: Calibration,
}

impl Head {
    pub(super) fn probabilities(&self, x: &[(u32, f32)]) -> Vec<f64> {
        let scores = self.linear.scores(x);
        match &self.calibration {
            Calibration::Temperature(t) => {
                softmax(&scores.iter().map(|&s| f64::from(s) / t).collect::<Vec<_>>())
            }
            Calibration::Platt(params) => scores
                .iter()
                .zip(params)
                .map(|(&s, &(a, b))| sigmoid(-(a * f64::from(s) + b)))
                .collect(),
        }
    }
}

pub(super) fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|&v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

pub(super) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

/// `ln(1 + e^z)` without overflow.
pub(super) fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

/// Fewest held-out samples worth fitting a calibration on; below that scores stay raw.
pub(super) const MIN_CALIBRATION: usize = 20;

/// Fits the calibration on a model trained without the held-out samples, then refits on all
/// samples (warm-started from the first fit) and keeps that calibration.
pub(super) fn train_head(
    task: &Task,
    rows: &Rows,
    n_features: usize,
    holdout: &[bool],
    opts: &TrainOptions,
) -> Head {
    let all: Vec<usize> = (0..task.samples.len()).collect();
    let (held, fit): (Vec<usize>, Vec<usize>) =
        all.iter().partition(|&&s| holdout[task.samples[s].0]);
    let (calibration, warm) = if held.len() >= MIN_CALIBRATION && !fit.is_empty() {
        let probe = train_linear(task, rows, &fit, n_features, opts, None);
        (calibrate(task, rows, &probe, &held), Some(probe))
    } else {
        (identity_calibration(task), None)
    };
    let linear = train_linear(task, rows, &all, n_features, opts, warm.as_ref());
    Head { linear, calibration }
}

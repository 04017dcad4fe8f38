//! Calibration of a head's scores on held-out items: temperature scaling for pick-one
//! dimensions, Platt scaling per label for many-label ones.

use super::*;

/// How raw scores become probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Calibration {
    /// Softmax of the scores divided by this temperature.
    Temperature(f64),
    /// Per label `(a, b)` with `p = 1 / (1 + exp(a * score + b))` (Platt's parametrisation).
    Platt(Vec<(f64, f64)>),
}

pub(super) fn identity_calibration(task: &Task) -> Calibration {
    if task.single {
        Calibration::Temperature(1.0)
    } else {
        Calibration::Platt(vec![(-1.0, 0.0); task.outputs])
    }
}

pub(super) fn calibrate(task: &Task, rows: &Rows, probe: &Linear, held: &[usize]) -> Calibration {
    let scores: Vec<Vec<f32>> =
        held.iter().map(|&s| probe.scores(rows.row(task.samples[s].0))).collect();
    if task.single {
        let classes: Vec<usize> = held.iter().map(|&s| task.class_of(s)).collect();
        return Calibration::Temperature(fit_temperature(&scores, &classes));
    }
    let params = (0..task.outputs)
        .map(|j| {
            let s: Vec<f64> = scores.iter().map(|v| f64::from(v[j])).collect();
            let y: Vec<bool> = held.iter().map(|&s| task.flag(s, j)).collect();
            fit_platt(&s, &y)
        })
        .collect();
    Calibration::Platt(params)
}

/// Temperature minimising the held-out negative log-likelihood. The NLL is convex in `1/T`,
/// so a golden-section search over `ln(1/T)` finds the optimum without derivatives.
pub(super) fn fit_temperature(scores: &[Vec<f32>], classes: &[usize]) -> f64 {
    let nll = |log_beta: f64| {
        let beta = log_beta.exp();
        let sample = |(s, &c): (&Vec<f32>, &usize)| {
            let z: Vec<f64> = s.iter().map(|&v| f64::from(v) * beta).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            max + z.iter().map(|&v| (v - max).exp()).sum::<f64>().ln() - z[c]
        };
        scores.iter().zip(classes).map(sample).sum::<f64>()
    };
    1.0 / golden_min(nll, 0.01f64.ln(), 100f64.ln(), 80).exp()
}

/// Minimum of a unimodal function on `[lo, hi]`.
pub(super) fn golden_min(
    f: impl Fn(f64) -> f64,
    mut lo: f64,
    mut hi: f64,
    iterations: usize,
) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..iterations {
        if fa <= fb {
            (hi, b, fb) = (b, a, fa);
            a = hi - ratio * (hi - lo);
            fa = f(a);
        } else {
            (lo, a, fa) = (a, b, fb);
            b = lo + ratio * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}

/// Platt scaling `p = 1 / (1 + exp(a * s + b))` fitted by Newton's method with backtracking,
/// on smoothed targets (Lin, Lin & Weng 2007) so tiny or separable sets stay finite.
pub(super) fn fit_platt(scores: &[f64], positive: &[bool]) -> (f64, f64) {
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    let (hi, lo) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
    let targets: Vec<f64> = positive.iter().map(|&p| if p { hi } else { lo }).collect();
    let platt = Platt { scores, targets: &targets };
    let mut ab = (0.0, ((n_neg + 1.0) / (n_pos + 1.0)).ln());
    let mut value = platt.objective(ab);
    for _ in 0..100 {
        let Some((next, next_value)) = platt.newton_step(ab, value) else { break };
        (ab, value) = (next, next_value);
    }
    ab
}

pub(super) struct Platt<'a> {
    pub(super) scores: &'a [f64],
    pub(super) targets: &'a [f64],
}

impl Platt<'_> {
    /// Cross-entropy of `p = 1 / (1 + exp(f))` against the targets, `f = a * s + b`.
    pub(super) fn objective(&self, (a, b): (f64, f64)) -> f64 {
        let term = |(&s, &t): (&f64, &f64)| {
            let f = a * s + b;
            t * f + softplus(-f)
        };
        self.scores.iter().zip(self.targets).map(term).sum()
    }

    /// One damped Newton step; `None` once converged or no step improves the objective.
    pub(super) fn newton_step(&self, (a, b): (f64, f64), value: f64) -> Option<((f64, f64), f64)> {
        // A tiny ridge keeps the Hessian invertible when all scores are equal.
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (1e-12, 1e-12, 0.0, 0.0, 0.0);
        for (&s, &t) in self.scores.iter().zip(self.targets) {
            let p = sigmoid(-(a * s + b));
            let d2 = p * (1.0 - p);
            (h11, h22, h21) = (h11 + s * s * d2, h22 + d2, h21 + s * d2);
            (g1, g2) = (g1 + s * (t - p), g2 + (t - p));
        }
        if g1.abs() < 1e-5 && g2.abs() < 1e-5 {
            return None;
        }
        let det = h11 * h22 - h21 * h21;
        let (da, db) = (-(h22 * g1 - h21 * g2) / det, -(-h21 * g1 + h11 * g2) / det);
        let slope = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= 1e-10 {
            let next = (a + step * da, b + step * db);
            let next_value = self.objective(next);
            if next_value < value + 1e-4 * step * slope {
                return Some((next, next_value));
            }
            step /= 2.0;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// L2-regularised logistic regression by L-BFGS
// ---------------------------------------------------------------------------------------------

//! The optimiser: a weighted logistic/softmax objective minimised with L-BFGS.

use super::*;

/// Per-sample weights aligned with `subset`: with balancing every class carries the same
/// total weight (multi-select labels are already one-vs-rest, so they stay at 1).
pub(super) fn sample_weights(task: &Task, subset: &[usize], balanced: bool) -> Vec<f32> {
    if !(balanced && task.single) {
        return vec![1.0; subset.len()];
    }
    let mut counts = vec![0usize; task.outputs];
    subset.iter().for_each(|&s| counts[task.class_of(s)] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count() as f32;
    let weight = |s: usize| subset.len() as f32 / (present * counts[task.class_of(s)] as f32);
    subset.iter().map(|&s| weight(s)).collect()
}

/// Fits the regularised objective exactly, by full-batch L-BFGS: unlike SGD the optimum does
/// not depend on example order, so the same data always gives the same model.
pub(super) fn train_linear(
    task: &Task,
    rows: &Rows,
    subset: &[usize],
    n_features: usize,
    opts: &TrainOptions,
    warm: Option<&Linear>,
) -> Linear {
    let k = task.outputs;
    let weights = sample_weights(task, subset, opts.class_balanced);
    let objective = Objective { task, rows, subset, weights, n_features, c: opts.c };
    let start = match warm {
        Some(w) => w.weights.iter().chain(&w.bias).copied().collect(),
        None => vec![0f32; (n_features + 1) * k],
    };
    let theta = lbfgs(&objective, start, opts.max_iter, opts.tolerance);
    let (weights, bias) = theta.split_at(n_features * k);
    Linear { outputs: k, weights: weights.to_vec(), bias: bias.to_vec() }
}

/// `C * sum(weight * log-loss) + |W|^2 / 2` over a subset of a task's samples. Parameters are
/// the feature-major weights followed by the (unpenalised) biases.
pub(super) struct Objective<'a> {
    pub(super) task: &'a Task,
    pub(super) rows: &'a Rows,
    pub(super) subset: &'a [usize],
    pub(super) weights: Vec<f32>,
    pub(super) n_features: usize,
    pub(super) c: f64,
}

impl Objective<'_> {
    pub(super) fn value_and_gradient(&self, theta: &[f32], grad: &mut [f32]) -> f64 {
        let parts = chunked(self.subset.len(), |range| self.partial(theta, range));
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for (part_loss, part_grad) in parts {
            loss += part_loss;
            grad.iter_mut().zip(&part_grad).for_each(|(g, p)| *g += p);
        }
        let c = self.c as f32;
        let n_weights = self.n_features * self.task.outputs;
        let mut penalty = 0.0;
        for (i, (g, &t)) in grad.iter_mut().zip(theta).enumerate() {
            *g *= c;
            if i < n_weights {
                *g += t;
                penalty += f64::from(t) * f64::from(t);
            }
        }
        self.c * loss + 0.5 * penalty
    }

    /// Unscaled loss and gradient of the samples `subset[range]`.
    pub(super) fn partial(&self, theta: &[f32], range: Range<usize>) -> (f64, Vec<f32>) {
        let k = self.task.outputs;
        let (w, bias) = theta.split_at(self.n_features * k);
        let mut grad = vec![0f32; theta.len()];
        let mut loss = 0.0;
        let mut diff = vec![0f32; k];
        for pos in range {
            let (row, target) = &self.task.samples[self.subset[pos]];
            let x = self.rows.row(*row);
            let mut z = bias.to_vec();
            for &(j, v) in x {
                let wj = &w[j as usize * k..(j as usize + 1) * k];
                z.iter_mut().zip(wj).for_each(|(z, w)| *z += v * w);
            }
            let weight = self.weights[pos];
            loss += f64::from(weight) * sample_loss(&z, target, &mut diff);
            diff.iter_mut().for_each(|d| *d *= weight);
            for &(j, v) in x {
                let gj = &mut grad[j as usize * k..(j as usize + 1) * k];
                gj.iter_mut().zip(&diff).for_each(|(g, d)| *g += v * d);
            }
            let gb = &mut grad[self.n_features * k..];
            gb.iter_mut().zip(&diff).for_each(|(g, d)| *g += d);
        }
        (loss, grad)
    }
}

/// Log-loss of one sample; writes `d loss / d score` into `diff`.
pub(super) fn sample_loss(z: &[f32], target: &Target, diff: &mut [f32]) -> f64 {
    match target {
        Target::Class(c) => {
            let p = softmax(&z.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            for (j, (d, &p)) in diff.iter_mut().zip(&p).enumerate() {
                *d = (p - if j == *c { 1.0 } else { 0.0 }) as f32;
            }
            -p[*c].max(1e-300).ln()
        }
        Target::Flags(flags) => {
            let mut loss = 0.0;
            for ((d, &zj), &yj) in diff.iter_mut().zip(z).zip(flags) {
                let (zj, y) = (f64::from(zj), if yj { 1.0 } else { 0.0 });
                *d = (sigmoid(zj) - y) as f32;
                loss += softplus(zj) - y * zj;
            }
            loss
        }
    }
}

/// Curvature pairs L-BFGS remembers; memory is `2 * LBFGS_MEMORY + 4` parameter vectors.
pub(super) const LBFGS_MEMORY: usize = 7;

pub(super) type Curvature = VecDeque<(Vec<f32>, Vec<f32>, f64)>;

/// Minimises `objective` from `x`; stops after `max_iter` iterations or once an iteration
/// improves the value by less than `tolerance` (relative).
pub(super) fn lbfgs(
    objective: &Objective,
    mut x: Vec<f32>,
    max_iter: usize,
    tolerance: f64,
) -> Vec<f32> {
    let mut grad = vec![0f32; x.len()];
    let mut value = objective.value_and_gradient(&x, &mut grad);
    let mut history = Curvature::new();
    for _ in 0..max_iter {
        let mut direction = lbfgs_direction(&grad, &history);
        if dot(&grad, &direction) >= 0.0 {
            // Stale curvature gave no descent direction: restart from steepest descent.
            history.clear();
            direction = grad.iter().map(|g| -g).collect();
        }
        // Without curvature information the first step is scaled to unit length; such a step
        // says little about convergence, so the stopping test waits for a curvature step.
        let steepest = history.is_empty();
        let first = if steepest { 1.0 / dot(&grad, &grad).sqrt().max(1.0) } else { 1.0 };
        let Some((x_new, grad_new, new_value)) =
            line_search(objective, &x, &direction, &grad, value, first)
        else {
            break;
        };
        remember(&mut history, &x_new, &x, &grad_new, &grad);
        let improvement = (value - new_value) / new_value.abs().max(1.0);
        (x, grad, value) = (x_new, grad_new, new_value);
        if improvement < tolerance && !steepest {
            break;
        }
    }
    x
}

/// Backtracking line search with the Armijo condition; `None` when no step decreases the value.
pub(super) fn line_search(
    objective: &Objective,
    x: &[f32],
    direction: &[f32],
    grad: &[f32],
    value: f64,
    mut step: f64,
) -> Option<(Vec<f32>, Vec<f32>, f64)> {
    let slope = dot(grad, direction);
    if slope.abs() < 1e-20 {
        return None;
    }
    let mut grad_new = vec![0f32; x.len()];
    while step >= 1e-10 {
        let x_new: Vec<f32> =
            x.iter().zip(direction).map(|(&x, &d)| x + (step * f64::from(d)) as f32).collect();
        let new_value = objective.value_and_gradient(&x_new, &mut grad_new);
        if new_value <= value + 1e-4 * step * slope {
            return Some((x_new, grad_new, new_value));
        }
        step *= 0.5;
    }
    None
}

pub(super) fn remember(
    history: &mut Curvature,
    x_new: &[f32],
    x: &[f32],
    g_new: &[f32],
    g: &[f32],
) {
    let s: Vec<f32> = x_new.iter().zip(x).map(|(a, b)| a - b).collect();
    let y: Vec<f32> = g_new.iter().zip(g).map(|(a, b)| a - b).collect();
    let sy = dot(&s, &y);
    // Only pairs with positive curvature keep the inverse-Hessian estimate positive definite.
    if sy > 1e-12 {
        if history.len() == LBFGS_MEMORY {
            history.pop_front();
        }
        history.push_back((s, y, 1.0 / sy));
    }
}

/// Two-loop recursion: `-H * grad` from the remembered curvature pairs.
pub(super) fn lbfgs_direction(grad: &[f32], history: &Curvature) -> Vec<f32> {
    let mut q: Vec<f64> = grad.iter().map(|&g| f64::from(g)).collect();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let alpha = rho * dot_mixed(s, &q);
        q.iter_mut().zip(y).for_each(|(q, &y)| *q -= alpha * f64::from(y));
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = history.back() {
        let gamma = dot(s, y) / dot(y, y).max(1e-300);
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(alphas.into_iter().rev()) {
        let beta = rho * dot_mixed(y, &q);
        q.iter_mut().zip(s).for_each(|(q, &s)| *q += (alpha - beta) * f64::from(s));
    }
    q.into_iter().map(|v| -v as f32).collect()
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
}

pub(super) fn dot_mixed(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| f64::from(a) * b).sum()
}

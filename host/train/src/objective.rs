//! Boosting objectives: starting scores, gradients/hessians, the loss watched by early stopping,
//! and the link from raw scores to predictions.

use crate::{Predictions, Target};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel work item; fixed so that sums come out the same for any thread count.
const CHUNK: usize = 4096;

/// Smallest hessian handed to the trees: a confident prediction must not make a leaf's Newton
/// step divide by ~0.
const MIN_HESS: f64 = 1e-16;

/// Clamp for probabilities turned into log-odds / log-priors.
const P_EPS: f64 = 1e-15;

/// What a GBDT minimises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    /// Squared error.
    L2,
    /// Huber loss: squared within `delta`, absolute beyond.
    Huber {
        /// Switch point.
        delta: f64,
    },
    /// Log loss on one log-odds score.
    Binary,
    /// Softmax cross-entropy, one score (and one tree per round) per class.
    Multiclass {
        /// Classes.
        n_classes: usize,
    },
}

fn sigmoid(s: f64) -> f64 {
    1.0 / (1.0 + (-s).exp())
}

/// `ln(1 + e^s)` without overflow.
fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

/// Softmax of `s` into `out`.
fn softmax(s: &[f64], out: &mut [f64]) {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for (o, &v) in out.iter_mut().zip(s) {
        *o = (v - m).exp();
        z += *o;
    }
    for o in out.iter_mut() {
        *o /= z;
    }
}

/// Deterministic parallel mean of `f(i)` over `0..n`.
fn mean_over(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(&f).sum())
        .collect();
    parts.iter().sum::<f64>() / n.max(1) as f64
}

impl Objective {
    /// Scores (and trees) per row per round.
    pub fn n_outputs(&self) -> usize {
        match self {
            Objective::Multiclass { n_classes } => *n_classes,
            _ => 1,
        }
    }

    /// Best constant score(s) before any tree.
    pub(crate) fn init_scores(&self, y: &Target) -> Vec<f64> {
        match (self, y) {
            (Objective::L2, Target::Regression(v)) => {
                vec![v.iter().sum::<f64>() / v.len().max(1) as f64]
            }
            (Objective::Huber { .. }, Target::Regression(v)) => {
                // The median: Huber's gradients are clipped, so starting from an outlier-dragged
                // mean would take many rounds to walk back.
                let mut s = v.clone();
                let mid = s.len() / 2;
                let (_, m, _) = s.select_nth_unstable_by(mid, f64::total_cmp);
                vec![*m]
            }
            (Objective::Binary, Target::Classes { y, .. }) => {
                let p = (y.iter().filter(|&&c| c == 1).count() as f64 / y.len().max(1) as f64)
                    .clamp(P_EPS, 1.0 - P_EPS);
                vec![(p / (1.0 - p)).ln()]
            }
            (Objective::Multiclass { n_classes }, Target::Classes { y, .. }) => {
                let mut counts = vec![0usize; *n_classes];
                for &c in y {
                    counts[c as usize] += 1;
                }
                counts
                    .iter()
                    .map(|&c| (c as f64 / y.len().max(1) as f64).max(P_EPS).ln())
                    .collect()
            }
            _ => unreachable!("fit validated the target against the objective"),
        }
    }

    /// Gradients and hessians of the loss at `scores` (row-major, rows × outputs) into
    /// class-major `grad`/`hess` (`grad[k * n + i]`). `scratch` is reused between rounds.
    pub(crate) fn gradients(
        &self,
        scores: &[f64],
        y: &Target,
        grad: &mut [f32],
        hess: &mut [f32],
        scratch: &mut Vec<f64>,
    ) {
        match (self, y) {
            (Objective::L2, Target::Regression(t)) => {
                grad.par_chunks_mut(CHUNK)
                    .zip(hess.par_chunks_mut(CHUNK))
                    .enumerate()
                    .for_each(|(c, (g, h))| {
                        for k in 0..g.len() {
                            let i = c * CHUNK + k;
                            g[k] = (scores[i] - t[i]) as f32;
                            h[k] = 1.0;
                        }
                    });
            }
            (Objective::Huber { delta }, Target::Regression(t)) => {
                grad.par_chunks_mut(CHUNK)
                    .zip(hess.par_chunks_mut(CHUNK))
                    .enumerate()
                    .for_each(|(c, (g, h))| {
                        for k in 0..g.len() {
                            let i = c * CHUNK + k;
                            g[k] = (scores[i] - t[i]).clamp(-delta, *delta) as f32;
                            h[k] = 1.0;
                        }
                    });
            }
            (Objective::Binary, Target::Classes { y, .. }) => {
                grad.par_chunks_mut(CHUNK)
                    .zip(hess.par_chunks_mut(CHUNK))
                    .enumerate()
                    .for_each(|(c, (g, h))| {
                        for k in 0..g.len() {
                            let i = c * CHUNK + k;
                            let p = sigmoid(scores[i]);
                            g[k] = (p - f64::from(y[i])) as f32;
                            h[k] = (p * (1.0 - p)).max(MIN_HESS) as f32;
                        }
                    });
            }
            (Objective::Multiclass { n_classes }, Target::Classes { y, .. }) => {
                let kc = *n_classes;
                let n = y.len();
                scratch.resize(n * kc, 0.0);
                scratch
                    .par_chunks_mut(CHUNK * kc)
                    .zip(scores.par_chunks(CHUNK * kc))
                    .for_each(|(p, s)| {
                        for (pr, sr) in p.chunks_mut(kc).zip(s.chunks(kc)) {
                            softmax(sr, pr);
                        }
                    });
                // LightGBM's factor K/(K-1): the softmax Hessian diagonal understates curvature.
                let factor = kc as f64 / (kc as f64 - 1.0);
                let probs = &*scratch;
                grad.par_chunks_mut(CHUNK)
                    .zip(hess.par_chunks_mut(CHUNK))
                    .enumerate()
                    .for_each(|(c, (g, h))| {
                        // A chunk may straddle two class blocks, so index from the flat position.
                        for k in 0..g.len() {
                            let flat = c * CHUNK + k;
                            let (cls, i) = (flat / n, flat % n);
                            let p = probs[i * kc + cls];
                            let target = if y[i] as usize == cls { 1.0 } else { 0.0 };
                            g[k] = (p - target) as f32;
                            h[k] = (factor * p * (1.0 - p)).max(MIN_HESS) as f32;
                        }
                    });
            }
            _ => unreachable!("fit validated the target against the objective"),
        }
    }

    /// Mean loss at `scores` (row-major), the quantity early stopping minimises.
    pub fn loss(&self, scores: &[f64], y: &Target) -> f64 {
        match (self, y) {
            (Objective::L2, Target::Regression(t)) => mean_over(t.len(), |i| {
                let r = scores[i] - t[i];
                0.5 * r * r
            }),
            (Objective::Huber { delta }, Target::Regression(t)) => mean_over(t.len(), |i| {
                let r = (scores[i] - t[i]).abs();
                if r <= *delta {
                    0.5 * r * r
                } else {
                    delta * (r - 0.5 * delta)
                }
            }),
            (Objective::Binary, Target::Classes { y, .. }) => mean_over(y.len(), |i| {
                softplus(scores[i]) - f64::from(y[i]) * scores[i]
            }),
            (Objective::Multiclass { n_classes }, Target::Classes { y, .. }) => {
                let kc = *n_classes;
                mean_over(y.len(), |i| {
                    let s = &scores[i * kc..(i + 1) * kc];
                    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + s.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    lse - s[y[i] as usize]
                })
            }
            _ => unreachable!("fit validated the target against the objective"),
        }
    }

    /// Raw scores (row-major) to predictions.
    pub fn transform(&self, mut raw: Vec<f64>) -> Predictions {
        match self {
            Objective::L2 | Objective::Huber { .. } => Predictions::Values(raw),
            Objective::Binary => {
                let data = raw
                    .iter()
                    .flat_map(|&s| {
                        let p = sigmoid(s);
                        [1.0 - p, p]
                    })
                    .collect();
                Predictions::Probabilities { n_classes: 2, data }
            }
            Objective::Multiclass { n_classes } => {
                let kc = *n_classes;
                let mut row = vec![0.0; kc];
                for r in raw.chunks_mut(kc) {
                    softmax(r, &mut row);
                    r.copy_from_slice(&row);
                }
                Predictions::Probabilities {
                    n_classes: kc,
                    data: raw,
                }
            }
        }
    }
}

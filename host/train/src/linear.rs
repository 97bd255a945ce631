//! Regularised linear models on standardized features.
//!
//! Every objective is scaled per row so that `alpha` means the same across data sizes:
//! `mean_loss + alpha * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)`, intercepts unpenalised.
//! Regression: ridge by Cholesky (l1_ratio = 0, moderate width) or coordinate descent.
//! Classification: logistic (binary) / softmax (multiclass) by L-BFGS, or FISTA when l1_ratio > 0.

use crate::catalogue::{LINEAR, linear_specs};
use crate::objective::Objective;
use crate::optim::{self, Stop};
use crate::params::{Reader, resolve};
use crate::{FitOptions, Matrix, Predictions, Target, TrainError};
use microlearn_core::{Params, Task};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel work item; fixed so results do not depend on the thread count.
const CHUNK: usize = 4096;
/// Widest problem solved by forming the p×p Gram matrix (O(n·p²)); wider ones use coordinate
/// descent, whose sweeps cost O(n·p). At 256 the Gram matrix of 100k rows is ~3 GFLOP.
const MAX_CHOLESKY_FEATURES: usize = 256;

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Link from scores to predictions (`L2` identity, `Binary` sigmoid, `Multiclass` softmax).
    pub link: Objective,
    /// Training mean per feature (also the value imputed for NaN).
    pub means: Vec<f64>,
    /// Training standard deviation per feature (1 for constant features).
    pub scales: Vec<f64>,
    /// Coefficients on standardized features, outputs × features, row-major.
    pub coef: Vec<f64>,
    /// Intercept per output.
    pub intercept: Vec<f64>,
    /// Feature names seen at fit.
    pub feature_names: Vec<String>,
    /// Hyperparameters as used.
    pub params: Params,
    /// Solver iterations run.
    pub iterations: usize,
    /// Whether the solver met its tolerance (false: stopped by max_iter or deadline).
    pub converged: bool,
}

impl LinearModel {
    fn n_outputs(&self) -> usize {
        self.intercept.len()
    }

    /// Raw scores, row-major rows × outputs.
    pub fn raw_scores(&self, x: &Matrix) -> Vec<f64> {
        let k = self.n_outputs();
        let p = self.means.len();
        let n = x.n_rows();
        let mut out = vec![0.0; n * k];
        out.par_chunks_mut(CHUNK * k)
            .enumerate()
            .for_each(|(c, block)| {
                let start = c * CHUNK;
                for row in block.chunks_mut(k) {
                    row.copy_from_slice(&self.intercept);
                }
                for j in 0..p {
                    let col = &x.column(j)[start..start + block.len() / k];
                    for (row, &v) in block.chunks_mut(k).zip(col) {
                        let z = if v.is_nan() {
                            0.0
                        } else {
                            (v - self.means[j]) / self.scales[j]
                        };
                        for (o, s) in row.iter_mut().enumerate() {
                            *s += self.coef[o * p + j] * z;
                        }
                    }
                }
            });
        out
    }

    /// Predictions (probabilities for classification).
    pub fn predict(&self, x: &Matrix) -> Predictions {
        self.link.transform(self.raw_scores(x))
    }

    /// Sum over outputs of |coefficient| on the standardized scale.
    pub fn feature_importance(&self) -> Vec<f64> {
        let p = self.means.len();
        (0..p)
            .map(|j| {
                (0..self.n_outputs())
                    .map(|o| self.coef[o * p + j].abs())
                    .sum()
            })
            .collect()
    }
}

/// Standardized training features, column-major, NaN imputed with the mean (0 after scaling).
struct Standardized {
    n: usize,
    p: usize,
    z: Vec<f64>,
    means: Vec<f64>,
    scales: Vec<f64>,
}

impl Standardized {
    fn new(x: &Matrix) -> Standardized {
        let n = x.n_rows();
        let cols: Vec<(f64, f64, Vec<f64>)> = (0..x.n_cols())
            .into_par_iter()
            .map(|j| {
                let col = x.column(j);
                let (mean, scale) = crate::dense::finite_mean_scale(col);
                let z = col
                    .iter()
                    .map(|&v| {
                        if v.is_finite() {
                            (v - mean) / scale
                        } else {
                            0.0
                        }
                    })
                    .collect();
                (mean, scale, z)
            })
            .collect();
        let mut out = Standardized {
            n,
            p: cols.len(),
            z: Vec::with_capacity(n * cols.len()),
            means: Vec::new(),
            scales: Vec::new(),
        };
        for (m, s, z) in cols {
            out.means.push(m);
            out.scales.push(s);
            out.z.extend_from_slice(&z);
        }
        out
    }

    fn col(&self, j: usize) -> &[f64] {
        &self.z[j * self.n..(j + 1) * self.n]
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits a linear model; runs on the current rayon pool.
pub(crate) fn fit(
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<LinearModel, TrainError> {
    let params = resolve(LINEAR, &linear_specs(), params)?;
    let n_classes = crate::matrix::validate_inputs(LINEAR, task, x, y, "training")?;
    let r = Reader(&params);
    let alpha = r.f64("alpha");
    let l1_ratio = r.f64("l1_ratio");
    let stop = Stop {
        max_iter: r.usize("max_iter").max(1),
        tol: r.f64("tol"),
        deadline: opts.deadline,
        cancel: opts.cancel,
    };
    let data = Standardized::new(x);
    let (link, coef, intercept, outcome) = match (task, y) {
        (Task::Regression, Target::Regression(t)) => {
            let mean_y = t.iter().sum::<f64>() / t.len() as f64;
            let centred: Vec<f64> = t.iter().map(|v| v - mean_y).collect();
            let (w, outcome) = if l1_ratio == 0.0 && data.p <= MAX_CHOLESKY_FEATURES {
                (
                    ridge(&data, &centred, alpha)?,
                    optim::Outcome {
                        iterations: 1,
                        converged: true,
                    },
                )
            } else {
                elastic_net_cd(&data, &centred, alpha, l1_ratio, stop)
            };
            (Objective::L2, w, vec![mean_y], outcome)
        }
        (Task::Binary | Task::Multiclass, Target::Classes { y: labels, .. }) => {
            let k = if task == Task::Binary { 1 } else { n_classes };
            let link = if k == 1 {
                Objective::Binary
            } else {
                Objective::Multiclass { n_classes: k }
            };
            let (w, b, outcome) = logistic(&data, labels, k, alpha, l1_ratio, stop, &link, y);
            (link, w, b, outcome)
        }
        _ => unreachable!("validate_inputs matched target and task"),
    };
    if !outcome.converged {
        tracing::debug!(
            iterations = outcome.iterations,
            "linear solver stopped before tolerance"
        );
    }
    Ok(LinearModel {
        link,
        means: data.means,
        scales: data.scales,
        coef,
        intercept,
        feature_names: x.names().to_vec(),
        params,
        iterations: outcome.iterations,
        converged: outcome.converged,
    })
}

/// Ridge in closed form: `(ZᵀZ/n + alpha I) w = Zᵀy/n` by Cholesky.
fn ridge(data: &Standardized, y: &[f64], alpha: f64) -> Result<Vec<f64>, TrainError> {
    let (n, p) = (data.n as f64, data.p);
    let rows: Vec<Vec<f64>> = (0..p)
        .into_par_iter()
        .map(|a| (0..=a).map(|b| dot(data.col(a), data.col(b)) / n).collect())
        .collect();
    let mut gram = vec![0.0; p * p];
    for (a, row) in rows.iter().enumerate() {
        for (b, &v) in row.iter().enumerate() {
            gram[a * p + b] = v;
            gram[b * p + a] = v;
        }
    }
    for a in 0..p {
        gram[a * p + a] += alpha;
    }
    let rhs: Vec<f64> = (0..p)
        .into_par_iter()
        .map(|j| dot(data.col(j), y) / n)
        .collect();
    cholesky_solve(&mut gram, p, &rhs).ok_or_else(|| TrainError::Numerical {
        what: format!("ridge Cholesky factorisation of a {p}×{p} system with alpha = {alpha}"),
    })
}

/// Solves `A x = b` for symmetric positive definite `A` (row-major, overwritten by its factor).
fn cholesky_solve(a: &mut [f64], p: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    // L z = b, then Lᵀ x = z.
    let mut z = b.to_vec();
    for i in 0..p {
        for k in 0..i {
            z[i] -= a[i * p + k] * z[k];
        }
        z[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            z[i] -= a[k * p + i] * z[k];
        }
        z[i] /= a[i * p + i];
    }
    Some(z)
}

/// Elastic net by cyclic coordinate descent on the residual.
fn elastic_net_cd(
    data: &Standardized,
    y: &[f64],
    alpha: f64,
    l1_ratio: f64,
    stop: Stop,
) -> (Vec<f64>, optim::Outcome) {
    let n = data.n as f64;
    let p = data.p;
    let col_sq: Vec<f64> = (0..p).map(|j| dot(data.col(j), data.col(j)) / n).collect();
    let (l1, l2) = (alpha * l1_ratio, alpha * (1.0 - l1_ratio));
    let mut w = vec![0.0; p];
    let mut resid = y.to_vec();
    for iter in 0..stop.max_iter {
        if stop.out_of_time() {
            return (
                w,
                optim::Outcome {
                    iterations: iter,
                    converged: false,
                },
            );
        }
        let (mut max_step, mut max_w) = (0.0f64, 0.0f64);
        for j in 0..p {
            let z = data.col(j);
            let old = w[j];
            let rho = dot(z, &resid) / n + col_sq[j] * old;
            let new = soft_threshold(rho, l1) / (col_sq[j] + l2);
            if new != old {
                let delta = new - old;
                resid.iter_mut().zip(z).for_each(|(r, z)| *r -= delta * z);
                w[j] = new;
            }
            max_step = max_step.max((new - old).abs());
            max_w = max_w.max(new.abs());
        }
        if max_step <= stop.tol * max_w.max(f64::MIN_POSITIVE) || max_step == 0.0 {
            return (
                w,
                optim::Outcome {
                    iterations: iter + 1,
                    converged: true,
                },
            );
        }
    }
    (
        w,
        optim::Outcome {
            iterations: stop.max_iter,
            converged: false,
        },
    )
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

/// Logistic (k = 1) or softmax (k ≥ 3) regression. Returns coefficients (k × p), intercepts and
/// the solver outcome.
#[allow(clippy::too_many_arguments)]
fn logistic(
    data: &Standardized,
    labels: &[u32],
    k: usize,
    alpha: f64,
    l1_ratio: f64,
    stop: Stop,
    link: &Objective,
    y: &Target,
) -> (Vec<f64>, Vec<f64>, optim::Outcome) {
    let (n, p) = (data.n, data.p);
    let l2 = alpha * (1.0 - l1_ratio);
    let l1 = alpha * l1_ratio;
    // θ = [W (k×p row-major), b (k)]; start from the class priors so early iterations fit slopes.
    let mut theta = vec![0.0; k * p + k];
    theta[k * p..].copy_from_slice(&link.init_scores(y));
    // Row-major rows × k buffers reused by every evaluation.
    let mut scores = vec![0.0; k * n];
    let mut resid = vec![0.0; k * n];
    let mut eval = |th: &[f64], grad: &mut [f64]| -> f64 {
        let (w, b) = th.split_at(k * p);
        let losses: Vec<f64> = scores
            .par_chunks_mut(CHUNK * k)
            .zip(resid.par_chunks_mut(CHUNK * k))
            .enumerate()
            .map(|(c, (s, r))| {
                let start = c * CHUNK;
                let m = s.len() / k;
                for row in s.chunks_mut(k) {
                    row.copy_from_slice(b);
                }
                for j in 0..p {
                    let z = &data.col(j)[start..start + m];
                    for (row, &zv) in s.chunks_mut(k).zip(z) {
                        if zv != 0.0 {
                            for (o, sv) in row.iter_mut().enumerate() {
                                *sv += w[o * p + j] * zv;
                            }
                        }
                    }
                }
                let mut loss = 0.0;
                for (i, (srow, rrow)) in s.chunks(k).zip(r.chunks_mut(k)).enumerate() {
                    let label = labels[start + i] as usize;
                    if k == 1 {
                        let sv = srow[0];
                        let yv = label as f64;
                        loss += sv.max(0.0) + (-sv.abs()).exp().ln_1p() - yv * sv;
                        rrow[0] = 1.0 / (1.0 + (-sv).exp()) - yv;
                    } else {
                        let mx = srow.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let mut zsum = 0.0;
                        for (rv, &sv) in rrow.iter_mut().zip(srow) {
                            *rv = (sv - mx).exp();
                            zsum += *rv;
                        }
                        loss += mx + zsum.ln() - srow[label];
                        for (o, rv) in rrow.iter_mut().enumerate() {
                            *rv = *rv / zsum - if o == label { 1.0 } else { 0.0 };
                        }
                    }
                }
                loss
            })
            .collect();
        let nf = n as f64;
        let mut total = losses.iter().sum::<f64>() / nf;
        // Gradient: W[o, j] = Σ_i z_ij r_io / n + l2 W[o, j]; b[o] = Σ_i r_io / n.
        let resid_ref = &resid;
        let gw: Vec<Vec<f64>> = (0..p)
            .into_par_iter()
            .map(|j| {
                let z = data.col(j);
                let mut acc = vec![0.0; k];
                for (i, &zv) in z.iter().enumerate() {
                    if zv != 0.0 {
                        for (o, a) in acc.iter_mut().enumerate() {
                            *a += zv * resid_ref[i * k + o];
                        }
                    }
                }
                acc
            })
            .collect();
        for (j, acc) in gw.iter().enumerate() {
            for o in 0..k {
                grad[o * p + j] = acc[o] / nf + l2 * w[o * p + j];
            }
        }
        for o in 0..k {
            grad[k * p + o] = resid_ref.iter().skip(o).step_by(k).sum::<f64>() / nf;
        }
        total += 0.5 * l2 * w.iter().map(|v| v * v).sum::<f64>();
        total
    };
    let outcome = if l1 > 0.0 {
        let penalised: Vec<bool> = (0..k * p + k).map(|i| i < k * p).collect();
        optim::fista(&mut theta, &penalised, l1, stop, &mut eval)
    } else {
        optim::lbfgs(&mut theta, stop, &mut eval)
    };
    let b = theta.split_off(k * p);
    (theta, b, outcome)
}

//! Multilayer perceptron in pure Rust: ReLU hidden layers on standardised inputs, trained by
//! mini-batch Adam.
//!
//! - Inputs are standardised with the training means / standard deviations; a missing value
//!   becomes the mean, i.e. 0.
//! - Classification (binary too) ends in a softmax over `n_classes` outputs trained with
//!   cross-entropy; regression predicts a standardised target with squared error, and the
//!   prediction is mapped back with the stored target mean / standard deviation.
//! - `weight_decay` is an L2 penalty `weight_decay · ‖W‖² / 2` on the weights (not the biases)
//!   added to the mean batch loss, like `torch.optim.Adam(weight_decay=…)`.
//! - `dropout` zeroes each hidden unit with that probability during training (inverted
//!   dropout: survivors are scaled by 1 / (1 − p), so prediction needs no rescaling).
//! - Initialisation is He-uniform for the hidden layers and Glorot-uniform for the output layer,
//!   drawn from a ChaCha8 generator seeded by `FitOptions::seed`, which also shuffles the rows
//!   each epoch and draws the dropout masks: same seed, same data, same model — on any number of
//!   threads, since every parallel split is fixed by the sizes alone.
//! - With a validation set and `early_stopping_epochs > 0`, training stops once the validation
//!   loss has not improved for that many epochs and keeps the best epoch's weights. The deadline
//!   is checked after every batch; the model returned is the best-so-far (at least one batch).
//!
//! The batch products run on `matrixmultiply`'s SIMD kernels, split across the current rayon
//! pool when a product is large enough (see [`crate::dense::par_gemm`]).

use crate::catalogue::{MLP, mlp_specs};
use crate::dense::{View, column_stats, par_gemm, standardised_rows};
use crate::params::{Reader, resolve};
use crate::{FitOptions, Matrix, Predictions, Target, TrainError};
use microlearn_core::{ParamValue, Params, Task};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel work item when predicting or scoring the validation set; fixed so sums come
/// out the same for any thread count.
const PREDICT_CHUNK: usize = 1024;
/// Parameters per parallel work item of the Adam update; smaller layers update on one thread.
const UPDATE_CHUNK: usize = 1 << 14;
/// Adam's usual constants (Kingma & Ba 2015).
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;

/// One fully connected layer: `out = in · weights + bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `n_in × n_out`, row-major.
    pub weights: Vec<f32>,
    /// One per output.
    pub bias: Vec<f32>,
}

/// What the last layer's outputs mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MlpHead {
    /// Softmax logits, one per class.
    Classes {
        /// Classes.
        n_classes: usize,
    },
    /// One standardised value: the prediction is `output · std + mean`.
    Regression {
        /// Training target mean.
        mean: f64,
        /// Training target standard deviation (1 for a constant target).
        std: f64,
    },
}

/// A fitted multilayer perceptron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpModel {
    /// Output interpretation.
    pub head: MlpHead,
    /// Training mean per feature (also the value imputed for NaN).
    pub means: Vec<f64>,
    /// Training standard deviation per feature (1 for constant features).
    pub scales: Vec<f64>,
    /// Hidden layers (ReLU) then the output layer.
    pub layers: Vec<Layer>,
    /// Feature names seen at fit.
    pub feature_names: Vec<String>,
    /// Hyperparameters as used (`epochs` = the epoch whose weights were kept).
    pub params: Params,
    /// Mean training loss per epoch (with dropout, on the standardised target for regression).
    pub train_loss: Vec<f64>,
    /// Validation loss per epoch, when a validation set was given.
    pub valid_loss: Vec<f64>,
}

/// `m` rows of `input` (row-major, `layers[0].n_in` wide) through every layer; returns the
/// outputs, `m × n_out` of the last layer.
fn forward(layers: &[Layer], input: &[f32], m: usize) -> Vec<f32> {
    let mut cur: Option<Vec<f32>> = None;
    for (l, layer) in layers.iter().enumerate() {
        let mut out = vec![0.0f32; m * layer.n_out];
        for row in out.chunks_mut(layer.n_out) {
            row.copy_from_slice(&layer.bias);
        }
        let src = cur.as_deref().unwrap_or(input);
        par_gemm(
            m,
            layer.n_in,
            layer.n_out,
            View::rows(src, layer.n_in),
            View::rows(&layer.weights, layer.n_out),
            &mut out,
            true,
        );
        if l + 1 < layers.len() {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        cur = Some(out);
    }
    cur.unwrap_or_default()
}

/// Softmax of `logits` into `out` (f64), returning `log Σ exp` for the cross-entropy.
fn softmax(logits: &[f32], out: &mut [f64]) -> f64 {
    let mx = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut z = 0.0;
    for (o, &v) in out.iter_mut().zip(logits) {
        *o = (v as f64 - mx).exp();
        z += *o;
    }
    for o in out.iter_mut() {
        *o /= z;
    }
    mx + z.ln()
}

impl MlpModel {
    fn n_outputs(&self) -> usize {
        self.layers.last().map_or(1, |l| l.n_out)
    }

    /// Raw network outputs (logits / standardised value), row-major rows × outputs.
    pub fn raw_outputs(&self, x: &Matrix) -> Vec<f32> {
        let k = self.n_outputs();
        let n = x.n_rows();
        let mut out = vec![0.0f32; n * k];
        out.par_chunks_mut(PREDICT_CHUNK * k)
            .enumerate()
            .for_each(|(c, block)| {
                let start = c * PREDICT_CHUNK;
                let m = block.len() / k;
                let z = standardised_rows(x, &self.means, &self.scales, start..start + m);
                block.copy_from_slice(&forward(&self.layers, &z, m));
            });
        out
    }

    /// Predictions: softmax probabilities for classification, values for regression.
    pub fn predict(&self, x: &Matrix) -> Predictions {
        let raw = self.raw_outputs(x);
        match self.head {
            MlpHead::Classes { n_classes } => {
                let mut data = vec![0.0f64; raw.len()];
                data.par_chunks_mut(PREDICT_CHUNK * n_classes)
                    .zip(raw.par_chunks(PREDICT_CHUNK * n_classes))
                    .for_each(|(p, s)| {
                        for (pr, sr) in p.chunks_mut(n_classes).zip(s.chunks(n_classes)) {
                            softmax(sr, pr);
                        }
                    });
                Predictions::Probabilities { n_classes, data }
            }
            MlpHead::Regression { mean, std } => {
                Predictions::Values(raw.iter().map(|&v| v as f64 * std + mean).collect())
            }
        }
    }

    /// Mean |weight| leaving each input in the first layer. Inputs are standardised, so the
    /// magnitudes are comparable across features; it is a cheap proxy, blind to what later
    /// layers do with the signal.
    pub fn feature_importance(&self) -> Vec<f64> {
        let Some(first) = self.layers.first() else {
            return vec![0.0; self.feature_names.len()];
        };
        first
            .weights
            .chunks(first.n_out)
            .map(|row| row.iter().map(|w| f64::from(w.abs())).sum::<f64>() / first.n_out as f64)
            .collect()
    }
}

/// Training labels in the form the loss needs.
enum Labels<'a> {
    Classes(&'a [u32]),
    /// Standardised regression target.
    Values(Vec<f32>),
}

/// Summed loss of the output rows `out` (row-major, `k` wide) whose labels are `labels[rows[i]]`,
/// and (when `delta` is given) the gradient of the mean loss over these rows w.r.t. the outputs.
fn loss_and_delta(
    out: &[f32],
    labels: &Labels<'_>,
    rows: &[usize],
    k: usize,
    mut delta: Option<&mut [f32]>,
) -> f64 {
    let m = rows.len();
    let inv_m = 1.0 / m as f64;
    let mut loss = 0.0f64;
    let mut probs = vec![0.0f64; k];
    for (i, &r) in rows.iter().enumerate() {
        let o = &out[i * k..(i + 1) * k];
        match labels {
            Labels::Classes(y) => {
                let label = y[r] as usize;
                let lse = softmax(o, &mut probs);
                loss += lse - o[label] as f64;
                if let Some(d) = delta.as_deref_mut() {
                    for (c, (dv, p)) in d[i * k..(i + 1) * k].iter_mut().zip(&probs).enumerate() {
                        let t = if c == label { 1.0 } else { 0.0 };
                        *dv = ((p - t) * inv_m) as f32;
                    }
                }
            }
            Labels::Values(t) => {
                let resid = o[0] as f64 - t[r] as f64;
                loss += 0.5 * resid * resid;
                if let Some(d) = delta.as_deref_mut() {
                    d[i] = (resid * inv_m) as f32;
                }
            }
        }
    }
    loss
}

/// Adam moments of one layer.
struct Moments {
    mw: Vec<f32>,
    vw: Vec<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
}

/// One Adam step on `w` with gradient `g` (plus `decay · w`), step size already bias-corrected.
fn adam(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr_t: f32, decay: f32) {
    let step = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g + decay * *w;
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *w -= lr_t * *m / (v.sqrt() + ADAM_EPS);
        }
    };
    if w.len() <= UPDATE_CHUNK {
        step(w, g, m, v);
    } else {
        w.par_chunks_mut(UPDATE_CHUNK)
            .zip(g.par_chunks(UPDATE_CHUNK))
            .zip(m.par_chunks_mut(UPDATE_CHUNK))
            .zip(v.par_chunks_mut(UPDATE_CHUNK))
            .for_each(|(((w, g), m), v)| step(w, g, m, v));
    }
}

/// Hyperparameters of one fit, read once.
struct Config {
    hidden_layers: usize,
    hidden_units: usize,
    learning_rate: f32,
    epochs: usize,
    batch_size: usize,
    weight_decay: f32,
    dropout: f32,
    early_stopping_epochs: usize,
}

fn init_layers(sizes: &[usize], rng: &mut ChaCha8Rng) -> Vec<Layer> {
    let last = sizes.len() - 2;
    sizes
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let (n_in, n_out) = (w[0], w[1]);
            // He for ReLU layers keeps activations' variance steady; Glorot for the linear head.
            let bound = if l < last {
                (6.0 / n_in as f64).sqrt()
            } else {
                (6.0 / (n_in + n_out) as f64).sqrt()
            } as f32;
            Layer {
                n_in,
                n_out,
                weights: (0..n_in * n_out)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect(),
                bias: vec![0.0; n_out],
            }
        })
        .collect()
}

/// Checks the validation set against the training set's shape and task.
fn check_valid(
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<(), TrainError> {
    let Some((vx, vy)) = opts.valid else {
        return Ok(());
    };
    crate::matrix::validate_inputs(MLP, task, vx, vy, "validation")?;
    if vx.n_cols() != x.n_cols() {
        return Err(TrainError::ShapeMismatch {
            what: "validation matrix columns".into(),
            expected: x.n_cols(),
            got: vx.n_cols(),
        });
    }
    if let (Target::Classes { n_classes: a, .. }, Target::Classes { n_classes: b, .. }) = (y, vy)
        && a != b
    {
        return Err(TrainError::ShapeMismatch {
            what: "validation n_classes".into(),
            expected: *a,
            got: *b,
        });
    }
    Ok(())
}

/// Mean loss of `layers` on the (already standardised, row-major) validation rows.
fn valid_loss(layers: &[Layer], z: &[f32], labels: &Labels<'_>, p: usize, k: usize) -> f64 {
    let n = z.len() / p.max(1);
    let parts: Vec<f64> = (0..n.div_ceil(PREDICT_CHUNK))
        .into_par_iter()
        .map(|c| {
            let start = c * PREDICT_CHUNK;
            let m = PREDICT_CHUNK.min(n - start);
            let out = forward(layers, &z[start * p..(start + m) * p], m);
            let rows: Vec<usize> = (start..start + m).collect();
            loss_and_delta(&out, labels, &rows, k, None)
        })
        .collect();
    parts.iter().sum::<f64>() / n.max(1) as f64
}

/// Fits an MLP; runs on the current rayon pool.
pub(crate) fn fit(
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<MlpModel, TrainError> {
    let mut params = resolve(MLP, &mlp_specs(), params)?;
    let n_classes = crate::matrix::validate_inputs(MLP, task, x, y, "training")?;
    check_valid(task, x, y, opts)?;
    let r = Reader(&params);
    let cfg = Config {
        hidden_layers: r.usize("hidden_layers").max(1),
        hidden_units: r.usize("hidden_units").max(1),
        learning_rate: r.f64("learning_rate") as f32,
        epochs: r.usize("epochs").max(1),
        batch_size: r.usize("batch_size").max(1),
        weight_decay: r.f64("weight_decay") as f32,
        dropout: r.f64("dropout") as f32,
        early_stopping_epochs: r.usize("early_stopping_epochs"),
    };

    let (n, p) = (x.n_rows(), x.n_cols());
    let (means, scales) = column_stats(x);
    let z = standardised_rows(x, &means, &scales, 0..n);
    let (head, labels) = match y {
        Target::Classes { y, .. } => (MlpHead::Classes { n_classes }, Labels::Classes(y)),
        Target::Regression(t) => {
            let (mean, std) = crate::dense::finite_mean_scale(t);
            let ts = t.iter().map(|v| ((v - mean) / std) as f32).collect();
            (MlpHead::Regression { mean, std }, Labels::Values(ts))
        }
    };
    let k = match head {
        MlpHead::Classes { n_classes } => n_classes,
        MlpHead::Regression { .. } => 1,
    };
    // The validation rows, standardised with the training statistics, and their labels.
    let valid = opts.valid.map(|(vx, vy)| {
        let vz = standardised_rows(vx, &means, &scales, 0..vx.n_rows());
        let vl = match (vy, &head) {
            (Target::Regression(t), MlpHead::Regression { mean, std }) => {
                Labels::Values(t.iter().map(|v| ((v - mean) / std) as f32).collect())
            }
            (Target::Classes { y, .. }, _) => Labels::Classes(y),
            (Target::Regression(_), MlpHead::Classes { .. }) => {
                unreachable!("validate_inputs matched both targets to the task")
            }
        };
        (vz, vl)
    });

    let mut sizes = vec![p];
    sizes.extend(std::iter::repeat_n(cfg.hidden_units, cfg.hidden_layers));
    sizes.push(k);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut layers = init_layers(&sizes, &mut rng);
    let n_layers = layers.len();
    let mut moments: Vec<Moments> = layers
        .iter()
        .map(|l| Moments {
            mw: vec![0.0; l.weights.len()],
            vw: vec![0.0; l.weights.len()],
            mb: vec![0.0; l.n_out],
            vb: vec![0.0; l.n_out],
        })
        .collect();
    let bs = cfg.batch_size.min(n);
    let widest = sizes[1..].iter().copied().max().unwrap_or(1);
    let mut xb = vec![0.0f32; bs * p];
    let mut acts: Vec<Vec<f32>> = layers.iter().map(|l| vec![0.0; bs * l.n_out]).collect();
    let mut masks: Vec<Vec<f32>> = layers.iter().map(|l| vec![1.0; bs * l.n_out]).collect();
    let mut grad_w: Vec<Vec<f32>> = layers.iter().map(|l| vec![0.0; l.weights.len()]).collect();
    let mut grad_b: Vec<Vec<f32>> = layers.iter().map(|l| vec![0.0; l.n_out]).collect();
    let mut delta = vec![0.0f32; bs * widest];
    let mut delta_prev = vec![0.0f32; bs * widest];
    let keep = 1.0 - cfg.dropout;

    let early_stopping = cfg.early_stopping_epochs > 0 && valid.is_some();
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0i32;
    let mut kept: Option<(Vec<Layer>, usize)> = None;
    let mut best_valid = f64::INFINITY;
    let mut train_loss = Vec::new();
    let mut valid_losses = Vec::new();
    let mut out_of_time = false;
    let mut diverged = false;

    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        let mut seen = 0usize;
        for batch in order.chunks(bs) {
            let m = batch.len();
            for (dst, &i) in xb.chunks_mut(p).zip(batch) {
                dst.copy_from_slice(&z[i * p..(i + 1) * p]);
            }
            // Forward, keeping every layer's (post-ReLU, post-dropout) output for backprop.
            for l in 0..n_layers {
                let (before, rest) = acts.split_at_mut(l);
                let out = &mut rest[0][..m * layers[l].n_out];
                let input: &[f32] = if l == 0 { &xb[..m * p] } else { &before[l - 1] };
                let layer = &layers[l];
                for row in out.chunks_mut(layer.n_out) {
                    row.copy_from_slice(&layer.bias);
                }
                par_gemm(
                    m,
                    layer.n_in,
                    layer.n_out,
                    View::rows(input, layer.n_in),
                    View::rows(&layer.weights, layer.n_out),
                    out,
                    true,
                );
                if l + 1 < n_layers {
                    out.iter_mut().for_each(|v| *v = v.max(0.0));
                    if cfg.dropout > 0.0 {
                        for (v, mk) in out.iter_mut().zip(masks[l].iter_mut()) {
                            *mk = if rng.random::<f32>() < cfg.dropout {
                                0.0
                            } else {
                                1.0 / keep
                            };
                            *v *= *mk;
                        }
                    }
                }
            }
            let k_out = layers[n_layers - 1].n_out;
            let batch_loss = loss_and_delta(
                &acts[n_layers - 1][..m * k_out],
                &labels,
                batch,
                k,
                Some(&mut delta[..m * k_out]),
            );
            if !batch_loss.is_finite() {
                diverged = true;
                break;
            }
            loss_sum += batch_loss;
            seen += m;
            // Backward: gradients of every layer, then one Adam step for all of them.
            for l in (0..n_layers).rev() {
                let layer = &layers[l];
                let (n_in, n_out) = (layer.n_in, layer.n_out);
                let input: &[f32] = if l == 0 {
                    &xb[..m * p]
                } else {
                    &acts[l - 1][..m * n_in]
                };
                let d = &delta[..m * n_out];
                par_gemm(
                    n_in,
                    m,
                    n_out,
                    View::transposed(input, n_in),
                    View::rows(d, n_out),
                    &mut grad_w[l],
                    false,
                );
                let gb = &mut grad_b[l];
                gb.fill(0.0);
                for row in d.chunks(n_out) {
                    gb.iter_mut().zip(row).for_each(|(g, v)| *g += v);
                }
                if l > 0 {
                    let dp = &mut delta_prev[..m * n_in];
                    par_gemm(
                        m,
                        n_out,
                        n_in,
                        View::rows(d, n_out),
                        View::transposed(&layer.weights, n_out),
                        dp,
                        false,
                    );
                    // ReLU and dropout: the output was kept (and scaled by the mask) iff it is > 0.
                    let a = &acts[l - 1][..m * n_in];
                    let mk = &masks[l - 1][..m * n_in];
                    for ((g, &av), &mv) in dp.iter_mut().zip(a).zip(mk) {
                        *g = if av > 0.0 { *g * mv } else { 0.0 };
                    }
                    std::mem::swap(&mut delta, &mut delta_prev);
                }
            }
            step += 1;
            let lr_t =
                cfg.learning_rate * (1.0 - BETA2.powi(step)).sqrt() / (1.0 - BETA1.powi(step));
            for ((layer, mo), (gw, gb)) in layers
                .iter_mut()
                .zip(&mut moments)
                .zip(grad_w.iter().zip(&grad_b))
            {
                adam(
                    &mut layer.weights,
                    gw,
                    &mut mo.mw,
                    &mut mo.vw,
                    lr_t,
                    cfg.weight_decay,
                );
                adam(&mut layer.bias, gb, &mut mo.mb, &mut mo.vb, lr_t, 0.0);
            }
            if opts.should_stop() {
                out_of_time = true;
                break;
            }
        }
        if diverged {
            tracing::warn!(
                epoch,
                learning_rate = cfg.learning_rate,
                "mlp loss became non-finite; keeping the last finite epoch"
            );
            break;
        }
        train_loss.push(loss_sum / seen.max(1) as f64);
        if let Some((vz, vl)) = &valid {
            let loss = valid_loss(&layers, vz, vl, p, k);
            valid_losses.push(loss);
            if !early_stopping {
                kept = Some((layers.clone(), epoch));
            } else if loss < best_valid {
                best_valid = loss;
                kept = Some((layers.clone(), epoch));
            } else if kept
                .as_ref()
                .is_some_and(|(_, best)| epoch - best >= cfg.early_stopping_epochs)
            {
                tracing::debug!(epoch, best_valid, "mlp early stopping");
                break;
            }
        } else {
            kept = Some((layers.clone(), epoch));
        }
        if out_of_time {
            tracing::debug!(epoch, "mlp deadline reached");
            break;
        }
    }
    let Some((layers, epoch)) = kept else {
        return Err(TrainError::Numerical {
            what: format!(
                "mlp training diverged (non-finite loss) in its first epoch with learning_rate = {}; \
                 a smaller learning_rate should help",
                cfg.learning_rate
            ),
        });
    };
    params.set("epochs", ParamValue::Int(epoch as i64));
    Ok(MlpModel {
        head,
        means,
        scales,
        layers,
        feature_names: x.names().to_vec(),
        params,
        train_loss,
        valid_loss: valid_losses,
    })
}

//! The `mlp` kind trained through libtorch (`tch`), on CUDA when a GPU is present: same
//! hyperparameters, same standardisation and heads as the pure-Rust trainer in `mlp.rs`, and the
//! same [`MlpModel`] out, so a model trained on a GPU is served by the pure-Rust forward pass on
//! any CPU (bundles never need libtorch).
//!
//! Built only with the `torch` cargo feature. Which trainer runs is decided by
//! `MICROLEARN_TORCH_DEVICE`: `cuda` or `cpu` force libtorch on that device, `off` forces the
//! pure-Rust trainer, and unset (or `auto`) uses libtorch exactly when CUDA is available — on a
//! CPU the pure-Rust trainer is as fast for the small networks tabular data needs, without
//! libtorch's thread pool competing with parallel trials.

use crate::catalogue::{MLP, mlp_specs};
use crate::dense::{column_stats, standardised_rows};
use crate::mlp::{Layer, MlpHead, MlpModel};
use crate::params::{Reader, resolve};
use crate::{FitOptions, Matrix, Target, TrainError};
use microlearn_core::{ParamValue, Params, Task};
use std::sync::atomic::{AtomicU8, Ordering};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

/// A process-wide choice that overrides `MICROLEARN_TORCH_DEVICE` (0 = none).
static OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// Chooses the `mlp` trainer for this process, overriding `MICROLEARN_TORCH_DEVICE`: `"cuda"`,
/// `"cpu"` (libtorch on that device), `"off"` (pure Rust) or `"auto"`.
pub fn set_torch_device(choice: &str) {
    let v = match choice {
        "off" => 1,
        "cpu" => 2,
        "cuda" => 3,
        _ => 4,
    };
    OVERRIDE.store(v, Ordering::Relaxed);
}

/// The device libtorch should train on, or `None` for the pure-Rust trainer.
pub(crate) fn device() -> Option<Device> {
    let env = std::env::var("MICROLEARN_TORCH_DEVICE");
    let choice = match OVERRIDE.load(Ordering::Relaxed) {
        1 => "off",
        2 => "cpu",
        3 => "cuda",
        4 => "auto",
        _ => env.as_deref().unwrap_or("auto"),
    };
    match choice {
        "off" => None,
        "cpu" => Some(Device::Cpu),
        "cuda" => Some(Device::Cuda(0)),
        _ => tch::Cuda::is_available().then_some(Device::Cuda(0)),
    }
}

/// CUDA devices libtorch sees.
pub(crate) fn gpu_count() -> usize {
    if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    }
}

fn torch_err(what: &str) -> impl Fn(tch::TchError) -> TrainError + '_ {
    move |e| TrainError::Numerical {
        what: format!("libtorch {what}: {e}"),
    }
}

/// One forward pass through `layers`: ReLU (and dropout while training) between layers.
fn forward(layers: &[nn::Linear], x: &Tensor, dropout: f64, train: bool) -> Tensor {
    let mut h = x.shallow_clone();
    for (i, l) in layers.iter().enumerate() {
        h = l.forward(&h);
        if i + 1 < layers.len() {
            h = h.relu();
            if dropout > 0.0 {
                h = h.dropout(dropout, train);
            }
        }
    }
    h
}

/// The layers as the pure-Rust model stores them (`n_in × n_out` row-major weights).
fn export(layers: &[nn::Linear]) -> Result<Vec<Layer>, TrainError> {
    layers
        .iter()
        .map(|l| {
            let _guard = tch::no_grad_guard();
            let w = l.ws.to_device(Device::Cpu).to_kind(Kind::Float);
            let (n_out, n_in) = w.size2().map_err(torch_err("weight shape"))?;
            let weights = Vec::<f32>::try_from(w.transpose(0, 1).contiguous().view(-1))
                .map_err(torch_err("weight copy"))?;
            let bias = match &l.bs {
                Some(b) => Vec::<f32>::try_from(b.to_device(Device::Cpu).to_kind(Kind::Float))
                    .map_err(torch_err("bias copy"))?,
                None => vec![0.0; n_out as usize],
            };
            Ok(Layer {
                n_in: n_in as usize,
                n_out: n_out as usize,
                weights,
                bias,
            })
        })
        .collect()
}

/// Labels as a tensor: class indices (int64) or the standardised target (float, column).
fn labels(y: &Target, head: &MlpHead, device: Device) -> Tensor {
    match (y, head) {
        (Target::Classes { y, .. }, _) => {
            let v: Vec<i64> = y.iter().map(|&c| i64::from(c)).collect();
            Tensor::from_slice(&v).to_device(device)
        }
        (Target::Regression(t), MlpHead::Regression { mean, std }) => {
            let v: Vec<f32> = t.iter().map(|v| ((v - mean) / std) as f32).collect();
            Tensor::from_slice(&v).view([-1, 1]).to_device(device)
        }
        (Target::Regression(t), MlpHead::Classes { .. }) => {
            // validate_inputs matches targets to the task first; a float column is still a
            // well-defined input here.
            Tensor::from_slice(t).to_device(device)
        }
    }
}

fn loss(out: &Tensor, y: &Tensor, head: &MlpHead) -> Tensor {
    match head {
        MlpHead::Classes { .. } => out.cross_entropy_for_logits(y),
        MlpHead::Regression { .. } => out.mse_loss(y, Reduction::Mean),
    }
}

/// Fits the `mlp` kind with libtorch on `device`.
pub(crate) fn fit(
    device: Device,
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<MlpModel, TrainError> {
    let mut params = resolve(MLP, &mlp_specs(), params)?;
    let n_classes = crate::matrix::validate_inputs(MLP, task, x, y, "training")?;
    if let Some((vx, vy)) = opts.valid {
        crate::matrix::validate_inputs(MLP, task, vx, vy, "validation")?;
    }
    let r = Reader(&params);
    let hidden_layers = r.usize("hidden_layers").max(1);
    let hidden_units = r.usize("hidden_units").max(1) as i64;
    let learning_rate = r.f64("learning_rate");
    let epochs = r.usize("epochs").max(1);
    let batch_size = r.usize("batch_size").max(1) as i64;
    let weight_decay = r.f64("weight_decay");
    let dropout = r.f64("dropout");
    let patience = r.usize("early_stopping_epochs");

    tch::manual_seed(opts.seed as i64);
    if device == Device::Cpu {
        tch::set_num_threads(opts.threads.max(1) as i32);
    }
    let (n, p) = (x.n_rows(), x.n_cols());
    let (means, scales) = column_stats(x);
    let head = match y {
        Target::Classes { .. } => MlpHead::Classes { n_classes },
        Target::Regression(t) => {
            // The same target scaling as the pure-Rust trainer, so the heads agree.
            let (mean, std) = crate::dense::finite_mean_scale(t);
            MlpHead::Regression { mean, std }
        }
    };
    let k = match head {
        MlpHead::Classes { n_classes } => n_classes as i64,
        MlpHead::Regression { .. } => 1,
    };
    let to_tensor = |m: &Matrix| {
        let z = standardised_rows(m, &means, &scales, 0..m.n_rows());
        Tensor::from_slice(&z)
            .view([m.n_rows() as i64, p as i64])
            .to_device(device)
    };
    let xt = to_tensor(x);
    let yt = labels(y, &head, device);
    let valid = opts
        .valid
        .map(|(vx, vy)| (to_tensor(vx), labels(vy, &head, device)));

    let vs = nn::VarStore::new(device);
    let root = vs.root();
    let mut layers = Vec::with_capacity(hidden_layers + 1);
    let mut width = p as i64;
    for i in 0..hidden_layers {
        layers.push(nn::linear(
            &root / format!("hidden{i}"),
            width,
            hidden_units,
            Default::default(),
        ));
        width = hidden_units;
    }
    layers.push(nn::linear(&root / "out", width, k, Default::default()));
    let mut opt = nn::Adam {
        wd: weight_decay,
        ..Default::default()
    }
    .build(&vs, learning_rate)
    .map_err(torch_err("optimizer"))?;

    let mut train_loss = Vec::new();
    let mut valid_loss = Vec::new();
    let mut best: Option<(f64, usize, Vec<Layer>)> = None;
    let mut kept_epoch = 0;
    'epochs: for epoch in 1..=epochs {
        let order = Tensor::randperm(n as i64, (Kind::Int64, device));
        let mut sum = Tensor::zeros([], (Kind::Float, device));
        let mut batches = 0i64;
        let mut start = 0i64;
        while start < n as i64 {
            let len = batch_size.min(n as i64 - start);
            let idx = order.narrow(0, start, len);
            let out = forward(&layers, &xt.index_select(0, &idx), dropout, true);
            let l = loss(&out, &yt.index_select(0, &idx), &head);
            opt.backward_step(&l);
            sum += l.detach();
            batches += 1;
            start += len;
            // The deadline is checked per batch, like the pure-Rust trainer; reading the clock
            // does not synchronise the GPU.
            if opts.should_stop() {
                kept_epoch = epoch;
                train_loss.push(f64::try_from(sum / batches as f64).unwrap_or(f64::NAN));
                break 'epochs;
            }
        }
        train_loss.push(f64::try_from(sum / batches as f64).unwrap_or(f64::NAN));
        kept_epoch = epoch;
        if let Some((vx, vy)) = &valid {
            let v = tch::no_grad(|| loss(&forward(&layers, vx, dropout, false), vy, &head));
            let v = f64::try_from(v).unwrap_or(f64::INFINITY);
            valid_loss.push(v);
            if best.as_ref().is_none_or(|(b, _, _)| v < *b) {
                best = Some((v, epoch, export(&layers)?));
            } else if patience > 0 && best.as_ref().is_some_and(|(_, e, _)| epoch - e >= patience) {
                break;
            }
        }
    }
    let final_layers = match best {
        Some((_, epoch, layers)) if patience > 0 => {
            kept_epoch = epoch;
            layers
        }
        _ => export(&layers)?,
    };
    params.set("epochs", ParamValue::Int(kept_epoch as i64));
    Ok(MlpModel {
        head,
        means,
        scales,
        layers: final_layers,
        feature_names: x.names().to_vec(),
        params,
        train_loss,
        valid_loss,
    })
}

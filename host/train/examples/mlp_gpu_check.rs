//! GPU check of the `torch` feature: trains the `mlp` kind through libtorch on CUDA (or the
//! device `MICROLEARN_TORCH_DEVICE` names) on a synthetic table and prints training throughput
//! as one JSON line, for `bench/gpu_check.py` to compare with the same network in PyTorch.
//!
//! `cargo run --release -p microlearn-train --features torch --example mlp_gpu_check -- \
//!   [rows] [cols] [epochs]`

use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Target, fit, mlp_backend};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let p: usize = args.next().map_or(Ok(50), |s| s.parse())?;
    let epochs: i64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let cols: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
        .collect();
    let y: Vec<u32> = (0..n)
        .map(|i| u32::from(cols[0][i] * cols[1][i] + cols[2][i].sin() > 0.0))
        .collect();
    let x = Matrix::from_columns((0..p).map(|j| format!("f{j}")).collect(), cols)?;
    let mut params = Params::new();
    params.set("hidden_layers", ParamValue::Int(2));
    params.set("hidden_units", ParamValue::Int(256));
    params.set("batch_size", ParamValue::Int(1024));
    params.set("epochs", ParamValue::Int(epochs));
    params.set("early_stopping_epochs", ParamValue::Int(0));
    let opts = FitOptions {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        deadline: None,
        seed: 1,
        valid: None,
        cancel: None,
    };
    let t = Instant::now();
    let model = fit(
        "mlp",
        &params,
        Task::Binary,
        &x,
        &Target::Classes {
            y: y.clone(),
            n_classes: 2,
        },
        &opts,
    )?;
    let secs = t.elapsed().as_secs_f64();
    let pred = model.predict(&x).argmax().ok_or("probabilities")?;
    let acc = pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / n as f64;
    println!(
        "{}",
        serde_json::json!({
            "backend": mlp_backend(),
            "rows": n, "cols": p, "epochs": epochs,
            "fit_s": secs,
            "samples_per_s": n as f64 * epochs as f64 / secs,
            "train_accuracy": acc,
        })
    );
    Ok(())
}

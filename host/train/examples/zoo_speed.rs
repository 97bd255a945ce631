//! Speed check for the dense kinds: fit and predict times of `knn` and `mlp` on a synthetic
//! binary task with 20 features (a nonlinear rule plus label noise), and held-out accuracy.
//!
//! `cargo run --release -p microlearn-train --example zoo_speed [rows] [threads]`
//! (defaults: 50 000 rows, 2 threads). kNN predicts a 10 000-row held-out set against the
//! training rows; the MLP runs 20 epochs with default layers (2 × 64 units, batch 128).

use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const FEATURES: usize = 20;

fn synthetic(
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Matrix, Vec<u32>), Box<dyn std::error::Error>> {
    let cols: Vec<Vec<f64>> = (0..FEATURES)
        .map(|_| (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
        .collect();
    let y = (0..n)
        .map(|i| {
            let s = cols[0][i] * cols[1][i] * 4.0 + cols[2][i].sin() * 2.0 + cols[3][i]
                - cols[4][i].abs();
            u32::from(s + (rng.random::<f64>() - 0.5) > 0.0)
        })
        .collect();
    let names = (0..FEATURES).map(|j| format!("f{j}")).collect();
    Ok((Matrix::from_columns(names, cols)?, y))
}

fn accuracy(pred: &Predictions, y: &[u32]) -> f64 {
    let hits = pred
        .argmax()
        .unwrap_or_default()
        .iter()
        .zip(y)
        .filter(|(a, b)| a == b)
        .count();
    hits as f64 / y.len() as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(50_000), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let (x, y) = synthetic(n, &mut rng)?;
    let (tx, ty) = synthetic(10_000, &mut rng)?;
    let target = Target::Classes {
        y: y.clone(),
        n_classes: 2,
    };
    let opts = FitOptions {
        threads,
        deadline: None,
        seed: 1,
        valid: None,
        cancel: None,
    };
    // Predictions run on the caller's pool, so time them on one of the same size.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;

    let mut mlp = Params::new();
    mlp.set("epochs", ParamValue::Int(20));
    for (kind, params) in [("knn", Params::new()), ("mlp", mlp)] {
        let t = Instant::now();
        let model = fit(kind, &params, Task::Binary, &x, &target, &opts)?;
        let fit_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let pred = pool.install(|| model.predict(&tx));
        let pred_s = t.elapsed().as_secs_f64();
        println!(
            "{kind} {n}x{FEATURES} binary, {threads} threads: fit {fit_s:.3}s, predict {} rows {pred_s:.3}s, held-out accuracy {:.4}",
            tx.n_rows(),
            accuracy(&pred, &ty)
        );
    }
    Ok(())
}

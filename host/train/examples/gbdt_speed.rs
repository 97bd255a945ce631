//! Speed sanity check: GBDT on a synthetic 200k × 20 binary task, 100 rounds, 31 leaves,
//! 2 threads. `cargo run --release -p microlearn-train --example gbdt_speed [rows] [threads]`.

use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let p = 20;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let cols: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
        .collect();
    // A nonlinear rule over a few features plus label noise.
    let y: Vec<u32> = (0..n)
        .map(|i| {
            let s = cols[0][i] * cols[1][i] * 4.0 + cols[2][i].sin() * 2.0 + cols[3][i]
                - cols[4][i].abs();
            let noisy = s + (rng.random::<f64>() - 0.5);
            u32::from(noisy > 0.0)
        })
        .collect();
    let names = (0..p).map(|j| format!("f{j}")).collect();
    let x = Matrix::from_columns(names, cols)?;
    let target = Target::Classes {
        y: y.clone(),
        n_classes: 2,
    };
    let mut params = Params::new();
    params.set("n_rounds", ParamValue::Int(100));
    params.set("num_leaves", ParamValue::Int(31));
    params.set("early_stopping_rounds", ParamValue::Int(0));
    let opts = FitOptions {
        threads,
        deadline: None,
        seed: 1,
        valid: None,
        cancel: None,
    };
    let t = Instant::now();
    let model = fit("gbdt", &params, Task::Binary, &x, &target, &opts)?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pred = model.predict(&x);
    let pred_s = t.elapsed().as_secs_f64();
    let Predictions::Probabilities { data, .. } = pred else {
        return Err("binary model returned values".into());
    };
    let correct = y
        .iter()
        .enumerate()
        .filter(|&(i, &c)| (data[2 * i + 1] > 0.5) == (c == 1))
        .count();
    println!(
        "gbdt {n}x{p} binary, 100 rounds, 31 leaves, {threads} threads: fit {fit_s:.3}s, predict {pred_s:.3}s, train accuracy {:.4}",
        correct as f64 / n as f64
    );
    Ok(())
}

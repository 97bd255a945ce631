#![allow(dead_code)]

use microlearn_train::{FitOptions, Matrix, Predictions, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| lo + (hi - lo) * rng.random::<f64>())
        .collect()
}

pub fn matrix(cols: Vec<Vec<f64>>) -> Matrix {
    let names = (0..cols.len()).map(|j| format!("f{j}")).collect();
    Matrix::from_columns(names, cols).expect("equal columns")
}

pub fn opts() -> FitOptions<'static> {
    FitOptions {
        threads: 2,
        deadline: None,
        seed: 7,
        valid: None,
        cancel: None,
    }
}

pub fn probs(p: &Predictions) -> (usize, &[f64]) {
    match p {
        Predictions::Probabilities { n_classes, data } => (*n_classes, data),
        Predictions::Values(_) => panic!("expected probabilities"),
    }
}

pub fn values(p: &Predictions) -> &[f64] {
    match p {
        Predictions::Values(v) => v,
        Predictions::Probabilities { .. } => panic!("expected values"),
    }
}

pub fn accuracy(p: &Predictions, y: &[u32]) -> f64 {
    let pred = p.argmax().expect("classification predictions");
    pred.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
}

pub fn r2(pred: &[f64], y: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = pred.iter().zip(y).map(|(p, t)| (p - t).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|t| (t - mean).powi(2)).sum();
    1.0 - ss_res / ss_tot
}

pub fn classes(y: Vec<u32>, n_classes: usize) -> Target {
    Target::Classes { y, n_classes }
}

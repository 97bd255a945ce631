//! Speed check for `random_forest` and `extra_trees` (with `gbdt` as a control) on the shapes the
//! AutoML search cross-validates most: small tables grown into deep trees.
//!
//! `cargo run --release -p microlearn-train --example forest_speed [reps] [filter]`
//!
//! Datasets:
//! - `small`: synthetic 2 600 × 13, 4 classes (5 continuous columns, 3 integer columns, a
//!   5-level one-hot group), like the prepared `hpc_jobs` table;
//! - `large`: synthetic 40 000 × 20, 4 classes;
//! - `hpc_jobs`: the real table from `$MICROLEARN_DATASETS` (default `../shared/datasets` next
//!   to the workspace) when it is there, its two string columns as categorical codes.
//!
//! Every fit runs on one thread; `reps` (default 1) repeats each fit and keeps the fastest.
//! Each line prints seconds per fit, milliseconds per tree (per bag: a multiclass forest grows
//! one tree per class for every bag), held-out accuracy and log-loss (RMSE for regression),
//! and a fingerprint of the serialised model: equal fingerprints across code changes mean
//! bit-identical models. `filter` keeps only lines whose label contains it.

use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Predictions, Target, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

/// A train / held-out pair.
struct Data {
    x: Matrix,
    y: Target,
    xt: Matrix,
    yt: Target,
    task: Task,
}

/// Synthetic 4-class data: two noisy latent scores, each thresholded at 0, give the class bits.
/// The first score is additive over continuous and integer columns, the second an interaction
/// plus a group effect, so trees need depth and several feature kinds to fit it.
fn synthetic(n: usize, p: usize, seed: u64) -> Result<(Matrix, Vec<u32>, Vec<f64>), Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_cont = p - 8;
    let mut cols: Vec<Vec<f64>> = (0..n_cont)
        .map(|_| (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
        .collect();
    cols.push(
        (0..n)
            .map(|_| f64::from(rng.random_range(0..200u32)))
            .collect(),
    );
    cols.push(
        (0..n)
            .map(|_| f64::from(rng.random_range(0..20u32)))
            .collect(),
    );
    cols.push(
        (0..n)
            .map(|_| f64::from(rng.random_range(0..11u32)))
            .collect(),
    );
    let group: Vec<usize> = (0..n).map(|_| rng.random_range(0..5usize)).collect();
    for g in 0..5 {
        cols.push(group.iter().map(|&v| f64::from(u8::from(v == g))).collect());
    }
    let mut y = Vec::with_capacity(n);
    let mut score = Vec::with_capacity(n);
    for i in 0..n {
        let a = cols[0][i] + 0.5 * cols[1][i] - cols[n_cont + 2][i] / 10.0
            + cols[n_cont][i] / 200.0
            + 0.4 * (rng.random::<f64>() - 0.5);
        let b = 2.0 * cols[2][i] * cols[3][i] + [-0.5, -0.2, 0.0, 0.2, 0.5][group[i]]
            - cols[n_cont + 1][i] / 40.0
            + 0.4 * (rng.random::<f64>() - 0.5);
        y.push(u32::from(a > 0.0) * 2 + u32::from(b > 0.0));
        score.push(a * 10.0 + b);
    }
    let names = (0..cols.len()).map(|j| format!("f{j}")).collect();
    Ok((Matrix::from_columns(names, cols)?, y, score))
}

/// Splits rows into the first `n_train` and the rest.
fn split(x: &Matrix, n_train: usize) -> (Matrix, Matrix) {
    let train: Vec<usize> = (0..n_train).collect();
    let test: Vec<usize> = (n_train..x.n_rows()).collect();
    (x.take_rows(&train), x.take_rows(&test))
}

fn synthetic_data(n_train: usize, n_test: usize, p: usize) -> Result<[Data; 2], Error> {
    let (x, y, score) = synthetic(n_train + n_test, p, 42)?;
    let (xtr, xte) = split(&x, n_train);
    let classes = |v: &[u32]| Target::Classes {
        y: v.to_vec(),
        n_classes: 4,
    };
    Ok([
        Data {
            x: xtr.clone(),
            y: classes(&y[..n_train]),
            xt: xte.clone(),
            yt: classes(&y[n_train..]),
            task: Task::Multiclass,
        },
        Data {
            x: xtr,
            y: Target::Regression(score[..n_train].to_vec()),
            xt: xte,
            yt: Target::Regression(score[n_train..].to_vec()),
            task: Task::Regression,
        },
    ])
}

/// Reads one `hpc_jobs` CSV: numeric columns as they are, `protocol` and `day` as categorical
/// codes (in order of first appearance across both files, through `codes`), `class` as the
/// target.
fn read_hpc(path: &PathBuf, codes: &mut [Vec<String>; 3]) -> Result<(Matrix, Vec<u32>), Error> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty csv")?.split(',').collect();
    let want = [
        "protocol",
        "compounds",
        "input_fields",
        "iterations",
        "num_pending",
        "hour",
        "day",
        "class",
    ];
    if header != want {
        return Err(format!("{}: unexpected header {header:?}", path.display()).into());
    }
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 7];
    let mut y = Vec::new();
    let mut code = |slot: usize, v: &str| -> u32 {
        let list = &mut codes[slot];
        match list.iter().position(|s| s == v) {
            Some(i) => i as u32,
            None => {
                list.push(v.to_string());
                (list.len() - 1) as u32
            }
        }
    };
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return Err(format!("{} row {}: {} fields", path.display(), i + 2, f.len()).into());
        }
        cols[0].push(f64::from(code(0, f[0])));
        for j in 1..6 {
            cols[j].push(f[j].parse::<f64>().unwrap_or(f64::NAN));
        }
        cols[6].push(f64::from(code(1, f[6])));
        y.push(code(2, f[7]));
    }
    let mut x = Matrix::from_columns(want[..7].iter().map(|s| s.to_string()).collect(), cols)?;
    x.set_categorical(0, true)?;
    x.set_categorical(6, true)?;
    Ok((x, y))
}

fn hpc_data() -> Result<Option<Data>, Error> {
    let dir = std::env::var_os("MICROLEARN_DATASETS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"),
        PathBuf::from,
    );
    let train = dir.join("hpc_jobs.train.csv");
    let test = dir.join("hpc_jobs.test.csv");
    if !train.exists() || !test.exists() {
        eprintln!("hpc_jobs not found under {}; skipped", dir.display());
        return Ok(None);
    }
    let mut codes: [Vec<String>; 3] = Default::default();
    let (x, y) = read_hpc(&train, &mut codes)?;
    let (xt, yt) = read_hpc(&test, &mut codes)?;
    let n_classes = codes[2].len();
    Ok(Some(Data {
        x,
        y: Target::Classes { y, n_classes },
        xt,
        yt: Target::Classes { y: yt, n_classes },
        task: Task::Multiclass,
    }))
}

/// Held-out quality: accuracy and log-loss for classes, RMSE for regression.
fn quality(pred: &Predictions, yt: &Target) -> String {
    match (pred, yt) {
        (Predictions::Probabilities { n_classes, data }, Target::Classes { y, .. }) => {
            let mut hits = 0usize;
            let mut loss = 0.0;
            for (row, &c) in data.chunks(*n_classes).zip(y) {
                let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                hits += usize::from(best == c as usize);
                loss -= row[c as usize].clamp(1e-15, 1.0).ln();
            }
            format!(
                "acc {:.4} logloss {:.4}",
                hits as f64 / y.len() as f64,
                loss / y.len() as f64
            )
        }
        (Predictions::Values(v), Target::Regression(y)) => {
            let mse = v.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64;
            format!("rmse {:.4}", mse.sqrt())
        }
        _ => "prediction kind does not match the target".into(),
    }
}

/// FNV-1a of the postcard encoding: the model's exact bits, short enough to compare by eye.
fn fingerprint(model: &microlearn_train::TrainedModel) -> Result<u64, Error> {
    let bytes = postcard::to_allocvec(model)?;
    Ok(bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }))
}

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

fn forest(n_trees: i64, max_features: &str, min_leaf: i64) -> Params {
    params(&[
        ("n_trees", ParamValue::Int(n_trees)),
        ("max_features", ParamValue::Choice(max_features.into())),
        ("min_data_in_leaf", ParamValue::Int(min_leaf)),
        ("max_depth", ParamValue::Int(-1)),
    ])
}

fn gbdt(rounds: i64) -> Params {
    params(&[
        ("n_rounds", ParamValue::Int(rounds)),
        ("num_leaves", ParamValue::Int(31)),
        ("early_stopping_rounds", ParamValue::Int(0)),
    ])
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let filter = args.next().unwrap_or_default();
    let [small, small_reg] = synthetic_data(2_600, 650, 13)?;
    let [large, _] = synthetic_data(40_000, 10_000, 20)?;
    let hpc = hpc_data()?;

    // (dataset, kind, label, params, trees per fit for the per-tree figure)
    let mut runs: Vec<(&Data, &str, String, Params, i64)> = Vec::new();
    let forests = |d: &'static str, n: i64| {
        vec![
            (
                "random_forest",
                format!("{d} rf sqrt leaf1"),
                forest(n, "sqrt", 1),
                n,
            ),
            (
                "random_forest",
                format!("{d} rf log2 leaf3"),
                forest(n, "log2", 3),
                n,
            ),
            (
                "extra_trees",
                format!("{d} et sqrt leaf1"),
                forest(n, "sqrt", 1),
                n,
            ),
            (
                "extra_trees",
                format!("{d} et half leaf2"),
                forest(n, "half", 2),
                n,
            ),
        ]
    };
    for (kind, label, p, n) in forests("small", 200) {
        runs.push((&small, kind, label, p, n));
    }
    runs.push((&small, "gbdt", "small gbdt 100x31".into(), gbdt(100), 100));
    runs.push((
        &small_reg,
        "random_forest",
        "small-regression rf sqrt leaf1".into(),
        forest(200, "sqrt", 1),
        200,
    ));
    runs.push((
        &small_reg,
        "extra_trees",
        "small-regression et half leaf2".into(),
        forest(200, "half", 2),
        200,
    ));
    if let Some(h) = &hpc {
        runs.push((
            h,
            "random_forest",
            "hpc_jobs rf sqrt leaf1".into(),
            forest(200, "sqrt", 1),
            200,
        ));
        runs.push((
            h,
            "extra_trees",
            "hpc_jobs et half leaf2".into(),
            forest(200, "half", 2),
            200,
        ));
        runs.push((h, "gbdt", "hpc_jobs gbdt 100x31".into(), gbdt(100), 100));
    }
    for (kind, label, p, n) in forests("large", 20).into_iter().step_by(2) {
        runs.push((&large, kind, label, p, n));
    }
    runs.push((&large, "gbdt", "large gbdt 50x31".into(), gbdt(50), 50));

    let opts = FitOptions {
        threads: 1,
        deadline: None,
        seed: 7,
        valid: None,
        cancel: None,
    };
    for (d, kind, label, p, n) in runs {
        if !label.contains(filter.as_str()) {
            continue;
        }
        let mut best = f64::INFINITY;
        let mut model = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let m = fit(kind, &p, d.task, &d.x, &d.y, &opts)?;
            best = best.min(t.elapsed().as_secs_f64());
            model = Some(m);
        }
        let model = model.ok_or("no fit ran")?;
        println!(
            "{label:<34} {}x{}: fit {best:7.3}s  {:7.2} ms/tree  {}  model {:016x}",
            d.x.n_rows(),
            d.x.n_cols(),
            best * 1e3 / n as f64,
            quality(&model.predict(&d.xt), &d.yt),
            fingerprint(&model)?,
        );
    }
    Ok(())
}

mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Predictions, Target, TrainedModel, fit};
use rand::Rng;
use std::time::{Duration, Instant};

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

fn xor_data(n: usize, seed: u64) -> (microlearn_train::Matrix, Vec<u32>) {
    let mut r = rng(seed);
    let a = uniform(&mut r, n, -1.0, 1.0);
    let b = uniform(&mut r, n, -1.0, 1.0);
    let y = a
        .iter()
        .zip(&b)
        .map(|(a, b)| u32::from((*a > 0.0) != (*b > 0.0)))
        .collect();
    (matrix(vec![a, b]), y)
}

#[test]
fn gbdt_learns_xor_rule() {
    let (x, y) = xor_data(4000, 1);
    let (xt, yt) = xor_data(2000, 2);
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(y, 2),
        &opts(),
    )
    .unwrap();
    let acc = accuracy(&model.predict(&xt), &yt);
    assert!(acc > 0.98, "xor test accuracy {acc}");
}

#[test]
fn gbdt_fits_squared_regression_with_high_r2() {
    let mut r = rng(3);
    let x0 = uniform(&mut r, 5000, -3.0, 3.0);
    let noise = uniform(&mut r, 5000, -1.0, 1.0);
    let y: Vec<f64> = x0.iter().map(|v| v * v).collect();
    let x = matrix(vec![x0.clone(), noise]);
    let p = params(&[("n_rounds", ParamValue::Int(300))]);
    let model = fit(
        "gbdt",
        &p,
        Task::Regression,
        &x,
        &Target::Regression(y.clone()),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    let score = r2(values(&pred), &y);
    assert!(score > 0.99, "r2 {score}");
    let imp = model.feature_importance();
    assert!(
        imp[0] > 10.0 * imp[1],
        "importance should favour the signal feature: {imp:?}"
    );
}

#[test]
fn gbdt_huber_objective_resists_outliers() {
    let mut r = rng(4);
    let x0 = uniform(&mut r, 3000, 0.0, 1.0);
    let mut y: Vec<f64> = x0.iter().map(|v| 2.0 * v).collect();
    for i in (0..y.len()).step_by(50) {
        y[i] += 1000.0;
    }
    let x = matrix(vec![x0.clone()]);
    let p = params(&[
        ("objective", ParamValue::Choice("huber".into())),
        ("huber_delta", ParamValue::Float(0.5)),
        ("n_rounds", ParamValue::Int(300)),
    ]);
    let model = fit(
        "gbdt",
        &p,
        Task::Regression,
        &x,
        &Target::Regression(y),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&matrix(vec![vec![0.25, 0.75]]));
    let v = values(&pred);
    assert!(
        (v[0] - 0.5).abs() < 0.3 && (v[1] - 1.5).abs() < 0.3,
        "huber predictions {v:?}"
    );
}

#[test]
fn gbdt_multiclass_probabilities_sum_to_one() {
    let mut r = rng(5);
    let a = uniform(&mut r, 3000, 0.0, 3.0);
    let b = uniform(&mut r, 3000, 0.0, 1.0);
    let y: Vec<u32> = a.iter().map(|v| (*v as u32).min(2)).collect();
    let x = matrix(vec![a, b]);
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Multiclass,
        &x,
        &classes(y.clone(), 3),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    let (k, data) = probs(&pred);
    assert_eq!(k, 3);
    assert_eq!(data.len(), 3 * 3000);
    for row in data.chunks(3) {
        let s: f64 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-9, "row sums to {s}");
        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
    }
    assert!(accuracy(&pred, &y) > 0.98);
}

#[test]
fn gbdt_routes_missing_values_by_learned_direction() {
    // Class 1 rows have feature 0 missing; the other feature is pure noise.
    let mut r = rng(6);
    let n = 2000;
    let y: Vec<u32> = (0..n).map(|_| u32::from(r.random::<bool>())).collect();
    let f0: Vec<f64> = y
        .iter()
        .map(|&c| if c == 1 { f64::NAN } else { r.random::<f64>() })
        .collect();
    let f1 = uniform(&mut r, n, 0.0, 1.0);
    let x = matrix(vec![f0, f1]);
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(y.clone(), 2),
        &opts(),
    )
    .unwrap();
    assert!(accuracy(&model.predict(&x), &y) > 0.99);
    let probe = matrix(vec![vec![f64::NAN, 0.5, 0.1], vec![0.5, 0.5, 0.9]]);
    let pred = model.predict(&probe);
    let (_, p) = probs(&pred);
    assert!(
        p[1] > 0.9,
        "missing feature must mean class 1, got {}",
        p[1]
    );
    assert!(
        p[3] < 0.1 && p[5] < 0.1,
        "present feature must mean class 0: {p:?}"
    );

    // And the mirror image: missing for class 0 sends missing values the other way.
    let flipped: Vec<u32> = y.iter().map(|c| 1 - c).collect();
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(flipped, 2),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&probe);
    let (_, p) = probs(&pred);
    assert!(
        p[1] < 0.1,
        "missing feature must now mean class 0, got {}",
        p[1]
    );
}

#[test]
fn gbdt_early_stopping_keeps_fewer_rounds_on_noise() {
    let mut r = rng(8);
    let n = 2000;
    let x = matrix(vec![
        uniform(&mut r, n, 0.0, 1.0),
        uniform(&mut r, n, 0.0, 1.0),
    ]);
    let y: Vec<u32> = (0..n).map(|_| u32::from(r.random::<bool>())).collect();
    let vx = matrix(vec![
        uniform(&mut r, n, 0.0, 1.0),
        uniform(&mut r, n, 0.0, 1.0),
    ]);
    let vy = classes((0..n).map(|_| u32::from(r.random::<bool>())).collect(), 2);
    let p = params(&[
        ("n_rounds", ParamValue::Int(500)),
        ("early_stopping_rounds", ParamValue::Int(10)),
    ]);
    let o = FitOptions {
        valid: Some((&vx, &vy)),
        ..opts()
    };
    let model = fit("gbdt", &p, Task::Binary, &x, &classes(y, 2), &o).unwrap();
    let rounds = model
        .fitted_params()
        .get("n_rounds")
        .and_then(ParamValue::as_i64)
        .unwrap();
    assert!(
        rounds < 100,
        "early stopping kept {rounds} of 500 rounds on pure noise"
    );
    let TrainedModel::Gbdt(g) = &model else {
        panic!("gbdt model")
    };
    assert_eq!(g.n_rounds() as i64, rounds);
    // The kept round is the best validation loss seen.
    let best = g.valid_loss.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(g.valid_loss[rounds as usize - 1], best);
}

#[test]
fn gbdt_deadline_stops_early_with_usable_model() {
    let (x, y) = xor_data(20_000, 9);
    let p = params(&[
        ("n_rounds", ParamValue::Int(5000)),
        ("learning_rate", ParamValue::Float(0.3)),
    ]);
    let o = FitOptions {
        deadline: Some(Instant::now() + Duration::from_millis(200)),
        ..opts()
    };
    let model = fit("gbdt", &p, Task::Binary, &x, &classes(y.clone(), 2), &o).unwrap();
    let rounds = model
        .fitted_params()
        .get("n_rounds")
        .and_then(ParamValue::as_i64)
        .unwrap();
    assert!((1..5000).contains(&rounds), "kept {rounds} rounds");
    let acc = accuracy(&model.predict(&x), &y);
    assert!(acc > 0.6, "model at the deadline is usable: accuracy {acc}");

    // A deadline already past still yields one round.
    let o = FitOptions {
        deadline: Some(Instant::now()),
        ..opts()
    };
    let model = fit("gbdt", &p, Task::Binary, &x, &classes(y, 2), &o).unwrap();
    assert_eq!(
        model.fitted_params().get("n_rounds"),
        Some(&ParamValue::Int(1))
    );
}

#[test]
fn gbdt_serde_roundtrip_predicts_identically() {
    let mut r = rng(10);
    let mut f0 = uniform(&mut r, 1000, -1.0, 1.0);
    for v in f0.iter_mut().step_by(7) {
        *v = f64::NAN;
    }
    let x = matrix(vec![f0, uniform(&mut r, 1000, -1.0, 1.0)]);
    let y: Vec<u32> = (0..1000).map(|i| (i % 3) as u32).collect();
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Multiclass,
        &x,
        &classes(y, 3),
        &opts(),
    )
    .unwrap();
    let before = model.predict(&x);
    let bytes = postcard::to_stdvec(&model).unwrap();
    let back: TrainedModel = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.predict(&x), before);
    // serde_json parses floats to within an ulp unless its `float_roundtrip` feature is on, so
    // JSON is checked for closeness (and for surviving the +inf thresholds of missing splits).
    let json = serde_json::to_string(&model).unwrap();
    let back: TrainedModel = serde_json::from_str(&json).unwrap();
    let (_, a) = probs(&before);
    let after = back.predict(&x);
    let (_, b) = probs(&after);
    assert!(a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-12));
}

#[test]
fn gbdt_same_seed_gives_identical_predictions_and_other_seed_differs() {
    let (x, y) = xor_data(3000, 11);
    let p = params(&[
        ("bagging_fraction", ParamValue::Float(0.7)),
        ("feature_fraction", ParamValue::Float(0.5)),
    ]);
    let t = classes(y, 2);
    let a = fit("gbdt", &p, Task::Binary, &x, &t, &opts())
        .unwrap()
        .predict(&x);
    // Bagged trees still learn the rule (out-of-bag rows are routed right). Feature sampling is
    // left out here: with one of two features per tree, XOR's interaction is unlearnable.
    let Target::Classes { y, .. } = &t else {
        unreachable!()
    };
    let bag_only = params(&[("bagging_fraction", ParamValue::Float(0.5))]);
    let bagged = fit("gbdt", &bag_only, Task::Binary, &x, &t, &opts())
        .unwrap()
        .predict(&x);
    assert!(
        accuracy(&bagged, y) > 0.97,
        "bagged accuracy {}",
        accuracy(&bagged, y)
    );
    let b = fit(
        "gbdt",
        &p,
        Task::Binary,
        &x,
        &t,
        &FitOptions {
            threads: 1,
            ..opts()
        },
    )
    .unwrap()
    .predict(&x);
    assert_eq!(a, b, "same seed, different thread count");
    let c = fit(
        "gbdt",
        &p,
        Task::Binary,
        &x,
        &t,
        &FitOptions { seed: 8, ..opts() },
    )
    .unwrap()
    .predict(&x);
    assert_ne!(a, c);
}

#[test]
fn gbdt_respects_max_depth_and_num_leaves() {
    let (x, y) = xor_data(3000, 12);
    let p = params(&[
        ("max_depth", ParamValue::Int(2)),
        ("num_leaves", ParamValue::Int(31)),
    ]);
    let TrainedModel::Gbdt(m) = fit(
        "gbdt",
        &p,
        Task::Binary,
        &x,
        &classes(y.clone(), 2),
        &opts(),
    )
    .unwrap() else {
        panic!("gbdt")
    };
    assert!(m.trees.iter().all(|t| t.leaf_values.len() <= 4));
    let p = params(&[("num_leaves", ParamValue::Int(5))]);
    let TrainedModel::Gbdt(m) = fit("gbdt", &p, Task::Binary, &x, &classes(y, 2), &opts()).unwrap()
    else {
        panic!("gbdt")
    };
    assert!(m.trees.iter().all(|t| t.leaf_values.len() <= 5));
    assert!(m.trees.iter().any(|t| t.leaf_values.len() == 5));
}

#[test]
fn gbdt_binary_returns_two_probability_columns() {
    let (x, y) = xor_data(500, 13);
    let model = fit(
        "gbdt",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(y, 2),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    let (k, data) = probs(&pred);
    assert_eq!(k, 2);
    for row in data.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-12);
    }
    assert!(matches!(pred, Predictions::Probabilities { .. }));
}

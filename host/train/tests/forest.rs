//! Random forest, extra trees and categorical splits on problems with a known answer.

mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Target, TrainedModel, fit};
use rand::Rng;
use std::time::{Duration, Instant};

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

fn xor_data(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
    let mut r = rng(seed);
    let a = uniform(&mut r, n, -1.0, 1.0);
    let b = uniform(&mut r, n, -1.0, 1.0);
    let noise = uniform(&mut r, n, -1.0, 1.0);
    let y = a
        .iter()
        .zip(&b)
        .map(|(a, b)| u32::from((*a > 0.0) != (*b > 0.0)))
        .collect();
    (matrix(vec![a, b, noise]), y)
}

#[test]
fn forests_recover_the_xor_rule() {
    let (x, y) = xor_data(3000, 1);
    let (xt, yt) = xor_data(2000, 2);
    for kind in ["random_forest", "extra_trees"] {
        let p = params(&[
            ("n_trees", ParamValue::Int(60)),
            ("max_features", ParamValue::Choice("all".into())),
        ]);
        let model = fit(kind, &p, Task::Binary, &x, &classes(y.clone(), 2), &opts()).unwrap();
        assert_eq!(model.kind(), kind);
        let acc = accuracy(&model.predict(&xt), &yt);
        assert!(acc > 0.95, "{kind} xor test accuracy {acc}");
    }
}

#[test]
fn forest_regression_fits_a_smooth_function() {
    let mut r = rng(3);
    let x0 = uniform(&mut r, 4000, -3.0, 3.0);
    let x1 = uniform(&mut r, 4000, -1.0, 1.0);
    let y: Vec<f64> = x0.iter().zip(&x1).map(|(a, b)| a * a + b).collect();
    let x = matrix(vec![x0, x1]);
    for kind in ["random_forest", "extra_trees"] {
        let p = params(&[("n_trees", ParamValue::Int(50))]);
        let model = fit(
            kind,
            &p,
            Task::Regression,
            &x,
            &Target::Regression(y.clone()),
            &opts(),
        )
        .unwrap();
        let fitted = model.predict(&x);
        let score = r2(values(&fitted), &y);
        assert!(score > 0.97, "{kind} training r2 {score}");
        // A forest averages leaf means, so it never predicts outside the target's range.
        let (lo, hi) = (-1.0, 10.0);
        assert!(values(&fitted).iter().all(|v| (lo..=hi).contains(v)));
    }
}

#[test]
fn multiclass_forest_probabilities_sum_to_one_and_are_accurate() {
    let mut r = rng(5);
    let n = 3000;
    let a = uniform(&mut r, n, 0.0, 3.0);
    let b = uniform(&mut r, n, 0.0, 1.0);
    let y: Vec<u32> = a.iter().map(|v| (*v as u32).min(2)).collect();
    let x = matrix(vec![a, b]);
    let model = fit(
        "random_forest",
        &params(&[("n_trees", ParamValue::Int(30))]),
        Task::Multiclass,
        &x,
        &classes(y.clone(), 3),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    let (k, data) = probs(&pred);
    assert_eq!(k, 3);
    for row in data.chunks(3) {
        let s: f64 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-9, "row sums to {s}");
        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
    }
    assert!(accuracy(&pred, &y) > 0.99);
    let imp = model.feature_importance();
    assert!(
        imp[0] > 10.0 * imp[1],
        "the informative feature dominates: {imp:?}"
    );
    let splits = model.split_counts().expect("trees count splits");
    assert!(splits[0] > 0.0);
}

#[test]
fn same_seed_same_forest_and_postcard_round_trip() {
    let (x, y) = xor_data(1000, 9);
    let fit_once = || {
        fit(
            "extra_trees",
            &params(&[("n_trees", ParamValue::Int(20))]),
            Task::Binary,
            &x,
            &classes(y.clone(), 2),
            &opts(),
        )
        .unwrap()
    };
    let a = fit_once();
    let b = fit_once();
    assert_eq!(a, b);
    let bytes = postcard::to_allocvec(&a).unwrap();
    let back: TrainedModel = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.predict(&x), a.predict(&x));
}

#[test]
fn forest_under_an_expired_deadline_still_returns_a_model() {
    let (x, y) = xor_data(2000, 4);
    let o = FitOptions {
        deadline: Some(Instant::now() - Duration::from_secs(1)),
        ..opts()
    };
    let model = fit(
        "random_forest",
        &params(&[("n_trees", ParamValue::Int(500))]),
        Task::Binary,
        &x,
        &classes(y, 2),
        &o,
    )
    .unwrap();
    let n = model
        .fitted_params()
        .get("n_trees")
        .and_then(ParamValue::as_i64);
    assert!(n.is_some_and(|n| (1..500).contains(&n)), "{n:?}");
}

#[test]
fn bad_forest_params_are_errors() {
    let (x, y) = xor_data(100, 4);
    for p in [
        params(&[("n_rounds", ParamValue::Int(10))]),
        params(&[("max_features", ParamValue::Choice("most".into()))]),
        params(&[("n_trees", ParamValue::Int(0))]),
    ] {
        let err = fit(
            "random_forest",
            &p,
            Task::Binary,
            &x,
            &classes(y.clone(), 2),
            &opts(),
        )
        .expect_err("bad params");
        assert!(!err.to_string().is_empty());
    }
}

/// Eight categories of which an arbitrary subset {1, 4, 6} is positive: thresholds on the codes
/// need many splits, a categorical split needs one.
fn category_data(n: usize, seed: u64, missing_share: f64) -> (Matrix, Vec<u32>) {
    let mut r = rng(seed);
    let mut codes = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let c = r.random_range(0..8u32);
        if r.random::<f64>() < missing_share {
            codes.push(f64::NAN);
            y.push(1);
        } else {
            codes.push(f64::from(c * 10));
            y.push(u32::from([1, 4, 6].contains(&c)));
        }
    }
    let mut x = matrix(vec![codes]);
    x.set_categorical(0, true)
        .expect("codes are non-negative integers");
    (x, y)
}

#[test]
fn gbdt_splits_categories_by_set_in_one_node_and_routes_missing() {
    let (x, y) = category_data(4000, 11, 0.1);
    let p = params(&[
        ("n_rounds", ParamValue::Int(20)),
        ("num_leaves", ParamValue::Int(3)),
        ("min_data_in_leaf", ParamValue::Int(5)),
    ]);
    let model = fit(
        "gbdt",
        &p,
        Task::Binary,
        &x,
        &classes(y.clone(), 2),
        &opts(),
    )
    .unwrap();
    let acc = accuracy(&model.predict(&x), &y);
    assert_eq!(
        acc, 1.0,
        "set split + missing direction separate the classes"
    );
    let TrainedModel::Gbdt(g) = &model else {
        panic!("gbdt")
    };
    let root = &g.trees[0].nodes[0];
    let cats = root.cats.as_ref().expect("a categorical root split");
    let positive: Vec<u32> = vec![10, 40, 60];
    let negative: Vec<u32> = vec![0, 20, 30, 50, 70];
    assert!(
        *cats == positive || *cats == negative,
        "the root separates the positive categories: {cats:?}"
    );
    // Unseen codes go right; missing follows the learned direction.
    let unseen = matrix(vec![vec![990.0, f64::NAN]]);
    let p = model.predict(&unseen);
    let (_, data) = probs(&p);
    assert!(data[3] > 0.9, "missing rows were all positive: {data:?}");
}

#[test]
fn categorical_columns_must_hold_codes() {
    let mut x = matrix(vec![vec![1.0, 2.5, 3.0]]);
    let err = x.set_categorical(0, true).expect_err("2.5 is not a code");
    assert!(err.to_string().contains("row 1"), "{err}");
    let mut x = matrix(vec![vec![1.0, -2.0]]);
    assert!(x.set_categorical(0, true).is_err());
}

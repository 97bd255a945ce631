mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{Target, TrainedModel, fit};
use rand::Rng;

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

#[test]
fn ridge_recovers_known_coefficients_on_noiseless_data() {
    let mut r = rng(1);
    let a = uniform(&mut r, 500, -2.0, 2.0);
    let b = uniform(&mut r, 500, 0.0, 10.0);
    let y: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| 3.0 * a - 0.5 * b + 4.0)
        .collect();
    let x = matrix(vec![a, b]);
    let p = params(&[("alpha", ParamValue::Float(1e-6))]);
    let model = fit(
        "linear",
        &p,
        Task::Regression,
        &x,
        &Target::Regression(y.clone()),
        &opts(),
    )
    .unwrap();
    let probe = matrix(vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
    let pred = model.predict(&probe);
    let v = values(&pred);
    assert!((v[0] - 4.0).abs() < 1e-3, "intercept {}", v[0]);
    assert!((v[1] - v[0] - 3.0).abs() < 1e-3, "slope a {}", v[1] - v[0]);
    assert!((v[2] - v[0] + 0.5).abs() < 1e-3, "slope b {}", v[2] - v[0]);
}

#[test]
fn elastic_net_matches_ridge_at_zero_l1_and_zeroes_noise_features_with_l1() {
    let mut r = rng(2);
    let a = uniform(&mut r, 800, -1.0, 1.0);
    let noise = uniform(&mut r, 800, -1.0, 1.0);
    let y: Vec<f64> = a.iter().map(|a| 2.0 * a + 1.0).collect();
    let x = matrix(vec![a, noise]);
    let t = Target::Regression(y);
    let lasso = params(&[
        ("alpha", ParamValue::Float(0.05)),
        ("l1_ratio", ParamValue::Float(1.0)),
    ]);
    let model = fit("linear", &lasso, Task::Regression, &x, &t, &opts()).unwrap();
    let imp = model.feature_importance();
    assert_eq!(imp[1], 0.0, "lasso keeps the noise feature: {imp:?}");
    assert!(imp[0] > 0.5);

    // A tiny l1 share gives (nearly) the ridge solution from the coordinate-descent path.
    let ridge = params(&[("alpha", ParamValue::Float(0.1))]);
    let en = params(&[
        ("alpha", ParamValue::Float(0.1)),
        ("l1_ratio", ParamValue::Float(1e-9)),
        ("tol", ParamValue::Float(1e-8)),
        ("max_iter", ParamValue::Int(10000)),
    ]);
    let a = fit("linear", &ridge, Task::Regression, &x, &t, &opts())
        .unwrap()
        .feature_importance();
    let b = fit("linear", &en, Task::Regression, &x, &t, &opts())
        .unwrap()
        .feature_importance();
    for (u, v) in a.iter().zip(&b) {
        assert!(
            (u - v).abs() < 1e-6,
            "ridge {a:?} vs coordinate descent {b:?}"
        );
    }
}

#[test]
fn logistic_separates_linearly_separable_classes() {
    let mut r = rng(3);
    let a = uniform(&mut r, 1000, -1.0, 1.0);
    let b = uniform(&mut r, 1000, -1.0, 1.0);
    let y: Vec<u32> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| u32::from(a + 0.5 * b > 0.1))
        .collect();
    let x = matrix(vec![a, b]);
    let model = fit(
        "linear",
        &params(&[("alpha", ParamValue::Float(1e-5))]),
        Task::Binary,
        &x,
        &classes(y.clone(), 2),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    let (k, data) = probs(&pred);
    assert_eq!(k, 2);
    for row in data.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-12);
    }
    let acc = accuracy(&pred, &y);
    assert!(acc > 0.99, "accuracy {acc}");
}

#[test]
fn multinomial_logistic_probabilities_sum_to_one_and_classify() {
    let mut r = rng(4);
    let n = 1500;
    let y: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let centres = [(-2.0, 0.0), (2.0, 0.0), (0.0, 3.0)];
    let a: Vec<f64> = y
        .iter()
        .map(|&c| centres[c as usize].0 + r.random::<f64>() - 0.5)
        .collect();
    let b: Vec<f64> = y
        .iter()
        .map(|&c| centres[c as usize].1 + r.random::<f64>() - 0.5)
        .collect();
    let x = matrix(vec![a, b]);
    for l1 in [0.0, 0.5] {
        let p = params(&[("l1_ratio", ParamValue::Float(l1))]);
        let model = fit(
            "linear",
            &p,
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
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert!(accuracy(&pred, &y) > 0.99, "l1_ratio {l1}");
    }
}

#[test]
fn linear_imputes_missing_values_with_training_mean() {
    let a = vec![1.0, 2.0, 3.0, f64::NAN, 4.0];
    let y = vec![2.0, 4.0, 6.0, 5.0, 8.0];
    let x = matrix(vec![a]);
    let model = fit(
        "linear",
        &Params::new(),
        Task::Regression,
        &x,
        &Target::Regression(y),
        &opts(),
    )
    .unwrap();
    let TrainedModel::Linear(m) = &model else {
        panic!("linear")
    };
    assert!((m.means[0] - 2.5).abs() < 1e-12);
    let at_mean = values(&model.predict(&matrix(vec![vec![2.5]])))[0];
    let missing = values(&model.predict(&matrix(vec![vec![f64::NAN]])))[0];
    assert_eq!(at_mean, missing);
}

#[test]
fn linear_serde_roundtrip_predicts_identically() {
    let mut r = rng(5);
    let a = uniform(&mut r, 300, -1.0, 1.0);
    let y: Vec<u32> = a.iter().map(|v| u32::from(*v > 0.0)).collect();
    let x = matrix(vec![a]);
    let model = fit(
        "linear",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(y, 2),
        &opts(),
    )
    .unwrap();
    let bytes = postcard::to_stdvec(&model).unwrap();
    let back: TrainedModel = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.predict(&x), model.predict(&x));
}

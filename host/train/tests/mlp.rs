mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Target, TrainError, TrainedModel, fit};
use rand::Rng;
use std::time::{Duration, Instant};

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

fn epochs_kept(model: &TrainedModel) -> i64 {
    model
        .fitted_params()
        .get("epochs")
        .and_then(ParamValue::as_i64)
        .expect("epochs in fitted params")
}

/// The four XOR points, each repeated `copies` times.
fn xor(copies: usize) -> (Matrix, Vec<u32>) {
    let pts = [(0.0, 0.0, 0), (0.0, 1.0, 1), (1.0, 0.0, 1), (1.0, 1.0, 0)];
    let (mut a, mut b, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..copies {
        for &(u, v, c) in &pts {
            a.push(u);
            b.push(v);
            y.push(c);
        }
    }
    (matrix(vec![a, b]), y)
}

/// Three classes in rings of growing radius around the origin (not linearly separable).
fn rings(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
    let mut r = rng(seed);
    let y: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &c in &y {
        let radius = 1.0 + c as f64 + 0.3 * (r.random::<f64>() - 0.5);
        let angle = r.random::<f64>() * std::f64::consts::TAU;
        a.push(radius * angle.cos());
        b.push(radius * angle.sin());
    }
    (matrix(vec![a, b]), y)
}

#[test]
fn mlp_learns_xor() {
    let (x, y) = xor(100);
    let p = params(&[
        ("hidden_units", ParamValue::Int(16)),
        ("learning_rate", ParamValue::Float(0.01)),
        ("epochs", ParamValue::Int(100)),
        ("batch_size", ParamValue::Int(32)),
    ]);
    let model = fit("mlp", &p, Task::Binary, &x, &classes(y.clone(), 2), &opts()).unwrap();
    let pred = model.predict(&x);
    assert_eq!(accuracy(&pred, &y), 1.0);
    let (k, data) = probs(&pred);
    assert_eq!(k, 2);
    for row in data.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-9);
        assert!(row[0].max(row[1]) > 0.9, "confident on XOR: {row:?}");
    }
    assert_eq!(model.kind(), "mlp");
}

#[test]
fn mlp_regression_fits_a_smooth_nonlinear_function() {
    let mut r = rng(2);
    let n = 3000;
    let a = uniform(&mut r, n, -3.0, 3.0);
    let b = uniform(&mut r, n, -1.0, 1.0);
    // Large offset and scale: the standardised target must be mapped back.
    let y: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| 100.0 + 20.0 * (a.sin() + 0.5 * b * b))
        .collect();
    let x = matrix(vec![a, b]);
    let p = params(&[
        ("learning_rate", ParamValue::Float(0.005)),
        ("epochs", ParamValue::Int(60)),
        ("batch_size", ParamValue::Int(64)),
    ]);
    let model = fit(
        "mlp",
        &p,
        Task::Regression,
        &x,
        &Target::Regression(y.clone()),
        &opts(),
    )
    .unwrap();
    let (mut r2a, mut r2b) = (rng(3), rng(4));
    let ta = uniform(&mut r2a, 500, -3.0, 3.0);
    let tb = uniform(&mut r2b, 500, -1.0, 1.0);
    let ty: Vec<f64> = ta
        .iter()
        .zip(&tb)
        .map(|(a, b)| 100.0 + 20.0 * (a.sin() + 0.5 * b * b))
        .collect();
    let pred = model.predict(&matrix(vec![ta, tb]));
    let score = r2(values(&pred), &ty);
    assert!(score > 0.9, "held-out R² {score}");
    let imp = model.feature_importance();
    assert_eq!(imp.len(), 2);
    assert!(imp.iter().all(|v| *v > 0.0), "{imp:?}");
}

#[test]
fn mlp_multiclass_probabilities_sum_to_one() {
    let (x, y) = rings(1500, 5);
    let p = params(&[
        ("learning_rate", ParamValue::Float(0.01)),
        ("epochs", ParamValue::Int(40)),
        ("dropout", ParamValue::Float(0.1)),
    ]);
    let model = fit(
        "mlp",
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
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{row:?}");
        assert!(row.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let acc = accuracy(&pred, &y);
    assert!(acc > 0.95, "rings accuracy {acc}");
}

#[test]
fn mlp_same_seed_same_model_on_any_thread_count() {
    let (x, y) = rings(2000, 6);
    let t = classes(y, 3);
    let p = params(&[
        ("hidden_units", ParamValue::Int(128)),
        ("epochs", ParamValue::Int(5)),
        ("dropout", ParamValue::Float(0.2)),
    ]);
    let a = fit("mlp", &p, Task::Multiclass, &x, &t, &opts()).unwrap();
    let one = FitOptions {
        threads: 1,
        ..opts()
    };
    let b = fit("mlp", &p, Task::Multiclass, &x, &t, &one).unwrap();
    assert_eq!(a, b, "same seed, 2 threads vs 1");
    assert_eq!(a.predict(&x), b.predict(&x));
    let other = FitOptions { seed: 8, ..opts() };
    let c = fit("mlp", &p, Task::Multiclass, &x, &t, &other).unwrap();
    assert_ne!(a.predict(&x), c.predict(&x), "another seed, another model");
}

#[test]
fn mlp_deadline_returns_a_usable_model_early() {
    let (x, y) = rings(20_000, 7);
    let t = classes(y.clone(), 3);
    let p = params(&[
        ("epochs", ParamValue::Int(500)),
        ("learning_rate", ParamValue::Float(0.01)),
    ]);
    let o = FitOptions {
        deadline: Some(Instant::now() + Duration::from_millis(300)),
        ..opts()
    };
    let model = fit("mlp", &p, Task::Multiclass, &x, &t, &o).unwrap();
    let kept = epochs_kept(&model);
    assert!((1..500).contains(&kept), "kept {kept} epochs");
    let acc = accuracy(&model.predict(&x), &y);
    assert!(acc > 0.5, "model at the deadline is usable: accuracy {acc}");

    // A deadline already past still trains one batch and reports one epoch.
    let o = FitOptions {
        deadline: Some(Instant::now()),
        ..opts()
    };
    let model = fit("mlp", &p, Task::Multiclass, &x, &t, &o).unwrap();
    assert_eq!(epochs_kept(&model), 1);
    let TrainedModel::Mlp(m) = &model else {
        panic!("mlp model")
    };
    assert_eq!(m.train_loss.len(), 1);
}

#[test]
fn mlp_early_stopping_keeps_the_best_validation_epoch() {
    let mut r = rng(8);
    // Pure noise labels: validation loss bottoms out early and then rises as the net memorises.
    let n = 600;
    let cols: Vec<Vec<f64>> = (0..10).map(|_| uniform(&mut r, n, -1.0, 1.0)).collect();
    let y: Vec<u32> = (0..n).map(|_| u32::from(r.random::<bool>())).collect();
    let x = matrix(cols);
    let (train, valid): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 4 != 0);
    let (tx, vx) = (x.take_rows(&train), x.take_rows(&valid));
    let t = classes(y, 2);
    let (ty, vy) = (t.take_rows(&train), t.take_rows(&valid));
    let p = params(&[
        ("hidden_units", ParamValue::Int(256)),
        ("learning_rate", ParamValue::Float(0.01)),
        ("epochs", ParamValue::Int(300)),
        ("early_stopping_epochs", ParamValue::Int(5)),
    ]);
    let o = FitOptions {
        valid: Some((&vx, &vy)),
        ..opts()
    };
    let model = fit("mlp", &p, Task::Binary, &tx, &ty, &o).unwrap();
    let TrainedModel::Mlp(m) = &model else {
        panic!("mlp model")
    };
    let kept = epochs_kept(&model) as usize;
    let ran = m.valid_loss.len();
    assert!(ran < 300, "stopped early after {ran} epochs");
    assert_eq!(ran, kept + 5, "patience of 5 after the best epoch");
    let best = m.valid_loss.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(m.valid_loss[kept - 1], best);
}

#[test]
fn mlp_rejects_bad_params_and_validation_shape() {
    let (x, y) = xor(2);
    let t = classes(y, 2);
    let err = fit(
        "mlp",
        &params(&[("hidden_size", ParamValue::Int(3))]),
        Task::Binary,
        &x,
        &t,
        &opts(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, TrainError::UnknownParam { name, .. } if name == "hidden_size"),
        "{err}"
    );
    assert!(err.to_string().contains("hidden_units"), "{err}");
    for (name, value) in [
        ("hidden_layers", ParamValue::Int(4)),
        ("learning_rate", ParamValue::Float(0.5)),
        ("batch_size", ParamValue::Int(8)),
        ("dropout", ParamValue::Float(0.9)),
    ] {
        let err = fit(
            "mlp",
            &params(&[(name, value)]),
            Task::Binary,
            &x,
            &t,
            &opts(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, TrainError::BadParam { name: n, .. } if n == name),
            "{name}: {err}"
        );
    }
    let narrow = matrix(vec![vec![0.0; 4]]);
    let o = FitOptions {
        valid: Some((&narrow, &t)),
        ..opts()
    };
    let err = fit("mlp", &Params::new(), Task::Binary, &x, &t, &o).unwrap_err();
    assert!(
        matches!(&err, TrainError::ShapeMismatch { .. }),
        "validation width: {err}"
    );
}

#[test]
fn mlp_imputes_missing_with_the_mean() {
    let mut r = rng(9);
    let mut a = uniform(&mut r, 400, 0.0, 4.0);
    let y: Vec<f64> = a.iter().map(|v| 2.0 * v).collect();
    a[5] = f64::NAN;
    let x = matrix(vec![a]);
    let model = fit(
        "mlp",
        &params(&[("epochs", ParamValue::Int(5))]),
        Task::Regression,
        &x,
        &Target::Regression(y),
        &opts(),
    )
    .unwrap();
    let TrainedModel::Mlp(m) = &model else {
        panic!("mlp model")
    };
    let at_mean = values(&model.predict(&matrix(vec![vec![m.means[0]]])))[0];
    let missing = values(&model.predict(&matrix(vec![vec![f64::NAN]])))[0];
    assert_eq!(at_mean, missing);
    assert!(missing.is_finite());
}

#[test]
fn mlp_postcard_roundtrip_predicts_identically() {
    let (x, y) = rings(300, 10);
    let model = fit(
        "mlp",
        &params(&[("epochs", ParamValue::Int(3))]),
        Task::Multiclass,
        &x,
        &classes(y, 3),
        &opts(),
    )
    .unwrap();
    let bytes = postcard::to_stdvec(&model).unwrap();
    let back: TrainedModel = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.predict(&x), model.predict(&x));
}

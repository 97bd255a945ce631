mod common;

use common::*;
use microlearn_core::{ParamDomain, ParamValue, Params, Task};
use microlearn_train::{FitOptions, Matrix, Target, TrainError, catalogue, fit};

fn small() -> (Matrix, Target) {
    (
        matrix(vec![vec![0.0, 1.0, 2.0, 3.0]]),
        classes(vec![0, 0, 1, 1], 2),
    )
}

#[test]
fn catalogue_lists_every_kind_with_defaults_inside_their_domains() {
    let cat = catalogue();
    let names: Vec<&str> = cat.iter().map(|k| k.name.as_str()).collect();
    for kind in [
        "gbdt",
        "random_forest",
        "extra_trees",
        "linear",
        "knn",
        "mlp",
    ] {
        assert!(names.contains(&kind), "{kind} missing from {names:?}");
    }
    for kind in &cat {
        assert_eq!(kind.tasks.len(), 3);
        for spec in &kind.params {
            assert!(
                spec.domain.contains(&spec.default),
                "{}.{} default outside domain",
                kind.name,
                spec.name
            );
            if let ParamDomain::Float { low, log: true, .. } = spec.domain {
                assert!(
                    low > 0.0,
                    "{}.{} log range must be positive",
                    kind.name,
                    spec.name
                );
            }
        }
    }
}

#[test]
fn every_catalogue_default_fits() {
    let (x, y) = small();
    for kind in catalogue() {
        let mut p = Params::new();
        for s in &kind.params {
            p.set(s.name.clone(), s.default.clone());
        }
        fit(&kind.name, &p, Task::Binary, &x, &y, &opts()).unwrap();
    }
}

#[test]
fn rejects_unknown_param_by_name() {
    let (x, y) = small();
    let mut p = Params::new();
    p.set("num_leafs", ParamValue::Int(8));
    let err = fit("gbdt", &p, Task::Binary, &x, &y, &opts()).unwrap_err();
    assert!(
        matches!(&err, TrainError::UnknownParam { name, .. } if name == "num_leafs"),
        "{err}"
    );
    assert!(err.to_string().contains("num_leafs"));
}

#[test]
fn rejects_out_of_range_param_naming_it_and_its_domain() {
    let (x, y) = small();
    let mut p = Params::new();
    p.set("learning_rate", ParamValue::Float(5.0));
    let err = fit("gbdt", &p, Task::Binary, &x, &y, &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, TrainError::BadParam { name, .. } if name == "learning_rate"),
        "{msg}"
    );
    assert!(msg.contains("0.005") && msg.contains('5'), "{msg}");

    let mut p = Params::new();
    p.set("alpha", ParamValue::Choice("big".into()));
    let err = fit("linear", &p, Task::Binary, &x, &y, &opts()).unwrap_err();
    assert!(
        matches!(&err, TrainError::BadParam { name, .. } if name == "alpha"),
        "{err}"
    );
}

#[test]
fn accepts_integral_float_for_integer_param() {
    let (x, y) = small();
    let mut p = Params::new();
    p.set("num_leaves", ParamValue::Float(4.0));
    let model = fit("gbdt", &p, Task::Binary, &x, &y, &opts()).unwrap();
    assert_eq!(
        model.fitted_params().get("num_leaves"),
        Some(&ParamValue::Int(4))
    );
}

#[test]
fn rejects_unknown_kind_empty_data_and_shape_mismatch() {
    let (x, y) = small();
    assert!(matches!(
        fit("forest", &Params::new(), Task::Binary, &x, &y, &opts()),
        Err(TrainError::UnknownKind { .. })
    ));
    let empty = Matrix::from_columns(vec!["a".into()], vec![vec![]]).unwrap();
    assert!(matches!(
        fit(
            "gbdt",
            &Params::new(),
            Task::Binary,
            &empty,
            &classes(vec![], 2),
            &opts()
        ),
        Err(TrainError::EmptyData { .. })
    ));
    assert!(matches!(
        fit(
            "linear",
            &Params::new(),
            Task::Binary,
            &x,
            &classes(vec![0, 1], 2),
            &opts()
        ),
        Err(TrainError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Matrix::from_columns(
            vec!["a".into(), "b".into()],
            vec![vec![1.0], vec![1.0, 2.0]]
        ),
        Err(TrainError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        fit("gbdt", &Params::new(), Task::Regression, &x, &y, &opts()),
        Err(TrainError::InvalidTarget { .. })
    ));
    let model = fit("gbdt", &Params::new(), Task::Binary, &x, &y, &opts()).unwrap();
    let wide = matrix(vec![vec![1.0], vec![2.0]]);
    assert!(matches!(
        model.try_predict(&wide),
        Err(TrainError::ShapeMismatch { .. })
    ));
}

#[test]
fn rejects_label_out_of_range() {
    let (x, _) = small();
    let err = fit(
        "gbdt",
        &Params::new(),
        Task::Multiclass,
        &x,
        &classes(vec![0, 1, 2, 3], 3),
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("row 3"), "{err}");
}

#[test]
fn single_thread_fit_works_without_global_pool() {
    let (x, y) = small();
    let o = FitOptions {
        threads: 1,
        ..opts()
    };
    let m = fit("gbdt", &Params::new(), Task::Binary, &x, &y, &o).unwrap();
    assert_eq!(m.kind(), "gbdt");
    assert_eq!(m.feature_importance().len(), 1);
}

#[test]
fn take_rows_selects_rows_in_order() {
    let x = matrix(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
    let t = x.take_rows(&[2, 0]);
    assert_eq!(t.column(0), &[3.0, 1.0]);
    assert_eq!(t.column(1), &[6.0, 4.0]);
    assert_eq!(t.names(), x.names());
}

#[test]
fn a_set_cancel_flag_stops_every_kind_at_its_first_check() {
    use std::sync::atomic::AtomicBool;
    let mut r = rng(21);
    let a = uniform(&mut r, 3000, -1.0, 1.0);
    let b = uniform(&mut r, 3000, -1.0, 1.0);
    let y: Vec<u32> = a.iter().map(|v| u32::from(*v > 0.0)).collect();
    let x = matrix(vec![a, b]);
    let cancel = AtomicBool::new(true);
    let o = FitOptions {
        cancel: Some(&cancel),
        ..opts()
    };
    let big = |name: &str, v: i64| {
        let mut p = Params::new();
        p.set(name, ParamValue::Int(v));
        p
    };
    for (kind, p, key) in [
        ("gbdt", big("n_rounds", 5000), "n_rounds"),
        ("random_forest", big("n_trees", 2000), "n_trees"),
        ("mlp", big("epochs", 500), "epochs"),
    ] {
        let m = fit(kind, &p, Task::Binary, &x, &classes(y.clone(), 2), &o).unwrap();
        let used = m.fitted_params().get(key).and_then(ParamValue::as_i64);
        assert_eq!(used, Some(1), "{kind} stops after its first unit of work");
    }
}

#[test]
fn predicting_in_blocks_equals_one_predict_and_gives_up_past_its_deadline() {
    use std::time::{Duration, Instant};
    let mut r = rng(5);
    // Over two blocks of rows, three classes: the blocks' probabilities must join row-major.
    let a = uniform(&mut r, 5000, -1.0, 1.0);
    let b = uniform(&mut r, 5000, -1.0, 1.0);
    let y: Vec<u32> = a
        .iter()
        .map(|v| ((v + 1.0) * 1.5).min(2.0) as u32)
        .collect();
    let x = matrix(vec![a, b]);
    let m = fit(
        "gbdt",
        &Params::new(),
        Task::Multiclass,
        &x,
        &classes(y, 3),
        &opts(),
    )
    .unwrap();
    let later = Instant::now() + Duration::from_secs(600);
    let blocked = m.predict_until(&x, 1, later, &|| false).expect("time left");
    assert_eq!(blocked, m.predict(&x));
    let empty = x.rows(0..0);
    let none = m
        .predict_until(&empty, 1, later, &|| false)
        .expect("time left");
    assert_eq!(none.n_rows(), 0);
    // Past the deadline, or cancelled: nothing, rather than a late answer.
    let past = Instant::now() - Duration::from_millis(1);
    assert!(m.predict_until(&x, 1, past, &|| false).is_none());
    assert!(m.predict_until(&x, 1, later, &|| true).is_none());
}

mod common;

use common::*;
use microlearn_core::{ParamValue, Params, Task};
use microlearn_train::{FitOptions, Target, TrainError, TrainedModel, fit};
use rand::Rng;

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.set(*k, v.clone());
    }
    p
}

/// Two noisy blobs around (-2, -2) and (2, 2), alternating labels.
fn two_clusters(n: usize, seed: u64) -> (microlearn_train::Matrix, Vec<u32>) {
    let mut r = rng(seed);
    let y: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let centre = |c: u32| if c == 0 { -2.0 } else { 2.0 };
    let a: Vec<f64> = y
        .iter()
        .map(|&c| centre(c) + r.random::<f64>() - 0.5)
        .collect();
    let b: Vec<f64> = y
        .iter()
        .map(|&c| centre(c) + r.random::<f64>() - 0.5)
        .collect();
    (matrix(vec![a, b]), y)
}

#[test]
fn knn_with_one_neighbour_recovers_training_labels_exactly() {
    let (x, y) = two_clusters(400, 1);
    // Flip a few labels: only memorisation (k = 1) gets these back.
    let mut noisy = y.clone();
    for i in (0..noisy.len()).step_by(37) {
        noisy[i] = 1 - noisy[i];
    }
    let p = params(&[("n_neighbors", ParamValue::Int(1))]);
    let model = fit(
        "knn",
        &p,
        Task::Binary,
        &x,
        &classes(noisy.clone(), 2),
        &opts(),
    )
    .unwrap();
    let pred = model.predict(&x);
    assert_eq!(accuracy(&pred, &noisy), 1.0);
    let (k, data) = probs(&pred);
    assert_eq!(k, 2);
    assert!(
        data.iter().all(|&v| v == 0.0 || v == 1.0),
        "k = 1 votes are 0/1"
    );

    // A larger k smooths the flipped labels away and classifies fresh points from the blobs.
    let p = params(&[("n_neighbors", ParamValue::Int(15))]);
    let model = fit("knn", &p, Task::Binary, &x, &classes(noisy, 2), &opts()).unwrap();
    let (fresh, fy) = two_clusters(200, 2);
    assert_eq!(accuracy(&model.predict(&fresh), &fy), 1.0);
    assert_eq!(model.kind(), "knn");
    assert_eq!(model.feature_importance(), vec![0.0, 0.0]);
}

#[test]
fn knn_regression_on_a_line_is_close() {
    let mut r = rng(3);
    let a = uniform(&mut r, 2000, 0.0, 10.0);
    let y = a.clone();
    let x = matrix(vec![a]);
    for weights in ["uniform", "distance"] {
        let p = params(&[
            ("n_neighbors", ParamValue::Int(5)),
            ("weights", ParamValue::Choice(weights.into())),
        ]);
        let model = fit(
            "knn",
            &p,
            Task::Regression,
            &x,
            &Target::Regression(y.clone()),
            &opts(),
        )
        .unwrap();
        let probe: Vec<f64> = (1..=9).map(|v| v as f64 + 0.3).collect();
        let pred = model.predict(&matrix(vec![probe.clone()]));
        for (p, t) in values(&pred).iter().zip(&probe) {
            assert!((p - t).abs() < 0.05, "{weights}: predicted {p} for {t}");
        }
    }
}

#[test]
fn knn_distance_weighting_returns_exact_match_target() {
    let x = matrix(vec![vec![0.0, 1.0, 2.0, 3.0, 10.0]]);
    let y = Target::Regression(vec![5.0, 1.0, 2.0, 3.0, 4.0]);
    let p = params(&[
        ("n_neighbors", ParamValue::Int(3)),
        ("weights", ParamValue::Choice("distance".into())),
    ]);
    let model = fit("knn", &p, Task::Regression, &x, &y, &opts()).unwrap();
    let pred = model.predict(&matrix(vec![vec![0.0, 0.5]]));
    let v = values(&pred);
    // An exact match takes all the weight; 0.5 sits between rows 0 and 1 (equal distance 0.5)
    // and row 2 (1.5): weights 2, 2, 2/3.
    assert_eq!(v[0], 5.0);
    let expect = (2.0 * 5.0 + 2.0 * 1.0 + 2.0 / 3.0 * 2.0) / (2.0 + 2.0 + 2.0 / 3.0);
    assert!((v[1] - expect).abs() < 1e-5, "{} vs {expect}", v[1]);
}

#[test]
fn knn_multiclass_probabilities_sum_to_one_and_match_vote_shares() {
    let mut r = rng(4);
    let n = 900;
    let y: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let a: Vec<f64> = y
        .iter()
        .map(|&c| c as f64 * 1.5 + r.random::<f64>() * 2.0)
        .collect();
    let b = uniform(&mut r, n, -1.0, 1.0);
    let x = matrix(vec![a, b]);
    for metric in ["euclidean", "manhattan"] {
        let p = params(&[
            ("n_neighbors", ParamValue::Int(7)),
            ("metric", ParamValue::Choice(metric.into())),
        ]);
        let model = fit(
            "knn",
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
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{row:?}");
            // Uniform votes of 7 neighbours come in sevenths.
            for v in row {
                let sevenths = v * 7.0;
                assert!((sevenths - sevenths.round()).abs() < 1e-9, "{v}");
            }
        }
        let acc = accuracy(&pred, &y);
        assert!(acc > 0.6, "{metric}: overlapping classes, accuracy {acc}");
    }
}

#[test]
fn knn_matches_a_naive_search_and_ignores_thread_count() {
    let mut r = rng(5);
    let n = 700;
    let cols: Vec<Vec<f64>> = (0..4).map(|_| uniform(&mut r, n, -1.0, 1.0)).collect();
    let y: Vec<f64> = (0..n).map(|i| cols[0][i] * 3.0 - cols[2][i]).collect();
    let x = matrix(cols.clone());
    let k = 6;
    let p = params(&[("n_neighbors", ParamValue::Int(k as i64))]);
    let target = Target::Regression(y.clone());
    let m1 = fit("knn", &p, Task::Regression, &x, &target, &opts()).unwrap();
    let o1 = FitOptions {
        threads: 1,
        ..opts()
    };
    let m2 = fit("knn", &p, Task::Regression, &x, &target, &o1).unwrap();
    let queries = matrix((0..4).map(|_| uniform(&mut r, 50, -1.0, 1.0)).collect());
    let pred = m1.predict(&queries);
    assert_eq!(pred, m2.predict(&queries));
    // Naive: standardise with the same statistics, sort all distances.
    let TrainedModel::Knn(km) = &m1 else {
        panic!("knn model")
    };
    for q in 0..50 {
        let mut d: Vec<(f64, usize)> = (0..n)
            .map(|i| {
                let s: f64 = (0..4)
                    .map(|j| {
                        let zq = (queries.get(q, j) - km.means[j]) / km.scales[j];
                        let zi = (x.get(i, j) - km.means[j]) / km.scales[j];
                        (zq - zi).powi(2)
                    })
                    .sum();
                (s, i)
            })
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mean = d[..k].iter().map(|&(_, i)| y[i]).sum::<f64>() / k as f64;
        assert!(
            (values(&pred)[q] - mean).abs() < 1e-9,
            "query {q}: {} vs naive {mean}",
            values(&pred)[q]
        );
    }
}

#[test]
fn knn_imputes_missing_with_the_mean_and_caps_k_at_the_rows() {
    let x = matrix(vec![vec![0.0, 2.0, 4.0], vec![1.0, 1.0, 1.0]]);
    let y = Target::Regression(vec![1.0, 2.0, 3.0]);
    let p = params(&[("n_neighbors", ParamValue::Int(1))]);
    let model = fit("knn", &p, Task::Regression, &x, &y, &opts()).unwrap();
    // Mean of column 0 is 2, so a missing value looks like 2 → row 1.
    let pred = model.predict(&matrix(vec![vec![f64::NAN], vec![1.0]]));
    assert_eq!(values(&pred), &[2.0]);

    let p = params(&[("n_neighbors", ParamValue::Int(50))]);
    let model = fit("knn", &p, Task::Regression, &x, &y, &opts()).unwrap();
    let pred = model.predict(&matrix(vec![vec![100.0], vec![1.0]]));
    assert_eq!(values(&pred), &[2.0], "k capped at 3 rows averages all");
}

#[test]
fn knn_rejects_bad_params() {
    let (x, y) = two_clusters(20, 6);
    let t = classes(y, 2);
    let err = fit(
        "knn",
        &params(&[("k", ParamValue::Int(3))]),
        Task::Binary,
        &x,
        &t,
        &opts(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, TrainError::UnknownParam { name, .. } if name == "k"),
        "{err}"
    );
    let err = fit(
        "knn",
        &params(&[("n_neighbors", ParamValue::Int(0))]),
        Task::Binary,
        &x,
        &t,
        &opts(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, TrainError::BadParam { name, .. } if name == "n_neighbors"),
        "{err}"
    );
    let err = fit(
        "knn",
        &params(&[("metric", ParamValue::Choice("cosine".into()))]),
        Task::Binary,
        &x,
        &t,
        &opts(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("euclidean"), "{err}");
}

#[test]
fn knn_subsamples_above_the_row_cap() {
    let n = microlearn_train::KNN_MAX_TRAIN_ROWS + 1000;
    let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let y: Vec<f64> = a.clone();
    let x = matrix(vec![a]);
    let model = fit(
        "knn",
        &params(&[("n_neighbors", ParamValue::Int(3))]),
        Task::Regression,
        &x,
        &Target::Regression(y),
        &opts(),
    )
    .unwrap();
    let TrainedModel::Knn(km) = &model else {
        panic!("knn model")
    };
    assert_eq!(km.n_train, microlearn_train::KNN_MAX_TRAIN_ROWS);
    assert_eq!(km.subsampled_from, Some(n));
    let pred = model.predict(&matrix(vec![vec![25_000.0]]));
    assert!((values(&pred)[0] - 25_000.0).abs() < 10.0, "{pred:?}");
}

#[test]
fn knn_postcard_roundtrip_predicts_identically() {
    let (x, y) = two_clusters(300, 7);
    let model = fit(
        "knn",
        &Params::new(),
        Task::Binary,
        &x,
        &classes(y, 2),
        &opts(),
    )
    .unwrap();
    let bytes = postcard::to_stdvec(&model).unwrap();
    let back: TrainedModel = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.predict(&x), model.predict(&x));
}

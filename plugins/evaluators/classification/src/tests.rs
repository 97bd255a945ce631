use super::*;

fn binary(y: &[f64], p1: &[f64], curves: bool) -> EvaluationRequest {
    EvaluationRequest {
        task: Task::Binary,
        labels: vec!["no".into(), "yes".into()],
        y_true: y.to_vec(),
        predictions: Predictions::Probabilities(p1.iter().flat_map(|&p| [1.0 - p, p]).collect()),
        curves,
        config: "{}".into(),
    }
}

fn metric(e: &Evaluation, name: &str) -> f64 {
    e.metric(name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
        .value
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn binary_metrics_match_hand_computed_values() {
    // y:    1    1    0    0    1    0
    // p1: 0.9  0.4  0.6  0.1  0.8  0.3  → predicted 1 0 1 0 1 0
    // tp=2 fn=1 fp=1 tn=2
    let e = Classification::evaluate(&binary(
        &[1.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        &[0.9, 0.4, 0.6, 0.1, 0.8, 0.3],
        false,
    ))
    .unwrap();
    assert!(close(metric(&e, "accuracy"), 4.0 / 6.0));
    assert!(close(
        metric(&e, "balanced_accuracy"),
        (2.0 / 3.0 + 2.0 / 3.0) / 2.0
    ));
    assert!(close(metric(&e, "f1"), 2.0 * 2.0 / (2.0 * 2.0 + 1.0 + 1.0)));
    // Positive scores 0.9 0.4 0.8 vs negative 0.6 0.1 0.3: 8 of 9 pairs ordered right.
    assert!(close(metric(&e, "roc_auc"), 8.0 / 9.0));
    // (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (4-1)/sqrt(3*3*3*3) = 1/3
    assert!(close(metric(&e, "mcc"), 1.0 / 3.0));
    let expected_ll = -[0.9f64, 0.4, 0.4, 0.9, 0.8, 0.7]
        .iter()
        .map(|p| p.ln())
        .sum::<f64>()
        / 6.0;
    assert!(close(metric(&e, "log_loss"), expected_ll));
    assert_eq!(e.metric("log_loss").unwrap().direction, Direction::Minimize);
}

#[test]
fn perfect_ranking_has_auc_one_and_ties_count_half() {
    let e = Classification::evaluate(&binary(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.2, 0.7, 0.8], false))
        .unwrap();
    assert!(close(metric(&e, "roc_auc"), 1.0));
    let e = Classification::evaluate(&binary(&[0.0, 1.0], &[0.5, 0.5], false)).unwrap();
    assert!(close(metric(&e, "roc_auc"), 0.5));
}

#[test]
fn uniform_probabilities_have_log_loss_ln_k() {
    let k = 4;
    let rows = 8;
    let request = EvaluationRequest {
        task: Task::Multiclass,
        labels: (0..k).map(|c| format!("c{c}")).collect(),
        y_true: (0..rows).map(|i| (i % k) as f64).collect(),
        predictions: Predictions::Probabilities(vec![1.0 / k as f64; rows * k]),
        curves: false,
        config: "{}".into(),
    };
    let e = Classification::evaluate(&request).unwrap();
    assert!(close(metric(&e, "log_loss"), (k as f64).ln()));
}

#[test]
fn multiclass_macro_f1_and_mcc_of_a_perfect_prediction_are_one() {
    let y = [0.0, 1.0, 2.0, 2.0, 1.0];
    let mut proba = Vec::new();
    for &t in &y {
        let mut row = vec![0.05; 3];
        row[t as usize] = 0.9;
        proba.extend(row);
    }
    let request = EvaluationRequest {
        task: Task::Multiclass,
        labels: vec!["a".into(), "b".into(), "c".into()],
        y_true: y.to_vec(),
        predictions: Predictions::Probabilities(proba),
        curves: true,
        config: "{}".into(),
    };
    let e = Classification::evaluate(&request).unwrap();
    for name in ["accuracy", "balanced_accuracy", "f1", "roc_auc", "mcc"] {
        assert!(
            close(metric(&e, name), 1.0),
            "{name} = {}",
            metric(&e, name)
        );
    }
    assert!(e.curve("roc:a").is_some() && e.curve("pr:c").is_some());
    let confusion = e.matrix("confusion").unwrap();
    assert_eq!(
        confusion.values,
        vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0]
    );
}

#[test]
fn curves_are_downsampled_and_well_formed() {
    let n = 5000;
    let y: Vec<f64> = (0..n).map(|i| (i % 2) as f64).collect();
    let p: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % n) as f64 / n as f64 * 0.5 + 0.5 * (i % 2) as f64)
        .collect();
    let e = Classification::evaluate(&binary(&y, &p, true)).unwrap();
    let roc = e.curve("roc").unwrap();
    assert!(roc.x.len() <= 200 && roc.x.len() == roc.y.len());
    assert_eq!((roc.x[0], roc.y[0]), (0.0, 0.0));
    assert_eq!((*roc.x.last().unwrap(), *roc.y.last().unwrap()), (1.0, 1.0));
    assert!(roc.x.windows(2).all(|w| w[0] <= w[1]), "fpr is monotone");
    let cal = e.curve("calibration").unwrap();
    assert!(cal.x.len() <= 10 && !cal.x.is_empty());
    assert!(e.matrix("confusion").is_some());
}

#[test]
fn nan_probability_is_rejected_naming_the_row() {
    let err = Classification::evaluate(&binary(&[0.0, 1.0, 1.0], &[0.2, f64::NAN, 0.9], false))
        .unwrap_err();
    assert!(
        matches!(err, PluginError::InvalidInput { row: Some(1), .. }),
        "{err}"
    );
}

#[test]
fn rejects_wrong_probability_count_and_bad_labels() {
    let mut r = binary(&[0.0, 1.0], &[0.2, 0.7], false);
    r.predictions = Predictions::Probabilities(vec![0.5; 3]);
    assert!(
        Classification::evaluate(&r)
            .unwrap_err()
            .to_string()
            .contains("4 probabilities")
    );

    let r = binary(&[0.0, 2.0], &[0.2, 0.7], false);
    let err = Classification::evaluate(&r).unwrap_err();
    assert!(
        matches!(err, PluginError::InvalidInput { row: Some(1), .. }),
        "{err}"
    );
}

#[test]
fn regression_is_unsupported() {
    let mut r = binary(&[0.0, 1.0], &[0.2, 0.7], false);
    r.task = Task::Regression;
    assert!(matches!(
        Classification::evaluate(&r),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn single_class_omits_auc_instead_of_nan() {
    let e = Classification::evaluate(&binary(&[1.0, 1.0], &[0.2, 0.7], true)).unwrap();
    assert!(e.metric("roc_auc").is_none());
    assert!(e.metrics.iter().all(|m| m.value.is_finite()));
}

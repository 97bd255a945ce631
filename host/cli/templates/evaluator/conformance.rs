//! Conformance: what the MicroLearn host checks when it installs and calls this plugin.

use microlearn_sdk::prelude::*;
use support::manifest;
use {{crate_file}}::{{Type}};

mod support;

#[test]
fn describe_matches_the_manifest() {
    let info = {{Type}}::describe();
    let m = manifest();
    assert_eq!(info.id, m.id, "describe().id vs microlearn.toml");
    assert_eq!(info.kind, PluginKind::Evaluator);
    assert_eq!(m.kind, "evaluator");
    assert_eq!(info.version, m.version, "describe().version vs microlearn.toml");
    let schema: serde_json::Value =
        serde_json::from_str(&info.config_schema).expect("the config schema is JSON");
    assert!(schema.is_object(), "the config schema is a JSON object");
    assert!(!{{Type}}::tasks().is_empty(), "handles at least one task");
}

#[test]
fn metrics_are_finite_for_every_task_it_claims() {
    for task in {{Type}}::tasks() {
        let (labels, predictions) = match task {
            Task::Regression => (vec![], Predictions::Values(vec![0.5, 1.5, 2.0, 0.0])),
            Task::Binary => (
                vec!["a".into(), "b".into()],
                Predictions::Probabilities(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7]),
            ),
            Task::Multiclass => (
                vec!["a".into(), "b".into(), "c".into()],
                Predictions::Probabilities(vec![
                    0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, 0.3, 0.3, 0.4,
                ]),
            ),
        };
        let y_true = match task {
            Task::Regression => vec![0.0, 1.0, 2.0, 0.5],
            Task::Binary => vec![0.0, 1.0, 1.0, 0.0],
            Task::Multiclass => vec![0.0, 1.0, 2.0, 0.0],
        };
        let request = EvaluationRequest {
            task,
            labels,
            y_true,
            predictions,
            curves: true,
            config: "{}".into(),
        };
        let e = {{Type}}::evaluate(&request).expect("evaluates a well-formed request");
        assert!(!e.metrics.is_empty(), "{task:?}: at least one metric");
        for m in &e.metrics {
            assert!(m.value.is_finite(), "{task:?}: {} = {}", m.name, m.value);
        }
    }
}

#[test]
fn malformed_requests_are_typed_errors_not_panics() {
    let task = {{Type}}::tasks()[0];
    let request = EvaluationRequest {
        task,
        labels: vec!["a".into(), "b".into()],
        y_true: vec![0.0, 1.0, 1.0],
        predictions: Predictions::Probabilities(vec![0.5, 0.5]),
        curves: false,
        config: "{}".into(),
    };
    assert!({{Type}}::evaluate(&request).is_err(), "too few predictions");
    let request = EvaluationRequest {
        config: r#"{"no_such_field": 1}"#.into(),
        ..request
    };
    assert!(matches!(
        {{Type}}::evaluate(&request),
        Err(PluginError::InvalidConfig(_))
    ));
}

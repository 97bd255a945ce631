//! The first-party plugins run correctly through the runtime: one call per stage.

use crate::support::{binary_target, host, mixed_table};
use microlearn_core::stages::{
    Cost, DeployAction, DeployRequest, EvaluationRequest, Hardware, MetaFeatures, ModelKindInfo,
    ModelSummary, PredictionValues, SelectionRequest,
};
use microlearn_core::{
    ColumnData, Direction, Metric, ParamDomain, ParamSpec, ParamValue, Table, Task,
};
use std::sync::{Arc, Mutex};

#[test]
fn standard_preparer_fits_and_replays_its_transformation() {
    let host = host();
    let standard = host.preparer("standard").expect("installed");
    let table = mixed_table();
    let (state, prepared) = standard
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("fit succeeds");
    assert_eq!(prepared.num_rows(), table.num_rows());
    assert!(prepared.num_columns() > 0);
    // Imputation: no missing value survives in a float column.
    for column in prepared.columns() {
        if let ColumnData::Float64(values) = &column.data {
            assert_eq!(column.null_count(), 0, "column '{}'", column.name);
            assert!(
                values.iter().all(|v| v.is_finite()),
                "column '{}'",
                column.name
            );
        }
    }
    let again = standard
        .transform(&state, &table)
        .expect("transform succeeds");
    assert_close(&again, &prepared);

    let head = table.take(&[0, 1]);
    let part = standard
        .transform(&state, &head)
        .expect("transform of a slice");
    assert_eq!(part.num_rows(), 2);
    assert_close(&part, &prepared.take(&[0, 1]));
}

/// Same names, validity and values, floats within 1e-12 relative (the plugin may compute
/// `fit`'s output and `transform` with differently ordered float operations).
fn assert_close(a: &Table, b: &Table) {
    assert_eq!(a.names(), b.names());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.validity, y.validity, "column '{}'", x.name);
        match (&x.data, &y.data) {
            (ColumnData::Float64(u), ColumnData::Float64(v)) => {
                for (row, (p, q)) in u.iter().zip(v).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-12 * p.abs().max(1.0),
                        "column '{}' row {row}: {p} vs {q}",
                        x.name
                    );
                }
            }
            _ => assert_eq!(x, y),
        }
    }
}

#[test]
fn progress_reports_reach_the_callback_or_nothing_breaks() {
    let host = host();
    let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
    let sink = seen.clone();
    let standard = host
        .preparer("standard")
        .expect("installed")
        .with_progress(Arc::new(move |event| {
            assert_eq!(event.plugin, "standard");
            sink.lock().expect("lock").push(event.fraction);
        }));
    let table = mixed_table();
    standard
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("fit succeeds");
    let seen = seen.lock().expect("lock");
    assert!(seen.iter().all(|f| (0.0..=1.0).contains(f)), "{seen:?}");
}

#[test]
fn classification_evaluator_scores_probabilities() {
    let host = host();
    let evaluator = host.evaluator("classification").expect("installed");
    let tasks = evaluator.tasks().expect("tasks");
    assert!(
        tasks.contains(&Task::Binary) && tasks.contains(&Task::Multiclass),
        "{tasks:?}"
    );
    let evaluation = evaluator
        .evaluate(&EvaluationRequest {
            task: Task::Binary,
            labels: vec!["no".into(), "yes".into()],
            y_true: vec![0.0, 1.0, 1.0, 0.0],
            predictions: PredictionValues::Probabilities(vec![
                0.9, 0.1, 0.2, 0.8, 0.4, 0.6, 0.7, 0.3,
            ]),
            curves: true,
            config: "{}".into(),
        })
        .expect("evaluate succeeds");
    let accuracy = evaluation.metric("accuracy").expect("accuracy reported");
    assert_eq!(accuracy.value, 1.0);
    assert_eq!(accuracy.direction, Direction::Maximize);
    assert!(!evaluation.curves.is_empty());
}

#[test]
fn regression_evaluator_scores_values() {
    let host = host();
    let evaluation = host
        .evaluator("regression")
        .expect("installed")
        .evaluate(&EvaluationRequest {
            task: Task::Regression,
            labels: vec![],
            y_true: vec![1.0, 2.0, 3.0],
            predictions: PredictionValues::Values(vec![1.0, 2.0, 4.0]),
            curves: false,
            config: "{}".into(),
        })
        .expect("evaluate succeeds");
    let mae = evaluation.metric("mae").expect("mae reported");
    assert!((mae.value - 1.0 / 3.0).abs() < 1e-12, "{}", mae.value);
}

fn catalogue() -> Vec<ModelKindInfo> {
    let kind = |name: &str, cost| ModelKindInfo {
        name: name.into(),
        description: format!("{name} model"),
        tasks: vec![Task::Binary, Task::Multiclass, Task::Regression],
        params: vec![ParamSpec {
            name: "learning_rate".into(),
            domain: ParamDomain::Float {
                low: 1e-3,
                high: 1.0,
                log: true,
            },
            default: ParamValue::Float(0.1),
        }],
        cost,
    };
    vec![
        kind("gbdt", Cost::Medium),
        kind("linear", Cost::Low),
        kind("forest", Cost::Medium),
    ]
}

#[test]
fn portfolio_selector_ranks_catalogue_kinds() {
    let host = host();
    let request = SelectionRequest {
        meta: MetaFeatures {
            task: Task::Binary,
            rows: 10_000,
            raw_features: 12,
            prepared_features: 20,
            numeric_features: 8,
            categorical_features: 4,
            datetime_features: 0,
            missing_fraction: 0.05,
            classes: 2,
            minority_class_fraction: 0.3,
        },
        catalogue: catalogue(),
        budget_seconds: 60.0,
        hardware: Hardware {
            cpus: 2,
            memory_bytes: 4 << 30,
            gpus: 0,
        },
        config: "{}".into(),
    };
    let candidates = host
        .selector("portfolio")
        .expect("installed")
        .select(&request)
        .expect("select succeeds");
    assert!(!candidates.is_empty());
    for c in &candidates {
        assert!(
            ["gbdt", "linear", "forest"].contains(&c.kind.as_str()),
            "{}",
            c.kind
        );
    }
}

#[test]
fn best_model_deployer_promotes_the_better_candidate() {
    let host = host();
    let summary = |id: &str, acc: f64| ModelSummary {
        model_id: id.into(),
        kind: "gbdt".into(),
        metrics: vec![Metric {
            name: "accuracy".into(),
            value: acc,
            direction: Direction::Maximize,
        }],
        fit_seconds: 1.0,
        size_bytes: 1000,
    };
    let decision = host
        .deployer("best-model")
        .expect("installed")
        .decide(&DeployRequest {
            task: Task::Binary,
            primary_metric: "accuracy".into(),
            candidates: vec![summary("m-new", 0.9)],
            current: Some(summary("m-old", 0.8)),
            config: "{}".into(),
        })
        .expect("decide succeeds");
    assert_eq!(decision.action, DeployAction::Promote("m-new".into()));
}

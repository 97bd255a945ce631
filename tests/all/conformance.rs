//! Plugin conformance: every first-party plugin instantiates under its world, describes itself
//! as its manifest says, respects its kind's invariants, and answers bad input with a typed
//! error rather than a trap.
//!
//! The plugin crates are discovered from the source tree (`plugins/<kind>s/<name>/`), so a new
//! plugin that is not built, or has no case in [`case_for`], fails the suite.

use crate::common::*;
use microlearn_core::stages::{
    DeployAction, DeployRequest, EvaluationRequest, ModelSummary, PluginKind, PredictionValues,
    SelectionRequest,
};
use microlearn_core::{Column, ColumnData, Direction, Metric, Table, Task};
use microlearn_plugins::{GuestError, PluginError, PluginHost, RuntimeConfig};
use std::path::PathBuf;

/// (kind, id, source folder) of every plugin crate in the source tree.
fn source_plugins() -> Vec<(PluginKind, String, PathBuf)> {
    let mut out = Vec::new();
    for (folder, kind) in [
        ("preparers", PluginKind::Preparer),
        ("selectors", PluginKind::Selector),
        ("evaluators", PluginKind::Evaluator),
        ("deployers", PluginKind::Deployer),
    ] {
        let dir = repo_root().join("plugins").join(folder);
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let manifest = entry.path().join("microlearn.toml");
            if !manifest.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&manifest).unwrap();
            let value: toml::Value = toml::from_str(&text).unwrap();
            let id = value["id"]
                .as_str()
                .expect("manifest has an id")
                .to_string();
            let declared: PluginKind = value["kind"].as_str().unwrap().parse().unwrap();
            assert_eq!(declared, kind, "{} sits in {folder}/", manifest.display());
            out.push((kind, id, entry.path()));
        }
    }
    assert!(
        out.len() >= 5,
        "expected the first-party plugins, found {out:?}"
    );
    out
}

fn host() -> PluginHost {
    let host = PluginHost::new(RuntimeConfig::default()).unwrap();
    let report = host.scan(&[plugin_dir()]);
    assert!(
        report.errors.is_empty(),
        "plugins failed to load: {:?}",
        report.errors
    );
    host
}

type Case = fn(&PluginHost, &str);

/// The kind-specific behaviour test of each first-party plugin.
fn case_for(id: &str) -> Option<Case> {
    match id {
        "standard" => Some(preparer_case),
        "portfolio" => Some(selector_case),
        "classification" | "regression" => Some(evaluator_case),
        "best-model" => Some(deployer_case),
        _ => None,
    }
}

#[test]
fn every_plugin_in_the_source_tree_is_built_described_and_covered() {
    let host = host();
    let installed = host.list();
    for (kind, id, src) in source_plugins() {
        let p = installed
            .iter()
            .find(|p| p.info.id == id)
            .unwrap_or_else(|| panic!("plugin '{id}' ({}) was not built", src.display()));
        assert_eq!(p.info.kind, kind, "{id}: describe() kind");
        let manifest = p.manifest.as_ref().expect("loaded from a manifest");
        assert_eq!(manifest.version, p.info.version, "{id}: describe() version");
        assert!(
            !p.info.description.is_empty(),
            "{id}: describe() has a description"
        );
        let schema: serde_json::Value = serde_json::from_str(&p.info.config_schema)
            .unwrap_or_else(|e| panic!("{id}: config schema is not JSON: {e}"));
        assert!(schema.is_object(), "{id}: config schema is a JSON object");
        let case = case_for(&id).unwrap_or_else(|| {
            panic!(
                "plugin '{id}' has no conformance case: add one to case_for in {}",
                file!()
            )
        });
        case(&host, &id);
    }
}

fn guest_error(e: &PluginError) -> &GuestError {
    match e {
        PluginError::Guest { error, .. } => error,
        other => panic!("expected a typed plugin error, got: {other}"),
    }
}

fn mixed_table(rows: usize) -> Table {
    let num: Vec<f64> = (0..rows)
        .map(|i| if i % 7 == 3 { f64::NAN } else { i as f64 * 0.5 })
        .collect();
    let cats = ["red", "green", "blue"];
    let cat: Vec<Option<&str>> = (0..rows)
        .map(|i| if i % 11 == 5 { None } else { Some(cats[i % 3]) })
        .collect();
    Table::new(vec![
        Column::float64_nan_missing("num", num),
        Column::categorical_from_strs("colour", &cat),
        Column::new(
            "flag",
            ColumnData::Boolean((0..rows).map(|i| i % 2 == 0).collect()),
        ),
        Column::new(
            "when",
            ColumnData::TimestampMs(
                (0..rows)
                    .map(|i| 1_600_000_000_000 + i as i64 * 86_400_000)
                    .collect(),
            ),
        ),
        Column::new("const", ColumnData::Int64(vec![4; rows])),
    ])
    .unwrap()
}

fn preparer_case(host: &PluginHost, id: &str) {
    let p = host.preparer(id).unwrap();
    let train = mixed_table(60);
    let target = Column::float64("y", (0..60).map(|i| (i % 2) as f64).collect());
    let (state, fitted) = p.fit(&train, &target, Task::Binary, "{}").unwrap();
    assert_eq!(fitted.num_rows(), 60, "{id}: fit keeps the row count");
    assert_eq!(
        p.transform(&state, &train).unwrap(),
        fitted,
        "{id}: transform reproduces fit"
    );
    let other = mixed_table(17);
    let out = p.transform(&state, &other).unwrap();
    assert_eq!(out.num_rows(), 17, "{id}: transform keeps the row count");
    assert_eq!(
        out.names(),
        fitted.names(),
        "{id}: same columns on new data"
    );
    for c in out.columns() {
        assert!(
            c.to_f64_nan().iter().all(|v| v.is_finite()),
            "{id}: column {} has non-finite values",
            c.name
        );
    }
    // Bad input: a typed error, never a trap.
    let err = p.transform(b"not a state", &train).unwrap_err();
    assert!(
        matches!(guest_error(&err), GuestError::InvalidState(_)),
        "{err}"
    );
    let mut missing = train.clone();
    missing.remove("num");
    let err = p.transform(&state, &missing).unwrap_err();
    assert!(
        matches!(guest_error(&err), GuestError::InvalidInput { .. })
            && err.to_string().contains("num"),
        "{err}"
    );
    let err = p
        .fit(&train, &target, Task::Binary, "{\"max_onehot\": \"ten\"}")
        .unwrap_err();
    assert!(
        matches!(guest_error(&err), GuestError::InvalidConfig(_)),
        "{err}"
    );
}

fn selector_case(host: &PluginHost, id: &str) {
    let s = host.selector(id).unwrap();
    for task in [Task::Binary, Task::Multiclass, Task::Regression] {
        let catalogue: Vec<_> = microlearn_train::catalogue()
            .into_iter()
            .filter(|k| k.tasks.contains(&task))
            .collect();
        let request = SelectionRequest {
            meta: microlearn_core::stages::MetaFeatures {
                task,
                rows: 5000,
                raw_features: 12,
                prepared_features: 30,
                numeric_features: 8,
                categorical_features: 4,
                datetime_features: 0,
                missing_fraction: 0.02,
                classes: if task == Task::Regression { 0 } else { 3 },
                minority_class_fraction: if task == Task::Regression { 0.0 } else { 0.1 },
            },
            catalogue: catalogue.clone(),
            budget_seconds: 30.0,
            hardware: microlearn_core::stages::Hardware {
                cpus: 2,
                memory_bytes: 8 << 30,
                gpus: 0,
            },
            config: "{}".into(),
        };
        let candidates = s.select(&request).unwrap();
        assert!(
            !candidates.is_empty(),
            "{id}: at least one candidate for {task}"
        );
        for c in &candidates {
            let kind = catalogue
                .iter()
                .find(|k| k.name == c.kind)
                .unwrap_or_else(|| panic!("{id}: proposed '{}' outside the catalogue", c.kind));
            for spec in &c.search_space {
                assert!(
                    kind.params.iter().any(|p| p.name == spec.name),
                    "{id}: {} has no param {}",
                    c.kind,
                    spec.name
                );
            }
            assert!(c.budget_share > 0.0 && c.budget_share.is_finite());
        }
        let mut empty = request.clone();
        empty.catalogue.clear();
        let err = s.select(&empty).unwrap_err();
        assert!(matches!(err, PluginError::Guest { .. }), "{id}: {err}");
    }
}

fn evaluator_case(host: &PluginHost, id: &str) {
    let e = host.evaluator(id).unwrap();
    let tasks = e.tasks().unwrap();
    assert!(!tasks.is_empty(), "{id}: supports some task");
    for task in tasks {
        let (labels, y, preds, perfect_metric, perfect_value) = match task {
            Task::Regression => (
                vec![],
                vec![1.0, 2.0, 3.0, 4.0],
                PredictionValues::Values(vec![1.0, 2.0, 3.0, 4.0]),
                "r2",
                1.0,
            ),
            Task::Binary => (
                vec!["a".to_string(), "b".to_string()],
                vec![0.0, 1.0, 0.0, 1.0],
                PredictionValues::Probabilities(vec![0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6]),
                "roc_auc",
                1.0,
            ),
            Task::Multiclass => (
                vec!["a".into(), "b".into(), "c".into()],
                vec![0.0, 1.0, 2.0],
                PredictionValues::Probabilities(vec![0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8]),
                "accuracy",
                1.0,
            ),
        };
        let mut req = EvaluationRequest {
            task,
            labels,
            y_true: y,
            predictions: preds,
            curves: true,
            config: "{}".into(),
        };
        let eval = e.evaluate(&req).unwrap();
        let m = eval
            .metric(perfect_metric)
            .unwrap_or_else(|| panic!("{id}: no {perfect_metric} for {task}"));
        assert!(
            (m.value - perfect_value).abs() < 1e-9,
            "{id}: {perfect_metric} = {}",
            m.value
        );
        assert!(!eval.curves.is_empty(), "{id}: curves requested for {task}");
        for c in &eval.curves {
            assert_eq!(c.x.len(), c.y.len(), "{id}: curve {} lengths", c.name);
        }
        req.y_true.pop();
        let err = e.evaluate(&req).unwrap_err();
        assert!(
            matches!(guest_error(&err), GuestError::InvalidInput { .. }),
            "{id}: mismatched lengths: {err}"
        );
    }
}

fn deployer_case(host: &PluginHost, id: &str) {
    let d = host.deployer(id).unwrap();
    let summary = |id: &str, auc: f64| ModelSummary {
        model_id: id.into(),
        kind: "gbdt".into(),
        metrics: vec![Metric {
            name: "roc_auc".into(),
            value: auc,
            direction: Direction::Maximize,
        }],
        fit_seconds: 1.0,
        size_bytes: 1000,
    };
    let mut req = DeployRequest {
        task: Task::Binary,
        primary_metric: "roc_auc".into(),
        // The host lists candidates best first by validation score.
        candidates: vec![summary("m2", 0.95), summary("m1", 0.90)],
        current: None,
        config: "{}".into(),
    };
    let decision = d.decide(&req).unwrap();
    assert_eq!(
        decision.action,
        DeployAction::Promote("m2".into()),
        "{id}: best candidate"
    );
    assert!(!decision.reason.is_empty());
    req.current = Some(summary("old", 0.99));
    let decision = d.decide(&req).unwrap();
    assert_eq!(
        decision.action,
        DeployAction::Keep,
        "{id}: keeps a better current model"
    );
}

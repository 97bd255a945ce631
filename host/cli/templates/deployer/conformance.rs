//! Conformance: what the MicroLearn host checks when it installs and calls this plugin.

use microlearn_sdk::prelude::*;
use support::manifest;
use {{crate_file}}::{{Type}};

mod support;

fn model(id: &str, auc: f64) -> ModelSummary {
    ModelSummary {
        model_id: id.into(),
        kind: "gbdt".into(),
        metrics: vec![Metric::maximize("roc_auc", auc)],
        fit_seconds: 1.0,
        size_bytes: 1000,
    }
}

fn request(current: Option<ModelSummary>, config: &str) -> DeployRequest {
    DeployRequest {
        task: Task::Binary,
        primary_metric: "roc_auc".into(),
        candidates: vec![model("a", 0.80), model("b", 0.85)],
        current,
        config: config.into(),
    }
}

#[test]
fn describe_matches_the_manifest() {
    let info = {{Type}}::describe();
    let m = manifest();
    assert_eq!(info.id, m.id, "describe().id vs microlearn.toml");
    assert_eq!(info.kind, PluginKind::Deployer);
    assert_eq!(m.kind, "deployer");
    assert_eq!(info.version, m.version, "describe().version vs microlearn.toml");
    let schema: serde_json::Value =
        serde_json::from_str(&info.config_schema).expect("the config schema is JSON");
    assert!(schema.is_object(), "the config schema is a JSON object");
}

#[test]
fn a_promotion_names_a_candidate() {
    let req = request(None, "{}");
    let d = {{Type}}::decide(&req).expect("decides");
    if let Action::Promote(id) = &d.action {
        assert!(req.candidates.iter().any(|c| &c.model_id == id), "{id} is not a candidate");
    }
    assert!((1..=100).contains(&d.traffic_percent));
    let d = {{Type}}::decide(&request(Some(model("old", 0.99)), "{}")).expect("decides");
    assert!(!d.reason.is_empty());
}

#[test]
fn bad_config_is_a_typed_error() {
    let err = {{Type}}::decide(&request(None, r#"{"no_such_field": 1}"#)).expect_err("bad config");
    assert!(matches!(err, PluginError::InvalidConfig(_)), "{err:?}");
}

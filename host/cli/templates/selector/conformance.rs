//! Conformance: what the MicroLearn host checks when it installs and calls this plugin.

use microlearn_sdk::prelude::*;
use support::manifest;
use {{crate_file}}::{{Type}};

mod support;

fn request(task: Task, config: &str) -> SelectionRequest {
    let kind = |name: &str, cost| ModelKind {
        name: name.into(),
        description: format!("{name} models"),
        tasks: vec![Task::Binary, Task::Multiclass, Task::Regression],
        params: vec![],
        cost,
    };
    SelectionRequest {
        meta: MetaFeatures {
            task,
            rows: 1000,
            raw_features: 5,
            prepared_features: 9,
            numeric_features: 4,
            categorical_features: 1,
            datetime_features: 0,
            missing_fraction: 0.01,
            classes: 2,
            minority_class_fraction: 0.4,
        },
        catalogue: vec![kind("gbdt", Cost::Medium), kind("linear", Cost::Low)],
        budget_seconds: 60.0,
        hardware: Hardware {
            cpus: 2,
            memory_bytes: 4 << 30,
            gpus: 0,
        },
        config: config.into(),
    }
}

#[test]
fn describe_matches_the_manifest() {
    let info = {{Type}}::describe();
    let m = manifest();
    assert_eq!(info.id, m.id, "describe().id vs microlearn.toml");
    assert_eq!(info.kind, PluginKind::Selector);
    assert_eq!(m.kind, "selector");
    assert_eq!(info.version, m.version, "describe().version vs microlearn.toml");
    let schema: serde_json::Value =
        serde_json::from_str(&info.config_schema).expect("the config schema is JSON");
    assert!(schema.is_object(), "the config schema is a JSON object");
}

#[test]
fn candidates_come_from_the_catalogue_with_usable_budget_shares() {
    for task in [Task::Binary, Task::Multiclass, Task::Regression] {
        let req = request(task, "{}");
        let candidates = {{Type}}::select(&req).expect("selects");
        assert!(!candidates.is_empty(), "{task:?}: at least one candidate");
        for c in &candidates {
            assert!(
                req.catalogue.iter().any(|k| k.name == c.kind),
                "{} is not in the catalogue",
                c.kind
            );
            assert!(c.budget_share > 0.0 && c.budget_share <= 1.0, "{c:?}");
        }
    }
}

#[test]
fn bad_config_is_a_typed_error() {
    let err = {{Type}}::select(&request(Task::Binary, r#"{"no_such_field": 1}"#)).expect_err("bad config");
    assert!(matches!(err, PluginError::InvalidConfig(_)), "{err:?}");
}

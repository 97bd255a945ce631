//! A plugin failure late in a pipeline costs what that plugin contributes, not the search and
//! refits before it: a failing evaluator that is not the objective's loses its metrics, a
//! failing deployer deploys nothing, and in both cases the CLI writes the best bundle. The
//! failing plugins are built from `tests/plugins/` with `microlearn plugin build`, as a third
//! party would build theirs.

use crate::common::*;
use microlearn_store::{DEFAULT_TENANT, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The folder holding the built test plugins (one sub-folder per plugin), built once per run.
fn refusing_plugins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // The tutorial test's target folder: the SDK's dependencies are compiled once.
            let target = target_dir().join("plugin-template-test");
            for name in ["refusing-evaluator", "refusing-deployer"] {
                let out = Command::new(bin())
                    .args(["plugin", "build"])
                    .arg(repo_root().join("tests/plugins").join(name))
                    .env("CARGO_TARGET_DIR", &target)
                    .env_remove("MICROLEARN_LOG")
                    .output()
                    .expect("the microlearn binary runs");
                assert!(
                    out.status.success(),
                    "plugin build {name}: {}",
                    stderr(&out)
                );
            }
            let dir = target.join("microlearn-plugin");
            assert!(dir.join("refusing-evaluator/plugin.toml").is_file());
            assert!(dir.join("refusing-deployer/plugin.toml").is_file());
            dir
        })
        .clone()
}

/// `microlearn run` with the first-party plugins and the refusing ones (`--plugins` replaces
/// `MICROLEARN_PLUGIN_PATH`, so both folders are named).
fn run_with_refusing(home: &Path, args: &[&str]) -> Output {
    let refusing = refusing_plugins();
    let first_party = plugin_dir();
    let mut all = vec![
        "--plugins",
        first_party.to_str().unwrap(),
        "--plugins",
        refusing.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    microlearn(home, &all)
}

#[test]
fn a_failing_evaluator_loses_its_metrics_and_the_pipeline_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bundle = dir.path().join("bc.mlbundle");
    let data = dataset("breast_cancer.csv");
    let out = run_with_refusing(
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--max-trials",
            "4",
            "--seed",
            "1",
            "--evaluator",
            "classification",
            "--evaluator",
            "refusing-evaluator",
            "--json",
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The evaluator's failure is on the record, with what it said.
    let errors = outcome["plugin_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["plugin"], "refusing-evaluator");
    assert_eq!(errors[0]["stage"], "evaluating");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("fails on purpose"),
        "{errors:?}"
    );
    // Everything else is kept: held-out metrics from the objective's evaluator, a deployment,
    // a bundle that scores.
    assert_eq!(outcome["deployed"], true, "{outcome}");
    let board = outcome["leaderboard"].as_array().unwrap();
    assert!(!board.is_empty());
    for entry in board {
        let metrics = entry["test_metrics"].as_array().unwrap();
        assert!(metrics.iter().any(|m| m["name"] == "roc_auc"), "{entry}");
    }
    let preds = dir.path().join("p.csv");
    let scored = microlearn(
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            data.to_str().unwrap(),
            "-o",
            preds.to_str().unwrap(),
        ],
    );
    assert!(scored.status.success(), "{}", stderr(&scored));
    // The stored pipeline says so too (the API and dashboard read this record).
    let store = Store::open(&home).unwrap();
    let pipelines = store.tenant(DEFAULT_TENANT).pipelines().unwrap();
    assert_eq!(pipelines.len(), 1);
    assert_eq!(pipelines[0].status.to_string(), "done");
    assert_eq!(pipelines[0].plugin_errors.len(), 1);
    assert_eq!(pipelines[0].plugin_errors[0].plugin, "refusing-evaluator");
}

#[test]
fn a_failing_deployer_deploys_nothing_but_the_cli_writes_the_best_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bundle = dir.path().join("bc.mlbundle");
    let data = dataset("breast_cancer.csv");
    let out = run_with_refusing(
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--max-trials",
            "4",
            "--seed",
            "1",
            // Only the deployer fails here: the refusing evaluator is installed too.
            "--evaluator",
            "classification",
            "--deployer",
            "refusing-deployer",
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Deployment: nothing was deployed"), "{text}");
    assert!(
        text.contains("deployer 'refusing-deployer' failed") && text.contains("fails on purpose"),
        "the reason is shown: {text}"
    );
    assert!(text.contains("Best model"), "{text}");
    assert!(bundle.is_file(), "the best bundle is written");
    let preds = dir.path().join("p.csv");
    let scored = microlearn(
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            data.to_str().unwrap(),
            "-o",
            preds.to_str().unwrap(),
        ],
    );
    assert!(scored.status.success(), "{}", stderr(&scored));

    let store = Store::open(&home).unwrap();
    let t = store.tenant(DEFAULT_TENANT);
    let pipelines = t.pipelines().unwrap();
    assert_eq!(pipelines.len(), 1);
    let p = &pipelines[0];
    assert_eq!(p.status.to_string(), "done", "{p:?}");
    assert!(p.decision.is_none() && p.deployment.is_none(), "{p:?}");
    assert_eq!(p.plugin_errors.len(), 1, "{p:?}");
    assert_eq!(p.plugin_errors[0].plugin, "refusing-deployer");
    assert!(
        p.plugin_errors[0]
            .consequence
            .contains("nothing was deployed"),
        "{p:?}"
    );
    // The models are kept, and nothing is deployed.
    assert!(!p.leaderboard.is_empty());
    for id in &p.leaderboard {
        assert!(t.model(id).unwrap().is_some(), "model {id} is stored");
    }
    assert!(t.deployments().unwrap().is_empty());
}

#[test]
fn a_run_resumed_after_a_crash_while_deploying_keeps_the_models_deployments_serve() {
    use microlearn_core::{PipelineStatus, Stage};
    use microlearn_pipeline::{Engine, NoopObserver, PipelineConfig, RunControl, RunInput};
    use microlearn_plugins::{PluginHost, RuntimeConfig};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let plugins = PluginHost::new(RuntimeConfig::default()).unwrap();
    let report = plugins.scan(&[plugin_dir()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let engine = Engine::new(store.clone(), plugins);
    let mut config = PipelineConfig::new("target");
    config.max_trials = Some(3);
    config.seed = 1;
    let input = RunInput {
        train: dataset("breast_cancer.csv"),
        test: None,
    };
    let first = engine.run(&input, &config, &NoopObserver).unwrap();
    let t = store.tenant(DEFAULT_TENANT);
    let name = first.pipeline.deployment.clone().unwrap();
    let deployed = t.deployment(&name).unwrap().unwrap();
    assert_eq!(
        t.model(&deployed.model_id).unwrap().unwrap().pipeline_id,
        first.pipeline.id
    );

    // What a crash between storing the deployment and marking the pipeline done leaves: the
    // deployment and the models, and a pipeline record still in its deploying stage.
    let mut crashed = first.pipeline.clone();
    crashed.status = PipelineStatus::Running(Stage::Deploying);
    crashed.decision = None;
    crashed.best_model = None;
    crashed.leaderboard.clear();
    for s in &mut crashed.stages {
        if s.stage == Stage::Deploying {
            s.finished_at_ms = None;
        }
    }
    t.put_pipeline(&crashed).unwrap();

    let resumed = engine
        .run_with(
            &input,
            &config,
            &NoopObserver,
            &RunControl::for_pipeline(&crashed.id),
        )
        .unwrap();
    assert_eq!(resumed.pipeline.status, PipelineStatus::Done);
    // The model deployed before the crash is still there with its bundle (the deployment
    // serves it, or keeps it for rollback), and so is whatever the deployment serves now.
    let now = t.deployment(&name).unwrap().unwrap();
    for id in std::iter::once(&now.model_id).chain(&now.history) {
        let model = t
            .model(id)
            .unwrap()
            .unwrap_or_else(|| panic!("deployment '{name}' points at {id}, which was deleted"));
        store.artefacts().get(&model.bundle.sha256).unwrap();
    }
    assert!(
        now.model_id == deployed.model_id || now.history.contains(&deployed.model_id),
        "{now:?}"
    );
}

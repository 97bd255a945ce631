//! `microlearn run` and `microlearn predict` on public datasets, through the real binary, real
//! plugins and a real data directory.

use crate::common::*;
use microlearn_store::{DEFAULT_TENANT, Store};

fn run_json(home: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = microlearn(home, args);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("--json prints JSON")
}

#[test]
fn binary_pipeline_reaches_high_auc_and_predict_reproduces_its_test_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bundle = dir.path().join("bc.mlbundle");
    let preds = dir.path().join("pipeline-preds.csv");
    let train = dataset("breast_cancer.train.csv");
    let test = dataset("breast_cancer.test.csv");
    let outcome = run_json(
        &home,
        &[
            "run",
            train.to_str().unwrap(),
            "--target",
            "target",
            "--test",
            test.to_str().unwrap(),
            "--budget",
            "12",
            "--out",
            bundle.to_str().unwrap(),
            "--predictions",
            preds.to_str().unwrap(),
            "--json",
        ],
    );
    let auc = test_metric(&outcome, "roc_auc");
    assert!(auc >= 0.97, "breast_cancer held-out ROC-AUC {auc} < 0.97");

    // Batch scoring with the bundle gives exactly the predictions the pipeline evaluated.
    let scored = dir.path().join("scored.csv");
    let out = microlearn(
        &home,
        &[
            "predict",
            "--model",
            bundle.to_str().unwrap(),
            test.to_str().unwrap(),
            "-o",
            scored.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "predict failed: {}", stderr(&out));
    let (h1, r1) = read_csv(&preds);
    let (h2, r2) = read_csv(&scored);
    assert_eq!(h1, vec!["prediction", "proba_0", "proba_1"]);
    assert_eq!(h1, h2);
    assert_eq!(r1.len(), 143, "one prediction per held-out row");
    assert_eq!(
        r1, r2,
        "predict reproduces the pipeline's held-out predictions"
    );

    // The run is on record: pipeline done with every stage timed, trials and models stored.
    let store = Store::open(&home).unwrap();
    let t = store.tenant(DEFAULT_TENANT);
    let pipelines = t.pipelines().unwrap();
    assert_eq!(pipelines.len(), 1);
    let p = &pipelines[0];
    assert_eq!(p.status, microlearn_core::PipelineStatus::Done);
    assert_eq!(p.stages.len(), 7);
    assert!(
        p.stages
            .iter()
            .all(|s| s.finished_at_ms >= Some(s.started_at_ms))
    );
    assert!(!t.trials(&p.id).unwrap().is_empty());
    assert!(t.model(p.best_model.as_ref().unwrap()).unwrap().is_some());
    let deployment = t
        .deployment(p.deployment.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(Some(&deployment.model_id), p.best_model.as_ref());
    // The preparer's progress reports became pipeline events, ending with its fit at 100%.
    let progress: Vec<_> = t
        .events(&p.id)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "plugin_progress")
        .collect();
    assert!(
        progress
            .iter()
            .any(|e| e.data["plugin"] == "standard" && e.data["fraction"] == 1.0),
        "{progress:?}"
    );
}

#[test]
fn multiclass_pipeline_with_string_target_and_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bundle = dir.path().join("p.mlbundle");
    let outcome = run_json(
        &home,
        &[
            "run",
            dataset("penguins.train.csv").to_str().unwrap(),
            "--target",
            "species",
            "--test",
            dataset("penguins.test.csv").to_str().unwrap(),
            "--budget",
            "8",
            "--out",
            bundle.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(outcome["metric"], "log_loss");
    let acc = test_metric(&outcome, "accuracy");
    assert!(acc >= 0.93, "penguins accuracy {acc}");
    let ll = test_metric(&outcome, "log_loss");
    assert!(ll < 0.3, "penguins log-loss {ll}");

    let scored = dir.path().join("scored.json");
    let out = microlearn(
        &home,
        &[
            "predict",
            "-m",
            bundle.to_str().unwrap(),
            dataset("penguins.test.csv").to_str().unwrap(),
            "-o",
            scored.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&scored).unwrap()).unwrap();
    assert_eq!(rows.len(), 86);
    for r in &rows {
        let label = r["prediction"].as_str().unwrap();
        assert!(
            ["Adelie", "Chinstrap", "Gentoo"].contains(&label),
            "{label}"
        );
        let total: f64 = ["Adelie", "Chinstrap", "Gentoo"]
            .iter()
            .map(|c| r[format!("proba_{c}")].as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "probabilities sum to {total}");
    }
}

#[test]
fn regression_pipeline_on_diamonds_reaches_high_r2() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let outcome = run_json(
        &home,
        &[
            "run",
            dataset("diamonds.train.csv").to_str().unwrap(),
            "--target",
            "price",
            "--test",
            dataset("diamonds.test.csv").to_str().unwrap(),
            "--budget",
            "20",
            "--out",
            dir.path().join("d.mlbundle").to_str().unwrap(),
            "--json",
        ],
    );
    let r2 = test_metric(&outcome, "r2");
    assert!(r2 >= 0.9, "diamonds R² {r2} < 0.9");
}

#[test]
fn internal_split_run_prints_a_leaderboard_and_a_second_run_reuses_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = repo_root().join("examples/data/titanic.csv");
    for _ in 0..2 {
        let out = microlearn(
            &home,
            &[
                "run",
                data.to_str().unwrap(),
                "--target",
                "survived",
                "--budget",
                "4",
                "--out",
                dir.path().join("t.mlbundle").to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Leaderboard"), "{text}");
        assert!(text.contains("test roc_auc"), "{text}");
    }
    let store = Store::open(&home).unwrap();
    let t = store.tenant(DEFAULT_TENANT);
    assert_eq!(t.datasets().unwrap().len(), 1, "same file stored once");
    assert_eq!(t.pipelines().unwrap().len(), 2);
}

#[test]
fn max_trials_with_a_seed_gives_identical_trials_and_leaderboards() {
    // hpc_jobs has enough rows (3,248 train) for the search to prune on the first fold, and
    // multiclass log-loss exercises probabilities through the ensemble.
    let dir = tempfile::tempdir().unwrap();
    let train = dataset("hpc_jobs.train.csv");
    let test = dataset("hpc_jobs.test.csv");
    let run = |home_name: &str| {
        let home = dir.path().join(home_name);
        let outcome = run_json(
            &home,
            &[
                "run",
                train.to_str().unwrap(),
                "--target",
                "class",
                "--test",
                test.to_str().unwrap(),
                "--max-trials",
                "16",
                "--seed",
                "7",
                "--budget",
                "600",
                "--out",
                dir.path()
                    .join(format!("{home_name}.mlbundle"))
                    .to_str()
                    .unwrap(),
                "--predictions",
                dir.path()
                    .join(format!("{home_name}.csv"))
                    .to_str()
                    .unwrap(),
                "--json",
            ],
        );
        let store = Store::open(&home).unwrap();
        let t = store.tenant(DEFAULT_TENANT);
        let p = t.pipelines().unwrap().remove(0);
        let trials = t.trials(&p.id).unwrap();
        let leaderboard: Vec<_> = outcome["leaderboard"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].clone(),
                    e["params"].clone(),
                    e["validation_score"].clone(),
                    e["test_metrics"].clone(),
                )
            })
            .collect();
        (trials, leaderboard)
    };
    let (a, board_a) = run("a");
    assert_eq!(a.len(), 16);
    // The trial history the dashboard plots: every trial says how far it got and its score
    // on every fold it was scored on.
    for t in &a {
        match t.status {
            microlearn_store::TrialStatus::Complete => {
                assert_eq!(t.fold_scores.len(), 5, "trial {}", t.number);
                assert_eq!(t.fidelity, 1.0);
                let mean = t.fold_scores.iter().sum::<f64>() / 5.0;
                assert!((t.score.unwrap() - mean).abs() < 1e-9);
            }
            microlearn_store::TrialStatus::Pruned => {
                assert_eq!(t.fold_scores.len(), 1, "pruned after the first fold");
                assert!((t.fidelity - 0.2).abs() < 1e-9);
            }
            microlearn_store::TrialStatus::Failed => panic!("trial failed: {:?}", t.error),
        }
    }
    assert!(
        a.iter()
            .any(|t| t.status == microlearn_store::TrialStatus::Pruned),
        "ASHA prunes some of 16 trials"
    );
    let (b, board_b) = run("b");
    let key = |ts: &[microlearn_store::TrialRecord]| {
        ts.iter()
            .map(|t| {
                (
                    t.number,
                    t.kind.clone(),
                    t.params.to_string(),
                    t.status,
                    t.fold_scores
                        .iter()
                        .map(|s| s.to_bits())
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(board_a, board_b, "identical leaderboards");

    // On this seed the greedy ensemble beats every single model out of fold: it leads the
    // leaderboard, is deployed, and its bundle scores new rows exactly as the pipeline did.
    assert_eq!(board_a[0].0, "ensemble", "{board_a:?}");
    let scored = dir.path().join("scored.csv");
    let out = microlearn(
        &dir.path().join("a"),
        &[
            "predict",
            "--model",
            dir.path().join("a.mlbundle").to_str().unwrap(),
            test.to_str().unwrap(),
            "-o",
            scored.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "predict failed: {}", stderr(&out));
    assert_eq!(read_csv(&dir.path().join("a.csv")), read_csv(&scored));
}

#[test]
fn plugins_list_shows_every_first_party_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let out = microlearn(dir.path(), &["plugins", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A fresh data directory has no drop-in folder yet; that is not worth a warning.
    assert!(
        !stderr(&out).to_lowercase().contains("warn"),
        "{}",
        stderr(&out)
    );
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let mut ids: Vec<(String, String)> = list
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ids.sort();
    for expected in [
        ("deployer", "best-model"),
        ("evaluator", "classification"),
        ("evaluator", "regression"),
        ("preparer", "standard"),
        ("selector", "portfolio"),
    ] {
        assert!(
            ids.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} missing from {ids:?}"
        );
    }
}

#[test]
fn microlearn_toml_sets_run_defaults_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("microlearn.toml"),
        "[run]\nbudget = 30\nseed = 5\npreparers = [\"standard:{\\\"max_onehot\\\": 3}\"]\n",
    )
    .unwrap();
    let data = dataset("iris.csv");
    let out = microlearn(
        &home,
        &[
            "run",
            data.to_str().unwrap(),
            "--target",
            "target",
            "--seed",
            "9",
            "--max-trials",
            "2",
            "--out",
            dir.path().join("i.mlbundle").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&home).unwrap();
    let p = store.tenant(DEFAULT_TENANT).pipelines().unwrap().remove(0);
    assert_eq!(p.config["budget_secs"], 30.0, "budget from the file");
    assert_eq!(p.config["seed"], 9, "the flag beats the file");
    assert_eq!(p.config["preparers"][0]["config"]["max_onehot"], 3);
    drop(store);

    std::fs::write(home.join("microlearn.toml"), "[run]\nbugdet = 30\n").unwrap();
    let out = microlearn(
        &home,
        &["run", data.to_str().unwrap(), "--target", "target"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("microlearn.toml") && err.contains("bugdet"),
        "{err}"
    );
}

#[test]
fn a_plugins_log_lines_become_pipeline_events() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // `standard` drops a constant column and says so in an info line.
    let mut csv = String::from("x,same,y\n");
    for i in 0..200 {
        let x = f64::from((i * 7) % 23) / 3.0;
        csv.push_str(&format!("{x},7,{}\n", if i % 3 == 0 { "a" } else { "b" }));
    }
    let file = dir.path().join("small.csv");
    std::fs::write(&file, csv).unwrap();
    let out = microlearn(
        &home,
        &[
            "run",
            file.to_str().unwrap(),
            "--target",
            "y",
            "--budget",
            "3",
            "--max-trials",
            "4",
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let store = Store::open(&home).unwrap();
    let t = store.tenant(DEFAULT_TENANT);
    let p = &t.pipelines().unwrap()[0];
    let logs: Vec<_> = t
        .events(&p.id)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "plugin_log")
        .collect();
    assert!(
        logs.iter().any(|e| e.data["plugin"] == "standard"
            && e.data["level"] == "info"
            && e.message.contains("dropping column 'same'")),
        "{logs:?}"
    );
}

/// `--progress json` (what the Python package reads): one JSON object per stderr line, every
/// stage started and finished in order, one `trial` event per trial with the time bar's
/// numbers; and `--cache-dir` puts the compiled components outside the data directory.
#[test]
fn progress_json_streams_every_stage_and_trial_and_cache_dir_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cache = dir.path().join("shared-cache");
    let titanic = repo_root()
        .join("examples")
        .join("data")
        .join("titanic.csv");
    let out = microlearn(
        &home,
        &[
            "--cache-dir",
            cache.to_str().unwrap(),
            "run",
            titanic.to_str().unwrap(),
            "--target",
            "survived",
            "--budget",
            "5",
            "--max-trials",
            "5",
            "--json",
            "--progress",
            "json",
            "-o",
            dir.path().join("m.mlbundle").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let events: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == kind).collect()
    };
    let stages = [
        "ingest",
        "preparing",
        "selecting",
        "optimizing",
        "training",
        "evaluating",
        "deploying",
    ];
    let started: Vec<_> = of("stage_started")
        .iter()
        .map(|e| e["stage"].clone())
        .collect();
    let finished: Vec<_> = of("stage_finished")
        .iter()
        .map(|e| e["stage"].clone())
        .collect();
    assert_eq!(started, stages);
    assert_eq!(finished, stages);
    assert!(
        of("stage_finished")
            .iter()
            .all(|e| e["summary"].is_string())
    );
    assert_eq!(of("search_started").len(), 1);
    let trials = of("trial");
    assert_eq!(trials.len(), 5, "{events:?}");
    let last = trials.last().unwrap();
    assert_eq!(last["trials"], 5);
    assert_eq!(last["metric"], "roc_auc");
    assert!(last["best"].as_f64().is_some_and(|b| b > 0.5), "{last}");
    assert!(last["budget_secs"].as_f64().is_some_and(|b| b > 0.0));
    // The outcome still goes to stdout, whole.
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(outcome["trials"], 5);
    // The components were compiled into --cache-dir, not the data directory's cache/.
    assert!(std::fs::read_dir(&cache).unwrap().next().is_some());
    assert!(!home.join("cache").exists());
}

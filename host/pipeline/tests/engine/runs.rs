//! Whole runs: a seeded run with a trial cap repeats itself exactly, and leaves a complete,
//! consistent record.

use crate::common::*;
use microlearn_core::{PipelineStatus, Stage};
use microlearn_pipeline::{NoopObserver, PipelineOutcome};
use microlearn_store::{DEFAULT_TENANT, TrialRecord, TrialStatus};

const STAGES: [Stage; 7] = [
    Stage::Ingest,
    Stage::Preparing,
    Stage::Selecting,
    Stage::Optimizing,
    Stage::Training,
    Stage::Evaluating,
    Stage::Deploying,
];

/// What must repeat bit for bit: each trial's number, kind, parameters, outcome and fold
/// scores.
fn trial_key(trials: &[TrialRecord]) -> Vec<(usize, String, String, TrialStatus, Vec<u64>)> {
    trials
        .iter()
        .map(|t| {
            (
                t.number,
                t.kind.clone(),
                t.params.to_string(),
                t.status,
                t.fold_scores.iter().map(|s| s.to_bits()).collect(),
            )
        })
        .collect()
}

/// The leaderboard without its fresh model ids: kind, parameters, scores, held-out metrics and
/// held-out predictions.
fn board_key(o: &PipelineOutcome) -> Vec<(String, String, u64, String, String)> {
    o.leaderboard
        .iter()
        .map(|e| {
            (
                e.model.kind.clone(),
                e.model.params.to_string(),
                e.model.validation_score.to_bits(),
                serde_json::to_string(&e.model.test_metrics).expect("metrics serialise"),
                format!("{:?}", e.test_predictions),
            )
        })
        .collect()
}

#[test]
fn a_seeded_run_with_max_trials_repeats_its_trials_leaderboard_and_stage_events() {
    let config = seeded("target", 5, 8);
    let input = input("breast_cancer.csv", None);
    let run = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(dir.path());
        let outcome = engine
            .run(&input, &config, &NoopObserver)
            .expect("the run succeeds");
        let t = engine.store().tenant(DEFAULT_TENANT);
        // The store's copy is what the e2e suite compares across runs; its floats come back
        // from JSON to within an ulp of the outcome's, so the two are compared without scores.
        let stored = t.trials(&outcome.pipeline.id).expect("trials read");
        let plain = |ts: &[TrialRecord]| {
            ts.iter()
                .map(|t| (t.number, t.kind.clone(), t.params.to_string(), t.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            plain(&stored),
            plain(&outcome.trials),
            "the outcome's trials are the recorded ones"
        );
        // Stage events in stage order, each start before its end; a deployment switch.
        let events = t.events(&outcome.pipeline.id).expect("events read");
        let stage_events: Vec<(String, String)> = events
            .iter()
            .filter(|e| e.kind == "stage_started" || e.kind == "stage_finished")
            .map(|e| (e.kind.clone(), e.data["stage"].to_string()))
            .collect();
        let deployments = events.iter().filter(|e| e.kind == "deployment").count();
        (dir, outcome, stored, stage_events, deployments)
    };
    let (_a_dir, a, stored_a, events_a, deployments_a) = run();
    let (_b_dir, b, stored_b, events_b, deployments_b) = run();

    assert_eq!(a.trials.len(), 8, "max_trials bounds the search");
    let numbers: Vec<usize> = a.trials.iter().map(|t| t.number).collect();
    assert_eq!(
        numbers,
        (0..8).collect::<Vec<_>>(),
        "each trial once, by number"
    );
    assert_eq!(
        trial_key(&a.trials),
        trial_key(&b.trials),
        "same trial sequence"
    );
    assert_eq!(
        trial_key(&stored_a),
        trial_key(&stored_b),
        "same recorded trials"
    );
    assert_eq!(board_key(&a), board_key(&b), "same leaderboard");
    assert_eq!(events_a, events_b, "same stage events");
    assert_eq!(
        (deployments_a, deployments_b),
        (1, 1),
        "one deployment switch each"
    );

    // Ingest is recorded without a start event (the record is made from what it read); every
    // later stage starts, then finishes.
    let expected: Vec<(String, String)> = STAGES
        .iter()
        .flat_map(|s| {
            let stage = serde_json::to_value(s)
                .expect("stage serialises")
                .to_string();
            let start = (*s != Stage::Ingest).then(|| ("stage_started".to_string(), stage.clone()));
            start
                .into_iter()
                .chain([("stage_finished".to_string(), stage)])
        })
        .collect();
    assert_eq!(events_a, expected);

    // The record says what the outcome says.
    let p = &a.pipeline;
    assert_eq!(p.status, PipelineStatus::Done);
    assert_eq!(
        p.stages.iter().map(|s| s.stage).collect::<Vec<_>>(),
        STAGES.to_vec()
    );
    assert!(
        p.stages
            .iter()
            .all(|s| s.finished_at_ms >= Some(s.started_at_ms))
    );
    let ids: Vec<String> = a.leaderboard.iter().map(|e| e.model.id.clone()).collect();
    assert_eq!(p.leaderboard, ids);
    assert_eq!(p.best_model.as_ref(), Some(&ids[a.best]));
    assert!(a.decision.is_some() && p.deployment.is_some());
    assert_eq!(a.metric.0, "roc_auc");
    let held_out = microlearn_pipeline::stages::ingest::load(&input, &config)
        .expect("ingest reads the file")
        .test_x
        .num_rows();
    assert_eq!(a.test_rows, held_out, "the rows ingest held out");
    for e in &a.leaderboard {
        assert_eq!(e.test_predictions.len(), a.test_rows);
        assert!(
            e.model.test_metrics.iter().any(|m| m.name == "roc_auc"),
            "{:?}",
            e.model.test_metrics
        );
    }
}

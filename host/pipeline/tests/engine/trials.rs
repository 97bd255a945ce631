//! The distributed trial protocol without a network: a search whose rungs go out as jobs
//! through a `TrialDispatch` and are served by `serve_rung` (the code a cluster worker runs:
//! context blob, ledger, predictions blobs) makes exactly the trials and the leaderboard an
//! in-process search makes, and a job is counted once however often it is delivered.

use crate::common::*;
use microlearn_pipeline::{
    Engine, MAX_RUNG_DELIVERIES, NoopObserver, RungEnd, RungJob, RungResult, RungServed,
    StorageGate, StoragePromise, TrialDispatch, serve_rung,
};
use microlearn_store::{DEFAULT_TENANT, PipelineRecord, TrialRecord};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Serves every job on the caller's thread — twice, as a redelivery after a lost ack would —
/// with an engine over the same store, as a worker has.
struct ServedHere {
    worker: Engine,
    jobs: AtomicUsize,
    repeated_results_equal: Mutex<bool>,
}

impl TrialDispatch for ServedHere {
    fn slots(&self) -> usize {
        3
    }

    fn run(&self, job: &RungJob, _stop: &dyn Fn() -> bool) -> Result<Option<RungResult>, String> {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        let serve = || match serve_rung(&self.worker, job, "worker-1", &AtomicBool::new(false)) {
            RungServed::Recorded(r) => Ok(*r),
            other => Err(format!("job {job:?} was not recorded: {other:?}")),
        };
        let first = serve()?;
        let again = serve()?;
        if first != again {
            *self.repeated_results_equal.lock().expect("flag lock") = false;
        }
        Ok(Some(again))
    }
}

fn keys(trials: &[TrialRecord]) -> Vec<(usize, String, String, Vec<u64>)> {
    trials
        .iter()
        .map(|t| {
            (
                t.number,
                t.kind.clone(),
                t.params.to_string(),
                t.fold_scores.iter().map(|s| s.to_bits()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_search_sent_out_as_rung_jobs_makes_the_in_process_trials_and_leaderboard() {
    let config = seeded("target", 9, 10);
    let input = input("breast_cancer.csv", None);

    let local_dir = tempfile::tempdir().expect("temp dir");
    let local = engine(local_dir.path())
        .run(&input, &config, &NoopObserver)
        .expect("the local run succeeds");

    let dir = tempfile::tempdir().expect("temp dir");
    let worker = engine(dir.path());
    let dispatch = Arc::new(ServedHere {
        worker: worker.clone(),
        jobs: AtomicUsize::new(0),
        repeated_results_equal: Mutex::new(true),
    });
    let coordinator = worker.clone().with_trials(dispatch.clone());
    let remote = coordinator
        .run(&input, &config, &NoopObserver)
        .expect("the distributed run succeeds");

    assert!(
        dispatch.jobs.load(Ordering::SeqCst) >= 10,
        "every trial went out"
    );
    assert!(
        *dispatch.repeated_results_equal.lock().expect("flag lock"),
        "a redelivered job reads the first result"
    );
    assert_eq!(keys(&remote.trials), keys(&local.trials), "same trials");
    assert!(
        remote
            .trials
            .iter()
            .all(|t| !t.workers.is_empty() && t.workers.iter().all(|w| w == "worker-1")),
        "each trial names the worker that ran it"
    );
    assert!(local.trials.iter().all(|t| t.workers.is_empty()));
    let board = |o: &microlearn_pipeline::PipelineOutcome| {
        o.leaderboard
            .iter()
            .map(|e| {
                (
                    e.model.kind.clone(),
                    e.model.params.to_string(),
                    e.model.validation_score.to_bits(),
                    format!("{:?}", e.test_predictions),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        board(&remote),
        board(&local),
        "same leaderboard, ensemble included (built from the predictions blobs)"
    );
    let ledger = worker
        .store()
        .tenant(DEFAULT_TENANT)
        .rungs::<RungResult>(&remote.pipeline.id)
        .expect("store call");
    assert!(!ledger.is_empty(), "the ledger holds the rung results");
    let blobs: Vec<String> = ledger
        .iter()
        .flat_map(|(_, r)| r.units.iter().map(|u| u.predictions.clone()))
        .collect();
    // The predictions count as the tenant's storage while the pipeline runs: the ledger knows
    // their sizes, and they go with it.
    let stored: u64 = blobs
        .iter()
        .map(|b| worker.store().artefacts().get(b).expect("blob").len() as u64)
        .sum();
    let ledger_bytes = |store: &microlearn_store::Store| {
        microlearn_pipeline::trial_ledger_bytes(store, DEFAULT_TENANT, &remote.pipeline.id)
            .expect("store call")
    };
    assert!(stored > 0);
    assert_eq!(ledger_bytes(worker.store()), stored);
    let removed = microlearn_pipeline::forget_trial_ledger(
        worker.store(),
        DEFAULT_TENANT,
        &remote.pipeline.id,
    )
    .expect("store call");
    assert_eq!(removed, blobs.len());
    for b in &blobs {
        assert!(
            worker.store().artefacts().get(b).is_err(),
            "blob {b} removed"
        );
    }
    assert_eq!(ledger_bytes(worker.store()), 0);
}

/// A quota that has no room for trial predictions: every rung job is recorded failed with the
/// quota's own message and nothing is stored for it; the run ends saying why.
struct NoRoom(AtomicUsize);

impl StorageGate for NoRoom {
    fn reserve(&self, tenant: &str, bytes: u64, what: &str) -> Result<StoragePromise, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(format!(
            "storing this {bytes}-byte {what} would exceed tenant '{tenant}''s storage quota"
        ))
    }
}

#[test]
fn a_storage_quota_without_room_fails_the_trials_with_its_message_and_stores_nothing() {
    let config = seeded("target", 9, 3);
    let input = input("breast_cancer.csv", None);
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = Arc::new(NoRoom(AtomicUsize::new(0)));
    let worker = engine(dir.path()).with_storage_gate(gate.clone());
    let dispatch = Arc::new(ServedHere {
        worker: worker.clone(),
        jobs: AtomicUsize::new(0),
        repeated_results_equal: Mutex::new(true),
    });
    let err = worker
        .clone()
        .with_trials(dispatch)
        .run(&input, &config, &NoopObserver)
        .expect_err("no trial can store its predictions");
    let message = err.to_string();
    assert!(
        message.contains("out-of-fold predictions would exceed tenant 'default''s storage quota"),
        "{message}"
    );
    assert!(
        gate.0.load(Ordering::SeqCst) >= 3,
        "asked before every rung"
    );
    let t = worker.store().tenant(DEFAULT_TENANT);
    assert!(t.models().expect("models").is_empty(), "no model stored");
    for p in t.pipelines().expect("pipelines") {
        for (_, r) in t.rungs::<RungResult>(&p.id).expect("ledger") {
            assert!(r.units.is_empty(), "no predictions blob was written: {r:?}");
        }
    }
}

#[test]
fn a_job_that_keeps_killing_its_workers_is_recorded_failed_without_running_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = engine(dir.path());
    let tenant = worker.store().tenant(DEFAULT_TENANT);
    tenant
        .put_pipeline(&PipelineRecord::created(
            "pl_1".into(),
            "ds_1".into(),
            "y".into(),
            serde_json::json!({}),
            1,
        ))
        .expect("store call");
    let job = RungJob {
        tenant: DEFAULT_TENANT.into(),
        pipeline_id: "pl_1".into(),
        // Never fetched: the delivery bound is checked first.
        context: "0".repeat(64),
        number: 7,
        kind: "gbdt".into(),
        params: Default::default(),
        rung: 0,
        units: (0, 1),
        units_before: 0,
        seed: 1,
        deadline_unix_ms: microlearn_store::now_ms() + 60_000,
        predict_secs: 0.0,
    };
    // Each earlier delivery was counted, then its worker died before recording anything.
    for _ in 0..MAX_RUNG_DELIVERIES {
        tenant
            .note_rung_delivery("pl_1", &job.ledger_key())
            .expect("store call");
    }
    let RungServed::Recorded(r) = serve_rung(&worker, &job, "worker-9", &AtomicBool::new(false))
    else {
        panic!("recorded");
    };
    match &r.end {
        RungEnd::Failed(why) => assert!(
            why.contains(&format!("delivered to workers {MAX_RUNG_DELIVERIES} times")),
            "{why}"
        ),
        other => panic!("failed, not {other:?}"),
    }
    assert!(r.units.is_empty());
    // A job of a pipeline that ended is dropped, not run.
    let mut p = tenant
        .pipeline("pl_1")
        .expect("store call")
        .expect("recorded");
    p.fail("stopped".into(), 2);
    tenant.put_pipeline(&p).expect("store call");
    let other = RungJob { number: 8, ..job };
    assert!(matches!(
        serve_rung(&worker, &other, "worker-9", &AtomicBool::new(false)),
        RungServed::Obsolete
    ));
}

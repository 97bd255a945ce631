//! Steering a run from outside (`RunControl`): a cancel ends it `cancelled` and writes nothing
//! after, an interrupt leaves it to resume with its trials kept, and a cancel that comes after
//! the commit is refused.

use crate::common::*;
use microlearn_core::{PipelineStatus, Stage};
use microlearn_pipeline::{Engine, NoopObserver, Observer, PipelineError, RunControl};
use microlearn_store::{DEFAULT_TENANT, PipelineRecord, TrialRecord};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An observer that stops the run at a chosen point, the way a server's cancel request or a
/// shutdown would arrive while it runs.
struct StopAt {
    control: RunControl,
    when: When,
    trials: AtomicUsize,
    /// What `cancel` answered, when it was called.
    answered: Mutex<Option<bool>>,
}

#[derive(Clone, Copy)]
enum When {
    /// Cancel when this many trials have finished.
    CancelAfterTrials(usize),
    /// Interrupt when this many trials have finished.
    InterruptAfterTrials(usize),
    /// Cancel as this stage starts.
    CancelAtStart(Stage),
    /// Cancel once this stage has finished.
    CancelAtEnd(Stage),
}

impl StopAt {
    fn new(control: &RunControl, when: When) -> Self {
        StopAt {
            control: control.clone(),
            when,
            trials: AtomicUsize::new(0),
            answered: Mutex::new(None),
        }
    }

    fn cancel(&self) {
        let took = self.control.cancel();
        self.answered.lock().expect("lock").get_or_insert(took);
    }

    fn answered(&self) -> Option<bool> {
        *self.answered.lock().expect("lock")
    }
}

impl Observer for StopAt {
    fn stage_started(&self, stage: Stage) {
        if matches!(self.when, When::CancelAtStart(s) if s == stage) {
            self.cancel();
        }
    }

    fn stage_finished(&self, stage: Stage, _summary: &str) {
        if matches!(self.when, When::CancelAtEnd(s) if s == stage) {
            self.cancel();
        }
    }

    fn trial_finished(&self, _trial: &TrialRecord, _best: Option<f64>) {
        let n = self.trials.fetch_add(1, Ordering::SeqCst) + 1;
        match self.when {
            When::CancelAfterTrials(k) if n == k => self.cancel(),
            When::InterruptAfterTrials(k) if n == k => self.control.interrupt(),
            _ => {}
        }
    }
}

fn only_pipeline(engine: &Engine) -> PipelineRecord {
    let mut all = engine
        .store()
        .tenant(DEFAULT_TENANT)
        .pipelines()
        .expect("pipelines read");
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn a_run_cancelled_during_the_search_ends_cancelled_and_records_no_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path());
    // More trials than the test will wait for: the cancel ends the search.
    let config = seeded("target", 1, 10_000);
    let control = RunControl::default();
    let stop = StopAt::new(&control, When::CancelAfterTrials(2));
    let err = engine
        .run_with(&input("breast_cancer.csv", None), &config, &stop, &control)
        .expect_err("a cancelled run returns an error");
    assert!(matches!(err, PipelineError::Cancelled), "{err}");
    assert_eq!(stop.answered(), Some(true));

    let p = only_pipeline(&engine);
    assert_eq!(p.status, PipelineStatus::Cancelled);
    let t = engine.store().tenant(DEFAULT_TENANT);
    let events = t.events(&p.id).expect("events read");
    assert_eq!(
        events.last().map(|e| e.kind.as_str()),
        Some("pipeline_cancelled"),
        "the cancel is the last thing recorded"
    );
    // No stage started after the search, nothing was refit or deployed.
    assert!(
        !p.stages
            .iter()
            .any(|s| matches!(s.stage, Stage::Training | Stage::Deploying)),
        "{:?}",
        p.stages
    );
    assert!(t.models().expect("models read").is_empty());
    assert!(t.deployments().expect("deployments read").is_empty());
    let trials = t.trials(&p.id).expect("trials read");
    assert!(
        !trials.is_empty() && trials.len() < 10_000,
        "{} trials recorded",
        trials.len()
    );

    // A cancelled pipeline is over: it cannot be continued.
    let again = engine.run_with(
        &input("breast_cancer.csv", None),
        &config,
        &NoopObserver,
        &RunControl::for_pipeline(&p.id),
    );
    assert!(
        matches!(&again, Err(PipelineError::Config(m)) if m.contains("already ended")),
        "{again:?}"
    );
}

#[test]
fn a_cancel_before_the_commit_keeps_the_models_and_switches_no_deployment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path());
    let config = seeded("target", 2, 4);
    let control = RunControl::default();
    let stop = StopAt::new(&control, When::CancelAtStart(Stage::Deploying));
    let err = engine
        .run_with(&input("breast_cancer.csv", None), &config, &stop, &control)
        .expect_err("cancelled while deploying");
    assert!(matches!(err, PipelineError::Cancelled), "{err}");
    assert_eq!(
        stop.answered(),
        Some(true),
        "the cancel came before the commit"
    );
    let p = only_pipeline(&engine);
    assert_eq!(p.status, PipelineStatus::Cancelled);
    assert!(p.best_model.is_none() && p.deployment.is_none(), "{p:?}");
    let t = engine.store().tenant(DEFAULT_TENANT);
    // The models were stored before the deployer decided; only the switch is withheld.
    assert!(!t.models().expect("models read").is_empty());
    assert!(t.deployments().expect("deployments read").is_empty());
}

#[test]
fn a_cancel_after_the_commit_is_refused_and_the_run_finishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path());
    let config = seeded("target", 2, 4);
    let control = RunControl::default();
    let stop = StopAt::new(&control, When::CancelAtEnd(Stage::Deploying));
    let outcome = engine
        .run_with(&input("breast_cancer.csv", None), &config, &stop, &control)
        .expect("a cancel after the commit changes nothing");
    assert_eq!(stop.answered(), Some(false), "too late: refused");
    assert_eq!(outcome.pipeline.status, PipelineStatus::Done);
    let p = only_pipeline(&engine);
    assert_eq!(p.status, PipelineStatus::Done);
    let t = engine.store().tenant(DEFAULT_TENANT);
    let deployment = t
        .deployment(p.deployment.as_ref().expect("a deployment is named"))
        .expect("deployment read")
        .expect("the deployment was switched");
    assert_eq!(Some(&deployment.model_id), p.best_model.as_ref());
}

#[test]
fn an_interrupted_run_resumes_with_its_recorded_trials_and_finishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine(dir.path());
    let config = seeded("target", 4, 10);
    let input = input("breast_cancer.csv", None);
    let control = RunControl::default();
    let stop = StopAt::new(&control, When::InterruptAfterTrials(3));
    let err = engine
        .run_with(&input, &config, &stop, &control)
        .expect_err("an interrupted run returns an error");
    assert!(matches!(err, PipelineError::Interrupted), "{err}");
    let p = only_pipeline(&engine);
    assert!(!p.status.is_terminal(), "left to resume: {}", p.status);
    let t = engine.store().tenant(DEFAULT_TENANT);
    let before = t.trials(&p.id).expect("trials read");
    assert!(!before.is_empty() && before.len() < 10, "{}", before.len());

    let outcome = engine
        .run_with(
            &input,
            &config,
            &NoopObserver,
            &RunControl::for_pipeline(&p.id),
        )
        .expect("the resumed run finishes");
    assert_eq!(outcome.pipeline.id, p.id, "the same pipeline, continued");
    assert_eq!(outcome.pipeline.status, PipelineStatus::Done);
    // Nothing lost, nothing run twice: the recorded trials are kept as they were, and the
    // cap counts them.
    let numbers: Vec<usize> = outcome.trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    for old in &before {
        let now = &outcome.trials[old.number];
        assert_eq!(
            (now.kind.as_str(), now.params.to_string(), now.started_at_ms),
            (old.kind.as_str(), old.params.to_string(), old.started_at_ms),
            "trial {} was kept, not rerun",
            old.number
        );
    }
    let events = t.events(&p.id).expect("events read");
    assert!(events.iter().any(|e| e.kind == "resumed"), "{events:?}");
}

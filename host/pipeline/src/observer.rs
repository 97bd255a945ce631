//! Progress callbacks, so a CLI can draw bars and a server can stream events without the engine
//! knowing either.

use microlearn_core::Stage;
use microlearn_store::TrialRecord;
use std::time::Duration;

/// Receives progress from a running pipeline. Every method has a no-op default.
pub trait Observer: Send + Sync {
    /// A stage began.
    fn stage_started(&self, _stage: Stage) {}
    /// A stage ended; `summary` says what it produced.
    fn stage_finished(&self, _stage: Stage, _summary: &str) {}
    /// The search began with this much time.
    fn search_started(&self, _budget: Duration) {}
    /// A trial ended; `best` is the best score so far.
    fn trial_finished(&self, _trial: &TrialRecord, _best: Option<f64>) {}
    /// Something worth telling the user (a dropped parameter, a skipped candidate).
    fn note(&self, _message: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl Observer for NoopObserver {}

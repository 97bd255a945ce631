//! Steering a running pipeline from outside: which recorded pipeline to continue, and a stop
//! signal checked before every stage and between trials.

use crate::PipelineError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const RUNNING: u8 = 0;
const CANCEL: u8 = 1;
const INTERRUPT: u8 = 2;
/// Past the point of no return: the run is writing its result (the deployment, then the
/// finished record). A cancel or an interrupt arriving now is refused rather than half-applied.
const COMMITTING: u8 = 3;

/// How a run is steered. Cheap to clone: clones share the stop signal, so a server keeps one
/// clone and hands another to the worker thread.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Continue this pipeline record instead of creating a new one: a record created ahead of
    /// the run (a server answers with its id at once), or one left unfinished by a crash, whose
    /// recorded trials are kept and not run again.
    pub pipeline_id: Option<String>,
    stop: Arc<AtomicU8>,
    /// Set together with any stop, for the trainer: a fit checks it between rounds, so a trial
    /// that is training when a cancel arrives gives its core back within a round.
    halt: Arc<AtomicBool>,
}

impl RunControl {
    /// Control for the recorded pipeline `id`.
    pub fn for_pipeline(id: &str) -> Self {
        RunControl {
            pipeline_id: Some(id.to_string()),
            stop: Arc::default(),
            halt: Arc::default(),
        }
    }

    /// Stop for good: the pipeline ends `cancelled`. No stage starts and no trial is recorded
    /// after this; a trial already training is abandoned when it returns.
    ///
    /// `false` when the run is already committing its result: the cancel came too late and
    /// changes nothing, so the caller must not record one either.
    pub fn cancel(&self) -> bool {
        // A cancel wins over an interrupt (a shutdown must not turn a cancel into a resume),
        // but not over a commit: the deployment may already have switched.
        let took = self
            .stop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != COMMITTING).then_some(CANCEL)
            })
            .is_ok();
        if took {
            self.halt.store(true, Ordering::SeqCst);
        }
        took
    }

    /// Enter the commit: from here the run writes its result and no stop applies. `Err` when
    /// a stop came first, so the run ends as that stop says and writes no result.
    pub fn commit(&self) -> Result<(), PipelineError> {
        match self
            .stop
            .compare_exchange(RUNNING, COMMITTING, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) | Err(COMMITTING) => Ok(()),
            Err(CANCEL) => Err(PipelineError::Cancelled),
            Err(_) => Err(PipelineError::Interrupted),
        }
    }

    /// Stop for now (the host is shutting down): the record stays unfinished, so the pipeline
    /// resumes on the next start.
    pub fn interrupt(&self) {
        let _ = self
            .stop
            .compare_exchange(RUNNING, INTERRUPT, Ordering::SeqCst, Ordering::SeqCst);
        self.halt.store(true, Ordering::SeqCst);
    }

    /// The flag a fit watches (`FitOptions::cancel`); set by [`Self::cancel`] and
    /// [`Self::interrupt`].
    pub fn halt_flag(&self) -> &AtomicBool {
        &self.halt
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        matches!(self.stop.load(Ordering::SeqCst), CANCEL | INTERRUPT)
    }

    /// `Err` once a stop was asked for.
    pub fn check(&self) -> Result<(), PipelineError> {
        match self.stop.load(Ordering::SeqCst) {
            RUNNING | COMMITTING => Ok(()),
            CANCEL => Err(PipelineError::Cancelled),
            _ => Err(PipelineError::Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_signal_and_a_cancel_wins_over_an_interrupt() {
        let c = RunControl::for_pipeline("pl_1");
        let worker = c.clone();
        assert!(worker.check().is_ok() && !worker.is_stopped());
        assert!(!worker.halt_flag().load(Ordering::SeqCst));
        c.interrupt();
        assert!(
            worker.halt_flag().load(Ordering::SeqCst),
            "trainers see the stop"
        );
        assert!(matches!(worker.check(), Err(PipelineError::Interrupted)));
        // A shutdown after a cancel must not turn the cancel into a resume…
        assert!(c.cancel());
        c.interrupt();
        assert!(matches!(worker.check(), Err(PipelineError::Cancelled)));
        assert!(matches!(worker.commit(), Err(PipelineError::Cancelled)));
        // …and a cancel after an interrupt still ends the pipeline.
        let d = RunControl::default();
        d.interrupt();
        d.cancel();
        assert!(matches!(d.check(), Err(PipelineError::Cancelled)));
    }

    #[test]
    fn a_commit_refuses_later_stops_and_a_stop_refuses_the_commit() {
        let c = RunControl::default();
        assert!(c.commit().is_ok());
        assert!(!c.cancel(), "too late: the result is being written");
        c.interrupt();
        assert!(c.check().is_ok() && !c.is_stopped() && c.commit().is_ok());
        let d = RunControl::default();
        d.interrupt();
        assert!(matches!(d.commit(), Err(PipelineError::Interrupted)));
    }
}

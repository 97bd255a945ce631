//! Steering a running pipeline from outside: which recorded pipeline to continue, and a stop
//! signal checked before every stage and between trials.

use crate::PipelineError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const RUNNING: u8 = 0;
const CANCEL: u8 = 1;
const INTERRUPT: u8 = 2;

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
    pub fn cancel(&self) {
        // A cancel wins over an interrupt (a shutdown must not turn a cancel into a resume).
        self.stop.store(CANCEL, Ordering::SeqCst);
        self.halt.store(true, Ordering::SeqCst);
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
        self.stop.load(Ordering::SeqCst) != RUNNING
    }

    /// `Err` once a stop was asked for.
    pub fn check(&self) -> Result<(), PipelineError> {
        match self.stop.load(Ordering::SeqCst) {
            RUNNING => Ok(()),
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
        c.cancel();
        c.interrupt();
        assert!(matches!(worker.check(), Err(PipelineError::Cancelled)));
        // …and a cancel after an interrupt still ends the pipeline.
        let d = RunControl::default();
        d.interrupt();
        d.cancel();
        assert!(matches!(d.check(), Err(PipelineError::Cancelled)));
    }
}

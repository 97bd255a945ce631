//! The background pipeline engine: a bounded pool of worker threads takes queued pipelines in
//! order. The engine persists every transition and trial before acknowledging it, so a host
//! that dies at any moment finds each unfinished pipeline in the store on the next start and
//! queues it again; the engine then skips the trials already recorded.

use crate::App;
use microlearn_core::Stage;
use microlearn_pipeline::{Engine, Observer, PipelineConfig, PipelineError, RunControl, RunInput};
use microlearn_store::{EventRecord, TenantStore, TrialRecord, now_ms};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Marks a pipeline record created through the API (its config names the dataset ids), as
/// opposed to one written by `microlearn run`.
pub(crate) const SOURCE_API: &str = "api";

struct Job {
    tenant: String,
    pipeline_id: String,
}

pub(crate) struct Jobs {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Controls of queued and running pipelines, by pipeline id.
    controls: Mutex<HashMap<String, RunControl>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shutting_down: AtomicBool,
}

impl Jobs {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Jobs {
            tx: Mutex::new(Some(tx)),
            rx: Arc::new(Mutex::new(rx)),
            controls: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Queue a recorded pipeline.
    pub(crate) fn enqueue(&self, tenant: &str, pipeline_id: &str) {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                pipeline_id.to_string(),
                RunControl::for_pipeline(pipeline_id),
            );
        if let Some(tx) = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            let _ = tx.send(Job {
                tenant: tenant.to_string(),
                pipeline_id: pipeline_id.to_string(),
            });
        }
    }

    /// Signal a queued or running pipeline to stop for good; `false` when it is neither.
    pub(crate) fn cancel(&self, pipeline_id: &str) -> bool {
        match self
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pipeline_id)
        {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }

    /// Interrupt everything and wait for the workers.
    pub(crate) fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for c in self
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            c.interrupt();
        }
        // Closing the queue ends each worker's wait.
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let workers: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for w in workers {
            let _ = w.join();
        }
    }

    fn control(&self, pipeline_id: &str) -> Option<RunControl> {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pipeline_id)
            .cloned()
    }

    fn done(&self, pipeline_id: &str) {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pipeline_id);
    }
}

/// Start the workers and queue every unfinished API pipeline; returns the ids queued.
/// Unfinished pipelines of `microlearn run` cannot resume (their files are the CLI's), so they
/// are marked failed with the reason.
pub(crate) fn start(app: &App) -> anyhow::Result<Vec<String>> {
    let mut pending = app
        .store
        .all_pipelines()
        .map_err(|e| anyhow::anyhow!("reading pipelines: {e}"))?;
    pending.retain(|(_, p)| !p.status.is_terminal());
    pending.sort_by_key(|(_, p)| p.created_at_ms);
    let mut resumed = Vec::new();
    for (tenant, mut p) in pending {
        if p.config.get("source").and_then(|s| s.as_str()) == Some(SOURCE_API) {
            app.jobs.enqueue(&tenant, &p.id);
            resumed.push(p.id);
        } else {
            p.fail(
                "interrupted: the `microlearn run` process running it ended before it finished"
                    .into(),
                now_ms(),
            );
            app.store
                .tenant(&tenant)
                .put_pipeline(&p)
                .map_err(|e| anyhow::anyhow!("updating pipeline {}: {e}", p.id))?;
        }
    }
    let mut workers = app
        .jobs
        .workers
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for i in 0..app.config.workers.max(1) {
        let app = app.clone();
        let handle = std::thread::Builder::new()
            .name(format!("pipeline-worker-{i}"))
            .spawn(move || worker(&app))
            .map_err(|e| anyhow::anyhow!("starting a pipeline worker: {e}"))?;
        workers.push(handle);
    }
    Ok(resumed)
}

fn worker(app: &App) {
    loop {
        let job = {
            let rx = app.jobs.rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(job) = job else { return };
        if app.jobs.shutting_down.load(Ordering::SeqCst) {
            // Left unfinished in the store; the next start queues it again.
            return;
        }
        if let Some(control) = app.jobs.control(&job.pipeline_id) {
            run_job(app, &job, &control);
        }
        app.jobs.done(&job.pipeline_id);
    }
}

fn run_job(app: &App, job: &Job, control: &RunControl) {
    let tenant = app.store.tenant(&job.tenant);
    let record = match tenant.pipeline(&job.pipeline_id) {
        Ok(Some(r)) if !r.status.is_terminal() => r,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(pipeline = %job.pipeline_id, error = %e, "reading a queued pipeline");
            return;
        }
    };
    if let Err(e) = control.check() {
        if matches!(e, PipelineError::Cancelled) {
            mark_cancelled(&tenant, &job.pipeline_id);
        }
        return;
    }
    let outcome = (|| -> Result<(), PipelineError> {
        let config: PipelineConfig =
            serde_json::from_value(record.config.clone()).map_err(|e| {
                PipelineError::Config(format!("stored configuration is unreadable: {e}"))
            })?;
        let dataset = |id: &str| -> Result<std::path::PathBuf, PipelineError> {
            let d = tenant
                .dataset(id)?
                .ok_or_else(|| PipelineError::Config(format!("dataset '{id}' was deleted")))?;
            app.dataset_path(&d)
                .map_err(|e| PipelineError::Config(e.detail))
        };
        let train = dataset(&record.dataset_id)?;
        let test = match record
            .config
            .get("test_dataset_id")
            .and_then(|v| v.as_str())
        {
            Some(id) => Some(dataset(id)?),
            None => None,
        };
        let plugins = app
            .plugins_for(&job.tenant)
            .map_err(|e| PipelineError::Config(e.detail))?;
        let engine = Engine::new(app.store.clone(), plugins);
        let observer = EventObserver {
            tenant: tenant.clone(),
            pipeline_id: job.pipeline_id.clone(),
        };
        let outcome = engine.run_with(&RunInput { train, test }, &config, &observer, control)?;
        if let Some(name) = &outcome.pipeline.deployment {
            app.serving.reload(app, &job.tenant, name);
        }
        Ok(())
    })();
    match outcome {
        Ok(()) | Err(PipelineError::Interrupted) => {}
        Err(PipelineError::Cancelled) => mark_cancelled(&tenant, &job.pipeline_id),
        Err(e) => {
            tracing::warn!(pipeline = %job.pipeline_id, error = %e, "pipeline failed");
            // The engine records failures after ingest; earlier ones (unreadable data, unknown
            // target) are recorded here.
            if let Ok(Some(mut p)) = tenant.pipeline(&job.pipeline_id)
                && !p.status.is_terminal()
            {
                p.fail(e.to_string(), now_ms());
                let _ = tenant.put_pipeline(&p);
                let _ = append(
                    &tenant,
                    &job.pipeline_id,
                    "pipeline_failed",
                    &e.to_string(),
                    serde_json::Value::Null,
                );
            }
        }
    }
}

/// Record a cancel the engine did not get to record (queued pipelines, early stops).
pub(crate) fn mark_cancelled(tenant: &TenantStore, pipeline_id: &str) {
    if let Ok(Some(mut p)) = tenant.pipeline(pipeline_id)
        && !p.status.is_terminal()
    {
        p.cancel(now_ms());
        let _ = tenant.put_pipeline(&p);
        let _ = append(
            tenant,
            pipeline_id,
            "pipeline_cancelled",
            "cancelled",
            serde_json::Value::Null,
        );
    }
}

fn append(
    tenant: &TenantStore,
    pipeline_id: &str,
    kind: &str,
    message: &str,
    data: serde_json::Value,
) -> Result<u64, microlearn_store::StoreError> {
    tenant.append_event(pipeline_id, EventRecord::now(kind, message, data))
}

/// Appends trial results and notes to the pipeline's event log (stage events are the engine's).
struct EventObserver {
    tenant: TenantStore,
    pipeline_id: String,
}

impl Observer for EventObserver {
    fn stage_started(&self, _stage: Stage) {}

    fn trial_finished(&self, trial: &TrialRecord, best: Option<f64>) {
        let _ = append(
            &self.tenant,
            &self.pipeline_id,
            "trial_finished",
            &format!("trial {} ({}) {:?}", trial.number, trial.kind, trial.status),
            serde_json::json!({
                "number": trial.number,
                "kind": trial.kind,
                "status": trial.status,
                "score": trial.score,
                "fidelity": trial.fidelity,
                "fold_scores": trial.fold_scores,
                "started_at_ms": trial.started_at_ms,
                "duration_secs": trial.duration_secs,
                "best": best,
            }),
        );
    }

    fn note(&self, message: &str) {
        let _ = append(
            &self.tenant,
            &self.pipeline_id,
            "log",
            message,
            serde_json::Value::Null,
        );
    }
}

impl Jobs {
    /// Pipelines queued or running.
    pub(crate) fn active(&self) -> usize {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

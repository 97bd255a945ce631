//! The background pipeline engine: a bounded pool of worker threads takes queued pipelines in
//! order. The engine persists every transition and trial before acknowledging it, so a host
//! that dies at any moment finds each unfinished pipeline in the store on the next start and
//! queues it again; the engine then skips the trials already recorded.

use crate::App;
use microlearn_core::Stage;
use microlearn_pipeline::{Engine, Observer, PipelineConfig, PipelineError, RunControl, RunInput};
use microlearn_store::{EventRecord, TenantStore, TrialRecord, now_ms};
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Marks a pipeline record created through the API (its config names the dataset ids), as
/// opposed to one written by `microlearn run`.
pub(crate) const SOURCE_API: &str = "api";

/// Runs of one pipeline that may end without returning (the host crashed or was killed during
/// each) before the next start fails it instead of resuming it: a pipeline that takes the host
/// down every time it runs would otherwise take it down after every restart, forever. A run
/// that records a trial clears the count: only runs in a row that made no progress add up, so
/// a cluster's coordinator killed from outside many times over still finishes its search.
pub(crate) const MAX_UNFINISHED_STARTS: u32 = 3;

/// How long a node's claim on running a pipeline lasts without renewal (clusters only). A node
/// that dies loses its pipelines to another node this long after its last renewal.
const LEASE_TTL_MS: i64 = 15_000;
/// How often a node renews its leases, checks for cancels asked on other nodes, and looks for
/// pipelines whose node died. Several renewals fit in one TTL, so a slow database round does
/// not lose a lease.
const CLUSTER_TICK: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) struct Job {
    pub(crate) tenant: String,
    pub(crate) pipeline_id: String,
}

/// Pipelines waiting, and how many each tenant has running.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Job>,
    running: HashMap<String, usize>,
    closed: bool,
}

pub(crate) struct Jobs {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued, a job ends (its tenant may take the next) or the queue
    /// closes.
    ready: Condvar,
    /// Controls of queued and running pipelines, by pipeline id.
    controls: Mutex<HashMap<String, RunControl>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shutting_down: AtomicBool,
    /// Workers one tenant may occupy at once; the rest stay free for other tenants' queued
    /// pipelines, which are taken first when this tenant is at its share.
    per_tenant: usize,
    /// This process's name in pipeline leases (clusters): unique per start.
    node: String,
    /// Pipelines this node holds the lease of, as `(tenant, pipeline)`.
    held: Mutex<HashSet<(String, String)>>,
}

impl Jobs {
    pub(crate) fn new(per_tenant: usize) -> Self {
        Jobs {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            controls: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            per_tenant: per_tenant.max(1),
            node: format!(
                "node-{}-{}",
                std::process::id(),
                hex::encode(rand::random::<[u8; 4]>())
            ),
            held: Mutex::new(HashSet::new()),
        }
    }

    /// This process's name in the cluster (leases, the ledger).
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Whether this node has the pipeline queued or running.
    fn knows(&self, pipeline_id: &str) -> bool {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(pipeline_id)
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
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.closed {
            // Shutting down: the record stays unfinished and the next start queues it.
            return;
        }
        q.pending.push_back(Job {
            tenant: tenant.to_string(),
            pipeline_id: pipeline_id.to_string(),
        });
        self.ready.notify_all();
    }

    /// The oldest queued job whose tenant is below its share of workers; waits for one.
    /// `None` once the queue is closed.
    fn next_job(&self) -> Option<Job> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if q.closed {
                return None;
            }
            let per_tenant = self.per_tenant;
            let pos = q
                .pending
                .iter()
                .position(|j| q.running.get(&j.tenant).copied().unwrap_or(0) < per_tenant);
            if let Some(job) = pos.and_then(|p| q.pending.remove(p)) {
                *q.running.entry(job.tenant.clone()).or_default() += 1;
                return Some(job);
            }
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A worker is done with `job`: its tenant's slot is free again.
    fn finished(&self, job: &Job) {
        self.controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&job.pipeline_id);
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = q.running.get_mut(&job.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                q.running.remove(&job.tenant);
            }
        }
        self.ready.notify_all();
    }

    /// Signal a queued or running pipeline to stop for good.
    pub(crate) fn cancel(&self, pipeline_id: &str) -> Cancel {
        match self
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pipeline_id)
        {
            Some(c) if c.cancel() => Cancel::Signalled,
            Some(_) => Cancel::TooLate,
            None => Cancel::NotHere,
        }
    }

    /// Whether the host is stopping (event streams end, nothing new starts).
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Interrupt every pipeline and close the queue, without waiting: running pipelines stop
    /// between trials and stay unfinished, so the next start resumes them.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for c in self
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            c.interrupt();
        }
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.ready.notify_all();
    }

    /// Interrupt everything and wait for the workers.
    pub(crate) fn shutdown(&self) {
        self.begin_shutdown();
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
    let shared = app.store.is_shared();
    if app.config.role == crate::Role::Api {
        // Workers resume what is unfinished (their sweep finds expired leases).
        pending.clear();
    }
    for (tenant, mut p) in pending {
        if p.config.get("source").and_then(|s| s.as_str()) == Some(SOURCE_API) {
            // In a cluster another node may hold it; it comes here only if that node dies.
            if take(app, &tenant, &p.id) {
                resumed.push(p.id);
            }
        } else if shared {
            // A `microlearn run` on some machine of the cluster may still be writing it;
            // only that process can finish it.
            continue;
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
    let pipeline_workers = if app.config.role == crate::Role::Api {
        0
    } else {
        app.config.workers.max(1)
    };
    for i in 0..pipeline_workers {
        let app = app.clone();
        let handle = std::thread::Builder::new()
            .name(format!("pipeline-worker-{i}"))
            .spawn(move || worker(&app))
            .map_err(|e| anyhow::anyhow!("starting a pipeline worker: {e}"))?;
        workers.push(handle);
    }
    if shared {
        let app = app.clone();
        let handle = std::thread::Builder::new()
            .name("cluster-leases".into())
            .spawn(move || cluster_loop(&app))
            .map_err(|e| anyhow::anyhow!("starting the lease keeper: {e}"))?;
        workers.push(handle);
    }
    Ok(resumed)
}

/// Queue a pipeline on this node. In a cluster the node first takes the pipeline's lease
/// (and keeps renewing it while the pipeline waits and runs), so exactly one node has it, and
/// a node that dies with pipelines queued loses them to the others once the lease expires.
/// `false` when another node holds it, or its lease could not be taken.
pub(crate) fn take(app: &App, tenant: &str, pipeline_id: &str) -> bool {
    if let (Some(q), crate::Role::Api) = (&app.queue, app.config.role) {
        // An API node runs nothing itself: the workers pull it. Unpublished (the queue is
        // down), it is still recorded, and a worker's sweep takes it once it is overdue.
        return match q.publish(tenant, pipeline_id) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(pipeline = %pipeline_id, error = %e, "publishing a pipeline");
                false
            }
        };
    }
    take_here(app, tenant, pipeline_id)
}

/// Queue a pipeline on this node's own workers (taking its lease in a cluster).
pub(crate) fn take_here(app: &App, tenant: &str, pipeline_id: &str) -> bool {
    if app.store.is_shared() {
        match app
            .store
            .tenant(tenant)
            .claim_pipeline(pipeline_id, &app.jobs.node, LEASE_TTL_MS)
        {
            Ok(true) => {
                app.jobs
                    .held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert((tenant.to_string(), pipeline_id.to_string()));
            }
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(pipeline = %pipeline_id, error = %e, "claiming a pipeline lease");
                return false;
            }
        }
    }
    app.jobs.enqueue(tenant, pipeline_id);
    true
}

/// The cluster duties of a node, once a tick until shutdown: renew the leases it holds (a
/// lease lost — this node was paused past the TTL and another took over — interrupts the
/// local run, which then writes nothing more), pass on cancels asked on other nodes, and queue
/// pipelines whose node died (their lease expired) so the cluster finishes them.
fn cluster_loop(app: &App) {
    while !app.jobs.is_shutting_down() {
        std::thread::sleep(CLUSTER_TICK);
        let held: Vec<(String, String)> = app
            .jobs
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        for (tenant_name, id) in held {
            let tenant = app.store.tenant(&tenant_name);
            match tenant.claim_pipeline(&id, &app.jobs.node, LEASE_TTL_MS) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(pipeline = %id, "lost the lease on a pipeline to another node; stopping it here");
                    if let Some(c) = app.jobs.control(&id) {
                        c.interrupt();
                    }
                }
                Err(e) => tracing::warn!(pipeline = %id, error = %e, "renewing a pipeline lease"),
            }
            if matches!(tenant.cancel_requested(&id), Ok(true)) {
                let _ = app.jobs.cancel(&id);
            }
        }
        if app.config.role != crate::Role::Worker {
            app.serving.sync(app);
        }
        if app.config.role == crate::Role::Api {
            continue;
        }
        let Ok(all) = app.store.all_pipelines() else {
            continue;
        };
        for (tenant_name, p) in all {
            if p.status.is_terminal()
                || p.config.get("source").and_then(|s| s.as_str()) != Some(SOURCE_API)
                || app.jobs.knows(&p.id)
            {
                continue;
            }
            let tenant = app.store.tenant(&tenant_name);
            // A lease that expired: its node died. No lease long after it was created: the
            // node that accepted it could not take one (every node takes the lease of what it
            // queues, within milliseconds).
            let orphaned = match tenant.pipeline_lease(&p.id) {
                Ok(Some((_, expires))) => expires < now_ms(),
                Ok(None) => p.created_at_ms + LEASE_TTL_MS < now_ms(),
                Err(_) => false,
            };
            if orphaned && take_here(app, &tenant_name, &p.id) {
                tracing::info!(pipeline = %p.id, "took over a pipeline whose node stopped renewing its lease");
            }
        }
    }
}

/// Holds a node's lease on one pipeline while it runs here; gives it up when the run returns.
struct LeaseGuard<'a> {
    app: &'a App,
    tenant: String,
    pipeline_id: String,
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        self.app
            .jobs
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(self.tenant.clone(), self.pipeline_id.clone()));
        let tenant = self.app.store.tenant(&self.tenant);
        if let Err(e) = tenant.release_pipeline(&self.pipeline_id, &self.app.jobs.node) {
            tracing::warn!(pipeline = %self.pipeline_id, error = %e, "releasing a pipeline lease");
        }
    }
}

fn worker(app: &App) {
    worker_loop(app, &app.jobs, &run_job);
}

/// Take jobs until the queue closes. A panic in a run is caught and recorded as that
/// pipeline's failure; the worker goes on with the next job.
fn worker_loop(app: &App, jobs: &Jobs, run: &dyn Fn(&App, &Job, &RunControl)) {
    while let Some(job) = jobs.next_job() {
        if let Some(control) = jobs.control(&job.pipeline_id) {
            let tenant = app.store.tenant(&job.tenant);
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run(app, &job, &control);
            })) {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                tracing::error!(pipeline = %job.pipeline_id, panic = %what, "a pipeline run panicked");
                fail(
                    &tenant,
                    &job.pipeline_id,
                    &format!(
                        "internal error: the run stopped on a bug in the host ({what}); the pipeline cannot continue"
                    ),
                );
            }
            // The run returned (or unwound): this start is not one a crash cut short.
            if let Err(e) = tenant.clear_starts(&job.pipeline_id) {
                tracing::warn!(pipeline = %job.pipeline_id, error = %e, "clearing a start count");
            }
            if let Some(q) = &app.queue {
                // Ended, or deleted meanwhile: either way no worker need run it again.
                let ended = match tenant.pipeline(&job.pipeline_id) {
                    Ok(Some(p)) => p.status.is_terminal(),
                    Ok(None) => true,
                    Err(_) => false,
                };
                q.finished(&job.pipeline_id, ended);
            }
        }
        jobs.finished(&job);
    }
}

/// Record a failure the engine did not record (it records its own after ingest).
fn fail(tenant: &TenantStore, pipeline_id: &str, error: &str) {
    if let Ok(Some(mut p)) = tenant.pipeline(pipeline_id)
        && !p.status.is_terminal()
    {
        p.fail(error.to_string(), now_ms());
        let _ = tenant.put_pipeline(&p);
        let _ = append(
            tenant,
            pipeline_id,
            "pipeline_failed",
            error,
            serde_json::Value::Null,
        );
    }
}

fn run_job(app: &App, job: &Job, control: &RunControl) {
    let tenant = app.store.tenant(&job.tenant);
    // In a cluster exactly one node runs a pipeline: the one holding its lease (taken when
    // it was queued here; renewed now in case the queue was long).
    let _lease = if app.store.is_shared() {
        let claimed = tenant.claim_pipeline(&job.pipeline_id, &app.jobs.node, LEASE_TTL_MS);
        let guard = LeaseGuard {
            app,
            tenant: job.tenant.clone(),
            pipeline_id: job.pipeline_id.clone(),
        };
        match claimed {
            Ok(true) => Some(guard),
            Ok(false) => {
                // Lost while it waited (this node stalled past the TTL): another node has it.
                // Dropping the guard forgets it here; its release is a no-op (not ours).
                tracing::info!(pipeline = %job.pipeline_id, "another node took this pipeline over");
                return;
            }
            Err(e) => {
                // Dropping the guard releases the lease, so another node can take over.
                tracing::warn!(pipeline = %job.pipeline_id, error = %e, "renewing a pipeline lease");
                return;
            }
        }
    } else {
        None
    };
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
    match tenant.note_start(&job.pipeline_id) {
        Ok(n) if n > MAX_UNFINISHED_STARTS => {
            tracing::warn!(pipeline = %job.pipeline_id, starts = n - 1, "not resuming a pipeline whose runs never finished");
            fail(
                &tenant,
                &job.pipeline_id,
                &format!(
                    "the host stopped without finishing this pipeline {} times in a row, none of them recording a trial (crashed or killed while it ran); it is not resumed again",
                    n - 1
                ),
            );
            return;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(pipeline = %job.pipeline_id, error = %e, "counting a pipeline start");
        }
    }
    let outcome = (|| -> Result<(), PipelineError> {
        let mut config: PipelineConfig =
            serde_json::from_value(record.config.clone()).map_err(|e| {
                PipelineError::Config(format!("stored configuration is unreadable: {e}"))
            })?;
        // A record from before the cap (or from a host with more cores) may ask for more
        // threads than this host gives one pipeline.
        let cap = app.threads_per_pipeline();
        config.threads = Some(config.threads.unwrap_or(cap).clamp(1, cap));
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
        let mut engine = Engine::new(app.store.clone(), plugins)
            .with_storage_gate(std::sync::Arc::new(crate::quota::QuotaGate(app.clone())));
        if let Some(t) = &app.trials {
            engine = engine.with_trials(t.clone());
        }
        let observer = EventObserver {
            tenant: tenant.clone(),
            pipeline_id: job.pipeline_id.clone(),
            progressed: AtomicBool::new(false),
        };
        let outcome = engine.run_with(&RunInput { train, test }, &config, &observer, control)?;
        if let Some(name) = &outcome.pipeline.deployment {
            app.serving.reload(app, &job.tenant, name);
        }
        Ok(())
    })();
    if app.trials.is_some() && !matches!(outcome, Err(PipelineError::Interrupted)) {
        // Ended: nothing reads its trials' ledger or predictions any more.
        if let Err(e) =
            microlearn_pipeline::forget_trial_ledger(&app.store, &job.tenant, &job.pipeline_id)
        {
            tracing::warn!(pipeline = %job.pipeline_id, error = %e, "removing the trial ledger");
        }
    }
    match outcome {
        Ok(()) | Err(PipelineError::Interrupted) => {}
        Err(PipelineError::Cancelled) => mark_cancelled(&tenant, &job.pipeline_id),
        Err(e) => {
            tracing::warn!(pipeline = %job.pipeline_id, error = %e, "pipeline failed");
            // The engine records failures after ingest; earlier ones (unreadable data, unknown
            // target) are recorded here.
            fail(&tenant, &job.pipeline_id, &e.to_string());
        }
    }
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// The pipeline was queued or running here and will stop.
    Signalled,
    /// It is already writing its result (its deployment, then its record): nothing changes.
    TooLate,
    /// Neither queued nor running in this process (for example left unfinished by a crash).
    NotHere,
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
    /// Whether this run recorded a trial yet (see `MAX_UNFINISHED_STARTS`).
    progressed: AtomicBool,
}

impl Observer for EventObserver {
    fn stage_started(&self, _stage: Stage) {}

    /// Recorded so a client following the events can draw the search's time bar.
    fn search_started(&self, budget: std::time::Duration) {
        let _ = append(
            &self.tenant,
            &self.pipeline_id,
            "search_started",
            &format!("search started with {:.1} s", budget.as_secs_f64()),
            serde_json::json!({ "budget_secs": budget.as_secs_f64() }),
        );
    }

    fn trial_finished(&self, trial: &TrialRecord, best: Option<f64>) {
        // A run that records a trial is making progress: the runs cut short before it (a
        // cluster's coordinators killed from outside, say) no longer count towards giving up.
        if !self.progressed.swap(true, Ordering::SeqCst) {
            let _ = self.tenant.clear_starts(&self.pipeline_id);
        }
        let _ = append(
            &self.tenant,
            &self.pipeline_id,
            "trial_finished",
            &format!("trial {} ({}) {:?}", trial.number, trial.kind, trial.status),
            serde_json::json!({
                "number": trial.number,
                "kind": trial.kind,
                "status": trial.status,
                "metric": trial.metric,
                "score": trial.score,
                "error": trial.error,
                "fidelity": trial.fidelity,
                "fold_scores": trial.fold_scores,
                "workers": trial.workers,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerConfig;
    use microlearn_core::{PipelineId, PipelineStatus};
    use microlearn_store::PipelineRecord;

    fn record(id: &str) -> PipelineRecord {
        PipelineRecord::created(
            id.into(),
            "ds_x".into(),
            "y".into(),
            serde_json::json!({ "source": SOURCE_API }),
            1,
        )
    }

    #[test]
    fn a_tenant_at_its_share_of_workers_lets_another_tenant_go_first() {
        let jobs = Jobs::new(1);
        jobs.enqueue("a", "pl_a1");
        jobs.enqueue("a", "pl_a2");
        jobs.enqueue("b", "pl_b1");
        let first = jobs.next_job().expect("a job");
        assert_eq!(first.pipeline_id, "pl_a1");
        // Tenant a holds its one worker: b's job, queued later, is next.
        let second = jobs.next_job().expect("a job");
        assert_eq!(second.pipeline_id, "pl_b1");
        jobs.finished(&first);
        assert_eq!(jobs.next_job().expect("a job").pipeline_id, "pl_a2");
        jobs.begin_shutdown();
        assert!(jobs.next_job().is_none(), "a closed queue ends the workers");
    }

    #[test]
    fn a_panicking_run_fails_its_pipeline_and_the_worker_takes_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = App::start(ServerConfig::new(dir.path())).expect("starts");
        let app = started.app;
        let tenant = app.store.tenant("default");
        let (boom, next) = (PipelineId::generate().0, PipelineId::generate().0);
        for id in [&boom, &next] {
            tenant.put_pipeline(&record(id)).expect("stored");
        }
        let jobs = Jobs::new(1);
        jobs.enqueue("default", &boom);
        jobs.enqueue("default", &next);
        let boom2 = boom.clone();
        let run = move |app: &App, job: &Job, _c: &RunControl| {
            let t = app.store.tenant(&job.tenant);
            t.note_start(&job.pipeline_id).expect("counted");
            if job.pipeline_id == boom2 {
                panic!("index out of bounds in a test run");
            }
            mark_cancelled(&t, &job.pipeline_id);
        };
        std::thread::scope(|s| {
            s.spawn(|| worker_loop(&app, &jobs, &run));
            // The worker survives the panic and runs the next job, whose run ends the test.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !tenant
                .pipeline(&next)
                .ok()
                .flatten()
                .is_some_and(|p| p.status.is_terminal())
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the second job never ran"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            jobs.begin_shutdown();
        });
        let failed = tenant.pipeline(&boom).expect("read").expect("exists");
        assert_eq!(failed.status, PipelineStatus::Failed);
        let error = failed.error.expect("an error");
        assert!(
            error.contains("bug in the host") && error.contains("index out of bounds"),
            "{error}"
        );
        assert_eq!(
            tenant
                .pipeline(&next)
                .expect("read")
                .expect("exists")
                .status,
            PipelineStatus::Cancelled
        );
        assert_eq!(
            tenant.note_start(&boom).expect("counted"),
            1,
            "a run that unwound is not counted as cut short by a crash"
        );
        app.shutdown();
    }
}

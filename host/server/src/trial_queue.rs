//! Trials across the cluster on NATS JetStream. A pipeline's coordinator (the worker running
//! it) publishes each trial rung as a [`RungJob`] to the trials' work-queue stream (`ML_TRIALS`
//! beside `ML_PIPELINES`); every worker pulls at most one job per free trial slot, serves it
//! ([`microlearn_pipeline::serve_rung`]: the result goes to the PostgreSQL ledger, the
//! predictions to blobs), acks it, and says so on a core NATS subject the coordinator listens
//! on. The coordinator reads the ledger, never the message: a wake-up that is lost (a NATS
//! restart) costs at most one poll interval, and a job run twice is counted once.
//!
//! A worker killed mid-job neither acks nor signals progress: after [`ACK_WAIT`] JetStream
//! hands the job to another worker. Each delivery is counted in the ledger, and a job that has
//! killed [`microlearn_pipeline::MAX_RUNG_DELIVERIES`] workers is recorded as failed.

use crate::App;
use crate::queue::{QueueUrl, connect_client, ensure_work_queue, err, publish_once, pull_consumer};
use async_nats::jetstream;
use futures_util::StreamExt;
use microlearn_pipeline::{Engine, RungJob, RungResult, RungServed, TrialDispatch, serve_rung};
use microlearn_store::{Store, bridge};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a delivered job may go without an ack or progress before another worker gets it:
/// short, since a killed worker's trial waits this long (progress keeps long fits alive).
const ACK_WAIT: Duration = Duration::from_secs(10);
/// Progress signals while a job runs: well inside `ACK_WAIT`.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);
/// JetStream's own bound on deliveries, above the ledger's (which records the job failed
/// first) so the ledger always has the last word.
const MAX_DELIVER: i64 = 20;
/// How long a coordinator waits for a wake-up before reading the ledger anyway.
const POLL: Duration = Duration::from_millis(500);
/// How long a worker's announcement of its slots lasts without renewal.
const NODE_TTL_MS: i64 = 5_000;

/// A waiting coordinator thread: woken when its job's result is announced.
#[derive(Default)]
struct Waiter {
    woken: Mutex<bool>,
    signal: Condvar,
}

/// The trials' side of the work queue.
pub(crate) struct TrialQueue {
    js: jetstream::Context,
    client: async_nats::Client,
    stream: String,
    subject: String,
    /// Core NATS subject prefix of "this job's result is recorded" wake-ups.
    done_prefix: String,
    shown: String,
    store: Store,
    /// Coordinator threads waiting, by wake-up token.
    waiters: Mutex<HashMap<String, Arc<Waiter>>>,
    /// Jobs this worker is running.
    running: AtomicUsize,
}

/// The trials' stream for a pipelines' stream: `ML_PIPELINES` → `ML_TRIALS`, `X` → `X_TRIALS`.
fn trials_stream(pipelines: &str) -> String {
    match pipelines.strip_suffix("_PIPELINES") {
        Some(base) => format!("{base}_TRIALS"),
        None => format!("{pipelines}_TRIALS"),
    }
}

/// The wake-up token of a job: a subject token whatever the tenant and pipeline names hold.
fn token(job: &RungJob) -> String {
    let digest = sha2::Sha256::digest(
        format!("{}/{}/{}", job.tenant, job.pipeline_id, job.ledger_key()).as_bytes(),
    );
    hex::encode(&digest[..12])
}

impl TrialQueue {
    /// Connect to `url` (the cluster's work queue URL), make sure the trials' stream and the
    /// workers' consumer exist, and listen for results.
    pub(crate) fn connect(url: &str, store: Store) -> anyhow::Result<Arc<TrialQueue>> {
        let QueueUrl { shown, stream } = QueueUrl::parse(url)?;
        let stream = trials_stream(&stream);
        let subject = format!("ml.{}.jobs", stream.to_ascii_lowercase());
        let done_prefix = format!("ml.{}.done", stream.to_ascii_lowercase());
        let (addr, name, subj) = (shown.clone(), stream.clone(), subject.clone());
        let (js, client) = bridge::run(async move {
            let client = connect_client(addr).await?;
            let js = jetstream::new(client.clone());
            ensure_work_queue(&js, &name, &subj, "trial-workers", ACK_WAIT, MAX_DELIVER).await?;
            Ok::<_, String>((js, client))
        })
        .map_err(|e| err(&shown, "starting", e))?
        .map_err(|e| err(&shown, "connecting (trials)", e))?;
        let q = Arc::new(TrialQueue {
            js,
            client,
            stream,
            subject,
            done_prefix,
            shown,
            store,
            waiters: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
        });
        q.listen()?;
        Ok(q)
    }

    /// Wake the coordinator threads whose results are announced.
    fn listen(self: &Arc<Self>) -> anyhow::Result<()> {
        let q = Arc::downgrade(self);
        let (client, prefix) = (self.client.clone(), self.done_prefix.clone());
        let task = async move {
            let mut sub = match client.subscribe(format!("{prefix}.*")).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "not listening for trial results (the ledger is polled)");
                    return;
                }
            };
            while let Some(msg) = sub.next().await {
                let Some(q) = q.upgrade() else { return };
                let token = msg.subject.as_str().rsplit('.').next().unwrap_or_default();
                let waiter = q
                    .waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(token)
                    .cloned();
                if let Some(w) = waiter {
                    *w.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
                    w.signal.notify_all();
                }
            }
        };
        bridge::spawn(task).map_err(|e| err(&self.shown, "starting", e))?;
        Ok(())
    }

    fn publish(&self, job: &RungJob) -> Result<(), String> {
        let body = serde_json::to_vec(job).map_err(|e| e.to_string())?;
        // Re-sent by a coordinator that took over: dropped while the first is still queued.
        let id = format!("{}/{}/{}", job.tenant, job.pipeline_id, job.ledger_key());
        bridge::run(publish_once(
            self.js.clone(),
            self.subject.clone(),
            id,
            body,
        ))
        .map_err(|e| e.to_string())?
    }

    /// Pull and serve trial jobs while `app` runs, at most `slots` at a time, announcing this
    /// worker's slots so coordinators keep that many jobs in flight.
    pub(crate) fn consume(self: &Arc<Self>, app: App, slots: usize) -> anyhow::Result<()> {
        let node = app.jobs.node().to_string();
        {
            let (app, node, store) = (app.clone(), node.clone(), self.store.clone());
            std::thread::Builder::new()
                .name("trial-slots".into())
                .spawn(move || {
                    while !app.jobs.is_shutting_down() {
                        if let Err(e) = store.announce_node(&node, slots, NODE_TTL_MS) {
                            tracing::warn!(error = %e, "announcing this worker's trial slots");
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    let _ = store.forget_node(&node);
                })
                .map_err(|e| anyhow::anyhow!("starting the slot announcer: {e}"))?;
        }
        let q = self.clone();
        let pull = async move {
            let stop = || app.jobs.is_shutting_down();
            let Some(consumer) =
                pull_consumer(&q.js, &q.stream, "trial-workers", &q.shown, &stop).await
            else {
                return;
            };
            while !app.jobs.is_shutting_down() {
                let free = slots.saturating_sub(q.running.load(Ordering::SeqCst));
                if free == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let batch = consumer
                    .fetch()
                    .max_messages(free)
                    .expires(Duration::from_secs(2))
                    .messages()
                    .await;
                let mut batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(queue = %q.shown, error = %e, "pulling from the trial queue");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                while let Some(msg) = batch.next().await {
                    let Ok(msg) = msg else { break };
                    let (msg, acker) = msg.split();
                    let Ok(job) = serde_json::from_slice::<RungJob>(&msg.payload) else {
                        tracing::warn!(queue = %q.shown, "dropping an unreadable trial job");
                        let _ = acker.ack_with(jetstream::AckKind::Term).await;
                        continue;
                    };
                    q.running.fetch_add(1, Ordering::SeqCst);
                    let acker = Arc::new(acker);
                    let (app, q2, node) = (app.clone(), q.clone(), node.clone());
                    tokio::spawn(async move {
                        q2.serve(app, job, node, acker).await;
                        q2.running.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        };
        bridge::spawn(pull).map_err(|e| err(&self.shown, "starting", e))?;
        Ok(())
    }

    /// Serve one delivered job: run it off the I/O threads, keep its message in progress while
    /// it runs, then ack (recorded, obsolete) or NAK (interrupted, retry later).
    async fn serve(
        &self,
        app: App,
        job: RungJob,
        node: String,
        acker: Arc<jetstream::message::Acker>,
    ) {
        let done = Arc::new(AtomicBool::new(false));
        let progress = {
            let (acker, done) = (acker.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    let _ = acker.ack_with(jetstream::AckKind::Progress).await;
                }
            })
        };
        let job2 = job.clone();
        let served = tokio::task::spawn_blocking(move || run_job(&app, &job2, &node, &done))
            .await
            .unwrap_or_else(|e| RungServed::Retry(format!("the job's thread failed: {e}")));
        progress.abort();
        match served {
            RungServed::Recorded(_) => {
                let _ = acker.double_ack().await;
                let _ = self
                    .client
                    .publish(format!("{}.{}", self.done_prefix, token(&job)), "".into())
                    .await;
            }
            RungServed::Obsolete => {
                let _ = acker.double_ack().await;
            }
            RungServed::Interrupted => {
                let _ = acker.ack_with(jetstream::AckKind::Nak(None)).await;
            }
            RungServed::Retry(why) => {
                tracing::warn!(pipeline = %job.pipeline_id, trial = job.number, error = %why, "trial job will be retried");
                let _ = acker
                    .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(2))))
                    .await;
            }
        }
    }
}

/// Serve a job on this thread, halting it when the worker shuts down or the pipeline is
/// cancelled anywhere in the cluster; `done` is raised when it returns.
fn run_job(app: &App, job: &RungJob, node: &str, done: &AtomicBool) -> RungServed {
    let plugins = match app.plugins_for(&job.tenant) {
        Ok(p) => p,
        Err(e) => return RungServed::Retry(format!("loading plugins: {}", e.detail)),
    };
    let engine = Engine::new(app.store.clone(), plugins)
        .with_storage_gate(std::sync::Arc::new(crate::quota::QuotaGate(app.clone())));
    let halt = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let tenant = app.store.tenant(&job.tenant);
            let mut last_check = Instant::now();
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if app.jobs.is_shutting_down() {
                    halt.store(true, Ordering::SeqCst);
                    return;
                }
                if last_check.elapsed() >= Duration::from_secs(1) {
                    last_check = Instant::now();
                    if tenant.cancel_requested(&job.pipeline_id).unwrap_or(false) {
                        halt.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        let served = serve_rung(&engine, job, node, &halt);
        done.store(true, Ordering::SeqCst);
        served
    })
}

impl TrialDispatch for TrialQueue {
    fn slots(&self) -> usize {
        self.store.live_slots().unwrap_or(1).max(1)
    }

    fn run(&self, job: &RungJob, stop: &dyn Fn() -> bool) -> Result<Option<RungResult>, String> {
        let tenant = self.store.tenant(&job.tenant);
        let key = job.ledger_key();
        let token = token(job);
        let waiter = Arc::new(Waiter::default());
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), waiter.clone());
        // Unregistered however this returns.
        struct Unregister<'a>(&'a TrialQueue, String);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                self.0
                    .waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&self.1);
            }
        }
        let _unregister = Unregister(self, token);
        let read = || tenant.rung::<RungResult>(&job.pipeline_id, &key);
        // A coordinator that took over finds the jobs its predecessor's workers finished.
        if let Ok(Some(r)) = read() {
            return Ok(Some(r));
        }
        let mut published = false;
        loop {
            if !published {
                match self.publish(job) {
                    Ok(()) => published = true,
                    Err(e) => {
                        tracing::warn!(queue = %self.shown, error = %e, "publishing a trial job, retrying");
                    }
                }
            }
            {
                let woken = waiter.woken.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut woken, _) = waiter
                    .signal
                    .wait_timeout_while(woken, POLL, |w| !*w)
                    .unwrap_or_else(PoisonError::into_inner);
                *woken = false;
            }
            match read() {
                Ok(Some(r)) => return Ok(Some(r)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "reading the trial ledger, retrying"),
            }
            if stop() {
                return Ok(None);
            }
        }
    }
}

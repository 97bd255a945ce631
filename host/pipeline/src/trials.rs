//! Trials run across a cluster. A search's coordinator (the node running the pipeline) hands
//! each trial's rungs out as [`RungJob`]s through a [`TrialDispatch`] — in a cluster, the NATS
//! work queue — and any worker with a free slot runs one with [`serve_rung`]: it loads the
//! search's validation units (one content-addressed [`TrialContext`] blob per search, fetched
//! once per worker and hash-checked), fits and scores the job's units exactly as an embedded
//! search would, stores the units' out-of-fold predictions as blobs, and records a
//! [`RungResult`] in the metadata ledger.
//!
//! The ledger, not the queue, decides what counted: a job's first recorded result is the only
//! one anybody reads, so a job delivered twice (a worker that died before its ack, a NATS
//! restart, a coordinator that took over and sent it again) is counted once. A job whose
//! workers keep dying is recorded as failed after [`MAX_RUNG_DELIVERIES`] deliveries.

use crate::Engine;
use crate::search::{Unit, UnitsCall, fit_units};
use crate::storage::StoragePromise;
use microlearn_core::{Params, Task};
use microlearn_store::{Store, StoreError, now_ms};
use microlearn_train::Predictions;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Deliveries of one rung job before it is recorded as failed without running again: a job
/// that kills every worker it reaches (out of memory, a crash) must not go round forever.
pub const MAX_RUNG_DELIVERIES: u32 = 5;

/// Version of the [`TrialContext`] blob layout; a worker refuses a context it cannot read.
const CONTEXT_FORMAT: u32 = 1;

/// Where a search's trials run when not on the coordinator's own threads.
pub trait TrialDispatch: Send + Sync {
    /// How many rung jobs the cluster runs at once (its live workers' trial slots): the
    /// coordinator keeps that many in flight.
    fn slots(&self) -> usize;

    /// Hand `job` to the cluster and wait for its recorded result; `Ok(None)` when `stop`
    /// turned true first (the budget ended, the pipeline was stopped).
    fn run(&self, job: &RungJob, stop: &dyn Fn() -> bool) -> Result<Option<RungResult>, String>;
}

/// Everything every rung job of one search reads, stored once as a content-addressed blob.
/// It names its pipeline, so two searches never share (and never delete) one context.
#[derive(Serialize, Deserialize)]
pub(crate) struct TrialContext {
    format: u32,
    pipeline_id: String,
    pub task: Task,
    pub labels: Vec<String>,
    pub prob_floor: f64,
    pub evaluator_id: String,
    pub evaluator_config: String,
    pub metric: String,
    pub units: Vec<Unit>,
}

/// The bytes of a search's [`TrialContext`], serialized straight from the coordinator's
/// borrowed units (it keeps its own copy); store them with `ArtefactStore::put`, whose hash
/// every job of the search names.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_context(
    pipeline_id: &str,
    task: Task,
    labels: &[String],
    prob_floor: f64,
    evaluator_id: &str,
    evaluator_config: &str,
    metric: &str,
    units: &[Unit],
) -> Result<Vec<u8>, String> {
    // The same fields in the same order as `TrialContext`: postcard writes a struct as the
    // tuple of its fields.
    postcard::to_stdvec(&(
        CONTEXT_FORMAT,
        pipeline_id,
        task,
        labels,
        prob_floor,
        evaluator_id,
        evaluator_config,
        metric,
        units,
    ))
    .map_err(|e| format!("encoding the search context: {e}"))
}

/// One rung of one trial: fit and score units `units` of the search's validation with the
/// trial's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungJob {
    pub tenant: String,
    pub pipeline_id: String,
    /// Content hash of the search's [`TrialContext`].
    pub context: String,
    pub number: usize,
    pub kind: String,
    pub params: Params,
    pub rung: usize,
    /// Validation units to fit, `[start, end)`.
    pub units: (usize, usize),
    /// Units the trial fitted in earlier rungs (the budget never stops a trial's first unit).
    pub units_before: usize,
    pub seed: u64,
    /// When the search ends, in Unix milliseconds: later units are not started.
    pub deadline_unix_ms: i64,
    /// Expected seconds to predict and score a unit once fitted: its fit stops that much
    /// before the deadline (0 from a coordinator of an earlier version).
    #[serde(default)]
    pub predict_secs: f64,
}

impl RungJob {
    /// The job's name in the ledger and the queue: trial, rung and a hash of what it fits,
    /// so a job re-sent with the same inputs finds the result already recorded, and one with
    /// other inputs (a non-seeded search re-proposing a number after a takeover) does not.
    pub fn ledger_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.context.as_bytes());
        h.update(self.kind.as_bytes());
        h.update(serde_json::to_vec(&self.params).unwrap_or_default());
        h.update(format!("{}:{}:{}", self.units.0, self.units.1, self.seed).as_bytes());
        let digest = hex::encode(h.finalize());
        format!("{:08}-{}-{}", self.number, self.rung, &digest[..16])
    }
}

/// What one fitted unit gave, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitOutcome {
    pub unit: usize,
    pub score: f64,
    pub fitted: Params,
    /// Content hash of the unit's validation predictions.
    pub predictions: String,
    /// Size of the predictions blob, counted as the tenant's storage while the pipeline runs
    /// (0 in records from before it was kept).
    #[serde(default)]
    pub predictions_bytes: u64,
    pub fit_secs: f64,
    pub fit_rows: usize,
    /// Seconds to predict and score the unit's validation rows (0 in records from before).
    #[serde(default)]
    pub predict_secs: f64,
}

/// How a run of a trial's units ended, on this process's threads or on a cluster worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RungEnd {
    /// Every unit was fitted and scored.
    Done,
    /// A unit failed (the model could not fit, the evaluator refused, the job kept killing
    /// its workers): the trial fails with this message.
    Failed(String),
    /// The search's time ran out (or it stopped) after the units listed.
    Budget,
}

/// A rung job's recorded result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungResult {
    pub units: Vec<UnitOutcome>,
    pub end: RungEnd,
    /// The worker that ran it.
    pub node: String,
    /// Which delivery of the job this result came from (1 = the first).
    pub delivery: u32,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
}

/// Predictions as stored: they name their job and unit, so no two jobs share a blob and one
/// can be removed with its pipeline.
#[derive(Serialize, Deserialize)]
struct PredictionsBlob {
    pipeline_id: String,
    job: String,
    unit: usize,
    predictions: Predictions,
}

/// Read a unit's predictions back from the blob a [`UnitOutcome`] names.
pub(crate) fn load_predictions(store: &Store, sha256: &str) -> Result<Predictions, String> {
    let bytes = store.artefacts().get(sha256).map_err(|e| {
        format!(
            "reading trial predictions {}: {e}",
            &sha256[..12.min(sha256.len())]
        )
    })?;
    postcard::from_bytes::<PredictionsBlob>(&bytes)
        .map(|b| b.predictions)
        .map_err(|e| format!("trial predictions {sha256} are unreadable: {e}"))
}

/// What serving a delivered job came to.
#[derive(Debug)]
pub enum RungServed {
    /// The job's result is recorded (by this delivery or an earlier one): ack it.
    Recorded(Box<RungResult>),
    /// Stopped before it finished (the worker is shutting down, the pipeline was cancelled):
    /// nothing was recorded; another delivery may run it.
    Interrupted,
    /// Its pipeline ended or is gone (a job left over from a search that finished): drop it.
    Obsolete,
    /// It could not run here now (its context is unreachable, the ledger is down): nothing was
    /// recorded; retry it later.
    Retry(String),
}

/// Contexts a worker keeps decoded: a couple of searches at once is the common case, and each
/// holds its validation matrices.
const CONTEXT_CACHE: usize = 2;

type Cached = (String, Arc<TrialContext>);

fn context_cache() -> &'static Mutex<Vec<Cached>> {
    static CACHE: std::sync::OnceLock<Mutex<Vec<Cached>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::new()))
}

fn load_context(store: &Store, sha256: &str) -> Result<Arc<TrialContext>, String> {
    if let Some((_, c)) = context_cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(h, _)| h == sha256)
    {
        return Ok(c.clone());
    }
    // Hash-checked on the way in (and into this node's blob cache).
    let bytes = store
        .artefacts()
        .get(sha256)
        .map_err(|e| format!("fetching the search context: {e}"))?;
    let ctx: TrialContext = postcard::from_bytes(&bytes)
        .map_err(|e| format!("the search context {sha256} is unreadable: {e}"))?;
    if ctx.format != CONTEXT_FORMAT {
        return Err(format!(
            "the search context {sha256} has format {}, this worker reads {CONTEXT_FORMAT}",
            ctx.format
        ));
    }
    let ctx = Arc::new(ctx);
    let mut cache = context_cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    cache.retain(|(h, _)| h != sha256);
    cache.push((sha256.to_string(), ctx.clone()));
    while cache.len() > CONTEXT_CACHE {
        cache.remove(0);
    }
    Ok(ctx)
}

/// Serve one delivery of `job` on this worker (`node`): return the recorded result if there
/// is one, else count the delivery, run the job's units (stopping when `halt` is raised) and
/// record what they gave. `engine` gives the store and the tenant's plugins.
pub fn serve_rung(engine: &Engine, job: &RungJob, node: &str, halt: &AtomicBool) -> RungServed {
    let tenant = engine.store().tenant(&job.tenant);
    let key = job.ledger_key();
    match tenant.rung::<RungResult>(&job.pipeline_id, &key) {
        Ok(Some(r)) => return RungServed::Recorded(Box::new(r)),
        Ok(None) => {}
        Err(e) => return RungServed::Retry(format!("reading the trial ledger: {e}")),
    }
    match tenant.pipeline(&job.pipeline_id) {
        Ok(Some(p)) if !p.status.is_terminal() => {}
        Ok(_) => return RungServed::Obsolete,
        Err(e) => return RungServed::Retry(format!("reading the pipeline: {e}")),
    }
    let delivery = match tenant.note_rung_delivery(&job.pipeline_id, &key) {
        Ok(n) => n,
        Err(e) => return RungServed::Retry(format!("counting a delivery: {e}")),
    };
    let started_at_ms = now_ms();
    // Room promised for the predictions blobs, held until the ledger counts them.
    let mut _promise = None;
    let result = if delivery > MAX_RUNG_DELIVERIES {
        RungResult {
            units: Vec::new(),
            end: RungEnd::Failed(format!(
                "trial {} rung {} was delivered to workers {} times without finishing (each \
                 worker running it died or was stopped); it is recorded as failed",
                job.number,
                job.rung,
                delivery - 1
            )),
            node: node.to_string(),
            delivery,
            started_at_ms,
            finished_at_ms: now_ms(),
        }
    } else {
        match run_rung(engine, job, &key, halt) {
            Ok((units, end, promise)) => {
                _promise = promise;
                RungResult {
                    units,
                    end,
                    node: node.to_string(),
                    delivery,
                    started_at_ms,
                    finished_at_ms: now_ms(),
                }
            }
            Err(Stop::Interrupted) => return RungServed::Interrupted,
            Err(Stop::Retry(why)) => return RungServed::Retry(why),
        }
    };
    // The search may have ended while this ran (it gave the job up): its ledger is gone or
    // going, and nothing would remove what this recorded.
    if !matches!(tenant.pipeline(&job.pipeline_id), Ok(Some(p)) if !p.status.is_terminal()) {
        for u in &result.units {
            let _ = engine.store().artefacts().remove(&u.predictions);
        }
        return RungServed::Obsolete;
    }
    match tenant.record_rung(&job.pipeline_id, &key, &result) {
        Ok(standing) => RungServed::Recorded(Box::new(standing)),
        Err(e) => RungServed::Retry(format!("recording the result: {e}")),
    }
}

enum Stop {
    Interrupted,
    Retry(String),
}

fn run_rung(
    engine: &Engine,
    job: &RungJob,
    key: &str,
    halt: &AtomicBool,
) -> Result<(Vec<UnitOutcome>, RungEnd, Option<StoragePromise>), Stop> {
    let ctx = load_context(engine.store(), &job.context).map_err(Stop::Retry)?;
    let (start, end) = job.units;
    if start >= end || end > ctx.units.len() {
        return Ok((
            Vec::new(),
            RungEnd::Failed(format!(
                "rung job names units {start}..{end} of a search with {}",
                ctx.units.len()
            )),
            None,
        ));
    }
    let remaining = Duration::from_millis((job.deadline_unix_ms - now_ms()).max(0) as u64);
    let deadline = Instant::now() + remaining;
    if job.units_before == 0 && remaining.is_zero() {
        // Queued past the end of its search: nobody waits for it any more.
        return Ok((Vec::new(), RungEnd::Budget, None));
    }
    let evaluator = match engine.plugins().evaluator(&ctx.evaluator_id) {
        Ok(h) => h,
        Err(e) => {
            return Ok((
                Vec::new(),
                RungEnd::Failed(format!(
                    "evaluator '{}' is not available on worker: {e}",
                    ctx.evaluator_id
                )),
                None,
            ));
        }
    };
    let halted = || halt.load(std::sync::atomic::Ordering::Relaxed);
    let (done, ended) = fit_units(&UnitsCall {
        units: &ctx.units,
        range: start..end,
        task: ctx.task,
        labels: &ctx.labels,
        prob_floor: ctx.prob_floor,
        evaluator: &evaluator,
        evaluator_config: &ctx.evaluator_config,
        metric: &ctx.metric,
        kind: &job.kind,
        params: &job.params,
        seed: job.seed,
        threads: 1,
        deadline: &|| deadline,
        predict_secs: job.predict_secs,
        units_before: job.units_before,
        halt,
        stopped: &halted,
    });
    if halted() {
        return Err(Stop::Interrupted);
    }
    let mut blobs = Vec::with_capacity(done.len());
    for (i, d) in done.iter().enumerate() {
        let blob = PredictionsBlob {
            pipeline_id: job.pipeline_id.clone(),
            job: key.to_string(),
            unit: start + i,
            predictions: d.predictions.clone(),
        };
        blobs.push(postcard::to_stdvec(&blob).map_err(|e| Stop::Retry(e.to_string()))?);
    }
    // The out-of-fold predictions are the tenant's storage until the pipeline ends: promised
    // under the quota, and held until the ledger record that counts them is written.
    let total: u64 = blobs.iter().map(|b| b.len() as u64).sum();
    let promise = match engine.reserve_storage(
        &job.tenant,
        total,
        &format!("trial {}'s out-of-fold predictions", job.number),
    ) {
        Ok(p) => p,
        Err(refused) => return Ok((Vec::new(), RungEnd::Failed(refused), None)),
    };
    let mut units = Vec::with_capacity(done.len());
    for (i, (d, bytes)) in done.into_iter().zip(blobs).enumerate() {
        let stored = engine
            .store()
            .artefacts()
            .put(&bytes)
            .map_err(|e| Stop::Retry(format!("storing trial predictions: {e}")))?;
        units.push(UnitOutcome {
            unit: start + i,
            score: d.score,
            fitted: d.fitted,
            predictions: stored.sha256,
            predictions_bytes: bytes.len() as u64,
            fit_secs: d.fit_secs,
            fit_rows: d.fit_rows,
            predict_secs: d.predict_secs,
        });
    }
    Ok((units, ended, promise))
}

/// Bytes of out-of-fold predictions a pipeline's distributed trials hold in storage (they
/// count toward the tenant's storage quota until [`forget_trial_ledger`] removes them).
pub fn trial_ledger_bytes(
    store: &Store,
    tenant: &str,
    pipeline_id: &str,
) -> Result<u64, StoreError> {
    Ok(store
        .tenant(tenant)
        .rungs::<RungResult>(pipeline_id)?
        .iter()
        .flat_map(|(_, r)| &r.units)
        .map(|u| u.predictions_bytes)
        .sum())
}

/// Remove what a pipeline's distributed trials left: every recorded unit's predictions blob,
/// then the ledger itself. Run when the pipeline ended (nothing reads them after) or is
/// deleted; returns how many blobs went.
pub fn forget_trial_ledger(
    store: &Store,
    tenant: &str,
    pipeline_id: &str,
) -> Result<usize, StoreError> {
    let t = store.tenant(tenant);
    let mut removed = 0;
    for (_, r) in t.rungs::<RungResult>(pipeline_id)? {
        for u in r.units {
            store.artefacts().remove(&u.predictions)?;
            removed += 1;
        }
    }
    t.remove_rungs(pipeline_id)?;
    Ok(removed)
}

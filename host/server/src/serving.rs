//! Deployments held in memory: each serves a loaded bundle (preparer components instantiated,
//! model decoded), so a predict call only validates the rows, runs the preparer transform and
//! the model. Request counts and a latency histogram are kept per deployment with atomics, off
//! any lock on the hot path.

use crate::App;
use crate::error::{ApiError, ProblemKind};
use microlearn_core::{Column, Schema, Table};
use microlearn_pipeline::{Bundle, LoadedModel, Scored};
use microlearn_store::DeploymentRecord;
use microlearn_table::{ColumnData, Dictionary};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much blocking work requests may start, and for how long. Plugin code (a preparer's
/// transform), model scoring, file parsing and hashing never run on the async threads: they
/// run on tokio's blocking pool, admitted by these bounds, so a tenant whose deployment hangs
/// can only use up its own share.
#[derive(Debug, Clone)]
pub struct ServingLimits {
    /// Predict and batch calls running at once, all tenants together.
    pub threads: usize,
    /// Of those, at most this many for one tenant.
    pub per_tenant: usize,
    /// Of those, at most this many for one deployment.
    pub per_deployment: usize,
    /// Deadline of a predict call: rows checked, prepared and scored (504 past it).
    pub predict_timeout: Duration,
    /// Deadline of a batch call once its file has arrived: read, scored, written (504 past it).
    pub batch_timeout: Duration,
    /// Uploads (datasets, batch files, plugins) parsed, hashed or compiled at once, all
    /// tenants together; each holds a file of up to the upload cap and a parser's memory.
    pub uploads: usize,
    /// Of those, at most this many for one tenant.
    pub uploads_per_tenant: usize,
    /// Deadline of processing an upload once it has arrived (validating a plugin compiles it).
    pub upload_timeout: Duration,
    /// An upload whose body sends nothing for this long is refused (408), so a stalled client
    /// cannot hold a connection and an upload slot forever.
    pub upload_idle_timeout: Duration,
    /// Rows scored per chunk in batch calls: bounds one plugin call and the rows in memory
    /// next to the input.
    pub batch_chunk_rows: usize,
}

impl Default for ServingLimits {
    fn default() -> Self {
        // Scoring is CPU work, but a blocked plugin holds a thread without using a core, so
        // the pool is wider than the machine; a tenant gets half of it and a deployment a
        // quarter, so one stuck deployment or tenant always leaves room for the others.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let threads = (4 * cores).max(8);
        ServingLimits {
            threads,
            per_tenant: threads / 2,
            per_deployment: (threads / 4).max(1),
            predict_timeout: Duration::from_secs(10),
            batch_timeout: Duration::from_secs(600),
            uploads: cores.max(2),
            uploads_per_tenant: cores.div_ceil(2).max(1),
            upload_timeout: Duration::from_secs(300),
            upload_idle_timeout: Duration::from_secs(30),
            batch_chunk_rows: 50_000,
        }
    }
}

/// A bounded lane onto tokio's blocking pool with per-tenant and per-key (deployment) shares.
pub(crate) struct Pool {
    /// What runs here, for messages ("predict", "upload").
    what: &'static str,
    total: Arc<Semaphore>,
    size: usize,
    per_tenant: usize,
    per_key: usize,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    keys: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

/// Slots taken in a [`Pool`]; they are given back when this is dropped.
pub(crate) struct Admission {
    what: &'static str,
    key: Option<String>,
    _permits: (
        Option<OwnedSemaphorePermit>,
        OwnedSemaphorePermit,
        OwnedSemaphorePermit,
    ),
}

impl Admission {
    /// Run `f` on the blocking pool, holding these slots until it returns. Past `deadline`
    /// the caller gets 504 while `f` runs on to its own end (a plugin call stops at the
    /// plugin's deadline) still holding the slots, so the bound counts every thread really in
    /// use. A panic in `f` is a 500, never a dropped connection.
    pub(crate) async fn run<T: Send + 'static>(
        self,
        deadline: Duration,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let what = self.what;
        let whose = self
            .key
            .as_ref()
            .map_or_else(String::new, |k| format!(" of deployment '{k}'"));
        let task = tokio::task::spawn_blocking(move || {
            let _held = self;
            f()
        });
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ApiError::internal(format!("a {what} task failed: {join}"))),
            Err(_) => Err(ApiError::new(
                ProblemKind::Timeout,
                format!(
                    "the {what} call{whose} did not finish within its deadline of {:.1} s; \
                     it goes on until its stage's own time limit stops it",
                    deadline.as_secs_f64()
                ),
            )
            .with("deadline_secs", deadline.as_secs_f64())),
        }
    }
}

/// Longest wait for a free slot of a full pool before the caller is told to retry.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Seconds a refused caller is told to wait (`Retry-After`): work here takes milliseconds to
/// seconds, so a second is a fair first retry.
const RETRY_AFTER_SECS: u64 = 1;

impl Pool {
    pub(crate) fn new(what: &'static str, total: usize, per_tenant: usize, per_key: usize) -> Pool {
        let total = total.max(1);
        Pool {
            what,
            total: Arc::new(Semaphore::new(total)),
            size: total,
            per_tenant: per_tenant.clamp(1, total),
            per_key: per_key.clamp(1, total),
            tenants: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn share<K: std::hash::Hash + Eq>(
        map: &Mutex<HashMap<K, Arc<Semaphore>>>,
        key: K,
        size: usize,
    ) -> Arc<Semaphore> {
        map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(size)))
            .clone()
    }

    /// Take a slot for `tenant` (and `key`, a deployment): a full share answers 503 at once
    /// (`Retry-After`); a full pool is waited for up to `wait`, then 503 too.
    pub(crate) async fn admit(
        &self,
        tenant: &str,
        key: Option<&str>,
        wait: Duration,
    ) -> Result<Admission, ApiError> {
        let what = self.what;
        let busy = |whose: String, n: usize| {
            ApiError::overloaded(
                format!(
                    "{whose} already has {n} {what} call(s) running, its share of the server; \
                     retry in {RETRY_AFTER_SECS} s"
                ),
                RETRY_AFTER_SECS,
            )
        };
        let key_permit = match key {
            Some(k) => Some(
                Self::share(
                    &self.keys,
                    (tenant.to_string(), k.to_string()),
                    self.per_key,
                )
                .try_acquire_owned()
                .map_err(|_| busy(format!("deployment '{k}'"), self.per_key))?,
            ),
            None => None,
        };
        let tenant_permit = Self::share(&self.tenants, tenant.to_string(), self.per_tenant)
            .try_acquire_owned()
            .map_err(|_| busy("this tenant".to_string(), self.per_tenant))?;
        let total_permit =
            match tokio::time::timeout(wait, self.total.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => {
                    return Err(ApiError::overloaded(
                        format!(
                            "every {what} slot of the server stayed busy for {:.1} s; retry in \
                         {RETRY_AFTER_SECS} s",
                            wait.as_secs_f64()
                        ),
                        RETRY_AFTER_SECS,
                    ));
                }
            };
        Ok(Admission {
            what,
            key: key.map(str::to_string),
            _permits: (key_permit, tenant_permit, total_permit),
        })
    }

    /// Run `f` on the blocking pool for `tenant` (and `key`, a deployment), admitted as
    /// [`Pool::admit`] says and answered within `deadline` (see [`Admission::run`]).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        key: Option<&str>,
        deadline: Duration,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        // A long job (a batch file) should not queue for as long as it may run.
        let admission = self
            .admit(tenant, key, deadline.min(MAX_QUEUE_WAIT))
            .await?;
        admission
            .run(deadline.saturating_sub(started.elapsed()), f)
            .await
    }

    /// Slots in use and the pool's size, for /metrics.
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.size - self.total.available_permits(), self.size)
    }

    /// Forget the share of a deployment that is gone (its semaphore is dropped with the last
    /// call still holding it).
    pub(crate) fn forget(&self, tenant: &str, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(tenant.to_string(), key.to_string()));
    }
}

/// Upper bounds of the latency histogram buckets, microseconds (the last bucket is +Inf).
pub(crate) const LATENCY_BUCKETS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// Requests and latency of one deployment (kept across model replacements).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub rows: AtomicU64,
    pub latency_sum_us: AtomicU64,
    /// Per bucket (not cumulative); index `LATENCY_BUCKETS_US.len()` is +Inf.
    pub buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

impl Stats {
    pub(crate) fn record(&self, micros: u64, rows: usize, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| micros <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound, Prometheus style.
    pub(crate) fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut acc = 0;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter().enumerate() {
            acc += b.load(Ordering::Relaxed);
            out.push((LATENCY_BUCKETS_US.get(i).copied(), acc));
        }
        out
    }

    /// Mean server time per call, 0 before the first.
    pub(crate) fn mean_latency_us(&self) -> f64 {
        let requests = self.requests.load(Ordering::Relaxed);
        let sum = self.latency_sum_us.load(Ordering::Relaxed);
        if requests > 0 {
            sum as f64 / requests as f64
        } else {
            0.0
        }
    }

    pub(crate) fn view(&self) -> StatsView {
        StatsView {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            mean_latency_us: self.mean_latency_us(),
            latency_histogram_us: self
                .cumulative()
                .into_iter()
                .map(|(le, count)| LatencyBucket {
                    le: le.map_or(BucketBound::Infinite(Infinite::Inf), BucketBound::Micros),
                    count,
                })
                .collect(),
        }
    }
}

/// A deployment's request counters (kept across model replacements).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StatsView {
    /// Predict and batch calls.
    requests: u64,
    /// Of those, the ones that failed.
    errors: u64,
    /// Rows scored.
    rows: u64,
    /// Mean server time per call, microseconds (0 before the first).
    mean_latency_us: f64,
    /// Cumulative counts per upper bound, Prometheus style.
    latency_histogram_us: Vec<LatencyBucket>,
}

/// Calls that took at most `le` microseconds.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LatencyBucket {
    le: BucketBound,
    count: u64,
}

/// A bucket's upper bound: microseconds, or `"+Inf"` for the last bucket.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum BucketBound {
    /// Microseconds.
    Micros(u64),
    /// No bound.
    Infinite(Infinite),
}

/// The unbounded last bucket.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) enum Infinite {
    #[serde(rename = "+Inf")]
    Inf,
}

/// One side of a deployment's traffic with its own counters: a canary is judged against the
/// model it may replace by these.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TrafficSide {
    /// The model.
    model_id: String,
    role: TrafficRole,
    /// Its share of requests, percent.
    percent: u8,
    /// Calls it answered.
    requests: u64,
    /// Of those, the ones that failed.
    errors: u64,
    /// Mean server time per call, microseconds.
    mean_latency_us: f64,
}

/// `current` without a canary; during one, `canary` (the new model) and `stable` (the one
/// it may replace).
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrafficRole {
    Current,
    Canary,
    Stable,
}

/// One model a deployment serves, with its own counters: a canary is judged against the
/// stable model by these.
pub(crate) struct Served {
    pub model_id: String,
    pub model: LoadedModel,
    pub stats: Arc<Stats>,
}

/// How a deployment's requests reach its models: all to `primary`, or, while a canary runs,
/// `percent`% to `primary` (the newly promoted model) and the rest to `stable` (the model it
/// is replacing, the last of the deployment's history).
pub(crate) struct Route {
    pub primary: Arc<Served>,
    pub stable: Option<Arc<Served>>,
    /// The primary's share, 1–100 (100 when there is no canary).
    pub percent: u8,
    /// Requests routed without a key so far: spreads them evenly (see [`Route::pick`]).
    next: AtomicU64,
    /// The deployment's totals, kept across model changes.
    pub stats: Arc<Stats>,
}

/// Header that pins a caller (a user, a session) to one side of a canary.
pub(crate) const ROUTING_KEY_HEADER: &str = "x-routing-key";

impl Route {
    /// The model that answers a request. With a routing key the side is a hash of the key, so
    /// one caller sees one model for the whole canary; without one, every run of 100 requests
    /// sends exactly `percent` to the canary, evenly spaced (a random draw would let a small
    /// canary see no traffic at all for a while, or a burst).
    pub(crate) fn pick(&self, key: Option<&str>) -> &Arc<Served> {
        let Some(stable) = &self.stable else {
            return &self.primary;
        };
        let to_canary = match key {
            Some(k) => key_bucket(k) < u64::from(self.percent),
            None => spread(self.next.fetch_add(1, Ordering::Relaxed), self.percent),
        };
        if to_canary { &self.primary } else { stable }
    }

    /// The split as the API shows it: each model with its share and its own counters.
    pub(crate) fn traffic(&self) -> Vec<TrafficSide> {
        let side = |s: &Served, role: TrafficRole, percent: u8| TrafficSide {
            model_id: s.model_id.clone(),
            role,
            percent,
            requests: s.stats.requests.load(Ordering::Relaxed),
            errors: s.stats.errors.load(Ordering::Relaxed),
            mean_latency_us: s.stats.mean_latency_us(),
        };
        match &self.stable {
            None => vec![side(&self.primary, TrafficRole::Current, 100)],
            Some(stable) => vec![
                side(&self.primary, TrafficRole::Canary, self.percent),
                side(stable, TrafficRole::Stable, 100 - self.percent),
            ],
        }
    }
}

/// Whether the `n`th unkeyed request goes to a `percent` canary: `percent` of every 100
/// consecutive requests, evenly spaced.
fn spread(n: u64, percent: u8) -> bool {
    let (n, p) = (n % 100, u64::from(percent));
    (n + 1) * p / 100 > n * p / 100
}

/// 0–99 from a routing key; sha256 rather than std's hasher, whose output may change between
/// Rust releases and would reshuffle callers after an upgrade.
fn key_bucket(key: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_le_bytes(first) % 100
}

/// What a deployment record asks serving to do: the primary model, the stable model while a
/// canary runs, and the primary's share.
pub(crate) fn route_plan(d: &DeploymentRecord) -> (String, Option<String>, u8) {
    let percent = d.decision.traffic_percent.clamp(1, 100);
    match d.history.last() {
        // A canary needs something to split with; a first deployment takes all traffic.
        Some(prev) if percent < 100 && prev != &d.model_id => {
            (d.model_id.clone(), Some(prev.clone()), percent)
        }
        _ => (d.model_id.clone(), None, 100),
    }
}

type Key = (String, String);
type ModelKey = (String, String, String);

pub(crate) struct Serving {
    routes: RwLock<HashMap<Key, Arc<Route>>>,
    stats: RwLock<HashMap<Key, Arc<Stats>>>,
    /// Per (tenant, deployment, model) while the model is part of the deployment's route.
    model_stats: RwLock<HashMap<ModelKey, Arc<Stats>>>,
    pub limits: ServingLimits,
    /// Predict and batch scoring, shared per tenant and per deployment.
    pub scoring: Pool,
    /// Upload processing (parsing, hashing, plugin validation and compiling), per tenant.
    pub uploads: Pool,
    /// The last load error [`Serving::sync`] logged per deployment, so a deployment that
    /// cannot load is reported once, not every tick.
    sync_errors: std::sync::Mutex<HashMap<Key, String>>,
}

impl Default for Serving {
    fn default() -> Self {
        Serving::new(ServingLimits::default())
    }
}

impl Serving {
    pub(crate) fn new(limits: ServingLimits) -> Serving {
        Serving {
            routes: RwLock::default(),
            stats: RwLock::default(),
            model_stats: RwLock::default(),
            scoring: Pool::new(
                "scoring",
                limits.threads,
                limits.per_tenant,
                limits.per_deployment,
            ),
            uploads: Pool::new(
                "upload",
                limits.uploads,
                limits.uploads_per_tenant,
                limits.uploads,
            ),
            limits,
            sync_errors: std::sync::Mutex::default(),
        }
    }

    /// Load every tenant's deployments (on start). A deployment whose model cannot be loaded
    /// is logged and left out; its predict calls answer 404 naming the cause in the logs.
    pub(crate) fn restore(&self, app: &App) {
        match app.store.all_deployments() {
            Ok(all) => {
                for (tenant, d) in all {
                    if let Err(e) = self.load(app, &tenant, &d) {
                        tracing::warn!(tenant, deployment = %d.name, error = %e, "deployment not restored");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading deployments"),
        }
    }

    /// Make what this node serves match the store (clusters: a deployment changed by a
    /// pipeline, a promote or a rollback on another node). Unchanged deployments cost one
    /// comparison; a changed one loads its new model before requests switch to it.
    pub(crate) fn sync(&self, app: &App) {
        let Ok(all) = app.store.all_deployments() else {
            return;
        };
        let stored: std::collections::HashSet<Key> = all
            .iter()
            .map(|(t, d)| (t.clone(), d.name.clone()))
            .collect();
        let mut errors = self
            .sync_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (tenant, d) in &all {
            let key = (tenant.clone(), d.name.clone());
            match self.load(app, tenant, d) {
                Ok(()) => {
                    errors.remove(&key);
                }
                Err(e) => {
                    let text = e.to_string();
                    if errors.get(&key) != Some(&text) {
                        tracing::warn!(tenant, deployment = %d.name, error = %text, "deployment not loaded");
                        errors.insert(key, text);
                    }
                }
            }
        }
        drop(errors);
        let gone: Vec<Key> = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .filter(|k| !stored.contains(*k))
            .cloned()
            .collect();
        for (tenant, name) in gone {
            self.reload(app, &tenant, &name);
        }
    }

    /// Bring the in-memory copy of `tenant`'s deployment `name` up to date with the store.
    pub(crate) fn reload(&self, app: &App, tenant: &str, name: &str) {
        let key = (tenant.to_string(), name.to_string());
        match app.store.tenant(tenant).deployment(name) {
            Ok(Some(d)) => {
                if let Err(e) = self.load(app, tenant, &d) {
                    tracing::warn!(tenant, deployment = name, error = %e, "deployment not loaded");
                }
            }
            Ok(None) => {
                self.scoring.forget(tenant, name);
                self.routes
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                self.stats
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                self.model_stats
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|(t, n, _), _| t != tenant || n != name);
            }
            Err(e) => tracing::error!(error = %e, "reading a deployment"),
        }
    }

    /// Load the model(s) of `d` and route its requests to them. Models the deployment already
    /// serves are reused, not decoded again. The primary must load (the caller is told why
    /// not); a stable model that no longer loads ends the canary with a warning, since the new
    /// model is the one the deployment was asked to serve.
    pub(crate) fn load(
        &self,
        app: &App,
        tenant: &str,
        d: &DeploymentRecord,
    ) -> Result<(), ApiError> {
        let key = (tenant.to_string(), d.name.clone());
        let (primary_id, stable_id, percent) = route_plan(d);
        let current = self.get(tenant, &d.name);
        if let Some(r) = &current
            && r.primary.model_id == primary_id
            && r.stable.as_ref().map(|s| &s.model_id) == stable_id.as_ref()
            && r.percent == percent
        {
            return Ok(());
        }
        let loaded = |id: &str| -> Result<Arc<Served>, ApiError> {
            let reuse = current.as_ref().and_then(|r| {
                std::iter::once(&r.primary)
                    .chain(&r.stable)
                    .find(|s| s.model_id == id)
                    .cloned()
            });
            if let Some(s) = reuse {
                return Ok(s);
            }
            let model = load_model(app, tenant, id)?;
            let stats = self
                .model_stats
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((key.0.clone(), key.1.clone(), id.to_string()))
                .or_default()
                .clone();
            Ok(Arc::new(Served {
                model_id: id.to_string(),
                model,
                stats,
            }))
        };
        let primary = loaded(&primary_id)?;
        let (stable, percent) = match stable_id.as_deref().map(loaded) {
            Some(Ok(s)) => (Some(s), percent),
            Some(Err(e)) => {
                tracing::warn!(tenant, deployment = %d.name, error = %e,
                    "the canary's stable model does not load; the new model takes all traffic");
                (None, 100)
            }
            None => (None, 100),
        };
        let stats = self
            .stats
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let in_route: Vec<String> = std::iter::once(&primary)
            .chain(&stable)
            .map(|s| s.model_id.clone())
            .collect();
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key.clone(),
                Arc::new(Route {
                    primary,
                    stable,
                    percent,
                    next: AtomicU64::new(0),
                    stats,
                }),
            );
        // Counters of models that left the route go with them: a later canary of the same
        // model starts from zero instead of mixing in an old run.
        self.model_stats
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(t, n, m), _| t != &key.0 || n != &key.1 || in_route.contains(m));
        Ok(())
    }

    pub(crate) fn get(&self, tenant: &str, name: &str) -> Option<Arc<Route>> {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn stats(&self, tenant: &str, name: &str) -> Option<Arc<Stats>> {
        self.stats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_string(), name.to_string()))
            .cloned()
    }

    /// Every deployment's stats, for /metrics.
    pub(crate) fn all_stats(&self) -> Vec<(Key, Arc<Stats>)> {
        sorted(&self.stats)
    }

    /// Every served model's stats per deployment, for /metrics.
    pub(crate) fn all_model_stats(&self) -> Vec<(ModelKey, Arc<Stats>)> {
        sorted(&self.model_stats)
    }
}

/// A snapshot of a stats map in key order (stable /metrics output).
fn sorted<K: Clone + Ord>(map: &RwLock<HashMap<K, Arc<Stats>>>) -> Vec<(K, Arc<Stats>)> {
    let mut v: Vec<(K, Arc<Stats>)> = map
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Load a tenant's model bundle from the store.
pub(crate) fn load_model(app: &App, tenant: &str, model_id: &str) -> Result<LoadedModel, ApiError> {
    let record = app
        .store
        .tenant(tenant)
        .model(model_id)?
        .ok_or_else(|| ApiError::not_found("model", model_id))?;
    let bytes = app.store.artefacts().get(&record.bundle.sha256)?;
    let bundle =
        Bundle::from_bytes(&bytes, &format!("model {model_id}")).map_err(ApiError::internal)?;
    LoadedModel::from_bundle(bundle, &app.plugins).map_err(ApiError::internal)
}

fn row_error(row: usize, field: &str, detail: String) -> ApiError {
    ApiError::new(ProblemKind::InvalidRows, detail)
        .with("row", row)
        .with("field", field)
}

/// Turn JSON rows into a table typed by the model's input schema. Every row must have exactly
/// the schema's fields: a missing, unknown or mistyped field is an error naming the row and the
/// field. `null` is a missing value.
pub(crate) fn rows_to_table(
    rows: &[Map<String, Value>],
    schema: &Schema,
) -> Result<Table, ApiError> {
    let expected = || {
        schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, row) in rows.iter().enumerate() {
        if let Some(extra) = row.keys().find(|k| schema.column(k).is_none()) {
            return Err(row_error(
                i,
                extra,
                format!(
                    "row {i}: unknown field '{extra}' (the model takes: {})",
                    expected()
                ),
            ));
        }
    }
    let n = rows.len();
    let mut columns = Vec::with_capacity(schema.columns.len());
    for spec in &schema.columns {
        let name = spec.name.as_str();
        let mut validity = vec![true; n];
        let mut value_of = |i: usize| -> Result<Option<&Value>, ApiError> {
            match rows[i].get(name) {
                None => Err(row_error(
                    i,
                    name,
                    format!(
                        "row {i}: missing field '{name}' ({}; send null for a missing value)",
                        spec.dtype
                    ),
                )),
                Some(Value::Null) => {
                    validity[i] = false;
                    Ok(None)
                }
                Some(v) => Ok(Some(v)),
            }
        };
        let mistyped = |i: usize, v: &Value, want: &str| {
            row_error(
                i,
                name,
                format!(
                    "row {i}: field '{name}' must be {want}, got {}",
                    json_type(v)
                ),
            )
        };
        let data = match spec.dtype.as_str() {
            "float64" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => f64::NAN,
                        Some(v) => v.as_f64().ok_or_else(|| mistyped(i, v, "a number"))?,
                    });
                }
                ColumnData::Float64(out)
            }
            "int64" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => 0,
                        Some(v) => match (v.as_i64(), v.as_f64()) {
                            (Some(x), _) => x,
                            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                            _ => return Err(mistyped(i, v, "an integer")),
                        },
                    });
                }
                ColumnData::Int64(out)
            }
            "boolean" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => false,
                        Some(v) => v.as_bool().ok_or_else(|| mistyped(i, v, "true or false"))?,
                    });
                }
                ColumnData::Boolean(out)
            }
            "timestamp" => {
                // Strings are parsed by the same coercion as files; integers are epoch ms.
                let mut texts: Vec<Option<String>> = Vec::with_capacity(n);
                for i in 0..n {
                    texts.push(match value_of(i)? {
                        None => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(v) if v.is_i64() => Some(v.to_string()),
                        Some(v) => {
                            return Err(mistyped(i, v, "a date-time string or epoch milliseconds"));
                        }
                    });
                }
                let refs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
                let col = Column::categorical_from_strs(name, &refs);
                let col = microlearn_data::coerce_to_schema(col, spec).map_err(|e| {
                    ApiError::new(ProblemKind::InvalidRows, e.to_string()).with("field", name)
                })?;
                columns.push(col);
                continue;
            }
            _ => {
                // Categorical (strings): dictionary-encode as the files' reader does, codes
                // in order of first appearance. A map from text to code keeps this linear in
                // the rows (a search of the dictionary made 100k distinct values quadratic).
                let mut dict: Vec<String> = Vec::new();
                let mut index: HashMap<&str, u32> = HashMap::new();
                let mut codes = Vec::with_capacity(n);
                for i in 0..n {
                    codes.push(match value_of(i)? {
                        None => 0,
                        Some(Value::String(s)) => *index.entry(s.as_str()).or_insert_with(|| {
                            dict.push(s.clone());
                            (dict.len() - 1) as u32
                        }),
                        Some(v) => return Err(mistyped(i, v, "a string")),
                    });
                }
                ColumnData::Categorical(Dictionary {
                    codes,
                    dictionary: dict,
                })
            }
        };
        let mut col = Column::new(name, data);
        if validity.iter().any(|v| !v) {
            col.set_validity(validity);
        }
        columns.push(col);
    }
    Table::with_rows(n, columns).map_err(ApiError::internal)
}

fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() <= 40 => format!("string \"{s}\""),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Predictions as JSON objects: `prediction`, then `proba_<label>` per class.
pub(crate) fn scored_json(s: &Scored) -> Vec<Value> {
    let k = s.labels.len();
    (0..s.len())
        .map(|row| {
            let mut obj = Map::with_capacity(1 + k);
            let pred = if s.probabilities.is_some() {
                Value::String(s.prediction_text(row))
            } else {
                number(s.values[row])
            };
            obj.insert("prediction".into(), pred);
            if let Some(p) = &s.probabilities {
                for (label, v) in s.labels.iter().zip(&p[row * k..(row + 1) * k]) {
                    obj.insert(format!("proba_{label}"), number(*v));
                }
            }
            Value::Object(obj)
        })
        .collect()
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A text table (CSV, TSV, NDJSON) cut into pieces of at most `rows` records, each a file of
/// its own: CSV and TSV pieces repeat the header line. Records are found with the readers'
/// quoting rules (a `"` at the start of a field opens a quoted field, `""` inside it is a
/// quote, a quote elsewhere is a character), so a quoted field may span lines. Only one piece
/// is in memory at a time.
pub(crate) struct TextChunks<R> {
    reader: R,
    rows: usize,
    /// The header record (CSV/TSV), read before the first piece.
    header: Option<Vec<u8>>,
    delimited: bool,
    /// `Some(b'\t')` for TSV; CSV's separator is read from its header, as the reader does.
    sep: Option<u8>,
    started: bool,
    done: bool,
}

impl<R: std::io::BufRead> TextChunks<R> {
    /// `sep`: the separator when the format fixes it (TSV), `None` to take it from the header.
    pub(crate) fn new(reader: R, rows: usize, delimited: bool, sep: Option<u8>) -> Self {
        TextChunks {
            reader,
            rows: rows.max(1),
            header: None,
            delimited,
            sep,
            started: false,
            done: false,
        }
    }

    /// One record with its line end, or `None` at the end of the input.
    fn record(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let sep = self.sep.unwrap_or(b',');
        let mut rec = Vec::new();
        let (mut i, mut quoted, mut field_start) = (0, false, true);
        loop {
            if self.reader.read_until(b'\n', &mut rec)? == 0 {
                return Ok((!rec.is_empty()).then_some(rec));
            }
            // NDJSON strings cannot hold a raw line end: every line is a record.
            if !self.delimited {
                return Ok(Some(rec));
            }
            while i < rec.len() {
                let c = rec[i];
                i += 1;
                if quoted {
                    if c == b'"' {
                        if rec.get(i) == Some(&b'"') {
                            i += 1;
                        } else {
                            quoted = false;
                        }
                    }
                    continue;
                }
                match c {
                    b'"' if field_start => quoted = true,
                    b'\n' => return Ok(Some(rec)),
                    c if c == sep => {
                        field_start = true;
                        continue;
                    }
                    _ => {}
                }
                field_start = false;
            }
            // The line ended inside a quoted field: the record goes on.
        }
    }

    /// The separator a CSV header uses: a comma unless it has none outside quotes but has a
    /// `;`, tab or `|` (the readers' rule for `.csv` files).
    fn sniff(header: &[u8]) -> u8 {
        let mut quoted = false;
        let outside: Vec<u8> = header
            .iter()
            .filter(|&&b| {
                quoted ^= b == b'"';
                !quoted
            })
            .copied()
            .collect();
        [b',', b';', b'\t', b'|']
            .into_iter()
            .find(|s| outside.contains(s))
            .unwrap_or(b',')
    }

    /// The next piece and its number of records; the first piece is returned even when the
    /// input has no records, so an empty file is reported by the reader as usual.
    pub(crate) fn next_piece(&mut self) -> std::io::Result<Option<(Vec<u8>, usize)>> {
        if self.done {
            return Ok(None);
        }
        if self.delimited && self.header.is_none() {
            let header = self.record()?.unwrap_or_default();
            self.sep = Some(self.sep.unwrap_or_else(|| Self::sniff(&header)));
            self.header = Some(header);
        }
        let mut piece = self.header.clone().unwrap_or_default();
        let mut n = 0;
        while n < self.rows {
            match self.record()? {
                Some(rec) => {
                    // A header or a last record without a line end still ends its line.
                    if piece.last().is_some_and(|&b| b != b'\n') {
                        piece.push(b'\n');
                    }
                    piece.extend_from_slice(&rec);
                    n += 1;
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        if n == 0 && self.started {
            return Ok(None);
        }
        self.started = true;
        Ok(Some((piece, n)))
    }
}

/// Output formats of batch scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Csv,
    Tsv,
    Json,
    Ndjson,
}

impl OutputFormat {
    pub(crate) fn parse(s: &str) -> Option<OutputFormat> {
        match s {
            "csv" => Some(OutputFormat::Csv),
            "tsv" => Some(OutputFormat::Tsv),
            "json" => Some(OutputFormat::Json),
            "ndjson" => Some(OutputFormat::Ndjson),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Csv => "text/csv",
            OutputFormat::Tsv => "text/tab-separated-values",
            OutputFormat::Json => "application/json",
            OutputFormat::Ndjson => "application/x-ndjson",
        }
    }
}

/// Write one scored piece of a longer output, in the layout `Scored::write` gives a whole
/// file (header or `[` before the first piece, `]` after the last), so scoring in pieces
/// answers byte for byte what scoring the file at once would.
pub(crate) fn write_scored_piece(
    out: &mut impl std::io::Write,
    s: &Scored,
    format: OutputFormat,
    first: bool,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Csv | OutputFormat::Tsv => {
            let sep = if format == OutputFormat::Tsv {
                '\t'
            } else {
                ','
            };
            let field = |t: &str| {
                if t.contains([sep, '"', '\n', '\r']) {
                    format!("\"{}\"", t.replace('"', "\"\""))
                } else {
                    t.to_string()
                }
            };
            let mut text = String::new();
            if first {
                let names: Vec<String> = s.column_names().iter().map(|n| field(n)).collect();
                text.push_str(&names.join(&sep.to_string()));
                text.push('\n');
            }
            let k = s.labels.len();
            for row in 0..s.len() {
                text.push_str(&field(&s.prediction_text(row)));
                if let Some(p) = &s.probabilities {
                    for v in &p[row * k..(row + 1) * k] {
                        text.push(sep);
                        if !v.is_nan() {
                            text.push_str(&v.to_string());
                        }
                    }
                }
                text.push('\n');
            }
            out.write_all(text.as_bytes())
        }
        OutputFormat::Json | OutputFormat::Ndjson => {
            let lines = format == OutputFormat::Ndjson;
            if first && !lines {
                out.write_all(b"[")?;
            }
            for (i, row) in scored_json(s).iter().enumerate() {
                if !lines && (i > 0 || !first) {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, row)?;
                if lines {
                    out.write_all(b"\n")?;
                }
            }
            Ok(())
        }
    }
}

/// Close an output written in pieces.
pub(crate) fn finish_scored(
    out: &mut impl std::io::Write,
    format: OutputFormat,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        out.write_all(b"]\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_core::{ColumnKind, ColumnSchema};

    fn schema() -> Schema {
        let col = |name: &str, dtype: &str| ColumnSchema {
            name: name.into(),
            kind: ColumnKind::Numeric,
            dtype: dtype.into(),
            nullable: true,
            date_order: None,
        };
        Schema {
            columns: vec![
                col("age", "float64"),
                col("n", "int64"),
                col("city", "categorical"),
            ],
        }
    }

    fn rows(v: Value) -> Vec<Map<String, Value>> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| r.as_object().expect("object").clone())
            .collect()
    }

    #[test]
    fn a_canary_gets_its_share_of_every_hundred_requests_evenly_spaced() {
        for percent in [1u8, 10, 25, 33, 50, 99, 100] {
            let picks: Vec<bool> = (0..300).map(|n| spread(n, percent)).collect();
            for hundred in picks.chunks(100) {
                assert_eq!(
                    hundred.iter().filter(|&&c| c).count(),
                    usize::from(percent),
                    "{percent}%"
                );
            }
            // No long run without the canary: the gap is at most ceil(100 / percent).
            let mut gap = 0;
            for &c in &picks {
                gap = if c { 0 } else { gap + 1 };
                assert!(gap <= 100usize.div_ceil(usize::from(percent)), "{percent}%");
            }
        }
        // Keys land on both sides in about the canary's share.
        let hits = (0..10_000)
            .filter(|i| key_bucket(&format!("user-{i}")) < 20)
            .count();
        assert!(
            (1_700..2_300).contains(&hits),
            "{hits} of 10000 keys under 20%"
        );
    }

    #[test]
    fn a_deployment_record_splits_only_with_an_earlier_model() {
        use microlearn_core::stages::{Decision, DeployAction, ServingMode};
        let record = |percent: u8, history: &[&str]| DeploymentRecord {
            name: "d".into(),
            model_id: "new".into(),
            decision: Decision {
                action: DeployAction::Promote("new".into()),
                mode: ServingMode::Rest,
                traffic_percent: percent,
                reason: String::new(),
            },
            history: history.iter().map(|h| h.to_string()).collect(),
            updated_at_ms: 0,
        };
        assert_eq!(
            route_plan(&record(30, &["a", "old"])),
            ("new".into(), Some("old".into()), 30)
        );
        assert_eq!(
            route_plan(&record(100, &["old"])),
            ("new".into(), None, 100)
        );
        // A first deployment, or one whose earlier model is the same, takes all traffic.
        assert_eq!(route_plan(&record(30, &[])), ("new".into(), None, 100));
        assert_eq!(route_plan(&record(30, &["new"])), ("new".into(), None, 100));
        // Out-of-range shares from a stored record are clamped, never a panic.
        assert_eq!(
            route_plan(&record(0, &["old"])),
            ("new".into(), Some("old".into()), 1)
        );
    }

    #[test]
    fn typed_rows_become_a_table_with_nulls_as_missing() {
        let t = rows_to_table(
            &rows(serde_json::json!([
                {"age": 3.5, "n": 2, "city": "Oslo"},
                {"age": null, "n": 4.0, "city": "Rome"},
                {"age": 1, "n": 1, "city": "Oslo"}
            ])),
            &schema(),
        )
        .expect("valid rows");
        assert_eq!(t.num_rows(), 3);
        let age = t.column("age").expect("age");
        assert!(!age.is_valid(1) && age.is_valid(2));
        match &t.column("city").expect("city").data {
            ColumnData::Categorical(d) => {
                assert_eq!(d.codes, vec![0, 1, 0]);
                assert_eq!(d.dictionary, vec!["Oslo", "Rome"]);
            }
            other => panic!("city is {other:?}"),
        }
    }

    #[test]
    fn many_distinct_strings_are_encoded_in_order_of_first_appearance() {
        // 100k rows over 50k distinct cities: a dictionary search per row was quadratic here.
        let n = 100_000;
        let body: Vec<Map<String, Value>> = (0..n)
            .map(|i| {
                let mut row = Map::new();
                row.insert("age".into(), Value::from(1.0));
                row.insert("n".into(), Value::from(1));
                row.insert("city".into(), Value::from(format!("c{}", i % (n / 2))));
                row
            })
            .collect();
        let t = rows_to_table(&body, &schema()).expect("valid rows");
        match &t.column("city").expect("city").data {
            ColumnData::Categorical(d) => {
                assert_eq!(d.dictionary.len(), n / 2);
                assert_eq!(d.dictionary[7], "c7");
                assert!(
                    d.codes
                        .iter()
                        .enumerate()
                        .all(|(i, &c)| c as usize == i % (n / 2))
                );
            }
            other => panic!("city is {other:?}"),
        }
    }

    fn pieces(text: &str, rows: usize, delimited: bool) -> Vec<(String, usize)> {
        let mut chunks = TextChunks::new(
            std::io::Cursor::new(text.as_bytes().to_vec()),
            rows,
            delimited,
            None,
        );
        let mut out = Vec::new();
        while let Some((bytes, n)) = chunks.next_piece().expect("reads") {
            out.push((String::from_utf8(bytes).expect("utf8"), n));
        }
        out
    }

    #[test]
    fn csv_pieces_repeat_the_header_and_keep_quoted_line_ends_inside_a_record() {
        let csv = "a,b\n1,\"x\ny\"\n2,\"say \"\"hi\"\"\"\n3,z";
        assert_eq!(
            pieces(csv, 2, true),
            vec![
                ("a,b\n1,\"x\ny\"\n2,\"say \"\"hi\"\"\"\n".to_string(), 2),
                ("a,b\n3,z".to_string(), 1),
            ]
        );
        // A quote inside an unquoted field is a character; `;` files are split on `;`.
        assert_eq!(
            pieces("h;w\n5'11\";x\n6;\"a;\nb\"\n", 1, true),
            vec![
                ("h;w\n5'11\";x\n".to_string(), 1),
                ("h;w\n6;\"a;\nb\"\n".to_string(), 1),
            ]
        );
        // Exactly full pieces end without an empty one; a header-only file is one empty piece.
        assert_eq!(
            pieces("a\n1\n2\n", 2, true),
            vec![("a\n1\n2\n".to_string(), 2)]
        );
        assert_eq!(pieces("a\n", 2, true), vec![("a\n".to_string(), 0)]);
        // NDJSON has no header and every line is a record.
        assert_eq!(
            pieces("{\"a\":\"\\\"\"}\n{\"a\":2}\n{\"a\":3}\n", 2, false),
            vec![
                ("{\"a\":\"\\\"\"}\n{\"a\":2}\n".to_string(), 2),
                ("{\"a\":3}\n".to_string(), 1),
            ]
        );
    }

    #[test]
    fn output_written_in_pieces_is_the_output_written_at_once() {
        let whole = Scored {
            labels: vec!["no".into(), "yes, \"really\"".into()],
            values: vec![1.0, 0.0, 1.0],
            probabilities: Some(vec![0.25, 0.75, 0.9, 0.1, f64::NAN, 1.0]),
        };
        let part = |rows: std::ops::Range<usize>| Scored {
            labels: whole.labels.clone(),
            values: whole.values[rows.clone()].to_vec(),
            probabilities: whole
                .probabilities
                .as_ref()
                .map(|p| p[rows.start * 2..rows.end * 2].to_vec()),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        for (ext, format) in [
            ("csv", OutputFormat::Csv),
            ("tsv", OutputFormat::Tsv),
            ("json", OutputFormat::Json),
            ("ndjson", OutputFormat::Ndjson),
        ] {
            let path = dir.path().join(format!("p.{ext}"));
            whole.write(&path).expect("writes");
            let mut out = Vec::new();
            write_scored_piece(&mut out, &part(0..2), format, true).expect("piece");
            write_scored_piece(&mut out, &part(2..3), format, false).expect("piece");
            finish_scored(&mut out, format).expect("end");
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                std::fs::read_to_string(&path).expect("reference"),
                "{ext}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pool_refuses_past_a_share_and_times_out_past_the_deadline() {
        let pool = Pool::new("scoring", 2, 2, 1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let long = Duration::from_secs(30);
        // One call holds deployment d's only slot until released.
        let pool = Arc::new(pool);
        let p2 = pool.clone();
        let first = tokio::spawn(async move {
            p2.run("t", Some("d"), Duration::from_millis(300), move || {
                let _ = hold.recv();
                Ok(())
            })
            .await
        });
        while pool.usage().0 == 0 {
            tokio::task::yield_now().await;
        }
        let e = pool
            .run("t", Some("d"), long, || Ok(()))
            .await
            .expect_err("deployment share full");
        assert_eq!(e.kind, ProblemKind::Overloaded);
        // Another deployment of the tenant still runs.
        pool.run("t", Some("e"), long, || Ok(()))
            .await
            .expect("runs");
        let e = first.await.expect("task").expect_err("past its deadline");
        assert_eq!(e.kind, ProblemKind::Timeout);
        assert_eq!(e.kind.status().as_u16(), 504);
        // The timed-out work still holds its slot until it really ends.
        assert_eq!(pool.usage().0, 1);
        release.send(()).expect("release");
        while pool.usage().0 != 0 {
            tokio::task::yield_now().await;
        }
        // A panic is a 500, not a lost answer.
        let e = pool
            .run("t", Some("d"), long, || -> Result<(), ApiError> {
                panic!("boom")
            })
            .await
            .expect_err("panicked");
        assert_eq!(e.kind, ProblemKind::Internal);
    }

    #[test]
    fn missing_extra_and_mistyped_fields_are_named() {
        let err = |v: Value| rows_to_table(&rows(v), &schema()).expect_err("invalid");
        let e = err(serde_json::json!([{"age": 1, "n": 1}]));
        assert_eq!(e.kind, ProblemKind::InvalidRows);
        assert!(e.detail.contains("missing field 'city'"), "{}", e.detail);
        let e = err(serde_json::json!([{"age": 1, "n": 1, "city": "x", "zip": 1}]));
        assert!(e.detail.contains("unknown field 'zip'"), "{}", e.detail);
        let e = err(
            serde_json::json!([{"age": 1, "n": 1, "city": "x"}, {"age": "old", "n": 1, "city": "x"}]),
        );
        assert!(
            e.detail
                .contains("row 1: field 'age' must be a number, got string \"old\""),
            "{}",
            e.detail
        );
        let e = err(serde_json::json!([{"age": 1, "n": 1.5, "city": "x"}]));
        assert!(e.detail.contains("'n' must be an integer"), "{}", e.detail);
        let e = err(serde_json::json!([{"age": 1, "n": 1, "city": 7}]));
        assert!(e.detail.contains("'city' must be a string"), "{}", e.detail);
    }
}

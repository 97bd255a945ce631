//! MicroLearn's REST service (`microlearn serve`): tenants and API keys, dataset uploads,
//! pipelines run in the background on a bounded worker pool (durable: resumed after a restart),
//! models, deployments served from memory, plugins, OpenAPI, health and Prometheus metrics.
//!
//! Everything a tenant owns lives under its key prefix in the store, so another tenant's ids
//! simply are not found (404). Errors are RFC 9457 problem+json with a stable `type` per kind.

mod auth;
pub mod error;
mod extract;
mod jobs;
mod metrics;
pub mod openapi;
mod plugin_sync;
mod queue;
mod quota;
mod routes;
mod serving;
mod trial_queue;
mod upload;

pub use auth::{KEY_PREFIX, LOCAL_TOKEN_PREFIX, hash_key};
pub use error::{ApiError, ProblemKind};
pub use serving::ServingLimits;

use microlearn_plugins::{PluginHost, RuntimeConfig};
use microlearn_store::{DatasetRecord, Quotas, Store, StoreConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The data directory (shared with `microlearn run`).
    pub home: PathBuf,
    /// Plugin folders every tenant sees (first-party, drop-in, configured), later ones winning.
    pub plugin_dirs: Vec<PathBuf>,
    /// Pipelines that run at the same time; more wait in a queue.
    pub workers: usize,
    /// Workers one tenant may occupy at once (default: half of `workers`, rounded up), so one
    /// tenant's queue never holds every worker while another tenant waits.
    pub workers_per_tenant: Option<usize>,
    /// CPU threads the host gives pipelines in all (default: the cores it may use); each
    /// running pipeline gets `cpu_threads / workers`, and a request asking for more is refused.
    pub cpu_threads: usize,
    /// Largest upload (dataset, batch-scoring file, plugin), bytes.
    pub max_upload_bytes: u64,
    /// Largest JSON body (including predict calls), bytes.
    pub max_json_bytes: usize,
    /// Deadline of an ordinary request (uploads, batch scoring and event streams are exempt).
    pub request_timeout: Duration,
    /// An admin key from the configuration; without one, the first start generates one.
    pub admin_key: Option<String>,
    /// Quotas of tenants created without explicit ones (and of the default tenant).
    pub default_quotas: Quotas,
    /// Bounds of the blocking work requests start (predict, batch, uploads) and its deadlines.
    pub serving: ServingLimits,
    /// The plugin runtime's limits and cache: the same `[plugins]` settings `run`, `predict`
    /// and `plugin install` use, for the global host and every tenant's host alike.
    pub runtime: RuntimeConfig,
    /// Where metadata and artefacts live (default: sled and files under `home`).
    pub store: StoreConfig,
    /// The cluster's work queue (`nats://HOST:PORT`); needs shared metadata and blobs.
    pub queue: Option<String>,
    /// What this process does in a cluster.
    pub role: Role,
    /// An API node of a `microlearn run` submitting to a cluster, for that process alone: it
    /// mints and revokes no admin key (the cluster's API nodes own those) and serves no
    /// deployments.
    pub submit_only: bool,
}

/// What a process does: everything (embedded, or a cluster without a work queue, where each
/// node runs the pipelines it accepts), or one side of a cluster with a work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Serve the API and run pipelines.
    #[default]
    Standalone,
    /// Serve the API; pipelines go to the work queue (`microlearn serve` with a queue).
    Api,
    /// Run pipelines from the work queue; no API (`microlearn worker`).
    Worker,
}

impl ServerConfig {
    /// Defaults over `home`.
    pub fn new(home: &Path) -> Self {
        ServerConfig {
            home: home.to_path_buf(),
            plugin_dirs: Vec::new(),
            workers: 1,
            workers_per_tenant: None,
            cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_upload_bytes: 1 << 30,
            max_json_bytes: 8 << 20,
            request_timeout: Duration::from_secs(30),
            admin_key: None,
            default_quotas: Quotas::default(),
            serving: ServingLimits::default(),
            runtime: RuntimeConfig {
                cache_dir: Some(home.join("cache")),
                ..RuntimeConfig::default()
            },
            store: StoreConfig::default(),
            queue: None,
            role: Role::Standalone,
            submit_only: false,
        }
    }
}

/// Shared state of the service; cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("home", &self.inner.config.home)
            .finish_non_exhaustive()
    }
}

/// The state behind [`App`] (fields are the crate's own).
pub struct AppInner {
    config: ServerConfig,
    store: Store,
    plugins: PluginHost,
    /// Hosts of tenants that uploaded plugins: the global folders plus the tenant's own.
    tenant_plugins: RwLock<HashMap<String, PluginHost>>,
    jobs: jobs::Jobs,
    /// Per-tenant gates that make quota checks and commits one step.
    ledger: quota::Ledger,
    serving: serving::Serving,
    metrics: metrics::Metrics,
    /// The cluster's work queue, when there is one.
    queue: Option<Arc<queue::WorkQueue>>,
    /// Where a worker's searches send their trials (the cluster's trial queue).
    trials: Option<Arc<trial_queue::TrialQueue>>,
    /// sha256 of this process's local token ([`Started::local_token`]).
    local_token_sha256: String,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

/// What starting the service produced.
#[derive(Debug)]
pub struct Started {
    /// The state, for [`router`].
    pub app: App,
    /// A freshly generated admin key, to print once (first start without a configured key).
    pub new_admin_key: Option<String>,
    /// Plugin folders that failed to load, with why.
    pub plugin_warnings: Vec<String>,
    /// Pipelines queued again because a previous run of the host left them unfinished.
    pub resumed: Vec<String>,
    /// A credential of this process only, for clients on the same machine that can read its
    /// data directory (the CLI finds it in the runtime file `microlearn serve` writes there):
    /// it acts for the default tenant, without admin rights, until the process ends.
    pub local_token: String,
}

impl App {
    /// Open the store, make sure an admin key exists, load plugins, restore deployments, start
    /// the worker pool and queue every unfinished pipeline again.
    pub fn start(config: ServerConfig) -> anyhow::Result<Started> {
        // Answers never show where the host keeps things.
        for dir in std::iter::once(&config.home)
            .chain(&config.plugin_dirs)
            .chain([&std::env::temp_dir()])
        {
            error::redact_under(dir);
        }
        if config.queue.is_some() {
            anyhow::ensure!(
                config.store.meta.is_some() && config.store.blobs.is_some(),
                "a work queue needs shared metadata and blobs as well (MICROLEARN_META and \
                 MICROLEARN_BLOBS): workers read the pipelines and datasets the API nodes store"
            );
        }
        anyhow::ensure!(
            config.role == Role::Standalone || config.queue.is_some(),
            "an API-only node or a worker needs a work queue (MICROLEARN_QUEUE=nats://HOST:PORT)"
        );
        let store = Store::open_with(&config.home, &config.store).map_err(|e| {
            anyhow::anyhow!(format!(
                "opening the data directory {}: {e}",
                config.home.display()
            ))
        })?;
        // A worker serves no API: it must neither mint an admin key nor revoke the one the
        // API nodes were configured with (a configured key not given here would be).
        let new_admin_key = if config.role == Role::Worker {
            None
        } else if config.submit_only {
            auth::ensure_default_tenant(&store, &config.default_quotas)
                .map_err(|e| anyhow::anyhow!(format!("creating the default tenant: {e}")))?;
            None
        } else {
            auth::bootstrap(&store, config.admin_key.as_deref(), &config.default_quotas)
                .map_err(|e| anyhow::anyhow!(format!("creating the admin key: {e}")))?
        };
        let queue = match &config.queue {
            Some(url) => Some(Arc::new(queue::WorkQueue::connect(url)?)),
            None => None,
        };
        // Workers coordinate searches, and run trials, across the cluster.
        let trials = match (&config.queue, config.role) {
            (Some(url), Role::Worker) => {
                Some(trial_queue::TrialQueue::connect(url, store.clone())?)
            }
            _ => None,
        };
        let plugins = new_plugin_host(&config.runtime)?;
        let report = plugins.scan(&config.plugin_dirs);
        let plugin_warnings = report
            .errors
            .iter()
            .map(|(p, e)| format!("plugin at {} was not loaded: {e}", p.display()))
            .collect();
        let local_token = auth::new_local_token();
        let app = App {
            inner: Arc::new(AppInner {
                local_token_sha256: hash_key(&local_token),
                jobs: jobs::Jobs::new(
                    config
                        .workers_per_tenant
                        .unwrap_or_else(|| config.workers.max(1).div_ceil(2)),
                ),
                ledger: quota::Ledger::default(),
                serving: serving::Serving::new(config.serving.clone()),
                metrics: metrics::Metrics::default(),
                tenant_plugins: RwLock::new(HashMap::new()),
                plugins,
                store,
                queue,
                trials,
                config,
            }),
        };
        sweep_temporary_files(&app.config.home);
        if app.config.role != Role::Worker && !app.config.submit_only {
            app.serving.restore(&app);
        }
        let resumed = jobs::start(&app)?;
        if let (Some(q), Role::Worker) = (&app.queue, app.config.role) {
            q.consume(app.clone(), app.config.workers.max(1))?;
            tracing::info!(queue = %q.describe(), slots = app.config.workers, "worker pulling pipelines");
        }
        if let Some(t) = &app.trials {
            t.consume(app.clone(), app.config.workers.max(1))?;
        }
        Ok(Started {
            app,
            new_admin_key,
            plugin_warnings,
            resumed,
            local_token,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// CPU threads one pipeline may use: an equal share of the host's threads per worker, so
    /// the pipelines running at once never ask for more cores than the host gives them.
    pub fn threads_per_pipeline(&self) -> usize {
        (self.config.cpu_threads / self.config.workers.max(1)).max(1)
    }

    /// The plugin host for `tenant`: the shared one, or the tenant's own when it uploaded
    /// plugins (built on first use by scanning the shared folders and the tenant's folder).
    ///
    /// Every call rescans the host's folders (unchanged plugins are reused), so a plugin
    /// dropped into a plugins folder or installed with `microlearn plugin install` while the
    /// server runs is selectable by the next pipeline, without a restart. Handles already
    /// given to running pipelines keep the version they started with.
    pub fn plugins_for(&self, tenant: &str) -> Result<PluginHost, ApiError> {
        // In a cluster a tenant's uploads may have been accepted by another node.
        if self.store.is_shared() && plugin_sync::sync(self, tenant)? {
            self.reset_plugins(tenant);
        }
        let cached = self
            .tenant_plugins
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        if let Some(h) = cached {
            // The scan logs folders that fail to load; the rest stay usable.
            h.refresh();
            return Ok(h);
        }
        let dir = self.tenant_plugin_dir(tenant);
        if !dir.is_dir() {
            self.plugins.refresh();
            return Ok(self.plugins.clone());
        }
        let host = new_plugin_host(&self.config.runtime).map_err(ApiError::internal)?;
        let mut dirs = self.config.plugin_dirs.clone();
        dirs.push(dir);
        let report = host.scan(&dirs);
        for (p, e) in report.errors {
            tracing::warn!(tenant, path = %p.display(), error = %e, "tenant plugin not loaded");
        }
        self.tenant_plugins
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_string(), host.clone());
        Ok(host)
    }

    /// Forget a tenant's plugin host so the next use rescans (after an upload or removal).
    pub(crate) fn reset_plugins(&self, tenant: &str) {
        self.tenant_plugins
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant);
    }

    /// A tenant's plugin folder.
    pub(crate) fn tenant_plugin_dir(&self, tenant: &str) -> PathBuf {
        self.config
            .home
            .join("tenants")
            .join(tenant)
            .join("plugins")
    }

    /// The readable file of a dataset: its artefact, linked under a name with the format's
    /// extension (the readers choose the format by extension).
    pub(crate) fn dataset_path(&self, d: &DatasetRecord) -> Result<PathBuf, ApiError> {
        let ext =
            microlearn_data::FileFormat::from_extension(&d.format).map_or("csv", |f| f.extension());
        let dir = self.config.home.join("datasets");
        let path = dir.join(format!("{}.{ext}", d.file.sha256));
        if !path.exists() {
            std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
            // Fetched from shared storage (hash checked) when this node has not cached it.
            let src = self.store.artefacts().cached_path(&d.file.sha256)?;
            if std::fs::hard_link(&src, &path).is_err() {
                // No hard links here (another file system): copy beside the final name and
                // rename, so a crash mid-copy never leaves a truncated file under that name
                // for the next run to read as the dataset.
                let mut tmp = tempfile::Builder::new()
                    .prefix(".copy-")
                    .tempfile_in(&dir)
                    .map_err(ApiError::internal)?;
                let mut from = std::fs::File::open(&src)
                    .map_err(|e| ApiError::internal(format!("opening {}: {e}", src.display())))?;
                std::io::copy(&mut from, tmp.as_file_mut())
                    .and_then(|_| tmp.as_file().sync_all())
                    .map_err(|e| ApiError::internal(format!("copying {}: {e}", src.display())))?;
                tmp.persist(&path)
                    .map_err(|e| ApiError::internal(e.error))?;
            }
        }
        Ok(path)
    }

    /// Stop the worker pool: running pipelines are interrupted between trials and stay
    /// unfinished, so the next start resumes them. Blocks until the workers have stopped.
    pub fn shutdown(&self) {
        self.jobs.shutdown();
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "flushing the store on shutdown");
        }
    }
}

/// Remove what a previous process left half-written when it died: upload and plugin staging
/// files under `tmp/`, and interrupted dataset copies. Nothing refers to them (a record is
/// written only once its file is complete), and nothing else is writing them (sled allows one
/// process per data directory).
fn sweep_temporary_files(home: &Path) {
    for (dir, prefixes) in [
        (home.join("tmp"), &[".upload-", ".plugin-", ".scored-"][..]),
        (home.join("datasets"), &[".copy-"][..]),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let path = e.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a temporary file left by an earlier run")
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "removing a leftover temporary file")
                }
            }
        }
    }
}

fn new_plugin_host(runtime: &RuntimeConfig) -> anyhow::Result<PluginHost> {
    PluginHost::new(runtime.clone())
        .map_err(|e| anyhow::anyhow!(format!("starting the plugin runtime: {e}")))
}

/// The HTTP router over `app`.
pub fn router(app: App) -> axum::Router {
    routes::router(app)
}

/// How long open requests may go on after a stop signal before the server closes anyway.
const DRAIN: Duration = Duration::from_secs(5);
/// How long the workers get to reach a safe point (between trials) after a stop signal; a
/// worker still busy then (inside one long plugin call) is left behind: its pipeline's record
/// is unfinished either way, and the next start resumes it.
const WORKER_STOP: Duration = Duration::from_secs(10);

/// Serve on `listener` until `shutdown` resolves, then drain requests and stop the workers,
/// each within a bounded time, so a stop signal ends the process in seconds.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(app.clone());
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let app_signal = app.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("stop signal: interrupting pipelines, draining requests");
        // At once, not after the drain: the drain waits for every open connection, and an
        // event stream stays open while its pipeline runs (the streams end on this flag).
        app_signal.jobs.begin_shutdown();
        let _ = stopping_tx.send(true);
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let drain_over = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN).await;
    };
    let result = tokio::select! {
        r = std::future::IntoFuture::into_future(server) => r,
        () = drain_over => {
            tracing::warn!("requests still open {} s after the stop signal; closing them", DRAIN.as_secs());
            Ok(())
        }
    };
    let app2 = app.clone();
    // Joining the workers blocks; keep it off the async threads.
    let stop = tokio::task::spawn_blocking(move || app2.shutdown());
    if tokio::time::timeout(WORKER_STOP, stop).await.is_err() {
        tracing::warn!(
            "a pipeline worker is still inside a call {} s after the stop signal; leaving it (its pipeline resumes on the next start)",
            WORKER_STOP.as_secs()
        );
        if let Err(e) = app.store.flush() {
            tracing::error!(error = %e, "flushing the store on shutdown");
        }
    }
    result
}

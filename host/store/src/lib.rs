//! Persistence for the embedded default: sled for metadata, content-addressed files for
//! artefacts, under one data directory (`$MICROLEARN_HOME`, default `./microlearn-data`).
//!
//! Every record is one JSON value under one key, so a write is atomic: a crash leaves either the
//! old record or the new one, never half of one. Artefacts are written to a temporary file,
//! fsynced and renamed into place, so a reader never sees a partial file. Keys are prefixed by
//! tenant, and the whole directory carries a schema version so a newer host can migrate an older
//! directory and an older host refuses a newer one.

mod artefacts;
mod backend;
pub mod bridge;
mod error;
mod records;
mod remote;
pub mod testing;

pub use artefacts::{ArtefactRef, ArtefactStore, write_atomic};
pub use error::StoreError;
pub use records::*;

use backend::Backend;
use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The metadata schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The tenant of the embedded single-user default.
pub const DEFAULT_TENANT: &str = "default";

const META_TREE: &str = "meta";
const TENANTS_TREE: &str = "tenants";
const API_KEYS_TREE: &str = "api_keys";
/// Starts of a pipeline that have not returned yet, per `<tenant>/<pipeline>`: a count that
/// survives a crash, so a pipeline that takes the host down every time it runs is failed
/// instead of resumed forever.
const STARTS_TREE: &str = "pipeline_starts";
const SCHEMA_KEY: &[u8] = b"schema_version";
/// Which node runs a pipeline, per `<tenant>/<pipeline>` (clusters only).
const LEASES_TREE: &str = "pipeline_leases";
/// Cancels asked for on one node of a pipeline another node runs, per `<tenant>/<pipeline>`.
const CANCELS_TREE: &str = "pipeline_cancels";
/// The ledger of distributed trials: one result per rung job, the first recorded standing.
const RUNGS_TREE: &str = "trial_rungs";
/// How often each rung job was delivered to a worker (bounds the retries of a job that kills
/// its workers).
const RUNG_DELIVERIES_TREE: &str = "trial_rung_deliveries";
/// Bytes promised to uploads still being read, per tenant and reservation, each with an expiry
/// (a node that dies mid-upload leaves one that lapses rather than holding the quota).
const RESERVATIONS_TREE: &str = "storage_reservations";
/// Tenants' uploaded plugins as published to a cluster (their files as blobs).
const PLUGIN_FILES_TREE: &str = "tenant_plugin_files";
/// Live cluster workers and their trial slots, each under its own expiry.
const NODES_TREE: &str = "cluster_nodes";

/// Where a store keeps its metadata and artefacts. The default (both `None`) is the embedded
/// one: sled and files under the data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// Metadata: `postgres://USER@HOST:PORT/DATABASE`, or `None` for sled in the data directory.
    pub meta: Option<String>,
    /// Artefacts: `file:///SHARED/DIR` or `s3://BUCKET[/PREFIX]?endpoint=…`, or `None` for
    /// files in the data directory. With shared storage the data directory keeps a cache.
    pub blobs: Option<String>,
}

/// The lock file sled takes in `db_path` when another process holds it, probed after sled's
/// open failed. sled reports a held lock only as an I/O error whose text says so; taking the
/// same `flock` ourselves (std's `File::try_lock` is `flock(LOCK_EX | LOCK_NB)` on Unix, as
/// sled's fs2 call is) tells a held lock from a damaged database without matching that text.
/// The probe's lock, if it gets one, is released when the file closes at once.
fn lock_holder(db_path: &Path) -> Option<PathBuf> {
    let lock = db_path.join("db");
    let file = std::fs::OpenOptions::new().read(true).open(&lock).ok()?;
    match file.try_lock() {
        Err(std::fs::TryLockError::WouldBlock) => Some(lock),
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// An open data directory.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    meta: Arc<dyn Backend>,
    artefacts: ArtefactStore,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("meta", &self.meta.describe())
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) the embedded data directory at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(root, &StoreConfig::default())
    }

    /// Open a store: the data directory at `root` (local state, caches) with metadata and
    /// artefacts where `config` says.
    pub fn open_with(root: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let meta: Arc<dyn Backend> = match config.meta.as_deref() {
            None => Arc::new(open_sled(root)?),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Arc::new(backend::postgres::PgBackend::connect(url)?)
            }
            Some(other) => {
                return Err(StoreError::Backend {
                    what: "metadata URL".into(),
                    message: format!(
                        "{other:?} is not a metadata location MicroLearn knows; use \
                         postgres://USER@HOST:PORT/DATABASE, or leave it unset for the \
                         embedded store in the data directory"
                    ),
                });
            }
        };
        let artefacts = match config.blobs.as_deref() {
            None => ArtefactStore::new(root.join("artefacts"))?,
            Some(url) => {
                ArtefactStore::with_remote(root.join("artefacts"), remote::Remote::open(url)?)?
            }
        };
        Ok(Store {
            root: root.to_path_buf(),
            meta,
            artefacts,
        })
    }

    /// Hold `tenant`'s lock across every node sharing this store until the guard drops (quota
    /// checks and the writes they allow, as one step cluster-wide); `None` embedded, where the
    /// process's own locks are enough.
    pub fn lock_tenant(&self, tenant: &str) -> Result<Option<TenantLock>, StoreError> {
        Ok(self
            .meta
            .lock(&format!("tenant:{tenant}"))?
            .map(|guard| TenantLock { _guard: guard }))
    }

    /// Whether other processes share this store's metadata (a cluster): work is then taken
    /// under leases, so exactly one node runs each pipeline.
    pub fn is_shared(&self) -> bool {
        self.meta.shared()
    }

    /// Where the metadata lives, for messages: the sled path or a PostgreSQL URL without its
    /// password.
    pub fn meta_location(&self) -> String {
        self.meta.describe()
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Content-addressed artefact files.
    pub fn artefacts(&self) -> &ArtefactStore {
        &self.artefacts
    }

    /// A view scoped to one tenant: every key it reads or writes is prefixed by the tenant.
    pub fn tenant(&self, tenant: &str) -> TenantStore {
        TenantStore {
            store: self.clone(),
            prefix: format!("{tenant}/"),
        }
    }

    /// Flush everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.meta.flush()
    }

    fn put_global<T: Serialize>(
        &self,
        tree: &'static str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.meta.put(tree, key, encode(tree, value)?)
    }

    fn get_global<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.meta
            .get(tree, key)?
            .map(|bytes| decode_named(tree, &bytes))
            .transpose()
    }

    fn scan_global<T: DeserializeOwned>(&self, tree: &'static str) -> Result<Vec<T>, StoreError> {
        self.meta
            .scan_prefix(tree, "")?
            .into_iter()
            .map(|(_, v)| decode_named(tree, &v))
            .collect()
    }

    fn remove_global(&self, tree: &'static str, key: &str) -> Result<bool, StoreError> {
        self.meta.remove(tree, key)
    }

    /// Save a tenant.
    pub fn put_tenant(&self, t: &TenantRecord) -> Result<(), StoreError> {
        self.put_global(TENANTS_TREE, &t.name, t)
    }

    /// A tenant by name.
    pub fn tenant_record(&self, name: &str) -> Result<Option<TenantRecord>, StoreError> {
        self.get_global(TENANTS_TREE, name)
    }

    /// All tenants, by name.
    pub fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        self.scan_global(TENANTS_TREE)
    }

    /// Remove a tenant record; `false` when there was none.
    pub fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_global(TENANTS_TREE, name)
    }

    /// Save an API key (keyed by the hash of its secret, the lookup every request makes).
    pub fn put_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_global(API_KEYS_TREE, &k.sha256, k)
    }

    /// The key whose secret hashes to `sha256`.
    pub fn api_key_by_hash(&self, sha256: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get_global(API_KEYS_TREE, sha256)
    }

    /// All API keys.
    pub fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.scan_global(API_KEYS_TREE)
    }

    /// Revoke a key by its hash; `false` when there was none.
    pub fn remove_api_key(&self, sha256: &str) -> Result<bool, StoreError> {
        self.remove_global(API_KEYS_TREE, sha256)
    }

    /// Every pipeline of every tenant, as `(tenant, record)` (for resuming after a restart).
    pub fn all_pipelines(&self) -> Result<Vec<(String, PipelineRecord)>, StoreError> {
        self.scan_all_tenants(Kind::Pipeline)
    }

    /// Every deployment of every tenant, as `(tenant, record)` (for restoring serving).
    pub fn all_deployments(&self) -> Result<Vec<(String, DeploymentRecord)>, StoreError> {
        self.scan_all_tenants(Kind::Deployment)
    }

    /// Every dataset of every tenant (to tell whether a shared artefact is still referenced).
    pub fn all_datasets(&self) -> Result<Vec<(String, DatasetRecord)>, StoreError> {
        self.scan_all_tenants(Kind::Dataset)
    }

    /// Every model of every tenant (to tell whether a bundle is still referenced).
    pub fn all_models(&self) -> Result<Vec<(String, ModelRecord)>, StoreError> {
        self.scan_all_tenants(Kind::Model)
    }

    /// Remove everything a tenant owns from the store: every record under its prefix, its
    /// API keys, its tenant record, and the artefact files (dataset files, model bundles) that
    /// no other tenant's record references. Returns the sha256 of every artefact removed, so
    /// the caller can drop what it derived from them (linked dataset files).
    ///
    /// Records go first and files last: a crash midway leaves unreferenced files (garbage,
    /// harmless), never a record pointing at a missing file.
    pub fn purge_tenant(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let t = self.tenant(name);
        let mut candidates: Vec<String> =
            t.datasets()?.into_iter().map(|d| d.file.sha256).collect();
        candidates.extend(t.models()?.into_iter().map(|m| m.bundle.sha256));
        for (_, files) in t.plugin_files::<serde_json::Value>()? {
            for f in files["files"].as_array().into_iter().flatten() {
                if let Some(sha) = f["sha256"].as_str() {
                    candidates.push(sha.to_string());
                }
            }
        }
        candidates.sort();
        candidates.dedup();
        for k in self.api_keys()?.iter().filter(|k| k.tenant == name) {
            self.remove_api_key(&k.sha256)?;
        }
        for tree in Kind::ALL.iter().map(|k| k.tree()).chain([
            STARTS_TREE,
            LEASES_TREE,
            CANCELS_TREE,
            RUNGS_TREE,
            RUNG_DELIVERIES_TREE,
        ]) {
            self.meta.remove_prefix(tree, &t.prefix)?;
        }
        self.remove_tenant(name)?;
        let mut still_used: std::collections::HashSet<String> = self
            .all_datasets()?
            .into_iter()
            .map(|(_, d)| d.file.sha256)
            .collect();
        still_used.extend(self.all_models()?.into_iter().map(|(_, m)| m.bundle.sha256));
        let mut removed = Vec::new();
        for sha in candidates {
            if !still_used.contains(&sha) {
                self.artefacts.remove(&sha)?;
                removed.push(sha);
            }
        }
        Ok(removed)
    }

    /// Announce that cluster worker `node` is alive with `slots` trial slots, until `ttl_ms`
    /// from now unless announced again.
    pub fn announce_node(&self, node: &str, slots: usize, ttl_ms: i64) -> Result<(), StoreError> {
        put_expiring(&*self.meta, NODES_TREE, node, slots as u64, ttl_ms)
    }

    /// A worker stopped: its slots are no longer counted.
    pub fn forget_node(&self, node: &str) -> Result<(), StoreError> {
        self.meta.remove(NODES_TREE, node).map(|_| ())
    }

    /// Trial slots of the cluster's live workers, summed (announcements not yet expired).
    pub fn live_slots(&self) -> Result<usize, StoreError> {
        Ok(sum_live(&*self.meta, NODES_TREE, "")? as usize)
    }

    fn scan_all_tenants<T: DeserializeOwned>(
        &self,
        kind: Kind,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.meta
            .scan_prefix(kind.tree(), "")?
            .into_iter()
            .map(|(key, v)| {
                // Keys are `<tenant>/<id…>`; tenant names never contain '/'.
                let tenant = key.split('/').next().unwrap_or_default().to_string();
                Ok((tenant, decode(kind, &v)?))
            })
            .collect()
    }
}

/// A tenant's cluster-wide lock, held until dropped.
pub struct TenantLock {
    _guard: Box<dyn Send>,
}

impl std::fmt::Debug for TenantLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantLock")
    }
}

/// The records of one tenant.
#[derive(Clone, Debug)]
pub struct TenantStore {
    store: Store,
    prefix: String,
}

/// The sled trees, one per record kind.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Dataset,
    Pipeline,
    Trial,
    Model,
    Deployment,
    Event,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Dataset,
        Kind::Pipeline,
        Kind::Trial,
        Kind::Model,
        Kind::Deployment,
        Kind::Event,
    ];

    fn tree(self) -> &'static str {
        match self {
            Kind::Dataset => "datasets",
            Kind::Pipeline => "pipelines",
            Kind::Trial => "trials",
            Kind::Model => "models",
            Kind::Deployment => "deployments",
            Kind::Event => "events",
        }
    }
}

impl TenantStore {
    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join("/"));
        k
    }

    /// The key prefix of everything under `parts` (`<tenant>/<parts…>/`).
    fn key_prefix(&self, parts: &[&str]) -> String {
        let mut p = self.key(parts);
        if !parts.is_empty() {
            p.push('/');
        }
        p
    }

    fn put<T: Serialize>(&self, kind: Kind, key: &[&str], value: &T) -> Result<(), StoreError> {
        self.store
            .meta
            .put(kind.tree(), &self.key(key), encode(kind.tree(), value)?)
    }

    fn get<T: DeserializeOwned>(&self, kind: Kind, key: &[&str]) -> Result<Option<T>, StoreError> {
        self.store
            .meta
            .get(kind.tree(), &self.key(key))?
            .map(|bytes| decode(kind, &bytes))
            .transpose()
    }

    fn scan<T: DeserializeOwned>(&self, kind: Kind, prefix: &[&str]) -> Result<Vec<T>, StoreError> {
        self.store
            .meta
            .scan_prefix(kind.tree(), &self.key_prefix(prefix))?
            .into_iter()
            .map(|(_, v)| decode(kind, &v))
            .collect()
    }

    /// Save a dataset record.
    pub fn put_dataset(&self, d: &DatasetRecord) -> Result<(), StoreError> {
        self.put(Kind::Dataset, &[d.id.as_str()], d)
    }

    /// A dataset by id.
    pub fn dataset(&self, id: &str) -> Result<Option<DatasetRecord>, StoreError> {
        self.get(Kind::Dataset, &[id])
    }

    /// All datasets.
    pub fn datasets(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        self.scan(Kind::Dataset, &[])
    }

    /// Save a pipeline record (the whole record: status, stages, timestamps).
    pub fn put_pipeline(&self, p: &PipelineRecord) -> Result<(), StoreError> {
        self.put(Kind::Pipeline, &[p.id.as_str()], p)
    }

    /// A pipeline by id.
    pub fn pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StoreError> {
        self.get(Kind::Pipeline, &[id])
    }

    /// All pipelines, oldest first.
    pub fn pipelines(&self) -> Result<Vec<PipelineRecord>, StoreError> {
        let mut all: Vec<PipelineRecord> = self.scan(Kind::Pipeline, &[])?;
        all.sort_by_key(|p| p.created_at_ms);
        Ok(all)
    }

    /// Save a trial (keyed by pipeline and trial number: re-saving a number replaces it, so a
    /// resumed pipeline never duplicates a trial).
    pub fn put_trial(&self, t: &TrialRecord) -> Result<(), StoreError> {
        let n = format!("{:08}", t.number);
        self.put(Kind::Trial, &[t.pipeline_id.as_str(), &n], t)
    }

    /// The trials of a pipeline, by number.
    pub fn trials(&self, pipeline_id: &str) -> Result<Vec<TrialRecord>, StoreError> {
        self.scan(Kind::Trial, &[pipeline_id])
    }

    /// Save a model record.
    pub fn put_model(&self, m: &ModelRecord) -> Result<(), StoreError> {
        self.put(Kind::Model, &[m.id.as_str()], m)
    }

    /// A model by id.
    pub fn model(&self, id: &str) -> Result<Option<ModelRecord>, StoreError> {
        self.get(Kind::Model, &[id])
    }

    /// All models.
    pub fn models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        self.scan(Kind::Model, &[])
    }

    /// Save a deployment.
    pub fn put_deployment(&self, d: &DeploymentRecord) -> Result<(), StoreError> {
        self.put(Kind::Deployment, &[d.name.as_str()], d)
    }

    /// A deployment by name.
    pub fn deployment(&self, name: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        self.get(Kind::Deployment, &[name])
    }

    /// All deployments.
    pub fn deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.scan(Kind::Deployment, &[])
    }

    fn remove(&self, kind: Kind, key: &[&str]) -> Result<bool, StoreError> {
        self.store.meta.remove(kind.tree(), &self.key(key))
    }

    fn remove_prefix(&self, kind: Kind, prefix: &[&str]) -> Result<usize, StoreError> {
        self.store
            .meta
            .remove_prefix(kind.tree(), &self.key_prefix(prefix))
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// Delete a dataset record (the artefact file is the caller's to collect); `false` when
    /// there was none.
    pub fn delete_dataset(&self, id: &str) -> Result<bool, StoreError> {
        self.remove(Kind::Dataset, &[id])
    }

    /// Delete a deployment; `false` when there was none.
    pub fn delete_deployment(&self, name: &str) -> Result<bool, StoreError> {
        self.remove(Kind::Deployment, &[name])
    }

    /// Delete a model record; `false` when there was none.
    pub fn delete_model(&self, id: &str) -> Result<bool, StoreError> {
        self.remove(Kind::Model, &[id])
    }

    /// Delete a pipeline with its trials and events; `false` when there was none.
    pub fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_prefix(Kind::Trial, &[id])?;
        self.remove_prefix(Kind::Event, &[id])?;
        self.clear_starts(id)?;
        self.store.meta.remove(LEASES_TREE, &self.key(&[id]))?;
        self.store.meta.remove(CANCELS_TREE, &self.key(&[id]))?;
        self.remove_rungs(id)?;
        self.remove(Kind::Pipeline, &[id])
    }

    /// Count one more start of a pipeline that has not returned yet (flushed before the run
    /// begins); returns the count including this one. [`Self::clear_starts`] resets it when
    /// the run returns, so what remains counts the runs a crash cut short.
    pub fn note_start(&self, pipeline_id: &str) -> Result<u32, StoreError> {
        self.store
            .meta
            .increment(STARTS_TREE, &self.key(&[pipeline_id]))
    }

    /// Forget a pipeline's unfinished starts (its run returned, however it ended).
    pub fn clear_starts(&self, pipeline_id: &str) -> Result<(), StoreError> {
        self.store
            .meta
            .clear_counter(STARTS_TREE, &self.key(&[pipeline_id]))
    }

    /// Take (or renew) the lease on running a pipeline for `node`, for `ttl_ms`; `false` when
    /// another node holds a lease that has not expired.
    pub fn claim_pipeline(
        &self,
        pipeline_id: &str,
        node: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        self.store
            .meta
            .claim(LEASES_TREE, &self.key(&[pipeline_id]), node, ttl_ms)
    }

    /// Give up `node`'s lease on a pipeline (its run returned).
    pub fn release_pipeline(&self, pipeline_id: &str, node: &str) -> Result<(), StoreError> {
        self.store
            .meta
            .release(LEASES_TREE, &self.key(&[pipeline_id]), node)
    }

    /// Ask whichever node runs a pipeline to cancel it (it checks with every lease renewal).
    pub fn request_cancel(&self, pipeline_id: &str) -> Result<(), StoreError> {
        let at = serde_json::json!({ "at_ms": now_ms() });
        self.store.meta.put(
            CANCELS_TREE,
            &self.key(&[pipeline_id]),
            encode(CANCELS_TREE, &at)?,
        )
    }

    /// Whether a cancel of the pipeline was asked for on any node.
    pub fn cancel_requested(&self, pipeline_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .meta
            .get(CANCELS_TREE, &self.key(&[pipeline_id]))?
            .is_some())
    }

    /// The lease on a pipeline, if any: `(node, expires_at_ms)`.
    pub fn pipeline_lease(&self, pipeline_id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let Some(bytes) = self
            .store
            .meta
            .get(LEASES_TREE, &self.key(&[pipeline_id]))?
        else {
            return Ok(None);
        };
        let lease: backend::Lease = decode_named(LEASES_TREE, &bytes)?;
        Ok(Some((lease.node, lease.expires_at_ms)))
    }

    /// Record the result of one rung job of a distributed trial under `job` (a key naming the
    /// trial, its rung and its parameters), unless one is recorded already; returns the result
    /// that stands. However often a job is delivered and run, its first recorded result is the
    /// only one anybody reads, so a trial is counted once.
    pub fn record_rung<T: Serialize + DeserializeOwned>(
        &self,
        pipeline_id: &str,
        job: &str,
        result: &T,
    ) -> Result<T, StoreError> {
        let key = self.key(&[pipeline_id, job]);
        match self
            .store
            .meta
            .insert_new(RUNGS_TREE, &key, encode(RUNGS_TREE, result)?)?
        {
            None => {
                // Round-tripped so the caller sees what every reader will see.
                let bytes = encode(RUNGS_TREE, result)?;
                decode_named(RUNGS_TREE, &bytes)
            }
            Some(standing) => decode_named(RUNGS_TREE, &standing),
        }
    }

    /// The recorded result of a rung job, if any.
    pub fn rung<T: DeserializeOwned>(
        &self,
        pipeline_id: &str,
        job: &str,
    ) -> Result<Option<T>, StoreError> {
        self.store
            .meta
            .get(RUNGS_TREE, &self.key(&[pipeline_id, job]))?
            .map(|b| decode_named(RUNGS_TREE, &b))
            .transpose()
    }

    /// Every recorded rung result of a pipeline, as `(job, result)` in job order.
    pub fn rungs<T: DeserializeOwned>(
        &self,
        pipeline_id: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let prefix = self.key_prefix(&[pipeline_id]);
        self.store
            .meta
            .scan_prefix(RUNGS_TREE, &prefix)?
            .into_iter()
            .map(|(k, v)| {
                let job = k.strip_prefix(&prefix).unwrap_or(&k).to_string();
                Ok((job, decode_named(RUNGS_TREE, &v)?))
            })
            .collect()
    }

    /// Count one more delivery of a rung job to a worker; returns the count including this one.
    pub fn note_rung_delivery(&self, pipeline_id: &str, job: &str) -> Result<u32, StoreError> {
        self.store
            .meta
            .increment(RUNG_DELIVERIES_TREE, &self.key(&[pipeline_id, job]))
    }

    /// Forget a pipeline's rung ledger and delivery counts (it ended, or was deleted); returns
    /// how many results went.
    pub fn remove_rungs(&self, pipeline_id: &str) -> Result<usize, StoreError> {
        let prefix = self.key_prefix(&[pipeline_id]);
        self.store
            .meta
            .remove_prefix(RUNG_DELIVERIES_TREE, &prefix)?;
        self.store.meta.remove_prefix(RUNGS_TREE, &prefix)
    }

    /// Promise `bytes` of storage to an upload still being read (`id` names the promise), for
    /// `ttl_ms` at most; every node counts it in [`Self::reserved_bytes`] until it is released.
    pub fn reserve_bytes(&self, id: &str, bytes: u64, ttl_ms: i64) -> Result<(), StoreError> {
        put_expiring(
            &*self.store.meta,
            RESERVATIONS_TREE,
            &self.key(&[id]),
            bytes,
            ttl_ms,
        )
    }

    /// Give a promise of storage back (its upload was recorded, or failed).
    pub fn release_bytes(&self, id: &str) -> Result<(), StoreError> {
        self.store
            .meta
            .remove(RESERVATIONS_TREE, &self.key(&[id]))
            .map(|_| ())
    }

    /// Bytes promised to uploads in progress anywhere, not yet lapsed.
    pub fn reserved_bytes(&self) -> Result<u64, StoreError> {
        sum_live(&*self.store.meta, RESERVATIONS_TREE, &self.key_prefix(&[]))
    }

    /// Record an uploaded plugin as published to the cluster (`record` names its files' blobs).
    pub fn put_plugin_files<T: Serialize>(&self, id: &str, record: &T) -> Result<(), StoreError> {
        self.store.meta.put(
            PLUGIN_FILES_TREE,
            &self.key(&[id]),
            encode(PLUGIN_FILES_TREE, record)?,
        )
    }

    /// The tenant's published plugins, as `(id, record)` by id.
    pub fn plugin_files<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        let prefix = self.key_prefix(&[]);
        self.store
            .meta
            .scan_prefix(PLUGIN_FILES_TREE, &prefix)?
            .into_iter()
            .map(|(k, v)| {
                let id = k.strip_prefix(&prefix).unwrap_or(&k).to_string();
                Ok((id, decode_named(PLUGIN_FILES_TREE, &v)?))
            })
            .collect()
    }

    /// Forget a published plugin (removed); `false` when none was recorded.
    pub fn remove_plugin_files(&self, id: &str) -> Result<bool, StoreError> {
        self.store.meta.remove(PLUGIN_FILES_TREE, &self.key(&[id]))
    }

    /// Bytes the tenant stores: its datasets' files and its models' bundles.
    pub fn storage_bytes(&self) -> Result<u64, StoreError> {
        let datasets: u64 = self.datasets()?.iter().map(|d| d.file.size).sum();
        let models: u64 = self.models()?.iter().map(|m| m.bundle.size).sum();
        Ok(datasets + models)
    }

    /// Append an event to a pipeline's log; returns its sequence number.
    pub fn append_event(&self, pipeline_id: &str, e: EventRecord) -> Result<u64, StoreError> {
        let record = serde_json::to_value(&e).map_err(|err| StoreError::Encode {
            what: Kind::Event.tree().into(),
            message: err.to_string(),
        })?;
        self.store
            .meta
            .append(Kind::Event.tree(), &self.key_prefix(&[pipeline_id]), record)
    }

    /// The events of a pipeline with a sequence number above `after`, in order (a range scan:
    /// a live view polling for new events reads only those).
    pub fn events_after(
        &self,
        pipeline_id: &str,
        after: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let start = self.key(&[pipeline_id, &format!("{:020}", after.saturating_add(1))]);
        let mut end = self.key(&[pipeline_id]);
        // '/' + 1 = '0': every key of this pipeline sorts below `<prefix>0`.
        end.push('0');
        self.store
            .meta
            .range(Kind::Event.tree(), &start, &end)?
            .into_iter()
            .map(|(_, v)| decode(Kind::Event, &v))
            .collect()
    }

    /// How many trials a pipeline has recorded (keys only, nothing decoded).
    pub fn trial_count(&self, pipeline_id: &str) -> Result<usize, StoreError> {
        self.store
            .meta
            .count_prefix(Kind::Trial.tree(), &self.key_prefix(&[pipeline_id]))
    }

    /// The events of a pipeline, in order.
    pub fn events(&self, pipeline_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.scan(Kind::Event, &[pipeline_id])
    }
}

/// Open the sled database of a data directory, checking its schema version.
fn open_sled(root: &Path) -> Result<backend::sled::SledBackend, StoreError> {
    let db_path = root.join("meta.sled");
    let db =
        sled::Config::new()
            .path(&db_path)
            .open()
            .map_err(|e| match lock_holder(&db_path) {
                Some(lock) => StoreError::Locked {
                    home: root.to_path_buf(),
                    lock,
                },
                None => StoreError::Open {
                    path: db_path.clone(),
                    message: e.to_string(),
                },
            })?;
    let meta = db.open_tree(META_TREE)?;
    match meta.get(SCHEMA_KEY)? {
        None => {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
        }
        Some(bytes) => {
            let found =
                u32::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "schema version".into(),
                    message: format!("expected 4 bytes, found {}", bytes.len()),
                })?);
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path: root.to_path_buf(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            // Versions below SCHEMA_VERSION would be migrated here, one step at a time;
            // version 1 is the first, so there is nothing to migrate yet.
        }
    }
    Ok(backend::sled::SledBackend::new(db, db_path))
}

fn encode<T: Serialize>(tree: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        what: tree.into(),
        message: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(kind: Kind, bytes: &[u8]) -> Result<T, StoreError> {
    decode_named(kind.tree(), bytes)
}

fn decode_named<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: tree.into(),
        message: e.to_string(),
    })
}

/// An amount that lapses unless written again (a worker's slots, an upload's promised bytes):
/// stored as `{"amount": n, "expires_at_ms": …}`.
fn put_expiring(
    meta: &dyn Backend,
    tree: &'static str,
    key: &str,
    amount: u64,
    ttl_ms: i64,
) -> Result<(), StoreError> {
    let record = serde_json::json!({ "amount": amount, "expires_at_ms": now_ms() + ttl_ms });
    meta.put(tree, key, encode(tree, &record)?)
}

/// The sum of the amounts under `prefix` that have not lapsed (see [`put_expiring`]).
fn sum_live(meta: &dyn Backend, tree: &'static str, prefix: &str) -> Result<u64, StoreError> {
    let now = now_ms();
    let mut total = 0u64;
    for (_, v) in meta.scan_prefix(tree, prefix)? {
        let r: serde_json::Value = decode_named(tree, &v)?;
        if r["expires_at_ms"].as_i64().unwrap_or(0) > now {
            total = total.saturating_add(r["amount"].as_u64().unwrap_or(0));
        }
    }
    Ok(total)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;

//! Quotas checked and charged in one step.
//!
//! A check that reads usage and a write that adds to it, done apart, let two concurrent
//! requests both see room for one and both commit. Every path that adds to a tenant's usage
//! therefore holds the tenant's [`TenantGate`] across its check and its commit. Work that is
//! slow (parsing an uploaded table) does not hold the gate: it takes a [`StorageReservation`]
//! under the gate instead, which counts as used until the record is written and is given back
//! when the request fails (on drop).

use crate::App;
use crate::error::{ApiError, ApiResult, ProblemKind};
use microlearn_store::{TenantRecord, TenantStore};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OwnedMutexGuard;

/// One gate and one reservation counter per tenant.
#[derive(Default)]
pub(crate) struct Ledger {
    tenants: Mutex<HashMap<String, Arc<TenantLedger>>>,
}

#[derive(Default)]
struct TenantLedger {
    /// Held across check + commit. An async mutex: some commits load a model or install a
    /// plugin on a blocking thread while holding it.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Bytes promised to uploads still being read and parsed.
    reserved_bytes: AtomicU64,
}

impl Ledger {
    fn of(&self, tenant: &str) -> Arc<TenantLedger> {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }
}

/// The tenant's gate, held; with the tenant's record as read under it.
pub(crate) struct TenantGate {
    /// The same gate across the nodes of a cluster (a PostgreSQL advisory lock); `None`
    /// embedded. Both are released when the gate drops, after the work they guarded.
    _cluster: Option<microlearn_store::TenantLock>,
    _guard: OwnedMutexGuard<()>,
    ledger: Arc<TenantLedger>,
    /// The tenant (its quotas) as read once the gate was held.
    pub(crate) record: TenantRecord,
}

impl App {
    /// Hold `tenant`'s gate. A tenant deleted while the request was on its way answers 401:
    /// its keys are gone, and nothing may be created under its name.
    pub(crate) async fn gate(&self, tenant: &str) -> ApiResult<TenantGate> {
        let ledger = self.ledger.of(tenant);
        let guard = ledger.gate.clone().lock_owned().await;
        // Then the cluster-wide one (it waits for another node's holder, so off the async
        // threads). Taking the local gate first keeps one waiter per tenant per node.
        let store = self.store.clone();
        let name = tenant.to_string();
        let cluster = tokio::task::spawn_blocking(move || store.lock_tenant(&name))
            .await
            .map_err(ApiError::internal)??;
        self.gate_held(tenant, ledger, guard, cluster)
    }

    /// [`App::gate`] for a thread outside the async runtime (a pipeline or trial worker).
    pub(crate) fn gate_blocking(&self, tenant: &str) -> ApiResult<TenantGate> {
        let ledger = self.ledger.of(tenant);
        let guard = ledger.gate.clone().blocking_lock_owned();
        let cluster = self.store.lock_tenant(tenant)?;
        self.gate_held(tenant, ledger, guard, cluster)
    }

    fn gate_held(
        &self,
        tenant: &str,
        ledger: Arc<TenantLedger>,
        guard: OwnedMutexGuard<()>,
        cluster: Option<microlearn_store::TenantLock>,
    ) -> ApiResult<TenantGate> {
        let record = self.store.tenant_record(tenant)?.ok_or_else(|| {
            ApiError::new(
                ProblemKind::Unauthorized,
                format!("tenant '{tenant}' no longer exists"),
            )
        })?;
        Ok(TenantGate {
            _cluster: cluster,
            _guard: guard,
            ledger,
            record,
        })
    }
}

/// How long a cluster-wide storage promise lasts: longer than any upload takes to read and
/// parse, short enough that a node dying mid-upload does not hold the quota for long.
const RESERVATION_TTL_MS: i64 = 15 * 60 * 1000;

/// Bytes counted as used until dropped (the record that stores them is written by then, so
/// they count twice for a moment, never zero times).
pub(crate) struct StorageReservation {
    ledger: Arc<TenantLedger>,
    bytes: u64,
    /// In a cluster the promise is in the shared metadata, so every node counts it.
    shared: Option<(TenantStore, String)>,
}

impl Drop for StorageReservation {
    fn drop(&mut self) {
        match self.shared.take() {
            Some((tenant, id)) => {
                if let Err(e) = tenant.release_bytes(&id) {
                    // It lapses on its own (RESERVATION_TTL_MS).
                    tracing::warn!(tenant = %tenant.name(), error = %e, "releasing a storage reservation");
                }
            }
            None => {
                self.ledger
                    .reserved_bytes
                    .fetch_sub(self.bytes, Ordering::SeqCst);
            }
        }
    }
}

/// Bytes a tenant stores: datasets, model bundles, uploaded plugins, and (in a cluster) the
/// out-of-fold predictions its running pipelines' trials hold until they end.
pub(crate) fn storage_used(app: &App, tenant: &str) -> ApiResult<u64> {
    let t = app.store.tenant(tenant);
    let mut used = t.storage_bytes()? + dir_bytes(&app.tenant_plugin_dir(tenant));
    if app.store.is_shared() {
        for p in t.pipelines()? {
            if !p.status.is_terminal() {
                used += microlearn_pipeline::trial_ledger_bytes(&app.store, tenant, &p.id)?;
            }
        }
    }
    Ok(used)
}

/// The tenant's storage quota as the engine asks it: before each model bundle and each
/// trial's out-of-fold predictions it writes, under the same gate and reservations as
/// uploads, so a running pipeline cannot pass the quota and a concurrent upload cannot take
/// the room it was promised.
pub(crate) struct QuotaGate(pub(crate) App);

impl microlearn_pipeline::StorageGate for QuotaGate {
    fn reserve(
        &self,
        tenant: &str,
        bytes: u64,
        what: &str,
    ) -> Result<microlearn_pipeline::StoragePromise, String> {
        let gate = self.0.gate_blocking(tenant).map_err(|e| e.detail)?;
        let promise = gate
            .reserve_storage(&self.0, bytes, what)
            .map_err(|e| e.detail)?;
        Ok(microlearn_pipeline::StoragePromise::new(promise))
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

impl TenantGate {
    /// Bytes promised to uploads in progress: on this node, or (in a cluster) on any node.
    fn reserved(&self, app: &App) -> ApiResult<u64> {
        if app.store.is_shared() {
            Ok(app.store.tenant(&self.record.name).reserved_bytes()?)
        } else {
            Ok(self.ledger.reserved_bytes.load(Ordering::SeqCst))
        }
    }

    /// Refuse (403) unless `bytes` more fit the storage quota, counting what other requests
    /// have reserved; the caller holds the returned reservation until its record is written.
    pub(crate) fn reserve_storage(
        &self,
        app: &App,
        bytes: u64,
        what: &str,
    ) -> ApiResult<StorageReservation> {
        let tenant = &self.record.name;
        if let Some(quota) = self.record.quotas.storage_bytes {
            let used = storage_used(app, tenant)? + self.reserved(app)?;
            tracing::debug!(tenant, used, bytes, quota, "storage quota check");
            if used.saturating_add(bytes) > quota {
                return Err(ApiError::new(
                    ProblemKind::QuotaExceeded,
                    format!(
                        "storing this {bytes}-byte {what} would exceed the tenant's storage quota ({used} of {quota} bytes used)"
                    ),
                )
                .with("quota", "storage_bytes")
                .with("limit", quota));
            }
        }
        let shared = if app.store.is_shared() {
            let t = app.store.tenant(tenant);
            let id = format!(
                "{}-{}",
                app.jobs.node(),
                hex::encode(rand::random::<[u8; 8]>())
            );
            t.reserve_bytes(&id, bytes, RESERVATION_TTL_MS)?;
            Some((t, id))
        } else {
            self.ledger
                .reserved_bytes
                .fetch_add(bytes, Ordering::SeqCst);
            None
        };
        Ok(StorageReservation {
            ledger: self.ledger.clone(),
            bytes,
            shared,
        })
    }

    /// Refuse (403) when the storage quota is already used up: a pipeline writes model
    /// bundles, so it may not start without room for them.
    pub(crate) fn check_storage_left(&self, app: &App) -> ApiResult<()> {
        if let Some(quota) = self.record.quotas.storage_bytes {
            let used = storage_used(app, &self.record.name)? + self.reserved(app)?;
            if used >= quota {
                return Err(ApiError::new(
                    ProblemKind::QuotaExceeded,
                    format!(
                        "the tenant's storage quota is used up ({used} of {quota} bytes); a pipeline needs room for its model bundles: delete datasets or models first"
                    ),
                )
                .with("quota", "storage_bytes")
                .with("limit", quota));
            }
        }
        Ok(())
    }

    /// Refuse (403) when deployment `name` would be one more than the quota allows. The names
    /// in use are the deployments recorded plus the ones that queued or running pipelines
    /// will deploy to: a pipeline's deploying stage creates its deployment, so the slot is
    /// taken when the pipeline is accepted.
    pub(crate) fn check_deployment(&self, tenant: &TenantStore, name: &str) -> ApiResult<()> {
        let Some(limit) = self.record.quotas.deployments else {
            return Ok(());
        };
        let names = deployment_names_in_use(tenant)?;
        if !names.contains(name) && names.len() >= limit as usize {
            return Err(ApiError::new(
                ProblemKind::QuotaExceeded,
                format!(
                    "deployment '{name}' would make {} deployments, over the tenant's quota of {limit} (in use, deployed or named by a queued or running pipeline: {}); delete one or deploy under a name in use",
                    names.len() + 1,
                    sorted(&names).join(", ")
                ),
            )
            .with("quota", "deployments")
            .with("limit", limit));
        }
        Ok(())
    }

    /// Refuse (429) when the tenant already has as many pipelines queued or running as its
    /// quota allows.
    pub(crate) fn check_pipeline_slot(&self, tenant: &TenantStore) -> ApiResult<()> {
        let Some(limit) = self.record.quotas.concurrent_pipelines else {
            return Ok(());
        };
        let active = tenant
            .pipelines()?
            .iter()
            .filter(|p| !p.status.is_terminal())
            .count();
        if active >= limit as usize {
            return Err(ApiError::new(
                ProblemKind::TooManyPipelines,
                format!("the tenant already has {active} pipelines queued or running (quota {limit}); wait for one to end or cancel one"),
            )
            .with("quota", "concurrent_pipelines")
            .with("limit", limit));
        }
        Ok(())
    }

    /// Refuse (403) a plugin upload that would be one more than the quota allows (`replacing`
    /// an installed plugin of the tenant takes no new slot).
    pub(crate) fn check_plugin_slot(&self, installed: &[String], id: &str) -> ApiResult<()> {
        let Some(limit) = self.record.quotas.plugins else {
            return Ok(());
        };
        if !installed.iter().any(|i| i == id) && installed.len() >= limit as usize {
            return Err(ApiError::new(
                ProblemKind::QuotaExceeded,
                format!(
                    "the tenant has {} uploaded plugins, its quota is {limit}; remove one first",
                    installed.len()
                ),
            )
            .with("quota", "plugins")
            .with("limit", limit));
        }
        Ok(())
    }
}

/// Deployments recorded, plus those named by the tenant's queued or running pipelines.
pub(crate) fn deployment_names_in_use(tenant: &TenantStore) -> ApiResult<HashSet<String>> {
    let mut names: HashSet<String> = tenant.deployments()?.into_iter().map(|d| d.name).collect();
    for p in tenant.pipelines()? {
        if !p.status.is_terminal()
            && let Some(d) = p.deployment
        {
            names.insert(d);
        }
    }
    Ok(names)
}

fn sorted(names: &HashSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

//! A tenant's uploaded plugins on every node of a cluster. The node that accepts an upload
//! installs it in its own data directory as always, then publishes the plugin folder's files
//! as content-addressed blobs with a record in the shared metadata. Any node about to use the
//! tenant's plugins (an API node listing them, a worker running a pipeline or a trial) first
//! brings its copy in line with the records: missing or changed plugins are fetched (every
//! file hash-checked) into a staging folder and swapped in, and plugins removed elsewhere are
//! removed here. Only folders this module wrote (they carry a stamp file) are ever touched.

use crate::App;
use crate::error::ApiError;
use sha2::Digest;
use std::path::Path;

/// The file in a synced plugin folder naming the record it came from.
const STAMP: &str = ".cluster-stamp";

/// One file of a published plugin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PluginFile {
    name: String,
    sha256: String,
}

/// A published plugin: its files, and a stamp that changes with any of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PublishedPlugin {
    files: Vec<PluginFile>,
    stamp: String,
}

/// A file name a record may hold: one plain component, no hidden or parent entries.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

/// Publish the installed plugin folder `dir` (plugin `id` of `tenant`) to the cluster.
pub(crate) fn publish(app: &App, tenant: &str, id: &str, dir: &Path) -> Result<(), ApiError> {
    let mut files = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(ApiError::internal)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| plain(n))
        .collect();
    names.sort();
    let mut stamp = sha2::Sha256::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).map_err(ApiError::internal)?;
        let sha256 = app.store.artefacts().put(&bytes)?.sha256;
        stamp.update(format!("{name}\0{sha256}\0").as_bytes());
        files.push(PluginFile { name, sha256 });
    }
    let record = PublishedPlugin {
        files,
        stamp: hex::encode(stamp.finalize()),
    };
    std::fs::write(dir.join(STAMP), &record.stamp).map_err(ApiError::internal)?;
    app.store
        .tenant(tenant)
        .put_plugin_files(id, &record)
        .map_err(ApiError::from)
}

/// Bring this node's copy of `tenant`'s uploaded plugins in line with the cluster's records;
/// `true` when anything changed (the tenant's plugin host must rescan).
pub(crate) fn sync(app: &App, tenant: &str) -> Result<bool, ApiError> {
    let records: Vec<(String, PublishedPlugin)> = app.store.tenant(tenant).plugin_files()?;
    let dir = app.tenant_plugin_dir(tenant);
    let mut changed = false;
    for (id, record) in &records {
        if !plain(id) {
            continue;
        }
        let target = dir.join(id);
        let have = std::fs::read_to_string(target.join(STAMP)).ok();
        if have.as_deref() == Some(record.stamp.as_str()) {
            continue;
        }
        if target.exists() && have.is_none() {
            // Installed here by hand (`microlearn plugin install`): not ours to replace.
            continue;
        }
        fetch(app, &dir, id, record)?;
        changed = true;
    }
    // Removed on another node: gone here too.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().join(STAMP).is_file() && !records.iter().any(|(id, _)| *id == name) {
                std::fs::remove_dir_all(e.path()).map_err(ApiError::internal)?;
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// Fetch one plugin's files into a staging folder (in the data directory's `tmp`, on the same
/// file system, so the swap is a rename), then swap it in.
fn fetch(app: &App, dir: &Path, id: &str, record: &PublishedPlugin) -> Result<(), ApiError> {
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let tmp = app.config.home.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(ApiError::internal)?;
    let staging = tempfile::Builder::new()
        .prefix(".plugin-sync-")
        .tempdir_in(&tmp)
        .map_err(ApiError::internal)?;
    for f in &record.files {
        if !plain(&f.name) {
            return Err(ApiError::internal(format!(
                "plugin '{id}' names a file '{}' that is not a plain name",
                f.name
            )));
        }
        // Hash-checked by the store on the way in.
        let bytes = app.store.artefacts().get(&f.sha256)?;
        std::fs::write(staging.path().join(&f.name), bytes).map_err(ApiError::internal)?;
    }
    std::fs::write(staging.path().join(STAMP), &record.stamp).map_err(ApiError::internal)?;
    let target = dir.join(id);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(ApiError::internal)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &target).map_err(ApiError::internal)?;
    tracing::info!(plugin = %id, "fetched a tenant plugin published on another node");
    Ok(())
}

//! [`PluginHost`]: the registry of installed plugins and the entry point of the runtime.

use crate::config::{CallLimits, RuntimeConfig};
use crate::engine::{CompileSource, Runtime};
use crate::error::PluginError;
use crate::handles::{AnyHandle, DeployerHandle, EvaluatorHandle, PreparerHandle, SelectorHandle};
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestLimits, sha256_hex};
use crate::plugin::{FileStamp, LoadRequest, Loaded};
use microlearn_core::stages::{PluginInfo, PluginKind};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Loads, checks, registers and hands out plugins. Cheap to clone (an `Arc` inside) and shared
/// by every thread that runs trials.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    runtime: Arc<Runtime>,
    config: RuntimeConfig,
    /// Installed plugins by (kind, id).
    registry: RwLock<HashMap<(PluginKind, String), Arc<Loaded>>>,
    /// Manifest-less components (from model bundles) by (kind, sha256).
    bundled: Mutex<HashMap<(PluginKind, String), Arc<Loaded>>>,
    /// The folders the last [`PluginHost::scan`] covered, rescanned by
    /// [`PluginHost::refresh`].
    scanned: Mutex<Vec<PathBuf>>,
    /// Plugin folders registered one by one ([`PluginHost::register_folder`],
    /// [`PluginHost::install`]) that a rescan must keep even when they lie outside the scanned
    /// folders. Dropped once their folder is gone.
    pinned: Mutex<Vec<PathBuf>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("pooling", &self.inner.runtime.pooling)
            .field("plugins", &self.list().len())
            .finish_non_exhaustive()
    }
}

/// What a registry scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Plugins now registered from this scan (after overrides), sorted by kind and id.
    pub loaded: Vec<PluginInfo>,
    /// Folders that could not be loaded, each with why. The rest of the scan is unaffected.
    pub errors: Vec<(PathBuf, PluginError)>,
}

/// An installed plugin, for listings (`microlearn plugin list`, the dashboard's plugins page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledPlugin {
    /// What `describe` returned.
    pub info: PluginInfo,
    /// The manifest (absent for components loaded from bytes).
    pub manifest: Option<Manifest>,
    /// The plugin folder.
    pub dir: Option<PathBuf>,
    /// The component file.
    pub component_path: Option<PathBuf>,
    /// Lowercase hex sha256 of the component.
    pub sha256: String,
    /// Component size, bytes.
    pub size_bytes: u64,
    /// Effective memory cap, MiB.
    pub memory_mib: u64,
    /// Effective deadline of work calls, milliseconds.
    pub timeout_ms: u64,
}

impl InstalledPlugin {
    fn of(p: &Loaded) -> InstalledPlugin {
        InstalledPlugin {
            info: p.info.clone(),
            manifest: p.manifest.clone(),
            dir: p.dir.clone(),
            component_path: p.component_path.clone(),
            sha256: p.sha256.clone(),
            size_bytes: p.bytes.len() as u64,
            memory_mib: p.limits.memory_mib,
            timeout_ms: p.limits.timeout.as_millis() as u64,
        }
    }
}

impl PluginHost {
    /// Set up the engine (pooling allocator when configured and possible), the epoch ticker and
    /// the cache folder. No plugin is loaded yet; see [`PluginHost::scan`].
    pub fn new(config: RuntimeConfig) -> Result<PluginHost, PluginError> {
        config
            .validate()
            .map_err(|message| PluginError::Engine { message })?;
        let runtime = Arc::new(Runtime::new(&config)?);
        tracing::debug!(pooling = runtime.pooling, "plugin runtime ready");
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                runtime,
                config,
                registry: RwLock::new(HashMap::new()),
                bundled: Mutex::new(HashMap::new()),
                scanned: Mutex::new(Vec::new()),
                pinned: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The configuration this host runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Whether the pooling instance allocator is in use (it is off when configured off, or when
    /// it could not reserve its address space and the host fell back).
    pub fn pooling_active(&self) -> bool {
        self.inner.runtime.pooling
    }

    /// Load every plugin folder (`<dir>/<id>/plugin.toml`) of each of `dirs`, in order, and
    /// make the registry exactly what they hold (plus folders registered one by one with
    /// [`PluginHost::register_folder`] or [`PluginHost::install`] that still exist). A plugin
    /// from a later dir replaces one with the same kind and id from an earlier dir (with a
    /// warning). A broken plugin is reported in `errors` and skipped; a missing dir is reported
    /// too. Folders whose name starts with `.` are ignored (they are in-progress installs).
    ///
    /// The folders are remembered for [`PluginHost::refresh`]. A plugin whose manifest and
    /// component bytes are unchanged since the last scan is reused as it is (no new type-check
    /// or `describe`), so rescanning costs little more than reading and hashing the files.
    ///
    /// Handles already handed out keep the plugin version they were created from: removing or
    /// replacing a plugin on disk never changes what a running pipeline calls.
    pub fn scan(&self, dirs: &[PathBuf]) -> ScanReport {
        *self
            .inner
            .scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = dirs.to_vec();
        // Previously loaded plugins by folder, to reuse the unchanged ones.
        let previous: HashMap<PathBuf, Arc<Loaded>> = self
            .inner
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(|p| p.dir.clone().map(|d| (d, p.clone())))
            .collect();
        let mut report = ScanReport::default();
        let mut found: HashMap<(PluginKind, String), Arc<Loaded>> = HashMap::new();
        let mut seen_folders = std::collections::HashSet::new();
        let add = |folder: PathBuf,
                   require_id_name: bool,
                   found: &mut HashMap<(PluginKind, String), Arc<Loaded>>,
                   report: &mut ScanReport| {
            match self.load_folder_reusing(&folder, require_id_name, &previous) {
                Ok(plugin) => {
                    let key = (plugin.info.kind, plugin.info.id.clone());
                    if let Some(previous) = found.get(&key) {
                        tracing::warn!(
                            plugin = %plugin.info.id,
                            kind = %plugin.info.kind,
                            replaced = %previous.dir.as_deref().unwrap_or(Path::new("?")).display(),
                            by = %folder.display(),
                            "a plugin from a later folder overrides an earlier one"
                        );
                    }
                    found.insert(key, plugin);
                }
                Err(e) => {
                    tracing::warn!(folder = %folder.display(), error = %e, "plugin not loaded");
                    report.errors.push((folder, e));
                }
            }
        };
        for dir in dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) => {
                    report.errors.push((dir.clone(), PluginError::io(dir, e)));
                    continue;
                }
            };
            let mut folders: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            folders.sort();
            for folder in folders {
                if !folder.join(MANIFEST_FILE).is_file() {
                    tracing::debug!(folder = %folder.display(), "no plugin.toml; not a plugin");
                    continue;
                }
                seen_folders.insert(canonical(&folder));
                add(folder, true, &mut found, &mut report);
            }
        }
        // Folders registered one by one come last (they were installed explicitly, so they
        // win), unless a scanned folder already covered them; vanished ones are forgotten.
        let pinned: Vec<PathBuf> = {
            let mut pinned = self
                .inner
                .pinned
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pinned.retain(|f| f.join(MANIFEST_FILE).is_file());
            pinned.clone()
        };
        for folder in pinned {
            if seen_folders.insert(canonical(&folder)) {
                add(folder, false, &mut found, &mut report);
            }
        }

        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for (key, plugin) in &found {
            report.loaded.push(plugin.info.clone());
            if !registry
                .get(key)
                .is_some_and(|old| Arc::ptr_eq(old, plugin))
            {
                tracing::debug!(plugin = %key.1, kind = %key.0, "plugin registered");
            }
        }
        for key in registry.keys() {
            if !found.contains_key(key) {
                tracing::info!(plugin = %key.1, kind = %key.0, "plugin no longer installed; unregistered");
            }
        }
        *registry = found;
        report
            .loaded
            .sort_by(|a, b| (a.kind.as_str(), &a.id).cmp(&(b.kind.as_str(), &b.id)));
        report
    }

    /// Rescan the folders of the last [`PluginHost::scan`], so plugins dropped into (or
    /// removed from) them since become (or stop being) selectable, without a restart. Cheap
    /// when nothing changed; call it before starting a pipeline.
    pub fn refresh(&self) -> ScanReport {
        let dirs = self
            .inner
            .scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.scan(&dirs)
    }

    /// The folders the last scan covered (what [`PluginHost::refresh`] rescans).
    pub fn scanned_dirs(&self) -> Vec<PathBuf> {
        self.inner
            .scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Load one plugin folder (manifest, hash, compile, type-check, describe) and register it.
    pub fn register_folder(&self, folder: &Path) -> Result<InstalledPlugin, PluginError> {
        let plugin = Arc::new(self.load_folder(folder, false)?);
        let installed = InstalledPlugin::of(&plugin);
        self.pin(folder);
        self.inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((plugin.info.kind, plugin.info.id.clone()), plugin);
        Ok(installed)
    }

    /// Every registered plugin, sorted by kind and id.
    pub fn list(&self) -> Vec<InstalledPlugin> {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<InstalledPlugin> =
            registry.values().map(|p| InstalledPlugin::of(p)).collect();
        out.sort_by(|a, b| {
            (a.info.kind.as_str(), &a.info.id).cmp(&(b.info.kind.as_str(), &b.info.id))
        });
        out
    }

    fn lookup(&self, kind: PluginKind, id: &str) -> Result<Arc<Loaded>, PluginError> {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = registry.get(&(kind, id.to_string())) {
            return Ok(p.clone());
        }
        let mut available: Vec<String> = registry
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| id.clone())
            .collect();
        available.sort();
        Err(PluginError::NotFound {
            id: id.to_string(),
            kind,
            available,
        })
    }

    /// The installed preparer `id`.
    pub fn preparer(&self, id: &str) -> Result<PreparerHandle, PluginError> {
        match AnyHandle::new(self.lookup(PluginKind::Preparer, id)?) {
            AnyHandle::Preparer(h) => Ok(h),
            other => Err(world_bug(id, PluginKind::Preparer, &other)),
        }
    }

    /// The installed selector `id`.
    pub fn selector(&self, id: &str) -> Result<SelectorHandle, PluginError> {
        match AnyHandle::new(self.lookup(PluginKind::Selector, id)?) {
            AnyHandle::Selector(h) => Ok(h),
            other => Err(world_bug(id, PluginKind::Selector, &other)),
        }
    }

    /// The installed evaluator `id`.
    pub fn evaluator(&self, id: &str) -> Result<EvaluatorHandle, PluginError> {
        match AnyHandle::new(self.lookup(PluginKind::Evaluator, id)?) {
            AnyHandle::Evaluator(h) => Ok(h),
            other => Err(world_bug(id, PluginKind::Evaluator, &other)),
        }
    }

    /// The installed deployer `id`.
    pub fn deployer(&self, id: &str) -> Result<DeployerHandle, PluginError> {
        match AnyHandle::new(self.lookup(PluginKind::Deployer, id)?) {
            AnyHandle::Deployer(h) => Ok(h),
            other => Err(world_bug(id, PluginKind::Deployer, &other)),
        }
    }

    /// Compile `wasm` (or load it from the precompiled cache) without type-checking it, and say
    /// where it came from. Warms the cache (e.g. right after an upload) and serves measurements.
    pub fn prepare_component(&self, wasm: &[u8]) -> Result<CompileSource, PluginError> {
        let sha256 = sha256_hex(wasm);
        let label = format!("component {}", &sha256[..12]);
        self.inner
            .runtime
            .component(&label, &sha256, wasm)
            .map(|(_, source)| source)
    }

    /// A preparer from raw component bytes (e.g. embedded in a model bundle), checked like an
    /// installed one but without a manifest; cached by sha256, so loading the same bundle's
    /// preparer again costs a hash and a map lookup.
    pub fn preparer_from_bytes(&self, wasm: &[u8]) -> Result<PreparerHandle, PluginError> {
        match self.load_component_bytes(PluginKind::Preparer, wasm, ManifestLimits::default())? {
            AnyHandle::Preparer(h) => Ok(h),
            other => Err(world_bug("bundle", PluginKind::Preparer, &other)),
        }
    }

    /// A component of `kind` from raw bytes, with `limits` (capped by the host maxima):
    /// compiled (or loaded precompiled), type-checked against the world of `kind`, and described.
    pub fn load_component_bytes(
        &self,
        kind: PluginKind,
        bytes: &[u8],
        limits: ManifestLimits,
    ) -> Result<AnyHandle, PluginError> {
        let sha256 = sha256_hex(bytes);
        let key = (kind, sha256.clone());
        if let Some(p) = self
            .inner
            .bundled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && p.limits == self.limits_for("bundle", &limits)
        {
            return Ok(AnyHandle::new(p.clone()));
        }
        let label = format!("component {}", &sha256[..12]);
        let plugin = Arc::new(Loaded::load(
            &self.inner.runtime,
            LoadRequest {
                kind,
                label: &label,
                limits: self.limits_for(&label, &limits),
                sha256,
                bytes: Arc::from(bytes),
                manifest: None,
                dir: None,
                component_path: None,
                stamp: None,
            },
        )?);
        self.inner
            .bundled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, plugin.clone());
        Ok(AnyHandle::new(plugin))
    }

    /// Validate the plugin at `manifest_or_dir` (a `plugin.toml` or the folder holding it)
    /// exactly as a scan would, then copy its manifest and component into
    /// `plugins_dir/<id>/` atomically (staged in a hidden folder, then renamed; a previous
    /// version is replaced whole), and register it.
    pub fn install(
        &self,
        manifest_or_dir: &Path,
        plugins_dir: &Path,
    ) -> Result<InstalledPlugin, PluginError> {
        let folder = if manifest_or_dir.is_dir() {
            manifest_or_dir.to_path_buf()
        } else {
            manifest_or_dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        let manifest_path = if manifest_or_dir.is_dir() {
            manifest_or_dir.join(MANIFEST_FILE)
        } else {
            manifest_or_dir.to_path_buf()
        };
        let plugin = self.load_manifest(&manifest_path, &folder)?;
        self.install_loaded(plugin, plugins_dir)
    }

    /// Install a plugin from its parts, e.g. an upload: the manifest's text and the component
    /// bytes. Checked exactly like a folder (the manifest's `sha256` must match `component`,
    /// the component must implement its world, `describe` must agree), then written to
    /// `plugins_dir/<id>/` atomically and registered. `origin` names the upload in errors.
    pub fn install_parts(
        &self,
        manifest_text: &str,
        component: &[u8],
        origin: &str,
        plugins_dir: &Path,
    ) -> Result<InstalledPlugin, PluginError> {
        let manifest_path = Path::new(origin).join(MANIFEST_FILE);
        let manifest = Manifest::parse(manifest_text, &manifest_path)?;
        let component_path = Path::new(origin).join(&manifest.component);
        let files = PluginFiles {
            sha256: sha256_hex(component),
            bytes: component.to_vec(),
            manifest,
            component_path,
            stamp: None,
        };
        let plugin = self.load_checked(files, None)?;
        self.install_loaded(plugin, plugins_dir)
    }

    fn install_loaded(
        &self,
        plugin: Loaded,
        plugins_dir: &Path,
    ) -> Result<InstalledPlugin, PluginError> {
        let manifest = plugin.manifest.clone().ok_or_else(|| PluginError::Engine {
            message: "a plugin loaded from a manifest has no manifest".to_string(),
        })?;

        std::fs::create_dir_all(plugins_dir).map_err(|e| PluginError::io(plugins_dir, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".install-")
            .tempdir_in(plugins_dir)
            .map_err(|e| PluginError::io(plugins_dir, e))?;
        let staged_component = staging.path().join(&manifest.component);
        if let Some(parent) = staged_component.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PluginError::io(parent, e))?;
        }
        write_synced(&staged_component, &plugin.bytes)?;
        write_synced(
            &staging.path().join(MANIFEST_FILE),
            manifest.to_toml().as_bytes(),
        )?;

        let target = plugins_dir.join(&manifest.id);
        let retired = retired_name(plugins_dir, &manifest.id);
        let had_previous = target.exists();
        if had_previous {
            std::fs::rename(&target, &retired).map_err(|e| PluginError::io(&target, e))?;
        }
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &target) {
            // Put the previous version back so a failed install changes nothing.
            if had_previous {
                let _ = std::fs::rename(&retired, &target);
            }
            let _ = std::fs::remove_dir_all(&staged);
            return Err(PluginError::io(&target, e));
        }
        if had_previous && let Err(e) = std::fs::remove_dir_all(&retired) {
            tracing::warn!(path = %retired.display(), error = %e, "could not remove the replaced plugin version");
        }
        sync_dir(plugins_dir);

        let mut installed = plugin;
        installed.component_path = Some(target.join(&manifest.component));
        installed.dir = Some(target.clone());
        let installed = Arc::new(installed);
        let listing = InstalledPlugin::of(&installed);
        self.pin(&target);
        self.inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((installed.info.kind, installed.info.id.clone()), installed);
        tracing::info!(plugin = %listing.info.id, kind = %listing.info.kind, "plugin installed");
        Ok(listing)
    }

    /// Delete the plugin `id` from `plugins_dir` (the drop-in folder that `install` writes)
    /// and rescan, so a plugin of the same id in another folder (e.g. a first-party one it
    /// shadowed) takes its place again. Handles already handed out keep working: the component
    /// was read into memory when it was loaded. Returns what was removed.
    ///
    /// A plugin that is registered from some other folder is not deleted: the error says
    /// where it comes from (first-party plugins are not this command's to delete).
    pub fn remove(&self, id: &str, plugins_dir: &Path) -> Result<InstalledPlugin, PluginError> {
        crate::manifest::check_id(id).map_err(|message| PluginError::NotInstalled {
            id: id.to_string(),
            message,
        })?;
        let folder = plugins_dir.join(id);
        let manifest_path = folder.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            let elsewhere: Vec<String> = self
                .list()
                .into_iter()
                .filter(|p| p.info.id == id)
                .map(|p| match &p.dir {
                    Some(d) => format!("a {} from {}", p.info.kind, d.display()),
                    None => format!("a {}", p.info.kind),
                })
                .collect();
            let message = if elsewhere.is_empty() {
                format!("there is no {}", manifest_path.display())
            } else {
                format!(
                    "it is not in {} (installed: {}); only plugins in that folder can be removed",
                    plugins_dir.display(),
                    elsewhere.join("; ")
                )
            };
            return Err(PluginError::NotInstalled {
                id: id.to_string(),
                message,
            });
        }
        let canonical_folder = canonical(&folder);
        let listing = self
            .list()
            .into_iter()
            .find(|p| p.dir.as_deref().map(canonical).as_ref() == Some(&canonical_folder));
        // Rename first (atomic: a concurrent scan sees the plugin or nothing), then delete.
        let retired = retired_name(plugins_dir, id);
        std::fs::rename(&folder, &retired).map_err(|e| PluginError::io(&folder, e))?;
        if let Err(e) = std::fs::remove_dir_all(&retired) {
            tracing::warn!(path = %retired.display(), error = %e, "could not delete the removed plugin's files");
        }
        sync_dir(plugins_dir);
        self.inner
            .pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|f| canonical(f) != canonical_folder && f != &folder);
        self.refresh();
        tracing::info!(plugin = id, "plugin removed");
        listing.ok_or_else(|| PluginError::NotInstalled {
            id: id.to_string(),
            message: format!(
                "{} was deleted, but it was not a loadable plugin",
                folder.display()
            ),
        })
    }

    /// Remember a folder registered one by one, so rescans keep it.
    fn pin(&self, folder: &Path) {
        let mut pinned = self
            .inner
            .pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let c = canonical(folder);
        if !pinned.iter().any(|f| canonical(f) == c) {
            pinned.push(folder.to_path_buf());
        }
    }

    fn limits_for(&self, label: &str, requested: &ManifestLimits) -> CallLimits {
        self.inner.config.limits_for(label, requested)
    }

    /// Load `folder/plugin.toml`; in a scan the folder must be named after the plugin id.
    fn load_folder(&self, folder: &Path, require_id_name: bool) -> Result<Loaded, PluginError> {
        let manifest_path = folder.join(MANIFEST_FILE);
        let plugin = self.load_manifest(&manifest_path, folder)?;
        if require_id_name {
            check_folder_name(folder, &plugin.info.id, &manifest_path)?;
        }
        Ok(plugin)
    }

    /// [`Self::load_folder`], but a plugin in `previous` loaded from the same folder, with the
    /// same manifest and component bytes, is returned as it is. The bytes count as the same
    /// without being read again when the component file's size and modification time are
    /// those it had when it was hashed ([`FileStamp`]); so a rescan of unchanged folders reads
    /// manifests and stats files, and hashes nothing.
    fn load_folder_reusing(
        &self,
        folder: &Path,
        require_id_name: bool,
        previous: &HashMap<PathBuf, Arc<Loaded>>,
    ) -> Result<Arc<Loaded>, PluginError> {
        let manifest_path = folder.join(MANIFEST_FILE);
        let manifest = Manifest::load(&manifest_path)?;
        let earlier = previous
            .get(folder)
            .filter(|p| p.manifest.as_ref() == Some(&manifest));
        if let Some(p) = earlier {
            let component_path = folder.join(&manifest.component);
            if p.stamp.is_some()
                && p.component_path.as_deref() == Some(component_path.as_path())
                && FileStamp::of(&component_path) == p.stamp
            {
                return Ok(p.clone());
            }
        }
        let files = read_component(manifest, folder)?;
        if let Some(p) = earlier
            && p.sha256 == files.sha256
        {
            // Touched but not changed: same plugin, and the next rescan can skip the hash.
            let mut same = (**p).clone();
            same.stamp = files.stamp;
            return Ok(Arc::new(same));
        }
        let plugin = self.load_checked(files, Some(folder))?;
        if require_id_name {
            check_folder_name(folder, &plugin.info.id, &manifest_path)?;
        }
        Ok(Arc::new(plugin))
    }

    fn load_manifest(&self, manifest_path: &Path, folder: &Path) -> Result<Loaded, PluginError> {
        let files = read_component(Manifest::load(manifest_path)?, folder)?;
        self.load_checked(files, Some(folder))
    }

    /// Check the component against the manifest's sha256, then compile, type-check and
    /// describe.
    fn load_checked(
        &self,
        files: PluginFiles,
        folder: Option<&Path>,
    ) -> Result<Loaded, PluginError> {
        let PluginFiles {
            manifest,
            bytes,
            sha256,
            component_path,
            stamp,
        } = files;
        if sha256 != manifest.sha256 {
            return Err(PluginError::HashMismatch {
                path: component_path,
                expected: manifest.sha256,
                actual: sha256,
            });
        }
        let limits = self.limits_for(&manifest.id, &manifest.limits);
        let id = manifest.id.clone();
        Loaded::load(
            &self.inner.runtime,
            LoadRequest {
                kind: manifest.kind,
                label: &id,
                sha256,
                bytes: Arc::from(bytes),
                limits,
                manifest: Some(manifest),
                dir: folder.map(Path::to_path_buf),
                component_path: folder.map(|_| component_path),
                stamp: folder.and(stamp),
            },
        )
    }
}

/// A manifest with its component: the bytes, their sha256, where they came from and, for a
/// file, its [`FileStamp`] taken before it was read.
struct PluginFiles {
    manifest: Manifest,
    bytes: Vec<u8>,
    sha256: String,
    component_path: PathBuf,
    stamp: Option<FileStamp>,
}

/// Read and hash the component `manifest` names in `folder`; a hash other than the
/// manifest's is an error naming the file.
fn read_component(manifest: Manifest, folder: &Path) -> Result<PluginFiles, PluginError> {
    let component_path = folder.join(&manifest.component);
    // Stamped before reading: if the file changes while it is read, the stamp no longer
    // matches the next time, and the file is hashed again.
    let stamp = FileStamp::of(&component_path);
    let bytes = std::fs::read(&component_path).map_err(|e| PluginError::io(&component_path, e))?;
    let sha256 = sha256_hex(&bytes);
    if sha256 != manifest.sha256 {
        return Err(PluginError::HashMismatch {
            path: component_path,
            expected: manifest.sha256,
            actual: sha256,
        });
    }
    Ok(PluginFiles {
        manifest,
        bytes,
        sha256,
        component_path,
        stamp,
    })
}

/// In a scanned folder, a plugin folder must be named after the plugin's id.
fn check_folder_name(folder: &Path, id: &str, manifest_path: &Path) -> Result<(), PluginError> {
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.as_deref() != Some(id) {
        return Err(PluginError::Manifest {
            path: manifest_path.to_path_buf(),
            message: format!(
                "the folder '{}' holds plugin '{id}'; a plugin folder must be named after its id",
                name.unwrap_or_default(),
            ),
        });
    }
    Ok(())
}

/// The same folder reached by different paths compares equal; a missing one compares as given.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A hidden, unique sibling name for a plugin folder on its way out.
fn retired_name(plugins_dir: &Path, id: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    plugins_dir.join(format!(".retired-{id}-{}-{stamp}", std::process::id()))
}

/// Make renames in `dir` durable; not all platforms allow syncing a folder, hence no error.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let mut file = std::fs::File::create(path).map_err(|e| PluginError::io(path, e))?;
    file.write_all(bytes)
        .map_err(|e| PluginError::io(path, e))?;
    file.sync_all().map_err(|e| PluginError::io(path, e))
}

/// A registry entry whose world differs from its key: cannot happen, since the key's kind is
/// the kind it was type-checked against; reported rather than panicking.
fn world_bug(id: &str, kind: PluginKind, got: &AnyHandle) -> PluginError {
    PluginError::WrongWorld {
        plugin: id.to_string(),
        message: format!(
            "registered as a {kind} but holds a {} component",
            got.info().kind
        ),
    }
}

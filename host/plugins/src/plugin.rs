//! A loaded plugin: compiled, type-checked against its world, described — and the machinery
//! every call goes through (fresh store, limits, deadline, error classification).

use crate::bindings::{deployer, evaluator, preparer, selector};
use crate::config::CallLimits;
use crate::convert::from_guest;
use crate::engine::{Runtime, run_with_deadline};
use crate::error::PluginError;
use crate::manifest::Manifest;
use crate::sandbox::{CallObservers, CallSetup, StoreState};
use microlearn_core::stages::{PluginInfo, PluginKind};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Store, Trap};

/// The type-checked, ready-to-instantiate form of a plugin, per world.
#[derive(Clone)]
pub(crate) enum WorldPre {
    Preparer(preparer::PreparerPluginPre<StoreState>),
    Selector(selector::SelectorPluginPre<StoreState>),
    Evaluator(evaluator::EvaluatorPluginPre<StoreState>),
    Deployer(deployer::DeployerPluginPre<StoreState>),
}

impl WorldPre {
    /// Check `pre` against the world of `kind`.
    fn new(kind: PluginKind, pre: InstancePre<StoreState>) -> wasmtime::Result<WorldPre> {
        Ok(match kind {
            PluginKind::Preparer => WorldPre::Preparer(preparer::PreparerPluginPre::new(pre)?),
            PluginKind::Selector => WorldPre::Selector(selector::SelectorPluginPre::new(pre)?),
            PluginKind::Evaluator => WorldPre::Evaluator(evaluator::EvaluatorPluginPre::new(pre)?),
            PluginKind::Deployer => WorldPre::Deployer(deployer::DeployerPluginPre::new(pre)?),
        })
    }
}

const KINDS: [PluginKind; 4] = [
    PluginKind::Preparer,
    PluginKind::Selector,
    PluginKind::Evaluator,
    PluginKind::Deployer,
];

/// `<kind>.describe`, the name used in errors and logs.
fn describe_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Preparer => "preparer.describe",
        PluginKind::Selector => "selector.describe",
        PluginKind::Evaluator => "evaluator.describe",
        PluginKind::Deployer => "deployer.describe",
    }
}

/// A plugin ready to be called.
#[derive(Clone)]
pub(crate) struct Loaded {
    pub(crate) runtime: Arc<Runtime>,
    /// Plugin id (from the manifest, or from `describe` for a manifest-less component).
    pub(crate) id: Arc<str>,
    pub(crate) info: PluginInfo,
    pub(crate) sha256: String,
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) limits: CallLimits,
    pub(crate) manifest: Option<Manifest>,
    /// Plugin folder and component file, for installed plugins.
    pub(crate) dir: Option<PathBuf>,
    pub(crate) component_path: Option<PathBuf>,
    pub(crate) world: WorldPre,
    /// The component file as it was when hashed, for installed plugins; see [`FileStamp`].
    pub(crate) stamp: Option<FileStamp>,
    /// Base of the per-call random seed: derived from the component hash, so two plugins never
    /// share a stream and the same plugin always gets the same one.
    seed: u64,
}

/// What `load` needs besides the bytes.
pub(crate) struct LoadRequest<'a> {
    pub kind: PluginKind,
    /// Id used in errors until `describe` has answered.
    pub label: &'a str,
    pub sha256: String,
    pub bytes: Arc<[u8]>,
    pub limits: CallLimits,
    pub manifest: Option<Manifest>,
    pub dir: Option<PathBuf>,
    pub component_path: Option<PathBuf>,
    pub stamp: Option<FileStamp>,
}

/// What a component file looked like when it was hashed: its size and modification time
/// (nanoseconds on Linux). A rescan that finds both unchanged trusts the earlier hash instead
/// of reading and hashing the file again; anything that rewrites the file moves its mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: SystemTime,
}

impl FileStamp {
    /// The stamp of `path`, or `None` when it cannot be read (then nothing is trusted).
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok()?,
        })
    }
}

impl Loaded {
    /// Compile (or load precompiled), type-check against the world of `req.kind`, call
    /// `describe`, and check what it says against the manifest (or against `req.kind`).
    pub(crate) fn load(
        runtime: &Arc<Runtime>,
        req: LoadRequest<'_>,
    ) -> Result<Loaded, PluginError> {
        let (component, _) = runtime.component(req.label, &req.sha256, &req.bytes)?;
        let world = type_check(runtime, &component, req.kind, req.label)?;
        let seed = u64::from_le_bytes(
            hex::decode(&req.sha256[..16])
                .ok()
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 8]),
        );
        let mut loaded = Loaded {
            runtime: runtime.clone(),
            id: Arc::from(req.label),
            info: PluginInfo {
                id: req.label.to_string(),
                version: String::new(),
                kind: req.kind,
                description: String::new(),
                config_schema: String::new(),
            },
            sha256: req.sha256,
            bytes: req.bytes,
            limits: req.limits,
            manifest: req.manifest,
            dir: req.dir,
            component_path: req.component_path,
            stamp: req.stamp,
            world,
            seed,
        };
        let info = loaded.describe()?;
        check_description(&info, req.kind, loaded.manifest.as_ref(), req.label)?;
        loaded.id = Arc::from(info.id.as_str());
        loaded.info = info;
        Ok(loaded)
    }

    /// Call `describe` in a fresh instance.
    pub(crate) fn describe(&self) -> Result<PluginInfo, PluginError> {
        let function = describe_name(self.info.kind);
        let info = self.call(
            function,
            self.limits.describe_timeout,
            &CallObservers::default(),
            async |store, world| {
                Ok(match world {
                    WorldPre::Preparer(p) => {
                        p.instantiate_async(&mut *store)
                            .await?
                            .microlearn_plugin_preparer()
                            .call_describe(&mut *store)
                            .await?
                    }
                    WorldPre::Selector(p) => {
                        p.instantiate_async(&mut *store)
                            .await?
                            .microlearn_plugin_selector()
                            .call_describe(&mut *store)
                            .await?
                    }
                    WorldPre::Evaluator(p) => {
                        p.instantiate_async(&mut *store)
                            .await?
                            .microlearn_plugin_evaluator()
                            .call_describe(&mut *store)
                            .await?
                    }
                    WorldPre::Deployer(p) => {
                        p.instantiate_async(&mut *store)
                            .await?
                            .microlearn_plugin_deployer()
                            .call_describe(&mut *store)
                            .await?
                    }
                })
            },
        )?;
        Ok(from_guest::plugin_info(info))
    }

    /// Run `body` (which instantiates and calls one export) in a fresh store under this plugin's
    /// limits, and turn any failure into a `PluginError` naming the plugin and `function`.
    ///
    /// `timeout` binds the whole call, instantiation included, wherever the plugin spends it:
    /// running wasm or waiting in a WASI import ([`run_with_deadline`]). Blocks the calling
    /// thread; do not call it on an async executor's thread.
    pub(crate) fn call<R>(
        &self,
        function: &'static str,
        timeout: Duration,
        observers: &CallObservers,
        body: impl AsyncFnOnce(&mut Store<StoreState>, &WorldPre) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let span = tracing::debug_span!("plugin_call", plugin = &*self.id, function);
        let _entered = span.enter();
        let started = Instant::now();

        let mut seed_hasher = Sha256::new();
        seed_hasher.update(self.seed.to_le_bytes());
        seed_hasher.update(function.as_bytes());
        let digest = seed_hasher.finalize();
        let mut seed_bytes = [0u8; 8];
        seed_bytes.copy_from_slice(&digest[..8]);

        let state = StoreState::new(CallSetup {
            plugin: self.id.clone(),
            function,
            memory_bytes: (self.limits.memory_mib as usize) << 20,
            max_log_lines: self.limits.max_log_lines,
            max_captured_output: self.limits.max_captured_output,
            random_seed: u64::from_le_bytes(seed_bytes),
            observers: observers.clone(),
        });
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.limiter);
        // wasmtime caps what a guest may hand back in one call at 128 MiB by default ("hostcall
        // fuel", roughly bytes). Our own output cap is the limit users configure and must be the
        // one that trips (with its precise error), so the fuel is set above anything the guest
        // can hold: twice the larger of the output cap and its memory cap. A preparer may then
        // return, e.g., 1M rows × 20 float columns (160 MB) under the default 256 MiB cap.
        let guest_memory = self.limits.memory_mib.saturating_mul(1 << 20);
        store.set_hostcall_fuel(
            usize::try_from(
                self.limits
                    .max_output_bytes
                    .max(guest_memory)
                    .saturating_mul(2),
            )
            .unwrap_or(usize::MAX),
        );
        // Running wasm yields to the executor at every epoch tick, so the deadline below is
        // checked at least once a tick even while the plugin spins.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);

        let outcome = run_with_deadline(timeout, body(&mut store, &self.world))?;

        let state = store.data();
        let (stdout, stdout_dropped) = state.stdout.text();
        if !stdout.is_empty() {
            tracing::debug!(
                target: "microlearn::plugin",
                plugin = &*self.id,
                function,
                dropped_bytes = stdout_dropped,
                "plugin stdout: {}",
                stdout.trim_end()
            );
        }
        if state.log_suppressed() > 0 {
            tracing::warn!(
                target: "microlearn::plugin",
                plugin = &*self.id,
                function,
                suppressed = state.log_suppressed(),
                "plugin log lines were suppressed (over the per-call limit)"
            );
        }
        tracing::debug!(
            millis = started.elapsed().as_secs_f64() * 1e3,
            ok = matches!(outcome, Some(Ok(_))),
            "plugin call finished"
        );
        match outcome {
            Some(result) => result.map_err(|e| self.classify(e, state, function, timeout)),
            None => Err(PluginError::Timeout {
                plugin: self.id.to_string(),
                function,
                limit: timeout,
            }),
        }
    }

    /// Why did the call fail? Memory first (a refused growth surfaces as a trap), then the
    /// deadline, then any other trap, with the plugin's panic text when it printed one.
    fn classify(
        &self,
        err: wasmtime::Error,
        state: &StoreState,
        function: &'static str,
        timeout: Duration,
    ) -> PluginError {
        tracing::debug!(plugin = &*self.id, function, error = ?err, "plugin call failed");
        let plugin = self.id.to_string();
        if let Some(requested) = state.limiter.refused {
            return PluginError::MemoryLimit {
                plugin,
                function,
                limit_mib: self.limits.memory_mib,
                requested_mib: (requested as u64).div_ceil(1 << 20),
            };
        }
        let trap = err.downcast_ref::<Trap>().copied();
        if trap == Some(Trap::Interrupt) {
            return PluginError::Timeout {
                plugin,
                function,
                limit: timeout,
            };
        }
        let mut message = match trap {
            Some(t) => t.to_string(),
            None => format!("{err:#}"),
        };
        if let Some(panic) = panic_text(&state.stderr.text().0) {
            message = format!("{message}; {panic}");
        }
        if err
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            // The pool ran out of slots: not the plugin's fault.
            return PluginError::Instantiate {
                plugin,
                function,
                message,
            };
        }
        PluginError::Trap {
            plugin,
            function,
            message,
        }
    }
}

/// The useful part of a guest's stderr: from Rust's "panicked at" line on, without the
/// backtrace hint; otherwise its last non-empty line.
fn panic_text(stderr: &str) -> Option<String> {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        return None;
    }
    let text = match stderr.find("panicked at") {
        Some(at) => {
            let from = stderr[..at].rfind('\n').map_or(0, |n| n + 1);
            stderr[from..]
                .lines()
                .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        None => stderr.lines().last().unwrap_or_default().to_string(),
    };
    Some(text.trim().to_string())
}

/// Type-check `component` against the world of `kind`; on a mismatch, say which world it does
/// implement, if any.
pub(crate) fn type_check(
    runtime: &Runtime,
    component: &Component,
    kind: PluginKind,
    label: &str,
) -> Result<WorldPre, PluginError> {
    let pre = runtime
        .linker
        .instantiate_pre(component)
        .map_err(|e| PluginError::WrongWorld {
            plugin: label.to_string(),
            message: format!(
                "it imports something the host does not provide (plugins may import only \
                 microlearn:plugin/host and WASI 0.2): {e:#}"
            ),
        })?;
    WorldPre::new(kind, pre.clone()).map_err(|e| {
        let actual = KINDS
            .into_iter()
            .find(|&k| k != kind && WorldPre::new(k, pre.clone()).is_ok());
        let hint = match actual {
            Some(k) => format!("; it implements the {k} world instead"),
            None => String::new(),
        };
        PluginError::WrongWorld {
            plugin: label.to_string(),
            message: format!(
                "it does not implement the {kind} world (microlearn:plugin/{kind}-plugin@0.1.0){hint}: \
                 {e:#}"
            ),
        }
    })
}

/// `describe` must agree with the manifest (id, kind, version), or for a manifest-less
/// component, with the kind it was loaded as.
fn check_description(
    info: &PluginInfo,
    kind: PluginKind,
    manifest: Option<&Manifest>,
    label: &str,
) -> Result<(), PluginError> {
    let mismatch = |message: String| PluginError::DescribeMismatch {
        plugin: label.to_string(),
        message,
    };
    if info.kind != kind {
        return Err(mismatch(format!(
            "describe says kind '{}', but it was loaded as a {kind}",
            info.kind
        )));
    }
    crate::manifest::check_id(&info.id).map_err(|m| mismatch(format!("describe: {m}")))?;
    check_config_schema(&info.config_schema).map_err(|m| mismatch(format!("describe: {m}")))?;
    if let Some(m) = manifest {
        if info.id != m.id {
            return Err(mismatch(format!(
                "describe says id '{}', the manifest says '{}'",
                info.id, m.id
            )));
        }
        if info.version != m.version {
            return Err(mismatch(format!(
                "describe says version '{}', the manifest says '{}'",
                info.version, m.version
            )));
        }
    }
    Ok(())
}

/// The configuration schema a plugin declares must be a JSON Schema document: a JSON object
/// (or `true`, which accepts everything). Tools render forms and check configs from it, so a
/// malformed one is refused at install time rather than discovered by a user.
fn check_config_schema(schema: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(schema)
        .map_err(|e| format!("the config schema is not valid JSON ({e}): {schema:.80}"))?;
    match &value {
        serde_json::Value::Bool(true) => Ok(()),
        serde_json::Value::Object(map) => match map.get("type") {
            None => Ok(()),
            Some(serde_json::Value::String(t)) if t == "object" => Ok(()),
            Some(other) => Err(format!(
                "the config schema must describe a JSON object (a plugin's config is one), \
                 but its \"type\" is {other}"
            )),
        },
        other => Err(format!(
            "the config schema must be a JSON Schema object, got {other:.80}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_schema_must_be_a_json_schema_for_an_object() {
        assert!(check_config_schema(r#"{"type":"object","properties":{}}"#).is_ok());
        assert!(check_config_schema("{}").is_ok());
        assert!(check_config_schema("true").is_ok());
        assert!(
            check_config_schema("")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            check_config_schema(r#"{"type":"array"}"#)
                .unwrap_err()
                .contains("\"type\"")
        );
        assert!(check_config_schema("[1]").is_err());
    }

    #[test]
    fn panic_text_keeps_the_message_and_drops_the_hint() {
        let stderr = "some output\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: \
                      run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_text(stderr).unwrap(),
            "thread '<unnamed>' panicked at src/lib.rs:3:5: boom"
        );
        assert_eq!(panic_text("a\nlast words\n").unwrap(), "last words");
        assert_eq!(panic_text("  \n"), None);
    }
}

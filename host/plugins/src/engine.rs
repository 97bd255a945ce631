//! The wasmtime engine of a [`crate::PluginHost`]: its configuration, the epoch ticker, the
//! shared linker and the precompiled-component cache.

use crate::bindings::wit_host;
use crate::config::RuntimeConfig;
use crate::error::PluginError;
use crate::sandbox::StoreState;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines are counted in these ticks, so a call overruns its
/// deadline by at most one tick; 10 ms keeps that error invisible next to deadlines of seconds
/// while the ticker thread costs nothing measurable (one atomic add per tick).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances one plugin component may bring, for sizing the pool. A `wasm32-wasip2` Rust
/// component holds the main module plus the shim and fixup modules wit-component adds (3); 8
/// leaves room for composed components.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;

/// Linear memories per component for sizing the pool: one for a plain component, two for a
/// composition of two.
const MEMORIES_PER_COMPONENT: u32 = 2;

/// The engine, its linker and compiled components.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    /// Whether the pooling allocator is in use (it may have fallen back).
    pub(crate) pooling: bool,
    cache_dir: Option<PathBuf>,
    /// Hex of the engine's precompile-compatibility hash (wasmtime version + settings); part
    /// of every cache file name, so a host upgrade or a settings change never loads stale code.
    compat: String,
    /// Compiled components by content hash: a plugin listed twice, or a bundle's preparer that
    /// is also installed, is compiled once per process.
    compiled: Mutex<HashMap<String, Component>>,
}

/// How a component was obtained, for measurements and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk cache.
    DiskCache,
    /// Compiled now.
    Compiled,
}

impl Runtime {
    pub(crate) fn new(config: &RuntimeConfig) -> Result<Runtime, PluginError> {
        let (engine, pooling) = build_engine(config)?;
        start_epoch_ticker(&engine);

        let mut linker = Linker::new(&engine);
        // Plugins built for `wasm32-wasip2` import WASI interfaces (cli, io, clocks, random,
        // filesystem, sockets) even when they never use them, so all of them are linked; the
        // per-call `WasiCtx` decides what each may actually do (next to nothing).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Engine {
            message: format!("linking WASI: {e:#}"),
        })?;
        wit_host::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s).map_err(
            |e| PluginError::Engine {
                message: format!("linking the host interface: {e:#}"),
            },
        )?;

        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());

        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| PluginError::io(dir, e))?;
        }
        Ok(Runtime {
            engine,
            linker,
            pooling,
            cache_dir: config.cache_dir.clone(),
            compat,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// The cache file of a component with content hash `sha256`.
    pub(crate) fn cache_path(&self, sha256: &str) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-wasmtime-{}.cwasm", self.compat)))
    }

    /// The compiled component for `bytes` (whose hash is `sha256`), from memory, from the disk
    /// cache, or compiled now and cached.
    pub(crate) fn component(
        &self,
        label: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(Component, CompileSource), PluginError> {
        if let Some(c) = self
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sha256)
        {
            return Ok((c.clone(), CompileSource::Memory));
        }
        let cache_path = self.cache_path(sha256);
        let mut source = CompileSource::Compiled;
        let component = match cache_path
            .as_deref()
            .and_then(|p| self.load_cached(label, p))
        {
            Some(c) => {
                source = CompileSource::DiskCache;
                c
            }
            None => {
                let started = Instant::now();
                let c = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
                    plugin: label.to_string(),
                    message: format!("{e:#}"),
                })?;
                tracing::debug!(
                    plugin = label,
                    millis = started.elapsed().as_secs_f64() * 1e3,
                    "compiled plugin component"
                );
                if let Some(path) = &cache_path {
                    self.store_cached(label, &c, path);
                }
                c
            }
        };
        self.compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sha256.to_string(), component.clone());
        Ok((component, source))
    }

    fn load_cached(&self, label: &str, path: &Path) -> Option<Component> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: `deserialize_file` maps the file and runs its machine code, so it must be a
        // file produced by `Component::serialize` of a compatible engine and must not change
        // while mapped. We only read files from our own cache directory, which only this
        // runtime writes, each written whole under a temporary name and renamed into place
        // (never modified afterwards), and named by the sha256 of the source component plus
        // the engine's compatibility hash. wasmtime additionally checks the header, version and
        // engine settings and returns an error, never undefined behaviour, on a mismatch; on
        // any error we recompile and overwrite. Anyone able to plant a file in this directory
        // can already run code as this user, so it is not a trust boundary.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(&self.engine, path) };
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    plugin = label,
                    path = %path.display(),
                    error = %format!("{e:#}"),
                    "cached precompiled component is unusable; recompiling"
                );
                None
            }
        }
    }

    /// Write the cache file atomically (temporary file + rename). Failure only costs a
    /// recompilation next time, so it is logged, not returned.
    fn store_cached(&self, label: &str, component: &Component, path: &Path) {
        let result = (|| -> Result<(), String> {
            let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
            let dir = path.parent().ok_or("cache path has no folder")?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
            tmp.write_all(&bytes).map_err(|e| e.to_string())?;
            tmp.as_file().sync_all().map_err(|e| e.to_string())?;
            tmp.persist(path).map_err(|e| e.error.to_string())?;
            Ok(())
        })();
        if let Err(message) = result {
            tracing::warn!(
                plugin = label,
                path = %path.display(),
                error = %message,
                "could not write the precompiled component to the cache"
            );
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .strategy(wasmtime::Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    config
}

/// Pool sizes, derived from how many calls may run at once (`max_concurrent_instances`, `n`):
///
/// - `n` component instances: one per running call (each call instantiates afresh);
/// - `n × 8` core instances and tables, `n × 2` memories: see the per-component constants;
/// - memory slots of `max_memory_mib`, the most any plugin may be granted. Each slot reserves
///   the default 4 GiB of address space plus guard pages (that is what lets Cranelift drop
///   bounds checks), so `n = 64` reserves about 0.5 TiB of *virtual* address space and commits
///   only what guests touch. Where the process may not reserve that much (a `ulimit -v`, a
///   strict overcommit policy), engine creation fails and we fall back to on-demand allocation.
fn pooling_config(config: &RuntimeConfig) -> PoolingAllocationConfig {
    let n = config.max_concurrent_instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_tables(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .max_memory_size((config.max_memory_mib as usize) << 20);
    pool
}

fn build_engine(config: &RuntimeConfig) -> Result<(Engine, bool), PluginError> {
    if config.pooling {
        let mut pooled = base_config();
        pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(config)));
        match Engine::new(&pooled) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "the pooling instance allocator could not reserve its memory; falling back to \
                 on-demand allocation (instantiation is slower, limits are unchanged)"
            ),
        }
    }
    let engine = Engine::new(&base_config()).map_err(|e| PluginError::Engine {
        message: format!("creating the wasmtime engine: {e:#}"),
    })?;
    Ok((engine, false))
}

/// Advance the engine's epoch every [`EPOCH_TICK`] on a background thread. The thread holds a
/// weak reference and exits once the engine (every host, handle and component using it) is
/// dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("microlearn-epoch".to_string())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        // Without the ticker deadlines never fire; say so loudly rather than fail, since calls
        // still run under their memory and output limits.
        tracing::error!(error = %e, "could not start the epoch thread; plugin deadlines are off");
    }
}

/// Ticks to allow for `timeout`: rounded up, plus one because the next tick may come at once.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    let ticks = timeout.as_nanos().div_ceil(tick);
    u64::try_from(ticks)
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up_and_add_one() {
        assert_eq!(deadline_ticks(Duration::from_millis(10)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(11)), 3);
        assert_eq!(deadline_ticks(Duration::from_secs(60)), 6001);
        assert_eq!(deadline_ticks(Duration::MAX), u64::MAX);
    }
}

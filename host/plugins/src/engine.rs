//! The wasmtime engine of a [`crate::PluginHost`]: its configuration, the epoch ticker, the
//! shared linker, the precompiled-component cache, and the executor every call runs on.
//!
//! # Why calls are async inside
//!
//! Epoch interruption stops *running* wasm, but a plugin parked in a blocking WASI import
//! (`std::thread::sleep` is a monotonic-clock subscription plus `pollable.block`; `poll`; a
//! stream read) runs no wasm, so a synchronous engine would wait for the import to return.
//! With wasmtime's async support every WASI import is a future, and running wasm yields at
//! each epoch tick, so a call is one future that a timer can cut off wherever the plugin is:
//! [`run_with_deadline`] polls it on the calling thread under a `tokio::time::timeout`. When
//! the deadline passes, the future (with the plugin's fiber) is dropped, and the store goes
//! with it. The public API stays synchronous: callers are blocking threads (trial workers,
//! `spawn_blocking` in the server).

use crate::bindings::wit_host;
use crate::config::RuntimeConfig;
use crate::error::PluginError;
use crate::sandbox::StoreState;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines are counted in these ticks, so a call overruns its
/// deadline by at most one tick; 10 ms keeps that error invisible next to deadlines of seconds
/// while the ticker thread costs nothing measurable (one atomic add per tick).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances (and tables) one plugin component may bring, for sizing the pool and the
/// per-store caps. A `wasm32-wasip2` Rust component holds the main module plus the shim and
/// fixup modules wit-component adds (3), but a componentize-py component links libpython,
/// libc and the rest as separate modules: the `python-cost` evaluator instantiates 38 core
/// modules. 64 covers those with room for composed components; the cost is address space the
/// pool reserves per slot (instance and table bookkeeping), not memory a guest can use.
pub(crate) const CORE_INSTANCES_PER_COMPONENT: u32 = 64;

/// Linear memories per component for sizing the pool: one for a plain component, two for a
/// composition of two.
pub(crate) const MEMORIES_PER_COMPONENT: u32 = 2;

/// Elements of one table. A Rust component's indirect-call table holds one entry per
/// address-taken function (a few thousand for the first-party plugins); 20 000 is wasmtime's
/// own pooling default, applied to both allocators so a plugin meets the same cap either way.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 20_000;

/// The engine, its linker and compiled components.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    /// Whether the pooling allocator is in use (it may have fallen back).
    pub(crate) pooling: bool,
    cache_dir: Option<PathBuf>,
    /// [`RuntimeConfig::max_component_bytes`].
    max_component_bytes: u64,
    /// [`RuntimeConfig::compile_timeout`].
    compile_timeout: Duration,
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
        start_timers()?;

        let mut linker = Linker::new(&engine);
        // Plugins built for `wasm32-wasip2` import WASI interfaces (cli, io, clocks, random,
        // filesystem, sockets) even when they never use them, so all of them are linked; the
        // per-call `WasiCtx` decides what each may actually do (next to nothing).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| PluginError::Engine {
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
            max_component_bytes: config.max_component_bytes,
            compile_timeout: config.compile_timeout,
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
                let c = self.compile(label, bytes)?;
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

    /// Compile `bytes`, refusing a component over the size cap up front and giving up once
    /// compiling takes longer than the compile timeout.
    fn compile(&self, label: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        let refuse = |message: String| PluginError::Compile {
            plugin: label.to_string(),
            message,
        };
        if bytes.len() as u64 > self.max_component_bytes {
            return Err(refuse(format!(
                "the component is {} bytes, more than the {} byte limit ([plugins] \
                 max_component_mib)",
                bytes.len(),
                self.max_component_bytes
            )));
        }
        // Cranelift cannot be interrupted, so the compile runs on its own thread and we stop
        // waiting at the timeout; a runaway compile then ends on its own and is dropped.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        std::thread::Builder::new()
            .name(format!("microlearn-compile-{label}"))
            .spawn(move || {
                // The receiver may have given up; nobody is left to tell.
                let _ = tx.send(Component::new(&engine, &owned));
            })
            .map_err(|e| refuse(format!("starting the compiler thread: {e}")))?;
        match rx.recv_timeout(self.compile_timeout) {
            Ok(result) => result.map_err(|e| refuse(format!("{e:#}"))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(refuse(format!(
                "compiling took longer than {:?} ([plugins] compile_timeout_secs)",
                self.compile_timeout
            ))),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(refuse("the compiler thread panicked".to_string()))
            }
        }
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
        // With epoch interruption and the async call API (`call_async`, always available in
        // this wasmtime), a deadline can end a call that waits in a WASI import (see the module
        // docs). Each call runs on a fiber stack of wasmtime's default size.
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
        .table_elements(MAX_TABLE_ELEMENTS)
        // One fiber stack per running call (async support); the default of 1000 would reserve
        // address space for calls that can never run at once.
        .total_stacks(n)
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

/// The process-wide tokio runtime whose one worker thread drives the timers of every plugin
/// call: the call deadlines and the WASI clock subscriptions (`sleep`, `poll`). Calls do not
/// run on it; they are polled on the caller's thread ([`run_with_deadline`]). One static
/// runtime serves every [`crate::PluginHost`] because it is never dropped: a tokio runtime may
/// not be dropped on an async thread, and a host may well be.
fn timer_runtime() -> Result<&'static tokio::runtime::Runtime, PluginError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("microlearn-plugin-timers")
                .enable_time()
                .build()
                .map_err(|e| format!("starting the plugin timer thread: {e}"))
        })
        .as_ref()
        .map_err(|message| PluginError::Engine {
            message: message.clone(),
        })
}

/// Start the timer runtime (so a failure shows when the host starts, not on the first call).
pub(crate) fn start_timers() -> Result<(), PluginError> {
    timer_runtime().map(|_| ())
}

/// Drive `call` to its end on this thread, or stop it once `timeout` has passed: `Ok(None)`.
///
/// The future is polled by a plain thread-parking executor, inside the timer runtime's
/// context, so the WASI imports' tokio timers and the deadline fire on that runtime's thread
/// and wake this one. Running wasm yields at every epoch tick (the store is set up so), which
/// is when the deadline is checked; a call waiting in an import is woken by the deadline's own
/// timer. Either way the call ends within one tick of `timeout`.
///
/// This blocks the thread: do not call it on an async executor's thread (it would stall that
/// executor's other tasks, though it does not panic).
pub(crate) fn run_with_deadline<F: std::future::Future>(
    timeout: Duration,
    call: F,
) -> Result<Option<F::Output>, PluginError> {
    let runtime = timer_runtime()?;
    let _context = runtime.enter();
    Ok(futures_executor::block_on(async {
        tokio::time::timeout(timeout, call).await.ok()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_future_is_cut_off_at_its_deadline() {
        let started = Instant::now();
        let out = run_with_deadline(Duration::from_millis(50), std::future::pending::<()>())
            .expect("timers start");
        assert_eq!(out, None);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_finished_future_returns_its_output() {
        let out = run_with_deadline(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            7
        })
        .expect("timers start");
        assert_eq!(out, Some(7));
    }
}

//! MicroLearn's plugin runtime: runs pipeline stages as sandboxed WebAssembly components.
//!
//! A plugin is a WASI 0.2 component implementing one world of `microlearn:plugin@0.1.0`
//! (preparer, selector, evaluator or deployer) plus a `plugin.toml` manifest. The
//! [`PluginHost`] scans plugin folders, checks each component (sha256 against the manifest,
//! type-check against its world, `describe` against the manifest), precompiles it once into an
//! on-disk cache, and hands out typed handles:
//!
//! ```no_run
//! use microlearn_plugins::{PluginHost, RuntimeConfig};
//! use microlearn_core::{Column, Table, Task};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = PluginHost::new(RuntimeConfig {
//!     cache_dir: Some("microlearn-data/cache/plugins".into()),
//!     ..RuntimeConfig::default()
//! })?;
//! let report = host.scan(&["target/microlearn-plugins".into()]);
//! for (path, error) in &report.errors {
//!     eprintln!("skipped {}: {error}", path.display());
//! }
//! let standard = host.preparer("standard")?;
//! let train = Table::new(vec![Column::float64("x", vec![1.0, f64::NAN, 3.0])])?;
//! let target = Column::float64("y", vec![0.0, 1.0, 0.0]);
//! let (state, prepared) = standard.fit(&train, &target, Task::Binary, "{}")?;
//! let again = standard.transform(&state, &train)?;
//! assert_eq!(prepared, again);
//! # Ok(()) }
//! ```
//!
//! # Sandbox
//!
//! Every call instantiates the plugin afresh in its own `Store` (a few microseconds with the
//! pooling allocator) and runs under:
//!
//! - a linear-memory cap ([`RuntimeConfig::default_memory_mib`], manifest `[limits]
//!   memory_mib`, never above [`RuntimeConfig::max_memory_mib`]) → [`PluginError::MemoryLimit`],
//!   plus caps on instances, tables, table elements and memories, the same with or without the
//!   pooling allocator;
//! - a wall-clock deadline that binds wherever the plugin spends it — running wasm (which
//!   yields at every 10 ms epoch tick) or waiting in a WASI import (`sleep`, `poll`, a stream
//!   read) — so every call ends within one tick of its deadline → [`PluginError::Timeout`];
//! - a WASI context with no files, no environment, no arguments, no network, a closed stdin, a
//!   wall clock fixed at the Unix epoch, a monotonic clock that starts at 0 for each call and
//!   runs at real speed, and ChaCha20 randomness seeded per plugin and function;
//! - output checks: row counts, table validity, finite metrics, catalogue membership, and an
//!   output-size cap → [`PluginError::InvalidOutput`] / [`PluginError::OutputTooLarge`].
//!
//! Components over [`RuntimeConfig::max_component_bytes`], or whose compilation takes longer
//! than [`RuntimeConfig::compile_timeout`], are refused ([`PluginError::Compile`]).
//!
//! A trap (a panic inside the plugin, a stack overflow) becomes [`PluginError::Trap`] carrying
//! the plugin's panic message; the host and the [`PluginHost`] carry on unaffected.
//!
//! # Threads
//!
//! The API is synchronous and blocks the calling thread for the length of the plugin call.
//! Call it from ordinary threads (trial workers, `tokio::task::spawn_blocking`), never from an
//! async executor's thread, where it would stall every other task on that thread.

mod bindings;
mod config;
mod convert;
mod engine;
mod error;
mod handles;
mod host;
mod manifest;
mod plugin;
mod sandbox;
mod validate;

pub use config::{CallLimits, PluginSettings, RuntimeConfig};
pub use engine::CompileSource;
pub use error::{GuestError, PluginError};
pub use handles::{
    AnyHandle, BatchSink, DeployerHandle, EvaluatorHandle, PreparerHandle, SelectorHandle,
};
pub use host::{InstalledPlugin, PluginHost, ScanReport};
pub use manifest::{
    API_VERSION, MANIFEST_FILE, Manifest, ManifestLimits, SUPPORTED_APIS, sha256_hex,
};
pub use microlearn_core::stages::{PluginInfo, PluginKind};
pub use sandbox::{LogCallback, LogEvent, ProgressCallback, ProgressEvent};

//! What one plugin call runs inside: the per-`Store` state, the WASI context (deny by default),
//! the memory limiter that remembers why it refused, the captured stdout/stderr, and the
//! implementation of the `host` interface (`log`, `progress`).

use crate::bindings::wit_host;
use crate::engine::{CORE_INSTANCES_PER_COMPONENT, MAX_TABLE_ELEMENTS, MEMORIES_PER_COMPONENT};
use bytes::Bytes;
use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// Longest log line kept; a plugin cannot flood the host's log sink with one giant string.
const MAX_LOG_LINE_BYTES: usize = 4096;

/// A progress report from a running plugin call.
#[derive(Debug, Clone, Copy)]
pub struct ProgressEvent<'a> {
    /// Plugin id.
    pub plugin: &'a str,
    /// Exported function, e.g. `preparer.fit`.
    pub function: &'a str,
    /// Fraction done, clamped to `[0, 1]` (NaN becomes 0).
    pub fraction: f64,
    /// The plugin's message.
    pub message: &'a str,
}

/// Receives progress reports; called on the thread running the plugin, so keep it quick.
pub type ProgressCallback = Arc<dyn Fn(ProgressEvent<'_>) + Send + Sync>;

/// A log line from a running plugin call, at `info` level or above and within the call's log
/// budget (`max_log_lines`); lower levels and suppressed lines only reach tracing.
#[derive(Debug, Clone, Copy)]
pub struct LogEvent<'a> {
    /// Plugin id.
    pub plugin: &'a str,
    /// Exported function, e.g. `preparer.fit`.
    pub function: &'a str,
    /// `info`, `warn` or `error`.
    pub level: &'static str,
    /// The line, clipped to 4 KiB.
    pub message: &'a str,
}

/// Receives a plugin's log lines; called on the thread running the plugin, so keep it quick.
pub type LogCallback = Arc<dyn Fn(LogEvent<'_>) + Send + Sync>;

/// Who hears about a call besides tracing.
#[derive(Clone, Default)]
pub(crate) struct CallObservers {
    pub progress: Option<ProgressCallback>,
    pub log: Option<LogCallback>,
}

/// Everything a `Store` holds for one call.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: TrackedLimits,
    plugin: Arc<str>,
    function: &'static str,
    log_budget: u32,
    log_suppressed: u64,
    observers: CallObservers,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

/// Per-call settings from which a [`StoreState`] is built.
pub(crate) struct CallSetup {
    pub plugin: Arc<str>,
    pub function: &'static str,
    pub memory_bytes: usize,
    pub max_log_lines: u32,
    pub max_captured_output: usize,
    pub random_seed: u64,
    pub observers: CallObservers,
}

impl StoreState {
    pub(crate) fn new(setup: CallSetup) -> StoreState {
        let stdout = Capture::new(setup.max_captured_output);
        let stderr = Capture::new(setup.max_captured_output);
        StoreState {
            wasi: sandboxed_wasi(setup.random_seed, stdout.clone(), stderr.clone()),
            table: ResourceTable::new(),
            limiter: TrackedLimits::new(setup.memory_bytes),
            plugin: setup.plugin,
            function: setup.function,
            log_budget: setup.max_log_lines,
            log_suppressed: 0,
            observers: setup.observers,
            stdout,
            stderr,
        }
    }

    /// Log lines the plugin emitted past its budget; reported once when the call ends.
    pub(crate) fn log_suppressed(&self) -> u64 {
        self.log_suppressed
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The WASI context of a plugin: nothing the host does not hand over on purpose.
///
/// - no preopened directories, so every filesystem call fails;
/// - no environment variables and no arguments;
/// - TCP, UDP and name lookup denied, and every socket address refused as a second fence;
/// - stdin closed; stdout and stderr captured (kept for trap messages and debug logs), never
///   the host's own streams;
/// - the wall clock stands at the Unix epoch, so a plugin cannot make results depend on the
///   date;
/// - the monotonic clock is virtual: it reads 0 when the call starts and runs at real speed, so
///   durations (and `sleep`) work while the host's uptime stays hidden;
/// - random bytes come from ChaCha20 streams seeded per call (one for `wasi:random/random`,
///   another for `wasi:random/insecure`), so a rerun of the same call with the same inputs sees
///   the same "randomness", and a long draw never repeats.
fn sandboxed_wasi(seed: u64, stdout: Capture, stderr: Capture) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout)
        .stderr(stderr)
        .wall_clock(UnixEpochClock)
        .monotonic_clock(CallClock::start())
        .secure_random(ChaCha20Rng::seed_from_u64(seed))
        .insecure_random(ChaCha20Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15))
        .insecure_random_seed(u128::from(seed) << 64 | u128::from(!seed))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    builder.build()
}

/// A monotonic clock that starts at 0 when the call starts and advances with real time.
struct CallClock {
    started: Instant,
}

impl CallClock {
    fn start() -> CallClock {
        CallClock {
            started: Instant::now(),
        }
    }
}

impl HostMonotonicClock for CallClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        // u64 nanoseconds last 584 years; no call gets near that.
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A wall clock fixed at 1970-01-01T00:00:00Z.
struct UnixEpochClock;

impl HostWallClock for UnixEpochClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// `StoreLimits` plus a record of a refused memory growth, so the host can tell a memory-limit
/// trap from any other trap.
pub(crate) struct TrackedLimits {
    inner: StoreLimits,
    cap_bytes: usize,
    /// Bytes the guest asked for when it was refused; `Some` means the cap was hit.
    pub(crate) refused: Option<usize>,
}

impl TrackedLimits {
    fn new(cap_bytes: usize) -> TrackedLimits {
        TrackedLimits {
            // Trap on refusal instead of letting `memory.grow` return -1: a Rust guest would
            // abort anyway, and the trap arrives at the exact point of the allocation. The
            // counts are the pool's per-component sizes (engine.rs), so a plugin meets the
            // same caps whether or not the pooling allocator is on.
            inner: StoreLimitsBuilder::new()
                .memory_size(cap_bytes)
                .table_elements(MAX_TABLE_ELEMENTS)
                .instances(CORE_INSTANCES_PER_COMPONENT as usize)
                .tables(CORE_INSTANCES_PER_COMPONENT as usize)
                .memories(MEMORIES_PER_COMPONENT as usize)
                .trap_on_grow_failure(true)
                .build(),
            cap_bytes,
            refused: None,
        }
    }
}

impl ResourceLimiter for TrackedLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap_bytes {
            self.refused = Some(desired);
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // The limiter allowed the growth but the allocator could not provide it (e.g. past the
        // pool's slot size): still a memory limit from the plugin's point of view.
        self.refused.get_or_insert(self.cap_bytes.saturating_add(1));
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A bounded capture of a guest output stream. It keeps the *last* bytes written (a panic
/// message comes last) and never fails a write: a chatty plugin loses old output, not its call.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<CaptureBuf>>,
}

struct CaptureBuf {
    bytes: Vec<u8>,
    keep: usize,
    dropped: u64,
}

impl Capture {
    fn new(keep: usize) -> Capture {
        Capture {
            inner: Arc::new(Mutex::new(CaptureBuf {
                bytes: Vec::new(),
                keep,
                dropped: 0,
            })),
        }
    }

    fn push(&self, data: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        buf.bytes.extend_from_slice(data);
        // Trim in batches (at twice the budget) so a stream of small writes stays linear.
        if buf.bytes.len() > buf.keep.saturating_mul(2).max(1024) {
            let excess = buf.bytes.len() - buf.keep;
            buf.bytes.drain(..excess);
            buf.dropped += excess as u64;
        }
    }

    /// The kept text (lossy UTF-8) and how many earlier bytes were dropped.
    pub(crate) fn text(&self) -> (String, u64) {
        let buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let start = buf.bytes.len().saturating_sub(buf.keep);
        (
            String::from_utf8_lossy(&buf.bytes[start..]).into_owned(),
            buf.dropped + start as u64,
        )
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn clip(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl wit_host::Host for StoreState {
    fn log(&mut self, level: wit_host::LogLevel, message: String) {
        if self.log_budget == 0 {
            if self.log_suppressed == 0 {
                tracing::warn!(
                    target: "microlearn::plugin",
                    plugin = &*self.plugin,
                    function = self.function,
                    "plugin log limit reached; further lines of this call are suppressed"
                );
            }
            self.log_suppressed += 1;
            return;
        }
        self.log_budget -= 1;
        let plugin = &*self.plugin;
        let function = self.function;
        let message = clip(&message, MAX_LOG_LINE_BYTES);
        let shared = match level {
            wit_host::LogLevel::Info => Some("info"),
            wit_host::LogLevel::Warn => Some("warn"),
            wit_host::LogLevel::Error => Some("error"),
            _ => None,
        };
        if let (Some(level), Some(callback)) = (shared, &self.observers.log) {
            callback(LogEvent {
                plugin,
                function,
                level,
                message,
            });
        }
        match level {
            wit_host::LogLevel::Trace => {
                tracing::trace!(target: "microlearn::plugin", plugin, function, "{message}")
            }
            wit_host::LogLevel::Debug => {
                tracing::debug!(target: "microlearn::plugin", plugin, function, "{message}")
            }
            wit_host::LogLevel::Info => {
                tracing::info!(target: "microlearn::plugin", plugin, function, "{message}")
            }
            wit_host::LogLevel::Warn => {
                tracing::warn!(target: "microlearn::plugin", plugin, function, "{message}")
            }
            wit_host::LogLevel::Error => {
                tracing::error!(target: "microlearn::plugin", plugin, function, "{message}")
            }
        }
    }

    fn progress(&mut self, fraction: f64, message: String) {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let message = clip(&message, MAX_LOG_LINE_BYTES);
        tracing::debug!(
            target: "microlearn::plugin",
            plugin = &*self.plugin,
            function = self.function,
            fraction,
            "progress: {message}"
        );
        if let Some(callback) = &self.observers.progress {
            callback(ProgressEvent {
                plugin: &self.plugin,
                function: self.function,
                fraction,
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_tail_and_counts_what_it_dropped() {
        let c = Capture::new(8);
        for _ in 0..1000 {
            c.push(b"0123456789");
        }
        c.push(b"panicked!");
        let (text, dropped) = c.text();
        assert_eq!(text, "anicked!");
        assert_eq!(dropped, 10_000 + 9 - 8);
    }

    #[test]
    fn limiter_caps_tables_instances_and_memories_like_the_pool() {
        let mut l = TrackedLimits::new(1 << 20);
        assert_eq!(l.instances(), CORE_INSTANCES_PER_COMPONENT as usize);
        assert_eq!(l.tables(), CORE_INSTANCES_PER_COMPONENT as usize);
        assert_eq!(l.memories(), MEMORIES_PER_COMPONENT as usize);
        assert!(l.table_growing(0, MAX_TABLE_ELEMENTS, None).unwrap());
        assert!(l.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).is_err());
    }

    #[test]
    fn call_clock_starts_at_zero_and_advances() {
        let clock = CallClock::start();
        let first = clock.now();
        assert!(first < 1_000_000_000, "{first} ns after start");
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock.now() >= first + 2_000_000);
    }

    #[test]
    fn limiter_records_a_refused_growth() {
        let mut l = TrackedLimits::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 19, None).unwrap());
        assert!(l.refused.is_none());
        assert!(l.memory_growing(1 << 19, 2 << 20, None).is_err());
        assert_eq!(l.refused, Some(2 << 20));
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("abc", 10), "abc");
    }
}

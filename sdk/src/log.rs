//! Logging and progress through the host.
//!
//! Inside a component these call the host's `log`/`progress` imports, which become tracing
//! events tagged with the plugin id. Natively (unit tests) they do nothing, so plugin logic
//! that logs stays testable without Wasm.
//!
//! ```
//! microlearn_sdk::log::info!("fitted {} columns", 3);
//! microlearn_sdk::log::progress(0.5, "half way");
//! ```

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong but work continues.
    Warn,
    /// Something failed.
    Error,
}

/// Write a log line through the host.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__private::wit::microlearn::plugin::host;
        let level = match level {
            Level::Trace => host::LogLevel::Trace,
            Level::Debug => host::LogLevel::Debug,
            Level::Info => host::LogLevel::Info,
            Level::Warn => host::LogLevel::Warn,
            Level::Error => host::LogLevel::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // No host natively: logging is a no-op so that tests need no setup.
        let _ = (level, message);
    }
}

/// Report progress of the current call, `fraction` in [0, 1] (clamped).
pub fn progress(fraction: f64, message: &str) {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    #[cfg(target_arch = "wasm32")]
    crate::__private::wit::microlearn::plugin::host::progress(fraction, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (fraction, message);
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log_trace {
    ($($arg:tt)+) => { $crate::__microlearn_log!(Trace, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log_debug {
    ($($arg:tt)+) => { $crate::__microlearn_log!(Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log_info {
    ($($arg:tt)+) => { $crate::__microlearn_log!(Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log_warn {
    ($($arg:tt)+) => { $crate::__microlearn_log!(Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_log_error {
    ($($arg:tt)+) => { $crate::__microlearn_log!(Error, $($arg)+) };
}

/// Log at debug level, `format!`-style.
pub use crate::__microlearn_log_debug as debug;
/// Log at error level, `format!`-style.
pub use crate::__microlearn_log_error as error;
/// Log at info level, `format!`-style.
pub use crate::__microlearn_log_info as info;
/// Log at trace level, `format!`-style.
pub use crate::__microlearn_log_trace as trace;
/// Log at warn level, `format!`-style.
pub use crate::__microlearn_log_warn as warn;

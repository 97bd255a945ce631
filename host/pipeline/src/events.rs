//! Plugin progress and log lines as pipeline events, so a dashboard or an SSE client sees a
//! long plugin call move. Both are rate-limited: a plugin must not be able to flood the store.

use microlearn_store::{EventRecord, TenantStore};
use std::time::{Duration, Instant};

/// Least time between two stored progress events of one plugin function; the last report
/// (fraction 1) always gets through.
const PROGRESS_EVENT_INTERVAL: Duration = Duration::from_millis(500);

/// A callback storing plugins' progress reports as `plugin_progress` events of `pipeline_id`,
/// at most one per plugin function per [`PROGRESS_EVENT_INTERVAL`]: a plugin that reports every
/// row must not flood the store. Storage errors are logged, not raised: progress is advisory.
pub(crate) fn progress_events(
    tenant: TenantStore,
    pipeline_id: String,
) -> microlearn_plugins::ProgressCallback {
    let last: std::sync::Mutex<std::collections::HashMap<String, Instant>> = Default::default();
    std::sync::Arc::new(move |e: microlearn_plugins::ProgressEvent<'_>| {
        let key = format!("{}/{}", e.plugin, e.function);
        let now = Instant::now();
        {
            let Ok(mut last) = last.lock() else { return };
            let due = last
                .get(&key)
                .is_none_or(|t| now.duration_since(*t) >= PROGRESS_EVENT_INTERVAL);
            if !due && e.fraction < 1.0 {
                return;
            }
            last.insert(key, now);
        }
        let record = EventRecord::now(
            "plugin_progress",
            format!(
                "{} {}: {:.0}% {}",
                e.plugin,
                e.function,
                e.fraction * 100.0,
                e.message
            ),
            serde_json::json!({
                "plugin": e.plugin,
                "function": e.function,
                "fraction": e.fraction,
                "message": e.message,
            }),
        );
        if let Err(err) = tenant.append_event(&pipeline_id, record) {
            tracing::warn!(%err, "cannot store a plugin progress event");
        }
    })
}

/// Most `plugin_log` events stored per plugin function and pipeline: an evaluator runs once per
/// trial, and one that logs every call must not write thousands of events. Later lines still
/// reach tracing.
const MAX_LOG_EVENTS_PER_FUNCTION: u32 = 50;

/// A callback storing plugins' `info`/`warn`/`error` lines as `plugin_log` events of
/// `pipeline_id`, at most [`MAX_LOG_EVENTS_PER_FUNCTION`] per plugin function (the line that
/// reaches the cap says so). Storage errors are logged, not raised.
pub(crate) fn log_events(
    tenant: TenantStore,
    pipeline_id: String,
) -> microlearn_plugins::LogCallback {
    let counts: std::sync::Mutex<std::collections::HashMap<String, u32>> = Default::default();
    std::sync::Arc::new(move |e: microlearn_plugins::LogEvent<'_>| {
        let n = {
            let Ok(mut counts) = counts.lock() else {
                return;
            };
            let n = counts
                .entry(format!("{}/{}", e.plugin, e.function))
                .or_insert(0);
            *n += 1;
            *n
        };
        if n > MAX_LOG_EVENTS_PER_FUNCTION {
            return;
        }
        let capped = if n == MAX_LOG_EVENTS_PER_FUNCTION {
            " (log event limit reached; later lines only go to the host log)"
        } else {
            ""
        };
        let record = EventRecord::now(
            "plugin_log",
            format!(
                "{} {} [{}] {}{capped}",
                e.plugin, e.function, e.level, e.message
            ),
            serde_json::json!({
                "plugin": e.plugin,
                "function": e.function,
                "level": e.level,
                "message": e.message,
            }),
        );
        if let Err(err) = tenant.append_event(&pipeline_id, record) {
            tracing::warn!(%err, "cannot store a plugin log event");
        }
    })
}

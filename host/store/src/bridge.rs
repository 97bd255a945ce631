//! The store's API is synchronous (engine threads, CLI commands and request handlers all call
//! it), while the cluster backends (sqlx, object_store) are async. One small runtime owned by
//! the store runs their futures; a caller hands a future over and waits on a channel. Waiting on
//! a channel, unlike `Runtime::block_on`, is allowed on any thread, a tokio worker's included,
//! so the same call works from an axum handler and from a plain thread.

use crate::StoreError;
use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                // I/O bound: two threads keep a slow query from stalling the rest.
                .worker_threads(2)
                .thread_name("microlearn-store-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Backend {
            what: "store runtime".into(),
            message: format!("cannot start the store's I/O runtime: {e}"),
        })
}

/// Run `f` on the store's runtime and wait for its output. Do not call it from a task on that
/// runtime (its two threads could end up waiting on each other); use `spawn_blocking` there.
pub fn run<F>(f: F) -> Result<F::Output, StoreError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().map_err(|_| StoreError::Backend {
        what: "store runtime".into(),
        message: "a storage task ended without an answer".into(),
    })
}

/// Start `f` on the store's runtime without waiting (a long-lived cluster task: a queue
/// consumer, a heartbeat).
pub fn spawn<F>(f: F) -> Result<tokio::task::JoinHandle<F::Output>, StoreError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(runtime()?.spawn(f))
}

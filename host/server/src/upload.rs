//! Uploads streamed to disk under a size cap, never held whole in memory by the HTTP layer.
//! The bytes are hashed as they are written, by a blocking thread (the async threads only
//! hand chunks over), so storing an upload needs no second read of the file.

use crate::error::{ApiError, ProblemKind};
use axum::body::{Body, Bytes};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// An upload on disk.
#[derive(Debug)]
pub(crate) struct Received {
    /// The temporary file (removed when dropped unless persisted).
    pub file: tempfile::NamedTempFile,
    /// Bytes.
    pub size: u64,
    /// Hex sha256 of the content.
    pub sha256: String,
}

/// How an upload is bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UploadLimits {
    /// Largest body, bytes (413 past it).
    pub max_bytes: u64,
    /// Longest wait for the next chunk (408 past it).
    pub idle: Duration,
}

/// Chunks in flight between the connection and the writer thread: enough to keep both busy,
/// few enough that a slow disk pushes back on the client instead of filling memory.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Write a stream of chunks to a new temporary file in `dir` (named `*<suffix>`), stopping
/// with 413 as soon as more than `limits.max_bytes` arrived and with 408 when the client
/// sends nothing for `limits.idle`.
pub(crate) async fn stream_to_file<S, E>(
    mut stream: S,
    dir: &Path,
    suffix: &str,
    limits: UploadLimits,
    what: &str,
) -> Result<Received, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let dir = dir.to_path_buf();
    let suffix = suffix.to_string();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    // Creating, writing, hashing and syncing the file are blocking work: one thread per
    // upload, fed through the channel. Upload slots (see `Serving::uploads`) bound how many.
    let writer = tokio::task::spawn_blocking(move || -> Result<Received, ApiError> {
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let mut file = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(&suffix)
            .tempfile_in(&dir)
            .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).map_err(ApiError::internal)?;
        }
        file.as_file().sync_all().map_err(ApiError::internal)?;
        Ok(Received {
            file,
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    });
    let mut size: u64 = 0;
    let received: Result<(), ApiError> = async {
        loop {
            let next = tokio::time::timeout(limits.idle, stream.next())
                .await
                .map_err(|_| {
                    ApiError::new(
                        ProblemKind::BodyTimeout,
                        format!(
                            "the {what} stopped arriving: nothing for {} s after {size} bytes",
                            limits.idle.as_secs_f64()
                        ),
                    )
                    .with("received_bytes", size)
                })?;
            let Some(chunk) = next else {
                return Ok(());
            };
            let chunk = chunk.map_err(|e| {
                // A body that ends early or is cut by the body limit: say which.
                let text = e.to_string();
                if text.contains("length limit") {
                    too_large(what, limits.max_bytes)
                } else {
                    ApiError::new(
                        ProblemKind::InvalidRequest,
                        format!("reading the {what}: {text}"),
                    )
                }
            })?;
            size += chunk.len() as u64;
            if size > limits.max_bytes {
                return Err(too_large(what, limits.max_bytes));
            }
            if tx.send(chunk).await.is_err() {
                // The writer stopped (its error is the one to report).
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::internal(format!("the upload writer failed: {e}")));
    // A refused body wins over whatever the writer made of the part it got.
    received?;
    written?
}

/// Stream a raw request body.
pub(crate) async fn body_to_file(
    body: Body,
    dir: &Path,
    suffix: &str,
    limits: UploadLimits,
    what: &str,
) -> Result<Received, ApiError> {
    stream_to_file(body.into_data_stream(), dir, suffix, limits, what).await
}

pub(crate) fn too_large(what: &str, limit: u64) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the {what} is larger than the limit of {limit} bytes"),
    )
    .with("limit_bytes", limit)
}

/// Keep an upload as the content-addressed artefact `dest` (the store's path for its hash):
/// renamed into place, as the hash was computed while it arrived, instead of read again.
/// When the content is already stored the upload is simply dropped.
pub(crate) fn persist_artefact(received: Received, dest: &Path) -> Result<(), ApiError> {
    if dest.exists() {
        return Ok(());
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(ApiError::internal)?;
    }
    // The rename is atomic (the upload folder is inside the data directory, on the same file
    // system), so a crash leaves either no artefact or the whole one. Another upload of the
    // same content may win the race; either file is the same bytes.
    received
        .file
        .persist(dest)
        .map_err(|e| ApiError::internal(format!("storing {}: {}", dest.display(), e.error)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: u64) -> UploadLimits {
        UploadLimits {
            max_bytes,
            idle: Duration::from_secs(5),
        }
    }

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_hash_is_computed_while_the_bytes_arrive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = stream_to_file(
            chunks(&[b"a,b\n", b"1,2\n", b"3,4\n"]),
            dir.path(),
            ".csv",
            limits(100),
            "dataset",
        )
        .await
        .expect("received");
        assert_eq!(r.size, 12);
        assert_eq!(r.sha256, hex::encode(Sha256::digest(b"a,b\n1,2\n3,4\n")));
        assert_eq!(
            std::fs::read(r.file.path()).expect("file"),
            b"a,b\n1,2\n3,4\n"
        );
        let dest = dir.path().join("ab").join(&r.sha256);
        persist_artefact(r, &dest).expect("persisted");
        assert_eq!(std::fs::read(&dest).expect("artefact"), b"a,b\n1,2\n3,4\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_body_is_refused_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = stream_to_file(
            chunks(&[b"0123456789", b"0123456789"]),
            dir.path(),
            ".csv",
            limits(15),
            "dataset",
        )
        .await
        .expect_err("too large");
        assert_eq!(e.kind, ProblemKind::PayloadTooLarge);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_body_is_refused_with_408() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stalled = chunks(&[b"a,b\n"]).chain(futures_util::stream::pending());
        let e = stream_to_file(
            Box::pin(stalled),
            dir.path(),
            ".csv",
            UploadLimits {
                max_bytes: 100,
                idle: Duration::from_millis(200),
            },
            "dataset",
        )
        .await
        .expect_err("stalled");
        assert_eq!(e.kind, ProblemKind::BodyTimeout);
        assert_eq!(e.kind.status().as_u16(), 408);
        assert!(e.detail.contains("after 4 bytes"), "{}", e.detail);
    }
}

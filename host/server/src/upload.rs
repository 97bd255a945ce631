//! Uploads streamed to disk under a size cap, never held whole in memory by the HTTP layer.

use crate::error::{ApiError, ProblemKind};
use axum::body::{Body, Bytes};
use futures_util::{Stream, StreamExt};
use std::io::Write;
use std::path::Path;

/// Write a stream of chunks to a new temporary file in `dir` (named `*<suffix>`), stopping
/// with 413 as soon as more than `limit` bytes arrived. Returns the file and its size.
pub(crate) async fn stream_to_file<S, E>(
    mut stream: S,
    dir: &Path,
    suffix: &str,
    limit: u64,
    what: &str,
) -> Result<(tempfile::NamedTempFile, u64), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let mut file = tempfile::Builder::new()
        .prefix(".upload-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(ApiError::internal)?;
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            // A body that ends early or is cut by the body limit: say which.
            let text = e.to_string();
            if text.contains("length limit") {
                too_large(what, limit)
            } else {
                ApiError::new(
                    ProblemKind::InvalidRequest,
                    format!("reading the {what}: {text}"),
                )
            }
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(what, limit));
        }
        file.write_all(&chunk).map_err(ApiError::internal)?;
    }
    file.as_file().sync_all().map_err(ApiError::internal)?;
    Ok((file, size))
}

/// Stream a raw request body.
pub(crate) async fn body_to_file(
    body: Body,
    dir: &Path,
    suffix: &str,
    limit: u64,
    what: &str,
) -> Result<(tempfile::NamedTempFile, u64), ApiError> {
    stream_to_file(body.into_data_stream(), dir, suffix, limit, what).await
}

pub(crate) fn too_large(what: &str, limit: u64) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the {what} is larger than the limit of {limit} bytes"),
    )
    .with("limit_bytes", limit)
}

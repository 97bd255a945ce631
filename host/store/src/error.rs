use std::path::{Path, PathBuf};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The metadata database could not be opened.
    #[error("cannot open the metadata database at {path}: {message}")]
    Open {
        /// Database path.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// Another process holds the data directory: sled allows one process per directory, and
    /// its lock file is taken. Callers can tell this apart from a damaged database and offer
    /// another route (the CLI submits to the `microlearn serve` that holds it).
    #[error(
        "the data directory {} is in use by another microlearn process (its lock {} is held)",
        home.display(),
        lock.display()
    )]
    Locked {
        /// The data directory.
        home: PathBuf,
        /// The lock file that is held.
        lock: PathBuf,
    },
    /// The metadata database failed.
    #[error("metadata database error: {0}")]
    Db(#[from] sled::Error),
    /// A cluster backend (PostgreSQL, object storage) failed or is misconfigured.
    #[error("{what}: {message}")]
    Backend {
        /// Which backend, and where (never a password).
        what: String,
        /// Cause.
        message: String,
    },
    /// A record could not be encoded.
    #[error("cannot encode a {what} record: {message}")]
    Encode {
        /// Record kind.
        what: String,
        /// Cause.
        message: String,
    },
    /// A stored record or file is unreadable.
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// What is corrupt.
        what: String,
        /// Details.
        message: String,
    },
    /// The data directory was written by a newer MicroLearn.
    #[error(
        "the data directory {path} uses metadata schema v{found}, newer than this build supports (v{supported}); upgrade MicroLearn or use another --home"
    )]
    NewerSchema {
        /// Data directory.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Newest supported.
        supported: u32,
    },
    /// An artefact is missing.
    #[error("artefact {sha256} is missing from {dir}")]
    MissingArtefact {
        /// Its hash.
        sha256: String,
        /// Artefact directory.
        dir: PathBuf,
    },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

//! Content-addressed artefact files (datasets, model bundles, plugin components).

use crate::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A stored artefact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtefactRef {
    /// Hex sha256 of the content; also its address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Files addressed by the sha256 of their content, under one directory.
#[derive(Debug, Clone)]
pub struct ArtefactStore {
    dir: PathBuf,
}

impl ArtefactStore {
    /// Use (creating) `dir`.
    pub fn new(dir: PathBuf) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(ArtefactStore { dir })
    }

    /// Where the artefact with this hash lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> PathBuf {
        let shard = sha256.get(..2).unwrap_or("xx");
        self.dir.join(shard).join(sha256)
    }

    /// Store bytes; a no-op when the same content is already there.
    pub fn put(&self, bytes: &[u8]) -> Result<ArtefactRef, StoreError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let path = self.path(&sha256);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(ArtefactRef {
            sha256,
            size: bytes.len() as u64,
        })
    }

    /// Store a file's content (copied, then verified by hash).
    pub fn put_file(&self, src: &Path) -> Result<ArtefactRef, StoreError> {
        let bytes = std::fs::read(src).map_err(|e| StoreError::io(src, e))?;
        self.put(&bytes)
    }

    /// Read an artefact back, verifying its hash.
    pub fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::MissingArtefact {
                    sha256: sha256.into(),
                    dir: self.dir.clone(),
                }
            } else {
                StoreError::io(&path, e)
            }
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(StoreError::Corrupt {
                what: format!("artefact {}", path.display()),
                message: format!("content hash is {actual}, expected {sha256}"),
            });
        }
        Ok(bytes)
    }
}

/// Write `bytes` to `path` so that readers see either the old file or the complete new one:
/// write a temporary file in the same directory, fsync it, rename it over `path`, fsync the dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| StoreError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    // The rename is durable only once the directory entry is: fsync the directory too.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

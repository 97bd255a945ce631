//! Content-addressed artefact files (datasets, model bundles, plugin components).
//!
//! Embedded, they live under the data directory. In a cluster they live in shared object
//! storage (a shared directory, S3 or S3-compatible, GCS, Azure through the `object_store`
//! crate), and the data directory's copy is a cache: filled on first read, checked against the
//! hash on the way in, and uploaded from on write. Content addressing makes every put
//! idempotent, so two nodes storing the same bundle at once cannot conflict.

use crate::StoreError;
use crate::remote::Remote;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    remote: Option<Arc<Remote>>,
}

impl ArtefactStore {
    /// Use (creating) `dir`.
    pub fn new(dir: PathBuf) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(ArtefactStore { dir, remote: None })
    }

    /// Artefacts in shared object storage, with `dir` as this node's cache.
    pub(crate) fn with_remote(dir: PathBuf, remote: Remote) -> Result<Self, StoreError> {
        let mut s = ArtefactStore::new(dir)?;
        s.remote = Some(Arc::new(remote));
        Ok(s)
    }

    /// Where artefacts are kept for good: the object store's URL, or the local directory.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(r) => r.describe(),
            None => self.dir.display().to_string(),
        }
    }

    /// Where the artefact with this hash lives locally (whether or not it exists). With
    /// shared storage this is the cache: use [`Self::cached_path`] to read, and
    /// [`Self::publish`] after writing a file here directly.
    pub fn path(&self, sha256: &str) -> PathBuf {
        let shard = sha256.get(..2).unwrap_or("xx");
        self.dir.join(shard).join(sha256)
    }

    /// The local file of an artefact, fetched from shared storage (and its hash checked)
    /// when this node has not cached it yet.
    pub fn cached_path(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(sha256);
        if path.exists() {
            return Ok(path);
        }
        match &self.remote {
            Some(r) => {
                let bytes = r.get(sha256)?.ok_or_else(|| self.missing(sha256))?;
                verify(&path, sha256, &bytes)?;
                write_atomic(&path, &bytes)?;
                Ok(path)
            }
            None => Err(self.missing(sha256)),
        }
    }

    /// Make a file written directly at [`Self::path`] durable in shared storage (a no-op
    /// embedded). Its hash is checked first, so a bad cache file never spreads.
    pub fn publish(&self, sha256: &str) -> Result<(), StoreError> {
        let Some(r) = &self.remote else {
            return Ok(());
        };
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        verify(&path, sha256, &bytes)?;
        r.put_if_absent(sha256, bytes)
    }

    /// Delete an artefact everywhere (cache and shared storage); a missing one is not an error.
    pub fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let path = self.path(sha256);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        match &self.remote {
            Some(r) => r.delete(sha256),
            None => Ok(()),
        }
    }

    fn missing(&self, sha256: &str) -> StoreError {
        StoreError::MissingArtefact {
            sha256: sha256.into(),
            dir: self.location().into(),
        }
    }

    /// Store bytes; a no-op when the same content is already there.
    pub fn put(&self, bytes: &[u8]) -> Result<ArtefactRef, StoreError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let path = self.path(&sha256);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        if let Some(r) = &self.remote {
            r.put_if_absent(&sha256, bytes.to_vec())?;
        }
        Ok(ArtefactRef {
            sha256,
            size: bytes.len() as u64,
        })
    }

    /// Store a file's content. The file is streamed: hashed while it is copied into a
    /// temporary file beside the store's own, which is then renamed to its address, so a
    /// multi-gigabyte training file is never held in memory (it is held once more only to
    /// upload it when the store is shared).
    pub fn put_file(&self, src: &Path) -> Result<ArtefactRef, StoreError> {
        let mut input = std::fs::File::open(src).map_err(|e| StoreError::io(src, e))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = match std::io::Read::read(&mut input, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io(src, e)),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| StoreError::io(tmp.path(), e))?;
            size += n as u64;
        }
        let sha256 = hex::encode(hasher.finalize());
        let path = self.path(&sha256);
        if !path.exists() {
            persist(tmp, &path)?;
        }
        if let Some(r) = &self.remote {
            let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
            r.put_if_absent(&sha256, bytes)?;
        }
        Ok(ArtefactRef { sha256, size })
    }

    /// Read an artefact back, verifying its hash (fetched into the cache first when it lives
    /// in shared storage and this node has not read it yet).
    pub fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let path = match self.remote {
            Some(_) => self.cached_path(sha256)?,
            None => self.path(sha256),
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.missing(sha256)
            } else {
                StoreError::io(&path, e)
            }
        })?;
        verify(&path, sha256, &bytes)?;
        Ok(bytes)
    }
}

fn verify(path: &Path, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != sha256 {
        return Err(StoreError::Corrupt {
            what: format!("artefact {}", path.display()),
            message: format!("content hash is {actual}, expected {sha256}"),
        });
    }
    Ok(())
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
    persist(tmp, path)
}

/// Make a fully written temporary file durable at `path` (same file system): fsync it, rename
/// it into place, and fsync the directory, since the rename is durable only once the directory
/// entry is.
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

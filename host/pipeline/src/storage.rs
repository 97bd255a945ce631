//! The host's storage quota, as a run sees it.
//!
//! A run writes artefacts for its tenant: the leaderboard's model bundles, and in a cluster
//! the search's context and its trials' out-of-fold predictions. The engine does not know
//! quotas (the server does); it asks a [`StorageGate`] before each write, and holds the
//! promise it gets until the record that names the bytes is written, so a concurrent upload
//! or another pipeline cannot take the same room.

/// Promises room in a tenant's storage.
pub trait StorageGate: Send + Sync {
    /// Promise `bytes` more for `tenant`'s `what` (used in the message), or say why not: the
    /// returned error is the whole message a user sees. The promise counts as used until
    /// the returned value is dropped.
    fn reserve(&self, tenant: &str, bytes: u64, what: &str) -> Result<StoragePromise, String>;
}

/// Room promised by a [`StorageGate`]; given back when dropped.
pub struct StoragePromise(#[allow(dead_code)] Box<dyn Send>);

impl StoragePromise {
    /// Wrap whatever holds the promise (dropping it gives the room back).
    pub fn new(holder: impl Send + 'static) -> Self {
        StoragePromise(Box::new(holder))
    }
}

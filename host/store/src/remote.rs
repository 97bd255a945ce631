//! Shared object storage for artefacts, through the `object_store` crate: `file:///DIR` (a
//! directory every node mounts), `s3://BUCKET[/PREFIX]?endpoint=…&region=…` (AWS or any
//! S3-compatible service such as MinIO; credentials from the usual `AWS_*` variables).
//! Objects are keyed `<prefix>/artefacts/<sha256>`.

use crate::{StoreError, bridge};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;

pub(crate) struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    shown: String,
}

fn bad_url(url: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        what: format!("blob location {url:?}"),
        message: format!(
            "{why} (expected file:///SHARED/DIR or s3://BUCKET[/PREFIX]?endpoint=URL&region=R)"
        ),
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("at", &self.shown).finish()
    }
}

impl Remote {
    /// Open the object store at `url`.
    pub(crate) fn open(url: &str) -> Result<Remote, StoreError> {
        let parsed = url::Url::parse(url).map_err(|e| bad_url(url, e))?;
        let shown = {
            let mut u = parsed.clone();
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        };
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad_url(url, "not a local path"))?;
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad_url(url, e))?;
                (Arc::new(fs), ObjectPath::default())
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad_url(url, "no bucket"))?;
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in parsed.query_pairs() {
                    b = match k.as_ref() {
                        "endpoint" => b.with_endpoint(v.as_ref()),
                        "region" => b.with_region(v.as_ref()),
                        "allow_http" => b.with_allow_http(v == "true" || v == "1"),
                        other => return Err(bad_url(url, format!("unknown option {other:?}"))),
                    };
                }
                if parsed
                    .query_pairs()
                    .any(|(k, v)| k == "endpoint" && v.starts_with("http://"))
                {
                    // An explicit plain-HTTP endpoint (MinIO on a private network, a test
                    // server) is the operator's choice; without it object_store refuses.
                    b = b.with_allow_http(true);
                }
                let s3 = b.build().map_err(|e| bad_url(url, e))?;
                let prefix = ObjectPath::from(parsed.path().trim_matches('/'));
                (Arc::new(s3), prefix)
            }
            other => return Err(bad_url(url, format!("unsupported scheme {other:?}"))),
        };
        Ok(Remote {
            store,
            prefix,
            shown,
        })
    }

    pub(crate) fn describe(&self) -> String {
        self.shown.clone()
    }

    fn key(&self, sha256: &str) -> ObjectPath {
        self.prefix.clone().join("artefacts").join(sha256)
    }

    fn error(&self, what: &str, sha256: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            what: format!("blob store {}", self.shown),
            message: format!("{what} artefact {sha256}: {e}"),
        }
    }

    /// The bytes of an artefact, or `None` when the store does not hold it.
    pub(crate) fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (store, key) = (self.store.clone(), self.key(sha256));
        let got = bridge::run(async move {
            match store.get(&key).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        got.map_err(|e| self.error("reading", sha256, e))
    }

    /// Upload an artefact unless the store already holds it. Content-addressed, so an object
    /// already there (a concurrent put from another node included) is the same bytes.
    pub(crate) fn put_if_absent(&self, sha256: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let (store, key) = (self.store.clone(), self.key(sha256));
        let put = bridge::run(async move {
            match store.head(&key).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match store.put_opts(&key, PutPayload::from(bytes), opts).await {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                // Not every S3-compatible service supports conditional puts; an overwrite
                // with identical content is just as correct.
                Err(object_store::Error::NotImplemented { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })?;
        put.map_err(|e| self.error("storing", sha256, e))
    }

    /// Delete an artefact; a missing one is not an error.
    pub(crate) fn delete(&self, sha256: &str) -> Result<(), StoreError> {
        let (store, key) = (self.store.clone(), self.key(sha256));
        let gone = bridge::run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })?;
        gone.map_err(|e| self.error("deleting", sha256, e))
    }
}

//! Where metadata and artefacts live: the embedded default (sled and files in the data
//! directory) or a cluster's shared services. Set with `--meta`/`--blobs`/`--queue`, the
//! `MICROLEARN_META`/`MICROLEARN_BLOBS`/`MICROLEARN_QUEUE` variables, or `[cluster]` in
//! `microlearn.toml`, in that order of precedence.

use anyhow::Result;
use microlearn_store::StoreConfig;
use serde::Deserialize;

/// `[cluster]` in `microlearn.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterDefaults {
    /// Metadata: `postgres://USER@HOST:PORT/DATABASE`.
    pub meta: Option<String>,
    /// Artefacts: `file:///SHARED/DIR` or `s3://BUCKET?endpoint=…`.
    pub blobs: Option<String>,
    /// Work queue: `nats://HOST:PORT`.
    pub queue: Option<String>,
}

/// Where a process finds the cluster's services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSettings {
    /// Metadata and artefacts.
    pub store: StoreConfig,
    /// The work queue (`nats://HOST:PORT`), if the cluster has one.
    pub queue: Option<String>,
}

/// The settings from flags (already merged with the environment by clap) over the file.
pub fn settings(
    meta: Option<&str>,
    blobs: Option<&str>,
    queue: Option<&str>,
    file: &ClusterDefaults,
) -> Result<ClusterSettings> {
    let pick = |flag: Option<&str>, file: &Option<String>| {
        flag.map(str::to_string)
            .or_else(|| file.clone())
            .filter(|s| !s.trim().is_empty())
    };
    Ok(ClusterSettings {
        store: StoreConfig {
            meta: pick(meta, &file.meta),
            blobs: pick(blobs, &file.blobs),
        },
        queue: pick(queue, &file.queue),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_blank_means_embedded() {
        let file: ClusterDefaults = toml::from_str(
            "meta = \"postgres://postgres@db:5432/ml\"\nblobs = \"file:///srv\"\nqueue = \"nats://q:4222\"\n",
        )
        .unwrap();
        let c = settings(Some("postgres://me@other/x"), None, None, &file).unwrap();
        assert_eq!(c.store.meta.as_deref(), Some("postgres://me@other/x"));
        assert_eq!(c.store.blobs.as_deref(), Some("file:///srv"));
        assert_eq!(c.queue.as_deref(), Some("nats://q:4222"));
        let c = settings(Some(""), Some(" "), None, &ClusterDefaults::default()).unwrap();
        assert_eq!(c, ClusterSettings::default());
        assert!(toml::from_str::<ClusterDefaults>("metta = 1").is_err());
    }
}

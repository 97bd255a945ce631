//! The model bundle: one self-contained file with everything needed to score new rows — the
//! input schema, the preparer components with their fitted states, and the model.
//!
//! Layout: `MLBUNDLE` magic, format version (u32 LE), header length (u32 LE), a JSON header a
//! person can read with `head -c`, then a postcard payload whose sha256 is in the header. The
//! preparer components travel inside the bundle so that scoring applies exactly the code that
//! was fitted, even on a host where that plugin version is not installed.

use microlearn_core::{Metric, Params, Schema, Task};
use microlearn_train::TrainedModel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"MLBUNDLE";
/// The bundle format this build writes and reads.
///
/// v2: tree nodes carry categorical split sets and the model zoo gained kinds; v1 payloads
/// cannot be decoded as v2 (postcard has no optional fields), so they are refused by version
/// with advice instead of failing somewhere inside the payload.
/// v3: the `ensemble` model (a new last variant, so v2 payloads decode unchanged); older
/// builds refuse v3 by version instead of failing on the unknown variant.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format this build reads.
pub const OLDEST_READABLE_FORMAT: u32 = 2;

/// What a person (or a server deciding whether it can load the bundle) needs without decoding
/// the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleHeader {
    /// Bundle format version.
    pub format: u32,
    /// MicroLearn version that wrote it.
    pub microlearn_version: String,
    /// Model id.
    pub model_id: String,
    /// Model kind.
    pub kind: String,
    /// Task.
    pub task: Task,
    /// Target column name.
    pub target: String,
    /// Class labels in index order (empty for regression).
    pub labels: Vec<String>,
    /// The feature columns the model expects as input (the training file minus the target).
    pub input_schema: Schema,
    /// Columns after preparation, in the order the model was trained on.
    pub prepared_features: Vec<String>,
    /// Hyperparameters.
    pub params: Params,
    /// Held-out metrics.
    pub metrics: Vec<Metric>,
    /// Created, ms since the epoch.
    pub created_at_ms: i64,
    /// sha256 of the payload.
    pub payload_sha256: String,
    /// Class probabilities are blended towards uniform so none is below this (see
    /// `features::probability_floor`); 0 for regression and for bundles written before it.
    #[serde(default)]
    pub probability_floor: f64,
}

/// A preparer as stored in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledPreparer {
    /// Plugin id.
    pub id: String,
    /// Plugin version.
    pub version: String,
    /// Config it was fitted with.
    pub config: String,
    /// Fitted state.
    pub state: Vec<u8>,
    /// sha256 of the component.
    pub component_sha256: String,
    /// The component itself.
    pub component: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    preparers: Vec<BundledPreparer>,
    model: TrainedModel,
}

/// A decoded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Header.
    pub header: BundleHeader,
    /// Preparer chain, in order.
    pub preparers: Vec<BundledPreparer>,
    /// The model.
    pub model: TrainedModel,
}

/// Why a bundle cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file cannot be read.
    #[error("cannot read model bundle {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a bundle at all.
    #[error("{origin} is not a MicroLearn model bundle (it does not start with MLBUNDLE)")]
    NotABundle {
        /// Where it came from.
        origin: String,
    },
    /// Written by a newer MicroLearn.
    #[error(
        "{origin} uses bundle format v{found}; this MicroLearn reads up to v{supported} — upgrade MicroLearn to load it"
    )]
    NewerFormat {
        /// Where it came from.
        origin: String,
        /// Its format.
        found: u32,
        /// Newest readable.
        supported: u32,
    },
    /// Written by an older MicroLearn whose payload this build cannot decode.
    #[error(
        "{origin} uses bundle format v{found}, written by an older MicroLearn; this MicroLearn reads v{oldest} to v{supported} — retrain the model (or score with the MicroLearn that wrote it)"
    )]
    OlderFormat {
        /// Where it came from.
        origin: String,
        /// Its format.
        found: u32,
        /// Oldest readable.
        oldest: u32,
        /// Newest readable.
        supported: u32,
    },
    /// Damaged.
    #[error("{origin} is corrupted: {message}")]
    Corrupt {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Could not be encoded.
    #[error("cannot encode the model bundle: {0}")]
    Encode(String),
}

impl Bundle {
    /// Assemble a bundle; the payload hash is filled in by [`Bundle::to_bytes`].
    pub fn new(header: BundleHeader, preparers: Vec<BundledPreparer>, model: TrainedModel) -> Self {
        Bundle {
            header,
            preparers,
            model,
        }
    }

    /// Encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        let payload = postcard::to_allocvec(&Payload {
            preparers: self.preparers.clone(),
            model: self.model.clone(),
        })
        .map_err(|e| BundleError::Encode(e.to_string()))?;
        let mut header = self.header.clone();
        header.format = FORMAT_VERSION;
        header.payload_sha256 = hex::encode(Sha256::digest(&payload));
        let header_json =
            serde_json::to_vec(&header).map_err(|e| BundleError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(16 + header_json.len() + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
        out.extend_from_slice(&header_json);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Read only the header (cheap: the payload is not decoded or hashed).
    pub fn read_header(bytes: &[u8], origin: &str) -> Result<BundleHeader, BundleError> {
        Ok(split(bytes, origin)?.0)
    }

    /// Decode and verify.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Bundle, BundleError> {
        let (header, payload) = split(bytes, origin)?;
        let actual = hex::encode(Sha256::digest(payload));
        if actual != header.payload_sha256 {
            return Err(BundleError::Corrupt {
                origin: origin.into(),
                message: format!(
                    "payload hash is {actual}, the header says {}",
                    header.payload_sha256
                ),
            });
        }
        let p: Payload = postcard::from_bytes(payload).map_err(|e| BundleError::Corrupt {
            origin: origin.into(),
            message: format!("payload does not decode: {e}"),
        })?;
        for prep in &p.preparers {
            let sha = hex::encode(Sha256::digest(&prep.component));
            if sha != prep.component_sha256 {
                return Err(BundleError::Corrupt {
                    origin: origin.into(),
                    message: format!("preparer '{}' component hash mismatch", prep.id),
                });
            }
        }
        Ok(Bundle {
            header,
            preparers: p.preparers,
            model: p.model,
        })
    }

    /// Read a bundle file.
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Bundle::from_bytes(&bytes, &path.display().to_string())
    }
}

fn split<'a>(bytes: &'a [u8], origin: &str) -> Result<(BundleHeader, &'a [u8]), BundleError> {
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(BundleError::NotABundle {
            origin: origin.into(),
        });
    }
    let word = |at: usize| {
        u32::from_le_bytes(
            bytes[at..at + 4]
                .try_into()
                .expect("slice of length 4 converts to [u8; 4]"),
        )
    };
    let format = word(8);
    if format > FORMAT_VERSION {
        return Err(BundleError::NewerFormat {
            origin: origin.into(),
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    if format < OLDEST_READABLE_FORMAT {
        return Err(BundleError::OlderFormat {
            origin: origin.into(),
            found: format,
            oldest: OLDEST_READABLE_FORMAT,
            supported: FORMAT_VERSION,
        });
    }
    let header_len = word(12) as usize;
    let header_end = 16usize
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| BundleError::Corrupt {
            origin: origin.into(),
            message: format!(
                "header length {header_len} runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        })?;
    let header: BundleHeader =
        serde_json::from_slice(&bytes[16..header_end]).map_err(|e| BundleError::Corrupt {
            origin: origin.into(),
            message: format!("header is not valid: {e}"),
        })?;
    Ok((header, &bytes[header_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_version(version: u32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(b"{}");
        b
    }

    #[test]
    fn bundles_from_other_format_versions_are_refused_by_version_with_advice() {
        let err = Bundle::from_bytes(&with_version(1), "old.mlbundle").expect_err("v1");
        let msg = err.to_string();
        assert!(
            matches!(err, BundleError::OlderFormat { found: 1, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("old.mlbundle") && msg.contains("retrain"),
            "{msg}"
        );
        let err = Bundle::from_bytes(&with_version(FORMAT_VERSION + 1), "new.mlbundle")
            .expect_err("newer");
        assert!(matches!(err, BundleError::NewerFormat { .. }), "{err}");
        assert!(err.to_string().contains("upgrade"), "{err}");
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let err = Bundle::from_bytes(b"PK\x03\x04 a zip file", "m.zip").expect_err("zip");
        assert!(matches!(err, BundleError::NotABundle { .. }), "{err}");
        let mut b = with_version(FORMAT_VERSION);
        b.truncate(18);
        let err = Bundle::from_bytes(&b, "cut.mlbundle").expect_err("truncated");
        assert!(matches!(err, BundleError::Corrupt { .. }), "{err}");
    }
}

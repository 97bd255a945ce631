//! Newtype ids so a dataset id is never passed where a model id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id with this type's prefix.
            pub fn generate() -> Self {
                let uuid = uuid::Uuid::new_v4().simple().to_string();
                $name(format!(concat!($prefix, "_{}"), &uuid[..16]))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }
    };
}

id_type!(
    /// A stored dataset (content-addressed: derived from the file's sha256).
    DatasetId,
    "ds"
);
id_type!(
    /// A pipeline run.
    PipelineId,
    "pl"
);
id_type!(
    /// One hyperparameter trial of a pipeline.
    TrialId,
    "tr"
);
id_type!(
    /// A trained model (and its bundle).
    ModelId,
    "md"
);

//! Crate tests that go through files: every format, every error, the public datasets.

mod datasets;
mod datetimes;
mod errors;
mod formats;
mod fuzz;
mod schema_coercion;
mod targets;

use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, FileFormat, read_dataset, read_dataset_bytes};

/// Write `contents` to `name` inside a fresh temporary directory and read it back.
pub(crate) fn read_file(name: &str, contents: &[u8]) -> Result<Dataset, DataError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    read_dataset(&path)
}

/// Read in-memory CSV text.
pub(crate) fn csv(text: &str) -> Result<Dataset, DataError> {
    read_dataset_bytes(text.as_bytes(), FileFormat::Csv, "test.csv")
}

/// A public dataset from `$MICROLEARN_DATASETS` or the shared folder next to the repository;
/// `None` (and a note on stderr) where neither exists, e.g. a bare CI checkout.
pub(crate) fn public_dataset(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MICROLEARN_DATASETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"),
        PathBuf::from,
    );
    let path = dir.join(format!("{name}.csv"));
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}

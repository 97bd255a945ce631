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

/// A public dataset from the repository's `tests/data/` (exact copies of the small sets, seeded
/// samples of the large ones; see its README). A missing file fails the test: a data test that
/// passes without its data proves nothing.
pub(crate) fn public_dataset(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(format!("{name}.csv"));
    assert!(
        path.exists(),
        "test dataset {} is missing (tests/data/ ships with the repository)",
        path.display()
    );
    path
}

//! Dataset ingest for MicroLearn: read CSV/TSV/JSON/NDJSON/Parquet (through polars) into a
//! [`Table`](microlearn_core::Table), infer a schema, pick and check a target, split rows, profile
//! columns, and coerce new rows to a training schema.
//!
//! ```no_run
//! use std::path::Path;
//! use microlearn_data::{profile, read_dataset, split_target, stratified_split};
//!
//! let dataset = read_dataset(Path::new("titanic.csv"))?;
//! let (features, target) = split_target(&dataset, "survived", None)?;
//! let split = stratified_split(&target, 0.25, 42);
//! let train = features.take(&split.train);
//! println!("{} training rows, task {}", train.num_rows(), target.task);
//! let summary = profile(&dataset);
//! println!("{} columns profiled", summary.columns);
//! # Ok::<(), microlearn_data::DataError>(())
//! ```
//!
//! Reading rules, in short: a header row is required; column types come from the values
//! (CSV types are inferred from the first 10,000 rows, and the file is re-read with every row
//! considered when a later value disagrees); empty cells and `NA`, `N/A`, `null`, `NaN`, `?` are
//! missing in delimited text; a UTF-8 BOM is ignored; strings that are all dates or date-times
//! (ISO 8601, `27.11.2024`, `6/25/08 5:18 PM`, `25 Jun 2008`, offsets; see [`datetime`]) become
//! timestamps (UTC milliseconds) and strings that are all `true/false/yes/no` become booleans.
//! Ragged CSV records are rejected with their line number rather than padded.

mod coerce;
mod convert;
mod csv_scan;
pub mod datetime;
mod error;
mod format;
mod infer;
mod profile;
mod read;
mod split;
mod target;

pub use coerce::{
    apply_schema, apply_schema_for_scoring, coerce_column, coerce_to_schema, conform_dates,
};
pub use convert::BoolLabels;
pub use error::{DataError, DataErrorKind};
pub use format::FileFormat;
pub use infer::{infer_kind, infer_schema, infer_task};
pub use profile::{
    ColumnProfile, DISTINCT_CAP, DatasetProfile, HISTOGRAM_BINS, Histogram, NumericSummary,
    QUANTILES, TOP_VALUES, ValueCount, profile,
};
pub use read::{Dataset, NA_TOKENS, read_dataset, read_dataset_bytes};
pub use split::{Split, sample_rows, shuffle_rows, stratified_folds, stratified_split};
pub use target::{MAX_CLASSES, TargetInfo, label_order, split_target, target_info};

#[cfg(test)]
mod tests;

//! The one error type of this crate: a small struct around a `#[non_exhaustive]` kind, so callers
//! can match on what went wrong (and map it to a stable API error `type` with
//! [`DataError::code`]) while the message stays something a user can act on.

use std::path::PathBuf;

use microlearn_core::Task;

/// Why a dataset could not be read, split or coerced.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DataError {
    // Boxed so `Result<_, DataError>` stays one pointer wide on the happy path.
    kind: Box<DataErrorKind>,
}

impl DataError {
    /// What went wrong.
    pub fn kind(&self) -> &DataErrorKind {
        &self.kind
    }

    /// A stable, machine-readable slug for the kind (for problem+json `type`s and logs).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl From<DataErrorKind> for DataError {
    fn from(kind: DataErrorKind) -> Self {
        DataError {
            kind: Box::new(kind),
        }
    }
}

/// The supported file extensions, for messages.
pub(crate) const SUPPORTED_EXTENSIONS: &str =
    ".csv, .tsv, .tab, .json, .ndjson, .jsonl, .parquet, .pq";

/// What went wrong. `file` fields name the path or the upload's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// The path does not exist.
    #[error("file not found: {}", path.display())]
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The process may not read the path.
    #[error("permission denied reading {}: check the file's permissions", path.display())]
    PermissionDenied {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The path that was asked for.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The extension names no format we read.
    #[error(
        "'{file}': unsupported file type '{extension}'; supported extensions: {}",
        SUPPORTED_EXTENSIONS
    )]
    UnsupportedFormat {
        /// The file.
        file: String,
        /// Its extension (empty when it has none).
        extension: String,
    },
    /// Nothing at all in the file (not even a header).
    #[error("'{file}' is empty: expected a header row naming the columns, then data rows")]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// Columns but no rows.
    #[error("'{file}' has no data rows")]
    NoRows {
        /// The file.
        file: String,
    },
    /// Rows but no columns.
    #[error("'{file}' has no columns")]
    NoColumns {
        /// The file.
        file: String,
    },
    /// A text format whose bytes are not UTF-8.
    #[error(
        "'{file}' is not valid UTF-8: first bad byte at offset {offset} (line {line}){hint}; re-save the file as UTF-8"
    )]
    NotUtf8 {
        /// The file.
        file: String,
        /// Byte offset of the first invalid byte (from the start of the file).
        offset: usize,
        /// 1-based line of that byte.
        line: usize,
        /// Extra advice (e.g. the file looks like UTF-16), starting with "; " when present.
        hint: String,
    },
    /// A CSV record whose field count differs from the header's.
    #[error(
        "'{file}' line {line}: expected {expected} fields (as in the header) but found {found}; check for unquoted separators, missing fields or a stray line break"
    )]
    RaggedCsv {
        /// The file.
        file: String,
        /// 1-based physical line where the record starts.
        line: usize,
        /// Number of header fields.
        expected: usize,
        /// Number of fields in the record.
        found: usize,
    },
    /// A quoted CSV field that never ends.
    #[error("'{file}' line {line}: a quoted field starts here but its closing quote is missing")]
    UnterminatedQuote {
        /// The file.
        file: String,
        /// 1-based line where the quoted field starts.
        line: usize,
    },
    /// JSON syntax error.
    #[error("'{file}' is not valid JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Valid JSON of the wrong shape.
    #[error(
        "'{file}'{at}: expected a JSON array of objects (one object per row) or one object per line (NDJSON)"
    )]
    JsonNotRecords {
        /// The file.
        file: String,
        /// Where, e.g. " line 3", or empty.
        at: String,
    },
    /// Two columns share a name.
    #[error("'{file}': column name '{name}' appears more than once; column names must be unique")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The repeated name.
        name: String,
    },
    /// A column of a type tables cannot hold (nested JSON, binary, ...).
    #[error(
        "'{file}': column '{column}' holds {dtype} values, which are not supported; flatten or encode it as text or numbers first"
    )]
    UnsupportedColumnType {
        /// The file.
        file: String,
        /// The column.
        column: String,
        /// The reader's type name.
        dtype: String,
    },
    /// The reader rejected the file for another reason (its message is kept).
    #[error("could not parse '{file}': {message}")]
    Parse {
        /// The file.
        file: String,
        /// The reader's message.
        message: String,
    },
    /// No column has the target's name.
    #[error("target column '{target}' not found{}; available columns: {}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(), list_names(available))]
    UnknownTarget {
        /// The name asked for.
        target: String,
        /// The columns there are.
        available: Vec<String>,
        /// The closest existing name, when one is close.
        suggestion: Option<String>,
    },
    /// Some target values are missing.
    #[error(
        "target column '{target}' has {count} missing value(s), the first at data row {first_row}; drop or fill those rows before training"
    )]
    TargetHasMissing {
        /// The target.
        target: String,
        /// How many rows lack a target.
        count: usize,
        /// 1-based data row (not counting the header) of the first one.
        first_row: usize,
    },
    /// Every target value is missing.
    #[error("target column '{target}' has no values: every row is missing it")]
    TargetAllMissing {
        /// The target.
        target: String,
    },
    /// A classification target with one class.
    #[error(
        "target column '{target}' has only one class ('{label}'); classification needs at least two"
    )]
    SingleClass {
        /// The target.
        target: String,
        /// Its only label.
        label: String,
    },
    /// A classification target with implausibly many classes.
    #[error(
        "target column '{target}' has {classes} distinct values, more than the {max} classes allowed; is it the right column? A numeric target may want task 'regression'"
    )]
    TooManyClasses {
        /// The target.
        target: String,
        /// Distinct values found.
        classes: usize,
        /// The limit.
        max: usize,
    },
    /// A regression target that is not numbers.
    #[error(
        "target column '{target}' holds {dtype} values, so it cannot be a regression target; choose a classification task or a numeric column"
    )]
    RegressionTargetNotNumeric {
        /// The target.
        target: String,
        /// Its storage type.
        dtype: String,
    },
    /// The requested task does not fit the target's classes.
    #[error(
        "task '{task}' was requested but target column '{target}' has {classes} classes; use task 'multiclass' or 'binary' to match"
    )]
    TaskMismatch {
        /// The target.
        target: String,
        /// The task asked for.
        task: Task,
        /// Classes found.
        classes: usize,
    },
    /// A table lacks columns a schema requires.
    #[error(
        "missing column(s) the model was trained with: {}",
        list_names(missing)
    )]
    MissingColumns {
        /// The absent columns, in schema order.
        missing: Vec<String>,
    },
    /// A value cannot be converted to the schema's type.
    #[error(
        "column '{column}' data row {row}: cannot read {value} as {expected} (the training data held {expected})"
    )]
    Coerce {
        /// The column.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The value, quoted or described.
        value: String,
        /// The schema's storage type.
        expected: String,
    },
    /// The columns do not form a valid table.
    #[error("invalid table: {0}")]
    Table(#[from] microlearn_core::TableError),
    /// A reader failed unexpectedly; the file is almost certainly malformed.
    #[error("the reader failed on '{file}' ({message}); the file is probably malformed")]
    ReaderCrashed {
        /// The file.
        file: String,
        /// What the reader said.
        message: String,
    },
}

impl DataErrorKind {
    /// A stable slug per kind.
    pub fn code(&self) -> &'static str {
        match self {
            DataErrorKind::NotFound { .. } => "file-not-found",
            DataErrorKind::PermissionDenied { .. } => "permission-denied",
            DataErrorKind::Io { .. } => "io",
            DataErrorKind::UnsupportedFormat { .. } => "unsupported-format",
            DataErrorKind::EmptyFile { .. } => "empty-file",
            DataErrorKind::NoRows { .. } => "no-rows",
            DataErrorKind::NoColumns { .. } => "no-columns",
            DataErrorKind::NotUtf8 { .. } => "not-utf8",
            DataErrorKind::RaggedCsv { .. } => "ragged-csv",
            DataErrorKind::UnterminatedQuote { .. } => "unterminated-quote",
            DataErrorKind::MalformedJson { .. } => "malformed-json",
            DataErrorKind::JsonNotRecords { .. } => "json-not-records",
            DataErrorKind::DuplicateColumn { .. } => "duplicate-column",
            DataErrorKind::UnsupportedColumnType { .. } => "unsupported-column-type",
            DataErrorKind::Parse { .. } => "parse",
            DataErrorKind::UnknownTarget { .. } => "unknown-target",
            DataErrorKind::TargetHasMissing { .. } => "target-has-missing",
            DataErrorKind::TargetAllMissing { .. } => "target-all-missing",
            DataErrorKind::SingleClass { .. } => "single-class-target",
            DataErrorKind::TooManyClasses { .. } => "too-many-classes",
            DataErrorKind::RegressionTargetNotNumeric { .. } => "regression-target-not-numeric",
            DataErrorKind::TaskMismatch { .. } => "task-mismatch",
            DataErrorKind::MissingColumns { .. } => "missing-columns",
            DataErrorKind::Coerce { .. } => "coerce",
            DataErrorKind::Table(_) => "invalid-table",
            DataErrorKind::ReaderCrashed { .. } => "reader-crashed",
        }
    }
}

/// Names for a message: quoted, comma-separated, cut after 40 so a 2,000-column file does not
/// produce a 2,000-name error.
fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 40;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

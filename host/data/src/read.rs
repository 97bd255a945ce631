//! Reading files into a [`Dataset`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use microlearn_core::{Schema, Table};
use polars::prelude as pl;
use polars::prelude::SerReader;
use serde::{Deserialize, Serialize};

use crate::convert::{BoolLabels, Converted, dataframe_to_table};
use crate::csv_scan;
use crate::error::{DataError, DataErrorKind};
use crate::format::FileFormat;
use crate::infer::infer_schema;

/// Cells read as missing in delimited text (besides empty cells).
pub const NA_TOKENS: &[&str] = &["", "NA", "N/A", "null", "NaN", "?"];

/// How many CSV rows polars looks at to choose column types. When a later row disagrees (a
/// float in an "integer" column), the file is read again with every row inferred.
const CSV_INFER_ROWS: usize = 10_000;

/// A table read from a file, with its inferred schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The data.
    pub table: Table,
    /// Inferred column kinds and storage types, in table order.
    pub schema: Schema,
    /// The format it was read from.
    pub format: FileFormat,
    /// The path read, or the upload's name.
    pub source: PathBuf,
    /// For Boolean columns that came from words (`Yes`/`No`, `True`/`False`): how they were
    /// spelled. Class labels use these spellings.
    #[serde(default)]
    pub bool_labels: BTreeMap<String, BoolLabels>,
}

impl Dataset {
    /// Wrap a table built in memory, inferring its schema.
    pub fn from_table(table: Table, format: FileFormat, source: impl Into<PathBuf>) -> Dataset {
        Dataset {
            schema: infer_schema(&table),
            table,
            format,
            source: source.into(),
            bool_labels: BTreeMap::new(),
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.table.num_rows()
    }
}

/// Read a file; the format comes from its extension.
pub fn read_dataset(path: &Path) -> Result<Dataset, DataError> {
    let format = FileFormat::from_path(path)?;
    let bytes = std::fs::read(path).map_err(|e| {
        let path = path.to_path_buf();
        DataError::from(match e.kind() {
            std::io::ErrorKind::NotFound => DataErrorKind::NotFound { path },
            std::io::ErrorKind::PermissionDenied => DataErrorKind::PermissionDenied { path },
            _ => DataErrorKind::Io { path, source: e },
        })
    })?;
    let mut dataset = read_dataset_from(Cow::Owned(bytes), format, &path.display().to_string())?;
    dataset.source = path.to_path_buf();
    Ok(dataset)
}

/// Read an in-memory file (an API upload). `name` identifies it in messages.
pub fn read_dataset_bytes(
    bytes: &[u8],
    format: FileFormat,
    name: &str,
) -> Result<Dataset, DataError> {
    read_dataset_from(Cow::Borrowed(bytes), format, name)
}

/// [`read_dataset_bytes`] on bytes it may own: owned bytes are freed as soon as the reader
/// holds the values, before they are converted (a 10M-row CSV is 1.9 GB of text beside the
/// frame it becomes).
fn read_dataset_from(
    bytes: Cow<'_, [u8]>,
    format: FileFormat,
    name: &str,
) -> Result<Dataset, DataError> {
    let started = Instant::now();
    let size = bytes.len();
    let Converted {
        table,
        bool_labels,
        date_orders,
    } = read_table(bytes, format, name)?;
    let mut schema = infer_schema(&table);
    for column in &mut schema.columns {
        column.date_order = date_orders.get(&column.name).copied();
    }
    tracing::info!(
        file = name,
        %format,
        rows = table.num_rows(),
        columns = table.num_columns(),
        bytes = size,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "read dataset"
    );
    Ok(Dataset {
        table,
        schema,
        format,
        source: PathBuf::from(name),
        bool_labels,
    })
}

fn read_table(
    bytes: Cow<'_, [u8]>,
    format: FileFormat,
    file: &str,
) -> Result<Converted, DataError> {
    // polars is not written to survive every hostile byte string; a panic inside it must become
    // an error for this upload, never take the host down.
    let outcome = catch_unwind(AssertUnwindSafe(|| read_table_inner(bytes, format, file)));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "internal panic".to_string());
            Err(DataErrorKind::ReaderCrashed {
                file: file.to_string(),
                message,
            }
            .into())
        }
    }
}

fn read_table_inner(
    bytes: Cow<'_, [u8]>,
    format: FileFormat,
    file: &str,
) -> Result<Converted, DataError> {
    let converted = match format {
        FileFormat::Csv => read_delimited(bytes, None, file)?,
        FileFormat::Tsv => read_delimited(bytes, Some(b'\t'), file)?,
        FileFormat::Json | FileFormat::Ndjson => {
            let text = text(&bytes, file)?;
            let first = text.iter().position(|b| !b.is_ascii_whitespace());
            let Some(first) = first else {
                return Err(DataErrorKind::EmptyFile {
                    file: file.to_string(),
                }
                .into());
            };
            // `.json` files often hold one object per line; an array is only ever JSON.
            if format == FileFormat::Ndjson || text[first] == b'{' {
                read_ndjson(text, file)?
            } else {
                read_json_array(text, file)?
            }
        }
        FileFormat::Parquet => read_parquet(&bytes, file)?,
    };
    if converted.table.num_rows() == 0 {
        return Err(DataErrorKind::NoRows {
            file: file.to_string(),
        }
        .into());
    }
    if converted.table.num_columns() == 0 {
        return Err(DataErrorKind::NoColumns {
            file: file.to_string(),
        }
        .into());
    }
    Ok(converted)
}

/// Strip a UTF-8 BOM, check the rest is UTF-8 and not empty.
fn text<'a>(bytes: &'a [u8], file: &str) -> Result<&'a [u8], DataError> {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
    let (body, skipped) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (rest, 3),
        None => (bytes, 0),
    };
    if let Err(e) = std::str::from_utf8(body) {
        let offset = e.valid_up_to();
        let line = body[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(DataErrorKind::NotUtf8 {
            file: file.to_string(),
            offset: offset + skipped,
            line,
            hint: if utf16 {
                "; it looks like UTF-16".to_string()
            } else {
                String::new()
            },
        }
        .into());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DataErrorKind::EmptyFile {
            file: file.to_string(),
        }
        .into());
    }
    Ok(body)
}

/// Records looked at to guess a `.csv` file's decimal mark.
const SNIFF_LINES: usize = 50;

/// A `.csv` file is comma-separated unless its header has no comma outside quotes but does
/// have semicolons, tabs or pipes: spreadsheets in locales with a decimal comma write `;`,
/// and a user should not have to rename or convert their export first.
fn sniff_separator(text: &[u8]) -> u8 {
    // Any quote toggles here, not only one at a field's start as in the real parse: a header
    // like `city;"area, km²"` must not count as comma-separated.
    let first_line = text
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    let header = |sep: u8| {
        let mut quoted = false;
        first_line
            .iter()
            .filter(|&&b| {
                quoted ^= b == b'"';
                b == sep && !quoted
            })
            .count()
    };
    if header(b',') > 0 {
        return b',';
    }
    [b';', b'\t', b'|']
        .into_iter()
        .map(|sep| (header(sep), sep))
        .filter(|&(n, _)| n > 0)
        .max_by_key(|&(n, _)| n)
        .map_or(b',', |(_, sep)| sep)
}

/// Whether numbers in a file not separated by commas are written with a decimal comma
/// (`1,5`): some sampled field looks like one and none looks like `1.5`.
fn sniff_decimal_comma(text: &[u8], sep: u8) -> bool {
    if sep == b',' {
        return false;
    }
    let is_number_with = |f: &[u8], mark: u8| {
        let f = f.trim_ascii();
        let f = f.strip_prefix(b"-").unwrap_or(f);
        let Some(at) = f.iter().position(|&b| b == mark) else {
            return false;
        };
        at > 0
            && at + 1 < f.len()
            && f[..at].iter().all(u8::is_ascii_digit)
            && f[at + 1..].iter().all(u8::is_ascii_digit)
    };
    let rows = csv_scan::sample_records(text, sep, SNIFF_LINES);
    let fields = || rows.iter().skip(1).flatten().map(String::as_bytes);
    fields().any(|f| is_number_with(f, b',')) && !fields().any(|f| is_number_with(f, b'.'))
}

/// Read delimited text, `sep` or the sniffed separator. Owned bytes are dropped once polars
/// has parsed them, before the frame is converted.
fn read_delimited(
    bytes: Cow<'_, [u8]>,
    sep: Option<u8>,
    file: &str,
) -> Result<Converted, DataError> {
    let (df, header) = parse_delimited(&bytes, sep, file)?;
    drop(bytes);
    let mut converted = dataframe_to_table(df, file, true)?;
    rename_empty_headers(&mut converted, &header);
    Ok(converted)
}

/// The polars frame of delimited text, and the header as written.
fn parse_delimited(
    bytes: &[u8],
    sep: Option<u8>,
    file: &str,
) -> Result<(pl::DataFrame, Vec<String>), DataError> {
    let text = text(bytes, file)?;
    let sep = sep.unwrap_or_else(|| sniff_separator(text));
    let decimal_comma = sniff_decimal_comma(text, sep);
    let scan = csv_scan::scan(text, sep, file)?;
    let mut seen = std::collections::HashSet::new();
    // Blank names are renamed after reading, so only non-blank repeats are errors.
    for name in scan.header.iter().filter(|h| !h.trim().is_empty()) {
        if !seen.insert(name.as_str()) {
            return Err(DataErrorKind::DuplicateColumn {
                file: file.to_string(),
                name: name.clone(),
            }
            .into());
        }
    }
    if scan.records == 0 {
        return Err(DataErrorKind::NoRows {
            file: file.to_string(),
        }
        .into());
    }
    // Blank lines are rare; only then is the text copied without them.
    let without_blanks: Vec<u8>;
    let body = if scan.blank_lines.is_empty() {
        &text[scan.header_start..]
    } else {
        let mut kept = Vec::with_capacity(text.len());
        let mut from = scan.header_start;
        for blank in &scan.blank_lines {
            kept.extend_from_slice(&text[from..blank.start]);
            from = blank.end;
        }
        kept.extend_from_slice(&text[from..]);
        without_blanks = kept;
        &without_blanks
    };
    let df = match polars_csv(body, sep, decimal_comma, Some(CSV_INFER_ROWS)) {
        Ok(df) => df,
        Err(first) => {
            // A value that does not fit the inferred type (a float past the inference window,
            // an integer beyond i64): read again with every row informing the types, and as a
            // last resort as text, which `convert` types from the values itself.
            tracing::debug!(file, error = %first, "re-reading CSV with wider schema inference");
            let full = if scan.records > CSV_INFER_ROWS {
                polars_csv(body, sep, decimal_comma, None)
            } else {
                Err(first)
            };
            match full {
                Ok(df) => df,
                Err(_) => polars_csv(body, sep, decimal_comma, Some(0))
                    .map_err(|e| parse_error(file, e))?,
            }
        }
    };
    Ok((df, scan.header))
}

/// polars names a blank header cell itself; give such columns a stable, readable name instead.
fn rename_empty_headers(converted: &mut Converted, header: &[String]) {
    if header.iter().all(|h| !h.trim().is_empty()) {
        return;
    }
    let num_rows = converted.table.num_rows();
    let mut columns = std::mem::take(&mut converted.table).into_columns();
    let mut taken: std::collections::HashSet<String> = header
        .iter()
        .filter(|h| !h.trim().is_empty())
        .cloned()
        .collect();
    for (i, column) in columns.iter_mut().enumerate() {
        if header.get(i).is_some_and(|h| h.trim().is_empty()) {
            let mut name = format!("column_{}", i + 1);
            while taken.contains(&name) {
                name.push('_');
            }
            taken.insert(name.clone());
            if let Some(labels) = converted.bool_labels.remove(&column.name) {
                converted.bool_labels.insert(name.clone(), labels);
            }
            if let Some(order) = converted.date_orders.remove(&column.name) {
                converted.date_orders.insert(name.clone(), order);
            }
            column.name = name;
        }
    }
    converted.table = Table::with_rows(num_rows, columns)
        .expect("renaming to fresh unique names keeps the table valid");
}

fn polars_csv(
    body: &[u8],
    sep: u8,
    decimal_comma: bool,
    infer: Option<usize>,
) -> pl::PolarsResult<pl::DataFrame> {
    // No `null_values` here: NA tokens are matched after reading, per distinct string (see
    // `convert`), which halves polars' parse time on files like nyc_flights.
    pl::CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(infer)
        .with_raise_if_empty(false)
        .map_parse_options(|p| {
            p.with_separator(sep)
                .with_decimal_comma(decimal_comma)
                .with_quote_char(Some(b'"'))
                .with_missing_is_null(true)
                .with_try_parse_dates(false)
        })
        .into_reader_with_file_handle(Cursor::new(body))
        .finish()
}

fn parse_error(file: &str, e: pl::PolarsError) -> DataError {
    DataErrorKind::Parse {
        file: file.to_string(),
        message: e.to_string(),
    }
    .into()
}

fn read_json_array(text: &[u8], file: &str) -> Result<Converted, DataError> {
    let df = pl::JsonReader::new(Cursor::new(text))
        .with_json_format(pl::JsonFormat::Json)
        // Look at every record: JSON is small next to CSV, and a late float must not fail.
        .infer_schema_len(None)
        .finish()
        .map_err(|e| diagnose_json(text, file, e))?;
    dataframe_to_table(df, file, false)
}

fn read_ndjson(text: &[u8], file: &str) -> Result<Converted, DataError> {
    let df = pl::JsonReader::new(Cursor::new(text))
        .with_json_format(pl::JsonFormat::JsonLines)
        .infer_schema_len(None)
        .finish()
        .map_err(|e| diagnose_ndjson(text, file, e))?;
    dataframe_to_table(df, file, false)
}

/// polars' JSON errors carry no position; find the first problem with serde_json instead.
fn diagnose_json(text: &[u8], file: &str, polars: pl::PolarsError) -> DataError {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Err(e) => malformed_json(file, e.line(), e.column(), &e),
        Ok(serde_json::Value::Array(items)) => {
            if items.iter().all(serde_json::Value::is_object) {
                parse_error(file, polars)
            } else {
                DataErrorKind::JsonNotRecords {
                    file: file.to_string(),
                    at: String::new(),
                }
                .into()
            }
        }
        Ok(_) => DataErrorKind::JsonNotRecords {
            file: file.to_string(),
            at: String::new(),
        }
        .into(),
    }
}

fn diagnose_ndjson(text: &[u8], file: &str, polars: pl::PolarsError) -> DataError {
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(line) {
            Err(e) => return malformed_json(file, i + 1, e.column(), &e),
            Ok(v) if !v.is_object() => {
                return DataErrorKind::JsonNotRecords {
                    file: file.to_string(),
                    at: format!(" line {}", i + 1),
                }
                .into();
            }
            Ok(_) => {}
        }
    }
    parse_error(file, polars)
}

fn malformed_json(file: &str, line: usize, column: usize, e: &serde_json::Error) -> DataError {
    // serde_json appends " at line L column C"; we report those as fields.
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    DataErrorKind::MalformedJson {
        file: file.to_string(),
        line,
        column,
        message,
    }
    .into()
}

fn read_parquet(bytes: &[u8], file: &str) -> Result<Converted, DataError> {
    if bytes.is_empty() {
        return Err(DataErrorKind::EmptyFile {
            file: file.to_string(),
        }
        .into());
    }
    let df = pl::ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| {
            DataError::from(DataErrorKind::Parse {
                file: file.to_string(),
                message: format!("not a readable Parquet file: {e}"),
            })
        })?;
    dataframe_to_table(df, file, false)
}

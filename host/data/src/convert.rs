//! polars `DataFrame` → MicroLearn [`Table`].
//!
//! Storage rules: floats → Float64 (NaN counts as missing), integers of every width → Int64
//! (a UInt64 column with a value past `i64::MAX` → Float64), booleans → Boolean, strings →
//! Categorical with a first-seen dictionary, Date/Datetime → TimestampMs (UTC). String columns
//! are looked at once more: if every distinct value is a true/false word they become Boolean,
//! and if every distinct value is a date or date-time ([`crate::datetime`]: ISO 8601, numeric
//! dates in either order, month names, times with or without AM/PM and offsets) they become
//! TimestampMs.

use std::collections::BTreeMap;

use microlearn_core::{Column, ColumnData, Dictionary, Table};
use polars::prelude as pl;
use polars::prelude::InitHashMaps;
use serde::{Deserialize, Serialize};

use crate::datetime::{DateOrder, detect_dates};
use crate::error::{DataError, DataErrorKind};
use crate::read::NA_TOKENS;

/// How a Boolean column read from text spelled its values (e.g. `No`/`Yes`), so class labels and
/// predictions can be shown in the user's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoolLabels {
    /// The spelling of `false`.
    pub false_label: String,
    /// The spelling of `true`.
    pub true_label: String,
}

impl Default for BoolLabels {
    fn default() -> Self {
        BoolLabels {
            false_label: "false".into(),
            true_label: "true".into(),
        }
    }
}

/// A converted frame.
pub(crate) struct Converted {
    pub table: Table,
    pub bool_labels: BTreeMap<String, BoolLabels>,
    /// Timestamp columns that were numeric dates, and their order.
    pub date_orders: BTreeMap<String, DateOrder>,
}

/// How a text column's values were written, when that decides how later values are read.
pub(crate) enum Spelling {
    /// True/false words.
    Bool(BoolLabels),
    /// Numeric dates in this order.
    Date(DateOrder),
}

fn polars_err(file: &str, e: pl::PolarsError) -> DataError {
    DataErrorKind::Parse {
        file: file.to_string(),
        message: e.to_string(),
    }
    .into()
}

/// `delimited`: the frame came from CSV/TSV, where every value was text. Then NA tokens in string
/// columns are missing and string columns whose values are all numbers become numeric (polars
/// reads a numeric column holding an `NA` as strings; matching the tokens here, once per
/// distinct value, is much cheaper than asking polars to compare every cell with them).
///
/// The frame is consumed column by column, each polars column dropped once converted, so a
/// large file is never held whole as both a frame and a table.
pub(crate) fn dataframe_to_table(
    df: pl::DataFrame,
    file: &str,
    delimited: bool,
) -> Result<Converted, DataError> {
    let height = df.height();
    let mut columns = Vec::with_capacity(df.width());
    let mut bool_labels = BTreeMap::new();
    let mut date_orders = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for col in df.into_columns() {
        let series = col.as_materialized_series();
        let name = series.name().to_string();
        if !seen.insert(name.clone()) {
            return Err(DataErrorKind::DuplicateColumn {
                file: file.to_string(),
                name,
            }
            .into());
        }
        let (column, spelling) = series_to_column(series, &name, file, delimited)?;
        match spelling {
            Some(Spelling::Bool(labels)) => {
                bool_labels.insert(name, labels);
            }
            Some(Spelling::Date(order)) => {
                date_orders.insert(name, order);
            }
            None => {}
        }
        columns.push(column);
    }
    let table = Table::with_rows(height, columns).map_err(DataErrorKind::from)?;
    Ok(Converted {
        table,
        bool_labels,
        date_orders,
    })
}

fn series_to_column(
    s: &pl::Series,
    name: &str,
    file: &str,
    delimited: bool,
) -> Result<(Column, Option<Spelling>), DataError> {
    use pl::DataType as D;
    let err = |e| polars_err(file, e);
    let column = match s.dtype() {
        D::Boolean => {
            let ca = s.bool().map_err(err)?;
            let mut values = Vec::with_capacity(ca.len());
            let mut validity = Vec::with_capacity(ca.len());
            for v in ca.iter() {
                values.push(v.unwrap_or(false));
                validity.push(v.is_some());
            }
            with_validity(name, ColumnData::Boolean(values), validity)
        }
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
            let cast = s.cast(&D::Int64).map_err(err)?;
            int_column(name, cast.i64().map_err(err)?)
        }
        D::UInt64 => {
            let ca = s.u64().map_err(err)?;
            let fits = ca.iter().flatten().all(|v| i64::try_from(v).is_ok());
            if fits {
                let cast = s.cast(&D::Int64).map_err(err)?;
                int_column(name, cast.i64().map_err(err)?)
            } else {
                let cast = s.cast(&D::Float64).map_err(err)?;
                float_column(name, cast.f64().map_err(err)?)
            }
        }
        D::Int128 | D::UInt128 => match s.strict_cast(&D::Int64) {
            Ok(cast) => int_column(name, cast.i64().map_err(err)?),
            Err(_) => {
                let cast = s.cast(&D::Float64).map_err(err)?;
                float_column(name, cast.f64().map_err(err)?)
            }
        },
        D::Float16 | D::Float32 | D::Float64 => {
            let cast = s.cast(&D::Float64).map_err(err)?;
            float_column(name, cast.f64().map_err(err)?)
        }
        D::String => {
            let (column, labels) = string_column(name, s.str().map_err(err)?, delimited);
            return Ok((column, labels));
        }
        D::Date => {
            let phys = s.to_physical_repr();
            let cast = phys.cast(&D::Int64).map_err(err)?;
            timestamp_column(name, cast.i64().map_err(err)?, |days| {
                days.saturating_mul(86_400_000)
            })
        }
        D::Datetime(unit, _) => {
            // The physical value of a polars datetime is UTC whatever its zone.
            let per_ms: i64 = match unit {
                pl::TimeUnit::Nanoseconds => 1_000_000,
                pl::TimeUnit::Microseconds => 1_000,
                pl::TimeUnit::Milliseconds => 1,
            };
            let phys = s.to_physical_repr();
            timestamp_column(name, phys.i64().map_err(err)?, |v| v.div_euclid(per_ms))
        }
        D::Duration(unit) => {
            // Durations become seconds: a number a model can use directly.
            let per_s = match unit {
                pl::TimeUnit::Nanoseconds => 1e9,
                pl::TimeUnit::Microseconds => 1e6,
                pl::TimeUnit::Milliseconds => 1e3,
            };
            seconds_column(name, &s.to_physical_repr(), per_s, file)?
        }
        D::Time => seconds_column(name, &s.to_physical_repr(), 1e9, file)?,
        D::Categorical(..) | D::Enum(..) => {
            let cast = s.cast(&D::String).map_err(err)?;
            let (column, labels) = string_column(name, cast.str().map_err(err)?, false);
            return Ok((column, labels));
        }
        D::Null => with_validity(
            name,
            ColumnData::Float64(vec![f64::NAN; s.len()]),
            vec![false; s.len()],
        ),
        other => {
            let dtype = match other {
                D::List(_) => "nested list".to_string(),
                D::Struct(_) => "nested object".to_string(),
                D::Binary | D::BinaryOffset => "binary".to_string(),
                other => other.to_string(),
            };
            return Err(DataErrorKind::UnsupportedColumnType {
                file: file.to_string(),
                column: name.to_string(),
                dtype,
            }
            .into());
        }
    };
    Ok((column, None))
}

fn with_validity(name: &str, data: ColumnData, validity: Vec<bool>) -> Column {
    let mut column = Column::new(name, data);
    column.set_validity(validity);
    column
}

/// Values and validity of a primitive polars column, chunk by chunk (no per-value `Option`).
/// Null slots get `missing`, so identical data read from different formats compares equal.
fn primitive_parts<T>(
    ca: &pl::ChunkedArray<T>,
    missing: T::Native,
) -> (Vec<T::Native>, Option<Vec<bool>>)
where
    T: pl::PolarsNumericType,
{
    let mut values = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        values.extend_from_slice(arr.values().as_slice());
    }
    if ca.null_count() == 0 {
        return (values, None);
    }
    let mut validity = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        match arr.validity() {
            Some(bits) => validity.extend(bits.iter()),
            None => validity.extend(std::iter::repeat_n(true, arr.len())),
        }
    }
    for (v, &ok) in values.iter_mut().zip(&validity) {
        if !ok {
            *v = missing;
        }
    }
    (values, Some(validity))
}

fn int_column(name: &str, ca: &pl::Int64Chunked) -> Column {
    let (values, validity) = primitive_parts(ca, 0);
    Column {
        name: name.to_string(),
        data: ColumnData::Int64(values),
        validity,
    }
}

fn float_column(name: &str, ca: &pl::Float64Chunked) -> Column {
    let (values, validity) = primitive_parts(ca, f64::NAN);
    // NaN is missing, as the CSV reader already treats the "NaN" token.
    if validity.is_none() && !values.iter().any(|v| v.is_nan()) {
        return Column::new(name, ColumnData::Float64(values));
    }
    let validity = values.iter().map(|v| !v.is_nan()).collect();
    with_validity(name, ColumnData::Float64(values), validity)
}

fn timestamp_column(name: &str, ca: &pl::Int64Chunked, to_ms: impl Fn(i64) -> i64) -> Column {
    let (mut values, validity) = primitive_parts(ca, 0);
    for (i, v) in values.iter_mut().enumerate() {
        if validity.as_ref().is_none_or(|ok| ok[i]) {
            *v = to_ms(*v);
        }
    }
    Column {
        name: name.to_string(),
        data: ColumnData::TimestampMs(values),
        validity,
    }
}

fn seconds_column(
    name: &str,
    phys: &pl::Series,
    per_s: f64,
    file: &str,
) -> Result<Column, DataError> {
    let cast = phys
        .cast(&pl::DataType::Int64)
        .map_err(|e| polars_err(file, e))?;
    let ca = cast.i64().map_err(|e| polars_err(file, e))?;
    let mut values = Vec::with_capacity(ca.len());
    let mut validity = Vec::with_capacity(ca.len());
    for v in ca.iter() {
        values.push(v.map_or(f64::NAN, |x| x as f64 / per_s));
        validity.push(v.is_some());
    }
    Ok(with_validity(name, ColumnData::Float64(values), validity))
}

/// Words read as booleans (compared case-insensitively).
pub(crate) fn parse_bool_word(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// The other truth value in the same style: `Yes` → `No`, `TRUE` → `FALSE`.
fn counterpart(word: &str) -> String {
    let lower = word.trim().to_ascii_lowercase();
    let other = match lower.as_str() {
        "true" => "false",
        "false" => "true",
        "yes" => "no",
        _ => "yes",
    };
    if word.len() > 1 && word.chars().all(|c| c.is_ascii_uppercase()) {
        other.to_ascii_uppercase()
    } else if word.starts_with(|c: char| c.is_ascii_uppercase()) {
        let mut s = other.to_string();
        s[..1].make_ascii_uppercase();
        s
    } else {
        other.to_string()
    }
}

/// Dictionary-encode a string column, then promote it to Boolean, TimestampMs or (for delimited
/// text) a number when every distinct value allows it. Checking distinct values only keeps this
/// cheap on big columns.
fn string_column(
    name: &str,
    ca: &pl::StringChunked,
    delimited: bool,
) -> (Column, Option<Spelling>) {
    let mut lookup: pl::PlHashMap<&str, u32> = pl::PlHashMap::new();
    let mut dictionary: Vec<&str> = Vec::new();
    let mut codes = Vec::with_capacity(ca.len());
    let mut validity = Vec::with_capacity(ca.len());
    for v in ca.iter() {
        match v {
            Some(s) => {
                let code = *lookup.entry(s).or_insert_with(|| {
                    dictionary.push(s);
                    (dictionary.len() - 1) as u32
                });
                codes.push(code);
                validity.push(true);
            }
            None => {
                codes.push(0);
                validity.push(false);
            }
        }
    }
    if delimited && dictionary.iter().any(|s| NA_TOKENS.contains(s)) {
        drop_na_tokens(&mut dictionary, &mut codes, &mut validity);
    }
    if dictionary.is_empty() {
        // No value at all: nothing says it is text, so keep it numeric and all-missing.
        let n = codes.len();
        return (
            with_validity(name, ColumnData::Float64(vec![f64::NAN; n]), validity),
            None,
        );
    }
    if let Some(bools) = dictionary
        .iter()
        .map(|s| parse_bool_word(s))
        .collect::<Option<Vec<bool>>>()
    {
        let labels = bool_labels(&dictionary, &bools);
        let values = decode(&codes, &validity, &bools, false);
        return (
            with_validity(name, ColumnData::Boolean(values), validity),
            Some(Spelling::Bool(labels)),
        );
    }
    if let Some(dates) = detect_dates(&dictionary) {
        let values = decode(&codes, &validity, &dates.ms, 0);
        return (
            with_validity(name, ColumnData::TimestampMs(values), validity),
            dates.order.map(Spelling::Date),
        );
    }
    if delimited {
        if let Some(ints) = dictionary
            .iter()
            .map(|s| s.parse::<i64>().ok())
            .collect::<Option<Vec<i64>>>()
        {
            let values = decode(&codes, &validity, &ints, 0);
            return (
                with_validity(name, ColumnData::Int64(values), validity),
                None,
            );
        }
        if let Some(floats) = dictionary
            .iter()
            .map(|s| s.parse::<f64>().ok())
            .collect::<Option<Vec<f64>>>()
        {
            let values = decode(&codes, &validity, &floats, f64::NAN);
            // "nan" spelled any other way is still not a value.
            for (v, ok) in values.iter().zip(validity.iter_mut()) {
                if v.is_nan() {
                    *ok = false;
                }
            }
            return (
                with_validity(name, ColumnData::Float64(values), validity),
                None,
            );
        }
    }
    let dictionary = dictionary.into_iter().map(str::to_string).collect();
    (
        with_validity(
            name,
            ColumnData::Categorical(Dictionary { codes, dictionary }),
            validity,
        ),
        None,
    )
}

/// Per row: the converted value of its code, or `missing` where the row is missing.
fn decode<T: Copy>(codes: &[u32], validity: &[bool], by_code: &[T], missing: T) -> Vec<T> {
    codes
        .iter()
        .zip(validity)
        .map(|(&c, &ok)| if ok { by_code[c as usize] } else { missing })
        .collect()
}

/// Remove NA-token entries from a dictionary, marking their rows missing and renumbering codes.
fn drop_na_tokens(dictionary: &mut Vec<&str>, codes: &mut [u32], validity: &mut [bool]) {
    let mut remap = vec![None; dictionary.len()];
    let mut kept = Vec::with_capacity(dictionary.len());
    for (old, s) in dictionary.iter().enumerate() {
        if !NA_TOKENS.contains(s) {
            remap[old] = Some(kept.len() as u32);
            kept.push(*s);
        }
    }
    for (code, ok) in codes.iter_mut().zip(validity.iter_mut()) {
        if !*ok {
            continue;
        }
        match remap[*code as usize] {
            Some(new) => *code = new,
            None => {
                *code = 0;
                *ok = false;
            }
        }
    }
    *dictionary = kept;
}

/// The spellings of false and true in a dictionary of boolean words (first seen wins).
fn bool_labels(dictionary: &[&str], bools: &[bool]) -> BoolLabels {
    let first = |want: bool| {
        dictionary
            .iter()
            .zip(bools)
            .find(|(_, b)| **b == want)
            .map(|(s, _)| s.trim().to_string())
    };
    match (first(false), first(true)) {
        (Some(f), Some(t)) => BoolLabels {
            false_label: f,
            true_label: t,
        },
        (Some(f), None) => BoolLabels {
            true_label: counterpart(&f),
            false_label: f,
        },
        (None, Some(t)) => BoolLabels {
            false_label: counterpart(&t),
            true_label: t,
        },
        (None, None) => BoolLabels::default(),
    }
}

//! Bringing a new table (rows to score, perhaps from another format) to a training schema.

use microlearn_core::{Column, ColumnData, ColumnSchema, Dictionary, Schema, Table};

use crate::convert::parse_bool_word;
use crate::datetime::{DateOrder, format_iso8601_ms, parse_date_ms};
use crate::error::{DataError, DataErrorKind};
use crate::read::{Dataset, NA_TOKENS};

/// Coerce `table` to `schema`: the schema's columns in the schema's order with its storage types.
///
/// Integers and floats convert both ways (a float must be a whole number to become an integer);
/// strings that parse as numbers, booleans (`true/false/yes/no`, any case) or dates
/// convert to those; numbers and booleans convert to categorical text; NA tokens
/// (`""`, `NA`, `N/A`, `null`, `NaN`, `?`) in strings become missing; a column with no present
/// values takes any type. Extra columns are dropped. Every schema column is required; use
/// [`apply_schema_for_scoring`] when the target may be absent.
pub fn apply_schema(table: Table, schema: &Schema) -> Result<Table, DataError> {
    apply(table, schema, &[])
}

/// Like [`apply_schema`], but `target` may be absent (rows to score have no label). When
/// present it is coerced and kept, so scored files can also be evaluated.
pub fn apply_schema_for_scoring(
    table: Table,
    schema: &Schema,
    target: &str,
) -> Result<Table, DataError> {
    apply(table, schema, &[target])
}

fn apply(table: Table, schema: &Schema, optional: &[&str]) -> Result<Table, DataError> {
    let num_rows = table.num_rows();
    let missing: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| table.column(&c.name).is_none() && !optional.contains(&c.name.as_str()))
        .map(|c| c.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(DataErrorKind::MissingColumns { missing }.into());
    }
    let mut columns = table.into_columns();
    let mut out = Vec::with_capacity(schema.columns.len());
    for spec in &schema.columns {
        let Some(pos) = columns.iter().position(|c| c.name == spec.name) else {
            continue;
        };
        let column = columns.swap_remove(pos);
        out.push(coerce_to_schema(column, spec)?);
    }
    Ok(Table::with_rows(num_rows, out).map_err(DataErrorKind::from)?)
}

/// Make the numeric-date columns of a file read for scoring follow the order the training
/// schema `expected` gives. Every file's order is judged from its own values, so a file whose
/// dates all fit both orders may have been read the other way round; those are read again.
/// A date that only fits the other order is an error naming the column and row.
pub fn conform_dates(dataset: &mut Dataset, expected: &Schema) -> Result<(), DataError> {
    // Columns this file read in the other order than training did.
    let flip: Vec<(String, DateOrder)> = expected
        .columns
        .iter()
        .filter_map(|spec| {
            let want = spec.date_order?;
            let got = dataset.schema.column(&spec.name)?.date_order?;
            (got != want).then(|| (spec.name.clone(), want))
        })
        .collect();
    if flip.is_empty() {
        return Ok(());
    }
    let num_rows = dataset.table.num_rows();
    let mut columns = std::mem::take(&mut dataset.table).into_columns();
    let flipped = columns.iter_mut().try_for_each(|column| {
        match flip.iter().find(|(name, _)| *name == column.name) {
            Some(&(_, want)) => swap_column_day_month(column, want),
            None => Ok(()),
        }
    });
    // The table goes back whole even when a value is refused.
    dataset.table = Table::with_rows(num_rows, columns).map_err(DataErrorKind::from)?;
    flipped?;
    for (name, want) in flip {
        if let Some(c) = dataset.schema.columns.iter_mut().find(|c| c.name == name) {
            c.date_order = Some(want);
        }
    }
    Ok(())
}

/// Read a timestamp column's dates the other way round, into `want` order.
fn swap_column_day_month(column: &mut Column, want: DateOrder) -> Result<(), DataError> {
    let Column {
        name,
        data,
        validity,
    } = column;
    let ColumnData::TimestampMs(values) = data else {
        return Ok(());
    };
    for (row, value) in values.iter_mut().enumerate() {
        if validity.as_ref().is_some_and(|v| !v[row]) {
            continue;
        }
        *value = swap_day_month(*value).ok_or_else(|| {
            let (read, wanted) = match want {
                DateOrder::Dmy => ("month first", "day-first dates"),
                DateOrder::Mdy => ("day first", "month-first dates"),
            };
            let shown = format!("{} (only readable {read})", format_iso8601_ms(*value));
            coerce_error(name, row, shown, wanted)
        })?;
    }
    Ok(())
}

/// The same instant with day and month exchanged, if that is a date.
fn swap_day_month(ms: i64) -> Option<i64> {
    const DAY_MS: i64 = 86_400_000;
    let (days, in_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let (y, m, d) = crate::datetime::civil_from_days(days);
    let iso = format!("{y:04}-{d:02}-{m:02}");
    parse_date_ms(&iso, None).map(|midnight| midnight + in_day)
}

fn coerce_error(column: &str, row: usize, value: String, expected: &str) -> DataError {
    DataErrorKind::Coerce {
        column: column.to_string(),
        row: row + 1,
        value,
        expected: expected.to_string(),
    }
    .into()
}

fn is_na(s: &str) -> bool {
    let t = s.trim();
    NA_TOKENS.contains(&t)
}

/// Coerce one column to the storage type named `dtype` (see `ColumnData::type_name`).
/// Timestamps must be dates that need no order here (ISO 8601, month names);
/// [`coerce_to_schema`] also reads a column's numeric dates in its schema's order.
pub fn coerce_column(column: Column, dtype: &str) -> Result<Column, DataError> {
    coerce(column, dtype, None)
}

/// Coerce one column to what `spec` says (its storage type, and for timestamps read from
/// numeric dates, their order).
pub fn coerce_to_schema(column: Column, spec: &ColumnSchema) -> Result<Column, DataError> {
    coerce(column, &spec.dtype, spec.date_order)
}

fn coerce(column: Column, dtype: &str, order: Option<DateOrder>) -> Result<Column, DataError> {
    if column.data.type_name() == dtype {
        return Ok(column);
    }
    let n = column.len();
    let name = column.name.clone();
    let mut validity: Vec<bool> = (0..n).map(|r| column.is_valid(r)).collect();
    if !validity.iter().any(|&v| v) {
        let data = match dtype {
            "int64" => ColumnData::Int64(vec![0; n]),
            "boolean" => ColumnData::Boolean(vec![false; n]),
            "categorical" => ColumnData::Categorical(Dictionary {
                codes: vec![0; n],
                dictionary: Vec::new(),
            }),
            "timestamp" => ColumnData::TimestampMs(vec![0; n]),
            _ => ColumnData::Float64(vec![f64::NAN; n]),
        };
        let mut out = Column::new(name, data);
        out.set_validity(validity);
        return Ok(out);
    }
    let data = match dtype {
        "float64" => ColumnData::Float64(to_float(&column, &mut validity)?),
        "int64" => ColumnData::Int64(to_int(&column, &mut validity)?),
        "boolean" => ColumnData::Boolean(to_bool(&column, &mut validity)?),
        "timestamp" => ColumnData::TimestampMs(to_timestamp(&column, &mut validity, order)?),
        "categorical" => ColumnData::Categorical(to_categorical(&column, &validity)),
        other => {
            return Err(coerce_error(
                &name,
                0,
                format!("a {} column", column.data.type_name()),
                other,
            ));
        }
    };
    let mut out = Column::new(name, data);
    out.set_validity(validity);
    Ok(out)
}

/// Apply `f` to each present string; NA tokens become missing.
fn from_strings<T: Default + Clone>(
    column: &Column,
    d: &Dictionary,
    validity: &mut [bool],
    expected: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, DataError> {
    // Convert each dictionary entry once; codes then index the converted values.
    let converted: Vec<Option<T>> = d
        .dictionary
        .iter()
        .map(|s| if is_na(s) { None } else { f(s.trim()) })
        .collect();
    let mut out = vec![T::default(); d.codes.len()];
    for (row, &code) in d.codes.iter().enumerate() {
        if !validity[row] {
            continue;
        }
        let raw = &d.dictionary[code as usize];
        match &converted[code as usize] {
            Some(v) => out[row] = v.clone(),
            None if is_na(raw) => validity[row] = false,
            None => {
                return Err(coerce_error(
                    &column.name,
                    row,
                    format!("'{raw}'"),
                    expected,
                ));
            }
        }
    }
    Ok(out)
}

fn to_float(column: &Column, validity: &mut [bool]) -> Result<Vec<f64>, DataError> {
    Ok(match &column.data {
        ColumnData::Float64(v) => v.clone(),
        ColumnData::Int64(v) => v.iter().map(|&x| x as f64).collect(),
        ColumnData::Boolean(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
        ColumnData::Categorical(d) => from_strings(column, d, validity, "float64", |s| {
            s.parse::<f64>().ok().filter(|x| !x.is_nan())
        })?,
        ColumnData::TimestampMs(_) => {
            return Err(first_present_error(column, validity, "float64"));
        }
    })
}

fn to_int(column: &Column, validity: &mut [bool]) -> Result<Vec<i64>, DataError> {
    let whole = |x: f64| (x.fract() == 0.0 && x.abs() < 9.0e18).then_some(x as i64);
    Ok(match &column.data {
        ColumnData::Int64(v) => v.clone(),
        ColumnData::Float64(v) => {
            let mut out = Vec::with_capacity(v.len());
            for (row, &x) in v.iter().enumerate() {
                if !validity[row] || x.is_nan() {
                    validity[row] = false;
                    out.push(0);
                    continue;
                }
                match whole(x) {
                    Some(i) => out.push(i),
                    None => {
                        return Err(coerce_error(
                            &column.name,
                            row,
                            format!("{x} (not a whole number)"),
                            "int64",
                        ));
                    }
                }
            }
            out
        }
        ColumnData::Boolean(v) => v.iter().map(|&b| i64::from(b)).collect(),
        ColumnData::Categorical(d) => from_strings(column, d, validity, "int64", |s| {
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        })?,
        ColumnData::TimestampMs(_) => {
            return Err(first_present_error(column, validity, "int64"));
        }
    })
}

fn to_bool(column: &Column, validity: &mut [bool]) -> Result<Vec<bool>, DataError> {
    let number = |x: f64, row: usize| {
        if x == 0.0 {
            Ok(false)
        } else if x == 1.0 {
            Ok(true)
        } else {
            Err(coerce_error(&column.name, row, format!("{x}"), "boolean"))
        }
    };
    Ok(match &column.data {
        ColumnData::Boolean(v) => v.clone(),
        ColumnData::Int64(v) => v
            .iter()
            .enumerate()
            .map(|(r, &x)| {
                if validity[r] {
                    number(x as f64, r)
                } else {
                    Ok(false)
                }
            })
            .collect::<Result<_, _>>()?,
        ColumnData::Float64(v) => v
            .iter()
            .enumerate()
            .map(|(r, &x)| if validity[r] { number(x, r) } else { Ok(false) })
            .collect::<Result<_, _>>()?,
        ColumnData::Categorical(d) => from_strings(column, d, validity, "boolean", |s| {
            parse_bool_word(s).or(match s {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            })
        })?,
        ColumnData::TimestampMs(_) => {
            return Err(first_present_error(column, validity, "boolean"));
        }
    })
}

fn to_timestamp(
    column: &Column,
    validity: &mut [bool],
    order: Option<DateOrder>,
) -> Result<Vec<i64>, DataError> {
    Ok(match &column.data {
        ColumnData::TimestampMs(v) => v.clone(),
        // Integers are taken as milliseconds since the epoch, the storage unit.
        ColumnData::Int64(v) => v.clone(),
        ColumnData::Categorical(d) => from_strings(column, d, validity, "timestamp", |s| {
            parse_date_ms(s, order)
        })?,
        ColumnData::Float64(_) | ColumnData::Boolean(_) => {
            return Err(first_present_error(column, validity, "timestamp"));
        }
    })
}

fn to_categorical(column: &Column, validity: &[bool]) -> Dictionary {
    let texts: Vec<Option<String>> = (0..column.len())
        .map(|row| {
            if !validity[row] {
                return None;
            }
            Some(match &column.data {
                ColumnData::Float64(v) => format!("{}", v[row]),
                ColumnData::Int64(v) => v[row].to_string(),
                ColumnData::Boolean(v) => v[row].to_string(),
                ColumnData::TimestampMs(v) => format_iso8601_ms(v[row]),
                ColumnData::Categorical(d) => d.value(row).unwrap_or_default().to_string(),
            })
        })
        .collect();
    let refs: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
    match Column::categorical_from_strs("", &refs).data {
        ColumnData::Categorical(d) => d,
        _ => Dictionary::default(),
    }
}

/// The error for a column whose type cannot convert at all, at its first present row.
fn first_present_error(column: &Column, validity: &[bool], expected: &str) -> DataError {
    let row = validity.iter().position(|&v| v).unwrap_or(0);
    coerce_error(
        &column.name,
        row,
        format!("a {} value", column.data.type_name()),
        expected,
    )
}

//! Helpers for reading input tables and building output tables with useful errors.

use crate::__private::convert::table_error;
use crate::PluginError;
use microlearn_table::{Column, ColumnData, Dictionary, Table};

/// The column named `name`, or `InvalidInput` naming it.
pub fn column<'a>(table: &'a Table, name: &str) -> Result<&'a Column, PluginError> {
    table.column(name).ok_or_else(|| {
        PluginError::column(
            name,
            format!(
                "column is missing (the table has {} columns: {})",
                table.num_columns(),
                preview_names(table)
            ),
        )
    })
}

fn preview_names(table: &Table) -> String {
    const SHOWN: usize = 8;
    let names = table.names();
    let mut out = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(", … {} more", names.len() - SHOWN));
    }
    out
}

fn wrong_type(col: &Column, expected: &str) -> PluginError {
    PluginError::column(
        col.name.clone(),
        format!("expected {expected}, found {}", col.data.type_name()),
    )
}

/// The values of a float column, or `InvalidInput` naming the column and both types.
pub fn float64(col: &Column) -> Result<&[f64], PluginError> {
    match &col.data {
        ColumnData::Float64(v) => Ok(v),
        _ => Err(wrong_type(col, "float64")),
    }
}

/// The values of an integer column.
pub fn int64(col: &Column) -> Result<&[i64], PluginError> {
    match &col.data {
        ColumnData::Int64(v) => Ok(v),
        _ => Err(wrong_type(col, "int64")),
    }
}

/// The values of a boolean column.
pub fn boolean(col: &Column) -> Result<&[bool], PluginError> {
    match &col.data {
        ColumnData::Boolean(v) => Ok(v),
        _ => Err(wrong_type(col, "boolean")),
    }
}

/// The dictionary of a categorical column.
pub fn categorical(col: &Column) -> Result<&Dictionary, PluginError> {
    match &col.data {
        ColumnData::Categorical(d) => Ok(d),
        _ => Err(wrong_type(col, "categorical")),
    }
}

/// The values of a timestamp column (milliseconds since the epoch).
pub fn timestamp_ms(col: &Column) -> Result<&[i64], PluginError> {
    match &col.data {
        ColumnData::TimestampMs(v) => Ok(v),
        _ => Err(wrong_type(col, "timestamp")),
    }
}

/// Whether `col` is numeric (float or integer).
pub fn is_numeric(col: &Column) -> bool {
    matches!(col.data, ColumnData::Float64(_) | ColumnData::Int64(_))
}

/// The validity mask, `None` when every value is present.
pub fn validity(col: &Column) -> Option<&[bool]> {
    col.validity.as_deref()
}

/// The first row that is missing, either by validity or (for floats) by being NaN.
pub fn first_missing(col: &Column) -> Option<usize> {
    let by_mask = col
        .validity
        .as_ref()
        .and_then(|v| v.iter().position(|&ok| !ok));
    let by_nan = match &col.data {
        ColumnData::Float64(v) => v.iter().position(|x| x.is_nan()),
        _ => None,
    };
    match (by_mask, by_nan) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Fail on the first NaN or infinite value among the present entries of a float slice.
pub fn check_finite(
    column: &str,
    values: &[f64],
    validity: Option<&[bool]>,
) -> Result<(), PluginError> {
    let bad = match validity {
        None => values.iter().position(|x| !x.is_finite()),
        Some(mask) => values
            .iter()
            .zip(mask)
            .position(|(x, &ok)| ok && !x.is_finite()),
    };
    match bad {
        Some(row) => Err(PluginError::cell(
            column,
            row,
            format!("value {} is not finite", values[row]),
        )),
        None => Ok(()),
    }
}

/// Builds an output table column by column, checking the row count of each.
///
/// ```
/// use microlearn_sdk::data::TableBuilder;
///
/// let table = TableBuilder::new(2)
///     .float64("x", vec![1.0, 2.0])
///     .float64("y", vec![0.5, 0.25])
///     .build()
///     .unwrap();
/// assert_eq!(table.names(), vec!["x", "y"]);
/// ```
#[derive(Debug, Clone)]
pub struct TableBuilder {
    rows: usize,
    columns: Vec<Column>,
}

impl TableBuilder {
    /// A builder for a table of `rows` rows.
    pub fn new(rows: usize) -> Self {
        TableBuilder {
            rows,
            columns: Vec::new(),
        }
    }

    /// A builder with room for `columns` columns.
    pub fn with_capacity(rows: usize, columns: usize) -> Self {
        TableBuilder {
            rows,
            columns: Vec::with_capacity(columns),
        }
    }

    /// Add a float column with every value present.
    pub fn float64(mut self, name: impl Into<String>, values: Vec<f64>) -> Self {
        self.columns.push(Column::float64(name, values));
        self
    }

    /// Add any column.
    pub fn column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    /// Add a float column in place (for loops).
    pub fn push_float64(&mut self, name: impl Into<String>, values: Vec<f64>) {
        self.columns.push(Column::float64(name, values));
    }

    /// Add any column in place.
    pub fn push(&mut self, column: Column) {
        self.columns.push(column);
    }

    /// Number of columns so far.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether no column was added yet.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Build, checking lengths and names. A failure here is the plugin's own bug, so it is
    /// reported as `Internal`.
    pub fn build(self) -> Result<Table, PluginError> {
        Table::with_rows(self.rows, self.columns).map_err(|e| {
            PluginError::internal(format!("building the output table: {}", table_error(e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(vec![
            Column::float64_nan_missing("x", vec![1.0, f64::NAN, 3.0]),
            Column::new("n", ColumnData::Int64(vec![1, 2, 3])),
        ])
        .unwrap()
    }

    #[test]
    fn missing_column_error_names_it_and_lists_the_others() {
        let err = column(&table(), "age").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("column 'age'"), "{msg}");
        assert!(msg.contains("x, n"), "{msg}");
    }

    #[test]
    fn wrong_type_error_names_both_types() {
        let t = table();
        let err = float64(t.column("n").unwrap()).unwrap_err();
        assert!(err.to_string().contains("expected float64, found int64"));
    }

    #[test]
    fn first_missing_sees_validity_and_nan() {
        let t = table();
        assert_eq!(first_missing(t.column("x").unwrap()), Some(1));
        assert_eq!(first_missing(t.column("n").unwrap()), None);
        let raw = Column::float64("r", vec![0.0, 1.0, f64::NAN]);
        assert_eq!(first_missing(&raw), Some(2));
    }

    #[test]
    fn check_finite_reports_row_and_skips_masked() {
        let err = check_finite("x", &[1.0, f64::INFINITY], None).unwrap_err();
        assert_eq!(err, PluginError::cell("x", 1, "value inf is not finite"));
        assert!(check_finite("x", &[1.0, f64::NAN], Some(&[true, false])).is_ok());
    }

    #[test]
    fn builder_rejects_wrong_length_as_internal() {
        let err = TableBuilder::new(3)
            .float64("x", vec![1.0])
            .build()
            .unwrap_err();
        assert!(matches!(err, PluginError::Internal(m) if m.contains("'x'")));
    }
}

//! Columnar table types shared by the MicroLearn host and the plugin SDK.
//!
//! These mirror `microlearn:plugin/types.table` in the WIT package: a table is a list of typed
//! columns of equal length, strings dictionary-encoded, with optional validity. The crate has no
//! I/O and no heavy dependencies so that it builds for `wasm32-wasip2` as well as for the host.
//!
//! ```
//! use microlearn_table::{Column, ColumnData, Table};
//!
//! let table = Table::new(vec![
//!     Column::float64("age", vec![31.0, 45.0, 27.0]),
//!     Column::categorical_from_strs("city", &[Some("Oslo"), None, Some("Oslo")]),
//! ]).expect("columns have equal length");
//! assert_eq!(table.num_rows(), 3);
//! assert_eq!(table.column("city").unwrap().null_count(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;

mod assemble;
pub use assemble::TableAssembler;

/// Dictionary-encoded strings: `codes[i]` indexes `dictionary`.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dictionary {
    /// One code per row.
    pub codes: Vec<u32>,
    /// Distinct values.
    pub dictionary: Vec<String>,
}

impl Dictionary {
    /// The string at `row` (ignores validity).
    pub fn value(&self, row: usize) -> Option<&str> {
        self.codes
            .get(row)
            .and_then(|&c| self.dictionary.get(c as usize))
            .map(String::as_str)
    }
}

/// The values of a column, one entry per row.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ColumnData {
    /// 64-bit floats.
    Float64(Vec<f64>),
    /// 64-bit integers.
    Int64(Vec<i64>),
    /// Booleans.
    Boolean(Vec<bool>),
    /// Dictionary-encoded strings.
    Categorical(Dictionary),
    /// Milliseconds since the Unix epoch, UTC.
    TimestampMs(Vec<i64>),
}

impl ColumnData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Float64(v) => v.len(),
            ColumnData::Int64(v) | ColumnData::TimestampMs(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Categorical(d) => d.codes.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A short name of the type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ColumnData::Float64(_) => "float64",
            ColumnData::Int64(_) => "int64",
            ColumnData::Boolean(_) => "boolean",
            ColumnData::Categorical(_) => "categorical",
            ColumnData::TimestampMs(_) => "timestamp",
        }
    }

    /// Take the rows at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> ColumnData {
        match self {
            ColumnData::Float64(v) => ColumnData::Float64(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Int64(v) => ColumnData::Int64(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::TimestampMs(v) => {
                ColumnData::TimestampMs(indices.iter().map(|&i| v[i]).collect())
            }
            ColumnData::Boolean(v) => ColumnData::Boolean(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Categorical(d) => ColumnData::Categorical(Dictionary {
                codes: indices.iter().map(|&i| d.codes[i]).collect(),
                dictionary: d.dictionary.clone(),
            }),
        }
    }
}

/// A named column with optional validity (`true` = present).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Values.
    pub data: ColumnData,
    /// `None` means all values are present.
    pub validity: Option<Vec<bool>>,
}

impl Column {
    /// A column with every value present.
    pub fn new(name: impl Into<String>, data: ColumnData) -> Self {
        Column {
            name: name.into(),
            data,
            validity: None,
        }
    }

    /// A float column; NaN entries are kept as values (use [`Column::float64_nan_missing`] to
    /// treat them as missing).
    pub fn float64(name: impl Into<String>, values: Vec<f64>) -> Self {
        Column::new(name, ColumnData::Float64(values))
    }

    /// A float column where NaN marks a missing value.
    pub fn float64_nan_missing(name: impl Into<String>, values: Vec<f64>) -> Self {
        let validity: Vec<bool> = values.iter().map(|v| !v.is_nan()).collect();
        let mut col = Column::new(name, ColumnData::Float64(values));
        col.set_validity(validity);
        col
    }

    /// A categorical column from optional strings, dictionary in first-seen order.
    pub fn categorical_from_strs(name: impl Into<String>, values: &[Option<&str>]) -> Self {
        let mut lookup: HashMap<&str, u32> = HashMap::new();
        let mut dictionary = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        let mut validity = Vec::with_capacity(values.len());
        for v in values {
            match v {
                Some(s) => {
                    let code = *lookup.entry(s).or_insert_with(|| {
                        dictionary.push((*s).to_string());
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
        let mut col = Column::new(
            name,
            ColumnData::Categorical(Dictionary { codes, dictionary }),
        );
        col.set_validity(validity);
        col
    }

    /// Set validity, dropping it when every value is present.
    pub fn set_validity(&mut self, validity: Vec<bool>) {
        self.validity = if validity.iter().all(|&v| v) {
            None
        } else {
            Some(validity)
        };
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whether the value at `row` is present.
    pub fn is_valid(&self, row: usize) -> bool {
        self.validity.as_ref().is_none_or(|v| v[row])
    }

    /// Number of missing values.
    pub fn null_count(&self) -> usize {
        self.validity
            .as_ref()
            .map_or(0, |v| v.iter().filter(|&&b| !b).count())
    }

    /// Values as `f64` with NaN for missing: floats as they are, integers and timestamps
    /// converted, booleans as 0/1, categoricals as their code. `None` for nothing.
    pub fn to_f64_nan(&self) -> Vec<f64> {
        let mut out: Vec<f64> = match &self.data {
            ColumnData::Float64(v) => v.clone(),
            ColumnData::Int64(v) | ColumnData::TimestampMs(v) => {
                v.iter().map(|&x| x as f64).collect()
            }
            ColumnData::Boolean(v) => v.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect(),
            ColumnData::Categorical(d) => d.codes.iter().map(|&c| c as f64).collect(),
        };
        if let Some(valid) = &self.validity {
            for (x, &ok) in out.iter_mut().zip(valid) {
                if !ok {
                    *x = f64::NAN;
                }
            }
        }
        out
    }

    /// Take the rows at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> Column {
        Column {
            name: self.name.clone(),
            data: self.data.take(indices),
            validity: self
                .validity
                .as_ref()
                .map(|v| indices.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum TableError {
    /// A column's length differs from the first column's.
    LengthMismatch {
        /// The offending column.
        column: String,
        /// Its length.
        len: usize,
        /// The table's row count.
        expected: usize,
    },
    /// A validity vector's length differs from its column's.
    ValidityMismatch {
        /// The offending column.
        column: String,
    },
    /// Two columns share a name.
    DuplicateName(String),
    /// A dictionary code points past the dictionary.
    BadCode {
        /// The offending column.
        column: String,
        /// The first bad row.
        row: usize,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::LengthMismatch {
                column,
                len,
                expected,
            } => write!(f, "column '{column}' has {len} rows, expected {expected}"),
            TableError::ValidityMismatch { column } => {
                write!(
                    f,
                    "column '{column}' has a validity mask of the wrong length"
                )
            }
            TableError::DuplicateName(name) => write!(f, "column name '{name}' appears twice"),
            TableError::BadCode { column, row } => write!(
                f,
                "column '{column}' row {row}: dictionary code is out of range"
            ),
        }
    }
}

impl std::error::Error for TableError {}

/// Columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Table {
    num_rows: usize,
    columns: Vec<Column>,
}

impl Table {
    /// Build a table, checking lengths, validity, names and dictionary codes.
    pub fn new(columns: Vec<Column>) -> Result<Table, TableError> {
        let num_rows = columns.first().map_or(0, Column::len);
        Table::with_rows(num_rows, columns)
    }

    /// Build a table with an explicit row count (needed for zero-column tables).
    pub fn with_rows(num_rows: usize, columns: Vec<Column>) -> Result<Table, TableError> {
        let mut seen = std::collections::HashSet::new();
        for col in &columns {
            if col.len() != num_rows {
                return Err(TableError::LengthMismatch {
                    column: col.name.clone(),
                    len: col.len(),
                    expected: num_rows,
                });
            }
            if col.validity.as_ref().is_some_and(|v| v.len() != num_rows) {
                return Err(TableError::ValidityMismatch {
                    column: col.name.clone(),
                });
            }
            if !seen.insert(col.name.as_str()) {
                return Err(TableError::DuplicateName(col.name.clone()));
            }
            if let ColumnData::Categorical(d) = &col.data {
                let n = d.dictionary.len() as u32;
                if let Some(row) = d
                    .codes
                    .iter()
                    .enumerate()
                    .position(|(i, &c)| c >= n && col.is_valid(i))
                {
                    return Err(TableError::BadCode {
                        column: col.name.clone(),
                        row,
                    });
                }
            }
        }
        Ok(Table { num_rows, columns })
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Consume the table into its columns.
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Take the rows at `indices` from every column.
    pub fn take(&self, indices: &[usize]) -> Table {
        Table {
            num_rows: indices.len(),
            columns: self.columns.iter().map(|c| c.take(indices)).collect(),
        }
    }

    /// Remove and return the column named `name`.
    pub fn remove(&mut self, name: &str) -> Option<Column> {
        let pos = self.columns.iter().position(|c| c.name == name)?;
        Some(self.columns.remove(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_columns_of_different_length() {
        let err = Table::new(vec![
            Column::float64("a", vec![1.0, 2.0]),
            Column::float64("b", vec![1.0]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            TableError::LengthMismatch {
                column: "b".into(),
                len: 1,
                expected: 2
            }
        );
    }

    #[test]
    fn rejects_out_of_range_dictionary_codes() {
        let col = Column::new(
            "c",
            ColumnData::Categorical(Dictionary {
                codes: vec![0, 3],
                dictionary: vec!["x".into()],
            }),
        );
        assert!(matches!(
            Table::new(vec![col]),
            Err(TableError::BadCode { row: 1, .. })
        ));
    }

    #[test]
    fn categorical_from_strs_marks_missing_and_dedupes() {
        let col = Column::categorical_from_strs("c", &[Some("a"), None, Some("b"), Some("a")]);
        let ColumnData::Categorical(d) = &col.data else {
            panic!("categorical expected")
        };
        assert_eq!(d.dictionary, vec!["a", "b"]);
        assert_eq!(d.codes, vec![0, 0, 1, 0]);
        assert_eq!(col.null_count(), 1);
        assert!(col.to_f64_nan()[1].is_nan());
    }

    #[test]
    fn take_keeps_validity_aligned() {
        let col = Column::float64_nan_missing("x", vec![1.0, f64::NAN, 3.0]);
        let t = Table::new(vec![col]).unwrap().take(&[2, 1]);
        let c = t.column("x").unwrap();
        assert_eq!(c.validity, Some(vec![true, false]));
        assert_eq!(t.num_rows(), 2);
    }
}

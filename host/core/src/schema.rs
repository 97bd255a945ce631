//! Column kinds, dataset schemas and the learning task.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The learning task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes.
    Binary,
    /// Three or more classes.
    Multiclass,
    /// Real-valued target.
    Regression,
}

impl Task {
    /// Whether the task predicts classes.
    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }

    /// Lowercase name, as accepted on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "binary" => Ok(Task::Binary),
            "multiclass" => Ok(Task::Multiclass),
            "regression" => Ok(Task::Regression),
            other => Err(format!(
                "unknown task '{other}': expected binary, multiclass or regression"
            )),
        }
    }
}

/// What a column holds, as inferred at upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers.
    Numeric,
    /// A small set of repeated values (strings or low-cardinality integers).
    Categorical,
    /// True/false.
    Boolean,
    /// Dates or date-times.
    Datetime,
    /// Free text: mostly distinct, long strings.
    Text,
    /// An identifier: unique per row, carries no signal.
    IdLike,
}

/// How the two leading numbers of a numeric date (`05.06.2024`, `6/5/2024`) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day, month, year (`27.11.2024`).
    Dmy,
    /// Month, day, year (`11/27/2024`).
    Mdy,
}

/// One column of a dataset schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// Inferred kind.
    pub kind: ColumnKind,
    /// Storage type name (`float64`, `int64`, `boolean`, `categorical`, `timestamp`).
    pub dtype: String,
    /// Whether missing values were seen.
    pub nullable: bool,
    /// For a timestamp column read from numeric dates: their order, so that rows scored later
    /// read `05/06/2024` the way training did. ISO 8601 is always accepted as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<DateOrder>,
}

/// The columns of a dataset, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
pub struct Schema {
    /// Columns.
    pub columns: Vec<ColumnSchema>,
}

impl Schema {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

//! Glue used by the `export_*!` macros. Not public API: names and signatures may change.

pub use wit_bindgen;

/// Bindings of the shared `types` and `host` interfaces, generated here so that conversions to
/// the SDK's plain types are compiled (and unit-tested) once, natively too.
// The generated code is FFI glue: it needs `unsafe` and does not follow our lints.
#[allow(unsafe_code, missing_docs, clippy::all, clippy::unwrap_used)]
pub mod wit {
    include!(concat!(env!("OUT_DIR"), "/sdk_bindings.rs"));
}

/// Conversions between the generated `types` records and the SDK's plain types.
pub mod convert {
    use super::wit::microlearn::plugin::types as wt;
    use crate::{
        Direction, Metric, Param, ParamDomain, ParamSpec, ParamValue, PluginError, PluginInfo,
        PluginKind, Task,
    };
    use microlearn_table::{Column, ColumnData, Dictionary, Table, TableError};

    /// WIT task to SDK task.
    pub fn task_from_wit(task: wt::Task) -> Task {
        match task {
            wt::Task::Binary => Task::Binary,
            wt::Task::Multiclass => Task::Multiclass,
            wt::Task::Regression => Task::Regression,
        }
    }

    /// SDK task to WIT task.
    pub fn task_to_wit(task: Task) -> wt::Task {
        match task {
            Task::Binary => wt::Task::Binary,
            Task::Multiclass => wt::Task::Multiclass,
            Task::Regression => wt::Task::Regression,
        }
    }

    /// SDK plugin info to WIT.
    pub fn info_to_wit(info: PluginInfo) -> wt::PluginInfo {
        wt::PluginInfo {
            id: info.id,
            version: info.version,
            kind: match info.kind {
                PluginKind::Preparer => wt::PluginKind::Preparer,
                PluginKind::Selector => wt::PluginKind::Selector,
                PluginKind::Evaluator => wt::PluginKind::Evaluator,
                PluginKind::Deployer => wt::PluginKind::Deployer,
            },
            description: info.description,
            config_schema: info.config_schema,
        }
    }

    /// SDK error to WIT.
    pub fn error_to_wit(err: PluginError) -> wt::PluginError {
        match err {
            PluginError::InvalidConfig(m) => wt::PluginError::InvalidConfig(m),
            PluginError::InvalidInput {
                column,
                row,
                message,
            } => wt::PluginError::InvalidInput(wt::InputProblem {
                column,
                row,
                message,
            }),
            PluginError::InvalidState(m) => wt::PluginError::InvalidState(m),
            PluginError::Unsupported(m) => wt::PluginError::Unsupported(m),
            PluginError::Internal(m) => wt::PluginError::Internal(m),
        }
    }

    /// WIT error to SDK (used by the native boundary harness).
    pub fn error_from_wit(err: wt::PluginError) -> PluginError {
        match err {
            wt::PluginError::InvalidConfig(m) => PluginError::InvalidConfig(m),
            wt::PluginError::InvalidInput(p) => PluginError::InvalidInput {
                column: p.column,
                row: p.row,
                message: p.message,
            },
            wt::PluginError::InvalidState(m) => PluginError::InvalidState(m),
            wt::PluginError::Unsupported(m) => PluginError::Unsupported(m),
            wt::PluginError::Internal(m) => PluginError::Internal(m),
        }
    }

    fn direction_from_wit(d: wt::Direction) -> Direction {
        match d {
            wt::Direction::Maximize => Direction::Maximize,
            wt::Direction::Minimize => Direction::Minimize,
        }
    }

    fn direction_to_wit(d: Direction) -> wt::Direction {
        match d {
            Direction::Maximize => wt::Direction::Maximize,
            Direction::Minimize => wt::Direction::Minimize,
        }
    }

    /// WIT metric to SDK.
    pub fn metric_from_wit(m: wt::Metric) -> Metric {
        Metric {
            name: m.name,
            value: m.value,
            direction: direction_from_wit(m.direction),
        }
    }

    /// SDK metric to WIT.
    pub fn metric_to_wit(m: Metric) -> wt::Metric {
        wt::Metric {
            name: m.name,
            value: m.value,
            direction: direction_to_wit(m.direction),
        }
    }

    fn value_from_wit(v: wt::ParamValue) -> ParamValue {
        match v {
            wt::ParamValue::Float(x) => ParamValue::Float(x),
            wt::ParamValue::Int(x) => ParamValue::Int(x),
            wt::ParamValue::Choice(s) => ParamValue::Choice(s),
            wt::ParamValue::Flag(b) => ParamValue::Flag(b),
        }
    }

    fn value_to_wit(v: ParamValue) -> wt::ParamValue {
        match v {
            ParamValue::Float(x) => wt::ParamValue::Float(x),
            ParamValue::Int(x) => wt::ParamValue::Int(x),
            ParamValue::Choice(s) => wt::ParamValue::Choice(s),
            ParamValue::Flag(b) => wt::ParamValue::Flag(b),
        }
    }

    /// SDK param to WIT.
    pub fn param_to_wit(p: Param) -> wt::Param {
        wt::Param {
            name: p.name,
            value: value_to_wit(p.value),
        }
    }

    /// WIT param-spec to SDK.
    pub fn param_spec_from_wit(s: wt::ParamSpec) -> ParamSpec {
        ParamSpec {
            name: s.name,
            domain: match s.domain {
                wt::ParamDomain::Float(r) => ParamDomain::Float {
                    low: r.low,
                    high: r.high,
                    log: r.log,
                },
                wt::ParamDomain::Int(r) => ParamDomain::Int {
                    low: r.low,
                    high: r.high,
                    log: r.log,
                },
                wt::ParamDomain::Choice(options) => ParamDomain::Choice(options),
                wt::ParamDomain::Flag => ParamDomain::Flag,
            },
            default: value_from_wit(s.default),
        }
    }

    /// SDK param-spec to WIT.
    pub fn param_spec_to_wit(s: ParamSpec) -> wt::ParamSpec {
        wt::ParamSpec {
            name: s.name,
            domain: match s.domain {
                ParamDomain::Float { low, high, log } => {
                    wt::ParamDomain::Float(wt::FloatRange { low, high, log })
                }
                ParamDomain::Int { low, high, log } => {
                    wt::ParamDomain::Int(wt::IntRange { low, high, log })
                }
                ParamDomain::Choice(options) => wt::ParamDomain::Choice(options),
                ParamDomain::Flag => wt::ParamDomain::Flag,
            },
            default: value_to_wit(s.default),
        }
    }

    /// WIT column to SDK (moves the buffers; no per-row work).
    pub fn column_from_wit(c: wt::Column) -> Column {
        let data = match c.data {
            wt::ColumnData::Float64(v) => ColumnData::Float64(v),
            wt::ColumnData::Int64(v) => ColumnData::Int64(v),
            wt::ColumnData::Boolean(v) => ColumnData::Boolean(v),
            wt::ColumnData::Categorical(d) => ColumnData::Categorical(Dictionary {
                codes: d.codes,
                dictionary: d.dictionary,
            }),
            wt::ColumnData::TimestampMs(v) => ColumnData::TimestampMs(v),
        };
        Column {
            name: c.name,
            data,
            validity: c.validity,
        }
    }

    /// SDK column to WIT (moves the buffers).
    pub fn column_to_wit(c: Column) -> wt::Column {
        let data = match c.data {
            ColumnData::Float64(v) => wt::ColumnData::Float64(v),
            ColumnData::Int64(v) => wt::ColumnData::Int64(v),
            ColumnData::Boolean(v) => wt::ColumnData::Boolean(v),
            ColumnData::Categorical(d) => wt::ColumnData::Categorical(wt::DictionaryColumn {
                codes: d.codes,
                dictionary: d.dictionary,
            }),
            ColumnData::TimestampMs(v) => wt::ColumnData::TimestampMs(v),
        };
        wt::Column {
            name: c.name,
            data,
            validity: c.validity,
        }
    }

    /// WIT table to SDK, checking lengths, names and dictionary codes.
    pub fn table_from_wit(t: wt::Table) -> Result<Table, PluginError> {
        let rows = usize::try_from(t.num_rows)
            .map_err(|_| PluginError::input(format!("table has too many rows ({})", t.num_rows)))?;
        let columns = t.columns.into_iter().map(column_from_wit).collect();
        Table::with_rows(rows, columns).map_err(table_error)
    }

    /// SDK table to WIT (moves the buffers).
    pub fn table_to_wit(t: Table) -> wt::Table {
        wt::Table {
            num_rows: t.num_rows() as u64,
            columns: t.into_columns().into_iter().map(column_to_wit).collect(),
        }
    }

    /// A malformed input table as an `InvalidInput` naming the column (and row).
    pub fn table_error(e: TableError) -> PluginError {
        let message = e.to_string();
        match e {
            TableError::LengthMismatch { column, .. }
            | TableError::ValidityMismatch { column }
            | TableError::DuplicateName(column) => PluginError::column(column, message),
            TableError::BadCode { column, row } => PluginError::cell(column, row, message),
        }
    }
}

/// The calls behind each export, on SDK types, shared by the macros and the native harness.
pub mod glue {
    use super::convert::{column_from_wit, error_to_wit, table_from_wit, table_to_wit};
    use super::wit::microlearn::plugin::types as wt;
    use crate::{FitOutput, PluginError, Preparer};
    use microlearn_table::Table;

    /// `preparer.fit`: decode, validate, call the plugin, encode.
    pub fn preparer_fit<P: Preparer>(
        train: wt::Table,
        target: wt::Column,
        task: wt::Task,
        config: String,
    ) -> Result<(Vec<u8>, wt::Table), wt::PluginError> {
        let run = || -> Result<FitOutput, PluginError> {
            let train = table_from_wit(train)?;
            // Validate the target like a one-column table of the same height.
            let target = Table::with_rows(train.num_rows(), vec![column_from_wit(target)])
                .map_err(|e| {
                    PluginError::input(format!(
                        "target column does not match the training table: {e}"
                    ))
                })?
                .into_columns()
                .pop()
                .ok_or_else(|| PluginError::internal("target column vanished"))?;
            P::fit(
                &train,
                &target,
                super::convert::task_from_wit(task),
                &config,
            )
        };
        run()
            .map(|out| (out.state, table_to_wit(out.table)))
            .map_err(error_to_wit)
    }

    /// `preparer.transform`: decode, validate, call the plugin, encode.
    pub fn preparer_transform<P: Preparer>(
        state: Vec<u8>,
        input: wt::Table,
    ) -> Result<wt::Table, wt::PluginError> {
        table_from_wit(input)
            .and_then(|input| P::transform(&state, &input))
            .map(table_to_wit)
            .map_err(error_to_wit)
    }
}

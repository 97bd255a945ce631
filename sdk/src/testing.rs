//! A native test harness: run a plugin's logic through the same conversions a component uses,
//! and check the invariants the host enforces, all with plain `cargo test`.
//!
//! ```
//! # use microlearn_sdk::prelude::*;
//! # struct Identity;
//! # impl Preparer for Identity {
//! #     fn describe() -> PluginInfo { PluginInfo::new("identity", "0.1.0", PluginKind::Preparer, "x") }
//! #     fn fit(t: &Table, _: &Column, _: Task, _: &str) -> Result<FitOutput, PluginError> {
//! #         Ok(FitOutput { state: vec![], table: t.clone() })
//! #     }
//! #     fn transform(_: &[u8], t: &Table) -> Result<Table, PluginError> { Ok(t.clone()) }
//! # }
//! use microlearn_sdk::testing;
//!
//! let train = Table::new(vec![Column::float64("x", vec![1.0, 2.0])]).unwrap();
//! let target = Column::float64("y", vec![0.0, 1.0]);
//! let fitted = testing::fit::<Identity>(&train, &target, Task::Binary, "{}").unwrap();
//! testing::check_prepared(&fitted.table, train.num_rows()).unwrap();
//! let again = testing::transform::<Identity>(&fitted.state, &train).unwrap();
//! assert_eq!(again, fitted.table);
//! ```

use crate::__private::convert::{
    column_to_wit, error_from_wit, table_from_wit, table_to_wit, task_to_wit,
};
use crate::__private::glue;
use crate::{FitOutput, PluginError, Preparer, Task};
use microlearn_table::{Column, ColumnData, Table};

/// Call `P::fit` the way the component does: the table and target cross the same conversions
/// (and input validation) as at the Wasm boundary.
pub fn fit<P: Preparer>(
    train: &Table,
    target: &Column,
    task: Task,
    config: &str,
) -> Result<FitOutput, PluginError> {
    let (state, table) = glue::preparer_fit::<P>(
        table_to_wit(train.clone()),
        column_to_wit(target.clone()),
        task_to_wit(task),
        config.to_string(),
    )
    .map_err(error_from_wit)?;
    Ok(FitOutput {
        state,
        table: table_from_wit(table)?,
    })
}

/// Call `P::transform` the way the component does.
pub fn transform<P: Preparer>(state: &[u8], input: &Table) -> Result<Table, PluginError> {
    let out = glue::preparer_transform::<P>(state.to_vec(), table_to_wit(input.clone()))
        .map_err(error_from_wit)?;
    table_from_wit(out)
}

/// Check what a model-ready table must satisfy: `rows` rows, every column `float64` with no
/// validity mask and only finite values. Returns a message naming the first offence.
pub fn check_prepared(table: &Table, rows: usize) -> Result<(), String> {
    if table.num_rows() != rows {
        return Err(format!("{} rows, expected {rows}", table.num_rows()));
    }
    for col in table.columns() {
        let ColumnData::Float64(values) = &col.data else {
            return Err(format!(
                "column '{}' is {}, expected float64",
                col.name,
                col.data.type_name()
            ));
        };
        if col.validity.is_some() {
            return Err(format!("column '{}' has missing values", col.name));
        }
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "column '{}' row {row} is {}",
                col.name, values[row]
            ));
        }
    }
    Ok(())
}

//! Write MicroLearn plugins in plain Rust.
//!
//! A MicroLearn plugin is a WASI 0.2 component that serves one pipeline stage: it prepares
//! data ([`Preparer`]), proposes models ([`Selector`]), scores predictions ([`Evaluator`]) or
//! decides deployments ([`Deployer`]). With this SDK you implement one trait on plain Rust
//! types, call one export macro, and `cargo build --target wasm32-wasip2` produces the
//! component. The same crate's unit tests run natively with `cargo test`: the macro expands to
//! nothing off Wasm, and the trait methods are ordinary functions.
//!
//! # A complete preparer
//!
//! This preparer fills the missing values of every float column with its training mean.
//! `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # cdylib: the component; rlib: native tests
//!
//! [dependencies]
//! microlearn-sdk = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use microlearn_sdk::prelude::*;
//! use microlearn_sdk::{config, data};
//! use serde::{Deserialize, Serialize};
//!
//! /// The fitted state: one fill value per column, in training order.
//! #[derive(Serialize, Deserialize)]
//! struct Means(Vec<(String, f64)>);
//!
//! /// Configuration: `{"fallback": 0.0}` fills all-missing columns.
//! #[derive(Deserialize, Default)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config { fallback: f64 }
//!
//! pub struct MeanImpute;
//!
//! impl Preparer for MeanImpute {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("mean-impute", "0.1.0", PluginKind::Preparer,
//!                         "Fills missing floats with their training mean.")
//!             .with_schema(r#"{"type":"object","properties":{"fallback":{"type":"number"}}}"#)
//!     }
//!
//!     fn fit(train: &Table, _target: &Column, _task: Task, config: &str)
//!         -> Result<FitOutput, PluginError>
//!     {
//!         let config: Config = config::parse(config)?;
//!         let mut means = Vec::new();
//!         for col in train.columns() {
//!             let Ok(values) = data::float64(col) else { continue };
//!             // Iterate columns, not rows: one pass per column, no per-row allocation.
//!             let (sum, n) = values.iter().enumerate()
//!                 .filter(|&(i, v)| col.is_valid(i) && !v.is_nan())
//!                 .fold((0.0, 0usize), |(s, n), (_, v)| (s + v, n + 1));
//!             let mean = if n == 0 { config.fallback } else { sum / n as f64 };
//!             means.push((col.name.clone(), mean));
//!         }
//!         let state = serde_json::to_vec(&Means(means))
//!             .map_err(|e| PluginError::internal(e.to_string()))?;
//!         let table = Self::transform(&state, train)?;
//!         Ok(FitOutput { state, table })
//!     }
//!
//!     fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError> {
//!         let Means(means) = serde_json::from_slice(state)
//!             .map_err(|e| PluginError::state(e.to_string()))?;
//!         let mut out = data::TableBuilder::new(input.num_rows());
//!         for (name, mean) in means {
//!             let col = data::column(input, &name)?;   // InvalidInput naming a missing column
//!             let values = data::float64(col)?;        // … or a column of the wrong type
//!             let filled = values.iter().enumerate()
//!                 .map(|(i, &v)| if col.is_valid(i) && !v.is_nan() { v } else { mean })
//!                 .collect();
//!             out.push_float64(name, filled);
//!         }
//!         out.build()
//!     }
//! }
//!
//! microlearn_sdk::export_preparer!(MeanImpute);
//!
//! // A unit test, run natively by `cargo test`:
//! let train = Table::new(vec![
//!     Column::float64_nan_missing("x", vec![1.0, f64::NAN, 3.0]),
//! ]).unwrap();
//! let target = Column::float64("y", vec![0.0, 1.0, 0.0]);
//! let fitted = MeanImpute::fit(&train, &target, Task::Binary, "{}").unwrap();
//! assert_eq!(fitted.table.column("x").unwrap().data, ColumnData::Float64(vec![1.0, 2.0, 3.0]));
//! // The same, through the conversions the component uses:
//! let via_boundary = microlearn_sdk::testing::fit::<MeanImpute>(&train, &target, Task::Binary, "{}");
//! assert_eq!(via_boundary.unwrap().table, fitted.table);
//! ```
//!
//! Build the component with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the plugin. Add a `microlearn.toml` manifest next to it
//! (see `scripts/build-plugins.sh` in the MicroLearn repository).
//!
//! # What a plugin may do
//!
//! Plugins run sandboxed: no files, network, environment or wall clock. Their only import is
//! the host's log and progress ([`log`]). Each call runs under a memory cap, a deadline and an
//! output-size cap; a panic becomes a trap that the host reports as a plugin failure. Report
//! bad input with [`PluginError`] instead — it reaches the user with the column and row.
//!
//! # Modules
//!
//! - [`config`]: parse the JSON configuration with clear errors.
//! - [`data`]: read typed columns with errors naming the column; build output tables.
//! - [`log`]: `info!`-style logging and progress through the host.
//! - [`testing`]: run a preparer through the component's conversions natively.

pub mod config;
pub mod data;
pub mod deployer;
mod error;
pub mod evaluator;
pub mod log;
pub mod preparer;
pub mod selector;
pub mod testing;
mod types;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

// The macro that generates one plugin world inside the plugin crate (see build.rs).
include!(concat!(env!("OUT_DIR"), "/world_macro.rs"));

pub use deployer::{Action, Decision, DeployRequest, Deployer, ModelSummary, ServingMode};
pub use error::PluginError;
pub use evaluator::{
    Curve, CurveStyle, Evaluation, EvaluationRequest, Evaluator, Matrix, Predictions,
};
pub use preparer::{FitOutput, Preparer};
pub use selector::{
    Candidate, Cost, Hardware, MetaFeatures, ModelKind, SelectionRequest, Selector,
};
pub use types::{
    Direction, Metric, Param, ParamDomain, ParamSpec, ParamValue, PluginInfo, PluginKind, Task,
};

/// The columnar table types (`microlearn-table`), re-exported.
pub use microlearn_table as table;
pub use microlearn_table::{Column, ColumnData, Dictionary, Table};

/// The names most plugins need: `use microlearn_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Action, Candidate, Column, ColumnData, Cost, Curve, CurveStyle, Decision, DeployRequest,
        Deployer, Dictionary, Direction, Evaluation, EvaluationRequest, Evaluator, FitOutput,
        Hardware, Matrix, MetaFeatures, Metric, ModelKind, ModelSummary, Param, ParamDomain,
        ParamSpec, ParamValue, PluginError, PluginInfo, PluginKind, Predictions, Preparer,
        SelectionRequest, Selector, ServingMode, Table, Task,
    };
}

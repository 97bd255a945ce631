//! MicroLearn's core vocabulary: tasks, schemas, hyperparameters, metrics, ids and the pipeline
//! state machine. No I/O lives here; every other host crate depends on this one.

pub mod ids;
pub mod metric;
pub mod params;
pub mod pipeline;
pub mod schema;
pub mod stages;

pub use microlearn_table as table;
pub use microlearn_table::{Column, ColumnData, Dictionary, Table, TableAssembler, TableError};

pub use ids::{DatasetId, ModelId, PipelineId, TrialId};
pub use metric::{Direction, Metric};
pub use params::{ParamDomain, ParamSpec, ParamValue, Params};
pub use pipeline::{PipelineStatus, Stage};
pub use schema::{ColumnKind, ColumnSchema, DateOrder, Schema, Task};

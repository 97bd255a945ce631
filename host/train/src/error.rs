//! The error type every fallible call of this crate returns.

use microlearn_core::Task;

/// Why a fit (or building its inputs) failed.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum TrainError {
    /// The model kind is not in the catalogue.
    #[error("unknown model kind '{kind}': available kinds are {available}")]
    UnknownKind {
        /// Kind asked for.
        kind: String,
        /// Comma-separated kinds on offer.
        available: String,
    },
    /// A hyperparameter the model kind does not have.
    #[error("model kind '{kind}' has no hyperparameter '{name}': known ones are {known}")]
    UnknownParam {
        /// Model kind.
        kind: String,
        /// Offending name.
        name: String,
        /// Comma-separated names the kind accepts.
        known: String,
    },
    /// A hyperparameter value outside its domain.
    #[error("hyperparameter '{name}' = {value} is not allowed: expected {allowed}")]
    BadParam {
        /// Parameter name.
        name: String,
        /// The value given, printed.
        value: String,
        /// The domain, printed.
        allowed: String,
    },
    /// No rows or no columns.
    #[error("cannot fit on empty data: {what}")]
    EmptyData {
        /// What was empty.
        what: String,
    },
    /// Lengths or widths that disagree.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// Which input.
        what: String,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// The model kind cannot learn this task.
    #[error("model kind '{kind}' does not support the {task} task")]
    TaskNotSupported {
        /// Model kind.
        kind: String,
        /// Task asked for.
        task: Task,
    },
    /// A feature column whose values cannot be used as declared.
    #[error("feature column '{column}': {reason}")]
    InvalidFeature {
        /// Column name.
        column: String,
        /// What is wrong, with the offending row.
        reason: String,
    },
    /// The target does not fit the task (wrong variant, label out of range, non-finite value).
    #[error("invalid target: {reason}")]
    InvalidTarget {
        /// What is wrong, with the offending row where there is one.
        reason: String,
    },
    /// A numerical routine could not proceed (e.g. a singular system even after jitter).
    #[error("numerical failure in {what}")]
    Numerical {
        /// Which routine and why.
        what: String,
    },
    /// The per-fit thread pool could not be built.
    #[error("cannot build a thread pool of {threads} threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The builder's message.
        reason: String,
    },
}

//! The MicroLearn pipeline engine: runs a dataset through the preparer, selector, search,
//! trainer, evaluator and deployer stages, persisting every step, and writes model bundles that
//! score new rows exactly as training did.

pub mod bundle;
pub mod config;
mod control;
mod engine;
mod ensemble;
mod error;
mod events;
pub mod features;
pub mod observer;
mod preparer_chain;
pub mod scoring;
mod search;
#[doc(hidden)]
pub mod stages;
mod storage;
mod trials;

pub use bundle::{Bundle, BundleError, BundleHeader};
pub use config::{PipelineConfig, PluginRef, default_metric};
pub use control::RunControl;
pub use engine::{
    Engine, LeaderboardEntry, PipelineOutcome, RunInput, default_deployment_name, stage_plugin_kind,
};
pub use error::PipelineError;
pub use observer::{NoopObserver, Observer};
pub use scoring::{LoadedModel, Scored};
pub use storage::{StorageGate, StoragePromise};
pub use trials::{
    MAX_RUNG_DELIVERIES, RungEnd, RungJob, RungResult, RungServed, TrialDispatch, UnitOutcome,
    forget_trial_ledger, serve_rung, trial_ledger_bytes,
};

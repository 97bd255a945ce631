//! `stuck-describe`: a preparer whose `describe` sleeps in a blocking WASI call for an hour.
//! `describe` takes no config, so the misbehaviour is this component's whole point: scanning,
//! installing or uploading it must fail at the describe deadline, not hang. The build script
//! puts it in `microlearn-unloadable-plugins/`, away from the folders tests scan for working
//! plugins. **Never install it for users.**

use microlearn_sdk::prelude::*;
use microlearn_test_misbehave::{Blocking, block};

/// The test-only preparer that cannot be described.
pub struct StuckDescribe;

/// An hour: far past any describe deadline, so a test that hangs here has found a deadline
/// that does not bind.
const STUCK_MILLIS: u64 = 3_600_000;

impl Preparer for StuckDescribe {
    fn describe() -> PluginInfo {
        block(Blocking::Block, STUCK_MILLIS);
        PluginInfo::new(
            "stuck-describe",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Preparer,
            "Test-only preparer whose describe blocks for an hour.",
        )
    }

    fn fit(
        train: &Table,
        _target: &Column,
        _task: Task,
        _config: &str,
    ) -> Result<FitOutput, PluginError> {
        Ok(FitOutput {
            state: Vec::new(),
            table: train.clone(),
        })
    }

    fn transform(_state: &[u8], input: &Table) -> Result<Table, PluginError> {
        Ok(input.clone())
    }
}

microlearn_sdk::export_preparer!(StuckDescribe);

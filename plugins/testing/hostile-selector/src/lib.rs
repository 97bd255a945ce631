//! `hostile-selector`: a selector that misbehaves on request, so the host's tests can prove
//! that `select` is contained like every other call. **Never install it for users.**
//!
//! The request's config picks the misbehaviour (`microlearn_test_misbehave::Mode`):
//! `{"mode": "block", "millis": 3600000}` sleeps in a blocking WASI call for an hour. In `ok`
//! mode (and after a finished wait) it proposes the catalogue's first kind for the task.

use microlearn_sdk::prelude::*;
use microlearn_test_misbehave::{CONFIG_SCHEMA, act, parse};

/// The test-only selector.
pub struct HostileSelector;

impl Selector for HostileSelector {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-selector",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Selector,
            "Test-only selector that misbehaves on request; never install for users.",
        )
        .with_schema(CONFIG_SCHEMA)
    }

    fn select(request: &SelectionRequest) -> Result<Vec<Candidate>, PluginError> {
        let config = parse(&request.config).map_err(PluginError::InvalidConfig)?;
        act(&config).map_err(PluginError::input)?;
        let kind = request
            .catalogue
            .iter()
            .find(|k| k.tasks.contains(&request.meta.task))
            .ok_or_else(|| PluginError::input("no model kind in the catalogue fits the task"))?;
        Ok(vec![Candidate {
            kind: kind.name.clone(),
            budget_share: 1.0,
            search_space: kind.params.clone(),
            warm_starts: Vec::new(),
            reason: "hostile-selector in ok mode: the first kind that fits".to_string(),
        }])
    }
}

microlearn_sdk::export_selector!(HostileSelector);

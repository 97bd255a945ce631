//! `hostile-deployer`: a deployer that misbehaves on request, so the host's tests can prove
//! that `decide` is contained like every other call. **Never install it for users.**
//!
//! The request's config picks the misbehaviour (`microlearn_test_misbehave::Mode`):
//! `{"mode": "block", "millis": 3600000}` sleeps in a blocking WASI call for an hour. In `ok`
//! mode (and after a finished wait) it keeps the current deployment.

use microlearn_sdk::prelude::*;
use microlearn_test_misbehave::{CONFIG_SCHEMA, act, parse};

/// The test-only deployer.
pub struct HostileDeployer;

impl Deployer for HostileDeployer {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-deployer",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Deployer,
            "Test-only deployer that misbehaves on request; never install for users.",
        )
        .with_schema(CONFIG_SCHEMA)
    }

    fn decide(request: &DeployRequest) -> Result<Decision, PluginError> {
        let config = parse(&request.config).map_err(PluginError::InvalidConfig)?;
        act(&config).map_err(PluginError::input)?;
        Ok(Decision {
            action: Action::Keep,
            mode: ServingMode::Rest,
            traffic_percent: 100,
            reason: "hostile-deployer in ok mode keeps what is deployed".to_string(),
        })
    }
}

microlearn_sdk::export_deployer!(HostileDeployer);

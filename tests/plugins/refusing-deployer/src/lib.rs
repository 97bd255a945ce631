//! `refusing-deployer`: a test-only deployer that installs and describes itself like any other
//! but fails every `decide` call, standing for a deployment policy that breaks (a bug, an
//! unmet rule). The end-to-end suite checks that the pipeline still keeps its models and the
//! CLI still writes the best bundle, saying that nothing was deployed and why.

use microlearn_sdk::prelude::*;

/// The deployer.
pub struct Refusing;

impl Deployer for Refusing {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "refusing-deployer",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Deployer,
            "Test-only deployer whose every decide call fails.",
        )
    }

    fn decide(request: &DeployRequest) -> Result<Decision, PluginError> {
        Err(PluginError::input(format!(
            "refusing-deployer refuses all {} candidates (it fails on purpose)",
            request.candidates.len()
        )))
    }
}

microlearn_sdk::export_deployer!(Refusing);

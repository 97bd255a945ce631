//! Generated bindings for `microlearn:plugin@0.1.0`, one module per world.
//!
//! The preparer world generates the shared `types` and `host` interfaces; the other worlds reuse
//! them through `with`, so there is one `Table`, one `PluginError` and one `Host` trait to convert
//! and implement. Nothing here is public: the rest of the crate converts to `microlearn-core`
//! types in `convert`, and callers never see a generated type.

pub(crate) mod preparer {
    wasmtime::component::bindgen!({
        world: "preparer-plugin",
        path: "../../wit/microlearn-plugin@0.1.0",
    });
}

pub(crate) mod selector {
    wasmtime::component::bindgen!({
        world: "selector-plugin",
        path: "../../wit/microlearn-plugin@0.1.0",
        with: {
            "microlearn:plugin/types": crate::bindings::preparer::microlearn::plugin::types,
            "microlearn:plugin/host": crate::bindings::preparer::microlearn::plugin::host,
        },
    });
}

pub(crate) mod evaluator {
    wasmtime::component::bindgen!({
        world: "evaluator-plugin",
        path: "../../wit/microlearn-plugin@0.1.0",
        with: {
            "microlearn:plugin/types": crate::bindings::preparer::microlearn::plugin::types,
            "microlearn:plugin/host": crate::bindings::preparer::microlearn::plugin::host,
        },
    });
}

pub(crate) mod deployer {
    wasmtime::component::bindgen!({
        world: "deployer-plugin",
        path: "../../wit/microlearn-plugin@0.1.0",
        with: {
            "microlearn:plugin/types": crate::bindings::preparer::microlearn::plugin::types,
            "microlearn:plugin/host": crate::bindings::preparer::microlearn::plugin::host,
        },
    });
}

/// The shared WIT types (`microlearn:plugin/types`).
pub(crate) use preparer::microlearn::plugin::types as wit;

/// The host interface every plugin imports (`microlearn:plugin/host`).
pub(crate) use preparer::microlearn::plugin::host as wit_host;

/// Generated export-side types per stage.
pub(crate) use deployer::exports::microlearn::plugin::deployer as wit_deployer;
pub(crate) use evaluator::exports::microlearn::plugin::evaluator as wit_evaluator;
pub(crate) use selector::exports::microlearn::plugin::selector as wit_selector;

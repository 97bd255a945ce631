//! Generated bindings of the WIT packages this host implements, one module per released
//! version and, inside it, one module per world.
//!
//! Within a version, the preparer world generates the shared `types` and `host` interfaces; the
//! other worlds reuse them through `with`, so there is one `Table`, one `PluginError` and one
//! `Host` trait to convert and implement. Nothing here is public: the rest of the crate
//! converts to `microlearn-core` types in `convert`, and callers never see a generated type.
//!
//! # Adding a WIT version
//!
//! `wit/microlearn-plugin@0.1.0/` is frozen (a test compares its digest). A new contract goes
//! into `wit/microlearn-plugin@0.2.0/` beside it, and the host keeps loading 0.1.0 components:
//!
//! 1. add `mod v0_2_0` here with the same four `bindgen!` invocations on the new folder;
//! 2. add `Preparer020(..)`-style variants to `plugin::WorldPre` (the one dispatch enum every
//!    call goes through), tried in `plugin::type_check` by the manifest's `api`;
//! 3. convert the new generated types in `convert` (an adapter maps 0.1.0 values to the
//!    current `microlearn-core` types, as now), and link the new `host` interface in
//!    `engine.rs` beside the old one;
//! 4. list the version in `manifest::SUPPORTED_APIS`.
//!
//! The compatibility fixture under `tests/fixtures/compat-0.1.0/` must keep loading.
//!
//! Exports are generated `async` (the engine runs with async support so a deadline can end a
//! call that blocks in a WASI import; see `engine.rs`). The `host` imports stay synchronous:
//! `log` and `progress` never wait, and a sync host function is allowed in an async store.

pub(crate) mod v0_1_0 {
    pub(crate) mod preparer {
        wasmtime::component::bindgen!({
            world: "preparer-plugin",
            path: "../../wit/microlearn-plugin@0.1.0",
            exports: { default: async },
        });
    }

    pub(crate) mod selector {
        wasmtime::component::bindgen!({
            world: "selector-plugin",
            path: "../../wit/microlearn-plugin@0.1.0",
            exports: { default: async },
            with: {
                "microlearn:plugin/types": crate::bindings::v0_1_0::preparer::microlearn::plugin::types,
                "microlearn:plugin/host": crate::bindings::v0_1_0::preparer::microlearn::plugin::host,
            },
        });
    }

    pub(crate) mod evaluator {
        wasmtime::component::bindgen!({
            world: "evaluator-plugin",
            path: "../../wit/microlearn-plugin@0.1.0",
            exports: { default: async },
            with: {
                "microlearn:plugin/types": crate::bindings::v0_1_0::preparer::microlearn::plugin::types,
                "microlearn:plugin/host": crate::bindings::v0_1_0::preparer::microlearn::plugin::host,
            },
        });
    }

    pub(crate) mod deployer {
        wasmtime::component::bindgen!({
            world: "deployer-plugin",
            path: "../../wit/microlearn-plugin@0.1.0",
            exports: { default: async },
            with: {
                "microlearn:plugin/types": crate::bindings::v0_1_0::preparer::microlearn::plugin::types,
                "microlearn:plugin/host": crate::bindings::v0_1_0::preparer::microlearn::plugin::host,
            },
        });
    }
}

pub(crate) use v0_1_0::{deployer, evaluator, preparer, selector};

/// The shared WIT types (`microlearn:plugin/types`).
pub(crate) use preparer::microlearn::plugin::types as wit;

/// The host interface every plugin imports (`microlearn:plugin/host`).
pub(crate) use preparer::microlearn::plugin::host as wit_host;

/// Generated export-side types per stage.
pub(crate) use deployer::exports::microlearn::plugin::deployer as wit_deployer;
pub(crate) use evaluator::exports::microlearn::plugin::evaluator as wit_evaluator;
pub(crate) use selector::exports::microlearn::plugin::selector as wit_selector;

//! Integration tests of the plugin runtime against real components.
//!
//! They need the first-party and test plugins built for `wasm32-wasip2`:
//! `bash scripts/build-plugins.sh` (output under `target/`, or wherever
//! `MICROLEARN_PLUGIN_BUILD_DIR` points). Without them the tests fail and say so.

mod batches;
mod compat;
mod dropin;
mod first_party;
mod hostile;
mod registry;
mod support;

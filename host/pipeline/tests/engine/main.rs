//! The pipeline engine driven directly, with no CLI or server in between: the first-party
//! plugins as built components (`scripts/build-plugins.sh`, found through
//! `MICROLEARN_PLUGIN_BUILD_DIR` or `CARGO_TARGET_DIR` like the other suites), the tables in
//! `tests/data/`, and a store in a temporary folder. A missing prerequisite fails the test.

mod common;
mod control;
mod runs;
mod scoring;
mod stages;
mod trials;

//! MicroLearn's cross-crate suites, compiled into one test binary: plugin conformance, the
//! command line end to end on the public datasets (shipped in tests/data/), plugin failures a
//! pipeline survives, and bad input.
//!
//! They need the built plugin components and the `microlearn` binary; `scripts/test.sh` builds
//! both first. Run alone with `cargo test --release -p microlearn-tests`.

// Test helpers outside #[test] functions are still test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod cluster;
mod common;
mod conformance;
mod datetimes;
mod e2e;
mod keep_work;
mod large_tables;
mod plugins_platform;
mod s3;
mod serve;
mod shared_home;

//! End-to-end and conformance suites live in `all/`.

//! Containment: the `hostile` preparer (and its selector, evaluator and deployer siblings, and
//! `stuck-describe`) misbehave on request; the host stops each with a clear error naming the
//! plugin and the function, and the same host keeps working afterwards.

use crate::support::{
    binary_target, host, host_with, mixed_table, test_config, unloadable_plugins_dir,
};
use microlearn_core::stages::{
    Cost, DeployAction, DeployRequest, EvaluationRequest, Hardware, MetaFeatures, ModelKindInfo,
    ModelSummary, PredictionValues, SelectionRequest,
};
use microlearn_core::{ColumnData, Direction, Metric, Task};
use microlearn_plugins::{GuestError, PluginError, PluginHost};
use std::time::{Duration, Instant};

fn fit_hostile(
    host: &PluginHost,
    config: &str,
) -> Result<(Vec<u8>, microlearn_core::Table), PluginError> {
    let table = mixed_table();
    host.preparer("hostile").expect("hostile is installed").fit(
        &table,
        &binary_target(table.num_rows()),
        Task::Binary,
        config,
    )
}

/// The `standard` preparer still fits and transforms correctly on the same host.
fn assert_standard_still_works(host: &PluginHost) {
    let standard = host.preparer("standard").expect("standard is installed");
    let table = mixed_table();
    let (state, prepared) = standard
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("standard fits after a hostile call");
    assert_eq!(prepared.num_rows(), table.num_rows());
    let again = standard
        .transform(&state, &table)
        .expect("standard transforms after a hostile call");
    assert_eq!(again.names(), prepared.names());
}

#[test]
fn stops_an_infinite_loop_at_the_deadline() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "loop"}"#).unwrap_err();
    match &err {
        PluginError::Timeout {
            plugin,
            function,
            limit,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.fit");
            assert_eq!(*limit, Duration::from_secs(1));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("'hostile'") && text.contains("preparer.fit"),
        "{text}"
    );
    assert_standard_still_works(&host);
}

#[test]
fn a_call_within_its_deadline_is_not_interrupted() {
    let host = host();
    let (_, table) = fit_hostile(&host, r#"{"mode": "sleep", "millis": 100}"#)
        .expect("100 ms of work fits a 1 s deadline");
    assert_eq!(table.num_rows(), mixed_table().num_rows());
}

#[test]
fn stops_a_memory_bomb_at_the_cap() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "memory"}"#).unwrap_err();
    match &err {
        PluginError::MemoryLimit {
            plugin,
            function,
            limit_mib,
            requested_mib,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.fit");
            assert_eq!(*limit_mib, 64);
            assert!(*requested_mib > 64, "requested {requested_mib} MiB");
        }
        other => panic!("expected a memory-limit error, got {other:?}"),
    }
    assert_standard_still_works(&host);
}

#[test]
fn reports_a_panic_as_a_trap_with_its_message() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "panic"}"#).unwrap_err();
    match &err {
        PluginError::Trap {
            plugin,
            function,
            message,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.fit");
            assert!(message.contains("panicking on purpose"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_standard_still_works(&host);
}

#[test]
fn rejects_output_that_drops_a_row() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "wrong-rows"}"#).unwrap_err();
    match &err {
        PluginError::InvalidOutput {
            plugin,
            function,
            message,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.fit");
            assert!(
                message.contains("5 rows") && message.contains('6'),
                "{message}"
            );
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
    // The same check guards `transform`: the state replays the misbehaviour.
    let state = br#"{"mode": "wrong-rows"}"#;
    let err = host
        .preparer("hostile")
        .expect("installed")
        .transform(state, &mixed_table())
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::InvalidOutput {
                function: "preparer.transform",
                ..
            }
        ),
        "{err:?}"
    );
    assert_standard_still_works(&host);
}

#[test]
fn rejects_output_over_the_size_cap() {
    // Enough memory for the plugin to build 32 MiB of output, but a 16 MiB output cap.
    let host = host_with(microlearn_plugins::RuntimeConfig {
        default_memory_mib: 256,
        ..test_config()
    });
    let err = fit_hostile(&host, r#"{"mode": "huge-output", "mib": 32}"#).unwrap_err();
    match &err {
        PluginError::OutputTooLarge {
            plugin,
            function,
            bytes,
            limit,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.fit");
            assert_eq!(*limit, 16 << 20);
            assert!(*bytes >= 32 << 20, "{bytes}");
        }
        other => panic!("expected output too large, got {other:?}"),
    }
    assert_standard_still_works(&host);
}

#[test]
fn huge_output_past_the_memory_cap_is_a_memory_limit() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "huge-output", "mib": 200}"#).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::MemoryLimit { .. } | PluginError::OutputTooLarge { .. }
        ),
        "{err:?}"
    );
    assert_standard_still_works(&host);
}

#[test]
fn rejects_infinite_values_in_prepared_output() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "nan"}"#).unwrap_err();
    match &err {
        PluginError::InvalidOutput { message, .. } => {
            assert!(
                message.contains("'nan'") && message.contains("inf"),
                "{message}"
            )
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
}

#[test]
fn escape_attempt_sees_no_environment_no_files_and_a_zero_clock() {
    let host = host();
    // A listener of our own, so "denied" is told apart from "nothing listens there": without
    // the sandbox this connect would succeed.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("bound address").port();
    let err = fit_hostile(&host, &format!(r#"{{"mode": "escape", "port": {port}}}"#)).unwrap_err();
    let PluginError::Guest {
        plugin,
        function,
        error: GuestError::InvalidInput { message, .. },
    } = &err
    else {
        panic!("expected the plugin's escape report, got {err:?}")
    };
    assert_eq!(plugin, "hostile");
    assert_eq!(*function, "preparer.fit");
    assert!(message.contains("env (0 vars): []"), "{message}");
    assert!(message.contains("/etc/passwd: error"), "{message}");
    assert!(message.contains("wall clock: 0 s since epoch"), "{message}");
    // Sockets are denied by the sandbox (not refused by the peer): no connection, no lookup.
    assert!(
        message.contains(&format!("tcp 127.0.0.1:{port}: error PermissionDenied")),
        "{message}"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the plugin reached the host's listener: {other:?}"),
    }
    assert!(message.contains("dns example.com: error"), "{message}");
}

#[test]
fn reports_a_panic_in_transform_as_a_trap() {
    let host = host();
    let state = br#"{"mode": "panic"}"#;
    let err = host
        .preparer("hostile")
        .expect("installed")
        .transform(state, &mixed_table())
        .unwrap_err();
    match &err {
        PluginError::Trap {
            plugin,
            function,
            message,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.transform");
            assert!(message.contains("panicking on purpose"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_standard_still_works(&host);
}

#[test]
fn an_infinite_loop_in_transform_is_stopped_too() {
    let host = host();
    let err = host
        .preparer("hostile")
        .expect("installed")
        .transform(br#"{"mode": "loop"}"#, &mixed_table())
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Timeout {
                function: "preparer.transform",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_a_transform_whose_column_types_differ_from_fit() {
    let host = host();
    let hostile = host.preparer("hostile").expect("installed");
    let table = mixed_table();
    let (state, fitted) = fit_hostile(&host, r#"{"mode": "wrong-types"}"#).expect("fit is fine");
    let err = hostile.transform_like(&state, &table, &fitted).unwrap_err();
    match &err {
        PluginError::InvalidOutput {
            plugin,
            function,
            message,
        } => {
            assert_eq!(plugin, "hostile");
            assert_eq!(*function, "preparer.transform");
            assert!(
                message.contains("'age' is int64") && message.contains("float64"),
                "{message}"
            );
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
    // A well-behaved preparer passes the same check.
    let standard = host.preparer("standard").expect("installed");
    let (state, fitted) = standard
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("fits");
    standard
        .transform_like(&state, &table, &fitted)
        .expect("same columns");
}

#[test]
fn a_nan_and_inf_flood_in_transform_is_rejected_naming_the_column() {
    let host = host();
    let err = host
        .preparer("hostile")
        .expect("installed")
        .transform(br#"{"mode": "nan"}"#, &mixed_table())
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidOutput { function: "preparer.transform", message, .. }
            if message.contains("'nan'")),
        "{err:?}"
    );
}

#[test]
fn reports_the_plugins_own_errors_with_their_variant() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "explode"}"#).unwrap_err();
    assert!(
        matches!(
            &err,
            PluginError::Guest { error: GuestError::InvalidConfig(_), plugin, .. } if plugin == "hostile"
        ),
        "{err:?}"
    );
    let err = host
        .preparer("hostile")
        .expect("installed")
        .transform(b"not json", &mixed_table())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PluginError::Guest {
                error: GuestError::InvalidState(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ok_mode_returns_the_numeric_columns_unchanged() {
    let host = host();
    let table = mixed_table();
    let (_, out) = fit_hostile(&host, r#"{"mode": "ok"}"#).expect("ok mode succeeds");
    assert_eq!(out.names(), vec!["age", "visits"]);
    assert_eq!(out.column("visits"), table.column("visits"));
    let age = out.column("age").expect("age kept");
    assert_eq!(age.validity, table.column("age").expect("age").validity);
    let ColumnData::Float64(values) = &age.data else {
        panic!("age stays float")
    };
    assert_eq!(values[0], 31.0);
}

#[test]
fn misbehaving_calls_on_other_threads_do_not_disturb_good_ones() {
    let host = host();
    std::thread::scope(|scope| {
        let bad: Vec<_> = ["loop", "memory", "panic", "huge-output", "wrong-rows"]
            .into_iter()
            .map(|mode| {
                let host = host.clone();
                scope.spawn(move || fit_hostile(&host, &format!(r#"{{"mode": "{mode}"}}"#)))
            })
            .collect();
        let good: Vec<_> = (0..3)
            .map(|_| {
                let host = host.clone();
                scope.spawn(move || assert_standard_still_works(&host))
            })
            .collect();
        for handle in bad {
            let result = handle.join().expect("hostile thread does not panic");
            assert!(result.unwrap_err().is_containment());
        }
        for handle in good {
            handle.join().expect("standard calls succeed");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Blocking WASI calls. Epoch interruption stops running wasm, not a plugin parked inside a host
// call; these modes park there (`block`: `std::thread::sleep`, `poll`: `wasi:io/poll.poll`) for
// an hour under the tests' 1 s deadline. If a deadline does not bind, the test hangs and the
// harness fails it; the 30 s bound only makes a slow stop visible without timing the host.

/// Far past any deadline in these tests.
const AN_HOUR_MS: u64 = 3_600_000;

/// Generous: the deadline is 1 s; this only catches "stopped, but much too late".
const STOPPED_WITHIN: Duration = Duration::from_secs(30);

const BLOCKING_MODES: [&str; 2] = ["block", "poll"];

fn blocking(mode: &str) -> String {
    format!(r#"{{"mode": "{mode}", "millis": {AN_HOUR_MS}}}"#)
}

/// `result` is the precise timeout of `plugin`'s `function` at the tests' 1 s deadline, and
/// it came well before the plugin would have woken.
#[track_caller]
fn assert_deadline_bound<T: std::fmt::Debug>(
    result: Result<T, PluginError>,
    plugin: &str,
    function: &str,
    started: Instant,
) {
    let elapsed = started.elapsed();
    match &result {
        Err(err) => assert_timeout(err, plugin, function),
        Ok(value) => panic!("expected a timeout of {plugin} {function}, got {value:?}"),
    }
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < STOPPED_WITHIN,
        "{function} stopped after {elapsed:?}"
    );
}

#[track_caller]
fn assert_timeout(err: &PluginError, plugin: &str, function: &str) {
    match err {
        PluginError::Timeout {
            plugin: p,
            function: f,
            limit,
        } => {
            assert_eq!((p.as_str(), *f), (plugin, function));
            assert_eq!(*limit, Duration::from_secs(1));
            let text = err.to_string();
            assert!(text.contains("ran past its 1s time limit"), "{text}");
        }
        other => panic!("expected a timeout of {plugin} {function}, got {other:?}"),
    }
}

#[test]
fn a_blocking_wait_in_fit_is_stopped_at_the_deadline() {
    let host = host();
    for mode in BLOCKING_MODES {
        let started = Instant::now();
        let result = fit_hostile(&host, &blocking(mode));
        assert_deadline_bound(result, "hostile", "preparer.fit", started);
    }
    assert_standard_still_works(&host);
}

#[test]
fn a_blocking_wait_in_transform_is_stopped_at_the_deadline() {
    let host = host();
    let hostile = host.preparer("hostile").expect("installed");
    for mode in BLOCKING_MODES {
        let started = Instant::now();
        // The state is the config JSON, so transform replays the misbehaviour.
        let result = hostile.transform(blocking(mode).as_bytes(), &mixed_table());
        assert_deadline_bound(result, "hostile", "preparer.transform", started);
    }
    assert_standard_still_works(&host);
}

#[test]
fn a_blocking_wait_in_select_is_stopped_at_the_deadline() {
    let host = host();
    let selector = host.selector("hostile-selector").expect("installed");
    for mode in BLOCKING_MODES {
        let started = Instant::now();
        let result = selector.select(&selection_request(&blocking(mode)));
        assert_deadline_bound(result, "hostile-selector", "selector.select", started);
    }
    // The same plugin answers once it is asked to behave.
    let candidates = selector
        .select(&selection_request(r#"{"mode": "ok"}"#))
        .expect("ok mode selects");
    assert_eq!(candidates[0].kind, "linear");
}

#[test]
fn a_blocking_wait_in_evaluate_is_stopped_at_the_deadline() {
    let host = host();
    let evaluator = host.evaluator("hostile-evaluator").expect("installed");
    for mode in BLOCKING_MODES {
        let started = Instant::now();
        let result = evaluator.evaluate(&evaluation_request(&blocking(mode)));
        assert_deadline_bound(result, "hostile-evaluator", "evaluator.evaluate", started);
    }
    let evaluation = evaluator
        .evaluate(&evaluation_request(r#"{"mode": "ok"}"#))
        .expect("ok mode evaluates");
    assert_eq!(evaluation.metric("rows").map(|m| m.value), Some(3.0));
}

#[test]
fn a_blocking_wait_in_decide_is_stopped_at_the_deadline() {
    let host = host();
    let deployer = host.deployer("hostile-deployer").expect("installed");
    for mode in BLOCKING_MODES {
        let started = Instant::now();
        let result = deployer.decide(&deploy_request(&blocking(mode)));
        assert_deadline_bound(result, "hostile-deployer", "deployer.decide", started);
    }
    let decision = deployer
        .decide(&deploy_request(r#"{"mode": "ok"}"#))
        .expect("ok mode decides");
    assert_eq!(decision.action, DeployAction::Keep);
}

#[test]
fn a_describe_that_blocks_fails_the_scan_and_the_install_at_the_describe_deadline() {
    let host = host();
    let started = Instant::now();
    let report = host.scan(&[unloadable_plugins_dir()]);
    assert!(report.loaded.is_empty(), "{:?}", report.loaded);
    let [(path, err)] = &report.errors[..] else {
        panic!("one error expected: {:#?}", report.errors)
    };
    assert!(path.ends_with("stuck-describe"), "{}", path.display());
    assert_timeout(err, "stuck-describe", "preparer.describe");
    assert!(
        started.elapsed() < STOPPED_WITHIN,
        "{:?}",
        started.elapsed()
    );

    let home = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let result = host.install(
        &unloadable_plugins_dir().join("stuck-describe"),
        home.path(),
    );
    assert_deadline_bound(result, "stuck-describe", "preparer.describe", started);
    assert!(
        !home.path().join("stuck-describe").exists(),
        "nothing is installed"
    );
}

#[test]
fn a_blocking_wait_within_the_deadline_completes() {
    let host = host();
    for mode in BLOCKING_MODES {
        let (_, table) = fit_hostile(&host, &format!(r#"{{"mode": "{mode}", "millis": 50}}"#))
            .unwrap_or_else(|e| panic!("{mode}: 50 ms fits a 1 s deadline: {e}"));
        assert_eq!(table.num_rows(), mixed_table().num_rows());
        let candidates = host
            .selector("hostile-selector")
            .expect("installed")
            .select(&selection_request(&format!(
                r#"{{"mode": "{mode}", "millis": 50}}"#
            )))
            .unwrap_or_else(|e| panic!("{mode}: 50 ms fits a 1 s deadline: {e}"));
        assert_eq!(candidates.len(), 1);
    }
}

#[test]
fn stdin_is_closed_so_reading_it_cannot_block() {
    let host = host();
    let err = fit_hostile(&host, r#"{"mode": "stdin"}"#).unwrap_err();
    assert!(
        matches!(&err, PluginError::Guest { error: GuestError::InvalidInput { message, .. }, .. }
            if message == "stdin: read 0 bytes, then end of stream"),
        "{err:?}"
    );
    let err = host
        .deployer("hostile-deployer")
        .expect("installed")
        .decide(&deploy_request(r#"{"mode": "stdin"}"#))
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Guest { function: "deployer.decide", error: GuestError::InvalidInput { message, .. }, .. }
            if message.contains("read 0 bytes")),
        "{err:?}"
    );
}

#[test]
fn limits_bind_the_same_without_the_pooling_allocator() {
    let host = host_with(microlearn_plugins::RuntimeConfig {
        pooling: false,
        ..test_config()
    });
    assert!(!host.pooling_active());
    let started = Instant::now();
    assert_deadline_bound(
        fit_hostile(&host, &blocking("block")),
        "hostile",
        "preparer.fit",
        started,
    );
    let err = fit_hostile(&host, r#"{"mode": "memory"}"#).unwrap_err();
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_mib: 64, .. }),
        "{err:?}"
    );
    assert_standard_still_works(&host);
}

fn selection_request(config: &str) -> SelectionRequest {
    let kind = |name: &str, tasks: Vec<Task>| ModelKindInfo {
        name: name.into(),
        description: format!("{name} model"),
        tasks,
        params: Vec::new(),
        cost: Cost::Low,
    };
    SelectionRequest {
        meta: MetaFeatures {
            task: Task::Binary,
            rows: 6,
            raw_features: 3,
            prepared_features: 3,
            numeric_features: 2,
            categorical_features: 1,
            datetime_features: 0,
            missing_fraction: 0.1,
            classes: 2,
            minority_class_fraction: 0.5,
        },
        catalogue: vec![
            kind("ridge", vec![Task::Regression]),
            kind("linear", vec![Task::Binary, Task::Regression]),
        ],
        budget_seconds: 10.0,
        hardware: Hardware {
            cpus: 1,
            memory_bytes: 1 << 30,
            gpus: 0,
        },
        config: config.into(),
    }
}

fn evaluation_request(config: &str) -> EvaluationRequest {
    EvaluationRequest {
        task: Task::Regression,
        labels: vec![],
        y_true: vec![1.0, 2.0, 3.0],
        predictions: PredictionValues::Values(vec![1.0, 2.0, 4.0]),
        curves: false,
        config: config.into(),
    }
}

fn deploy_request(config: &str) -> DeployRequest {
    DeployRequest {
        task: Task::Binary,
        primary_metric: "accuracy".into(),
        candidates: vec![ModelSummary {
            model_id: "m-new".into(),
            kind: "linear".into(),
            metrics: vec![Metric {
                name: "accuracy".into(),
                value: 0.9,
                direction: Direction::Maximize,
            }],
            fit_seconds: 1.0,
            size_bytes: 1000,
        }],
        current: None,
        config: config.into(),
    }
}

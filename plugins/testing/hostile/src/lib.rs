//! `hostile`: a preparer that misbehaves on request, so the host's test suite can prove that
//! a plugin cannot hang, exhaust, crash or escape the host. **Never install it for users**; the
//! build script puts it in a separate test-plugins folder.
//!
//! `fit`'s config (and `transform`'s state, which is the same JSON) selects the misbehaviour:
//!
//! | `mode` | behaviour |
//! |---|---|
//! | `ok` | identity: returns the input's numeric columns |
//! | `loop` | never returns |
//! | `sleep` | busy-waits `millis` ms (monotonic clock), then behaves like `ok` |
//! | `block` | `std::thread::sleep(millis)`, a blocking WASI clock wait, then behaves like `ok` |
//! | `poll` | waits `millis` ms in an explicit `wasi:io/poll.poll`, then behaves like `ok` |
//! | `stdin` | reads stdin to its end (a blocking WASI read), then returns what it read as an `InvalidInput` message |
//! | `memory` | allocates and touches memory without bound |
//! | `panic` | panics (a trap in the component) |
//! | `wrong-rows` | returns one row fewer than its input |
//! | `huge-output` | returns about `mib` MiB (float columns, or one long dictionary string for small inputs), same row count |
//! | `nan` | returns NaN and ±inf values |
//! | `escape` | reads the environment, `/etc/passwd`, the wall clock and tries the network (TCP connect to loopback `port`, default 80, reporting the error kind; name lookup), and returns what it saw as an `InvalidInput` message |
//! | `wrong-types` | `fit` behaves like `ok`; `transform` returns the same column names with other types (float64 ↔ int64) |
//! | `reject-negative` | `fit` behaves like `ok`; `transform` reports the first row whose first float column is negative as an `InvalidInput` of that cell |
//!
//! Example: `{"mode": "sleep", "millis": 200}`. `sleep` keeps running wasm (epoch
//! interruption stops it); `block`, `poll` and `stdin` wait inside a host call, where it does
//! not (see `microlearn-test-misbehave`).

use microlearn_sdk::config;
use microlearn_sdk::prelude::*;
use microlearn_test_misbehave::{Blocking, block, stdin_report};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The test-only preparer.
pub struct Hostile;

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "mode": {"enum": ["ok", "loop", "sleep", "memory", "panic", "wrong-rows", "huge-output", "nan", "escape", "wrong-types", "block", "poll", "stdin", "reject-negative"], "default": "ok"},
    "millis": {"type": "integer", "minimum": 0, "default": 100},
    "mib": {"type": "integer", "minimum": 1, "default": 64},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80}
  }
}"#;

/// The misbehaviour to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Identity on numeric columns.
    #[default]
    Ok,
    /// Infinite loop.
    Loop,
    /// Busy-wait, then OK.
    Sleep,
    /// Unbounded allocation.
    Memory,
    /// Rust panic.
    Panic,
    /// One row short.
    WrongRows,
    /// Very large output.
    HugeOutput,
    /// Non-finite values.
    Nan,
    /// Try to read the environment, a file, the wall clock and the network.
    Escape,
    /// `transform` changes the column types `fit` returned.
    WrongTypes,
    /// `std::thread::sleep`, then OK.
    Block,
    /// An explicit `wasi:io/poll.poll` wait, then OK.
    Poll,
    /// Read stdin to its end, then report it.
    Stdin,
    /// `transform` rejects the first negative value of the first float column (so a host that
    /// calls in batches can be checked to report the row of its input, not of the batch).
    RejectNegative,
}

/// Config of `fit`, and the state handed to `transform`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// For `sleep`, `block` and `poll`: how long to wait.
    pub millis: u64,
    /// For `huge-output`: roughly how many MiB to return.
    pub mib: u64,
    /// For `escape`: the loopback port to try to connect to (a test opens a listener there).
    pub port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Ok,
            millis: 100,
            mib: 64,
            port: 80,
        }
    }
}

/// The input's numeric columns, unchanged.
fn numeric_columns(input: &Table) -> Result<Table, PluginError> {
    let columns: Vec<Column> = input
        .columns()
        .iter()
        .filter(|c| matches!(c.data, ColumnData::Float64(_) | ColumnData::Int64(_)))
        .cloned()
        .collect();
    Table::with_rows(input.num_rows(), columns).map_err(|e| PluginError::internal(e.to_string()))
}

/// The numeric columns with float64 and int64 swapped (values rounded or widened).
fn swapped_types(input: &Table) -> Result<Table, PluginError> {
    let columns: Vec<Column> = numeric_columns(input)?
        .into_columns()
        .into_iter()
        .map(|mut c| {
            c.data = match c.data {
                ColumnData::Float64(v) => ColumnData::Int64(v.iter().map(|x| *x as i64).collect()),
                ColumnData::Int64(v) => ColumnData::Float64(v.iter().map(|x| *x as f64).collect()),
                other => other,
            };
            c
        })
        .collect();
    Table::with_rows(input.num_rows(), columns).map_err(|e| PluginError::internal(e.to_string()))
}

fn misbehave(config: &Config, input: &Table, in_transform: bool) -> Result<Table, PluginError> {
    match config.mode {
        Mode::Ok => numeric_columns(input),
        Mode::WrongTypes if in_transform => swapped_types(input),
        Mode::WrongTypes => numeric_columns(input),
        Mode::RejectNegative if !in_transform => numeric_columns(input),
        Mode::RejectNegative => {
            let first = input.columns().iter().find_map(|c| match &c.data {
                ColumnData::Float64(v) => Some((c, v)),
                _ => None,
            });
            if let Some((column, values)) = first
                && let Some(row) = values.iter().position(|&x| x < 0.0)
            {
                return Err(PluginError::cell(
                    column.name.clone(),
                    row,
                    "hostile plugin: negative value",
                ));
            }
            numeric_columns(input)
        }
        Mode::Loop => {
            let mut n: u64 = 0;
            // black_box keeps the optimiser from proving anything about the loop.
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        Mode::Sleep => {
            let start = Instant::now();
            let wait = Duration::from_millis(config.millis);
            while start.elapsed() < wait {
                black_box(start);
            }
            numeric_columns(input)
        }
        Mode::Memory => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Touch every page so the memory is really committed.
                hoard.push(vec![0xA5; 16 << 20]);
                black_box(&hoard);
            }
        }
        Mode::Panic => panic!("hostile plugin: panicking on purpose"),
        Mode::WrongRows => {
            let keep: Vec<usize> = (0..input.num_rows().saturating_sub(1)).collect();
            numeric_columns(&input.take(&keep))
        }
        Mode::HugeOutput => {
            let rows = input.num_rows();
            let bytes = (config.mib as usize) << 20;
            let floats = bytes / 8;
            // Wide float tables are slow to cross (one name and one list per column), which
            // would turn this into a timeout test on small inputs; past a few columns the
            // bytes go into one dictionary string instead, which crosses as a single memcpy.
            const MAX_FLOAT_COLUMNS: usize = 64;
            let cols = if rows > 0 && floats.div_ceil(rows) <= MAX_FLOAT_COLUMNS {
                (0..floats.div_ceil(rows))
                    .map(|c| Column::float64(format!("huge_{c}"), vec![c as f64; rows]))
                    .collect()
            } else {
                vec![Column::new(
                    "huge",
                    ColumnData::Categorical(Dictionary {
                        codes: vec![0; rows],
                        dictionary: vec!["x".repeat(bytes)],
                    }),
                )]
            };
            Table::with_rows(rows, cols).map_err(|e| PluginError::internal(e.to_string()))
        }
        Mode::Nan => {
            let rows = input.num_rows();
            let values = (0..rows)
                .map(|i| match i % 3 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    _ => f64::NEG_INFINITY,
                })
                .collect();
            Table::with_rows(rows, vec![Column::float64("nan", values)])
                .map_err(|e| PluginError::internal(e.to_string()))
        }
        Mode::Escape => Err(PluginError::input(escape_report(config.port))),
        Mode::Block => blocked(Blocking::Block, config.millis, input),
        Mode::Poll => blocked(Blocking::Poll, config.millis, input),
        Mode::Stdin => blocked(Blocking::Stdin, config.millis, input),
    }
}

/// Wait inside a host call, then behave like `ok` (or report what stdin held).
fn blocked(how: Blocking, millis: u64, input: &Table) -> Result<Table, PluginError> {
    match stdin_report(&block(how, millis)) {
        Some(report) => Err(PluginError::input(report)),
        None => numeric_columns(input),
    }
}

/// What the sandbox let through: environment, a host file, the wall clock.
fn escape_report(port: u16) -> String {
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let file = match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => format!(
            "read {} bytes: {}",
            text.len(),
            text.lines().next().unwrap_or("")
        ),
        Err(e) => format!("error: {e}"),
    };
    let clock = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => format!("{} s since epoch", d.as_secs()),
        Err(e) => format!("before epoch: {e}"),
    };
    // The error's kind is reported apart from its text, so a test can tell "the sandbox
    // refused" (PermissionDenied) from "nobody listens there" (ConnectionRefused).
    let tcp = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => "connected".to_string(),
        Err(e) => format!("error {:?}: {e}", e.kind()),
    };
    let dns = {
        use std::net::ToSocketAddrs;
        match ("example.com", 443).to_socket_addrs() {
            Ok(addrs) => format!("resolved {} addresses", addrs.count()),
            Err(e) => format!("error: {e}"),
        }
    };
    format!(
        "escape report; env ({} vars): [{}]; /etc/passwd: {file}; wall clock: {clock}; \
         tcp 127.0.0.1:{port}: {tcp}; dns example.com: {dns}",
        env.len(),
        env.join(", ")
    )
}

impl Preparer for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile",
            env!("CARGO_PKG_VERSION"),
            PluginKind::Preparer,
            "Test-only preparer that misbehaves on request; never install for users.",
        )
        .with_schema(SCHEMA)
    }

    fn fit(
        train: &Table,
        _target: &Column,
        _task: Task,
        config: &str,
    ) -> Result<FitOutput, PluginError> {
        let parsed: Config = config::parse(config)?;
        let state =
            serde_json::to_vec(&parsed).map_err(|e| PluginError::internal(e.to_string()))?;
        let table = misbehave(&parsed, train, false)?;
        Ok(FitOutput { state, table })
    }

    fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError> {
        let config: Config = serde_json::from_slice(state).map_err(|e| {
            PluginError::state(format!("hostile state is not its config JSON: {e}"))
        })?;
        misbehave(&config, input, true)
    }
}

microlearn_sdk::export_preparer!(Hostile);

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(vec![
            Column::float64("x", vec![1.0, 2.0, 3.0]),
            Column::categorical_from_strs("c", &[Some("a"), Some("b"), None]),
        ])
        .unwrap()
    }

    fn fit(config: &str) -> Result<FitOutput, PluginError> {
        Hostile::fit(
            &table(),
            &Column::float64("y", vec![0.0; 3]),
            Task::Regression,
            config,
        )
    }

    #[test]
    fn ok_mode_returns_numeric_columns_and_transform_replays_it() {
        let out = fit(r#"{"mode": "ok"}"#).unwrap();
        assert_eq!(out.table.names(), vec!["x"]);
        assert_eq!(Hostile::transform(&out.state, &table()).unwrap(), out.table);
    }

    #[test]
    fn wrong_rows_returns_one_row_fewer() {
        assert_eq!(
            fit(r#"{"mode": "wrong-rows"}"#).unwrap().table.num_rows(),
            2
        );
    }

    #[test]
    fn huge_output_is_about_the_requested_size() {
        let bytes = |t: &Table| -> usize {
            t.columns()
                .iter()
                .map(|c| match &c.data {
                    ColumnData::Float64(v) => v.len() * 8,
                    ColumnData::Categorical(d) => d.dictionary.iter().map(String::len).sum(),
                    _ => 0,
                })
                .sum()
        };
        // Small input: the bytes travel as one dictionary string.
        let t = fit(r#"{"mode": "huge-output", "mib": 2}"#).unwrap().table;
        assert!(bytes(&t) >= 2 << 20, "{} bytes", bytes(&t));
        assert_eq!((t.num_rows(), t.num_columns()), (3, 1));
        // Tall input: float columns of the input's height.
        let tall = Table::new(vec![Column::float64("x", vec![0.0; 1 << 16])]).unwrap();
        let state = br#"{"mode": "huge-output", "mib": 2}"#;
        let t = Hostile::transform(state, &tall).unwrap();
        assert!(bytes(&t) >= 2 << 20 && t.num_columns() == 4);
        assert_eq!(t.num_rows(), 1 << 16);
    }

    #[test]
    fn nan_mode_returns_non_finite_values() {
        let t = fit(r#"{"mode": "nan"}"#).unwrap().table;
        let ColumnData::Float64(v) = &t.columns()[0].data else {
            panic!("float column expected")
        };
        assert!(v.iter().all(|x| !x.is_finite()));
    }

    #[test]
    fn sleep_mode_returns_ok_afterwards() {
        assert!(fit(r#"{"mode": "sleep", "millis": 1}"#).is_ok());
    }

    #[test]
    fn blocking_modes_return_ok_afterwards() {
        for mode in ["block", "poll"] {
            let out = fit(&format!(r#"{{"mode": "{mode}", "millis": 1}}"#)).unwrap();
            assert_eq!(out.table.names(), vec!["x"], "{mode}");
        }
    }

    #[test]
    #[should_panic(expected = "panicking on purpose")]
    fn panic_mode_panics() {
        let _ = fit(r#"{"mode": "panic"}"#);
    }

    #[test]
    fn escape_mode_reports_what_it_saw_as_invalid_input() {
        let err = fit(r#"{"mode": "escape"}"#).unwrap_err();
        let PluginError::InvalidInput { message, .. } = err else {
            panic!("InvalidInput expected")
        };
        assert!(message.contains("/etc/passwd") && message.contains("wall clock"));
    }

    #[test]
    fn transform_reads_mode_from_state() {
        let state = br#"{"mode": "wrong-rows"}"#;
        assert_eq!(Hostile::transform(state, &table()).unwrap().num_rows(), 2);
        assert!(matches!(
            Hostile::transform(b"garbage", &table()),
            Err(PluginError::InvalidState(_))
        ));
    }

    #[test]
    fn unknown_mode_is_invalid_config() {
        assert!(matches!(
            fit(r#"{"mode": "explode"}"#),
            Err(PluginError::InvalidConfig(_))
        ));
    }
}

//! Misbehaviours shared by the hostile test plugins (`hostile`, `hostile-selector`,
//! `hostile-evaluator`, `hostile-deployer`, `stuck-describe`). Not a plugin itself.
//!
//! The busy-wait `sleep` and `loop` modes of the hostile plugins keep running wasm, which
//! epoch interruption stops. The modes here instead park the guest inside a *host* call,
//! where no epoch check runs, so they prove that a deadline binds a blocking WASI import too:
//!
//! | mode | host call the guest waits in |
//! |---|---|
//! | `block` | `std::thread::sleep`: a monotonic-clock subscription and `pollable.block` |
//! | `poll` | `wasi:io/poll.poll` on a monotonic-clock subscription, called explicitly |
//! | `stdin` | a blocking read of stdin to its end (the sandbox's stdin is closed, so this returns at once, and the plugin says so) |

use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};

/// What the selector, evaluator and deployer hostiles do, from their request's JSON config:
/// `{"mode": "block", "millis": 3600000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Answer normally.
    #[default]
    Ok,
    /// Never return (running wasm).
    Loop,
    /// Busy-wait `millis` ms (running wasm), then answer.
    Sleep,
    /// `std::thread::sleep(millis)`, then answer.
    Block,
    /// `wasi:io/poll.poll` for `millis` ms, then answer.
    Poll,
    /// Read stdin to its end, then fail with what it read.
    Stdin,
    /// Panic (a trap).
    Panic,
}

/// The config of the selector, evaluator and deployer hostiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// How long `sleep`, `block` and `poll` wait.
    pub millis: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Ok,
            millis: 100,
        }
    }
}

/// The JSON Schema of [`Config`], for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "mode": {"enum": ["ok", "loop", "sleep", "block", "poll", "stdin", "panic"], "default": "ok"},
    "millis": {"type": "integer", "minimum": 0, "default": 100}
  }
}"#;

/// Parse `config` (empty means defaults).
pub fn parse(config: &str) -> Result<Config, String> {
    if config.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_json::from_str(config).map_err(|e| format!("hostile config: {e}"))
}

/// Misbehave as `config` says. `Ok(())` means "now answer normally"; `Err` carries a message
/// the plugin returns as an `InvalidInput` error (what stdin held).
pub fn act(config: &Config) -> Result<(), String> {
    match config.mode {
        Mode::Ok => Ok(()),
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
            Ok(())
        }
        Mode::Block => wake(block(Blocking::Block, config.millis)),
        Mode::Poll => wake(block(Blocking::Poll, config.millis)),
        Mode::Stdin => wake(block(Blocking::Stdin, config.millis)),
        Mode::Panic => panic!("hostile plugin: panicking on purpose"),
    }
}

fn wake(woke: Woke) -> Result<(), String> {
    match stdin_report(&woke) {
        Some(report) => Err(report),
        None => Ok(()),
    }
}

/// A way to wait inside a host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blocking {
    /// `std::thread::sleep(millis)`.
    Block,
    /// `wasi:io/poll.poll` on a `millis` monotonic-clock subscription.
    Poll,
    /// Read stdin to its end.
    Stdin,
}

/// What a blocking call saw once it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woke {
    /// The wait lasted its full time.
    Slept,
    /// Stdin ended after this many bytes.
    StdinEnded(usize),
    /// Reading stdin failed.
    StdinError(String),
}

/// Wait `millis` ms (or until stdin ends) in the way `how` says.
pub fn block(how: Blocking, millis: u64) -> Woke {
    let wait = Duration::from_millis(millis);
    match how {
        Blocking::Block => {
            std::thread::sleep(wait);
            Woke::Slept
        }
        Blocking::Poll => {
            poll_monotonic(wait);
            Woke::Slept
        }
        Blocking::Stdin => {
            let mut buf = Vec::new();
            match std::io::stdin().read_to_end(&mut buf) {
                Ok(n) => Woke::StdinEnded(n),
                Err(e) => Woke::StdinError(e.to_string()),
            }
        }
    }
}

/// The message a plugin returns (as an `InvalidInput` error) after a `stdin` read, so the host
/// test can check what the sandbox's stdin held.
pub fn stdin_report(woke: &Woke) -> Option<String> {
    match woke {
        Woke::Slept => None,
        Woke::StdinEnded(n) => Some(format!("stdin: read {n} bytes, then end of stream")),
        Woke::StdinError(e) => Some(format!("stdin: error: {e}")),
    }
}

#[cfg(target_os = "wasi")]
fn poll_monotonic(wait: Duration) {
    use wasip2::clocks::monotonic_clock::subscribe_duration;
    let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    let pollable = subscribe_duration(nanos);
    // `poll` returns once any listed pollable is ready; with one subscription that is when the
    // clock passes the duration (or never, if the host does not stop the call first).
    let ready = wasip2::io::poll::poll(&[&pollable]);
    debug_assert_eq!(ready, vec![0]);
}

#[cfg(not(target_os = "wasi"))]
fn poll_monotonic(wait: Duration) {
    std::thread::sleep(wait);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_poll_wait_their_time() {
        for how in [Blocking::Block, Blocking::Poll] {
            let started = std::time::Instant::now();
            assert_eq!(block(how, 20), Woke::Slept);
            assert!(started.elapsed() >= Duration::from_millis(20), "{how:?}");
        }
    }

    #[test]
    fn modes_are_kebab_case_json() {
        let how: Blocking = serde_json::from_str(r#""stdin""#).unwrap();
        assert_eq!(how, Blocking::Stdin);
    }

    #[test]
    fn config_parses_modes_and_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        let c = parse(r#"{"mode": "poll", "millis": 5}"#).unwrap();
        assert_eq!((c.mode, c.millis), (Mode::Poll, 5));
        assert!(
            parse(r#"{"mode": "explode"}"#)
                .unwrap_err()
                .contains("hostile config")
        );
        assert_eq!(act(&c), Ok(()));
    }

    #[test]
    fn stdin_report_names_the_byte_count() {
        assert_eq!(
            stdin_report(&Woke::StdinEnded(0)).unwrap(),
            "stdin: read 0 bytes, then end of stream"
        );
        assert_eq!(stdin_report(&Woke::Slept), None);
    }
}

//! Runtime configuration and the per-plugin limits resolved from it.

use crate::manifest::ManifestLimits;
use std::path::PathBuf;
use std::time::Duration;

/// How the plugin runtime is set up. Built by the host's configuration layer; this crate never
/// reads the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Where precompiled components (`*.cwasm`) are kept between runs. `None` keeps them in
    /// memory only, so every process compiles each plugin once.
    pub cache_dir: Option<PathBuf>,
    /// Linear-memory cap of one plugin instance unless its manifest asks for another, MiB.
    /// Default 1024: the design's largest expected input (a few hundred MB of columns) fits with
    /// room for the plugin's working copy.
    pub default_memory_mib: u64,
    /// No manifest may raise the cap above this, MiB. Default 4096, the whole 32-bit wasm address
    /// space; also the pooling allocator's slot size.
    pub max_memory_mib: u64,
    /// Wall-clock deadline of `fit`, `transform`, `select`, `evaluate` and `decide` unless the
    /// manifest asks for another. Default 60 s.
    pub default_timeout: Duration,
    /// No manifest may raise the deadline above this. Default 10 min.
    pub max_timeout: Duration,
    /// Deadline of the metadata calls (`describe`, `tasks`), which do no work. Default 5 s, so a
    /// hostile `describe` cannot stall a registry scan for a minute.
    pub describe_timeout: Duration,
    /// Cap on the estimated serialised size of one call's output, bytes. Default 256 MiB.
    pub max_output_bytes: u64,
    /// Use the pooling instance allocator (faster instantiation; reserves address space up
    /// front). Falls back to the on-demand allocator, with a warning, when the reservation fails.
    /// Default `true`.
    pub pooling: bool,
    /// Size of the instance pool: how many plugin calls may run at the same time. Default 64,
    /// well above the number of trial threads a host runs.
    pub max_concurrent_instances: u32,
    /// How many `log` lines one call may emit before the rest are counted, not printed.
    /// Default 200.
    pub max_log_lines_per_call: u32,
    /// Bytes of guest stdout/stderr kept per call (shown in traps, e.g. a panic message).
    /// Default 16 KiB.
    pub max_captured_output_bytes: usize,
    /// Largest component accepted for compilation (installed, scanned, uploaded or from a
    /// bundle), bytes. Default 64 MiB: the first-party components are well under 1 MiB, and
    /// compile time and memory grow with the size.
    pub max_component_bytes: u64,
    /// How long compiling one component may take before the load fails. Default 120 s, many
    /// times what a large real component needs on one core. Cranelift cannot be interrupted,
    /// so a compile past this limit finishes on its own thread and its result is dropped.
    pub compile_timeout: Duration,
    /// Rows cross into a preparer's `transform` in batches of about this many bytes, so no
    /// single call carries a whole table and the memory and output caps stay per call; the
    /// batches run in parallel. Default 16 MiB: each batch in flight costs a few times its size
    /// in guest memory, and the per-call overhead is tens of microseconds, so small batches
    /// cost nothing measurable and keep the peak low. Each plugin's batch is further capped
    /// at an eighth of its memory cap and half the output cap.
    pub batch_bytes: u64,
    /// A training table larger than this is not fitted whole: `fit` sees a seeded random
    /// sample of about this many bytes, and the other training rows are prepared by
    /// `transform` (in batches) with the fitted state. Default 64 MiB (about 400k rows of 20
    /// numbers), capped like [`Self::batch_bytes`] but at a quarter of the memory cap.
    pub fit_sample_bytes: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            default_memory_mib: 1024,
            max_memory_mib: 4096,
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(600),
            describe_timeout: Duration::from_secs(5),
            max_output_bytes: 256 << 20,
            pooling: true,
            max_concurrent_instances: 64,
            max_log_lines_per_call: 200,
            max_captured_output_bytes: 16 << 10,
            max_component_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(120),
            batch_bytes: 16 << 20,
            fit_sample_bytes: 64 << 20,
        }
    }
}

impl RuntimeConfig {
    /// Check the numbers once, so later arithmetic cannot surprise.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_memory_mib == 0 || self.max_memory_mib > 4096 {
            return Err(format!(
                "max_memory_mib must be in 1..=4096 (32-bit wasm memories), got {}",
                self.max_memory_mib
            ));
        }
        if self.default_memory_mib == 0 || self.default_memory_mib > self.max_memory_mib {
            return Err(format!(
                "default_memory_mib ({}) must be in 1..=max_memory_mib ({})",
                self.default_memory_mib, self.max_memory_mib
            ));
        }
        if self.default_timeout.is_zero() || self.default_timeout > self.max_timeout {
            return Err(format!(
                "default_timeout ({:?}) must be positive and at most max_timeout ({:?})",
                self.default_timeout, self.max_timeout
            ));
        }
        if self.describe_timeout.is_zero() {
            return Err("describe_timeout must be positive".to_string());
        }
        if self.max_concurrent_instances == 0 {
            return Err("max_concurrent_instances must be at least 1".to_string());
        }
        if self.max_component_bytes == 0 {
            return Err("max_component_mib must be positive".to_string());
        }
        if self.compile_timeout.is_zero() {
            return Err("compile_timeout must be positive".to_string());
        }
        if self.batch_bytes < 1 << 20 || self.fit_sample_bytes < 1 << 20 {
            return Err(format!(
                "batch_mib and fit_sample_mib must be at least 1, got {} and {} bytes",
                self.batch_bytes, self.fit_sample_bytes
            ));
        }
        Ok(())
    }

    /// The limits one plugin runs under: the manifest's request, capped by the host maxima.
    pub(crate) fn limits_for(&self, plugin: &str, requested: &ManifestLimits) -> CallLimits {
        let memory_mib = match requested.memory_mib {
            Some(m) if m > self.max_memory_mib => {
                tracing::warn!(
                    plugin,
                    requested_mib = m,
                    max_mib = self.max_memory_mib,
                    "manifest asks for more memory than the host allows; capped"
                );
                self.max_memory_mib
            }
            Some(m) => m.max(1),
            None => self.default_memory_mib,
        };
        let timeout = match requested.timeout_ms.map(Duration::from_millis) {
            Some(t) if t > self.max_timeout => {
                tracing::warn!(
                    plugin,
                    requested_ms = t.as_millis() as u64,
                    max_ms = self.max_timeout.as_millis() as u64,
                    "manifest asks for a longer deadline than the host allows; capped"
                );
                self.max_timeout
            }
            Some(t) if !t.is_zero() => t,
            _ => self.default_timeout,
        };
        let memory_bytes = memory_mib.saturating_mul(1 << 20);
        let batch_bytes = self
            .batch_bytes
            .min(memory_bytes / 8)
            .min(self.max_output_bytes / 2)
            .max(64 << 10);
        let fit_sample_bytes = self
            .fit_sample_bytes
            .min(memory_bytes / 4)
            .min(self.max_output_bytes / 2)
            .max(64 << 10);
        CallLimits {
            memory_mib,
            timeout,
            batch_bytes,
            fit_sample_bytes,
            describe_timeout: self.describe_timeout.min(timeout),
            max_output_bytes: self.max_output_bytes,
            max_log_lines: self.max_log_lines_per_call,
            max_captured_output: self.max_captured_output_bytes,
        }
    }
}

/// The `[plugins]` table of `microlearn.toml`: the runtime limits an operator may set, every
/// field optional (absent = the built-in default of [`RuntimeConfig`]). Per-plugin requests in
/// a manifest's `[limits]` are capped by the `max_*` values here.
///
/// ```toml
/// [plugins]
/// memory_mib = 1024              # default linear-memory cap per call
/// max_memory_mib = 4096          # no manifest may ask for more
/// timeout_secs = 60              # default deadline of fit/transform/select/evaluate/decide
/// max_timeout_secs = 600         # no manifest may ask for more
/// describe_timeout_secs = 5      # deadline of describe/tasks
/// max_output_mib = 256           # cap on one call's output
/// max_concurrent_instances = 64  # instance pool size = plugin calls running at once
/// pooling = true                 # pooling allocator (falls back when it cannot reserve)
/// max_log_lines_per_call = 200   # further log lines of a call are counted, not printed
/// max_component_mib = 64         # larger components are refused before compiling
/// compile_timeout_secs = 120     # a compile that takes longer fails the load
/// batch_mib = 16                 # rows cross into a preparer's transform in batches this size
/// fit_sample_mib = 64            # a larger training table is fitted on a sample this size
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// [`RuntimeConfig::default_memory_mib`].
    pub memory_mib: Option<u64>,
    /// [`RuntimeConfig::max_memory_mib`].
    pub max_memory_mib: Option<u64>,
    /// [`RuntimeConfig::default_timeout`], seconds.
    pub timeout_secs: Option<f64>,
    /// [`RuntimeConfig::max_timeout`], seconds.
    pub max_timeout_secs: Option<f64>,
    /// [`RuntimeConfig::describe_timeout`], seconds.
    pub describe_timeout_secs: Option<f64>,
    /// [`RuntimeConfig::max_output_bytes`], MiB.
    pub max_output_mib: Option<u64>,
    /// [`RuntimeConfig::max_concurrent_instances`].
    pub max_concurrent_instances: Option<u32>,
    /// [`RuntimeConfig::pooling`].
    pub pooling: Option<bool>,
    /// [`RuntimeConfig::max_log_lines_per_call`].
    pub max_log_lines_per_call: Option<u32>,
    /// [`RuntimeConfig::max_component_bytes`], MiB.
    pub max_component_mib: Option<u64>,
    /// [`RuntimeConfig::compile_timeout`], seconds.
    pub compile_timeout_secs: Option<f64>,
    /// [`RuntimeConfig::batch_bytes`], MiB.
    pub batch_mib: Option<u64>,
    /// [`RuntimeConfig::fit_sample_bytes`], MiB.
    pub fit_sample_mib: Option<u64>,
}

impl PluginSettings {
    /// `base` with every field that is set here replaced. The result is checked when a
    /// [`crate::PluginHost`] starts with it; a bad duration is reported here, naming the key.
    pub fn apply(&self, base: RuntimeConfig) -> Result<RuntimeConfig, String> {
        let secs = |key: &str, v: Option<f64>, default: Duration| -> Result<Duration, String> {
            match v {
                None => Ok(default),
                Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                    Ok(Duration::from_secs_f64(s))
                }
                Some(s) => Err(format!(
                    "[plugins] {key} must be a number of seconds in (0, 86400], got {s}"
                )),
            }
        };
        let config = RuntimeConfig {
            default_memory_mib: self.memory_mib.unwrap_or(base.default_memory_mib),
            max_memory_mib: self.max_memory_mib.unwrap_or(base.max_memory_mib),
            default_timeout: secs("timeout_secs", self.timeout_secs, base.default_timeout)?,
            max_timeout: secs("max_timeout_secs", self.max_timeout_secs, base.max_timeout)?,
            describe_timeout: secs(
                "describe_timeout_secs",
                self.describe_timeout_secs,
                base.describe_timeout,
            )?,
            max_output_bytes: self
                .max_output_mib
                .map_or(base.max_output_bytes, |m| m.saturating_mul(1 << 20)),
            max_concurrent_instances: self
                .max_concurrent_instances
                .unwrap_or(base.max_concurrent_instances),
            pooling: self.pooling.unwrap_or(base.pooling),
            max_log_lines_per_call: self
                .max_log_lines_per_call
                .unwrap_or(base.max_log_lines_per_call),
            max_component_bytes: self
                .max_component_mib
                .map_or(base.max_component_bytes, |m| m.saturating_mul(1 << 20)),
            compile_timeout: secs(
                "compile_timeout_secs",
                self.compile_timeout_secs,
                base.compile_timeout,
            )?,
            batch_bytes: self
                .batch_mib
                .map_or(base.batch_bytes, |m| m.saturating_mul(1 << 20)),
            fit_sample_bytes: self
                .fit_sample_mib
                .map_or(base.fit_sample_bytes, |m| m.saturating_mul(1 << 20)),
            ..base
        };
        config.validate().map_err(|m| format!("[plugins]: {m}"))?;
        Ok(config)
    }
}

/// The limits every call of one plugin runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Linear-memory cap, MiB.
    pub memory_mib: u64,
    /// Deadline of the work calls.
    pub timeout: Duration,
    /// Deadline of `describe` / `tasks`.
    pub describe_timeout: Duration,
    /// Output size cap, bytes.
    pub max_output_bytes: u64,
    /// Log lines per call.
    pub max_log_lines: u32,
    /// Captured stdout/stderr bytes per call.
    pub max_captured_output: usize,
    /// Target size of one preparer call's input, bytes ([`RuntimeConfig::batch_bytes`] capped
    /// by this plugin's memory and the output cap).
    pub batch_bytes: u64,
    /// Largest training input `fit` receives whole, bytes ([`RuntimeConfig::fit_sample_bytes`]
    /// capped by this plugin's memory and the output cap).
    pub fit_sample_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_limits_are_capped_by_host_maxima() {
        let config = RuntimeConfig::default();
        let limits = config.limits_for(
            "p",
            &ManifestLimits {
                memory_mib: Some(1 << 20),
                timeout_ms: Some(u64::MAX / 2),
            },
        );
        assert_eq!(limits.memory_mib, config.max_memory_mib);
        assert_eq!(limits.timeout, config.max_timeout);
    }

    #[test]
    fn manifest_limits_may_lower_the_defaults() {
        let config = RuntimeConfig::default();
        let limits = config.limits_for(
            "p",
            &ManifestLimits {
                memory_mib: Some(64),
                timeout_ms: Some(250),
            },
        );
        assert_eq!(limits.memory_mib, 64);
        assert_eq!(limits.timeout, Duration::from_millis(250));
        assert_eq!(limits.describe_timeout, Duration::from_millis(250));
    }

    #[test]
    fn defaults_apply_without_manifest_limits() {
        let config = RuntimeConfig::default();
        let limits = config.limits_for("p", &ManifestLimits::default());
        assert_eq!(limits.memory_mib, 1024);
        assert_eq!(limits.timeout, Duration::from_secs(60));
    }

    #[test]
    fn settings_override_only_what_they_set_and_name_a_bad_key() {
        let settings: PluginSettings =
            toml::from_str("memory_mib = 128\ntimeout_secs = 2.5\npooling = false\n").unwrap();
        let config = settings.apply(RuntimeConfig::default()).unwrap();
        assert_eq!(config.default_memory_mib, 128);
        assert_eq!(config.default_timeout, Duration::from_millis(2500));
        assert!(!config.pooling);
        assert_eq!(config.max_memory_mib, 4096);
        assert!(config.validate().is_ok());
        let bad = PluginSettings {
            max_timeout_secs: Some(-1.0),
            ..PluginSettings::default()
        };
        assert!(
            bad.apply(RuntimeConfig::default())
                .unwrap_err()
                .contains("max_timeout_secs")
        );
        assert!(toml::from_str::<PluginSettings>("memroy_mib = 1").is_err());
    }

    #[test]
    fn rejects_default_memory_above_max() {
        let config = RuntimeConfig {
            default_memory_mib: 8192,
            ..RuntimeConfig::default()
        };
        assert!(config.validate().is_err());
    }
}

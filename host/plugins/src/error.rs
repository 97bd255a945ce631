//! The one error type of the plugin runtime.
//!
//! Every variant that concerns a call names the plugin and the exported function, so a stage
//! error shown to a user reads like "plugin 'standard' (preparer.fit) exceeded its 1024 MiB
//! memory limit" without the caller adding context.

use microlearn_core::stages::PluginKind;
use std::path::PathBuf;
use std::time::Duration;

/// A failure the plugin reports on purpose: the WIT `plugin-error`, mirrored on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestError {
    /// The JSON configuration does not match the plugin's schema.
    InvalidConfig(String),
    /// The data handed in cannot be processed.
    InvalidInput {
        /// The column concerned, if any.
        column: Option<String>,
        /// The 0-based row concerned, if any.
        row: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// Opaque state bytes cannot be decoded.
    InvalidState(String),
    /// The request is valid but unsupported by this plugin.
    Unsupported(String),
    /// A bug or unexpected condition inside the plugin.
    Internal(String),
}

impl GuestError {
    /// The WIT variant name, e.g. `invalid-input`; stable, for problem types and logs.
    pub fn variant(&self) -> &'static str {
        match self {
            GuestError::InvalidConfig(_) => "invalid-config",
            GuestError::InvalidInput { .. } => "invalid-input",
            GuestError::InvalidState(_) => "invalid-state",
            GuestError::Unsupported(_) => "unsupported",
            GuestError::Internal(_) => "internal",
        }
    }
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestError::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            GuestError::InvalidInput {
                column,
                row,
                message,
            } => {
                f.write_str("invalid input")?;
                if let Some(c) = column {
                    write!(f, " in column '{c}'")?;
                }
                if let Some(r) = row {
                    write!(f, " at row {r}")?;
                }
                write!(f, ": {message}")
            }
            GuestError::InvalidState(m) => write!(f, "invalid fitted state: {m}"),
            GuestError::Unsupported(m) => write!(f, "unsupported: {m}"),
            GuestError::Internal(m) => write!(f, "internal plugin error: {m}"),
        }
    }
}

/// Everything that can go wrong loading or calling a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin returned its own error.
    #[error("plugin '{plugin}' ({function}) failed: {error}")]
    Guest {
        /// Plugin id.
        plugin: String,
        /// Exported function, e.g. `preparer.fit`.
        function: &'static str,
        /// The plugin's error.
        error: GuestError,
    },
    /// The call ran past its wall-clock deadline and was interrupted.
    #[error("plugin '{plugin}' ({function}) ran past its {limit:?} time limit and was stopped")]
    Timeout {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// The deadline it ran under.
        limit: Duration,
    },
    /// The plugin tried to grow its memory past its cap.
    #[error(
        "plugin '{plugin}' ({function}) exceeded its {limit_mib} MiB memory limit \
         (tried to grow to {requested_mib} MiB)"
    )]
    MemoryLimit {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// The cap, MiB.
        limit_mib: u64,
        /// What it asked for, MiB (rounded up).
        requested_mib: u64,
    },
    /// The plugin trapped (panic, `unreachable`, out-of-bounds access, stack overflow, ...).
    #[error("plugin '{plugin}' ({function}) crashed: {message}")]
    Trap {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// The trap, with the plugin's panic message when it printed one.
        message: String,
    },
    /// The plugin returned something that breaks the contract (wrong row count, invalid table,
    /// non-finite metric, unknown model kind, ...).
    #[error("plugin '{plugin}' ({function}) returned invalid output: {message}")]
    InvalidOutput {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The plugin's result is larger than the host accepts.
    #[error(
        "plugin '{plugin}' ({function}) returned about {bytes} bytes, more than the {limit} byte \
         output limit"
    )]
    OutputTooLarge {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// Estimated serialised size of the output.
        bytes: u64,
        /// The cap.
        limit: u64,
    },
    /// The host could not start an instance (e.g. the instance pool is exhausted).
    #[error("plugin '{plugin}' ({function}) could not be instantiated: {message}")]
    Instantiate {
        /// Plugin id.
        plugin: String,
        /// Exported function.
        function: &'static str,
        /// Why.
        message: String,
    },
    /// A `plugin.toml` is malformed or inconsistent.
    #[error("manifest {}: {message}", .path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A component's bytes do not match the sha256 its manifest declares.
    #[error(
        "component {} has sha256 {actual}, but its manifest declares {expected}",
        .path.display()
    )]
    HashMismatch {
        /// The component file.
        path: PathBuf,
        /// Declared in the manifest.
        expected: String,
        /// Computed from the file.
        actual: String,
    },
    /// The component does not implement the world of its declared kind.
    #[error("plugin '{plugin}' does not fit the host's interface: {message}")]
    WrongWorld {
        /// Plugin id (or a label for a manifest-less component).
        plugin: String,
        /// What is missing or mismatched.
        message: String,
    },
    /// What the plugin's `describe` says differs from its manifest or from what was asked for.
    #[error("plugin '{plugin}': {message}")]
    DescribeMismatch {
        /// Plugin id.
        plugin: String,
        /// Which field differs, and how.
        message: String,
    },
    /// No plugin with this id and kind is registered.
    #[error("no {kind} plugin '{id}' is installed (installed {kind}s: {})", list_or_none(.available))]
    NotFound {
        /// Requested id.
        id: String,
        /// Requested kind.
        kind: PluginKind,
        /// Ids of the installed plugins of that kind.
        available: Vec<String>,
    },
    /// `remove` was asked for a plugin that is not in the folder it manages.
    #[error("cannot remove plugin '{id}': {message}")]
    NotInstalled {
        /// Requested id.
        id: String,
        /// Why, e.g. where the plugin comes from instead.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The component could not be compiled (not a component, invalid wasm, unsupported feature).
    #[error("plugin '{plugin}' could not be compiled: {message}")]
    Compile {
        /// Plugin id or label.
        plugin: String,
        /// The compiler's message.
        message: String,
    },
    /// The runtime itself could not be set up.
    #[error("plugin runtime: {message}")]
    Engine {
        /// Why.
        message: String,
    },
}

fn list_or_none(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_string()
    } else {
        ids.join(", ")
    }
}

impl PluginError {
    /// The plugin id this error concerns, when there is one.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::Guest { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::InvalidOutput { plugin, .. }
            | PluginError::OutputTooLarge { plugin, .. }
            | PluginError::Instantiate { plugin, .. }
            | PluginError::WrongWorld { plugin, .. }
            | PluginError::DescribeMismatch { plugin, .. }
            | PluginError::Compile { plugin, .. } => Some(plugin),
            PluginError::NotFound { id, .. } | PluginError::NotInstalled { id, .. } => Some(id),
            PluginError::Manifest { .. }
            | PluginError::HashMismatch { .. }
            | PluginError::Io { .. }
            | PluginError::Engine { .. } => None,
        }
    }

    /// Whether the plugin misbehaved while running (as opposed to failing to load, or reporting
    /// its own error): a timeout, memory-limit hit, trap, invalid or oversized output.
    pub fn is_containment(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Trap { .. }
                | PluginError::InvalidOutput { .. }
                | PluginError::OutputTooLarge { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> PluginError {
        PluginError::Io {
            path: path.into(),
            source,
        }
    }
}

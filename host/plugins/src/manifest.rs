//! `plugin.toml`: what a plugin folder declares about its component.
//!
//! ```toml
//! id = "standard"
//! kind = "preparer"                  # preparer | selector | evaluator | deployer
//! version = "0.1.0"
//! api = "microlearn:plugin@0.1.0"    # the WIT package the component implements
//! description = "Impute, scale and encode."
//! author = "Ada Lovelace <ada@example.org>"  # optional: who to ask about it
//! component = "standard.wasm"        # relative to this file
//! sha256 = "…64 hex digits…"         # of the component file
//!
//! [limits]                            # optional; capped by the host's maxima
//! memory_mib = 512
//! timeout_ms = 120000
//! ```
//!
//! Unknown keys are ignored so that a newer manifest still loads in an older host.

use crate::error::PluginError;
use microlearn_core::stages::PluginKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Component as PathPart, Path, PathBuf};

/// The newest WIT package version this host implements (what new plugins target).
pub const API_VERSION: &str = "microlearn:plugin@0.1.0";

/// Every WIT package version this host loads. Released versions stay here forever; see the
/// module docs of `bindings.rs` for how a version is added.
pub const SUPPORTED_APIS: &[&str] = &["microlearn:plugin@0.1.0"];

/// The file name of a manifest inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// Limits a manifest may request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Linear-memory cap, MiB.
    pub memory_mib: Option<u64>,
    /// Deadline of the work calls, milliseconds.
    pub timeout_ms: Option<u64>,
}

/// A parsed and checked `plugin.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Manifest {
    /// Identifier: lowercase ASCII letters, digits and dashes, starting with a letter.
    pub id: String,
    /// The stage.
    pub kind: PluginKind,
    /// Version of the plugin itself.
    pub version: String,
    /// WIT API, always [`API_VERSION`] for now.
    pub api: String,
    /// One sentence.
    pub description: String,
    /// Who wrote it (a name, a team, an address), as the manifest declares it; not verified.
    pub author: Option<String>,
    /// The component file, relative to the manifest's folder.
    pub component: PathBuf,
    /// Lowercase hex sha256 of the component file.
    pub sha256: String,
    /// Requested limits.
    pub limits: ManifestLimits,
}

/// What TOML gives us before the checks: every field optional so that a missing one is reported
/// by name, with the file.
#[derive(Deserialize)]
struct RawManifest {
    id: Option<String>,
    kind: Option<String>,
    version: Option<String>,
    api: Option<String>,
    description: Option<String>,
    author: Option<String>,
    component: Option<String>,
    sha256: Option<String>,
    #[serde(default)]
    limits: ManifestLimits,
}

impl Manifest {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Manifest, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, e))?;
        Manifest::parse(&text, path)
    }

    /// Parse and check manifest text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, PluginError> {
        let err = |message: String| PluginError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawManifest = toml::from_str(text)
            .map_err(|e| err(format!("invalid TOML: {}", e.to_string().trim())))?;
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| err(format!("missing or empty field `{field}`")))
        };

        let id = required(raw.id, "id")?;
        check_id(&id).map_err(|m| err(format!("field `id`: {m}")))?;

        let kind: PluginKind = required(raw.kind, "kind")?
            .parse()
            .map_err(|m| err(format!("field `kind`: {m}")))?;

        let version = required(raw.version, "version")?;
        check_version(&version).map_err(|m| err(format!("field `version`: {m}")))?;

        let api = required(raw.api, "api")?;
        if !SUPPORTED_APIS.contains(&api.as_str()) {
            return Err(err(format!(
                "field `api`: this host implements {}, the plugin targets '{api}'",
                SUPPORTED_APIS
                    .iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }

        let description = raw.description.unwrap_or_default();

        // Shown as is on the dashboard and in `plugin list`: one short line of text.
        let author = raw
            .author
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        if let Some(a) = &author
            && (a.chars().count() > 200 || a.chars().any(char::is_control))
        {
            return Err(err(
                "field `author`: one line of at most 200 characters".to_string()
            ));
        }

        let component = PathBuf::from(required(raw.component, "component")?);
        check_relative(&component).map_err(|m| err(format!("field `component`: {m}")))?;

        let sha256 = required(raw.sha256, "sha256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(format!(
                "field `sha256`: expected 64 hex digits, got '{sha256}'"
            )));
        }

        for (field, value) in [
            ("limits.memory_mib", raw.limits.memory_mib),
            ("limits.timeout_ms", raw.limits.timeout_ms),
        ] {
            if value == Some(0) {
                return Err(err(format!("field `{field}` must be positive")));
            }
        }

        Ok(Manifest {
            id,
            kind,
            version,
            api,
            description,
            author,
            component,
            sha256,
            limits: raw.limits,
        })
    }

    /// Render as TOML (used when installing).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        out.push_str(&format!("id = {}\n", q(&self.id)));
        out.push_str(&format!("kind = {}\n", q(self.kind.as_str())));
        out.push_str(&format!("version = {}\n", q(&self.version)));
        out.push_str(&format!("api = {}\n", q(&self.api)));
        out.push_str(&format!("description = {}\n", q(&self.description)));
        if let Some(a) = &self.author {
            out.push_str(&format!("author = {}\n", q(a)));
        }
        out.push_str(&format!(
            "component = {}\n",
            q(&self.component.to_string_lossy())
        ));
        out.push_str(&format!("sha256 = {}\n", q(&self.sha256)));
        if self.limits != ManifestLimits::default() {
            out.push_str("\n[limits]\n");
            if let Some(m) = self.limits.memory_mib {
                out.push_str(&format!("memory_mib = {m}\n"));
            }
            if let Some(t) = self.limits.timeout_ms {
                out.push_str(&format!("timeout_ms = {t}\n"));
            }
        }
        out
    }
}

/// Plugin ids become folder names and appear in URLs, so keep them boring.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let ok_start = id.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok_start || !ok_chars || id.len() > 64 || id.ends_with('-') {
        return Err(format!(
            "'{id}' is not a valid plugin id (lowercase letters, digits and dashes, starting with \
             a letter, at most 64 characters)"
        ));
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre`/`+build` suffix.
fn check_version(version: &str) -> Result<(), String> {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "'{version}' is not a semantic version (MAJOR.MINOR.PATCH)"
        ));
    }
    Ok(())
}

/// The component must live inside the plugin folder: no absolute paths, no `..`.
fn check_relative(path: &Path) -> Result<(), String> {
    let ok = path
        .components()
        .all(|part| matches!(part, PathPart::Normal(_) | PathPart::CurDir))
        && path.components().any(|p| matches!(p, PathPart::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' must be a path inside the plugin folder (relative, without '..')",
            path.display()
        ))
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "standard"
kind = "preparer"
version = "0.1.0"
api = "microlearn:plugin@0.1.0"
description = "Impute, scale, encode."
author = "MicroLearn developers"
component = "standard.wasm"
sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

[limits]
memory_mib = 512
"#;

    fn parse(text: &str) -> Result<Manifest, PluginError> {
        Manifest::parse(text, Path::new("/plugins/standard/plugin.toml"))
    }

    fn message(err: PluginError) -> String {
        match err {
            PluginError::Manifest { path, message } => {
                assert_eq!(path, Path::new("/plugins/standard/plugin.toml"));
                message
            }
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_complete_manifest_and_lowercases_the_hash() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.id, "standard");
        assert_eq!(m.kind, PluginKind::Preparer);
        assert_eq!(m.component, PathBuf::from("standard.wasm"));
        assert_eq!(
            m.sha256,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
        assert_eq!(m.limits.memory_mib, Some(512));
        assert_eq!(m.limits.timeout_ms, None);
        assert_eq!(m.author.as_deref(), Some("MicroLearn developers"));
    }

    #[test]
    fn author_is_optional_and_one_line() {
        let none = GOOD.replace("author = \"MicroLearn developers\"\n", "");
        assert_eq!(parse(&none).unwrap().author, None);
        let blank = GOOD.replace("\"MicroLearn developers\"", "\"  \"");
        assert_eq!(parse(&blank).unwrap().author, None);
        let two_lines = GOOD.replace("\"MicroLearn developers\"", "\"a\\nb\"");
        assert!(message(parse(&two_lines).unwrap_err()).contains("`author`"));
    }

    #[test]
    fn round_trips_through_to_toml() {
        let m = parse(GOOD).unwrap();
        assert_eq!(parse(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn names_a_missing_field() {
        let text = GOOD.replace("sha256 = ", "# sha256 = ");
        assert!(message(parse(&text).unwrap_err()).contains("`sha256`"));
    }

    #[test]
    fn rejects_an_unknown_kind() {
        let text = GOOD.replace("\"preparer\"", "\"trainer\"");
        let msg = message(parse(&text).unwrap_err());
        assert!(msg.contains("`kind`") && msg.contains("trainer"), "{msg}");
    }

    #[test]
    fn rejects_another_api_version() {
        let text = GOOD.replace("@0.1.0\"", "@0.2.0\"");
        let msg = message(parse(&text).unwrap_err());
        assert!(msg.contains("`api`") && msg.contains("0.2.0"), "{msg}");
    }

    #[test]
    fn rejects_a_component_outside_the_plugin_folder() {
        for bad in ["../evil.wasm", "/etc/evil.wasm", "."] {
            let text = GOOD.replace("\"standard.wasm\"", &format!("\"{bad}\""));
            let msg = message(parse(&text).unwrap_err());
            assert!(msg.contains("`component`"), "{bad}: {msg}");
        }
    }

    #[test]
    fn rejects_a_malformed_hash_and_bad_ids() {
        let text = GOOD.replace("ABCDEF0123", "XYZ");
        assert!(message(parse(&text).unwrap_err()).contains("`sha256`"));
        for bad in ["Standard", "9lives", "a b", "trailing-", ""] {
            let text = GOOD.replace("\"standard\"", &format!("\"{bad}\""));
            assert!(
                message(parse(&text).unwrap_err()).contains("`id`"),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn rejects_invalid_toml_and_bad_limits() {
        assert!(message(parse("id = ").unwrap_err()).contains("invalid TOML"));
        let text = GOOD.replace("memory_mib = 512", "memory_mib = 0");
        assert!(message(parse(&text).unwrap_err()).contains("limits.memory_mib"));
        let text = GOOD.replace("memory_mib = 512", "memory = 512");
        assert!(message(parse(&text).unwrap_err()).contains("invalid TOML"));
    }

    #[test]
    fn rejects_a_non_semver_version() {
        let text = GOOD.replace("\"0.1.0\"\napi", "\"1.0\"\napi");
        assert!(message(parse(&text).unwrap_err()).contains("`version`"));
    }

    #[test]
    fn hashes_bytes_as_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

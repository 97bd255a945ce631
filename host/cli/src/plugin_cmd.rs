//! `microlearn plugin …` (alias `plugins`): list, inspect, install, remove, scaffold and build
//! plugins.
//!
//! From zero to an installed plugin in three commands:
//!
//! ```text
//! microlearn plugin new --kind preparer clip-outliers   # a crate with tests, from a template
//! cargo test --manifest-path clip-outliers/Cargo.toml   # native unit + conformance tests
//! microlearn plugin install clip-outliers               # build for wasm32-wasip2, check, install
//! ```
//!
//! `install` accepts a plugin folder (`plugin.toml` + component), its manifest, or a plugin
//! crate (`Cargo.toml` + `microlearn.toml`), which it builds first. Installed plugins land in
//! `$MICROLEARN_HOME/plugins/<id>/`, the drop-in folder every host scans, so the next pipeline
//! can select them without a restart.

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use microlearn_plugins::{
    InstalledPlugin, MANIFEST_FILE, Manifest, PluginKind, PluginSettings, RuntimeConfig, sha256_hex,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `microlearn plugin …`.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// List installed plugins.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin: manifest, limits, component, config schema.
    Info {
        /// Plugin id.
        id: String,
        /// Only the plugin of this kind (when several kinds share the id).
        #[arg(long)]
        kind: Option<Kind>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a plugin and copy it into the data directory's plugins folder. PATH is a plugin
    /// folder (plugin.toml + component), its plugin.toml, or a plugin crate (Cargo.toml +
    /// microlearn.toml), which is built for wasm32-wasip2 first.
    Install {
        /// Plugin folder, manifest or crate.
        path: PathBuf,
    },
    /// Delete a plugin from the data directory's plugins folder. Pipelines already running
    /// keep the version they started with.
    Remove {
        /// Plugin id.
        id: String,
    },
    /// Create a plugin crate from a template: the plugin, a native unit test, a conformance
    /// test, a manifest and a README.
    New {
        /// The stage the plugin serves.
        #[arg(long)]
        kind: Kind,
        /// Plugin id (lowercase letters, digits and dashes); also the crate's folder name.
        name: String,
        /// Folder to create the crate in [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path of the microlearn-sdk crate to depend on [default: the SDK of the checkout
        /// this binary was built from, when it exists].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate for wasm32-wasip2 and lay it out for installation
    /// (`<target>/microlearn-plugin/<id>/` with plugin.toml and the component).
    Build {
        /// Plugin crate folder (Cargo.toml + microlearn.toml).
        #[arg(default_value = ".")]
        path: PathBuf,
    },
}

/// A plugin kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Preparer,
    Selector,
    Evaluator,
    Deployer,
}

impl Kind {
    fn plugin_kind(self) -> PluginKind {
        match self {
            Kind::Preparer => PluginKind::Preparer,
            Kind::Selector => PluginKind::Selector,
            Kind::Evaluator => PluginKind::Evaluator,
            Kind::Deployer => PluginKind::Deployer,
        }
    }
}

static SETTINGS: OnceLock<PluginSettings> = OnceLock::new();

/// Remember the `[plugins]` table of the configuration file for every plugin host this
/// process starts (`run`, `predict`, `plugin`, `serve` all go through [`runtime_config`]).
pub fn configure(settings: &PluginSettings) {
    let _ = SETTINGS.set(settings.clone());
}

static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remember `--cache-dir` / `MICROLEARN_CACHE_DIR` for every plugin host this process starts.
pub fn set_cache_dir(dir: Option<PathBuf>) {
    let _ = CACHE_DIR.set(dir);
}

/// The runtime configuration: built-in defaults, the `[plugins]` table, and the
/// precompiled-component cache (`--cache-dir`, else the data directory's `cache/`).
pub fn runtime_config(home: &Path) -> Result<RuntimeConfig> {
    let cache_dir = CACHE_DIR
        .get()
        .cloned()
        .flatten()
        .unwrap_or_else(|| home.join("cache"));
    let base = RuntimeConfig {
        cache_dir: Some(cache_dir),
        ..RuntimeConfig::default()
    };
    match SETTINGS.get() {
        Some(s) => s.apply(base).map_err(anyhow::Error::msg),
        None => Ok(base),
    }
}

/// Run one `plugin` subcommand.
pub fn dispatch(home: &Path, extra: &[PathBuf], command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::List { json } => {
            let host = crate::plugin_host(home, extra)?;
            let list = host.list();
            if json {
                let v: Vec<serde_json::Value> =
                    list.iter().map(crate::render::plugin_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                crate::render::print_plugins(&list);
            }
            Ok(())
        }
        PluginCommand::Info { id, kind, json } => {
            let host = crate::plugin_host(home, extra)?;
            let found: Vec<InstalledPlugin> = host
                .list()
                .into_iter()
                .filter(|p| p.info.id == id)
                .filter(|p| kind.is_none_or(|k| p.info.kind == k.plugin_kind()))
                .collect();
            if found.is_empty() {
                let ids: Vec<String> = host.list().into_iter().map(|p| p.info.id).collect();
                bail!(
                    "no plugin '{id}' is installed (installed: {})",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                );
            }
            if json {
                let v: Vec<serde_json::Value> = found.iter().map(info_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for p in &found {
                    print_info(p);
                }
            }
            Ok(())
        }
        PluginCommand::Install { path } => {
            let host = crate::plugin_host(home, extra)?;
            let source = if is_crate(&path) {
                build_crate(&path)?
            } else {
                path.clone()
            };
            let dest = home.join("plugins");
            let installed = host
                .install(&source, &dest)
                .with_context(|| format!("installing the plugin at {}", path.display()))?;
            eprintln!(
                "installed {} {} ({}) into {}; pipelines started from now on can use it",
                installed.info.id,
                installed.info.version,
                installed.info.kind,
                dest.display()
            );
            Ok(())
        }
        PluginCommand::Remove { id } => {
            let host = crate::plugin_host(home, extra)?;
            let dest = home.join("plugins");
            let removed = host.remove(&id, &dest)?;
            let fallback = host
                .list()
                .into_iter()
                .find(|p| p.info.id == id && p.info.kind == removed.info.kind);
            eprint!(
                "removed {} {} ({}) from {}",
                removed.info.id,
                removed.info.version,
                removed.info.kind,
                dest.display()
            );
            match fallback.and_then(|p| p.dir) {
                Some(d) => eprintln!("; the {id} from {} is used again", d.display()),
                None => eprintln!(),
            }
            Ok(())
        }
        PluginCommand::New {
            kind,
            name,
            dir,
            sdk,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = match sdk {
                Some(p) => p,
                None => default_sdk().context(
                    "this binary was not built from a MicroLearn checkout; pass --sdk PATH to \
                     the microlearn-sdk crate (the sdk/ folder of the repository)",
                )?,
            };
            new_crate(kind, &name, &dir, &sdk)?;
            eprintln!(
                "created the {} plugin '{name}' in {}\n\nnext:\n  cargo test --manifest-path {}\n  \
                 microlearn plugin install {}",
                kind.plugin_kind(),
                dir.display(),
                dir.join("Cargo.toml").display(),
                dir.display()
            );
            Ok(())
        }
        PluginCommand::Build { path } => {
            let folder = build_crate(&path)?;
            println!("{}", folder.display());
            Ok(())
        }
    }
}

fn info_json(p: &InstalledPlugin) -> serde_json::Value {
    let mut v = crate::render::plugin_json(p);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "config_schema".to_string(),
            serde_json::from_str(&p.info.config_schema)
                .unwrap_or_else(|_| serde_json::Value::String(p.info.config_schema.clone())),
        );
        obj.insert("manifest".to_string(), serde_json::json!(p.manifest));
        obj.insert("memory_mib".to_string(), serde_json::json!(p.memory_mib));
        obj.insert("timeout_ms".to_string(), serde_json::json!(p.timeout_ms));
        obj.insert("size_bytes".to_string(), serde_json::json!(p.size_bytes));
        obj.insert("component".to_string(), serde_json::json!(p.component_path));
    }
    v
}

fn print_info(p: &InstalledPlugin) {
    println!("{} {} ({})", p.info.id, p.info.version, p.info.kind);
    println!("  {}", p.info.description);
    if let Some(m) = &p.manifest {
        println!("  api          {}", m.api);
        if let Some(a) = &m.author {
            println!("  author       {a}");
        }
    }
    if let Some(d) = &p.dir {
        println!("  folder       {}", d.display());
    }
    println!("  component    {} bytes, sha256 {}", p.size_bytes, p.sha256);
    println!(
        "  limits       {} MiB memory, {} ms per call",
        p.memory_mib, p.timeout_ms
    );
    let schema = serde_json::from_str::<serde_json::Value>(&p.info.config_schema)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| p.info.config_schema.clone());
    println!("  config schema:");
    for line in schema.lines() {
        println!("    {line}");
    }
}

/// A plugin crate: a Cargo.toml and a source manifest (`microlearn.toml`), but no built
/// `plugin.toml` beside them.
fn is_crate(path: &Path) -> bool {
    path.is_dir()
        && path.join("Cargo.toml").is_file()
        && path.join("microlearn.toml").is_file()
        && !path.join(MANIFEST_FILE).is_file()
}

/// The SDK of the checkout this binary was built from.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    std::fs::canonicalize(sdk)
        .ok()
        .filter(|p| p.join("Cargo.toml").is_file())
}

/// Embedded templates: (path in the new crate, text, kinds it applies to or `None` for all).
struct Template {
    path: &'static str,
    text: &'static str,
    kind: Option<Kind>,
}

const TEMPLATES: &[Template] = &[
    Template {
        path: "Cargo.toml",
        text: include_str!("../templates/common/Cargo.toml"),
        kind: None,
    },
    Template {
        path: "microlearn.toml",
        text: include_str!("../templates/common/microlearn.toml"),
        kind: None,
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/common/README.md"),
        kind: None,
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/common/gitignore"),
        kind: None,
    },
    Template {
        path: "tests/support/mod.rs",
        text: include_str!("../templates/common/support.rs"),
        kind: None,
    },
    Template {
        path: "src/lib.rs",
        text: include_str!("../templates/preparer/lib.rs"),
        kind: Some(Kind::Preparer),
    },
    Template {
        path: "tests/conformance.rs",
        text: include_str!("../templates/preparer/conformance.rs"),
        kind: Some(Kind::Preparer),
    },
    Template {
        path: "src/lib.rs",
        text: include_str!("../templates/selector/lib.rs"),
        kind: Some(Kind::Selector),
    },
    Template {
        path: "tests/conformance.rs",
        text: include_str!("../templates/selector/conformance.rs"),
        kind: Some(Kind::Selector),
    },
    Template {
        path: "src/lib.rs",
        text: include_str!("../templates/evaluator/lib.rs"),
        kind: Some(Kind::Evaluator),
    },
    Template {
        path: "tests/conformance.rs",
        text: include_str!("../templates/evaluator/conformance.rs"),
        kind: Some(Kind::Evaluator),
    },
    Template {
        path: "src/lib.rs",
        text: include_str!("../templates/deployer/lib.rs"),
        kind: Some(Kind::Deployer),
    },
    Template {
        path: "tests/conformance.rs",
        text: include_str!("../templates/deployer/conformance.rs"),
        kind: Some(Kind::Deployer),
    },
];

/// `clip-outliers` → `ClipOutliers`.
fn type_name(id: &str) -> String {
    id.split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn check_new_id(id: &str) -> Result<()> {
    let ok = id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && id.len() <= 64
        && !id.ends_with('-')
        && !id.contains("--");
    if !ok {
        bail!(
            "'{id}' is not a valid plugin id: use lowercase letters, digits and single dashes, \
             starting with a letter (e.g. clip-outliers)"
        );
    }
    Ok(())
}

/// Write the crate for `kind` into `dir`, which must not exist yet (or be empty).
pub fn new_crate(kind: Kind, id: &str, dir: &Path, sdk: &Path) -> Result<()> {
    check_new_id(id)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; pick another name or --dir",
            dir.display()
        );
    }
    let sdk = std::fs::canonicalize(sdk)
        .with_context(|| format!("the SDK folder {} does not exist", sdk.display()))?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml; --sdk must name the microlearn-sdk crate",
            sdk.display()
        );
    }
    let crate_name = format!("microlearn-plugin-{id}");
    let description = match kind {
        Kind::Preparer => "Clips numeric columns to their training quantiles.",
        Kind::Selector => "Proposes every catalogue model kind that handles the task.",
        Kind::Evaluator => "Expected misclassification cost per row (cost-sensitive).",
        Kind::Deployer => "Promotes the best candidate when it beats the deployed model.",
    };
    let run_flag = match kind {
        Kind::Preparer => format!("--preparer {id} --preparer standard"),
        Kind::Selector => format!("--selector {id}"),
        Kind::Evaluator => format!("--evaluator {id} --metric expected_cost"),
        Kind::Deployer => format!("--deployer {id}"),
    };
    let sdk_dep = format!(
        "{{ path = {} }}",
        toml::Value::String(sdk.to_string_lossy().into_owned())
    );
    let fill = |text: &str| {
        text.replace("{{crate}}", &crate_name)
            .replace("{{crate_file}}", &crate_name.replace('-', "_"))
            .replace("{{Type}}", &type_name(id))
            .replace("{{id}}", id)
            .replace("{{kind}}", kind.plugin_kind().as_str())
            .replace("{{description}}", description)
            .replace("{{run_flag}}", &run_flag)
            .replace("{{sdk_dep}}", &sdk_dep)
    };
    for t in TEMPLATES {
        if t.kind.is_some_and(|k| k != kind) {
            continue;
        }
        let path = dir.join(t.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, fill(t.text))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Build the crate at `dir` for wasm32-wasip2 (release) and lay the component out with its
/// manifest in `<target>/microlearn-plugin/<id>/`; returns that folder.
pub fn build_crate(dir: &Path) -> Result<PathBuf> {
    let source_manifest = dir.join("microlearn.toml");
    let text = std::fs::read_to_string(&source_manifest)
        .with_context(|| format!("reading {}", source_manifest.display()))?;
    let mut table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", source_manifest.display()))?;
    let id = table
        .get("id")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{} has no `id`", source_manifest.display()))?
        .to_string();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building {} for wasm32-wasip2 …", dir.display());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .with_context(|| {
            format!(
                "running `{} build` (is Rust installed, with `rustup target add wasm32-wasip2`?)",
                cargo.to_string_lossy()
            )
        })?;
    if !output.status.success() {
        bail!(
            "building {} failed (see the compiler output above; the wasm32-wasip2 target is \
             added with `rustup target add wasm32-wasip2`)",
            dir.display()
        );
    }
    let wasm = component_artifact(&output.stdout, dir)?;
    let bytes = std::fs::read(&wasm)
        .with_context(|| format!("reading the component {}", wasm.display()))?;
    // The component-model preamble: `\0asm`, version 0x0d, layer 1 (a core module has layer 0).
    if !bytes.starts_with(&[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) {
        bail!(
            "{} is a core module, not a component: build with `--target wasm32-wasip2` (Rust \
             1.82 or newer) or cargo-component",
            wasm.display()
        );
    }
    let target_dir = wasm
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .with_context(|| format!("unexpected artefact path {}", wasm.display()))?;
    let out = target_dir.join("microlearn-plugin").join(&id);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let component = format!("{id}.wasm");
    std::fs::write(out.join(&component), &bytes)
        .with_context(|| format!("writing {}", out.join(&component).display()))?;
    table.insert("component".into(), toml::Value::String(component));
    table.insert("sha256".into(), toml::Value::String(sha256_hex(&bytes)));
    let manifest_path = out.join(MANIFEST_FILE);
    let rendered = toml::to_string(&table).context("rendering plugin.toml")?;
    // Check it as a host will, so a bad field is reported against the source manifest.
    Manifest::parse(&rendered, &source_manifest)?;
    std::fs::write(&manifest_path, rendered)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    eprintln!("built {} ({} bytes) → {}", id, bytes.len(), out.display());
    Ok(out)
}

/// The `.wasm` cdylib artefact among cargo's JSON messages.
fn component_artifact(stdout: &[u8], dir: &Path) -> Result<PathBuf> {
    let text = String::from_utf8_lossy(stdout);
    let mut found = None;
    for line in text.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = msg["target"]["crate_types"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    found = Some(PathBuf::from(f));
                }
            }
        }
    }
    found.with_context(|| {
        format!(
            "cargo built {} but produced no .wasm component: the crate needs \
             `crate-type = [\"cdylib\", \"rlib\"]` in [lib]",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("clip-outliers"), "ClipOutliers");
        assert_eq!(type_name("x2"), "X2");
    }

    #[test]
    fn new_writes_every_file_without_leftover_placeholders() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for kind in [
            Kind::Preparer,
            Kind::Selector,
            Kind::Evaluator,
            Kind::Deployer,
        ] {
            let dir = tmp.path().join(format!("{kind:?}"));
            new_crate(
                kind,
                "my-plugin",
                &dir,
                &default_sdk().expect("in a checkout"),
            )
            .expect("creates the crate");
            for file in [
                "Cargo.toml",
                "microlearn.toml",
                "src/lib.rs",
                "tests/conformance.rs",
            ] {
                let text = std::fs::read_to_string(dir.join(file)).expect("written");
                assert!(!text.contains("{{"), "{kind:?} {file} keeps a placeholder");
            }
            let manifest = std::fs::read_to_string(dir.join("microlearn.toml")).expect("read");
            assert!(manifest.contains(&format!("kind = \"{}\"", kind.plugin_kind())));
            // A second `new` into the same folder refuses rather than overwrite.
            assert!(new_crate(kind, "my-plugin", &dir, &default_sdk().expect("sdk")).is_err());
        }
        assert!(
            new_crate(
                Kind::Preparer,
                "Bad_Name",
                &tmp.path().join("b"),
                Path::new(".")
            )
            .is_err()
        );
    }
}

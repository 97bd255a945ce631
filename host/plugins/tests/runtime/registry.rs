//! Loading and registering plugins: manifests, hashes, worlds, overrides, installs, the
//! precompiled cache.

use crate::support::{copy_plugin, first_party, host, set_manifest_field, test_config};
use microlearn_core::stages::PluginKind;
use microlearn_plugins::{CompileSource, ManifestLimits, PluginError, PluginHost, RuntimeConfig};
use std::path::PathBuf;

fn empty_host() -> PluginHost {
    PluginHost::new(test_config()).expect("the runtime starts")
}

fn only_error(report: &microlearn_plugins::ScanReport) -> &PluginError {
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    &report.errors[0].1
}

#[test]
fn reports_a_broken_manifest_and_still_loads_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_plugin(&first_party("standard"), dir.path(), "standard");
    let broken = copy_plugin(&first_party("best-model"), dir.path(), "best-model");
    let manifest = broken.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read");
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&manifest, text).expect("write");

    let host = empty_host();
    let report = host.scan(&[dir.path().to_path_buf()]);
    assert_eq!(report.loaded.len(), 1);
    assert_eq!(report.loaded[0].id, "standard");
    assert_eq!(report.errors[0].0, broken);
    match only_error(&report) {
        PluginError::Manifest { path, message } => {
            assert_eq!(path, &manifest);
            assert!(message.contains("`sha256`"), "{message}");
        }
        other => panic!("expected a manifest error, got {other:?}"),
    }
    assert!(host.preparer("standard").is_ok());
}

#[test]
fn rejects_a_component_whose_hash_differs_from_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("standard"), dir.path(), "standard");
    let zeros = "0".repeat(64);
    set_manifest_field(&copy, "sha256", &zeros);

    let report = empty_host().scan(&[dir.path().to_path_buf()]);
    match only_error(&report) {
        PluginError::HashMismatch {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, &copy.join("standard.wasm"));
            assert_eq!(expected, &zeros);
            let bytes = std::fs::read(copy.join("standard.wasm")).expect("read component");
            assert_eq!(actual, &microlearn_plugins::sha256_hex(&bytes));
            let text = report.errors[0].1.to_string();
            assert!(
                text.contains(&zeros) && text.contains(actual.as_str()),
                "{text}"
            );
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}

#[test]
fn rejects_a_component_built_for_another_world() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("classification"), dir.path(), "classification");
    set_manifest_field(&copy, "kind", "preparer");

    let report = empty_host().scan(&[dir.path().to_path_buf()]);
    match only_error(&report) {
        PluginError::WrongWorld { plugin, message } => {
            assert_eq!(plugin, "classification");
            assert!(message.contains("preparer world"), "{message}");
            assert!(
                message.contains("implements the evaluator world"),
                "{message}"
            );
        }
        other => panic!("expected a wrong-world error, got {other:?}"),
    }
}

#[test]
fn rejects_bundle_bytes_of_another_kind() {
    let host = empty_host();
    let bytes = std::fs::read(first_party("best-model").join("best-model.wasm")).expect("read");
    let err = host.preparer_from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, PluginError::WrongWorld { message, .. } if message.contains("deployer world")),
        "{err:?}"
    );
    let err = host.preparer_from_bytes(b"\0asm not really").unwrap_err();
    assert!(matches!(err, PluginError::Compile { .. }), "{err:?}");
}

#[test]
fn rejects_a_describe_that_contradicts_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("standard"), dir.path(), "standard");
    set_manifest_field(&copy, "version", "9.9.9");

    let report = empty_host().scan(&[dir.path().to_path_buf()]);
    match only_error(&report) {
        PluginError::DescribeMismatch { plugin, message } => {
            assert_eq!(plugin, "standard");
            assert!(message.contains("9.9.9"), "{message}");
        }
        other => panic!("expected a describe mismatch, got {other:?}"),
    }
}

#[test]
fn rejects_a_folder_not_named_after_its_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_plugin(&first_party("standard"), dir.path(), "standard-old");
    let report = empty_host().scan(&[dir.path().to_path_buf()]);
    assert!(
        matches!(only_error(&report), PluginError::Manifest { message, .. } if message.contains("standard-old")),
        "{:?}",
        report.errors
    );
}

#[test]
fn reports_a_missing_scan_folder() {
    let missing = PathBuf::from("/nonexistent/microlearn/plugins");
    let report = empty_host().scan(std::slice::from_ref(&missing));
    assert_eq!(report.errors[0].0, missing);
    assert!(matches!(only_error(&report), PluginError::Io { .. }));
}

#[test]
fn a_later_folder_overrides_an_earlier_one() {
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    copy_plugin(&first_party("standard"), first.path(), "standard");
    let winner = copy_plugin(&first_party("standard"), second.path(), "standard");

    let host = empty_host();
    let report = host.scan(&[first.path().to_path_buf(), second.path().to_path_buf()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded.len(), 1);
    let listed = host.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].dir.as_ref(), Some(&winner));
}

#[test]
fn names_the_installed_plugins_when_one_is_missing() {
    let host = host();
    let err = host.preparer("nope").unwrap_err();
    match &err {
        PluginError::NotFound {
            id,
            kind,
            available,
        } => {
            assert_eq!(id, "nope");
            assert_eq!(*kind, PluginKind::Preparer);
            assert!(available.contains(&"standard".to_string()), "{available:?}");
            assert!(
                !available.contains(&"portfolio".to_string()),
                "{available:?}"
            );
        }
        other => panic!("expected not found, got {other:?}"),
    }
    // A plugin of another kind is not found under this kind.
    assert!(matches!(
        host.selector("standard"),
        Err(PluginError::NotFound { .. })
    ));
}

#[test]
fn lists_every_first_party_plugin_with_its_kind() {
    let host = host();
    let listed: Vec<(String, PluginKind)> = host
        .list()
        .into_iter()
        .map(|p| (p.info.id, p.info.kind))
        .collect();
    for expected in [
        ("standard", PluginKind::Preparer),
        ("portfolio", PluginKind::Selector),
        ("classification", PluginKind::Evaluator),
        ("regression", PluginKind::Evaluator),
        ("best-model", PluginKind::Deployer),
        ("hostile", PluginKind::Preparer),
    ] {
        assert!(
            listed.contains(&(expected.0.to_string(), expected.1)),
            "{expected:?} missing from {listed:?}"
        );
    }
    let standard = host
        .list()
        .into_iter()
        .find(|p| p.info.id == "standard")
        .expect("listed");
    assert_eq!(standard.sha256.len(), 64);
    assert!(standard.size_bytes > 0);
    assert_eq!(standard.memory_mib, 64);
}

#[test]
fn installs_a_plugin_into_a_plugins_folder() {
    let plugins = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    let installed = host
        .install(&first_party("standard"), plugins.path())
        .expect("install succeeds");
    let target = plugins.path().join("standard");
    assert_eq!(installed.dir.as_ref(), Some(&target));
    assert!(target.join("plugin.toml").is_file());
    assert!(target.join("standard.wasm").is_file());
    assert!(host.preparer("standard").is_ok());

    // Installing again replaces the folder whole and leaves no staging folders behind.
    host.install(&first_party("standard").join("plugin.toml"), plugins.path())
        .expect("reinstall succeeds");
    let names: Vec<String> = std::fs::read_dir(plugins.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["standard".to_string()]);

    // A fresh host finds it by scanning.
    let report = empty_host().scan(&[plugins.path().to_path_buf()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded[0].id, "standard");
}

#[test]
fn refuses_to_install_a_tampered_plugin() {
    let src = tempfile::tempdir().expect("tempdir");
    let plugins = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("standard"), src.path(), "standard");
    set_manifest_field(&copy, "sha256", &"1".repeat(64));
    let err = empty_host().install(&copy, plugins.path()).unwrap_err();
    assert!(matches!(err, PluginError::HashMismatch { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_dir(plugins.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn precompiled_components_are_cached_and_a_corrupt_cache_file_is_replaced() {
    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..test_config()
    };
    let bytes = std::fs::read(first_party("standard").join("standard.wasm")).expect("read");

    let first = PluginHost::new(config.clone()).expect("runtime");
    assert_eq!(
        first.prepare_component(&bytes).expect("compiles"),
        CompileSource::Compiled
    );
    assert_eq!(
        first.prepare_component(&bytes).expect("cached"),
        CompileSource::Memory
    );

    let files: Vec<PathBuf> = std::fs::read_dir(cache.path())
        .expect("read cache")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&microlearn_plugins::sha256_hex(&bytes)),
        "{name}"
    );
    assert!(name.ends_with(".cwasm"), "{name}");

    let second = PluginHost::new(config.clone()).expect("runtime");
    assert_eq!(
        second.prepare_component(&bytes).expect("loads"),
        CompileSource::DiskCache
    );

    // Replace the file rather than truncating it: `second` may still map the original (the
    // runtime itself only ever renames new files into place, for the same reason).
    drop(second);
    std::fs::remove_file(&files[0]).expect("remove the cache file");
    std::fs::write(&files[0], b"garbage").expect("corrupt the cache");
    let third = PluginHost::new(config).expect("runtime");
    assert_eq!(
        third.prepare_component(&bytes).expect("recompiles"),
        CompileSource::Compiled
    );
    assert!(third.preparer_from_bytes(&bytes).is_ok());
    assert!(std::fs::metadata(&files[0]).expect("rewritten").len() > 7);
}

#[test]
fn bundle_components_load_without_a_manifest_and_match_the_installed_plugin() {
    let host = host();
    let installed = host.preparer("standard").expect("installed");
    let from_bytes = host
        .preparer_from_bytes(&installed.component_bytes())
        .expect("bundle preparer loads");
    assert_eq!(from_bytes.info(), installed.info());
    assert_eq!(from_bytes.sha256(), installed.sha256());
    let any = host
        .load_component_bytes(
            PluginKind::Preparer,
            &installed.component_bytes(),
            ManifestLimits {
                memory_mib: Some(32),
                timeout_ms: None,
            },
        )
        .expect("loads with limits");
    match any {
        microlearn_plugins::AnyHandle::Preparer(h) => assert_eq!(h.limits().memory_mib, 32),
        other => panic!("expected a preparer, got {other:?}"),
    }
}

#[test]
fn rejects_a_corrupted_component_whose_manifest_hash_matches() {
    // The hash matches (the manifest was written for these bytes), but they are not wasm.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("standard"), dir.path(), "standard");
    let mut bytes = std::fs::read(copy.join("standard.wasm")).expect("read");
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    std::fs::write(copy.join("standard.wasm"), &bytes).expect("write");
    set_manifest_field(&copy, "sha256", &microlearn_plugins::sha256_hex(&bytes));

    let host = empty_host();
    let report = host.scan(&[dir.path().to_path_buf()]);
    match only_error(&report) {
        PluginError::Compile { plugin, message } => {
            assert_eq!(plugin, "standard");
            assert!(!message.is_empty());
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    // Only a component header: a valid, empty component, which exports no stage.
    std::fs::write(copy.join("standard.wasm"), b"\0asm\x0d\0\x01\0").expect("write");
    set_manifest_field(
        &copy,
        "sha256",
        &microlearn_plugins::sha256_hex(b"\0asm\x0d\0\x01\0"),
    );
    let report = host.scan(&[dir.path().to_path_buf()]);
    assert!(
        matches!(only_error(&report), PluginError::WrongWorld { message, .. }
            if message.contains("no exported instance")),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_rescan_trusts_an_unchanged_file_stamp_and_rehashes_a_rewritten_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_plugin(&first_party("standard"), dir.path(), "standard");
    let component = copy.join("standard.wasm");
    let host = empty_host();
    let first = host.scan(&[dir.path().to_path_buf()]);
    assert!(first.errors.is_empty(), "{:#?}", first.errors);

    // Same size, same modification time, different bytes: a rescan that hashed the file
    // would reject it; the stamp says "unchanged", so the loaded plugin is kept as it is.
    let original = std::fs::read(&component).expect("read component");
    let mtime = std::fs::metadata(&component)
        .and_then(|m| m.modified())
        .expect("mtime");
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    std::fs::write(&component, &flipped).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&component)
        .and_then(|f| f.set_modified(mtime))
        .expect("restore mtime");
    let again = host.refresh();
    assert!(again.errors.is_empty(), "{:#?}", again.errors);
    assert!(host.preparer("standard").is_ok());

    // Rewritten with a new mtime: hashed again, and the tampering is caught.
    std::fs::File::options()
        .write(true)
        .open(&component)
        .and_then(|f| f.set_modified(mtime + std::time::Duration::from_secs(1)))
        .expect("move mtime");
    let report = host.refresh();
    assert!(
        matches!(only_error(&report), PluginError::HashMismatch { path, .. } if path == &component),
        "{:#?}",
        report.errors
    );

    // Put back (touched, same bytes): loaded again without complaint.
    std::fs::write(&component, &original).expect("restore");
    let report = host.refresh();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(host.preparer("standard").is_ok());
}

#[test]
fn refuses_a_component_over_the_size_cap_before_compiling() {
    let host = PluginHost::new(RuntimeConfig {
        max_component_bytes: 1000,
        cache_dir: None,
        ..test_config()
    })
    .expect("the runtime starts");
    let err = host
        .register_folder(&first_party("standard"))
        .expect_err("standard is far over 1000 bytes");
    match &err {
        PluginError::Compile { plugin, message } => {
            assert_eq!(plugin, "standard");
            assert!(
                message.contains("more than the 1000 byte limit")
                    && message.contains("max_component_mib"),
                "{message}"
            );
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn a_compile_past_its_timeout_fails_the_load() {
    // No disk cache, so the component really is compiled (and cannot finish in 1 µs).
    let host = PluginHost::new(RuntimeConfig {
        compile_timeout: std::time::Duration::from_micros(1),
        cache_dir: None,
        ..test_config()
    })
    .expect("the runtime starts");
    let err = host
        .register_folder(&first_party("standard"))
        .expect_err("no compile takes 1 µs");
    assert!(
        matches!(&err, PluginError::Compile { message, .. }
            if message.contains("compiling took longer than") && message.contains("compile_timeout_secs")),
        "{err:?}"
    );
}

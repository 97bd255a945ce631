//! Drop-in installation without a restart: a running host picks up plugins copied into (or
//! removed from) its folders on `refresh`, and handles already handed out keep the version
//! they were created from.

use crate::support::{binary_target, copy_plugin, first_party, mixed_table, test_config};
use microlearn_core::Task;
use microlearn_plugins::{PluginError, PluginHost};

fn empty_host() -> PluginHost {
    PluginHost::new(test_config()).expect("the runtime starts")
}

#[test]
fn a_plugin_copied_into_a_scanned_folder_is_selectable_after_refresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    let report = host.scan(&[dir.path().to_path_buf()]);
    assert!(report.loaded.is_empty() && report.errors.is_empty());
    assert!(matches!(
        host.preparer("standard"),
        Err(PluginError::NotFound { .. })
    ));

    // An operator copies the folder in while the host runs.
    copy_plugin(&first_party("standard"), dir.path(), "standard");
    let report = host.refresh();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded.len(), 1);
    let table = mixed_table();
    host.preparer("standard")
        .expect("selectable without a restart")
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("and it works");
}

#[test]
fn removing_a_plugin_unregisters_it_but_a_running_handle_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    let installed = host
        .install(&first_party("standard"), dir.path())
        .expect("installs");
    assert_eq!(installed.info.id, "standard");
    host.scan(&[dir.path().to_path_buf()]);
    // A pipeline resolved its preparer before the removal.
    let running = host.preparer("standard").expect("installed");

    let removed = host.remove("standard", dir.path()).expect("removes");
    assert_eq!(removed.info.id, "standard");
    assert!(!dir.path().join("standard").exists(), "the folder is gone");
    assert!(matches!(
        host.preparer("standard"),
        Err(PluginError::NotFound { .. })
    ));

    let table = mixed_table();
    let (state, _) = running
        .fit(&table, &binary_target(table.num_rows()), Task::Binary, "{}")
        .expect("the running pipeline's handle still fits");
    running
        .transform(&state, &table)
        .expect("and still transforms");

    // Removing again names what is wrong.
    let err = host.remove("standard", dir.path()).unwrap_err();
    assert!(
        matches!(&err, PluginError::NotInstalled { id, .. } if id == "standard"),
        "{err:?}"
    );
    assert!(err.to_string().contains("plugin.toml"), "{err}");
}

#[test]
fn replacing_a_plugin_keeps_the_old_version_for_handles_already_taken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    copy_plugin(&first_party("standard"), dir.path(), "standard");
    host.scan(&[dir.path().to_path_buf()]);
    let before = host.preparer("standard").expect("installed");
    assert_eq!(before.limits().memory_mib, 64);

    // A new version of the plugin folder: same component, a manifest asking for less memory.
    let manifest = dir.path().join("standard").join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read");
    std::fs::write(&manifest, format!("{text}\n[limits]\nmemory_mib = 32\n")).expect("write");
    let report = host.refresh();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let after = host.preparer("standard").expect("still installed");
    assert_eq!(
        after.limits().memory_mib,
        32,
        "new pipelines get the new version"
    );
    assert_eq!(
        before.limits().memory_mib,
        64,
        "the old handle is unchanged"
    );
}

#[test]
fn refresh_reuses_unchanged_plugins_and_drops_a_corrupted_replacement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    let copy = copy_plugin(&first_party("standard"), dir.path(), "standard");
    host.scan(&[dir.path().to_path_buf()]);
    let first = host.list();
    let second = host.refresh();
    assert!(second.errors.is_empty());
    assert_eq!(host.list()[0].sha256, first[0].sha256);

    // A half-copied component: its hash no longer matches; the plugin is reported, not served.
    let wasm = copy.join("standard.wasm");
    let bytes = std::fs::read(&wasm).expect("read");
    std::fs::write(&wasm, &bytes[..bytes.len() / 2]).expect("truncate");
    let report = host.refresh();
    assert!(
        matches!(
            report.errors.as_slice(),
            [(_, PluginError::HashMismatch { .. })]
        ),
        "{:?}",
        report.errors
    );
    assert!(host.list().is_empty());
}

#[test]
fn install_parts_checks_an_upload_like_a_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = empty_host();
    let src = first_party("standard");
    let manifest = std::fs::read_to_string(src.join("plugin.toml")).expect("read");
    let wasm = std::fs::read(src.join("standard.wasm")).expect("read");

    let err = host
        .install_parts(&manifest, &wasm[..100], "upload-1", dir.path())
        .unwrap_err();
    assert!(matches!(err, PluginError::HashMismatch { .. }), "{err:?}");
    assert!(!dir.path().join("standard").exists());

    let installed = host
        .install_parts(&manifest, &wasm, "upload-2", dir.path())
        .expect("a good upload installs");
    assert_eq!(installed.dir, Some(dir.path().join("standard")));
    assert!(host.preparer("standard").is_ok());
}

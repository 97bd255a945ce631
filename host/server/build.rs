//! Embeds the dashboard's built files (`dashboard/dist`, made by `scripts/build-dashboard.sh`)
//! into the server: `$OUT_DIR/dashboard_assets.rs` lists every file with `include_bytes!`.
//!
//! Written by hand rather than with an embedding crate because the build script must also tell
//! cargo when to run again: while `dist` exists it is watched (cargo scans the folder, so a new
//! or rebuilt file re-embeds), and while it does not, the `dashboard` folder is watched so that
//! the first `npm run build` is picked up. Without `dist` the table is empty and the server
//! answers `/` with a page that says how to build the dashboard.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dashboard = manifest.join("../../dashboard");
    let dist = dashboard.join("dist");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
        files.sort();
    } else if dashboard.is_dir() {
        println!("cargo:rerun-if-changed={}", dashboard.display());
    }

    let mut code = String::from(
        "/// Every file of `dashboard/dist`: path relative to it (with `/`), contents.\n\
         pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        // `{:?}` of a str is a valid Rust string literal (quotes and backslashes escaped).
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(out.join("dashboard_assets.rs"), code)
        .expect("writing dashboard_assets.rs into OUT_DIR");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("walked below the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let abs = std::fs::canonicalize(&path).unwrap_or(path);
            out.push((rel, abs));
        }
    }
}

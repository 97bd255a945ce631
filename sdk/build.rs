//! Locates the WIT package and writes two macro files into `OUT_DIR`.
//!
//! Why a build script: a plugin component must carry the type information of exactly one world
//! (`preparer-plugin`, `selector-plugin`, …). If the SDK generated all four worlds itself, every
//! plugin would link all four `component-type` custom sections and the component would claim to
//! export all four interfaces. So the SDK only generates the shared `types` and `host`
//! interfaces, and each `export_*!` macro generates its own world *inside the plugin crate*.
//! `wit_bindgen::generate!` resolves relative paths against the invoking crate, so the macro
//! needs the absolute path of the WIT folder, known only here.

use std::env;
use std::fs;
use std::path::PathBuf;

const PACKAGE_DIR: &str = "microlearn-plugin@0.1.0";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // In the repository the WIT lives next to the SDK; a packaged SDK carries its own copy.
    let candidates = [
        manifest_dir.join("wit").join(PACKAGE_DIR),
        manifest_dir.join("..").join("wit").join(PACKAGE_DIR),
    ];
    let Some(wit_dir) = candidates.iter().find(|p| p.is_dir()) else {
        panic!(
            "microlearn-sdk: WIT package {PACKAGE_DIR} not found; looked in {:?}",
            candidates
        );
    };
    let wit_dir = fs::canonicalize(wit_dir).expect("WIT folder exists, so it canonicalizes");
    println!("cargo:rerun-if-changed={}", wit_dir.display());
    println!("cargo:rerun-if-changed=build.rs");
    let wit = wit_dir.to_str().expect("WIT path is valid UTF-8");

    // The SDK's own bindings: a world importing only `types` and `host`. Every plugin world
    // imports both anyway, so linking this world's custom section into a plugin changes nothing.
    let sdk_bindings = format!(
        r#"wit_bindgen::generate!({{
    inline: "package microlearn:sdk;\nworld sdk {{\n  import microlearn:plugin/types@0.1.0;\n  import microlearn:plugin/host@0.1.0;\n}}\n",
    path: {wit:?},
    generate_unused_types: true,
    generate_all,
}});
"#
    );

    // The per-plugin world generator used by the `export_*!` macros.
    let world_macro = format!(
        r#"/// Generates the bindings of one plugin world inside the plugin crate (used by the
/// `export_*!` macros; not public API).
#[doc(hidden)]
#[macro_export]
macro_rules! __microlearn_generate_world {{
    ($world:tt) => {{
        ::microlearn_sdk::__private::wit_bindgen::generate!({{
            world: $world,
            path: {wit:?},
            runtime_path: "::microlearn_sdk::__private::wit_bindgen::rt",
            with: {{
                "microlearn:plugin/types@0.1.0": ::microlearn_sdk::__private::wit::microlearn::plugin::types,
                "microlearn:plugin/host@0.1.0": ::microlearn_sdk::__private::wit::microlearn::plugin::host,
            }},
        }});
    }};
}}
"#
    );

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("sdk_bindings.rs"), sdk_bindings).expect("write sdk_bindings.rs");
    fs::write(out.join("world_macro.rs"), world_macro).expect("write world_macro.rs");
}

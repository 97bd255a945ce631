//! Preparers: learn a transformation on the training table, apply it to any table.

use crate::{PluginError, PluginInfo, Task};
use microlearn_table::{Column, Table};

/// What [`Preparer::fit`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOutput {
    /// Everything `transform` needs, opaque to the host; stored with the model so that serving
    /// applies exactly the transformation learnt in `fit`.
    pub state: Vec<u8>,
    /// The training table, transformed.
    pub table: Table,
}

/// A data-preparation stage.
///
/// Both methods receive tables (columnar), so iterate columns, not rows. `transform` must
/// return exactly as many rows as its input, in order; the host rejects anything else.
///
/// A large table does not arrive whole: `fit` sees a seeded random sample of the training rows
/// (the host's `[plugins] fit_sample_mib`, 64 MiB by default) and the host prepares the other
/// training rows with `transform` and the fitted state, while `transform` is called on row
/// batches (`batch_mib`, 16 MiB), in parallel, and serving calls it on single rows. So `transform` must treat each row on its own given the state (no statistics
/// of its input), and every call with one state must return the same columns with the same
/// types; the host checks both. A target-aware `fit` must encode its own rows out of fold:
/// the rows it did not see get `transform`'s encoding, which never saw their labels.
pub trait Preparer {
    /// Describe this plugin.
    fn describe() -> PluginInfo;

    /// Learn the transformation from the training table and its target (same row count).
    /// `config` is JSON matching the config schema from [`Preparer::describe`] (`{}` for
    /// defaults; parse it with [`crate::config::parse`]).
    fn fit(
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<FitOutput, PluginError>;

    /// Apply a fitted transformation to `input` (which may have columns in another order,
    /// extra columns, or categories never seen in `fit`).
    fn transform(state: &[u8], input: &Table) -> Result<Table, PluginError>;
}

/// Export a [`Preparer`] as the component's `microlearn:plugin/preparer` interface.
///
/// Invoke once, at the crate root of a `cdylib` crate. On non-Wasm targets it expands to
/// nothing, so the same crate's unit tests call the trait methods directly.
///
/// ```
/// # use microlearn_sdk::prelude::*;
/// struct Identity;
/// impl Preparer for Identity {
///     fn describe() -> PluginInfo {
///         PluginInfo::new("identity", "0.1.0", PluginKind::Preparer, "Returns its input.")
///     }
///     fn fit(train: &Table, _: &Column, _: Task, _: &str) -> Result<FitOutput, PluginError> {
///         Ok(FitOutput { state: Vec::new(), table: train.clone() })
///     }
///     fn transform(_: &[u8], input: &Table) -> Result<Table, PluginError> {
///         Ok(input.clone())
///     }
/// }
/// microlearn_sdk::export_preparer!(Identity);
/// ```
#[macro_export]
macro_rules! export_preparer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __MicrolearnPreparerPlugin = $plugin;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        // The generated bindings are FFI glue: they need `unsafe` and do not follow our lints.
        #[allow(unsafe_code, unused, missing_docs, clippy::all)]
        mod __microlearn_preparer_export {
            $crate::__microlearn_generate_world!("preparer-plugin");
            use exports::microlearn::plugin::preparer as w;
            use $crate::__private::convert as c;
            type P = super::__MicrolearnPreparerPlugin;

            struct Export;

            impl w::Guest for Export {
                fn describe() -> w::PluginInfo {
                    c::info_to_wit(<P as $crate::Preparer>::describe())
                }

                fn fit(
                    train: w::Table,
                    target: w::Column,
                    task: w::Task,
                    config: String,
                ) -> Result<w::FitOutput, w::PluginError> {
                    $crate::__private::glue::preparer_fit::<P>(train, target, task, config)
                        .map(|(state, table)| w::FitOutput { state, table })
                }

                fn transform(state: Vec<u8>, input: w::Table) -> Result<w::Table, w::PluginError> {
                    $crate::__private::glue::preparer_transform::<P>(state, input)
                }
            }

            export!(Export);
        }
    };
}

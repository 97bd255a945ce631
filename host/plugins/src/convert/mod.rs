//! Conversions between the generated binding types and `microlearn-core`'s host types.
//!
//! One module per direction: [`to_guest`] builds what a plugin receives, [`from_guest`] checks
//! and converts what it returns. Host → guest cannot fail; guest → host returns a message for
//! `PluginError::InvalidOutput` when the value breaks an invariant the host types enforce (a
//! ragged table, a duplicated hyperparameter).

pub(crate) mod from_guest;
pub(crate) mod to_guest;

//! JSON configuration parsing with clear `InvalidConfig` errors.
//!
//! Declare the config as a serde struct with `#[serde(default, deny_unknown_fields)]` so that
//! `{}` means "all defaults" and a typo is reported rather than ignored:
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config { max_onehot: usize }
//! impl Default for Config { fn default() -> Self { Config { max_onehot: 10 } } }
//!
//! let c: Config = microlearn_sdk::config::parse("{}").unwrap();
//! assert_eq!(c.max_onehot, 10);
//! let err = microlearn_sdk::config::parse::<Config>(r#"{"max_onehto": 3}"#).unwrap_err();
//! assert!(err.to_string().contains("unknown field `max_onehto`"));
//! ```

use crate::PluginError;
use serde::de::DeserializeOwned;

/// Parse a JSON configuration; an empty or blank string means `{}`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, PluginError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| PluginError::InvalidConfig(e.to_string()))
}

/// Check a numeric config value lies in `[low, high]`, naming the field otherwise.
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    low: T,
    high: T,
) -> Result<T, PluginError> {
    if value < low || value > high {
        return Err(PluginError::InvalidConfig(format!(
            "`{field}` is {value}; expected a value from {low} to {high}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        n: u32,
    }

    impl Default for Cfg {
        fn default() -> Self {
            Cfg { n: 4 }
        }
    }

    #[test]
    fn blank_config_means_defaults() {
        assert_eq!(parse::<Cfg>("  ").unwrap(), Cfg { n: 4 });
        assert_eq!(parse::<Cfg>(r#"{"n": 2}"#).unwrap(), Cfg { n: 2 });
    }

    #[test]
    fn wrong_type_is_invalid_config_with_location() {
        let err = parse::<Cfg>(r#"{"n": "many"}"#).unwrap_err();
        let PluginError::InvalidConfig(msg) = err else {
            panic!("expected InvalidConfig")
        };
        assert!(msg.contains("invalid type"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn range_check_names_the_field() {
        let err = check_range("canary_percent", 150u8, 1, 100).unwrap_err();
        assert!(err.to_string().contains("`canary_percent` is 150"));
    }
}

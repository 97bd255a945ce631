//! Hyperparameters: values, domains and search-space entries (mirrors the WIT `param-*` types).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A hyperparameter value.
///
/// In human-readable formats (JSON, TOML) values are written bare (`{"lr": 0.1}`); in binary
/// formats (model bundles) they are tagged, because those formats cannot guess a variant.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A flag (listed before numbers so JSON `true` stays a flag).
    Flag(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A named option.
    Choice(String),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Bare {
    Flag(bool),
    Int(i64),
    Float(f64),
    Choice(String),
}

#[derive(Serialize, Deserialize)]
enum Tagged {
    Flag(bool),
    Int(i64),
    Float(f64),
    Choice(String),
}

impl Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (bare, tagged) = match self.clone() {
            ParamValue::Flag(b) => (Bare::Flag(b), Tagged::Flag(b)),
            ParamValue::Int(i) => (Bare::Int(i), Tagged::Int(i)),
            ParamValue::Float(f) => (Bare::Float(f), Tagged::Float(f)),
            ParamValue::Choice(c) => (Bare::Choice(c.clone()), Tagged::Choice(c)),
        };
        if s.is_human_readable() {
            bare.serialize(s)
        } else {
            tagged.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(if d.is_human_readable() {
            match Bare::deserialize(d)? {
                Bare::Flag(b) => ParamValue::Flag(b),
                Bare::Int(i) => ParamValue::Int(i),
                Bare::Float(f) => ParamValue::Float(f),
                Bare::Choice(c) => ParamValue::Choice(c),
            }
        } else {
            match Tagged::deserialize(d)? {
                Tagged::Flag(b) => ParamValue::Flag(b),
                Tagged::Int(i) => ParamValue::Int(i),
                Tagged::Float(f) => ParamValue::Float(f),
                Tagged::Choice(c) => ParamValue::Choice(c),
            }
        })
    }
}

/// As JSON documents it: the bare value (see [`ParamValue`]'s serde impls).
impl schemars::JsonSchema for ParamValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ParamValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A hyperparameter value: a flag, an integer, a real number or a named option (a non-finite real is written as null).",
            "type": ["boolean", "number", "string", "null"]
        })
    }
}

impl ParamValue {
    /// As f64 (ints widen; flags are 0/1; choices are `None`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(v) => Some(*v),
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::Flag(b) => Some(if *b { 1.0 } else { 0.0 }),
            ParamValue::Choice(_) => None,
        }
    }

    /// As i64 (floats round; flags are 0/1; choices are `None`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Float(v) => Some(v.round() as i64),
            ParamValue::Int(v) => Some(*v),
            ParamValue::Flag(b) => Some(i64::from(*b)),
            ParamValue::Choice(_) => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Float(v) => {
                if v.abs() >= 1e-3 && v.abs() < 1e4 || *v == 0.0 {
                    write!(f, "{}", (v * 1e4).round() / 1e4)
                } else {
                    write!(f, "{v:.2e}")
                }
            }
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Flag(b) => write!(f, "{b}"),
            ParamValue::Choice(s) => f.write_str(s),
        }
    }
}

/// The values a hyperparameter may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamDomain {
    /// Reals in `[low, high]`, log-uniform when `log`.
    Float {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Log scale.
        log: bool,
    },
    /// Integers in `[low, high]`, log-uniform when `log`.
    Int {
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
        /// Log scale.
        log: bool,
    },
    /// One of these options.
    Choice {
        /// Options.
        options: Vec<String>,
    },
    /// True or false.
    Flag,
}

impl ParamDomain {
    /// Whether `value` lies in the domain.
    pub fn contains(&self, value: &ParamValue) -> bool {
        match (self, value) {
            (ParamDomain::Float { low, high, .. }, v) => {
                v.as_f64().is_some_and(|x| x >= *low && x <= *high)
            }
            (ParamDomain::Int { low, high, .. }, ParamValue::Int(x)) => x >= low && x <= high,
            (ParamDomain::Choice { options }, ParamValue::Choice(s)) => options.contains(s),
            (ParamDomain::Flag, ParamValue::Flag(_)) => true,
            _ => false,
        }
    }
}

/// One dimension of a search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name.
    pub name: String,
    /// Allowed values.
    pub domain: ParamDomain,
    /// Value when not searched.
    pub default: ParamValue,
}

/// A full assignment of hyperparameters, ordered by name for stable printing and hashing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// Empty.
    pub fn new() -> Self {
        Params::default()
    }

    /// Set a value.
    pub fn set(&mut self, name: impl Into<String>, value: ParamValue) {
        self.0.insert(name.into(), value);
    }

    /// A value by name.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// A real value, or `default` when absent or not numeric.
    pub fn f64_or(&self, name: &str, default: f64) -> f64 {
        self.get(name)
            .and_then(ParamValue::as_f64)
            .unwrap_or(default)
    }

    /// An integer value, or `default` when absent or not numeric.
    pub fn i64_or(&self, name: &str, default: i64) -> i64 {
        self.get(name)
            .and_then(ParamValue::as_i64)
            .unwrap_or(default)
    }

    /// A choice, or `default` when absent.
    pub fn choice_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.get(name) {
            Some(ParamValue::Choice(s)) => s,
            _ => default,
        }
    }

    /// A flag, or `default` when absent.
    pub fn flag_or(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Some(ParamValue::Flag(b)) => *b,
            _ => default,
        }
    }

    /// `defaults` overlaid with `self`.
    pub fn with_defaults(&self, specs: &[ParamSpec]) -> Params {
        let mut out = Params::new();
        for s in specs {
            out.set(s.name.clone(), s.default.clone());
        }
        for (k, v) in &self.0 {
            out.set(k.clone(), v.clone());
        }
        out
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

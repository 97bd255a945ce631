//! Checking a caller's hyperparameters against a kind's space and filling in defaults.

use crate::TrainError;
use microlearn_core::{ParamDomain, ParamSpec, ParamValue, Params};

/// `params` checked against `specs` (unknown names and out-of-domain values are errors) and
/// completed with the spec defaults. Integral floats given for integer parameters are accepted
/// and stored as integers, because JSON round trips and samplers often produce `3.0` for `3`.
pub(crate) fn resolve(
    kind: &str,
    specs: &[ParamSpec],
    params: &Params,
) -> Result<Params, TrainError> {
    let mut out = Params::new();
    for s in specs {
        out.set(s.name.clone(), s.default.clone());
    }
    for (name, value) in &params.0 {
        let Some(spec) = specs.iter().find(|s| &s.name == name) else {
            return Err(TrainError::UnknownParam {
                kind: kind.into(),
                name: name.clone(),
                known: specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let value = match (&spec.domain, value) {
            (ParamDomain::Int { .. }, ParamValue::Float(f))
                if f.fract() == 0.0 && f.is_finite() =>
            {
                ParamValue::Int(*f as i64)
            }
            (ParamDomain::Float { .. }, ParamValue::Int(i)) => ParamValue::Float(*i as f64),
            _ => value.clone(),
        };
        if !spec.domain.contains(&value) {
            return Err(TrainError::BadParam {
                name: name.clone(),
                value: value.to_string(),
                allowed: describe(&spec.domain),
            });
        }
        out.set(name.clone(), value);
    }
    Ok(out)
}

/// A domain in words, for error messages.
fn describe(domain: &ParamDomain) -> String {
    match domain {
        ParamDomain::Float { low, high, .. } => format!("a real number in [{low}, {high}]"),
        ParamDomain::Int { low, high, .. } => format!("an integer in [{low}, {high}]"),
        ParamDomain::Choice { options } => format!("one of {}", options.join(", ")),
        ParamDomain::Flag => "true or false".into(),
    }
}

/// Typed reads of a resolved `Params`; every name read here is in the spec, so a missing value
/// is a programming error inside this crate, caught by the catalogue tests.
pub(crate) struct Reader<'a>(pub &'a Params);

impl Reader<'_> {
    pub fn f64(&self, name: &str) -> f64 {
        self.0
            .get(name)
            .and_then(ParamValue::as_f64)
            .expect("resolved params hold every numeric spec entry")
    }

    pub fn i64(&self, name: &str) -> i64 {
        self.0
            .get(name)
            .and_then(ParamValue::as_i64)
            .expect("resolved params hold every integer spec entry")
    }

    pub fn usize(&self, name: &str) -> usize {
        self.i64(name).max(0) as usize
    }

    pub fn flag(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(ParamValue::Flag(b)) => *b,
            other => panic!("resolved param {name} is not a flag: {other:?}"),
        }
    }

    pub fn choice(&self, name: &str) -> &str {
        match self.0.get(name) {
            Some(ParamValue::Choice(s)) => s,
            other => panic!("resolved param {name} is not a choice: {other:?}"),
        }
    }
}

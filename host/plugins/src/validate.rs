//! Checks on what a plugin returns, against the request it answered.
//!
//! Each check returns `Err(message)`; the caller wraps it into `PluginError::InvalidOutput`
//! with the plugin id and function. Size estimates feed the output cap
//! (`PluginError::OutputTooLarge`).

use microlearn_core::stages::{
    Candidate, Decision, DeployAction, DeployRequest, Evaluation, SelectionRequest,
};
use microlearn_core::{Column, ColumnData, ParamDomain, ParamValue, Table};

/// Serialised size estimate of a column: its values at their natural width, plus strings and
/// validity. Close to what postcard/Arrow would write; used only against the output cap.
pub(crate) fn column_bytes(c: &Column) -> u64 {
    let values = match &c.data {
        ColumnData::Float64(v) => v.len() as u64 * 8,
        ColumnData::Int64(v) | ColumnData::TimestampMs(v) => v.len() as u64 * 8,
        ColumnData::Boolean(v) => v.len() as u64,
        ColumnData::Categorical(d) => {
            d.codes.len() as u64 * 4 + d.dictionary.iter().map(|s| s.len() as u64 + 8).sum::<u64>()
        }
    };
    values + c.validity.as_ref().map_or(0, |v| v.len() as u64) + c.name.len() as u64 + 16
}

pub(crate) fn table_bytes(t: &Table) -> u64 {
    t.columns().iter().map(column_bytes).sum::<u64>() + 16
}

pub(crate) fn evaluation_bytes(e: &Evaluation) -> u64 {
    let metrics: u64 = e.metrics.iter().map(|m| m.name.len() as u64 + 16).sum();
    let curves: u64 = e
        .curves
        .iter()
        .map(|c| {
            (c.x.len() + c.y.len()) as u64 * 8
                + (c.name.len() + c.x_label.len() + c.y_label.len()) as u64
        })
        .sum();
    let matrices: u64 = e
        .matrices
        .iter()
        .map(|m| {
            m.values.len() as u64 * 8
                + m.labels.iter().map(|l| l.len() as u64 + 8).sum::<u64>()
                + m.name.len() as u64
        })
        .sum();
    metrics + curves + matrices
}

pub(crate) fn candidates_bytes(cs: &[Candidate]) -> u64 {
    cs.iter()
        .map(|c| {
            // Debug formatting is a fair upper bound for these small, nested records.
            format!("{:?}{:?}", c.search_space, c.warm_starts).len() as u64
                + c.reason.len() as u64
                + c.kind.len() as u64
        })
        .sum()
}

/// A preparer's table keeps the rows of its input, in order; floats may be NaN (missing) but not
/// infinite, which no downstream model can use.
pub(crate) fn prepared_table(t: &Table, expected_rows: usize) -> Result<(), String> {
    if t.num_rows() != expected_rows {
        return Err(format!(
            "the table has {} rows but the input had {expected_rows}; a preparer must keep every \
             row, in order",
            t.num_rows()
        ));
    }
    for c in t.columns() {
        if let ColumnData::Float64(values) = &c.data
            && let Some(row) = values
                .iter()
                .enumerate()
                .position(|(i, v)| v.is_infinite() && c.is_valid(i))
        {
            return Err(format!(
                "column '{}' row {row} holds {}; use NaN or validity for missing values",
                c.name, values[row]
            ));
        }
    }
    Ok(())
}

/// `got` has the columns of `expected`: names, order and types.
pub(crate) fn same_columns(got: &Table, expected: &Table) -> Result<(), String> {
    for (i, e) in expected.columns().iter().enumerate() {
        let Some(g) = got.columns().get(i) else {
            return Err(format!(
                "{} columns, but fit returned {}; column '{}' is missing",
                got.num_columns(),
                expected.num_columns(),
                e.name
            ));
        };
        if g.name != e.name {
            return Err(format!(
                "column {i} is '{}', but fit returned '{}' there",
                g.name, e.name
            ));
        }
        if g.data.type_name() != e.data.type_name() {
            return Err(format!(
                "column '{}' is {}, but fit returned it as {}",
                g.name,
                g.data.type_name(),
                e.data.type_name()
            ));
        }
    }
    if got.num_columns() > expected.num_columns() {
        return Err(format!(
            "{} columns, but fit returned {}; '{}' is extra",
            got.num_columns(),
            expected.num_columns(),
            got.columns()[expected.num_columns()].name
        ));
    }
    Ok(())
}

/// Candidates name catalogue kinds, search only the kind's parameters, and carry a usable
/// budget share.
pub(crate) fn candidates(cs: &[Candidate], req: &SelectionRequest) -> Result<(), String> {
    if cs.is_empty() {
        return Err("no candidates; a selector must return at least one".to_string());
    }
    for c in cs {
        let Some(kind) = req.catalogue.iter().find(|k| k.name == c.kind) else {
            let known: Vec<&str> = req.catalogue.iter().map(|k| k.name.as_str()).collect();
            return Err(format!(
                "candidate '{}' is not in the catalogue ({})",
                c.kind,
                known.join(", ")
            ));
        };
        if !(c.budget_share.is_finite() && c.budget_share > 0.0 && c.budget_share <= 1.0) {
            return Err(format!(
                "candidate '{}' has budget share {}, expected a number in (0, 1]",
                c.kind, c.budget_share
            ));
        }
        for spec in &c.search_space {
            if !kind.params.iter().any(|p| p.name == spec.name) {
                return Err(format!(
                    "candidate '{}' searches '{}', which is not a parameter of that kind",
                    c.kind, spec.name
                ));
            }
            domain_is_sane(&spec.domain)
                .map_err(|m| format!("candidate '{}' parameter '{}': {m}", c.kind, spec.name))?;
            if !spec.domain.contains(&spec.default) {
                return Err(format!(
                    "candidate '{}' parameter '{}': default {} lies outside its domain",
                    c.kind, spec.name, spec.default
                ));
            }
        }
        for (i, warm) in c.warm_starts.iter().enumerate() {
            for (name, value) in &warm.0 {
                let Some(spec) = kind.params.iter().find(|p| &p.name == name) else {
                    return Err(format!(
                        "candidate '{}' warm start {i} sets '{name}', which is not a parameter \
                         of that kind",
                        c.kind
                    ));
                };
                if let ParamValue::Float(x) = value
                    && !x.is_finite()
                {
                    return Err(format!(
                        "candidate '{}' warm start {i}: '{name}' is {x}",
                        c.kind
                    ));
                }
                if !spec.domain.contains(value) {
                    return Err(format!(
                        "candidate '{}' warm start {i}: '{name}' = {value} lies outside the \
                         kind's domain",
                        c.kind
                    ));
                }
            }
        }
    }
    Ok(())
}

fn domain_is_sane(d: &ParamDomain) -> Result<(), String> {
    match d {
        ParamDomain::Float { low, high, log } => {
            if !(low.is_finite() && high.is_finite() && low <= high) {
                return Err(format!(
                    "float range [{low}, {high}] is empty or not finite"
                ));
            }
            if *log && *low <= 0.0 {
                return Err(format!("log-scale range [{low}, {high}] must be positive"));
            }
        }
        ParamDomain::Int { low, high, log } => {
            if low > high {
                return Err(format!("integer range [{low}, {high}] is empty"));
            }
            if *log && *low <= 0 {
                return Err(format!("log-scale range [{low}, {high}] must be positive"));
            }
        }
        ParamDomain::Choice { options } if options.is_empty() => {
            return Err("choice with no options".to_string());
        }
        ParamDomain::Choice { .. } | ParamDomain::Flag => {}
    }
    Ok(())
}

/// Metrics and curve points are finite; curves have matching axes; matrices are square.
pub(crate) fn evaluation(e: &Evaluation) -> Result<(), String> {
    for m in &e.metrics {
        if !m.value.is_finite() {
            return Err(format!(
                "metric '{}' is {}; leave out a metric that is undefined for this data",
                m.name, m.value
            ));
        }
    }
    for c in &e.curves {
        if c.x.len() != c.y.len() {
            return Err(format!(
                "curve '{}' has {} x values but {} y values",
                c.name,
                c.x.len(),
                c.y.len()
            ));
        }
        if c.x.iter().chain(&c.y).any(|v| !v.is_finite()) {
            return Err(format!("curve '{}' holds a non-finite point", c.name));
        }
    }
    for m in &e.matrices {
        let n = m.labels.len();
        if m.values.len() != n * n {
            return Err(format!(
                "matrix '{}' has {} values for {n} labels (expected {})",
                m.name,
                m.values.len(),
                n * n
            ));
        }
        if m.values.iter().any(|v| !v.is_finite()) {
            return Err(format!("matrix '{}' holds a non-finite value", m.name));
        }
    }
    Ok(())
}

/// A promotion names one of the candidates (or the current model); traffic is 1–100 %.
pub(crate) fn decision(d: &Decision, req: &DeployRequest) -> Result<(), String> {
    if !(1..=100).contains(&d.traffic_percent) {
        return Err(format!(
            "traffic share {}% is outside 1–100",
            d.traffic_percent
        ));
    }
    if let DeployAction::Promote(id) = &d.action {
        let known = req
            .candidates
            .iter()
            .chain(req.current.as_ref())
            .any(|m| &m.model_id == id);
        if !known {
            return Err(format!(
                "promotes model '{id}', which is neither a candidate nor the current model"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_core::stages::{
        Cost, Curve, CurveStyle, Hardware, MetaFeatures, ModelKindInfo, ModelSummary, ServingMode,
    };
    use microlearn_core::{Direction, Metric, ParamSpec, Params, Task};

    fn request() -> SelectionRequest {
        SelectionRequest {
            meta: MetaFeatures {
                task: Task::Binary,
                rows: 100,
                raw_features: 3,
                prepared_features: 3,
                numeric_features: 3,
                categorical_features: 0,
                datetime_features: 0,
                missing_fraction: 0.0,
                classes: 2,
                minority_class_fraction: 0.5,
            },
            catalogue: vec![ModelKindInfo {
                name: "gbdt".into(),
                description: String::new(),
                tasks: vec![Task::Binary],
                params: vec![ParamSpec {
                    name: "depth".into(),
                    domain: ParamDomain::Int {
                        low: 1,
                        high: 12,
                        log: false,
                    },
                    default: ParamValue::Int(6),
                }],
                cost: Cost::Medium,
            }],
            budget_seconds: 60.0,
            hardware: Hardware {
                cpus: 2,
                memory_bytes: 1 << 30,
                gpus: 0,
            },
            config: "{}".into(),
        }
    }

    fn candidate(kind: &str) -> Candidate {
        Candidate {
            kind: kind.into(),
            budget_share: 1.0,
            search_space: vec![],
            warm_starts: vec![],
            reason: String::new(),
        }
    }

    #[test]
    fn rejects_a_candidate_outside_the_catalogue() {
        let msg = candidates(&[candidate("svm")], &request()).unwrap_err();
        assert!(msg.contains("'svm'") && msg.contains("gbdt"), "{msg}");
        assert!(candidates(&[candidate("gbdt")], &request()).is_ok());
        assert!(candidates(&[], &request()).is_err());
    }

    #[test]
    fn rejects_a_warm_start_outside_the_domain() {
        let mut c = candidate("gbdt");
        let mut p = Params::new();
        p.set("depth", ParamValue::Int(99));
        c.warm_starts.push(p);
        let msg = candidates(&[c], &request()).unwrap_err();
        assert!(msg.contains("'depth'"), "{msg}");
    }

    #[test]
    fn rejects_a_zero_budget_share() {
        let mut c = candidate("gbdt");
        c.budget_share = 0.0;
        assert!(candidates(&[c], &request()).is_err());
    }

    #[test]
    fn rejects_non_finite_metrics_and_ragged_curves() {
        let mut e = Evaluation {
            metrics: vec![Metric {
                name: "accuracy".into(),
                value: f64::NAN,
                direction: Direction::Maximize,
            }],
            ..Evaluation::default()
        };
        assert!(evaluation(&e).unwrap_err().contains("'accuracy'"));
        e.metrics[0].value = 0.9;
        e.curves.push(Curve {
            name: "roc".into(),
            x_label: "fpr".into(),
            y_label: "tpr".into(),
            x: vec![0.0, 1.0],
            y: vec![0.0],
            style: CurveStyle::Line,
        });
        assert!(evaluation(&e).unwrap_err().contains("'roc'"));
    }

    #[test]
    fn rejects_changed_row_counts_and_infinities() {
        let t = Table::new(vec![Column::float64("x", vec![1.0, f64::NAN])]).unwrap();
        assert!(prepared_table(&t, 2).is_ok());
        assert!(prepared_table(&t, 3).unwrap_err().contains("2 rows"));
        let t = Table::new(vec![Column::float64("x", vec![1.0, f64::INFINITY])]).unwrap();
        assert!(prepared_table(&t, 2).unwrap_err().contains("'x' row 1"));
    }

    #[test]
    fn rejects_promoting_an_unknown_model() {
        let summary = ModelSummary {
            model_id: "m1".into(),
            kind: "gbdt".into(),
            metrics: vec![],
            fit_seconds: 1.0,
            size_bytes: 10,
        };
        let req = DeployRequest {
            task: Task::Binary,
            primary_metric: "accuracy".into(),
            candidates: vec![summary],
            current: None,
            config: "{}".into(),
        };
        let mut d = Decision {
            action: DeployAction::Promote("m2".into()),
            mode: ServingMode::Rest,
            traffic_percent: 100,
            reason: String::new(),
        };
        assert!(decision(&d, &req).unwrap_err().contains("'m2'"));
        d.action = DeployAction::Promote("m1".into());
        assert!(decision(&d, &req).is_ok());
        d.traffic_percent = 0;
        assert!(decision(&d, &req).is_err());
    }
}

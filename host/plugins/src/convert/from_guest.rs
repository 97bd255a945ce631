//! Generated binding types → host types (what a plugin returns).
//!
//! Vectors are moved, not copied. Structural checks that the host types enforce happen here
//! (`Err(message)`); semantic checks against the request (row counts, catalogue membership,
//! finiteness) live in `validate`.

use crate::bindings::{wit, wit_deployer, wit_evaluator, wit_selector};
use crate::error::GuestError;
use microlearn_core::stages::{
    Candidate, Curve, CurveStyle, Decision, DeployAction, Evaluation, LabeledMatrix, PluginInfo,
    PluginKind, ServingMode,
};
use microlearn_core::{
    Column, ColumnData, Dictionary, Direction, Metric, ParamDomain, ParamSpec, ParamValue, Params,
    Table, Task,
};

pub(crate) fn task(t: wit::Task) -> Task {
    match t {
        wit::Task::Binary => Task::Binary,
        wit::Task::Multiclass => Task::Multiclass,
        wit::Task::Regression => Task::Regression,
    }
}

pub(crate) fn plugin_kind(k: wit::PluginKind) -> PluginKind {
    match k {
        wit::PluginKind::Preparer => PluginKind::Preparer,
        wit::PluginKind::Selector => PluginKind::Selector,
        wit::PluginKind::Evaluator => PluginKind::Evaluator,
        wit::PluginKind::Deployer => PluginKind::Deployer,
    }
}

pub(crate) fn plugin_info(i: wit::PluginInfo) -> PluginInfo {
    PluginInfo {
        id: i.id,
        version: i.version,
        kind: plugin_kind(i.kind),
        description: i.description,
        config_schema: i.config_schema,
    }
}

pub(crate) fn guest_error(e: wit::PluginError) -> GuestError {
    match e {
        wit::PluginError::InvalidConfig(m) => GuestError::InvalidConfig(m),
        wit::PluginError::InvalidInput(p) => GuestError::InvalidInput {
            column: p.column,
            row: p.row,
            message: p.message,
        },
        wit::PluginError::InvalidState(m) => GuestError::InvalidState(m),
        wit::PluginError::Unsupported(m) => GuestError::Unsupported(m),
        wit::PluginError::Internal(m) => GuestError::Internal(m),
    }
}

fn column(c: wit::Column) -> Column {
    let data = match c.data {
        wit::ColumnData::Float64(v) => ColumnData::Float64(v),
        wit::ColumnData::Int64(v) => ColumnData::Int64(v),
        wit::ColumnData::Boolean(v) => ColumnData::Boolean(v),
        wit::ColumnData::Categorical(d) => ColumnData::Categorical(Dictionary {
            codes: d.codes,
            dictionary: d.dictionary,
        }),
        wit::ColumnData::TimestampMs(v) => ColumnData::TimestampMs(v),
    };
    Column {
        name: c.name,
        data,
        validity: c.validity,
    }
}

/// A table, checked by `Table::with_rows` (equal lengths, validity lengths, unique names,
/// dictionary codes in range).
pub(crate) fn table(t: wit::Table) -> Result<Table, String> {
    let rows =
        usize::try_from(t.num_rows).map_err(|_| format!("table claims {} rows", t.num_rows))?;
    Table::with_rows(rows, t.columns.into_iter().map(column).collect())
        .map_err(|e| format!("the returned table is malformed: {e}"))
}

fn direction(d: wit::Direction) -> Direction {
    match d {
        wit::Direction::Maximize => Direction::Maximize,
        wit::Direction::Minimize => Direction::Minimize,
    }
}

pub(crate) fn metric(m: wit::Metric) -> Metric {
    Metric {
        name: m.name,
        value: m.value,
        direction: direction(m.direction),
    }
}

pub(crate) fn param_value(v: wit::ParamValue) -> ParamValue {
    match v {
        wit::ParamValue::Float(x) => ParamValue::Float(x),
        wit::ParamValue::Int(x) => ParamValue::Int(x),
        wit::ParamValue::Choice(s) => ParamValue::Choice(s),
        wit::ParamValue::Flag(b) => ParamValue::Flag(b),
    }
}

fn param_domain(d: wit::ParamDomain) -> ParamDomain {
    match d {
        wit::ParamDomain::Float(r) => ParamDomain::Float {
            low: r.low,
            high: r.high,
            log: r.log,
        },
        wit::ParamDomain::Int(r) => ParamDomain::Int {
            low: r.low,
            high: r.high,
            log: r.log,
        },
        wit::ParamDomain::Choice(options) => ParamDomain::Choice { options },
        wit::ParamDomain::Flag => ParamDomain::Flag,
    }
}

fn param_spec(s: wit::ParamSpec) -> ParamSpec {
    ParamSpec {
        name: s.name,
        domain: param_domain(s.domain),
        default: param_value(s.default),
    }
}

/// An assignment; a name given twice is an error rather than a silent overwrite.
fn params(list: Vec<wit::Param>) -> Result<Params, String> {
    let mut out = Params::new();
    for p in list {
        if out.get(&p.name).is_some() {
            return Err(format!("hyperparameter '{}' is assigned twice", p.name));
        }
        out.set(p.name, param_value(p.value));
    }
    Ok(out)
}

pub(crate) fn candidate(c: wit_selector::Candidate) -> Result<Candidate, String> {
    let kind = c.kind;
    let warm_starts = c
        .warm_starts
        .into_iter()
        .enumerate()
        .map(|(i, w)| params(w).map_err(|m| format!("candidate '{kind}' warm start {i}: {m}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Candidate {
        search_space: c.search_space.into_iter().map(param_spec).collect(),
        kind,
        budget_share: c.budget_share,
        warm_starts,
        reason: c.reason,
    })
}

pub(crate) fn evaluation(e: wit_evaluator::Evaluation) -> Evaluation {
    Evaluation {
        metrics: e.metrics.into_iter().map(metric).collect(),
        curves: e
            .curves
            .into_iter()
            .map(|c| Curve {
                name: c.name,
                x_label: c.x_label,
                y_label: c.y_label,
                x: c.x,
                y: c.y,
                style: match c.style {
                    wit_evaluator::CurveStyle::Line => CurveStyle::Line,
                    wit_evaluator::CurveStyle::Scatter => CurveStyle::Scatter,
                },
            })
            .collect(),
        matrices: e
            .matrices
            .into_iter()
            .map(|m| LabeledMatrix {
                name: m.name,
                labels: m.labels,
                values: m.values,
            })
            .collect(),
    }
}

pub(crate) fn decision(d: wit_deployer::Decision) -> Decision {
    Decision {
        action: match d.action {
            wit_deployer::Action::Promote(id) => DeployAction::Promote(id),
            wit_deployer::Action::Keep => DeployAction::Keep,
        },
        mode: match d.mode {
            wit_deployer::ServingMode::Rest => ServingMode::Rest,
            wit_deployer::ServingMode::Batch => ServingMode::Batch,
            wit_deployer::ServingMode::Both => ServingMode::Both,
        },
        traffic_percent: d.traffic_percent,
        reason: d.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::to_guest;

    #[test]
    fn tables_round_trip_through_the_binding_types() {
        let c = Column::float64_nan_missing("x", vec![1.0, f64::NAN, 3.0]);
        let t = Table::new(vec![
            c,
            Column::categorical_from_strs("c", &[Some("a"), None, Some("b")]),
            Column::new("i", ColumnData::Int64(vec![1, 2, 3])),
            Column::new("b", ColumnData::Boolean(vec![true, false, true])),
            Column::new("t", ColumnData::TimestampMs(vec![0, -1, 1_700_000_000_000])),
        ])
        .unwrap();
        let back = table(to_guest::table(&t)).unwrap();
        // NaN != NaN, so compare the NaN-free parts and the validity.
        assert_eq!(back.names(), t.names());
        assert_eq!(back.num_rows(), 3);
        assert_eq!(back.columns()[0].validity, t.columns()[0].validity);
        assert_eq!(back.columns()[1..], t.columns()[1..]);
    }

    #[test]
    fn rejects_a_ragged_table_naming_the_column() {
        let t = wit::Table {
            num_rows: 3,
            columns: vec![wit::Column {
                name: "short".into(),
                data: wit::ColumnData::Float64(vec![1.0]),
                validity: None,
            }],
        };
        let msg = table(t).unwrap_err();
        assert!(msg.contains("'short'"), "{msg}");
    }

    #[test]
    fn rejects_a_hyperparameter_assigned_twice() {
        let c = wit_selector::Candidate {
            kind: "gbdt".into(),
            budget_share: 1.0,
            search_space: vec![],
            warm_starts: vec![vec![
                wit::Param {
                    name: "depth".into(),
                    value: wit::ParamValue::Int(3),
                },
                wit::Param {
                    name: "depth".into(),
                    value: wit::ParamValue::Int(4),
                },
            ]],
            reason: String::new(),
        };
        assert!(candidate(c).unwrap_err().contains("'depth'"));
    }

    #[test]
    fn guest_errors_keep_column_and_row() {
        let e = guest_error(wit::PluginError::InvalidInput(wit::InputProblem {
            column: Some("age".into()),
            row: Some(7),
            message: "negative".into(),
        }));
        assert_eq!(e.variant(), "invalid-input");
        assert_eq!(
            e.to_string(),
            "invalid input in column 'age' at row 7: negative"
        );
    }
}

//! Host types → generated binding types (what a plugin receives).
//!
//! Columns are copied once here and once more by wasmtime into guest memory; both copies are
//! plain `memcpy`s of typed vectors.

use crate::bindings::{wit, wit_deployer, wit_evaluator, wit_selector};
use microlearn_core::stages::{
    Cost, DeployRequest, EvaluationRequest, Hardware, MetaFeatures, ModelKindInfo, ModelSummary,
    PredictionValues, SelectionRequest,
};
use microlearn_core::{
    Column, ColumnData, Direction, Metric, ParamDomain, ParamSpec, ParamValue, Table, Task,
};

pub(crate) fn task(t: Task) -> wit::Task {
    match t {
        Task::Binary => wit::Task::Binary,
        Task::Multiclass => wit::Task::Multiclass,
        Task::Regression => wit::Task::Regression,
    }
}

pub(crate) fn column(c: &Column) -> wit::Column {
    let data = match &c.data {
        ColumnData::Float64(v) => wit::ColumnData::Float64(v.clone()),
        ColumnData::Int64(v) => wit::ColumnData::Int64(v.clone()),
        ColumnData::Boolean(v) => wit::ColumnData::Boolean(v.clone()),
        ColumnData::Categorical(d) => wit::ColumnData::Categorical(wit::DictionaryColumn {
            codes: d.codes.clone(),
            dictionary: d.dictionary.clone(),
        }),
        ColumnData::TimestampMs(v) => wit::ColumnData::TimestampMs(v.clone()),
    };
    wit::Column {
        name: c.name.clone(),
        data,
        validity: c.validity.clone(),
    }
}

pub(crate) fn table(t: &Table) -> wit::Table {
    wit::Table {
        num_rows: t.num_rows() as u64,
        columns: t.columns().iter().map(column).collect(),
    }
}

fn direction(d: Direction) -> wit::Direction {
    match d {
        Direction::Maximize => wit::Direction::Maximize,
        Direction::Minimize => wit::Direction::Minimize,
    }
}

fn metric(m: &Metric) -> wit::Metric {
    wit::Metric {
        name: m.name.clone(),
        value: m.value,
        direction: direction(m.direction),
    }
}

pub(crate) fn param_value(v: &ParamValue) -> wit::ParamValue {
    match v {
        ParamValue::Float(x) => wit::ParamValue::Float(*x),
        ParamValue::Int(x) => wit::ParamValue::Int(*x),
        ParamValue::Choice(s) => wit::ParamValue::Choice(s.clone()),
        ParamValue::Flag(b) => wit::ParamValue::Flag(*b),
    }
}

fn param_domain(d: &ParamDomain) -> wit::ParamDomain {
    match d {
        ParamDomain::Float { low, high, log } => wit::ParamDomain::Float(wit::FloatRange {
            low: *low,
            high: *high,
            log: *log,
        }),
        ParamDomain::Int { low, high, log } => wit::ParamDomain::Int(wit::IntRange {
            low: *low,
            high: *high,
            log: *log,
        }),
        ParamDomain::Choice { options } => wit::ParamDomain::Choice(options.clone()),
        ParamDomain::Flag => wit::ParamDomain::Flag,
    }
}

fn param_spec(s: &ParamSpec) -> wit::ParamSpec {
    wit::ParamSpec {
        name: s.name.clone(),
        domain: param_domain(&s.domain),
        default: param_value(&s.default),
    }
}

fn meta_features(m: &MetaFeatures) -> wit_selector::MetaFeatures {
    wit_selector::MetaFeatures {
        task: task(m.task),
        rows: m.rows,
        raw_features: m.raw_features,
        prepared_features: m.prepared_features,
        numeric_features: m.numeric_features,
        categorical_features: m.categorical_features,
        datetime_features: m.datetime_features,
        missing_fraction: m.missing_fraction,
        classes: m.classes,
        minority_class_fraction: m.minority_class_fraction,
    }
}

fn cost(c: Cost) -> wit_selector::Cost {
    match c {
        Cost::Low => wit_selector::Cost::Low,
        Cost::Medium => wit_selector::Cost::Medium,
        Cost::High => wit_selector::Cost::High,
    }
}

fn model_kind(k: &ModelKindInfo) -> wit_selector::ModelKind {
    wit_selector::ModelKind {
        name: k.name.clone(),
        description: k.description.clone(),
        tasks: k.tasks.iter().copied().map(task).collect(),
        params: k.params.iter().map(param_spec).collect(),
        cost: cost(k.cost),
    }
}

fn hardware(h: &Hardware) -> wit_selector::Hardware {
    wit_selector::Hardware {
        cpus: h.cpus,
        memory_bytes: h.memory_bytes,
        gpus: h.gpus,
    }
}

pub(crate) fn selection_request(r: &SelectionRequest) -> wit_selector::SelectionRequest {
    wit_selector::SelectionRequest {
        meta: meta_features(&r.meta),
        catalogue: r.catalogue.iter().map(model_kind).collect(),
        budget_seconds: r.budget_seconds,
        hardware: hardware(&r.hardware),
        config: r.config.clone(),
    }
}

pub(crate) fn evaluation_request(r: &EvaluationRequest) -> wit_evaluator::EvaluationRequest {
    wit_evaluator::EvaluationRequest {
        task: task(r.task),
        labels: r.labels.clone(),
        y_true: r.y_true.clone(),
        predictions: match &r.predictions {
            PredictionValues::Values(v) => wit_evaluator::Predictions::Values(v.clone()),
            PredictionValues::Probabilities(p) => {
                wit_evaluator::Predictions::Probabilities(p.clone())
            }
        },
        curves: r.curves,
        config: r.config.clone(),
    }
}

fn model_summary(m: &ModelSummary) -> wit_deployer::ModelSummary {
    wit_deployer::ModelSummary {
        model_id: m.model_id.clone(),
        kind: m.kind.clone(),
        metrics: m.metrics.iter().map(metric).collect(),
        fit_seconds: m.fit_seconds,
        size_bytes: m.size_bytes,
    }
}

pub(crate) fn deploy_request(r: &DeployRequest) -> wit_deployer::DeployRequest {
    wit_deployer::DeployRequest {
        task: task(r.task),
        primary_metric: r.primary_metric.clone(),
        candidates: r.candidates.iter().map(model_summary).collect(),
        current: r.current.as_ref().map(model_summary),
        config: r.config.clone(),
    }
}

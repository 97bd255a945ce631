//! The model kinds this crate trains and their hyperparameter spaces.
//!
//! Ranges follow what tuning studies on LightGBM / scikit-learn found worth searching; regularisers
//! that default to "off" start at a tiny positive value so their range can be log-scaled.

use microlearn_core::stages::{Cost, ModelKindInfo};
use microlearn_core::{ParamDomain, ParamSpec, ParamValue, Task};

/// Name of the gradient-boosted trees kind.
pub const GBDT: &str = "gbdt";
/// Name of the regularised linear models kind.
pub const LINEAR: &str = "linear";

fn float(name: &str, low: f64, high: f64, log: bool, default: f64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Float { low, high, log },
        default: ParamValue::Float(default),
    }
}

fn int(name: &str, low: i64, high: i64, log: bool, default: i64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Int { low, high, log },
        default: ParamValue::Int(default),
    }
}

fn choice(name: &str, options: &[&str], default: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Choice {
            options: options.iter().map(|s| s.to_string()).collect(),
        },
        default: ParamValue::Choice(default.into()),
    }
}

/// The `gbdt` search space. `objective` and `huber_delta` only affect regression.
pub fn gbdt_specs() -> Vec<ParamSpec> {
    vec![
        int("n_rounds", 10, 5000, true, 100),
        float("learning_rate", 0.005, 0.5, true, 0.1),
        int("num_leaves", 2, 1024, true, 31),
        int("max_depth", -1, 32, false, -1),
        int("min_data_in_leaf", 1, 1000, true, 20),
        float("min_sum_hessian", 1e-5, 10.0, true, 1e-3),
        float("min_gain_to_split", 0.0, 1.0, false, 0.0),
        float("lambda_l1", 1e-8, 10.0, true, 1e-8),
        float("lambda_l2", 1e-8, 10.0, true, 1e-8),
        float("feature_fraction", 0.1, 1.0, false, 1.0),
        float("bagging_fraction", 0.1, 1.0, false, 1.0),
        int("max_bin", 4, 255, false, 255),
        int("early_stopping_rounds", 0, 1000, false, 20),
        choice("objective", &["l2", "huber"], "l2"),
        float("huber_delta", 1e-3, 1e3, true, 1.0),
    ]
}

/// The `linear` search space. `alpha` is the total penalty strength on standardized features,
/// `l1_ratio` its lasso share (0 = ridge / L2 logistic).
pub fn linear_specs() -> Vec<ParamSpec> {
    vec![
        float("alpha", 1e-6, 100.0, true, 1e-3),
        float("l1_ratio", 0.0, 1.0, false, 0.0),
        int("max_iter", 10, 10000, true, 500),
        float("tol", 1e-8, 1e-2, true, 1e-6),
    ]
}

/// Every model kind with its space, tasks and relative cost.
pub fn catalogue() -> Vec<ModelKindInfo> {
    let all = vec![Task::Binary, Task::Multiclass, Task::Regression];
    vec![
        ModelKindInfo {
            name: GBDT.into(),
            description: "Histogram gradient-boosted decision trees grown leaf-wise, with \
                          learned missing-value directions and early stopping."
                .into(),
            tasks: all.clone(),
            params: gbdt_specs(),
            cost: Cost::Medium,
        },
        ModelKindInfo {
            name: LINEAR.into(),
            description: "Regularised linear models on standardized features: ridge / elastic \
                          net for regression, L2 or elastic-net logistic regression for classes."
                .into(),
            tasks: all,
            params: linear_specs(),
            cost: Cost::Low,
        },
    ]
}

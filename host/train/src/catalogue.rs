//! The model kinds this crate trains and their hyperparameter spaces.
//!
//! Ranges follow what tuning studies on LightGBM / scikit-learn found worth searching; regularisers
//! that default to "off" start at a tiny positive value so their range can be log-scaled.

use microlearn_core::stages::{Cost, ModelKindInfo};
use microlearn_core::{ParamDomain, ParamSpec, ParamValue, Task};

/// Name of the gradient-boosted trees kind.
pub const GBDT: &str = "gbdt";
/// Name of the random forest kind.
pub const RANDOM_FOREST: &str = "random_forest";
/// Name of the extremely randomised trees kind.
pub const EXTRA_TREES: &str = "extra_trees";
/// Name of the regularised linear models kind.
pub const LINEAR: &str = "linear";
/// Name of the k-nearest-neighbours kind.
pub const KNN: &str = "knn";
/// Name of the multilayer perceptron kind.
pub const MLP: &str = "mlp";

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

fn flag(name: &str, default: bool) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Flag,
        default: ParamValue::Flag(default),
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
        // Low bound 1, not a search floor: a refit takes the rounds a trial actually kept, and
        // early stopping on a signal-free validation set can keep one. Selectors narrow it.
        int("n_rounds", 1, 5000, true, 100),
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
        float("feature_fraction_bynode", 0.1, 1.0, false, 1.0),
        flag("extra_trees", false),
        int("max_bin", 4, 255, false, 255),
        int("early_stopping_rounds", 0, 1000, false, 20),
        choice("objective", &["l2", "huber"], "l2"),
        float("huber_delta", 1e-3, 1e3, true, 1.0),
    ]
}

/// The `random_forest` (`extra = false`) or `extra_trees` search space. Trees grow deep by
/// default (up to `max_leaves` leaves), as forests rely on averaging rather than shrinkage.
pub fn forest_specs(extra: bool) -> Vec<ParamSpec> {
    vec![
        // From 1 for the same reason: a deadline can cut a trial to its first tree.
        int("n_trees", 1, 2000, true, 100),
        choice(
            "max_features",
            &["sqrt", "log2", "third", "half", "all"],
            // scikit-learn's classification default for both kinds; per-node cost grows with
            // the features tried, and averaging recovers most of what fewer features lose.
            "sqrt",
        ),
        int("min_data_in_leaf", 1, 200, true, 1),
        int("max_depth", -1, 64, false, -1),
        int("max_leaves", 2, 65536, true, 4096),
        flag("bootstrap", !extra),
        float("max_samples", 0.05, 1.0, false, 1.0),
        int("max_bin", 4, 255, false, 255),
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

/// The `knn` search space. Distances are taken on standardised features; `weights = distance`
/// weighs neighbours by 1 / distance.
pub fn knn_specs() -> Vec<ParamSpec> {
    vec![
        int("n_neighbors", 1, 100, true, 10),
        choice("weights", &["uniform", "distance"], "uniform"),
        choice("metric", &["euclidean", "manhattan"], "euclidean"),
    ]
}

/// The `mlp` search space. `weight_decay` is an L2 penalty on the weights; `dropout` applies to
/// hidden units; `early_stopping_epochs` (0 = off) needs a validation set.
pub fn mlp_specs() -> Vec<ParamSpec> {
    vec![
        int("hidden_layers", 1, 3, false, 2),
        int("hidden_units", 8, 512, true, 64),
        float("learning_rate", 1e-4, 1e-1, true, 1e-3),
        int("epochs", 1, 500, true, 50),
        int("batch_size", 16, 1024, true, 128),
        float("weight_decay", 1e-8, 1e-2, true, 1e-5),
        float("dropout", 0.0, 0.5, false, 0.0),
        int("early_stopping_epochs", 0, 100, false, 10),
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
            name: RANDOM_FOREST.into(),
            description: "Random forest: deep histogram trees on bootstrap samples with a random \
                          share of features per split, averaged. Robust defaults, little tuning."
                .into(),
            tasks: all.clone(),
            params: forest_specs(false),
            cost: Cost::Medium,
        },
        ModelKindInfo {
            name: EXTRA_TREES.into(),
            description: "Extremely randomised trees: like a random forest, with one random \
                          threshold per feature and split and no bootstrap; faster and smoother."
                .into(),
            tasks: all.clone(),
            params: forest_specs(true),
            cost: Cost::Medium,
        },
        ModelKindInfo {
            name: LINEAR.into(),
            description: "Regularised linear models on standardized features: ridge / elastic \
                          net for regression, L2 or elastic-net logistic regression for classes."
                .into(),
            tasks: all.clone(),
            params: linear_specs(),
            cost: Cost::Low,
        },
        ModelKindInfo {
            name: KNN.into(),
            description: "k-nearest neighbours on standardised features by brute-force search \
                          (weighted vote or mean); suits small data, keeps at most 50k rows."
                .into(),
            tasks: all.clone(),
            params: knn_specs(),
            cost: Cost::Low,
        },
        ModelKindInfo {
            name: MLP.into(),
            description: "Multilayer perceptron (ReLU, Adam, optional dropout) on standardised \
                          features, with validation early stopping; CPU, pure Rust."
                .into(),
            tasks: all,
            params: mlp_specs(),
            cost: Cost::Medium,
        },
    ]
}

//! The rules: a profile of the dataset and budget, and a proposal per model kind.
//!
//! Warm starts come from the learned portfolio ([`Shipped`]); the rules fit them to the search
//! space they build for this dataset and budget.

use crate::shipped::{Config, Shipped};
use microlearn_sdk::prelude::*;

/// What the rules look at.
pub(crate) struct Profile {
    pub rows: u64,
    pub width: u64,
    pub categorical_share: f64,
    pub minority: f64,
    pub task: Task,
    /// Whether the budget is small for the data: little time per row·feature per core.
    pub tight: bool,
    pub tiny: bool,
    pub wide: bool,
    pub huge: bool,
    pub budget_seconds: f64,
    pub gpus: u32,
}

impl Profile {
    pub(crate) fn new(r: &SelectionRequest) -> Profile {
        let m = &r.meta;
        let width = u64::from(m.prepared_features.max(m.raw_features)).max(1);
        let cells = m.rows as f64 * width as f64;
        let cpus = f64::from(r.hardware.cpus.max(1));
        // Roughly how many cells a core-second of boosting gets through with room for a search;
        // below that the search must be cut down.
        const CELLS_PER_CORE_SECOND: f64 = 2.0e6;
        let tight = r.budget_seconds < 60.0
            || cells > r.budget_seconds.max(1.0) * cpus * CELLS_PER_CORE_SECOND;
        Profile {
            rows: m.rows,
            width,
            categorical_share: if m.raw_features == 0 {
                0.0
            } else {
                f64::from(m.categorical_features) / f64::from(m.raw_features)
            },
            minority: m.minority_class_fraction,
            task: m.task,
            tight,
            tiny: m.rows < 1_000,
            wide: width > m.rows || width >= 1_000,
            huge: m.rows >= 1_000_000,
            budget_seconds: r.budget_seconds,
            gpus: r.hardware.gpus,
        }
    }
}

/// A score (higher ranks first) and the candidate for one usable kind.
pub(crate) fn propose(kind: &ModelKind, p: &Profile, shipped: &Shipped) -> (f64, Candidate) {
    let configs = shipped.configs(&kind.name);
    match kind.name.as_str() {
        "gbdt" => gbdt(kind, p, configs),
        "linear" => linear(kind, p, configs),
        "random_forest" | "extra_trees" => forest(kind, p, configs),
        "knn" => knn(kind, p, configs),
        "mlp" => mlp(kind, p, configs),
        _ => unknown(kind, p),
    }
}

/// Lower `name` to at most `max` in every config that sets it: the budget-aware caps the rules
/// keep on top of the learned portfolio (it was learned without a time limit).
fn cap_int(configs: &mut [Config], name: &str, max: i64) {
    for config in configs {
        for (n, v) in config.iter_mut() {
            if n == name
                && let ParamValue::Int(x) = v
            {
                *x = (*x).min(max);
            }
        }
    }
}

/// Rows from which gbdt also tries a long early-stopped run among its warm starts.
const LONG_BOOSTING_ROWS: u64 = 100_000;

/// Rows above which k-nearest neighbours is not proposed: its prediction cost grows with the
/// training rows, and on large data trees dominate it anyway.
const KNN_MAX_ROWS: u64 = 50_000;

/// Random forests and extra trees: strong, low-variance second opinions that ensemble well with
/// boosted trees; little worth searching beyond tree count and split randomness.
fn forest(kind: &ModelKind, p: &Profile, mut configs: Vec<Config>) -> (f64, Candidate) {
    let extra = kind.name == "extra_trees";
    let mut reasons = vec![if extra {
        "extremely randomised trees: a smooth, fast averaging ensemble".to_string()
    } else {
        "a random forest: robust with default settings, diverse from boosting".to_string()
    }];
    let (mut score, mut share) = if extra { (0.62, 0.1) } else { (0.65, 0.15) };
    if p.huge || p.tight {
        score -= 0.2;
        share /= 2.0;
        reasons.push("deep trees on this much data take a large part of the budget".into());
    }
    let trees_high = if p.tight || p.huge { 200 } else { 500 };
    let space: Vec<ParamSpec> = kind
        .params
        .iter()
        .filter_map(|s| match s.name.as_str() {
            // Structure limits and binning: defaults (deep trees, all bins) are what forests
            // want; searching them finds noise.
            "max_depth" | "max_leaves" | "max_bin" | "bootstrap" => None,
            // Bootstrap samples of a fraction of the rows keep deep trees affordable on big data.
            "max_samples" if p.rows <= 100_000 => None,
            "max_samples" => Some(narrow_float(s, Some(0.05), Some(0.3))),
            "n_trees" => Some(narrow_int(s, Some(30), Some(trees_high))),
            "min_data_in_leaf" => Some(narrow_int(s, Some(1), Some(20))),
            _ => Some(s.clone()),
        })
        .collect();
    // Deep trees on a tight budget or on huge data: fewer of them, so a warm start ends in time.
    if p.tight || p.huge {
        cap_int(&mut configs, "n_trees", 100);
    }
    // The portfolio was learned on at most 8 000 rows, where every tree sees all of them; on
    // big data (the only case where `max_samples` is searched) the warm starts draw bootstrap
    // samples of 10% and 20% of the rows instead, as these rules always did.
    if space.iter().any(|s| s.name == "max_samples") {
        for (i, config) in configs.iter_mut().enumerate() {
            if !config.iter().any(|(n, _)| n == "max_samples") {
                let fraction = if i == 0 { 0.1 } else { 0.2 };
                config.push(("max_samples".into(), ParamValue::Float(fraction)));
            }
        }
    }
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        warm_starts: warm_starts(&space, &configs),
        search_space: space,
        reason: reasons.join("; "),
    };
    (score, candidate)
}

/// k-nearest neighbours: only for small data, where a local method can beat global models on
/// smooth, low-dimensional problems.
fn knn(kind: &ModelKind, p: &Profile, configs: Vec<Config>) -> (f64, Candidate) {
    let (score, share, reason) = if p.rows > KNN_MAX_ROWS || p.width > 200 {
        (
            0.1,
            0.02,
            format!(
                "{} rows × {} features is large for nearest neighbours: one default trial",
                p.rows, p.width
            ),
        )
    } else {
        (
            0.45,
            0.05,
            "nearest neighbours: a local model that can capture smooth structure in small data"
                .to_string(),
        )
    };
    let space: Vec<ParamSpec> = kind
        .params
        .iter()
        .map(|s| match s.name.as_str() {
            "n_neighbors" => narrow_int(s, Some(3), Some(50)),
            _ => s.clone(),
        })
        .collect();
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        warm_starts: warm_starts(&space, &configs),
        search_space: space,
        reason,
    };
    (score, candidate)
}

/// Multilayer perceptron: a different inductive bias from trees, worth a small share when there
/// are enough rows to fit it; more on a GPU.
fn mlp(kind: &ModelKind, p: &Profile, mut configs: Vec<Config>) -> (f64, Candidate) {
    let mut reasons = vec!["a neural network adds diversity to tree ensembles".to_string()];
    let (mut score, mut share): (f64, f64) = (0.45, 0.1);
    if p.gpus > 0 {
        score += 0.1;
        share = 0.15;
        reasons.push(format!("{} GPU(s) train it fast", p.gpus));
    }
    if p.tiny {
        score -= 0.2;
        share = 0.05;
        reasons.push(format!("{} rows are few for a network", p.rows));
    }
    if p.tight && p.gpus == 0 {
        score -= 0.1;
        share = share.min(0.05);
        reasons.push("a tight CPU budget allows only short training".into());
    }
    let epochs_high = if p.tight { 50 } else { 200 };
    let space: Vec<ParamSpec> = kind
        .params
        .iter()
        .filter_map(|s| match s.name.as_str() {
            "early_stopping_epochs" => None,
            "hidden_layers" => Some(narrow_int(s, Some(1), Some(2))),
            "hidden_units" => Some(narrow_int(s, Some(16), Some(256))),
            "learning_rate" => Some(narrow_float(s, Some(1e-4), Some(1e-2))),
            "epochs" => Some(narrow_int(s, Some(5), Some(epochs_high))),
            "batch_size" => Some(narrow_int(s, Some(32), Some(512))),
            _ => Some(s.clone()),
        })
        .collect();
    // A tight CPU budget allows only short training.
    if p.tight {
        cap_int(&mut configs, "epochs", 20);
    }
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        warm_starts: warm_starts(&space, &configs),
        search_space: space,
        reason: reasons.join("; "),
    };
    (score, candidate)
}

fn gbdt(kind: &ModelKind, p: &Profile, configs: Vec<Config>) -> (f64, Candidate) {
    let mut reasons =
        vec!["gradient-boosted trees are the strongest default on tabular data".to_string()];
    let mut score = 1.0;
    let mut share = 0.7;
    if p.tiny {
        score -= 0.3;
        share = 0.5;
        reasons.push(format!("only {} rows, so trees are kept small", p.rows));
    }
    if p.wide {
        score -= 0.2;
        reasons.push(format!("{} features is wide for {} rows", p.width, p.rows));
    }
    if p.categorical_share >= 0.5 {
        score += 0.1;
        reasons.push("mostly categorical features suit trees".into());
    }
    if p.task.is_classification() && p.minority > 0.0 && p.minority < 0.1 {
        reasons.push(format!(
            "imbalanced classes (rarest {:.1}%), trees cope well",
            p.minority * 100.0
        ));
    }

    let rows = p.rows as i64;
    let mut space = Vec::new();
    for spec in &kind.params {
        let narrowed = match spec.name.as_str() {
            // Controls of the fit rather than of the model: searching them mostly adds noise to
            // a validation score, so they keep their defaults (early stopping stays on).
            "early_stopping_rounds" | "max_bin" | "max_depth" | "min_gain_to_split" => continue,
            // The regression loss is only a choice for regression.
            "objective" | "huber_delta" if p.task.is_classification() => continue,
            // The region where good boosted-tree configurations live (LightGBM's and FLAML's
            // experience): a random draw outside it wins a small validation set by luck and
            // then generalises badly.
            "learning_rate" if p.tight => narrow_float(spec, Some(0.03), Some(0.3)),
            "learning_rate" => narrow_float(spec, Some(0.01), Some(0.3)),
            "feature_fraction" => narrow_float(spec, Some(0.4), None),
            "bagging_fraction" => narrow_float(spec, Some(0.5), None),
            "n_rounds" if p.tight || p.huge => narrow_int(spec, Some(50), Some(500)),
            "n_rounds" => narrow_int(spec, Some(50), None),
            "num_leaves" if p.tiny => narrow_int(spec, None, Some(31)),
            // Leaves need enough rows to be stable on big data, few enough to split small data.
            "min_data_in_leaf" => narrow_int(
                spec,
                Some((rows / 10_000).clamp(1, 100)),
                Some((rows / 20).clamp(5, 1_000)),
            ),
            // Low-impact dimensions are not worth searching on a tight budget.
            "min_sum_hessian" | "lambda_l1" | "feature_fraction_bynode" | "extra_trees"
                if p.tight =>
            {
                continue;
            }
            _ => spec.clone(),
        };
        space.push(narrowed);
    }
    if p.tight {
        reasons.push(format!(
            "a {:.0}s budget is tight for {} rows × {} features: fewer rounds, fewer dimensions",
            p.budget_seconds, p.rows, p.width
        ));
    }

    // The learned portfolio, in order. Tight budgets and huge data need no special configs:
    // clamping into the narrowed space caps the rounds, raises the learning rate and scales
    // `min_data_in_leaf` with the rows.
    let mut configs = configs;
    if !p.tight && p.rows >= LONG_BOOSTING_ROWS {
        // The portfolio was learned on samples of at most 8k rows, where a few hundred rounds
        // suffice. On large data boosting keeps improving for thousands of rounds, so one long
        // run is tried second: early stopping ends it when validation stops improving, and the
        // deadline makes it any-time.
        let long: Config = vec![
            ("n_rounds".into(), ParamValue::Int(3_000)),
            ("learning_rate".into(), ParamValue::Float(0.1)),
            ("num_leaves".into(), ParamValue::Int(31)),
            ("feature_fraction".into(), ParamValue::Float(0.9)),
        ];
        configs.insert(1.min(configs.len()), long);
        reasons.push(format!(
            "{} rows: one long early-stopped boosting run is tried early",
            p.rows
        ));
    }
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        warm_starts: warm_starts(&space, &configs),
        search_space: space,
        reason: reasons.join("; "),
    };
    (score, candidate)
}

fn linear(kind: &ModelKind, p: &Profile, configs: Vec<Config>) -> (f64, Candidate) {
    let mut score = 0.6;
    let mut share = 0.3;
    let mut reasons = Vec::new();
    if p.tiny || p.wide {
        score = 1.1;
        share = 0.5;
        reasons.push(if p.tiny {
            format!(
                "with only {} rows a regularised linear model generalises well",
                p.rows
            )
        } else {
            format!(
                "with {} features for {} rows a regularised linear model is hard to beat",
                p.width, p.rows
            )
        });
    } else {
        reasons.push("a fast, regularised baseline that ensembles well with trees".into());
    }
    // Solver settings are not model choices: searching them only finds unconverged fits.
    let space: Vec<ParamSpec> = kind
        .params
        .iter()
        .filter(|s| s.name != "max_iter" && s.name != "tol")
        .map(|s| match s.name.as_str() {
            "alpha" => narrow_float(s, None, Some(10.0)),
            _ => s.clone(),
        })
        .collect();
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        warm_starts: warm_starts(&space, &configs),
        search_space: space,
        reason: reasons.join("; "),
    };
    (score, candidate)
}

fn unknown(kind: &ModelKind, p: &Profile) -> (f64, Candidate) {
    let (score, share) = match kind.cost {
        Cost::Low => (0.55, 0.2),
        Cost::Medium => (0.5, 0.2),
        // Expensive unknowns get less of a tight budget.
        Cost::High => (0.4, if p.tight { 0.1 } else { 0.2 }),
    };
    let defaults: Vec<Param> = kind
        .params
        .iter()
        .map(|s| Param::new(s.name.clone(), s.default.clone()))
        .collect();
    let candidate = Candidate {
        kind: kind.name.clone(),
        budget_share: share,
        search_space: kind.params.clone(),
        warm_starts: vec![defaults],
        reason: format!(
            "{} is not in this selector's rules; tried with its defaults and a default share ({})",
            kind.name, kind.description
        ),
    };
    (score, candidate)
}

/// `spec` with a narrower domain, its default moved inside it.
fn with_domain(spec: &ParamSpec, domain: ParamDomain) -> ParamSpec {
    let default = fit_value(&domain, &spec.default).unwrap_or_else(|| spec.default.clone());
    ParamSpec {
        name: spec.name.clone(),
        domain,
        default,
    }
}

/// Intersect an integer domain with `[low, high]`; an empty intersection keeps the original.
pub(crate) fn narrow_int(spec: &ParamSpec, low: Option<i64>, high: Option<i64>) -> ParamSpec {
    let ParamDomain::Int {
        low: l,
        high: h,
        log,
    } = spec.domain
    else {
        return spec.clone();
    };
    let nl = low.map_or(l, |x| x.max(l));
    let nh = high.map_or(h, |x| x.min(h));
    if nl > nh {
        return spec.clone();
    }
    with_domain(
        spec,
        ParamDomain::Int {
            low: nl,
            high: nh,
            log,
        },
    )
}

/// Intersect a real domain with `[low, high]`; an empty intersection keeps the original.
pub(crate) fn narrow_float(spec: &ParamSpec, low: Option<f64>, high: Option<f64>) -> ParamSpec {
    let ParamDomain::Float {
        low: l,
        high: h,
        log,
    } = spec.domain
    else {
        return spec.clone();
    };
    let nl = low.map_or(l, |x| x.max(l));
    let nh = high.map_or(h, |x| x.min(h));
    if nl > nh {
        return spec.clone();
    }
    with_domain(
        spec,
        ParamDomain::Float {
            low: nl,
            high: nh,
            log,
        },
    )
}

/// `value` made to fit `domain` (numbers clamped and converted), or `None` if it cannot.
pub(crate) fn fit_value(domain: &ParamDomain, value: &ParamValue) -> Option<ParamValue> {
    match (domain, value) {
        (ParamDomain::Int { low, high, .. }, v) => {
            let x = v.as_f64()?;
            Some(ParamValue::Int((x.round() as i64).clamp(*low, *high)))
        }
        (ParamDomain::Float { low, high, .. }, v) => {
            let x = v.as_f64()?;
            Some(ParamValue::Float(x.clamp(*low, *high)))
        }
        (ParamDomain::Choice(options), ParamValue::Choice(s)) if options.contains(s) => {
            Some(value.clone())
        }
        (ParamDomain::Flag, ParamValue::Flag(_)) => Some(value.clone()),
        _ => None,
    }
}

/// Keep only the parameters the space declares, fitted to its domains; drop duplicates (two
/// configs can clamp to the same one) and configurations left empty.
pub(crate) fn warm_starts(space: &[ParamSpec], configs: &[Config]) -> Vec<Vec<Param>> {
    let mut out: Vec<Vec<Param>> = Vec::new();
    for config in configs {
        let params: Vec<Param> = config
            .iter()
            .filter_map(|(name, value)| {
                let spec = space.iter().find(|s| &s.name == name)?;
                Some(Param::new(name.clone(), fit_value(&spec.domain, value)?))
            })
            .collect();
        if !params.is_empty() && !out.contains(&params) {
            out.push(params);
        }
    }
    if out.is_empty() {
        // Nothing we know applies: start from the defaults.
        out.push(
            space
                .iter()
                .map(|s| Param::new(s.name.clone(), s.default.clone()))
                .collect(),
        );
    }
    out
}

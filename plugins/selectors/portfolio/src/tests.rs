use super::*;

fn float(name: &str, low: f64, high: f64, log: bool, default: f64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Float { low, high, log },
        default: ParamValue::Float(default),
    }
}

fn int(name: &str, low: i64, high: i64, default: i64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Int {
            low,
            high,
            log: false,
        },
        default: ParamValue::Int(default),
    }
}

fn gbdt() -> ModelKind {
    ModelKind {
        name: "gbdt".into(),
        description: "boosted trees".into(),
        tasks: vec![Task::Binary, Task::Multiclass, Task::Regression],
        params: vec![
            int("n_rounds", 10, 5000, 300),
            float("learning_rate", 0.005, 0.3, true, 0.1),
            int("num_leaves", 4, 512, 31),
            int("min_data_in_leaf", 1, 500, 20),
            float("feature_fraction", 0.3, 1.0, false, 1.0),
            int("max_bin", 16, 1023, 255),
        ],
        cost: Cost::Medium,
    }
}

fn linear() -> ModelKind {
    ModelKind {
        name: "linear".into(),
        description: "elastic net".into(),
        tasks: vec![Task::Binary, Task::Multiclass, Task::Regression],
        params: vec![
            float("alpha", 1e-6, 10.0, true, 1.0),
            float("l1_ratio", 0.0, 1.0, false, 0.0),
        ],
        cost: Cost::Low,
    }
}

fn request(rows: u64, features: u32, budget: f64, catalogue: Vec<ModelKind>) -> SelectionRequest {
    SelectionRequest {
        meta: MetaFeatures {
            task: Task::Binary,
            rows,
            raw_features: features,
            prepared_features: features,
            numeric_features: features,
            categorical_features: 0,
            datetime_features: 0,
            missing_fraction: 0.0,
            classes: 2,
            minority_class_fraction: 0.4,
        },
        catalogue,
        budget_seconds: budget,
        hardware: Hardware {
            cpus: 4,
            memory_bytes: 8 << 30,
            gpus: 0,
        },
        config: "{}".into(),
    }
}

fn assert_valid(candidates: &[Candidate], catalogue: &[ModelKind]) {
    let total: f64 = candidates.iter().map(|c| c.budget_share).sum();
    assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
    for c in candidates {
        let kind = catalogue
            .iter()
            .find(|k| k.name == c.kind)
            .expect("kind from catalogue");
        assert!(c.budget_share > 0.0 && !c.reason.is_empty());
        // At most the portfolio's four, plus gbdt's long run on large data.
        assert!(
            (1..=5).contains(&c.warm_starts.len()),
            "{} warm starts",
            c.warm_starts.len()
        );
        for spec in &c.search_space {
            assert!(
                kind.param(&spec.name).is_some(),
                "unknown param {}",
                spec.name
            );
            assert!(
                spec.domain.contains(&spec.default),
                "default of {} in domain",
                spec.name
            );
        }
        for ws in &c.warm_starts {
            for p in ws {
                let spec = c
                    .search_space
                    .iter()
                    .find(|s| s.name == p.name)
                    .expect("param in space");
                assert!(
                    spec.domain.contains(&p.value),
                    "{} = {:?} in domain",
                    p.name,
                    p.value
                );
            }
        }
    }
}

#[test]
fn gbdt_leads_on_ordinary_tabular_data() {
    let catalogue = vec![linear(), gbdt()];
    let c = Portfolio::select(&request(50_000, 20, 600.0, catalogue.clone())).unwrap();
    assert_eq!(c[0].kind, "gbdt");
    assert_eq!(c[1].kind, "linear");
    assert!(c[0].budget_share > c[1].budget_share);
    assert_valid(&c, &catalogue);
    // The first warm start is the portfolio's first gbdt config, on the names this small
    // catalogue declares.
    let shipped = shipped::Shipped::load().expect("the shipped portfolio parses");
    let first = &shipped.configs("gbdt")[0];
    for p in &c[0].warm_starts[0] {
        assert!(
            first.iter().any(|(n, _)| *n == p.name),
            "{} not in {first:?}",
            p.name
        );
    }
}

#[test]
fn linear_leads_on_tiny_or_wide_data() {
    let catalogue = vec![gbdt(), linear()];
    let tiny = Portfolio::select(&request(300, 10, 600.0, catalogue.clone())).unwrap();
    assert_eq!(tiny[0].kind, "linear");
    assert_valid(&tiny, &catalogue);
    let wide = Portfolio::select(&request(5_000, 8_000, 600.0, catalogue.clone())).unwrap();
    assert_eq!(wide[0].kind, "linear");
    // Small data narrows trees: num_leaves capped at 31.
    let gbdt_c = tiny.iter().find(|c| c.kind == "gbdt").unwrap();
    let leaves = gbdt_c
        .search_space
        .iter()
        .find(|s| s.name == "num_leaves")
        .unwrap();
    assert!(matches!(leaves.domain, ParamDomain::Int { high: 31, .. }));
}

#[test]
fn tight_budget_on_big_data_narrows_rounds_and_drops_minor_dimensions() {
    let catalogue = vec![gbdt()];
    let c = Portfolio::select(&request(2_000_000, 50, 30.0, catalogue.clone())).unwrap();
    let space = &c[0].search_space;
    let rounds = space.iter().find(|s| s.name == "n_rounds").unwrap();
    assert!(matches!(rounds.domain, ParamDomain::Int { high: 500, .. }));
    assert!(space.iter().all(|s| s.name != "max_bin"));
    let leaf = space.iter().find(|s| s.name == "min_data_in_leaf").unwrap();
    assert!(
        matches!(leaf.domain, ParamDomain::Int { low: 100.., .. }),
        "{leaf:?}"
    );
    assert_valid(&c, &catalogue);
}

#[test]
fn works_with_an_unknown_catalogue() {
    let knn = ModelKind {
        name: "knn".into(),
        description: "nearest neighbours".into(),
        tasks: vec![Task::Binary],
        params: vec![int("k", 1, 50, 5)],
        cost: Cost::Low,
    };
    let forest = ModelKind {
        name: "forest".into(),
        description: "random forest".into(),
        tasks: vec![Task::Regression],
        params: vec![],
        cost: Cost::High,
    };
    let catalogue = vec![knn, forest];
    let c = Portfolio::select(&request(10_000, 10, 600.0, catalogue.clone())).unwrap();
    assert_eq!(c.len(), 1, "forest does not support binary");
    assert_eq!(c[0].kind, "knn");
    assert_eq!(c[0].warm_starts, vec![vec![Param::int("k", 5)]]);
    assert_valid(&c, &catalogue);
}

#[test]
fn warm_starts_only_use_declared_param_names() {
    let mut small = gbdt();
    small.params.retain(|p| p.name == "learning_rate");
    let c = Portfolio::select(&request(50_000, 20, 600.0, vec![small])).unwrap();
    for ws in &c[0].warm_starts {
        assert!(ws.iter().all(|p| p.name == "learning_rate"), "{ws:?}");
    }
}

#[test]
fn no_kind_for_the_task_is_unsupported() {
    let mut r = request(1_000, 5, 60.0, vec![]);
    assert!(matches!(
        Portfolio::select(&r),
        Err(PluginError::Unsupported(_))
    ));
    let mut regression_only = gbdt();
    regression_only.tasks = vec![Task::Regression];
    r.catalogue = vec![regression_only];
    let err = Portfolio::select(&r).unwrap_err();
    assert!(err.to_string().contains("gbdt (regression)"), "{err}");
}

#[test]
fn config_limits_and_excludes_candidates() {
    let mut r = request(50_000, 20, 600.0, vec![gbdt(), linear()]);
    r.config = r#"{"exclude": ["gbdt"]}"#.into();
    let c = Portfolio::select(&r).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, "linear");
    r.config = r#"{"max_candidates": 1}"#.into();
    assert_eq!(Portfolio::select(&r).unwrap().len(), 1);
    r.config = r#"{"max_candidate": 1}"#.into();
    assert!(matches!(
        Portfolio::select(&r),
        Err(PluginError::InvalidConfig(_))
    ));
}

#[test]
fn searches_only_model_choices_in_the_region_good_configurations_live() {
    let mut trees = gbdt();
    trees.params[1] = float("learning_rate", 0.005, 0.5, true, 0.1);
    let catalogue = vec![trees, linear()];
    let c = Portfolio::select(&request(20_000, 20, 600.0, catalogue.clone())).unwrap();
    let trees = c.iter().find(|c| c.kind == "gbdt").unwrap();
    let names: Vec<&str> = trees.search_space.iter().map(|s| s.name.as_str()).collect();
    assert!(!names.contains(&"max_bin"), "{names:?}");
    let lr = trees
        .search_space
        .iter()
        .find(|s| s.name == "learning_rate")
        .unwrap();
    assert!(
        matches!(lr.domain, ParamDomain::Float { high, .. } if high <= 0.3),
        "{lr:?}"
    );
    let lin = c.iter().find(|c| c.kind == "linear").unwrap();
    assert!(lin.search_space.iter().all(|s| s.name != "max_iter"));
    assert_valid(&c, &catalogue);
}

fn zoo() -> Vec<ModelKind> {
    let all = vec![Task::Binary, Task::Multiclass, Task::Regression];
    let kind = |name: &str, params: Vec<ParamSpec>, cost| ModelKind {
        name: name.into(),
        description: name.into(),
        tasks: all.clone(),
        params,
        cost,
    };
    vec![
        gbdt(),
        kind(
            "random_forest",
            vec![
                int("n_trees", 5, 2000, 100),
                int("min_data_in_leaf", 1, 200, 1),
                int("max_depth", -1, 64, -1),
                float("max_samples", 0.05, 1.0, false, 1.0),
            ],
            Cost::Medium,
        ),
        kind("knn", vec![int("n_neighbors", 1, 100, 10)], Cost::Low),
        kind(
            "mlp",
            vec![
                int("hidden_units", 8, 512, 64),
                int("epochs", 1, 500, 50),
                int("early_stopping_epochs", 0, 100, 10),
            ],
            Cost::Medium,
        ),
        linear(),
    ]
}

#[test]
fn the_whole_zoo_gets_rules_and_boosting_keeps_the_lead() {
    let catalogue = zoo();
    let c = Portfolio::select(&request(20_000, 20, 300.0, catalogue.clone())).unwrap();
    assert_valid(&c, &catalogue);
    assert_eq!(c[0].kind, "gbdt");
    let rf = c.iter().find(|c| c.kind == "random_forest").unwrap();
    let names: Vec<&str> = rf.search_space.iter().map(|s| s.name.as_str()).collect();
    assert!(!names.contains(&"max_depth"), "{names:?}");
    assert!(
        !names.contains(&"max_samples"),
        "small data keeps full bootstraps: {names:?}"
    );
    let mlp = c.iter().find(|c| c.kind == "mlp").unwrap();
    assert!(
        mlp.search_space
            .iter()
            .all(|s| s.name != "early_stopping_epochs")
    );
    assert!(mlp.reason.contains("neural network"), "{}", mlp.reason);

    // On big data kNN keeps only a token share, and forests subsample rows.
    let big = Portfolio::select(&request(500_000, 20, 300.0, catalogue.clone())).unwrap();
    assert_valid(&big, &catalogue);
    let knn = big.iter().find(|c| c.kind == "knn").unwrap();
    let gb = big.iter().find(|c| c.kind == "gbdt").unwrap();
    assert!(
        knn.budget_share < gb.budget_share / 10.0,
        "{}",
        knn.budget_share
    );
    let rf = big.iter().find(|c| c.kind == "random_forest").unwrap();
    assert!(rf.search_space.iter().any(|s| s.name == "max_samples"));
}

#[test]
fn a_gpu_raises_the_mlp_share() {
    let catalogue = zoo();
    let mut r = request(20_000, 20, 300.0, catalogue.clone());
    let share = |c: &[Candidate]| c.iter().find(|c| c.kind == "mlp").unwrap().budget_share;
    let cpu = share(&Portfolio::select(&r).unwrap());
    r.hardware.gpus = 1;
    let gpu = share(&Portfolio::select(&r).unwrap());
    assert!(gpu > cpu, "gpu {gpu} vs cpu {cpu}");
}

// ── the learned portfolio ──────────────────────────────────────────────────────────────────

fn choice(name: &str, options: &[&str], default: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Choice(options.iter().map(|s| s.to_string()).collect()),
        default: ParamValue::Choice(default.into()),
    }
}

fn flag(name: &str, default: bool) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Flag,
        default: ParamValue::Flag(default),
    }
}

fn log_int(name: &str, low: i64, high: i64, default: i64) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        domain: ParamDomain::Int {
            low,
            high,
            log: true,
        },
        default: ParamValue::Int(default),
    }
}

/// The host trainer's catalogue as it stands (a copy of `host/train/src/catalogue.rs`, which
/// this wasm crate cannot depend on): the domains the shipped configs must lie in.
fn host_catalogue() -> Vec<ModelKind> {
    let all = vec![Task::Binary, Task::Multiclass, Task::Regression];
    let kind = |name: &str, params: Vec<ParamSpec>, cost| ModelKind {
        name: name.into(),
        description: name.into(),
        tasks: all.clone(),
        params,
        cost,
    };
    let forest = |extra: bool| {
        vec![
            log_int("n_trees", 1, 2000, 100),
            choice(
                "max_features",
                &["sqrt", "log2", "third", "half", "all"],
                "sqrt",
            ),
            log_int("min_data_in_leaf", 1, 200, 1),
            int("max_depth", -1, 64, -1),
            log_int("max_leaves", 2, 65536, 4096),
            flag("bootstrap", !extra),
            float("max_samples", 0.05, 1.0, false, 1.0),
            int("max_bin", 4, 255, 255),
        ]
    };
    vec![
        kind(
            "gbdt",
            vec![
                log_int("n_rounds", 1, 5000, 100),
                float("learning_rate", 0.005, 0.5, true, 0.1),
                log_int("num_leaves", 2, 1024, 31),
                int("max_depth", -1, 32, -1),
                log_int("min_data_in_leaf", 1, 1000, 20),
                float("min_sum_hessian", 1e-5, 10.0, true, 1e-3),
                float("min_gain_to_split", 0.0, 1.0, false, 0.0),
                float("lambda_l1", 1e-8, 10.0, true, 1e-8),
                float("lambda_l2", 1e-8, 10.0, true, 1e-8),
                float("feature_fraction", 0.1, 1.0, false, 1.0),
                float("bagging_fraction", 0.1, 1.0, false, 1.0),
                float("feature_fraction_bynode", 0.1, 1.0, false, 1.0),
                flag("extra_trees", false),
                int("max_bin", 4, 255, 255),
                int("early_stopping_rounds", 0, 1000, 20),
                choice("objective", &["l2", "huber"], "l2"),
                float("huber_delta", 1e-3, 1e3, true, 1.0),
            ],
            Cost::Medium,
        ),
        kind("random_forest", forest(false), Cost::Medium),
        kind("extra_trees", forest(true), Cost::Medium),
        kind(
            "linear",
            vec![
                float("alpha", 1e-6, 100.0, true, 1e-3),
                float("l1_ratio", 0.0, 1.0, false, 0.0),
                log_int("max_iter", 10, 10000, 500),
                float("tol", 1e-8, 1e-2, true, 1e-6),
            ],
            Cost::Low,
        ),
        kind(
            "knn",
            vec![
                log_int("n_neighbors", 1, 100, 10),
                choice("weights", &["uniform", "distance"], "uniform"),
                choice("metric", &["euclidean", "manhattan"], "euclidean"),
            ],
            Cost::Low,
        ),
        kind(
            "mlp",
            vec![
                int("hidden_layers", 1, 3, 2),
                log_int("hidden_units", 8, 512, 64),
                float("learning_rate", 1e-4, 1e-1, true, 1e-3),
                log_int("epochs", 1, 500, 50),
                log_int("batch_size", 16, 1024, 128),
                float("weight_decay", 1e-8, 1e-2, true, 1e-5),
                float("dropout", 0.0, 0.5, false, 0.0),
                int("early_stopping_epochs", 0, 100, 10),
            ],
            Cost::Medium,
        ),
    ]
}

fn as_params(config: &shipped::Config) -> Vec<Param> {
    config
        .iter()
        .map(|(n, v)| Param::new(n.clone(), v.clone()))
        .collect()
}

#[test]
fn the_shipped_portfolio_parses_and_covers_every_host_kind() {
    let shipped = shipped::Shipped::load().expect("portfolio.json parses");
    let kinds: Vec<&str> = shipped.kinds().collect();
    for kind in host_catalogue() {
        let configs = shipped.configs(&kind.name);
        assert!(
            (1..=4).contains(&configs.len()),
            "{}: {} configs (kinds: {kinds:?})",
            kind.name,
            configs.len()
        );
    }
}

#[test]
fn every_shipped_config_lies_inside_its_kinds_domain() {
    let shipped = shipped::Shipped::load().expect("portfolio.json parses");
    for kind in host_catalogue() {
        for (i, config) in shipped.configs(&kind.name).iter().enumerate() {
            assert!(!config.is_empty(), "{} config {i} is empty", kind.name);
            for (name, value) in config {
                let spec = kind
                    .param(name)
                    .unwrap_or_else(|| panic!("{} config {i}: unknown param {name}", kind.name));
                assert!(
                    spec.domain.contains(value),
                    "{} config {i}: {name} = {value:?} outside {:?}",
                    kind.name,
                    spec.domain
                );
                // The value's type is the domain's: an integer parameter holds an integer.
                assert_eq!(
                    matches!(value, ParamValue::Int(_)),
                    matches!(spec.domain, ParamDomain::Int { .. }),
                    "{} config {i}: {name} = {value:?} for {:?}",
                    kind.name,
                    spec.domain
                );
            }
        }
    }
}

#[test]
fn warm_starts_are_the_portfolio_in_order_when_nothing_needs_clamping() {
    // Mid-size data and a generous budget: the narrowed spaces hold every shipped value.
    let catalogue = host_catalogue();
    let shipped = shipped::Shipped::load().expect("portfolio.json parses");
    let c = Portfolio::select(&request(20_000, 20, 600.0, catalogue.clone())).unwrap();
    assert_valid(&c, &catalogue);
    for candidate in &c {
        let expected: Vec<Vec<Param>> = shipped
            .configs(&candidate.kind)
            .iter()
            .map(as_params)
            .collect();
        assert_eq!(candidate.warm_starts, expected, "{}", candidate.kind);
    }
    let gbdt = c.iter().find(|c| c.kind == "gbdt").unwrap();
    assert_eq!(
        gbdt.warm_starts[0],
        as_params(&shipped.configs("gbdt")[0]),
        "the first gbdt warm start is the portfolio's first entry"
    );
}

#[test]
fn large_data_tries_one_long_early_stopped_boosting_run_second() {
    let catalogue = host_catalogue();
    let shipped = shipped::Shipped::load().expect("portfolio.json parses");
    let long = |rows: u64, budget: f64| {
        let c = Portfolio::select(&request(rows, 20, budget, catalogue.clone())).unwrap();
        assert_valid(&c, &catalogue);
        let gbdt = c.iter().find(|c| c.kind == "gbdt").unwrap().clone();
        let rounds = |w: &Vec<Param>| {
            w.iter()
                .find(|p| p.name == "n_rounds")
                .and_then(|p| match p.value {
                    ParamValue::Int(v) => Some(v),
                    _ => None,
                })
        };
        (gbdt.warm_starts.len(), rounds(&gbdt.warm_starts[1]))
    };
    let portfolio = shipped.configs("gbdt").len();
    // 300k rows, a minute: the long run comes second, with thousands of rounds.
    assert_eq!(long(300_000, 600.0), (portfolio + 1, Some(3_000)));
    // Mid-size data or a tight budget: the learned portfolio alone.
    assert_eq!(long(20_000, 600.0).0, portfolio);
    assert_eq!(long(300_000, 20.0).0, portfolio);
}

#[test]
fn tight_budgets_and_big_data_adjust_the_portfolio() {
    let catalogue = host_catalogue();
    let value = |c: &[Candidate], kind: &str, name: &str| -> Vec<f64> {
        c.iter()
            .find(|c| c.kind == kind)
            .unwrap()
            .warm_starts
            .iter()
            .filter_map(|w| w.iter().find(|p| p.name == name))
            .filter_map(|p| p.value.as_f64())
            .collect()
    };
    // 2M rows × 50 features in 30 s is tight: fewer trees, shorter MLP training, boosting
    // clamped into the narrowed space (at most 500 rounds, learning rate at least 0.03).
    let tight = Portfolio::select(&request(2_000_000, 50, 30.0, catalogue.clone())).unwrap();
    assert_valid(&tight, &catalogue);
    for kind in ["random_forest", "extra_trees"] {
        let trees = value(&tight, kind, "n_trees");
        assert!(
            !trees.is_empty() && trees.iter().all(|&t| t <= 100.0),
            "{kind}: {trees:?}"
        );
        // Big data: bootstrap samples of a fraction of the rows.
        let samples = value(&tight, kind, "max_samples");
        assert_eq!(samples.len(), trees.len(), "{kind}: {samples:?}");
        assert!(samples.iter().all(|&s| s <= 0.3), "{kind}: {samples:?}");
    }
    let epochs = value(&tight, "mlp", "epochs");
    assert!(epochs.iter().all(|&e| e <= 20.0), "{epochs:?}");
    let rounds = value(&tight, "gbdt", "n_rounds");
    assert!(rounds.iter().all(|&r| r <= 500.0), "{rounds:?}");
    let lr = value(&tight, "gbdt", "learning_rate");
    assert!(lr.iter().all(|&r| r >= 0.03), "{lr:?}");
    let leaf = value(&tight, "gbdt", "min_data_in_leaf");
    assert!(leaf.iter().all(|&m| m >= 100.0), "{leaf:?}");

    // Tiny data: trees capped at 31 leaves, leaves of at most rows / 20 rows.
    let tiny = Portfolio::select(&request(200, 5, 600.0, catalogue.clone())).unwrap();
    assert_valid(&tiny, &catalogue);
    assert!(
        value(&tiny, "gbdt", "num_leaves")
            .iter()
            .all(|&l| l <= 31.0)
    );
    assert!(
        value(&tiny, "gbdt", "min_data_in_leaf")
            .iter()
            .all(|&m| m <= 10.0)
    );
}

#[test]
fn a_malformed_portfolio_is_an_error_that_names_the_entry() {
    assert!(shipped::Shipped::parse(r#"{"format": 1, "kinds": {}}"#).is_ok());
    let err = shipped::Shipped::parse(r#"{"format": 2, "kinds": {}}"#).unwrap_err();
    assert!(err.to_string().contains("format 2"), "{err}");
    let err = shipped::Shipped::parse(
        r#"{"format": 1, "kinds": {"gbdt": [{"params": {"num_leaves": [1]}}]}}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("gbdt entry 0") && err.to_string().contains("num_leaves"),
        "{err}"
    );
    let empty = shipped::Shipped::parse(r#"{"format": 1, "kinds": {}}"#).unwrap();
    assert!(empty.configs("gbdt").is_empty());
}

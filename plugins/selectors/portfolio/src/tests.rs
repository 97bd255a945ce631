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
        assert!(
            (1..=4).contains(&c.warm_starts.len()),
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
    let first = &c[0].warm_starts[0];
    assert!(first.contains(&Param::int("num_leaves", 31)));
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

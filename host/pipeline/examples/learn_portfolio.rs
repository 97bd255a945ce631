//! Learns the `portfolio` selector's zero-shot warm starts from the public datasets.
//!
//! Method (in the spirit of AutoGluon's zero-shot portfolios and FLAML's zero-shot defaults;
//! `plugins/selectors/portfolio/PORTFOLIO.md` explains it in full):
//!
//! 1. **Candidates** per model kind: the trainer defaults, the warm starts `rules.rs` shipped
//!    before this portfolio, and seeded random samples of the region the selector searches.
//! 2. **Evaluation**: every candidate on every public dataset's *training* file only
//!    (`NAME.train.csv`; the test files are the benchmark's held-out data and are never read),
//!    on a seeded sample of at most `--max-rows` rows, by stratified k-fold cross-validation.
//!    Each fold is prepared like a pipeline prepares data: the real `standard` preparer component
//!    is fitted on the fold's training part and transforms its validation part. Each config is
//!    first clamped into the search space the real `portfolio` selector component returns for
//!    that dataset, as the selector does with warm starts, so what is fitted is what a pipeline
//!    would try. Early stopping uses the fold's validation part, as in a pipeline trial. Scores:
//!    ROC-AUC (binary), log-loss (multiclass), R² (regression), averaged over folds. Raw results
//!    are cached (`--results`), so a re-run evaluates only what is missing.
//! 3. **Normalisation** per dataset over all configs of all kinds, by rank: the best config has
//!    error 0, the worst 1 (ties share their average rank; a failed config counts as worst).
//! 4. **Greedy forward selection** per kind: the first config minimises the mean normalised
//!    error over datasets; each next one most reduces the mean over datasets of the best error in
//!    the portfolio so far. Among configs within `--tie` of the best choice, the cheapest (fit
//!    time relative to the kind's median on each dataset, geometric mean) wins. A kind's
//!    portfolio stops growing at its maximum size or when a config gains less than `--min-gain`.
//! 5. **Leave-one-dataset-out**: for each dataset, the portfolio learned on the others is
//!    compared on it with the old `rules.rs` warm starts.
//!
//! Usage (the plugins must be built: `bash scripts/build-plugins.sh`):
//!
//! ```text
//! cargo run --release -p microlearn-pipeline --example learn_portfolio -- \
//!     [--datasets DIR] [--plugins DIR] [--results FILE] [--out FILE] [--only a,b] \
//!     [--max-rows 8000] [--folds 3] [--seed 0] [--jobs 2] [--fit-deadline 30] \
//!     [--samples gbdt=40,random_forest=10,...] [--tie 0.003] [--min-gain 0.005] \
//!     [--evaluate-only] [--no-write]
//! ```

use microlearn_core::stages::{Hardware, SelectionRequest};
use microlearn_core::{ParamDomain, ParamSpec, ParamValue, Params, Stage, Table, Task};
use microlearn_data::TargetInfo;
use microlearn_pipeline::features::{
    meta_features, subset_target, table_to_matrix, target_column, train_target,
};
use microlearn_plugins::{PluginHost, PreparerHandle, RuntimeConfig, SelectorHandle};
use microlearn_train::{FitOptions, Matrix, Predictions, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The kinds the portfolio covers, in the order they are reported.
const KINDS: [&str; 6] = [
    "gbdt",
    "random_forest",
    "extra_trees",
    "linear",
    "knn",
    "mlp",
];

/// Default number of random samples per kind: boosting matters most and has the largest space;
/// the averaging ensembles and kNN have few dimensions worth searching; the MLP is the dearest
/// to evaluate on CPU.
const DEFAULT_SAMPLES: [(&str, usize); 6] = [
    ("gbdt", 40),
    ("random_forest", 10),
    ("extra_trees", 10),
    ("linear", 10),
    ("knn", 10),
    ("mlp", 12),
];

/// Largest portfolio per kind. Every warm start costs a trial before the search proper, and a
/// 15–60 s budget affords only so many, so the cheap-to-try kinds get no more than the others.
const MAX_SIZE: [(&str, usize); 6] = [
    ("gbdt", 4),
    ("random_forest", 2),
    ("extra_trees", 2),
    ("linear", 3),
    ("knn", 2),
    ("mlp", 2),
];

/// A budget the selector never calls tight (see its `Profile::tight`), so the spaces fitted here
/// are the unconstrained ones; at run time the selector clamps the same configs into tighter
/// spaces where the budget asks for it.
const GENEROUS_BUDGET_SECS: f64 = 3600.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    max_rows: usize,
    folds: usize,
    seed: u64,
    fit_deadline_secs: f64,
}

struct Options {
    datasets: PathBuf,
    plugins: PathBuf,
    results: PathBuf,
    out: PathBuf,
    only: Option<Vec<String>>,
    settings: Settings,
    jobs: usize,
    samples: BTreeMap<String, usize>,
    tie: f64,
    min_gain: f64,
    evaluate_only: bool,
    write: bool,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse_args() -> Result<Options, Error> {
    let root = repo_root();
    let build = std::env::var_os("MICROLEARN_PLUGIN_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut o = Options {
        datasets: root.join("../shared/datasets"),
        plugins: build.join("microlearn-plugins"),
        results: root.join("target/portfolio-results.json"),
        out: root.join("plugins/selectors/portfolio/src/portfolio.json"),
        only: None,
        settings: Settings {
            max_rows: 8000,
            folds: 3,
            seed: 0,
            fit_deadline_secs: 30.0,
        },
        jobs: 2,
        samples: DEFAULT_SAMPLES
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        tie: 0.003,
        min_gain: 0.005,
        evaluate_only: false,
        write: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--datasets" => o.datasets = value()?.into(),
            "--plugins" => o.plugins = value()?.into(),
            "--results" => o.results = value()?.into(),
            "--out" => o.out = value()?.into(),
            "--only" => o.only = Some(value()?.split(',').map(String::from).collect()),
            "--max-rows" => o.settings.max_rows = parse_num(&flag, &value()?)?,
            "--folds" => o.settings.folds = parse_num(&flag, &value()?)?,
            "--seed" => o.settings.seed = parse_num(&flag, &value()?)?,
            "--fit-deadline" => o.settings.fit_deadline_secs = parse_num(&flag, &value()?)?,
            "--jobs" => o.jobs = parse_num::<usize>(&flag, &value()?)?.max(1),
            "--tie" => o.tie = parse_num(&flag, &value()?)?,
            "--min-gain" => o.min_gain = parse_num(&flag, &value()?)?,
            "--samples" => {
                for item in value()?.split(',') {
                    let (kind, n) = item
                        .split_once('=')
                        .ok_or_else(|| format!("--samples: '{item}' is not KIND=N"))?;
                    if !KINDS.contains(&kind) {
                        return Err(format!(
                            "--samples: unknown kind '{kind}' (kinds: {})",
                            KINDS.join(", ")
                        )
                        .into());
                    }
                    o.samples.insert(kind.into(), parse_num(&flag, n)?);
                }
            }
            "--evaluate-only" => o.evaluate_only = true,
            "--no-write" => o.write = false,
            other => return Err(format!("unknown argument '{other}' (see the file's docs)").into()),
        }
    }
    if o.settings.folds < 2 {
        return Err("--folds must be at least 2".into());
    }
    Ok(o)
}

fn parse_num<T: std::str::FromStr>(flag: &str, s: &str) -> Result<T, Error> {
    s.parse()
        .map_err(|_| format!("{flag}: '{s}' is not a valid number").into())
}

// ── candidates ─────────────────────────────────────────────────────────────────────────────

/// One configuration to evaluate.
#[derive(Debug, Clone)]
struct Config {
    kind: &'static str,
    /// Where it comes from: `trainer defaults`, `rules.rs warm start N`, `sample N`.
    origin: String,
    /// The parameters as the portfolio would ship them (before clamping into a dataset's space).
    params: Params,
    /// For the old warm starts that depended on the data size: the rows the rule applied to.
    old_rule: Option<OldRule>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum OldRule {
    Always,
    /// `rules.rs` used this config only below 10 000 rows.
    SmallData,
    /// … and this one only from 10 000 rows.
    LargeData,
}

impl Config {
    fn key(&self) -> String {
        serde_json::to_string(&self.params).unwrap_or_default()
    }

    fn is_old(&self, rows: u64) -> bool {
        match self.old_rule {
            None => false,
            Some(OldRule::Always) => true,
            Some(OldRule::SmallData) => rows < 10_000,
            Some(OldRule::LargeData) => rows >= 10_000,
        }
    }
}

/// A sampling range; each must lie inside the catalogue's domain for the same name (checked).
#[derive(Debug, Clone)]
enum Region {
    Float { low: f64, high: f64, log: bool },
    Int { low: i64, high: i64, log: bool },
    Choice(&'static [&'static str]),
}

/// Where the random candidates are drawn: the region the selector searches when the budget is
/// not tight, on the dimensions it keeps in every case. Two departures, both for the cost of
/// this study: boosting rounds are capped at 1 000 (early stopping ends most fits well before),
/// and `min_data_in_leaf` is drawn from [2, 200] (the selector scales its range with the rows;
/// each config is clamped into that range per dataset anyway). The minor boosting dimensions the
/// selector drops on tight budgets (`lambda_l1`, `min_sum_hessian`, `feature_fraction_bynode`,
/// `extra_trees`) stay at their defaults, so a learned config means the same on every budget.
fn region(kind: &str) -> Vec<(&'static str, Region)> {
    use Region::*;
    match kind {
        "gbdt" => vec![
            (
                "n_rounds",
                Int {
                    low: 50,
                    high: 1000,
                    log: true,
                },
            ),
            (
                "learning_rate",
                Float {
                    low: 0.01,
                    high: 0.3,
                    log: true,
                },
            ),
            (
                "num_leaves",
                Int {
                    low: 4,
                    high: 256,
                    log: true,
                },
            ),
            (
                "min_data_in_leaf",
                Int {
                    low: 2,
                    high: 200,
                    log: true,
                },
            ),
            (
                "feature_fraction",
                Float {
                    low: 0.4,
                    high: 1.0,
                    log: false,
                },
            ),
            (
                "bagging_fraction",
                Float {
                    low: 0.5,
                    high: 1.0,
                    log: false,
                },
            ),
            (
                "lambda_l2",
                Float {
                    low: 1e-8,
                    high: 10.0,
                    log: true,
                },
            ),
        ],
        "random_forest" | "extra_trees" => vec![
            (
                "n_trees",
                Int {
                    low: 30,
                    high: 500,
                    log: true,
                },
            ),
            (
                "max_features",
                Choice(&["sqrt", "log2", "third", "half", "all"]),
            ),
            (
                "min_data_in_leaf",
                Int {
                    low: 1,
                    high: 20,
                    log: true,
                },
            ),
        ],
        "linear" => vec![
            (
                "alpha",
                Float {
                    low: 1e-6,
                    high: 10.0,
                    log: true,
                },
            ),
            (
                "l1_ratio",
                Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                },
            ),
        ],
        "knn" => vec![
            (
                "n_neighbors",
                Int {
                    low: 3,
                    high: 50,
                    log: true,
                },
            ),
            ("weights", Choice(&["uniform", "distance"])),
            ("metric", Choice(&["euclidean", "manhattan"])),
        ],
        "mlp" => vec![
            (
                "hidden_layers",
                Int {
                    low: 1,
                    high: 2,
                    log: false,
                },
            ),
            (
                "hidden_units",
                Int {
                    low: 16,
                    high: 256,
                    log: true,
                },
            ),
            (
                "learning_rate",
                Float {
                    low: 1e-4,
                    high: 1e-2,
                    log: true,
                },
            ),
            (
                "epochs",
                Int {
                    low: 5,
                    high: 200,
                    log: true,
                },
            ),
            (
                "batch_size",
                Int {
                    low: 32,
                    high: 512,
                    log: true,
                },
            ),
            (
                "weight_decay",
                Float {
                    low: 1e-8,
                    high: 1e-2,
                    log: true,
                },
            ),
            (
                "dropout",
                Float {
                    low: 0.0,
                    high: 0.5,
                    log: false,
                },
            ),
        ],
        _ => vec![],
    }
}

/// `x` to three significant digits, so shipped configs read well and what is evaluated is
/// exactly what is shipped.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 2 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn sample(region: &Region, rng: &mut ChaCha8Rng) -> ParamValue {
    match region {
        Region::Float { low, high, log } => {
            let u: f64 = rng.random();
            let x = if *log {
                (low.ln() + u * (high.ln() - low.ln())).exp()
            } else {
                low + u * (high - low)
            };
            ParamValue::Float(round_sig(x).clamp(*low, *high))
        }
        Region::Int { low, high, log } => {
            let v = if *log {
                let u: f64 = rng.random();
                let lo = *low as f64;
                let hi = (*high + 1) as f64;
                ((lo.ln() + u * (hi.ln() - lo.ln())).exp().floor() as i64).clamp(*low, *high)
            } else {
                rng.random_range(*low..=*high)
            };
            ParamValue::Int(v)
        }
        Region::Choice(options) => {
            ParamValue::Choice(options[rng.random_range(0..options.len())].to_string())
        }
    }
}

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    let mut p = Params::new();
    for (name, value) in pairs {
        p.set(*name, value.clone());
    }
    p
}

/// The warm starts `plugins/selectors/portfolio/src/rules.rs` returned before the learned
/// portfolio replaced them, as written there for a budget that is not tight (parameters the
/// selector's space does not hold, such as `early_stopping_rounds`, are dropped when a config is
/// clamped into a dataset's space, as the selector itself dropped them).
fn old_warm_starts(kind: &'static str) -> Vec<(Params, OldRule)> {
    use ParamValue::{Choice, Float, Int};
    let a = OldRule::Always;
    match kind {
        "gbdt" => vec![
            (
                params(&[
                    ("num_leaves", Int(31)),
                    ("learning_rate", Float(0.1)),
                    ("n_rounds", Int(200)),
                    ("min_data_in_leaf", Int(20)),
                    ("feature_fraction", Float(0.9)),
                    ("bagging_fraction", Float(0.9)),
                    ("early_stopping_rounds", Int(50)),
                ]),
                a,
            ),
            (
                params(&[
                    ("num_leaves", Int(31)),
                    ("learning_rate", Float(0.05)),
                    ("n_rounds", Int(500)),
                    ("min_data_in_leaf", Int(20)),
                    ("feature_fraction", Float(0.8)),
                    ("bagging_fraction", Float(0.8)),
                    ("lambda_l2", Float(1.0)),
                    ("early_stopping_rounds", Int(50)),
                ]),
                a,
            ),
            (
                params(&[
                    ("num_leaves", Int(15)),
                    ("max_depth", Int(6)),
                    ("learning_rate", Float(0.05)),
                    ("n_rounds", Int(300)),
                    ("min_data_in_leaf", Int(5)),
                    ("lambda_l2", Float(1.0)),
                    ("early_stopping_rounds", Int(50)),
                ]),
                OldRule::SmallData,
            ),
            (
                params(&[
                    ("num_leaves", Int(127)),
                    ("learning_rate", Float(0.05)),
                    ("n_rounds", Int(500)),
                    ("min_data_in_leaf", Int(100)),
                    ("feature_fraction", Float(0.7)),
                    ("bagging_fraction", Float(0.8)),
                    ("early_stopping_rounds", Int(50)),
                ]),
                OldRule::LargeData,
            ),
        ],
        "random_forest" | "extra_trees" => vec![
            (
                params(&[
                    ("n_trees", Int(200)),
                    ("min_data_in_leaf", Int(1)),
                    ("max_samples", Float(0.1)),
                ]),
                a,
            ),
            (
                params(&[
                    ("n_trees", Int(200)),
                    ("max_features", Choice("half".into())),
                    ("min_data_in_leaf", Int(3)),
                    ("max_samples", Float(0.2)),
                ]),
                a,
            ),
        ],
        "linear" => vec![
            (
                params(&[("alpha", Float(1.0)), ("l1_ratio", Float(0.0))]),
                a,
            ),
            (
                params(&[("alpha", Float(0.1)), ("l1_ratio", Float(0.15))]),
                a,
            ),
            (
                params(&[("alpha", Float(0.01)), ("l1_ratio", Float(0.5))]),
                a,
            ),
        ],
        "knn" => vec![(
            params(&[
                ("n_neighbors", Int(15)),
                ("weights", Choice("distance".into())),
            ]),
            a,
        )],
        "mlp" => vec![(
            params(&[
                ("hidden_layers", Int(2)),
                ("hidden_units", Int(128)),
                ("learning_rate", Float(1e-3)),
                ("epochs", Int(60)),
                ("batch_size", Int(256)),
            ]),
            a,
        )],
        _ => vec![],
    }
}

/// Every candidate of every kind, deterministic for `seed`: sample `i` of a kind has its own
/// stream, so asking for more samples later keeps the first ones (and their cached results).
fn candidates(opts: &Options) -> Result<Vec<Config>, Error> {
    let catalogue = microlearn_train::catalogue();
    let mut out = Vec::new();
    for kind in KINDS {
        let specs = &catalogue
            .iter()
            .find(|k| k.name == kind)
            .ok_or_else(|| format!("the trainer's catalogue has no kind '{kind}'"))?
            .params;
        let spec = |name: &str| -> Result<&ParamSpec, Error> {
            specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("{kind} has no parameter '{name}'").into())
        };
        let region = region(kind);
        // The sampling region must lie inside the catalogue's domain, or the study would
        // evaluate configurations no pipeline can run.
        for (name, r) in &region {
            let s = spec(name)?;
            let inside = match (r, &s.domain) {
                (
                    Region::Float { low, high, .. },
                    ParamDomain::Float {
                        low: l, high: h, ..
                    },
                ) => low >= l && high <= h,
                (
                    Region::Int { low, high, .. },
                    ParamDomain::Int {
                        low: l, high: h, ..
                    },
                ) => low >= l && high <= h,
                (Region::Choice(options), ParamDomain::Choice { options: allowed }) => {
                    options.iter().all(|o| allowed.iter().any(|a| a == o))
                }
                _ => false,
            };
            if !inside {
                return Err(format!(
                    "sampling region of {kind}.{name} ({r:?}) is outside the catalogue's domain {:?}",
                    s.domain
                )
                .into());
            }
        }
        let mut defaults = Params::new();
        for (name, _) in &region {
            defaults.set(*name, spec(name)?.default.clone());
        }
        out.push(Config {
            kind,
            origin: "trainer defaults".into(),
            params: defaults,
            old_rule: None,
        });
        for (i, (p, rule)) in old_warm_starts(kind).into_iter().enumerate() {
            out.push(Config {
                kind,
                origin: format!("rules.rs warm start {}", i + 1),
                params: p,
                old_rule: Some(rule),
            });
        }
        let n = opts.samples.get(kind).copied().unwrap_or(0);
        let kind_hash = kind.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        for i in 0..n {
            let mut rng = ChaCha8Rng::seed_from_u64(
                opts.settings.seed ^ kind_hash ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut p = Params::new();
            for (name, r) in &region {
                p.set(*name, sample(r, &mut rng));
            }
            out.push(Config {
                kind,
                origin: format!("sample {i}"),
                params: p,
                old_rule: None,
            });
        }
    }
    // Two sources can propose the same configuration; evaluate it once, under its first origin.
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert((c.kind, c.key())));
    Ok(out)
}

/// `params` as the selector would hand it to a pipeline with `space`: names the space does not
/// hold dropped, numbers clamped into their domain (the selector's `fit_value`).
fn deliver(params: &Params, space: &[ParamSpec]) -> Params {
    let mut out = Params::new();
    for (name, value) in &params.0 {
        let Some(spec) = space.iter().find(|s| &s.name == name) else {
            continue;
        };
        let fitted = match (&spec.domain, value) {
            (ParamDomain::Int { low, high, .. }, v) => v
                .as_f64()
                .map(|x| ParamValue::Int((x.round() as i64).clamp(*low, *high))),
            (ParamDomain::Float { low, high, .. }, v) => {
                v.as_f64().map(|x| ParamValue::Float(x.clamp(*low, *high)))
            }
            (ParamDomain::Choice { options }, ParamValue::Choice(s)) if options.contains(s) => {
                Some(value.clone())
            }
            (ParamDomain::Flag, ParamValue::Flag(_)) => Some(value.clone()),
            _ => None,
        };
        if let Some(v) = fitted {
            out.set(name.clone(), v);
        }
    }
    out
}

// ── data ───────────────────────────────────────────────────────────────────────────────────

struct Fold {
    x_train: Matrix,
    y_train: Target,
    x_valid: Matrix,
    y_valid: Target,
}

struct PreparedData {
    name: String,
    task: Task,
    train_rows: usize,
    used_rows: usize,
    features: usize,
    /// Rows the selector was told about (a fold's training part).
    fold_rows: u64,
    folds: Vec<Fold>,
    /// The selector's search space per kind for this dataset.
    spaces: HashMap<String, Vec<ParamSpec>>,
}

#[derive(Debug, Clone, Deserialize)]
struct ManifestEntry {
    name: String,
    task: Task,
    target: String,
    files: ManifestFiles,
}

#[derive(Debug, Clone, Deserialize)]
struct ManifestFiles {
    train: String,
}

fn read_manifest(dir: &Path) -> Result<Vec<ManifestEntry>, Error> {
    #[derive(Deserialize)]
    struct Manifest {
        datasets: Vec<ManifestEntry>,
    }
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (pass --datasets DIR)", path.display()))?;
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(m.datasets)
}

/// Stratified k-fold assignment: rows grouped by class (or by one of ten target quantile bins
/// for regression), each group shuffled and dealt round-robin, continuing where the previous
/// group stopped, so folds differ in size by at most one row and keep the class mix.
fn fold_of_rows(target: &TargetInfo, folds: usize, seed: u64) -> Vec<usize> {
    let n = target.y.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF01D);
    let mut order: Vec<usize> = (0..n).collect();
    // Shuffle first so ties in the sort below are broken randomly.
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let strata: Vec<Vec<usize>> = if target.task.is_classification() {
        let classes = target.labels.len().max(1);
        let mut s = vec![Vec::new(); classes];
        for &r in &order {
            s[(target.y[r] as usize).min(classes - 1)].push(r);
        }
        s
    } else {
        order.sort_by(|&a, &b| target.y[a].total_cmp(&target.y[b]));
        let bins = 10.min(n.max(1));
        let mut s = vec![Vec::new(); bins];
        for (rank, &r) in order.iter().enumerate() {
            s[rank * bins / n.max(1)].push(r);
        }
        for group in &mut s {
            for i in (1..group.len()).rev() {
                let j = rng.random_range(0..=i);
                group.swap(i, j);
            }
        }
        s
    };
    let mut fold = vec![0; n];
    let mut next = 0;
    for group in strata {
        for r in group {
            fold[r] = next % folds;
            next += 1;
        }
    }
    fold
}

fn prepare(
    entry: &ManifestEntry,
    dir: &Path,
    preparer: &PreparerHandle,
    selector: &SelectorHandle,
    settings: &Settings,
) -> Result<PreparedData, Error> {
    let path = dir.join(&entry.files.train);
    let dataset = microlearn_data::read_dataset(&path)?;
    let (features, target) =
        microlearn_data::split_target(&dataset, &entry.target, Some(entry.task))?;
    let train_rows = features.num_rows();
    // A seeded uniform sample keeps the cost of the study bounded on the large sets.
    let sample = microlearn_data::sample_rows(train_rows, settings.max_rows, settings.seed);
    let features = features.take(&sample);
    let target = subset_target(&target, &sample);
    let fold_of = fold_of_rows(&target, settings.folds, settings.seed);
    let config = "{}";
    let mut folds = Vec::with_capacity(settings.folds);
    let mut first_fit: Option<(Table, Vec<usize>)> = None;
    for k in 0..settings.folds {
        let train: Vec<usize> = (0..fold_of.len()).filter(|&r| fold_of[r] != k).collect();
        let valid: Vec<usize> = (0..fold_of.len()).filter(|&r| fold_of[r] == k).collect();
        let fit_y = subset_target(&target, &train);
        let valid_y = subset_target(&target, &valid);
        let all_fit: Vec<usize> = (0..train.len()).collect();
        let all_valid: Vec<usize> = (0..valid.len()).collect();
        let (state, fitted) = preparer.fit(
            &features.take(&train),
            &target_column(&fit_y, &all_fit),
            entry.task,
            config,
        )?;
        let valid_prepared = preparer.transform_like(&state, &features.take(&valid), &fitted)?;
        let x_train = table_to_matrix(&fitted, Stage::Preparing)?;
        let x_valid = table_to_matrix(&valid_prepared, Stage::Preparing)?;
        if first_fit.is_none() {
            first_fit = Some((features.take(&train), train.clone()));
        }
        folds.push(Fold {
            x_train,
            y_train: train_target(&fit_y, &all_fit),
            x_valid,
            y_valid: train_target(&valid_y, &all_valid),
        });
    }
    let (raw, rows) = first_fit.ok_or("no folds")?;
    let width = folds[0].x_train.n_cols();
    let fold_y = subset_target(&target, &rows);
    let all: Vec<usize> = (0..rows.len()).collect();
    let catalogue: Vec<_> = microlearn_train::catalogue()
        .into_iter()
        .filter(|k| k.tasks.contains(&entry.task))
        .collect();
    let request = SelectionRequest {
        meta: meta_features(entry.task, &raw, &dataset.schema, &fold_y, &all, width),
        catalogue,
        budget_seconds: GENEROUS_BUDGET_SECS,
        hardware: Hardware {
            cpus: 2,
            memory_bytes: 8 << 30,
            gpus: 0,
        },
        config: "{}".into(),
    };
    let fold_rows = request.meta.rows;
    let spaces = selector
        .select(&request)?
        .into_iter()
        .map(|c| (c.kind, c.search_space))
        .collect();
    Ok(PreparedData {
        name: entry.name.clone(),
        task: entry.task,
        train_rows,
        used_rows: sample.len(),
        features: width,
        fold_rows,
        folds,
        spaces,
    })
}

// ── metrics ────────────────────────────────────────────────────────────────────────────────

/// The benchmark metric of `task` on one fold: ROC-AUC, log-loss or R².
fn metric(task: Task, y: &Target, p: &Predictions) -> Result<f64, String> {
    match (task, y, p) {
        (
            Task::Binary,
            Target::Classes { y, .. },
            Predictions::Probabilities { n_classes, data },
        ) => {
            let scores: Vec<f64> = data.chunks(*n_classes).map(|r| r[1]).collect();
            roc_auc(y, &scores)
        }
        (
            Task::Multiclass,
            Target::Classes { y, .. },
            Predictions::Probabilities { n_classes, data },
        ) => {
            let total: f64 = y
                .iter()
                .zip(data.chunks(*n_classes))
                .map(|(&c, row)| -row[c as usize].clamp(1e-15, 1.0).ln())
                .sum();
            Ok(total / y.len().max(1) as f64)
        }
        (Task::Regression, Target::Regression(y), Predictions::Values(v)) => {
            let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
            let sst: f64 = y.iter().map(|t| (t - mean).powi(2)).sum();
            let sse: f64 = y.iter().zip(v).map(|(t, p)| (t - p).powi(2)).sum();
            if sst > 0.0 {
                Ok(1.0 - sse / sst)
            } else {
                Err("constant target in a validation fold".into())
            }
        }
        _ => Err("predictions do not match the task".into()),
    }
}

/// ROC-AUC as the Mann–Whitney statistic, ties sharing their average rank.
fn roc_auc(y: &[u32], scores: &[f64]) -> Result<f64, String> {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let rank = (i + j + 2) as f64 / 2.0;
        rank_sum_pos += rank * order[i..=j].iter().filter(|&&r| y[r] == 1).count() as f64;
        i = j + 1;
    }
    let pos = y.iter().filter(|&&c| c == 1).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Err("a validation fold holds one class only".into());
    }
    Ok((rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Scores oriented so that larger is better.
fn oriented(task: Task, score: f64) -> f64 {
    if task == Task::Multiclass {
        -score
    } else {
        score
    }
}

// ── evaluation ─────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Evaluation {
    dataset: String,
    task: Task,
    kind: String,
    /// The candidate's parameters as JSON (the cache key).
    key: String,
    /// What was fitted after clamping into the dataset's space.
    delivered: Params,
    /// The metric per fold (`None` where the fit or the metric failed).
    fold_scores: Vec<Option<f64>>,
    fit_seconds: Vec<f64>,
    /// Folds whose fit ran into the deadline (and returned the model so far).
    deadline_hits: usize,
    errors: Vec<String>,
}

impl Evaluation {
    /// Mean metric over folds, as the benchmark reports it; `None` if any fold failed.
    fn raw_mean(&self) -> Option<f64> {
        let mut sum = 0.0;
        for s in &self.fold_scores {
            sum += (*s)?;
        }
        let mean = sum / self.fold_scores.len().max(1) as f64;
        mean.is_finite().then_some(mean)
    }

    /// [`Self::raw_mean`] oriented larger-is-better.
    fn score(&self) -> Option<f64> {
        self.raw_mean().map(|m| oriented(self.task, m))
    }

    fn mean_fit_seconds(&self) -> f64 {
        self.fit_seconds.iter().sum::<f64>() / self.fit_seconds.len().max(1) as f64
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    format: u32,
    settings: Option<Settings>,
    evaluations: Vec<Evaluation>,
}

fn load_cache(path: &Path, settings: &Settings) -> Result<Cache, Error> {
    if !path.exists() {
        return Ok(Cache {
            format: 1,
            settings: Some(settings.clone()),
            evaluations: vec![],
        });
    }
    let text = std::fs::read_to_string(path)?;
    let cache: Cache =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if cache.settings.as_ref() != Some(settings) {
        return Err(format!(
            "{} was made with other settings ({:?}); delete it or pass --results with another file",
            path.display(),
            cache.settings
        )
        .into());
    }
    Ok(cache)
}

fn save_cache(path: &Path, cache: &Cache) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so an interrupted run never leaves a truncated cache behind.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(cache)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn evaluate_dataset(
    data: &PreparedData,
    todo: &[&Config],
    settings: &Settings,
    jobs: usize,
) -> Vec<Evaluation> {
    let folds = data.folds.len();
    let delivered: Vec<Params> = todo
        .iter()
        .map(|c| {
            data.spaces
                .get(c.kind)
                .map(|space| deliver(&c.params, space))
                .unwrap_or_else(|| c.params.clone())
        })
        .collect();
    type FoldResult = (Result<f64, String>, f64, bool);
    let results: Mutex<Vec<Option<FoldResult>>> = Mutex::new(vec![None; todo.len() * folds]);
    let next = AtomicUsize::new(0);
    // Dearer kinds first, so the workers finish together.
    let mut order: Vec<usize> = (0..todo.len() * folds).collect();
    order.sort_by_key(|&j| match todo[j / folds].kind {
        "random_forest" | "extra_trees" => 0,
        "mlp" => 1,
        "linear" => 2,
        "gbdt" => 3,
        _ => 4,
    });
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&job) = order.get(i) else { break };
                    let (c, k) = (job / folds, job % folds);
                    let fold = &data.folds[k];
                    let deadline = Duration::from_secs_f64(settings.fit_deadline_secs);
                    let opts = FitOptions {
                        threads: 1,
                        deadline: Some(Instant::now() + deadline),
                        seed: settings.seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9),
                        valid: Some((&fold.x_valid, &fold.y_valid)),
                        cancel: None,
                    };
                    let t = Instant::now();
                    let fitted = microlearn_train::fit(
                        todo[c].kind,
                        &delivered[c],
                        data.task,
                        &fold.x_train,
                        &fold.y_train,
                        &opts,
                    );
                    let secs = t.elapsed().as_secs_f64();
                    let hit = secs >= deadline.as_secs_f64();
                    let score = fitted.map_err(|e| e.to_string()).and_then(|m| {
                        let p = m.try_predict(&fold.x_valid).map_err(|e| e.to_string())?;
                        metric(data.task, &fold.y_valid, &p)
                    });
                    if let Ok(mut r) = results.lock() {
                        r[job] = Some((score, secs, hit));
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    todo.iter()
        .enumerate()
        .map(|(c, config)| {
            let mut e = Evaluation {
                dataset: data.name.clone(),
                task: data.task,
                kind: config.kind.to_string(),
                key: config.key(),
                delivered: delivered[c].clone(),
                fold_scores: vec![],
                fit_seconds: vec![],
                deadline_hits: 0,
                errors: vec![],
            };
            for k in 0..folds {
                match &results[c * folds + k] {
                    Some((score, secs, hit)) => {
                        e.fit_seconds.push(*secs);
                        e.deadline_hits += usize::from(*hit);
                        match score {
                            Ok(s) => e.fold_scores.push(Some(*s)),
                            Err(why) => {
                                e.fold_scores.push(None);
                                e.errors.push(format!("fold {k}: {why}"));
                            }
                        }
                    }
                    None => {
                        e.fold_scores.push(None);
                        e.errors.push(format!("fold {k}: no result"));
                    }
                }
            }
            e
        })
        .collect()
}

// ── selection ──────────────────────────────────────────────────────────────────────────────

/// The evaluated grid: datasets × configs.
struct Grid {
    datasets: Vec<String>,
    /// Rows the selector saw per dataset (for the old size-dependent warm starts).
    fold_rows: Vec<u64>,
    configs: Vec<Config>,
    /// `[dataset][config]` raw metric (benchmark orientation) and normalised error.
    raw: Vec<Vec<Option<f64>>>,
    error: Vec<Vec<f64>>,
    secs: Vec<Vec<f64>>,
}

/// Normalised errors of one dataset's scores (larger is better): each config's rank among all
/// configs of all kinds, scaled to [0, 1] (0 = best, 1 = worst; ties share their average rank).
/// Ranks keep the order within every kind, weigh every dataset alike whatever its metric's
/// scale, and are not distorted by a few diverged fits. A config that failed counts as worst.
fn rank_errors(scores: &[Option<f64>]) -> Vec<f64> {
    let mut ok: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (s, i)))
        .collect();
    // Best first.
    ok.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut error = vec![1.0; scores.len()];
    let last = ok.len().saturating_sub(1).max(1) as f64;
    let mut i = 0;
    while i < ok.len() {
        let mut j = i;
        while j + 1 < ok.len() && ok[j + 1].0 == ok[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0;
        for &(_, c) in &ok[i..=j] {
            error[c] = rank / last;
        }
        i = j + 1;
    }
    error
}

impl Grid {
    fn new(
        datasets: Vec<(String, u64)>,
        configs: Vec<Config>,
        evals: &HashMap<(String, String, String), Evaluation>,
    ) -> Grid {
        let mut raw = Vec::new();
        let mut error = Vec::new();
        let mut secs = Vec::new();
        for (d, _) in &datasets {
            let found: Vec<Option<&Evaluation>> = configs
                .iter()
                .map(|c| evals.get(&(d.clone(), c.kind.to_string(), c.key())))
                .collect();
            let oriented_scores: Vec<Option<f64>> = found
                .iter()
                .map(|e| e.and_then(Evaluation::score))
                .collect();
            error.push(rank_errors(&oriented_scores));
            raw.push(
                found
                    .iter()
                    .map(|e| e.and_then(Evaluation::raw_mean))
                    .collect(),
            );
            secs.push(
                found
                    .iter()
                    .map(|e| e.map_or(f64::NAN, Evaluation::mean_fit_seconds))
                    .collect(),
            );
        }
        let (datasets, fold_rows) = datasets.into_iter().unzip();
        Grid {
            datasets,
            fold_rows,
            configs,
            raw,
            error,
            secs,
        }
    }

    fn of_kind(&self, kind: &str) -> Vec<usize> {
        (0..self.configs.len())
            .filter(|&c| self.configs[c].kind == kind)
            .collect()
    }

    /// Fit time of `c` on dataset `d` relative to the median of its kind there.
    fn relative_cost(&self, d: usize, c: usize, kind_cols: &[usize]) -> f64 {
        let mut times: Vec<f64> = kind_cols
            .iter()
            .map(|&k| self.secs[d][k])
            .filter(|t| t.is_finite())
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(1.0).max(1e-4);
        let t = self.secs[d][c];
        if t.is_finite() {
            t.max(1e-4) / median
        } else {
            10.0
        }
    }

    /// Greedy forward selection of up to `size` configs of `kind` over `datasets`.
    fn greedy(
        &self,
        kind: &str,
        datasets: &[usize],
        size: usize,
        tie: f64,
        min_gain: f64,
    ) -> Vec<Pick> {
        let cols = self.of_kind(kind);
        let mut best_so_far = vec![1.0; self.datasets.len()];
        let mut picks: Vec<Pick> = Vec::new();
        let n = datasets.len().max(1) as f64;
        let cost: Vec<f64> = cols
            .iter()
            .map(|&c| {
                let logs: f64 = datasets
                    .iter()
                    .map(|&d| self.relative_cost(d, c, &cols).ln())
                    .sum();
                (logs / n).exp()
            })
            .collect();
        let current_mean = |b: &[f64]| datasets.iter().map(|&d| b[d]).sum::<f64>() / n;
        while picks.len() < size {
            let before = current_mean(&best_so_far);
            let after: Vec<f64> = cols
                .iter()
                .map(|&c| {
                    datasets
                        .iter()
                        .map(|&d| best_so_far[d].min(self.error[d][c]))
                        .sum::<f64>()
                        / n
                })
                .collect();
            let Some(best) = after
                .iter()
                .enumerate()
                .filter(|(i, _)| !picks.iter().any(|p| p.config == cols[*i]))
                .map(|(_, m)| *m)
                .min_by(f64::total_cmp)
            else {
                break;
            };
            if !picks.is_empty() && before - best < min_gain {
                break;
            }
            // Among the near-best, the cheapest: fit time matters on a 15–60 s budget. After
            // the first pick a config must still gain at least `min_gain`.
            let Some(i) = (0..cols.len())
                .filter(|&i| !picks.iter().any(|p| p.config == cols[i]))
                .filter(|&i| after[i] <= best + tie)
                .filter(|&i| picks.is_empty() || before - after[i] >= min_gain)
                .min_by(|&a, &b| {
                    cost[a]
                        .total_cmp(&cost[b])
                        .then(after[a].total_cmp(&after[b]))
                })
            else {
                break;
            };
            let c = cols[i];
            for &d in datasets {
                best_so_far[d] = best_so_far[d].min(self.error[d][c]);
            }
            picks.push(Pick {
                config: c,
                alone: datasets.iter().map(|&d| self.error[d][c]).sum::<f64>() / n,
                portfolio: after[i],
                relative_cost: cost[i],
            });
        }
        picks
    }

    /// The old warm starts of `kind` that applied to dataset `d`.
    fn old(&self, kind: &str, d: usize) -> Vec<usize> {
        self.of_kind(kind)
            .into_iter()
            .filter(|&c| self.configs[c].is_old(self.fold_rows[d]))
            .collect()
    }

    fn best_error(&self, d: usize, cols: &[usize]) -> f64 {
        cols.iter().map(|&c| self.error[d][c]).fold(1.0, f64::min)
    }

    /// Best raw metric (benchmark orientation) among `cols` on `d`.
    fn best_raw(&self, d: usize, cols: &[usize], task: Task) -> Option<f64> {
        cols.iter()
            .filter_map(|&c| self.raw[d][c])
            .max_by(|a, b| oriented(task, *a).total_cmp(&oriented(task, *b)))
    }
}

#[derive(Debug, Clone)]
struct Pick {
    config: usize,
    /// Mean normalised error of this config alone over the datasets it was chosen on.
    alone: f64,
    /// Mean over datasets of the best error in the portfolio once it is added.
    portfolio: f64,
    relative_cost: f64,
}

fn size_of(kind: &str) -> usize {
    MAX_SIZE
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(2, |(_, n)| *n)
}

/// A config's parameters as shipped: only the dimensions the selector searches for its kind.
/// The others (e.g. `early_stopping_rounds` in an old warm start) were dropped when the config
/// was clamped into each dataset's space, so what ships is what was evaluated.
fn shipped_params(c: &Config) -> Params {
    let keep: Vec<&str> = region(c.kind).iter().map(|(name, _)| *name).collect();
    let mut p = c.params.clone();
    p.0.retain(|name, _| keep.contains(&name.as_str()));
    p
}

fn params_text(p: &Params) -> String {
    p.0.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

fn main() -> Result<(), Error> {
    let opts = parse_args()?;
    let started = Instant::now();
    let manifest = read_manifest(&opts.datasets)?;
    let entries: Vec<ManifestEntry> = match &opts.only {
        None => manifest,
        Some(names) => {
            for n in names {
                if !manifest.iter().any(|e| &e.name == n) {
                    return Err(format!("--only: no dataset '{n}' in the manifest").into());
                }
            }
            manifest
                .into_iter()
                .filter(|e| names.contains(&e.name))
                .collect()
        }
    };
    let configs = candidates(&opts)?;
    let host = PluginHost::new(RuntimeConfig::default())?;
    for id in ["standard", "portfolio"] {
        let folder = opts.plugins.join(id);
        host.register_folder(&folder).map_err(|e| {
            format!(
                "{}: {e} (build the plugins first: bash scripts/build-plugins.sh)",
                folder.display()
            )
        })?;
    }
    let preparer = host.preparer("standard")?;
    let selector = host.selector("portfolio")?;

    let mut cache = load_cache(&opts.results, &opts.settings)?;
    let mut datasets: Vec<(String, u64)> = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    println!(
        "{} candidates: {}",
        configs.len(),
        KINDS
            .iter()
            .map(|k| format!("{k} {}", configs.iter().filter(|c| c.kind == *k).count()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for entry in &entries {
        let t = Instant::now();
        let data = prepare(entry, &opts.datasets, &preparer, &selector, &opts.settings)
            .map_err(|e| format!("{}: {e}", entry.name))?;
        let prep_secs = t.elapsed().as_secs_f64();
        let done: std::collections::HashSet<(String, String)> = cache
            .evaluations
            .iter()
            .filter(|e| e.dataset == data.name)
            .map(|e| (e.kind.clone(), e.key.clone()))
            .collect();
        let todo: Vec<&Config> = configs
            .iter()
            .filter(|c| !done.contains(&(c.kind.to_string(), c.key())))
            .collect();
        let t = Instant::now();
        let fresh = evaluate_dataset(&data, &todo, &opts.settings, opts.jobs);
        let hits: usize = fresh.iter().map(|e| e.deadline_hits).sum();
        let failed = fresh.iter().filter(|e| !e.errors.is_empty()).count();
        println!(
            "{:<15} {:>10} {:>6} train rows → {:>5} used, {:>4} features, {} folds: prepared in {:.1}s, {} configs evaluated in {:.1}s ({} fits hit the deadline, {} configs failed)",
            data.name,
            data.task.as_str(),
            data.train_rows,
            data.used_rows,
            data.features,
            data.folds.len(),
            prep_secs,
            todo.len(),
            t.elapsed().as_secs_f64(),
            hits,
            failed
        );
        for e in fresh.iter().filter(|e| !e.errors.is_empty()) {
            println!("    {} {}: {}", e.kind, e.key, e.errors.join("; "));
        }
        cache.evaluations.extend(fresh);
        save_cache(&opts.results, &cache)?;
        datasets.push((data.name.clone(), data.fold_rows));
        tasks.push(data.task);
    }
    println!(
        "evaluation finished after {:.1}s; raw results in {}",
        started.elapsed().as_secs_f64(),
        opts.results.display()
    );
    if opts.evaluate_only {
        return Ok(());
    }

    let evals: HashMap<(String, String, String), Evaluation> = cache
        .evaluations
        .iter()
        .map(|e| {
            (
                (e.dataset.clone(), e.kind.clone(), e.key.clone()),
                e.clone(),
            )
        })
        .collect();
    let grid = Grid::new(datasets, configs, &evals);
    let all: Vec<usize> = (0..grid.datasets.len()).collect();

    // The portfolio learned on every dataset.
    let mut portfolio: BTreeMap<&str, Vec<Pick>> = BTreeMap::new();
    println!("\n## Learned portfolio (all {} datasets)\n", all.len());
    for kind in KINDS {
        let picks = grid.greedy(kind, &all, size_of(kind), opts.tie, opts.min_gain);
        println!("### {kind}\n");
        println!("| # | params | origin | error alone | portfolio regret | rel. fit time |");
        println!("|---|---|---|---:|---:|---:|");
        for (i, p) in picks.iter().enumerate() {
            let c = &grid.configs[p.config];
            println!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.2} |",
                i + 1,
                params_text(&c.params),
                c.origin,
                p.alone,
                p.portfolio,
                p.relative_cost
            );
        }
        let old_mean = all
            .iter()
            .map(|&d| grid.best_error(d, &grid.old(kind, d)))
            .sum::<f64>()
            / all.len().max(1) as f64;
        println!("\n(old rules.rs warm starts, in-sample: mean regret {old_mean:.3})\n");
        portfolio.insert(kind, picks);
    }

    // Leave one dataset out: learn on the others, measure on it.
    println!(
        "## Leave-one-dataset-out (regret = rank-normalised error of the best config tried on the held-out dataset; 0 = best of all configs of all kinds, 1 = worst)\n"
    );
    // Per kind, then all kinds together: what a pipeline's warm-start round tries first.
    let mut groups: Vec<(&str, Vec<&str>)> = KINDS.iter().map(|k| (*k, vec![*k])).collect();
    groups.push(("all kinds", KINDS.to_vec()));
    // Held-out dataset → kind → the portfolio learned without it.
    let loo_picks: Vec<HashMap<&str, Vec<usize>>> = all
        .iter()
        .map(|&d| {
            let rest: Vec<usize> = all.iter().copied().filter(|&x| x != d).collect();
            KINDS
                .iter()
                .map(|&kind| {
                    let picks = grid.greedy(kind, &rest, size_of(kind), opts.tie, opts.min_gain);
                    (kind, picks.iter().map(|p| p.config).collect())
                })
                .collect()
        })
        .collect();
    let mut loo_summary = serde_json::Map::new();
    for (label, kinds) in &groups {
        println!("### {label}\n");
        println!(
            "| held out | new portfolio | old warm starts | new, old's count | new first | old first | new best metric | old best metric |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let mut sums = [0.0f64; 5];
        let (mut wins, mut ties, mut losses) = (0, 0, 0);
        for &d in &all {
            let (mut new, mut old, mut same, mut new1, mut old1) =
                (vec![], vec![], vec![], vec![], vec![]);
            for kind in kinds {
                let picks = &loo_picks[d][kind];
                let was = grid.old(kind, d);
                new.extend_from_slice(picks);
                same.extend_from_slice(&picks[..picks.len().min(was.len())]);
                new1.extend_from_slice(&picks[..picks.len().min(1)]);
                old1.extend_from_slice(&was[..was.len().min(1)]);
                old.extend(was);
            }
            let r = [
                grid.best_error(d, &new),
                grid.best_error(d, &old),
                grid.best_error(d, &same),
                grid.best_error(d, &new1),
                grid.best_error(d, &old1),
            ];
            for (s, x) in sums.iter_mut().zip(r) {
                *s += x;
            }
            if (r[0] - r[1]).abs() < 1e-9 {
                ties += 1;
            } else if r[0] < r[1] {
                wins += 1;
            } else {
                losses += 1;
            }
            let fmt = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.4}"));
            println!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |",
                grid.datasets[d],
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                fmt(grid.best_raw(d, &new, tasks[d])),
                fmt(grid.best_raw(d, &old, tasks[d])),
            );
        }
        let n = all.len().max(1) as f64;
        let m: Vec<f64> = sums.iter().map(|s| s / n).collect();
        println!(
            "| **mean** | **{:.3}** | **{:.3}** | {:.3} | {:.3} | {:.3} | new better on {wins}, equal on {ties}, worse on {losses} | |\n",
            m[0], m[1], m[2], m[3], m[4]
        );
        loo_summary.insert(
            label.to_string(),
            serde_json::json!({
                "mean_regret_new": round_sig(m[0]),
                "mean_regret_old": round_sig(m[1]),
                "mean_regret_new_at_old_count": round_sig(m[2]),
                "mean_regret_new_first": round_sig(m[3]),
                "mean_regret_old_first": round_sig(m[4]),
                "new_better": wins, "equal": ties, "new_worse": losses,
            }),
        );
    }

    if !opts.write {
        return Ok(());
    }
    let date = time::OffsetDateTime::now_utc().date().to_string();
    let kinds: serde_json::Map<String, serde_json::Value> = portfolio
        .iter()
        .map(|(kind, picks)| {
            let entries: Vec<serde_json::Value> = picks
                .iter()
                .map(|p| {
                    let c = &grid.configs[p.config];
                    let secs: Vec<f64> = all
                        .iter()
                        .map(|&d| grid.secs[d][p.config])
                        .filter(|t| t.is_finite())
                        .collect();
                    serde_json::json!({
                        "params": shipped_params(c),
                        "origin": c.origin,
                        "mean_normalised_error": round_sig(p.alone),
                        "portfolio_mean_regret": round_sig(p.portfolio),
                        "mean_fit_seconds": round_sig(secs.iter().sum::<f64>() / secs.len().max(1) as f64),
                    })
                })
                .collect();
            (kind.to_string(), serde_json::Value::Array(entries))
        })
        .collect();
    let doc = serde_json::json!({
        "format": 1,
        "about": "Zero-shot warm starts per model kind, tried first and in this order. Learned by host/pipeline/examples/learn_portfolio.rs; method and numbers in plugins/selectors/portfolio/PORTFOLIO.md.",
        "learned": {
            "date": date,
            "datasets": grid.datasets,
            "files": "NAME.train.csv only",
            "max_rows": opts.settings.max_rows,
            "folds": opts.settings.folds,
            "seed": opts.settings.seed,
            "fit_deadline_secs": opts.settings.fit_deadline_secs,
            "candidates": KINDS.iter().map(|k| (k.to_string(), serde_json::json!(grid.of_kind(k).len()))).collect::<serde_json::Map<_, _>>(),
            "normalisation": "per dataset, rank among all configs of all kinds scaled to [0, 1] (0 = best, 1 = worst)",
            "tie": opts.tie,
            "min_gain": opts.min_gain,
        },
        "kinds": kinds,
        "leave_one_out": loo_summary,
    });
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    std::fs::write(&opts.out, text)?;
    println!(
        "wrote {} after {:.1}s in all",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

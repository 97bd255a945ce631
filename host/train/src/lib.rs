//! Native model zoo the host trains on CPU threads, pure Rust:
//!
//! - `gbdt`: histogram gradient-boosted trees, leaf-wise, with learned missing-value directions,
//!   categorical set splits, L1/L2, row/column sampling and early stopping;
//! - `random_forest` and `extra_trees`, grown by the same histogram tree code;
//! - `linear`: ridge / lasso / elastic-net and (multinomial) logistic regression;
//! - `knn`: k-nearest neighbours for small data;
//! - `mlp`: a multilayer perceptron trained with Adam — through libtorch on a GPU with the
//!   `torch` feature, always served by the pure-Rust forward pass.
//!
//! Every kind declares its search space in [`catalogue`]; [`estimate_fit_bytes`] lets a
//! scheduler size concurrency to memory before fits start.
//!
//! ```
//! use microlearn_train::{fit, FitOptions, Matrix, Predictions, Target};
//! use microlearn_core::{Params, Task};
//!
//! let x = Matrix::from_columns(vec!["a".into()], vec![vec![0.0, 1.0, 2.0, 3.0]]).unwrap();
//! let y = Target::Regression(vec![1.0, 3.0, 5.0, 7.0]);
//! let opts = FitOptions { threads: 1, deadline: None, seed: 7, valid: None, cancel: None };
//! let model = fit("linear", &Params::new(), Task::Regression, &x, &y, &opts).unwrap();
//! let Predictions::Values(v) = model.predict(&x) else { unreachable!() };
//! assert!((v[3] - 7.0).abs() < 0.01);
//! ```

mod binning;
mod catalogue;
mod dense;
mod ensemble;
mod error;
mod forest;
mod gbdt;
mod grow;
mod histogram;
mod knn;
mod linear;
mod matrix;
mod memory;
mod mlp;
#[cfg(feature = "torch")]
mod mlp_torch;
#[cfg(feature = "torch")]
pub use mlp_torch::set_torch_device;
mod objective;
mod optim;
mod params;
mod split;
mod tree;

pub use catalogue::{
    EXTRA_TREES, GBDT, LINEAR, RANDOM_FOREST, catalogue, forest_specs, gbdt_specs, linear_specs,
};
pub use catalogue::{KNN, MLP, knn_specs, mlp_specs};
pub use ensemble::{ENSEMBLE, EnsembleMember, EnsembleModel};
pub use error::TrainError;
pub use forest::ForestModel;
pub use gbdt::GbdtModel;
pub use knn::{KNN_MAX_TRAIN_ROWS, KnnModel, KnnTarget, Metric, Weighting};
pub use linear::LinearModel;
pub use matrix::{Matrix, Predictions, Target};
pub use memory::{MemoryPlan, available_memory_bytes, estimate_fit_bytes, plan_memory};
pub use mlp::{Layer, MlpHead, MlpModel};
pub use objective::Objective;
pub use tree::{Node, Tree};

use microlearn_core::{Params, Task};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How one fit runs.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// Threads this fit may use. Trials run in parallel, so each fit gets its own pool of exactly
    /// this many threads and never touches rayon's global pool.
    pub threads: usize,
    /// Any-time limit: once passed, no further boosting round / solver iteration starts and the
    /// model so far is returned (a GBDT always has at least one round).
    pub deadline: Option<Instant>,
    /// Seed for bagging, feature sampling and bin sampling; same seed, same model.
    pub seed: u64,
    /// Early-stopping set (GBDT, MLP); ignored by linear and kNN models.
    pub valid: Option<(&'a Matrix, &'a Target)>,
    /// Cancellation: once set, a fit stops at its next check (between boosting rounds, trees,
    /// solver iterations or batches) and returns the model so far, like an expired deadline, so
    /// a cancelled pipeline frees its cores within a round.
    pub cancel: Option<&'a AtomicBool>,
}

impl FitOptions<'_> {
    /// Whether the fit should stop now: the deadline passed or cancellation was asked for.
    #[inline]
    pub fn should_stop(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// A fitted model of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrainedModel {
    /// Gradient-boosted trees.
    Gbdt(GbdtModel),
    /// Linear model.
    Linear(LinearModel),
    /// Random forest or extra trees.
    Forest(ForestModel),
    /// k-nearest neighbours.
    Knn(KnnModel),
    /// Multilayer perceptron.
    Mlp(MlpModel),
    /// A weighted average of fitted models (added in bundle format 3; listed last so earlier
    /// variants keep their encoding).
    Ensemble(EnsembleModel),
}

impl TrainedModel {
    /// Catalogue name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            TrainedModel::Gbdt(_) => GBDT,
            TrainedModel::Linear(_) => LINEAR,
            TrainedModel::Forest(m) if m.kind == EXTRA_TREES => EXTRA_TREES,
            TrainedModel::Forest(_) => RANDOM_FOREST,
            TrainedModel::Knn(_) => KNN,
            TrainedModel::Mlp(_) => MLP,
            TrainedModel::Ensemble(_) => ENSEMBLE,
        }
    }

    /// Feature names seen at fit, in column order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            TrainedModel::Gbdt(m) => &m.feature_names,
            TrainedModel::Linear(m) => &m.feature_names,
            TrainedModel::Forest(m) => &m.feature_names,
            TrainedModel::Knn(m) => &m.feature_names,
            TrainedModel::Mlp(m) => &m.feature_names,
            TrainedModel::Ensemble(m) => &m.feature_names,
        }
    }

    /// Predictions for every row of `x`: `Probabilities` for classification (binary has two
    /// columns), `Values` for regression. Runs on the current rayon pool (wrap the call in
    /// `pool.install` to bound its threads).
    ///
    /// Panics when `x` has a different number of columns than the training matrix; use
    /// [`TrainedModel::try_predict`] for an error instead.
    pub fn predict(&self, x: &Matrix) -> Predictions {
        self.try_predict(x)
            .expect("prediction matrix has the training matrix's columns")
    }

    /// [`TrainedModel::predict`] in blocks of rows, giving up (`None`) when `deadline` has
    /// passed or `cancelled()` says so between two blocks. A search scores every trial on its
    /// validation rows; without a cut-off a slow predictor (kNN against a large sample) holds
    /// the search, and the budget, long after its end.
    ///
    /// It runs on its own pool of `threads` threads, like [`fit`]: a search's trials each
    /// have one core, and a prediction spilling onto rayon's global pool would compete with
    /// the other trials' fits (and make its measured time, which sizes the budget's reserve
    /// for evaluation, mean nothing). `None` also when the pool cannot be built.
    pub fn predict_until(
        &self,
        x: &Matrix,
        threads: usize,
        deadline: Instant,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Option<Predictions> {
        own_pool(threads, "predict")
            .ok()?
            .install(|| self.predict_blocks(x, deadline, cancelled))
    }

    fn predict_blocks(
        &self,
        x: &Matrix,
        deadline: Instant,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Option<Predictions> {
        /// Rows per block: small enough that the slowest kind (kNN) checks about every
        /// second, large enough that the per-block split across threads costs nothing.
        const BLOCK: usize = 2048;
        let n = x.n_rows();
        let mut out: Option<Predictions> = None;
        // One block at least, so an empty matrix still gets its (empty) predictions.
        for start in (0..n.max(1)).step_by(BLOCK) {
            if Instant::now() >= deadline || cancelled() {
                return None;
            }
            let part = self.predict(&x.rows(start..(start + BLOCK).min(n)));
            match &mut out {
                None => out = Some(part),
                Some(all) => all.append(part),
            }
        }
        out
    }

    /// Like [`TrainedModel::predict`], with a width mismatch as an error.
    pub fn try_predict(&self, x: &Matrix) -> Result<Predictions, TrainError> {
        let expected = self.feature_names().len();
        if x.n_cols() != expected {
            return Err(TrainError::ShapeMismatch {
                what: format!("prediction matrix columns for a {} model", self.kind()),
                expected,
                got: x.n_cols(),
            });
        }
        Ok(match self {
            TrainedModel::Gbdt(m) => m.predict(x),
            TrainedModel::Linear(m) => m.predict(x),
            TrainedModel::Forest(m) => m.predict(x),
            TrainedModel::Knn(m) => m.predict(x),
            TrainedModel::Mlp(m) => m.predict(x),
            TrainedModel::Ensemble(m) => m.predict(x),
        })
    }

    /// Hyperparameters as actually used (gbdt `n_rounds` is the number of rounds kept after early
    /// stopping or the deadline).
    pub fn fitted_params(&self) -> Params {
        match self {
            TrainedModel::Gbdt(m) => m.params.clone(),
            TrainedModel::Linear(m) => m.params.clone(),
            TrainedModel::Forest(m) => m.params.clone(),
            TrainedModel::Knn(m) => m.params.clone(),
            TrainedModel::Mlp(m) => m.params.clone(),
            TrainedModel::Ensemble(m) => m.params(),
        }
    }

    /// One value per feature: total split gain for trees, |coefficient| on standardized features
    /// for linear models, mean |first-layer weight| for MLPs, zeros (not measured) for kNN.
    pub fn feature_importance(&self) -> Vec<f64> {
        match self {
            TrainedModel::Gbdt(m) => m.feature_importance(),
            TrainedModel::Linear(m) => m.feature_importance(),
            TrainedModel::Forest(m) => m.feature_importance(),
            TrainedModel::Knn(m) => m.feature_importance(),
            TrainedModel::Mlp(m) => m.feature_importance(),
            TrainedModel::Ensemble(m) => m.feature_importance(),
        }
    }

    /// Splits per feature for tree models (`None` for kinds without splits).
    pub fn split_counts(&self) -> Option<Vec<f64>> {
        match self {
            TrainedModel::Gbdt(m) => Some(m.split_counts()),
            TrainedModel::Forest(m) => Some(m.split_counts()),
            _ => None,
        }
    }
}

/// CUDA GPUs the trainer can use: 0 unless built with the `torch` feature and a GPU is visible.
pub fn gpu_count() -> usize {
    #[cfg(feature = "torch")]
    {
        mlp_torch::gpu_count()
    }
    #[cfg(not(feature = "torch"))]
    {
        0
    }
}

/// Where the `mlp` kind trains: `"libtorch (cuda)"`, `"libtorch (cpu)"` or `"native"`.
pub fn mlp_backend() -> &'static str {
    #[cfg(feature = "torch")]
    {
        match mlp_torch::device() {
            Some(tch::Device::Cpu) => "libtorch (cpu)",
            Some(_) => "libtorch (cuda)",
            None => "native",
        }
    }
    #[cfg(not(feature = "torch"))]
    {
        "native"
    }
}

/// A pool of exactly `threads` threads (named `microlearn-{role}-i`) for one fit or one
/// prediction, so parallel trials never share rayon's global pool.
fn own_pool(threads: usize, role: &'static str) -> Result<rayon::ThreadPool, TrainError> {
    let threads = threads.max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("microlearn-{role}-{i}"))
        .build()
        .map_err(|e| TrainError::ThreadPool {
            threads,
            reason: e.to_string(),
        })
}

/// Fits model kind `kind` with `params` (unknown names are errors, missing ones take the spec
/// default) on `x`/`y` for `task`.
pub fn fit(
    kind: &str,
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<TrainedModel, TrainError> {
    let known = catalogue();
    if !known.iter().any(|k| k.name == kind) {
        return Err(TrainError::UnknownKind {
            kind: kind.into(),
            available: known
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let threads = opts.threads.max(1);
    let pool = own_pool(threads, "train")?;
    let started = Instant::now();
    let model = pool.install(|| match kind {
        GBDT => gbdt::fit(params, task, x, y, opts).map(TrainedModel::Gbdt),
        RANDOM_FOREST => forest::fit(false, params, task, x, y, opts).map(TrainedModel::Forest),
        EXTRA_TREES => forest::fit(true, params, task, x, y, opts).map(TrainedModel::Forest),
        KNN => knn::fit(params, task, x, y, opts).map(TrainedModel::Knn),
        #[cfg(feature = "torch")]
        MLP if mlp_torch::device().is_some() => {
            let device = mlp_torch::device().expect("checked by the guard");
            mlp_torch::fit(device, params, task, x, y, opts).map(TrainedModel::Mlp)
        }
        MLP => mlp::fit(params, task, x, y, opts).map(TrainedModel::Mlp),
        _ => linear::fit(params, task, x, y, opts).map(TrainedModel::Linear),
    })?;
    tracing::debug!(
        kind,
        rows = x.n_rows(),
        cols = x.n_cols(),
        threads,
        seconds = started.elapsed().as_secs_f64(),
        "fit done"
    );
    Ok(model)
}

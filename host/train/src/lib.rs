//! Native model zoo the host trains on CPU threads: histogram gradient-boosted trees (`gbdt`) and
//! regularised linear models (`linear`).
//!
//! ```
//! use microlearn_train::{fit, FitOptions, Matrix, Predictions, Target};
//! use microlearn_core::{Params, Task};
//!
//! let x = Matrix::from_columns(vec!["a".into()], vec![vec![0.0, 1.0, 2.0, 3.0]]).unwrap();
//! let y = Target::Regression(vec![1.0, 3.0, 5.0, 7.0]);
//! let opts = FitOptions { threads: 1, deadline: None, seed: 7, valid: None };
//! let model = fit("linear", &Params::new(), Task::Regression, &x, &y, &opts).unwrap();
//! let Predictions::Values(v) = model.predict(&x) else { unreachable!() };
//! assert!((v[3] - 7.0).abs() < 0.01);
//! ```

mod binning;
mod catalogue;
mod error;
mod gbdt;
mod grow;
mod histogram;
mod linear;
mod matrix;
mod objective;
mod optim;
mod params;
mod split;
mod tree;

pub use catalogue::{GBDT, LINEAR, catalogue, gbdt_specs, linear_specs};
pub use error::TrainError;
pub use gbdt::GbdtModel;
pub use linear::LinearModel;
pub use matrix::{Matrix, Predictions, Target};
pub use objective::Objective;
pub use tree::{Node, Tree};

use microlearn_core::{Params, Task};
use serde::{Deserialize, Serialize};
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
    /// Early-stopping set (GBDT); ignored by linear models.
    pub valid: Option<(&'a Matrix, &'a Target)>,
}

/// A fitted model of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrainedModel {
    /// Gradient-boosted trees.
    Gbdt(GbdtModel),
    /// Linear model.
    Linear(LinearModel),
}

impl TrainedModel {
    /// Catalogue name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            TrainedModel::Gbdt(_) => GBDT,
            TrainedModel::Linear(_) => LINEAR,
        }
    }

    /// Feature names seen at fit, in column order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            TrainedModel::Gbdt(m) => &m.feature_names,
            TrainedModel::Linear(m) => &m.feature_names,
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
        })
    }

    /// Hyperparameters as actually used (gbdt `n_rounds` is the number of rounds kept after early
    /// stopping or the deadline).
    pub fn fitted_params(&self) -> Params {
        match self {
            TrainedModel::Gbdt(m) => m.params.clone(),
            TrainedModel::Linear(m) => m.params.clone(),
        }
    }

    /// One value per feature: total split gain for trees, |coefficient| on standardized features
    /// for linear models.
    pub fn feature_importance(&self) -> Vec<f64> {
        match self {
            TrainedModel::Gbdt(m) => m.feature_importance(),
            TrainedModel::Linear(m) => m.feature_importance(),
        }
    }
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
    if kind != GBDT && kind != LINEAR {
        return Err(TrainError::UnknownKind {
            kind: kind.into(),
            available: format!("{GBDT}, {LINEAR}"),
        });
    }
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("microlearn-train-{i}"))
        .build()
        .map_err(|e| TrainError::ThreadPool {
            threads,
            reason: e.to_string(),
        })?;
    let started = Instant::now();
    let model = pool.install(|| match kind {
        GBDT => gbdt::fit(params, task, x, y, opts).map(TrainedModel::Gbdt),
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

//! Random forests and extremely randomised trees, grown with the GBDT's histogram tree code.
//!
//! A forest tree is a regression tree on `-y` with unit hessians and no regularisation, so its
//! Newton leaf value is the mean target of the leaf and its split gain is the variance
//! reduction. Classification grows one such tree per class on the class indicator (a leaf holds
//! the class's frequency, and the summed variance reduction over classes is the Gini decrease);
//! binary tasks need only the positive class's tree.

use crate::binning::BinnedMatrix;
use crate::catalogue::{EXTRA_TREES, RANDOM_FOREST, forest_specs};
use crate::grow::{Grower, TreeParams};
use crate::params::{Reader, resolve};
use crate::split::{SplitParams, mix};
use crate::tree::Tree;
use crate::{FitOptions, Matrix, Predictions, Target, TrainError};
use microlearn_core::{ParamValue, Params, Task};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A fitted random forest or extra-trees ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestModel {
    /// `random_forest` or `extra_trees`.
    pub kind: String,
    /// Classes (0 for regression).
    pub n_classes: usize,
    /// Trees, tree-major: tree `t` predicts output `t % n_outputs`.
    pub trees: Vec<Tree>,
    /// Feature names seen at fit.
    pub feature_names: Vec<String>,
    /// Hyperparameters as used (`n_trees` = trees grown before any deadline).
    pub params: Params,
}

impl ForestModel {
    /// Outputs per row: 1 for regression and binary (the positive class), else one per class.
    fn n_outputs(&self) -> usize {
        outputs_for(self.n_classes)
    }

    /// Trees per output.
    pub fn n_trees(&self) -> usize {
        self.trees.len() / self.n_outputs()
    }

    /// Predictions: the mean over trees; class frequencies are clipped at 0 and renormalised.
    pub fn predict(&self, x: &Matrix) -> Predictions {
        let k = self.n_outputs();
        let mut out = crate::tree::ensemble_sum(&self.trees, x, k, &vec![0.0; k]);
        let per = self.n_trees().max(1) as f64;
        out.iter_mut().for_each(|v| *v /= per);
        match self.n_classes {
            0 => Predictions::Values(out),
            2 => {
                let data = out
                    .iter()
                    .flat_map(|&p| {
                        let p = p.clamp(0.0, 1.0);
                        [1.0 - p, p]
                    })
                    .collect();
                Predictions::Probabilities { n_classes: 2, data }
            }
            c => {
                for row in out.chunks_mut(c) {
                    row.iter_mut().for_each(|v| *v = v.max(0.0));
                    let s: f64 = row.iter().sum();
                    if s > 0.0 {
                        row.iter_mut().for_each(|v| *v /= s);
                    } else {
                        row.fill(1.0 / c as f64);
                    }
                }
                Predictions::Probabilities {
                    n_classes: c,
                    data: out,
                }
            }
        }
    }

    /// Total variance reduction (impurity decrease) per feature.
    pub fn feature_importance(&self) -> Vec<f64> {
        crate::tree::gain_importance(&self.trees, self.feature_names.len())
    }

    /// Splits per feature.
    pub fn split_counts(&self) -> Vec<f64> {
        crate::tree::split_counts(&self.trees, self.feature_names.len())
    }
}

fn outputs_for(n_classes: usize) -> usize {
    if n_classes > 2 { n_classes } else { 1 }
}

/// Fits a random forest (`extra = false`) or extra trees; runs on the current rayon pool, one
/// tree per task.
pub(crate) fn fit(
    extra: bool,
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<ForestModel, TrainError> {
    let kind = if extra { EXTRA_TREES } else { RANDOM_FOREST };
    let mut params = resolve(kind, &forest_specs(extra), params)?;
    let n_classes = crate::matrix::validate_inputs(kind, task, x, y, "training")?;
    let n_classes = if task.is_classification() {
        n_classes
    } else {
        0
    };
    let r = Reader(&params);
    let n_trees = r.usize("n_trees").max(1);
    let bootstrap = r.flag("bootstrap");
    let max_samples = r.f64("max_samples");
    let p = x.n_cols();
    let bynode = match r.choice("max_features") {
        "sqrt" => (p as f64).sqrt() / p as f64,
        "log2" => (p as f64).log2().max(1.0) / p as f64,
        "third" => 1.0 / 3.0,
        "half" => 0.5,
        _ => 1.0,
    };
    let tree_params = TreeParams {
        num_leaves: r.usize("max_leaves").max(2),
        max_depth: r.i64("max_depth"),
        learning_rate: 1.0,
        split: SplitParams {
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_data_in_leaf: r.usize("min_data_in_leaf").max(1) as u32,
            min_sum_hessian: 0.0,
            min_gain_to_split: 1e-12,
            extra_trees: extra,
        },
        feature_fraction_bynode: bynode,
        direct: true,
    };

    let n = x.n_rows();
    let k = outputs_for(n_classes);
    // Pseudo-targets: `-y` (regression) or `-1[y = c]` per output, so that leaf = mean.
    let mut grad = vec![0f32; n * k];
    match y {
        Target::Regression(v) => {
            for (g, &t) in grad.iter_mut().zip(v) {
                *g = -(t as f32);
            }
        }
        Target::Classes { y, .. } => {
            for (i, &c) in y.iter().enumerate() {
                if k == 1 {
                    grad[i] = -(f32::from(u8::from(c == 1)));
                } else {
                    grad[c as usize * n + i] = -1.0;
                }
            }
        }
    }
    let hess = vec![1f32; n];
    let binned = BinnedMatrix::build(x, r.usize("max_bin").clamp(2, 255), opts.seed);
    let usable: Vec<usize> = (0..p).filter(|&j| binned.is_splittable(j)).collect();
    let sample_size = ((n as f64 * max_samples).round() as usize).clamp(1, n);

    let trees: Vec<Option<Vec<Tree>>> = (0..n_trees)
        .into_par_iter()
        .map_init(
            || Grower::new(&binned, tree_params),
            |grower, t| {
                // Tree 0 always grows, so even an expired deadline yields a model.
                if t > 0 && opts.should_stop() {
                    return None;
                }
                let seed = mix(opts.seed, t as u64);
                let rows: Vec<u32> = if bootstrap {
                    let mut rows: Vec<u32> = (0..sample_size as u64)
                        .map(|i| (mix(seed, i) % n as u64) as u32)
                        .collect();
                    rows.sort_unstable();
                    rows
                } else if sample_size < n {
                    let mut rows: Vec<u32> = (0..n as u32).collect();
                    rows.select_nth_unstable_by_key(sample_size - 1, |&i| mix(seed, u64::from(i)));
                    rows.truncate(sample_size);
                    rows.sort_unstable();
                    rows
                } else {
                    (0..n as u32).collect()
                };
                Some(
                    (0..k)
                        .map(|c| {
                            grower.grow(
                                &rows,
                                &grad[c * n..(c + 1) * n],
                                &hess,
                                &usable,
                                mix(seed, c as u64 + 1),
                            )
                        })
                        .collect(),
                )
            },
        )
        .collect();
    let trees: Vec<Tree> = trees.into_iter().flatten().flatten().collect();
    let grown = trees.len() / k;
    if grown < n_trees {
        tracing::debug!(grown, n_trees, "forest deadline reached");
    }
    // Leaves hold `-mean(-y)`; the Newton step already negates, so leaf values are means.
    params.set("n_trees", ParamValue::Int(grown as i64));
    Ok(ForestModel {
        kind: kind.into(),
        n_classes,
        trees,
        feature_names: x.names().to_vec(),
        params,
    })
}

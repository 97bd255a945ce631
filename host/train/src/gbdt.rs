//! Gradient boosting: the round loop (bagging, feature sampling, early stopping, deadline) and the
//! fitted model.

use crate::binning::BinnedMatrix;
use crate::catalogue::{GBDT, gbdt_specs};
use crate::grow::{Grower, TreeParams};
use crate::objective::Objective;
use crate::params::{Reader, resolve};
use crate::split::SplitParams;
use crate::tree::Tree;
use crate::{FitOptions, Matrix, Predictions, Target, TrainError};
use microlearn_core::{ParamValue, Params, Task};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel block when predicting: every tree is walked for a block before the next, so
/// the block's feature values stay in cache.
const PREDICT_BLOCK: usize = 512;

/// A fitted gradient-boosted tree ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtModel {
    /// Loss the trees were fitted to (also the link used at prediction).
    pub objective: Objective,
    /// Starting score per output.
    pub init_scores: Vec<f64>,
    /// Trees, round-major: tree `t` adds to output `t % n_outputs`.
    pub trees: Vec<Tree>,
    /// Feature names seen at fit.
    pub feature_names: Vec<String>,
    /// Hyperparameters as used (`n_rounds` = rounds kept).
    pub params: Params,
    /// Validation loss after each round, when a validation set was given.
    pub valid_loss: Vec<f64>,
}

impl GbdtModel {
    /// Rounds kept.
    pub fn n_rounds(&self) -> usize {
        self.trees.len() / self.objective.n_outputs()
    }

    /// Raw scores, row-major rows × outputs, computed in parallel on the current pool.
    pub fn raw_scores(&self, x: &Matrix) -> Vec<f64> {
        crate::tree::ensemble_sum(
            &self.trees,
            x,
            self.objective.n_outputs(),
            &self.init_scores,
        )
    }

    /// Predictions (probabilities for classification).
    pub fn predict(&self, x: &Matrix) -> Predictions {
        self.objective.transform(self.raw_scores(x))
    }

    /// Total split gain per feature.
    pub fn feature_importance(&self) -> Vec<f64> {
        crate::tree::gain_importance(&self.trees, self.feature_names.len())
    }

    /// Splits per feature.
    pub fn split_counts(&self) -> Vec<f64> {
        crate::tree::split_counts(&self.trees, self.feature_names.len())
    }
}

/// Hyperparameters of one fit, read once.
struct Config {
    n_rounds: usize,
    tree: TreeParams,
    feature_fraction: f64,
    bagging_fraction: f64,
    max_bin: usize,
    early_stopping_rounds: usize,
}

fn objective_for(task: Task, n_classes: usize, p: &Reader<'_>) -> Objective {
    match task {
        Task::Binary => Objective::Binary,
        Task::Multiclass => Objective::Multiclass { n_classes },
        Task::Regression => match p.choice("objective") {
            "huber" => Objective::Huber {
                delta: p.f64("huber_delta"),
            },
            _ => Objective::L2,
        },
    }
}

/// Fits a GBDT; runs on the current rayon pool.
pub(crate) fn fit(
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<GbdtModel, TrainError> {
    let mut params = resolve(GBDT, &gbdt_specs(), params)?;
    let n_classes = crate::matrix::validate_inputs(GBDT, task, x, y, "training")?;
    if let Some((vx, vy)) = opts.valid {
        crate::matrix::validate_inputs(GBDT, task, vx, vy, "validation")?;
        if vx.n_cols() != x.n_cols() {
            return Err(TrainError::ShapeMismatch {
                what: "validation matrix columns".into(),
                expected: x.n_cols(),
                got: vx.n_cols(),
            });
        }
        if let (Target::Classes { n_classes: a, .. }, Target::Classes { n_classes: b, .. }) =
            (y, vy)
            && a != b
        {
            return Err(TrainError::ShapeMismatch {
                what: "validation n_classes".into(),
                expected: *a,
                got: *b,
            });
        }
    }
    let r = Reader(&params);
    let objective = objective_for(task, n_classes, &r);
    let cfg = Config {
        n_rounds: r.usize("n_rounds").max(1),
        tree: TreeParams {
            num_leaves: r.usize("num_leaves").max(2),
            max_depth: r.i64("max_depth"),
            learning_rate: r.f64("learning_rate"),
            split: SplitParams {
                lambda_l1: r.f64("lambda_l1"),
                lambda_l2: r.f64("lambda_l2"),
                min_data_in_leaf: r.usize("min_data_in_leaf") as u32,
                min_sum_hessian: r.f64("min_sum_hessian"),
                min_gain_to_split: r.f64("min_gain_to_split"),
                extra_trees: r.flag("extra_trees"),
            },
            feature_fraction_bynode: r.f64("feature_fraction_bynode"),
            direct: false,
        },
        feature_fraction: r.f64("feature_fraction"),
        bagging_fraction: r.f64("bagging_fraction"),
        max_bin: r.usize("max_bin").clamp(2, 255),
        early_stopping_rounds: r.usize("early_stopping_rounds"),
    };

    let n = x.n_rows();
    let k = objective.n_outputs();
    let binned = BinnedMatrix::build(x, cfg.max_bin, opts.seed);
    let usable: Vec<usize> = (0..x.n_cols())
        .filter(|&j| binned.is_splittable(j))
        .collect();
    let init_scores = objective.init_scores(y);
    let mut scores: Vec<f64> = (0..n).flat_map(|_| init_scores.iter().copied()).collect();
    let mut valid_scores: Option<Vec<f64>> = opts.valid.map(|(vx, _)| {
        (0..vx.n_rows())
            .flat_map(|_| init_scores.iter().copied())
            .collect()
    });
    let mut grad = vec![0f32; n * k];
    let mut hess = vec![0f32; n * k];
    let mut scratch = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut grower = Grower::new(&binned, cfg.tree);
    let all_rows: Vec<u32> = (0..n as u32).collect();
    let bag_size = ((n as f64 * cfg.bagging_fraction).round() as usize).clamp(1, n);
    let n_features = ((usable.len() as f64 * cfg.feature_fraction).ceil() as usize)
        .clamp(1, usable.len().max(1));
    let mut in_bag = vec![false; n];

    let mut trees: Vec<Tree> = Vec::with_capacity(cfg.n_rounds * k);
    let mut valid_loss = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let stop_early = cfg.early_stopping_rounds > 0 && opts.valid.is_some();

    for round in 0..cfg.n_rounds {
        objective.gradients(&scores, y, &mut grad, &mut hess, &mut scratch);
        let bag: Vec<u32> = if bag_size < n {
            let mut b: Vec<u32> = rand::seq::index::sample(&mut rng, n, bag_size)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            b.sort_unstable();
            b
        } else {
            Vec::new()
        };
        let rows: &[u32] = if bag_size < n { &bag } else { &all_rows };
        if bag_size < n {
            in_bag.fill(false);
            for &r in rows {
                in_bag[r as usize] = true;
            }
        }
        for c in 0..k {
            let features: Vec<usize> = if n_features < usable.len() {
                let mut f: Vec<usize> =
                    rand::seq::index::sample(&mut rng, usable.len(), n_features)
                        .into_iter()
                        .map(|i| usable[i])
                        .collect();
                f.sort_unstable();
                f
            } else {
                usable.clone()
            };
            let tree = grower.grow(
                rows,
                &grad[c * n..(c + 1) * n],
                &hess[c * n..(c + 1) * n],
                &features,
                crate::split::mix(opts.seed, (round * k + c) as u64),
            );
            // Bag rows: their leaves are known from the partition.
            for (l, &v) in tree.leaf_values.iter().enumerate() {
                for &r in grower.leaf_rows(l) {
                    scores[r as usize * k + c] += v;
                }
            }
            // Out-of-bag rows: route by bins, which agree exactly with the raw thresholds.
            if bag_size < n {
                add_out_of_bag(&tree, &binned, &in_bag, &mut scores, k, c);
            }
            if let (Some(vs), Some((vx, _))) = (valid_scores.as_mut(), opts.valid) {
                vs.par_chunks_mut(PREDICT_BLOCK * k)
                    .enumerate()
                    .for_each(|(b, block)| {
                        let start = b * PREDICT_BLOCK;
                        tree.add_to(vx, start..start + block.len() / k, &mut block[c..], k);
                    });
            }
            trees.push(tree);
        }
        if let (Some(vs), Some((_, vy))) = (valid_scores.as_ref(), opts.valid) {
            let loss = objective.loss(vs, vy);
            valid_loss.push(loss);
            if best.is_none_or(|(_, b)| loss < b) {
                best = Some((round, loss));
            }
            if stop_early && best.is_some_and(|(b, _)| round - b >= cfg.early_stopping_rounds) {
                tracing::debug!(round, best_round = ?best, "gbdt early stopping");
                break;
            }
        }
        if opts.should_stop() {
            tracing::debug!(round, "gbdt deadline reached");
            break;
        }
    }
    if stop_early && let Some((b, _)) = best {
        trees.truncate((b + 1) * k);
    }
    params.set("n_rounds", ParamValue::Int((trees.len() / k) as i64));
    Ok(GbdtModel {
        objective,
        init_scores,
        trees,
        feature_names: x.names().to_vec(),
        params,
        valid_loss,
    })
}

fn add_out_of_bag(
    tree: &Tree,
    binned: &BinnedMatrix,
    in_bag: &[bool],
    scores: &mut [f64],
    k: usize,
    c: usize,
) {
    scores
        .par_chunks_mut(PREDICT_BLOCK * k)
        .enumerate()
        .for_each(|(b, block)| {
            let start = b * PREDICT_BLOCK;
            for (o, row) in block.chunks_mut(k).enumerate() {
                let i = start + o;
                if in_bag[i] {
                    continue;
                }
                let leaf = tree.leaf_with(|node| binned.goes_left(node, i));
                row[c] += tree.leaf_values[leaf];
            }
        });
}

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

#[cfg(test)]
mod tests {
    use crate::split::mix;
    use crate::{FitOptions, Matrix, Target, TrainedModel};
    use microlearn_core::{ParamValue, Params, Task};

    /// A uniform draw in `[0, 1)` from a hash, so the data needs no RNG crate and cannot drift.
    fn unit(i: usize, j: usize) -> f64 {
        (mix(0xF0E57, (i * 64 + j) as u64) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` rows: three continuous columns (the third with 5% missing values), an integer column
    /// with 30 values, a flag and an 8-level categorical column; a 3-class label, a binary label
    /// and a regression target, all with noise.
    fn data(n: usize) -> (Matrix, Vec<u32>, Vec<u32>, Vec<f64>) {
        let col = |j: usize, f: &dyn Fn(f64) -> f64| (0..n).map(|i| f(unit(i, j))).collect();
        let mut cols: Vec<Vec<f64>> = vec![
            col(0, &|u| u * 2.0 - 1.0),
            col(1, &|u| u * 2.0 - 1.0),
            col(2, &|u| u),
            col(3, &|u| (u * 30.0).floor()),
            col(4, &|u| f64::from(u8::from(u < 0.3))),
            col(5, &|u| (u * 8.0).floor()),
        ];
        for (i, v) in cols[2].iter_mut().enumerate() {
            if unit(i, 10) < 0.05 {
                *v = f64::NAN;
            }
        }
        // Two latent scores per row.
        let st: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let (a, b, d, c) = (cols[0][i], cols[1][i], cols[3][i], cols[5][i]);
                let s = a + 0.5 * b + (d - 15.0) / 20.0 + (unit(i, 11) - 0.5) * 0.6;
                let t = a * b * 3.0 + if c < 3.0 { 0.4 } else { -0.4 } + (unit(i, 12) - 0.5) * 0.6;
                (s, t)
            })
            .collect();
        let multi = st
            .iter()
            .map(|&(s, t)| {
                if s < -0.4 {
                    0
                } else if t > 0.0 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let binary = st.iter().map(|&(s, t)| u32::from(s + t > 0.0)).collect();
        let reg = st
            .iter()
            .zip(&cols[4])
            .map(|(&(s, t), &f)| 100.0 * s + 10.0 * t + f)
            .collect();
        let names = (0..cols.len()).map(|j| format!("c{j}")).collect();
        let mut x = Matrix::from_columns(names, cols).expect("columns are rectangular");
        x.set_categorical(5, true).expect("column 5 holds codes");
        (x, multi, binary, reg)
    }

    /// FNV-1a of the postcard encoding: the model's exact bits.
    fn fingerprint(model: &TrainedModel) -> u64 {
        let bytes = postcard::to_allocvec(model).expect("models serialise");
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    /// Forests are exactly the models the histogram-per-node grower built before small nodes
    /// were split from their touched bins (and pure nodes skipped): the fingerprints below were
    /// recorded with that earlier code. Covers both kinds, the three tasks, missing values, a
    /// categorical column, bootstrap and subsampling, `min_data_in_leaf` > 1, a depth limit, and
    /// nodes both above and below the sparse-scan row threshold; every fit must also be the
    /// same on 1 and 3 threads.
    #[test]
    fn forests_are_bit_identical_to_the_recorded_models() {
        let (x, multi, binary, reg) = data(5000);
        // Kind, task, target, parameters beyond `n_trees`, expected fingerprint.
        type Case<'a> = (&'a str, Task, Target, &'a [(&'a str, ParamValue)], u64);
        let cases: [Case; 8] = [
            (
                "random_forest",
                Task::Multiclass,
                Target::Classes {
                    y: multi.clone(),
                    n_classes: 3,
                },
                &[],
                0x0cfd301064447348,
            ),
            (
                "extra_trees",
                Task::Multiclass,
                Target::Classes {
                    y: multi.clone(),
                    n_classes: 3,
                },
                &[("max_features", ParamValue::Choice("half".into()))],
                0xf2a331eb2e47744b,
            ),
            (
                "random_forest",
                Task::Binary,
                Target::Classes {
                    y: binary.clone(),
                    n_classes: 2,
                },
                &[
                    ("min_data_in_leaf", ParamValue::Int(3)),
                    ("max_samples", ParamValue::Float(0.5)),
                ],
                0xeecd45e94a7d61d5,
            ),
            (
                "extra_trees",
                Task::Binary,
                Target::Classes {
                    y: binary.clone(),
                    n_classes: 2,
                },
                &[
                    ("max_features", ParamValue::Choice("all".into())),
                    ("max_depth", ParamValue::Int(7)),
                ],
                0xcb29adf9b6d9495d,
            ),
            (
                "random_forest",
                Task::Regression,
                Target::Regression(reg.clone()),
                &[("max_features", ParamValue::Choice("log2".into()))],
                0x810a46dbd24c2ea3,
            ),
            (
                "extra_trees",
                Task::Regression,
                Target::Regression(reg.clone()),
                &[("min_data_in_leaf", ParamValue::Int(2))],
                0xb8b5fb1f6885b107,
            ),
            (
                "random_forest",
                Task::Multiclass,
                Target::Classes {
                    y: multi.clone(),
                    n_classes: 3,
                },
                &[
                    ("bootstrap", ParamValue::Flag(false)),
                    ("max_samples", ParamValue::Float(0.3)),
                    ("max_bin", ParamValue::Int(16)),
                ],
                0x4d1c5c637b101a39,
            ),
            (
                "extra_trees",
                Task::Regression,
                Target::Regression(reg.clone()),
                &[
                    ("bootstrap", ParamValue::Flag(true)),
                    ("max_leaves", ParamValue::Int(40)),
                ],
                0x6948dd2e1bd49e42,
            ),
        ];
        let mut got = Vec::new();
        for (kind, task, y, extra, _) in &cases {
            let mut params = Params::new();
            params.set("n_trees", ParamValue::Int(4));
            for (k, v) in *extra {
                params.set(*k, v.clone());
            }
            let fit = |threads| {
                let opts = FitOptions {
                    threads,
                    deadline: None,
                    seed: 11,
                    valid: None,
                    cancel: None,
                };
                crate::fit(kind, &params, *task, &x, y, &opts).expect("forest fits")
            };
            let one = fit(1);
            assert_eq!(
                one,
                fit(3),
                "{kind} {task:?} {extra:?}: thread count changed the model"
            );
            got.push(fingerprint(&one));
        }
        let expected: Vec<u64> = cases.iter().map(|c| c.4).collect();
        assert_eq!(got, expected, "{got:#x?}");
    }
}

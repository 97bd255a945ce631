//! A fitted regression tree: split nodes on raw `f64` thresholds and leaf values.

use crate::Matrix;
use serde::{Deserialize, Serialize};

/// An internal node. Children `>= 0` are nodes, `< 0` are leaves encoded as `!leaf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Feature (column) index.
    pub feature: u32,
    /// Values `<= threshold` go left (the upper bound of the split bin; may be `+inf`, which
    /// sends every present value left and only missing ones by `default_left`).
    #[serde(with = "finite_f64")]
    pub threshold: f64,
    /// The bin the threshold came from, used to route training rows without re-binning.
    pub bin: u8,
    /// Where missing (NaN) values go.
    pub default_left: bool,
    /// Left child.
    pub left: i32,
    /// Right child.
    pub right: i32,
    /// Loss reduction of the split, for gain importance.
    pub gain: f64,
    /// Categorical splits: the category codes that go left, sorted; any other code goes right
    /// and `threshold` is `-inf` so the numeric test never sends a row left.
    pub cats: Option<Vec<u32>>,
}

impl Node {
    /// Whether a row whose feature value is `v` goes left.
    #[inline]
    pub fn goes_left(&self, v: f64) -> bool {
        v <= self.threshold
            || if v.is_nan() {
                self.default_left
            } else {
                // Cold path: numeric splits that send `v` right end up here too and fail the
                // `is_some_and` test at once.
                self.cats.as_ref().is_some_and(|c| {
                    v >= 0.0 && v.fract() == 0.0 && c.binary_search(&(v as u32)).is_ok()
                })
            }
    }
}

/// A fitted tree; a tree with no nodes is a single leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split nodes, root first.
    pub nodes: Vec<Node>,
    /// Leaf outputs, learning rate already applied.
    pub leaf_values: Vec<f64>,
}

impl Tree {
    /// Output for the row whose feature `j` is `value(j)`.
    #[inline]
    pub fn predict_with(&self, value: impl Fn(usize) -> f64) -> f64 {
        self.leaf_values[self.leaf_with(|n| n.goes_left(value(n.feature as usize)))]
    }

    /// Leaf reached when `go_left` decides each node.
    #[inline]
    pub(crate) fn leaf_with(&self, go_left: impl Fn(&Node) -> bool) -> usize {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut at = 0usize;
        loop {
            let n = &self.nodes[at];
            let next = if go_left(n) { n.left } else { n.right };
            if next < 0 {
                return !next as usize;
            }
            at = next as usize;
        }
    }

    /// Adds this tree's output for rows `rows` of `x` into `out[(i - rows.start) * stride]`.
    ///
    /// Rows are walked in lockstep groups: the per-row walks are independent, so interleaving
    /// them lets the CPU overlap their loads instead of stalling on one row's path at a time.
    pub(crate) fn add_to(
        &self,
        x: &Matrix,
        rows: std::ops::Range<usize>,
        out: &mut [f64],
        stride: usize,
    ) {
        const LANES: usize = 8;
        if self.nodes.is_empty() {
            for k in 0..rows.len() {
                out[k * stride] += self.leaf_values[0];
            }
            return;
        }
        let (data, n) = x.strided();
        let base = rows.start;
        let len = rows.len();
        let mut g = 0;
        while g < len {
            let lanes = LANES.min(len - g);
            // Node cursor per lane; a negative cursor is a reached leaf (`!leaf`).
            let mut cur = [0i32; LANES];
            let mut live = lanes;
            while live > 0 {
                live = 0;
                for (l, c) in cur.iter_mut().enumerate().take(lanes) {
                    if *c >= 0 {
                        let nd = &self.nodes[*c as usize];
                        let v = data[nd.feature as usize * n + base + g + l];
                        let left = nd.goes_left(v);
                        *c = if left { nd.left } else { nd.right };
                        live += usize::from(*c >= 0);
                    }
                }
            }
            for (l, c) in cur.iter().enumerate().take(lanes) {
                out[(g + l) * stride] += self.leaf_values[!*c as usize];
            }
            g += lanes;
        }
    }
}

/// Rows per parallel block when an ensemble predicts: every tree is walked for a block before
/// the next, so the block's feature values stay in cache.
const PREDICT_BLOCK: usize = 512;

/// Sum of `trees` over every row of `x`, row-major rows × `k`, starting from `init` (one value
/// per output); tree `t` adds to output `t % k`. Runs on the current rayon pool.
pub(crate) fn ensemble_sum(trees: &[Tree], x: &Matrix, k: usize, init: &[f64]) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; x.n_rows() * k];
    out.par_chunks_mut(PREDICT_BLOCK * k)
        .enumerate()
        .for_each(|(b, block)| {
            let start = b * PREDICT_BLOCK;
            let rows = start..start + block.len() / k;
            for row in block.chunks_mut(k) {
                row.copy_from_slice(init);
            }
            for (t, tree) in trees.iter().enumerate() {
                tree.add_to(x, rows.clone(), &mut block[t % k..], k);
            }
        });
    out
}

/// Total split gain per feature over `trees`.
pub(crate) fn gain_importance(trees: &[Tree], n_features: usize) -> Vec<f64> {
    let mut imp = vec![0.0; n_features];
    for t in trees {
        for n in &t.nodes {
            imp[n.feature as usize] += n.gain;
        }
    }
    imp
}

/// Number of splits per feature over `trees`.
pub(crate) fn split_counts(trees: &[Tree], n_features: usize) -> Vec<f64> {
    let mut imp = vec![0.0; n_features];
    for t in trees {
        for n in &t.nodes {
            imp[n.feature as usize] += 1.0;
        }
    }
    imp
}

/// Serde for `f64` values that may be infinite: JSON has no infinity, so `±inf` is written as
/// `±f64::MAX` and read back as infinity (`f64::MAX` itself never occurs as a bin bound: bounds
/// are midpoints of observed values or `+inf`).
mod finite_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        let w = if *v == f64::INFINITY {
            f64::MAX
        } else if *v == f64::NEG_INFINITY {
            f64::MIN
        } else {
            *v
        };
        s.serialize_f64(w)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(if v == f64::MAX {
            f64::INFINITY
        } else if v == f64::MIN {
            f64::NEG_INFINITY
        } else {
            v
        })
    }
}

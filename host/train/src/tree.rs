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
        self.leaf_values[self.leaf_with(|n| {
            let v = value(n.feature as usize);
            if v.is_nan() {
                n.default_left
            } else {
                v <= n.threshold
            }
        })]
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
        let n = x.n_rows();
        let data = x.data();
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
                        let left = v <= nd.threshold || (v.is_nan() && nd.default_left);
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

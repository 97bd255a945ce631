//! Leaf-wise (best-first) growth of one tree on binned data.
//!
//! Rows of the bag live in one index buffer; each leaf owns a contiguous range of it, and a split
//! partitions that range in place (stable, so rows stay in ascending order and memory access stays
//! mostly sequential). Only the smaller child's histogram is built; the larger one is the parent's
//! minus the smaller's.

use crate::binning::BinnedMatrix;
use crate::histogram::{self, Layout, Sums};
use crate::split::{self, SplitInfo, SplitParams};
use crate::tree::{Node, Tree};

/// Shape limits and step size of every tree in a fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeParams {
    pub num_leaves: usize,
    /// `< 0` means unlimited.
    pub max_depth: i64,
    pub learning_rate: f64,
    pub split: SplitParams,
}

struct Leaf {
    start: usize,
    end: usize,
    depth: i64,
    sums: Sums,
    hist: Option<Vec<Sums>>,
    best: Option<SplitInfo>,
    /// Parent node and whether this leaf is its left child.
    parent: Option<(usize, bool)>,
}

/// Reusable buffers for growing trees on one binned matrix.
pub(crate) struct Grower<'a> {
    binned: &'a BinnedMatrix,
    layout: Layout,
    params: TreeParams,
    /// Bag rows, partitioned by leaf after `grow`.
    indices: Vec<u32>,
    scratch: Vec<u32>,
    ordered_g: Vec<f32>,
    ordered_h: Vec<f32>,
    free_hists: Vec<Vec<Sums>>,
    /// `[start, end)` of each leaf of the last grown tree in `indices`.
    leaf_ranges: Vec<(usize, usize)>,
}

impl<'a> Grower<'a> {
    pub fn new(binned: &'a BinnedMatrix, params: TreeParams) -> Grower<'a> {
        Grower {
            binned,
            layout: Layout::new(binned),
            params,
            indices: Vec::new(),
            scratch: Vec::new(),
            ordered_g: Vec::new(),
            ordered_h: Vec::new(),
            free_hists: Vec::new(),
            leaf_ranges: Vec::new(),
        }
    }

    /// Rows of leaf `l` of the last grown tree.
    pub fn leaf_rows(&self, l: usize) -> &[u32] {
        let (s, e) = self.leaf_ranges[l];
        &self.indices[s..e]
    }

    fn take_hist(&mut self) -> Vec<Sums> {
        self.free_hists
            .pop()
            .unwrap_or_else(|| vec![Sums::default(); self.layout.total()])
    }

    fn build_hist(
        &mut self,
        start: usize,
        end: usize,
        features: &[usize],
        grad: &[f32],
        hess: &[f32],
    ) -> Vec<Sums> {
        let mut hist = self.take_hist();
        for (k, &r) in self.indices[start..end].iter().enumerate() {
            self.ordered_g[start + k] = grad[r as usize];
            self.ordered_h[start + k] = hess[r as usize];
        }
        histogram::build(
            &mut hist,
            &self.layout,
            self.binned,
            features,
            &self.indices[start..end],
            &self.ordered_g[start..end],
            &self.ordered_h[start..end],
        );
        hist
    }

    fn can_split(&self, depth: i64, n: u32) -> bool {
        (self.params.max_depth < 0 || depth < self.params.max_depth)
            && n >= 2 * self.params.split.min_data_in_leaf.max(1)
    }

    /// Grows one tree on `rows` (the bag) with per-row `grad`/`hess` (indexed by row), splitting
    /// only on `features` (ascending).
    pub fn grow(&mut self, rows: &[u32], grad: &[f32], hess: &[f32], features: &[usize]) -> Tree {
        let p = self.params;
        self.indices.clear();
        self.indices.extend_from_slice(rows);
        self.ordered_g.resize(rows.len(), 0.0);
        self.ordered_h.resize(rows.len(), 0.0);
        let mut root_sums = Sums::default();
        for &r in rows {
            root_sums.g += f64::from(grad[r as usize]);
            root_sums.h += f64::from(hess[r as usize]);
        }
        root_sums.n = rows.len() as u32;

        let mut nodes: Vec<Node> = Vec::new();
        let mut leaves = vec![Leaf {
            start: 0,
            end: rows.len(),
            depth: 0,
            sums: root_sums,
            hist: None,
            best: None,
            parent: None,
        }];
        if p.num_leaves > 1 && self.can_split(0, root_sums.n) && !features.is_empty() {
            let hist = self.build_hist(0, rows.len(), features, grad, hess);
            leaves[0].best = split::best_split(&hist, &self.layout, features, &root_sums, &p.split);
            leaves[0].hist = Some(hist);
        }

        while leaves.len() < p.num_leaves {
            // Best-first: the leaf whose split reduces the loss most (lowest index on ties).
            let mut pick: Option<usize> = None;
            for (l, leaf) in leaves.iter().enumerate() {
                if let Some(b) = &leaf.best
                    && pick.is_none_or(|q| {
                        b.gain > leaves[q].best.as_ref().map_or(f64::MIN, |x| x.gain)
                    })
                {
                    pick = Some(l);
                }
            }
            let Some(l) = pick else { break };
            let info = leaves[l].best.take().expect("picked leaf has a split");
            let (start, end, depth, parent) = (
                leaves[l].start,
                leaves[l].end,
                leaves[l].depth,
                leaves[l].parent,
            );
            let new_leaf = leaves.len();
            let node_at = nodes.len();
            nodes.push(Node {
                feature: info.feature as u32,
                threshold: self.binned.mappers[info.feature].upper[info.bin as usize],
                bin: info.bin,
                default_left: info.default_left,
                left: !(l as i32),
                right: !(new_leaf as i32),
                gain: info.gain,
            });
            if let Some((pn, is_left)) = parent {
                if is_left {
                    nodes[pn].left = node_at as i32;
                } else {
                    nodes[pn].right = node_at as i32;
                }
            }
            let mid = self.partition(start, end, &info);
            debug_assert_eq!((mid - start) as u32, info.left.n);

            let full = leaves.len() + 1 >= p.num_leaves;
            let left_ok = !full && self.can_split(depth + 1, info.left.n);
            let right_ok = !full && self.can_split(depth + 1, info.right.n);
            let parent_hist = leaves[l].hist.take();
            let (mut left_hist, mut right_hist) = (None, None);
            if let Some(mut parent_hist) = parent_hist {
                if left_ok || right_ok {
                    let left_smaller = info.left.n <= info.right.n;
                    let (s, e) = if left_smaller {
                        (start, mid)
                    } else {
                        (mid, end)
                    };
                    let small = self.build_hist(s, e, features, grad, hess);
                    histogram::subtract(&mut parent_hist, &small, &self.layout, features);
                    if left_smaller {
                        (left_hist, right_hist) = (Some(small), Some(parent_hist));
                    } else {
                        (left_hist, right_hist) = (Some(parent_hist), Some(small));
                    }
                } else {
                    self.free_hists.push(parent_hist);
                }
            }
            let mut child = |ok: bool,
                             hist: Option<Vec<Sums>>,
                             sums: Sums|
             -> (Option<Vec<Sums>>, Option<SplitInfo>) {
                match hist {
                    Some(h) if ok => {
                        let best = split::best_split(&h, &self.layout, features, &sums, &p.split);
                        (Some(h), best)
                    }
                    Some(h) => {
                        self.free_hists.push(h);
                        (None, None)
                    }
                    None => (None, None),
                }
            };
            let (lh, lb) = child(left_ok, left_hist, info.left);
            let (rh, rb) = child(right_ok, right_hist, info.right);
            leaves[l] = Leaf {
                start,
                end: mid,
                depth: depth + 1,
                sums: info.left,
                hist: lh,
                best: lb,
                parent: Some((node_at, true)),
            };
            leaves.push(Leaf {
                start: mid,
                end,
                depth: depth + 1,
                sums: info.right,
                hist: rh,
                best: rb,
                parent: Some((node_at, false)),
            });
        }

        self.leaf_ranges.clear();
        let mut leaf_values = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            self.leaf_ranges.push((leaf.start, leaf.end));
            leaf_values.push(p.split.leaf_output(&leaf.sums) * p.learning_rate);
            if let Some(h) = leaf.hist {
                self.free_hists.push(h);
            }
        }
        Tree { nodes, leaf_values }
    }

    /// Stable in-place partition of `indices[start..end]` by the split; returns the first right row.
    fn partition(&mut self, start: usize, end: usize, info: &SplitInfo) -> usize {
        let col = self.binned.column(info.feature);
        let missing = self.binned.mappers[info.feature].missing_bin();
        let (bin, default_left) = (info.bin, info.default_left);
        // Branch-free: every row is written to both sides and only the matching cursor advances,
        // so the left/right coin flip never costs a misprediction. `w <= i` always, so writing
        // `indices[w]` never clobbers a row not yet read.
        self.scratch.resize(end - start, 0);
        let mut w = start;
        let mut s = 0;
        for i in start..end {
            let r = self.indices[i];
            let b = col[r as usize];
            let left = (b != missing && b <= bin) | (b == missing && default_left);
            self.indices[w] = r;
            self.scratch[s] = r;
            w += usize::from(left);
            s += usize::from(!left);
        }
        self.indices[w..end].copy_from_slice(&self.scratch[..s]);
        w
    }
}

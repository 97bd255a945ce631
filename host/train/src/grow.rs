//! Leaf-wise (best-first) growth of one tree on binned data.
//!
//! Rows of the bag live in one index buffer; each leaf owns a contiguous range of it, and a split
//! partitions that range in place (stable, so rows stay in ascending order and memory access stays
//! mostly sequential). Only the smaller child's histogram is built; the larger one is the parent's
//! minus the smaller's.
//!
//! In direct mode (forests) each node instead sums its own rows over the features it samples,
//! and a small node does so from only the bins its rows touch ([`SparseBins`]): deep trees are
//! mostly small nodes, whose cost must follow their rows, not the features' 256 bins.

use crate::binning::BinnedMatrix;
use crate::histogram::{self, Layout, SparseBins, Sums};
use crate::split::{self, SplitInfo, SplitParams, in_set, mix};
use crate::tree::{Node, Tree};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Shape limits and step size of every tree in a fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeParams {
    pub num_leaves: usize,
    /// `< 0` means unlimited.
    pub max_depth: i64,
    pub learning_rate: f64,
    pub split: SplitParams,
    /// Share of the tree's features each node may split on (random forests' `max_features`);
    /// 1 tries them all.
    pub feature_fraction_bynode: f64,
    /// Sum every node's bins from its own rows, for the features it samples only, instead of
    /// keeping parents' histograms for the subtraction trick. Deep trees with few
    /// rows per node and per-node feature sampling (forests) are then O(rows × sampled features)
    /// per level rather than O(bins × all features) per node.
    pub direct: bool,
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
    /// Whether the split that made this leaf was categorical: its output then takes the extra
    /// categorical L2 penalty too, as its gain did.
    cat_parent: bool,
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
    /// Seed of the current tree, mixed with a node counter for per-node randomness.
    tree_seed: u64,
    nodes_seen: u64,
    node_features: Vec<usize>,
    /// Per-feature hashes while a node samples its features, and a copy to select in.
    feature_keys: Vec<u64>,
    select_keys: Vec<u64>,
    /// Bin sums of one feature over a small node's rows (direct mode).
    sparse: SparseBins,
    /// Whether every hessian of the current tree is 1 (forests), which `sparse` need not add.
    unit_hess: bool,
    /// A categorical feature's full slots for `split::best_categorical`, filled from `sparse`.
    cat_hist: Vec<Sums>,
    /// Histograms held by leaves waiting to split, and the most that may be: deep trees (random
    /// forests) would otherwise hold one per leaf. Past the cap a leaf keeps only its best
    /// split, and its children's histograms are built from rows instead of by subtraction.
    held_hists: usize,
    max_held_hists: usize,
}

/// Memory the pending leaves' histograms may hold per grower.
const HIST_CACHE_BYTES: usize = 64 << 20;

/// In direct mode, nodes with fewer rows than this find their split from the bins their rows
/// touch ([`SparseBins`]) instead of from a histogram; bigger nodes touch most bins anyway, and
/// a histogram lets their features be summed in parallel.
const SPARSE_MAX_ROWS: usize = 4096;

/// Up to this many features, a node's feature sample is found by counting ranks.
const SMALL_SELECT: usize = 64;

/// `sqrt(2^53)`, rounded down: integers up to this magnitude square exactly in an `f64`.
const EXACT_SQUARE_MAX: f64 = 94_906_265.0;

/// A leaf in the best-first queue.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    gain: f64,
    leaf: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Higher gain first, then the lower leaf index, as the former linear scan chose.
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain
            .total_cmp(&other.gain)
            .then_with(|| other.leaf.cmp(&self.leaf))
    }
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
            tree_seed: 0,
            nodes_seen: 0,
            node_features: Vec::new(),
            feature_keys: Vec::new(),
            select_keys: Vec::new(),
            sparse: SparseBins::new(),
            unit_hess: false,
            cat_hist: Vec::new(),
            held_hists: 0,
            max_held_hists: {
                let bytes = Layout::new(binned).total() * std::mem::size_of::<Sums>();
                (HIST_CACHE_BYTES / bytes.max(1)).max(2)
            },
        }
    }

    /// Best split of a leaf: over a random share of `features` when the tree samples per node,
    /// with a fresh seed per leaf for extra trees' random thresholds.
    fn find_split(&mut self, hist: &[Sums], features: &[usize], sums: &Sums) -> Option<SplitInfo> {
        let (node_seed, chosen) = self.sample_features(features);
        let p = self.params;
        let feats = chosen.as_deref().unwrap_or(features);
        let best = split::best_split(hist, &self.layout, feats, sums, &p.split, node_seed);
        if let Some(c) = chosen {
            self.node_features = c;
        }
        best
    }

    /// The next node's seed, and its share of `features` when the tree samples per node
    /// (`None`: all of them).
    fn sample_features(&mut self, features: &[usize]) -> (u64, Option<Vec<usize>>) {
        self.nodes_seen += 1;
        let node_seed = mix(self.tree_seed, self.nodes_seen);
        let keep = ((features.len() as f64 * self.params.feature_fraction_bynode).ceil() as usize)
            .clamp(1, features.len().max(1));
        if keep >= features.len() {
            return (node_seed, None);
        }
        // Keep the `keep` features with the smallest hash: a uniform sample that needs no RNG
        // state and does not depend on the order of `features`. `mix` is a bijection of the
        // feature for a fixed seed, so the hashes are distinct and the sample is exactly the
        // features whose hash is at most the `keep`-th smallest; filtering `features` by it
        // keeps them ascending. Each hash is computed once, not once per comparison.
        let keys = &mut self.feature_keys;
        keys.clear();
        keys.extend(features.iter().map(|&j| mix(node_seed, j as u64)));
        let cut = if keys.len() <= SMALL_SELECT {
            // The key with exactly `keep - 1` keys below it, found by counting: for the few
            // features of most tables this beats a selection's data-dependent branches, and it
            // runs once per node, of which small trees have thousands.
            keys.iter()
                .copied()
                .find(|&k| keys.iter().filter(|&&o| o < k).count() == keep - 1)
                .expect("distinct keys have every rank")
        } else {
            let select = &mut self.select_keys;
            select.clear();
            select.extend_from_slice(keys);
            *select.select_nth_unstable(keep - 1).1
        };
        let mut chosen = std::mem::take(&mut self.node_features);
        chosen.clear();
        chosen.extend(
            features
                .iter()
                .zip(keys.iter())
                .filter(|&(_, &k)| k <= cut)
                .map(|(&j, _)| j),
        );
        (node_seed, Some(chosen))
    }

    /// Best split of the leaf holding `indices[start..end]`, from the bins of only the features
    /// this node samples, summed over its rows (direct mode).
    fn direct_split(
        &mut self,
        (start, end): (usize, usize),
        features: &[usize],
        grad: &[f32],
        hess: &[f32],
        sums: &Sums,
    ) -> Option<SplitInfo> {
        self.gather(start, end, grad, hess);
        if self.uniform_node(start, end) {
            // Consume the node's seed all the same, so later nodes sample as before.
            self.nodes_seen += 1;
            return None;
        }
        let (node_seed, chosen) = self.sample_features(features);
        // Without sampling, the node's list is all of `features`, copied into the reused buffer
        // rather than a fresh allocation per node.
        let feats = chosen.unwrap_or_else(|| {
            let mut all = std::mem::take(&mut self.node_features);
            all.clear();
            all.extend_from_slice(features);
            all
        });
        let best = if end - start < SPARSE_MAX_ROWS {
            self.sparse_split(start, end, &feats, sums, node_seed)
        } else {
            let mut hist = self.take_hist();
            self.build_gathered(&mut hist, start, end, &feats);
            let p = self.params;
            let best = split::best_split(&hist, &self.layout, &feats, sums, &p.split, node_seed);
            self.free_hists.push(hist);
            best
        };
        self.node_features = feats;
        best
    }

    /// [`split::best_split`] for the gathered rows `start..end` over `feats`, with each
    /// feature's sums taken from only the bins its rows touch: the same splits, at a cost that
    /// follows the node's rows rather than the features' bins.
    fn sparse_split(
        &mut self,
        start: usize,
        end: usize,
        feats: &[usize],
        parent: &Sums,
        node_seed: u64,
    ) -> Option<SplitInfo> {
        let p = self.params.split;
        let rows = &self.indices[start..end];
        let g = &self.ordered_g[start..end];
        let h = (!self.unit_hess).then(|| &self.ordered_h[start..end]);
        let mut best = None;
        for &j in feats {
            let slots = self.binned.n_slots(j);
            self.sparse
                .accumulate(slots, self.binned.column(j), rows, g, h);
            let present = &self.sparse.present;
            let found = match self.layout.other_bin[j] {
                None => {
                    split::best_for_feature_sparse(present, slots - 1, j, parent, &p, node_seed)
                }
                // Categorical splits order and group the categories; they get the full slots.
                Some(other) => {
                    self.cat_hist.clear();
                    self.cat_hist.resize(slots, Sums::default());
                    for &(b, s) in present {
                        self.cat_hist[usize::from(b)] = s;
                    }
                    split::best_categorical(&self.cat_hist, j, other, parent, &p)
                }
            };
            best = split::pick(best, found);
        }
        best
    }

    /// Whether the gathered rows `start..end` provably have no split: all share one integral
    /// gradient and a unit hessian (a pure node of a forest's class-indicator tree, or a
    /// constant integer target) and there is no regularisation. Every sum over such rows is an
    /// exact integer below 2^53, so every numeric split's gain is exactly `0` (the two sides'
    /// `a·g²` and `b·g²` add up to the parent's `(a+b)·g²`) and never exceeds a non-negative
    /// `min_gain_to_split`; categorical gains, with their extra L2 term, are negative. The
    /// split search would return `None`, so it is skipped.
    fn uniform_node(&self, start: usize, end: usize) -> bool {
        let sp = &self.params.split;
        if sp.lambda_l1 != 0.0 || sp.lambda_l2 != 0.0 || sp.min_gain_to_split < 0.0 {
            return false;
        }
        let (g, h) = (&self.ordered_g[start..end], &self.ordered_h[start..end]);
        let Some(&g0) = g.first() else {
            return false;
        };
        g0.fract() == 0.0
            && (end - start) as f64 * f64::from(g0.abs()) <= EXACT_SQUARE_MAX
            && g.iter().all(|&v| v == g0)
            && h.iter().all(|&v| v == 1.0)
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
        self.gather(start, end, grad, hess);
        self.build_gathered(&mut hist, start, end, features);
        hist
    }

    /// Copies the gradients of rows `indices[start..end]` into `ordered_*[start..end]`, so the
    /// histogram loops read them sequentially.
    fn gather(&mut self, start: usize, end: usize, grad: &[f32], hess: &[f32]) {
        let rows = &self.indices[start..end];
        let og = &mut self.ordered_g[start..end];
        let oh = &mut self.ordered_h[start..end];
        for ((&r, g), h) in rows.iter().zip(og).zip(oh) {
            *g = grad[r as usize];
            *h = hess[r as usize];
        }
    }

    /// Fills `hist` for `features` from the gathered rows `start..end`.
    fn build_gathered(&self, hist: &mut [Sums], start: usize, end: usize, features: &[usize]) {
        histogram::build(
            hist,
            &self.layout,
            self.binned,
            features,
            &self.indices[start..end],
            &self.ordered_g[start..end],
            &self.ordered_h[start..end],
        );
    }

    fn can_split(&self, depth: i64, n: u32) -> bool {
        (self.params.max_depth < 0 || depth < self.params.max_depth)
            && n >= 2 * self.params.split.min_data_in_leaf.max(1)
    }

    /// Grows one tree on `rows` (the bag; repeats allowed) with per-row `grad`/`hess` (indexed by
    /// row), splitting only on `features` (ascending). `seed` drives per-node randomness.
    pub fn grow(
        &mut self,
        rows: &[u32],
        grad: &[f32],
        hess: &[f32],
        features: &[usize],
        seed: u64,
    ) -> Tree {
        let p = self.params;
        debug_assert!(features.is_sorted(), "features must be ascending");
        self.tree_seed = seed;
        self.nodes_seen = 0;
        self.held_hists = 0;
        self.indices.clear();
        self.indices.extend_from_slice(rows);
        self.ordered_g.resize(rows.len(), 0.0);
        self.ordered_h.resize(rows.len(), 0.0);
        let mut root_sums = Sums::default();
        self.unit_hess = true;
        for &r in rows {
            root_sums.g += f64::from(grad[r as usize]);
            root_sums.h += f64::from(hess[r as usize]);
            self.unit_hess &= hess[r as usize] == 1.0;
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
            cat_parent: false,
        }];
        if p.direct && p.num_leaves > 1 && self.can_split(0, root_sums.n) && !features.is_empty() {
            leaves[0].best = self.direct_split((0, rows.len()), features, grad, hess, &root_sums);
        } else if p.num_leaves > 1 && self.can_split(0, root_sums.n) && !features.is_empty() {
            let hist = self.build_hist(0, rows.len(), features, grad, hess);
            leaves[0].best = self.find_split(&hist, features, &root_sums);
            leaves[0].hist = Some(hist);
            self.held_hists = 1;
        }

        // Best-first: the leaf whose split reduces the loss most (lowest index on ties). A leaf's
        // best split is computed once and consumed once, so heap entries never go stale.
        let mut queue: BinaryHeap<Candidate> = BinaryHeap::new();
        if let Some(b) = &leaves[0].best {
            queue.push(Candidate {
                gain: b.gain,
                leaf: 0,
            });
        }
        while leaves.len() < p.num_leaves {
            let Some(Candidate { leaf: l, .. }) = queue.pop() else {
                break;
            };
            let info = leaves[l].best.take().expect("picked leaf has a split");
            let (start, end, depth, parent) = (
                leaves[l].start,
                leaves[l].end,
                leaves[l].depth,
                leaves[l].parent,
            );
            let new_leaf = leaves.len();
            let node_at = nodes.len();
            let mapper = &self.binned.mappers[info.feature];
            let (threshold, cats) = match (&info.cat_left, &mapper.categories) {
                (Some(set), Some(c)) => {
                    let mut codes: Vec<u32> = (0..c.codes.len())
                        .filter(|&b| in_set(set, b as u8))
                        .map(|b| c.codes[b])
                        .collect();
                    codes.sort_unstable();
                    (f64::NEG_INFINITY, Some(codes))
                }
                _ => (mapper.upper[info.bin as usize], None),
            };
            nodes.push(Node {
                feature: info.feature as u32,
                threshold,
                bin: info.bin,
                default_left: info.default_left,
                left: !(l as i32),
                right: !(new_leaf as i32),
                gain: info.gain,
                cats,
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
            if parent_hist.is_some() {
                self.held_hists -= 1;
            }
            let (mut left_hist, mut right_hist) = (None, None);
            if p.direct {
                // Children find their splits from their own rows below.
            } else if parent_hist.is_none() && (left_ok || right_ok) {
                // The parent's histogram was dropped to stay within the cache budget: build
                // both children from their rows.
                left_hist = Some(self.build_hist(start, mid, features, grad, hess));
                right_hist = Some(self.build_hist(mid, end, features, grad, hess));
            } else if let Some(mut parent_hist) = parent_hist {
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
                        let best = self.find_split(&h, features, &sums);
                        if best.is_some() && self.held_hists < self.max_held_hists {
                            self.held_hists += 1;
                            (Some(h), best)
                        } else {
                            self.free_hists.push(h);
                            (None, best)
                        }
                    }
                    Some(h) => {
                        self.free_hists.push(h);
                        (None, None)
                    }
                    None => (None, None),
                }
            };
            let ((lh, lb), (rh, rb)) = if p.direct {
                let lb = if left_ok {
                    self.direct_split((start, mid), features, grad, hess, &info.left)
                } else {
                    None
                };
                let rb = if right_ok {
                    self.direct_split((mid, end), features, grad, hess, &info.right)
                } else {
                    None
                };
                ((None, lb), (None, rb))
            } else {
                (
                    child(left_ok, left_hist, info.left),
                    child(right_ok, right_hist, info.right),
                )
            };
            if let Some(b) = &lb {
                queue.push(Candidate {
                    gain: b.gain,
                    leaf: l,
                });
            }
            if let Some(b) = &rb {
                queue.push(Candidate {
                    gain: b.gain,
                    leaf: new_leaf,
                });
            }
            leaves[l] = Leaf {
                start,
                end: mid,
                depth: depth + 1,
                sums: info.left,
                hist: lh,
                best: lb,
                parent: Some((node_at, true)),
                cat_parent: info.cat_left.is_some(),
            };
            leaves.push(Leaf {
                start: mid,
                end,
                depth: depth + 1,
                sums: info.right,
                hist: rh,
                best: rb,
                parent: Some((node_at, false)),
                cat_parent: info.cat_left.is_some(),
            });
        }

        self.leaf_ranges.clear();
        let mut leaf_values = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            self.leaf_ranges.push((leaf.start, leaf.end));
            let split = if leaf.cat_parent {
                p.split.for_categorical()
            } else {
                p.split
            };
            leaf_values.push(split.leaf_output(&leaf.sums) * p.learning_rate);
            if let Some(h) = leaf.hist {
                self.free_hists.push(h);
            }
        }
        Tree { nodes, leaf_values }
    }

    /// Stable in-place partition of `indices[start..end]` by the split; returns the first right row.
    fn partition(&mut self, start: usize, end: usize, info: &SplitInfo) -> usize {
        let missing = self.binned.mappers[info.feature].missing_bin();
        let (bin, default_left) = (info.bin, info.default_left);
        match &info.cat_left {
            // A categorical split as a 256-entry table of sides.
            Some(set) => {
                let mut table = [false; 256];
                for (b, side) in table.iter_mut().enumerate() {
                    *side = if b == missing as usize {
                        default_left
                    } else {
                        in_set(set, b as u8)
                    };
                }
                self.partition_by(start, end, info.feature, |b| table[usize::from(b)])
            }
            // A numeric split compares directly: small nodes are too many to fill a table each.
            // The missing bin lies above every value bin, so `b <= bin` never sends it left.
            None => self.partition_by(start, end, info.feature, |b| {
                (b <= bin) | (default_left & (b == missing))
            }),
        }
    }

    /// Stable in-place partition of `indices[start..end]` by whether `left(bin of feature)`.
    #[inline]
    fn partition_by(
        &mut self,
        start: usize,
        end: usize,
        feature: usize,
        left: impl Fn(u8) -> bool,
    ) -> usize {
        let col = self.binned.column(feature);
        // Branch-free: every row is written to both sides and only the matching cursor advances,
        // so the left/right coin flip never costs a misprediction. `w <= i` always, so writing
        // `indices[w]` never clobbers a row not yet read.
        self.scratch.resize(end - start, 0);
        // Local slices, so the loop keeps their pointers in registers.
        let rows = &mut self.indices[start..end];
        let right = &mut self.scratch[..];
        let mut w = 0;
        let mut s = 0;
        for i in 0..rows.len() {
            let r = rows[i];
            let go_left = left(col[r as usize]);
            rows[w] = r;
            right[s] = r;
            w += usize::from(go_left);
            s += usize::from(!go_left);
        }
        rows[w..].copy_from_slice(&right[..s]);
        start + w
    }
}

//! Best split of a leaf from its histogram, with a learned direction for missing values.

use crate::histogram::{Layout, Sums};
use rayon::prelude::*;

/// Regularisation and size limits that decide whether a split is allowed and what it gains.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitParams {
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_data_in_leaf: u32,
    pub min_sum_hessian: f64,
    pub min_gain_to_split: f64,
    /// Extremely randomised trees: each feature is tried at one random threshold per node
    /// instead of its best one.
    pub extra_trees: bool,
}

/// Smoothing added to a category's hessian when ordering categories by gradient ratio, and the
/// extra L2 penalty of categorical splits (LightGBM's `cat_smooth` and `cat_l2` defaults): both
/// keep rare categories from being sorted to an extreme and overfitted.
const CAT_SMOOTH: f64 = 10.0;
const CAT_L2: f64 = 10.0;
/// Most categories a left set may hold (LightGBM's `max_cat_threshold`); scanning further rarely
/// helps and costs time.
const MAX_CAT_THRESHOLD: usize = 32;
/// Rows each step of the sorted categorical scan must add before a threshold is tried, and the
/// fewest rows the right side may keep (LightGBM's `min_data_per_group`).
const MIN_DATA_PER_GROUP: u32 = 100;
/// Up to this many categories, every one-vs-rest split is tried instead of the sorted scan.
const MAX_CAT_TO_ONEHOT: usize = 4;

impl SplitParams {
    #[inline]
    fn threshold_l1(&self, g: f64) -> f64 {
        let a = g.abs() - self.lambda_l1;
        if a > 0.0 { a.copysign(g) } else { 0.0 }
    }

    /// Loss reduction a leaf with these sums contributes (up to a factor 1/2 shared by all terms).
    #[inline]
    pub fn leaf_gain(&self, s: &Sums) -> f64 {
        let t = self.threshold_l1(s.g);
        t * t / (s.h + self.lambda_l2)
    }

    /// Newton step for a leaf, before the learning rate.
    pub fn leaf_output(&self, s: &Sums) -> f64 {
        let denom = s.h + self.lambda_l2;
        if denom <= 0.0 {
            0.0
        } else {
            -self.threshold_l1(s.g) / denom
        }
    }

    /// The parameters categorical splits use: an extra L2 penalty on top of the usual one.
    pub fn for_categorical(&self) -> SplitParams {
        SplitParams {
            lambda_l2: self.lambda_l2 + CAT_L2,
            ..*self
        }
    }

    #[inline]
    fn side_ok(&self, s: &Sums) -> bool {
        s.n >= self.min_data_in_leaf && s.h >= self.min_sum_hessian
    }
}

/// A candidate split of one leaf.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitInfo {
    pub feature: usize,
    /// Numeric splits: rows with bin `<= bin` go left (the missing bin follows `default_left`).
    pub bin: u8,
    pub default_left: bool,
    pub gain: f64,
    pub left: Sums,
    pub right: Sums,
    /// Categorical splits: the value bins that go left, as a 256-bit set (the missing bin
    /// follows `default_left`).
    pub cat_left: Option<[u64; 4]>,
}

/// Whether bin `b` is in a 256-bit set.
#[inline]
pub(crate) fn in_set(set: &[u64; 4], b: u8) -> bool {
    set[(b >> 6) as usize] >> (b & 63) & 1 == 1
}

/// A 64-bit mix of a seed and a value (splitmix64), for random choices that must not depend on
/// the order rayon visits features in.
#[inline]
pub(crate) fn mix(seed: u64, v: u64) -> u64 {
    let mut z = seed ^ v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitInfo {
    /// Whether `self` beats `other`; ties go to the lower feature index so that the result does
    /// not depend on how rayon split the work.
    fn better_than(&self, other: &SplitInfo) -> bool {
        self.gain > other.gain || (self.gain == other.gain && self.feature < other.feature)
    }
}

/// The best numeric threshold seen so far for one feature, shared by the dense (histogram) and
/// sparse (occupied bins only) scans so both judge candidates identically.
struct BestThreshold<'a> {
    feature: usize,
    parent: &'a Sums,
    p: &'a SplitParams,
    parent_gain: f64,
    best: Option<SplitInfo>,
}

impl<'a> BestThreshold<'a> {
    fn new(feature: usize, parent: &'a Sums, p: &'a SplitParams) -> Self {
        BestThreshold {
            feature,
            parent,
            p,
            parent_gain: p.leaf_gain(parent),
            best: None,
        }
    }

    /// Consider sending `left` left at bin `b`; keeps the candidate if it beats the best
    /// strictly (so scanning an empty bin never changes the outcome).
    fn consider(&mut self, left: Sums, b: usize, default_left: bool) {
        let right = self.parent.minus(&left);
        if !self.p.side_ok(&left) || !self.p.side_ok(&right) {
            return;
        }
        let gain = self.p.leaf_gain(&left) + self.p.leaf_gain(&right) - self.parent_gain;
        if gain > self.p.min_gain_to_split && self.best.as_ref().is_none_or(|s| gain > s.gain) {
            self.best = Some(SplitInfo {
                feature: self.feature,
                bin: b as u8,
                default_left,
                gain,
                left,
                right,
                cat_left: None,
            });
        }
    }
}

/// Best split of feature `feature` given its histogram slots (last slot = missing bin).
/// `node_seed` drives the random threshold of extra trees.
pub(crate) fn best_for_feature(
    hist: &[Sums],
    feature: usize,
    parent: &Sums,
    p: &SplitParams,
    node_seed: u64,
) -> Option<SplitInfo> {
    let nb = hist.len() - 1;
    let miss = hist[nb];
    let mut tracker = BestThreshold::new(feature, parent, p);
    // Missing values go right. With missing rows present, the last value bin is a valid threshold
    // too: it separates "has a value" from "missing".
    let last = if miss.n > 0 { nb } else { nb.saturating_sub(1) };
    // Extra trees look at one random threshold, drawn between the leaf's smallest and largest
    // present values (as scikit-learn draws between the node's min and max), so that both sides
    // get rows; a draw over all bins would mostly miss a small leaf's range.
    let only = if p.extra_trees {
        let lo = hist[..nb].iter().position(|s| s.n > 0);
        let hi = hist[..nb].iter().rposition(|s| s.n > 0);
        match (lo, hi) {
            (Some(lo), Some(hi)) if hi > lo => {
                Some(lo + (mix(node_seed, feature as u64) % (hi - lo) as u64) as usize)
            }
            // One present value: only "value vs missing" can split, at the last value bin.
            (Some(_), Some(hi)) if miss.n > 0 => Some(hi),
            _ => return None,
        }
    } else {
        None
    };
    let mut left = Sums::default();
    for (b, s) in hist[..last].iter().enumerate() {
        left.add(s);
        if only.is_some_and(|o| o != b) {
            continue;
        }
        // Without missing rows, unseen missing values at prediction follow the bigger side.
        let default_left = miss.n == 0 && left.n * 2 >= parent.n;
        tracker.consider(left, b, default_left);
    }
    // Missing values go left.
    if miss.n > 0 {
        let mut left = miss;
        for (b, s) in hist[..nb - 1].iter().enumerate() {
            left.add(s);
            if only.is_some_and(|o| o != b) {
                continue;
            }
            tracker.consider(left, b, true);
        }
    }
    tracker.best
}

/// [`best_for_feature`] from only the bins that hold rows: `present` lists them ascending with
/// their sums, the missing bin (`nb`, the number of value bins) last when present.
///
/// Used for small nodes, whose few rows touch few of the feature's bins. The result is
/// bit-identical to [`best_for_feature`] on the full histogram: an empty bin adds exactly zero to
/// the running left sums, so a threshold at an empty bin repeats the candidate of the last
/// non-empty bin before it, which cannot win (a candidate must beat the best so far strictly).
/// The exceptions are replayed here: the leading empty bins' candidate (nothing, or only the
/// missing rows, on the left), tried at bin 0, and extra trees' random threshold, which may fall
/// on an empty bin.
pub(crate) fn best_for_feature_sparse(
    present: &[(u8, Sums)],
    nb: usize,
    feature: usize,
    parent: &Sums,
    p: &SplitParams,
    node_seed: u64,
) -> Option<SplitInfo> {
    let (values, miss) = match present.split_last() {
        Some((&(b, m), rest)) if usize::from(b) == nb => (rest, m),
        _ => (present, Sums::default()),
    };
    let mut tracker = BestThreshold::new(feature, parent, p);
    let last = if miss.n > 0 { nb } else { nb.saturating_sub(1) };
    // Extra trees: the same draw between the smallest and largest present value bins.
    let only = if p.extra_trees {
        match (values.first(), values.last()) {
            (Some(&(lo, _)), Some(&(hi, _))) if hi > lo => {
                let (lo, hi) = (usize::from(lo), usize::from(hi));
                Some(lo + (mix(node_seed, feature as u64) % (hi - lo) as u64) as usize)
            }
            (Some(_), Some(&(hi, _))) if miss.n > 0 => Some(usize::from(hi)),
            _ => return None,
        }
    } else {
        None
    };
    let leading_empty = values.first().is_none_or(|&(b, _)| b > 0);
    if let Some(o) = only {
        // One candidate per scan: the left side holds every present bin up to `o`.
        let upto = values.partition_point(|&(b, _)| usize::from(b) <= o);
        let mut left = Sums::default();
        for (_, s) in &values[..upto] {
            left.add(s);
        }
        if o < last {
            let default_left = miss.n == 0 && left.n * 2 >= parent.n;
            tracker.consider(left, o, default_left);
        }
        if miss.n > 0 && o + 1 < nb {
            let mut left = miss;
            for (_, s) in &values[..upto] {
                left.add(s);
            }
            tracker.consider(left, o, true);
        }
        return tracker.best;
    }
    // Missing values go right.
    if leading_empty && last > 0 {
        let left = Sums::default();
        tracker.consider(left, 0, miss.n == 0 && left.n * 2 >= parent.n);
    }
    let mut left = Sums::default();
    for &(b, s) in values.iter().take_while(|&&(b, _)| usize::from(b) < last) {
        left.add(&s);
        let default_left = miss.n == 0 && left.n * 2 >= parent.n;
        tracker.consider(left, usize::from(b), default_left);
    }
    // Missing values go left.
    if miss.n > 0 {
        let end = nb - 1;
        if leading_empty && end > 0 {
            tracker.consider(miss, 0, true);
        }
        let mut left = miss;
        for &(b, s) in values.iter().take_while(|&&(b, _)| usize::from(b) < end) {
            left.add(&s);
            tracker.consider(left, usize::from(b), true);
        }
    }
    tracker.best
}

/// The better of two candidate splits (see [`SplitInfo::better_than`]), `a` on a tie.
#[inline]
pub(crate) fn pick(a: Option<SplitInfo>, b: Option<SplitInfo>) -> Option<SplitInfo> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.better_than(&a) { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Best categorical split of feature `feature`: with few categories every one-vs-rest split,
/// otherwise the categories ordered by smoothed gradient ratio and the best prefix of that order
/// (from either end) goes left, the ordering that is optimal for a convex loss (Fisher 1958).
/// `other` is the bin of rare categories, which always stays right.
pub(crate) fn best_categorical(
    hist: &[Sums],
    feature: usize,
    other: u8,
    parent: &Sums,
    p: &SplitParams,
) -> Option<SplitInfo> {
    let nb = hist.len() - 1;
    let miss = hist[nb];
    let cat_p = p.for_categorical();
    let parent_gain = cat_p.leaf_gain(parent);
    let used: Vec<usize> = (0..nb)
        .filter(|&b| b != other as usize && hist[b].n > 0)
        .collect();
    if used.is_empty() {
        return None;
    }
    let mut best: Option<SplitInfo> = None;
    let mut consider = |set: &[usize], missing_left: bool| {
        let mut left = Sums::default();
        let mut bits = [0u64; 4];
        for &b in set {
            left.add(&hist[b]);
            bits[b >> 6] |= 1 << (b & 63);
        }
        if missing_left {
            left.add(&miss);
        }
        let right = parent.minus(&left);
        if !cat_p.side_ok(&left) || !cat_p.side_ok(&right) {
            return;
        }
        let gain = cat_p.leaf_gain(&left) + cat_p.leaf_gain(&right) - parent_gain;
        if gain > p.min_gain_to_split && best.as_ref().is_none_or(|s| gain > s.gain) {
            best = Some(SplitInfo {
                feature,
                bin: 0,
                default_left: missing_left,
                gain,
                left,
                right,
                cat_left: Some(bits),
            });
        }
    };
    let missing_sides: &[bool] = if miss.n > 0 { &[false, true] } else { &[false] };
    if used.len() <= MAX_CAT_TO_ONEHOT {
        for &b in &used {
            for &m in missing_sides {
                consider(&[b], m);
            }
        }
    } else {
        // As LightGBM: categories with fewer rows than the smoothing constant never lead a left
        // set, at most half the categories (and `MAX_CAT_THRESHOLD`) go left, and a threshold is
        // only tried once the categories added since the last one hold `MIN_DATA_PER_GROUP`
        // rows; all three keep many-level columns (zip codes, tail numbers) from overfitting.
        let mut order: Vec<usize> = used
            .into_iter()
            .filter(|&b| f64::from(hist[b].n) >= CAT_SMOOTH)
            .collect();
        let ratio = |b: usize| hist[b].g / (hist[b].h + CAT_SMOOTH);
        order.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)).then(a.cmp(&b)));
        let max_k = MAX_CAT_THRESHOLD.min(order.len().div_ceil(2));
        for reversed in [false, true] {
            if reversed {
                order.reverse();
            }
            let (mut left_n, mut group_n) = (0u32, 0u32);
            for k in 1..=max_k {
                let n = hist[order[k - 1]].n;
                left_n += n;
                group_n += n;
                if parent.n - left_n < MIN_DATA_PER_GROUP {
                    break;
                }
                if group_n < MIN_DATA_PER_GROUP {
                    continue;
                }
                group_n = 0;
                for &m in missing_sides {
                    consider(&order[..k], m);
                }
            }
        }
    }
    best
}

/// Best split of a leaf over `features`, searched in parallel on the current pool.
pub(crate) fn best_split(
    hist: &[Sums],
    layout: &Layout,
    features: &[usize],
    parent: &Sums,
    p: &SplitParams,
    node_seed: u64,
) -> Option<SplitInfo> {
    let one = |&j: &usize| match layout.other_bin[j] {
        Some(other) => best_categorical(layout.feature(hist, j), j, other, parent, p),
        None => best_for_feature(layout.feature(hist, j), j, parent, p, node_seed),
    };
    if features.len() < 32 || rayon::current_num_threads() == 1 {
        features.iter().map(one).fold(None, pick)
    } else {
        features.par_iter().map(one).reduce(|| None, pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A draw in `[0, 1)` from a hash.
    fn unit(seed: u64, i: u64) -> f64 {
        (mix(seed, i) >> 11) as f64 / (1u64 << 53) as f64
    }

    type Key = (usize, u8, bool, u64, Sums, Sums);

    fn key(s: &Option<SplitInfo>) -> Option<Key> {
        s.map(|s| {
            (
                s.feature,
                s.bin,
                s.default_left,
                s.gain.to_bits(),
                s.left,
                s.right,
            )
        })
    }

    /// The sparse scan must return exactly the dense scan's split (same bin, direction and gain
    /// bits) over histograms with runs of empty bins, with and without missing rows, for best
    /// and random thresholds and for parameters under which empty-side splits can win.
    #[test]
    fn sparse_scan_equals_the_dense_scan() {
        let mut found = 0;
        for case in 0..4000u64 {
            let seed = mix(0x5CA7, case);
            let u = |i: u64| unit(seed, i);
            let nb = [1, 2, 3, 7, 31, 32, 200, 255][(u(0) * 8.0) as usize];
            let fill = [0.02, 0.1, 0.5, 1.0][(u(1) * 4.0) as usize];
            let has_missing = u(2) < 0.5;
            let mut hist = vec![Sums::default(); nb + 1];
            for (b, s) in hist.iter_mut().enumerate() {
                let i = 10 + 4 * b as u64;
                if u(i) < fill || (b == nb && has_missing) {
                    if b == nb && !has_missing {
                        continue;
                    }
                    // Like an f32-gradient bin: a few rows' sums.
                    s.n = 1 + (u(i + 1) * 5.0) as u32;
                    s.g = f64::from((u(i + 2) * 4.0 - 2.0) as f32) * f64::from(s.n);
                    s.h = if u(3) < 0.5 {
                        f64::from(s.n)
                    } else {
                        u(i + 3) * 2.0
                    };
                }
            }
            let mut parent = Sums::default();
            for s in &hist {
                parent.add(s);
            }
            let p = SplitParams {
                lambda_l1: [0.0, 0.5][(u(4) * 2.0) as usize],
                lambda_l2: [0.0, 1.0][(u(5) * 2.0) as usize],
                min_data_in_leaf: [0, 1, 3][(u(6) * 3.0) as usize],
                min_sum_hessian: 0.0,
                min_gain_to_split: [-1.0, 0.0, 1e-12][(u(7) * 3.0) as usize],
                extra_trees: u(8) < 0.5,
            };
            let present: Vec<(u8, Sums)> = hist
                .iter()
                .enumerate()
                .filter(|(_, s)| s.n > 0)
                .map(|(b, s)| (b as u8, *s))
                .collect();
            let node_seed = mix(seed, 99);
            let dense = best_for_feature(&hist, 3, &parent, &p, node_seed);
            let sparse = best_for_feature_sparse(&present, nb, 3, &parent, &p, node_seed);
            assert_eq!(key(&dense), key(&sparse), "case {case}: {hist:?} {p:?}");
            found += usize::from(dense.is_some());
        }
        assert!(found > 1000, "too few cases had a split: {found}");
    }
}

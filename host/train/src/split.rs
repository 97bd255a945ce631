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
}

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

    #[inline]
    fn side_ok(&self, s: &Sums) -> bool {
        s.n >= self.min_data_in_leaf && s.h >= self.min_sum_hessian
    }
}

/// A candidate split of one leaf.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitInfo {
    pub feature: usize,
    /// Rows with bin `<= bin` go left (the missing bin follows `default_left`).
    pub bin: u8,
    pub default_left: bool,
    pub gain: f64,
    pub left: Sums,
    pub right: Sums,
}

impl SplitInfo {
    /// Whether `self` beats `other`; ties go to the lower feature index so that the result does
    /// not depend on how rayon split the work.
    fn better_than(&self, other: &SplitInfo) -> bool {
        self.gain > other.gain || (self.gain == other.gain && self.feature < other.feature)
    }
}

/// Best split of feature `feature` given its histogram slots (last slot = missing bin).
pub(crate) fn best_for_feature(
    hist: &[Sums],
    feature: usize,
    parent: &Sums,
    p: &SplitParams,
) -> Option<SplitInfo> {
    let nb = hist.len() - 1;
    let miss = hist[nb];
    let parent_gain = p.leaf_gain(parent);
    let mut best: Option<SplitInfo> = None;
    let mut consider = |left: Sums, b: usize, default_left: bool| {
        let right = parent.minus(&left);
        if !p.side_ok(&left) || !p.side_ok(&right) {
            return;
        }
        let gain = p.leaf_gain(&left) + p.leaf_gain(&right) - parent_gain;
        if gain > p.min_gain_to_split && best.as_ref().is_none_or(|s| gain > s.gain) {
            best = Some(SplitInfo {
                feature,
                bin: b as u8,
                default_left,
                gain,
                left,
                right,
            });
        }
    };
    // Missing values go right. With missing rows present, the last value bin is a valid threshold
    // too: it separates "has a value" from "missing".
    let last = if miss.n > 0 { nb } else { nb.saturating_sub(1) };
    let mut left = Sums::default();
    for (b, s) in hist[..last].iter().enumerate() {
        left.add(s);
        // Without missing rows, unseen missing values at prediction follow the bigger side.
        let default_left = miss.n == 0 && left.n * 2 >= parent.n;
        consider(left, b, default_left);
    }
    // Missing values go left.
    if miss.n > 0 {
        let mut left = miss;
        for (b, s) in hist[..nb - 1].iter().enumerate() {
            left.add(s);
            consider(left, b, true);
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
) -> Option<SplitInfo> {
    let one = |&j: &usize| best_for_feature(layout.feature(hist, j), j, parent, p);
    let pick = |a: Option<SplitInfo>, b: Option<SplitInfo>| match (a, b) {
        (Some(a), Some(b)) => Some(if b.better_than(&a) { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    };
    if features.len() < 32 || rayon::current_num_threads() == 1 {
        features.iter().map(one).fold(None, pick)
    } else {
        features.par_iter().map(one).reduce(|| None, pick)
    }
}

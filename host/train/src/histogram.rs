//! Gradient histograms: per feature, the sums of gradients, hessians and row counts in each bin.

use crate::binning::BinnedMatrix;
use rayon::prelude::*;

/// Sums over the rows falling into one bin (or one leaf, or one side of a split).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub g: f64,
    pub h: f64,
    pub n: u32,
}

impl Sums {
    #[inline]
    pub fn add(&mut self, o: &Sums) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }

    #[inline]
    pub fn minus(&self, o: &Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// Where each feature's slots start in a flat histogram buffer.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `offsets[j]..offsets[j + 1]` are feature `j`'s slots; the last slot is the missing bin.
    pub offsets: Vec<usize>,
    /// For categorical features, the bin of rare categories; `None` for numeric ones.
    pub other_bin: Vec<Option<u8>>,
}

impl Layout {
    pub fn new(binned: &BinnedMatrix) -> Layout {
        let mut offsets = Vec::with_capacity(binned.mappers.len() + 1);
        let mut at = 0;
        offsets.push(0);
        for j in 0..binned.mappers.len() {
            at += binned.n_slots(j);
            offsets.push(at);
        }
        let other_bin = binned
            .mappers
            .iter()
            .map(|m| m.categories.as_ref().map(|c| c.other))
            .collect();
        Layout { offsets, other_bin }
    }

    pub fn total(&self) -> usize {
        *self
            .offsets
            .last()
            .expect("layout always holds the leading 0")
    }

    #[inline]
    pub fn feature<'h>(&self, hist: &'h [Sums], j: usize) -> &'h [Sums] {
        &hist[self.offsets[j]..self.offsets[j + 1]]
    }

    /// Disjoint mutable slices of `hist`, one per feature in `features` (ascending).
    fn feature_slices_mut<'h>(
        &self,
        hist: &'h mut [Sums],
        features: &[usize],
    ) -> Vec<(usize, &'h mut [Sums])> {
        let mut out = Vec::with_capacity(features.len());
        let mut rest = hist;
        let mut consumed = 0;
        for &j in features {
            let (_, tail) = rest.split_at_mut(self.offsets[j] - consumed);
            let (mine, tail) = tail.split_at_mut(self.offsets[j + 1] - self.offsets[j]);
            out.push((j, mine));
            rest = tail;
            consumed = self.offsets[j + 1];
        }
        out
    }
}

/// Below this many row×feature updates a histogram is built on one thread: rayon's fork cost
/// would exceed the work.
const PARALLEL_MIN_WORK: usize = 64 * 1024;

/// Fills `hist` for `features` (ascending) from `rows` and their ordered gradients
/// (`grad[k]` belongs to `rows[k]`).
pub(crate) fn build(
    hist: &mut [Sums],
    layout: &Layout,
    binned: &BinnedMatrix,
    features: &[usize],
    rows: &[u32],
    grad: &[f32],
    hess: &[f32],
) {
    let slices = layout.feature_slices_mut(hist, features);
    let one = |(j, out): (usize, &mut [Sums])| {
        build_feature(out, binned.column(j), rows, grad, hess);
    };
    if rows.len() * features.len() < PARALLEL_MIN_WORK || rayon::current_num_threads() == 1 {
        slices.into_iter().for_each(one);
    } else {
        slices.into_par_iter().with_max_len(1).for_each(one);
    }
}

fn build_feature(out: &mut [Sums], col: &[u8], rows: &[u32], grad: &[f32], hess: &[f32]) {
    // Features with few bins (one-hot columns, flags, small categoricals: most columns after
    // preparation) accumulate into small arrays; clearing a full 256-slot array per node and
    // feature would cost more than the rows of a small node. Four interleaved copies break the
    // add-after-add dependency when consecutive rows fall into the same bin, which is the common
    // case when there are few bins.
    if out.len() <= SMALL_FEATURE_SLOTS {
        let mut acc = [[Sums::default(); SMALL_FEATURE_SLOTS]; 4];
        let mut rg = rows
            .chunks_exact(4)
            .zip(grad.chunks_exact(4))
            .zip(hess.chunks_exact(4));
        for ((r4, g4), h4) in &mut rg {
            for k in 0..4 {
                // A bin is < 32 here (the feature has at most 32 slots); the mask keeps the
                // index provably in range without a branch.
                let s = &mut acc[k][usize::from(col[r4[k] as usize]) & (SMALL_FEATURE_SLOTS - 1)];
                s.g += f64::from(g4[k]);
                s.h += f64::from(h4[k]);
                s.n += 1;
            }
        }
        let done = rows.len() / 4 * 4;
        for ((&r, &g), &h) in rows[done..].iter().zip(&grad[done..]).zip(&hess[done..]) {
            let s = &mut acc[0][usize::from(col[r as usize]) & (SMALL_FEATURE_SLOTS - 1)];
            s.g += f64::from(g);
            s.h += f64::from(h);
            s.n += 1;
        }
        for (b, o) in out.iter_mut().enumerate() {
            *o = acc[0][b];
            for a in &acc[1..] {
                o.add(&a[b]);
            }
        }
        return;
    }
    // A full 256-slot local array, two interleaved copies: indexing with a u8 needs no bounds
    // check, and both stay in L1 while the rows stream past.
    let mut acc = [[Sums::default(); 256]; 2];
    let mut rg = rows
        .chunks_exact(2)
        .zip(grad.chunks_exact(2))
        .zip(hess.chunks_exact(2));
    for ((r2, g2), h2) in &mut rg {
        for k in 0..2 {
            let s = &mut acc[k][col[r2[k] as usize] as usize];
            s.g += f64::from(g2[k]);
            s.h += f64::from(h2[k]);
            s.n += 1;
        }
    }
    if rows.len() % 2 == 1 {
        let i = rows.len() - 1;
        let s = &mut acc[0][col[rows[i] as usize] as usize];
        s.g += f64::from(grad[i]);
        s.h += f64::from(hess[i]);
        s.n += 1;
    }
    for (b, o) in out.iter_mut().enumerate() {
        *o = acc[0][b];
        o.add(&acc[1][b]);
    }
}

/// Up to this many slots a feature's histogram is filled in place (see `build_feature`).
const SMALL_FEATURE_SLOTS: usize = 32;

/// One feature's bin sums over a small node's rows, without a full histogram.
///
/// Deep forest trees have thousands of nodes of a few rows each. A histogram costs every such
/// node and feature a clear, merge and split scan of all (up to 256) slots, work proportional
/// to bins rather than rows. This accumulator keeps its slots zeroed between uses, records which
/// bins the rows touch in a bitmap, and hands back (and clears) only those: the cost is
/// proportional to the node's rows.
///
/// The sums are bit-identical to [`build`]'s: rows go into the same interleaved lanes (four for
/// features with at most [`SMALL_FEATURE_SLOTS`] slots, two otherwise, the leftover rows into
/// lane 0) and lanes merge in the same order, so float rounding is the same.
pub(crate) struct SparseBins {
    /// `acc[lane][bin]`, all zero between calls.
    acc: Box<[[Sums; 256]; 4]>,
    /// The touched bins of the last [`SparseBins::accumulate`], ascending (the missing bin, the
    /// feature's last slot, comes last when present).
    pub present: Vec<(u8, Sums)>,
}

impl SparseBins {
    pub fn new() -> SparseBins {
        SparseBins {
            acc: Box::new([[Sums::default(); 256]; 4]),
            present: Vec::with_capacity(256),
        }
    }

    /// Sums feature column `col` (with `n_slots` slots) over `rows` and their ordered gradients
    /// (`grad[k]` belongs to `rows[k]`) into `self.present`. `hess: None` means every hessian is
    /// 1 (forests): a bin's hessian sum is then its row count, exactly as adding the ones gives,
    /// and the loop skips reading and adding them.
    pub fn accumulate(
        &mut self,
        n_slots: usize,
        col: &[u8],
        rows: &[u32],
        grad: &[f32],
        hess: Option<&[f32]>,
    ) {
        match (n_slots <= SMALL_FEATURE_SLOTS, hess) {
            (true, Some(h)) => self.accumulate_lanes::<4, true>(col, rows, grad, h),
            (false, Some(h)) => self.accumulate_lanes::<2, true>(col, rows, grad, h),
            (true, None) => self.accumulate_lanes::<4, false>(col, rows, grad, grad),
            (false, None) => self.accumulate_lanes::<2, false>(col, rows, grad, grad),
        }
    }

    /// `L` lanes; `HESS`: whether to add `hess` (else every hessian is 1 and `hess` is unread).
    fn accumulate_lanes<const L: usize, const HESS: bool>(
        &mut self,
        col: &[u8],
        rows: &[u32],
        grad: &[f32],
        hess: &[f32],
    ) {
        // One touched-bitmap per lane, so consecutive rows do not wait on each other's update.
        let mut touched = [[0u64; 4]; L];
        let acc = &mut *self.acc;
        let mut add = |lane: usize, r: u32, g: f32, h: f32| {
            let b = col[r as usize];
            let s = &mut acc[lane][usize::from(b)];
            s.g += f64::from(g);
            if HESS {
                s.h += f64::from(h);
            }
            s.n += 1;
            touched[lane][usize::from(b >> 6)] |= 1 << (b & 63);
        };
        let mut rg = rows
            .chunks_exact(L)
            .zip(grad.chunks_exact(L))
            .zip(hess.chunks_exact(L));
        for ((r, g), h) in &mut rg {
            for k in 0..L {
                add(k, r[k], g[k], h[k]);
            }
        }
        let done = rows.len() / L * L;
        for ((&r, &g), &h) in rows[done..].iter().zip(&grad[done..]).zip(&hess[done..]) {
            add(0, r, g, h);
        }
        self.present.clear();
        for w in 0..4 {
            let mut bits = touched.iter().fold(0, |m, t| m | t[w]);
            while bits != 0 {
                let b = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // Lane 0 first, then the others in order, as `build_feature` merges them.
                let mut s = acc[0][b];
                acc[0][b] = Sums::default();
                for lane in &mut acc[1..L] {
                    s.add(&lane[b]);
                    lane[b] = Sums::default();
                }
                if !HESS {
                    s.h = f64::from(s.n);
                }
                self.present.push((b as u8, s));
            }
        }
    }
}

/// `larger = parent - smaller` for `features`, in place on the parent's buffer.
pub(crate) fn subtract(parent: &mut [Sums], smaller: &[Sums], layout: &Layout, features: &[usize]) {
    for &j in features {
        let range = layout.offsets[j]..layout.offsets[j + 1];
        for (p, s) in parent[range.clone()].iter_mut().zip(&smaller[range]) {
            p.g -= s.g;
            p.h -= s.h;
            p.n -= s.n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::mix;

    /// `SparseBins` must give exactly `build_feature`'s non-empty bins, on features with few
    /// slots (four lanes) and many (two lanes), with general and unit hessians, for node sizes
    /// that do and do not fill the lanes evenly, and again after reuse (its slots were reset).
    #[test]
    fn sparse_bins_equal_the_histogram() {
        let mut sparse = SparseBins::new();
        for case in 0..600u64 {
            let r = |i: u64| mix(case, i);
            let slots = [2, 5, 32, 33, 100, 256][(r(0) % 6) as usize];
            let n_rows = 300;
            let col: Vec<u8> = (0..n_rows)
                .map(|i| (r(10 + i) % slots as u64) as u8)
                .collect();
            let len = (r(1) % 40) as usize;
            let rows: Vec<u32> = (0..len as u64)
                .map(|k| (r(1000 + k) % n_rows) as u32)
                .collect();
            let grad: Vec<f32> = (0..len as u64)
                .map(|k| (r(2000 + k) % 2001) as f32 / 137.0 - 7.0)
                .collect();
            let unit = r(2) % 2 == 0;
            let hess: Vec<f32> = (0..len as u64)
                .map(|k| {
                    if unit {
                        1.0
                    } else {
                        (r(3000 + k) % 100) as f32 / 31.0
                    }
                })
                .collect();
            let mut dense = vec![Sums::default(); slots];
            build_feature(&mut dense, &col, &rows, &grad, &hess);
            sparse.accumulate(slots, &col, &rows, &grad, (!unit).then_some(&hess[..]));
            let expected: Vec<(u8, Sums)> = dense
                .iter()
                .enumerate()
                .filter(|(_, s)| s.n > 0)
                .map(|(b, s)| (b as u8, *s))
                .collect();
            assert_eq!(sparse.present.len(), expected.len(), "case {case}");
            for (a, e) in sparse.present.iter().zip(&expected) {
                assert_eq!(a.0, e.0, "case {case}");
                assert_eq!(
                    (a.1.g.to_bits(), a.1.h.to_bits(), a.1.n),
                    (e.1.g.to_bits(), e.1.h.to_bits(), e.1.n),
                    "case {case} bin {}",
                    a.0
                );
            }
        }
    }
}

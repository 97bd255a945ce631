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
        Layout { offsets }
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
    // A full 256-slot local array: indexing it with a u8 needs no bounds check, and it stays in
    // L1 while the rows stream past.
    let mut acc = [Sums::default(); 256];
    for ((&r, &g), &h) in rows.iter().zip(grad).zip(hess) {
        let s = &mut acc[col[r as usize] as usize];
        s.g += f64::from(g);
        s.h += f64::from(h);
        s.n += 1;
    }
    out.copy_from_slice(&acc[..out.len()]);
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

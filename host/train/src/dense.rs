//! Shared pieces of the dense models (`knn`, `mlp`): feature standardisation into contiguous
//! `f32` buffers, and a matrix product on top of the `matrixmultiply` crate that splits large
//! products across the current rayon pool.
//!
//! Both models work on `f32`: it halves memory traffic and doubles SIMD width, and neither a
//! neighbour search nor stochastic gradient descent needs more than 7 significant digits.

use crate::Matrix;
use rayon::prelude::*;
use std::ops::Range;

/// Products below this many multiply-adds run on the calling thread: handing work to the pool
/// costs a few microseconds, about what 10⁵ multiply-adds take.
const PAR_MIN_WORK: usize = 1 << 18;
/// Output rows per parallel work item. Fixed (not derived from the thread count) so that a
/// product is split the same way on any pool and results do not depend on `threads`.
const PAR_ROWS: usize = 32;

/// Mean and scale of the finite values of `col` (NaN and ±inf count as missing). A constant
/// or all-missing column gets scale 1, so it standardises to exactly 0: it carries no signal.
pub(crate) fn finite_mean_scale(col: &[f64]) -> (f64, f64) {
    let (mut sum, mut cnt) = (0.0, 0usize);
    for &v in col.iter().filter(|v| v.is_finite()) {
        sum += v;
        cnt += 1;
    }
    let mean = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
    let var = col
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| (v - mean) * (v - mean))
        .sum::<f64>()
        / cnt.max(1) as f64;
    let sd = var.sqrt();
    let scale = if sd > 1e-12 && sd.is_finite() {
        sd
    } else {
        1.0
    };
    (mean, scale)
}

/// Per-column [`finite_mean_scale`] of `x`.
pub(crate) fn column_stats(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    (0..x.n_cols())
        .into_par_iter()
        .map(|j| finite_mean_scale(x.column(j)))
        .unzip()
}

/// One standardised value; a missing value becomes the mean, i.e. 0.
#[inline]
fn standardise(v: f64, mean: f64, scale: f64) -> f32 {
    if v.is_finite() {
        ((v - mean) / scale) as f32
    } else {
        0.0
    }
}

/// Rows `rows` of `x`, standardised, row-major (`rows.len() × n_cols`).
pub(crate) fn standardised_rows(
    x: &Matrix,
    means: &[f64],
    scales: &[f64],
    rows: Range<usize>,
) -> Vec<f32> {
    let p = x.n_cols();
    let m = rows.len();
    let mut out = vec![0.0f32; m * p];
    for j in 0..p {
        let col = &x.column(j)[rows.clone()];
        for (i, &v) in col.iter().enumerate() {
            out[i * p + j] = standardise(v, means[j], scales[j]);
        }
    }
    out
}

/// Rows `rows` of `x` (in that order), standardised, column-major (`data[j * rows.len() + i]`).
pub(crate) fn standardised_columns(
    x: &Matrix,
    means: &[f64],
    scales: &[f64],
    rows: &[usize],
) -> Vec<f32> {
    let p = x.n_cols();
    let cols: Vec<Vec<f32>> = (0..p)
        .into_par_iter()
        .map(|j| {
            let col = x.column(j);
            rows.iter()
                .map(|&i| standardise(col[i], means[j], scales[j]))
                .collect()
        })
        .collect();
    cols.concat()
}

/// A read-only strided view of an `m × k` matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> View<'a> {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> View<'a> {
        View {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// The view starting at row `i`.
    fn skip_rows(self, i: usize) -> View<'a> {
        View {
            data: &self.data[(i * self.rs).min(self.data.len())..],
            ..self
        }
    }

    /// Panics unless every element of an `m × k` view lies inside `data`: this is what makes the
    /// raw-pointer call below sound.
    fn check(&self, m: usize, k: usize, what: &str) {
        if m == 0 || k == 0 {
            return;
        }
        let last = (m - 1) * self.rs + (k - 1) * self.cs;
        assert!(
            last < self.data.len(),
            "gemm operand {what} of {m}×{k} with strides ({}, {}) overruns its {} values",
            self.rs,
            self.cs,
            self.data.len()
        );
    }
}

/// `c = a · b + (accumulate ? c : 0)` with `a` `m × k`, `b` `k × n` and `c` contiguous row-major
/// `m × n`, on the calling thread.
pub(crate) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: View<'_>,
    b: View<'_>,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(c.len() >= m * n, "gemm output holds {} < {m}×{n}", c.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    a.check(m, k, "A");
    b.check(k, n, "B");
    let beta = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: `check` proved that every element of A (m×k) and B (k×n) at the given strides lies
    // inside its slice, and C is a distinct `&mut` slice of at least m×n values addressed
    // row-major (strides n, 1), so no element aliases another or any input.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Like [`gemm`], split into blocks of output rows across the current rayon pool when the
/// product is large enough to pay for it. Row blocks are independent, so the result is the same
/// for any number of threads.
pub(crate) fn par_gemm(
    m: usize,
    k: usize,
    n: usize,
    a: View<'_>,
    b: View<'_>,
    c: &mut [f32],
    accumulate: bool,
) {
    if m.saturating_mul(k).saturating_mul(n) < PAR_MIN_WORK || m < 2 * PAR_ROWS || n == 0 {
        gemm(m, k, n, a, b, c, accumulate);
        return;
    }
    c[..m * n]
        .par_chunks_mut(PAR_ROWS * n)
        .enumerate()
        .for_each(|(blk, cb)| {
            let i0 = blk * PAR_ROWS;
            gemm(cb.len() / n, k, n, a.skip_rows(i0), b, cb, accumulate);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: View<'_>, b: View<'_>) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|t| a.data[i * a.rs + t * a.cs] * b.data[t * b.rs + j * b.cs])
                    .sum();
            }
        }
        c
    }

    #[test]
    fn gemm_matches_naive_product_for_plain_and_transposed_views() {
        let (m, k, n) = (150, 70, 90);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let mut c = vec![1.0; m * n];
        par_gemm(m, k, n, View::rows(&a, k), View::rows(&b, n), &mut c, false);
        assert_eq!(c, naive(m, k, n, View::rows(&a, k), View::rows(&b, n)));
        // aᵀ is k×m; (aᵀ)ᵀ·… exercise the transposed view: c2 = (aᵀ)ᵀ b = a b.
        let at: Vec<f32> = (0..k * m).map(|t| a[(t % m) * k + t / m]).collect();
        let mut c2 = vec![0.0; m * n];
        par_gemm(
            m,
            k,
            n,
            View::transposed(&at, m),
            View::rows(&b, n),
            &mut c2,
            false,
        );
        assert_eq!(c2, c);
        // Accumulating adds onto what is there.
        par_gemm(m, k, n, View::rows(&a, k), View::rows(&b, n), &mut c2, true);
        assert!(c2.iter().zip(&c).all(|(x, y)| *x == 2.0 * y));
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn gemm_refuses_a_view_larger_than_its_slice() {
        let a = vec![0.0; 10];
        let mut c = vec![0.0; 4];
        gemm(2, 6, 2, View::rows(&a, 6), View::rows(&a, 2), &mut c, false);
    }
}

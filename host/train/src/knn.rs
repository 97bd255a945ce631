//! k-nearest neighbours by brute force on standardised features.
//!
//! Training keeps a standardised `f32` copy of the data (NaN → the column mean, i.e. 0), stored
//! feature-major; a prediction measures every stored row against every query, a chunk of
//! [`QUERY_CHUNK`] queries per parallel work item. Euclidean distances come from one matrix
//! product per block of stored rows (‖q‖² + ‖x‖² − 2 q·x) and the `k` survivors are re-measured
//! exactly; Manhattan distances from a register-blocked loop over a cache-sized block of rows.
//! Each query keeps its `k` best candidates in a bounded max-heap, so a candidate costs one
//! comparison with the current worst. Ties go to the earlier stored row.
//!
//! Memory and time grow with the training rows, so at most [`KNN_MAX_TRAIN_ROWS`] rows are kept:
//! larger training sets are subsampled uniformly (seeded by `FitOptions::seed`) and the model
//! records how many rows it came from. The validation set of `FitOptions` is not used.

use crate::catalogue::{KNN, knn_specs};
use crate::dense::{View, column_stats, gemm, standardised_columns, standardised_rows};
use crate::params::{Reader, resolve};
use crate::{FitOptions, Matrix, Predictions, Target, TrainError};
use microlearn_core::{Params, Task};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Most training rows a kNN model stores. Brute-force prediction costs rows × features per
/// query, so 50k rows keep a 10k-row prediction around a second per core at 20 features and a
/// model of 20 features at 4 MB.
pub const KNN_MAX_TRAIN_ROWS: usize = 50_000;

/// Queries per parallel work item (and per pass over a training block).
const QUERY_CHUNK: usize = 64;
/// Training rows per block of the L1 scan: 256 rows × 4 bytes × a few dozen features stay in
/// L1/L2 while every query of a chunk is measured against them.
const TRAIN_BLOCK: usize = 256;
/// Distances tested together before any of them goes near the heap.
const OFFER_CHUNK: usize = 16;
/// Training rows per matrix product of the L2 screening: the chunk's dot products (64 × 1024
/// `f32`, 256 KB) stay in L2 while the heaps take their pick.
const GEMM_BLOCK: usize = 512;

/// How neighbours are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Weighting {
    /// Every neighbour counts the same.
    Uniform,
    /// Neighbours count by 1 / distance; neighbours at distance 0 (exact matches), when there
    /// are any, take all the weight.
    Distance,
}

/// Distance between standardised rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// L2.
    Euclidean,
    /// L1.
    Manhattan,
}

/// What the stored rows are labelled with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KnnTarget {
    /// One real value per stored row.
    Regression(Vec<f64>),
    /// One class per stored row.
    Classes {
        /// Labels.
        labels: Vec<u32>,
        /// Number of classes.
        n_classes: usize,
    },
}

/// A fitted k-nearest-neighbours model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnModel {
    /// Training mean per feature (also the value imputed for NaN).
    pub means: Vec<f64>,
    /// Training standard deviation per feature (1 for constant features).
    pub scales: Vec<f64>,
    /// Stored rows, standardised, feature-major: `train[j * n_train + i]`.
    pub train: Vec<f32>,
    /// Stored rows.
    pub n_train: usize,
    /// Labels of the stored rows.
    pub target: KnnTarget,
    /// Neighbours used per query: `n_neighbors`, capped at the stored rows.
    pub k: usize,
    /// Neighbour weighting.
    pub weighting: Weighting,
    /// Distance.
    pub metric: Metric,
    /// Training rows before subsampling, when there were more than [`KNN_MAX_TRAIN_ROWS`].
    pub subsampled_from: Option<usize>,
    /// Feature names seen at fit.
    pub feature_names: Vec<String>,
    /// Hyperparameters as used.
    pub params: Params,
}

/// A candidate neighbour, ordered by distance then by stored row so ties always resolve to the
/// earlier row, whatever the thread count.
#[derive(Clone, Copy, PartialEq)]
struct Cand {
    dist: f32,
    row: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl KnnModel {
    fn width(&self) -> usize {
        match &self.target {
            KnnTarget::Regression(_) => 1,
            KnnTarget::Classes { n_classes, .. } => *n_classes,
        }
    }

    /// Squared norm of every stored row (for the Euclidean screening), empty for Manhattan.
    fn squared_norms(&self) -> Vec<f32> {
        if self.metric != Metric::Euclidean {
            return Vec::new();
        }
        let n = self.n_train;
        let mut norms = vec![0.0f32; n];
        for col in self.train.chunks(n.max(1)) {
            for (s, &v) in norms.iter_mut().zip(col) {
                *s += v * v;
            }
        }
        norms
    }

    /// Predictions (class probabilities = weighted vote shares) for every row of `x`, in
    /// parallel over chunks of rows on the current pool.
    pub fn predict(&self, x: &Matrix) -> Predictions {
        let width = self.width();
        let n = x.n_rows();
        let mut out = vec![0.0f64; n * width];
        let norms = self.squared_norms();
        out.par_chunks_mut(QUERY_CHUNK * width)
            .enumerate()
            .for_each(|(c, block)| {
                let start = c * QUERY_CHUNK;
                let rows = start..start + block.len() / width;
                let queries = standardised_rows(x, &self.means, &self.scales, rows);
                let neighbours = self.search(&queries, &norms);
                for (nb, row) in neighbours.iter().zip(block.chunks_mut(width)) {
                    self.combine(nb, row);
                }
            });
        match &self.target {
            KnnTarget::Regression(_) => Predictions::Values(out),
            KnnTarget::Classes { n_classes, .. } => Predictions::Probabilities {
                n_classes: *n_classes,
                data: out,
            },
        }
    }

    /// The `k` nearest stored rows of each query (row-major, `p` values each), nearest first,
    /// with exact distances. `norms` holds the squared norm of every stored row (Euclidean).
    fn search(&self, queries: &[f32], norms: &[f32]) -> Vec<Vec<Cand>> {
        let p = self.means.len();
        let n = self.n_train;
        let nq = queries.len() / p.max(1);
        let mut heaps: Vec<BinaryHeap<Cand>> = (0..nq)
            .map(|_| BinaryHeap::with_capacity(self.k + 1))
            .collect();
        match self.metric {
            Metric::Euclidean => {
                // ‖q − x‖² = ‖q‖² + ‖x‖² − 2 q·x, with all the dot products of a query chunk and
                // a training block from one matrix product: matrixmultiply picks AVX/FMA
                // kernels at run time, several times faster than a distance loop built for
                // baseline x86-64. Cancellation makes these screening distances approximate
                // (~1e-7 × the norms), so the k survivors are measured again exactly below.
                let qn: Vec<f32> = queries
                    .chunks(p)
                    .map(|q| q.iter().map(|v| v * v).sum())
                    .collect();
                let mut dots = vec![0.0f32; nq * GEMM_BLOCK];
                for b0 in (0..n).step_by(GEMM_BLOCK) {
                    let len = GEMM_BLOCK.min(n - b0);
                    let dots = &mut dots[..nq * len];
                    // Stored rows b0.. as a p × len matrix: feature-major storage is exactly
                    // the transposed view.
                    let block = View {
                        data: &self.train[b0..],
                        rs: n,
                        cs: 1,
                    };
                    gemm(nq, p, len, View::rows(queries, p), block, dots, false);
                    for ((q, heap), row) in heaps.iter_mut().enumerate().zip(dots.chunks_mut(len)) {
                        for (d, &xn) in row.iter_mut().zip(&norms[b0..b0 + len]) {
                            *d = (qn[q] + xn - 2.0 * *d).max(0.0);
                        }
                        self.offer(heap, row, b0);
                    }
                }
            }
            Metric::Manhattan => {
                let mut dist = [0.0f32; TRAIN_BLOCK];
                for b0 in (0..n).step_by(TRAIN_BLOCK) {
                    let len = TRAIN_BLOCK.min(n - b0);
                    let dist = &mut dist[..len];
                    for (q, heap) in heaps.iter_mut().enumerate() {
                        let query = &queries[q * p..(q + 1) * p];
                        self.manhattan_block(query, b0, dist);
                        self.offer(heap, dist, b0);
                    }
                }
            }
        }
        heaps
            .into_iter()
            .zip(queries.chunks(p.max(1)))
            .map(|(h, query)| {
                let mut v = h.into_vec();
                if self.metric == Metric::Euclidean {
                    for c in &mut v {
                        let row = c.row as usize;
                        let d2: f32 = query
                            .iter()
                            .enumerate()
                            .map(|(j, &qv)| {
                                let t = self.train[j * n + row] - qv;
                                t * t
                            })
                            .sum();
                        c.dist = d2.sqrt();
                    }
                }
                v.sort_unstable();
                v
            })
            .collect()
    }

    /// L1 distances from `query` to stored rows `b0..b0 + dist.len()`. Sixteen rows at a time
    /// accumulate in registers across all features, so the inner loop does no stores.
    fn manhattan_block(&self, query: &[f32], b0: usize, dist: &mut [f32]) {
        const LANES: usize = 16;
        let n = self.n_train;
        for (s, out) in dist.chunks_mut(LANES).enumerate() {
            let i0 = b0 + s * LANES;
            let mut acc = [0.0f32; LANES];
            if out.len() == LANES {
                for (j, &qv) in query.iter().enumerate() {
                    let col: &[f32; LANES] = self.train[j * n + i0..j * n + i0 + LANES]
                        .try_into()
                        .expect("a slice of LANES values");
                    for (a, &v) in acc.iter_mut().zip(col) {
                        *a += (v - qv).abs();
                    }
                }
            } else {
                for (j, &qv) in query.iter().enumerate() {
                    let col = &self.train[j * n + i0..j * n + i0 + out.len()];
                    for (a, &v) in acc.iter_mut().zip(col) {
                        *a += (v - qv).abs();
                    }
                }
            }
            out.copy_from_slice(&acc[..out.len()]);
        }
    }

    /// Offers stored rows `b0..` at distances `dist` to a query's bounded max-heap.
    fn offer(&self, heap: &mut BinaryHeap<Cand>, dist: &[f32], b0: usize) {
        let k = self.k;
        // Worst distance kept so far; a full heap admits only strictly better rows.
        let mut worst = if heap.len() == k {
            heap.peek().map_or(f32::INFINITY, |c| c.dist)
        } else {
            f32::INFINITY
        };
        for (c, chunk) in dist.chunks(OFFER_CHUNK).enumerate() {
            // Almost every stored row is farther than the worst kept one: a branch-free test of
            // a whole chunk (vectorised) skips those without touching the heap.
            if !chunk.iter().fold(false, |any, &d| any | (d < worst)) {
                continue;
            }
            for (i, &d) in chunk.iter().enumerate() {
                if d >= worst {
                    continue;
                }
                let cand = Cand {
                    dist: d,
                    row: (b0 + c * OFFER_CHUNK + i) as u32,
                };
                if heap.len() < k {
                    heap.push(cand);
                    if heap.len() == k {
                        worst = heap.peek().map_or(f32::INFINITY, |c| c.dist);
                    }
                } else {
                    if let Some(mut top) = heap.peek_mut() {
                        *top = cand;
                    }
                    worst = heap.peek().map_or(f32::INFINITY, |c| c.dist);
                }
            }
        }
    }
    /// Writes the weighted vote shares (classification) or weighted mean (regression) of
    /// `neighbours` into `out`.
    fn combine(&self, neighbours: &[Cand], out: &mut [f64]) {
        let exact =
            self.weighting == Weighting::Distance && neighbours.iter().any(|c| c.dist == 0.0);
        let weight = |c: &Cand| -> f64 {
            match self.weighting {
                Weighting::Uniform => 1.0,
                Weighting::Distance if exact => f64::from(u8::from(c.dist == 0.0)),
                Weighting::Distance => 1.0 / f64::from(c.dist),
            }
        };
        let total: f64 = neighbours.iter().map(weight).sum();
        out.fill(0.0);
        match &self.target {
            KnnTarget::Regression(values) => {
                let s: f64 = neighbours
                    .iter()
                    .map(|c| weight(c) * values[c.row as usize])
                    .sum();
                out[0] = s / total;
            }
            KnnTarget::Classes { labels, .. } => {
                for c in neighbours {
                    out[labels[c.row as usize] as usize] += weight(c);
                }
                for o in out.iter_mut() {
                    *o /= total;
                }
            }
        }
    }

    /// kNN has no per-feature parameters; every feature enters the distance with the same weight
    /// after standardisation, and ranking them would need a (costly) permutation study. All
    /// zeros says "not measured" rather than a misleading uniform 1/p.
    pub fn feature_importance(&self) -> Vec<f64> {
        vec![0.0; self.means.len()]
    }
}

/// Fits a kNN model (stores the standardised rows); runs on the current rayon pool.
pub(crate) fn fit(
    params: &Params,
    task: Task,
    x: &Matrix,
    y: &Target,
    opts: &FitOptions<'_>,
) -> Result<KnnModel, TrainError> {
    let params = resolve(KNN, &knn_specs(), params)?;
    crate::matrix::validate_inputs(KNN, task, x, y, "training")?;
    let r = Reader(&params);
    let weighting = match r.choice("weights") {
        "distance" => Weighting::Distance,
        _ => Weighting::Uniform,
    };
    let metric = match r.choice("metric") {
        "manhattan" => Metric::Manhattan,
        _ => Metric::Euclidean,
    };
    let n = x.n_rows();
    let (rows, subsampled_from) = if n > KNN_MAX_TRAIN_ROWS {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut rows = sample(&mut rng, n, KNN_MAX_TRAIN_ROWS).into_vec();
        // Ascending order keeps the copy below a forward scan of each column.
        rows.sort_unstable();
        tracing::info!(
            rows = n,
            kept = KNN_MAX_TRAIN_ROWS,
            "knn keeps a uniform subsample of the training rows"
        );
        (rows, Some(n))
    } else {
        ((0..n).collect::<Vec<_>>(), None)
    };
    // Statistics from all rows: the subsample is only a memory bound, not a different dataset.
    let (means, scales) = column_stats(x);
    let train = standardised_columns(x, &means, &scales, &rows);
    let target = match y {
        Target::Regression(v) => KnnTarget::Regression(rows.iter().map(|&i| v[i]).collect()),
        Target::Classes { y, n_classes } => KnnTarget::Classes {
            labels: rows.iter().map(|&i| y[i]).collect(),
            n_classes: *n_classes,
        },
    };
    Ok(KnnModel {
        k: r.usize("n_neighbors").clamp(1, rows.len()),
        means,
        scales,
        train,
        n_train: rows.len(),
        target,
        weighting,
        metric,
        subsampled_from,
        feature_names: x.names().to_vec(),
        params,
    })
}

//! Quantile binning of raw features into `u8` bins, computed once per fit.
//!
//! Each feature gets at most `max_bin` value bins plus one dedicated missing bin (the last index),
//! so `max_bin <= 255` always fits a `u8`. Bin `b` holds values `v` with
//! `upper[b-1] < v <= upper[b]`; the last upper bound is `+inf`. Trees store these `f64` upper
//! bounds as split thresholds, so prediction compares raw values and never bins.

use crate::Matrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Rows sampled to find bin boundaries; LightGBM's `bin_construct_sample_cnt` default, enough for
/// stable quantiles at 255 bins.
const BIN_SAMPLE_ROWS: usize = 200_000;

/// Bin boundaries of one feature.
#[derive(Debug, Clone)]
pub(crate) struct BinMapper {
    /// Numeric features: upper bound of each value bin, increasing; the last is `+inf`.
    /// Empty for categorical features.
    pub upper: Vec<f64>,
    /// Categorical features: the category code of each bin, most frequent first.
    pub categories: Option<CategoryBins>,
}

/// How a categorical feature's codes map to bins.
#[derive(Debug, Clone)]
pub(crate) struct CategoryBins {
    /// Code of bin `b`, for the bins that hold one category.
    pub codes: Vec<u32>,
    /// The bin after the named ones that gathers rare categories and codes missing from the
    /// binning sample. It never joins a split's left set, so at prediction any code the tree
    /// does not name (rare or never seen) goes right, exactly as those rows did in training.
    pub other: u8,
    lookup: std::collections::HashMap<u32, u8>,
}

impl BinMapper {
    /// Number of value bins (the missing bin is this index).
    #[inline]
    pub fn missing_bin(&self) -> u8 {
        self.n_value_bins() as u8
    }

    /// Value bins, without the missing bin.
    #[inline]
    pub fn n_value_bins(&self) -> usize {
        match &self.categories {
            Some(c) => c.codes.len() + 1,
            None => self.upper.len(),
        }
    }

    /// Bin of a raw value.
    #[inline]
    pub fn bin(&self, v: f64) -> u8 {
        if v.is_nan() {
            return self.missing_bin();
        }
        match &self.categories {
            Some(c) => c.lookup.get(&(v as u32)).copied().unwrap_or(c.other),
            None => self.upper.partition_point(|&u| u < v) as u8,
        }
    }

    /// Bins for category codes (NaN-free): the `max_bin - 1` most frequent codes get a bin each
    /// (ties broken by code, so the result does not depend on row order), the rest share the
    /// "other" bin.
    fn categorical(values: &[f64], max_bin: usize) -> BinMapper {
        let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for &v in values {
            *counts.entry(v as u32).or_default() += 1;
        }
        let mut by_count: Vec<(u32, usize)> = counts.into_iter().collect();
        by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let named = by_count.len().min(max_bin - 1);
        let codes: Vec<u32> = by_count[..named].iter().map(|&(c, _)| c).collect();
        let other = named as u8;
        let lookup = codes
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        BinMapper {
            upper: Vec::new(),
            categories: Some(CategoryBins {
                codes,
                other,
                lookup,
            }),
        }
    }

    /// Boundaries from sorted, NaN-free values.
    fn from_sorted(sorted: &[f64], max_bin: usize) -> BinMapper {
        // Distinct values with their counts.
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for &v in sorted {
            match distinct.last_mut() {
                Some((last, c)) if *last == v => *c += 1,
                _ => distinct.push((v, 1)),
            }
        }
        let mut upper = Vec::new();
        if distinct.len() <= max_bin {
            // One bin per distinct value; cut halfway so unseen values land in the nearer bin.
            for w in distinct.windows(2) {
                upper.push(midpoint(w[0].0, w[1].0));
            }
        } else {
            // Greedy equal-frequency cuts, re-aiming at the remaining rows after each cut so that
            // a heavy value does not starve the bins after it.
            let mut remaining = sorted.len();
            let mut bins_left = max_bin;
            let mut acc = 0usize;
            for (i, &(v, c)) in distinct.iter().enumerate() {
                acc += c;
                let target = remaining as f64 / bins_left as f64;
                let is_last = i + 1 == distinct.len();
                if !is_last && bins_left > 1 && acc as f64 >= target {
                    upper.push(midpoint(v, distinct[i + 1].0));
                    remaining -= acc;
                    acc = 0;
                    bins_left -= 1;
                }
            }
        }
        upper.push(f64::INFINITY);
        BinMapper {
            upper,
            categories: None,
        }
    }
}

fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    // Guard against rounding onto `b` for adjacent floats: the cut must keep `a` left, `b` right.
    if m >= b || !m.is_finite() { a } else { m }
}

/// The training matrix as bins, column-major.
pub(crate) struct BinnedMatrix {
    pub n_rows: usize,
    pub mappers: Vec<BinMapper>,
    /// `bins[j * n_rows + i]`.
    pub bins: Vec<u8>,
    /// Whether any training row of the feature is missing.
    pub has_missing: Vec<bool>,
}

impl BinnedMatrix {
    /// Bins every column of `x` (in parallel on the current pool).
    pub fn build(x: &Matrix, max_bin: usize, seed: u64) -> BinnedMatrix {
        let n = x.n_rows();
        let sample: Option<Vec<usize>> = (n > BIN_SAMPLE_ROWS).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_B1A5);
            let mut s = rand::seq::index::sample(&mut rng, n, BIN_SAMPLE_ROWS).into_vec();
            s.sort_unstable();
            s
        });
        let per_col: Vec<(BinMapper, Vec<u8>, bool)> = (0..x.n_cols())
            .into_par_iter()
            .map(|j| {
                let col = x.column(j);
                let mut vals: Vec<f64> = match &sample {
                    Some(rows) => rows
                        .iter()
                        .map(|&r| col[r])
                        .filter(|v| !v.is_nan())
                        .collect(),
                    None => col.iter().copied().filter(|v| !v.is_nan()).collect(),
                };
                let mapper = if x.is_categorical(j) {
                    BinMapper::categorical(&vals, max_bin)
                } else {
                    vals.sort_unstable_by(f64::total_cmp);
                    BinMapper::from_sorted(&vals, max_bin)
                };
                let bins: Vec<u8> = col.iter().map(|&v| mapper.bin(v)).collect();
                let has_missing = col.iter().any(|v| v.is_nan());
                (mapper, bins, has_missing)
            })
            .collect();
        let mut mappers = Vec::with_capacity(per_col.len());
        let mut bins = Vec::with_capacity(n * per_col.len());
        let mut has_missing = Vec::with_capacity(per_col.len());
        for (m, b, h) in per_col {
            mappers.push(m);
            bins.extend_from_slice(&b);
            has_missing.push(h);
        }
        BinnedMatrix {
            n_rows: n,
            mappers,
            bins,
            has_missing,
        }
    }

    /// Column `j` of bins.
    #[inline]
    pub fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.n_rows..(j + 1) * self.n_rows]
    }

    /// Slots in feature `j`'s histogram (value bins + missing bin).
    #[inline]
    pub fn n_slots(&self, j: usize) -> usize {
        self.mappers[j].n_value_bins() + 1
    }

    /// Whether feature `j` can split at all (more than one value bin, or some missing values).
    pub fn is_splittable(&self, j: usize) -> bool {
        self.mappers[j].n_value_bins() > 1 || self.has_missing[j]
    }

    /// Whether training row `i` goes left at `node`, decided on bins (which agree exactly with
    /// the node's raw threshold or category set).
    #[inline]
    pub fn goes_left(&self, node: &crate::tree::Node, i: usize) -> bool {
        let f = node.feature as usize;
        let bin = self.bins[f * self.n_rows + i];
        let mapper = &self.mappers[f];
        if bin == mapper.missing_bin() {
            return node.default_left;
        }
        match (&node.cats, &mapper.categories) {
            (Some(cats), Some(c)) => c
                .codes
                .get(bin as usize)
                .is_some_and(|code| cats.binary_search(code).is_ok()),
            _ => bin <= node.bin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each_and_nan_gets_missing_bin() {
        let m = BinMapper::from_sorted(&[1.0, 1.0, 2.0, 3.0], 255);
        assert_eq!(m.upper.len(), 3);
        assert_eq!(m.bin(1.0), 0);
        assert_eq!(m.bin(2.0), 1);
        assert_eq!(m.bin(3.0), 2);
        assert_eq!(m.bin(100.0), 2);
        assert_eq!(m.bin(-100.0), 0);
        assert_eq!(m.bin(f64::NAN), 3);
    }

    #[test]
    fn categories_get_bins_by_frequency_and_rare_ones_share_the_other_bin() {
        let vals = [7.0, 7.0, 7.0, 3.0, 3.0, 9.0, 1.0];
        let m = BinMapper::categorical(&vals, 3);
        let c = m.categories.as_ref().expect("categorical mapper");
        assert_eq!(c.codes, vec![7, 3]);
        assert_eq!(c.other, 2);
        assert_eq!(m.bin(7.0), 0);
        assert_eq!(m.bin(3.0), 1);
        assert_eq!(m.bin(9.0), 2);
        assert_eq!(m.bin(42.0), 2, "unseen codes join the rare ones");
        assert_eq!(m.bin(f64::NAN), 3);
        let few = BinMapper::categorical(&[2.0, 5.0, 2.0], 255);
        assert_eq!(few.n_value_bins(), 3);
        assert_eq!(few.bin(11.0), 2, "unseen codes go to the (empty) other bin");
    }

    #[test]
    fn many_distinct_values_are_capped_at_max_bin_with_balanced_counts() {
        let vals: Vec<f64> = (0..10_000).map(f64::from).collect();
        let m = BinMapper::from_sorted(&vals, 16);
        assert_eq!(m.upper.len(), 16);
        let mut counts = [0usize; 16];
        for &v in &vals {
            counts[m.bin(v) as usize] += 1;
        }
        for c in counts {
            assert!((500..=750).contains(&c), "unbalanced bin count {c}");
        }
    }
}

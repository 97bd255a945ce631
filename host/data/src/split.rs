//! Seeded, stratified train/test splits.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::target::TargetInfo;

/// Row indices of a split, each side sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Held-out rows.
    pub test: Vec<usize>,
}

/// Quantile bins used to stratify a regression target.
const REGRESSION_BINS: usize = 10;

/// Split rows into train and test, about `test_fraction` of them held out.
///
/// Classification is stratified by class: each class contributes its share of the test rows
/// (largest-remainder rounding, so every class's test count is within one row of
/// `count × test_fraction`), and every class with at least two rows appears on both sides.
/// Regression is stratified by quantile bins of the target. Deterministic for a seed
/// (ChaCha8). `test_fraction` is clamped to `[0, 1]`.
pub fn stratified_split(target: &TargetInfo, test_fraction: f64, seed: u64) -> Split {
    let n = target.y.len();
    let fraction = if test_fraction.is_nan() {
        0.0
    } else {
        test_fraction.clamp(0.0, 1.0)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let strata = strata_of(target, &mut rng);
    let sizes: Vec<usize> = strata.iter().map(Vec::len).collect();
    let test_counts = allocate(&sizes, fraction, n, !target.task.is_classification());
    let mut split = Split {
        train: Vec::with_capacity(n),
        test: Vec::with_capacity(n),
    };
    for (mut rows, k) in strata.into_iter().zip(test_counts) {
        rows.shuffle(&mut rng);
        split.test.extend_from_slice(&rows[..k]);
        split.train.extend_from_slice(&rows[k..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split
}

/// Rows grouped into up to [`REGRESSION_BINS`] bins of equal size by target value. Ties are
/// broken randomly so equal values do not always fall into the same bin by row order.
fn regression_strata(y: &[f64], rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut shuffled: Vec<usize> = (0..y.len()).collect();
    shuffled.shuffle(rng);
    // Sorted by (value, position in the shuffle): the same order a stable sort of the
    // shuffled rows by value gives, but on contiguous keys rather than through `y[row]`,
    // which on 10M rows is a cache miss per comparison.
    let mut keyed: Vec<(f64, usize, usize)> = shuffled
        .into_iter()
        .enumerate()
        .map(|(rank, row)| (y[row], rank, row))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let order = keyed.into_iter().map(|(_, _, row)| row);
    // Bins of at least two rows, so each can give to both sides.
    let bins = REGRESSION_BINS.min(y.len() / 2).max(1);
    let mut strata = vec![Vec::new(); bins];
    for (rank, row) in order.enumerate() {
        strata[rank * bins / y.len().max(1)].push(row);
    }
    strata
}

/// Test rows per stratum: ideal shares floored, then the rows still owed to the total go to the
/// largest remainders; finally strata with two or more rows get at least one row on each side
/// (for classification; regression bins only follow the total).
fn allocate(sizes: &[usize], fraction: f64, n: usize, loose: bool) -> Vec<usize> {
    let total = (n as f64 * fraction).round() as usize;
    let ideal: Vec<f64> = sizes.iter().map(|&s| s as f64 * fraction).collect();
    let mut counts: Vec<usize> = ideal.iter().map(|x| x.floor() as usize).collect();
    let assigned: usize = counts.iter().sum();
    let mut by_remainder: Vec<usize> = (0..sizes.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let ra = ideal[a] - ideal[a].floor();
        let rb = ideal[b] - ideal[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut owed = total.saturating_sub(assigned);
    for &i in &by_remainder {
        if owed == 0 {
            break;
        }
        // A lone row of a class stays in training: a test-only class cannot be learned.
        let eligible = loose || sizes[i] >= 2;
        if eligible && counts[i] < sizes[i] && ideal[i] > counts[i] as f64 {
            counts[i] += 1;
            owed -= 1;
        }
    }
    if !loose && fraction > 0.0 && fraction < 1.0 {
        for (count, &size) in counts.iter_mut().zip(sizes) {
            if size >= 2 {
                *count = (*count).clamp(1, size - 1);
            }
        }
    }
    counts
}

/// Rows grouped by stratum: one group per class, or quantile bins of a regression target.
fn strata_of(target: &TargetInfo, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    if target.task.is_classification() {
        let classes = target.labels.len().max(1);
        let mut strata = vec![Vec::new(); classes];
        for (row, &y) in target.y.iter().enumerate() {
            // y holds class indices; anything else (NaN, out of range) goes to the last class
            // rather than being dropped, so every row lands on a side.
            let class = if y.is_finite() && y >= 0.0 && (y as usize) < classes {
                y as usize
            } else {
                classes - 1
            };
            strata[class].push(row);
        }
        strata
    } else {
        regression_strata(&target.y, rng)
    }
}

/// Assign every row to one of `k` folds for cross-validation, stratified like
/// [`stratified_split`]: each stratum is shuffled and dealt round-robin, continuing where the
/// previous stratum stopped, so every fold holds its share of each class (within one row) and
/// fold sizes differ by at most one. Each fold's rows are sorted. Deterministic for a seed.
pub fn stratified_folds(target: &TargetInfo, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let strata = strata_of(target, &mut rng);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for mut rows in strata {
        rows.shuffle(&mut rng);
        for r in rows {
            folds[next % k].push(r);
            next += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// `keep` distinct row indices out of `0..n`, drawn uniformly with a seed and returned in
/// ascending order (all rows when `keep >= n`).
pub fn sample_rows(n: usize, keep: usize, seed: u64) -> Vec<usize> {
    if keep >= n {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5A3B_1E55);
    let mut rows = rand::seq::index::sample(&mut rng, n, keep).into_vec();
    rows.sort_unstable();
    rows
}

/// `rows` in a seeded random order: the same rows and seed give the same order.
pub fn shuffle_rows(rows: &[usize], seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0005_4F1E);
    let mut out = rows.to_vec();
    out.shuffle(&mut rng);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_core::Task;

    #[test]
    fn folds_partition_the_rows_and_keep_class_shares() {
        let y: Vec<f64> = (0..103)
            .map(|i| if i % 10 == 0 { 1.0 } else { 0.0 })
            .collect();
        let t = TargetInfo {
            name: "y".into(),
            task: Task::Binary,
            labels: vec!["a".into(), "b".into()],
            y,
        };
        let folds = stratified_folds(&t, 5, 7);
        let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        for f in &folds {
            assert!((20..=21).contains(&f.len()), "fold of {}", f.len());
            let pos = f.iter().filter(|&&r| t.y[r] == 1.0).count();
            assert!((2..=3).contains(&pos), "{pos} positives of 11");
        }
        assert_eq!(folds, stratified_folds(&t, 5, 7));
        assert_ne!(folds, stratified_folds(&t, 5, 8));
    }

    fn classes(counts: &[usize]) -> TargetInfo {
        let mut y = Vec::new();
        for (class, &count) in counts.iter().enumerate() {
            y.extend(std::iter::repeat_n(class as f64, count));
        }
        TargetInfo {
            name: "y".into(),
            task: if counts.len() == 2 {
                Task::Binary
            } else {
                Task::Multiclass
            },
            labels: (0..counts.len()).map(|c| c.to_string()).collect(),
            y,
        }
    }

    #[test]
    fn stratification_keeps_class_ratios_within_one_row() {
        let counts = [500, 300, 150, 37, 9, 3, 2];
        let target = classes(&counts);
        let split = stratified_split(&target, 0.25, 7);
        for (class, &count) in counts.iter().enumerate() {
            let in_test = split
                .test
                .iter()
                .filter(|&&r| target.y[r] == class as f64)
                .count();
            let ideal = count as f64 * 0.25;
            assert!(
                (in_test as f64 - ideal).abs() <= 1.0,
                "class {class}: {in_test} in test, ideal {ideal}"
            );
            assert!(
                in_test >= 1 && in_test < count,
                "class {class} on both sides"
            );
        }
    }

    #[test]
    fn split_is_deterministic_disjoint_and_complete() {
        let target = classes(&[60, 40]);
        let a = stratified_split(&target, 0.3, 42);
        let b = stratified_split(&target, 0.3, 42);
        let c = stratified_split(&target, 0.3, 43);
        assert_eq!(a, b);
        assert_ne!(a.test, c.test, "another seed gives another split");
        let mut all: Vec<usize> = a.train.iter().chain(&a.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(a.test.len(), 30);
    }

    #[test]
    fn single_row_class_stays_in_training() {
        let split = stratified_split(&classes(&[10, 1]), 0.5, 1);
        assert!(split.train.contains(&10));
    }

    #[test]
    fn regression_split_spreads_target_range() {
        let target = TargetInfo {
            name: "y".into(),
            task: Task::Regression,
            labels: Vec::new(),
            y: (0..1000).map(|i| (i as f64).powi(2)).collect(),
        };
        let split = stratified_split(&target, 0.2, 3);
        assert_eq!(split.test.len(), 200);
        // Each tenth of the sorted target gives exactly its share to the test side.
        for decile in 0..10 {
            let in_test = split.test.iter().filter(|&&r| r / 100 == decile).count();
            assert_eq!(in_test, 20, "decile {decile}");
        }
        let mut all: Vec<usize> = split.train.iter().chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }
}

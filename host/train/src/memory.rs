//! Memory a fit needs, estimated before it starts, and memory the machine can give, so that a
//! scheduler runs fewer fits at once (or on fewer rows) instead of running out of memory.

use crate::catalogue::{EXTRA_TREES, GBDT, KNN, LINEAR, MLP, RANDOM_FOREST};

/// Bytes one fit of `kind` on `rows` × `cols` with `n_outputs` outputs (classes for multiclass,
/// else 1) allocates beyond the feature matrix itself, which the caller already holds and shares
/// between fits. `threads` is the fit's own pool size (forests keep one tree grower per thread).
///
/// Upper-bound estimates from the data structures each trainer allocates; they ignore small
/// per-node or per-tree overheads.
pub fn estimate_fit_bytes(
    kind: &str,
    rows: usize,
    cols: usize,
    n_outputs: usize,
    threads: usize,
) -> u64 {
    let (r, c, k, t) = (
        rows as u64,
        cols as u64,
        n_outputs.max(1) as u64,
        threads.max(1) as u64,
    );
    // One histogram: 256 bins + missing per feature, 24-byte sums.
    let hist = c * 257 * 24;
    // A grower's histogram cache is capped (grow.rs HIST_CACHE_BYTES), and it holds row indices,
    // a partition scratch and ordered gradients/hessians: four u32/f32 per row.
    let grower = hist.saturating_mul(64).min(64 << 20) + r * 16;
    match kind {
        // u8 bins, f32 gradients and hessians and f64 scores per output, plus a bag mask.
        GBDT => r * c + r * k * (4 + 4 + 8) + r + grower,
        // u8 bins, one f32 pseudo-target per output, unit hessians, and a grower per thread.
        RANDOM_FOREST | EXTRA_TREES => r * c + r * k * 4 + r * 4 + t * grower,
        // A standardised copy of the features, plus per-row residuals / probabilities.
        LINEAR => r * c * 8 + r * k * 16 + c * c * 8,
        // The standardised training rows (row-major copy) for distance queries.
        KNN => r * c * 8 + r * 8,
        // A standardised copy, and activations of a batch: small next to the copy.
        MLP => r * c * 8 + r * k * 8 + (64 << 20),
        // Unknown kinds: assume they copy the matrix twice.
        _ => r * c * 16,
    }
}

/// Bytes the process can still allocate: the smaller of the kernel's `MemAvailable` and the
/// room left under a cgroup (v2) memory limit, when either can be read; `None` off Linux.
pub fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let cgroup = match (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => None,
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How a batch of fits should run in `available` bytes: at most `workers` at once (≥ 1), and,
/// when even one fit would not fit, on `row_fraction` of the rows (1.0 = all).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPlan {
    /// Fits to run concurrently.
    pub workers: usize,
    /// Share of the rows each fit may use.
    pub row_fraction: f64,
}

/// Plans `want_workers` concurrent fits whose worst case needs `per_fit` bytes at full size,
/// using at most 70% of `available` (the rest is for the process's other data and the page
/// cache). Memory scales about linearly with rows, so a fraction of rows is the fallback.
pub fn plan_memory(per_fit: u64, want_workers: usize, available: Option<u64>) -> MemoryPlan {
    let want = want_workers.max(1);
    let Some(available) = available else {
        return MemoryPlan {
            workers: want,
            row_fraction: 1.0,
        };
    };
    let usable = available / 10 * 7;
    let per_fit = per_fit.max(1);
    let fit = (usable / per_fit) as usize;
    if fit >= 1 {
        MemoryPlan {
            workers: fit.min(want),
            row_fraction: 1.0,
        }
    } else {
        MemoryPlan {
            workers: 1,
            row_fraction: (usable as f64 / per_fit as f64).clamp(0.01, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_rows_and_columns() {
        for kind in [GBDT, RANDOM_FOREST, EXTRA_TREES, LINEAR, KNN, MLP] {
            let small = estimate_fit_bytes(kind, 1_000, 10, 1, 1);
            let more_rows = estimate_fit_bytes(kind, 100_000, 10, 1, 1);
            let more_cols = estimate_fit_bytes(kind, 1_000, 100, 1, 1);
            assert!(more_rows > small && more_cols > small, "{kind}");
        }
        // 10M × 20 gbdt: the binned data (200 MB) dominates, and the estimate stays a small
        // multiple of it.
        let e = estimate_fit_bytes(GBDT, 10_000_000, 20, 1, 2);
        assert!(e > 200_000_000 && e < 600_000_000, "{e}");
    }

    #[test]
    fn plans_fewer_workers_then_fewer_rows_as_memory_shrinks() {
        let gib = 1u64 << 30;
        assert_eq!(
            plan_memory(gib, 4, Some(100 * gib)),
            MemoryPlan {
                workers: 4,
                row_fraction: 1.0
            }
        );
        assert_eq!(plan_memory(gib, 4, Some(3 * gib)).workers, 2);
        let tight = plan_memory(4 * gib, 4, Some(2 * gib));
        assert_eq!(tight.workers, 1);
        assert!((tight.row_fraction - 0.35).abs() < 0.01, "{tight:?}");
        assert_eq!(plan_memory(gib, 3, None).workers, 3);
    }

    #[test]
    fn available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(available_memory_bytes().is_some_and(|b| b > 0));
        }
    }
}

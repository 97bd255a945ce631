//! Asynchronous successive halving (ASHA, Li et al. 2020): a trial is scored at increasing
//! fidelities (rungs: more folds, more rows) and continues past a rung only while it ranks in
//! the top `1/η` of the trials scored at that rung.
//!
//! Asynchronous means a trial never waits for a full bracket: it is judged against whatever its
//! rung holds when it arrives. Which earlier results a decision may look at is the caller's
//! choice (see [`crate::Scheduler`]), so that a seeded search with a trial budget decides the
//! same way on every run.

use std::collections::BTreeMap;

/// Rung scores by trial number; larger scores are better.
#[derive(Debug, Clone)]
pub struct Asha {
    eta: f64,
    rungs: Vec<BTreeMap<usize, f64>>,
}

impl Asha {
    /// `n_rungs` fidelities (the last one is the full evaluation) and reduction factor `eta`.
    pub fn new(n_rungs: usize, eta: f64) -> Asha {
        Asha {
            eta: eta.max(1.0),
            rungs: vec![BTreeMap::new(); n_rungs.max(1)],
        }
    }

    /// Number of rungs.
    pub fn n_rungs(&self) -> usize {
        self.rungs.len()
    }

    /// Record `score` of trial `number` at `rung`.
    pub fn record(&mut self, rung: usize, number: usize, score: f64) {
        if let Some(r) = self.rungs.get_mut(rung) {
            r.insert(number, score);
        }
    }

    /// The recorded score of a trial at a rung.
    pub fn score(&self, rung: usize, number: usize) -> Option<f64> {
        self.rungs.get(rung).and_then(|r| r.get(&number)).copied()
    }

    /// Whether trial `number`, recorded at `rung`, goes on to the next rung, judged against the
    /// other trials at that rung for which `visible` holds. With fewer than `η` scores to
    /// compare there is no evidence against it and it continues; the last rung never continues.
    pub fn promote(&self, rung: usize, number: usize, visible: impl Fn(usize) -> bool) -> bool {
        if rung + 1 >= self.rungs.len() {
            return false;
        }
        let Some(own) = self.score(rung, number) else {
            return false;
        };
        let peers: Vec<f64> = self.rungs[rung]
            .iter()
            .filter(|&(&n, s)| n != number && visible(n) && s.is_finite())
            .map(|(_, &s)| s)
            .collect();
        let n = peers.len() + 1;
        if (n as f64) < self.eta {
            return true;
        }
        let keep = ((n as f64) / self.eta).ceil() as usize;
        let better = peers.iter().filter(|&&s| s > own).count();
        better < keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_top_third_and_never_promotes_past_the_last_rung() {
        let mut a = Asha::new(2, 3.0);
        a.record(0, 0, 0.5);
        // Alone: no evidence, continues.
        assert!(a.promote(0, 0, |_| true));
        a.record(0, 1, 0.9);
        a.record(0, 2, 0.1);
        // Three scores: only the best continues.
        assert!(a.promote(0, 1, |_| true));
        assert!(!a.promote(0, 0, |_| true));
        assert!(!a.promote(0, 2, |_| true));
        // Judged only against visible peers: trial 2 is best among {0, 2}… but two scores is
        // fewer than η, so it continues.
        assert!(a.promote(0, 2, |n| n != 1 && n != 0));
        a.record(1, 1, 0.8);
        assert!(!a.promote(1, 1, |_| true));
    }

    #[test]
    fn six_scores_keep_two() {
        let mut a = Asha::new(3, 3.0);
        for (n, s) in [0.1, 0.6, 0.3, 0.9, 0.2, 0.5].into_iter().enumerate() {
            a.record(0, n, s);
        }
        let promoted: Vec<usize> = (0..6).filter(|&n| a.promote(0, n, |_| true)).collect();
        assert_eq!(promoted, vec![1, 3]);
    }
}

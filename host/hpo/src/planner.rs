//! The trial scheduler: which configuration of which model kind to try next, and whether a
//! running trial earns its next fidelity.
//!
//! Order: every candidate's warm starts first (round-robin over candidates in rank order, so the
//! best-ranked kind's strongest configuration is trial 0 and a usable model exists after the
//! first trial), then TPE proposals per kind. Kinds receive trials in proportion to their budget
//! share, tilted towards the kinds that score best so far. Running trials climb ASHA rungs.
//!
//! Reproducibility: a proposal for trial `n` depends only on the seed, `n` and the results
//! *visible* to it. With a lag (`Some(workers)`), the visible results are exactly those of
//! trials numbered below `n − lag`, and the scheduler answers [`Poll::Wait`] until they are all
//! in; the same seed and trial budget then give the same trials, scores and pruning decisions
//! whatever the thread timing. Without a lag (time budgets) every result in hand is visible.

use crate::asha::Asha;
use crate::sampler::Sampler;
use crate::tpe::TpeSampler;
use microlearn_core::{ParamSpec, Params};
use std::collections::BTreeMap;

/// A model kind to search, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct PlannerCandidate {
    /// Model kind name.
    pub kind: String,
    /// Relative share of trials (> 0).
    pub budget_share: f64,
    /// Space to sample.
    pub search_space: Vec<ParamSpec>,
    /// Configurations to try first.
    pub warm_starts: Vec<Params>,
}

/// One planned trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialProposal {
    /// 0-based trial number within the pipeline.
    pub number: usize,
    /// Model kind.
    pub kind: String,
    /// Parameters (only the searched ones; the trainer fills defaults).
    pub params: Params,
    /// Whether this came from a warm start.
    pub warm_start: bool,
}

/// An answer that may have to wait for earlier trials (reproducible mode only).
#[derive(Debug, Clone, PartialEq)]
pub enum Poll<T> {
    /// The answer.
    Ready(T),
    /// Results this answer depends on are still running; ask again after one arrives.
    Wait,
}

/// A trial as recorded by an earlier attempt of the same pipeline.
#[derive(Debug, Clone)]
pub struct ResumedTrial {
    /// Trial number.
    pub number: usize,
    /// Model kind.
    pub kind: String,
    /// Parameters it ran with.
    pub params: Params,
    /// Its score at each rung it reached (empty when it failed).
    pub rung_scores: Vec<f64>,
}

#[derive(Debug, Clone)]
struct TrialState {
    candidate: usize,
    params: Params,
    ended: bool,
}

/// Seeded scheduler over several candidates.
pub struct Scheduler {
    candidates: Vec<PlannerCandidate>,
    warm_queue: Vec<(usize, Params)>,
    issued: Vec<f64>,
    next_number: usize,
    max_trials: Option<usize>,
    seed: u64,
    lag: Option<usize>,
    asha: Asha,
    trials: BTreeMap<usize, TrialState>,
}

impl Scheduler {
    /// A scheduler; `max_trials` bounds the proposals, `n_rungs`/`eta` configure ASHA (one rung
    /// means no pruning), and `lag` makes it reproducible (see the module docs).
    pub fn new(
        candidates: Vec<PlannerCandidate>,
        seed: u64,
        max_trials: Option<usize>,
        n_rungs: usize,
        eta: f64,
        lag: Option<usize>,
    ) -> Self {
        let mut warm_queue = Vec::new();
        let longest = candidates
            .iter()
            .map(|c| c.warm_starts.len())
            .max()
            .unwrap_or(0);
        for round in 0..longest {
            for (i, c) in candidates.iter().enumerate() {
                if let Some(p) = c.warm_starts.get(round) {
                    warm_queue.push((i, p.clone()));
                }
            }
        }
        let issued = vec![0.0; candidates.len()];
        Scheduler {
            candidates,
            warm_queue,
            issued,
            next_number: 0,
            max_trials,
            seed,
            lag: lag.map(|l| l.max(1)),
            asha: Asha::new(n_rungs, eta),
            trials: BTreeMap::new(),
        }
    }

    /// Trials proposed so far (resumed ones included).
    pub fn proposed(&self) -> usize {
        self.next_number
    }

    /// Number of ASHA rungs.
    pub fn n_rungs(&self) -> usize {
        self.asha.n_rungs()
    }

    /// Register trials an interrupted attempt recorded. Their numbers are not proposed again;
    /// their scores count as results, exactly as when they first ran.
    pub fn resume(&mut self, trials: &[ResumedTrial]) {
        for t in trials {
            let Some(candidate) = self.candidates.iter().position(|c| c.kind == t.kind) else {
                continue;
            };
            for (rung, &s) in t.rung_scores.iter().enumerate() {
                self.asha.record(rung, t.number, s);
            }
            self.trials.insert(
                t.number,
                TrialState {
                    candidate,
                    params: t.params.clone(),
                    ended: true,
                },
            );
        }
    }

    fn exhausted(&self) -> bool {
        self.candidates.is_empty() || self.max_trials.is_some_and(|m| self.next_number >= m)
    }

    /// Whether results trial `number` depends on at `rung` are all in.
    fn settled(&self, number: usize, rung: usize) -> bool {
        let Some(lag) = self.lag else { return true };
        let horizon = number.saturating_sub(lag);
        (0..horizon).all(|m| match self.trials.get(&m) {
            Some(t) => t.ended || self.asha.score(rung, m).is_some(),
            // Not proposed yet cannot happen below `number`; treat as settled.
            None => true,
        })
    }

    fn visible(&self, number: usize) -> impl Fn(usize) -> bool + use<> {
        let horizon = self.lag.map(|l| number.saturating_sub(l));
        move |m| horizon.is_none_or(|h| m < h)
    }

    /// The next trial: `Ready(None)` when the trial budget is spent or there is nothing to
    /// search, `Wait` when (reproducible mode) the results it depends on are still running.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Poll<Option<TrialProposal>> {
        loop {
            if self.exhausted() {
                return Poll::Ready(None);
            }
            let number = self.next_number;
            // Recorded by an earlier attempt: it counts as issued, and is not run again.
            if let Some(t) = self.trials.get(&number) {
                self.issued[t.candidate] += 1.0;
                self.next_number += 1;
                continue;
            }
            let (idx, params, warm_start) = if let Some((i, p)) = self.warm_queue.get(number) {
                (*i, p.clone(), true)
            } else {
                if !self.settled(number, 0) {
                    return Poll::Wait;
                }
                let idx = self.pick_candidate(number);
                let visible = self.visible(number);
                let history: Vec<(Params, f64)> = self
                    .trials
                    .iter()
                    .filter(|&(&m, t)| t.candidate == idx && visible(m))
                    .filter_map(|(&m, t)| Some((t.params.clone(), self.asha.score(0, m)?)))
                    .collect();
                // A fresh stream per trial number: the proposal does not depend on how many
                // proposals came before it, so resumed searches continue identically.
                let mut sampler = TpeSampler::new(
                    self.seed
                        .wrapping_mul(0x9E37_79B9)
                        .wrapping_add((number as u64).wrapping_mul(0x2545_F491_4F6C_DD1D))
                        .wrapping_add(idx as u64),
                );
                let params = sampler.suggest(&self.candidates[idx].search_space, &history);
                (idx, params, false)
            };
            self.issued[idx] += 1.0;
            self.next_number += 1;
            self.trials.insert(
                number,
                TrialState {
                    candidate: idx,
                    params: params.clone(),
                    ended: false,
                },
            );
            return Poll::Ready(Some(TrialProposal {
                number,
                kind: self.candidates[idx].kind.clone(),
                params,
                warm_start,
            }));
        }
    }

    /// The candidate furthest below its share. Shares are tilted by how each kind ranks on
    /// its best visible first-rung score (rank r keeps 1/(1+r) of its share), so a kind that
    /// is clearly behind keeps exploring, but slowly.
    fn pick_candidate(&self, number: usize) -> usize {
        let visible = self.visible(number);
        let best: Vec<Option<f64>> = (0..self.candidates.len())
            .map(|i| {
                self.trials
                    .iter()
                    .filter(|&(&m, t)| t.candidate == i && visible(m))
                    .filter_map(|(&m, _)| self.asha.score(0, m))
                    .filter(|s| s.is_finite())
                    .reduce(f64::max)
            })
            .collect();
        let weights: Vec<f64> = (0..self.candidates.len())
            .map(|i| {
                let share = self.candidates[i].budget_share.max(1e-6);
                match best[i] {
                    Some(b) => {
                        let rank = best.iter().flatten().filter(|&&o| o > b).count();
                        share / (1.0 + rank as f64)
                    }
                    None => share,
                }
            })
            .collect();
        let total_share: f64 = weights.iter().sum();
        let total_issued: f64 = self.issued.iter().sum::<f64>() + 1.0;
        let deficit = |i: usize| weights[i] / total_share * total_issued - self.issued[i];
        (0..self.candidates.len())
            .max_by(|&a, &b| deficit(a).total_cmp(&deficit(b)).then(b.cmp(&a)))
            .expect("candidates is not empty")
    }

    /// Record trial `number`'s score (larger is better) at `rung`.
    pub fn record(&mut self, number: usize, rung: usize, score: f64) {
        self.asha.record(rung, number, score);
    }

    /// Whether trial `number`, recorded at `rung`, goes on to the next rung.
    pub fn promote(&self, number: usize, rung: usize) -> Poll<bool> {
        if !self.settled(number, rung) {
            return Poll::Wait;
        }
        Poll::Ready(self.asha.promote(rung, number, self.visible(number)))
    }

    /// Trial `number` ended (complete, pruned, failed or stopped); nothing more will be
    /// recorded for it.
    pub fn end(&mut self, number: usize) {
        if let Some(t) = self.trials.get_mut(&number) {
            t.ended = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_core::{ParamDomain, ParamValue};

    fn cand(kind: &str, share: f64, warm: usize) -> PlannerCandidate {
        let mut ws = Vec::new();
        for i in 0..warm {
            let mut p = Params::new();
            p.set("x", ParamValue::Int(i as i64));
            ws.push(p);
        }
        PlannerCandidate {
            kind: kind.into(),
            budget_share: share,
            search_space: vec![ParamSpec {
                name: "x".into(),
                domain: ParamDomain::Int {
                    low: 0,
                    high: 100,
                    log: false,
                },
                default: ParamValue::Int(0),
            }],
            warm_starts: ws,
        }
    }

    fn ready<T>(p: Poll<T>) -> T {
        match p {
            Poll::Ready(t) => t,
            Poll::Wait => panic!("unexpected wait"),
        }
    }

    #[test]
    fn warm_starts_come_first_round_robin() {
        let mut p = Scheduler::new(
            vec![cand("a", 0.5, 2), cand("b", 0.5, 1)],
            1,
            None,
            1,
            3.0,
            None,
        );
        let kinds: Vec<(String, bool)> = (0..4)
            .map(|_| {
                let t = ready(p.next()).unwrap();
                (t.kind, t.warm_start)
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a".into(), true),
                ("b".into(), true),
                ("a".into(), true),
                // Warm starts count towards the shares: b is behind, so it samples next.
                ("b".into(), false)
            ]
        );
    }

    #[test]
    fn sampled_trials_follow_budget_shares_without_results() {
        let mut p = Scheduler::new(
            vec![cand("a", 0.75, 0), cand("b", 0.25, 0)],
            3,
            None,
            1,
            3.0,
            None,
        );
        let a = (0..400)
            .filter(|_| ready(p.next()).unwrap().kind == "a")
            .count();
        assert!((290..=310).contains(&a), "a got {a} of 400");
    }

    #[test]
    fn a_kind_that_scores_worse_gets_fewer_trials() {
        let mut p = Scheduler::new(
            vec![cand("a", 0.5, 0), cand("b", 0.5, 0)],
            3,
            None,
            1,
            3.0,
            None,
        );
        let mut a = 0;
        for _ in 0..300 {
            let t = ready(p.next()).unwrap();
            let s = if t.kind == "a" {
                a += 1;
                1.0
            } else {
                0.0
            };
            p.record(t.number, 0, s);
            p.end(t.number);
        }
        // Rank 1 keeps half its share: a gets about 2/3 of the trials.
        assert!((185..=215).contains(&a), "a got {a} of 300");
    }

    #[test]
    fn stops_at_max_trials_and_is_reproducible() {
        let run = || {
            let mut p = Scheduler::new(
                vec![cand("a", 1.0, 1), cand("b", 1.0, 0)],
                9,
                Some(5),
                1,
                3.0,
                None,
            );
            std::iter::from_fn(|| ready(p.next())).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first.len(), 5);
        assert_eq!(first, run());
    }

    #[test]
    fn reproducible_mode_waits_for_the_results_it_depends_on() {
        let mut p = Scheduler::new(vec![cand("a", 1.0, 1)], 5, None, 2, 3.0, Some(2));
        let t0 = ready(p.next()).unwrap();
        let _t1 = ready(p.next()).unwrap();
        let _t2 = ready(p.next()).unwrap();
        // Trial 3 sees only trials < 1, and trial 0 is still running.
        assert_eq!(p.next(), Poll::Wait);
        p.record(t0.number, 0, 0.5);
        let t3 = ready(p.next()).unwrap();
        assert_eq!(t3.number, 3);
        p.record(t3.number, 0, 0.7);
        // Trial 3's promotion looks at trial 0 only: two scores, fewer than η, so it goes on.
        assert_eq!(p.promote(t3.number, 0), Poll::Ready(true));
        // Trial 4 would depend on trial 1, which has not reported.
        assert_eq!(p.next(), Poll::Wait);
        p.end(1);
        assert!(matches!(p.next(), Poll::Ready(Some(_))));
    }

    #[test]
    fn resumed_trials_are_skipped_and_the_rest_is_unchanged() {
        let drive = |resume: &[ResumedTrial]| {
            let mut p = Scheduler::new(
                vec![cand("a", 1.0, 1), cand("b", 1.0, 1)],
                5,
                Some(12),
                1,
                3.0,
                Some(1),
            );
            p.resume(resume);
            let mut out = Vec::new();
            while let Poll::Ready(Some(t)) = p.next() {
                p.record(
                    t.number,
                    0,
                    t.params.get("x").and_then(ParamValue::as_f64).unwrap(),
                );
                p.end(t.number);
                out.push(t);
            }
            out
        };
        let all = drive(&[]);
        let resumed: Vec<ResumedTrial> = all[..6]
            .iter()
            .filter(|t| t.number != 4)
            .map(|t| ResumedTrial {
                number: t.number,
                kind: t.kind.clone(),
                params: t.params.clone(),
                rung_scores: vec![t.params.get("x").and_then(ParamValue::as_f64).unwrap()],
            })
            .collect();
        let rest = drive(&resumed);
        let mut expected: Vec<TrialProposal> = vec![all[4].clone()];
        expected.extend_from_slice(&all[6..]);
        assert_eq!(rest, expected);
    }
}

//! The trial planner: which configuration of which model kind to try next.
//!
//! Order: every candidate's warm starts first (round-robin over candidates in rank order, so the
//! best-ranked kind's strongest configuration is trial 0 and a usable model exists after the
//! first trial), then sampled configurations, each candidate receiving trials in proportion to
//! its budget share.

use crate::sampler::{RandomSampler, Sampler};
use microlearn_core::{ParamSpec, Params};

/// A model kind to search, as the planner needs it.
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

/// Seeded planner over several candidates.
pub struct TrialPlanner {
    candidates: Vec<PlannerCandidate>,
    samplers: Vec<RandomSampler>,
    warm_queue: Vec<(usize, Params)>,
    warm_pos: usize,
    /// Trials handed out per candidate (for proportional allocation).
    issued: Vec<f64>,
    next_number: usize,
    max_trials: Option<usize>,
}

impl TrialPlanner {
    /// A planner; `max_trials` bounds the total number of proposals.
    pub fn new(candidates: Vec<PlannerCandidate>, seed: u64, max_trials: Option<usize>) -> Self {
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
        let samplers = (0..candidates.len())
            .map(|i| RandomSampler::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64)))
            .collect();
        let issued = vec![0.0; candidates.len()];
        TrialPlanner {
            candidates,
            samplers,
            warm_queue,
            warm_pos: 0,
            issued,
            next_number: 0,
            max_trials,
        }
    }

    /// Trials proposed so far.
    pub fn proposed(&self) -> usize {
        self.next_number
    }

    /// Skip the first `n` proposals (used when resuming a pipeline whose first `n` trials are
    /// already recorded): the sequence afterwards is the same as if they had been drawn.
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            if self.next().is_none() {
                break;
            }
        }
    }

    /// The next trial, or `None` when the trial budget is spent or there is nothing to search.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<TrialProposal> {
        if self.candidates.is_empty() || self.max_trials.is_some_and(|m| self.next_number >= m) {
            return None;
        }
        let number = self.next_number;
        let (idx, params, warm_start) = if self.warm_pos < self.warm_queue.len() {
            let (i, p) = self.warm_queue[self.warm_pos].clone();
            self.warm_pos += 1;
            (i, p, true)
        } else {
            // The candidate furthest below its share gets the next sampled trial.
            let total_share: f64 = self
                .candidates
                .iter()
                .map(|c| c.budget_share.max(1e-6))
                .sum();
            let total_issued: f64 = self.issued.iter().sum::<f64>() + 1.0;
            let idx = (0..self.candidates.len())
                .max_by(|&a, &b| {
                    let deficit = |i: usize| {
                        self.candidates[i].budget_share.max(1e-6) / total_share * total_issued
                            - self.issued[i]
                    };
                    deficit(a).total_cmp(&deficit(b)).then(b.cmp(&a))
                })
                .expect("candidates is not empty");
            let space = &self.candidates[idx].search_space;
            let params = self.samplers[idx].suggest(space, &[]);
            (idx, params, false)
        };
        self.issued[idx] += 1.0;
        self.next_number += 1;
        Some(TrialProposal {
            number,
            kind: self.candidates[idx].kind.clone(),
            params,
            warm_start,
        })
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

    #[test]
    fn warm_starts_come_first_round_robin() {
        let mut p = TrialPlanner::new(vec![cand("a", 0.5, 2), cand("b", 0.5, 1)], 1, None);
        let kinds: Vec<(String, bool)> = (0..4)
            .map(|_| {
                let t = p.next().unwrap();
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
    fn sampled_trials_follow_budget_shares() {
        let mut p = TrialPlanner::new(vec![cand("a", 0.75, 0), cand("b", 0.25, 0)], 3, None);
        let a = (0..400).filter(|_| p.next().unwrap().kind == "a").count();
        assert!((290..=310).contains(&a), "a got {a} of 400");
    }

    #[test]
    fn stops_at_max_trials_and_is_reproducible() {
        let run = || {
            let mut p = TrialPlanner::new(vec![cand("a", 1.0, 1), cand("b", 1.0, 0)], 9, Some(5));
            std::iter::from_fn(|| p.next()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first.len(), 5);
        assert_eq!(first, run());
    }

    #[test]
    fn skip_resumes_the_same_sequence() {
        let all: Vec<_> = {
            let mut p = TrialPlanner::new(vec![cand("a", 1.0, 1), cand("b", 1.0, 1)], 5, None);
            (0..10).map(|_| p.next().unwrap()).collect()
        };
        let mut p = TrialPlanner::new(vec![cand("a", 1.0, 1), cand("b", 1.0, 1)], 5, None);
        p.skip(6);
        assert_eq!(p.next().unwrap(), all[6]);
    }
}

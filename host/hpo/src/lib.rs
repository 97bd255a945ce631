//! Hyperparameter search: samplers over mixed spaces and a seeded trial planner.
//!
//! Everything here is pure and seeded: given the same candidates and seed, the planner proposes
//! the same trials in the same order, whatever the timing of the trials that run them. The
//! pipeline engine owns execution (threads, deadlines, persistence).

pub mod planner;
pub mod sampler;

pub use planner::{PlannerCandidate, TrialPlanner, TrialProposal};
pub use sampler::{RandomSampler, Sampler, sample_domain};

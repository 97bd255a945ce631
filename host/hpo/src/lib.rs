//! Hyperparameter search: a TPE sampler over mixed spaces, ASHA pruning over fidelities and a
//! seeded trial scheduler.
//!
//! Everything here is pure and seeded: given the same candidates, seed and results, the
//! scheduler proposes the same trials and makes the same pruning decisions, whatever the timing
//! of the threads that run them. The pipeline engine owns execution (threads, deadlines,
//! persistence).

pub mod asha;
pub mod planner;
pub mod sampler;
pub mod tpe;

pub use asha::Asha;
pub use planner::{PlannerCandidate, Poll, ResumedTrial, Scheduler, TrialProposal};
pub use sampler::{RandomSampler, Sampler, sample_domain};
pub use tpe::TpeSampler;

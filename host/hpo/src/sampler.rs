//! Samplers propose parameter assignments from a search space.

use microlearn_core::{ParamDomain, ParamSpec, ParamValue, Params};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// Proposes the next configuration to try in a space.
///
/// `history` holds `(params, score)` of completed trials of the same space, score oriented so
/// that larger is better; model-based samplers (TPE) use it, random search ignores it.
pub trait Sampler: Send {
    /// Propose an assignment for every spec in `space`.
    fn suggest(&mut self, space: &[ParamSpec], history: &[(Params, f64)]) -> Params;
}

/// Uniform (or log-uniform) independent sampling.
#[derive(Debug, Clone)]
pub struct RandomSampler {
    rng: ChaCha8Rng,
}

impl RandomSampler {
    /// A sampler with its own seeded stream.
    pub fn new(seed: u64) -> Self {
        RandomSampler {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Sampler for RandomSampler {
    fn suggest(&mut self, space: &[ParamSpec], _history: &[(Params, f64)]) -> Params {
        let mut params = Params::new();
        for spec in space {
            params.set(
                spec.name.clone(),
                sample_domain(&spec.domain, &mut self.rng),
            );
        }
        params
    }
}

/// Draw one value from a domain. Log-scaled ranges with a non-positive bound fall back to
/// linear sampling rather than producing NaN.
pub fn sample_domain(domain: &ParamDomain, rng: &mut impl Rng) -> ParamValue {
    match domain {
        ParamDomain::Float { low, high, log } => {
            let (lo, hi) = ordered(*low, *high);
            if lo == hi {
                return ParamValue::Float(lo);
            }
            let u: f64 = rng.random();
            let v = if *log && lo > 0.0 {
                (lo.ln() + u * (hi.ln() - lo.ln())).exp()
            } else {
                lo + u * (hi - lo)
            };
            ParamValue::Float(v.clamp(lo, hi))
        }
        ParamDomain::Int { low, high, log } => {
            let (lo, hi) = if low <= high {
                (*low, *high)
            } else {
                (*high, *low)
            };
            if lo == hi {
                return ParamValue::Int(lo);
            }
            let v = if *log && lo > 0 {
                // Sample log-uniformly on [lo, hi + 1) and floor, so every integer is reachable.
                let u: f64 = rng.random();
                let x = ((lo as f64).ln() + u * (((hi + 1) as f64).ln() - (lo as f64).ln())).exp();
                (x.floor() as i64).clamp(lo, hi)
            } else {
                rng.random_range(lo..=hi)
            };
            ParamValue::Int(v)
        }
        ParamDomain::Choice { options } => {
            if options.is_empty() {
                ParamValue::Choice(String::new())
            } else {
                ParamValue::Choice(options[rng.random_range(0..options.len())].clone())
            }
        }
        ParamDomain::Flag => ParamValue::Flag(rng.random()),
    }
}

fn ordered(a: f64, b: f64) -> (f64, f64) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "lr".into(),
                domain: ParamDomain::Float {
                    low: 1e-3,
                    high: 0.3,
                    log: true,
                },
                default: ParamValue::Float(0.1),
            },
            ParamSpec {
                name: "leaves".into(),
                domain: ParamDomain::Int {
                    low: 4,
                    high: 256,
                    log: true,
                },
                default: ParamValue::Int(31),
            },
            ParamSpec {
                name: "obj".into(),
                domain: ParamDomain::Choice {
                    options: vec!["l2".into(), "huber".into()],
                },
                default: ParamValue::Choice("l2".into()),
            },
        ]
    }

    #[test]
    fn samples_stay_inside_their_domains() {
        let mut s = RandomSampler::new(7);
        let space = space();
        for _ in 0..2000 {
            let p = s.suggest(&space, &[]);
            for spec in &space {
                let v = p.get(&spec.name).expect("every spec sampled");
                assert!(spec.domain.contains(v), "{} = {v:?}", spec.name);
            }
        }
    }

    #[test]
    fn same_seed_gives_same_sequence() {
        let space = space();
        let mut a = RandomSampler::new(42);
        let mut b = RandomSampler::new(42);
        for _ in 0..50 {
            assert_eq!(a.suggest(&space, &[]), b.suggest(&space, &[]));
        }
    }

    #[test]
    fn log_int_sampling_reaches_both_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let d = ParamDomain::Int {
            low: 1,
            high: 4,
            log: true,
        };
        let seen: std::collections::BTreeSet<i64> = (0..1000)
            .map(|_| sample_domain(&d, &mut rng).as_i64().unwrap())
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }
}

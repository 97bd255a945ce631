//! Smooth and composite minimisers used by the linear models: L-BFGS for smooth objectives and
//! FISTA (accelerated proximal gradient) for an L1 term on top of a smooth one.

use std::collections::VecDeque;
use std::time::Instant;

/// History pairs L-BFGS keeps; 10 is the usual choice (scipy, liblinear use 10).
const LBFGS_MEMORY: usize = 10;
/// Armijo sufficient-decrease constant.
const ARMIJO_C1: f64 = 1e-4;
/// Step halvings before a line search gives up.
const MAX_BACKTRACKS: usize = 60;

/// How a minimisation ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub iterations: usize,
    pub converged: bool,
}

/// Stopping rules shared by both minimisers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stop<'a> {
    pub max_iter: usize,
    pub tol: f64,
    pub deadline: Option<Instant>,
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Stop<'_> {
    pub(crate) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self
                .cancel
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `f` (which returns the value and writes the gradient) from `x` in place.
pub(crate) fn lbfgs(
    x: &mut [f64],
    stop: Stop,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> Outcome {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut hist: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(LBFGS_MEMORY);
    let (mut d, mut x_new, mut g_new) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut alpha = [0.0; LBFGS_MEMORY];
    for iter in 0..stop.max_iter {
        if max_abs(&g) <= stop.tol {
            return Outcome {
                iterations: iter,
                converged: true,
            };
        }
        if stop.out_of_time() {
            return Outcome {
                iterations: iter,
                converged: false,
            };
        }
        // Two-loop recursion: d = -H g.
        d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
        for (m, (s, y, rho)) in hist.iter().enumerate().rev() {
            alpha[m] = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(d, y)| *d -= alpha[m] * y);
        }
        if let Some((s, y, _)) = hist.back() {
            let gamma = dot(s, y) / dot(y, y);
            d.iter_mut().for_each(|d| *d *= gamma);
        }
        for (m, (s, y, rho)) in hist.iter().enumerate() {
            let beta = rho * dot(y, &d);
            d.iter_mut()
                .zip(s)
                .for_each(|(d, s)| *d += (alpha[m] - beta) * s);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (curvature information went stale): fall back to -g.
            hist.clear();
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = dot(&g, &d);
        }
        // First step of a fresh history is scaled so that it moves at most ~1 in any coordinate.
        let mut t = if hist.is_empty() {
            (1.0 / max_abs(&d)).min(1.0)
        } else {
            1.0
        };
        let mut f_new = f64::INFINITY;
        let mut accepted = false;
        for _ in 0..MAX_BACKTRACKS {
            x_new
                .iter_mut()
                .zip(x.iter().zip(&d))
                .for_each(|(xn, (x, d))| *xn = x + t * d);
            f_new = f(&x_new, &mut g_new);
            if f_new <= fx + ARMIJO_C1 * t * slope {
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            // No decrease possible along the search direction at floating-point resolution.
            return Outcome {
                iterations: iter,
                converged: true,
            };
        }
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if hist.len() == LBFGS_MEMORY {
                hist.pop_front();
            }
            hist.push_back((s, y, 1.0 / sy));
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let decrease = fx - f_new;
        fx = f_new;
        if decrease <= 1e-14 * fx.abs().max(1.0) {
            return Outcome {
                iterations: iter + 1,
                converged: true,
            };
        }
    }
    Outcome {
        iterations: stop.max_iter,
        converged: false,
    }
}

/// Minimises `f(x) + l1 * Σ_{i in penalised} |x_i|` by FISTA with backtracking and adaptive
/// restart. `f` returns the smooth value and writes its gradient.
pub(crate) fn fista(
    x: &mut [f64],
    penalised: &[bool],
    l1: f64,
    stop: Stop,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> Outcome {
    let n = x.len();
    let l1_of = |v: &[f64]| -> f64 {
        l1 * v
            .iter()
            .zip(penalised)
            .filter(|(_, p)| **p)
            .map(|(a, _)| a.abs())
            .sum::<f64>()
    };
    let mut lipschitz = 1.0;
    let mut y = x.to_vec();
    let mut gy = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut scratch = vec![0.0; n];
    let mut t: f64 = 1.0;
    let mut obj = f(x, &mut scratch) + l1_of(x);
    for iter in 0..stop.max_iter {
        if stop.out_of_time() {
            return Outcome {
                iterations: iter,
                converged: false,
            };
        }
        let fy = f(&y, &mut gy);
        let mut f_new;
        loop {
            for i in 0..n {
                let z = y[i] - gy[i] / lipschitz;
                x_new[i] = if penalised[i] {
                    let thr = l1 / lipschitz;
                    if z > thr {
                        z - thr
                    } else if z < -thr {
                        z + thr
                    } else {
                        0.0
                    }
                } else {
                    z
                };
            }
            f_new = f(&x_new, &mut scratch);
            let mut model = fy;
            let mut sq = 0.0;
            for i in 0..n {
                let dlt = x_new[i] - y[i];
                model += gy[i] * dlt;
                sq += dlt * dlt;
            }
            model += 0.5 * lipschitz * sq;
            if f_new <= model + 1e-12 * fy.abs().max(1.0) || lipschitz > 1e12 {
                break;
            }
            lipschitz *= 2.0;
        }
        let obj_new = f_new + l1_of(&x_new);
        let step = x_new
            .iter()
            .zip(x.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        let t_new = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        if obj_new > obj && t > 1.0 {
            // Adaptive restart (O'Donoghue & Candès): momentum overshot, drop it.
            t = 1.0;
            y.copy_from_slice(x);
            continue;
        }
        let momentum = (t - 1.0) / t_new;
        for i in 0..n {
            y[i] = x_new[i] + momentum * (x_new[i] - x[i]);
        }
        x.copy_from_slice(&x_new);
        t = t_new;
        obj = obj_new;
        // The gradient-mapping norm L·|Δx| measures optimality like |∇f| in the smooth case.
        if step * lipschitz <= stop.tol {
            return Outcome {
                iterations: iter + 1,
                converged: true,
            };
        }
    }
    Outcome {
        iterations: stop.max_iter,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quadratic(x: &[f64], g: &mut [f64]) -> f64 {
        // (x0 - 3)^2 + 10 (x1 + 1)^2
        g[0] = 2.0 * (x[0] - 3.0);
        g[1] = 20.0 * (x[1] + 1.0);
        (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2)
    }

    #[test]
    fn lbfgs_finds_quadratic_minimum() {
        let mut x = vec![0.0, 0.0];
        let out = lbfgs(
            &mut x,
            Stop {
                max_iter: 100,
                tol: 1e-9,
                deadline: None,
                cancel: None,
            },
            quadratic,
        );
        assert!(out.converged);
        assert!(
            (x[0] - 3.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn fista_soft_thresholds_weak_coordinates_to_zero() {
        // With l1 = 5, the optimum of (x0-3)^2 + 10(x1+1)^2 + 5|x0| + 5|x1| is x0 = 0.5, x1 = -0.75.
        let mut x = vec![0.0, 0.0];
        fista(
            &mut x,
            &[true, true],
            5.0,
            Stop {
                max_iter: 5000,
                tol: 1e-10,
                deadline: None,
                cancel: None,
            },
            quadratic,
        );
        assert!(
            (x[0] - 0.5).abs() < 1e-5 && (x[1] + 0.75).abs() < 1e-5,
            "{x:?}"
        );
        let mut x = vec![0.0, 0.0];
        fista(
            &mut x,
            &[true, true],
            100.0,
            Stop {
                max_iter: 5000,
                tol: 1e-10,
                deadline: None,
                cancel: None,
            },
            quadratic,
        );
        assert_eq!(x, vec![0.0, 0.0]);
    }
}

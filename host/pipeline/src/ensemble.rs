//! Greedy ensemble selection with replacement (Caruana et al., 2004) over out-of-fold
//! predictions.
//!
//! Selection evaluates the objective thousands of times, so the built-in metrics are computed
//! natively here (same definitions as the bundled evaluators). A metric only an evaluator
//! plugin knows is scored through the plugin, with fewer candidates and rounds.

use crate::search::{Oof, orient};
use microlearn_core::{Direction, Task};
use microlearn_train::Predictions;

/// A native implementation of `metric` for `task`, if there is one: (y_true, predictions) →
/// value in the metric's own direction.
pub(crate) fn native_metric(metric: &str, task: Task) -> Option<fn(&[f64], &Predictions) -> f64> {
    Some(match (metric, task) {
        ("roc_auc", Task::Binary) => roc_auc,
        ("log_loss", Task::Binary | Task::Multiclass) => log_loss,
        ("accuracy", Task::Binary | Task::Multiclass) => accuracy,
        ("rmse", Task::Regression) => rmse,
        ("mse", Task::Regression) => mse,
        ("mae", Task::Regression) => mae,
        ("r2", Task::Regression) => r2,
        _ => return None,
    })
}

/// Row-major numbers and the width of a row (classes, or 1 for values).
fn probs(p: &Predictions) -> (&[f64], usize) {
    match p {
        Predictions::Probabilities { n_classes, .. } => (p.raw(), (*n_classes).max(1)),
        Predictions::Values(_) => (p.raw(), 1),
    }
}

fn roc_auc(y: &[f64], p: &Predictions) -> f64 {
    let (data, k) = probs(p);
    let col = if k >= 2 { 1 } else { 0 };
    let mut idx: Vec<usize> = (0..y.len()).collect();
    let score = |i: usize| data[i * k + col];
    idx.sort_by(|&a, &b| score(a).total_cmp(&score(b)));
    // Mann–Whitney U with average ranks for ties.
    let (mut rank_sum_pos, mut n_pos) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score(idx[j + 1]) == score(idx[i]) {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &r in &idx[i..=j] {
            if y[r] == 1.0 {
                rank_sum_pos += avg_rank;
                n_pos += 1.0;
            }
        }
        i = j + 1;
    }
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

fn log_loss(y: &[f64], p: &Predictions) -> f64 {
    const EPS: f64 = 1e-15;
    let (data, k) = probs(p);
    let total: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let row = &data[i * k..(i + 1) * k];
            let sum: f64 = row.iter().sum::<f64>().max(EPS);
            -(row[(t as usize).min(k - 1)] / sum)
                .clamp(EPS, 1.0 - EPS)
                .ln()
        })
        .sum();
    total / y.len().max(1) as f64
}

fn accuracy(y: &[f64], p: &Predictions) -> f64 {
    let (data, k) = probs(p);
    let hits = y
        .iter()
        .enumerate()
        .filter(|&(i, &t)| {
            let row = &data[i * k..(i + 1) * k];
            let best = (0..k)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            best == t as usize
        })
        .count();
    hits as f64 / y.len().max(1) as f64
}

fn mse(y: &[f64], p: &Predictions) -> f64 {
    let v = p.raw();
    y.iter().zip(v).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len().max(1) as f64
}

fn rmse(y: &[f64], p: &Predictions) -> f64 {
    mse(y, p).sqrt()
}

fn mae(y: &[f64], p: &Predictions) -> f64 {
    let v = p.raw();
    y.iter().zip(v).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len().max(1) as f64
}

fn r2(y: &[f64], p: &Predictions) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
    if ss_tot == 0.0 {
        return f64::NAN;
    }
    1.0 - mse(y, p) * y.len() as f64 / ss_tot
}

/// The selected ensemble: indices into the candidate list with their selection counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selection {
    pub members: Vec<(usize, usize)>,
    /// Oriented score of the ensemble's out-of-fold predictions.
    pub score: f64,
    /// Oriented score of the best single candidate under the same scorer.
    pub best_single: f64,
}

/// A selection in trial numbers, with its validation score in the metric's own direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelectionByTrial {
    /// (trial number, times selected).
    pub members: Vec<(usize, usize)>,
    /// Oriented out-of-fold score of the mix.
    pub score: f64,
}

/// The candidates worth ensembling: the best trial of every kind, then the best others, at
/// most `max` in all, best first.
pub(crate) fn candidates(oof: &[Oof], max: usize) -> Vec<&Oof> {
    let mut sorted: Vec<&Oof> = oof.iter().filter(|o| o.score.is_finite()).collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.number.cmp(&b.number)));
    let mut out: Vec<&Oof> = Vec::new();
    for o in &sorted {
        if !out.iter().any(|c| c.kind == o.kind) {
            out.push(o);
        }
    }
    for o in &sorted {
        if out.len() >= max {
            break;
        }
        if !out.iter().any(|c| c.number == o.number) {
            out.push(o);
        }
    }
    out.truncate(max);
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.number.cmp(&b.number)));
    out
}

/// Greedy forward selection with replacement: `rounds` times, add the candidate whose
/// inclusion scores best; the best prefix wins. `score` returns an oriented score (larger is
/// better) of averaged predictions. Ties prefer the earlier (better single) candidate, so the
/// result is deterministic.
pub(crate) fn select(
    candidates: &[&Predictions],
    rounds: usize,
    score: &dyn Fn(&Predictions) -> f64,
) -> Option<Selection> {
    let first = candidates.first()?;
    let singles: Vec<f64> = candidates.iter().map(|p| score(p)).collect();
    let best_single = singles.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = first.raw().len();
    let mut sum = vec![0.0; width];
    let mut counts = vec![0usize; candidates.len()];
    let mut best: Option<(f64, Vec<usize>)> = None;
    // One buffer for every tentative mix, so a round allocates nothing.
    let mut trial = first.zeros_like();
    // `picked` members are in `sum` at the start of each round.
    for picked in 0..rounds.max(1) {
        let mut round_best: Option<(f64, usize)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let m = (picked + 1) as f64;
            for ((t, s), x) in trial.raw_mut().iter_mut().zip(&sum).zip(c.raw()) {
                *t = (s + x) / m;
            }
            let s = score(&trial);
            if s.is_finite() && round_best.is_none_or(|(b, _)| s > b) {
                round_best = Some((s, i));
            }
        }
        let Some((s, i)) = round_best else { break };
        for (acc, x) in sum.iter_mut().zip(candidates[i].raw()) {
            *acc += x;
        }
        counts[i] += 1;
        if best.as_ref().is_none_or(|(b, _)| s > *b) {
            best = Some((s, counts.clone()));
        }
    }
    let (score, counts) = best?;
    Some(Selection {
        members: counts
            .into_iter()
            .enumerate()
            .filter(|&(_, c)| c > 0)
            .collect(),
        score,
        best_single,
    })
}

/// Rows and predictions restricted to the rows every candidate predicted (out-of-fold rows a
/// regression candidate left NaN are skipped), at most `max_rows` of them (evenly spaced), so
/// selection on big data stays cheap.
pub(crate) fn restrict(
    y: &[f64],
    preds: &[&Predictions],
    max_rows: usize,
) -> (Vec<f64>, Vec<Predictions>) {
    let n = y.len();
    let finite = |i: usize| {
        preds.iter().all(|p| {
            let (d, k) = probs(p);
            d[i * k..(i + 1) * k].iter().all(|x| x.is_finite())
        })
    };
    let rows: Vec<usize> = (0..n).filter(|&i| finite(i)).collect();
    let step = (rows.len() / max_rows.max(1)).max(1);
    let rows: Vec<usize> = rows.into_iter().step_by(step).collect();
    let y_out = rows.iter().map(|&i| y[i]).collect();
    let p_out = preds
        .iter()
        .map(|p| match p {
            Predictions::Values(v) => Predictions::Values(rows.iter().map(|&i| v[i]).collect()),
            Predictions::Probabilities { n_classes, data } => {
                let k = *n_classes;
                let mut out = Vec::with_capacity(rows.len() * k);
                for &i in &rows {
                    out.extend_from_slice(&data[i * k..(i + 1) * k]);
                }
                Predictions::Probabilities {
                    n_classes: k,
                    data: out,
                }
            }
        })
        .collect();
    (y_out, p_out)
}

/// Oriented native scorer for the objective, if the metric is built in.
pub(crate) fn native_scorer(
    metric: &str,
    task: Task,
    direction: Direction,
    y: Vec<f64>,
) -> Option<impl Fn(&Predictions) -> f64> {
    let f = native_metric(metric, task)?;
    Some(move |p: &Predictions| orient(f(&y, p), direction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_metrics_match_hand_computed_values() {
        let y = [0.0, 0.0, 1.0, 1.0];
        let p = Predictions::Probabilities {
            n_classes: 2,
            data: vec![0.9, 0.1, 0.6, 0.4, 0.65, 0.35, 0.2, 0.8],
        };
        // Positive scores 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered.
        assert!((roc_auc(&y, &p) - 0.75).abs() < 1e-12);
        let ll = -(0.9f64.ln() + 0.6f64.ln() + 0.35f64.ln() + 0.8f64.ln()) / 4.0;
        assert!((log_loss(&y, &p) - ll).abs() < 1e-12);
        assert!((accuracy(&y, &p) - 0.75).abs() < 1e-12);
        let v = Predictions::Values(vec![1.0, 2.0, 3.0, 5.0]);
        let yr = [1.0, 2.0, 3.0, 4.0];
        assert!((rmse(&yr, &v) - 0.5).abs() < 1e-12);
        assert!((r2(&yr, &v) - (1.0 - 1.0 / 5.0)).abs() < 1e-12);
    }

    #[test]
    fn averaging_complementary_models_beats_either_alone() {
        // Two regressors with opposite errors: their average is exact.
        let y = vec![1.0, 2.0, 3.0, 4.0];
        let a = Predictions::Values(vec![1.5, 1.5, 3.5, 3.5]);
        let b = Predictions::Values(vec![0.5, 2.5, 2.5, 4.5]);
        let c = Predictions::Values(vec![3.0, 3.0, 3.0, 3.0]);
        let score = native_scorer("rmse", Task::Regression, Direction::Minimize, y).unwrap();
        let sel = select(&[&a, &b, &c], 10, &score).unwrap();
        assert_eq!(sel.members, vec![(0, 1), (1, 1)]);
        assert!(sel.score > sel.best_single);
        assert!(sel.score.abs() < 1e-12);
    }

    #[test]
    fn a_single_dominant_model_is_selected_alone() {
        let y = vec![1.0, 2.0, 3.0, 4.0];
        let a = Predictions::Values(vec![1.0, 2.0, 3.0, 4.0]);
        let b = Predictions::Values(vec![4.0, 3.0, 2.0, 1.0]);
        let score = native_scorer("rmse", Task::Regression, Direction::Minimize, y).unwrap();
        let sel = select(&[&a, &b], 10, &score).unwrap();
        assert_eq!(sel.members, vec![(0, 1)]);
    }
}

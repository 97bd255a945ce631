//! Metric formulas over a confusion matrix or a score column.

use crate::Scored;

/// Row-major `k × k` counts: rows = true class, columns = predicted class.
pub(crate) fn confusion(y: &[usize], predicted: &[usize], k: usize) -> Vec<u64> {
    let mut m = vec![0u64; k * k];
    for (&t, &p) in y.iter().zip(predicted) {
        m[t * k + p] += 1;
    }
    m
}

fn true_counts(m: &[u64], k: usize) -> Vec<u64> {
    (0..k).map(|t| m[t * k..(t + 1) * k].iter().sum()).collect()
}

fn predicted_counts(m: &[u64], k: usize) -> Vec<u64> {
    (0..k).map(|p| (0..k).map(|t| m[t * k + p]).sum()).collect()
}

pub(crate) fn accuracy(m: &[u64], k: usize) -> f64 {
    let total: u64 = m.iter().sum();
    let correct: u64 = (0..k).map(|c| m[c * k + c]).sum();
    correct as f64 / total as f64
}

/// Mean recall over the classes present in `y_true`.
pub(crate) fn balanced_accuracy(m: &[u64], k: usize) -> f64 {
    let t = true_counts(m, k);
    let (sum, n) = (0..k)
        .filter(|&c| t[c] > 0)
        .fold((0.0, 0usize), |(s, n), c| {
            (s + m[c * k + c] as f64 / t[c] as f64, n + 1)
        });
    sum / n as f64
}

fn f1_of(tp: u64, fp: u64, fn_: u64) -> f64 {
    let denom = 2 * tp + fp + fn_;
    if denom == 0 {
        0.0
    } else {
        (2 * tp) as f64 / denom as f64
    }
}

/// F1 of class index 1.
pub(crate) fn f1_binary(m: &[u64]) -> f64 {
    f1_of(m[3], m[1], m[2])
}

/// Unweighted mean F1 over the classes present in `y_true` or in the predictions.
pub(crate) fn f1_macro(m: &[u64], k: usize) -> f64 {
    let t = true_counts(m, k);
    let p = predicted_counts(m, k);
    let (sum, n) = (0..k)
        .filter(|&c| t[c] > 0 || p[c] > 0)
        .fold((0.0, 0usize), |(s, n), c| {
            let tp = m[c * k + c];
            (s + f1_of(tp, p[c] - tp, t[c] - tp), n + 1)
        });
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Matthews correlation coefficient, multiclass generalisation (Gorodkin 2004); 0 when undefined.
pub(crate) fn mcc(m: &[u64], k: usize) -> f64 {
    let t = true_counts(m, k);
    let p = predicted_counts(m, k);
    let s: f64 = m.iter().sum::<u64>() as f64;
    let c: f64 = (0..k).map(|i| m[i * k + i]).sum::<u64>() as f64;
    let pt: f64 = (0..k).map(|i| p[i] as f64 * t[i] as f64).sum();
    let pp: f64 = p.iter().map(|&x| (x as f64).powi(2)).sum();
    let tt: f64 = t.iter().map(|&x| (x as f64).powi(2)).sum();
    let denom = ((s * s - pp) * (s * s - tt)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (c * s - pt) / denom
    }
}

/// Mean negative log-likelihood of the true class, probabilities clipped away from 0 and 1.
pub(crate) fn log_loss(s: &Scored<'_>) -> f64 {
    const EPS: f64 = 1e-15;
    let total: f64 =
        s.y.iter()
            .enumerate()
            .map(|(i, &t)| -s.proba[i * s.k + t].clamp(EPS, 1.0 - EPS).ln())
            .sum();
    total / s.rows() as f64
}

/// Row indices sorted by score, descending (stable, so ties keep row order).
pub(crate) fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// ROC-AUC of `scores` for "class == positive", by the rank statistic with averaged ties;
/// `None` when only one side is present.
pub(crate) fn roc_auc(scores: &[f64], y: &[usize], positive: usize) -> Option<f64> {
    let order = order_desc(scores);
    let n_pos = y.iter().filter(|&&t| t == positive).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    // Walk groups of equal score from the top; each negative in a group outranks the
    // positives below, and ties count half.
    let mut auc = 0.0;
    let mut pos_above = 0.0;
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        let (mut gp, mut gn) = (0.0, 0.0);
        while i < order.len() && scores[order[i]] == score {
            if y[order[i]] == positive {
                gp += 1.0;
            } else {
                gn += 1.0;
            }
            i += 1;
        }
        auc += gn * (pos_above + gp / 2.0);
        pos_above += gp;
    }
    Some(auc / (n_pos * n_neg))
}

/// Macro-average of one-vs-rest AUCs over classes where it is defined.
pub(crate) fn roc_auc_ovr_macro(s: &Scored<'_>) -> Option<f64> {
    let aucs: Vec<f64> = (0..s.k)
        .filter_map(|c| roc_auc(&s.class_scores(c), &s.y, c))
        .collect();
    if aucs.is_empty() {
        None
    } else {
        Some(aucs.iter().sum::<f64>() / aucs.len() as f64)
    }
}

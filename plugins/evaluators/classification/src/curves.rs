//! ROC, precision–recall and calibration curves.

use crate::Scored;
use crate::metrics::order_desc;
use microlearn_sdk::prelude::*;

pub(crate) struct Limits {
    pub max_points: usize,
    pub calibration_bins: usize,
}

pub(crate) fn add_curves(
    out: &mut Evaluation,
    s: &Scored<'_>,
    labels: &[String],
    task: Task,
    limits: &Limits,
) {
    if task == Task::Binary {
        let scores = s.class_scores(1);
        push_roc_pr(out, &scores, &s.y, 1, "", limits.max_points);
        let positive: Vec<bool> = s.y.iter().map(|&t| t == 1).collect();
        out.curves.push(calibration(
            "calibration",
            &scores,
            &positive,
            limits.calibration_bins,
        ));
    } else {
        for (c, label) in labels.iter().enumerate() {
            let scores = s.class_scores(c);
            push_roc_pr(
                out,
                &scores,
                &s.y,
                c,
                &format!(":{label}"),
                limits.max_points,
            );
        }
        // Multiclass reliability: confidence of the predicted class vs whether it was right.
        let predicted = s.predicted();
        let confidence: Vec<f64> = (0..s.rows()).map(|i| s.row(i)[predicted[i]]).collect();
        let correct: Vec<bool> = s.y.iter().zip(&predicted).map(|(t, p)| t == p).collect();
        out.curves.push(calibration(
            "calibration",
            &confidence,
            &correct,
            limits.calibration_bins,
        ));
    }
}

/// ROC and PR points at every distinct threshold, then downsampled.
fn push_roc_pr(
    out: &mut Evaluation,
    scores: &[f64],
    y: &[usize],
    positive: usize,
    suffix: &str,
    max_points: usize,
) {
    let n_pos = y.iter().filter(|&&t| t == positive).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        // Undefined for a single class: skip rather than draw a degenerate curve.
        return;
    }
    let order = order_desc(scores);
    let (mut fpr, mut tpr) = (vec![0.0], vec![0.0]);
    let (mut recall, mut precision) = (vec![0.0], vec![1.0]);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            if y[order[i]] == positive {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        fpr.push(fp / n_neg);
        tpr.push(tp / n_pos);
        recall.push(tp / n_pos);
        precision.push(tp / (tp + fp));
    }
    let (fpr, tpr) = downsample(fpr, tpr, max_points);
    let (recall, precision) = downsample(recall, precision, max_points);
    out.curves.push(Curve {
        name: format!("roc{suffix}"),
        x_label: "false positive rate".into(),
        y_label: "true positive rate".into(),
        x: fpr,
        y: tpr,
        style: CurveStyle::Line,
    });
    out.curves.push(Curve {
        name: format!("pr{suffix}"),
        x_label: "recall".into(),
        y_label: "precision".into(),
        x: recall,
        y: precision,
        style: CurveStyle::Line,
    });
}

/// Keep at most `max` points, evenly spaced, always keeping the first and the last.
pub(crate) fn downsample(x: Vec<f64>, y: Vec<f64>, max: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    if n <= max {
        return (x, y);
    }
    let pick: Vec<usize> = (0..max).map(|j| j * (n - 1) / (max - 1)).collect();
    (
        pick.iter().map(|&i| x[i]).collect(),
        pick.iter().map(|&i| y[i]).collect(),
    )
}

/// Mean predicted probability vs observed frequency per equal-width bin (empty bins omitted).
fn calibration(name: &str, scores: &[f64], hit: &[bool], bins: usize) -> Curve {
    let mut sum_p = vec![0.0; bins];
    let mut hits = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&p, &h) in scores.iter().zip(hit) {
        let p = p.clamp(0.0, 1.0);
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        hits[b] += if h { 1.0 } else { 0.0 };
        count[b] += 1;
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for b in (0..bins).filter(|&b| count[b] > 0) {
        x.push(sum_p[b] / count[b] as f64);
        y.push(hits[b] / count[b] as f64);
    }
    Curve {
        name: name.into(),
        x_label: "mean predicted probability".into(),
        y_label: "observed frequency".into(),
        x,
        y,
        style: CurveStyle::Line,
    }
}

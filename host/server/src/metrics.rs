//! Prometheus metrics: HTTP requests by route and status, request latency by route, pipeline
//! queue state and per-deployment predict counts and latency. Counters are atomics behind a
//! read-mostly map, so the hot path takes no exclusive lock once a series exists.

use crate::App;
use crate::serving::LATENCY_BUCKETS_US;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

#[derive(Default)]
pub(crate) struct Series {
    count: AtomicU64,
    sum_us: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

#[derive(Default)]
pub(crate) struct Metrics {
    /// (method, route, status) → series.
    http: RwLock<HashMap<(String, String, u16), Arc<Series>>>,
}

impl Metrics {
    fn series(&self, method: &str, route: &str, status: u16) -> Arc<Series> {
        let key = (method.to_string(), route.to_string(), status);
        if let Some(s) = self
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return s.clone();
        }
        self.http
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }
}

/// Count and time every request, labelled by its route template (not the raw path, which
/// would make one series per id).
pub(crate) async fn track(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    let us = started.elapsed().as_micros() as u64;
    let s = app.metrics.series(&method, &route, resp.status().as_u16());
    s.count.fetch_add(1, Ordering::Relaxed);
    s.sum_us.fetch_add(us, Ordering::Relaxed);
    let i = LATENCY_BUCKETS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(LATENCY_BUCKETS_US.len());
    s.buckets[i].fetch_add(1, Ordering::Relaxed);
    resp
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: &[(Option<u64>, u64)],
    sum_us: u64,
    count: u64,
) {
    for (le, n) in buckets {
        let le = le.map_or_else(|| "+Inf".to_string(), |b| format!("{}", b as f64 / 1e6));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// The exposition text (format 0.0.4).
pub(crate) fn render(app: &App) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP microlearn_http_requests_total HTTP requests by method, route and status.\n",
    );
    out.push_str("# TYPE microlearn_http_requests_total counter\n");
    let mut http: Vec<((String, String, u16), Arc<Series>)> = app
        .metrics
        .http
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    http.sort_by(|a, b| a.0.cmp(&b.0));
    for ((m, r, s), series) in &http {
        let _ = writeln!(
            out,
            "microlearn_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {}",
            label(m),
            label(r),
            series.count.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP microlearn_http_request_duration_seconds Server time per request.\n");
    out.push_str("# TYPE microlearn_http_request_duration_seconds histogram\n");
    for ((m, r, s), series) in &http {
        let mut acc = 0;
        let buckets: Vec<(Option<u64>, u64)> = series
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                acc += b.load(Ordering::Relaxed);
                (LATENCY_BUCKETS_US.get(i).copied(), acc)
            })
            .collect();
        histogram(
            &mut out,
            "microlearn_http_request_duration_seconds",
            &format!(
                "method=\"{}\",route=\"{}\",status=\"{s}\"",
                label(m),
                label(r)
            ),
            &buckets,
            series.sum_us.load(Ordering::Relaxed),
            series.count.load(Ordering::Relaxed),
        );
    }
    out.push_str(
        "# HELP microlearn_pipelines_active Pipelines queued or running in this process.\n",
    );
    out.push_str("# TYPE microlearn_pipelines_active gauge\n");
    let _ = writeln!(out, "microlearn_pipelines_active {}", app.jobs.active());
    let pools = [
        ("scoring", &app.serving.scoring),
        ("upload", &app.serving.uploads),
    ];
    out.push_str(
        "# HELP microlearn_blocking_slots_busy Slots of a blocking pool in use (scoring: predict and batch calls; upload: upload processing).\n",
    );
    out.push_str("# TYPE microlearn_blocking_slots_busy gauge\n");
    for (pool, p) in pools {
        let _ = writeln!(
            out,
            "microlearn_blocking_slots_busy{{pool=\"{pool}\"}} {}",
            p.usage().0
        );
    }
    out.push_str("# HELP microlearn_blocking_slots Size of a blocking pool.\n");
    out.push_str("# TYPE microlearn_blocking_slots gauge\n");
    for (pool, p) in pools {
        let _ = writeln!(
            out,
            "microlearn_blocking_slots{{pool=\"{pool}\"}} {}",
            p.usage().1
        );
    }
    out.push_str(
        "# HELP microlearn_predict_requests_total Predict and batch calls per deployment.\n",
    );
    out.push_str("# TYPE microlearn_predict_requests_total counter\n");
    let deployments = app.serving.all_stats();
    for ((t, d), s) in &deployments {
        let _ = writeln!(
            out,
            "microlearn_predict_requests_total{{tenant=\"{}\",deployment=\"{}\"}} {}",
            label(t),
            label(d),
            s.requests.load(Ordering::Relaxed)
        );
    }
    out.push_str(
        "# HELP microlearn_predict_model_requests_total Predict and batch calls per model a deployment serves (both sides of a canary).\n",
    );
    out.push_str("# TYPE microlearn_predict_model_requests_total counter\n");
    for ((t, d, m), s) in &app.serving.all_model_stats() {
        let _ = writeln!(
            out,
            "microlearn_predict_model_requests_total{{tenant=\"{}\",deployment=\"{}\",model=\"{}\"}} {}",
            label(t),
            label(d),
            label(m),
            s.requests.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP microlearn_predict_errors_total Rejected predict calls per deployment.\n");
    out.push_str("# TYPE microlearn_predict_errors_total counter\n");
    for ((t, d), s) in &deployments {
        let _ = writeln!(
            out,
            "microlearn_predict_errors_total{{tenant=\"{}\",deployment=\"{}\"}} {}",
            label(t),
            label(d),
            s.errors.load(Ordering::Relaxed)
        );
    }
    out.push_str(
        "# HELP microlearn_predict_duration_seconds Server time of predict calls per deployment.\n",
    );
    out.push_str("# TYPE microlearn_predict_duration_seconds histogram\n");
    for ((t, d), s) in &deployments {
        histogram(
            &mut out,
            "microlearn_predict_duration_seconds",
            &format!("tenant=\"{}\",deployment=\"{}\"", label(t), label(d)),
            &s.cumulative(),
            s.latency_sum_us.load(Ordering::Relaxed),
            s.requests.load(Ordering::Relaxed),
        );
    }
    out
}

//! Deployments held in memory: each serves a loaded bundle (preparer components instantiated,
//! model decoded), so a predict call only validates the rows, runs the preparer transform and
//! the model. Request counts and a latency histogram are kept per deployment with atomics, off
//! any lock on the hot path.

use crate::App;
use crate::error::{ApiError, ProblemKind};
use microlearn_core::{Column, Schema, Table};
use microlearn_pipeline::{Bundle, LoadedModel, Scored};
use microlearn_store::DeploymentRecord;
use microlearn_table::{ColumnData, Dictionary};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Upper bounds of the latency histogram buckets, microseconds (the last bucket is +Inf).
pub(crate) const LATENCY_BUCKETS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// Requests and latency of one deployment (kept across model replacements).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub rows: AtomicU64,
    pub latency_sum_us: AtomicU64,
    /// Per bucket (not cumulative); index `LATENCY_BUCKETS_US.len()` is +Inf.
    pub buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

impl Stats {
    pub(crate) fn record(&self, micros: u64, rows: usize, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| micros <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound, Prometheus style.
    pub(crate) fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut acc = 0;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter().enumerate() {
            acc += b.load(Ordering::Relaxed);
            out.push((LATENCY_BUCKETS_US.get(i).copied(), acc));
        }
        out
    }

    pub(crate) fn json(&self) -> Value {
        let requests = self.requests.load(Ordering::Relaxed);
        let sum = self.latency_sum_us.load(Ordering::Relaxed);
        serde_json::json!({
            "requests": requests,
            "errors": self.errors.load(Ordering::Relaxed),
            "rows": self.rows.load(Ordering::Relaxed),
            "mean_latency_us": if requests > 0 { sum as f64 / requests as f64 } else { 0.0 },
            "latency_histogram_us": self.cumulative().iter().map(|(le, n)| serde_json::json!({
                "le": le.map_or(Value::String("+Inf".into()), Value::from),
                "count": n,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A deployment's loaded model.
pub(crate) struct Served {
    pub model_id: String,
    pub model: LoadedModel,
    pub stats: Arc<Stats>,
}

type Key = (String, String);

#[derive(Default)]
pub(crate) struct Serving {
    served: RwLock<HashMap<Key, Arc<Served>>>,
    stats: RwLock<HashMap<Key, Arc<Stats>>>,
}

impl Serving {
    /// Load every tenant's deployments (on start). A deployment whose model cannot be loaded
    /// is logged and left out; its predict calls answer 404 naming the cause in the logs.
    pub(crate) fn restore(&self, app: &App) {
        match app.store.all_deployments() {
            Ok(all) => {
                for (tenant, d) in all {
                    if let Err(e) = self.load(app, &tenant, &d) {
                        tracing::warn!(tenant, deployment = %d.name, error = %e, "deployment not restored");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading deployments"),
        }
    }

    /// Bring the in-memory copy of `tenant`'s deployment `name` up to date with the store.
    pub(crate) fn reload(&self, app: &App, tenant: &str, name: &str) {
        let key = (tenant.to_string(), name.to_string());
        match app.store.tenant(tenant).deployment(name) {
            Ok(Some(d)) => {
                if let Err(e) = self.load(app, tenant, &d) {
                    tracing::warn!(tenant, deployment = name, error = %e, "deployment not loaded");
                }
            }
            Ok(None) => {
                self.served
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                self.stats
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
            }
            Err(e) => tracing::error!(error = %e, "reading a deployment"),
        }
    }

    /// Load the model of `d` and serve it.
    pub(crate) fn load(
        &self,
        app: &App,
        tenant: &str,
        d: &DeploymentRecord,
    ) -> Result<(), ApiError> {
        let key = (tenant.to_string(), d.name.clone());
        let current = self.get(tenant, &d.name);
        if current.as_ref().is_some_and(|s| s.model_id == d.model_id) {
            return Ok(());
        }
        let model = load_model(app, tenant, &d.model_id)?;
        let stats = self
            .stats
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        self.served
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key,
                Arc::new(Served {
                    model_id: d.model_id.clone(),
                    model,
                    stats,
                }),
            );
        Ok(())
    }

    pub(crate) fn get(&self, tenant: &str, name: &str) -> Option<Arc<Served>> {
        self.served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn stats(&self, tenant: &str, name: &str) -> Option<Arc<Stats>> {
        self.stats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_string(), name.to_string()))
            .cloned()
    }

    /// Every deployment's stats, for /metrics.
    pub(crate) fn all_stats(&self) -> Vec<(Key, Arc<Stats>)> {
        let mut v: Vec<(Key, Arc<Stats>)> = self
            .stats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Load a tenant's model bundle from the store.
pub(crate) fn load_model(app: &App, tenant: &str, model_id: &str) -> Result<LoadedModel, ApiError> {
    let record = app
        .store
        .tenant(tenant)
        .model(model_id)?
        .ok_or_else(|| ApiError::not_found("model", model_id))?;
    let bytes = app.store.artefacts().get(&record.bundle.sha256)?;
    let bundle =
        Bundle::from_bytes(&bytes, &format!("model {model_id}")).map_err(ApiError::internal)?;
    LoadedModel::from_bundle(bundle, &app.plugins).map_err(ApiError::internal)
}

fn row_error(row: usize, field: &str, detail: String) -> ApiError {
    ApiError::new(ProblemKind::InvalidRows, detail)
        .with("row", row)
        .with("field", field)
}

/// Turn JSON rows into a table typed by the model's input schema. Every row must have exactly
/// the schema's fields: a missing, unknown or mistyped field is an error naming the row and the
/// field. `null` is a missing value.
pub(crate) fn rows_to_table(
    rows: &[Map<String, Value>],
    schema: &Schema,
) -> Result<Table, ApiError> {
    let expected = || {
        schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, row) in rows.iter().enumerate() {
        if let Some(extra) = row.keys().find(|k| schema.column(k).is_none()) {
            return Err(row_error(
                i,
                extra,
                format!(
                    "row {i}: unknown field '{extra}' (the model takes: {})",
                    expected()
                ),
            ));
        }
    }
    let n = rows.len();
    let mut columns = Vec::with_capacity(schema.columns.len());
    for spec in &schema.columns {
        let name = spec.name.as_str();
        let mut validity = vec![true; n];
        let mut value_of = |i: usize| -> Result<Option<&Value>, ApiError> {
            match rows[i].get(name) {
                None => Err(row_error(
                    i,
                    name,
                    format!(
                        "row {i}: missing field '{name}' ({}; send null for a missing value)",
                        spec.dtype
                    ),
                )),
                Some(Value::Null) => {
                    validity[i] = false;
                    Ok(None)
                }
                Some(v) => Ok(Some(v)),
            }
        };
        let mistyped = |i: usize, v: &Value, want: &str| {
            row_error(
                i,
                name,
                format!(
                    "row {i}: field '{name}' must be {want}, got {}",
                    json_type(v)
                ),
            )
        };
        let data = match spec.dtype.as_str() {
            "float64" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => f64::NAN,
                        Some(v) => v.as_f64().ok_or_else(|| mistyped(i, v, "a number"))?,
                    });
                }
                ColumnData::Float64(out)
            }
            "int64" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => 0,
                        Some(v) => match (v.as_i64(), v.as_f64()) {
                            (Some(x), _) => x,
                            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                            _ => return Err(mistyped(i, v, "an integer")),
                        },
                    });
                }
                ColumnData::Int64(out)
            }
            "boolean" => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    out.push(match value_of(i)? {
                        None => false,
                        Some(v) => v.as_bool().ok_or_else(|| mistyped(i, v, "true or false"))?,
                    });
                }
                ColumnData::Boolean(out)
            }
            "timestamp" => {
                // Strings are parsed by the same coercion as files; integers are epoch ms.
                let mut texts: Vec<Option<String>> = Vec::with_capacity(n);
                for i in 0..n {
                    texts.push(match value_of(i)? {
                        None => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(v) if v.is_i64() => Some(v.to_string()),
                        Some(v) => {
                            return Err(mistyped(i, v, "a date-time string or epoch milliseconds"));
                        }
                    });
                }
                let refs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
                let col = Column::categorical_from_strs(name, &refs);
                let col = microlearn_data::coerce_column(col, "timestamp").map_err(|e| {
                    ApiError::new(ProblemKind::InvalidRows, e.to_string()).with("field", name)
                })?;
                columns.push(col);
                continue;
            }
            _ => {
                // Categorical (strings): dictionary-encode as the files' reader does.
                let mut dict: Vec<String> = Vec::new();
                let mut codes = Vec::with_capacity(n);
                for i in 0..n {
                    codes.push(match value_of(i)? {
                        None => 0,
                        Some(Value::String(s)) => match dict.iter().position(|d| d == s) {
                            Some(c) => c as u32,
                            None => {
                                dict.push(s.clone());
                                (dict.len() - 1) as u32
                            }
                        },
                        Some(v) => return Err(mistyped(i, v, "a string")),
                    });
                }
                ColumnData::Categorical(Dictionary {
                    codes,
                    dictionary: dict,
                })
            }
        };
        let mut col = Column::new(name, data);
        if validity.iter().any(|v| !v) {
            col.set_validity(validity);
        }
        columns.push(col);
    }
    Table::with_rows(n, columns).map_err(ApiError::internal)
}

fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() <= 40 => format!("string \"{s}\""),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Predictions as JSON objects: `prediction`, then `proba_<label>` per class.
pub(crate) fn scored_json(s: &Scored) -> Vec<Value> {
    let k = s.labels.len();
    (0..s.len())
        .map(|row| {
            let mut obj = Map::with_capacity(1 + k);
            let pred = if s.probabilities.is_some() {
                Value::String(s.prediction_text(row))
            } else {
                number(s.values[row])
            };
            obj.insert("prediction".into(), pred);
            if let Some(p) = &s.probabilities {
                for (label, v) in s.labels.iter().zip(&p[row * k..(row + 1) * k]) {
                    obj.insert(format!("proba_{label}"), number(*v));
                }
            }
            Value::Object(obj)
        })
        .collect()
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlearn_core::{ColumnKind, ColumnSchema};

    fn schema() -> Schema {
        let col = |name: &str, dtype: &str| ColumnSchema {
            name: name.into(),
            kind: ColumnKind::Numeric,
            dtype: dtype.into(),
            nullable: true,
        };
        Schema {
            columns: vec![
                col("age", "float64"),
                col("n", "int64"),
                col("city", "categorical"),
            ],
        }
    }

    fn rows(v: Value) -> Vec<Map<String, Value>> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| r.as_object().expect("object").clone())
            .collect()
    }

    #[test]
    fn typed_rows_become_a_table_with_nulls_as_missing() {
        let t = rows_to_table(
            &rows(serde_json::json!([
                {"age": 3.5, "n": 2, "city": "Oslo"},
                {"age": null, "n": 4.0, "city": "Rome"},
                {"age": 1, "n": 1, "city": "Oslo"}
            ])),
            &schema(),
        )
        .expect("valid rows");
        assert_eq!(t.num_rows(), 3);
        let age = t.column("age").expect("age");
        assert!(!age.is_valid(1) && age.is_valid(2));
        match &t.column("city").expect("city").data {
            ColumnData::Categorical(d) => {
                assert_eq!(d.codes, vec![0, 1, 0]);
                assert_eq!(d.dictionary, vec!["Oslo", "Rome"]);
            }
            other => panic!("city is {other:?}"),
        }
    }

    #[test]
    fn missing_extra_and_mistyped_fields_are_named() {
        let err = |v: Value| rows_to_table(&rows(v), &schema()).expect_err("invalid");
        let e = err(serde_json::json!([{"age": 1, "n": 1}]));
        assert_eq!(e.kind, ProblemKind::InvalidRows);
        assert!(e.detail.contains("missing field 'city'"), "{}", e.detail);
        let e = err(serde_json::json!([{"age": 1, "n": 1, "city": "x", "zip": 1}]));
        assert!(e.detail.contains("unknown field 'zip'"), "{}", e.detail);
        let e = err(
            serde_json::json!([{"age": 1, "n": 1, "city": "x"}, {"age": "old", "n": 1, "city": "x"}]),
        );
        assert!(
            e.detail
                .contains("row 1: field 'age' must be a number, got string \"old\""),
            "{}",
            e.detail
        );
        let e = err(serde_json::json!([{"age": 1, "n": 1.5, "city": "x"}]));
        assert!(e.detail.contains("'n' must be an integer"), "{}", e.detail);
        let e = err(serde_json::json!([{"age": 1, "n": 1, "city": 7}]));
        assert!(e.detail.contains("'city' must be a string"), "{}", e.detail);
    }
}

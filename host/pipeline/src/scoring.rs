//! Scoring new rows with a bundle: the same schema coercion, preparer chain and model as in
//! training, batched over the whole table.

use crate::PipelineError;
use crate::bundle::{Bundle, BundleHeader};
use crate::features::table_to_matrix;
use crate::preparer_chain::{Expected, PreparerChain};
use microlearn_core::{Stage, Table};
use microlearn_plugins::PluginHost;
use microlearn_train::{Predictions, TrainedModel};
use std::io::Write;
use std::path::Path;

/// A bundle ready to score: preparer components instantiated, model decoded.
pub struct LoadedModel {
    /// The bundle's header.
    pub header: BundleHeader,
    preparers: PreparerChain,
    model: TrainedModel,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("model_id", &self.header.model_id)
            .field("kind", &self.header.kind)
            .finish()
    }
}

/// Predictions for a table, one per input row, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Class labels (empty for regression).
    pub labels: Vec<String>,
    /// Regression values, or the predicted class index as f64.
    pub values: Vec<f64>,
    /// Row-major class probabilities (classification only).
    pub probabilities: Option<Vec<f64>>,
}

impl LoadedModel {
    /// Instantiate a decoded bundle's preparers on `plugins`.
    pub fn from_bundle(bundle: Bundle, plugins: &PluginHost) -> Result<Self, PipelineError> {
        Ok(LoadedModel {
            preparers: PreparerChain::from_bundle(bundle.preparers, plugins)?,
            header: bundle.header,
            model: bundle.model,
        })
    }

    /// Read a bundle file and instantiate it.
    pub fn load(path: &Path, plugins: &PluginHost) -> Result<Self, PipelineError> {
        LoadedModel::from_bundle(Bundle::read(path)?, plugins)
    }

    /// Score a file's rows: [`LoadedModel::predict`], after reading its numeric dates in the
    /// order the training data used (a file's own order is a guess when every date fits both).
    pub fn predict_dataset(
        &self,
        mut input: microlearn_data::Dataset,
    ) -> Result<Scored, PipelineError> {
        microlearn_data::conform_dates(&mut input, &self.header.input_schema)?;
        self.predict(input.table)
    }

    /// Score a table whose columns follow the bundle's input schema (extra columns, e.g. the
    /// target, are ignored; types are coerced; a missing column is an error naming it).
    pub fn predict(&self, input: Table) -> Result<Scored, PipelineError> {
        let table = microlearn_data::apply_schema(input, &self.header.input_schema)?;
        // The chain training used: the same transforms and checks, against the prepared
        // columns the model was trained on.
        let table = self
            .preparers
            .transform(&table, Expected::Names(&self.header.prepared_features))?;
        let x = table_to_matrix(&table, Stage::Preparing)?;
        let mut predictions = self.model.predict(&x);
        crate::features::apply_probability_floor(&mut predictions, self.header.probability_floor);
        Ok(to_scored(&predictions, &self.header.labels))
    }
}

/// Turn model output into per-row predictions.
pub fn to_scored(p: &Predictions, labels: &[String]) -> Scored {
    match p {
        Predictions::Values(v) => Scored {
            labels: vec![],
            values: v.clone(),
            probabilities: None,
        },
        Predictions::Probabilities { n_classes, data } => {
            let k = (*n_classes).max(1);
            let values = data
                .chunks(k)
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold((0usize, f64::NEG_INFINITY), |best, (i, &p)| {
                            if p > best.1 { (i, p) } else { best }
                        })
                        .0 as f64
                })
                .collect();
            Scored {
                labels: labels.to_vec(),
                values,
                probabilities: Some(data.clone()),
            }
        }
    }
}

impl Scored {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Column names of the output: `prediction`, then `proba_<label>` per class.
    pub fn column_names(&self) -> Vec<String> {
        let mut names = vec!["prediction".to_string()];
        if self.probabilities.is_some() {
            names.extend(self.labels.iter().map(|l| format!("proba_{l}")));
        }
        names
    }

    /// The prediction of `row` as text (the class label, or the value).
    pub fn prediction_text(&self, row: usize) -> String {
        if self.probabilities.is_some() {
            self.labels
                .get(self.values[row] as usize)
                .cloned()
                .unwrap_or_default()
        } else {
            format_f64(self.values[row])
        }
    }

    /// Write as CSV (`.csv`, `.tsv`) or JSON (`.json` array of objects, `.ndjson`/`.jsonl`
    /// one object per line), chosen by the extension of `path`. Written atomically.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(self.len() * 32);
        match ext.as_str() {
            "csv" | "tsv" => self.write_delimited(&mut out, if ext == "tsv" { b'\t' } else { b',' }),
            "json" => self.write_json(&mut out, false),
            "ndjson" | "jsonl" => self.write_json(&mut out, true),
            other => {
                return Err(format!(
                    "{}: unsupported output extension '{other}' (use .csv, .tsv, .json, .ndjson or .jsonl)",
                    path.display()
                ));
            }
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        microlearn_store::write_atomic(path, &out).map_err(|e| e.to_string())
    }

    fn write_delimited(&self, out: &mut Vec<u8>, sep: u8) -> std::io::Result<()> {
        let k = self.labels.len();
        let header: Vec<String> = self
            .column_names()
            .iter()
            .map(|n| csv_field(n, sep))
            .collect();
        out.write_all(header.join(&(sep as char).to_string()).as_bytes())?;
        out.write_all(b"\n")?;
        for row in 0..self.len() {
            out.write_all(csv_field(&self.prediction_text(row), sep).as_bytes())?;
            if let Some(p) = &self.probabilities {
                for v in &p[row * k..(row + 1) * k] {
                    out.push(sep);
                    out.write_all(format_f64(*v).as_bytes())?;
                }
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_json(&self, out: &mut Vec<u8>, lines: bool) -> std::io::Result<()> {
        let k = self.labels.len();
        if !lines {
            out.write_all(b"[")?;
        }
        for row in 0..self.len() {
            let mut obj = serde_json::Map::new();
            let pred = if self.probabilities.is_some() {
                serde_json::Value::String(self.prediction_text(row))
            } else {
                json_number(self.values[row])
            };
            obj.insert("prediction".into(), pred);
            if let Some(p) = &self.probabilities {
                for (label, v) in self.labels.iter().zip(&p[row * k..(row + 1) * k]) {
                    obj.insert(format!("proba_{label}"), json_number(*v));
                }
            }
            if !lines && row > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &obj)?;
            if lines {
                out.write_all(b"\n")?;
            }
        }
        if !lines {
            out.write_all(b"]\n")?;
        }
        Ok(())
    }
}

fn json_number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Shortest text that reads back as the same f64.
fn format_f64(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

fn csv_field(s: &str, sep: u8) -> String {
    if s.bytes()
        .any(|b| b == sep || b == b'"' || b == b'\n' || b == b'\r')
    {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_output_quotes_labels_and_keeps_row_order() {
        let s = Scored {
            labels: vec!["no".into(), "yes, really".into()],
            values: vec![1.0, 0.0],
            probabilities: Some(vec![0.25, 0.75, 0.9, 0.1]),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        s.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "prediction,proba_no,\"proba_yes, really\"\n\"yes, really\",0.25,0.75\nno,0.9,0.1\n"
        );
    }

    #[test]
    fn json_output_is_an_array_of_objects() {
        let s = Scored {
            labels: vec![],
            values: vec![1.5, -2.0],
            probabilities: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        s.write(&path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"prediction": 1.5}, {"prediction": -2.0}])
        );
    }

    #[test]
    fn rejects_unknown_output_extension() {
        let s = Scored {
            labels: vec![],
            values: vec![],
            probabilities: None,
        };
        let err = s.write(Path::new("/tmp/x.xlsx")).unwrap_err();
        assert!(err.contains("unsupported output extension 'xlsx'"), "{err}");
    }
}

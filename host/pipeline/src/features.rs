//! Conversions between prepared tables, the trainer's matrices and the target.

use crate::PipelineError;
use microlearn_core::stages::{MetaFeatures, PredictionValues};
use microlearn_core::{Column, ColumnData, ColumnKind, Dictionary, Schema, Stage, Table, Task};
use microlearn_data::TargetInfo;
use microlearn_plugins::BatchSink;
use microlearn_train::{Matrix, Predictions, Target};

/// A prepared table as a feature matrix. Every column becomes f64 (missing → NaN). Categorical
/// (dictionary) columns a preparer passes through become their codes, marked categorical so
/// tree models split them by category sets; a preparer should one-hot encode for the other kinds.
pub fn table_to_matrix(table: &Table, stage: Stage) -> Result<Matrix, PipelineError> {
    let names = table.names().into_iter().map(String::from).collect();
    let columns = table.columns().iter().map(Column::to_f64_nan).collect();
    let err = |e: microlearn_train::TrainError| PipelineError::Stage {
        stage,
        message: format!("prepared table cannot become a feature matrix: {e}"),
    };
    let mut x = Matrix::from_columns(names, columns).map_err(err)?;
    mark_categorical(&mut x, table).map_err(err)?;
    Ok(x)
}

/// Mark the matrix columns that were dictionary columns of `table` categorical, so tree models
/// split them by category sets.
fn mark_categorical(x: &mut Matrix, table: &Table) -> Result<(), microlearn_train::TrainError> {
    for (j, c) in table.columns().iter().enumerate() {
        if matches!(c.data, ColumnData::Categorical(_)) {
            x.set_categorical(j, true)?;
        }
    }
    Ok(())
}

/// Builds the feature matrix straight from a preparer's output batches (a
/// [`BatchSink`]), so the prepared table never exists whole beside the matrix. Columns become
/// f64 as in [`table_to_matrix`]; the first batch fixes the columns (the plugin handle checks
/// every later batch against them).
pub(crate) struct MatrixAssembler {
    n_rows: usize,
    stage: Stage,
    /// The prepared columns with no rows: names and types, for checking later transforms.
    header: Option<Table>,
    /// Column-major: column `j` is `data[j * n_rows..(j + 1) * n_rows]`.
    data: Vec<f64>,
    filled: usize,
}

impl MatrixAssembler {
    pub(crate) fn new(n_rows: usize, stage: Stage) -> Self {
        MatrixAssembler {
            n_rows,
            stage,
            header: None,
            data: Vec::new(),
            filled: 0,
        }
    }

    /// The matrix and the prepared columns' header (zero rows).
    pub(crate) fn finish(self) -> Result<(Matrix, Table), PipelineError> {
        let stage = self.stage;
        let err = |message: String| PipelineError::Stage {
            stage,
            message: format!("prepared table cannot become a feature matrix: {message}"),
        };
        let header = self.header.unwrap_or_default();
        if self.filled != self.n_rows {
            return Err(err(format!(
                "the preparers returned {} of {} rows",
                self.filled, self.n_rows
            )));
        }
        let names = header.names().into_iter().map(String::from).collect();
        let mut x = Matrix::from_column_major(names, self.n_rows, self.data)
            .map_err(|e| err(e.to_string()))?;
        mark_categorical(&mut x, &header).map_err(|e| err(e.to_string()))?;
        Ok((x, header))
    }
}

impl BatchSink for MatrixAssembler {
    fn put(&mut self, rows: &[usize], table: Table) -> Result<(), String> {
        let n = self.n_rows;
        let header = self.header.get_or_insert_with(|| table.take(&[]));
        if table.num_columns() != header.num_columns() {
            return Err(format!(
                "a batch has {} columns where the first had {}",
                table.num_columns(),
                header.num_columns()
            ));
        }
        if self.data.is_empty() {
            self.data = vec![0.0; n * header.num_columns()];
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(format!("row {bad} is outside a table of {n} rows"));
        }
        for (j, column) in table.columns().iter().enumerate() {
            let dst = &mut self.data[j * n..(j + 1) * n];
            for (&r, v) in rows.iter().zip(column.to_f64_nan()) {
                dst[r] = v;
            }
        }
        self.filled += rows.len();
        Ok(())
    }
}

/// The trainer's target for the given rows.
pub fn train_target(info: &TargetInfo, rows: &[usize]) -> Target {
    if info.task.is_classification() {
        Target::Classes {
            y: rows.iter().map(|&r| info.y[r] as u32).collect(),
            n_classes: info.labels.len(),
        }
    } else {
        Target::Regression(rows.iter().map(|&r| info.y[r]).collect())
    }
}

/// The target as a column for preparers (class labels as a categorical, values as floats).
pub fn target_column(info: &TargetInfo, rows: &[usize]) -> Column {
    if info.task.is_classification() {
        Column::new(
            info.name.clone(),
            ColumnData::Categorical(Dictionary {
                codes: rows.iter().map(|&r| info.y[r] as u32).collect(),
                dictionary: info.labels.clone(),
            }),
        )
    } else {
        Column::float64(info.name.clone(), rows.iter().map(|&r| info.y[r]).collect())
    }
}

/// The target values for an evaluator (class index as f64, or the value).
pub fn y_true(info: &TargetInfo, rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&r| info.y[r]).collect()
}

/// A target restricted to `rows`, re-indexed from 0 (for splitting the training part again).
pub fn subset_target(info: &TargetInfo, rows: &[usize]) -> TargetInfo {
    TargetInfo {
        name: info.name.clone(),
        task: info.task,
        labels: info.labels.clone(),
        y: rows.iter().map(|&r| info.y[r]).collect(),
    }
}

/// Statistics for the selector.
pub fn meta_features(
    task: Task,
    raw: &Table,
    schema: &Schema,
    target: &TargetInfo,
    train_rows: &[usize],
    prepared_features: usize,
) -> MetaFeatures {
    let count = |k: &[ColumnKind]| {
        raw.columns()
            .iter()
            .filter(|c| schema.column(&c.name).is_some_and(|s| k.contains(&s.kind)))
            .count() as u32
    };
    let cells = (raw.num_rows() * raw.num_columns()).max(1);
    let missing: usize = raw.columns().iter().map(Column::null_count).sum();
    let (classes, minority) = if task.is_classification() {
        let k = target.labels.len();
        let mut counts = vec![0usize; k];
        for &r in train_rows {
            counts[target.y[r] as usize] += 1;
        }
        let min = counts.iter().copied().min().unwrap_or(0);
        (k as u32, min as f64 / train_rows.len().max(1) as f64)
    } else {
        (0, 0.0)
    };
    MetaFeatures {
        task,
        rows: train_rows.len() as u64,
        raw_features: raw.num_columns() as u32,
        prepared_features: prepared_features as u32,
        numeric_features: count(&[ColumnKind::Numeric, ColumnKind::Boolean]),
        categorical_features: count(&[ColumnKind::Categorical, ColumnKind::Text]),
        datetime_features: count(&[ColumnKind::Datetime]),
        missing_fraction: missing as f64 / cells as f64,
        classes,
        minority_class_fraction: minority,
    }
}

/// Model output in the form evaluators take.
pub fn prediction_values(p: &Predictions) -> PredictionValues {
    match p {
        Predictions::Values(v) => PredictionValues::Values(v.clone()),
        Predictions::Probabilities { data, .. } => PredictionValues::Probabilities(data.clone()),
    }
}

/// The smallest class probability a classifier trained on `n_train` rows of `n_classes` classes
/// reports: `1 / (n_classes · (n_train + 1))`, a Laplace-style floor (0 for regression).
///
/// Why: on small data, weakly regularised models (and the search, which favours whatever fits
/// the folds best) assign probabilities like 1e-12 to classes they have never seen confused.
/// One such row in new data then dominates the log-loss (one held-out row of 86 turned a
/// 0.02 cross-validated log-loss into 0.4). Rows this few cannot justify odds beyond about
/// one in n, so predictions are blended towards uniform just enough to respect that. The map
/// is monotonic per class: rankings, ROC-AUC and the predicted class do not change.
pub fn probability_floor(n_train: usize, n_classes: usize) -> f64 {
    if n_classes < 2 {
        return 0.0;
    }
    1.0 / (n_classes as f64 * (n_train as f64 + 1.0))
}

/// Apply [`probability_floor`]: `p' = (1 − k·floor)·p + floor`, so each row still sums to 1.
pub fn apply_probability_floor(p: &mut Predictions, floor: f64) {
    if let Predictions::Probabilities { n_classes, data } = p
        && floor > 0.0
    {
        let keep = 1.0 - *n_classes as f64 * floor;
        for v in data.iter_mut() {
            *v = keep * *v + floor;
        }
    }
}

#[cfg(test)]
mod floor_tests {
    use super::*;

    #[test]
    fn the_floor_caps_confidence_keeps_rows_summing_to_one_and_keeps_the_ranking() {
        let floor = probability_floor(99, 2);
        assert!((floor - 0.005).abs() < 1e-15);
        let mut p = Predictions::Probabilities {
            n_classes: 2,
            data: vec![1.0, 0.0, 0.3, 0.7, 0.6, 0.4],
        };
        apply_probability_floor(&mut p, floor);
        let Predictions::Probabilities { data, .. } = &p else {
            panic!("probabilities")
        };
        assert!((data[1] - 0.005).abs() < 1e-15, "{data:?}");
        for row in data.chunks(2) {
            assert!((row[0] + row[1] - 1.0).abs() < 1e-12);
        }
        assert!(
            data[3] > data[5] && data[5] > data[1],
            "ranking kept: {data:?}"
        );
        // Regression values are untouched.
        let mut v = Predictions::Values(vec![0.0, 1e-20]);
        apply_probability_floor(&mut v, probability_floor(10, 0));
        assert_eq!(v, Predictions::Values(vec![0.0, 1e-20]));
    }
}

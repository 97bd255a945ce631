//! Inputs and outputs of every model kind: a column-major feature matrix, targets and predictions.

use crate::TrainError;
use serde::{Deserialize, Serialize};

/// Column-major feature matrix of `f64`; NaN marks a missing value.
///
/// Column-major because both trainers scan one feature at a time (binning, histograms,
/// coordinate descent), and because the host's tables are columnar already.
///
/// It travels between cluster nodes (a search's validation units); deserializing checks the
/// shape, so a matrix that was not whole is refused rather than indexed out of bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MatrixParts")]
pub struct Matrix {
    n_rows: usize,
    n_cols: usize,
    data: Vec<f64>,
    names: Vec<String>,
    /// Columns holding category codes (non-negative integers, NaN = missing) rather than
    /// ordered values; tree models split them by category sets instead of thresholds.
    categorical: Vec<bool>,
}

/// A [`Matrix`] as it arrives, before its shape is checked.
#[derive(Deserialize)]
struct MatrixParts {
    n_rows: usize,
    n_cols: usize,
    data: Vec<f64>,
    names: Vec<String>,
    categorical: Vec<bool>,
}

impl TryFrom<MatrixParts> for Matrix {
    type Error = String;

    fn try_from(p: MatrixParts) -> Result<Matrix, String> {
        if p.names.len() != p.n_cols
            || p.categorical.len() != p.n_cols
            || Some(p.data.len()) != p.n_rows.checked_mul(p.n_cols)
        {
            return Err(format!(
                "matrix of {} rows × {} columns holds {} values, {} names and {} categorical flags",
                p.n_rows,
                p.n_cols,
                p.data.len(),
                p.names.len(),
                p.categorical.len()
            ));
        }
        Ok(Matrix {
            n_rows: p.n_rows,
            n_cols: p.n_cols,
            data: p.data,
            names: p.names,
            categorical: p.categorical,
        })
    }
}

impl Matrix {
    /// Builds a matrix from named columns of equal length.
    pub fn from_columns(names: Vec<String>, columns: Vec<Vec<f64>>) -> Result<Matrix, TrainError> {
        if names.len() != columns.len() {
            return Err(TrainError::ShapeMismatch {
                what: "matrix column names".into(),
                expected: columns.len(),
                got: names.len(),
            });
        }
        let n_rows = columns.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(n_rows * columns.len());
        for (name, col) in names.iter().zip(&columns) {
            if col.len() != n_rows {
                return Err(TrainError::ShapeMismatch {
                    what: format!("length of column '{name}'"),
                    expected: n_rows,
                    got: col.len(),
                });
            }
            data.extend_from_slice(col);
        }
        Ok(Matrix {
            n_rows,
            n_cols: names.len(),
            categorical: vec![false; names.len()],
            data,
            names,
        })
    }

    /// Builds a matrix from column-major data (`data[j * n_rows + i]` is row `i` of column `j`).
    pub fn from_column_major(
        names: Vec<String>,
        n_rows: usize,
        data: Vec<f64>,
    ) -> Result<Matrix, TrainError> {
        if data.len() != n_rows * names.len() {
            return Err(TrainError::ShapeMismatch {
                what: "column-major matrix data".into(),
                expected: n_rows * names.len(),
                got: data.len(),
            });
        }
        Ok(Matrix {
            n_rows,
            n_cols: names.len(),
            categorical: vec![false; names.len()],
            data,
            names,
        })
    }

    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Column `j`. Panics when `j >= n_cols`, like slice indexing.
    pub fn column(&self, j: usize) -> &[f64] {
        &self.data[j * self.n_rows..(j + 1) * self.n_rows]
    }

    /// All values, column-major.
    #[inline]
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Value at row `i`, column `j`.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[j * self.n_rows + i]
    }

    /// A new matrix holding `rows` (in that order, repeats allowed). Panics on an out-of-range row.
    pub fn take_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.n_cols);
        for j in 0..self.n_cols {
            let col = self.column(j);
            data.extend(rows.iter().map(|&r| col[r]));
        }
        Matrix {
            n_rows: rows.len(),
            n_cols: self.n_cols,
            data,
            names: self.names.clone(),
            categorical: self.categorical.clone(),
        }
    }

    /// Marks column `j` as categorical: its values are category codes (non-negative integers
    /// below 2^32, NaN for missing). Tree models then split it by sets of categories; the other
    /// kinds see the codes as numbers, so a preparer should one-hot encode for them.
    pub fn set_categorical(&mut self, j: usize, categorical: bool) -> Result<(), TrainError> {
        if j >= self.n_cols {
            return Err(TrainError::ShapeMismatch {
                what: "categorical column index".into(),
                expected: self.n_cols,
                got: j,
            });
        }
        if categorical
            && let Some(i) = self
                .column(j)
                .iter()
                .position(|v| !v.is_nan() && (*v < 0.0 || v.fract() != 0.0 || *v > u32::MAX as f64))
        {
            return Err(TrainError::InvalidFeature {
                column: self.names[j].clone(),
                reason: format!(
                    "row {i} holds {} but a categorical column holds codes: non-negative integers",
                    self.get(i, j)
                ),
            });
        }
        self.categorical[j] = categorical;
        Ok(())
    }

    /// Whether column `j` holds category codes.
    #[inline]
    pub fn is_categorical(&self, j: usize) -> bool {
        self.categorical[j]
    }

    /// Per-column categorical flags.
    pub fn categorical(&self) -> &[bool] {
        &self.categorical
    }
}

/// What to learn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Real values, one per row.
    Regression(Vec<f64>),
    /// Class indices in `0..n_classes`, one per row; binary is `n_classes == 2`.
    Classes {
        /// Labels.
        y: Vec<u32>,
        /// Number of classes.
        n_classes: usize,
    },
}

impl Target {
    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Target::Regression(y) => y.len(),
            Target::Classes { y, .. } => y.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new target holding `rows`, like [`Matrix::take_rows`].
    pub fn take_rows(&self, rows: &[usize]) -> Target {
        match self {
            Target::Regression(y) => Target::Regression(rows.iter().map(|&r| y[r]).collect()),
            Target::Classes { y, n_classes } => Target::Classes {
                y: rows.iter().map(|&r| y[r]).collect(),
                n_classes: *n_classes,
            },
        }
    }
}

/// What a model returns for a batch of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predictions {
    /// One value per row (regression).
    Values(Vec<f64>),
    /// Row-major class probabilities, rows × `n_classes`; each row sums to 1.
    Probabilities {
        /// Columns.
        n_classes: usize,
        /// Row-major values.
        data: Vec<f64>,
    },
}

impl Predictions {
    /// Rows.
    pub fn n_rows(&self) -> usize {
        match self {
            Predictions::Values(v) => v.len(),
            Predictions::Probabilities { n_classes, data } => data.len() / (*n_classes).max(1),
        }
    }

    /// The numbers, row-major (one per row for values; rows × classes for probabilities).
    pub fn raw(&self) -> &[f64] {
        match self {
            Predictions::Values(v) => v,
            Predictions::Probabilities { data, .. } => data,
        }
    }

    /// [`Predictions::raw`], mutably.
    pub fn raw_mut(&mut self) -> &mut [f64] {
        match self {
            Predictions::Values(v) => v,
            Predictions::Probabilities { data, .. } => data,
        }
    }

    /// Zeros of the same shape and kind.
    pub fn zeros_like(&self) -> Predictions {
        match self {
            Predictions::Values(v) => Predictions::Values(vec![0.0; v.len()]),
            Predictions::Probabilities { n_classes, data } => Predictions::Probabilities {
                n_classes: *n_classes,
                data: vec![0.0; data.len()],
            },
        }
    }

    /// `self += w · other`, element-wise: the step of a weighted average of models. Shapes are
    /// the caller's to match (models of one task on the same rows); extra elements are ignored.
    pub fn add_weighted(&mut self, other: &Predictions, w: f64) {
        for (a, x) in self.raw_mut().iter_mut().zip(other.raw()) {
            *a += w * x;
        }
    }

    /// The most probable class per row (`None` for regression).
    pub fn argmax(&self) -> Option<Vec<u32>> {
        match self {
            Predictions::Values(_) => None,
            Predictions::Probabilities { n_classes, data } => Some(
                data.chunks(*n_classes)
                    .map(|row| {
                        let mut best = 0;
                        for (k, &p) in row.iter().enumerate() {
                            if p > row[best] {
                                best = k;
                            }
                        }
                        best as u32
                    })
                    .collect(),
            ),
        }
    }
}

/// Checks that `x` and `y` agree with each other and with `task`; returns the number of classes
/// (1 for regression).
pub(crate) fn validate_inputs(
    kind: &str,
    task: microlearn_core::Task,
    x: &Matrix,
    y: &Target,
    role: &str,
) -> Result<usize, TrainError> {
    use microlearn_core::Task;
    if x.n_rows() == 0 {
        return Err(TrainError::EmptyData {
            what: format!("{role} matrix has no rows"),
        });
    }
    if x.n_cols() == 0 {
        return Err(TrainError::EmptyData {
            what: format!("{role} matrix has no feature columns"),
        });
    }
    if y.len() != x.n_rows() {
        return Err(TrainError::ShapeMismatch {
            what: format!("{role} target length"),
            expected: x.n_rows(),
            got: y.len(),
        });
    }
    match (task, y) {
        (Task::Regression, Target::Regression(v)) => {
            if let Some(i) = v.iter().position(|t| !t.is_finite()) {
                return Err(TrainError::InvalidTarget {
                    reason: format!("{role} regression target at row {i} is {}", v[i]),
                });
            }
            Ok(1)
        }
        (Task::Binary | Task::Multiclass, Target::Classes { y, n_classes }) => {
            if task == Task::Binary && *n_classes != 2 {
                return Err(TrainError::InvalidTarget {
                    reason: format!("binary task needs n_classes = 2, got {n_classes}"),
                });
            }
            if *n_classes < 2 {
                return Err(TrainError::InvalidTarget {
                    reason: format!("classification needs at least 2 classes, got {n_classes}"),
                });
            }
            if let Some(i) = y.iter().position(|&c| c as usize >= *n_classes) {
                return Err(TrainError::InvalidTarget {
                    reason: format!(
                        "{role} label at row {i} is {} but n_classes is {n_classes}",
                        y[i]
                    ),
                });
            }
            Ok(*n_classes)
        }
        (task, _) => Err(TrainError::InvalidTarget {
            reason: format!(
                "{role} target variant does not match the {task} task for model kind '{kind}'"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::Matrix;

    #[test]
    fn a_matrix_survives_the_wire_and_a_torn_one_is_refused() {
        let mut m = Matrix::from_columns(
            vec!["a".into(), "b".into()],
            vec![vec![1.0, f64::NAN, 3.0], vec![0.0, 1.0, 1.0]],
        )
        .unwrap();
        m.set_categorical(1, true).unwrap();
        let bytes = postcard::to_stdvec(&m).unwrap();
        let back: Matrix = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.n_rows(), 3);
        assert!(back.is_categorical(1) && !back.is_categorical(0));
        assert!(back.get(1, 0).is_nan());
        assert_eq!(back.column(1), m.column(1));

        // JSON has no NaN: a whole matrix here, then one value short.
        let plain = Matrix::from_columns(vec!["a".into()], vec![vec![1.0, 2.0]]).unwrap();
        let mut torn = serde_json::to_value(&plain).unwrap();
        torn["data"].as_array_mut().unwrap().pop();
        let err = serde_json::from_value::<Matrix>(torn)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 rows × 1 columns holds 1 values"), "{err}");
    }
}

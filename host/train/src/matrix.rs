//! Inputs and outputs of every model kind: a column-major feature matrix, targets and predictions.

use crate::TrainError;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

/// Column-major feature matrix of `f64`; NaN marks a missing value.
///
/// Column-major because both trainers scan one feature at a time (binning, histograms,
/// coordinate descent), and because the host's tables are columnar already.
///
/// The values live in one shared buffer, so [`Matrix::rows`] gives a contiguous range of rows
/// as a view without copying: a holdout search's rungs are prefixes of one matrix rather than
/// copies of their rows (at 10M rows each copy is a gigabyte). Column `j` is
/// `store[offset + j * stride..][..n_rows]`.
///
/// It travels between cluster nodes (a search's validation units); deserializing checks the
/// shape, so a matrix that was not whole is refused rather than indexed out of bounds. A view
/// serializes as its own rows only.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "MatrixParts")]
pub struct Matrix {
    n_rows: usize,
    n_cols: usize,
    store: Arc<Vec<f64>>,
    /// Where row 0 of column 0 is in `store`.
    offset: usize,
    /// Distance in `store` between the starts of two columns (the parent's row count).
    stride: usize,
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
        Ok(Matrix::whole(p.n_rows, p.data, p.names, p.categorical))
    }
}

/// The same fields, in the same order, as [`MatrixParts`]: a view writes only its own rows,
/// so what is read back is a whole matrix equal to it.
impl Serialize for Matrix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// The values, column by column, as one sequence.
        struct Values<'a>(&'a Matrix);
        impl Serialize for Values<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let m = self.0;
                let mut seq = s.serialize_seq(Some(m.n_rows * m.n_cols))?;
                for j in 0..m.n_cols {
                    for v in m.column(j) {
                        seq.serialize_element(v)?;
                    }
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Matrix", 5)?;
        st.serialize_field("n_rows", &self.n_rows)?;
        st.serialize_field("n_cols", &self.n_cols)?;
        st.serialize_field("data", &Values(self))?;
        st.serialize_field("names", &self.names)?;
        st.serialize_field("categorical", &self.categorical)?;
        st.end()
    }
}

/// Equal shape, names, flags and values; whether either is a view does not matter.
impl PartialEq for Matrix {
    fn eq(&self, other: &Matrix) -> bool {
        self.n_rows == other.n_rows
            && self.n_cols == other.n_cols
            && self.names == other.names
            && self.categorical == other.categorical
            && (0..self.n_cols).all(|j| self.column(j) == other.column(j))
    }
}

impl Matrix {
    /// A matrix owning all of `data` (column-major, `n_rows` per column).
    fn whole(n_rows: usize, data: Vec<f64>, names: Vec<String>, categorical: Vec<bool>) -> Matrix {
        Matrix {
            n_rows,
            n_cols: names.len(),
            store: Arc::new(data),
            offset: 0,
            stride: n_rows,
            names,
            categorical,
        }
    }

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
        let categorical = vec![false; names.len()];
        Ok(Matrix::whole(n_rows, data, names, categorical))
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
        let categorical = vec![false; names.len()];
        Ok(Matrix::whole(n_rows, data, names, categorical))
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
    #[inline]
    pub fn column(&self, j: usize) -> &[f64] {
        assert!(
            j < self.n_cols,
            "column {j} of a {}-column matrix",
            self.n_cols
        );
        let start = self.offset + j * self.stride;
        &self.store[start..start + self.n_rows]
    }

    /// All values with their column stride: row `i` of column `j` is
    /// `values[j * stride + i]`. For hot loops that index by (row, feature) without a slice
    /// per column; `values` may hold more than this matrix's rows between columns (a view).
    #[inline]
    pub fn strided(&self) -> (&[f64], usize) {
        let end = if self.n_cols == 0 {
            self.offset
        } else {
            self.offset + (self.n_cols - 1) * self.stride + self.n_rows
        };
        (&self.store[self.offset..end], self.stride)
    }

    /// Value at row `i`, column `j`. Out-of-range indices panic in debug builds; in release
    /// the store's bounds still hold, as with slice indexing of the old single buffer.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        debug_assert!(
            i < self.n_rows && j < self.n_cols,
            "({i}, {j}) out of range"
        );
        self.store[self.offset + j * self.stride + i]
    }

    /// Rows `range` as a view sharing this matrix's values (no copy). Panics when the range
    /// runs past the last row.
    pub fn rows(&self, range: Range<usize>) -> Matrix {
        assert!(
            range.start <= range.end && range.end <= self.n_rows,
            "rows {range:?} of a {}-row matrix",
            self.n_rows
        );
        Matrix {
            n_rows: range.len(),
            offset: self.offset + range.start,
            store: Arc::clone(&self.store),
            names: self.names.clone(),
            categorical: self.categorical.clone(),
            ..*self
        }
    }

    /// Reorders the rows: row `i` becomes what row `order[i]` was. `order` must be a
    /// permutation of `0..n_rows` (checked; panics otherwise). In place, one column of scratch,
    /// when no view shares the values; otherwise the matrix gets its own reordered copy.
    pub fn permute_rows(&mut self, order: &[usize]) {
        assert_eq!(order.len(), self.n_rows, "a row order must name every row");
        let mut seen = vec![false; self.n_rows];
        for &r in order {
            assert!(
                r < self.n_rows && !seen[r],
                "row order repeats or exceeds row {r}"
            );
            seen[r] = true;
        }
        drop(seen);
        let owned = self.offset == 0 && self.stride == self.n_rows;
        match Arc::get_mut(&mut self.store) {
            Some(store) if owned => {
                let mut scratch = vec![0.0; self.n_rows];
                for col in store.chunks_exact_mut(self.n_rows.max(1)) {
                    for (s, &r) in scratch.iter_mut().zip(order) {
                        *s = col[r];
                    }
                    col.copy_from_slice(&scratch);
                }
            }
            _ => *self = self.take_rows(order),
        }
    }

    /// A new matrix holding `rows` (in that order, repeats allowed). Panics on an out-of-range row.
    pub fn take_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.n_cols);
        for j in 0..self.n_cols {
            let col = self.column(j);
            data.extend(rows.iter().map(|&r| col[r]));
        }
        Matrix::whole(
            rows.len(),
            data,
            self.names.clone(),
            self.categorical.clone(),
        )
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

    /// Appends the predictions for the rows after these (same model, so same kind and
    /// class count: the values are concatenated row-major either way).
    pub(crate) fn append(&mut self, next: Predictions) {
        let more = match next {
            Predictions::Values(v) => v,
            Predictions::Probabilities { data, .. } => data,
        };
        match self {
            Predictions::Values(v) => v.extend(more),
            Predictions::Probabilities { data, .. } => data.extend(more),
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

    fn three_by_four() -> Matrix {
        Matrix::from_columns(
            vec!["a".into(), "b".into(), "c".into()],
            vec![
                vec![0.0, 1.0, 2.0, 3.0],
                vec![10.0, 11.0, 12.0, 13.0],
                vec![20.0, 21.0, 22.0, 23.0],
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_row_view_reads_its_rows_in_every_accessor_and_travels_as_a_copy() {
        let mut m = three_by_four();
        m.set_categorical(0, true).unwrap();
        let v = m.rows(1..3);
        assert_eq!((v.n_rows(), v.n_cols()), (2, 3));
        assert_eq!(v.column(1), &[11.0, 12.0]);
        assert_eq!(v.get(1, 2), 22.0);
        let (values, stride) = v.strided();
        assert_eq!((values[2 * stride + 1], stride), (22.0, 4));
        assert!(v.is_categorical(0));
        // A view equals the copy of the same rows, and serializes as that copy does.
        let copy = m.take_rows(&[1, 2]);
        assert_eq!(v, copy);
        assert_eq!(
            postcard::to_stdvec(&v).unwrap(),
            postcard::to_stdvec(&copy).unwrap()
        );
        let back: Matrix = postcard::from_bytes(&postcard::to_stdvec(&v).unwrap()).unwrap();
        assert_eq!(back, copy);
        // Views of views, and the empty ends.
        assert_eq!(v.rows(1..2).column(0), &[2.0]);
        assert_eq!(m.rows(4..4).n_rows(), 0);
        assert_eq!(m.rows(4..4).strided().0.len(), 8);
        assert_eq!(v.take_rows(&[1, 0]).column(2), &[22.0, 21.0]);
    }

    #[test]
    #[should_panic(expected = "rows 2..5 of a 4-row matrix")]
    fn a_view_past_the_last_row_panics() {
        let _ = three_by_four().rows(2..5);
    }

    #[test]
    fn permuting_rows_in_place_or_beside_a_view_gives_the_same_matrix() {
        let order = [3, 0, 2, 1];
        let mut alone = three_by_four();
        alone.permute_rows(&order);
        assert_eq!(alone.column(0), &[3.0, 0.0, 2.0, 1.0]);
        assert_eq!(alone.column(2), &[23.0, 20.0, 22.0, 21.0]);
        // A view still reads the old order: the permuted matrix took its own copy.
        let mut shared = three_by_four();
        let view = shared.rows(0..2);
        shared.permute_rows(&order);
        assert_eq!(shared, alone);
        assert_eq!(view.column(0), &[0.0, 1.0]);
        assert_eq!(shared.take_rows(&[0, 1, 2, 3]), alone);
    }

    #[test]
    #[should_panic(expected = "row order repeats")]
    fn a_row_order_that_repeats_a_row_is_refused() {
        three_by_four().permute_rows(&[0, 0, 1, 2]);
    }
}

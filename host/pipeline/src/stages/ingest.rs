//! Ingest: read the training file (and the held-out file, if one is given), split off the
//! target, and cut the rows into a training and a held-out part.
//!
//! The engine records this stage itself, because the pipeline record is made from what ingest
//! read (the stored dataset); this module only reads.

use crate::PipelineError;
use crate::config::PipelineConfig;
use crate::engine::RunInput;
use crate::features::subset_target;
use microlearn_core::{Schema, Table};
use microlearn_data::{Dataset, TargetInfo};
use std::path::Path;

/// The input after ingest: features and targets of the training and held-out parts.
#[derive(Debug)]
pub struct Ingested {
    /// The training file as read (every column, every row). The engine empties its table once
    /// the dataset is stored, so a large file is not held twice (as read, and split) through
    /// training; `file_shape` keeps its size.
    pub dataset: Dataset,
    /// Rows and columns of the training file as read.
    pub file_shape: (usize, usize),
    /// The training file's schema without the target: what a bundle expects as input.
    pub feature_schema: Schema,
    /// Features of the training rows.
    pub train_x: Table,
    /// Target of the training rows. A holdout search reorders these rows together with the
    /// prepared training matrix (after the raw features are released), so the two always
    /// agree row for row; nothing reads the file's order after that.
    pub train_y: TargetInfo,
    /// Features of the held-out rows.
    pub test_x: Table,
    /// Target of the held-out rows (labels indexed like the training ones).
    pub test_y: TargetInfo,
    /// What ingest left out, for its summary.
    pub notes: Vec<String>,
}

impl Ingested {
    /// Every training row, in order: the preparers fit on all of them and the refits train on
    /// all of them.
    pub fn train_rows(&self) -> Vec<usize> {
        (0..self.train_x.num_rows()).collect()
    }

    /// Drop the raw feature columns of both parts, keeping their row counts: once the
    /// preparers have run and the selector has seen the table's statistics, nothing reads them.
    pub(crate) fn release_raw_features(&mut self) {
        self.train_x = Table::with_rows(self.train_x.num_rows(), Vec::new()).unwrap_or_default();
        self.test_x = Table::with_rows(self.test_x.num_rows(), Vec::new()).unwrap_or_default();
    }

    /// The ingest stage's summary line.
    pub fn summary(&self) -> String {
        let mut summary = format!(
            "{} rows × {} columns, task {}, {} train / {} test rows",
            self.file_shape.0,
            self.file_shape.1,
            self.train_y.task,
            self.train_x.num_rows(),
            self.test_x.num_rows()
        );
        for note in &self.notes {
            summary.push_str("; ");
            summary.push_str(note);
        }
        summary
    }
}

/// Read `input` for `config`: rows without a target are left out (with a note), the held-out
/// part is the separate test file or a seeded stratified split, and too little data is refused.
pub fn load(input: &RunInput, config: &PipelineConfig) -> Result<Ingested, PipelineError> {
    let dataset = microlearn_data::read_dataset(&input.train)?;
    let mut notes = Vec::new();
    let labelled = without_missing_target(&dataset, &config.target, &mut notes);
    let source = labelled.as_ref().unwrap_or(&dataset);
    let target = microlearn_data::target_info(source, &config.target, config.task)?;
    // Feature rows are taken from the table as read, the target column dropped from each part:
    // a whole-table copy of the features first would hold a large file three times at once.
    let features_of = |rows: &[usize]| {
        let mut part = source.table.take(rows);
        part.remove(&config.target);
        part
    };
    let feature_schema = Schema {
        columns: dataset
            .schema
            .columns
            .iter()
            .filter(|c| c.name != config.target)
            .cloned()
            .collect(),
    };
    let (train_x, train_y, test_x, test_y) = match &input.test {
        None => {
            let split =
                microlearn_data::stratified_split(&target, config.test_fraction, config.seed);
            (
                features_of(&split.train),
                subset_target(&target, &split.train),
                features_of(&split.test),
                subset_target(&target, &split.test),
            )
        }
        Some(test_path) => {
            let mut test_ds = microlearn_data::read_dataset(test_path)?;
            microlearn_data::conform_dates(&mut test_ds, &dataset.schema)?;
            let test_labelled = without_missing_target(&test_ds, &config.target, &mut notes);
            let (test_features, test_target) = microlearn_data::split_target(
                test_labelled.as_ref().unwrap_or(&test_ds),
                &config.target,
                Some(target.task),
            )?;
            let test_x = microlearn_data::apply_schema(test_features, &feature_schema)?;
            let test_y = align_labels(&target, test_target, test_path)?;
            let mut features = source.table.clone();
            features.remove(&config.target);
            (features, target, test_x, test_y)
        }
    };
    let min_rows = if train_y.task.is_classification() {
        10
    } else {
        8
    };
    if train_x.num_rows() < min_rows || test_x.num_rows() == 0 {
        return Err(PipelineError::Config(format!(
            "{}: too few rows to train and evaluate ({} training, {} held-out); need at least {min_rows} training rows",
            input.train.display(),
            train_x.num_rows(),
            test_x.num_rows()
        )));
    }
    Ok(Ingested {
        file_shape: (dataset.table.num_rows(), dataset.table.num_columns()),
        dataset,
        feature_schema,
        train_x,
        train_y,
        test_x,
        test_y,
        notes,
    })
}

/// Rows whose target is missing can be neither learned from nor scored against; a partly
/// labelled file is normal data, not an error. They are left out (the stored dataset keeps
/// them) and ingest's summary says how many. A target missing everywhere still fails, in
/// `split_target`.
fn without_missing_target(
    dataset: &Dataset,
    target: &str,
    notes: &mut Vec<String>,
) -> Option<Dataset> {
    let column = dataset.table.column(target)?;
    let missing = column.null_count();
    if missing == 0 || missing == column.len() {
        return None;
    }
    let keep: Vec<usize> = (0..column.len()).filter(|&r| column.is_valid(r)).collect();
    let first = (0..column.len()).find(|&r| !column.is_valid(r))?;
    // The file name only: on a shared host the folder is not the tenant's business.
    let file = dataset.source.file_name().map_or_else(
        || dataset.source.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    notes.push(format!(
        "left out {missing} row(s) of {file} with no '{target}' (the first at data row {})",
        first + 1
    ));
    Some(Dataset {
        table: dataset.table.take(&keep),
        schema: dataset.schema.clone(),
        format: dataset.format,
        source: dataset.source.clone(),
        bool_labels: dataset.bool_labels.clone(),
    })
}

/// Re-index a held-out file's class labels to the training labels.
fn align_labels(
    train: &TargetInfo,
    test: TargetInfo,
    path: &Path,
) -> Result<TargetInfo, PipelineError> {
    if !train.task.is_classification() {
        return Ok(test);
    }
    let mut map = Vec::with_capacity(test.labels.len());
    for label in &test.labels {
        match train.labels.iter().position(|l| l == label) {
            Some(i) => map.push(i as f64),
            None => {
                return Err(PipelineError::Config(format!(
                    "{}: target '{}' has class '{label}' that the training file never shows (training classes: {})",
                    path.display(),
                    train.name,
                    train.labels.join(", ")
                )));
            }
        }
    }
    Ok(TargetInfo {
        name: test.name,
        task: train.task,
        labels: train.labels.clone(),
        y: test.y.iter().map(|&y| map[y as usize]).collect(),
    })
}

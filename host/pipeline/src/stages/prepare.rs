//! Prepare: fit the preparer chain on the training rows and prepare the held-out rows with it,
//! giving the numeric matrices every later stage trains and scores on.

use crate::PipelineError;
use crate::config::PluginRef;
use crate::features::{MatrixAssembler, target_column};
use crate::preparer_chain::{Expected, PreparerChain};
use crate::stages::StageOutput;
use crate::stages::ingest::Ingested;
use microlearn_core::Stage;
use microlearn_plugins::PreparerHandle;
use microlearn_train::Matrix;

/// What the prepare stage reads.
#[derive(Debug, Clone, Copy)]
pub struct PrepareInput<'a> {
    /// The ingested rows.
    pub data: &'a Ingested,
    /// The preparers to fit, in order, with their configurations.
    pub preparers: &'a [(PreparerHandle, &'a PluginRef)],
}

/// What the prepare stage produced.
#[derive(Debug)]
pub struct Prepared {
    /// The fitted chain, which every bundle of this pipeline carries.
    pub(crate) chain: PreparerChain,
    /// The prepared training rows, one column per prepared feature.
    pub x_train: Matrix,
    /// The held-out rows prepared by the same chain, with the same columns.
    pub x_test: Matrix,
    /// Feature columns before preparation, for the summary.
    pub raw_features: usize,
}

impl StageOutput for Prepared {
    fn summary(&self) -> String {
        format!(
            "{} raw → {} prepared features",
            self.raw_features,
            self.x_train.n_cols()
        )
    }
}

/// Fit the chain on the training rows and transform the held-out rows with it.
pub fn run(input: PrepareInput<'_>) -> Result<Prepared, PipelineError> {
    let data = input.data;
    // Preparers are fitted once on the training rows (a table larger than one plugin call's
    // batch: on a seeded sample of them, the rest transformed with the fitted state); trials
    // validate on row subsets of the prepared matrix. The bundled preparer's only target statistics (of integer
    // codes) are computed out of fold in the table its fit returns, so no row's own label
    // reaches its features; a target-aware third-party preparer must do the same
    // (documented in the SDK).
    // The last preparer's output goes straight into the feature matrix, batch by batch: a
    // large table never exists as a whole prepared table beside its matrix.
    let mut train_sink = MatrixAssembler::new(data.train_x.num_rows(), Stage::Preparing);
    let chain = PreparerChain::fit_into(
        input.preparers,
        &data.train_x,
        &target_column(&data.train_y, &data.train_rows()),
        data.train_y.task,
        &mut train_sink,
    )?;
    let (x_train, fitted) = train_sink.finish()?;
    if fitted.num_columns() == 0 {
        return Err(PipelineError::Stage {
            stage: Stage::Preparing,
            message: "no usable feature is left after preparation (every column was constant, an identifier, or empty)".into(),
        });
    }
    // The held-out rows go through the chain a bundle scores with, so the evaluation
    // measures what serving will do.
    let mut test_sink = MatrixAssembler::new(data.test_x.num_rows(), Stage::Preparing);
    chain.transform_into(&data.test_x, Expected::Fitted(&fitted), &mut test_sink)?;
    let (x_test, _) = test_sink.finish()?;
    Ok(Prepared {
        chain,
        x_train,
        x_test,
        raw_features: data.train_x.num_columns(),
    })
}

//! Prepare: fit the preparer chain on the training rows and prepare the held-out rows with it,
//! giving the numeric matrices every later stage trains and scores on.

use crate::PipelineError;
use crate::config::PluginRef;
use crate::features::{table_to_matrix, target_column};
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

/// Fit the chain on all training rows and transform the held-out rows with it.
pub fn run(input: PrepareInput<'_>) -> Result<Prepared, PipelineError> {
    let data = input.data;
    // Preparers are fitted once on all training rows; trials validate on row subsets of
    // the prepared matrix. The bundled preparer's only target statistics (of integer
    // codes) are computed out of fold in the table its fit returns, so no row's own label
    // reaches its features; a target-aware third-party preparer must do the same
    // (documented in the SDK).
    let (chain, fitted) = PreparerChain::fit(
        input.preparers,
        &data.train_x,
        &target_column(&data.train_y, &data.train_rows()),
        data.train_y.task,
    )?;
    // The held-out rows go through the chain a bundle scores with, so the evaluation
    // measures what serving will do.
    let test_prepared = chain.transform(&data.test_x, Expected::Fitted(&fitted))?;
    let x_train = table_to_matrix(&fitted, Stage::Preparing)?;
    let x_test = table_to_matrix(&test_prepared, Stage::Preparing)?;
    Ok(Prepared {
        chain,
        x_train,
        x_test,
        raw_features: data.train_x.num_columns(),
    })
}

//! The preparer chain: the one piece of code that runs a pipeline's preparers over a table,
//! whether the engine is preparing its held-out rows or a bundle is scoring new ones (the CLI's
//! `predict` and the server's deployments both score through [`crate::LoadedModel`]). A model
//! can only score rows prepared the way it was trained, so training and scoring must not each
//! keep their own copy of the loop and its checks.

use crate::PipelineError;
use crate::bundle::BundledPreparer;
use crate::config::PluginRef;
use microlearn_core::{Column, Stage, Table, Task};
use microlearn_plugins::{PluginHost, PreparerHandle};

/// Fitted preparers in order, each with its state: what a bundle carries and what scoring runs.
#[derive(Clone)]
pub(crate) struct PreparerChain {
    steps: Vec<Step>,
}

#[derive(Clone)]
struct Step {
    handle: PreparerHandle,
    /// The configuration it was fitted with (kept for the bundle; `transform` takes none).
    config: String,
    state: Vec<u8>,
}

impl std::fmt::Debug for PreparerChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|s| &s.handle.info().id))
            .finish()
    }
}

/// What the chain's output must look like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// The table the chain's fit returned: the last preparer must reproduce its columns and
    /// their types (training has that table at hand).
    Fitted(&'a Table),
    /// The prepared column names recorded in a bundle's header, which keeps names, not the
    /// fitted table.
    Names(&'a [String]),
}

impl PreparerChain {
    /// Fit each preparer on the previous one's output and return the chain with the table the
    /// last fit produced. Fails when a fit changes the row count or nothing usable is left.
    pub(crate) fn fit(
        preparers: &[(PreparerHandle, &PluginRef)],
        table: &Table,
        target: &Column,
        task: Task,
    ) -> Result<(PreparerChain, Table), PipelineError> {
        let mut current = table.clone();
        let mut steps = Vec::with_capacity(preparers.len());
        for (h, r) in preparers {
            let rows = current.num_rows();
            let config = r.config_string();
            let (state, out) = h
                .fit(&current, target, task, &config)
                .map_err(PipelineError::plugin(Stage::Preparing))?;
            if out.num_rows() != rows {
                return Err(PipelineError::Stage {
                    stage: Stage::Preparing,
                    message: format!(
                        "preparer '{}' fit returned {} rows for {rows}",
                        h.info().id,
                        out.num_rows()
                    ),
                });
            }
            steps.push(Step {
                handle: h.clone(),
                config,
                state,
            });
            current = out;
        }
        if current.num_columns() == 0 {
            return Err(PipelineError::Stage {
                stage: Stage::Preparing,
                message: "no usable feature is left after preparation (every column was constant, an identifier, or empty)".into(),
            });
        }
        Ok((PreparerChain { steps }, current))
    }

    /// The chain a bundle stores, with each preparer instantiated from the component bytes the
    /// bundle carries (not from the installed plugins, which may be another version).
    pub(crate) fn from_bundle(
        preparers: Vec<BundledPreparer>,
        plugins: &PluginHost,
    ) -> Result<PreparerChain, PipelineError> {
        let mut steps = Vec::with_capacity(preparers.len());
        for p in preparers {
            let handle = plugins
                .preparer_from_bytes(&p.component)
                .map_err(PipelineError::plugin(Stage::Preparing))?;
            steps.push(Step {
                handle,
                config: p.config,
                state: p.state,
            });
        }
        Ok(PreparerChain { steps })
    }

    /// Run every preparer's transform with its fitted state. The result has the input's rows,
    /// in order, and the columns `expected` names, or this fails saying which preparer or
    /// column is at fault.
    pub(crate) fn transform(
        &self,
        input: &Table,
        expected: Expected<'_>,
    ) -> Result<Table, PipelineError> {
        // `None` until the first preparer ran: the input is borrowed, not copied, since
        // scoring calls this per request.
        let mut current: Option<Table> = None;
        let last = self.steps.len().saturating_sub(1);
        for (i, step) in self.steps.iter().enumerate() {
            let table = current.as_ref().unwrap_or(input);
            let rows = table.num_rows();
            // With the fitted table at hand, the last preparer's output must match what it
            // produced at fit column for column and type for type: a model can only score rows
            // prepared the way it was trained. A bundle keeps only the names, checked below.
            let out = match expected {
                Expected::Fitted(fitted) if i == last => {
                    step.handle.transform_like(&step.state, table, fitted)
                }
                _ => step.handle.transform(&step.state, table),
            }
            .map_err(PipelineError::plugin(Stage::Preparing))?;
            if out.num_rows() != rows {
                return Err(PipelineError::Stage {
                    stage: Stage::Preparing,
                    message: format!(
                        "preparer '{}' transform returned {} rows for {rows}",
                        step.handle.info().id,
                        out.num_rows()
                    ),
                });
            }
            current = Some(out);
        }
        let table = current.unwrap_or_else(|| input.clone());
        let expected: Vec<&str> = match expected {
            Expected::Fitted(fitted) => fitted.names(),
            Expected::Names(names) => names.iter().map(String::as_str).collect(),
        };
        let got = table.names();
        if got != expected {
            return Err(PipelineError::Stage {
                stage: Stage::Preparing,
                message: format!(
                    "prepared columns differ from training: got [{}], expected [{}]",
                    got.join(", "),
                    expected.join(", ")
                ),
            });
        }
        Ok(table)
    }

    /// The chain as a bundle stores it: each preparer's component, configuration and state.
    pub(crate) fn bundled(&self) -> Vec<BundledPreparer> {
        self.steps
            .iter()
            .map(|s| BundledPreparer {
                id: s.handle.info().id.clone(),
                version: s.handle.info().version.clone(),
                config: s.config.clone(),
                state: s.state.clone(),
                component_sha256: s.handle.sha256().to_string(),
                component: s.handle.component_bytes().to_vec(),
            })
            .collect()
    }
}

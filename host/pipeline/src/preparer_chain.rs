//! The preparer chain: the one piece of code that runs a pipeline's preparers over a table,
//! whether the engine is preparing its held-out rows or a bundle is scoring new ones (the CLI's
//! `predict` and the server's deployments both score through [`crate::LoadedModel`]). A model
//! can only score rows prepared the way it was trained, so training and scoring must not each
//! keep their own copy of the loop and its checks.

use crate::PipelineError;
use crate::bundle::BundledPreparer;
use crate::config::PluginRef;
use microlearn_core::{Column, Stage, Table, Task};
use microlearn_plugins::{BatchSink, PluginHost, PreparerHandle};

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
    /// Fit each preparer on the previous one's output, the last one delivering its prepared
    /// rows to `sink` batch by batch (see [`PreparerHandle::fit_into`]), so the prepared table
    /// need not exist whole beside what the sink builds from it. Fails when a fit changes the
    /// row count.
    pub(crate) fn fit_into(
        preparers: &[(PreparerHandle, &PluginRef)],
        table: &Table,
        target: &Column,
        task: Task,
        sink: &mut dyn BatchSink,
    ) -> Result<PreparerChain, PipelineError> {
        // `None` until a preparer ran: the input is borrowed, never copied whole.
        let mut current: Option<Table> = None;
        let mut steps = Vec::with_capacity(preparers.len());
        let last = preparers.len().saturating_sub(1);
        for (i, (h, r)) in preparers.iter().enumerate() {
            let input = current.as_ref().unwrap_or(table);
            let rows = input.num_rows();
            let config = r.config_string();
            let state = if i == last {
                let mut counted = RowCheck::new(h, "fit", rows, None, sink);
                let state = h
                    .fit_into(input, target, task, &config, &mut counted)
                    .map_err(PipelineError::plugin(Stage::Preparing))?;
                counted.finish()?;
                current = None;
                state
            } else {
                let (state, out) = h
                    .fit(input, target, task, &config)
                    .map_err(PipelineError::plugin(Stage::Preparing))?;
                rows_kept(h, "fit", rows, out.num_rows())?;
                current = Some(out);
                state
            };
            steps.push(Step {
                handle: h.clone(),
                config,
                state,
            });
        }
        if preparers.is_empty() {
            sink.put(&(0..table.num_rows()).collect::<Vec<_>>(), table.clone())
                .map_err(|message| PipelineError::Stage {
                    stage: Stage::Preparing,
                    message,
                })?;
        }
        Ok(PreparerChain { steps })
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
        let before = self.transform_all_but_last(input)?;
        let table = match self.steps.last() {
            None => input.clone(),
            Some(step) => {
                let table = before.as_ref().unwrap_or(input);
                // With the fitted table at hand, the last preparer's output must match what it
                // produced at fit column for column and type for type: a model can only score
                // rows prepared the way it was trained. A bundle keeps only the names, checked
                // below.
                let out = match expected {
                    Expected::Fitted(fitted) => {
                        step.handle.transform_like(&step.state, table, fitted)
                    }
                    Expected::Names(_) => step.handle.transform(&step.state, table),
                }
                .map_err(PipelineError::plugin(Stage::Preparing))?;
                rows_kept(&step.handle, "transform", table.num_rows(), out.num_rows())?;
                out
            }
        };
        let expected: Vec<&str> = match expected {
            Expected::Fitted(fitted) => fitted.names(),
            Expected::Names(names) => names.iter().map(String::as_str).collect(),
        };
        same_names(&table.names(), &expected).map_err(|message| PipelineError::Stage {
            stage: Stage::Preparing,
            message,
        })?;
        Ok(table)
    }

    /// [`Self::transform`] with the last preparer's output delivered to `sink` batch by batch.
    pub(crate) fn transform_into(
        &self,
        input: &Table,
        expected: Expected<'_>,
        sink: &mut dyn BatchSink,
    ) -> Result<(), PipelineError> {
        let Some(last) = self.steps.last() else {
            let table = self.transform(input, expected)?;
            return sink
                .put(&(0..table.num_rows()).collect::<Vec<_>>(), table)
                .map_err(|message| PipelineError::Stage {
                    stage: Stage::Preparing,
                    message,
                });
        };
        let before = self.transform_all_but_last(input)?;
        let table = before.as_ref().unwrap_or(input);
        let (like, names) = match expected {
            Expected::Fitted(fitted) => (Some(fitted), None),
            Expected::Names(names) => (None, Some(names)),
        };
        let mut checked = RowCheck::new(&last.handle, "transform", table.num_rows(), names, sink);
        last.handle
            .transform_into(&last.state, table, like, &mut checked)
            .map_err(PipelineError::plugin(Stage::Preparing))?;
        checked.finish()
    }

    /// Every preparer but the last, in order: the table the last one is to transform, or `None`
    /// when that is `input` itself (borrowed, not copied, since scoring runs this per request).
    fn transform_all_but_last(&self, input: &Table) -> Result<Option<Table>, PipelineError> {
        let mut current: Option<Table> = None;
        for step in &self.steps[..self.steps.len().saturating_sub(1)] {
            let table = current.as_ref().unwrap_or(input);
            let out = step
                .handle
                .transform(&step.state, table)
                .map_err(PipelineError::plugin(Stage::Preparing))?;
            rows_kept(&step.handle, "transform", table.num_rows(), out.num_rows())?;
            current = Some(out);
        }
        Ok(current)
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

/// The prepared column names are the ones training produced.
fn same_names<S: AsRef<str>>(got: &[&str], expected: &[S]) -> Result<(), String> {
    if got.iter().copied().eq(expected.iter().map(AsRef::as_ref)) {
        return Ok(());
    }
    let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    Err(format!(
        "prepared columns differ from training: got [{}], expected [{}]",
        got.join(", "),
        expected.join(", ")
    ))
}

/// A preparer must keep every row.
fn rows_kept(
    handle: &PreparerHandle,
    function: &str,
    rows: usize,
    got: usize,
) -> Result<(), PipelineError> {
    if got == rows {
        return Ok(());
    }
    Err(PipelineError::Stage {
        stage: Stage::Preparing,
        message: format!(
            "preparer '{}' {function} returned {got} rows for {rows}",
            handle.info().id
        ),
    })
}

/// The sink of the chain's last preparer, counting the rows that reach it (every input row must
/// come out) and, for a bundle's chain, checking the prepared column names.
struct RowCheck<'a> {
    handle: &'a PreparerHandle,
    function: &'static str,
    rows: usize,
    seen: usize,
    names: Option<&'a [String]>,
    inner: &'a mut dyn BatchSink,
}

impl<'a> RowCheck<'a> {
    fn new(
        handle: &'a PreparerHandle,
        function: &'static str,
        rows: usize,
        names: Option<&'a [String]>,
        inner: &'a mut dyn BatchSink,
    ) -> Self {
        RowCheck {
            handle,
            function,
            rows,
            seen: 0,
            names,
            inner,
        }
    }

    fn finish(self) -> Result<(), PipelineError> {
        rows_kept(self.handle, self.function, self.rows, self.seen)
    }
}

impl BatchSink for RowCheck<'_> {
    fn put(&mut self, rows: &[usize], table: Table) -> Result<(), String> {
        if let Some(expected) = self.names {
            same_names(&table.names(), expected)?;
        }
        self.seen += rows.len();
        self.inner.put(rows, table)
    }
}

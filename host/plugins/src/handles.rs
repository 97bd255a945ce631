//! Typed handles to loaded plugins, one per stage. Cheap to clone and shareable across threads;
//! every call instantiates the plugin afresh in its own store, so calls never share state and a
//! plugin that misbehaves in one call cannot affect the next.

use crate::bindings::{deployer, evaluator, preparer, selector};
use crate::config::CallLimits;
use crate::convert::{from_guest, to_guest};
use crate::error::{GuestError, PluginError};
use crate::plugin::Loaded;
use crate::sandbox::{CallObservers, LogCallback, ProgressCallback, StoreState};
use crate::validate;
use microlearn_core::stages::{
    Candidate, Decision, DeployRequest, Evaluation, EvaluationRequest, PluginInfo, SelectionRequest,
};
use microlearn_core::{Column, Table, Task};
use std::sync::Arc;

/// What every handle shares: the plugin and optional progress and log callbacks.
#[derive(Clone)]
struct Common {
    plugin: Arc<Loaded>,
    observers: CallObservers,
}

impl Common {
    fn guest(&self, function: &'static str, error: GuestError) -> PluginError {
        PluginError::Guest {
            plugin: self.plugin.id.to_string(),
            function,
            error,
        }
    }

    fn invalid(&self, function: &'static str, message: String) -> PluginError {
        PluginError::InvalidOutput {
            plugin: self.plugin.id.to_string(),
            function,
            message,
        }
    }

    fn check_size(&self, function: &'static str, bytes: u64) -> Result<(), PluginError> {
        let limit = self.plugin.limits.max_output_bytes;
        if bytes > limit {
            return Err(PluginError::OutputTooLarge {
                plugin: self.plugin.id.to_string(),
                function,
                bytes,
                limit,
            });
        }
        Ok(())
    }
}

macro_rules! common_methods {
    () => {
        /// What the plugin's `describe` returned when it was loaded.
        pub fn info(&self) -> &PluginInfo {
            &self.common.plugin.info
        }

        /// Lowercase hex sha256 of the component.
        pub fn sha256(&self) -> &str {
            &self.common.plugin.sha256
        }

        /// The component bytes (to embed in a model bundle, or to reinstall).
        pub fn component_bytes(&self) -> Arc<[u8]> {
            self.common.plugin.bytes.clone()
        }

        /// The limits every call of this plugin runs under.
        pub fn limits(&self) -> CallLimits {
            self.common.plugin.limits
        }

        /// This handle, reporting the plugin's `progress` calls to `callback`.
        pub fn with_progress(mut self, callback: ProgressCallback) -> Self {
            self.common.observers.progress = Some(callback);
            self
        }

        /// This handle, reporting the plugin's `info`/`warn`/`error` log lines (within each
        /// call's log budget) to `callback`.
        pub fn with_log(mut self, callback: LogCallback) -> Self {
            self.common.observers.log = Some(callback);
            self
        }

        /// Call `describe` again in a fresh instance (the cached answer is [`Self::info`]).
        pub fn describe(&self) -> Result<PluginInfo, PluginError> {
            self.common.plugin.describe()
        }
    };
}

/// A preparer plugin.
#[derive(Clone)]
pub struct PreparerHandle {
    common: Common,
    pre: preparer::PreparerPluginPre<StoreState>,
}

impl std::fmt::Debug for PreparerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparerHandle")
            .field("id", &self.common.plugin.id)
            .finish_non_exhaustive()
    }
}

impl PreparerHandle {
    common_methods!();

    /// Learn the transformation on `train` (and its `target`, same row count) and return the
    /// opaque fitted state with the transformed training table.
    pub fn fit(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<(Vec<u8>, Table), PluginError> {
        const F: &str = "preparer.fit";
        let c = &self.common;
        let g_train = to_guest::table(train);
        let g_target = to_guest::column(target);
        let out = c
            .plugin
            .call(
                F,
                c.plugin.limits.timeout,
                &c.observers,
                async |store, _| {
                    let instance = self.pre.instantiate_async(&mut *store).await?;
                    instance
                        .microlearn_plugin_preparer()
                        .call_fit(
                            &mut *store,
                            &g_train,
                            &g_target,
                            to_guest::task(task),
                            config,
                        )
                        .await
                },
            )?
            .map_err(|e| c.guest(F, from_guest::guest_error(e)))?;
        let state = out.state;
        let table = from_guest::table(out.table).map_err(|m| c.invalid(F, m))?;
        c.check_size(F, state.len() as u64 + validate::table_bytes(&table))?;
        validate::prepared_table(&table, train.num_rows()).map_err(|m| c.invalid(F, m))?;
        Ok((state, table))
    }

    /// Apply a fitted state to `input`; the result has exactly `input`'s rows.
    pub fn transform(&self, state: &[u8], input: &Table) -> Result<Table, PluginError> {
        const F: &str = "preparer.transform";
        let c = &self.common;
        let g_input = to_guest::table(input);
        let out = c
            .plugin
            .call(
                F,
                c.plugin.limits.timeout,
                &c.observers,
                async |store, _| {
                    let instance = self.pre.instantiate_async(&mut *store).await?;
                    instance
                        .microlearn_plugin_preparer()
                        .call_transform(&mut *store, state, &g_input)
                        .await
                },
            )?
            .map_err(|e| c.guest(F, from_guest::guest_error(e)))?;
        let table = from_guest::table(out).map_err(|m| c.invalid(F, m))?;
        c.check_size(F, validate::table_bytes(&table))?;
        validate::prepared_table(&table, input.num_rows()).map_err(|m| c.invalid(F, m))?;
        Ok(table)
    }

    /// [`Self::transform`], and the result must have the columns of `fitted` (the table `fit`
    /// returned, or any earlier transform with the same state): same names, same order, same
    /// types. A model trained on `fitted` can only score rows prepared the same way, so a
    /// preparer whose output drifts is stopped here with the first differing column.
    pub fn transform_like(
        &self,
        state: &[u8],
        input: &Table,
        fitted: &Table,
    ) -> Result<Table, PluginError> {
        const F: &str = "preparer.transform";
        let table = self.transform(state, input)?;
        validate::same_columns(&table, fitted).map_err(|m| self.common.invalid(F, m))?;
        Ok(table)
    }
}

/// A selector plugin.
#[derive(Clone)]
pub struct SelectorHandle {
    common: Common,
    pre: selector::SelectorPluginPre<StoreState>,
}

impl std::fmt::Debug for SelectorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectorHandle")
            .field("id", &self.common.plugin.id)
            .finish_non_exhaustive()
    }
}

impl SelectorHandle {
    common_methods!();

    /// Rank candidates, best first; each is checked against the request's catalogue.
    pub fn select(&self, req: &SelectionRequest) -> Result<Vec<Candidate>, PluginError> {
        const F: &str = "selector.select";
        let c = &self.common;
        let g_req = to_guest::selection_request(req);
        let out = c
            .plugin
            .call(
                F,
                c.plugin.limits.timeout,
                &c.observers,
                async |store, _| {
                    let instance = self.pre.instantiate_async(&mut *store).await?;
                    instance
                        .microlearn_plugin_selector()
                        .call_select(&mut *store, &g_req)
                        .await
                },
            )?
            .map_err(|e| c.guest(F, from_guest::guest_error(e)))?;
        let candidates = out
            .into_iter()
            .map(from_guest::candidate)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| c.invalid(F, m))?;
        c.check_size(F, validate::candidates_bytes(&candidates))?;
        validate::candidates(&candidates, req).map_err(|m| c.invalid(F, m))?;
        Ok(candidates)
    }
}

/// An evaluator plugin.
#[derive(Clone)]
pub struct EvaluatorHandle {
    common: Common,
    pre: evaluator::EvaluatorPluginPre<StoreState>,
}

impl std::fmt::Debug for EvaluatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluatorHandle")
            .field("id", &self.common.plugin.id)
            .finish_non_exhaustive()
    }
}

impl EvaluatorHandle {
    common_methods!();

    /// The tasks this evaluator handles.
    pub fn tasks(&self) -> Result<Vec<Task>, PluginError> {
        const F: &str = "evaluator.tasks";
        let c = &self.common;
        let out = c.plugin.call(
            F,
            c.plugin.limits.describe_timeout,
            &c.observers,
            async |store, _| {
                let instance = self.pre.instantiate_async(&mut *store).await?;
                instance
                    .microlearn_plugin_evaluator()
                    .call_tasks(&mut *store)
                    .await
            },
        )?;
        Ok(out.into_iter().map(from_guest::task).collect())
    }

    /// Score predictions; metrics must be finite, curves and matrices well-formed.
    pub fn evaluate(&self, req: &EvaluationRequest) -> Result<Evaluation, PluginError> {
        const F: &str = "evaluator.evaluate";
        let c = &self.common;
        let g_req = to_guest::evaluation_request(req);
        let out = c
            .plugin
            .call(
                F,
                c.plugin.limits.timeout,
                &c.observers,
                async |store, _| {
                    let instance = self.pre.instantiate_async(&mut *store).await?;
                    instance
                        .microlearn_plugin_evaluator()
                        .call_evaluate(&mut *store, &g_req)
                        .await
                },
            )?
            .map_err(|e| c.guest(F, from_guest::guest_error(e)))?;
        let evaluation = from_guest::evaluation(out);
        c.check_size(F, validate::evaluation_bytes(&evaluation))?;
        validate::evaluation(&evaluation).map_err(|m| c.invalid(F, m))?;
        Ok(evaluation)
    }
}

/// A deployer plugin.
#[derive(Clone)]
pub struct DeployerHandle {
    common: Common,
    pre: deployer::DeployerPluginPre<StoreState>,
}

impl std::fmt::Debug for DeployerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployerHandle")
            .field("id", &self.common.plugin.id)
            .finish_non_exhaustive()
    }
}

impl DeployerHandle {
    common_methods!();

    /// Decide what to deploy; a promotion must name a candidate or the current model.
    pub fn decide(&self, req: &DeployRequest) -> Result<Decision, PluginError> {
        const F: &str = "deployer.decide";
        let c = &self.common;
        let g_req = to_guest::deploy_request(req);
        let out = c
            .plugin
            .call(
                F,
                c.plugin.limits.timeout,
                &c.observers,
                async |store, _| {
                    let instance = self.pre.instantiate_async(&mut *store).await?;
                    instance
                        .microlearn_plugin_deployer()
                        .call_decide(&mut *store, &g_req)
                        .await
                },
            )?
            .map_err(|e| c.guest(F, from_guest::guest_error(e)))?;
        let decision = from_guest::decision(out);
        c.check_size(F, decision.reason.len() as u64 + 64)?;
        validate::decision(&decision, req).map_err(|m| c.invalid(F, m))?;
        Ok(decision)
    }
}

/// A handle of any kind, as returned for a manifest-less component.
#[derive(Clone, Debug)]
pub enum AnyHandle {
    /// A preparer.
    Preparer(PreparerHandle),
    /// A selector.
    Selector(SelectorHandle),
    /// An evaluator.
    Evaluator(EvaluatorHandle),
    /// A deployer.
    Deployer(DeployerHandle),
}

impl AnyHandle {
    /// Wrap a loaded plugin in the handle of its world.
    pub(crate) fn new(plugin: Arc<Loaded>) -> AnyHandle {
        use crate::plugin::WorldPre;
        let world = plugin.world.clone();
        let common = Common {
            plugin,
            observers: CallObservers::default(),
        };
        match world {
            WorldPre::Preparer(pre) => AnyHandle::Preparer(PreparerHandle { common, pre }),
            WorldPre::Selector(pre) => AnyHandle::Selector(SelectorHandle { common, pre }),
            WorldPre::Evaluator(pre) => AnyHandle::Evaluator(EvaluatorHandle { common, pre }),
            WorldPre::Deployer(pre) => AnyHandle::Deployer(DeployerHandle { common, pre }),
        }
    }

    /// What the plugin's `describe` returned.
    pub fn info(&self) -> &PluginInfo {
        match self {
            AnyHandle::Preparer(h) => h.info(),
            AnyHandle::Selector(h) => h.info(),
            AnyHandle::Evaluator(h) => h.info(),
            AnyHandle::Deployer(h) => h.info(),
        }
    }
}

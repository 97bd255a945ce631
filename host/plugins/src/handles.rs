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
use microlearn_core::{Column, Table, TableAssembler, Task};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    ///
    /// A table larger than [`CallLimits::fit_sample_bytes`] does not cross whole: the plugin
    /// fits on a seeded random sample of that size, and the other training rows are prepared
    /// by `transform` in batches with the fitted state ([`Self::fit_into`]). The result has
    /// every row of `train`, in order.
    pub fn fit(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<(Vec<u8>, Table), PluginError> {
        if let Some(fitted) = self.fit_whole(train, target, task, config)? {
            return Ok(fitted);
        }
        let mut out = TableAssembler::new(train.num_rows());
        let state = self.fit_sampled(train, target, task, config, &mut out)?;
        let table = out.finish().map_err(|m| self.common.invalid(FIT, m))?;
        Ok((state, table))
    }

    /// [`Self::fit`], delivering the prepared training rows to `sink` batch by batch instead
    /// of as one table, so a caller that converts them (e.g. into a feature matrix) never holds
    /// the whole prepared table. The first batch `sink` receives is the fitted sample's.
    ///
    /// Rows outside the fitted sample are prepared by `transform`, which never saw their
    /// labels; the sample's rows come from `fit` itself, so a preparer that encodes targets
    /// out of fold in `fit` stays leak-free.
    pub fn fit_into(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
        sink: &mut dyn BatchSink,
    ) -> Result<Vec<u8>, PluginError> {
        if let Some((state, table)) = self.fit_whole(train, target, task, config)? {
            sink.put(&(0..train.num_rows()).collect::<Vec<_>>(), table)
                .map_err(|m| self.common.invalid(FIT, m))?;
            return Ok(state);
        }
        self.fit_sampled(train, target, task, config, sink)
    }

    /// One `fit` call with all of `train`, when it is within [`CallLimits::fit_sample_bytes`];
    /// `None` when it is larger, or its output was over the cap (a preparer's output can be
    /// several times its input), so the caller fits on a sample instead.
    fn fit_whole(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<Option<(Vec<u8>, Table)>, PluginError> {
        let rows = train.num_rows();
        if rows > self.fit_sample_rows(train, target) {
            return Ok(None);
        }
        match self.fit_call(train, target, task, config) {
            Err(PluginError::OutputTooLarge { .. }) if rows > 1 => Ok(None),
            done => done.map(Some),
        }
    }

    /// Fit on a seeded sample of fewer than all rows (as many as
    /// [`CallLimits::fit_sample_bytes`] allows, else half), halving it while the output is
    /// over the cap, then transform the other rows in batches; everything goes to `sink`.
    fn fit_sampled(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
        sink: &mut dyn BatchSink,
    ) -> Result<Vec<u8>, PluginError> {
        let rows = train.num_rows();
        if target.len() != rows {
            return Err(self.common.invalid(
                FIT,
                format!(
                    "the target has {} rows for {rows} training rows",
                    target.len()
                ),
            ));
        }
        let cap = self.fit_sample_rows(train, target);
        let mut k = if rows > cap { cap } else { rows / 2 };
        loop {
            let (sample, rest) = sample_rows(rows, k);
            let (state, fitted) =
                match self.fit_call(&train.take(&sample), &target.take(&sample), task, config) {
                    Err(PluginError::OutputTooLarge { .. }) if k > 1 => {
                        k /= 2;
                        continue;
                    }
                    other => other.map_err(|e| batch_row(e, &sample))?,
                };
            tracing::debug!(
                plugin = &*self.common.plugin.id,
                rows,
                sample = sample.len(),
                "table larger than one call: fitted on a sample, transforming the rest in batches"
            );
            let header = fitted.take(&[]);
            sink.put(&sample, fitted)
                .map_err(|m| self.common.invalid(FIT, m))?;
            self.transform_rows(&state, train, Rows::Some(&rest), Some(&header), sink)?;
            return Ok(state);
        }
    }

    /// Apply a fitted state to `input`; the result has exactly `input`'s rows. A table larger
    /// than one call's batch is transformed batch by batch, in parallel.
    pub fn transform(&self, state: &[u8], input: &Table) -> Result<Table, PluginError> {
        if input.num_rows() <= self.rows_per_call(input) {
            match self.transform_call(state, input) {
                Err(PluginError::OutputTooLarge { .. }) if input.num_rows() > 1 => {}
                done => return done,
            }
        }
        let mut out = TableAssembler::new(input.num_rows());
        self.transform_into(state, input, None, &mut out)?;
        out.finish().map_err(|m| self.common.invalid(TRANSFORM, m))
    }

    /// [`Self::transform`], delivering the output to `sink` batch by batch. With `like` (the
    /// table `fit` returned, or any with its columns; zero rows suffice), every batch must have
    /// its columns, as in [`Self::transform_like`]; without, every batch must match the first.
    pub fn transform_into(
        &self,
        state: &[u8],
        input: &Table,
        like: Option<&Table>,
        sink: &mut dyn BatchSink,
    ) -> Result<(), PluginError> {
        self.transform_rows(state, input, Rows::All(input.num_rows()), like, sink)
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
        let table = self.transform(state, input)?;
        validate::same_columns(&table, fitted).map_err(|m| self.common.invalid(TRANSFORM, m))?;
        Ok(table)
    }

    /// How many rows of `table` fit in `budget` bytes, counting `extra` bytes per row besides
    /// the table's own (the target, for `fit`).
    fn rows_within(table: &Table, extra: u64, budget: u64) -> usize {
        let rows = table.num_rows().max(1) as u64;
        let per_row = (validate::table_bytes(table) / rows).max(1) + extra;
        usize::try_from((budget / per_row).max(1)).unwrap_or(usize::MAX)
    }

    /// Rows of `table` in one `transform` call.
    fn rows_per_call(&self, table: &Table) -> usize {
        Self::rows_within(table, 0, self.common.plugin.limits.batch_bytes)
    }

    /// Rows of the sample `fit` sees, with their targets.
    fn fit_sample_rows(&self, train: &Table, target: &Column) -> usize {
        let target_bytes = validate::column_bytes(target) / target.len().max(1) as u64;
        Self::rows_within(
            train,
            target_bytes,
            self.common.plugin.limits.fit_sample_bytes,
        )
    }

    /// Transform `rows` of `input` in batches, on up to [`batch_workers`] threads, handing each
    /// checked batch to `sink` on the calling thread. Stops at the first failure; a row the
    /// plugin names in an error is reported as the row of `input`, not of the batch.
    fn transform_rows(
        &self,
        state: &[u8],
        input: &Table,
        rows: Rows<'_>,
        like: Option<&Table>,
        sink: &mut dyn BatchSink,
    ) -> Result<(), PluginError> {
        let total = rows.len();
        if total == 0 {
            return Ok(());
        }
        let per = self.rows_per_call(input);
        let batches = total.div_ceil(per);
        let mut header: Option<Table> = like.map(|t| t.take(&[]));
        let mut accept = |idx: &[usize], out: Table| -> Result<(), PluginError> {
            match &header {
                Some(h) => validate::same_columns(&out, h)
                    .map_err(|m| self.common.invalid(TRANSFORM, m))?,
                None => header = Some(out.take(&[])),
            }
            sink.put(idx, out)
                .map_err(|m| self.common.invalid(TRANSFORM, m))
        };
        let run = |idx: &[usize]| self.transform_batch(state, input, idx);
        let workers = batch_workers().min(batches);
        if workers <= 1 {
            for b in 0..batches {
                let idx = rows.batch(b, per);
                let out = run(&idx)?;
                accept(&idx, out)?;
            }
            return Ok(());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Bounded, so at most `2 × workers` batch outputs wait in memory at once.
            let (tx, rx) = std::sync::mpsc::sync_channel(workers);
            for _ in 0..workers {
                let (tx, next, stop, rows, run) = (tx.clone(), &next, &stop, &rows, &run);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            break;
                        }
                        let idx = rows.batch(b, per);
                        let out = run(&idx);
                        if tx.send((idx, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut failure = None;
            for (idx, out) in rx {
                if failure.is_some() {
                    continue;
                }
                if let Err(e) = out.and_then(|t| accept(&idx, t)) {
                    stop.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
            failure.map_or(Ok(()), Err)
        })
    }

    /// One batch: `transform` on rows `idx` of `input`. An output over the cap (a preparer may
    /// expand its input several times) is retried as two halves, down to single rows, so the
    /// batch size adapts to what the plugin returns.
    fn transform_batch(
        &self,
        state: &[u8],
        input: &Table,
        idx: &[usize],
    ) -> Result<Table, PluginError> {
        let part = input.take(idx);
        match self.transform_call(state, &part) {
            Err(PluginError::OutputTooLarge { .. }) if idx.len() > 1 => {
                drop(part);
                let (a, b) = idx.split_at(idx.len() / 2);
                let mut out = TableAssembler::new(idx.len());
                let first = self.transform_batch(state, input, a)?;
                out.put(&(0..a.len()).collect::<Vec<_>>(), first)
                    .map_err(|m| self.common.invalid(TRANSFORM, m))?;
                let second = self.transform_batch(state, input, b)?;
                out.put(&(a.len()..idx.len()).collect::<Vec<_>>(), second)
                    .map_err(|m| self.common.invalid(TRANSFORM, m))?;
                out.finish().map_err(|m| self.common.invalid(TRANSFORM, m))
            }
            other => other.map_err(|e| batch_row(e, idx)),
        }
    }

    /// One `fit` call with the whole of `train`.
    fn fit_call(
        &self,
        train: &Table,
        target: &Column,
        task: Task,
        config: &str,
    ) -> Result<(Vec<u8>, Table), PluginError> {
        let c = &self.common;
        let g_train = to_guest::table(train);
        let g_target = to_guest::column(target);
        let out = c
            .plugin
            .call(
                FIT,
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
            .map_err(|e| c.guest(FIT, from_guest::guest_error(e)))?;
        let state = out.state;
        let table = from_guest::table(out.table).map_err(|m| c.invalid(FIT, m))?;
        c.check_size(FIT, state.len() as u64 + validate::table_bytes(&table))?;
        validate::prepared_table(&table, train.num_rows()).map_err(|m| c.invalid(FIT, m))?;
        Ok((state, table))
    }

    /// One `transform` call with the whole of `input`.
    fn transform_call(&self, state: &[u8], input: &Table) -> Result<Table, PluginError> {
        let c = &self.common;
        let g_input = to_guest::table(input);
        let out = c
            .plugin
            .call(
                TRANSFORM,
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
            .map_err(|e| c.guest(TRANSFORM, from_guest::guest_error(e)))?;
        let table = from_guest::table(out).map_err(|m| c.invalid(TRANSFORM, m))?;
        c.check_size(TRANSFORM, validate::table_bytes(&table))?;
        validate::prepared_table(&table, input.num_rows()).map_err(|m| c.invalid(TRANSFORM, m))?;
        Ok(table)
    }
}

const FIT: &str = "preparer.fit";
const TRANSFORM: &str = "preparer.transform";

/// Where a batched preparer call delivers its output. `put(rows, table)` hands over the
/// prepared rows of input rows `rows` (ascending, one output row per input row); batches
/// arrive in any order, each exactly once, on the thread that made the call. An `Err` stops
/// the call and is reported as the plugin's invalid output.
pub trait BatchSink {
    /// Take one batch.
    fn put(&mut self, rows: &[usize], table: Table) -> Result<(), String>;
}

impl BatchSink for TableAssembler {
    fn put(&mut self, rows: &[usize], table: Table) -> Result<(), String> {
        TableAssembler::put(self, rows, table)
    }
}

/// Which input rows a batched call covers.
enum Rows<'a> {
    /// Every row, `0..n`.
    All(usize),
    /// These rows, ascending.
    Some(&'a [usize]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::All(n) => *n,
            Rows::Some(r) => r.len(),
        }
    }

    /// The `b`-th batch of `per` rows.
    fn batch(&self, b: usize, per: usize) -> Vec<usize> {
        let start = b * per;
        let end = (start + per).min(self.len());
        match self {
            Rows::All(_) => (start..end).collect(),
            Rows::Some(r) => r[start..end].to_vec(),
        }
    }
}

/// Threads one batched call uses: the machine's cores, at most 4 (each batch in flight holds
/// its input, the guest's copy and its output, so more threads mostly cost memory).
fn batch_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// An error about row `i` of a batch, restated about the input row it came from.
fn batch_row(mut e: PluginError, rows: &[usize]) -> PluginError {
    if let PluginError::Guest {
        error: GuestError::InvalidInput { row: Some(r), .. },
        ..
    } = &mut e
        && let Some(&original) = usize::try_from(*r).ok().and_then(|i| rows.get(i))
    {
        *r = original as u64;
    }
    e
}

/// A seeded, uniform sample of `k` of `n` rows (Knuth's selection sampling, so both parts come
/// out ascending) and the rows left out. The same table size always gives the same sample, so
/// a rerun fits the same rows.
fn sample_rows(n: usize, k: usize) -> (Vec<usize>, Vec<usize>) {
    // splitmix64: a tiny, well-mixed generator; the sample needs uniformity and
    // reproducibility, not cryptographic strength.
    let mut state = 0x6d69_6372_6f6c_6561_u64 ^ n as u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut sample = Vec::with_capacity(k);
    let mut rest = Vec::with_capacity(n.saturating_sub(k));
    for i in 0..n {
        let needed = (k - sample.len()) as f64;
        let left = (n - i) as f64;
        let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
        if u * left < needed {
            sample.push(i);
        } else {
            rest.push(i);
        }
    }
    (sample, rest)
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

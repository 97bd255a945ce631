//! `microlearn`: the command-line front of the MicroLearn host. Thin by design: it parses
//! arguments, wires the store, the plugin host and the engine together, and renders progress
//! and results. All behaviour lives in the library crates.

mod args;
mod cluster;
mod config;
mod plugin_cmd;
mod progress;
mod remote;
mod remote_run;
mod render;
mod runtime_file;
mod serve_cmd;

use anyhow::{Context, Result, bail};
use args::{Cli, Command, PredictArgs, RunArgs};
use clap::Parser;
use microlearn_pipeline::{Engine, LoadedModel, PipelineConfig, PluginRef, RunInput};
use microlearn_plugins::PluginHost;
use microlearn_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// glibc's malloc raises its mmap threshold (up to 32 MiB) each time a large block is freed, so
/// after the first big table is dropped the multi-megabyte column and matrix vectors of a
/// pipeline come from heap arenas, which fragment and are not given back to the OS; each
/// trial thread grows its own. Pinning the threshold at 1 MiB keeps those allocations
/// mmapped, so freeing them returns the memory: on a 1M-row × 21 run the peak RSS fell by
/// about a fifth (bench/memory_bench.py). Other C libraries keep their defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets a malloc parameter; this runs first in `main`, before any
    // other thread exists or allocates. A refusal (return 0) leaves the default, harmlessly.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// The error and its causes joined by `: `, skipping a cause whose text an outer message
/// already quotes (library errors often embed their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MICROLEARN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn dispatch(cli: Cli) -> Result<()> {
    let home = cli.home.clone();
    plugin_cmd::set_cache_dir(cli.cache_dir.clone());
    let (file, _) = config::load(cli.config.as_deref(), &home)?;
    plugin_cmd::configure(&file.plugins);
    let cluster = cluster::settings(
        cli.meta.as_deref(),
        cli.blobs.as_deref(),
        cli.queue.as_deref(),
        &file.cluster,
    )?;
    // Folders from the file come first, so MICROLEARN_PLUGIN_PATH / --plugins override them.
    let mut dirs = file.plugin_dirs.clone();
    dirs.extend(cli.plugins.iter().cloned());
    match cli.command {
        Command::Run(args) => run(&home, &cluster, &dirs, *args, &file.run),
        Command::Predict(args) => predict(&home, &dirs, args),
        Command::Serve(args) => {
            serve_cmd::serve(&home, cluster, plugin_dirs(&home, &dirs), args, &file.serve)
        }
        Command::Worker(args) => {
            serve_cmd::worker(&home, cluster, plugin_dirs(&home, &dirs), args, &file.serve)
        }
        Command::Plugin { command } => plugin_cmd::dispatch(&home, &dirs, command),
    }
}

/// Where plugins are looked up, later entries overriding earlier ones by id: first-party
/// plugins shipped beside the binary, then the data directory's drop-in folder, then the
/// directories named by `MICROLEARN_PLUGIN_PATH` / `--plugins`.
fn plugin_dirs(home: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(bin_dir) = exe.parent()
    {
        for rel in ["../microlearn-plugins", "../share/microlearn/plugins"] {
            let d = bin_dir.join(rel);
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    // The drop-in folder is optional: a fresh data directory has none yet.
    let drop_in = home.join("plugins");
    if drop_in.is_dir() {
        dirs.push(drop_in);
    }
    // Folders named explicitly are scanned even when missing, so a typo is reported.
    dirs.extend(extra.iter().cloned());
    // One folder reached by two paths (e.g. `bin/../microlearn-plugins` and the same folder
    // named in MICROLEARN_PLUGIN_PATH) is scanned once, not reported as overriding itself.
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
    dirs
}

fn plugin_host(home: &Path, extra: &[PathBuf]) -> Result<PluginHost> {
    let host = PluginHost::new(plugin_cmd::runtime_config(home)?)
        .context("starting the plugin runtime")?;
    let report = host.scan(&plugin_dirs(home, extra));
    for (path, err) in &report.errors {
        eprintln!(
            "warning: plugin at {} was not loaded: {err}",
            path.display()
        );
    }
    if host.list().is_empty() {
        eprintln!(
            "warning: no plugins found; build the first-party ones with scripts/build-plugins.sh, \
             or install one with `microlearn plugin install DIR`"
        );
    }
    Ok(host)
}

fn run(
    home: &Path,
    cluster: &cluster::ClusterSettings,
    extra: &[PathBuf],
    args: RunArgs,
    file: &config::RunDefaults,
) -> Result<()> {
    // Flags win over the configuration file, which wins over the built-in defaults.
    let mut config = PipelineConfig::new(&args.target);
    config.task = args.task;
    config.budget_secs = args.budget.or(file.budget).unwrap_or(config.budget_secs);
    config.seed = args.seed.or(file.seed).unwrap_or(config.seed);
    config.max_trials = args.max_trials;
    config.folds = args.folds;
    config.threads = args.threads.or(file.threads);
    config.test_fraction = args
        .test_fraction
        .or(file.test_fraction)
        .unwrap_or(config.test_fraction);
    config.metric = args.metric.clone().or_else(|| file.metric.clone());
    config.deployment = args.deployment.clone();
    let preparers = if args.preparer.is_empty() {
        file.preparers.clone().unwrap_or_default()
    } else {
        args.preparer.clone()
    };
    if !preparers.is_empty() {
        config.preparers = parse_refs(&preparers)?;
    }
    if let Some(s) = args.selector.as_ref().or(file.selector.as_ref()) {
        config.selector = PluginRef::parse(s).map_err(anyhow::Error::msg)?;
    }
    let evaluators = if args.evaluator.is_empty() {
        file.evaluators.clone().unwrap_or_default()
    } else {
        args.evaluator.clone()
    };
    config.evaluators = parse_refs(&evaluators)?;
    if let Some(d) = args.deployer.as_ref().or(file.deployer.as_ref()) {
        config.deployer = PluginRef::parse(d).map_err(anyhow::Error::msg)?;
    }
    config.validate().map_err(anyhow::Error::msg)?;
    if !args.file.exists() {
        bail!("{}: no such file", args.file.display());
    }

    if cluster.queue.is_some() {
        // A cluster with workers: the run is theirs; this process only submits and follows.
        return serve_cmd::submit_to_cluster(
            home,
            cluster,
            plugin_dirs(home, extra),
            &args,
            &config,
        );
    }
    let store = match Store::open_with(home, &cluster.store) {
        Ok(store) => store,
        // sled allows one process per data directory: when a `microlearn serve` holds this
        // one, the run goes to it; otherwise say plainly who is in the way.
        Err(StoreError::Locked { .. }) => {
            return match remote::holder(home) {
                remote::Holder::Server(server) => {
                    remote_run::run(&remote_run::Via::HeldHome(home), &server, &args, &config)
                }
                remote::Holder::Other { stale } => Err(locked_elsewhere(home, "run", stale)),
            };
        }
        Err(e) => {
            return Err(anyhow::Error::new(e))
                .with_context(|| format!("opening the data directory {}", home.display()));
        }
    };
    // This process holds the directory, so no server does: a runtime file left by a server
    // that was killed would only mislead the next run.
    runtime_file::remove_stale(home);
    let engine = Engine::new(store, plugin_host(home, extra)?);
    let progress = progress::CliProgress::new(args.progress, args.json);
    let outcome = engine
        .run(
            &RunInput {
                train: args.file.clone(),
                test: args.test.clone(),
            },
            &config,
            &progress,
        )
        .map_err(|e| {
            progress.abandon();
            anyhow::Error::new(e)
        })?;
    progress.finish();

    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.mlbundle",
            microlearn_pipeline::default_deployment_name(&args.file, &args.target)
        ))
    });
    microlearn_store::write_atomic(&out, &outcome.best_bundle)
        .with_context(|| format!("writing the model bundle to {}", out.display()))?;
    if let Some(p) = &args.predictions {
        outcome.leaderboard[outcome.best]
            .test_predictions
            .write(p)
            .map_err(anyhow::Error::msg)?;
    }
    let report = render::RunReport::of_outcome(&outcome);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::outcome_json(&report, &out))?
        );
    } else {
        render::print_outcome(&report, &out, &home.display().to_string());
    }
    Ok(())
}

/// The error of `command` when the data directory is locked and no live server holds it.
fn locked_elsewhere(
    home: &Path,
    command: &str,
    stale: Option<(runtime_file::RuntimeFile, String)>,
) -> anyhow::Error {
    let mut message = format!(
        "cannot {command}: the data directory {} is locked by another microlearn process (a \
         `microlearn run`, or a `microlearn serve` still starting); wait for it to finish, or \
         use another --home",
        home.display()
    );
    if let Some((file, why)) = stale {
        message.push_str(&format!(
            ". {} names a server (pid {}, {}) that is not the one holding it ({why}); it was \
             left by a server that did not stop cleanly",
            runtime_file::path(home).display(),
            file.pid,
            file.url
        ));
    }
    anyhow::anyhow!(message)
}

fn parse_refs(specs: &[String]) -> Result<Vec<PluginRef>> {
    specs
        .iter()
        .map(|s| PluginRef::parse(s).map_err(anyhow::Error::msg))
        .collect()
}

fn predict(home: &Path, extra: &[PathBuf], args: PredictArgs) -> Result<()> {
    let plugins = PluginHost::new(plugin_cmd::runtime_config(home)?)
        .context("starting the plugin runtime")?;
    // Bundles carry their own preparer components, so installed plugins are not needed; the
    // extra directories are accepted for symmetry with `run`.
    let _ = extra;
    let model = LoadedModel::load(&args.model, &plugins)?;
    let dataset = microlearn_data::read_dataset(&args.file)?;
    let rows = dataset.table.num_rows();
    let scored = model.predict_dataset(dataset)?;
    scored.write(&args.output).map_err(anyhow::Error::msg)?;
    eprintln!(
        "wrote {rows} predictions of {} ({}, target '{}') to {}",
        model.header.model_id,
        model.header.kind,
        model.header.target,
        args.output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn error_chain_does_not_repeat_a_cause_the_message_already_quotes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(io)
            .context("x.csv: no such file")
            .context("reading the dataset");
        assert_eq!(error_chain(&e), "reading the dataset: x.csv: no such file");
    }
}

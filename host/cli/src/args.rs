//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use microlearn_core::Task;
use std::path::PathBuf;

/// MicroLearn: AutoML with sandboxed, pluggable stages.
#[derive(Parser, Debug)]
#[command(name = "microlearn", version, about, propagate_version = true)]
pub struct Cli {
    /// Data directory (metadata, artefacts, drop-in plugins, compiled-plugin cache).
    #[arg(
        long,
        global = true,
        env = "MICROLEARN_HOME",
        default_value = "microlearn-data"
    )]
    pub home: PathBuf,
    /// Extra plugin directories (each holds `<id>/plugin.toml` folders); later ones win.
    #[arg(
        long = "plugins",
        global = true,
        env = "MICROLEARN_PLUGIN_PATH",
        value_delimiter = ':'
    )]
    pub plugins: Vec<PathBuf>,
    /// Configuration file (default: microlearn.toml in the data directory, then in the
    /// current directory). Flags and MICROLEARN_* variables override it.
    #[arg(long, global = true, env = "MICROLEARN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where precompiled plugin components are cached [default: cache/ in the data directory].
    /// Several data directories can share one (the Python package gives every fit its own
    /// data directory but compiles each component once).
    #[arg(long, global = true, env = "MICROLEARN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Cluster metadata: postgres://USER@HOST:PORT/DATABASE [default: sled in the data
    /// directory]. See README "Running a cluster".
    #[arg(long, global = true, env = "MICROLEARN_META", hide_env_values = true)]
    pub meta: Option<String>,
    /// Cluster artefacts: file:///SHARED/DIR or s3://BUCKET?endpoint=URL&region=R
    /// [default: files in the data directory].
    #[arg(long, global = true, env = "MICROLEARN_BLOBS", hide_env_values = true)]
    pub blobs: Option<String>,
    /// Cluster work queue: nats://HOST:PORT[?stream=NAME]. With one, `serve` only serves
    /// the API and `worker` processes run the pipelines.
    #[arg(long, global = true, env = "MICROLEARN_QUEUE")]
    pub queue: Option<String>,
    /// More logging (-v info, -vv debug, -vvv trace); `MICROLEARN_LOG` takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a pipeline on a table and write the best model's bundle.
    Run(Box<RunArgs>),
    /// Score a table with a model bundle (batch prediction).
    Predict(PredictArgs),
    /// Run the REST API (pipelines in the background, model serving, tenants and API keys).
    Serve(crate::serve_cmd::ServeArgs),
    /// Run pipelines from a cluster's work queue (needs MICROLEARN_META, MICROLEARN_BLOBS and
    /// MICROLEARN_QUEUE); see README "Running a cluster".
    Worker(crate::serve_cmd::WorkerArgs),
    /// Plugins: list, info, install, remove, new (scaffold a crate), build.
    #[command(name = "plugin", alias = "plugins")]
    Plugin {
        #[command(subcommand)]
        command: crate::plugin_cmd::PluginCommand,
    },
}

/// `microlearn run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Training table: .csv, .tsv, .json (array of objects), .ndjson/.jsonl or .parquet.
    pub file: PathBuf,
    /// Column to predict.
    #[arg(long, short = 't')]
    pub target: String,
    /// binary, multiclass or regression (default: inferred from the target).
    #[arg(long)]
    pub task: Option<Task>,
    /// Wall-clock budget for the whole pipeline, seconds [default: 60].
    #[arg(long)]
    pub budget: Option<f64>,
    /// Seed for splits, search and training [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many trials (with --seed, makes the search reproducible).
    #[arg(long)]
    pub max_trials: Option<usize>,
    /// Cross-validation folds for scoring trials (1 = one holdout) [default: chosen by data
    /// size and budget: 5 folds when affordable, else a holdout].
    #[arg(long)]
    pub folds: Option<usize>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// A separate held-out table to evaluate on, instead of splitting FILE.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Share of FILE held out for evaluation when --test is not given [default: 0.25].
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// Objective metric (default: roc_auc, log_loss or rmse by task).
    #[arg(long)]
    pub metric: Option<String>,
    /// Where to write the best model's bundle (default: <file>-<target>.mlbundle).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Also write the best model's held-out predictions (.csv or .json).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Preparer chain, in order: ID or ID:{json config} (default: standard).
    #[arg(long)]
    pub preparer: Vec<String>,
    /// Selector: ID or ID:{json} (default: portfolio).
    #[arg(long)]
    pub selector: Option<String>,
    /// Evaluators (default: every installed evaluator for the task).
    #[arg(long)]
    pub evaluator: Vec<String>,
    /// Deployer: ID or ID:{json} (default: best-model).
    #[arg(long)]
    pub deployer: Option<String>,
    /// Deployment name (default: <file>-<target>).
    #[arg(long)]
    pub deployment: Option<String>,
    /// Print the outcome as JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Progress on stderr: `auto` (spinners and a search bar on a terminal, plain lines
    /// otherwise; nothing with --json), `plain` (lines), `json` (one JSON object per line, for
    /// programs such as the Python package), or `none`.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// `run --progress`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    Auto,
    Plain,
    Json,
    None,
}

/// `microlearn predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model bundle written by `microlearn run`.
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Table to score (the target column may be present; it is ignored).
    pub file: PathBuf,
    /// Output: .csv/.tsv or .json/.ndjson, one row per input row, in order.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

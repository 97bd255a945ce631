//! `microlearn serve`: the REST API over the same data directory as `microlearn run`.

use anyhow::{Context, Result};
use clap::Args;
use microlearn_server::{App, Role, ServerConfig};
use microlearn_store::Quotas;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `microlearn serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "MICROLEARN_LISTEN")]
    pub listen: Option<String>,
    /// Pipelines run at the same time (more wait in a queue) [default: 1].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Workers one tenant may occupy at once [default: half of --workers, rounded up].
    #[arg(long)]
    pub workers_per_tenant: Option<usize>,
    /// Largest upload (dataset, file to score, plugin), MiB [default: 1024].
    #[arg(long)]
    pub max_upload_mb: Option<u64>,
    /// Deadline of ordinary requests, seconds (uploads and event streams are exempt) [default: 30].
    #[arg(long)]
    pub request_timeout: Option<f64>,
    /// Admin API key to accept (otherwise one is generated on the first start and printed once).
    #[arg(long, env = "MICROLEARN_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
}

/// `microlearn worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Pipelines this worker runs at the same time (each takes one slot) [default: 1].
    #[arg(long, default_value_t = 1)]
    pub slots: usize,
}

/// `[serve]` in microlearn.toml; flags and variables win.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeDefaults {
    pub listen: Option<String>,
    pub workers: Option<usize>,
    pub workers_per_tenant: Option<usize>,
    pub max_upload_mb: Option<u64>,
    pub request_timeout: Option<f64>,
    pub admin_key: Option<String>,
    /// Quotas of new tenants (and the default tenant on its creation).
    #[serde(default)]
    pub quotas: Quotas,
    /// Bounds of scoring and uploads (`[serve.limits]`).
    #[serde(default)]
    pub limits: LimitsFile,
}

/// `[serve.limits]`: the serving pools and deadlines (`microlearn_server::ServingLimits`);
/// unset fields keep the defaults, which follow the machine's core count.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Predict and batch calls running at once, all tenants together.
    pub scoring_threads: Option<usize>,
    /// Of those, at most this many for one tenant.
    pub scoring_per_tenant: Option<usize>,
    /// Of those, at most this many for one deployment.
    pub scoring_per_deployment: Option<usize>,
    /// Deadline of a predict call, seconds (504 past it).
    pub predict_timeout: Option<f64>,
    /// Deadline of a batch call once its file has arrived, seconds.
    pub batch_timeout: Option<f64>,
    /// Uploads processed at once, all tenants together.
    pub uploads: Option<usize>,
    /// Of those, at most this many for one tenant.
    pub uploads_per_tenant: Option<usize>,
    /// Deadline of processing an upload once it has arrived, seconds.
    pub upload_timeout: Option<f64>,
    /// An upload body that sends nothing for this long is refused (408), seconds.
    pub upload_idle_timeout: Option<f64>,
    /// Rows scored per chunk in batch calls.
    pub batch_chunk_rows: Option<usize>,
}

impl LimitsFile {
    /// Apply to `limits`, refusing zeros and non-positive times with the key's name, and
    /// keeping the shares within their pools.
    fn apply(&self, limits: &mut microlearn_server::ServingLimits) -> Result<()> {
        let count = |key: &str, v: Option<usize>, into: &mut usize| -> Result<()> {
            if let Some(n) = v {
                anyhow::ensure!(n > 0, "[serve.limits] {key} must be at least 1, got {n}");
                *into = n;
            }
            Ok(())
        };
        let secs = |key: &str, v: Option<f64>, into: &mut Duration| -> Result<()> {
            if let Some(t) = v {
                anyhow::ensure!(
                    t.is_finite() && t > 0.0,
                    "[serve.limits] {key} must be a positive number of seconds, got {t}"
                );
                *into = Duration::from_secs_f64(t);
            }
            Ok(())
        };
        count("scoring_threads", self.scoring_threads, &mut limits.threads)?;
        count(
            "scoring_per_tenant",
            self.scoring_per_tenant,
            &mut limits.per_tenant,
        )?;
        count(
            "scoring_per_deployment",
            self.scoring_per_deployment,
            &mut limits.per_deployment,
        )?;
        count("uploads", self.uploads, &mut limits.uploads)?;
        count(
            "uploads_per_tenant",
            self.uploads_per_tenant,
            &mut limits.uploads_per_tenant,
        )?;
        count(
            "batch_chunk_rows",
            self.batch_chunk_rows,
            &mut limits.batch_chunk_rows,
        )?;
        secs(
            "predict_timeout",
            self.predict_timeout,
            &mut limits.predict_timeout,
        )?;
        secs(
            "batch_timeout",
            self.batch_timeout,
            &mut limits.batch_timeout,
        )?;
        secs(
            "upload_timeout",
            self.upload_timeout,
            &mut limits.upload_timeout,
        )?;
        secs(
            "upload_idle_timeout",
            self.upload_idle_timeout,
            &mut limits.upload_idle_timeout,
        )?;
        // A share larger than its pool means nothing; a smaller pool set alone pulls it down.
        limits.per_tenant = limits.per_tenant.min(limits.threads);
        limits.per_deployment = limits.per_deployment.min(limits.per_tenant);
        limits.uploads_per_tenant = limits.uploads_per_tenant.min(limits.uploads);
        Ok(())
    }
}

pub fn serve(
    home: &Path,
    cluster: crate::cluster::ClusterSettings,
    plugin_dirs: Vec<PathBuf>,
    args: ServeArgs,
    file: &ServeDefaults,
) -> Result<()> {
    let mut config = ServerConfig::new(home);
    if cluster.queue.is_some() {
        // With a work queue this node serves the API; `microlearn worker`s run pipelines.
        config.role = Role::Api;
    }
    config.store = cluster.store;
    config.queue = cluster.queue;
    config.plugin_dirs = plugin_dirs;
    // The same `[plugins]` limits as `run`, `predict` and `plugin install`.
    config.runtime = crate::plugin_cmd::runtime_config(home)?;
    config.workers = args.workers.or(file.workers).unwrap_or(1).max(1);
    config.workers_per_tenant = args
        .workers_per_tenant
        .or(file.workers_per_tenant)
        .map(|n| n.clamp(1, config.workers));
    if let Some(mb) = args.max_upload_mb.or(file.max_upload_mb) {
        config.max_upload_bytes = mb.saturating_mul(1 << 20);
    }
    if let Some(t) = args.request_timeout.or(file.request_timeout) {
        anyhow::ensure!(
            t.is_finite() && t > 0.0,
            "request timeout must be a positive number of seconds, got {t}"
        );
        config.request_timeout = Duration::from_secs_f64(t);
    }
    config.admin_key = args.admin_key.clone().or_else(|| file.admin_key.clone());
    if let Some(k) = &config.admin_key {
        anyhow::ensure!(
            k.len() >= 16,
            "the admin key must be at least 16 characters"
        );
    }
    config.default_quotas = file.quotas.clone();
    file.limits.apply(&mut config.serving)?;
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());

    let started = match App::start(config) {
        Ok(s) => s,
        Err(e) => {
            // A second server on the same directory: say which one is there.
            if let crate::remote::Holder::Server(other) = crate::remote::holder(home) {
                anyhow::bail!(
                    "microlearn serve already runs on the data directory {} (pid {}, {}); stop \
                     it first, or use another --home",
                    home.display(),
                    other.file.pid,
                    other.file.url
                );
            }
            return Err(e);
        }
    };
    let local_token = started.local_token.clone();
    for w in &started.plugin_warnings {
        eprintln!("warning: {w}");
    }
    if let Some(key) = &started.new_admin_key {
        println!("admin API key (shown once, keep it): {key}");
    }
    if !started.resumed.is_empty() {
        eprintln!(
            "resuming {} unfinished pipelines: {}",
            started.resumed.len(),
            started.resumed.join(", ")
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        // `microlearn run` on this data directory finds the server here (see runtime_file);
        // written once the port is bound, removed on the way out.
        let _runtime_file = crate::runtime_file::Guard::write(
            home,
            &crate::runtime_file::RuntimeFile {
                url: format!("http://{}", reachable(addr)),
                pid: std::process::id(),
                token: local_token,
            },
        )?;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        microlearn_server::serve(started.app, listener, shutdown_signal())
            .await
            .context("serving")?;
        eprintln!("stopped; unfinished pipelines resume on the next start");
        Ok(())
    });
    // Dropping a runtime waits for every blocking task, and a worker left inside a long
    // plugin call (see `microlearn_server::serve`) would hold the exit for as long as it runs.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// `microlearn worker`: run pipelines from the cluster's work queue until Ctrl-C or SIGTERM;
/// then stop between trials, hand unfinished pipelines back to the queue, and exit.
pub fn worker(
    home: &Path,
    cluster: crate::cluster::ClusterSettings,
    plugin_dirs: Vec<PathBuf>,
    args: WorkerArgs,
    file: &ServeDefaults,
) -> Result<()> {
    anyhow::ensure!(
        cluster.queue.is_some(),
        "microlearn worker needs the cluster's work queue: set MICROLEARN_QUEUE=nats://HOST:PORT \
         (and MICROLEARN_META, MICROLEARN_BLOBS); see README \"Running a cluster\""
    );
    anyhow::ensure!(args.slots >= 1, "--slots must be at least 1");
    let mut config = ServerConfig::new(home);
    config.role = Role::Worker;
    config.store = cluster.store;
    config.queue = cluster.queue;
    config.plugin_dirs = plugin_dirs;
    config.runtime = crate::plugin_cmd::runtime_config(home)?;
    config.workers = args.slots;
    config.workers_per_tenant = file.workers_per_tenant.map(|n| n.clamp(1, args.slots));
    config.admin_key = std::env::var("MICROLEARN_ADMIN_KEY")
        .ok()
        .or_else(|| file.admin_key.clone());
    config.default_quotas = file.quotas.clone();
    let started = App::start(config)?;
    for w in &started.plugin_warnings {
        eprintln!("warning: {w}");
    }
    println!("worker ready: {} slots", args.slots);
    let _ = std::io::stdout().flush();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(shutdown_signal());
    eprintln!("stopping: unfinished pipelines go back to the queue");
    let app = started.app;
    let stop = std::thread::spawn(move || app.shutdown());
    // Same bound as `serve`: a worker deep inside one plugin call is left behind.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !stop.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The address a client on this machine connects to: a server listening on every interface
/// (`0.0.0.0`, `::`) is reached on loopback.
fn reachable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `microlearn run` with a cluster's work queue configured: start an API node inside this
/// process (on loopback, for this process only: it mints no admin key and serves no
/// deployments), submit the run through it like a run beside `microlearn serve`, and follow
/// it to the end while the cluster's workers do the work.
pub fn submit_to_cluster(
    home: &Path,
    cluster: &crate::cluster::ClusterSettings,
    plugin_dirs: Vec<PathBuf>,
    args: &crate::args::RunArgs,
    run_config: &microlearn_pipeline::PipelineConfig,
) -> Result<()> {
    let queue = cluster.queue.clone().unwrap_or_default();
    let mut config = ServerConfig::new(home);
    config.role = Role::Api;
    config.submit_only = true;
    config.store = cluster.store.clone();
    config.queue = Some(queue.clone());
    config.plugin_dirs = plugin_dirs;
    config.runtime = crate::plugin_cmd::runtime_config(home)?;
    let started = App::start(config).context("joining the cluster")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .context("listening on loopback")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = started.app.clone();
    runtime.spawn(async move {
        let _ = microlearn_server::serve(app, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    let server = crate::remote::Server {
        client: crate::remote::Client::new(&url, &started.local_token),
        file: crate::runtime_file::RuntimeFile {
            url,
            pid: std::process::id(),
            token: started.local_token.clone(),
        },
    };
    // Never a password in a message: the queue's address only.
    let shown = match queue.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("://").next().unwrap_or("nats");
            format!("{scheme}://{host}")
        }
        None => queue,
    };
    let via = crate::remote_run::Via::Cluster {
        description: format!("work queue {shown}"),
    };
    let result = crate::remote_run::run(&via, &server, args, run_config);
    let _ = stop.send(());
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_limits_from_the_file_apply_and_bad_ones_name_their_key() {
        let file: ServeDefaults = toml::from_str(
            "[limits]\nscoring_threads = 3\npredict_timeout = 0.5\nbatch_chunk_rows = 1000\n",
        )
        .unwrap();
        let mut limits = microlearn_server::ServingLimits::default();
        file.limits.apply(&mut limits).unwrap();
        assert_eq!(limits.threads, 3);
        assert!(limits.per_tenant <= 3 && limits.per_deployment <= limits.per_tenant);
        assert_eq!(limits.predict_timeout, Duration::from_millis(500));
        assert_eq!(limits.batch_chunk_rows, 1000);

        let zero: ServeDefaults = toml::from_str("[limits]\nuploads = 0\n").unwrap();
        let err = zero.limits.apply(&mut limits).unwrap_err().to_string();
        assert!(err.contains("[serve.limits] uploads"), "{err}");
        let negative: ServeDefaults = toml::from_str("[limits]\nbatch_timeout = -1\n").unwrap();
        let err = negative.limits.apply(&mut limits).unwrap_err().to_string();
        assert!(err.contains("batch_timeout"), "{err}");
        assert!(toml::from_str::<ServeDefaults>("[limits]\nthreads = 2\n").is_err());
    }
}

//! Reaching the `microlearn serve` that holds a data directory: find it through its runtime
//! file, and call its REST API (JSON calls, uploads, downloads and the event stream).
//!
//! The server is on the same machine (its address comes from a file in the data directory),
//! so the client speaks plain HTTP on loopback: no TLS, no proxy.

use crate::runtime_file::{self, RuntimeFile};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

/// Ordinary calls end well within this (the server's own request deadline is 30 s by
/// default); uploads, downloads and the event stream have none.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A live server answers its liveness check at once; a stale address must not hold a run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Who holds a data directory whose lock this process could not take.
#[derive(Debug)]
pub enum Holder {
    /// A `microlearn serve` that answered with the token of its runtime file.
    Server(Server),
    /// Another process: a `run`, a `serve` still starting, or one whose runtime file is stale
    /// (the file's server does not answer, or answers with another token).
    Other {
        /// The runtime file found, and why it was not trusted.
        stale: Option<(RuntimeFile, String)>,
    },
}

/// A live server and a client for it.
#[derive(Debug)]
pub struct Server {
    pub file: RuntimeFile,
    pub client: Client,
}

/// Find out who holds `home`.
pub fn holder(home: &Path) -> Holder {
    let file = match runtime_file::read(home) {
        Ok(Some(f)) => f,
        Ok(None) => return Holder::Other { stale: None },
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "ignoring the runtime file");
            return Holder::Other { stale: None };
        }
    };
    let client = Client::new(&file.url, &file.token);
    // `/v1/me` answers 200 only to a known key: the token proves this is the process that
    // wrote the file, not another one that took its port since.
    match client.probe() {
        Ok(()) => Holder::Server(Server { file, client }),
        Err(e) => Holder::Other {
            stale: Some((file, format!("{e:#}"))),
        },
    }
}

/// A client of one server with one credential.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// An API call that was answered with an error status.
fn problem(method: &str, path: &str, status: u16, body: &str) -> anyhow::Error {
    // RFC 9457 problem+json: `detail` says what was wrong, `field` where.
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let detail = v["detail"]
        .as_str()
        .or_else(|| v["title"].as_str())
        .map_or_else(|| body.trim().to_string(), str::to_string);
    let field = v["field"]
        .as_str()
        .map_or_else(String::new, |f| format!(" (field {f})"));
    anyhow::anyhow!("the server answered {status} to {method} {path}: {detail}{field}")
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // Loopback: an HTTP(S)_PROXY of the environment must not catch these calls.
            .proxy(None)
            .http_status_as_error(false)
            .timeout_connect(Some(PROBE_TIMEOUT))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Whether the server answers and knows the token.
    fn probe(&self) -> Result<()> {
        let mut resp = self
            .agent
            .get(self.url("/v1/me"))
            .header("Authorization", self.bearer())
            .config()
            .timeout_global(Some(PROBE_TIMEOUT))
            .build()
            .call()
            .with_context(|| format!("{} does not answer", self.base))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(problem("GET", "/v1/me", status, &body));
        }
        Ok(())
    }

    /// Answer of a call: the JSON body of a 2xx, else an error with the problem's detail.
    fn answer(
        method: &str,
        path: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut resp = resp.with_context(|| format!("calling {method} {path}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        if !(200..300).contains(&status) {
            return Err(problem(method, path, status, &body));
        }
        serde_json::from_str(&body)
            .with_context(|| format!("the answer to {method} {path} is not JSON"))
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        let resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.bearer())
            .config()
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .call();
        Self::answer("GET", path, resp)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let resp = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .send(body.to_string());
        Self::answer("POST", path, resp)
    }

    /// Upload `file` as a dataset under its file name (which tells the server its format).
    pub fn upload_dataset(&self, file: &Path) -> Result<Value> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", file.display()))?;
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let resp = self
            .agent
            .post(self.url("/v1/datasets"))
            .query("name", &name)
            .header("Authorization", self.bearer())
            .header("Content-Type", "application/octet-stream")
            .send(f);
        Self::answer("POST", "/v1/datasets", resp)
            .with_context(|| format!("uploading {} to the server", file.display()))
    }

    /// `GET path` as bytes (a model bundle).
    pub fn download(&self, path: &str) -> Result<Vec<u8>> {
        let mut resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.bearer())
            .call()
            .with_context(|| format!("calling GET {path}"))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut body)
            .with_context(|| format!("reading the answer to GET {path}"))?;
        if status != 200 {
            return Err(problem(
                "GET",
                path,
                status,
                &String::from_utf8_lossy(&body),
            ));
        }
        Ok(body)
    }

    /// Follow the server-sent events at `path`, calling `on_event(kind, data)` for each until
    /// it returns `false` or the stream ends.
    pub fn events(&self, path: &str, mut on_event: impl FnMut(&str, &Value) -> bool) -> Result<()> {
        let resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "text/event-stream")
            .call()
            .with_context(|| format!("calling GET {path}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let mut body = String::new();
            let _ = resp.into_body().into_reader().read_to_string(&mut body);
            return Err(problem("GET", path, status, &body));
        }
        let reader = BufReader::new(resp.into_body().into_reader());
        // An event is `event:` and `data:` lines up to a blank line; `:` lines keep the
        // connection alive, `id:` is the sequence number (not needed: one stream per run).
        let (mut kind, mut data) = (String::new(), String::new());
        for line in reader.lines() {
            let line = line.with_context(|| format!("reading the event stream {path}"))?;
            if line.is_empty() {
                if !kind.is_empty() || !data.is_empty() {
                    let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                    let k = if kind.is_empty() { "message" } else { &kind };
                    if !on_event(k, &v) {
                        return Ok(());
                    }
                }
                kind.clear();
                data.clear();
            } else if let Some(k) = line.strip_prefix("event:") {
                kind = k.trim_start().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        bail!("the event stream {path} ended before the pipeline did")
    }
}

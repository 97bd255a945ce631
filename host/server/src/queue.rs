//! The cluster's work queue on NATS JetStream (`MICROLEARN_QUEUE=nats://HOST:PORT`): API nodes
//! publish each accepted pipeline to a work-queue stream, and `microlearn worker` processes
//! pull them, at most one per free slot.
//!
//! NATS only delivers; PostgreSQL is the ledger. A worker takes a pipeline's lease before it
//! runs it and keeps the message in progress (`+WPI`) while it runs; it acks when the run ends
//! and NAKs when it stops early (shutdown), so another worker gets it at once. A worker killed
//! mid-run neither acks nor renews: after `ACK_WAIT` the message goes to another worker,
//! whose claim succeeds because the dead worker's lease has expired by then (its TTL is shorter
//! than `ACK_WAIT`), and the run resumes from the stored trials, each counted once. A message
//! for a pipeline another node already runs is acked and dropped (that node finishes it; if it
//! dies, its expired lease is swept up by any worker). Duplicate publishes within two minutes
//! are dropped by `Nats-Msg-Id`; later ones are harmless for the same reason.

use crate::App;
use async_nats::jetstream::{self, consumer, message::Acker, stream};
use futures_util::StreamExt;
use microlearn_store::bridge;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a delivered message may go without an ack or progress before redelivery.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Progress signals while a pipeline runs: well inside `ACK_WAIT`.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Deliveries of one pipeline message before JetStream gives up on it (the lease sweep and the
/// start counter still stand behind it).
const MAX_DELIVER: i64 = 10;
/// How long one pull waits for messages: short, so a reconnect never leaves a stalled pull.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// A connection to the work queue.
pub(crate) struct WorkQueue {
    js: jetstream::Context,
    stream: String,
    subject: String,
    shown: String,
    /// Messages of pipelines this worker runs, by pipeline id.
    in_hand: Mutex<HashMap<String, Arc<Acker>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    tenant: String,
    pipeline_id: String,
}

pub(crate) fn err(shown: &str, what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("work queue {shown}: {what}: {e}")
}

/// A work queue URL, `nats://HOST:PORT[?stream=NAME]`, read.
pub(crate) struct QueueUrl {
    /// `nats://HOST:PORT`, for messages and for connecting.
    pub shown: String,
    /// The pipelines' stream (`ML_PIPELINES` unless named); the trials' stream is named after
    /// it, so a test giving its own name gets its own streams.
    pub stream: String,
}

impl QueueUrl {
    pub(crate) fn parse(url: &str) -> anyhow::Result<QueueUrl> {
        let parsed = url::Url::parse(url).map_err(|e| {
            anyhow::anyhow!("work queue URL {url:?}: {e} (expected nats://HOST:PORT)")
        })?;
        anyhow::ensure!(
            parsed.scheme() == "nats",
            "work queue URL {url:?}: expected nats://HOST:PORT"
        );
        let stream = parsed
            .query_pairs()
            .find(|(k, _)| k == "stream")
            .map_or_else(|| "ML_PIPELINES".to_string(), |(_, v)| v.into_owned());
        anyhow::ensure!(
            !stream.is_empty()
                && stream
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "work queue URL {url:?}: the stream name may hold letters, digits, '_' and '-' only"
        );
        Ok(QueueUrl {
            shown: format!(
                "nats://{}:{}",
                parsed.host_str().unwrap_or("127.0.0.1"),
                parsed.port().unwrap_or(4222)
            ),
            stream,
        })
    }
}

/// Connect to NATS at `addr`, retrying through restarts rather than giving up on the cluster.
pub(crate) async fn connect_client(addr: String) -> Result<async_nats::Client, String> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(addr)
        .await
        .map_err(|e| e.to_string())
}

/// A work-queue stream on `subject` and its workers' durable pull consumer `durable`, created
/// unless they exist (idempotent: every node does this on start).
pub(crate) async fn ensure_work_queue(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
    durable: &str,
    ack_wait: Duration,
    max_deliver: i64,
) -> Result<(), String> {
    let stream = js
        .get_or_create_stream(stream::Config {
            name: name.to_string(),
            subjects: vec![subject.to_string()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    stream
        .get_or_create_consumer::<consumer::pull::Config>(
            durable,
            consumer::pull::Config {
                durable_name: Some(durable.to_string()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Store `body` on `subject` under message id `id` (a duplicate within the stream's window is
/// dropped); returns once JetStream has stored it.
pub(crate) async fn publish_once(
    js: jetstream::Context,
    subject: String,
    id: String,
    body: Vec<u8>,
) -> Result<(), String> {
    let msg = jetstream::message::PublishMessage::build()
        .payload(body.into())
        .message_id(id);
    js.send_publish(subject, msg)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The durable consumer `name` of `stream`, waited for through outages (a NATS restart), or
/// `None` once `stop` says so.
pub(crate) async fn pull_consumer(
    js: &jetstream::Context,
    stream: &str,
    name: &str,
    shown: &str,
    stop: &(dyn Fn() -> bool + Send + Sync),
) -> Option<consumer::PullConsumer> {
    loop {
        let found = match js.get_stream(stream).await {
            Ok(s) => s.get_consumer(name).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match found {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(queue = %shown, stream, error = %e, "work queue unavailable, retrying");
            }
        }
        if stop() {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl WorkQueue {
    /// Connect to `url` (`nats://HOST:PORT[?stream=NAME]`) and make sure the stream and the
    /// workers' consumer exist (idempotent: every node does this on start).
    pub(crate) fn connect(url: &str) -> anyhow::Result<WorkQueue> {
        let QueueUrl {
            shown,
            stream: stream_name,
        } = QueueUrl::parse(url)?;
        let addr = shown.clone();
        let subject = format!("ml.{}.pipelines", stream_name.to_ascii_lowercase());
        let (name, subj) = (stream_name.clone(), subject.clone());
        let js = bridge::run(async move {
            let js = jetstream::new(connect_client(addr).await?);
            ensure_work_queue(&js, &name, &subj, "workers", ACK_WAIT, MAX_DELIVER).await?;
            Ok::<_, String>(js)
        })
        .map_err(|e| err(&shown, "starting", e))?
        .map_err(|e| err(&shown, "connecting", e))?;
        Ok(WorkQueue {
            js,
            stream: stream_name,
            subject,
            shown,
            in_hand: Mutex::new(HashMap::new()),
        })
    }

    /// Where the queue is, for messages.
    pub(crate) fn describe(&self) -> &str {
        &self.shown
    }

    /// Hand a pipeline to the workers; returns once JetStream has stored the message.
    pub(crate) fn publish(&self, tenant: &str, pipeline_id: &str) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&Job {
            tenant: tenant.to_string(),
            pipeline_id: pipeline_id.to_string(),
        })?;
        let id = format!("{tenant}/{pipeline_id}");
        bridge::run(publish_once(
            self.js.clone(),
            self.subject.clone(),
            id,
            body,
        ))
        .map_err(|e| err(&self.shown, "publishing", e))?
        .map_err(|e| err(&self.shown, "publishing", e))
    }

    /// The run of a pipeline this worker pulled ended: ack its message when the pipeline
    /// ended, NAK it (another worker takes it at once) when the run stopped early.
    pub(crate) fn finished(&self, pipeline_id: &str, ended: bool) {
        let acker = self
            .in_hand
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(pipeline_id);
        if let Some(acker) = acker {
            let sent = bridge::run(async move {
                if ended {
                    acker.double_ack().await
                } else {
                    acker.ack_with(jetstream::AckKind::Nak(None)).await
                }
            });
            if !matches!(sent, Ok(Ok(()))) {
                // Not fatal: an unacked message is redelivered, and the next worker finds the
                // pipeline ended (or resumes it).
                tracing::warn!(pipeline = %pipeline_id, "could not ack the pipeline's queue message");
            }
        }
    }

    /// How many pulled pipelines this worker holds.
    fn held(&self) -> usize {
        self.in_hand
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Pull pipelines while `app` runs, at most `slots` at a time, and keep every one in hand
    /// in progress. Runs on the store's I/O runtime until the app shuts down.
    pub(crate) fn consume(self: &Arc<Self>, app: App, slots: usize) -> anyhow::Result<()> {
        let progress = {
            let q = self.clone();
            let app = app.clone();
            async move {
                while !app.jobs.is_shutting_down() {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    let held: Vec<Arc<Acker>> = q
                        .in_hand
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .values()
                        .cloned()
                        .collect();
                    for a in held {
                        let _ = a.ack_with(jetstream::AckKind::Progress).await;
                    }
                }
            }
        };
        bridge::spawn(progress).map_err(|e| err(&self.shown, "starting", e))?;
        let q = self.clone();
        let pull = async move {
            let stop = || app.jobs.is_shutting_down();
            let Some(consumer) = pull_consumer(&q.js, &q.stream, "workers", &q.shown, &stop).await
            else {
                return;
            };
            while !app.jobs.is_shutting_down() {
                let free = slots.saturating_sub(q.held());
                if free == 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                let batch = consumer
                    .fetch()
                    .max_messages(free)
                    .expires(PULL_EXPIRES)
                    .messages()
                    .await;
                let mut batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(queue = %q.shown, error = %e, "pulling from the work queue");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                while let Some(msg) = batch.next().await {
                    let Ok(msg) = msg else { break };
                    let (msg, acker) = msg.split();
                    let acker = Arc::new(acker);
                    let Ok(job) = serde_json::from_slice::<Job>(&msg.payload) else {
                        tracing::warn!(queue = %q.shown, "dropping an unreadable queue message");
                        let _ = acker.ack_with(jetstream::AckKind::Term).await;
                        continue;
                    };
                    // Claiming talks to PostgreSQL through this same runtime: off its threads.
                    let (app2, q2, a2) = (app.clone(), q.clone(), acker.clone());
                    let taken = tokio::task::spawn_blocking(move || {
                        q2.in_hand
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(job.pipeline_id.clone(), a2);
                        let taken = crate::jobs::take_here(&app2, &job.tenant, &job.pipeline_id);
                        if !taken {
                            q2.in_hand
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .remove(&job.pipeline_id);
                        }
                        taken
                    })
                    .await
                    .unwrap_or(false);
                    if !taken {
                        // Ended already, or another node runs it (and its lease covers it).
                        let _ = acker.double_ack().await;
                    }
                }
            }
        };
        bridge::spawn(pull).map_err(|e| err(&self.shown, "starting", e))?;
        Ok(())
    }
}

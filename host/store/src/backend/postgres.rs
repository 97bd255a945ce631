//! Metadata in PostgreSQL, for a cluster: every API node and worker opens the same database.
//!
//! Two tables mirror the sled trees: `ml_records (tree, key, value json)` and
//! `ml_counters (tree, key, n)`, keyed by `(tree, key)` with keys in the "C" collation so range
//! and prefix scans order byte-wise, exactly as sled does. Values are stored as `json` (text,
//! kept verbatim) rather than `jsonb`, which rejects `\u0000` — a string a hostile plugin can
//! put in an error message — and reorders keys for nothing; `value::jsonb` still works in SQL.
//!
//! Migrations run in one transaction holding a fixed advisory lock, so any number of nodes can
//! start at once: the first applies them, the rest wait and find nothing to do.

use super::{Backend, Entry};
use crate::{SCHEMA_VERSION, StoreError, bridge};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Connections per process. Every node holds its own pool, and PostgreSQL's default
/// `max_connections` is 100: a small cap keeps a dozen nodes inside it (MLflow users run out).
const POOL_MAX: u32 = 8;

/// How long one operation keeps retrying while the database is unreachable (a restart, a
/// failover) before it reports the failure.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// The advisory lock key migrations take (any fixed number; this one spells "mlmi").
const MIGRATION_LOCK: i64 = 0x6d6c_6d69;

/// Each schema version's statements, in order. Version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[(&str, &str)] = &[(
    "records, counters and the append sequence",
    r#"
    CREATE TABLE ml_records (
        tree  text NOT NULL,
        key   text COLLATE "C" NOT NULL,
        value json NOT NULL,
        PRIMARY KEY (tree, key)
    );
    CREATE TABLE ml_counters (
        tree text NOT NULL,
        key  text COLLATE "C" NOT NULL,
        n    bigint NOT NULL,
        PRIMARY KEY (tree, key)
    );
    CREATE SEQUENCE ml_seq;
    "#,
)];

pub(crate) struct PgBackend {
    pool: PgPool,
    /// Connections that hold cross-node locks, apart from `pool`: a lock holder's own queries
    /// then never wait for a connection another lock holder has.
    locks: PgPool,
    shown: String,
}

/// Locks held at once per process (each holds a connection while held).
const LOCK_POOL_MAX: u32 = 4;

/// A session advisory lock, held on its own connection until dropped.
struct PgLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    key: String,
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let key = std::mem::take(&mut self.key);
        let _ = bridge::run(async move {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // The session must not go back to the pool still holding the lock: closing it
                // releases every lock it holds.
                drop(conn.detach());
            }
        });
    }
}

fn db_error(shown: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        what: format!("metadata database {shown}"),
        message: e.to_string(),
    }
}

/// Errors worth retrying: the connection, not the statement, failed.
fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up),
        // 08xxx connection exceptions.
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

impl PgBackend {
    /// Connect to `url` (`postgres://user@host:port/db`) and bring its schema up to date.
    pub(crate) fn connect(url: &str) -> Result<PgBackend, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend {
            what: "metadata URL".into(),
            message: format!("{e} (expected postgres://USER@HOST:PORT/DATABASE)"),
        })?;
        let shown = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        let options = options.disable_statement_logging();
        let pool = bridge::run(async move {
            PgPoolOptions::new()
                .max_connections(POOL_MAX)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
        })?
        .map_err(|e| db_error(&shown, format!("cannot connect: {e}")))?;
        let lock_options = PgConnectOptions::from_str(url)
            .map_err(|e| db_error(&shown, e))?
            .disable_statement_logging();
        let locks = bridge::run(async move {
            PgPoolOptions::new()
                .max_connections(LOCK_POOL_MAX)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(lock_options)
        })?;
        let backend = PgBackend { pool, locks, shown };
        backend.migrate()?;
        Ok(backend)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let applied = bridge::run(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS ml_schema_migrations (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .execute(&mut *tx)
            .await?;
            let found: Option<i32> =
                sqlx::query_scalar("SELECT max(version) FROM ml_schema_migrations")
                    .fetch_one(&mut *tx)
                    .await?;
            let found = found.unwrap_or(0);
            if found > SCHEMA_VERSION as i32 {
                // Leave the newer schema alone; the caller reports it.
                return Ok::<_, sqlx::Error>(Err(found as u32));
            }
            for (i, (description, sql)) in MIGRATIONS.iter().enumerate() {
                let version = i as i32 + 1;
                if version <= found {
                    continue;
                }
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO ml_schema_migrations (version, description) VALUES ($1, $2)",
                )
                .bind(version)
                .bind(*description)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Ok(()))
        })?
        .map_err(|e| db_error(&self.shown, format!("migration failed: {e}")))?;
        applied.map_err(|found| StoreError::NewerSchema {
            path: self.shown.clone().into(),
            found,
            supported: SCHEMA_VERSION,
        })
    }

    /// Run one operation, retrying while the database is unreachable.
    fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(PgPool) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>> + Send,
    {
        let pool = self.pool.clone();
        bridge::run(async move {
            let started = Instant::now();
            let mut wait = Duration::from_millis(50);
            loop {
                match op(pool.clone()).await {
                    Err(e) if transient(&e) && started.elapsed() < RETRY_FOR => {
                        tracing::warn!("metadata database unreachable, retrying: {e}");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                    other => return other,
                }
            }
        })?
        .map_err(|e| db_error(&self.shown, e))
    }
}

fn entries(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Entry>, sqlx::Error> {
    rows.into_iter()
        .map(|r| {
            let key: String = r.try_get(0)?;
            let value: String = r.try_get(1)?;
            Ok((key, value.into_bytes()))
        })
        .collect()
}

fn text(tree: &str, value: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(value).map_err(|e| StoreError::Encode {
        what: tree.into(),
        message: format!("a record is not UTF-8 JSON: {e}"),
    })
}

impl Backend for PgBackend {
    fn get(&self, tree: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        self.call(move |pool| {
            let key = key.clone();
            async move {
                let v: Option<String> = sqlx::query_scalar(
                    "SELECT value::text FROM ml_records WHERE tree = $1 AND key = $2",
                )
                .bind(tree)
                .bind(key)
                .fetch_optional(&pool)
                .await?;
                Ok(v.map(String::into_bytes))
            }
        })
    }

    fn put(&self, tree: &'static str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let key = key.to_string();
        let value = text(tree, value)?;
        self.call(move |pool| {
            let (key, value) = (key.clone(), value.clone());
            async move {
                sqlx::query(
                    "INSERT INTO ml_records (tree, key, value) VALUES ($1, $2, $3::json)
                     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(tree)
                .bind(key)
                .bind(value)
                .execute(&pool)
                .await?;
                Ok(())
            }
        })
    }

    fn insert_new(
        &self,
        tree: &'static str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        let value = text(tree, value)?;
        self.call(move |pool| {
            let (key, value) = (key.clone(), value.clone());
            async move {
                // Insert-or-nothing, then read what stands; a row removed in between sends
                // it round again.
                loop {
                    let inserted = sqlx::query(
                        "INSERT INTO ml_records (tree, key, value) VALUES ($1, $2, $3::json)
                         ON CONFLICT (tree, key) DO NOTHING",
                    )
                    .bind(tree)
                    .bind(&key)
                    .bind(&value)
                    .execute(&pool)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        return Ok(None);
                    }
                    let standing: Option<String> = sqlx::query_scalar(
                        "SELECT value::text FROM ml_records WHERE tree = $1 AND key = $2",
                    )
                    .bind(tree)
                    .bind(&key)
                    .fetch_optional(&pool)
                    .await?;
                    // Gone between the two statements (removed): try the insert again.
                    if let Some(v) = standing {
                        return Ok(Some(v.into_bytes()));
                    }
                }
            }
        })
    }

    fn remove(&self, tree: &'static str, key: &str) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.call(move |pool| {
            let key = key.clone();
            async move {
                let r = sqlx::query("DELETE FROM ml_records WHERE tree = $1 AND key = $2")
                    .bind(tree)
                    .bind(key)
                    .execute(&pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }
        })
    }

    fn scan_prefix(&self, tree: &'static str, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        match super::prefix_end(prefix) {
            Some(end) => self.range(tree, prefix, &end),
            None => self.call(move |pool| async move {
                let rows = sqlx::query(
                    "SELECT key, value::text FROM ml_records WHERE tree = $1 ORDER BY key",
                )
                .bind(tree)
                .fetch_all(&pool)
                .await?;
                entries(rows)
            }),
        }
    }

    fn range(&self, tree: &'static str, start: &str, end: &str) -> Result<Vec<Entry>, StoreError> {
        let (start, end) = (start.to_string(), end.to_string());
        self.call(move |pool| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                let rows = sqlx::query(
                    "SELECT key, value::text FROM ml_records
                     WHERE tree = $1 AND key >= $2 AND key < $3 ORDER BY key",
                )
                .bind(tree)
                .bind(start)
                .bind(end)
                .fetch_all(&pool)
                .await?;
                entries(rows)
            }
        })
    }

    fn count_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError> {
        let (start, end) = (prefix.to_string(), super::prefix_end(prefix));
        self.call(move |pool| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM ml_records
                     WHERE tree = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3)",
                )
                .bind(tree)
                .bind(start)
                .bind(end)
                .fetch_one(&pool)
                .await?;
                Ok(n as usize)
            }
        })
    }

    fn remove_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError> {
        let (start, end) = (prefix.to_string(), super::prefix_end(prefix));
        self.call(move |pool| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                let records = sqlx::query(
                    "DELETE FROM ml_records
                     WHERE tree = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3)",
                )
                .bind(tree)
                .bind(&start)
                .bind(&end)
                .execute(&pool)
                .await?;
                // Counters live in their own table under the same tree names.
                let counters = sqlx::query(
                    "DELETE FROM ml_counters
                     WHERE tree = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3)",
                )
                .bind(tree)
                .bind(&start)
                .bind(&end)
                .execute(&pool)
                .await?;
                Ok((records.rows_affected() + counters.rows_affected()) as usize)
            }
        })
    }

    fn append(
        &self,
        tree: &'static str,
        prefix: &str,
        record: serde_json::Value,
    ) -> Result<u64, StoreError> {
        let prefix = prefix.to_string();
        self.call(move |pool| {
            let (prefix, mut record) = (prefix.clone(), record.clone());
            async move {
                // Under a per-prefix lock, numbers are taken and committed in the same order, so
                // a reader never sees seq N+1 before seq N of the same pipeline: that is what
                // keeps a live event stream on any node free of gaps. (A bare sequence would
                // not: two appenders can commit out of the order they drew their numbers.)
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(&prefix)
                    .execute(&mut *tx)
                    .await?;
                let seq: i64 = sqlx::query_scalar("SELECT nextval('ml_seq')")
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(o) = record.as_object_mut() {
                    o.insert("seq".into(), seq.into());
                }
                sqlx::query("INSERT INTO ml_records (tree, key, value) VALUES ($1, $2, $3::json)")
                    .bind(tree)
                    .bind(format!("{prefix}{seq:020}"))
                    .bind(record.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(seq as u64)
            }
        })
    }

    fn increment(&self, tree: &'static str, key: &str) -> Result<u32, StoreError> {
        let key = key.to_string();
        self.call(move |pool| {
            let key = key.clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "INSERT INTO ml_counters (tree, key, n) VALUES ($1, $2, 1)
                     ON CONFLICT (tree, key) DO UPDATE SET n = ml_counters.n + 1
                     RETURNING n",
                )
                .bind(tree)
                .bind(key)
                .fetch_one(&pool)
                .await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }
        })
    }

    fn clear_counter(&self, tree: &'static str, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.call(move |pool| {
            let key = key.clone();
            async move {
                sqlx::query("DELETE FROM ml_counters WHERE tree = $1 AND key = $2")
                    .bind(tree)
                    .bind(key)
                    .execute(&pool)
                    .await?;
                Ok(())
            }
        })
    }

    fn claim(
        &self,
        tree: &'static str,
        key: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.call(move |pool| {
            let (key, owner) = (key.clone(), owner.clone());
            async move {
                // The database's clock judges expiry, so nodes with skewed clocks agree. The
                // conditional upsert locks the row: two nodes claiming at once cannot both win.
                let won: Option<String> = sqlx::query_scalar(
                    r#"
                    WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
                    INSERT INTO ml_records (tree, key, value)
                    SELECT $1, $2, json_build_object('node', $3::text, 'expires_at_ms', now.ms + $4)
                    FROM now
                    ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value
                    WHERE ml_records.value->>'node' = $3
                       OR (ml_records.value->>'expires_at_ms')::bigint
                          < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                    RETURNING key
                    "#,
                )
                .bind(tree)
                .bind(key)
                .bind(owner)
                .bind(ttl_ms)
                .fetch_optional(&pool)
                .await?;
                Ok(won.is_some())
            }
        })
    }

    fn release(&self, tree: &'static str, key: &str, owner: &str) -> Result<(), StoreError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.call(move |pool| {
            let (key, owner) = (key.clone(), owner.clone());
            async move {
                sqlx::query(
                    "DELETE FROM ml_records WHERE tree = $1 AND key = $2 AND value->>'node' = $3",
                )
                .bind(tree)
                .bind(key)
                .bind(owner)
                .execute(&pool)
                .await?;
                Ok(())
            }
        })
    }

    fn lock(&self, key: &str) -> Result<Option<Box<dyn Send>>, StoreError> {
        let (pool, k) = (self.locks.clone(), key.to_string());
        let conn = bridge::run(async move {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind(&k)
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(conn)
        })?
        .map_err(|e| db_error(&self.shown, format!("taking lock {key:?}: {e}")))?;
        Ok(Some(Box::new(PgLock {
            conn: Some(conn),
            key: key.to_string(),
        })))
    }

    fn shared(&self) -> bool {
        true
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every statement commits before it returns.
        Ok(())
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

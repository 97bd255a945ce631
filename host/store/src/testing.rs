//! Throwaway PostgreSQL databases for tests of the cluster mode (this crate's, the server's and
//! the end-to-end suites). Each call creates a database with a fresh name on the server named
//! by `MICROLEARN_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`, the
//! development and CI machines' server) and drops it when the handle goes. A server that is not
//! reachable is a failure with the way to fix it, never a skipped test.

use crate::bridge;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("MICROLEARN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists until this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Create one. Panics (this is for tests) with what to do when PostgreSQL is unreachable.
    pub fn create() -> TestDatabase {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "ml_test_{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        // The name is ours (letters, digits and '_'), not input: safe to put in SQL.
        let sql = format!("CREATE DATABASE {name}");
        let done = bridge::run({
            let admin = admin.clone();
            async move {
                let mut c = sqlx::PgConnection::connect(&admin).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await?;
                c.close().await
            }
        });
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!(
                "cannot create a test database on {admin}: {e}. The cluster tests need \
                 PostgreSQL: run scripts/infra.sh, or point MICROLEARN_TEST_POSTGRES at a server"
            ),
            Err(e) => panic!("{e}"),
        }
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Its URL, for `MICROLEARN_META`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = admin_url();
        let _ = bridge::run(async move {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await;
                let _ = c.close().await;
            }
        });
    }
}

use super::*;
use microlearn_core::Stage;
use sha2::Digest;
use test_env::Env;

/// A test body run twice: on the embedded store (sled) and on PostgreSQL, each with its own
/// fresh data directory and, for PostgreSQL, its own database.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sled() {
                let body: fn(&Env) = $body;
                body(&Env::sled());
            }
            #[test]
            fn postgres() {
                let body: fn(&Env) = $body;
                body(&Env::postgres());
            }
        }
    };
}

fn pipeline(id: &str) -> PipelineRecord {
    PipelineRecord::created(
        id.into(),
        "ds_1".into(),
        "y".into(),
        serde_json::json!({}),
        1,
    )
}

on_both!(records_survive_reopening_the_data_directory, |env: &Env| {
    {
        let store = env.open();
        let t = store.tenant(DEFAULT_TENANT);
        let mut p = pipeline("pl_a");
        p.start_stage(Stage::Ingest, 5);
        p.finish_stage(Stage::Ingest, 9);
        t.put_pipeline(&p).unwrap();
    }
    let store = env.open();
    let p = store
        .tenant(DEFAULT_TENANT)
        .pipeline("pl_a")
        .unwrap()
        .unwrap();
    assert_eq!(p.stages[0].finished_at_ms, Some(9));
});

/// sled's own error for a held lock is an I/O error with prose; callers need to tell it apart
/// (issue #14: `run` while `serve` holds the directory).
#[test]
fn a_data_directory_open_elsewhere_reports_locked_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let held = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Locked { home, lock }) => {
            assert_eq!(home, dir.path());
            assert!(
                lock.starts_with(dir.path().join("meta.sled")),
                "{}",
                lock.display()
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains(&dir.path().display().to_string()) && message.contains("in use"),
        "{message}"
    );
    drop(held);
    // sled's flusher thread may hold the file lock a moment after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir.path()) {
            Ok(_) => break,
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("opens once the holder has closed it: {e:?}"),
        }
    }
}

on_both!(tenants_do_not_see_each_others_records, |env: &Env| {
    let store = env.open();
    store
        .tenant("alice")
        .put_pipeline(&pipeline("pl_a"))
        .unwrap();
    assert!(store.tenant("bob").pipeline("pl_a").unwrap().is_none());
    assert!(store.tenant("bob").pipelines().unwrap().is_empty());
    // A tenant whose name is a prefix of another's must not see its records either.
    assert!(store.tenant("alic").pipelines().unwrap().is_empty());
    assert_eq!(store.tenant("alice").pipelines().unwrap().len(), 1);
});

on_both!(saving_a_trial_number_twice_replaces_it, |env: &Env| {
    let t = env.open().tenant(DEFAULT_TENANT);
    let mut trial = TrialRecord {
        pipeline_id: "pl_a".into(),
        number: 3,
        kind: "gbdt".into(),
        params: Default::default(),
        fitted_params: None,
        warm_start: false,
        status: TrialStatus::Complete,
        metric: "roc_auc".into(),
        score: Some(0.5),
        error: None,
        started_at_ms: 0,
        duration_secs: 0.1,
        fidelity: 1.0,
        fold_scores: vec![0.5],
        workers: Vec::new(),
    };
    t.put_trial(&trial).unwrap();
    trial.score = Some(0.9);
    t.put_trial(&trial).unwrap();
    trial.number = 10;
    t.put_trial(&trial).unwrap();
    let trials = t.trials("pl_a").unwrap();
    assert_eq!(trials.len(), 2);
    assert_eq!(trials[0].score, Some(0.9));
    assert_eq!(trials[1].number, 10, "trials come back in number order");
    assert!(
        t.trials("pl_").unwrap().is_empty(),
        "prefix of an id matches nothing"
    );
});

#[test]
fn refuses_a_data_directory_from_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("meta.sled")).unwrap();
        db.open_tree(META_TREE)
            .unwrap()
            .insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("newer than this build supports"));
}

on_both!(artefacts_are_content_addressed_and_verified, |env: &Env| {
    let store = env.open();
    let a = store.artefacts().put(b"hello").unwrap();
    let b = store.artefacts().put(b"hello").unwrap();
    assert_eq!(a, b);
    assert_eq!(store.artefacts().get(&a.sha256).unwrap(), b"hello");
    std::fs::write(store.artefacts().path(&a.sha256), b"tampered").unwrap();
    let err = store.artefacts().get(&a.sha256).unwrap_err();
    assert!(err.to_string().contains("content hash"), "{err}");
});

on_both!(events_keep_their_order, |env: &Env| {
    let t = env.open().tenant(DEFAULT_TENANT);
    for i in 0..12 {
        t.append_event(
            "pl_a",
            EventRecord {
                seq: 0,
                at_ms: i,
                kind: "log".into(),
                message: format!("{i}"),
                data: serde_json::Value::Null,
            },
        )
        .unwrap();
    }
    let msgs: Vec<String> = t
        .events("pl_a")
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(msgs, (0..12).map(|i| i.to_string()).collect::<Vec<_>>());
});

on_both!(tenants_keys_and_cross_tenant_scans, |env: &Env| {
    let store = env.open();
    store
        .put_tenant(&TenantRecord {
            name: "acme".into(),
            quotas: Quotas {
                storage_bytes: Some(10),
                ..Quotas::default()
            },
            created_at_ms: 1,
        })
        .unwrap();
    assert_eq!(
        store
            .tenant_record("acme")
            .unwrap()
            .unwrap()
            .quotas
            .storage_bytes,
        Some(10)
    );
    assert!(store.tenant_record("other").unwrap().is_none());
    let key = ApiKeyRecord {
        id: "key_1".into(),
        sha256: "ab".repeat(32),
        tenant: "acme".into(),
        admin: false,
        configured: false,
        label: "ci".into(),
        created_at_ms: 1,
    };
    store.put_api_key(&key).unwrap();
    assert_eq!(
        store.api_key_by_hash(&key.sha256).unwrap(),
        Some(key.clone())
    );
    assert!(store.remove_api_key(&key.sha256).unwrap());
    assert!(store.api_key_by_hash(&key.sha256).unwrap().is_none());

    // Tenant "a" must not see tenant "ab"'s records, though one name prefixes the other.
    store.tenant("a").put_pipeline(&pipeline("pl_1")).unwrap();
    store.tenant("ab").put_pipeline(&pipeline("pl_2")).unwrap();
    assert_eq!(store.tenant("a").pipelines().unwrap().len(), 1);
    let all = store.all_pipelines().unwrap();
    let mut tenants: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    tenants.sort();
    assert_eq!(tenants, ["a", "ab"]);

    // Deleting a pipeline removes its trials and events, and only its own.
    let t = store.tenant("a");
    t.append_event(
        "pl_1",
        EventRecord {
            seq: 0,
            at_ms: 1,
            kind: "log".into(),
            message: "m".into(),
            data: serde_json::Value::Null,
        },
    )
    .unwrap();
    assert!(t.delete_pipeline("pl_1").unwrap());
    assert!(t.pipeline("pl_1").unwrap().is_none());
    assert!(t.events("pl_1").unwrap().is_empty());
    assert!(!t.delete_pipeline("pl_1").unwrap());
    assert!(store.tenant("ab").pipeline("pl_2").unwrap().is_some());
});

on_both!(
    events_after_reads_only_newer_events_of_one_pipeline,
    |env: &Env| {
        let store = env.open();
        let t = store.tenant("a");
        let ev = |m: &str| EventRecord {
            seq: 0,
            at_ms: 1,
            kind: "log".into(),
            message: m.into(),
            data: serde_json::Value::Null,
        };
        let first = t.append_event("pl_1", ev("one")).unwrap();
        t.append_event("pl_10", ev("other pipeline")).unwrap();
        t.append_event("pl_1", ev("two")).unwrap();
        let all: Vec<String> = t
            .events("pl_1")
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(all, ["one", "two"]);
        let newer: Vec<String> = t
            .events_after("pl_1", first)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(newer, ["two"]);
        let mut trial = TrialRecord {
            pipeline_id: "pl_1".into(),
            number: 0,
            kind: "gbdt".into(),
            params: Default::default(),
            fitted_params: None,
            warm_start: false,
            status: TrialStatus::Complete,
            metric: "m".into(),
            score: Some(1.0),
            error: None,
            started_at_ms: 1,
            duration_secs: 0.1,
            fidelity: 1.0,
            fold_scores: vec![0.5],
            workers: Vec::new(),
        };
        t.put_trial(&trial).unwrap();
        trial.number = 1;
        t.put_trial(&trial).unwrap();
        trial.pipeline_id = "pl_10".into();
        t.put_trial(&trial).unwrap();
        assert_eq!(t.trial_count("pl_1").unwrap(), 2);
    }
);

fn dataset_record(id: &str, file: ArtefactRef) -> DatasetRecord {
    DatasetRecord {
        id: id.into(),
        name: "t.csv".into(),
        format: "csv".into(),
        file,
        rows: 1,
        schema: microlearn_core::Schema { columns: vec![] },
        profile: serde_json::Value::Null,
        created_at_ms: 1,
    }
}

on_both!(
    purging_a_tenant_removes_its_records_keys_and_unshared_files_only,
    |env: &Env| {
        let store = env.open();
        for name in ["acme", "acme-2"] {
            store
                .put_tenant(&TenantRecord {
                    name: name.into(),
                    quotas: Quotas::default(),
                    created_at_ms: 1,
                })
                .unwrap();
            store
                .put_api_key(&ApiKeyRecord {
                    id: format!("key_{name}"),
                    sha256: hex::encode(sha2::Sha256::digest(name.as_bytes())),
                    tenant: name.into(),
                    admin: false,
                    configured: false,
                    label: String::new(),
                    created_at_ms: 1,
                })
                .unwrap();
        }
        let own = store.artefacts().put(b"acme only").unwrap();
        let shared = store.artefacts().put(b"both tenants").unwrap();
        let acme = store.tenant("acme");
        // "acme-2" starts with "acme": a prefix that is not the tenant's must survive.
        let other = store.tenant("acme-2");
        acme.put_dataset(&dataset_record("ds_own", own.clone()))
            .unwrap();
        acme.put_dataset(&dataset_record("ds_shared", shared.clone()))
            .unwrap();
        other
            .put_dataset(&dataset_record("ds_shared", shared.clone()))
            .unwrap();
        acme.put_pipeline(&pipeline("pl_a")).unwrap();
        acme.append_event(
            "pl_a",
            EventRecord::now("log", "x", serde_json::Value::Null),
        )
        .unwrap();
        assert_eq!(acme.note_start("pl_a").unwrap(), 1);

        let removed = store.purge_tenant("acme").unwrap();
        assert_eq!(removed, vec![own.sha256.clone()]);
        assert!(!store.artefacts().path(&own.sha256).exists());
        assert!(store.artefacts().path(&shared.sha256).exists());
        assert!(store.tenant_record("acme").unwrap().is_none());
        assert!(store.api_keys().unwrap().iter().all(|k| k.tenant != "acme"));
        let fresh = store.tenant("acme");
        assert!(fresh.datasets().unwrap().is_empty());
        assert!(fresh.pipelines().unwrap().is_empty());
        assert!(fresh.events("pl_a").unwrap().is_empty());
        assert_eq!(fresh.storage_bytes().unwrap(), 0);
        assert_eq!(fresh.note_start("pl_a").unwrap(), 1, "start counts go too");
        assert_eq!(other.datasets().unwrap().len(), 1);
        assert!(store.tenant_record("acme-2").unwrap().is_some());
    }
);

on_both!(
    unfinished_starts_are_counted_across_reopening_until_cleared,
    |env: &Env| {
        {
            let store = env.open();
            let t = store.tenant("acme");
            assert_eq!(t.note_start("pl_a").unwrap(), 1);
            assert_eq!(t.note_start("pl_a").unwrap(), 2);
        }
        let store = env.open();
        let t = store.tenant("acme");
        assert_eq!(t.note_start("pl_a").unwrap(), 3);
        t.clear_starts("pl_a").unwrap();
        assert_eq!(t.note_start("pl_a").unwrap(), 1);
    }
);

mod test_env {
    use super::*;
    use crate::testing::TestDatabase;

    /// A fresh store location: a data directory and, for PostgreSQL, a database of its own.
    pub struct Env {
        pub dir: tempfile::TempDir,
        pub config: StoreConfig,
        _db: Option<TestDatabase>,
    }

    impl Env {
        pub fn sled() -> Env {
            Env {
                dir: tempfile::tempdir().unwrap(),
                config: StoreConfig::default(),
                _db: None,
            }
        }

        pub fn postgres() -> Env {
            let db = TestDatabase::create();
            Env {
                dir: tempfile::tempdir().unwrap(),
                config: StoreConfig {
                    meta: Some(db.url().to_string()),
                    blobs: None,
                },
                _db: Some(db),
            }
        }

        /// Open the store (again: a second open of the same place reads what the first wrote).
        pub fn open(&self) -> Store {
            Store::open_with(self.dir.path(), &self.config).unwrap()
        }
    }
}

#[test]
fn postgres_refuses_a_database_from_a_newer_schema_and_migrates_concurrently() {
    let env = Env::postgres();
    // Eight nodes starting at once on an empty database: the advisory lock lets one migrate
    // and the rest find the schema in place.
    let opened: Vec<_> = (0..8)
        .map(|_| {
            let config = env.config.clone();
            let dir = env.dir.path().join(format!("n{}", rand_suffix()));
            std::thread::spawn(move || Store::open_with(&dir, &config).map(|_| ()))
        })
        .collect();
    for h in opened {
        h.join().unwrap().unwrap();
    }
    let url = env.config.meta.clone().unwrap();
    bridge::run(async move {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ml_schema_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            n, SCHEMA_VERSION as i64,
            "each migration applied exactly once"
        );
        sqlx::query("INSERT INTO ml_schema_migrations (version, description) VALUES ($1, 'x')")
            .bind(SCHEMA_VERSION as i32 + 1)
            .execute(&mut c)
            .await
            .unwrap();
    })
    .unwrap();
    let err = Store::open_with(env.dir.path(), &env.config).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn postgres_event_streams_have_no_gap_under_concurrent_appenders() {
    let env = Env::postgres();
    // Two "nodes" append to one pipeline's log while a third polls it the way an SSE stream
    // does (events_after the last seq it saw). Every event must reach the reader once, in order.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = env.open();
            std::thread::spawn(move || {
                let t = store.tenant("acme");
                for i in 0..60 {
                    t.append_event(
                        "pl_1",
                        EventRecord::now("log", format!("{w}-{i}"), serde_json::Value::Null),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    let reader = env.open().tenant("acme");
    let mut seen: Vec<EventRecord> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < 120 && std::time::Instant::now() < deadline {
        let after = seen.last().map_or(0, |e| e.seq);
        seen.extend(reader.events_after("pl_1", after).unwrap());
    }
    for w in writers {
        w.join().unwrap();
    }
    let all = reader.events("pl_1").unwrap();
    assert_eq!(all.len(), 120);
    let seqs = |v: &[EventRecord]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(&seen),
        seqs(&all),
        "the live reader saw every event once, in order"
    );
    assert!(seqs(&all).windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn postgres_keeps_nul_characters_and_unicode_keys() {
    let env = Env::postgres();
    let store = env.open();
    let t = store.tenant("ténant");
    let mut p = pipeline("pl_é");
    p.error = Some("bad\u{0}byte from a plugin".into());
    t.put_pipeline(&p).unwrap();
    let back = t.pipeline("pl_é").unwrap().unwrap();
    assert_eq!(back.error.as_deref(), Some("bad\u{0}byte from a plugin"));
    assert_eq!(store.all_pipelines().unwrap()[0].0, "ténant");
}

#[test]
fn shared_blobs_reach_another_node_and_are_hash_checked() {
    let shared = tempfile::tempdir().unwrap();
    let url = format!("file://{}", shared.path().display());
    let config = StoreConfig {
        meta: None,
        blobs: Some(url),
    };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open_with(a_dir.path(), &config).unwrap();
    let b = Store::open_with(b_dir.path(), &config).unwrap();
    let r = a.artefacts().put(b"a model bundle").unwrap();
    assert!(
        !b.artefacts().path(&r.sha256).exists(),
        "not cached on b yet"
    );
    assert_eq!(b.artefacts().get(&r.sha256).unwrap(), b"a model bundle");
    assert!(
        b.artefacts().path(&r.sha256).exists(),
        "cached on first read"
    );

    // A file written straight into the cache (a streamed upload) reaches the others by publish.
    let sha = hex::encode(sha2::Sha256::digest(b"uploaded"));
    write_atomic(&a.artefacts().path(&sha), b"uploaded").unwrap();
    a.artefacts().publish(&sha).unwrap();
    let p = b.artefacts().cached_path(&sha).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), b"uploaded");

    // Tampered shared storage is refused on the way into a cache, with the hash named.
    let c_dir = tempfile::tempdir().unwrap();
    let c = Store::open_with(c_dir.path(), &config).unwrap();
    std::fs::write(shared.path().join("artefacts").join(&r.sha256), b"tampered").unwrap();
    let err = c.artefacts().get(&r.sha256).unwrap_err().to_string();
    assert!(err.contains("content hash"), "{err}");
    assert!(
        !c.artefacts().path(&r.sha256).exists(),
        "nothing bad cached"
    );

    // Removal reaches shared storage; a node that never cached it cannot fetch it any more.
    a.artefacts().remove(&sha).unwrap();
    let d_dir = tempfile::tempdir().unwrap();
    let d = Store::open_with(d_dir.path(), &config).unwrap();
    let err = d.artefacts().get(&sha).unwrap_err();
    assert!(matches!(err, StoreError::MissingArtefact { .. }), "{err}");
}

#[test]
fn an_unknown_metadata_or_blob_location_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (meta, blobs, needle) in [
        (Some("mysql://x/y"), None, "mysql://x/y"),
        (None, Some("ftp://host/x"), "unsupported scheme"),
        (None, Some("s3://bucket?colour=blue"), "unknown option"),
    ] {
        let config = StoreConfig {
            meta: meta.map(str::to_string),
            blobs: blobs.map(str::to_string),
        };
        let err = Store::open_with(dir.path(), &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    // An unreachable server is an error naming it, not a hang.
    let config = StoreConfig {
        meta: Some("postgres://postgres@127.0.0.1:1/none".into()),
        blobs: None,
    };
    let err = Store::open_with(dir.path(), &config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

on_both!(
    a_pipeline_lease_has_one_holder_until_it_expires_or_is_released,
    |env: &Env| {
        let store = env.open();
        let t = store.tenant("acme");
        assert!(t.claim_pipeline("pl_1", "node-a", 60_000).unwrap());
        assert!(
            !t.claim_pipeline("pl_1", "node-b", 60_000).unwrap(),
            "held by a"
        );
        assert!(
            t.claim_pipeline("pl_1", "node-a", 60_000).unwrap(),
            "the holder renews"
        );
        assert_eq!(t.pipeline_lease("pl_1").unwrap().unwrap().0, "node-a");
        t.release_pipeline("pl_1", "node-b").unwrap();
        assert!(
            !t.claim_pipeline("pl_1", "node-b", 60_000).unwrap(),
            "only the holder releases"
        );
        t.release_pipeline("pl_1", "node-a").unwrap();
        assert!(t.pipeline_lease("pl_1").unwrap().is_none());
        assert!(t.claim_pipeline("pl_1", "node-b", -1).unwrap());
        // b's lease expired at once (a node that died): a takes over.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(
            t.claim_pipeline("pl_1", "node-a", 60_000).unwrap(),
            "expired: taken over"
        );
        assert!(
            store
                .tenant("acme-2")
                .claim_pipeline("pl_1", "node-b", 60_000)
                .unwrap(),
            "leases are per tenant"
        );
    }
);

#[test]
fn postgres_leases_have_one_winner_among_racing_nodes() {
    let env = Env::postgres();
    let winners: usize = (0..8)
        .map(|i| {
            let store = env.open();
            std::thread::spawn(move || {
                store
                    .tenant("acme")
                    .claim_pipeline("pl_1", &format!("node-{i}"), 60_000)
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(winners, 1);
}

on_both!(
    a_rung_result_is_recorded_once_however_often_it_is_delivered,
    |env: &Env| {
        let store = env.open();
        let t = store.tenant("acme");
        let first = serde_json::json!({ "score": 0.9, "by": "node-a" });
        let again = serde_json::json!({ "score": 0.7, "by": "node-b" });
        assert_eq!(t.record_rung("pl_1", "000003-0-ab", &first).unwrap(), first);
        assert_eq!(
            t.record_rung("pl_1", "000003-0-ab", &again).unwrap(),
            first,
            "a redelivered job's second result does not replace the first"
        );
        assert_eq!(
            t.rung::<serde_json::Value>("pl_1", "000003-0-ab").unwrap(),
            Some(first.clone())
        );
        assert_eq!(t.note_rung_delivery("pl_1", "000003-0-ab").unwrap(), 1);
        assert_eq!(t.note_rung_delivery("pl_1", "000003-0-ab").unwrap(), 2);
        t.record_rung("pl_1", "000004-0-cd", &again).unwrap();
        store
            .tenant("acme-2")
            .record_rung("pl_1", "000003-0-ab", &again)
            .unwrap();
        let all = t.rungs::<serde_json::Value>("pl_1").unwrap();
        assert_eq!(
            all.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["000003-0-ab", "000004-0-cd"],
            "per pipeline and per tenant"
        );
        assert_eq!(t.remove_rungs("pl_1").unwrap(), 2);
        assert!(t.rungs::<serde_json::Value>("pl_1").unwrap().is_empty());
        assert_eq!(
            t.note_rung_delivery("pl_1", "000003-0-ab").unwrap(),
            1,
            "delivery counts go with the ledger"
        );
        assert_eq!(
            store
                .tenant("acme-2")
                .rungs::<serde_json::Value>("pl_1")
                .unwrap()
                .len(),
            1
        );
    }
);

#[test]
fn postgres_racing_rung_recorders_agree_on_one_result() {
    let env = Env::postgres();
    let standing: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            let store = env.open();
            std::thread::spawn(move || {
                store
                    .tenant("acme")
                    .record_rung("pl_1", "000001-0-ff", &serde_json::json!({ "by": i }))
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(standing.windows(2).all(|w| w[0] == w[1]), "{standing:?}");
}

on_both!(
    live_workers_count_their_slots_until_they_expire,
    |env: &Env| {
        let store = env.open();
        store.announce_node("node-a", 2, 60_000).unwrap();
        store.announce_node("node-b", 3, 60_000).unwrap();
        store.announce_node("node-dead", 4, -1).unwrap();
        assert_eq!(store.live_slots().unwrap(), 5);
        store.forget_node("node-b").unwrap();
        assert_eq!(store.live_slots().unwrap(), 2);
    }
);

on_both!(
    storage_promises_count_until_released_or_lapsed,
    |env: &Env| {
        let store = env.open();
        let t = store.tenant("acme");
        t.reserve_bytes("r1", 1_000, 60_000).unwrap();
        t.reserve_bytes("r2", 500, 60_000).unwrap();
        t.reserve_bytes("dead-node", 7_000, -1).unwrap();
        store
            .tenant("acme-2")
            .reserve_bytes("r1", 9, 60_000)
            .unwrap();
        assert_eq!(
            t.reserved_bytes().unwrap(),
            1_500,
            "live promises of this tenant only"
        );
        t.release_bytes("r1").unwrap();
        assert_eq!(t.reserved_bytes().unwrap(), 500);
    }
);

use super::*;
use microlearn_core::Stage;
use sha2::Digest;

fn pipeline(id: &str) -> PipelineRecord {
    PipelineRecord::created(
        id.into(),
        "ds_1".into(),
        "y".into(),
        serde_json::json!({}),
        1,
    )
}

#[test]
fn records_survive_reopening_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.tenant(DEFAULT_TENANT);
        let mut p = pipeline("pl_a");
        p.start_stage(Stage::Ingest, 5);
        p.finish_stage(Stage::Ingest, 9);
        t.put_pipeline(&p).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let p = store
        .tenant(DEFAULT_TENANT)
        .pipeline("pl_a")
        .unwrap()
        .unwrap();
    assert_eq!(p.stages[0].finished_at_ms, Some(9));
}

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
    Store::open(dir.path()).expect("opens once the holder has closed it");
}

#[test]
fn tenants_do_not_see_each_others_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .tenant("alice")
        .put_pipeline(&pipeline("pl_a"))
        .unwrap();
    assert!(store.tenant("bob").pipeline("pl_a").unwrap().is_none());
    assert!(store.tenant("bob").pipelines().unwrap().is_empty());
    // A tenant whose name is a prefix of another's must not see its records either.
    assert!(store.tenant("alic").pipelines().unwrap().is_empty());
    assert_eq!(store.tenant("alice").pipelines().unwrap().len(), 1);
}

#[test]
fn saving_a_trial_number_twice_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = Store::open(dir.path()).unwrap().tenant(DEFAULT_TENANT);
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
}

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

#[test]
fn artefacts_are_content_addressed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store.artefacts().put(b"hello").unwrap();
    let b = store.artefacts().put(b"hello").unwrap();
    assert_eq!(a, b);
    assert_eq!(store.artefacts().get(&a.sha256).unwrap(), b"hello");
    std::fs::write(store.artefacts().path(&a.sha256), b"tampered").unwrap();
    let err = store.artefacts().get(&a.sha256).unwrap_err();
    assert!(err.to_string().contains("content hash"), "{err}");
}

#[test]
fn events_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let t = Store::open(dir.path()).unwrap().tenant(DEFAULT_TENANT);
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
}

#[test]
fn tenants_keys_and_cross_tenant_scans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
}

#[test]
fn events_after_reads_only_newer_events_of_one_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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
    };
    t.put_trial(&trial).unwrap();
    trial.number = 1;
    t.put_trial(&trial).unwrap();
    trial.pipeline_id = "pl_10".into();
    t.put_trial(&trial).unwrap();
    assert_eq!(t.trial_count("pl_1").unwrap(), 2);
}

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

#[test]
fn purging_a_tenant_removes_its_records_keys_and_unshared_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
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

#[test]
fn unfinished_starts_are_counted_across_reopening_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.tenant("acme");
        assert_eq!(t.note_start("pl_a").unwrap(), 1);
        assert_eq!(t.note_start("pl_a").unwrap(), 2);
    }
    let store = Store::open(dir.path()).unwrap();
    let t = store.tenant("acme");
    assert_eq!(t.note_start("pl_a").unwrap(), 3);
    t.clear_starts("pl_a").unwrap();
    assert_eq!(t.note_start("pl_a").unwrap(), 1);
}

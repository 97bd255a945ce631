//! Blobs on S3 (`MICROLEARN_BLOBS=s3://BUCKET/PREFIX?endpoint=…`), against a real S3 API: moto's
//! server, which scripts/test.sh installs from PyPI (`MICROLEARN_TEST_MOTO` names its
//! `moto_server`). Two API nodes share PostgreSQL and one bucket: what one stores, the other
//! serves, fetched over the S3 protocol into its own cache.

use crate::common::dataset;
use crate::serve::{Server, first_row_without_target, wait_done};
use microlearn_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let bin = std::env::var("MICROLEARN_TEST_MOTO").unwrap_or_else(|_| {
            panic!(
                "MICROLEARN_TEST_MOTO is not set: it names moto's `moto_server`, the S3 these \
                 tests run against (scripts/test.sh installs moto[server] into a venv and sets it)"
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// One plain HTTP request to the S3 endpoint (moto needs no signature for these).
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = raw
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    fn url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1&allow_http=true",
            self.port
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_nodes_share_datasets_and_models_through_an_s3_bucket() {
    let moto = Moto::start();
    let (status, body) = moto.http("PUT", "/ml-blobs");
    assert_eq!(status, 200, "creating the bucket: {body}");
    let db = TestDatabase::create();
    let blobs = moto.url("ml-blobs", "cluster-a");
    let env = [
        ("MICROLEARN_META", db.url()),
        ("MICROLEARN_BLOBS", blobs.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_env(home_a.path(), &[], &env);
    let csv = std::fs::read(dataset("telco_churn.train.csv")).unwrap();
    let (status, body) = a.call("POST", "/v1/datasets?name=churn.csv", "text/csv", &csv);
    assert!(
        status == 201 || status == 200,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let ds: Value = serde_json::from_slice(&body).unwrap();
    let (status, p) = a.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds["id"], "target": "churn", "budget_secs": 300, "max_trials": 4,
            "seed": 2, "threads": 1, "deployment": "churn"
        })),
    );
    assert_eq!(status, 202, "{p}");
    let pl = p["id"].as_str().unwrap();
    assert_eq!(wait_done(&a, pl, 300)["status"], json!("done"));

    // The objects are in the bucket, under the configured prefix, named by their hash.
    let (status, listing) = moto.http("GET", "/ml-blobs?list-type=2&prefix=cluster-a/");
    assert_eq!(status, 200, "{listing}");
    let keys = listing.matches("<Key>cluster-a/").count();
    assert!(
        keys >= 2,
        "the dataset and the model bundle at least: {listing}"
    );

    // A second node with an empty cache serves the deployment from the bucket.
    let (_, dep) = a.json("GET", "/v1/deployments/churn", None);
    let model = dep["model_id"].as_str().unwrap().to_string();
    let b = Server::start_env(home_b.path(), &[], &env);
    let row = first_row_without_target(&dataset("telco_churn.test.csv"), "churn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, v) = b.json("POST", "/v1/deployments/churn/predict", Some(row.clone()));
        if status == 200 {
            assert_eq!(v["model_id"], json!(model), "the model a stored: {v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node b never served it: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // And reads the dataset back over S3 (a new pipeline on it).
    let (status, p2) = b.json(
        "POST",
        "/v1/pipelines",
        Some(json!({
            "dataset_id": ds["id"], "target": "churn", "budget_secs": 300, "max_trials": 2,
            "seed": 2, "threads": 1
        })),
    );
    assert_eq!(status, 202, "{p2}");
    assert_eq!(
        wait_done(&b, p2["id"].as_str().unwrap(), 300)["status"],
        json!("done")
    );
    a.kill9();
    b.kill9();
}

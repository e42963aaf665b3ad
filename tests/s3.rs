//! An `s3://` warehouse behaves like a local one: the same night gives the same tables, re-runs
//! are idempotent, and reports are uploaded. Runs against moto (`pip install 'moto[server]'`,
//! installed by scripts/test) on loopback; a bare `cargo test` skips it when moto is not installed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_moto() -> Option<(Moto, String)> {
    let port = free_port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !crate::common::peers_required(),
                "moto_server is required by scripts/test and CI: {e}"
            );
            eprintln!("moto_server not installed: S3 test skipped (scripts/test installs it)");
            return None;
        }
    };
    let guard = Moto(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, format!("http://127.0.0.1:{port}")))
}

/// The settings every xueji process gets to reach moto at `endpoint`.
fn aws_env(endpoint: &str) -> [(&str, &str); 5] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// `xueji args` run against moto.
fn xueji_output(endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(args)
        .envs(aws_env(endpoint))
        .output()
        .unwrap()
}

fn xueji(endpoint: &str, args: &[&str]) -> String {
    let out = xueji_output(endpoint, args);
    assert!(
        out.status.success(),
        "xueji {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `xueji args` run against moto, expected to fail: its stderr.
fn xueji_fails(endpoint: &str, args: &[&str]) -> String {
    let out = xueji_output(endpoint, args);
    assert!(!out.status.success(), "xueji {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// Python `call` on a boto3 S3 client of moto at `endpoint`; what it prints.
fn boto3(endpoint: &str, call: &str) -> String {
    let client = format!(
        "boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='t', aws_secret_access_key='t', region_name='us-east-1')"
    );
    let out = Command::new("python3")
        .args(["-c", &format!("import boto3; s3 = {client}; {call}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{call}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// How many objects of bucket xueji are under `prefix`.
fn objects_under(endpoint: &str, prefix: &str) -> usize {
    let call = format!("print(s3.list_objects_v2(Bucket='xueji', Prefix='{prefix}')['KeyCount'])");
    boto3(endpoint, &call).trim().parse().unwrap()
}

fn create_bucket(endpoint: &str) {
    boto3(endpoint, "s3.create_bucket(Bucket='xueji')");
}

/// `xueji ingest` of `sources` into `wh` on the first night, reports in `reports` (not the
/// working directory).
fn ingest_args(wh: &str, reports: &std::path::Path, sources: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["ingest", "--warehouse", wh, "--date", NIGHT1, "--report-dir"]
        .map(String::from)
        .to_vec();
    args.push(reports.to_str().unwrap().to_string());
    args.extend(sources.iter().cloned());
    args
}

fn sorted(csv: &str) -> Vec<String> {
    let mut l: Vec<String> = csv.lines().map(str::to_string).collect();
    l[1..].sort();
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_warehouse_gives_the_same_tables_as_a_local_one() {
    let Some((_moto, endpoint)) = start_moto() else { return };
    create_bucket(&endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_world(&data, 41, 800, "csv");
    let sources: Vec<String> = [
        data.join("schools.csv"),
        data.join("movements.csv"),
        data.join("students-csv"),
    ]
    .iter()
    .map(|p| p.to_str().unwrap().to_string())
    .collect();
    let wh = "s3://xueji/warehouse";
    let reports = tmp.path().join("reports");
    let args = ingest_args(wh, &reports, &sources);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = xueji(&endpoint, &args);
    assert!(
        first.contains("s3://xueji/warehouse/reports/2026-10-15/import/"),
        "{first}"
    );
    xueji(&endpoint, &args);
    let q = "SELECT * EXCEPT (source_file) FROM students";
    let on_s3 = sorted(&xueji(&endpoint, &["sql", "--warehouse", wh, "--format", "csv", q]));
    let nights = xueji(
        &endpoint,
        &[
            "sql",
            "--warehouse",
            wh,
            "--format",
            "csv",
            "SELECT COUNT(*) AS n FROM nights",
        ],
    );
    assert_eq!(nights.lines().nth(1), Some("2"));

    let local = tmp.path().join("local");
    ingest(
        &local,
        NIGHT1,
        sources.iter().map(std::path::PathBuf::from).collect(),
        2,
    )
    .await;
    let here = dump(&local, q, None).await;
    assert_eq!(on_s3, here);

    // The night sent twice retired the first copy's files: `xueji vacuum` removes them from S3
    // and the served tables read the same.
    let before = objects_under(&endpoint, "warehouse/");
    let vacuumed = xueji(
        &endpoint,
        &["vacuum", "--warehouse", wh, "--keep-hours", "0", "--force", "--json"],
    );
    let removed: serde_json::Value = serde_json::from_str(&vacuumed).unwrap();
    let files = removed["files"].as_u64().unwrap() as usize;
    assert!(files > 0, "{vacuumed}");
    assert_eq!(objects_under(&endpoint, "warehouse/"), before - files);
    let after = sorted(&xueji(&endpoint, &["sql", "--warehouse", wh, "--format", "csv", q]));
    assert_eq!(after, on_s3);
    // A mistyped prefix is refused, and nothing is written there (no lock object).
    let why = xueji_fails(
        &endpoint,
        &["vacuum", "--warehouse", "s3://xueji/warehuose", "--dry-run"],
    );
    assert!(why.contains("不是 xueji 仓库"), "{why}");
    assert_eq!(objects_under(&endpoint, "warehuose"), 0);
}

/// Every model's served rows, by model, read with `xueji sql` from the S3 warehouse.
fn served(endpoint: &str, wh: &str) -> Vec<(String, Vec<String>)> {
    xueji::models::models()
        .unwrap()
        .into_iter()
        .map(|m| {
            let q = format!("SELECT * FROM {}", m.name);
            (
                m.name,
                sorted(&xueji(endpoint, &["sql", "--warehouse", wh, "--format", "csv", &q])),
            )
        })
        .collect()
}

/// Issue 25: a cluster run on an S3 warehouse (moto) — `xueji scheduler` and two `xueji
/// executor` processes reading the warehouse's files from the bucket — commits every model's
/// single-node rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_run_on_an_s3_warehouse_commits_the_single_node_rows() {
    let Some((_moto, endpoint)) = start_moto() else { return };
    create_bucket(&endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let wh = "s3://xueji/cluster";
    let sources: Vec<String> = sample_sources()
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let args = ingest_args(wh, &tmp.path().join("reports"), &sources);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    xueji(&endpoint, &args);
    xueji(&endpoint, &["run", "--warehouse", wh]);
    let single = served(&endpoint, wh);
    let cluster = crate::cluster::loopback(2, &tmp.path().join("cluster"), &aws_env(&endpoint));
    let out = xueji(
        &endpoint,
        &["run", "--warehouse", wh, "--cluster", &cluster.url, "--json"],
    );
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["seq"], 2, "{out}");
    assert_eq!(single, served(&endpoint, wh));
    assert!(
        single.iter().filter(|(_, r)| r.len() > 1).count() > 20,
        "models with rows"
    );
}

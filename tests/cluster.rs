//! The same SQL on a Ballista cluster (issue 25): a scheduler and two executors in this process
//! on loopback ports, built as `xueji scheduler` and `xueji executor` build them, against the
//! same warehouse as a single-node session.

use std::path::Path;

use xueji::pipeline;

use crate::common::*;

/// `xueji scheduler` and `executors` × `xueji executor` as processes on free loopback ports,
/// stopped when dropped.
struct Loopback {
    url: String,
    children: Vec<std::process::Child>,
}

impl Loopback {
    fn start(executors: usize, work: &Path) -> Self {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string()
        };
        let bin = env!("CARGO_BIN_EXE_xueji");
        let scheduler = free();
        let spawn = |args: &[&str]| {
            std::process::Command::new(bin)
                .args(args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut children = vec![spawn(&["scheduler", "--listen", &scheduler])];
        wait_for(&scheduler);
        for k in 0..executors {
            let (flight, grpc) = (free(), free());
            let dir = work.join(format!("executor-{k}"));
            children.push(spawn(&[
                "executor",
                "--scheduler",
                &scheduler,
                "--listen",
                &flight,
                "--grpc-listen",
                &grpc,
                "--work-dir",
                dir.to_str().unwrap(),
                "--cores",
                "1",
                "--memory-mb",
                "1024",
            ]));
            wait_for(&flight);
        }
        Loopback {
            url: format!("df://{scheduler}"),
            children,
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(addr: &str) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens at {addr}");
}

/// A statement's rows as sorted CSV lines (row order is not part of a statement's answer).
async fn rows(wh: &Path, sql: &str, cluster: Option<&str>) -> Vec<String> {
    let b = pipeline::sql_all_on(wh.to_str().unwrap(), &[sql], None, 2, 1024, cluster)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", if cluster.is_some() { "cluster" } else { "single node" }))
        .pop()
        .unwrap();
    let (cols, data) = pipeline::text_rows(&b).unwrap();
    let mut lines: Vec<String> = data.into_iter().map(|r| r.join("\u{1f}")).collect();
    lines.sort();
    lines.insert(0, cols.join(","));
    lines
}

/// Every model's statement, run on the cluster over the committed sample night, gives the rows it
/// gives on one machine: the as-of views, the reference tables, the materialised sets, the
/// warehouse-keyed `stable_id` and every xueji function reach the executors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_gives_the_same_rows_on_a_cluster_as_on_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    let cluster = Loopback::start(2, &dir.path().join("cluster"));
    let url = cluster.url.clone();
    let mut compared = 0;
    for m in xueji::models::models().unwrap() {
        let t0 = std::time::Instant::now();
        let single = rows(&wh, &m.sql, None).await;
        let t1 = t0.elapsed();
        let cluster = rows(&wh, &m.sql, Some(&url)).await;
        eprintln!(
            "{}: {} rows, single {t1:?}, cluster {:?}",
            m.name,
            single.len() - 1,
            t0.elapsed() - t1
        );
        assert_eq!(single.len(), cluster.len(), "{}: row count", m.name);
        assert_eq!(single, cluster, "{}", m.name);
        compared += usize::from(single.len() > 1);
    }
    assert!(compared > 20, "models with rows: {compared}");
}

/// A cluster address that is not `df://HOST:PORT` is refused with the form it should have.
#[test]
fn a_cluster_address_must_be_df_host_port() {
    assert_eq!(
        xueji::cluster::parse_cluster("df://10.0.0.5:50050").unwrap(),
        "10.0.0.5:50050"
    );
    for bad in ["10.0.0.5:50050", "df://10.0.0.5", "http://h:1", "df://:50050"] {
        let e = xueji::cluster::parse_cluster(bad).unwrap_err().to_string();
        assert!(e.contains("df://主机:端口"), "{bad}: {e}");
    }
}

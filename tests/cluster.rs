//! The same SQL on a Ballista cluster (issue 25): `xueji scheduler` and two `xueji executor`
//! processes on loopback ports, against the same warehouse as a single-node session: every
//! model's statement, `xueji run --cluster`, and a run that loses an executor.

use std::collections::BTreeMap;
use std::path::Path;

use xueji::cluster::loopback::Loopback;
use xueji::pipeline;

use crate::common::*;

/// `xueji scheduler` and `executors` × `xueji executor` (one core, 1 GB each) as processes on
/// loopback ports, with `env`, stopped when dropped. The scheduler takes an executor for lost
/// after 15 s without a report (executors report every 5 s at most, on a machine busy with the
/// other tests too), so that a test of a killed executor does not wait long.
pub fn loopback(executors: usize, work: &Path, env: &[(&str, &str)]) -> Loopback {
    Loopback::start(
        Path::new(env!("CARGO_BIN_EXE_xueji")),
        work,
        executors,
        (1, 1024),
        15,
        env,
    )
    .unwrap()
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
    let cluster = loopback(2, &dir.path().join("cluster"), &[]);
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

/// The files under a warehouse's scratch folder (`_xueji/scratch`).
fn scratch_files(wh: &Path) -> Vec<std::path::PathBuf> {
    files_under(&wh.join("_xueji/scratch"))
}

/// On a cluster, a set a query computes first (a materialised CTE, the superseded keys of an
/// as-of view) is written by the executors as Parquet in the session's scratch folder of the
/// warehouse, and the plans that read it name those files. Held in the client's memory, such a
/// set rode inside every plan that read it, and at five million pupils one no longer fitted in a
/// gRPC message ("h2 protocol error"). The rows are the single-node ones, and the folder is gone
/// when the session is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_computed_first_on_a_cluster_is_written_by_the_executors_and_removed_after() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    let nodes = loopback(2, &dir.path().join("cluster"), &[]);
    let handle = xueji::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    let scratch = handle.scratch_dir().unwrap();
    let ctx = xueji::cluster::connect(&nodes.url, 2, Some(scratch.clone()))
        .await
        .unwrap();
    xueji::warehouse::register_all(&handle, &ctx, None).await.unwrap();
    let set = "SELECT record_key, id_number FROM students WHERE gender = '女'";
    xueji::warehouse::register_collected(&ctx, "girls", set).await.unwrap();
    let provider = ctx.table_provider("girls").await.unwrap();
    let any: &dyn std::any::Any = provider.as_ref();
    let listing = any
        .downcast_ref::<datafusion::datasource::listing::ListingTable>()
        .unwrap_or_else(|| panic!("a listing of Parquet files, not rows in memory: {provider:?}"));
    assert!(
        listing.table_paths()[0].as_str().starts_with(scratch.as_str()),
        "{:?}",
        listing.table_paths()
    );
    let written = scratch_files(&wh);
    assert!(
        !written.is_empty() && written.iter().all(|f| f.extension().is_some_and(|e| e == "parquet")),
        "{written:?}"
    );
    let read = "SELECT COUNT(*), COUNT(DISTINCT g.id_number) FROM students s JOIN girls g USING (record_key)";
    let on_cluster = ctx.sql(read).await.unwrap().collect().await.unwrap();
    let single = rows(&wh, &format!("WITH girls AS ({set}) {read}"), None).await;
    assert_eq!(
        pipeline::text_rows(&on_cluster).unwrap().1,
        vec![single[1].split('\u{1f}').map(String::from).collect::<Vec<_>>()]
    );
    assert_ne!(single[1].split('\u{1f}').next(), Some("0"), "girls in the sample");
    // An empty set is held as an empty table.
    xueji::warehouse::register_collected(&ctx, "none", &format!("{set} AND FALSE"))
        .await
        .unwrap();
    let none = ctx
        .sql("SELECT COUNT(*) FROM none")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(pipeline::text_rows(&none).unwrap().1, vec![vec!["0".to_string()]]);
    handle.remove_scratch(&scratch).await.unwrap();
    assert_eq!(scratch_files(&wh), Vec::<std::path::PathBuf>::new());
    assert!(!scratch.to_file_path().unwrap().exists());
}

/// Every model's served rows (`SELECT *` of each model as of its last run), by model.
async fn served(wh: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for m in xueji::models::models().unwrap() {
        let r = rows(wh, &format!("SELECT * FROM {}", m.name), None).await;
        out.insert(m.name, r);
    }
    out
}

/// The last run's sequence number and the models it committed.
async fn last_run(wh: &Path) -> (i64, usize) {
    let w = xueji::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    let runs = w
        .model_runs(&xueji::warehouse::session(2, 1024).unwrap())
        .await
        .unwrap();
    let seq = runs.values().map(|r| r.seq).max().unwrap();
    (seq, runs.values().filter(|r| r.seq == seq).count())
}

/// A night ingested and run on this machine: the folder, the warehouse and every model's served
/// rows. The night is the committed sample's, or with `generated` a world of its own (another
/// seed, one CSV per county).
async fn run_on_one_machine(generated: bool) -> (tempfile::TempDir, std::path::PathBuf, BTreeMap<String, Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let sources = if generated {
        let data = dir.path().join("data");
        gen_world(&data, 97, 3000, "csv");
        xueji::pipeline::generated_sources(&data, "students-csv")
    } else {
        sample_sources()
    };
    ingest(&wh, NIGHT1, sources, 2).await;
    run_models(&wh).await;
    let single = served(&wh).await;
    (dir, wh, single)
}

/// `xueji run --cluster`: every model computed by the executors and committed here as one run
/// (one `_runs` sequence number for all models; `dedup_pairs` in three passes there, in one
/// here), whose served rows and published Parquet marts are the single-node run's — on a generated world of its own (seed 97, one CSV per county), on
/// which Ballista's scheduler once turned the planner's broadcast anti joins into partitioned
/// ones under a single-partition aggregate: `COUNT(*)` gave one row per partition and
/// `dedup_pairs` failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_cluster_commits_what_a_single_node_run_commits() {
    let (dir, wh, single) = run_on_one_machine(true).await;
    let n = single.len();
    assert_eq!(last_run(&wh).await, (1, n));
    let cluster = loopback(2, &dir.path().join("cluster"), &[]);
    // dedup_pairs in passes, as a country's pairs are: the executors write each pass.
    let o = xueji::models::RunOptions {
        passes: Some(3),
        ..run_options(&wh, Some(&cluster.url))
    };
    let out = xueji::models::run(&o).await.unwrap();
    assert_eq!((out.seq, out.models.len()), (2, n));
    assert_eq!(out.models.iter().find(|m| m.model == "dedup_pairs").unwrap().passes, 3);
    assert_eq!(last_run(&wh).await, (2, n), "one run, every model");
    let on_cluster = served(&wh).await;
    for (m, rows) in &single {
        assert_eq!(rows, &on_cluster[m], "{m}");
    }
    assert!(single.values().filter(|r| r.len() > 1).count() > 20, "models with rows");
    // The sets the models computed first were written in the warehouse, and removed after.
    assert_eq!(scratch_files(&wh), Vec::<std::path::PathBuf>::new());
    // The published marts are the served rows (DuckDB and the others read these).
    let file = wh.join(format!("marts/list_roster/snapshot_date={NIGHT1}/list_roster.parquet"));
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap(),
    )
    .file_metadata()
    .num_rows();
    assert_eq!(meta as usize, single["list_roster"].len() - 1, "{}", file.display());
}

/// An executor killed in the middle of a cluster run: the run fails and commits nothing, the
/// previous run still served (Ballista 55 re-ran the lost tasks on the executor left and gave
/// `dedup_model` other weights: xueji commits a cluster run only when no executor left during
/// it). A run after it, with an executor back, is correct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_run_never_leaves_a_partial_or_wrong_run() {
    let (dir, wh, single) = run_on_one_machine(false).await;
    let n = single.len();
    let mut cluster = loopback(2, &dir.path().join("cluster"), &[]);
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["run", "--warehouse", wh.to_str().unwrap(), "--cluster", &cluster.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("run.log")).unwrap())
        .spawn()
        .unwrap();
    // Mid-run: once the run has committed a first model, never after its last.
    let log = wh.join("list_roster/_delta_log/00000000000000000001.json");
    let t0 = std::time::Instant::now();
    while !log.exists() && run.try_wait().unwrap().is_none() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        run.try_wait().unwrap().is_none(),
        "the run was still going when the executor died"
    );
    cluster.kill_executor(0).unwrap();
    let status = wait_with_timeout(&mut run, 100);
    let after = served(&wh).await;
    let err = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    eprintln!("the killed run: {err}");
    assert!(!status.success(), "a run that lost an executor is not committed");
    assert!(
        err.contains("失去了执行器") || err.contains("没有再报到") || err.contains("集群"),
        "{err}"
    );
    assert_eq!(last_run(&wh).await, (1, n), "a failed run commits nothing");
    for (m, rows) in &single {
        assert_eq!(rows, &after[m], "{m} after the killed run");
    }
    cluster.add_executor().unwrap();
    let out = xueji::models::run(&run_options(&wh, Some(&cluster.url))).await.unwrap();
    assert_eq!(out.models.len(), n);
    let again = served(&wh).await;
    for (m, rows) in &single {
        assert_eq!(rows, &again[m], "{m} after a re-run");
    }
}

fn wait_with_timeout(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed().as_secs() > secs {
            let _ = child.kill();
            panic!("the run neither finished nor failed within {secs} s of losing an executor");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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

/// Every model's plan, logical and physical, as a cluster client plans it (tables as file lists,
/// small tables in memory, `stable_id` with its secret), survives xueji's codecs — what the
/// client sends the scheduler and the scheduler the executors — and the decoded plans compute
/// the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_plan_round_trips_through_the_codecs() {
    use datafusion::physical_plan::collect;
    use datafusion_proto::bytes::*;
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    let config = xueji::warehouse::session_config(2)
        .unwrap()
        .with_extension(std::sync::Arc::new(xueji::warehouse::files::ScanFiles::default()));
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    let ctx = datafusion::prelude::SessionContext::new_with_state(state);
    xueji::cluster::register_functions(&ctx, None);
    let handle = xueji::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    xueji::warehouse::register_all(&handle, &ctx, None).await.unwrap();
    let (logical, physical) = (
        xueji::cluster::LogicalCodec::default(),
        xueji::cluster::PhysicalCodec::default(),
    );
    let task = ctx.task_ctx();
    let files = tempfile::tempdir().unwrap();
    let files = url::Url::from_directory_path(files.path()).unwrap();
    for m in xueji::models::models().unwrap() {
        // A model computed in passes reads its sets as Parquet files, as on a cluster.
        let dir = m.buckets.as_ref().map(|_| &files);
        let (sql, held) = xueji::models::materialize(&ctx, &m.name, &m.sql, dir).await.unwrap();
        let plan = ctx.sql(&sql).await.unwrap().into_optimized_plan().unwrap();
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &logical)
            .unwrap_or_else(|e| panic!("{}: logical plan does not encode: {e}", m.name));
        let back = logical_plan_from_bytes_with_extension_codec(&bytes, &task, &logical)
            .unwrap_or_else(|e| panic!("{}: logical plan does not decode: {e}", m.name));
        // Decoding may nest an n-ary UNION into binary ones: the same schema and rows, not the
        // same text.
        assert_eq!(plan.schema(), back.schema(), "{}: logical plan's schema", m.name);
        // The scheduler plans the decoded logical plan and sends the executors its stages.
        let exec = ctx.state().create_physical_plan(&back).await.unwrap();
        let bytes = physical_plan_to_bytes_with_extension_codec(exec.clone(), &physical)
            .unwrap_or_else(|e| panic!("{}: physical plan does not encode: {e}", m.name));
        let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &task, &physical)
            .unwrap_or_else(|e| panic!("{}: physical plan does not decode: {e}", m.name));
        // Decoding may add a projection under a union: the same schema and rows, not the same text.
        assert_eq!(exec.schema(), decoded.schema(), "{}: physical plan's schema", m.name);
        let text = |b: Vec<arrow::array::RecordBatch>| {
            let (_, mut rows) = xueji::pipeline::text_rows(&b).unwrap();
            rows.sort();
            rows
        };
        let rows = text(ctx.execute_logical_plan(plan).await.unwrap().collect().await.unwrap());
        let from_logical = text(collect(exec, task.clone()).await.unwrap());
        assert_eq!(rows, from_logical, "{}: rows of the decoded logical plan", m.name);
        let from_physical = text(collect(decoded, task.clone()).await.unwrap());
        assert_eq!(rows, from_physical, "{}: rows of the decoded physical plan", m.name);
        for t in held {
            ctx.deregister_table(t.as_str()).unwrap();
        }
    }
}

/// Issue 25, the national warehouse: one warehouse, each province ingesting its own schools'
/// files on its own (taking turns through the warehouse lock), holds what one ingest of every
/// province's files holds, and a run over it finds the duplicates across provinces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provinces_ingesting_in_turn_make_the_national_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let s = samples();
    let schools = s.join("schools.csv");
    let xlsx: Vec<std::path::PathBuf> = std::fs::read_dir(s.join("students-xlsx"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let of = |province: &str| {
        let mut v = vec![schools.clone()];
        v.extend(
            xlsx.iter()
                .filter(|p| p.file_name().unwrap().to_str().unwrap()[1..].starts_with(province))
                .cloned(),
        );
        assert!(v.len() > 5, "province {province} has schools");
        v
    };
    let national = dir.path().join("national");
    ingest(&national, NIGHT1, of("34"), 2).await;
    ingest(&national, NIGHT1, of("42"), 2).await;
    let at_once = dir.path().join("at_once");
    let mut all = vec![schools.clone()];
    all.extend(xlsx.iter().cloned());
    ingest(&at_once, NIGHT1, all, 2).await;
    let q = "SELECT * EXCEPT (source_file) FROM students";
    let (a, b) = (dump(&national, q, None).await, dump(&at_once, q, None).await);
    assert!(a.len() > 4000, "{} pupils", a.len());
    assert_eq!(a, b, "the students of the national warehouse");
    run_models(&national).await;
    run_models(&at_once).await;
    // Problem groups (身份证件号重复) whose members are in both provinces.
    let q = "SELECT COUNT(*) FROM (SELECT group_id FROM dedup_members GROUP BY group_id
             HAVING COUNT(DISTINCT substr(school_id, 2, 2)) > 1)";
    let (a, b) = (dump(&national, q, None).await, dump(&at_once, q, None).await);
    assert_eq!(a, b, "duplicates across provinces");
    assert_ne!(a[1], "0", "the sample has pupils registered in both provinces");
    let q = "SELECT * FROM stats_left_behind";
    assert_eq!(dump(&national, q, None).await, dump(&at_once, q, None).await);
}

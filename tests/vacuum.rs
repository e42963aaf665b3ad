//! `xueji vacuum`: the retired files of earlier runs go, what readers are served stays, even
//! when a run died after writing its tables and before committing them.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = files_under(dir);
    files.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    files
}

fn vacuum(wh: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["vacuum", "--json", "--warehouse", wh.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn removed(v: &serde_json::Value, table: &str) -> u64 {
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .map_or(0, |t| t["files"].as_u64().unwrap())
}

/// A file no version names, as a killed writer leaves it, last written `age` ago.
fn orphan(table: &Path, name: &str, age: std::time::Duration) -> std::path::PathBuf {
    let partition = std::fs::read_dir(table)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !p.ends_with("_delta_log"))
        .unwrap();
    let path = partition.join(name);
    std::fs::copy(&parquet_files(&partition)[0], &path).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::now() - age).unwrap();
    path
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_removes_retired_and_orphaned_files_and_keeps_the_served_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let bin = env!("CARGO_BIN_EXE_xueji");
    ingest(&wh, "2026-10-15", sample_sources(), 2).await;
    run_models(&wh).await;
    let mut o = run_options(&wh, None);
    o.only = vec!["list_roster".into()];
    // The second run retires the first run's roster files.
    xueji::models::run(&o).await.unwrap();
    // A third run dies after writing its tables, before `_runs` names them: list_roster's latest
    // version retires the files the served (second) run reads. A re-ingest of the night dies
    // before `_nights` names its tables: the same for students, schools, rejects ...
    let status = Command::new(bin)
        .args(["run", "--warehouse", wh.to_str().unwrap(), "--model", "list_roster"])
        .env("XUEJI_FAULT", "before_runs_commit")
        .status()
        .unwrap();
    assert!(!status.success());
    let status = Command::new(bin)
        .args(["ingest", "--warehouse", wh.to_str().unwrap(), "--date", "2026-10-15"])
        .args(sample_sources())
        .env("XUEJI_FAULT", "before_nights_commit")
        .status()
        .unwrap();
    assert!(!status.success());
    // Killed writers' files that no version names: one a week old, one just written.
    let old = orphan(
        &wh.join("list_roster"),
        "part-00000-killed-long-ago.c000.snappy.parquet",
        200 * HOUR,
    );
    let fresh = orphan(
        &wh.join("list_roster"),
        "part-00000-killed-run.c000.snappy.parquet",
        HOUR / 60,
    );

    let queries = [
        "SELECT * FROM list_roster",
        "SELECT * FROM students",
        "SELECT * FROM schools",
        "SELECT * FROM rejects",
        "SELECT * FROM import_files",
    ];
    let mut served = Vec::new();
    for q in queries {
        served.push(dump(&wh, q, None).await);
    }

    // Too short a keep needs --force: readers would lose their files.
    let short = Command::new(bin)
        .args(["vacuum", "--warehouse", wh.to_str().unwrap(), "--keep-hours", "0"])
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("--force"));
    // The default keeps a week: of what is unused, only the week-old orphan is old enough.
    let week = vacuum(&wh, &[]);
    assert_eq!(
        (week["files"].as_u64(), week["keep_hours"].as_u64()),
        (Some(1), Some(168)),
        "{week}"
    );
    assert!(!old.exists() && fresh.exists());

    let files_before = parquet_files(&wh).len();
    let dry = vacuum(&wh, &["--keep-hours", "0", "--dry-run"]);
    assert_eq!(parquet_files(&wh).len(), files_before, "a dry run removes nothing");
    let done = vacuum(&wh, &["--keep-hours", "0", "--force"]);
    assert_eq!(
        done["files"], dry["files"],
        "the dry run counted what the run removed: {done}"
    );
    assert_eq!(done["bytes"], dry["bytes"], "{dry} {done}");
    // The first run's roster files and the fresh orphan at least.
    assert!(removed(&done, "list_roster") >= 2, "{done}");
    assert!(!fresh.exists(), "the orphaned file is removed");
    assert_eq!(
        files_before - parquet_files(&wh).len(),
        done["files"].as_u64().unwrap() as usize
    );
    let kept = |t: &str| {
        done["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["table"] == t)
            .unwrap()["kept_version"]
            .clone()
    };
    assert!(kept("list_roster").is_i64() && kept("students").is_i64(), "{done}");

    for (q, before) in queries.iter().zip(&served) {
        assert_eq!(&dump(&wh, q, None).await, before, "{q} reads the same after vacuum");
    }
    // The next run and the next ingest roll the crashed versions back and commit as usual.
    xueji::models::run(&o).await.unwrap();
    ingest(&wh, "2026-10-15", sample_sources(), 2).await;
    for (q, before) in queries.iter().zip(&served) {
        assert_eq!(&dump(&wh, q, None).await, before, "{q} after the next run and ingest");
    }
    let again = vacuum(&wh, &["--keep-hours", "0", "--force"]);
    assert!(
        removed(&again, "list_roster") >= 1,
        "the replaced run's files go: {again}"
    );
    assert_eq!(dump(&wh, queries[0], None).await, served[0]);

    // Another writer holds the lock: vacuum waits for it or fails, removing nothing.
    let store = xueji::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    let lock = xueji::warehouse::lock::acquire(&store, "ingest 2026-10-16", std::time::Duration::ZERO)
        .await
        .unwrap();
    let busy = Command::new(bin)
        .args(["vacuum", "--warehouse", wh.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("ingest 2026-10-16"),
        "{busy:?}"
    );
    lock.release().await.unwrap();
    // A mistyped location is refused, not created.
    let nowhere = tmp.path().join("whx");
    let out = Command::new(bin)
        .args(["vacuum", "--warehouse", nowhere.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success() && !nowhere.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("不是 xueji 仓库"));
}

/// A job file with `vacuum_keep_hours` vacuums after each committed night; `--json` keeps
/// stdout to the night's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nightly_job_with_vacuum_keep_hours_vacuums_after_the_night() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let sources: Vec<String> = sample_sources().iter().map(|p| format!("{p:?}")).collect();
    let job = tmp.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "warehouse = {:?}\ndate = \"2026-10-15\"\nsources = [{}]\nmodels = []\nvacuum_keep_hours = 1\n",
            wh.to_str().unwrap(),
            sources.join(", ")
        ),
    )
    .unwrap();
    let night = || {
        Command::new(env!("CARGO_BIN_EXE_xueji"))
            .args(["nightly", "--json", "--pipeline", job.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = night();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let students = dump(&wh, "SELECT * FROM students", None).await;
    // A killed writer's file from two hours ago, and the same night again, which retires the
    // first ingest's files (minutes old: they stay).
    let stale = orphan(&wh.join("students"), "part-00000-killed.c000.snappy.parquet", 2 * HOUR);
    let second = night();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    serde_json::from_slice::<serde_json::Value>(&second.stdout).expect("stdout is the night's JSON alone");
    assert!(err.contains("清理 / vacuum：删除 1 个文件"), "{err}");
    assert!(!stale.exists());
    assert_eq!(dump(&wh, "SELECT * FROM students", None).await, students);
}

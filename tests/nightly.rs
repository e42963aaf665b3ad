//! A night holds on files it did not generate: one school in two files, two files of one name,
//! a stray row of another county, text no report can hold, formulas, a night whose reports fail,
//! private staging. Each case is a hand-made change of the committed sample's county files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn schools_csv() -> PathBuf {
    samples().join("schools.csv")
}

async fn count(wh: &Path, sql: &str) -> u64 {
    dump(wh, sql, None).await[1].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_in_two_files_of_one_night_is_stored_once_and_both_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let original = write_csv(&tmp.path().join("county/341023.csv"), &h, &rows);
    // The same pupils again, as a school's own upload beside the county's file.
    let copy = write_csv(&tmp.path().join("school/341023.csv"), &h, &rows);
    let once = tmp.path().join("once");
    ingest(&once, NIGHT1, vec![schools_csv(), original.clone()], 2).await;
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, vec![schools_csv(), original, copy], 2).await;
    let sql = "SELECT COUNT(*) FROM students";
    assert_eq!(
        count(&wh, sql).await,
        count(&once, sql).await,
        "every pupil once, not twice"
    );
    let m = &out.metrics;
    assert_eq!(m.rows_in, m.accepted + m.rejected);
    assert!(!m.held_out.is_empty());
    for h in &m.held_out {
        assert_eq!(
            (h.kept_file.as_str(), h.file.as_str()),
            ("county/341023.csv", "school/341023.csv")
        );
    }
    let second = out.reports.iter().find(|r| r.file == "school/341023.csv").unwrap();
    assert_eq!((second.accepted, second.rejected), (0, second.rows_in), "{second:?}");
    let first = out.reports.iter().find(|r| r.file == "county/341023.csv").unwrap();
    let twice = count(&wh, "SELECT COUNT(*) FROM rejects WHERE rule_code = 'R_SCHOOL_TWICE'").await;
    assert_eq!(twice, first.accepted, "each held row is listed with its row number");
    let expected = dump(
        &wh,
        "SELECT DISTINCT expected FROM rejects WHERE rule_code = 'R_SCHOOL_TWICE'",
        None,
    )
    .await;
    assert!(
        expected[1].contains("county/341023.csv"),
        "the message names the kept file: {expected:?}"
    );
    let index = std::fs::read_to_string(&out.report_index).unwrap();
    // (minijinja's HTML escaping writes `/` as `&#x2f;`.)
    assert!(
        index.contains("同一学校出现在多个文件中") && index.contains("school&#x2f;341023.csv"),
        "{index}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_of_one_name_in_different_folders_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let (h1, r1) = county("341023");
    let (h2, r2) = county("341226");
    let x = write_csv(&tmp.path().join("x/data/students.csv"), &h1, &r1);
    let y = write_csv(&tmp.path().join("y/data/students.csv"), &h2, &r2);
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, vec![schools_csv(), x.clone(), y.clone()], 2).await;
    let names: Vec<&str> = out.reports.iter().map(|r| r.file.as_str()).collect();
    assert!(
        names.contains(&"x/data/students.csv") && names.contains(&"y/data/students.csv"),
        "{names:?}"
    );
    let reports = out.report_index.parent().unwrap();
    assert!(reports.join("x_data_students.csv.html").exists() && reports.join("y_data_students.csv.html").exists());
    let all = "SELECT COUNT(*) FROM students";
    let n1 = count(&wh, all).await;
    let in_y = "SELECT COUNT(*) FROM students WHERE source_file = 'y/data/students.csv'";
    let y1 = count(&wh, in_y).await;
    // Night 2: x changes one address; night 3: x is broken. y is the same all along.
    let addr = col(&h1, "现住址");
    let mut changed = r1.clone();
    changed[0] = with(&changed[0], addr, "安徽省黟县碧阳镇新建路 1 号");
    write_csv(&x, &h1, &changed);
    ingest(&wh, "2026-10-16", vec![schools_csv(), x.clone(), y.clone()], 2).await;
    assert_eq!(count(&wh, all).await, n1, "an update of x carries no pupil of y");
    assert_eq!(count(&wh, "SELECT COUNT(DISTINCT record_key) FROM students").await, n1);
    assert_eq!(count(&wh, in_y).await, y1);
    std::fs::write(&x, "这不是学籍文件\n").unwrap();
    let out = ingest(&wh, "2026-10-17", vec![schools_csv(), x, y], 2).await;
    assert_eq!(out.metrics.failed_files, vec!["x/data/students.csv".to_string()]);
    assert_eq!(
        count(&wh, all).await,
        n1,
        "a broken x deletes nobody, neither of x nor of y"
    );
    assert_eq!(count(&wh, in_y).await, y1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_row_of_another_county_does_not_delete_its_school_until_confirmed() {
    let tmp = tempfile::tempdir().unwrap();
    let (ha, ra) = county("341023");
    let (hb, rb) = county("341226");
    let a = write_csv(&tmp.path().join("a/341023.csv"), &ha, &ra);
    let b = write_csv(&tmp.path().join("b/341226.csv"), &hb, &rb);
    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, vec![schools_csv(), a.clone(), b], 2).await;
    // A row that was stored: its pupil stays tonight, the school's others would go.
    let first = dump(
        &wh,
        "SELECT MIN(source_row) FROM students WHERE source_file = 'b/341226.csv'",
        None,
    )
    .await;
    let row = &rb[first[1].parse::<usize>().unwrap() - 2];
    let school = row[col(&hb, "学校标识码")].to_string();
    let of_school = format!("SELECT COUNT(*) FROM students WHERE school_id = '{school}'");
    let before = count(&wh, &of_school).await;
    assert!(before > 20, "{before}");
    // County A's file carries one row of a school of county B, which sends nothing tonight.
    let mut stray = ra.clone();
    stray.push(row.clone());
    write_csv(&a, &ha, &stray);
    let out = ingest(&wh, "2026-10-16", vec![schools_csv(), a.clone()], 2).await;
    assert_eq!(count(&wh, &of_school).await, before, "the school keeps its pupils");
    let held = &out.commit.held_deletions;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].school_id.as_str(), held[0].deletions, held[0].previous),
        (school.as_str(), before - 1, before)
    );
    let index = std::fs::read_to_string(&out.report_index).unwrap();
    assert!(index.contains("待确认的删除") && index.contains(&school));
    // Confirmed, the same night deletes them.
    let mut o = xueji::pipeline::IngestOptions::new(wh.to_str().unwrap(), date("2026-10-16"), vec![schools_csv(), a]);
    o.guard.confirmed = vec![school.clone()];
    let out = xueji::pipeline::ingest(&o).await.unwrap();
    assert!(out.commit.held_deletions.is_empty());
    assert_eq!(count(&wh, &of_school).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_longer_than_a_column_allows_is_rejected_and_formulas_reach_no_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (name, addr) = (col(&h, "姓名"), col(&h, "现住址"));
    let mut r = rows[..3].to_vec();
    r[0] = with(&with(&r[0], name, &"张".repeat(40_000)), addr, &"路".repeat(100_000));
    r[1] = with(&r[1], name, "=HYPERLINK(\"http://example.invalid/?q=\"&A1,\"点此\")");
    let file = write_csv(&tmp.path().join("in/341023.csv"), &h, &r);
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, vec![schools_csv(), file], 2).await;
    let rep = out.reports.iter().find(|x| x.file == "in/341023.csv").unwrap();
    assert_eq!(rep.rows_in, rep.accepted + rep.rejected);
    let long = dump(
        &wh,
        "SELECT row_no, column_header, expected, length(value) < 40 FROM rejects WHERE rule_code = 'R_TOO_LONG'",
        None,
    )
    .await;
    assert_eq!(
        long[1..],
        ["2,姓名,不超过 50 个字,true", "2,现住址,不超过 300 个字,true"]
    );
    let report = std::fs::read_to_string(out.report_index.parent().unwrap().join("in_341023.csv.csv")).unwrap();
    let cells: Vec<String> = csv::Reader::from_reader(report.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(
        cells.iter().any(|c| c.starts_with("'=HYPERLINK")),
        "the formula is listed as text"
    );
    assert!(!cells.iter().any(|c| c.starts_with(['=', '+', '-', '@'])), "{cells:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_night_whose_reports_fail_exits_3_and_stays_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let not_a_dir = tmp.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args([
            "ingest",
            "--warehouse",
            wh.to_str().unwrap(),
            "--date",
            NIGHT1,
            "--report-dir",
        ])
        .arg(not_a_dir.join("reports"))
        .arg(schools_csv())
        .arg(samples().join("students-csv/341023.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("本晚已提交") && err.contains("导入报告"), "{err}");
    assert_eq!(dump(&wh, "SELECT COUNT(*) FROM nights", None).await[1], "1");
}

/// Every file under `dir` (recursively).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            walk(&p, out);
        }
    }
}

#[test]
fn staging_is_private_stale_staging_is_removed_and_the_warehouse_is_not_world_readable() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let root = tmp.path().join(format!("xueji-{uid}"));
    // What a process killed mid-ingest left: a staging folder of a pid that no longer runs.
    let dead = (4_000_000..)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let stale = root.join(format!("staging-{dead}-abc"));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("part-0.parquet"), "rows").unwrap();
    let wh = tmp.path().join("wh");
    let status = Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["ingest", "--warehouse", wh.to_str().unwrap(), "--date", NIGHT1])
        .arg(schools_csv())
        .arg(samples().join("students-csv/341023.csv"))
        .env("TMPDIR", tmp.path())
        .env_remove("XUEJI_UMASK")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(!stale.exists(), "stale staging is removed at the next start");
    assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
    let mut files = Vec::new();
    walk(&wh, &mut files);
    assert!(files.len() > 20);
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "{} is {:o}: others may not read children's records",
            f.display(),
            mode
        );
    }
}

#[test]
fn a_crafted_workbook_gets_one_file_level_error_and_the_night_goes_on_within_bounded_memory() {
    use crate::hostile::*;
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let header: Vec<&str> = h.iter().collect();
    let row: Vec<&str> = rows[0].iter().collect();
    let bad = tmp.path().join("uploads");
    std::fs::create_dir_all(&bad).unwrap();
    type Make = fn(&Path, &[&str], &[&str]);
    let cases: [(&str, Make, Option<&str>); 8] = [
        ("valid.xlsx", xlsx_valid, None),
        ("valid.xls", xls_valid, None),
        ("unique_count.xlsx", xlsx_huge_unique_count, Some("F_BAD_WORKBOOK")),
        ("cell_ref.xlsx", xlsx_overflowing_cell_ref, Some("F_CELL_REF")),
        ("strings_bomb.xlsx", xlsx_shared_strings_bomb, Some("F_TOO_LARGE")),
        ("far_cell.xls", xls_far_cell, Some("F_CELL_REF")),
        ("dimensions.xls", xls_huge_dimensions, Some("F_CELL_REF")),
        ("sheet_position.xls", xls_bad_sheet_position, Some("F_BAD_WORKBOOK")),
    ];
    for (name, make, _) in &cases {
        make(&bad.join(name), &header, &row);
    }
    let wh = tmp.path().join("wh");
    let out = Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args([
            "ingest",
            "--json",
            "--warehouse",
            wh.to_str().unwrap(),
            "--date",
            NIGHT1,
        ])
        .arg(schools_csv())
        .arg(samples().join("students-csv/341226.csv"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = v["reports"].as_array().unwrap();
    let report = |name: &str| reports.iter().find(|r| r["file"] == format!("uploads/{name}")).unwrap();
    for (name, _, code) in &cases {
        let r = report(name);
        assert_eq!(r["file_error"][0].as_str(), *code, "{name}: {r}");
        if code.is_none() {
            assert_eq!(r["rows_in"], 1, "{name} is read: {r}");
        } else {
            let msg = r["file_error"][1].as_str().unwrap();
            assert!(
                msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{name}: a Chinese message: {msg}"
            );
        }
    }
    let m = &v["metrics"];
    assert_eq!(
        m["rows_in"].as_u64().unwrap(),
        m["accepted"].as_u64().unwrap() + m["rejected"].as_u64().unwrap()
    );
    let county = reports.iter().find(|r| r["file"] == "students-csv/341226.csv").unwrap();
    assert!(
        county["accepted"].as_u64().unwrap() > 500,
        "the other files' rows are committed: {county}"
    );
    let peak = v["peak_rss_mb"].as_f64().unwrap();
    assert!(
        peak < 1200.0,
        "peak memory {peak:.0} MB: no file sizes memory by what it claims"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingests_into_one_warehouse_take_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let sources = || vec![schools_csv(), samples().join("students-csv/341023.csv")];
    // While another writer holds the warehouse, an ingest says who and commits nothing.
    let handle = xueji::warehouse::Warehouse::open(wh.to_str().unwrap()).unwrap();
    let held = xueji::warehouse::lock::acquire(&handle, "ingest 2026-10-15", std::time::Duration::ZERO)
        .await
        .unwrap();
    let o = xueji::pipeline::IngestOptions::new(wh.to_str().unwrap(), date(NIGHT1), sources());
    let err = format!("{:#}", xueji::pipeline::ingest(&o).await.unwrap_err());
    assert!(
        err.contains("仓库正被另一个进程写入") && err.contains("ingest 2026-10-15"),
        "{err}"
    );
    held.release().await.unwrap();
    // Two processes started together: the second waits for the first, and each night is one.
    let start = |day: &str| {
        Command::new(env!("CARGO_BIN_EXE_xueji"))
            .args([
                "ingest",
                "--wait-lock",
                "300",
                "--warehouse",
                wh.to_str().unwrap(),
                "--date",
                day,
            ])
            .args(sources())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (start(NIGHT1), start(NIGHT1));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let nights = dump(&wh, "SELECT seq FROM nights", None).await;
    assert_eq!(nights[1..], ["1", "2"], "two commits, one after the other: {nights:?}");
    // A night that fails (here: a date before the last) leaves no lock behind for the next one.
    let early = xueji::pipeline::IngestOptions::new(wh.to_str().unwrap(), date("2026-10-01"), sources());
    assert!(xueji::pipeline::ingest(&early).await.is_err());
    xueji::warehouse::lock::acquire(&handle, "the next night", std::time::Duration::ZERO)
        .await
        .expect("the failed ingest released the lock")
        .release()
        .await
        .unwrap();
}

/// Half the pupils with a problem (invalid ID numbers, duplicates: one problem group each): every
/// model finishes in a 128 MB pool, two models at a time. The grouping of `dedup_groups` once kept
/// an accumulator per group whose booked size grew with the batches it pointed into (1.3 GB for
/// 42,000 groups of 300,000 pupils), and failed here; `xueji bench problems` measures a
/// province-sized night. (The roster's sort alone needs more than 32 MB of this night: 64 MB shared
/// with the fuzzy matcher's blocking failed one run in three.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_finishes_when_half_the_pupils_carry_a_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = xueji::synth::GenOptions {
        pupils: 20_000,
        seed: 5,
        out: data.clone(),
        provinces: 1,
        pupils_per_county: 5_000,
        school_size: 600,
        as_of: date(NIGHT1),
        problem_rate: 0.5,
        xlsx: false,
        csv: true,
        gbk: false,
    };
    xueji::synth::generate(&o).unwrap();
    let wh = tmp.path().join("wh");
    let sources = ["schools.csv", "movements.csv", "dedup_decisions.csv", "students-csv"].map(|f| data.join(f));
    ingest(&wh, NIGHT1, sources.to_vec(), 2).await;
    let run = xueji::models::RunOptions {
        warehouse: wh.to_str().unwrap().into(),
        date: None,
        only: Vec::new(),
        threads: 2,
        memory_mb: 128,
        jobs: xueji::models::DEFAULT_JOBS,
        cluster: None,
        passes: None,
        wait_lock_secs: 0,
    };
    let out = xueji::models::run(&run).await.unwrap();
    let groups = out.models.iter().find(|m| m.model == "dedup_groups").unwrap();
    assert!(groups.rows > 2000, "{} problem groups", groups.rows);
}

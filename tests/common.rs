//! Shared helpers of the integration tests: generate a small world, ingest it, dump tables.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use xueji::models::{self, RunOptions};
use xueji::pipeline::{self, IngestOptions, IngestOutcome, SqlFormat};
use xueji::synth::{GenOptions, generate};

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub const NIGHT1: &str = "2026-10-15";

/// Whether the tests that need a peer (moto, DuckDB, Polars, pyarrow) must fail rather than skip
/// without it: under scripts/test, which installs them, and in CI.
pub fn peers_required() -> bool {
    std::env::var_os("XUEJI_REQUIRE_PEERS").is_some() || std::env::var_os("CI").is_some()
}

/// The committed sample (`xueji gen` output).
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples")
}

/// Every input of the sample, the pupils as the CSV folder.
pub fn sample_sources() -> Vec<PathBuf> {
    let d = samples();
    let mut v: Vec<PathBuf> = [
        "schools",
        "movements",
        "dedup_decisions",
        "key_change_requests",
        "nutrition_schools",
        "nutrition_terms",
        "nutrition_duty",
        "exams",
        "meal_ledger",
    ]
    .iter()
    .map(|f| d.join(format!("{f}.csv")))
    .collect();
    v.push(d.join("students-csv"));
    v
}

/// A small two-province world: ~20 schools, every planted kind at least once.
pub fn gen_world(out: &Path, seed: u64, pupils: u64, formats: &str) {
    let f: Vec<&str> = formats.split(',').collect();
    let o = GenOptions {
        pupils,
        seed,
        out: out.to_path_buf(),
        provinces: 2,
        pupils_per_county: 800,
        school_size: 250,
        as_of: date(NIGHT1),
        problem_rate: 0.06,
        xlsx: f.contains(&"xlsx"),
        csv: f.contains(&"csv"),
        gbk: f.contains(&"gbk"),
    };
    generate(&o).unwrap();
}

pub async fn ingest(wh: &Path, day: &str, sources: Vec<PathBuf>, threads: usize) -> IngestOutcome {
    ingest_in_buckets(wh, day, sources, threads, None).await
}

/// `ingest`, comparing with the previous night in `buckets` key buckets (as a large province does).
pub async fn ingest_in_buckets(
    wh: &Path,
    day: &str,
    sources: Vec<PathBuf>,
    threads: usize,
    buckets: Option<u64>,
) -> IngestOutcome {
    let mut o = IngestOptions::new(wh.to_str().unwrap(), date(day), sources);
    (o.threads, o.memory_mb, o.change_buckets) = (threads, 1024, buckets);
    pipeline::ingest(&o).await.unwrap()
}

/// Every model over the latest night, 2 threads, a 1 GB pool, on one machine or `cluster`.
pub fn run_options(wh: &Path, cluster: Option<&str>) -> RunOptions {
    RunOptions {
        warehouse: wh.to_str().unwrap().into(),
        date: None,
        only: vec![],
        threads: 2,
        memory_mb: 1024,
        jobs: 2,
        cluster: cluster.map(String::from),
        passes: None,
        wait_lock_secs: 0,
    }
}

/// Every model over the latest night on this machine ([`run_options`]).
pub async fn run_models(wh: &Path) {
    models::run(&run_options(wh, None)).await.unwrap();
}

/// Query result as sorted CSV lines (header first).
pub async fn dump(wh: &Path, sql: &str, as_of: Option<&str>) -> Vec<String> {
    let b = pipeline::sql(wh.to_str().unwrap(), sql, as_of.map(date), 2, 1024)
        .await
        .unwrap();
    let mut buf = Vec::new();
    pipeline::print_batches(&b, SqlFormat::Csv, &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    lines
}

/// Every column of the students view but the file it came from (which differs between formats).
pub const STUDENTS_CONTENT: &str = "SELECT * EXCEPT (source_file, source_row) FROM students";

/// The header and rows of a sample county file.
pub fn county(code: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_path(samples().join("students-csv").join(format!("{code}.csv"))).unwrap();
    let h = r.headers().unwrap().clone();
    (h, r.records().map(Result::unwrap).collect())
}

pub fn write_csv(path: &Path, header: &csv::StringRecord, rows: &[csv::StringRecord]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    path.to_path_buf()
}

/// The index of a header.
pub fn col(h: &csv::StringRecord, name: &str) -> usize {
    h.iter().position(|x| x == name).unwrap()
}

/// A row with one cell replaced.
pub fn with(r: &csv::StringRecord, k: usize, v: &str) -> csv::StringRecord {
    r.iter().enumerate().map(|(i, x)| if i == k { v } else { x }).collect()
}

/// The header of input table `table`'s files, as the schema (and the generator) write it.
pub fn header_of(table: &str) -> csv::StringRecord {
    let t = xueji::schema::catalog().table(table).unwrap();
    t.columns.iter().map(|c| c.header.as_str()).collect()
}

/// A movement decided by the school and its bureau (休学, 复学, 跳级, …) applied for on `day`:
/// approved that day by both (taking effect then), or approved by the school and waiting for the
/// bureau.
pub struct SchoolMovement<'a> {
    pub id: &'a str,
    pub regno: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub school: &'a str,
    pub day: &'a str,
    pub approved: bool,
}

pub fn school_movement(m: SchoolMovement<'_>) -> csv::StringRecord {
    let decided = |v: &'static str| if m.approved { v } else { "" };
    row_of(
        "movements",
        &[
            ("异动编号", m.id),
            ("学籍号", m.regno),
            ("姓名", m.name),
            ("异动类型", m.kind),
            ("原学校标识码", m.school),
            ("申请日期", m.day),
            ("异动日期", if m.approved { m.day } else { "" }),
            ("异动原因", "因病"),
            ("审核1单位", "学校"),
            ("审核1意见", "同意"),
            ("审核1时间", m.day),
            ("审核2单位", decided("主管教育局")),
            ("审核2意见", decided("同意")),
            ("审核2时间", if m.approved { m.day } else { "" }),
            ("当前处理单位", if m.approved { "" } else { "主管教育局" }),
            ("审核状态", if m.approved { "审核通过" } else { "待审核" }),
        ],
    )
}

/// A row of input table `table` from (column name or header, value) pairs; other cells empty.
pub fn row_of(table: &str, cells: &[(&str, &str)]) -> csv::StringRecord {
    let t = xueji::schema::catalog().table(table).unwrap();
    t.columns
        .iter()
        .map(|c| {
            cells
                .iter()
                .find(|(k, _)| *k == c.name || *k == c.header)
                .map_or("", |(_, v)| *v)
        })
        .collect()
}

/// A file of input table `table` holding `rows` (see [`row_of`]).
pub fn file_of(path: &Path, table: &str, rows: &[Vec<(&str, &str)>]) -> PathBuf {
    let rows: Vec<csv::StringRecord> = rows.iter().map(|r| row_of(table, r)).collect();
    write_csv(path, &header_of(table), &rows)
}

/// One registration's value in `table`'s `column`, by 学籍号: the registration must be there once.
pub async fn column_of(wh: &Path, table: &str, column: &str, regno: &str) -> String {
    let rows = dump(
        wh,
        &format!("SELECT {column} FROM {table} WHERE registration_no = '{regno}'"),
        None,
    )
    .await;
    assert_eq!(rows.len(), 2, "{regno} in {table}: {rows:?}");
    rows[1].clone()
}

/// Every file under `dir`, recursively (none when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.map(Result::unwrap) {
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

//! The commands as functions: `ingest` a night, `sql` over the warehouse. The CLI and the tests
//! both call these, so what is tested is what users run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::array::{Array, RecordBatch};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::ingest::validate::SchoolInfo;
use crate::ingest::{self, FileReport, StageMetrics};
use crate::warehouse::commit::{CommitOptions, DeletionGuard};
use crate::warehouse::{self, NightCommit, Warehouse};

/// Options of `xueji ingest`.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub warehouse: String,
    pub date: NaiveDate,
    pub sources: Vec<PathBuf>,
    pub threads: usize,
    pub memory_mb: usize,
    /// Where the import reports go (default: `<warehouse>/reports/<date>/import`).
    pub report_dir: Option<PathBuf>,
    /// Key buckets of the comparison with the previous night (default: from `memory_mb`).
    pub change_buckets: Option<u64>,
    /// When a school's deletions wait for a confirmation (`--confirm-deletions`).
    pub guard: DeletionGuard,
    /// Seconds to wait for another process's write to the warehouse to end (default: none).
    pub wait_lock_secs: u64,
}

impl IngestOptions {
    /// The defaults of `xueji ingest` for one night of `sources`.
    pub fn new(warehouse: &str, date: NaiveDate, sources: Vec<PathBuf>) -> Self {
        IngestOptions {
            warehouse: warehouse.to_string(),
            date,
            sources,
            threads: default_threads(),
            memory_mb: 4096,
            report_dir: None,
            change_buckets: None,
            guard: DeletionGuard::default(),
            wait_lock_secs: 0,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct IngestOutcome {
    pub metrics: StageMetrics,
    pub commit: NightCommit,
    pub reports: Vec<FileReport>,
    pub report_index: PathBuf,
    /// The night was committed but its import reports could not all be written: why.
    pub report_error: Option<String>,
    /// Where the reports were uploaded, for an object-store warehouse.
    pub report_uploaded_to: Option<String>,
    /// Peak resident memory of the process, MiB (Linux).
    pub peak_rss_mb: Option<f64>,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Schools known to the warehouse as of its latest night (validation checks against them).
async fn known_schools(ctx: &SessionContext, tables: &[String]) -> Result<HashMap<String, SchoolInfo>> {
    if !tables.iter().any(|t| t == "schools") {
        return Ok(HashMap::new());
    }
    // `SELECT *`: a warehouse written before a column (学制) was added has no such column yet.
    let batches = ctx.sql("SELECT * FROM schools").await?.collect().await?;
    let mut out = HashMap::new();
    for b in batches {
        let s = |name: &str| -> Result<Option<arrow::array::StringArray>> {
            match b.schema().index_of(name) {
                Ok(i) => Ok(Some(warehouse::strings(b.column(i))?)),
                Err(_) => Ok(None),
            }
        };
        let (Some(id), Some(kind), Some(own), Some(county)) =
            (s("school_id")?, s("school_kind")?, s("ownership")?, s("county_code")?)
        else {
            anyhow::bail!("bug: the schools view lacks a required column");
        };
        let system = s("school_system")?;
        for i in 0..b.num_rows() {
            if id.is_valid(i) {
                let sys = system.as_ref().filter(|a| a.is_valid(i)).map_or("", |a| a.value(i));
                out.insert(
                    id.value(i).to_string(),
                    SchoolInfo::new(kind.value(i), own.value(i), county.value(i), sys),
                );
            }
        }
    }
    Ok(out)
}

/// 学籍号 of pupils with an approved 留级, 跳级, 休学 or 复学 on record: their 班号 of another
/// cohort is explained (see [`ingest::explain`]).
async fn class_moves(ctx: &SessionContext, tables: &[String]) -> Result<HashSet<String>> {
    if !tables.iter().any(|t| t == "movements") {
        return Ok(HashSet::new());
    }
    let kinds: Vec<String> = ingest::explain::CLASS_MOVES.iter().map(|k| format!("'{k}'")).collect();
    let sql = format!(
        "SELECT DISTINCT registration_no FROM movements WHERE status = '审核通过' AND registration_no IS NOT NULL AND movement_type IN ({})",
        kinds.join(", ")
    );
    let mut out = HashSet::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let no = warehouse::strings(b.column(0))?;
        out.extend((0..b.num_rows()).map(|i| no.value(i).to_string()));
    }
    Ok(out)
}

/// One night: stage every source, commit the night, write the import reports.
pub async fn ingest(o: &IngestOptions) -> Result<IngestOutcome> {
    let wh = Warehouse::open(&o.warehouse)?;
    let files = ingest::list_sources(&o.sources)?;
    anyhow::ensure!(
        !files.is_empty(),
        "没有找到要导入的文件（.xlsx、.xls、.csv）：{:?}",
        o.sources
    );
    let wait = std::time::Duration::from_secs(o.wait_lock_secs);
    // The staging directory outlives the lock: the import reports read the staged findings.
    let (_staging, reports, metrics, ctx, commit) =
        warehouse::lock::with_lock(&wh, &format!("ingest {}", o.date), wait, async |lock| {
            let known = warehouse::session(o.threads, 1024)?;
            let tables = warehouse::register_all(&wh, &known, None).await?.tables;
            let schools = known_schools(&known, &tables).await?;
            let moves = class_moves(&known, &tables).await?;
            let staging = warehouse::scratch::local_dir("staging")?;
            let (reports, metrics) = tokio::task::block_in_place(|| {
                ingest::stage_all(&files, staging.path(), o.date, schools, &moves, o.threads)
            })?;
            let ctx = warehouse::session(o.threads, o.memory_mb)?;
            let opts = CommitOptions {
                buckets: o.change_buckets,
                guard: o.guard.clone(),
            };
            lock.ensure_held().await?;
            let progress = crate::progress::Progress::new("提交", "晚", Some(1));
            progress.note("与上一晚比较，写入各表");
            let commit = warehouse::commit_night(&wh, &ctx, o.date, staging.path(), &metrics, &reports, &opts).await?;
            progress.inc(1);
            progress.finish();
            Ok((staging, reports, metrics, ctx, commit))
        })
        .await?;
    // Reports sit beside the tables: in the warehouse directory, or for an object store in a local
    // folder (`--report-dir`, default ./xueji-reports) and uploaded under `<warehouse>/reports/`.
    // The night is committed: a report that cannot be written is said, not an undone night.
    let rel = format!("reports/{}/import", o.date);
    let local_root = wh.root().to_file_path().ok();
    let dir = match (&o.report_dir, &local_root) {
        (Some(d), _) => d.clone(),
        (None, Some(root)) => root.join(&rel),
        (None, None) => PathBuf::from("xueji-reports").join(o.date.to_string()).join("import"),
    };
    let written = async {
        let night = ingest::report::Night {
            date: o.date.to_string(),
            failed: &metrics.failed_files,
            held_out: &metrics.held_out,
            held_deletions: &commit.held_deletions,
        };
        let index = ingest::report::write_reports(&ctx, &dir, &night, &reports).await?;
        let uploaded = if local_root.is_none() {
            Some(upload_dir(&wh, &dir, &rel).await?)
        } else {
            None
        };
        anyhow::Ok((index, uploaded))
    }
    .await;
    let (report_index, report_uploaded_to, report_error) = match written {
        Ok((i, u)) => (i, u, None),
        Err(e) => (dir.join("index.html"), None, Some(format!("{e:#}"))),
    };
    Ok(IngestOutcome {
        metrics,
        commit,
        reports,
        report_index,
        report_error,
        report_uploaded_to,
        peak_rss_mb: crate::memory::peak_rss_mb(),
    })
}

/// Copy the files of a local folder to `<warehouse root>/<rel>/` in the object store.
async fn upload_dir(wh: &Warehouse, dir: &Path, rel: &str) -> Result<String> {
    let target = wh.root().join(&format!("{rel}/"))?;
    let (store, prefix) = warehouse::s3::store_for(&target)?;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .context("report file name")?
            .to_string();
        let bytes = std::fs::read(&p)?;
        store
            .put(&prefix.clone().join(name.as_str()), bytes.into())
            .await
            .with_context(|| format!("上传报告 {name} 失败"))?;
    }
    Ok(target.to_string())
}

/// Output formats of `xueji sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
}

/// Run one SQL statement over the warehouse as of `as_of` (default: the latest night).
pub async fn sql(
    warehouse: &str,
    query: &str,
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
) -> Result<Vec<RecordBatch>> {
    Ok(sql_all(warehouse, &[query], as_of, threads, memory_mb)
        .await?
        .pop()
        .unwrap_or_default())
}

/// Run several statements in one session: the warehouse is opened and its views registered
/// once, not once per statement.
pub async fn sql_all(
    warehouse: &str,
    queries: &[&str],
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
) -> Result<Vec<Vec<RecordBatch>>> {
    sql_all_on(warehouse, queries, as_of, threads, memory_mb, None).await
}

/// [`sql_all`] on a cluster (`df://HOST:PORT`) when `cluster` is given: the same statements,
/// planned by the scheduler and run by its executors over the same committed files.
pub async fn sql_all_on(
    warehouse: &str,
    queries: &[&str],
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
    cluster: Option<&str>,
) -> Result<Vec<Vec<RecordBatch>>> {
    let (wh, ctx, reg) = open_session_on(warehouse, as_of, threads, memory_mb, cluster).await?;
    let result = async {
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            let (query, held) = crate::models::materialize(&ctx, "sql", query, None).await?;
            let df = ctx
                .sql(&query)
                .await
                .map_err(|e| anyhow::anyhow!("SQL 错误：{e}\n可用的表：{}", reg.tables.join(", ")))?;
            out.push(df.collect().await?);
            for t in held {
                ctx.deregister_table(t.as_str())?;
            }
        }
        Ok(out)
    }
    .await;
    wh.discard_session_scratch(&ctx).await;
    result
}

/// A session over the warehouse with every table registered as of `as_of` (default: the latest
/// night); an error when nothing has been committed yet.
pub async fn open_session(
    warehouse: &str,
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
) -> Result<(Warehouse, datafusion::prelude::SessionContext, warehouse::Registered)> {
    open_session_on(warehouse, as_of, threads, memory_mb, None).await
}

/// [`open_session`], on a cluster when `cluster` (`df://HOST:PORT`) is given.
pub async fn open_session_on(
    warehouse: &str,
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
    cluster: Option<&str>,
) -> Result<(Warehouse, datafusion::prelude::SessionContext, warehouse::Registered)> {
    let wh = Warehouse::open(warehouse)?;
    let ctx = match cluster {
        // Its scratch folder is removed by the caller (`scratch_of`) when done.
        Some(url) => crate::cluster::connect(url, threads, Some(wh.scratch_dir()?)).await?,
        None => warehouse::session(threads, memory_mb)?,
    };
    let reg = warehouse::register_all(&wh, &ctx, as_of).await.and_then(|reg| {
        anyhow::ensure!(
            reg.latest.is_some(),
            "仓库 {warehouse} 中还没有已提交的数据：请先运行 xueji ingest"
        );
        Ok(reg)
    });
    match reg {
        Ok(reg) => Ok((wh, ctx, reg)),
        Err(e) => {
            wh.discard_session_scratch(&ctx).await;
            Err(e)
        }
    }
}

/// Every value of `batches` as text (null as empty), one `Vec` per row, with the column names.
pub fn text_rows(batches: &[RecordBatch]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for b in batches {
        names = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(crate::warehouse::strings)
            .collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| {
                        if c.is_valid(i) {
                            c.value(i).to_string()
                        } else {
                            String::new()
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok((names, rows))
}

/// Print batches in a format.
pub fn print_batches(batches: &[RecordBatch], format: SqlFormat, out: &mut dyn std::io::Write) -> Result<()> {
    match format {
        SqlFormat::Table => writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?,
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
        }
    }
    Ok(())
}

/// The sources of a generated (or sample) folder for one night: schools, movements, nutrition
/// inputs, and the per-school XLSX registrations.
pub fn sample_sources(dir: &Path) -> Vec<PathBuf> {
    generated_sources(dir, "students-xlsx")
}

/// As [`sample_sources`], with the registrations from `students` (`students-xlsx`,
/// `students-csv` or `students-gbk`).
pub fn generated_sources(dir: &Path, students: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = [
        "schools",
        "movements",
        "nutrition_schools",
        "nutrition_terms",
        "nutrition_duty",
        "exams",
        "meal_ledger",
    ]
    .iter()
    .map(|f| dir.join(format!("{f}.csv")))
    .collect();
    v.push(dir.join(students));
    v
}

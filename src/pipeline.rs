//! The commands as functions: `ingest` a night, `sql` over the warehouse. The CLI and the tests
//! both call these, so what is tested is what users run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::array::{Array, RecordBatch};
use chrono::NaiveDate;
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::ingest::validate::{SchoolInfo, stages_of_kind};
use crate::ingest::{self, FileReport, StageMetrics};
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
}

#[derive(Debug, Serialize)]
pub struct IngestOutcome {
    pub metrics: StageMetrics,
    pub commit: NightCommit,
    pub reports: Vec<FileReport>,
    pub report_index: PathBuf,
    /// Where the reports were uploaded, for an object-store warehouse.
    pub report_uploaded_to: Option<String>,
    /// Peak resident memory of the process, MiB (Linux).
    pub peak_rss_mb: Option<f64>,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Schools known to the warehouse as of its latest night (validation checks against them).
async fn known_schools(wh: &Warehouse, threads: usize) -> Result<HashMap<String, SchoolInfo>> {
    let ctx = warehouse::session(threads, 1024)?;
    let reg = warehouse::register_all(wh, &ctx, None).await?;
    if !reg.tables.iter().any(|t| t == "schools") {
        return Ok(HashMap::new());
    }
    let batches = ctx
        .sql("SELECT school_id, school_kind, ownership, county_code FROM schools")
        .await?
        .collect()
        .await?;
    let mut out = HashMap::new();
    for b in batches {
        let s = |i: usize| warehouse::strings(b.column(i));
        let (id, kind, own, county) = (s(0)?, s(1)?, s(2)?, s(3)?);
        for i in 0..b.num_rows() {
            if id.is_valid(i) {
                out.insert(
                    id.value(i).to_string(),
                    SchoolInfo {
                        stages: stages_of_kind(kind.value(i)),
                        public: own.value(i) == "公办",
                        county: county.value(i).to_string(),
                    },
                );
            }
        }
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
    let schools = known_schools(&wh, o.threads).await?;
    let staging = tempfile::Builder::new()
        .prefix("xueji-staging-")
        .tempdir()
        .context("无法创建暂存目录")?;
    let (reports, metrics) =
        tokio::task::block_in_place(|| ingest::stage_all(&files, staging.path(), o.date, schools, o.threads))?;
    let ctx = warehouse::session(o.threads, o.memory_mb)?;
    let commit =
        warehouse::commit_night(&wh, &ctx, o.date, staging.path(), &metrics, &reports, o.change_buckets).await?;
    // Reports sit beside the tables: in the warehouse directory, or for an object store in a local
    // folder (`--report-dir`, default ./xueji-reports) and uploaded under `<warehouse>/reports/`.
    let rel = format!("reports/{}/import", o.date);
    let local_root = wh.root().to_file_path().ok();
    let dir = match (&o.report_dir, &local_root) {
        (Some(d), _) => d.clone(),
        (None, Some(root)) => root.join(&rel),
        (None, None) => PathBuf::from("xueji-reports").join(o.date.to_string()).join("import"),
    };
    let index = ingest::report::write_reports(&ctx, &dir, &o.date.to_string(), &reports, &metrics.failed_files).await?;
    let uploaded = if local_root.is_none() {
        Some(upload_dir(&wh, &dir, &rel).await?)
    } else {
        None
    };
    Ok(IngestOutcome {
        metrics,
        commit,
        reports,
        report_index: index,
        report_uploaded_to: uploaded,
        peak_rss_mb: crate::bench::peak_rss_mb(),
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
    let (_, ctx, reg) = open_session(warehouse, as_of, threads, memory_mb).await?;
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        let (query, held) = crate::models::materialize(&ctx, "sql", query).await?;
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

/// A session over the warehouse with every table registered as of `as_of` (default: the latest
/// night); an error when nothing has been committed yet.
pub async fn open_session(
    warehouse: &str,
    as_of: Option<NaiveDate>,
    threads: usize,
    memory_mb: usize,
) -> Result<(Warehouse, datafusion::prelude::SessionContext, warehouse::Registered)> {
    let wh = Warehouse::open(warehouse)?;
    let ctx = warehouse::session(threads, memory_mb)?;
    let reg = warehouse::register_all(&wh, &ctx, as_of).await?;
    anyhow::ensure!(
        reg.latest.is_some(),
        "仓库 {warehouse} 中还没有已提交的数据：请先运行 xueji ingest"
    );
    Ok((wh, ctx, reg))
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
        "exams",
        "meal_ledger",
    ]
    .iter()
    .map(|f| dir.join(format!("{f}.csv")))
    .collect();
    v.push(dir.join(students));
    v
}

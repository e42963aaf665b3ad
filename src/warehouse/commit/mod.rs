//! Committing one night: staged Parquet → change-log partitions, rejects, file list, then `_nights`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion::scalar::ScalarValue;
use deltalake_core::operations::write::SchemaMode;
use deltalake_core::protocol::SaveMode;
use serde::Serialize;

use super::{NIGHTS, Warehouse};
use crate::ingest::stage::{findings_schema, staging_schema};
use crate::ingest::{FileReport, StageMetrics};
use crate::schema::{TableSchema, catalog};

mod deletion;
mod passes;
mod sql;

use deletion::*;
pub use deletion::{DeletionGuard, HeldDeletion};
use passes::*;
pub use passes::{count, passes_of};
use sql::*;

/// How a night is committed.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Key buckets of the comparison with the previous night (default: from the memory pool).
    pub buckets: Option<u64>,
    pub guard: DeletionGuard,
}

/// What a night's commit wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NightCommit {
    pub snapshot_date: String,
    pub seq: i64,
    /// Per table: (rows written tonight, Delta version).
    pub tables: BTreeMap<String, (u64, i64)>,
    /// Per history table: inserted, updated, deleted.
    pub changes: BTreeMap<String, [u64; 3]>,
    /// Schools whose deletions wait for `--confirm-deletions` (待确认).
    pub held_deletions: Vec<HeldDeletion>,
}

/// A date as Arrow's Date32 (days since 1970-01-01).
pub fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn date_lit(d: NaiveDate) -> datafusion::logical_expr::Expr {
    lit(ScalarValue::Date32(Some(days(d))))
}

/// Schema of a change-log table: data columns, system columns, `snapshot_date` (partition) last.
pub fn log_schema(t: &TableSchema) -> SchemaRef {
    let mut f = t.data_fields();
    f.push(Field::new("record_key", DataType::Utf8, true));
    f.push(Field::new("change", DataType::Utf8, true));
    f.push(Field::new("base_key", DataType::Utf8, true));
    f.push(Field::new("row_hash", DataType::Int64, true));
    f.push(Field::new("source_file", DataType::Utf8, true));
    f.push(Field::new("source_row", DataType::Int64, true));
    f.push(Field::new("snapshot_date", DataType::Date32, true));
    Arc::new(Schema::new(f))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Register `dir` (Parquet files) as `name`, or an empty table of `schema` when nothing was staged.
async fn register_staged(ctx: &SessionContext, name: &str, dir: &Path, schema: SchemaRef) -> Result<()> {
    let has_files = dir.is_dir()
        && std::fs::read_dir(dir)?.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")));
    if has_files {
        let opts = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet(name, dir.to_str().context("staging path is not UTF-8")?, opts)
            .await?;
    } else {
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    }
    Ok(())
}

/// Write `sql`'s result into `table`, partitioned by `snapshot_date`, replacing partition `date`
/// (or the whole table when it has no committed version yet). With `one_file` the night's rows go
/// into a single data file, whatever its size, so that it can be published as it is (a model's
/// mart); input tables keep delta-rs's size-bounded files. Returns (rows written, new version).
pub async fn write_partition(
    wh: &Warehouse,
    ctx: &SessionContext,
    table: &str,
    sql: &str,
    date: NaiveDate,
    committed: Option<i64>,
    one_file: bool,
) -> Result<(u64, i64)> {
    let df = ctx
        .sql(sql)
        .await
        .with_context(|| format!("bug: commit SQL for {table} does not plan"))?;
    let plan = df.logical_plan().clone();
    let mut t = wh.latest(table).await?;
    // Roll back what a crashed run left on top of the committed version.
    if let (Some(tab), Some(v)) = (&t, committed)
        && tab.version().unwrap_or(0) as i64 > v
    {
        let restored = tab.clone().restore().with_version_to_restore(v as _).await?;
        t = Some(restored.0);
    }
    let target = match t {
        Some(t) => t,
        None => wh.for_write(table).await?,
    };
    let mut w = target
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_partition_columns(["snapshot_date"]);
    if one_file {
        w = w.with_target_file_size(None);
    }
    // A model or table that gained columns in a newer version adds them (older dates read null).
    w = w.with_schema_mode(SchemaMode::Merge);
    w = if committed.is_some() {
        w.with_save_mode(SaveMode::Overwrite)
            .with_replace_where(col("snapshot_date").eq(date_lit(date)))
    } else {
        w.with_save_mode(SaveMode::Overwrite)
    };
    let out = w.await.with_context(|| format!("写入表 {table} 失败"))?;
    let version = out.version().unwrap_or(0) as i64;
    // Rows written tonight: count the night's partition at the new version.
    let provider = super::scan(&out, ctx).await?;
    let n = ctx
        .read_table(provider)?
        .filter(col("snapshot_date").eq(date_lit(date)))?
        .count()
        .await? as u64;
    Ok((n, version))
}

/// The night's change-log rows of one history table, as SQL for [`write_partition`]: tonight's
/// changes ([`tonight_rows`]) and the rows an earlier ingest of the same night left that tonight
/// does not decide again ([`earlier_tonight`]). `stg` and `prev_log` are registered.
async fn change_rows(
    ctx: &SessionContext,
    t: &TableSchema,
    date: NaiveDate,
    failed: &[String],
    staging: &Path,
    opts: &CommitOptions,
    held: &mut Vec<HeldDeletion>,
) -> Result<String> {
    let tonight = tonight_rows(ctx, t, date, failed, staging, opts, held).await?;
    let have = ctx.table("prev_log").await?.schema().as_arrow().clone();
    Ok(format!(
        "{tonight} UNION ALL {}",
        earlier_tonight(t, date, failed, &have)
    ))
}

/// Tonight's change-log rows of one history table, as SQL.
///
/// Against a previous state the comparison runs on keys and hashes alone (`decisions`), in as
/// many key buckets as the memory pool needs, and the whole rows are then read once for what
/// changed: the few changes of an ordinary night take one pass. When many rows changed (a new
/// school year), that pass is split into buckets too, staged, and committed as one.
async fn tonight_rows(
    ctx: &SessionContext,
    t: &TableSchema,
    date: NaiveDate,
    failed: &[String],
    staging: &Path,
    opts: &CommitOptions,
    held: &mut Vec<HeldDeletion>,
) -> Result<String> {
    let buckets = opts.buckets;
    let name = t.table.name.as_str();
    let d = date.format("%Y-%m-%d").to_string();
    let dups = format!(
        "SELECT base_key FROM stg s WHERE {} GROUP BY base_key HAVING COUNT(*) > 1",
        kept_rows(t, failed)
    );
    super::views::register_collected(ctx, "dups", &dups).await?;
    super::views::register_superseded(ctx, "prev_log", &format!("< DATE '{d}'"), "prev_superseded_").await?;
    // The comparison reads the log before tonight: that many rows, or tonight's, whichever more.
    let prev_rows = count(ctx, &format!("prev_log WHERE snapshot_date < DATE '{d}'")).await?;
    if prev_rows == 0 {
        return Ok(change_sql(t, date, failed, None, true));
    }
    let rows = async { Ok(count(ctx, "stg").await?.max(prev_rows)) };
    let n = passes_of(ctx, buckets, rows, JOIN_ROW_BYTES).await?;
    let sqls = bucket_list(n).map(|b| decisions_sql(t, date, failed, b));
    stage_results(
        ctx,
        "decisions",
        &staging.join("decisions").join(name),
        decisions_schema(),
        sqls,
    )
    .await
    .with_context(|| format!("比较表 {name} 与上一晚失败"))?;
    // The rows to read whole, apart: a table of exact size, never more rows than `stg`, so the
    // join below holds these keys (not whole staged rows) whatever the planner's estimates.
    let dir = staging.join("changed_keys").join(name);
    let keys = "SELECT source_file, source_row, record_key, base_key, change FROM decisions WHERE change <> 'delete'"
        .to_string();
    stage_results(ctx, "changed_keys", &dir, decisions_schema(), std::iter::once(keys)).await?;
    if t.table.scope.is_some() {
        held.extend(register_gone(ctx, t, date, failed, &opts.guard).await?);
    }
    let n = passes_of(ctx, buckets, count(ctx, "decisions"), JOIN_ROW_BYTES).await?;
    if n == 1 {
        return Ok(change_sql(t, date, failed, None, false));
    }
    // The Delta write runs one plan, whose partitions (here, buckets) would all run at once.
    let sqls = bucket_list(n).map(|b| change_sql(t, date, failed, b, false));
    stage_results(ctx, "changed", &staging.join("changes").join(name), log_schema(t), sqls)
        .await
        .with_context(|| format!("读取表 {name} 变化的行失败"))?;
    Ok("SELECT * FROM changed".to_string())
}

/// ` UNION ALL` the rows of `table` (findings or file reports, by `source_file`) that an
/// earlier ingest of the same night committed for files not sent again tonight (`files`: those
/// accepted tonight; a file refused tonight leaves its earlier rows, as it leaves its pupils),
/// with the columns of `tonight` (a statement) in its order; empty before the table's first
/// commit. A pupil's finding also goes when its school is in tonight's scope, whatever file it
/// came from (a county re-sending under another name).
async fn earlier_files(
    wh: &Warehouse,
    ctx: &SessionContext,
    table: &str,
    version: Option<i64>,
    date: NaiveDate,
    tonight: &str,
    files: &[String],
) -> Result<String> {
    let Some(v) = version else {
        return Ok(String::new());
    };
    let name = format!("earlier_{table}");
    ctx.deregister_table(name.as_str())?;
    let provider = super::scan(&wh.at_version(table, v).await?, ctx).await?;
    let have = provider.schema();
    ctx.register_table(name.as_str(), provider)?;
    let want = ctx.sql(tonight).await?.schema().as_arrow().clone();
    let rescoped = if have.field_with_name("base_key").is_ok() {
        " AND NOT (e.table_name = 'students' AND EXISTS (SELECT 1 FROM scope sc WHERE sc.school_id = split_part(e.base_key, '|', 1)))"
    } else {
        ""
    };
    Ok(format!(
        " UNION ALL SELECT {} FROM {name} e WHERE e.snapshot_date = DATE '{}' AND e.source_file NOT IN ({}){rescoped}",
        columns_as(&want, &have),
        date.format("%Y-%m-%d"),
        failed_list(files)
    ))
}

/// `e.<column>` for each column of `want`, in its order, or NULL where the committed table `have`
/// lacks it (a column added since): UNION ALL matches columns by position.
fn columns_as(want: &Schema, have: &Schema) -> String {
    want.fields()
        .iter()
        .map(|f| match have.field_with_name(f.name()) {
            Ok(_) => format!("e.\"{}\"", f.name()),
            Err(_) => format!("NULL AS \"{}\"", f.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows an earlier ingest of the same night committed that tonight's sources do not decide
/// again: records of schools outside tonight's scope (a table with one), or records whose base
/// key no kept row tonight has (a table without). A night is thus made of several ingests — a county re-sending its corrected
/// file, or each province ingesting its own schools into the national warehouse — and each
/// replaces only what it sends. Empty when the night is new.
fn earlier_tonight(t: &TableSchema, date: NaiveDate, failed: &[String], have: &Schema) -> String {
    // With a scope, a record's base key starts with its school, so a record of a school outside
    // tonight's scope has no row tonight: no join with the staged rows (which would not be split
    // into buckets) is needed. The tables without one (schools, movements, the nutrition inputs)
    // are small.
    let undecided = match &t.table.scope {
        Some(c) => format!("NOT EXISTS (SELECT 1 FROM scope sc WHERE sc.school_id = e.\"{c}\")"),
        None => format!(
            "NOT EXISTS (SELECT 1 FROM stg s WHERE {} AND s.base_key = e.base_key)",
            kept_rows(t, failed)
        ),
    };
    format!(
        "SELECT {cols} FROM prev_log e WHERE e.snapshot_date = DATE '{d}' AND {undecided}",
        cols = columns_as(&log_schema(t), have),
        d = date.format("%Y-%m-%d"),
    )
}

/// `held_out` (file, school: the rows a second file sent of a school, see
/// [`crate::ingest::HeldOut`]) and `stg_findings`: the staged findings, and for each such row
/// that passed validation its `R_SCHOOL_TWICE` finding, so that the rejects and the import
/// report list it with its row number.
async fn register_held_out(ctx: &SessionContext, staging: &Path, metrics: &StageMetrics) -> Result<()> {
    let col = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let h = &metrics.held_out;
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("source_file", DataType::Utf8, false),
            Field::new("school_id", DataType::Utf8, false),
            Field::new("kept_file", DataType::Utf8, false),
        ])),
        vec![
            col(h.iter().map(|x| x.file.as_str()).collect()),
            col(h.iter().map(|x| x.school_id.as_str()).collect()),
            col(h.iter().map(|x| x.kept_file.as_str()).collect()),
        ],
    )?;
    ctx.register_table(
        "held_out",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    if h.is_empty() {
        return register_staged(ctx, "stg_findings", &staging.join("findings"), findings_schema()).await;
    }
    register_staged(ctx, "stg_findings_", &staging.join("findings"), findings_schema()).await?;
    let students = &catalog().students;
    register_staged(
        ctx,
        "stg_students_",
        &staging.join("students"),
        staging_schema(students),
    )
    .await?;
    let header = students
        .columns
        .iter()
        .find(|c| c.name == "school_id")
        .map_or("学校标识码", |c| c.header.as_str());
    let message = &catalog().rule("R_SCHOOL_TWICE").message;
    let view = ctx
        .sql(&format!(
            "SELECT * FROM stg_findings_
             UNION ALL
             SELECT s.source_file, 'students' AS table_name, s.source_row AS row_no, 'school_id' AS column_name,
                    {header} AS column_header, s.school_id AS value, 'R_SCHOOL_TWICE' AS rule_code, '错误' AS severity,
                    {message} AS message, '该校今晚以 ' || h.kept_file || ' 为准' AS expected, s.base_key
             FROM stg_students_ s JOIN held_out h ON h.source_file = s.source_file AND h.school_id = s.school_id",
            header = quote(header),
            message = quote(message),
        ))
        .await?
        .into_view();
    ctx.register_table("stg_findings", view)?;
    Ok(())
}

/// Files refused at file level, as an SQL list (`''` when none, so that `NOT IN` keeps every row).
fn failed_list(failed: &[String]) -> String {
    if failed.is_empty() {
        "''".to_string()
    } else {
        failed.iter().map(|f| quote(f)).collect::<Vec<_>>().join(", ")
    }
}

/// A one-column table `name(school_id)` of `ids`.
fn register_schools(ctx: &SessionContext, name: &str, ids: &[String]) -> Result<()> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("school_id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(ids)) as ArrayRef],
    )?;
    ctx.register_table(name, Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))?;
    Ok(())
}

/// Commit one night from a staging directory. Refuses a date earlier than the last committed
/// night (that would silently invalidate the later nights' change records). `buckets` sets the
/// key buckets of the comparison with the previous night (default: from the memory pool).
pub async fn commit_night(
    wh: &Warehouse,
    ctx: &SessionContext,
    date: NaiveDate,
    staging: &Path,
    metrics: &StageMetrics,
    reports: &[FileReport],
    opts: &CommitOptions,
) -> Result<NightCommit> {
    let cat = catalog();
    let nights = wh.nights(ctx).await?;
    if let Some(last) = nights.iter().map(|n| n.snapshot_date).max()
        && date < last
    {
        bail!(
            "仓库已有更晚的快照日期 {last}，不能补录较早的 {date}：较早一晚的变化会使之后各晚的记录失效。请按日期顺序导入，或重新导入 {last} 及之后的日期。"
        );
    }
    let committed = wh.committed_versions(ctx).await?;
    // A filter the planner cannot size keeps 20% of a table's rows by default, so the previous
    // state could look smaller than the keys collected from it, and a join would hold whole
    // previous rows in its hash table. Counting every row keeps the collected keys the smaller.
    ctx.sql("SET datafusion.optimizer.default_filter_selectivity = 100")
        .await?;
    let mut out = NightCommit {
        snapshot_date: date.to_string(),
        seq: nights.last().map_or(1, |n| n.seq + 1),
        ..Default::default()
    };
    register_held_out(ctx, staging, metrics).await?;
    // Tonight's student scope, and the 五四制 schools (the deletion guard's graduation dates).
    register_schools(ctx, "scope", &metrics.student_scope)?;
    register_schools(ctx, "five_four", &metrics.five_four_schools)?;

    for t in cat.input_tables().into_iter().rev() {
        let name = t.table.name.as_str();
        ctx.deregister_table("stg")?;
        ctx.deregister_table("prev_log")?;
        register_staged(ctx, "stg", &staging.join(name), staging_schema(t)).await?;
        let prev: Arc<dyn datafusion::catalog::TableProvider> = match committed.get(name) {
            Some(&v) => super::scan(&wh.at_version(name, v).await?, ctx).await?,
            None => Arc::new(MemTable::try_new(log_schema(t), vec![vec![]])?),
        };
        ctx.register_table("prev_log", prev)?;
        let sql = change_rows(
            ctx,
            t,
            date,
            &metrics.failed_files,
            staging,
            opts,
            &mut out.held_deletions,
        )
        .await?;
        let (n, v) = write_partition(wh, ctx, name, &sql, date, committed.get(name).copied(), false).await?;
        out.tables.insert(name.to_string(), (n, v));
        crate::faults::hit(&format!("after_{name}"));
    }
    // Change counts, read back from what was committed.
    for t in cat.input_tables() {
        let name = t.table.name.as_str();
        let v = out.tables[name].1;
        let provider = super::scan(&wh.at_version(name, v).await?, ctx).await?;
        let df = ctx
            .read_table(provider)?
            .filter(col("snapshot_date").eq(date_lit(date)))?;
        let mut c = [0u64; 3];
        for b in df
            .aggregate(
                vec![col("change")],
                vec![datafusion::functions_aggregate::count::count(lit(1))],
            )?
            .collect()
            .await?
        {
            let ch = super::strings(b.column(0))?;
            let cnt = b.column(1).as_any().downcast_ref::<Int64Array>().context("count")?;
            for i in 0..b.num_rows() {
                let k = match ch.value(i) {
                    "insert" => 0,
                    "update" => 1,
                    _ => 2,
                };
                c[k] = cnt.value(i) as u64;
            }
        }
        out.changes.insert(name.to_string(), c);
    }

    // Rejects: every finding of the night, except rows staged from a file refused at file level.
    let failed_list = failed_list(&metrics.failed_files);
    let d = date.format("%Y-%m-%d");
    let files: Vec<String> = reports
        .iter()
        .map(|r| r.file.clone())
        .filter(|f| !metrics.failed_files.contains(f))
        .collect();
    let tonight = format!(
        "SELECT *, DATE '{d}' AS snapshot_date FROM stg_findings WHERE row_no IS NULL OR source_file NOT IN ({failed_list})"
    );
    let earlier = earlier_files(
        wh,
        ctx,
        "rejects",
        committed.get("rejects").copied(),
        date,
        &tonight,
        &files,
    )
    .await?;
    let rejects_sql = format!("{tonight}{earlier}");
    let r = write_partition(
        wh,
        ctx,
        "rejects",
        &rejects_sql,
        date,
        committed.get("rejects").copied(),
        false,
    )
    .await?;
    out.tables.insert("rejects".into(), r);

    let files_batch = import_files_batch(reports)?;
    ctx.register_table(
        "night_files",
        Arc::new(MemTable::try_new(files_batch.schema(), vec![vec![files_batch]])?),
    )?;
    let tonight = format!("SELECT *, DATE '{d}' AS snapshot_date FROM night_files");
    let v = committed.get("import_files").copied();
    let earlier = earlier_files(wh, ctx, "import_files", v, date, &tonight, &files).await?;
    let f = write_partition(
        wh,
        ctx,
        "import_files",
        &format!("{tonight}{earlier}"),
        date,
        committed.get("import_files").copied(),
        false,
    )
    .await?;
    out.tables.insert("import_files".into(), f);

    // The night becomes visible here, in one append to `_nights`.
    let mut fields = vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("snapshot_date", DataType::Date32, false),
        Field::new("committed_at", DataType::Utf8, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![out.seq])),
        Arc::new(Date32Array::from(vec![days(date)])),
        Arc::new(StringArray::from(vec![chrono::Utc::now().to_rfc3339()])),
    ];
    for t in super::NIGHT_TABLES {
        fields.push(Field::new(format!("v_{t}"), DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(vec![out.tables.get(t).map(|x| x.1)])));
    }
    for (k, v) in [
        ("rows_in", metrics.rows_in),
        ("accepted", metrics.accepted),
        ("rejected", metrics.rejected),
    ] {
        fields.push(Field::new(k, DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from(vec![v as i64])));
    }
    let night = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
    let target = wh.for_write(NIGHTS).await?;
    crate::faults::hit("before_nights_commit");
    // Merge: a warehouse made before a table was added gains its column here.
    target
        .write(vec![night])
        .with_save_mode(SaveMode::Append)
        .with_schema_mode(SchemaMode::Merge)
        .await
        .context("写入 _nights 失败")?;
    Ok(out)
}

fn import_files_batch(reports: &[FileReport]) -> Result<RecordBatch> {
    let s = |f: &dyn Fn(&FileReport) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(reports.iter().map(f).collect::<Vec<_>>()))
    };
    let i = |f: &dyn Fn(&FileReport) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(reports.iter().map(f).collect::<Vec<_>>()))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, true),
        Field::new("encoding", DataType::Utf8, true),
        Field::new("sheet", DataType::Utf8, true),
        Field::new("rows_in", DataType::Int64, false),
        Field::new("accepted", DataType::Int64, false),
        Field::new("rejected", DataType::Int64, false),
        Field::new("warnings", DataType::Int64, false),
        Field::new("file_error_code", DataType::Utf8, true),
        Field::new("file_error", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            s(&|r| Some(r.file.clone())),
            s(&|r| Some(r.table.clone()).filter(|x| !x.is_empty())),
            s(&|r| Some(r.encoding.clone()).filter(|x| !x.is_empty())),
            s(&|r| Some(r.sheet.clone()).filter(|x| !x.is_empty())),
            i(&|r| r.rows_in as i64),
            i(&|r| r.accepted as i64),
            i(&|r| r.rejected as i64),
            i(&|r| r.warnings as i64),
            s(&|r| r.file_error.as_ref().map(|e| e.0.clone())),
            s(&|r| r.file_error.as_ref().map(|e| e.1.clone())),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::{JOIN_ROW_BYTES, passes_for};

    /// How many key buckets a comparison join over `rows` rows is split into.
    fn buckets_for(rows: u64, pool_bytes: u64) -> u64 {
        passes_for(rows * JOIN_ROW_BYTES, pool_bytes)
    }

    #[test]
    fn a_comparison_is_split_so_that_one_bucket_fits_in_a_quarter_of_the_pool() {
        const GIB: u64 = 1 << 30;
        // The default 4 GB pool: a county in one go, a 20-million-pupil province in five.
        assert_eq!(buckets_for(200_000, 4 * GIB), 1);
        assert_eq!(buckets_for(20_000_000, 4 * GIB), 5);
        // Less memory, more buckets: memory stays bounded whatever the size.
        assert_eq!(buckets_for(20_000_000, GIB), 20);
        assert_eq!(buckets_for(0, GIB), 1);
    }
}

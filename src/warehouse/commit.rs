//! Committing one night: staged Parquet → change-log partitions, rejects, file list, then `_nights`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
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

/// What a night's commit wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NightCommit {
    pub snapshot_date: String,
    pub seq: i64,
    /// Per table: (rows written tonight, Delta version).
    pub tables: BTreeMap<String, (u64, i64)>,
    /// Per history table: inserted, updated, deleted.
    pub changes: BTreeMap<String, [u64; 3]>,
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
    let has_files = dir.is_dir() && std::fs::read_dir(dir)?.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")));
    if has_files {
        let opts = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet(name, dir.to_str().context("staging path is not UTF-8")?, opts).await?;
    } else {
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    }
    Ok(())
}

/// Write `sql`'s result into `table`, partitioned by `snapshot_date`, replacing partition `date`
/// (or the whole table when it has no committed version yet). With `one_file` the night's rows go
/// into a single data file, whatever its size, so that it can be published as it is (a model's
/// mart); input tables keep delta-rs's size-bounded files. Returns (rows written, new version).
pub async fn write_partition(wh: &Warehouse, ctx: &SessionContext, table: &str, sql: &str, date: NaiveDate, committed: Option<i64>, one_file: bool) -> Result<(u64, i64)> {
    let df = ctx.sql(sql).await.with_context(|| format!("bug: commit SQL for {table} does not plan"))?;
    let plan = df.logical_plan().clone();
    let mut t = wh.latest(table).await?;
    // Roll back what a crashed run left on top of the committed version.
    if let (Some(tab), Some(v)) = (&t, committed)
        && tab.version().unwrap_or(0) as i64 > v {
            let restored = tab.clone().restore().with_version_to_restore(v as _).await?;
            t = Some(restored.0);
        }
    let target = match t {
        Some(t) => t,
        None => wh.for_write(table).await?,
    };
    let mut w = target.write(Vec::new()).with_input_plan(plan).with_session_state(Arc::new(ctx.state())).with_partition_columns(["snapshot_date"]);
    if one_file {
        w = w.with_target_file_size(None);
    }
    // A model or table that gained columns in a newer version adds them (older dates read null).
    w = w.with_schema_mode(SchemaMode::Merge);
    w = if committed.is_some() {
        w.with_save_mode(SaveMode::Overwrite).with_replace_where(col("snapshot_date").eq(date_lit(date)))
    } else {
        w.with_save_mode(SaveMode::Overwrite)
    };
    let out = w.await.with_context(|| format!("写入表 {table} 失败"))?;
    let version = out.version().unwrap_or(0) as i64;
    // Rows written tonight: count the night's partition at the new version.
    let provider = out.table_provider().await?;
    let n = ctx.read_table(provider)?.filter(col("snapshot_date").eq(date_lit(date)))?.count().await? as u64;
    Ok((n, version))
}

/// The CTEs shared by the change SQL and [`register_change_inputs`]: `new` (tonight's rows with
/// their record keys) and `prev` (the committed state before tonight).
///
/// Record keys number the rows of one base key in file and row order. Only the few base keys
/// that repeat tonight (`dups`, collected beforehand) need the window; the rest are `#1`. A
/// window partitioned by base key over every row would cut each batch into one slice per row.
/// The previous state is the log less what later changes superseded, as in the views.
fn change_ctes(d: &str, failed: &[String]) -> String {
    format!(
        "stg_ AS (SELECT * FROM stg s WHERE s.source_file NOT IN ({failed})),
         new AS (
            SELECT s.*, s.base_key || '#1' AS record_key
            FROM stg_ s WHERE NOT EXISTS (SELECT 1 FROM dups d WHERE d.base_key = s.base_key)
            UNION ALL
            SELECT s.*, s.base_key || '#' || CAST(ROW_NUMBER() OVER (PARTITION BY s.base_key ORDER BY s.source_file, s.source_row) AS VARCHAR) AS record_key
            FROM stg_ s WHERE EXISTS (SELECT 1 FROM dups d WHERE d.base_key = s.base_key)
         ),
         prev AS (
            SELECT l.* FROM prev_log l
            WHERE l.snapshot_date < DATE '{d}' AND l.change <> 'delete'
              AND NOT EXISTS (SELECT 1 FROM prev_superseded_ x WHERE x.k_ = l.record_key AND x.d_ = l.snapshot_date)
         )",
        failed = failed_list(failed)
    )
}

/// The change-log SQL of one history table: inserts and updates from staging, deletes of
/// registrations of submitted schools that are absent tonight (`gone`, see
/// [`register_change_inputs`]).
fn change_sql(t: &TableSchema, date: NaiveDate, failed: &[String]) -> String {
    let data: Vec<String> = t.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let data_n = data.iter().map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
    let data_p = data.iter().map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
    let d = date.format("%Y-%m-%d").to_string();
    let deleted = if t.table.scope.is_some() {
        format!(
            "UNION ALL
             SELECT {data_p}, p.record_key, 'delete' AS change, p.base_key, p.row_hash, p.source_file, p.source_row, DATE '{d}' AS snapshot_date
             FROM prev p WHERE EXISTS (SELECT 1 FROM gone g WHERE g.record_key = p.record_key)"
        )
    } else {
        String::new()
    };
    // The join reads only key and hash of `prev`, so its build side stays narrow.
    format!(
        "WITH {ctes}
         SELECT {data_n}, n.record_key, CASE WHEN p.record_key IS NULL THEN 'insert' ELSE 'update' END AS change,
                n.base_key, n.row_hash, n.source_file, n.source_row, DATE '{d}' AS snapshot_date
         FROM new n LEFT JOIN prev p ON n.record_key = p.record_key
         WHERE p.record_key IS NULL OR p.row_hash <> n.row_hash
         {deleted}",
        ctes = change_ctes(&d, failed)
    )
}

/// Register the small in-memory inputs of [`change_sql`]: `dups` (base keys staged more than
/// once tonight, outside refused files), `prev_superseded_` (see
/// [`super::views::register_superseded`]) and, for a table with a scope, `gone` (record keys of
/// the submitted schools' registrations absent tonight, not when the row was only rejected).
/// `gone` is found from keys alone and kept apart so that the deletes read whole previous rows
/// through a semi-join on a small table, not by holding every previous row in a hash table.
async fn register_change_inputs(ctx: &SessionContext, t: &TableSchema, date: NaiveDate, failed: &[String]) -> Result<()> {
    let d = date.format("%Y-%m-%d").to_string();
    let dups = format!("SELECT base_key FROM stg WHERE source_file NOT IN ({}) GROUP BY base_key HAVING COUNT(*) > 1", failed_list(failed));
    super::views::register_collected(ctx, "dups", &dups).await?;
    super::views::register_superseded(ctx, "prev_log", &format!("< DATE '{d}'"), "prev_superseded_").await?;
    if t.table.scope.is_some() {
        let gone = format!(
            "WITH {ctes}
             SELECT p.record_key FROM prev p
             WHERE p.school_id IN (SELECT school_id FROM scope)
               AND NOT EXISTS (SELECT 1 FROM new n WHERE n.record_key = p.record_key)
               AND NOT EXISTS (SELECT 1 FROM stg_findings f WHERE f.table_name = '{name}' AND f.severity = '错误' AND f.base_key = p.base_key)",
            ctes = change_ctes(&d, failed),
            name = t.table.name
        );
        super::views::register_collected(ctx, "gone", &gone).await?;
    }
    Ok(())
}

/// Files refused at file level, as an SQL list (`''` when none, so that `NOT IN` keeps every row).
fn failed_list(failed: &[String]) -> String {
    if failed.is_empty() { "''".to_string() } else { failed.iter().map(|f| quote(f)).collect::<Vec<_>>().join(", ") }
}

/// Commit one night from a staging directory. Refuses a date earlier than the last committed
/// night (that would silently invalidate the later nights' change records).
pub async fn commit_night(wh: &Warehouse, ctx: &SessionContext, date: NaiveDate, staging: &Path, metrics: &StageMetrics, reports: &[FileReport]) -> Result<NightCommit> {
    let cat = catalog();
    let nights = wh.nights(ctx).await?;
    if let Some(last) = nights.iter().map(|n| n.snapshot_date).max()
        && date < last {
            bail!("仓库已有更晚的快照日期 {last}，不能补录较早的 {date}：较早一晚的变化会使之后各晚的记录失效。请按日期顺序导入，或重新导入 {last} 及之后的日期。");
        }
    let committed = wh.committed_versions(ctx).await?;
    let mut out = NightCommit { snapshot_date: date.to_string(), seq: nights.last().map_or(1, |n| n.seq + 1), ..Default::default() };
    register_staged(ctx, "stg_findings", &staging.join("findings"), findings_schema()).await?;
    let scope: Vec<&str> = metrics.student_scope.iter().map(String::as_str).collect();
    let scope_batch = RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("school_id", DataType::Utf8, false)])), vec![Arc::new(StringArray::from(scope)) as ArrayRef])?;
    ctx.register_table("scope", Arc::new(MemTable::try_new(scope_batch.schema(), vec![vec![scope_batch]])?))?;

    for t in cat.input_tables().into_iter().rev() {
        let name = t.table.name.as_str();
        ctx.deregister_table("stg")?;
        ctx.deregister_table("prev_log")?;
        register_staged(ctx, "stg", &staging.join(name), staging_schema(t)).await?;
        let prev: Arc<dyn datafusion::catalog::TableProvider> = match committed.get(name) {
            Some(&v) => wh.at_version(name, v).await?.table_provider().await?,
            None => Arc::new(MemTable::try_new(log_schema(t), vec![vec![]])?),
        };
        ctx.register_table("prev_log", prev)?;
        register_change_inputs(ctx, t, date, &metrics.failed_files).await?;
        let sql = change_sql(t, date, &metrics.failed_files);
        let (n, v) = write_partition(wh, ctx, name, &sql, date, committed.get(name).copied(), false).await?;
        out.tables.insert(name.to_string(), (n, v));
        crate::faults::hit(&format!("after_{name}"));
    }
    // Change counts, read back from what was committed.
    for t in cat.input_tables() {
        let name = t.table.name.as_str();
        let v = out.tables[name].1;
        let provider = wh.at_version(name, v).await?.table_provider().await?;
        let df = ctx.read_table(provider)?.filter(col("snapshot_date").eq(date_lit(date)))?;
        let mut c = [0u64; 3];
        for b in df.aggregate(vec![col("change")], vec![datafusion::functions_aggregate::count::count(lit(1))])?.collect().await? {
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
    let rejects_sql = format!("SELECT *, DATE '{d}' AS snapshot_date FROM stg_findings WHERE row_no IS NULL OR source_file NOT IN ({failed_list})");
    let r = write_partition(wh, ctx, "rejects", &rejects_sql, date, committed.get("rejects").copied(), false).await?;
    out.tables.insert("rejects".into(), r);

    let files_batch = import_files_batch(reports)?;
    ctx.register_table("night_files", Arc::new(MemTable::try_new(files_batch.schema(), vec![vec![files_batch]])?))?;
    let f = write_partition(wh, ctx, "import_files", &format!("SELECT *, DATE '{d}' AS snapshot_date FROM night_files"), date, committed.get("import_files").copied(), false).await?;
    out.tables.insert("import_files".into(), f);

    // The night becomes visible here, in one append to `_nights`.
    let mut fields = vec![Field::new("seq", DataType::Int64, false), Field::new("snapshot_date", DataType::Date32, false), Field::new("committed_at", DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![out.seq])),
        Arc::new(Date32Array::from(vec![days(date)])),
        Arc::new(StringArray::from(vec![chrono::Utc::now().to_rfc3339()])),
    ];
    for t in super::NIGHT_TABLES {
        fields.push(Field::new(format!("v_{t}"), DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from(vec![out.tables.get(t).map(|x| x.1)])));
    }
    for (k, v) in [("rows_in", metrics.rows_in), ("accepted", metrics.accepted), ("rejected", metrics.rejected)] {
        fields.push(Field::new(k, DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from(vec![v as i64])));
    }
    let night = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
    let target = wh.for_write(NIGHTS).await?;
    crate::faults::hit("before_nights_commit");
    // Merge: a warehouse made before a table was added gains its column here.
    target.write(vec![night]).with_save_mode(SaveMode::Append).with_schema_mode(SchemaMode::Merge).await.context("写入 _nights 失败")?;
    Ok(out)
}

fn import_files_batch(reports: &[FileReport]) -> Result<RecordBatch> {
    let s = |f: &dyn Fn(&FileReport) -> Option<String>| -> ArrayRef { Arc::new(StringArray::from(reports.iter().map(f).collect::<Vec<_>>())) };
    let i = |f: &dyn Fn(&FileReport) -> i64| -> ArrayRef { Arc::new(Int64Array::from(reports.iter().map(f).collect::<Vec<_>>())) };
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

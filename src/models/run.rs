//! `xueji run`: every model over the warehouse as of a date, committed as one run.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use deltalake_core::protocol::SaveMode;
use serde::Serialize;
use tokio::task::JoinSet;

use super::materialize::{held_name, materialize};
use super::passes::{self, PassDir};
use super::{Model, SQL_FILES, models, out_schema};
use crate::warehouse::{self, RUNS, Warehouse};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub warehouse: String,
    /// Snapshot date (default: the latest committed night).
    pub date: Option<NaiveDate>,
    /// Only these models and what depends on them (default: all).
    pub only: Vec<String>,
    pub threads: usize,
    pub memory_mb: usize,
    /// Models run at once (those that do not read each other).
    pub jobs: usize,
    /// Compute every model on this cluster (`df://HOST:PORT`); the run is committed here.
    pub cluster: Option<String>,
    /// Passes of the models computed in passes (`-- buckets:`; default: from the memory pool of
    /// this machine, also on a cluster).
    pub passes: Option<u64>,
    /// Seconds to wait for another writer of the warehouse (an ingest, a vacuum) to finish.
    pub wait_lock_secs: u64,
}

/// Models run at once unless told otherwise: one computes while another writes its file.
pub const DEFAULT_JOBS: usize = 2;

#[derive(Debug, Clone, Serialize)]
pub struct ModelOutcome {
    pub model: String,
    pub rows: u64,
    pub version: i64,
    /// Passes that computed it: more than one for a model with `-- buckets:` whose set outgrows
    /// the memory pool, or as `--passes` said (`models::passes`).
    pub passes: u64,
    pub millis: u64,
    /// When the model started, Unix milliseconds (a timeline of the run: models overlap).
    pub started_unix_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub snapshot_date: String,
    pub seq: i64,
    pub models: Vec<ModelOutcome>,
    /// Wall time from the first model's start to the last one's end (models overlap).
    pub models_millis: u64,
    /// Peak resident memory of the process, in MiB (Linux), when the run ended.
    pub peak_rss_mb: Option<f64>,
}

pub async fn run(o: &RunOptions) -> Result<RunOutcome> {
    let wh = Warehouse::open(&o.warehouse)?;
    // On a cluster, the sets the models compute first are written in the warehouse for the run.
    let scratch = o.cluster.as_ref().map(|_| wh.scratch_dir()).transpose()?;
    // One writer at a time: two runs (or a run and an ingest) would both append to `_runs`.
    let wait = std::time::Duration::from_secs(o.wait_lock_secs);
    let outcome = warehouse::lock::with_lock(&wh, "run", wait, async |lock| {
        run_locked(o, &wh, lock, scratch.clone()).await
    })
    .await;
    if let Some(dir) = &scratch {
        wh.discard_scratch(dir).await;
    }
    outcome
}

async fn run_locked(
    o: &RunOptions,
    wh: &Warehouse,
    lock: &warehouse::lock::WarehouseLock,
    scratch: Option<url::Url>,
) -> Result<RunOutcome> {
    let ctx = warehouse::session(o.threads, o.memory_mb)?;
    let nights = wh.nights(&ctx).await?;
    let latest = nights
        .iter()
        .map(|n| n.snapshot_date)
        .max()
        .with_context(|| format!("仓库 {} 中还没有已提交的快照：请先运行 xueji ingest", o.warehouse))?;
    let date = o.date.unwrap_or(latest);
    anyhow::ensure!(
        nights.iter().any(|n| n.snapshot_date <= date),
        "仓库中没有 {date} 或更早的快照（最早为 {}）",
        nights.iter().map(|n| n.snapshot_date).min().unwrap_or(latest)
    );
    // The secret exists before the views are registered, so `stable_id` is keyed from the start.
    wh.secret(true).await?;
    warehouse::register_all(wh, &ctx, Some(date)).await?;
    let runs = wh.model_runs(&ctx).await?;
    // On a cluster, the models are computed there over the same committed files and written
    // here ([`crate::cluster::remote_table`]).
    let (remote, watch) = match &o.cluster {
        Some(url) => {
            // Watched from before the first job: registering the views already runs jobs there.
            let watch = crate::cluster::membership::Watch::start(&crate::cluster::parse_cluster(url)?).await?;
            // What killed runs left (no other run can be using it: this one holds the lock).
            if let Err(e) = wh.remove_stale_scratch(warehouse::scratch::STALE_AFTER).await {
                eprintln!("警告：{e:#} / warning: old scratch folders stay");
            }
            let c = crate::cluster::connect(url, o.threads, scratch).await?;
            warehouse::register_all(wh, &c, Some(date)).await?;
            (Some(c), Some(watch))
        }
        None => (None, None),
    };

    let all = models()?;
    let mut selected: BTreeSet<String> = if o.only.is_empty() {
        all.iter().map(|m| m.name.clone()).collect()
    } else {
        o.only.iter().cloned().collect()
    };
    for n in &o.only {
        anyhow::ensure!(
            all.iter().any(|m| &m.name == n),
            "没有名为 {n} 的模型；可用：{}",
            all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    // What reads a model that runs tonight runs too, so no output is left stale.
    let mut pending: Vec<Model> = Vec::new();
    for m in &all {
        if m.inputs.iter().any(|i| selected.contains(i)) {
            selected.insert(m.name.clone());
        }
        if selected.contains(&m.name) {
            pending.push(m.clone());
        }
    }

    // Up to `jobs` models at once, each as soon as the models it reads are written: one model
    // leaves a core idle while it writes its single file or commits, another computes meanwhile.
    // Of the models ready, the one that wrote the most rows last time starts first, so that the
    // longest (the roster) does not start last. Every model reads only finished inputs, so the
    // outputs do not depend on the order.
    let t_models = Instant::now();
    let progress = crate::progress::Progress::new("模型", "个", Some(pending.len() as u64));
    let mut running: JoinSet<Result<ModelOutcome>> = JoinSet::new();
    let mut busy: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    loop {
        while running.len() < o.jobs.max(1) {
            let ready = |m: &Model| {
                !m.inputs
                    .iter()
                    .any(|inp| busy.contains(inp) || pending.iter().any(|p| &p.name == inp))
            };
            // Without a last run (a new warehouse), the order of SQL_FILES, which lists the roster early.
            let first = |m: &Model| {
                (
                    runs.get(&m.name).map_or(0, |r| r.rows),
                    Reverse(SQL_FILES.iter().position(|(f, _)| *f == m.file)),
                )
            };
            let Some(i) = pending
                .iter()
                .enumerate()
                .filter(|(_, m)| ready(m))
                .max_by_key(|(_, m)| first(m))
                .map(|(i, _)| i)
            else {
                break;
            };
            let m = pending.remove(i);
            busy.insert(m.name.clone());
            let given = Given {
                committed: runs.get(&m.name).map(|r| r.version),
                passes: o.passes,
            };
            let sessions = Sessions {
                local: ctx.clone(),
                remote: remote.clone(),
            };
            running.spawn(run_model(wh.clone(), sessions, m, date, given));
        }
        progress.note(busy.iter().cloned().collect::<Vec<_>>().join(" "));
        let Some(done) = running.join_next().await else { break };
        // An error ends the run; the models still running are aborted with the set. On a
        // cluster, a lost executor is the cause to report first (a model fails with it too).
        if let Some(w) = &watch {
            w.still_whole().await?;
        }
        let done = done.context("模型任务中止 / a model task stopped")??;
        busy.remove(&done.model);
        progress.inc(1);
        out.push(done);
    }
    progress.finish();
    let models_millis = t_models.elapsed().as_millis() as u64;
    out.sort_by_key(|m| all.iter().position(|a| a.name == m.model));

    // The run becomes visible here, in one append to `_runs`.
    // Every row of `_runs` names a model, so the last run is the latest of any model's.
    let seq = runs.values().map(|r| r.seq).max().unwrap_or(0) + 1;
    let n = out.len();
    let at = chrono::Utc::now().to_rfc3339();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("snapshot_date", DataType::Date32, false),
            Field::new("run_at", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("rows", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![seq; n])) as ArrayRef,
            Arc::new(Date32Array::from(vec![warehouse::days(date); n])),
            Arc::new(StringArray::from(vec![at.as_str(); n])),
            Arc::new(StringArray::from(
                out.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(out.iter().map(|m| m.version).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(out.iter().map(|m| m.rows as i64).collect::<Vec<_>>())),
        ],
    )?;
    // A cluster that lost an executor may have given wrong rows: such a run is not committed.
    if let Some(w) = &watch {
        w.check().await?;
    }
    lock.ensure_held().await?;
    crate::faults::hit("before_runs_commit");
    wh.for_write(RUNS)
        .await?
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .context("写入 _runs 失败")?;
    let written: Vec<(&str, i64)> = out.iter().map(|m| (m.model.as_str(), m.version)).collect();
    publish(wh, &ctx, &written, date).await?;
    Ok(RunOutcome {
        snapshot_date: date.to_string(),
        seq,
        models: out,
        models_millis,
        peak_rss_mb: crate::memory::peak_rss_mb(),
    })
}

/// Where a run computes (`remote`, a cluster, when given) and where it writes (`local`).
struct Sessions {
    local: SessionContext,
    remote: Option<SessionContext>,
}

/// One model: its materialized parts, its statement, its night's partition written and
/// registered for the models that read it.
async fn run_model(wh: Warehouse, sessions: Sessions, m: Model, date: NaiveDate, given: Given) -> Result<ModelOutcome> {
    let t0 = Instant::now();
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let ctx = &sessions.local;
    let remote = sessions.remote.as_ref();
    let mut written = compute_and_write(&wh, ctx, remote, &m, date, given).await;
    // A hash join holds its build side in memory and cannot spill; a sort-merge join spills. On
    // one machine a model whose hash joins outgrew the pool is computed again with the latter
    // (slower, and only when needed: the estimate of a model's size was wrong, or a model in
    // passes was given too few). (DataFusion plans sort-merge joins only with more than one
    // partition.)
    let can_spill = ctx.state().config().target_partitions() > 1;
    if remote.is_none()
        && can_spill
        && let Err(e) = &written
        && out_of_memory(e)
    {
        let first = e.root_cause().to_string();
        eprintln!(
            "提示：模型 {} 的哈希连接超出内存池，改用可落盘的排序合并连接重新计算 / {}: hash joins ran out of memory, computing again with sort-merge joins",
            m.name, m.name
        );
        let spilling = with_settings(ctx, &[("datafusion.optimizer.prefer_hash_join", "false")])?;
        written = compute_and_write(&wh, &spilling, None, &m, date, given)
            .await
            .with_context(|| format!("用排序合并连接重算也失败；先前用哈希连接时：{first}"));
    }
    let Written { rows, version, passes } = written?;
    // Later models read this one as just written, here and on the cluster.
    warehouse::register_model(&wh, ctx, &m.name, version, Some(date)).await?;
    if let Some(remote) = &sessions.remote {
        warehouse::register_model(&wh, remote, &m.name, version, Some(date)).await?;
    }
    Ok(ModelOutcome {
        model: m.name,
        rows,
        version,
        passes,
        millis: t0.elapsed().as_millis() as u64,
        started_unix_ms,
    })
}

/// What a model's run knows besides its statement: the version its table was committed at, and
/// the passes given on the command line.
#[derive(Debug, Clone, Copy)]
struct Given {
    committed: Option<i64>,
    passes: Option<u64>,
}

/// The model's statement computed (on `remote` when given) and its night written through `ctx`:
/// the rows, the table's new version and how many passes computed it ([`super::passes`]; as
/// given, else from the memory pool of `ctx`).
async fn compute_and_write(
    wh: &Warehouse,
    ctx: &SessionContext,
    remote: Option<&SessionContext>,
    m: &Model,
    date: NaiveDate,
    given: Given,
) -> Result<Written> {
    let on = remote.unwrap_or(ctx);
    let schema = out_schema(&m.schema)?;
    let dir = m
        .buckets
        .as_ref()
        .map(|_| PassDir::new(on, remote.is_some(), &m.name))
        .transpose()?;
    // A model computed in passes writes its sets as Parquet, not into memory (they are every
    // registration and every pair; held outside the pool they would not be bounded).
    let files = dir.as_ref().map(PassDir::url);
    let (mut sql, mut held) = match materialize(on, &m.name, &m.sql, files).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(d) = dir {
                d.discard(wh).await;
            }
            return Err(e.context(format!("模型 {}（sql/{}）", m.name, m.file)));
        }
    };
    let streamed = format!("__cluster_{}", m.name);
    let mut n = 1;
    let written = async {
        if let (Some(b), Some(dir)) = (&m.buckets, &dir) {
            let set = held_name(&m.name, &b.cte);
            passes::check_column(on, &set, b).await?;
            // The pool that holds a pass's hash tables is this machine's, also on a cluster.
            n = warehouse::passes_of(ctx, given.passes, warehouse::count(on, &set), b.row_bytes)
                .await
                .with_context(|| format!("无法计数 {} / cannot count the bucketed set", b.cte))?;
            if n > 1 {
                // Named apart from the materialised CTEs (`__<model>_<cte>`).
                let table = format!("__{}__passes", m.name);
                held.push(table.clone());
                let rows = passes::compute(on, &m.name, &sql, b, n, dir.url()).await?;
                on.register_table(table.as_str(), rows)?;
                sql = format!("SELECT * FROM {table}");
            }
        }
        let df = on
            .sql(&sql)
            .await
            .with_context(|| format!("模型 {}（sql/{}）无法执行", m.name, m.file))?;
        if let Some(why) = schema.mismatch(df.schema().as_arrow()) {
            anyhow::bail!(
                "模型 {}（sql/{}）的结果与 schemas/models/{}.toml 不符：{why}",
                m.name,
                m.file,
                m.schema
            );
        }
        let mut storing = schema.storing_sql(&sql, date);
        if let Some(remote) = remote {
            let df = remote
                .sql(&storing)
                .await
                .with_context(|| format!("模型 {}（sql/{}）无法在集群上执行", m.name, m.file))?;
            ctx.register_table(streamed.as_str(), crate::cluster::remote_table(df)?)?;
            storing = format!("SELECT * FROM {streamed}");
        }
        warehouse::write_partition(wh, ctx, &m.name, &storing, date, given.committed, true).await
    }
    .await;
    // Whatever happened, the model's tables in memory and its files go (a retry must not find
    // them held); a failure here comes after the model's own error.
    let mut dropped = Ok(());
    if remote.is_some() {
        dropped = dropped.and(ctx.deregister_table(streamed.as_str()).map(drop));
    }
    for t in held {
        dropped = dropped.and(on.deregister_table(t.as_str()).map(drop));
    }
    if let Some(d) = dir {
        d.discard(wh).await;
    }
    let written = written.and_then(|w| dropped.map(|()| w).map_err(Into::into));
    let (rows, version) = written.with_context(|| format!("模型 {}（sql/{}）", m.name, m.file))?;
    Ok(Written {
        rows,
        version,
        passes: n,
    })
}

/// What [`compute_and_write`] wrote.
struct Written {
    rows: u64,
    version: i64,
    passes: u64,
}

/// Whether `e` is a query that ran out of its memory pool (delta-rs passes DataFusion's error on as
/// text).
fn out_of_memory(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("Resources exhausted")
}

/// `ctx` with the options `settings` changed: the same tables (one catalog), so what is registered
/// on either is seen by both.
fn with_settings(ctx: &SessionContext, settings: &[(&str, &str)]) -> Result<SessionContext> {
    let state = ctx.state();
    // Building a state would otherwise put a new, empty default catalog in the shared list.
    let mut config = state.config().clone().with_create_default_catalog_and_schema(false);
    for (k, v) in settings {
        config
            .options_mut()
            .set(k, v)
            .with_context(|| format!("模型设置 {k} = {v} 无效 / invalid model setting"))?;
    }
    Ok(SessionContext::new_with_state(
        datafusion::execution::SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build(),
    ))
}

/// Plain Parquet copies of a run's outputs for readers that do not speak Delta (DuckDB, Polars,
/// pyarrow, Spark): `WH/marts/<model>/snapshot_date=<D>/<model>.parquet`, Hive-style, one file
/// per model and date. A model's night is written as one Delta data file, which is plain Parquet
/// without the partition column: that file is copied into place (a hard link and a rename on a
/// local disk, a server-side copy on S3), so a reader sees the old file or the new one and a re-run
/// replaces it, never adds to it. A night of no rows has no data file and is written out empty.
/// The Delta tables stay the record.
pub async fn publish(
    wh: &Warehouse,
    ctx: &datafusion::prelude::SessionContext,
    models: &[(&str, i64)],
    date: NaiveDate,
) -> Result<()> {
    use datafusion::dataframe::DataFrameWriteOptions;
    use deltalake_core::kernel::schema::partitions::{FilterOp, FilterValue};
    use object_store::{ObjectStoreExt, path::Path};
    let (store, prefix) = wh.store()?;
    let d = date.to_string();
    for (m, version) in models {
        let table = wh.at_version(m, *version).await?;
        let files = table
            .get_files_by_partitions(&[("snapshot_date", FilterOp::Eq, FilterValue::Scalar(&d))])
            .await?;
        let dest = Path::from_iter(
            prefix
                .parts()
                .chain(["marts", m, &format!("snapshot_date={d}"), &format!("{m}.parquet")].map(Into::into)),
        );
        if let [file] = files.as_slice() {
            let src = Path::from_iter(prefix.parts().chain(std::iter::once((*m).into())).chain(file.parts()));
            store
                .copy(&src, &dest)
                .await
                .with_context(|| format!("发布 {m} 的 Parquet 文件失败 / publishing {dest}"))?;
            continue;
        }
        if wh.root().scheme() == "s3" {
            let (store, _) = crate::warehouse::s3::store_for(wh.root())?;
            let bucket = url::Url::parse(&format!("s3://{}", wh.root().host_str().unwrap_or_default()))?;
            ctx.register_object_store(&bucket, store);
        }
        let url = wh.root().join(&format!("marts/{m}/snapshot_date={date}/{m}.parquet"))?;
        let df = ctx.sql(&format!("SELECT * EXCEPT (snapshot_date) FROM {m}")).await?;
        df.write_parquet(
            url.as_str(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .with_context(|| format!("发布 {m} 的 Parquet 文件失败 / publishing {url}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A join whose hash table outgrows the pool fails as out of memory; on the session with
    /// sort-merge joins the same statement spills and gives the whole answer, and the first
    /// session still has its tables (the two share one catalog).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_join_too_large_for_the_pool_is_computed_again_with_sort_merge_joins() {
        let ctx = warehouse::session(2, 32).unwrap();
        for t in ["a", "b"] {
            ctx.sql(&format!(
                "CREATE VIEW {t} AS SELECT value AS k, repeat('x', 40) AS pad FROM generate_series(1, 1000000)"
            ))
            .await
            .unwrap();
        }
        let q = "SELECT COUNT(*) AS n FROM a JOIN b ON a.k = b.k AND a.pad = b.pad";
        let e = ctx
            .sql(q)
            .await
            .unwrap()
            .collect()
            .await
            .map_err(anyhow::Error::from)
            .unwrap_err();
        assert!(out_of_memory(&e), "{e:#}");
        let spilling = with_settings(&ctx, &[("datafusion.optimizer.prefer_hash_join", "false")]).unwrap();
        let n = spilling.sql(q).await.unwrap().collect().await.unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&n)
                .unwrap()
                .to_string()
                .lines()
                .nth(3),
            Some("| 1000000 |")
        );
        assert!(ctx.table_exist("a").unwrap() && ctx.table_exist("b").unwrap());
        let again = ctx.sql(q).await.unwrap().collect().await.map_err(anyhow::Error::from);
        assert!(
            again.is_err_and(|e| out_of_memory(&e)),
            "the first session keeps its own settings"
        );
    }
}

//! `xueji vacuum`: remove the data files no version a reader may still use needs.
//!
//! A re-run or re-ingest of a date writes a new Delta version and retires the files it replaced;
//! delta-rs keeps them so that earlier versions stay readable, and a killed run leaves files no
//! version names. Nothing removed either: a 20M warehouse run again and again on one date grew from
//! 7.6 to 28 GB. delta-rs's vacuum plans the removal (full mode: retired files and files
//! no version names, older than `keep`) and never the files of the version each table's last
//! committed night or run uses, kept whole: a run that died after writing a table and before
//! committing leaves that table's latest version ahead of the served one. The files are then
//! deleted here rather than by delta-rs's vacuum, which would add two commits to every table:
//! each runs the post-commit log cleanup, which can delete the log of a served version older
//! than the log retention (a table not written for a month), and each would put the table's
//! latest version ahead of the committed one again. A reader of a version replaced more than
//! `keep` ago loses its files.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;
use deltalake_core::operations::vacuum::VacuumMode;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Serialize;

use super::lock::WarehouseLock;
use super::{NIGHTS, RUNS, Warehouse};

/// The shortest `--keep-hours` without `--force`: `xueji serve` and queries read the version they
/// opened for minutes, not hours.
pub const MIN_KEEP_HOURS: u64 = 1;

/// What vacuum removed (or, in a dry run, would remove) from one table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableVacuum {
    pub table: String,
    /// The version kept whole besides the latest (the last committed night's or run's).
    pub kept_version: Option<i64>,
    pub files: u64,
    pub bytes: u64,
    /// Why this table was not (wholly) vacuumed; the other tables were.
    pub error: Option<String>,
}

/// The outcome of `xueji vacuum`.
#[derive(Debug, Clone, Serialize)]
pub struct VacuumOutcome {
    pub dry_run: bool,
    pub keep_hours: u64,
    pub tables: Vec<TableVacuum>,
    pub files: u64,
    pub bytes: u64,
}

impl VacuumOutcome {
    /// The tables that failed, as one message (None when none did).
    pub fn failures(&self) -> Option<String> {
        let failed: Vec<String> = self
            .tables
            .iter()
            .filter_map(|t| t.error.as_ref().map(|e| format!("{}：{e}", t.table)))
            .collect();
        (!failed.is_empty()).then(|| {
            format!(
                "{} 张表未能清理 / {} tables not vacuumed：{}",
                failed.len(),
                failed.len(),
                failed.join("；")
            )
        })
    }
}

/// `xueji vacuum`: check the location is a warehouse and `keep_hours` is safe (or `force`d), take
/// the write lock (waiting up to `wait` for a night or run to finish), then [`vacuum`].
pub async fn run(
    location: &str,
    keep_hours: u64,
    force: bool,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<VacuumOutcome> {
    anyhow::ensure!(
        force || dry_run || keep_hours >= MIN_KEEP_HOURS,
        "保留时长 {keep_hours} 小时过短：正在读旧版本的查询与 xueji serve 会失去文件；确认没有读者时加 --force / keep at least {MIN_KEEP_HOURS} h, or --force when nothing reads the warehouse"
    );
    let keep = i64::try_from(keep_hours)
        .ok()
        .and_then(chrono::Duration::try_hours)
        .with_context(|| format!("保留时长 {keep_hours} 小时过长 / keep too long"))?;
    // A mistyped location would be "vacuumed" as empty and left with a lock. Opening a local
    // folder creates it, so a local one is checked first; any location (S3 too) after opening.
    let not_a_warehouse = || anyhow::anyhow!("{location} 不是 xueji 仓库（没有 {NIGHTS}）/ not a warehouse");
    if !location.contains("://") && !std::path::Path::new(location).join(NIGHTS).exists() {
        return Err(not_a_warehouse());
    }
    let wh = Warehouse::open(location)?;
    if !matches!(wh.latest(NIGHTS).await, Ok(Some(_))) {
        return Err(not_a_warehouse());
    }
    // Only the manifests `_nights` and `_runs` are read through it.
    let ctx = super::session(1, 256)?;
    super::lock::with_lock(&wh, "vacuum", wait, async |lock| {
        vacuum(&wh, &ctx, lock, keep, dry_run).await
    })
    .await
}

/// Vacuum every Delta table of the warehouse, holding its write lock, so that no night or run
/// writes meanwhile; a table that fails is reported and the others are still vacuumed.
pub async fn vacuum(
    wh: &Warehouse,
    ctx: &SessionContext,
    lock: &WarehouseLock,
    keep: chrono::Duration,
    dry_run: bool,
) -> Result<VacuumOutcome> {
    anyhow::ensure!(
        keep >= chrono::Duration::zero(),
        "保留时长不能为负 / keep must not be negative"
    );
    let mut committed: BTreeMap<String, i64> = wh.committed_versions(ctx).await?;
    for (model, run) in wh.model_runs(ctx).await? {
        committed.insert(model, run.version);
    }
    let mut tables = Vec::new();
    for name in table_names(wh).await? {
        // A writer that took the warehouse over after a lost lease may be writing files no
        // version names yet: stop before removing any.
        lock.ensure_held().await?;
        let kept_version = match name.as_str() {
            // The manifests are read at their latest version.
            NIGHTS | RUNS => None,
            _ => committed.get(&name).copied(),
        };
        let mut t = TableVacuum {
            table: name,
            kept_version,
            files: 0,
            bytes: 0,
            error: None,
        };
        if let Err(e) = vacuum_table(wh, &mut t, keep, dry_run).await {
            t.error = Some(format!("{e:#}"));
        }
        tables.push(t);
    }
    Ok(VacuumOutcome {
        dry_run,
        keep_hours: keep.num_hours() as u64,
        files: tables.iter().map(|t| t.files).sum(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
        tables,
    })
}

/// Plan one table's removal with delta-rs (a dry run: no commit) and delete the planned files,
/// counting them into `t` as they go.
async fn vacuum_table(wh: &Warehouse, t: &mut TableVacuum, keep: chrono::Duration, dry_run: bool) -> Result<()> {
    let Some(table) = wh.latest(&t.table).await? else {
        return Ok(());
    };
    let latest = table.version();
    let store = table.log_store().object_store(None);
    let mut op = table
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(keep)
        // The table's own minimum (7 days by default) guards tables nobody tracks; here the
        // committed version is kept explicitly, so a shorter period is the user's choice.
        .with_enforce_retention_duration(false)
        .with_dry_run(true);
    if let Some(v) = t.kept_version.filter(|v| Some(*v as _) != latest) {
        op = op.with_keep_versions(&[v as _]);
    }
    let (_, plan) = op.await.context("无法列出可清理的文件 / cannot plan the vacuum")?;
    let sizes = file_sizes(store.as_ref()).await?;
    // A path retired twice (a restore re-added it) is planned twice: count files, not entries.
    let planned: HashSet<&str> = plan.files_deleted.iter().map(|f| f.trim_start_matches('/')).collect();
    let mut doomed: Vec<(Path, u64)> = Vec::new();
    for p in planned {
        if let Some(&size) = sizes.get(p) {
            doomed.push((Path::parse(p).with_context(|| format!("bug: path {p}"))?, size));
        }
    }
    if dry_run {
        t.files = doomed.len() as u64;
        t.bytes = doomed.iter().map(|(_, b)| b).sum();
        return Ok(());
    }
    let bytes: HashMap<Path, u64> = doomed.into_iter().collect();
    let paths: Vec<Path> = bytes.keys().cloned().collect();
    let mut deleted = store.delete_stream(futures::stream::iter(paths.into_iter().map(Ok)).boxed());
    while let Some(gone) = deleted.next().await {
        match gone {
            Ok(gone) => {
                t.files += 1;
                t.bytes += bytes.get(&gone).copied().unwrap_or(0);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).context("删除文件失败 / a file could not be deleted"),
        }
    }
    Ok(())
}

/// The folders right under the warehouse root that hold a Delta log, sorted.
async fn table_names(wh: &Warehouse) -> Result<Vec<String>> {
    let (store, prefix) = wh.store()?;
    let listing = store.list_with_delimiter(Some(&prefix)).await?;
    let mut names = Vec::new();
    for dir in listing.common_prefixes {
        let Some(name) = dir.filename().map(str::to_string) else {
            continue;
        };
        let log = dir.clone().join("_delta_log");
        if store.list(Some(&log)).try_next().await?.is_some() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Every file of a table's folder with its size, by path relative to the table.
async fn file_sizes(store: &dyn ObjectStore) -> Result<HashMap<String, u64>> {
    Ok(store
        .list(None)
        .map_ok(|m| (m.location.to_string(), m.size))
        .try_collect()
        .await?)
}

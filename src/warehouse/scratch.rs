//! A cluster session's scratch space: the sets a query computes first and then joins against
//! (materialised CTEs, the superseded keys of the as-of views), written as Parquet by the
//! executors under `WH/_xueji/scratch/<session>/` and read back as a listing of those files. On
//! one machine, the sets and passes of a model computed in passes are written the same way into a
//! local folder ([`local_dir`]).
//!
//! Held in the client's memory and shipped inside every plan that reads them, as on one machine,
//! such a set grows with the country: at five million pupils a materialised CTE no longer fitted
//! in one gRPC message and the run failed. Written where the executors can reach it (the
//! warehouse's own store), a set never passes through the client, and a plan carries only the
//! folder's name. The folder holds pupils' records: it is removed when the session ends, and what
//! a killed run left is removed by a later run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::{StreamExt, TryStreamExt};
use url::Url;

use super::Warehouse;
use super::files::ScanFiles;

/// The folder of every session's scratch space, under the warehouse's root.
const DIR: &str = "_xueji/scratch";

/// How old a session's folder must be before a later run takes it for left over by a killed run.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Warehouse {
    /// A new, unique scratch folder for one cluster session (created when first written).
    pub fn scratch_dir(&self) -> Result<Url> {
        let id = format!(
            "{}-{:016x}/",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            getrandom::u64().map_err(|e| anyhow::anyhow!("无法取得随机数：{e}"))?
        );
        Ok(self.root().join(&format!("{DIR}/{id}"))?)
    }

    /// Remove a session's scratch folder and everything in it.
    pub async fn remove_scratch(&self, dir: &Url) -> Result<()> {
        let (store, root) = self.store()?;
        let rel = dir
            .as_str()
            .strip_prefix(self.root().as_str())
            .with_context(|| format!("{dir} 不在仓库 {} 中", self.root()))?;
        let prefix = under(root, rel);
        let listed = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        store
            .delete_stream(listed)
            .try_collect::<Vec<_>>()
            .await
            .with_context(|| format!("无法删除临时目录 {dir}"))?;
        // A local folder also leaves its (now empty) directories behind.
        if let Ok(p) = dir.to_file_path() {
            match std::fs::remove_dir_all(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("无法删除临时目录 {}", p.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// [`Warehouse::remove_scratch`], warning instead of failing (the caller's own result stands):
    /// what stays is removed by a later run.
    pub async fn discard_scratch(&self, dir: &Url) {
        if let Err(e) = self.remove_scratch(dir).await {
            eprintln!("警告：{e:#}（以后的运行会删除它）/ warning: a scratch folder stays until a later run");
        }
    }

    /// [`Warehouse::discard_scratch`] of the scratch folder of session `ctx`, if it has one.
    pub async fn discard_session_scratch(&self, ctx: &SessionContext) {
        if let Some(dir) = scratch_of(ctx) {
            self.discard_scratch(&dir).await;
        }
    }

    /// Remove the scratch folders last written more than `age` ago: what runs that were killed
    /// left behind. Returns how many were removed.
    pub async fn remove_stale_scratch(&self, age: Duration) -> Result<usize> {
        let (store, root) = self.store()?;
        let prefix = under(root, DIR);
        let files: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("无法读取临时目录 {DIR}"))?;
        // A folder is stale when its newest file is.
        let mut newest = std::collections::BTreeMap::new();
        for f in &files {
            let Some(folder) = f.location.prefix_match(&prefix).and_then(|mut p| p.next()) else {
                continue;
            };
            let t = newest.entry(folder.as_ref().to_string()).or_insert(f.last_modified);
            *t = (*t).max(f.last_modified);
        }
        // A local folder left without files (its removal was cut short) is dated by its directory.
        if let Ok(Ok(local)) = self.root().join(&format!("{DIR}/")).map(|u| u.to_file_path()) {
            for e in std::fs::read_dir(local).into_iter().flatten().flatten() {
                if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                    newest
                        .entry(e.file_name().to_string_lossy().into_owned())
                        .or_insert_with(|| t.into());
                }
            }
        }
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age)?;
        let mut removed = 0;
        for (folder, _) in newest.iter().filter(|(_, t)| **t < cutoff) {
            self.remove_scratch(&self.root().join(&format!("{DIR}/{folder}/"))?)
                .await?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// A new folder of this process inside `$TMPDIR/xueji-<uid>`, named `<what>-<pid>-…` (the root
/// of mode 0700: what it holds are children's records, unmasked), after removing what processes
/// that no longer run left there. It is removed when dropped.
pub fn local_dir(what: &str) -> Result<tempfile::TempDir> {
    let root = std::env::temp_dir().join(format!("xueji-{}", user_id()));
    std::fs::create_dir_all(&root).with_context(|| format!("无法创建暂存目录 {}", root.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("无法设置暂存目录 {} 的权限", root.display()))?;
    }
    for e in std::fs::read_dir(&root)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !super::lock::pid_alive(p)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("{what}-{}-", std::process::id()))
        .tempdir_in(&root)
        .with_context(|| format!("无法在 {} 中创建暂存目录", root.display()))
}

fn user_id() -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata("/proc/self") {
            return m.uid();
        }
    }
    0
}

/// The store path of `rel` (a `/`-separated path, with or without a trailing `/`) under `root`.
fn under(root: object_store::path::Path, rel: &str) -> object_store::path::Path {
    rel.trim_end_matches('/').split('/').fold(root, |p, part| p.join(part))
}

/// The scratch folder of a session that runs on a cluster, if it has one.
pub fn scratch_of(ctx: &SessionContext) -> Option<Url> {
    ctx.state()
        .config()
        .get_extension::<ScanFiles>()
        .and_then(|s| s.scratch.clone())
}

/// The rows of `df` written by the cluster's executors (or this machine) as one Parquet file in a
/// new folder named after `table` under `scratch`, and a table over that file; `None` when there
/// are no rows (the file written then has no columns either: the caller holds the empty set in
/// memory).
///
/// One file of a fixed name: a task that Ballista runs again overwrites it, where files named per
/// attempt would hold a retried task's rows twice. (Writing needs the rows in one partition, so one
/// task writes them anyway.)
pub async fn to_scratch(
    df: DataFrame,
    scratch: &Url,
    table: &str,
    schema: SchemaRef,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let file = new_folder(scratch, table)?.join("part.parquet")?;
    Ok(match write_file(df, &file).await? {
        0 => None,
        _ => Some(files_table(&[file], schema)?),
    })
}

/// A new folder under `scratch` whose name says what it holds. A table registered again gets a
/// folder of its own, so that a plan still reading the old one is not disturbed; the name only
/// helps a reader of the folder (a CTE may be named anything).
pub fn new_folder(scratch: &Url, what: &str) -> Result<Url> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name: String = what
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Ok(scratch.join(&format!("{}-{name}/", SEQ.fetch_add(1, Ordering::Relaxed)))?)
}

/// How temporary Parquet files are written (read once or a few times, then removed): fast
/// compression, and one column writer per file, which bounds the writer's memory (the columns
/// encoded in parallel hold a buffer each).
pub fn temp_parquet() -> TableParquetOptions {
    let mut opts = TableParquetOptions::default();
    opts.global.compression = Some("lz4_raw".into());
    opts.global.allow_single_file_parallelism = false;
    opts
}

/// The rows of `df` written as the one Parquet file `file`; how many.
pub async fn write_file(df: DataFrame, file: &Url) -> Result<u64> {
    let counts = df
        .write_parquet(
            file.as_str(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(temp_parquet()),
        )
        .await
        .with_context(|| format!("无法写入临时文件 {file}"))?;
    let mut rows = 0;
    for b in &counts {
        let c = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .with_context(|| format!("写入 {file} 的结果不是行数：{:?}", b.schema()))?;
        rows += c.iter().flatten().sum::<u64>();
    }
    Ok(rows)
}

/// A table over the Parquet `files` (each with rows), of `schema`.
pub fn files_table(files: &[Url], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(f.as_str()))
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder whose newest file is older than the age is removed, with its directories; a
    /// folder written since, or holding one recent file, stays.
    #[tokio::test]
    async fn stale_scratch_folders_are_removed_and_recent_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).unwrap();
        let day = Duration::from_secs(24 * 3600);
        let old = std::time::SystemTime::now() - 2 * day;
        let write = |rel: &str, at: Option<std::time::SystemTime>| {
            let p = dir.path().join(DIR).join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let f = std::fs::File::create(&p).unwrap();
            if let Some(t) = at {
                f.set_modified(t).unwrap();
            }
        };
        write("killed/dups-0/a.parquet", Some(old));
        write("killed/dups-1/b.parquet", Some(old));
        write("mixed/x-0/c.parquet", Some(old));
        write("mixed/x-1/d.parquet", None);
        write("running/y-0/e.parquet", None);
        let root = dir.path().join(DIR);
        std::fs::create_dir_all(root.join("emptied/z-0")).unwrap();
        std::fs::File::open(root.join("emptied"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(wh.remove_stale_scratch(day).await.unwrap(), 2);
        assert!(!root.join("killed").exists() && !root.join("emptied").exists());
        assert!(root.join("mixed/x-0/c.parquet").exists() && root.join("running/y-0/e.parquet").exists());

        let fresh = wh.scratch_dir().unwrap();
        assert!(fresh.as_str().starts_with(wh.root().as_str()) && fresh.path().contains("/_xueji/scratch/"));
        assert_ne!(fresh, wh.scratch_dir().unwrap(), "each session its own folder");
        wh.remove_scratch(&wh.root().join(&format!("{DIR}/mixed/")).unwrap())
            .await
            .unwrap();
        assert!(!root.join("mixed").exists() && root.join("running").exists());
        // Removing what is already gone is not an error.
        wh.remove_scratch(&fresh).await.unwrap();
    }
}

//! The warehouse: Delta Lake tables (delta-rs) under one root, a local directory by default.
//!
//! Layout: `<root>/<table>/` for `students`, `schools`, `movements` (change logs), `rejects`,
//! `import_files`, and `<root>/_nights/`, the manifest of committed nights.
//!
//! History without a full copy a night: `students`, `schools` and `movements` are stored as
//! change logs partitioned by `snapshot_date`: a night writes only the rows that were inserted,
//! changed or deleted since the state before it; the state as of any date D is the latest version
//! of each `record_key` with `snapshot_date <= D` that is not a delete (the views of the same name).
//!
//! Atomic, idempotent nights: each table write replaces the night's partition in one Delta commit;
//! the night becomes visible only when its row is appended to `_nights`, which records the table
//! versions readers use. A run that dies half-way leaves `_nights` unchanged (readers keep the
//! previous night); the next run first restores every table to its committed version. Re-running
//! a night recomputes the same diff against the same earlier state, so the tables come out equal.

pub mod certificates;
pub mod collected;
pub mod commit;
pub mod files;
pub mod lock;
pub mod s3;
pub mod scratch;
pub mod vacuum;
mod views;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, Date32Array, Int64Array, RecordBatch};
use chrono::NaiveDate;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake_core::DeltaTable;
use url::Url;

pub use commit::{NightCommit, commit_night};
pub use commit::{count, days, log_schema, passes_of, write_partition};
pub use views::{
    REFERENCE_TABLES, Registered, create_as_of_view, create_model_view, register_all, register_collected,
    register_collected_in, register_model, register_reference,
};

/// The tables of a night, in commit order; `_nights` comes last.
pub const HISTORY_TABLES: [&str; 10] = [
    "schools",
    "students",
    "movements",
    "dedup_decisions",
    "nutrition_schools",
    "nutrition_terms",
    "exams",
    "meal_ledger",
    "nutrition_duty",
    "key_change_requests",
];
pub const NIGHT_TABLES: [&str; 12] = [
    "schools",
    "students",
    "movements",
    "dedup_decisions",
    "nutrition_schools",
    "nutrition_terms",
    "exams",
    "meal_ledger",
    "nutrition_duty",
    "key_change_requests",
    "rejects",
    "import_files",
];
pub const NIGHTS: &str = "_nights";
/// The manifest of model runs: which version of each model table a run committed.
pub const RUNS: &str = "_runs";

/// The last committed run of one model.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// The run's number in `_runs`.
    pub seq: i64,
    pub version: i64,
    /// Rows the model wrote in that run.
    pub rows: i64,
    /// Every snapshot date the model has a committed partition for.
    pub dates: Vec<NaiveDate>,
}

/// A warehouse location.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
}

impl Warehouse {
    /// A local directory (created if missing) or an object-store URL.
    pub fn open(location: &str) -> Result<Self> {
        let root = if location.contains("://") {
            let mut u = Url::parse(location).with_context(|| format!("仓库地址无效：{location}"))?;
            if !u.path().ends_with('/') {
                u.set_path(&format!("{}/", u.path()));
            }
            match u.scheme() {
                "file" => {}
                "s3" => s3::register(),
                other => bail!(
                    "仓库地址 {location}：不支持 {other}://，请用本地目录或 s3://桶/路径 / unsupported scheme {other}"
                ),
            }
            u
        } else {
            let p = std::path::Path::new(location);
            std::fs::create_dir_all(p).with_context(|| format!("无法创建仓库目录 {location}"))?;
            let abs = std::fs::canonicalize(p)?;
            Url::from_directory_path(&abs).map_err(|_| anyhow::anyhow!("仓库路径无效：{}", abs.display()))?
        };
        Ok(Warehouse { root })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn table_url(&self, name: &str) -> Result<Url> {
        Ok(self.root.join(&format!("{name}/"))?)
    }

    /// A table handle for writing: the latest version, or a new location (created on disk).
    pub async fn for_write(&self, name: &str) -> Result<DeltaTable> {
        let url = self.table_url(name)?;
        if let Ok(p) = url.to_file_path() {
            std::fs::create_dir_all(&p).with_context(|| format!("无法创建 {}", p.display()))?;
        }
        Ok(DeltaTable::try_from_url(url).await?)
    }

    /// The table at its latest version, or `None` if it was never created.
    pub async fn latest(&self, name: &str) -> Result<Option<DeltaTable>> {
        let url = self.table_url(name)?;
        if url.scheme() == "file"
            && !url
                .to_file_path()
                .map(|p| p.join("_delta_log").exists())
                .unwrap_or(false)
        {
            return Ok(None);
        }
        let t = DeltaTable::try_from_url(url).await?;
        Ok(t.version().is_some().then_some(t))
    }

    /// The table at a given version.
    pub async fn at_version(&self, name: &str, version: i64) -> Result<DeltaTable> {
        Ok(deltalake_core::open_table_with_version(self.table_url(name)?, version as _).await?)
    }

    /// The object store holding the warehouse, and the warehouse's path in it: for files that are
    /// not tables (the secret, published marts, reports).
    pub fn store(&self) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        Ok(match self.root.to_file_path() {
            Ok(p) => (
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(p)?),
                object_store::path::Path::default(),
            ),
            Err(()) => s3::store_for(&self.root)?,
        })
    }

    /// The warehouse's secret, which keys `stable_id`; `create` makes one if there is none yet
    /// (only writers do; a reader of a warehouse without one gets 0).
    pub async fn secret(&self, create: bool) -> Result<u64> {
        use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
        let (store, prefix) = self.store()?;
        let path = prefix.clone().join("_xueji").join("secret");
        let parse = |b: &[u8]| -> Result<u64> {
            u64::from_str_radix(std::str::from_utf8(b)?.trim(), 16).context("仓库密钥文件 _xueji/secret 已损坏")
        };
        match store.get(&path).await {
            Ok(r) => return parse(&r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) if create => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        let fresh = lock::random_u64().max(1);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match store
            .put_opts(&path, PutPayload::from(format!("{fresh:016x}\n")), opts)
            .await
        {
            Ok(_) => Ok(fresh),
            // Another writer made one first: use theirs.
            Err(object_store::Error::AlreadyExists { .. }) => parse(&store.get(&path).await?.bytes().await?),
            Err(e) => Err(e.into()),
        }
    }

    /// The committed nights, oldest first.
    pub async fn nights(&self, ctx: &SessionContext) -> Result<Vec<Night>> {
        let Some(t) = self.latest(NIGHTS).await? else {
            return Ok(Vec::new());
        };
        let df = ctx.read_table(scan(&t, ctx).await?)?;
        let batches = df.collect().await?;
        let mut out = Vec::new();
        for b in &batches {
            out.extend(Night::from_batch(b)?);
        }
        out.sort_by_key(|n| n.seq);
        Ok(out)
    }

    /// Each model's last committed run (from `_runs`).
    pub async fn model_runs(&self, ctx: &SessionContext) -> Result<BTreeMap<String, ModelRun>> {
        let Some(t) = self.latest(RUNS).await? else {
            return Ok(BTreeMap::new());
        };
        let batches = ctx.read_table(scan(&t, ctx).await?)?.collect().await?;
        let mut last: BTreeMap<String, ModelRun> = BTreeMap::new();
        for b in &batches {
            let col = |n: &str| b.column_by_name(n).with_context(|| format!("_runs 缺少列 {n}"));
            let seq = col("seq")?
                .as_any()
                .downcast_ref::<Int64Array>()
                .context("seq")?
                .clone();
            let date = col("snapshot_date")?
                .as_any()
                .downcast_ref::<Date32Array>()
                .context("snapshot_date")?
                .clone();
            let version = col("version")?
                .as_any()
                .downcast_ref::<Int64Array>()
                .context("version")?
                .clone();
            let rows = col("rows")?
                .as_any()
                .downcast_ref::<Int64Array>()
                .context("rows")?
                .clone();
            let model = strings(col("model")?)?;
            for i in 0..b.num_rows() {
                let d = date.value_as_date(i).context("date")?;
                let e = last.entry(model.value(i).to_string()).or_insert(ModelRun {
                    seq: i64::MIN,
                    version: 0,
                    rows: 0,
                    dates: Vec::new(),
                });
                if !e.dates.contains(&d) {
                    e.dates.push(d);
                }
                if seq.value(i) > e.seq {
                    e.seq = seq.value(i);
                    e.version = version.value(i);
                    e.rows = rows.value(i);
                }
            }
        }
        for r in last.values_mut() {
            r.dates.sort();
        }
        Ok(last)
    }

    /// Versions of each table as of the last committed night.
    pub async fn committed_versions(&self, ctx: &SessionContext) -> Result<BTreeMap<String, i64>> {
        let mut v = BTreeMap::new();
        for n in self.nights(ctx).await? {
            for (t, ver) in n.versions {
                let e = v.entry(t).or_insert(ver);
                *e = (*e).max(ver);
            }
        }
        Ok(v)
    }
}

/// One committed night (a row of `_nights`).
#[derive(Debug, Clone)]
pub struct Night {
    pub seq: i64,
    pub snapshot_date: NaiveDate,
    pub versions: BTreeMap<String, i64>,
}

impl Night {
    fn from_batch(b: &RecordBatch) -> Result<Vec<Night>> {
        let col = |n: &str| b.column_by_name(n).with_context(|| format!("_nights 缺少列 {n}"));
        let seq = col("seq")?.as_any().downcast_ref::<Int64Array>().context("seq")?;
        let date = col("snapshot_date")?
            .as_any()
            .downcast_ref::<Date32Array>()
            .context("snapshot_date")?;
        let mut out = Vec::new();
        for i in 0..b.num_rows() {
            let mut versions = BTreeMap::new();
            for t in NIGHT_TABLES {
                // A table added in a later version has no column in older nights: absent then.
                let Some(a) = b.column_by_name(&format!("v_{t}")) else {
                    continue;
                };
                let a = a.as_any().downcast_ref::<Int64Array>().context("version")?;
                if a.is_valid(i) {
                    versions.insert(t.to_string(), a.value(i));
                }
            }
            out.push(Night {
                seq: seq.value(i),
                snapshot_date: date.value_as_date(i).context("date")?,
                versions,
            });
        }
        Ok(out)
    }
}

/// A Delta table as the session reads it. delta-rs's own default reads text as Utf8View whatever
/// the session says; built with the session, the scan follows `schema_force_view_types` (see
/// [`session`]).
pub async fn scan(t: &DeltaTable, ctx: &SessionContext) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    // A session that runs on a cluster reads the version's files with DataFusion's own nodes.
    if ctx.state().config().get_extension::<files::ScanFiles>().is_some() {
        return files::file_list(t);
    }
    Ok(t.table_provider().with_session(Arc::new(ctx.state())).await?)
}

/// Any string column (Utf8, LargeUtf8, Utf8View, dictionary) as a plain `StringArray`.
pub fn strings(a: &arrow::array::ArrayRef) -> Result<arrow::array::StringArray> {
    let c = arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8)?;
    Ok(c.as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .context("bug: cast to Utf8 gave another type")?
        .clone())
}

/// A DataFusion session for the warehouse: `threads` partitions, spilling under `memory_mb`.
pub fn session(threads: usize, memory_mb: usize) -> Result<SessionContext> {
    let cfg = session_config(threads)?;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(memory_mb << 20)))
        .build_arc()?;
    // delta-rs plans its writes with its own extension nodes: the session needs its planner.
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_config(cfg)
        .with_runtime_env(runtime)
        .with_query_planner(deltalake_core::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::udf::register(&ctx, 0);
    Ok(ctx)
}

/// The settings of every warehouse session, single-node or on a cluster (whose nodes receive
/// them with each query): `threads` partitions, and xueji's defaults below.
pub fn session_config(threads: usize) -> Result<SessionConfig> {
    // DATAFUSION_* environment variables (e.g. DATAFUSION_EXPLAIN_SHOW_STATISTICS=true) tune a
    // session the way DataFusion documents, except the settings xueji needs regardless.
    let mut cfg = SessionConfig::from_env()?
        .with_target_partitions(threads.max(1))
        .with_information_schema(true)
        // The certificate register keeps a folder per school and year (certificates.rs).
        .set_bool("datafusion.execution.listing_table_ignore_subdirectory", false);
    // xueji's defaults, unless the environment sets them (e.g. to compare plans without them).
    // Text is read as plain Utf8, not Utf8View: a view array shares its data buffers with the
    // batches it was cut or taken from, and DataFusion books those buffers again for every
    // batch that holds them. At 20M pupils the roster's sort booked 25 GB for 2 GB of rows and
    // spilled all of it, and its join booked 9.4 GB; read as Utf8, the whole run of the marts went
    // from 84 s and 10 GB to 56 s and 4.8 GB (docs/performance.md).
    for (key, value) in [
        ("datafusion.execution.parquet.pushdown_filters", true),
        ("datafusion.execution.parquet.schema_force_view_types", false),
    ] {
        if std::env::var(key.replace('.', "_").to_uppercase()).is_err() {
            cfg = cfg.set_bool(key, value);
        }
    }
    Ok(cfg)
}

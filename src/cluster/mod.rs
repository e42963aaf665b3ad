//! The country on Apache DataFusion Ballista: `xueji scheduler`, `xueji executor` and the
//! `--cluster df://HOST:PORT` client, from one binary.
//!
//! Every node builds its sessions the same way: DataFusion's default functions, xueji's functions
//! (`crate::udf`), an object-store registry that opens `s3://` buckets from the usual `AWS_*`
//! variables, and xueji's codecs ([`codec`]). The client resolves the warehouse's tables at their
//! committed versions into file lists (`crate::warehouse::files`), so the scheduler plans scans
//! of exactly the files a single-node session would read; the client's session settings travel
//! with every query, so all nodes run with the same options.
//!
//! Ballista's own defaults are kept (no dynamic filters, which its stages cannot carry) except
//! two: the adaptive planner is off and joins are hash joins, each for a bug met on xueji's
//! models (see [`connect`]).

pub mod codec;
pub mod loopback;
pub mod membership;
mod remote;

pub use remote::remote_table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ballista::extension::SessionContextExt;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use url::Url;

pub use codec::{LogicalCodec, PhysicalCodec};

/// Largest gRPC message between client, scheduler and executors: plans carry the small tables in
/// memory (the reference lists) inline.
pub const MAX_MESSAGE: usize = 512 << 20;

/// Object stores by URL: `file://` the local file system, `s3://bucket` opened on first use
/// from the `AWS_*` environment (the same settings as the warehouse's, `crate::warehouse::s3`).
#[derive(Debug, Default)]
pub struct Stores {
    stores: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn ObjectStore>>>,
}

fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreRegistry for Stores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.lock().expect("lock").insert(store_key(url), store)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(s) = self.stores.lock().expect("lock").get(&key) {
            return Ok(s.clone());
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(object_store::local::LocalFileSystem::new()),
            "s3" => {
                crate::warehouse::s3::store_for(url)
                    .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?
                    .0
            }
            other => {
                return Err(datafusion::error::DataFusionError::Configuration(format!(
                    "不支持的存储 {other}:// / unsupported object store {other}://"
                )));
            }
        };
        self.stores.lock().expect("lock").insert(key, store.clone());
        Ok(store)
    }
}

/// A node's runtime: spill files under `work_dir`, xueji's object stores. The memory pool is
/// Ballista's (per task, from the executor's `--memory-mb`).
fn runtime(work_dir: Option<&PathBuf>) -> datafusion::common::Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(Stores::default()));
    if let Some(d) = work_dir {
        b = b.with_temp_file_path(d);
    }
    b.build_arc()
}

/// The configuration every node starts from; each query's settings (the client's) override it.
pub fn node_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE)
}

/// A scheduler's or executor's session: DataFusion's and Ballista's planning rules, every xueji
/// function. `stable_id` here has no secret: the one a plan carries is used, or none.
fn node_state(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> datafusion::common::Result<datafusion::execution::SessionState> {
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_functions(&ctx, None);
    Ok(ctx.state())
}

/// xueji's functions on a session of the cluster; `stable_id` keyed with `secret` (none on the
/// nodes: the plan brings it).
pub fn register_functions(ctx: &SessionContext, secret: Option<u64>) {
    crate::udf::register(ctx, secret.unwrap_or(0));
    ctx.register_udf(crate::udf::stable::stable_id_udf(secret));
}

/// `HOST:PORT` of a `df://HOST:PORT` cluster address.
pub fn parse_cluster(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("df://")
        .with_context(|| format!("集群地址应为 df://主机:端口，而不是 {url} / a cluster address is df://HOST:PORT"))?;
    anyhow::ensure!(
        host_port(rest).is_some(),
        "集群地址应为 df://主机:端口，而不是 {url} / a cluster address is df://HOST:PORT"
    );
    Ok(rest.trim_end_matches('/').to_string())
}

/// `HOST:PORT` split into a non-empty host and a port.
pub(crate) fn host_port(addr: &str) -> Option<(&str, u16)> {
    let (h, p) = addr.rsplit_once(':')?;
    Some((h, p.parse().ok()?)).filter(|(h, _)| !h.is_empty())
}

/// Log lines of the cluster's nodes on standard error, from `level` (`XUEJI_LOG`: error, warn,
/// info, debug; default warn): what the scheduler and executors say about jobs, tasks and
/// executors joining or lost.
struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.0
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "{} {} {}: {}",
                chrono::Local::now().format("%H:%M:%S"),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Install the node's logger once (a second call, as in tests with several nodes, is a no-op).
pub fn init_log() {
    let level = std::env::var("XUEJI_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_boxed_logger(Box::new(StderrLog(level))).is_ok() {
        log::set_max_level(level);
    }
}

/// Executors ask the scheduler for tasks when they have a free slot (pull). Under Ballista 55's
/// push policy, a run that lost an executor waited for ever: the tasks aborted on the executor
/// left were never given back their slots (tests/cluster.rs).
const SCHEDULING: TaskSchedulingPolicy = TaskSchedulingPolicy::PullStaged;

/// Under pull scheduling an executor's poll for work is its heartbeat, at least every 5 s
/// (Ballista 55); a timeout must leave room for two.
pub const EXECUTOR_TIMEOUT_SECS_MIN: u64 = 10;

/// Seconds without a heartbeat after which the scheduler takes an executor for lost and runs its
/// tasks again elsewhere (Ballista's default, 180, leaves a run waiting three minutes).
pub const EXECUTOR_TIMEOUT_SECS: u64 = 45;

/// Seconds a finished job's result files stay on the executors, by default: a client may read a
/// large result slowly.
pub const KEEP_RESULTS_SECS: u64 = 3600;

/// `xueji scheduler --listen HOST:PORT`: runs until stopped.
pub async fn run_scheduler(
    listen: SocketAddr,
    advertise: Option<String>,
    executor_timeout_secs: u64,
    keep_results_secs: u64,
) -> Result<()> {
    init_log();
    anyhow::ensure!(
        executor_timeout_secs >= EXECUTOR_TIMEOUT_SECS_MIN,
        "--executor-timeout-secs 至少为 {EXECUTOR_TIMEOUT_SECS_MIN}（执行器每 5 秒报到一次）/ at least {EXECUTOR_TIMEOUT_SECS_MIN}: executors report every 5 s"
    );
    let mut config = scheduler_config(listen, advertised(listen, advertise)?);
    config.executor_timeout_seconds = executor_timeout_secs;
    config.finished_job_data_clean_up_interval_seconds = keep_results_secs;
    config.no_executors_grace_period_seconds = executor_timeout_secs;
    // A lost executor is looked for a few times within its timeout.
    config.expire_dead_executor_interval_seconds = (executor_timeout_secs / 3).clamp(1, 15);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow::anyhow!("无法启动调度器 / cannot start the scheduler: {e}"))?;
    let status = membership::status_addr(&listen.to_string())?.parse()?;
    membership::serve(&cluster, status, executor_timeout_secs).await?;
    start_server(cluster, listen, Arc::new(config))
        .await
        .map_err(|e| anyhow::anyhow!("调度器停止 / the scheduler stopped: {e}"))
}

/// The address other machines reach a node at: `--advertise`, else the listening address, which
/// must then be a specific one (0.0.0.0 names no machine).
fn advertised(listen: SocketAddr, advertise: Option<String>) -> Result<String> {
    match advertise {
        Some(h) => Ok(h),
        None if listen.ip().is_unspecified() => anyhow::bail!(
            "监听 {listen} 时须用 --advertise 指明其他机器连接本机所用的地址 / with --listen {listen}, give --advertise HOST"
        ),
        None => Ok(listen.ip().to_string()),
    }
}

fn scheduler_config(listen: SocketAddr, external: String) -> SchedulerConfig {
    SchedulerConfig {
        bind_host: listen.ip().to_string(),
        bind_port: listen.port(),
        external_host: external,
        override_config_producer: Some(Arc::new(node_config)),
        override_session_builder: Some(Arc::new(|config: SessionConfig| node_state(config, runtime(None)?))),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        grpc_server_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE as u32,
        grpc_client_max_message_size: MAX_MESSAGE as u32,
        finished_job_data_clean_up_interval_seconds: KEEP_RESULTS_SECS,
        scheduling_policy: SCHEDULING,
        ..Default::default()
    }
}

/// What `xueji executor` is told.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: String,
    pub listen: SocketAddr,
    pub grpc_listen: SocketAddr,
    pub work_dir: PathBuf,
    pub memory_mb: Option<usize>,
    pub cores: Option<usize>,
    /// The host other machines reach this executor at (default: the `listen` address).
    pub advertise: Option<String>,
}

/// `xueji executor …`: registers with the scheduler and runs its tasks until stopped.
pub async fn run_executor(o: ExecutorOptions) -> Result<()> {
    init_log();
    anyhow::ensure!(
        o.listen.ip() == o.grpc_listen.ip(),
        "--listen 与 --grpc-listen 须在同一地址上 / --listen and --grpc-listen must share a host"
    );
    let (host, port) = host_port(&o.scheduler)
        .map(|(h, p)| (h.to_string(), p))
        .with_context(|| format!("调度器地址应为 主机:端口：{} / --scheduler HOST:PORT", o.scheduler))?;
    std::fs::create_dir_all(&o.work_dir).with_context(|| format!("无法创建工作目录 {}", o.work_dir.display()))?;
    let external = advertised(o.listen, o.advertise.clone())?;
    let work_dir = o.work_dir.clone();
    let functions = node_state(node_config(), runtime(Some(&work_dir))?)?;
    let config = ExecutorProcessConfig {
        bind_host: o.listen.ip().to_string(),
        external_host: Some(external),
        port: o.listen.port(),
        grpc_port: o.grpc_listen.port(),
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        task_scheduling_policy: SCHEDULING,
        vcores: o.cores.unwrap_or(0),
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        memory_pool_size: o.memory_mb.map(|m| (m as u64) << 20),
        grpc_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE as u32,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        override_config_producer: Some(Arc::new(node_config)),
        override_runtime_producer: Some(Arc::new(move |_| runtime(Some(&work_dir)))),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow::anyhow!("执行器停止 / the executor stopped: {e}"))
}

/// A client session on the cluster at `url` (`df://HOST:PORT`), with xueji's settings
/// ([`crate::warehouse::session_config`]), functions (keyed with `secret`) and codecs; the
/// warehouse's tables, registered on it, are read as file lists. The sets a query computes first
/// are written by the executors under `scratch` (a folder of the warehouse, which the caller
/// removes when done: `crate::warehouse::scratch`), or held in memory without one.
pub async fn connect(url: &str, threads: usize, scratch: Option<Url>) -> Result<SessionContext> {
    let addr = parse_cluster(url)?;
    // Ballista's restricted defaults first (no dynamic filters, which its stages cannot carry;
    // sort-merge joins, which spill): the settings below mark the config as upgraded.
    let config = crate::warehouse::session_config(threads)?
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE)
        // Ballista 55's adaptive planner re-plans a stage over an empty input (an as-of view's
        // superseded set on a warehouse of one night) without end: the static planner.
        .with_ballista_adaptive_query_planner(false)
        .set_bool("datafusion.optimizer.enable_round_robin_repartition", false)
        // Hash joins: under Ballista 55 the sort-merge join of stats_nutrition_screening (a left
        // join on sex with range conditions) lost every girl's match (tests/cluster.rs).
        .set_bool("datafusion.optimizer.prefer_hash_join", true)
        // No broadcast (CollectLeft) joins from the planner: Ballista's scheduler turns the
        // anti and semi ones into partitioned joins without the single partition their parents
        // need, and a whole-table COUNT(*) came back as one row per partition (tests/cluster.rs).
        .set_u64("datafusion.optimizer.hash_join_single_partition_threshold", 0)
        .set_u64("datafusion.optimizer.hash_join_single_partition_threshold_rows", 0)
        .with_extension(Arc::new(crate::warehouse::files::ScanFiles { scratch }));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime(None)?)
        .build();
    let ctx = SessionContext::remote_with_state(&format!("df://{addr}"), state)
        .await
        .with_context(|| format!("无法连接集群 {url} / cannot reach the cluster"))?;
    // Connecting replaces the session's functions with Ballista's defaults.
    register_functions(&ctx, Some(0));
    Ok(ctx)
}

//! The command line: every command, its arguments and its bilingual help (clap derive).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Subcommand;

use crate::pipeline::{SqlFormat, default_threads};

#[derive(Subcommand)]
pub enum Command {
    /// 演示：运行 pipelines/demo.toml，把 data-samples 导入 ./warehouse 并打印结果位置 / Demo: the samples into ./warehouse.
    Demo {
        /// 作业文件 / job file
        #[arg(long, default_value = "pipelines/demo.toml")]
        pipeline: PathBuf,
    },
    /// 按作业文件运行一晚的导入 / Run one night of a job file (pipelines/*.toml).
    Nightly {
        /// 作业文件 / job file
        #[arg(long)]
        pipeline: PathBuf,
        /// 快照日期，覆盖作业文件中的日期 / snapshot date (overrides the file)
        #[arg(long)]
        date: Option<NaiveDate>,
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// 生成合成学籍数据（含标准答案）/ Generate synthetic data with ground truth.
    Gen {
        /// 学生人数 / number of pupils
        #[arg(long)]
        pupils: u64,
        /// 随机种子：相同种子生成相同数据 / seed: the same seed gives the same files
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 输出目录 / output folder
        #[arg(long)]
        out: PathBuf,
        /// 省份数 / number of provinces
        #[arg(long, default_value_t = 1)]
        provinces: usize,
        /// 每县约多少学生 / pupils per county (sets the number of counties)
        #[arg(long, default_value_t = 40_000)]
        pupils_per_county: u64,
        /// 平均学校规模 / average school size
        #[arg(long, default_value_t = 600)]
        school_size: u64,
        /// 数据所描述的日期（据此推算年级）/ the date the data describe
        #[arg(long, default_value = "2026-10-15")]
        as_of: NaiveDate,
        /// 埋设问题的比例 / share of pupils with a planted problem
        #[arg(long, default_value_t = 0.02)]
        problem_rate: f64,
        /// 学生文件格式，逗号分隔：xlsx,csv,gbk；默认只写 XLSX，使 `xueji ingest DIR` 每名学生只读一次
        /// (多种格式是同一批学生，分别在 students-xlsx/、students-csv/、students-gbk/) / student file formats;
        /// XLSX only by default, so that `xueji ingest DIR` reads every pupil once (several formats are
        /// copies of the same pupils)
        #[arg(long, default_value = "xlsx")]
        formats: String,
    },
    /// 导入一晚的数据 / Ingest one night's sources into the warehouse.
    Ingest {
        /// 仓库位置（本地目录）/ warehouse location
        #[arg(long)]
        warehouse: String,
        /// 快照日期 YYYY-MM-DD / snapshot date
        #[arg(long)]
        date: NaiveDate,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// 内存上限（MB），超出则落盘 / memory limit in MB before spilling
        #[arg(long, default_value_t = 4096)]
        memory_mb: usize,
        /// 导入报告目录 / where the import reports go
        #[arg(long)]
        report_dir: Option<PathBuf>,
        /// 与上一晚比较时按键分成几桶依次进行（默认按内存上限自动选择）/ key buckets of the comparison with the previous night, done one after another (default: chosen from --memory-mb)
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        change_buckets: Option<u64>,
        /// 确认这些学校今晚的删除（一晚删除超过该校 20% 的学籍时须确认）/ let these schools' held deletions through
        #[arg(long = "confirm-deletions", num_args = 1..)]
        confirm_deletions: Vec<String>,
        /// 仓库正被另一进程写入时最多等待的秒数 / seconds to wait for another writer of the warehouse
        #[arg(long, default_value_t = 0)]
        wait_lock: u64,
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
        /// 要导入的文件或目录 / files or folders (.xlsx .xls .csv)
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
    /// 运行 sql/ 中的模型（问题学籍等），结果写入仓库 / Run the SQL models (sql/) into the warehouse.
    Run {
        /// 仓库位置 / warehouse location
        #[arg(long)]
        warehouse: String,
        /// 快照日期（默认最近一晚）/ snapshot date (default: the latest night)
        #[arg(long)]
        date: Option<NaiveDate>,
        /// 只运行这些模型及依赖它们的模型（可重复）/ only these models and what reads them (repeatable)
        #[arg(long = "model")]
        models: Vec<String>,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// 内存上限（MB），超出则落盘 / memory limit in MB before spilling
        #[arg(long, default_value_t = 4096)]
        memory_mb: usize,
        /// 同时运行的模型数（互不读取的模型）/ models run at once (those that do not read each other)
        #[arg(long, default_value_t = crate::models::DEFAULT_JOBS)]
        jobs: usize,
        /// 在集群上计算各模型（df://主机:端口），结果仍由本机提交 / compute the models on a cluster
        /// (df://HOST:PORT); this machine commits the run
        #[arg(long)]
        cluster: Option<String>,
        /// 分遍计算的模型（dedup_pairs）分几遍计算（默认按本机 --memory-mb 选择，集群上也是；
        /// 集群宜按执行器内存总和指定）/ passes of the models computed in passes (dedup_pairs;
        /// default: from this machine's --memory-mb, also with --cluster: give it for the cluster)
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        passes: Option<u64>,
        /// 仓库正被另一进程写入（导入、清理）时最多等待的秒数 / seconds to wait for another writer of the warehouse
        #[arg(long, default_value_t = 0)]
        wait_lock: u64,
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// 清理仓库中已不再使用的数据文件：被新版本替换超过 --keep-hours 小时的文件、中断的运行写下而未提交的文件；
    /// 各表最近一次提交的夜间导入或模型运行所用的版本总是完整保留 / Remove data files no version in use needs:
    /// those replaced more than --keep-hours ago and those a killed run never committed; the version each
    /// table's last committed night or run uses is always kept whole.
    Vacuum {
        /// 仓库位置 / warehouse location
        #[arg(long)]
        warehouse: String,
        /// 被替换的文件再保留多少小时（正在读旧版本的查询须在此之内读完；默认 7 天）/ hours a replaced file is kept
        /// (a reader of an older version must finish within them; default 7 days)
        #[arg(long, default_value_t = 168)]
        keep_hours: u64,
        /// 只列出会删除多少文件与字节，不删除 / only count what would be removed
        #[arg(long)]
        dry_run: bool,
        /// 允许 --keep-hours 小于 1（确认没有查询或 xueji serve 正在读仓库时）/ allow --keep-hours below 1
        /// (when nothing reads the warehouse)
        #[arg(long)]
        force: bool,
        /// 仓库正被另一进程写入时最多等待的秒数 / seconds to wait for another writer of the warehouse
        #[arg(long, default_value_t = 0)]
        wait_lock: u64,
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// 检查模型：文件头、实际读取的表、结果列与结构文件 / Check every model's header, inputs and result schema.
    Check {
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// 由结构文件与命令行定义生成参考文档（docs/marts.md、docs/tables.md、docs/rules.md、docs/man/、docs/completions/）
    /// / Generate the reference pages, man pages and shell completions.
    Docs {
        /// 输出目录 / output folder
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        /// 只检查是否最新，不写入；不是最新则退出码为 2 / only check that the pages are current (exit 2 if not)
        #[arg(long)]
        check: bool,
    },
    /// 性能测试，打印结果 / Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// 生成可打印报表（HTML、PDF、XLSX：花名册、问题学籍清单、留守儿童与随迁子女统计、资助与营养改善计划名单、转学待办、导入失败原因；
    /// 按需出具学籍卡片、学生基本信息表、学籍证明：--report card|info_sheet|certificate --unit 学校标识码|学籍号|身份证件号）
    /// / Render printable reports (HTML, PDF, XLSX) from the marts; reports/reports.toml lists them.
    Render {
        /// 仓库位置 / warehouse location
        #[arg(long)]
        warehouse: String,
        /// 快照日期（默认最近一晚）/ snapshot date (default: the latest night)
        #[arg(long)]
        date: Option<NaiveDate>,
        /// 输出目录 / output folder
        #[arg(long)]
        out: PathBuf,
        /// 只生成这些报表（可重复，如 --report roster）/ only these reports (repeatable)
        #[arg(long = "report")]
        reports: Vec<String>,
        /// 只生成这些单位（学校标识码、区县代码等；按学生出具的报表还可给学籍号、身份证件号；可重复）
        /// / only these units' documents; for per-pupil reports also a 学籍号 or ID number (repeatable)
        #[arg(long = "unit")]
        units: Vec<String>,
        /// 输出格式（可重复；默认全部）/ formats (repeatable; default all)
        #[arg(long = "format", value_enum)]
        formats: Vec<crate::render::Format>,
        /// 不遮蔽此报表的证件号、电话、住址（接收方有权查看完整信息时）/ print this report unmasked
        #[arg(long)]
        unmask: Vec<String>,
        /// 以 JSON 输出结果 / print the outcome as JSON
        #[arg(long)]
        json: bool,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 4096)]
        memory_mb: usize,
    },
    /// 名单与统计的 HTTP 接口：令牌限定管辖范围和清单，默认遮蔽证件号、电话、住址，每个请求记入审计日志
    /// / Serve lists and statistics over HTTP: tokens scoped to a jurisdiction, masked, audited.
    Serve {
        /// 仓库位置 / warehouse location
        #[arg(long)]
        warehouse: String,
        /// 监听地址 / address to listen on
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// 令牌文件（xueji token 生成）/ token file (made by xueji token)
        #[arg(long)]
        tokens: PathBuf,
        /// 审计日志（JSON Lines，追加写入）/ audit log (JSON lines, appended)
        #[arg(long, default_value = "xueji-audit.jsonl")]
        audit: PathBuf,
        /// 每隔多少秒检查一次新提交的模型运行 / seconds between looks for a newly committed run
        #[arg(long, default_value_t = 5.0)]
        refresh_seconds: f64,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 2048)]
        memory_mb: usize,
        /// HTTPS 证书链（PEM），与 --tls-key 同用 / TLS certificate chain (PEM), with --tls-key
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// HTTPS 私钥（PEM）/ TLS private key (PEM)
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// 允许在非本机地址上用明文 HTTP（前面另有 HTTPS 代理时）/ allow plain HTTP on a non-loopback address
        #[arg(long)]
        allow_plain_http: bool,
        /// 同时服务的连接数上限，超出的在队列中等待 / connections served at once; more wait in the backlog
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// 请求头须在多少秒内收齐（也是保持连接的空闲上限）/ seconds to send a whole request head (also the keep-alive idle limit)
        #[arg(long, default_value_t = 5.0)]
        header_timeout_seconds: f64,
        /// 客户端多少秒不接收响应数据即断开 / seconds a client may take no byte of a response before it is cut off
        #[arg(long, default_value_t = 60.0)]
        idle_timeout_seconds: f64,
        /// 每隔多少秒检查令牌文件是否改动（0：只在收到 SIGHUP 时重读）/ seconds between looks at the token file (0: only on SIGHUP)
        #[arg(long, default_value_t = 5.0)]
        reload_tokens_seconds: f64,
        /// 同时生成的 Excel 文件数 / XLSX workbooks built at once
        #[arg(long, default_value_t = 1)]
        xlsx_builds: usize,
        /// 无有效令牌的请求每秒最多记入审计日志的条数，其余只计数 / audit lines a second for requests without a valid token
        #[arg(long, default_value_t = 20)]
        audit_unauthenticated_per_second: u32,
        /// 每个令牌每分钟最多几次全国学籍查询（/v1/lookup），超出返回 429 / lookups a token may make a minute
        #[arg(long, default_value_t = 60)]
        lookups_per_minute: u32,
    },
    /// 生成一个访问令牌并把它的散列写入令牌文件；令牌只显示这一次 / Add an access token (printed once, stored hashed).
    Token {
        /// 令牌文件（不存在则创建）/ token file (created if missing)
        #[arg(long)]
        tokens: PathBuf,
        /// 编号（写入审计日志）/ short id, written to the audit log
        #[arg(long)]
        id: String,
        /// 持有单位 / holder, e.g. 黟县学生资助管理中心
        #[arg(long)]
        name: String,
        /// 管辖范围：* 全国，2/4/6 位行政区划代码，或 10 位学校标识码 / jurisdiction
        #[arg(long)]
        jurisdiction: String,
        /// 可读的清单（可重复；* 为全部清单）；lookup 授权全国学籍查询（* 不含）/ lists it may read (repeatable; * for all); lookup grants the national lookup (* does not)
        #[arg(long = "list", required = true)]
        lists: Vec<String>,
        /// 可看完整的证件号、电话、住址 / may see ID numbers, phones and addresses in full
        #[arg(long)]
        unmask: bool,
        /// 有效期至（含当天）/ last valid day
        #[arg(long)]
        expires: Option<NaiveDate>,
    },
    /// 全国学籍查询：按姓名和身份证件号，或姓名和全国学籍号，查学籍所在省份、学校、学段、状态、是否问题学籍与最新变动时间
    /// （完全一致才算查到；姓名、证件号遮蔽显示）；退出码 0 查到，1 未查到，2 参数错误
    /// / National registration lookup by name and ID number, or name and 学籍号 (exact, masked); exit 0 found, 1 not found, 2 bad arguments.
    Lookup {
        /// 仓库位置 / warehouse location
        #[arg(long)]
        warehouse: String,
        /// 按哪一天的学籍状态查询（这一天或之前最近一次模型运行；默认最近一次）/ status as of this date (the latest run on or before it; default the latest)
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// 学生姓名，须与学籍一致 / the pupil's name, exactly as registered
        #[arg(long)]
        name: String,
        /// 身份证件号（末位 X 不分大小写）/ ID number (check character X in either case)
        #[arg(
            long,
            required_unless_present = "registration_no",
            conflicts_with = "registration_no"
        )]
        id_number: Option<String>,
        /// 全国学籍号（19 位）/ the 19-character 学籍号
        #[arg(long)]
        registration_no: Option<String>,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 1024)]
        memory_mb: usize,
    },
    /// 对仓库执行 SQL 查询 / Run SQL over the warehouse.
    Sql {
        #[arg(long)]
        warehouse: String,
        /// 输出格式 / output format
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
        /// 按哪一天的状态查询（默认最近一晚）/ state as of this date (default: latest night)
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// 线程数（默认：全部核）/ threads (default: all cores)
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 4096)]
        memory_mb: usize,
        /// 在集群上运行（df://主机:端口，见 xueji scheduler）/ run on a cluster (df://HOST:PORT)
        #[arg(long)]
        cluster: Option<String>,
        /// SQL 语句 / the statement
        query: String,
    },
    /// 启动集群调度器（Ballista）：执行器向它登记，--cluster 的客户端向它提交查询
    /// / Start a cluster scheduler (Ballista): executors register with it, --cluster clients submit to it.
    Scheduler {
        /// 监听地址；其后第 10 个端口（默认 50060）是 xueji 的状态端口，--cluster 的运行用它确认执行器未丢失
        /// / address to listen on; the port 10 above it (50060 by default) is xueji's status port, which
        /// `run --cluster` reads to make sure no executor was lost
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: std::net::SocketAddr,
        /// 其他机器连接本机所用的主机名或地址（监听 0.0.0.0 时必填）/ the host other machines reach this
        /// one at (required with --listen 0.0.0.0:…)
        #[arg(long)]
        advertise: Option<String>,
        /// 执行器多少秒没有心跳即视为失联，其任务改由其他执行器重跑 / seconds without a heartbeat after
        /// which an executor is taken for lost and its tasks run again elsewhere
        #[arg(long, default_value_t = crate::cluster::EXECUTOR_TIMEOUT_SECS)]
        executor_timeout_secs: u64,
        /// 作业完成后其结果文件在执行器上保留的秒数（客户端须在此之内读完结果；执行器磁盘较小时调低；至少 60）
        /// / seconds a finished job's result files stay on the executors (a client must read its result
        /// within them; lower it when the executors' disks are small; at least 60)
        #[arg(long, default_value_t = crate::cluster::KEEP_RESULTS_SECS, value_parser = clap::value_parser!(u64).range(60..))]
        keep_results_secs: u64,
    },
    /// 启动集群执行器，向调度器登记并运行分给它的任务 / Start a cluster executor: it registers with the
    /// scheduler and runs the tasks it is given.
    Executor {
        /// 调度器地址 主机:端口 / the scheduler, HOST:PORT
        #[arg(long)]
        scheduler: String,
        /// 数据（Arrow Flight）服务的监听地址 / address of the data (Arrow Flight) service
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// 任务（gRPC）服务的监听地址，须与 --listen 同一主机 / address of the task (gRPC) service,
        /// on the same host as --listen
        #[arg(long, default_value = "127.0.0.1:50052")]
        grpc_listen: std::net::SocketAddr,
        /// 中间结果与溢写文件的目录 / directory for shuffle and spill files
        #[arg(long)]
        work_dir: PathBuf,
        /// 内存上限（MB；默认按本机内存自动）/ memory limit in MB (default: from the machine's memory)
        #[arg(long)]
        memory_mb: Option<usize>,
        /// 并行任务数（默认：全部核）/ concurrent tasks (default: all cores)
        #[arg(long)]
        cores: Option<usize>,
        /// 其他机器连接本机所用的主机名或地址（监听 0.0.0.0 时必填）/ the host other machines reach this
        /// one at (required with --listen 0.0.0.0:…)
        #[arg(long)]
        advertise: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// 查重：端到端每秒记录数、内存峰值，以及精确加疑似匹配对标准答案的成对精确率、召回率、F1
    /// / dedup: records per second end to end, peak memory, pairwise precision, recall, F1
    Dedup(BenchArgs),
    /// 导入速度：CSV 与 XLSX 每秒行数和内存峰值 / ingest rows per second and peak memory
    Ingest(BenchArgs),
    /// 统计与名单模型：xueji 与 DuckDB 在同一批 Parquet 上运行同一 SQL 的时间和内存峰值，结果须一致
    /// / statistics and list marts: xueji beside DuckDB on the same Parquet and SQL, time and peak memory
    Marts(BenchArgs),
    /// 花名册报表：一所 2,000 人学校与一个 10 万人区县的全部花名册（HTML、PDF、XLSX）的时间与内存
    /// / rosters of a 2,000-pupil school and of a 100,000-pupil county: time and memory
    Rosters(BenchArgs),
    /// 问题学籍多的省份：问题比例 0.5（默认）时全部模型在默认内存下的时间与内存峰值
    /// / a province where half the pupils carry a problem: every model at the default memory, time and peak
    Problems {
        #[command(flatten)]
        args: BenchArgs,
        /// 埋设问题的学生比例 / share of pupils with a planted problem
        #[arg(long, default_value_t = 0.5)]
        problem_rate: f64,
    },
    /// 数据接口：一个区县受益名单（CSV）的首字节时间与总时间，50 个并发客户端的小查询每秒请求数
    /// / the API: time to first byte and total for a county's beneficiary list as CSV; requests per second with 50 clients
    Serve(BenchArgs),
    /// 集群：每个模型在单机与本机回环集群（调度器加两个执行器）上的时间、行数与交换数据量
    /// / the cluster: each model on one machine and on a loopback cluster (scheduler + 2 executors): time, rows, shuffle bytes
    Cluster(ClusterBenchArgs),
}

#[derive(clap::Args)]
pub struct ClusterBenchArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// 复用工作目录中已导入的同规模仓库，不重新生成与导入 / reuse the warehouse of this size already
    /// ingested in the work folder (no generation, no ingest)
    #[arg(long)]
    pub reuse: bool,
    /// 集群运行各阶段的分区数（集群运行的 --threads；默认为两个执行器总核数的 4 倍，如真实集群上每核数个分区，
    /// 使一个任务的数据较小）/ partitions of each stage of the cluster run (its --threads; default 4 × the two
    /// executors' cores, several a core as on a real cluster, so that each task's data is smaller)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cluster_threads: Option<u64>,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// 学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)
    #[arg(long)]
    pub pupils: Option<u64>,
    /// 工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)
    #[arg(long, default_value = "target/bench")]
    pub work: PathBuf,
    /// 线程数（默认：全部核）/ threads (default: all cores)
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)
    #[arg(long, default_value_t = 4096)]
    pub memory_mb: usize,
}

impl BenchArgs {
    pub fn options(self) -> crate::bench::BenchOptions {
        self.options_or(1_000_000)
    }

    pub fn options_or(self, pupils: u64) -> crate::bench::BenchOptions {
        crate::bench::BenchOptions {
            pupils: self.pupils.unwrap_or(pupils),
            work: self.work,
            threads: self.threads,
            seed: self.seed,
            memory_mb: self.memory_mb,
        }
    }
}

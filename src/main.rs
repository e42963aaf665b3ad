//! `xueji` — 学籍数据仓库命令行 / the K-12 student-registration warehouse CLI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use xueji::pipeline::{self, IngestOptions, SqlFormat, default_threads};
use xueji::pipeline_config::PipelineConfig;
use xueji::synth::{GenOptions, generate};

/// xueji（学籍）：中小学生学籍数据的导入、校验与查询。
/// K-12 student-registration warehouse: import, validate, query.
#[derive(Parser)]
#[command(name = "xueji", version)]
struct Cli {
    /// 不显示进度 / no progress bars or progress lines
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether the command prints JSON (then no progress is shown either).
    fn json(&self) -> bool {
        match &self.command {
            Command::Nightly { json, .. }
            | Command::Ingest { json, .. }
            | Command::Run { json, .. }
            | Command::Check { json, .. }
            | Command::Render { json, .. } => *json,
            _ => false,
        }
    }
}

/// The man pages (the command and each subcommand) and shell completions, as (path under the
/// docs folder, contents): generated from the CLI definition, so they never disagree with it.
fn cli_docs() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    // The thread count defaults to this machine's cores: the pages say so instead of a number.
    fn portable(c: clap::Command) -> clap::Command {
        let c = c.mut_args(|a| {
            if a.get_id() == "threads" {
                a.hide_default_value(true)
            } else {
                a
            }
        });
        c.mut_subcommands(portable)
    }
    let cmd = portable(Cli::command());
    let mut out = Vec::new();
    let mut page = |c: clap::Command, name: String| -> Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).title(name.to_uppercase()).render(&mut buf)?;
        out.push((PathBuf::from("man").join(format!("{name}.1")), buf));
        Ok(())
    };
    page(cmd.clone(), "xueji".into())?;
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        page(
            sub.clone().display_name(format!("xueji-{}", sub.get_name())),
            format!("xueji-{}", sub.get_name()),
        )?;
    }
    for (shell, file) in [
        (Shell::Bash, "xueji.bash"),
        (Shell::Zsh, "_xueji"),
        (Shell::Fish, "xueji.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "xueji", &mut buf);
        out.push((PathBuf::from("completions").join(file), buf));
    }
    Ok(out)
}

#[derive(Subcommand)]
enum Command {
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
        #[arg(long, default_value_t = xueji::models::DEFAULT_JOBS)]
        jobs: usize,
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
        formats: Vec<xueji::render::Format>,
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
        /// 监听地址 / address to listen on
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: std::net::SocketAddr,
        /// 其他机器连接本机所用的主机名或地址（监听 0.0.0.0 时必填）/ the host other machines reach this
        /// one at (required with --listen 0.0.0.0:…)
        #[arg(long)]
        advertise: Option<String>,
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
enum BenchWhat {
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
}

#[derive(clap::Args)]
struct BenchArgs {
    /// 学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)
    #[arg(long)]
    pupils: Option<u64>,
    /// 工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// 线程数（默认：全部核）/ threads (default: all cores)
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// 模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)
    #[arg(long, default_value_t = 4096)]
    memory_mb: usize,
}

impl BenchArgs {
    fn options(self) -> xueji::bench::BenchOptions {
        self.options_or(1_000_000)
    }

    fn options_or(self, pupils: u64) -> xueji::bench::BenchOptions {
        xueji::bench::BenchOptions {
            pupils: self.pupils.unwrap_or(pupils),
            work: self.work,
            threads: self.threads,
            seed: self.seed,
            memory_mb: self.memory_mb,
        }
    }
}

/// One glibc malloc arena per core (at least two), unless MALLOC_ARENA_MAX says otherwise. glibc's default (8 per
/// core) lets every runtime thread grow an arena of its own, and memory freed in one is not reused
/// by another: a 20-million-pupil ingest peaked at 5.8-6.6 GB with the default and 4.9 GB with two
/// arenas, in the same time. One arena on two cores took a third longer.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        // SAFETY: mallopt only sets a malloc parameter; it runs before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores as libc::c_int);
        }
    }
}

/// Files xueji creates (warehouse, published marts, reports, the audit log) are readable by the
/// owner's group at most: they hold children's records. `XUEJI_UMASK` (octal, e.g. `077` for the
/// owner alone, `022` for everyone) overrides the default `027`.
fn restrict_file_modes() -> Result<(), String> {
    let mask = match std::env::var("XUEJI_UMASK") {
        Ok(v) => u32::from_str_radix(v.trim(), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("XUEJI_UMASK={v} 不是八进制权限掩码（例如 027）"))?,
        Err(_) => 0o027,
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
    let _ = mask;
    Ok(())
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    if let Err(e) = restrict_file_modes() {
        eprintln!("错误：{e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    xueji::progress::init(cli.quiet || cli.json());
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误：无法启动运行时：{e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 / error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  原因 / caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Gen {
            pupils,
            seed,
            out,
            provinces,
            pupils_per_county,
            school_size,
            as_of,
            problem_rate,
            formats,
        } => {
            let f: Vec<&str> = formats.split(',').map(str::trim).collect();
            for x in &f {
                anyhow::ensure!(["xlsx", "csv", "gbk"].contains(x), "未知格式 {x}：可选 xlsx,csv,gbk");
            }
            let o = GenOptions {
                pupils,
                seed,
                out: out.clone(),
                provinces,
                pupils_per_county,
                school_size,
                as_of,
                problem_rate,
                xlsx: f.contains(&"xlsx"),
                csv: f.contains(&"csv"),
                gbk: f.contains(&"gbk"),
            };
            let t0 = std::time::Instant::now();
            let s = tokio::task::block_in_place(|| generate(&o))?;
            println!(
                "已生成 / generated: {} 所学校, {} 名学生, {} 条学籍记录（其中 {} 条埋设了问题）, {} 条异动, {} 条问题学籍处理记录, {} 条体检记录, 用时 {:.1} 秒 → {}",
                s.schools,
                s.persons,
                s.records,
                s.planted,
                s.movements,
                s.decisions,
                s.exams,
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            warehouse,
            date,
            threads,
            memory_mb,
            report_dir,
            change_buckets,
            confirm_deletions,
            wait_lock,
            json,
            sources,
        } => {
            let mut o = IngestOptions::new(&warehouse, date, sources);
            (o.threads, o.memory_mb, o.report_dir, o.change_buckets) = (threads, memory_mb, report_dir, change_buckets);
            o.guard.confirmed = confirm_deletions;
            o.wait_lock_secs = wait_lock;
            let out = pipeline::ingest(&o).await?;
            show_ingest(&out, json)?;
            Ok(committed_code(&out, None))
        }
        Command::Run {
            warehouse,
            date,
            models,
            threads,
            memory_mb,
            jobs,
            json,
        } => {
            let o = xueji::models::RunOptions {
                warehouse,
                date,
                only: models,
                threads,
                memory_mb,
                jobs,
            };
            let out = xueji::models::run(&o).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_run(&out);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { json } => {
            let rep = xueji::models::check().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                for m in &rep.ok {
                    println!("通过 / ok: {m}");
                }
                for p in &rep.problems {
                    println!("问题 / problem: {p}");
                }
            }
            Ok(if rep.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Bench {
            what: BenchWhat::Dedup(a),
        } => {
            xueji::bench::dedup(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs { out, check: true } => {
            let mut stale: Vec<PathBuf> = xueji::docs::stale(&out)?.into_iter().map(|(p, _)| p).collect();
            for (rel, bytes) in cli_docs()? {
                if std::fs::read(out.join(&rel)).ok().as_deref() != Some(bytes.as_slice()) {
                    stale.push(out.join(rel));
                }
            }
            for p in &stale {
                println!("需要重新生成 / out of date: {}", p.display());
            }
            Ok(if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Docs { out, check: false } => {
            for p in xueji::docs::write(&out)? {
                println!("已更新 / written: {p}");
            }
            for (rel, bytes) in cli_docs()? {
                let path = out.join(rel);
                if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                    std::fs::create_dir_all(path.parent().expect("under the docs folder"))?;
                    std::fs::write(&path, bytes)?;
                    println!("已更新 / written: {}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Rosters(a),
        } => {
            xueji::bench::rosters(&a.options_or(100_000)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Problems { args, problem_rate },
        } => {
            xueji::bench::problems(&args.options(), problem_rate).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Serve(a),
        } => {
            xueji::bench::serve(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Marts(a),
        } => {
            xueji::bench::marts(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Ingest(a),
        } => {
            tokio::task::block_in_place(|| xueji::bench::ingest(&a.options()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render {
            warehouse,
            date,
            out,
            reports,
            units,
            formats,
            unmask,
            json,
            threads,
            memory_mb,
        } => {
            let o = xueji::render::RenderOptions {
                warehouse,
                date,
                out,
                threads,
                memory_mb,
                formats,
                only: reports,
                unmask,
                units,
            };
            let r = xueji::render::render(&o).await?;
            if json {
                let mut v = serde_json::to_value(&r)?;
                v["peak_rss_mb"] = serde_json::json!(xueji::memory::peak_rss_mb());
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_render(Some(&r));
            }
            Ok(if r.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Serve {
            warehouse,
            listen,
            tokens,
            audit,
            refresh_seconds,
            threads,
            memory_mb,
            tls_cert,
            tls_key,
            allow_plain_http,
            max_connections,
            header_timeout_seconds,
            idle_timeout_seconds,
            reload_tokens_seconds,
            xlsx_builds,
            audit_unauthenticated_per_second,
            lookups_per_minute,
        } => {
            let seconds = |flag: &str, v: f64| {
                std::time::Duration::try_from_secs_f64(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| anyhow::anyhow!("--{flag} 应为正的秒数"))
            };
            let o = xueji::serve::ServeOptions {
                warehouse,
                listen,
                tokens,
                audit,
                refresh: seconds("refresh-seconds", refresh_seconds)?,
                threads,
                memory_mb,
            };
            let limits = xueji::serve::Limits {
                max_connections,
                header_timeout: seconds("header-timeout-seconds", header_timeout_seconds)?,
                idle_timeout: seconds("idle-timeout-seconds", idle_timeout_seconds)?,
                tls: tls_cert
                    .zip(tls_key)
                    .map(|(cert, key)| xueji::serve::TlsFiles { cert, key }),
                allow_plain_http,
                reload_tokens: if reload_tokens_seconds > 0.0 {
                    Some(seconds("reload-tokens-seconds", reload_tokens_seconds)?)
                } else {
                    anyhow::ensure!(reload_tokens_seconds >= 0.0, "--reload-tokens-seconds 不能为负");
                    None
                },
                xlsx_builds,
                unauthenticated_lines_per_second: audit_unauthenticated_per_second,
                lookups_per_minute,
            };
            xueji::serve::serve(&o, &limits).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            tokens,
            id,
            name,
            jurisdiction,
            lists,
            unmask,
            expires,
        } => {
            let grant = xueji::serve::access::Grant {
                id: id.clone(),
                name,
                sha256: String::new(),
                jurisdiction,
                lists,
                unmask,
                expires,
            };
            let token = xueji::serve::access::add_token(&tokens, grant)?;
            println!("{token}");
            eprintln!(
                "已把令牌 {id} 的散列写入 {}；上面的令牌只显示这一次，请安全地交给持有单位 / token {id} added; it is shown only this once",
                tokens.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Lookup {
            warehouse,
            as_of,
            name,
            id_number,
            registration_no,
            json,
            threads,
            memory_mb,
        } => {
            lookup(
                &warehouse,
                as_of,
                &name,
                id_number,
                registration_no,
                json,
                threads,
                memory_mb,
            )
            .await
        }
        Command::Sql {
            warehouse,
            format,
            as_of,
            threads,
            memory_mb,
            cluster,
            query,
        } => {
            let batches = pipeline::sql_all_on(&warehouse, &[&query], as_of, threads, memory_mb, cluster.as_deref())
                .await?
                .pop()
                .unwrap_or_default();
            pipeline::print_batches(&batches, format, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scheduler { listen, advertise } => {
            eprintln!("xueji 调度器监听 / scheduler listening on {listen}");
            xueji::cluster::run_scheduler(listen, advertise).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Executor {
            scheduler,
            listen,
            grpc_listen,
            work_dir,
            memory_mb,
            cores,
            advertise,
        } => {
            eprintln!("xueji 执行器 {listen}（gRPC {grpc_listen}），调度器 {scheduler} / executor");
            xueji::cluster::run_executor(xueji::cluster::ExecutorOptions {
                scheduler,
                listen,
                grpc_listen,
                work_dir,
                memory_mb,
                cores,
                advertise,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Nightly {
            pipeline: file,
            date,
            json,
        } => {
            let (o, models) = PipelineConfig::load(&file)?.into_job(date)?;
            let out = pipeline::ingest(&o).await?;
            let mut render_error = None;
            match models {
                Some(m) => {
                    let runs = xueji::models::run(&m).await?;
                    let rendered = render_local(&m.warehouse, &runs.snapshot_date)
                        .await
                        .unwrap_or_else(|e| {
                            render_error = Some(format!("{e:#}"));
                            None
                        });
                    if let Some(r) = rendered.as_ref().filter(|r| !r.failed.is_empty()) {
                        let keys: Vec<&str> = r.failed.iter().map(|f| f.0.as_str()).collect();
                        render_error = Some(format!("报表 {} 未能生成", keys.join("、")));
                    }
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({ "ingest": out, "run": runs, "render": rendered })
                            )?
                        );
                    } else {
                        print_ingest(&out);
                        print_run(&runs);
                        if render_error.is_none() {
                            print_render(rendered.as_ref());
                        }
                    }
                }
                None => show_ingest(&out, json)?,
            }
            Ok(committed_code(&out, render_error.as_deref()))
        }
        Command::Demo { pipeline: file } => {
            anyhow::ensure!(
                file.exists(),
                "找不到作业文件 {}：请在项目根目录运行 / run from the project folder",
                file.display()
            );
            let (o, models) = PipelineConfig::load(&file)?.into_job(None)?;
            let warehouse = o.warehouse.clone();
            let out = pipeline::ingest(&o).await?;
            print_ingest(&out);
            let ran = match models {
                Some(m) => {
                    let r = xueji::models::run(&m).await?;
                    print_run(&r);
                    print_render(render_local(&m.warehouse, &r.snapshot_date).await?.as_ref());
                    r.models.iter().any(|x| x.model == "dedup_groups")
                }
                None => false,
            };
            let mut titles = vec!["各校在册学籍（前 10 所）/ registrations per school (first 10):"];
            let mut queries = vec![
                "SELECT s.school_id AS 学校标识码, COUNT(*) AS 在册学籍, SUM(CASE WHEN left_behind_type IN ('单亲留守儿童','双亲留守儿童') THEN 1 ELSE 0 END) AS 留守儿童, SUM(CASE WHEN attendance_mode = '住校' THEN 1 ELSE 0 END) AS 住校生 FROM students s GROUP BY s.school_id ORDER BY s.school_id LIMIT 10",
            ];
            if ran {
                titles.push("问题学籍 / problem registrations (dedup_groups):");
                queries.push("SELECT kind_label AS 问题类别, responsible_level AS 负责层级, COUNT(*) AS 问题组, SUM(member_count) AS 学籍数, SUM(CASE WHEN status = '已解决' THEN 1 ELSE 0 END) AS 已解决 FROM dedup_groups GROUP BY kind, kind_label, responsible_level ORDER BY kind, CASE responsible_level WHEN '区县' THEN 1 WHEN '地市' THEN 2 WHEN '省级' THEN 3 ELSE 4 END");
                titles.push("同一学生的多条学籍（精确 + 疑似）/ pupils registered more than once (dedup_clusters):");
                queries.push("SELECT found_by AS 发现方式, COUNT(DISTINCT cluster_id) AS 学生数, COUNT(*) AS 学籍数 FROM dedup_clusters GROUP BY found_by ORDER BY found_by");
                titles.push("在校生分类统计（教基表口径）/ pupils in school by kind (stats_school_form):");
                queries.push("SELECT county_name AS 区县, SUM(pupils) AS 在校生, SUM(girls) AS 女, SUM(boarders) AS 寄宿生, SUM(migrant) AS 随迁子女, SUM(migrant_worker) AS 进城务工随迁, SUM(rural_left_behind) AS 农村留守儿童 FROM stats_school_form GROUP BY county_code, county_name ORDER BY county_code");
            }
            for (title, b) in titles
                .iter()
                .zip(pipeline::sql_all(&warehouse, &queries, None, default_threads(), 1024).await?)
            {
                println!("\n{title}");
                pipeline::print_batches(&b, SqlFormat::Table, &mut std::io::stdout().lock())?;
            }
            let marts: Vec<String> = xueji::models::models()?.into_iter().map(|m| m.name).collect();
            println!(
                "\n仓库 / warehouse: {warehouse}/\n  输入表 inputs: {}, rejects, import_files\n  模型表 marts: {}",
                xueji::warehouse::HISTORY_TABLES.join(", "),
                marts.join(", ")
            );
            println!("导入报告 / import reports: {}", out.report_index.display());
            println!(
                "自行查询 / ask your own question:\n  cargo run --release -- sql --warehouse {warehouse} \"SELECT rule_code, COUNT(*) FROM rejects GROUP BY rule_code ORDER BY 2 DESC\""
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `xueji lookup`: 0 found, 1 not found, 2 a query or date that cannot be looked up.
#[allow(clippy::too_many_arguments)]
async fn lookup(
    warehouse: &str,
    as_of: Option<NaiveDate>,
    name: &str,
    id_number: Option<String>,
    registration_no: Option<String>,
    json: bool,
    threads: usize,
    memory_mb: usize,
) -> Result<ExitCode> {
    use xueji::models::lookup as lk;
    let q = match lk::Query::parse(Some(name), id_number.as_deref(), registration_no.as_deref()) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("错误：{} / {}", e.zh, e.en);
            return Ok(ExitCode::from(2));
        }
    };
    let (ctx, source) = lk::open(warehouse, threads, memory_mb).await?;
    let Some(source) = source else {
        eprintln!(
            "错误：仓库 {warehouse} 中还没有学籍状态（student_status）：请先运行 xueji ingest 与 xueji run / no registration status yet"
        );
        return Ok(ExitCode::from(2));
    };
    let Some(date) = source.date(as_of) else {
        let first = source.dates.first().map(|d| d.to_string()).unwrap_or_default();
        eprintln!(
            "错误：{} 及以前没有学籍状态；最早的是 {first} / no status on or before that date",
            as_of.map(|d| d.to_string()).unwrap_or_default()
        );
        return Ok(ExitCode::from(2));
    };
    let found = lk::lookup(&ctx, date, &q).await?;
    if json {
        let body = serde_json::json!({
            "snapshot_date": date.to_string(),
            "masked": true,
            "query": q.masked(),
            "found": found.len(),
            "registrations": found,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else if found.is_empty() {
        println!(
            "全国学籍查询（截至 {date}）：未查到学籍；姓名与身份证件号（或全国学籍号）须与学籍完全一致 / not found"
        );
    } else {
        println!(
            "全国学籍查询（截至 {date}）：查到 {} 条学籍；姓名、学籍号、证件号已遮蔽 / {} found, masked",
            found.len(),
            found.len()
        );
        pipeline::print_batches(&[lk::table(&found)?], SqlFormat::Table, &mut std::io::stdout().lock())?;
    }
    Ok(if found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_run(out: &xueji::models::RunOutcome) {
    println!(
        "模型运行 / model run {}（快照日期 {}）：{} 个模型",
        out.seq,
        out.snapshot_date,
        out.models.len()
    );
    for m in &out.models {
        println!(
            "  {:<24} {:>10} 行  {:>6.1} 秒",
            m.model,
            m.rows,
            m.millis as f64 / 1000.0
        );
    }
    println!(
        "  共用时 / models took {:.1} 秒（互不依赖的模型同时运行 / independent models overlap）",
        out.models_millis as f64 / 1000.0
    );
}

fn show_ingest(out: &pipeline::IngestOutcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(out)?);
    } else {
        print_ingest(out);
    }
    Ok(())
}

fn print_ingest(out: &pipeline::IngestOutcome) {
    let m = &out.metrics;
    println!(
        "快照日期 {}：{} 个文件（{} 个整文件未导入），读入 {} 行 = 成功 {} + 失败 {}；警告 {} 条；用时 {:.1} 秒",
        out.commit.snapshot_date, m.files, m.file_errors, m.rows_in, m.accepted, m.rejected, m.warnings, m.seconds
    );
    for (t, [i, u, d]) in &out.commit.changes {
        println!("  {t}: 新增 {i}，变更 {u}，删除 {d}");
    }
    for r in out.reports.iter().filter(|r| r.file_error.is_some()) {
        let (code, msg) = r.file_error.as_ref().expect("filtered");
        println!("  文件未导入 {}：{msg}（{code}）", r.file);
    }
    if m.explained > 0 {
        println!(
            "  班号与入学年月不一致、已由审核通过的留级/跳级/休学/复学异动说明的 {} 名学生不再提示（W_CLASS_YEAR）",
            m.explained
        );
    }
    for h in &out.metrics.held_out {
        println!(
            "  学校 {} 今晚已由 {} 提交：{} 中该校的 {} 行未导入（R_SCHOOL_TWICE）",
            h.school_id, h.kept_file, h.file, h.rows
        );
    }
    for h in &out.commit.held_deletions {
        println!(
            "  待确认：学校 {} 今晚将删除 {} 条学籍（上一晚 {} 条），删除未执行；确认后用 --confirm-deletions {} 重新导入",
            h.school_id, h.deletions, h.previous, h.school_id
        );
    }
    println!("导入报告 / import report: {}", out.report_index.display());
    if let Some(u) = &out.report_uploaded_to {
        println!("  已上传到 / uploaded to: {u}");
    }
    if let Some(e) = &out.report_error {
        eprintln!("错误：本晚已提交，但导入报告未能全部写出 / committed, but the import reports failed: {e}");
    }
}

/// Exit code 3: the night was committed, but its import reports (or the night's rendered
/// reports, `render_error`) were not all written. 1 means nothing was committed.
fn committed_code(out: &pipeline::IngestOutcome, render_error: Option<&str>) -> ExitCode {
    if let Some(e) = render_error {
        eprintln!("错误：本晚已提交，但报表生成失败 / committed, but rendering failed: {e}");
    }
    if out.report_error.is_some() || render_error.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// The reports of a night in `<warehouse>/reports/<date>/` when the warehouse is a local folder.
async fn render_local(warehouse: &str, date: &str) -> Result<Option<xueji::render::RenderOutcome>> {
    if warehouse.contains("://") {
        return Ok(None);
    }
    let mut o = xueji::render::RenderOptions::new(warehouse, &PathBuf::from(warehouse).join("reports").join(date));
    o.date = Some(date.parse()?);
    o.threads = default_threads();
    o.memory_mb = 1024;
    Ok(Some(xueji::render::render(&o).await?))
}

fn print_render(r: Option<&xueji::render::RenderOutcome>) {
    match r {
        Some(r) => {
            let docs: Vec<String> = r.documents.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "报表 / reports（快照日期 {}）：{} 个文件（{}），目录 / index {}",
                r.snapshot_date,
                r.files.len(),
                docs.join("，"),
                r.index
            );
            if !r.issued.is_empty() {
                println!("已登记的证明编号 / numbers issued：{}", r.issued.join("、"));
            }
            for (key, why) in &r.failed {
                eprintln!("错误：报表 {key} 未能生成（其他报表已生成）/ report {key} failed: {why}");
            }
        }
        None => println!(
            "仓库不在本地，未生成报表：请用 xueji render --out DIR / remote warehouse: run xueji render --out DIR"
        ),
    }
}

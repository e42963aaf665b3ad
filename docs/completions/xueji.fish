# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_xueji_global_optspecs
    string join \n q/quiet h/help V/version
end

function __fish_xueji_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_xueji_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_xueji_using_subcommand
    set -l cmd (__fish_xueji_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c xueji -n "__fish_xueji_needs_command" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_needs_command" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_needs_command" -s V -l version -d 'Print version'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "demo" -d '演示：运行 pipelines/demo.toml，把 data-samples 导入 ./warehouse 并打印结果位置 / Demo: the samples into ./warehouse'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "nightly" -d '按作业文件运行一晚的导入 / Run one night of a job file (pipelines/*.toml)'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "gen" -d '生成合成学籍数据（含标准答案）/ Generate synthetic data with ground truth'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "ingest" -d '导入一晚的数据 / Ingest one night\'s sources into the warehouse'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "run" -d '运行 sql/ 中的模型（问题学籍等），结果写入仓库 / Run the SQL models (sql/) into the warehouse'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "vacuum" -d '清理仓库中已不再使用的数据文件：被新版本替换超过 --keep-hours 小时的文件、中断的运行写下而未提交的文件； 各表最近一次提交的夜间导入或模型运行所用的版本总是完整保留 / Remove data files no version in use needs: those replaced more than --keep-hours ago and those a killed run never committed; the version each table\'s last committed night or run uses is always kept whole'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "check" -d '检查模型：文件头、实际读取的表、结果列与结构文件 / Check every model\'s header, inputs and result schema'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "docs" -d '由结构文件与命令行定义生成参考文档（docs/marts.md、docs/tables.md、docs/rules.md、docs/man/、docs/completions/） / Generate the reference pages, man pages and shell completions'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "bench" -d '性能测试，打印结果 / Benchmarks that print their figures'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "render" -d '生成可打印报表（HTML、PDF、XLSX：花名册、问题学籍清单、留守儿童与随迁子女统计、资助与营养改善计划名单、转学待办、导入失败原因； 按需出具学籍卡片、学生基本信息表、学籍证明：--report card|info_sheet|certificate --unit 学校标识码|学籍号|身份证件号） / Render printable reports (HTML, PDF, XLSX) from the marts; reports/reports.toml lists them'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "serve" -d '名单与统计的 HTTP 接口：令牌限定管辖范围和清单，默认遮蔽证件号、电话、住址，每个请求记入审计日志 / Serve lists and statistics over HTTP: tokens scoped to a jurisdiction, masked, audited'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "token" -d '生成一个访问令牌并把它的散列写入令牌文件；令牌只显示这一次 / Add an access token (printed once, stored hashed)'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "lookup" -d '全国学籍查询：按姓名和身份证件号，或姓名和全国学籍号，查学籍所在省份、学校、学段、状态、是否问题学籍与最新变动时间 （完全一致才算查到；姓名、证件号遮蔽显示）；退出码 0 查到，1 未查到，2 参数错误 / National registration lookup by name and ID number, or name and 学籍号 (exact, masked); exit 0 found, 1 not found, 2 bad arguments'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "sql" -d '对仓库执行 SQL 查询 / Run SQL over the warehouse'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "scheduler" -d '启动集群调度器（Ballista）：执行器向它登记，--cluster 的客户端向它提交查询 / Start a cluster scheduler (Ballista): executors register with it, --cluster clients submit to it'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "executor" -d '启动集群执行器，向调度器登记并运行分给它的任务 / Start a cluster executor: it registers with the scheduler and runs the tasks it is given'
complete -c xueji -n "__fish_xueji_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c xueji -n "__fish_xueji_using_subcommand demo" -l pipeline -d '作业文件 / job file' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand demo" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand demo" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand nightly" -l pipeline -d '作业文件 / job file' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand nightly" -l date -d '快照日期，覆盖作业文件中的日期 / snapshot date (overrides the file)' -r
complete -c xueji -n "__fish_xueji_using_subcommand nightly" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand nightly" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand nightly" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l pupils -d '学生人数 / number of pupils' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l seed -d '随机种子：相同种子生成相同数据 / seed: the same seed gives the same files' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l out -d '输出目录 / output folder' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l provinces -d '省份数 / number of provinces' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l pupils-per-county -d '每县约多少学生 / pupils per county (sets the number of counties)' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l school-size -d '平均学校规模 / average school size' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l as-of -d '数据所描述的日期（据此推算年级）/ the date the data describe' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l problem-rate -d '埋设问题的比例 / share of pupils with a planted problem' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -l formats -d '学生文件格式，逗号分隔：xlsx,csv,gbk；默认只写 XLSX，使 `xueji ingest DIR` 每名学生只读一次 (多种格式是同一批学生，分别在 students-xlsx/、students-csv/、students-gbk/) / student file formats; XLSX only by default, so that `xueji ingest DIR` reads every pupil once (several formats are copies of the same pupils)' -r
complete -c xueji -n "__fish_xueji_using_subcommand gen" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand gen" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l warehouse -d '仓库位置（本地目录）/ warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l date -d '快照日期 YYYY-MM-DD / snapshot date' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l memory-mb -d '内存上限（MB），超出则落盘 / memory limit in MB before spilling' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l report-dir -d '导入报告目录 / where the import reports go' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l change-buckets -d '与上一晚比较时按键分成几桶依次进行（默认按内存上限自动选择）/ key buckets of the comparison with the previous night, done one after another (default: chosen from --memory-mb)' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l confirm-deletions -d '确认这些学校今晚的删除（一晚删除超过该校 20% 的学籍时须确认）/ let these schools\' held deletions through' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l wait-lock -d '仓库正被另一进程写入时最多等待的秒数 / seconds to wait for another writer of the warehouse' -r
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand ingest" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand run" -l warehouse -d '仓库位置 / warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l date -d '快照日期（默认最近一晚）/ snapshot date (default: the latest night)' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l model -d '只运行这些模型及依赖它们的模型（可重复）/ only these models and what reads them (repeatable)' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l memory-mb -d '内存上限（MB），超出则落盘 / memory limit in MB before spilling' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l jobs -d '同时运行的模型数（互不读取的模型）/ models run at once (those that do not read each other)' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l cluster -d '在集群上计算各模型（df://主机:端口），结果仍由本机提交 / compute the models on a cluster (df://HOST:PORT); this machine commits the run' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l passes -d '分遍计算的模型（dedup_pairs）分几遍计算（默认按本机 --memory-mb 选择，集群上也是； 集群宜按执行器内存总和指定）/ passes of the models computed in passes (dedup_pairs; default: from this machine\'s --memory-mb, also with --cluster: give it for the cluster)' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l wait-lock -d '仓库正被另一进程写入（导入、清理）时最多等待的秒数 / seconds to wait for another writer of the warehouse' -r
complete -c xueji -n "__fish_xueji_using_subcommand run" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand run" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand run" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l warehouse -d '仓库位置 / warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l keep-hours -d '被替换的文件再保留多少小时（正在读旧版本的查询须在此之内读完；默认 7 天）/ hours a replaced file is kept (a reader of an older version must finish within them; default 7 days)' -r
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l wait-lock -d '仓库正被另一进程写入时最多等待的秒数 / seconds to wait for another writer of the warehouse' -r
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l dry-run -d '只列出会删除多少文件与字节，不删除 / only count what would be removed'
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l force -d '允许 --keep-hours 小于 1（确认没有查询或 xueji serve 正在读仓库时）/ allow --keep-hours below 1 (when nothing reads the warehouse)'
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand vacuum" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand check" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand check" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand check" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand docs" -l out -d '输出目录 / output folder' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand docs" -l check -d '只检查是否最新，不写入；不是最新则退出码为 2 / only check that the pages are current (exit 2 if not)'
complete -c xueji -n "__fish_xueji_using_subcommand docs" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand docs" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "dedup" -d '查重：端到端每秒记录数、内存峰值，以及精确加疑似匹配对标准答案的成对精确率、召回率、F1 / dedup: records per second end to end, peak memory, pairwise precision, recall, F1'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "ingest" -d '导入速度：CSV 与 XLSX 每秒行数和内存峰值 / ingest rows per second and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "marts" -d '统计与名单模型：xueji 与 DuckDB 在同一批 Parquet 上运行同一 SQL 的时间和内存峰值，结果须一致 / statistics and list marts: xueji beside DuckDB on the same Parquet and SQL, time and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "rosters" -d '花名册报表：一所 2,000 人学校与一个 10 万人区县的全部花名册（HTML、PDF、XLSX）的时间与内存 / rosters of a 2,000-pupil school and of a 100,000-pupil county: time and memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "problems" -d '问题学籍多的省份：问题比例 0.5（默认）时全部模型在默认内存下的时间与内存峰值 / a province where half the pupils carry a problem: every model at the default memory, time and peak'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "serve" -d '数据接口：一个区县受益名单（CSV）的首字节时间与总时间，50 个并发客户端的小查询每秒请求数 / the API: time to first byte and total for a county\'s beneficiary list as CSV; requests per second with 50 clients'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "cluster" -d '集群：每个模型在单机与本机回环集群（调度器加两个执行器）上的时间、行数与交换数据量 / the cluster: each model on one machine and on a loopback cluster (scheduler + 2 executors): time, rows, shuffle bytes'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and not __fish_seen_subcommand_from dedup ingest marts rosters problems serve cluster help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from dedup" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from ingest" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from marts" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from rosters" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -l problem-rate -d '埋设问题的学生比例 / share of pupils with a planted problem' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from problems" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l pupils -d '学生人数（默认 1,000,000；rosters 为 100,000）/ pupils (default 1,000,000; rosters 100,000)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l work -d '工作目录（生成的数据会保留以便复用）/ work folder (generated data is kept for reuse)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l seed -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l memory-mb -d '模型运行的内存上限（MB）；哈希连接不能落盘，千万级需调高 / memory limit of the model run in MB (hash joins cannot spill: raise it for 10M and more)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l cluster-threads -d '集群运行各阶段的分区数（集群运行的 --threads；默认为两个执行器总核数的 4 倍，如真实集群上每核数个分区， 使一个任务的数据较小）/ partitions of each stage of the cluster run (its --threads; default 4 × the two executors\' cores, several a core as on a real cluster, so that each task\'s data is smaller)' -r
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -l reuse -d '复用工作目录中已导入的同规模仓库，不重新生成与导入 / reuse the warehouse of this size already ingested in the work folder (no generation, no ingest)'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from cluster" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "dedup" -d '查重：端到端每秒记录数、内存峰值，以及精确加疑似匹配对标准答案的成对精确率、召回率、F1 / dedup: records per second end to end, peak memory, pairwise precision, recall, F1'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "ingest" -d '导入速度：CSV 与 XLSX 每秒行数和内存峰值 / ingest rows per second and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "marts" -d '统计与名单模型：xueji 与 DuckDB 在同一批 Parquet 上运行同一 SQL 的时间和内存峰值，结果须一致 / statistics and list marts: xueji beside DuckDB on the same Parquet and SQL, time and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "rosters" -d '花名册报表：一所 2,000 人学校与一个 10 万人区县的全部花名册（HTML、PDF、XLSX）的时间与内存 / rosters of a 2,000-pupil school and of a 100,000-pupil county: time and memory'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "problems" -d '问题学籍多的省份：问题比例 0.5（默认）时全部模型在默认内存下的时间与内存峰值 / a province where half the pupils carry a problem: every model at the default memory, time and peak'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "serve" -d '数据接口：一个区县受益名单（CSV）的首字节时间与总时间，50 个并发客户端的小查询每秒请求数 / the API: time to first byte and total for a county\'s beneficiary list as CSV; requests per second with 50 clients'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "cluster" -d '集群：每个模型在单机与本机回环集群（调度器加两个执行器）上的时间、行数与交换数据量 / the cluster: each model on one machine and on a loopback cluster (scheduler + 2 executors): time, rows, shuffle bytes'
complete -c xueji -n "__fish_xueji_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c xueji -n "__fish_xueji_using_subcommand render" -l warehouse -d '仓库位置 / warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l date -d '快照日期（默认最近一晚）/ snapshot date (default: the latest night)' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l out -d '输出目录 / output folder' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand render" -l report -d '只生成这些报表（可重复，如 --report roster）/ only these reports (repeatable)' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l unit -d '只生成这些单位（学校标识码、区县代码等；按学生出具的报表还可给学籍号、身份证件号；可重复） / only these units\' documents; for per-pupil reports also a 学籍号 or ID number (repeatable)' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l format -d '输出格式（可重复；默认全部）/ formats (repeatable; default all)' -r -f -a "html\t''
pdf\t''
xlsx\t''"
complete -c xueji -n "__fish_xueji_using_subcommand render" -l unmask -d '不遮蔽此报表的证件号、电话、住址（接收方有权查看完整信息时）/ print this report unmasked' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l memory-mb -r
complete -c xueji -n "__fish_xueji_using_subcommand render" -l json -d '以 JSON 输出结果 / print the outcome as JSON'
complete -c xueji -n "__fish_xueji_using_subcommand render" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand render" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l warehouse -d '仓库位置 / warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l listen -d '监听地址 / address to listen on' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l tokens -d '令牌文件（xueji token 生成）/ token file (made by xueji token)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l audit -d '审计日志（JSON Lines，追加写入）/ audit log (JSON lines, appended)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l refresh-seconds -d '每隔多少秒检查一次新提交的模型运行 / seconds between looks for a newly committed run' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l memory-mb -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l tls-cert -d 'HTTPS 证书链（PEM），与 --tls-key 同用 / TLS certificate chain (PEM), with --tls-key' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l tls-key -d 'HTTPS 私钥（PEM）/ TLS private key (PEM)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l max-connections -d '同时服务的连接数上限，超出的在队列中等待 / connections served at once; more wait in the backlog' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l header-timeout-seconds -d '请求头须在多少秒内收齐（也是保持连接的空闲上限）/ seconds to send a whole request head (also the keep-alive idle limit)' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l idle-timeout-seconds -d '客户端多少秒不接收响应数据即断开 / seconds a client may take no byte of a response before it is cut off' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l reload-tokens-seconds -d '每隔多少秒检查令牌文件是否改动（0：只在收到 SIGHUP 时重读）/ seconds between looks at the token file (0: only on SIGHUP)' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l xlsx-builds -d '同时生成的 Excel 文件数 / XLSX workbooks built at once' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l audit-unauthenticated-per-second -d '无有效令牌的请求每秒最多记入审计日志的条数，其余只计数 / audit lines a second for requests without a valid token' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l lookups-per-minute -d '每个令牌每分钟最多几次全国学籍查询（/v1/lookup），超出返回 429 / lookups a token may make a minute' -r
complete -c xueji -n "__fish_xueji_using_subcommand serve" -l allow-plain-http -d '允许在非本机地址上用明文 HTTP（前面另有 HTTPS 代理时）/ allow plain HTTP on a non-loopback address'
complete -c xueji -n "__fish_xueji_using_subcommand serve" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand serve" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand token" -l tokens -d '令牌文件（不存在则创建）/ token file (created if missing)' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand token" -l id -d '编号（写入审计日志）/ short id, written to the audit log' -r
complete -c xueji -n "__fish_xueji_using_subcommand token" -l name -d '持有单位 / holder, e.g. 黟县学生资助管理中心' -r
complete -c xueji -n "__fish_xueji_using_subcommand token" -l jurisdiction -d '管辖范围：* 全国，2/4/6 位行政区划代码，或 10 位学校标识码 / jurisdiction' -r
complete -c xueji -n "__fish_xueji_using_subcommand token" -l list -d '可读的清单（可重复；* 为全部清单）；lookup 授权全国学籍查询（* 不含）/ lists it may read (repeatable; * for all); lookup grants the national lookup (* does not)' -r
complete -c xueji -n "__fish_xueji_using_subcommand token" -l expires -d '有效期至（含当天）/ last valid day' -r
complete -c xueji -n "__fish_xueji_using_subcommand token" -l unmask -d '可看完整的证件号、电话、住址 / may see ID numbers, phones and addresses in full'
complete -c xueji -n "__fish_xueji_using_subcommand token" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand token" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l warehouse -d '仓库位置 / warehouse location' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l as-of -d '按哪一天的学籍状态查询（这一天或之前最近一次模型运行；默认最近一次）/ status as of this date (the latest run on or before it; default the latest)' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l name -d '学生姓名，须与学籍一致 / the pupil\'s name, exactly as registered' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l id-number -d '身份证件号（末位 X 不分大小写）/ ID number (check character X in either case)' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l registration-no -d '全国学籍号（19 位）/ the 19-character 学籍号' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l memory-mb -r
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -l json -d '以 JSON 输出 / print JSON'
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand lookup" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l warehouse -r
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l format -d '输出格式 / output format' -r -f -a "table\t''
csv\t''
json\t''"
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l as-of -d '按哪一天的状态查询（默认最近一晚）/ state as of this date (default: latest night)' -r
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l threads -d '线程数（默认：全部核）/ threads (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l memory-mb -r
complete -c xueji -n "__fish_xueji_using_subcommand sql" -l cluster -d '在集群上运行（df://主机:端口，见 xueji scheduler）/ run on a cluster (df://HOST:PORT)' -r
complete -c xueji -n "__fish_xueji_using_subcommand sql" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand sql" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -l listen -d '监听地址；其后第 10 个端口（默认 50060）是 xueji 的状态端口，--cluster 的运行用它确认执行器未丢失 / address to listen on; the port 10 above it (50060 by default) is xueji\'s status port, which `run --cluster` reads to make sure no executor was lost' -r
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -l advertise -d '其他机器连接本机所用的主机名或地址（监听 0.0.0.0 时必填）/ the host other machines reach this one at (required with --listen 0.0.0.0:…)' -r
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -l executor-timeout-secs -d '执行器多少秒没有心跳即视为失联，其任务改由其他执行器重跑 / seconds without a heartbeat after which an executor is taken for lost and its tasks run again elsewhere' -r
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -l keep-results-secs -d '作业完成后其结果文件在执行器上保留的秒数（客户端须在此之内读完结果；执行器磁盘较小时调低；至少 60） / seconds a finished job\'s result files stay on the executors (a client must read its result within them; lower it when the executors\' disks are small; at least 60)' -r
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand scheduler" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l scheduler -d '调度器地址 主机:端口 / the scheduler, HOST:PORT' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l listen -d '数据（Arrow Flight）服务的监听地址 / address of the data (Arrow Flight) service' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l grpc-listen -d '任务（gRPC）服务的监听地址，须与 --listen 同一主机 / address of the task (gRPC) service, on the same host as --listen' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l work-dir -d '中间结果与溢写文件的目录 / directory for shuffle and spill files' -r -F
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l memory-mb -d '内存上限（MB；默认按本机内存自动）/ memory limit in MB (default: from the machine\'s memory)' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l cores -d '并行任务数（默认：全部核）/ concurrent tasks (default: all cores)' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -l advertise -d '其他机器连接本机所用的主机名或地址（监听 0.0.0.0 时必填）/ the host other machines reach this one at (required with --listen 0.0.0.0:…)' -r
complete -c xueji -n "__fish_xueji_using_subcommand executor" -s q -l quiet -d '不显示进度 / no progress bars or progress lines'
complete -c xueji -n "__fish_xueji_using_subcommand executor" -s h -l help -d 'Print help'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "demo" -d '演示：运行 pipelines/demo.toml，把 data-samples 导入 ./warehouse 并打印结果位置 / Demo: the samples into ./warehouse'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "nightly" -d '按作业文件运行一晚的导入 / Run one night of a job file (pipelines/*.toml)'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "gen" -d '生成合成学籍数据（含标准答案）/ Generate synthetic data with ground truth'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "ingest" -d '导入一晚的数据 / Ingest one night\'s sources into the warehouse'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "run" -d '运行 sql/ 中的模型（问题学籍等），结果写入仓库 / Run the SQL models (sql/) into the warehouse'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "vacuum" -d '清理仓库中已不再使用的数据文件：被新版本替换超过 --keep-hours 小时的文件、中断的运行写下而未提交的文件； 各表最近一次提交的夜间导入或模型运行所用的版本总是完整保留 / Remove data files no version in use needs: those replaced more than --keep-hours ago and those a killed run never committed; the version each table\'s last committed night or run uses is always kept whole'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "check" -d '检查模型：文件头、实际读取的表、结果列与结构文件 / Check every model\'s header, inputs and result schema'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "docs" -d '由结构文件与命令行定义生成参考文档（docs/marts.md、docs/tables.md、docs/rules.md、docs/man/、docs/completions/） / Generate the reference pages, man pages and shell completions'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "bench" -d '性能测试，打印结果 / Benchmarks that print their figures'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "render" -d '生成可打印报表（HTML、PDF、XLSX：花名册、问题学籍清单、留守儿童与随迁子女统计、资助与营养改善计划名单、转学待办、导入失败原因； 按需出具学籍卡片、学生基本信息表、学籍证明：--report card|info_sheet|certificate --unit 学校标识码|学籍号|身份证件号） / Render printable reports (HTML, PDF, XLSX) from the marts; reports/reports.toml lists them'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "serve" -d '名单与统计的 HTTP 接口：令牌限定管辖范围和清单，默认遮蔽证件号、电话、住址，每个请求记入审计日志 / Serve lists and statistics over HTTP: tokens scoped to a jurisdiction, masked, audited'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "token" -d '生成一个访问令牌并把它的散列写入令牌文件；令牌只显示这一次 / Add an access token (printed once, stored hashed)'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "lookup" -d '全国学籍查询：按姓名和身份证件号，或姓名和全国学籍号，查学籍所在省份、学校、学段、状态、是否问题学籍与最新变动时间 （完全一致才算查到；姓名、证件号遮蔽显示）；退出码 0 查到，1 未查到，2 参数错误 / National registration lookup by name and ID number, or name and 学籍号 (exact, masked); exit 0 found, 1 not found, 2 bad arguments'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "sql" -d '对仓库执行 SQL 查询 / Run SQL over the warehouse'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "scheduler" -d '启动集群调度器（Ballista）：执行器向它登记，--cluster 的客户端向它提交查询 / Start a cluster scheduler (Ballista): executors register with it, --cluster clients submit to it'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "executor" -d '启动集群执行器，向调度器登记并运行分给它的任务 / Start a cluster executor: it registers with the scheduler and runs the tasks it is given'
complete -c xueji -n "__fish_xueji_using_subcommand help; and not __fish_seen_subcommand_from demo nightly gen ingest run vacuum check docs bench render serve token lookup sql scheduler executor help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "dedup" -d '查重：端到端每秒记录数、内存峰值，以及精确加疑似匹配对标准答案的成对精确率、召回率、F1 / dedup: records per second end to end, peak memory, pairwise precision, recall, F1'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "ingest" -d '导入速度：CSV 与 XLSX 每秒行数和内存峰值 / ingest rows per second and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "marts" -d '统计与名单模型：xueji 与 DuckDB 在同一批 Parquet 上运行同一 SQL 的时间和内存峰值，结果须一致 / statistics and list marts: xueji beside DuckDB on the same Parquet and SQL, time and peak memory'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "rosters" -d '花名册报表：一所 2,000 人学校与一个 10 万人区县的全部花名册（HTML、PDF、XLSX）的时间与内存 / rosters of a 2,000-pupil school and of a 100,000-pupil county: time and memory'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "problems" -d '问题学籍多的省份：问题比例 0.5（默认）时全部模型在默认内存下的时间与内存峰值 / a province where half the pupils carry a problem: every model at the default memory, time and peak'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "serve" -d '数据接口：一个区县受益名单（CSV）的首字节时间与总时间，50 个并发客户端的小查询每秒请求数 / the API: time to first byte and total for a county\'s beneficiary list as CSV; requests per second with 50 clients'
complete -c xueji -n "__fish_xueji_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "cluster" -d '集群：每个模型在单机与本机回环集群（调度器加两个执行器）上的时间、行数与交换数据量 / the cluster: each model on one machine and on a loopback cluster (scheduler + 2 executors): time, rows, shuffle bytes'

//! `xueji bench ingest`: generate a province-sized input, ingest it as CSV and as XLSX in child
//! processes (so each one's peak memory is its own), and print rows per second and peak memory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::synth::{GenOptions, generate};

mod cluster;
pub use cluster::cluster;

pub use crate::memory::peak_rss_mb;

#[derive(Clone)]
pub struct BenchOptions {
    pub pupils: u64,
    pub work: PathBuf,
    pub threads: usize,
    pub seed: u64,
    /// Memory pool of the model runs, in MB.
    pub memory_mb: usize,
}

/// The night every bench ingests (the generator's `as_of`).
const BENCH_DATE: &str = "2026-10-15";

fn run_ingest(bin: &Path, wh: &Path, sources: &[PathBuf], threads: usize) -> Result<(f64, serde_json::Value)> {
    child_json(
        Command::new(bin)
            .args([
                "ingest",
                "--json",
                "--threads",
                &threads.to_string(),
                "--date",
                BENCH_DATE,
                "--warehouse",
            ])
            .arg(wh)
            .args(sources),
        "xueji ingest",
    )
}

/// `xueji run --json` over `wh` with the bench's threads and memory pool, as a child process.
fn run_command(bin: &Path, o: &BenchOptions, wh: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "run",
        "--json",
        "--threads",
        &o.threads.to_string(),
        "--memory-mb",
        &o.memory_mb.to_string(),
    ])
    .arg("--warehouse")
    .arg(wh);
    cmd
}

/// Run `cmd` (a child process, so its peak memory is its own) and parse the JSON it prints;
/// returns the wall time in seconds as well.
fn child_json(cmd: &mut Command, what: &str) -> Result<(f64, serde_json::Value)> {
    let t0 = Instant::now();
    let out = cmd.output().with_context(|| format!("无法启动 {what} 子进程"))?;
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{what} 失败：{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((
        secs,
        serde_json::from_slice(&out.stdout).with_context(|| format!("{what} 的 JSON 输出无法解析"))?,
    ))
}

/// Stamp of what made a bench data folder; data made by another generator is made again.
const GEN_STAMP: &str = "gen.stamp";

/// The generated bench input for `o`, made (again) unless the folder holds what today's
/// generator makes from these options. Without `xlsx` only CSV is written (a 20-million-pupil
/// province in XLSX would take hours and most of the disk), in a folder of its own.
fn generated(o: &BenchOptions, xlsx: bool) -> Result<PathBuf> {
    generated_sized(o, xlsx, 600)
}

/// As [`generated`], with schools of `school_size` pupils.
fn generated_sized(o: &BenchOptions, xlsx: bool, school_size: u64) -> Result<PathBuf> {
    generated_with(o, xlsx, school_size, 0.02)
}

/// As [`generated_sized`], with `problem_rate` of the pupils carrying a planted problem.
fn generated_with(o: &BenchOptions, xlsx: bool, school_size: u64, problem_rate: f64) -> Result<PathBuf> {
    let mut size = if school_size == 600 {
        String::new()
    } else {
        format!("-s{school_size}")
    };
    if problem_rate != 0.02 {
        size.push_str(&format!("-p{problem_rate}"));
    }
    let data = o.work.join(if xlsx {
        format!("data-{}{size}", o.pupils)
    } else {
        format!("data-{}-csv{size}", o.pupils)
    });
    let g = GenOptions {
        pupils: o.pupils,
        seed: o.seed,
        out: data.clone(),
        provinces: 1,
        pupils_per_county: 100_000,
        school_size,
        as_of: BENCH_DATE.parse()?,
        problem_rate,
        xlsx,
        csv: true,
        gbk: false,
    };
    let stamp = format!("{} {:?}", crate::synth::GENERATOR_VERSION, g);
    if std::fs::read_to_string(data.join(GEN_STAMP)).ok().as_deref() != Some(stamp.as_str()) {
        let _ = std::fs::remove_dir_all(&data);
        let t0 = Instant::now();
        let s = generate(&g)?;
        println!(
            "生成 / generated {} records in {} schools: {:.1} s",
            s.records,
            s.schools,
            t0.elapsed().as_secs_f64()
        );
        std::fs::write(data.join(GEN_STAMP), stamp)?;
    }
    Ok(data)
}

pub fn ingest(o: &BenchOptions) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = generated(o, true)?;
    println!(
        "机器 / machine: {} threads available, ingest uses {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        o.threads
    );
    println!(
        "{:<6} {:>10} {:>8} {:>12} {:>10} {:>14} {:>12}",
        "format", "rows", "files", "stage (s)", "total (s)", "rows/s (stage)", "peak RSS MB"
    );
    for (label, dir) in [("CSV", "students-csv"), ("XLSX", "students-xlsx")] {
        let wh = o.work.join(format!("wh-{}-{}", label.to_lowercase(), o.pupils));
        let _ = std::fs::remove_dir_all(&wh);
        let sources = vec![data.join("schools.csv"), data.join(dir)];
        let (total, v) = run_ingest(&bin, &wh, &sources, o.threads)?;
        let m = &v["metrics"];
        let rows = m["rows_in"].as_u64().unwrap_or(0);
        let stage = m["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<6} {:>10} {:>8} {:>12.2} {:>10.2} {:>14.0} {:>12.0}",
            label,
            rows,
            m["files"].as_u64().unwrap_or(0),
            stage,
            total,
            rows as f64 / stage,
            v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Pairwise quality of the dedup clusters (exact and fuzzy together) against a generator's truth.
#[derive(Debug, Default, serde::Serialize)]
pub struct DedupQuality {
    /// Pairs of accepted registrations that are one person in the truth.
    pub true_pairs: u64,
    /// Pairs of registrations in one cluster.
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Missed true pairs, by the plant of the pair's planted registration.
    pub missed: BTreeMap<String, u64>,
    /// Wrong pairs, by the plants of their two registrations.
    pub wrong: BTreeMap<String, u64>,
    /// True pairs and the pairs found, by the plant of the pair's planted registration.
    pub per_kind: BTreeMap<String, (u64, u64)>,
    /// The recall that clustering could reach at best: the share of true pairs connected by
    /// blocked candidate pairs and official kind-1 groups.
    pub blocking_ceiling: f64,
}

/// Compare `dedup_clusters` in `warehouse` with `truth/records.csv` of the data it was ingested
/// from; registrations are matched by (source file, source row) through the truth's `csv_file`
/// and `csv_row` (or the XLSX columns when `xlsx`).
pub async fn dedup_quality(warehouse: &str, truth_csv: &Path, xlsx: bool) -> Result<DedupQuality> {
    let (fcol, rcol) = if xlsx {
        ("xlsx_file", "xlsx_row")
    } else {
        ("csv_file", "csv_row")
    };
    let mut r = csv::Reader::from_path(truth_csv).with_context(|| format!("无法读取 {}", truth_csv.display()))?;
    let h = r.headers()?.clone();
    let i = |n: &str| {
        h.iter()
            .position(|x| x == n)
            .with_context(|| format!("{} 缺少列 {n}", truth_csv.display()))
    };
    let (ip, ifile, irow, iplant) = (i("person_id")?, i(fcol)?, i(rcol)?, i("plant")?);
    let mut truth: HashMap<(String, u64), (u64, String)> = HashMap::new();
    for rec in r.records() {
        let rec = rec?;
        truth.insert(
            (rec[ifile].to_string(), rec[irow].parse()?),
            (rec[ip].parse()?, rec[iplant].to_string()),
        );
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let queries = [
        "SELECT source_file, source_row FROM students",
        "SELECT c.cluster_id, s.source_file, s.source_row FROM dedup_clusters c JOIN students s ON s.record_key = c.record_key",
        "SELECT a.source_file AS fa, CAST(a.source_row AS VARCHAR) AS ra, b.source_file AS fb, \
         CAST(b.source_row AS VARCHAR) AS rb FROM dedup_pairs p \
         JOIN students a ON a.record_key = p.record_key_a JOIN students b ON b.record_key = p.record_key_b \
         WHERE p.sample = 'blocked' \
         UNION ALL SELECT a.source_file AS fa, CAST(a.source_row AS VARCHAR) AS ra, 'G:' || m.group_id AS fb, '0' AS rb \
         FROM dedup_members m JOIN students a ON a.record_key = m.record_key WHERE m.kind = 1",
    ];
    let results = crate::pipeline::sql_all(warehouse, &queries, None, threads, 2048).await?;
    let (_, accepted) = crate::pipeline::text_rows(&results[0])?;
    let (_, clustered) = crate::pipeline::text_rows(&results[1])?;
    let (_, blocked) = crate::pipeline::text_rows(&results[2])?;
    let person = |f: &str, r: &str| -> Option<&(u64, String)> { truth.get(&(f.to_string(), r.parse().ok()?)) };
    let ceiling_root = blocked_components(&blocked);

    // True pairs: accepted registrations grouped by person.
    let mut by_person: HashMap<u64, Vec<&str>> = HashMap::new();
    for a in &accepted {
        if let Some((p, plant)) = person(&a[0], &a[1]) {
            by_person.entry(*p).or_default().push(plant);
        }
    }
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut q = DedupQuality {
        true_pairs: by_person.values().map(|v| pairs(v.len() as u64)).sum(),
        ..Default::default()
    };
    // Predicted pairs: within each cluster, counted by (cluster, person).
    let mut clusters: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for c in &clustered {
        let (p, plant) = person(&c[1], &c[2]).map_or((0, "?"), |(p, pl)| (*p, pl.as_str()));
        clusters.entry(&c[0]).or_default().push((p, plant));
    }
    let mut found_per_person: HashMap<u64, u64> = HashMap::new();
    for members in clusters.values() {
        q.predicted_pairs += pairs(members.len() as u64);
        let mut per: BTreeMap<u64, u64> = BTreeMap::new();
        for (p, _) in members {
            *per.entry(*p).or_default() += 1;
        }
        for (p, n) in &per {
            q.correct_pairs += pairs(*n);
            *found_per_person.entry(*p).or_default() += pairs(*n);
        }
        for (x, a) in members.iter().enumerate() {
            for b in &members[x + 1..] {
                if a.0 != b.0 {
                    let mut k = [a.1, b.1];
                    k.sort_unstable();
                    *q.wrong.entry(format!("{} + {}", label(k[0]), label(k[1]))).or_default() += 1;
                }
            }
        }
    }
    for (p, plants) in &by_person {
        let all = pairs(plants.len() as u64);
        let found = found_per_person.get(p).copied().unwrap_or(0);
        let kind = plants.iter().find(|pl| !pl.is_empty()).map_or("(none)", |pl| pl);
        if all > 0 {
            let e = q.per_kind.entry(kind.to_string()).or_default();
            (e.0, e.1) = (e.0 + all, e.1 + found.min(all));
        }
        if all > found {
            *q.missed.entry(kind.to_string()).or_default() += all - found;
        }
    }
    // The ceiling: true pairs whose registrations the blocked pairs and kind-1 groups connect.
    let mut reach: HashMap<(u64, usize), u64> = HashMap::new();
    for a in &accepted {
        if let Some((p, _)) = person(&a[0], &a[1]) {
            let root = ceiling_root
                .get(&(a[0].clone(), a[1].clone()))
                .copied()
                .unwrap_or(usize::MAX);
            *reach.entry((*p, root)).or_default() += 1;
        }
    }
    let reachable: u64 = reach
        .iter()
        .filter(|((_, r), _)| *r != usize::MAX)
        .map(|(_, n)| pairs(*n))
        .sum();
    q.blocking_ceiling = if q.true_pairs == 0 {
        1.0
    } else {
        reachable as f64 / q.true_pairs as f64
    };
    q.precision = if q.predicted_pairs == 0 {
        1.0
    } else {
        q.correct_pairs as f64 / q.predicted_pairs as f64
    };
    q.recall = if q.true_pairs == 0 {
        1.0
    } else {
        q.correct_pairs as f64 / q.true_pairs as f64
    };
    q.f1 = if q.precision + q.recall == 0.0 {
        0.0
    } else {
        2.0 * q.precision * q.recall / (q.precision + q.recall)
    };
    Ok(q)
}

/// The component of every (file, row) in the graph of blocked pairs and kind-1 groups.
fn blocked_components(edges: &[Vec<String>]) -> HashMap<(String, String), usize> {
    use crate::udf::cluster::find;
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut id = |k: (String, String), parent: &mut Vec<usize>| {
        *index.entry(k).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    for e in edges {
        let a = id((e[0].clone(), e[1].clone()), &mut parent);
        let b = id((e[2].clone(), e[3].clone()), &mut parent);
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    }
    let keys: Vec<((String, String), usize)> = index.into_iter().collect();
    keys.into_iter().map(|(k, i)| (k, find(&mut parent, i))).collect()
}

fn label(plant: &str) -> &str {
    if plant.is_empty() { "(none)" } else { plant }
}

/// `xueji bench dedup`: ingest a generated province as CSV, run the dedup models in a child
/// process, and print records per second, peak memory, and pairwise precision, recall and F1 of
/// exact + fuzzy matching against the ground truth.
pub async fn dedup(o: &BenchOptions) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = generated(o, true)?;
    let wh = o.work.join(format!("wh-dedup-{}", o.pupils));
    let _ = std::fs::remove_dir_all(&wh);
    let (ingest_s, v) = tokio::task::block_in_place(|| {
        run_ingest(
            &bin,
            &wh,
            &[data.join("schools.csv"), data.join("students-csv")],
            o.threads,
        )
    })?;
    let records = v["metrics"]["accepted"].as_u64().unwrap_or(0);
    println!(
        "机器 / machine: {} threads available, run uses {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        o.threads
    );
    println!("导入 / ingest: {records} registrations accepted in {ingest_s:.1} s");
    // The dedup models only: the official groups and the fuzzy matcher, and what reads them.
    let mut cmd = run_command(&bin, o, &wh);
    cmd.args(["--model", "dedup_members", "--model", "dedup_pairs"]);
    let (secs, run) = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji run"))?;
    print_models(&run);
    println!(
        "去重模型 / dedup models (xueji run, process wall time): {secs:.2} s = {:.0} records/s; peak RSS {:.0} MB",
        records as f64 / secs,
        run["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    let q = dedup_quality(wh.to_str().context("path")?, &data.join("truth/records.csv"), false).await?;
    println!(
        "成对质量 / pairwise: true pairs {}, predicted {}, correct {}; precision {:.4}, recall {:.4}, F1 {:.4}",
        q.true_pairs, q.predicted_pairs, q.correct_pairs, q.precision, q.recall, q.f1
    );
    println!("分块召回上限 / blocking recall ceiling: {:.4}", q.blocking_ceiling);
    println!("{:<36} {:>10} {:>10} {:>8}", "kind", "true pairs", "found", "recall");
    for (k, (all, found)) in &q.per_kind {
        println!(
            "{k:<36} {all:>10} {found:>10} {:>8.4}",
            *found as f64 / (*all).max(1) as f64
        );
    }
    for (k, n) in &q.missed {
        println!("  漏配 / missed  {n:>6}  {k}");
    }
    for (k, n) in &q.wrong {
        println!("  误配 / wrong   {n:>6}  {k}");
    }
    Ok(())
}

/// Each model of a `xueji run --json` output: rows and seconds.
fn print_models(run: &serde_json::Value) {
    println!("{:<32} {:>12} {:>10}", "model", "rows", "seconds");
    for m in run["models"].as_array().into_iter().flatten() {
        println!(
            "{:<32} {:>12} {:>10.2}",
            m["model"].as_str().unwrap_or("?"),
            m["rows"].as_u64().unwrap_or(0),
            m["millis"].as_f64().map_or(f64::NAN, |ms| ms / 1000.0)
        );
    }
}

/// `xueji bench problems`: a province where `problem_rate` of the pupils carry a planted problem
/// (invalid ID numbers, duplicates: one problem group each), ingested and then run with every
/// model at the default settings (4 GB pool), in child processes; prints each model's time, the
/// run's wall time and its peak memory. Every model must finish, whatever the error rate.
pub async fn problems(o: &BenchOptions, problem_rate: f64) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = generated_with(o, false, 600, problem_rate)?;
    let wh = o.work.join(format!("wh-problems-{}-{problem_rate}", o.pupils));
    let _ = std::fs::remove_dir_all(&wh);
    let (ingest_s, v) = tokio::task::block_in_place(|| {
        run_ingest(
            &bin,
            &wh,
            &crate::pipeline::generated_sources(&data, "students-csv"),
            o.threads,
        )
    })?;
    println!(
        "导入 / ingest: {} rows in, {} accepted, {} rejected, {ingest_s:.1} s",
        v["metrics"]["rows_in"], v["metrics"]["accepted"], v["metrics"]["rejected"]
    );
    let (secs, run) = tokio::task::block_in_place(|| child_json(&mut run_command(&bin, o, &wh), "xueji run"))?;
    print_models(&run);
    println!(
        "xueji run（{} 名学生，问题比例 {problem_rate}，内存池 {} MB，{} 线程）：{secs:.1} 秒，内存峰值 {:.0} MB",
        o.pupils,
        o.memory_mb,
        o.threads,
        run["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The models DuckDB can run as well: every model but dedup, whose SQL calls xueji's own
/// functions. Running from these roots runs every model that reads them.
const STATISTICS_ROOTS: [&str; 3] = ["school_regions", "student_status", "movement_checks"];

/// `xueji bench marts`: ingest a generated province (CSV, every input the marts need), run the
/// statistics and list models in a child process, then DuckDB (tests/crosscheck.py) over the
/// same Parquet files with the same SQL and the same thread count, and print both side by side
/// with peak memory; DuckDB's results must equal xueji's row for row.
pub async fn marts(o: &BenchOptions) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = generated(o, false)?;
    let wh = o.work.join(format!("wh-marts-{}", o.pupils));
    let _ = std::fs::remove_dir_all(&wh);
    let sources = crate::pipeline::generated_sources(&data, "students-csv");
    let (ingest_s, v) = tokio::task::block_in_place(|| run_ingest(&bin, &wh, &sources, o.threads))?;
    let m = &v["metrics"];
    println!(
        "机器 / machine: {} threads available, xueji and DuckDB use {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.threads
    );
    println!(
        "导入 / ingest: {} rows in, {} accepted, {} rejected, {ingest_s:.1} s, peak RSS {:.0} MB",
        m["rows_in"],
        m["accepted"],
        m["rejected"],
        v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );

    let mut cmd = run_command(&bin, o, &wh);
    for r in STATISTICS_ROOTS {
        cmd.args(["--model", r]);
    }
    let (xj_wall, run) = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji run"))?;
    let xj_models: Vec<(String, u64, f64)> = run["models"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["model"].as_str().unwrap_or("?").to_string(),
                m["rows"].as_u64().unwrap_or(0),
                m["millis"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            )
        })
        .collect();
    // Models that do not read each other run two at a time: the wall time of the models is the
    // figure, not the sum of their (overlapping) times.
    let xj_sum: f64 = xj_models.iter().map(|m| m.2).sum();
    let xj_models_wall = run["models_millis"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    let xj_peak = run["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crosscheck.py");
    let figures = o.work.join(format!("duckdb-{}.json", o.pupils));
    let _ = std::fs::remove_file(&figures);
    let dk = tokio::task::block_in_place(|| {
        Command::new("python3")
            .arg(&script)
            .arg(&wh)
            .arg(BENCH_DATE)
            .arg("--json")
            .arg(&figures)
            .args(["--threads", &o.threads.to_string()])
            .output()
    });
    let duck: Option<serde_json::Value> = std::fs::read(&figures)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let duck_ms = |name: &str| -> Option<&serde_json::Value> {
        duck.as_ref()?["models"].as_array()?.iter().find(|m| m["model"] == name)
    };

    let secs = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN) / 1000.0;
    println!(
        "{:<30} {:>11} {:>10} {:>12} {:>6}",
        "model", "rows", "xueji s", "DuckDB s", "same"
    );
    for (name, rows, xs) in &xj_models {
        let d = duck_ms(name);
        let ds = d.map_or("-".to_string(), |d| {
            format!("{:.2}", secs(d, "duckdb_ms") + secs(d, "write_ms"))
        });
        let same = d.map_or("-", |d| if d["ok"].as_bool() == Some(true) { "是" } else { "否" });
        println!("{name:<30} {rows:>11} {xs:>10.2} {ds:>12} {same:>6}");
    }
    println!(
        "（每个模型：计算并写出结果 / each model: compute and write its result — xueji 写 Delta 表，DuckDB 建内存表再写 Parquet；xueji 同时运行两个互不依赖的模型，各模型的时间有重叠 / xueji runs two independent models at once, so its per-model times overlap）"
    );
    println!(
        "xueji：模型用时 / models {xj_models_wall:.2} s（各模型时间之和 / sum of per-model times {xj_sum:.2} s）；整个进程 / whole process {xj_wall:.2} s（含打开仓库与发布 Parquet / incl. opening the warehouse and publishing Parquet）；内存峰值 / peak RSS {xj_peak:.0} MB"
    );
    match (&duck, dk) {
        (Some(d), Ok(out)) => {
            let (setup, query, write) = (secs(d, "setup_ms"), secs(d, "models_ms"), secs(d, "write_ms"));
            println!(
                "DuckDB {}：模型合计 / models {:.2} s（计算 / compute {query:.2} + 写 Parquet / write {write:.2}）；连同准备 / with setup {:.2} s；内存峰值 / peak RSS {:.0} MB",
                d["duckdb_version"].as_str().unwrap_or("?"),
                query + write,
                setup + query + write,
                d["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
            );
            println!(
                "比值 / ratio xueji ÷ DuckDB：模型 / models {:.2}，整体 / overall {:.2}",
                xj_models_wall / (query + write),
                xj_wall / (setup + query + write)
            );
            anyhow::ensure!(
                out.status.success(),
                "DuckDB 的结果与 xueji 不同 / DuckDB disagrees:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        (_, Ok(out)) => println!(
            "DuckDB 未运行 / did not run: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        ),
        (_, Err(e)) => println!("DuckDB 未运行 / did not run (python3: {e})"),
    }
    Ok(())
}

/// `xueji bench rosters`: a county of `o.pupils` pupils in schools of about 2,000, ingested and
/// modelled, then the 学生花名册 (HTML, PDF, XLSX) of its school nearest 2,000 pupils and of every school, each
/// render in a child process of its own; prints wall time, documents, PDF pages and peak memory.
pub async fn rosters(o: &BenchOptions) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = generated_sized(o, false, 2000)?;
    let wh = o.work.join(format!("wh-rosters-{}", o.pupils));
    let _ = std::fs::remove_dir_all(&wh);
    let sources = crate::pipeline::generated_sources(&data, "students-csv");
    let (ingest_s, _) = tokio::task::block_in_place(|| run_ingest(&bin, &wh, &sources, o.threads))?;
    let mut cmd = Command::new(&bin);
    cmd.args([
        "run",
        "--json",
        "--threads",
        &o.threads.to_string(),
        "--model",
        "school_regions",
        "--model",
        "student_status",
        "--warehouse",
    ])
    .arg(&wh);
    let (run_s, _) = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji run"))?;
    println!(
        "机器 / machine: {} threads available, render uses {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.threads
    );
    println!("准备 / setup: ingest {ingest_s:.1} s, models {run_s:.1} s");
    let batches = crate::pipeline::sql(
        wh.to_str().context("path")?,
        "SELECT school_id, COUNT(*) AS n FROM list_roster GROUP BY school_id ORDER BY n DESC, school_id",
        None,
        o.threads,
        1024,
    )
    .await?;
    let (_, schools) = crate::pipeline::text_rows(&batches)?;
    // The school nearest 2,000 pupils (the "2,000-pupil school").
    let (school, size) = schools
        .iter()
        .min_by_key(|r| (r[1].parse::<i64>().unwrap_or(0) - 2000).abs())
        .map(|r| (r[0].clone(), r[1].clone()))
        .context("no roster rows")?;
    let pupils: u64 = schools.iter().map(|r| r[1].parse::<u64>().unwrap_or(0)).sum();
    println!(
        "{:<34} {:>8} {:>6} {:>7} {:>9} {:>12}",
        "花名册 / rosters", "pupils", "docs", "pages", "wall s", "peak RSS MB"
    );
    for (label, unit, n) in [
        (
            format!("一所学校 / one school {school}"),
            Some(school.as_str()),
            size.parse::<u64>().unwrap_or(0),
        ),
        (format!("全县 / the county ({} schools)", schools.len()), None, pupils),
    ] {
        let out = o.work.join(format!("rosters-{}", o.pupils));
        let _ = std::fs::remove_dir_all(&out);
        let mut cmd = Command::new(&bin);
        cmd.args([
            "render",
            "--json",
            "--report",
            "roster",
            "--threads",
            &o.threads.to_string(),
            "--warehouse",
        ])
        .arg(&wh)
        .arg("--out")
        .arg(&out);
        if let Some(u) = unit {
            cmd.args(["--unit", u]);
        }
        let (secs, v) = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji render"))?;
        let docs = v["documents"]["roster"].as_u64().unwrap_or(0);
        let pages: u64 = v["pages"].as_u64().unwrap_or(0);
        println!(
            "{label:<34} {n:>8} {docs:>6} {pages:>7} {secs:>9.2} {:>12.0}",
            v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!(
        "（每份花名册：HTML + PDF + XLSX；时间含打开仓库 / each roster as HTML, PDF and XLSX; time includes opening the warehouse）"
    );
    Ok(())
}

/// `xueji bench serve`: the server on loopback over a generated province (the warehouse of
/// `bench marts` when there is one): time to first byte and total time of a county's beneficiary
/// list as CSV, and requests per second of a small statistics query with 50 concurrent clients.
pub async fn serve(o: &BenchOptions) -> Result<()> {
    use std::time::Duration;
    let bin = std::env::current_exe()?;
    let marts = o.work.join(format!("wh-marts-{}", o.pupils));
    let wh = if marts.join("_runs").exists() {
        marts
    } else {
        let data = generated(o, false)?;
        let wh = o.work.join(format!("wh-serve-{}", o.pupils));
        if !wh.join("_runs").exists() {
            let _ = std::fs::remove_dir_all(&wh);
            let sources = crate::pipeline::generated_sources(&data, "students-csv");
            tokio::task::block_in_place(|| run_ingest(&bin, &wh, &sources, o.threads))?;
            tokio::task::block_in_place(|| child_json(&mut run_command(&bin, o, &wh), "xueji run"))?;
        }
        wh
    };
    let whs = wh.to_str().context("path")?.to_string();
    let q = |sql: &str| {
        let whs = whs.clone();
        let sql = sql.to_string();
        async move { crate::pipeline::text_rows(&crate::pipeline::sql(&whs, &sql, None, 2, 1024).await?).map(|(_, r)| r) }
    };
    let biggest =
        q("SELECT county_code, COUNT(*) FROM list_nutrition_beneficiaries GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
            .await?;
    let county = biggest
        .first()
        .map(|r| r[0].clone())
        .context("no beneficiaries in the bench warehouse")?;
    let school = q(&format!(
        "SELECT MIN(school_id) FROM stats_school_form WHERE county_code = '{county}'"
    ))
    .await?
    .remove(0)
    .remove(0);

    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens.toml");
    let grant = crate::serve::access::Grant {
        id: "bench".into(),
        name: "性能测试".into(),
        sha256: String::new(),
        jurisdiction: county[..2].to_string(),
        lists: vec!["*".into()],
        unmask: false,
        expires: None,
    };
    let token = crate::serve::access::add_token(&tokens, grant)?;
    let so = crate::serve::ServeOptions {
        warehouse: whs.clone(),
        listen: "127.0.0.1:0".parse()?,
        tokens,
        audit: dir.path().join("audit.jsonl"),
        refresh: Duration::from_secs(3600),
        threads: o.threads,
        memory_mb: 2048,
    };
    let server = crate::serve::start(&so).await?;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    println!(
        "机器 / machine: {} threads available; server and clients in one process on loopback; warehouse {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        wh.display()
    );
    println!(
        "{:<46} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "整表拉取 CSV / whole list as CSV", "rows", "MB", "TTFB ms", "total ms", "(median of 5)"
    );
    let province = &county[..2];
    for (list, region) in [
        ("list_nutrition_beneficiaries", county.as_str()),
        ("list_nutrition_beneficiaries", province),
        ("list_roster", county.as_str()),
    ] {
        let url = format!("{base}/v1/lists/{list}?region={region}&format=csv");
        let mut ttfb = Vec::new();
        let mut total = Vec::new();
        let (mut rows, mut bytes) = (0usize, 0usize);
        for _ in 0..5 {
            let t0 = Instant::now();
            let mut r = http.get(&url).bearer_auth(&token).send().await?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            let mut first = None;
            let (mut n, mut lines) = (0usize, 0usize);
            while let Some(c) = r.chunk().await? {
                first.get_or_insert_with(|| t0.elapsed());
                n += c.len();
                lines += c.iter().filter(|b| **b == b'\n').count();
            }
            total.push(t0.elapsed().as_secs_f64() * 1000.0);
            ttfb.push(first.unwrap_or_default().as_secs_f64() * 1000.0);
            (rows, bytes) = (lines.saturating_sub(1), n);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{:<46} {rows:>8} {:>10.1} {:>10.1} {:>10.1}",
            format!(
                "{list} {}",
                if region.len() == 6 {
                    format!("区县 {region}")
                } else {
                    format!("全省 {region}")
                }
            ),
            bytes as f64 / 1e6,
            median(&mut ttfb),
            median(&mut total)
        );
    }
    // 50 clients, each asking again as soon as it has its answer, for 10 seconds.
    let url = format!("{base}/v1/lists/stats_school_form?school={school}&format=json");
    let t0 = Instant::now();
    let window = Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while t0.elapsed() < window {
                let s = Instant::now();
                let ok = match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(s.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "小查询 / small statistics query (stats_school_form, one school, JSON), 50 concurrent clients, {secs:.1} s:"
    );
    println!(
        "  {} requests, {errors} errors, {:.0} requests/s, latency p50 {:.1} ms, p99 {:.1} ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
    server.stop().await?;
    println!("峰值内存 / peak RSS: {:.0} MB", peak_rss_mb().unwrap_or(f64::NAN));
    Ok(())
}

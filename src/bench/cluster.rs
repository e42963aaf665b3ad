//! `xueji bench cluster`: every model on one machine against the same models on a loopback
//! cluster (`xueji scheduler` and two `xueji executor` processes sharing this machine's cores
//! and memory), per model: rows, seconds on each, and the bytes the executors shuffled.
//!
//! Shuffle bytes are what the executors wrote to their work folders (every stage's output, the
//! final stage's being the result), the largest size of each job's folder seen in a look every
//! second (a job shorter than that may have its intermediate files missed; its results stay):
//! each Ballista job writes under `<work dir>/<job id>/`, and a job belongs to the model
//! whose run was going when the job's first file was written (the cluster run takes one model at
//! a time for this).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use anyhow::Result;

use super::{BenchOptions, child_json, generated, print_models, run_command, run_ingest};
use crate::cluster::loopback::Loopback;

/// Each job folder under the executors' work dirs: (folder, first file's time in Unix ms, bytes).
fn shuffle_jobs(work_dirs: &[PathBuf]) -> Vec<(PathBuf, u64, u64)> {
    fn walk(p: &Path, first: &mut u64, bytes: &mut u64) {
        let Ok(entries) = std::fs::read_dir(p) else { return };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                walk(&e.path(), first, bytes);
            } else {
                *bytes += m.len();
                if let Ok(t) = m
                    .modified()
                    .map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
                {
                    *first = (*first).min(t);
                }
            }
        }
    }
    let mut jobs = Vec::new();
    for d in work_dirs {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                let (mut first, mut bytes) = (u64::MAX, 0);
                walk(&e.path(), &mut first, &mut bytes);
                if bytes > 0 {
                    jobs.push((e.path(), first, bytes));
                }
            }
        }
    }
    jobs
}

/// Looks at the executors' job folders every second until told to stop, and gives each job's
/// largest size: Ballista removes a job's intermediate shuffle files as soon as the job succeeds,
/// and its result files `--keep-results-secs` later, so a look at the end of the run would see
/// only the results of the last minutes' jobs.
struct ShuffleWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(u64, u64)>>,
}

impl ShuffleWatch {
    fn start(work_dirs: Vec<PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen: BTreeMap<PathBuf, (u64, u64)> = BTreeMap::new();
            loop {
                // Read the flag before the last look, so that look sees the finished run.
                let last = stopped.load(Ordering::Acquire);
                for (dir, first, bytes) in shuffle_jobs(&work_dirs) {
                    let e = seen.entry(dir).or_insert((first, bytes));
                    *e = (e.0.min(first), e.1.max(bytes));
                }
                if last {
                    return seen.into_values().collect();
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        });
        ShuffleWatch { stop, thread }
    }

    /// (first file's time in Unix ms, bytes) of every job seen.
    fn finish(self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Release);
        // A watcher that panicked would make every model's shuffle read 0: say so instead.
        self.thread.join().unwrap_or_else(|_| {
            eprintln!("警告：交换数据统计线程失败，交换量不可用 / the shuffle watch failed: no shuffle figures");
            Vec::new()
        })
    }
}

/// Per model: (rows, seconds, started, ended) from a `xueji run --json` output.
fn models_of(run: &serde_json::Value) -> BTreeMap<String, (u64, f64, u64, u64)> {
    run["models"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let ms = m["millis"].as_u64().unwrap_or(0);
            let start = m["started_unix_ms"].as_u64().unwrap_or(0);
            (
                m["model"].as_str().unwrap_or("?").to_string(),
                (m["rows"].as_u64().unwrap_or(0), ms as f64 / 1000.0, start, start + ms),
            )
        })
        .collect()
}

/// `reuse`: the warehouse an earlier bench of this size and seed ingested, if there is one (at
/// 20 million pupils generating and ingesting take seven minutes and 17 GB of CSV).
pub async fn cluster(o: &BenchOptions, reuse: bool, cluster_threads: Option<u64>) -> Result<()> {
    let bin = std::env::current_exe()?;
    let wh = o.work.join(format!("wh-cluster-{}", o.pupils));
    // What the warehouse was made from, beside it: a reused one must be of the same data.
    let stamp_file = o.work.join(format!("wh-cluster-{}.made", o.pupils));
    let stamp = format!("{} seed {}", crate::synth::GENERATOR_VERSION, o.seed);
    if reuse && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        println!("复用已导入的仓库 / reusing the ingested warehouse {}", wh.display());
    } else {
        let data = generated(o, false)?;
        let _ = std::fs::remove_file(&stamp_file);
        let _ = std::fs::remove_dir_all(&wh);
        let sources = crate::pipeline::generated_sources(&data, "students-csv");
        let (ingest_s, v) = tokio::task::block_in_place(|| run_ingest(&bin, &wh, &sources, o.threads))?;
        std::fs::write(&stamp_file, &stamp)?;
        println!(
            "导入 / ingest: {} rows accepted, {ingest_s:.1} s",
            v["metrics"]["accepted"]
        );
    }
    // One model at a time on both, so that the seconds compare and each job has one model.
    let mut cmd = run_command(&bin, o, &wh);
    cmd.args(["--jobs", "1"]);
    let (single_s, single) = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji run"))?;
    println!(
        "单机 / one machine: {single_s:.1} s, peak {:.0} MB",
        single["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    // The same machine as two executors of half the cores and half the memory each.
    let cores = (o.threads / 2).max(1);
    let memory = (o.memory_mb / 2).max(512);
    let nodes = Loopback::start(
        &bin,
        &o.work.join("cluster"),
        2,
        (cores, memory),
        crate::cluster::EXECUTOR_TIMEOUT_SECS,
        &[],
    )?;
    // Partitions of each stage, several a core as on a real cluster: at two (one a core) an
    // executor of an 8 GB pool grew to 15.6 GiB on a 20M province's dedup_candidates and was
    // OOM-killed; at eight the two were at 7.0 and 5.2 GB there.
    let partitions = cluster_threads.map_or(4 * 2 * cores, |n| n as usize);
    let on_cluster_options = BenchOptions {
        threads: partitions,
        ..o.clone()
    };
    let mut cmd = run_command(&bin, &on_cluster_options, &wh);
    cmd.args(["--cluster", &nodes.url, "--jobs", "1"]);
    let watch = ShuffleWatch::start(nodes.work_dirs.clone());
    let ran = tokio::task::block_in_place(|| child_json(&mut cmd, "xueji run --cluster"));
    let jobs = watch.finish();
    let (cluster_s, on_cluster) = match ran {
        Ok(r) => r,
        Err(e) => {
            // The single-node figures stand; say which model the cluster failed on.
            print_models(&single);
            return Err(e);
        }
    };
    let executor_peaks: Vec<String> = nodes
        .executor_pids()
        .into_iter()
        .map(|pid| crate::memory::peak_rss_mb_of(pid).map_or("?".into(), |m| format!("{m:.0}")))
        .collect();
    drop(nodes);

    let (a, b) = (models_of(&single), models_of(&on_cluster));
    println!(
        "机器 / machine: {} threads; single node {} threads, {} MB pool; cluster: scheduler + 2 executors × {cores} core(s), {memory} MB, {partitions} partitions a stage",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.threads,
        o.memory_mb
    );
    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>7} {:>11}",
        "model", "rows", "single s", "cluster s", "ratio", "shuffle MB"
    );
    let first = b.values().map(|m| m.2).min().unwrap_or(0);
    // Jobs before the first model: the as-of views' superseded sets, gathered once per session.
    let setup: u64 = jobs.iter().filter(|(t, _)| *t < first).map(|(_, n)| n).sum();
    let mut total_shuffle = setup;
    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>7} {:>11.1}",
        "(会话准备 / session setup)",
        "",
        "",
        "",
        "",
        setup as f64 / 1e6
    );
    let mut mismatched = Vec::new();
    for (name, (rows, secs, _, _)) in &a {
        let Some((crows, csecs, start, end)) = b.get(name) else {
            continue;
        };
        let shuffle: u64 = jobs
            .iter()
            .filter(|(t, _)| t >= start && t <= end)
            .map(|(_, n)| n)
            .sum();
        total_shuffle += shuffle;
        if rows != crows {
            mismatched.push(format!("{name}: {rows} ≠ {crows}"));
        }
        println!(
            "{name:<32} {rows:>10} {secs:>9.2} {csecs:>9.2} {:>7.1} {:>11.1}",
            csecs / secs.max(0.001),
            shuffle as f64 / 1e6
        );
    }
    println!(
        "xueji run（{} 名学生）：单机 {single_s:.1} 秒（内存峰值 {:.0} MB）；集群 {cluster_s:.1} 秒（{:.1} 倍，客户端内存峰值 {:.0} MB，执行器 {} MB），交换数据共 {:.1} MB",
        o.pupils,
        single["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        cluster_s / single_s.max(0.001),
        on_cluster["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        executor_peaks.join(" / "),
        total_shuffle as f64 / 1e6
    );
    anyhow::ensure!(
        mismatched.is_empty(),
        "集群与单机的行数不同 / row counts differ: {}",
        mismatched.join("; ")
    );
    println!("每个模型的行数与单机相同 / every model has the single-node row count");
    Ok(())
}

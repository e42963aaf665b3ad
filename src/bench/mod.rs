//! `xueji bench …`: each benchmark generates its input (kept in the work folder for reuse), runs
//! xueji in child processes (so each one's peak memory is its own) and prints its figures. Here:
//! the shared set-up, `ingest` (CSV and XLSX, rows per second and peak memory) and `problems`;
//! the others in modules of their own.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::synth::{GenOptions, generate};

mod cluster;
mod dedup;
mod marts;
mod rosters;
mod serve;

pub use cluster::cluster;
pub use dedup::{DedupQuality, dedup, dedup_quality};
pub use marts::marts;
pub use rosters::rosters;
pub use serve::serve;

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

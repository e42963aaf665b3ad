//! `xueji bench ingest`: generate a province-sized input, ingest it as CSV and as XLSX in child
//! processes (so each one's peak memory is its own), and print rows per second and peak memory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::synth::{GenOptions, generate};

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub struct BenchOptions {
    pub pupils: u64,
    pub work: PathBuf,
    pub threads: usize,
    pub seed: u64,
}

fn run_ingest(bin: &Path, wh: &Path, sources: &[PathBuf], threads: usize) -> Result<(f64, serde_json::Value)> {
    let t0 = Instant::now();
    let out = Command::new(bin)
        .args(["ingest", "--json", "--threads", &threads.to_string(), "--date", "2026-10-15", "--warehouse"])
        .arg(wh)
        .args(sources)
        .output()
        .context("无法启动 xueji ingest 子进程")?;
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "ingest 失败：{}", String::from_utf8_lossy(&out.stderr));
    Ok((secs, serde_json::from_slice(&out.stdout)?))
}

pub fn ingest(o: &BenchOptions) -> Result<()> {
    let bin = std::env::current_exe()?;
    let data = o.work.join(format!("data-{}", o.pupils));
    if !data.join("truth/records.csv").exists() {
        let g = GenOptions {
            pupils: o.pupils,
            seed: o.seed,
            out: data.clone(),
            provinces: 1,
            pupils_per_county: 100_000,
            school_size: 600,
            as_of: "2026-10-15".parse()?,
            problem_rate: 0.02,
            xlsx: true,
            csv: true,
            gbk: false,
        };
        let t0 = Instant::now();
        let s = generate(&g)?;
        println!("生成 / generated {} records in {} schools: {:.1} s", s.records, s.schools, t0.elapsed().as_secs_f64());
    }
    println!("机器 / machine: {} threads available, ingest uses {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), o.threads);
    println!("{:<6} {:>10} {:>8} {:>12} {:>10} {:>14} {:>12}", "format", "rows", "files", "stage (s)", "total (s)", "rows/s (stage)", "peak RSS MB");
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

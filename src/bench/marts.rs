//! `xueji bench marts`: the statistics and list models against DuckDB on the same Parquet files.

use super::*;

/// The models DuckDB can run as well: every model but dedup, whose SQL calls xueji's own
/// functions. Running from these roots runs every model that reads them.
pub(super) const STATISTICS_ROOTS: [&str; 3] = ["school_regions", "student_status", "movement_checks"];

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

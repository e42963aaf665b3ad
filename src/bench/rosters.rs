//! `xueji bench rosters`: a county's 学生花名册 rendered as HTML, PDF and XLSX, one school and every
//! school, each render in a child process of its own.

use super::*;

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

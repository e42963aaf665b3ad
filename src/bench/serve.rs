//! `xueji bench serve`: the server on loopback, a county's beneficiary list pulled as CSV (first
//! byte and whole) and a small statistics query under 50 concurrent clients.

use super::*;

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

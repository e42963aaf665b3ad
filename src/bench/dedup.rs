//! `xueji bench dedup`: the matcher's pairwise precision and recall against the generator's
//! truth, and its time and memory.

use super::*;

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
pub(super) fn blocked_components(edges: &[Vec<String>]) -> HashMap<(String, String), usize> {
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

pub(super) fn label(plant: &str) -> &str {
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

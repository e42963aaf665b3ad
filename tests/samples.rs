//! The committed sample (data-samples/, made by `xueji gen`): its import report is golden, and it
//! agrees with its own ground truth. Set UPDATE_GOLDEN=1 to rewrite the golden files after a
//! deliberate change, then read the diff.

use std::path::Path;

use crate::common::*;

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}: run with UPDATE_GOLDEN=1", path.display()));
    if want != actual {
        let first = want.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{name} differs from the golden file (first differing line: {first:?}); run with UPDATE_GOLDEN=1 and review the diff"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_samples_import_report_is_golden() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, xueji::pipeline::sample_sources(&samples), 2).await;
    assert_eq!(out.metrics.file_errors, 0);
    assert_eq!(out.metrics.rows_in, out.metrics.accepted + out.metrics.rejected);
    let rejects = dump(
        &wh,
        "SELECT source_file, row_no, column_header, value, rule_code, severity, message, expected FROM rejects",
        None,
    )
    .await;
    golden("data_samples_rejects.csv", &(rejects.join("\n") + "\n"));
    let files = dump(
        &wh,
        "SELECT source_file, table_name, encoding, rows_in, accepted, rejected, warnings FROM import_files",
        None,
    )
    .await;
    golden("data_samples_import_files.csv", &(files.join("\n") + "\n"));
    let index = std::fs::read_to_string(&out.report_index).unwrap();
    golden("data_samples_import_index.html", &index);
    // One file's report page and CSV, as a school would receive them.
    let dir = out.report_index.parent().unwrap();
    let worst = out
        .reports
        .iter()
        .filter(|r| r.table == "students")
        .max_by_key(|r| (r.rejected, r.file.clone()))
        .unwrap();
    let page = std::fs::read_to_string(dir.join(format!("{}.html", worst.file.replace('/', "_")))).unwrap();
    let base = worst.file.rsplit('/').next().unwrap();
    assert!(page.contains("学籍导入报告（失败原因）") && page.contains(base));
    let csv = std::fs::read(dir.join(format!("{}.csv", worst.file.replace('/', "_")))).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "the CSV opens in Excel as UTF-8");
    let lines = String::from_utf8(csv).unwrap().lines().count() as u64;
    assert!(lines > worst.rejected, "every failure is listed");
}

/// The generator is deterministic to the byte (XLSX included), and the committed sample is what
/// today's generator makes (the command is in the README).
#[test]
fn data_samples_are_exactly_what_gen_makes_from_their_seed() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    let tmp = tempfile::tempdir().unwrap();
    let o = xueji::synth::GenOptions {
        pupils: 5000,
        seed: 2026,
        out: tmp.path().to_path_buf(),
        provinces: 2,
        pupils_per_county: 1200,
        school_size: 250,
        as_of: date(NIGHT1),
        problem_rate: 0.05,
        xlsx: true,
        csv: true,
        gbk: true,
    };
    xueji::synth::generate(&o).unwrap();
    let mut compared = 0;
    for dir in ["", "students-xlsx", "students-csv", "students-gbk", "truth"] {
        for e in std::fs::read_dir(tmp.path().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                let rel = p.strip_prefix(tmp.path()).unwrap();
                assert!(
                    std::fs::read(&p).unwrap() == std::fs::read(samples.join(rel)).unwrap_or_default(),
                    "{} differs from the committed sample",
                    rel.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 40, "{compared} files");
}

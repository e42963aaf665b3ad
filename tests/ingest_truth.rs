//! The ingest against the generator's ground truth: every planted format error is rejected on its
//! row and column with its reason, and nothing else is; planted ID defects and warnings are
//! reported and accepted; input rows = accepted + rejected for several seeds.

use std::collections::BTreeSet;

use crate::common::*;

#[derive(serde::Deserialize)]
struct Truth {
    xlsx_file: String,
    xlsx_row: u64,
    plant: String,
    expect_rule: String,
    expect_header: String,
}

fn read_truth(dir: &std::path::Path) -> Vec<Truth> {
    csv::Reader::from_path(dir.join("truth/records.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_problems_are_reported_on_their_row_and_column_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wh = tmp.path().join("wh");
    gen_world(&data, 7, 4000, "xlsx");
    let out = ingest(&wh, NIGHT1, xueji::pipeline::sample_sources(&data), 2).await;
    for r in &out.reports {
        assert!(r.file_error.is_none(), "{}: {:?}", r.file, r.file_error);
        assert_eq!(r.rows_in, r.accepted + r.rejected, "{}", r.file);
    }
    let truth = read_truth(&data);
    let student_rows: u64 = out
        .reports
        .iter()
        .filter(|r| r.table == "students")
        .map(|r| r.rows_in)
        .sum();
    assert_eq!(student_rows, truth.len() as u64, "every generated record was read");

    let is_error = |rule: &str| rule.starts_with("R_");
    let want_errors: BTreeSet<(String, u64, String, String)> = truth
        .iter()
        .filter(|t| is_error(&t.expect_rule))
        .map(|t| {
            (
                t.xlsx_file.clone(),
                t.xlsx_row,
                t.expect_header.clone(),
                t.expect_rule.clone(),
            )
        })
        .collect();
    let want_warnings: BTreeSet<(String, u64, String, String)> = truth
        .iter()
        .filter(|t| t.expect_rule.starts_with("W_"))
        .map(|t| {
            (
                t.xlsx_file.clone(),
                t.xlsx_row,
                t.expect_header.clone(),
                t.expect_rule.clone(),
            )
        })
        .collect();
    let planted_rows: BTreeSet<(String, u64)> = truth
        .iter()
        .filter(|t| !t.plant.is_empty())
        .map(|t| (t.xlsx_file.clone(), t.xlsx_row))
        .collect();

    let rows = dump(
        &wh,
        "SELECT source_file, row_no, column_header, rule_code, severity FROM rejects WHERE table_name = 'students'",
        None,
    )
    .await;
    let mut got_errors = BTreeSet::new();
    let mut got_warnings = BTreeSet::new();
    for line in &rows[1..] {
        let f: Vec<&str> = line.split(',').collect();
        let key = (
            f[0].to_string(),
            f[1].parse::<u64>().unwrap(),
            f[2].to_string(),
            f[3].to_string(),
        );
        if f[4] == "错误" {
            got_errors.insert(key);
        } else {
            assert!(
                planted_rows.contains(&(key.0.clone(), key.1)),
                "a warning on a row with nothing planted: {line}"
            );
            got_warnings.insert(key);
        }
    }
    let missing: Vec<_> = want_errors.difference(&got_errors).collect();
    let extra: Vec<_> = got_errors.difference(&want_errors).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing errors: {missing:?}\nunexpected errors: {extra:?}"
    );
    let missing_w: Vec<_> = want_warnings.difference(&got_warnings).collect();
    assert!(missing_w.is_empty(), "missing warnings: {missing_w:?}");

    // Every format rule the generator plants was seen at least once in this world.
    let kinds: BTreeSet<&str> = want_errors.iter().map(|k| k.3.as_str()).collect();
    assert!(kinds.len() >= 30, "only {} error kinds planted: {kinds:?}", kinds.len());
    // Rejected rows are exactly the rows with a planted error.
    let rejected: u64 = out
        .reports
        .iter()
        .filter(|r| r.table == "students")
        .map(|r| r.rejected)
        .sum();
    let error_rows: BTreeSet<(String, u64)> = want_errors.iter().map(|k| (k.0.clone(), k.1)).collect();
    assert_eq!(rejected, error_rows.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_rows_equal_accepted_plus_rejected_for_several_seeds() {
    for seed in [11, 12, 13] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        gen_world(&data, seed, 1200, "csv");
        let out = ingest(
            &tmp.path().join("wh"),
            NIGHT1,
            vec![
                data.join("schools.csv"),
                data.join("movements.csv"),
                data.join("students-csv"),
            ],
            2,
        )
        .await;
        let m = &out.metrics;
        assert_eq!(m.rows_in, m.accepted + m.rejected, "seed {seed}");
        let n = dump(&tmp.path().join("wh"), "SELECT COUNT(*) FROM students", None).await;
        let students_accepted = out
            .reports
            .iter()
            .filter(|r| r.table == "students")
            .map(|r| r.accepted)
            .sum::<u64>();
        assert_eq!(
            n[1],
            students_accepted.to_string(),
            "seed {seed}: the table holds every accepted row once"
        );
    }
}

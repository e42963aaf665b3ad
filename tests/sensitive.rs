//! The `sensitive` mark of the model schemas: docs/marts.md shows it (敏感), and dashboards that
//! read the marts directly go by it to know which columns need guarding. A column is marked when
//! its values can carry a pupil's 学籍号 or ID number, found here by looking at what the models
//! really wrote rather than at what their schema files say.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use xueji::models::{OutType, models, out_schema};

use crate::common::*;

/// What could rebuild a pupil's identity: the 学籍号 and ID numbers of the night's registrations.
async fn identifiers(wh: &std::path::Path) -> HashSet<String> {
    let sql = "SELECT registration_no AS v FROM students WHERE length(registration_no) >= 10
               UNION SELECT id_number AS v FROM students WHERE length(id_number) >= 15";
    dump(wh, sql, None).await.into_iter().skip(1).collect()
}

/// The samples, with one pupil of county 341023 sent without a 学籍号 — a new registration before
/// the national system numbers it (学籍号 is optional in the import template) — so that its record
/// is known by school, ID number, name and birth date; every model run over them. Every text column
/// of every model that is not marked sensitive holds neither a 学籍号 nor an ID number, whole or as
/// a part of a key (`|`, `:`, `#` separate the parts of a record key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_column_holding_a_registration_or_id_number_is_marked_sensitive() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, mut rows) = county("341023");
    rows[0] = with(&rows[0], col(&h, "学籍号"), "");
    let mut sources: Vec<PathBuf> = sample_sources()
        .into_iter()
        .filter(|p| !p.ends_with("students-csv"))
        .collect();
    for f in std::fs::read_dir(samples().join("students-csv")).unwrap() {
        let f = f.unwrap().path();
        if f.file_name().unwrap() != "341023.csv" {
            sources.push(f);
        }
    }
    sources.push(write_csv(&tmp.path().join("students/341023.csv"), &h, &rows));
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, sources, 2).await;
    assert_eq!(out.metrics.file_errors, 0);
    run_models(&wh).await;

    let id = &rows[0][col(&h, "身份证件号")];
    let keyed_by_id = dump(
        &wh,
        "SELECT record_key FROM students WHERE registration_no IS NULL OR registration_no = ''",
        None,
    )
    .await;
    assert!(
        keyed_by_id.len() == 2 && keyed_by_id[1].contains(id),
        "the pupil without 学籍号 is stored, keyed by its ID number: {keyed_by_id:?}"
    );

    let secret = identifiers(&wh).await;
    assert!(
        secret.len() > 100 && secret.contains(id),
        "{} identifiers",
        secret.len()
    );
    let mut unmarked = BTreeSet::new();
    for m in models().unwrap() {
        let schema = out_schema(&m.schema).unwrap();
        for c in schema
            .columns
            .iter()
            .filter(|c| c.col_type == OutType::Utf8 && !c.sensitive)
        {
            let values = dump(&wh, &format!("SELECT DISTINCT \"{}\" FROM {}", c.name, m.name), None).await;
            let holds = |v: &&String| {
                v.split(['|', ':', '#', ',', '"', ' ', '、'])
                    .any(|p| secret.contains(p))
            };
            if let Some(v) = values.iter().skip(1).find(holds) {
                unmarked.insert(format!("{}.{} (e.g. {v})", m.name, c.name));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "columns holding 学籍号 or ID numbers without `sensitive = true`:\n{}",
        unmarked.into_iter().collect::<Vec<_>>().join("\n")
    );
}

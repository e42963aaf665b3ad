//! The statistics and beneficiary marts over data-samples, against the generator's ground truth
//! (truth/records.csv: what each record was meant to be; truth/movements.csv: each movement's
//! outcome and the pupil's status after it; truth/exams.csv, truth/meal_ledger.csv and the
//! nutrition input files): per school, every count a statistician reads must be the planted one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::*;
use xueji::models;
use xueji::pipeline;

/// Rows of a truth CSV as maps from header to value.
fn read(file: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(samples().join(file)).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|x| {
            h.iter()
                .zip(x.unwrap().iter())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        })
        .collect()
}

/// (key..., count) rows of a query, as a map from the key columns to the last column.
async fn counts(wh: &Path, sql: &str) -> BTreeMap<Vec<String>, i64> {
    let b = pipeline::sql(wh.to_str().unwrap(), sql, None, 2, 1024).await.unwrap();
    let (_, rows) = pipeline::text_rows(&b).unwrap();
    rows.into_iter()
        .map(|mut r| {
            let n = r.pop().unwrap().parse::<f64>().unwrap() as i64;
            (r, n)
        })
        .filter(|(_, n)| *n != 0)
        .collect()
}

fn bump(m: &mut BTreeMap<Vec<String>, i64>, k: &[&str]) {
    *m.entry(k.iter().map(|s| s.to_string()).collect()).or_default() += 1;
}

struct World {
    /// Accepted records in school on the snapshot date, from the truth.
    in_school: Vec<BTreeMap<String, String>>,
    urban: BTreeMap<String, bool>,
}

fn world() -> World {
    let cat = xueji::schema::catalog();
    let h = |t: &str, c: &str| cat.table(t).unwrap().column(c).unwrap().header.clone();
    // A school is urban when its 城乡分类 code is 1xx.
    let ur = cat.codelist("urban_rural");
    let urban = read("schools.csv")
        .into_iter()
        .map(|s| {
            let code = &ur.values[ur.lookup(&s[&h("schools", "urban_rural")])[0]].code;
            (s[&h("schools", "school_id")].clone(), code.starts_with('1'))
        })
        .collect();
    // A registration leaves school with an approved movement (the truth says its status after).
    let left: BTreeSet<(String, String)> = read("truth/movements.csv")
        .into_iter()
        .filter(|m| m["expect_pupil_status"] != "在校")
        .map(|m| (m["registration_no"].clone(), m["school_id"].clone()))
        .collect();
    let in_school = read("truth/records.csv")
        .into_iter()
        .filter(|r| r["expect_rule"].is_empty() || r["expect_rule"].starts_with("W_"))
        .filter(|r| !left.contains(&(r["registration_no"].clone(), r["school_id"].clone())))
        // A graduate the school still lists is not in school.
        .filter(|r| r["graduated"] == "0")
        .collect();
    World { in_school, urban }
}

async fn prepared() -> (tempfile::TempDir, World) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let out = ingest(&wh, NIGHT1, sample_sources(), 2).await;
    assert_eq!(out.metrics.file_errors, 0, "every sample file is a template");
    run_models(&wh).await;
    (dir, world())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_rosters_and_the_statistics_equal_the_ground_truth_per_school() {
    let (dir, w) = prepared().await;
    let wh = dir.path().join("wh");
    let yes = |r: &BTreeMap<String, String>, c: &str| r[c] == "1";
    // Statistics count the gender the record states; a planted W_ID_GENDER record, and a second
    // registration with the gender written wrongly, state the other one.
    let male = |r: &BTreeMap<String, String>| {
        yes(r, "male") != (r["expect_rule"] == "W_ID_GENDER" || r["plant"] == "fuzzy:GenderWrong")
    };

    // The status of every registration that moved.
    let mut want = BTreeMap::new();
    for m in read("truth/movements.csv") {
        want.insert(
            vec![m["school_id"].clone(), m["registration_no"].clone()],
            m["expect_pupil_status"].clone(),
        );
    }
    let b = pipeline::sql(
        wh.to_str().unwrap(),
        "SELECT school_id, registration_no, status FROM student_status",
        None,
        2,
        1024,
    )
    .await
    .unwrap();
    let (_, rows) = pipeline::text_rows(&b).unwrap();
    let got: BTreeMap<Vec<String>, String> = rows
        .into_iter()
        .map(|mut r| (vec![r[0].clone(), r[1].clone()], r.pop().unwrap()))
        .collect();
    let mut checked = 0;
    for (k, status) in &want {
        if let Some(g) = got.get(k) {
            assert_eq!(g, status, "status of {k:?}");
            checked += 1;
        }
    }
    assert!(checked > 100, "most moving pupils are registered ({checked})");
    let in_school = counts(&wh, "SELECT COUNT(*) FROM student_status WHERE in_school").await;
    assert_eq!(
        in_school.values().sum::<i64>(),
        w.in_school.len() as i64,
        "registrations in school"
    );
    // Graduates some schools still list (seed 004: "学生学籍已经处于毕业状态"): 毕业, not in school,
    // and on 毕业生查询 as listed by their school, each of them and no other.
    let graduates: BTreeSet<Vec<String>> = read("truth/records.csv")
        .into_iter()
        .filter(|r| r["graduated"] == "1")
        .map(|r| vec![r["school_id"].clone(), r["registration_no"].clone()])
        .collect();
    assert!(graduates.len() > 10, "the sample has graduates ({})", graduates.len());
    let listed = counts(
        &wh,
        "SELECT school_id, registration_no, COUNT(*) FROM list_graduates WHERE source = '学校仍在报送' GROUP BY 1, 2",
    )
    .await;
    assert_eq!(
        listed.keys().cloned().collect::<BTreeSet<_>>(),
        graduates,
        "list_graduates"
    );
    let statuses = counts(
        &wh,
        "SELECT school_id, registration_no, COUNT(*) FROM student_status WHERE status = '毕业' GROUP BY 1, 2",
    )
    .await;
    assert_eq!(
        statuses.keys().cloned().collect::<BTreeSet<_>>(),
        graduates,
        "status 毕业"
    );
    // An ad-hoc query may hold a CTE in memory as the models do, with the same result.
    let held = counts(&wh, "WITH s AS MATERIALIZED (SELECT record_key FROM student_status WHERE in_school) SELECT COUNT(*) FROM s JOIN students USING (record_key)").await;
    assert_eq!(held, in_school, "AS MATERIALIZED in xueji sql");

    // The roster: pupils in school by school, grade and class.
    let mut roster = BTreeMap::new();
    let mut form = BTreeMap::new();
    for r in &w.in_school {
        bump(&mut roster, &[&r["school_id"], &r["stage"], &r["grade"]]);
        let s = r["school_id"].as_str();
        let compulsory = r["stage"] != "3";
        bump(&mut form, &[s, "pupils"]);
        if !male(r) {
            bump(&mut form, &[s, "girls"]);
        }
        if yes(r, "boarder") {
            bump(&mut form, &[s, "boarders"]);
        }
        if compulsory && yes(r, "outside_county") {
            bump(&mut form, &[s, "migrant"]);
        }
        if compulsory && yes(r, "migrant_reported") {
            bump(&mut form, &[s, "migrant_worker"]);
        }
        if compulsory && r["left_behind"] != "0" && yes(r, "rural_hukou") {
            bump(&mut form, &[s, "rural_left_behind"]);
        }
    }
    assert_eq!(counts(&wh, "SELECT school_id, CAST(stage AS VARCHAR), CAST(grade AS VARCHAR), COUNT(*) FROM list_roster GROUP BY 1, 2, 3").await, roster);
    let form_sql = "SELECT school_id, m, n FROM (
        SELECT school_id, 'pupils' AS m, SUM(pupils) AS n FROM stats_school_form GROUP BY school_id
        UNION ALL SELECT school_id, 'girls', SUM(girls) FROM stats_school_form GROUP BY school_id
        UNION ALL SELECT school_id, 'boarders', SUM(boarders) FROM stats_school_form GROUP BY school_id
        UNION ALL SELECT school_id, 'migrant', SUM(migrant) FROM stats_school_form GROUP BY school_id
        UNION ALL SELECT school_id, 'migrant_worker', SUM(migrant_worker) FROM stats_school_form GROUP BY school_id
        UNION ALL SELECT school_id, 'rural_left_behind', SUM(rural_left_behind) FROM stats_school_form GROUP BY school_id)";
    assert_eq!(counts(&wh, form_sql).await, form);

    // 留守儿童 by school, grade and gender: 单亲 and 双亲.
    let mut lb = BTreeMap::new();
    let mut mig = BTreeMap::new();
    for r in w.in_school.iter().filter(|r| r["stage"] != "3") {
        let g = if male(r) { "男" } else { "女" };
        match r["left_behind"].as_str() {
            "1" => bump(&mut lb, &[&r["school_id"], &r["grade"], g, "single"]),
            "2" => bump(&mut lb, &[&r["school_id"], &r["grade"], g, "both"]),
            _ => {}
        }
        for (col, on) in [
            ("reported", yes(r, "migrant_reported")),
            ("derived", yes(r, "migrant_derived")),
            ("broad", yes(r, "outside_county")),
        ] {
            if on {
                bump(&mut mig, &[&r["school_id"], col]);
            }
        }
    }
    let lb_sql = "SELECT school_id, CAST(grade AS VARCHAR), gender, k, n FROM (
        SELECT school_id, grade, gender, 'single' AS k, single_parent AS n FROM stats_left_behind
        UNION ALL SELECT school_id, grade, gender, 'both', both_parents FROM stats_left_behind)";
    assert_eq!(counts(&wh, lb_sql).await, lb);
    let mig_sql = "SELECT school_id, k, n FROM (
        SELECT school_id, 'reported' AS k, SUM(migrant_reported) AS n FROM stats_migrant GROUP BY school_id
        UNION ALL SELECT school_id, 'derived', SUM(migrant_derived) FROM stats_migrant GROUP BY school_id
        UNION ALL SELECT school_id, 'broad', SUM(migrant_broad) FROM stats_migrant GROUP BY school_id)";
    let got_mig = counts(&wh, mig_sql).await;
    assert_eq!(got_mig, mig);
    assert!(mig.keys().any(|k| k[1] == "derived"), "the sample has migrant pupils");

    // The contradictions the generator planted, and the ones its second registrations made.
    let mut contra = BTreeMap::new();
    for r in w.in_school.iter().filter(|r| r["stage"] != "3") {
        let s = r["school_id"].as_str();
        let rep = yes(r, "migrant_reported");
        for (kind, on) in [
            ("M1", rep && !yes(r, "outside_county")),
            ("M2", rep && !w.urban[s]),
            ("M3", rep && !yes(r, "rural_hukou")),
            ("M4", rep && r["left_behind"] != "0"),
            ("M5", yes(r, "migrant_derived") && !rep),
        ] {
            if on {
                bump(&mut contra, &[s, kind]);
            }
        }
    }
    assert_eq!(
        counts(
            &wh,
            "SELECT school_id, kind_code, COUNT(*) FROM list_migrant_contradictions GROUP BY 1, 2"
        )
        .await,
        contra
    );
    for k in ["M1", "M2", "M4", "M5"] {
        assert!(contra.keys().any(|x| x[1] == k), "the sample plants {k}");
    }

    // 寄宿生 and 一补, with the amount of the standard in force (2026: 小学 1250, 初中 1500; half for non-boarders).
    let mut boarders = BTreeMap::new();
    let mut yibu = BTreeMap::new();
    let mut yuan: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for r in &w.in_school {
        if yes(r, "boarder") {
            bump(&mut boarders, &[&r["school_id"]]);
        }
        if yes(r, "yibu") {
            bump(&mut yibu, &[&r["school_id"]]);
            let full = if r["stage"] == "1" { 1250 } else { 1500 };
            *yuan.entry(vec![r["school_id"].clone()]).or_default() += if yes(r, "boarder") { full } else { full / 2 };
        }
    }
    assert_eq!(
        counts(&wh, "SELECT school_id, COUNT(*) FROM list_boarders GROUP BY 1").await,
        boarders
    );
    // 需要资助: pupils in school whose record says 是否需要申请资助 = 是, read from the sample's CSV.
    let mut sheets: BTreeMap<String, (usize, Vec<csv::StringRecord>)> = BTreeMap::new();
    let mut aid = BTreeMap::new();
    for r in &w.in_school {
        let (col, rows) = sheets.entry(r["csv_file"].clone()).or_insert_with(|| {
            let mut rd = csv::Reader::from_path(samples().join(&r["csv_file"])).unwrap();
            let col = rd
                .headers()
                .unwrap()
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == "是否需要申请资助")
                .unwrap();
            (col, rd.into_records().map(Result::unwrap).collect())
        });
        // csv_row counts the header as row 1.
        if &rows[r["csv_row"].parse::<usize>().unwrap() - 2][*col] == "是" {
            bump(&mut aid, &[&r["school_id"]]);
        }
    }
    assert!(aid.values().sum::<i64>() > 50, "the sample has pupils who need aid");
    assert_eq!(
        counts(&wh, "SELECT school_id, COUNT(*) FROM list_aid_applicants GROUP BY 1").await,
        aid
    );
    assert_eq!(
        counts(&wh, "SELECT school_id, COUNT(*) FROM list_yibu GROUP BY 1").await,
        yibu
    );
    assert_eq!(
        counts(
            &wh,
            "SELECT school_id, SUM(amount_yuan_per_year) FROM list_yibu GROUP BY 1"
        )
        .await,
        yuan
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_transfers_violations_and_the_nutrition_programme_equal_the_ground_truth() {
    let (dir, w) = prepared().await;
    let wh = dir.path().join("wh");

    // Transfers waiting, by sending school; the freeze and 休学 violations.
    let mut pending = BTreeMap::new();
    let mut violations = BTreeMap::new();
    for m in read("truth/movements.csv") {
        if m["movement_type"] == "转学" && m["status"] == "待审核" {
            bump(&mut pending, &[&m["school_id"], &m["flow"]]);
        }
        if m["in_freeze_window"] == "1" {
            bump(&mut violations, &[&m["movement_id"], "V1"]);
        }
        if m["suspended_at_apply"] == "1" {
            bump(&mut violations, &[&m["movement_id"], "V2"]);
        }
    }
    assert_eq!(
        counts(
            &wh,
            "SELECT from_school_id, CAST(flow_code AS VARCHAR), COUNT(*) FROM list_transfers_pending GROUP BY 1, 2"
        )
        .await,
        pending
    );
    assert_eq!(counts(&wh, "SELECT movement_id, kind_code, COUNT(*) FROM list_movement_violations WHERE kind_code IN ('V1', 'V2') GROUP BY 1, 2").await, violations);
    assert!(violations.keys().any(|k| k[1] == "V1") && violations.keys().any(|k| k[1] == "V2"));
    // Every pending transfer names the unit that must act.
    assert_eq!(
        counts(
            &wh,
            "SELECT COUNT(*) FROM list_transfers_pending WHERE handler_code IS NULL OR handler_name IS NULL"
        )
        .await,
        BTreeMap::new()
    );

    // Beneficiaries: in-school compulsory pupils of the schools in the programme on the date.
    let cat = xueji::schema::catalog();
    let h = |c: &str| cat.nutrition_schools.column(c).unwrap().header.clone();
    let members: BTreeSet<String> = read("nutrition_schools.csv")
        .into_iter()
        .filter(|s| s[&h("end_date")].is_empty())
        .map(|s| s[&h("school_id")].clone())
        .collect();
    assert!(
        read("nutrition_schools.csv").len() > members.len(),
        "the sample has a school that left the programme"
    );
    let mut benef = BTreeMap::new();
    for r in w
        .in_school
        .iter()
        .filter(|r| r["stage"] != "3" && members.contains(&r["school_id"]))
    {
        bump(&mut benef, &[&r["school_id"]]);
    }
    assert_eq!(
        counts(
            &wh,
            "SELECT school_id, COUNT(*) FROM list_nutrition_beneficiaries GROUP BY 1"
        )
        .await,
        benef
    );
    // The subsidy of the current term: beneficiaries × 100 days × the province's standard.
    let th = |c: &str| cat.nutrition_terms.column(c).unwrap().header.clone();
    let standard: BTreeMap<String, f64> = read("nutrition_terms.csv")
        .into_iter()
        .filter(|t| t[&th("term")].contains("秋季"))
        .map(|t| {
            (
                t[&th("province_code")].clone(),
                t[&th("standard_yuan")].parse().unwrap(),
            )
        })
        .collect();
    let sh = |c: &str| cat.schools.column(c).unwrap().header.clone();
    let province: BTreeMap<String, String> = read("schools.csv")
        .into_iter()
        .map(|s| (s[&sh("school_id")].clone(), s[&sh("county_code")][..2].to_string()))
        .collect();
    let subsidy: BTreeMap<Vec<String>, i64> = benef
        .iter()
        .map(|(k, n)| (k.clone(), (*n as f64 * 100.0 * standard[&province[&k[0]]]) as i64))
        .collect();
    assert_eq!(
        counts(&wh, "SELECT school_id, subsidy_yuan FROM stats_nutrition_subsidy").await,
        subsidy
    );
    assert!(standard.values().any(|s| *s != 5.0), "a province tops the standard up");

    // 受益学校名单: the same schools, each with its beneficiaries as its pupils, and a 责任体系 gap
    // where the 责任体系 file names nobody for the school or for its county (the generator plants
    // both; its 受益学校 file names no 学校责任人).
    let dh = |c: &str| cat.nutrition_duty.column(c).unwrap().header.clone();
    let duty = read("nutrition_duty.csv");
    let named = |county: bool| -> BTreeSet<String> {
        duty.iter()
            .filter(|r| r[&dh("school_id")].is_empty() == county)
            .map(|r| r[&dh(if county { "county_code" } else { "school_id" })].clone())
            .collect()
    };
    let (schools_named, counties_named) = (named(false), named(true));
    let county_of: BTreeMap<String, String> = read("schools.csv")
        .into_iter()
        .map(|s| (s[&sh("school_id")].clone(), s[&sh("county_code")].clone()))
        .collect();
    let mut listed = BTreeMap::new();
    for (k, n) in &benef {
        let gap = match (
            schools_named.contains(&k[0]),
            counties_named.contains(&county_of[&k[0]]),
        ) {
            (true, true) => "",
            (false, true) => "缺学校责任人",
            (true, false) => "缺县级责任人",
            (false, false) => "缺学校和县级责任人",
        };
        listed.insert(vec![k[0].clone(), gap.to_string(), n.to_string()], *n);
    }
    assert!(
        listed.keys().any(|k| k[1] == "缺学校责任人") && listed.keys().any(|k| k[1] == "缺县级责任人"),
        "the sample plants both gaps: {listed:?}"
    );
    assert_eq!(
        counts(
            &wh,
            "SELECT school_id, COALESCE(duty_gap, ''), CAST(pupils AS VARCHAR), beneficiaries FROM list_nutrition_schools"
        )
        .await,
        listed
    );

    // Screening: every planted category, per school and gender.
    let mut screen = BTreeMap::new();
    for e in read("truth/exams.csv") {
        bump(&mut screen, &[&e["school_id"], &e["gender"], &e["category"]]);
    }
    let screen_sql = "SELECT school_id, gender, k, n FROM (
        SELECT school_id, gender, '正常' AS k, normal AS n FROM stats_nutrition_screening
        UNION ALL SELECT school_id, gender, '生长迟缓', stunting FROM stats_nutrition_screening
        UNION ALL SELECT school_id, gender, '消瘦', wasting FROM stats_nutrition_screening
        UNION ALL SELECT school_id, gender, '超重', overweight FROM stats_nutrition_screening
        UNION ALL SELECT school_id, gender, '肥胖', obesity FROM stats_nutrition_screening)";
    assert_eq!(counts(&wh, screen_sql).await, screen);

    // The meal ledger: over-claimed meals (L1) and money (L2), and nothing else.
    let mut ledger = BTreeMap::new();
    for l in read("truth/meal_ledger.csv") {
        if l["over_beneficiaries"] == "1" {
            bump(&mut ledger, &[&l["school_id"], &l["month"], "L1"]);
        }
        if l["over_standard"] == "1" {
            bump(&mut ledger, &[&l["school_id"], &l["month"], "L2"]);
        }
    }
    assert!(!ledger.is_empty(), "the sample plants ledger anomalies");
    assert_eq!(
        counts(
            &wh,
            "SELECT school_id, month, kind_code, COUNT(*) FROM list_meal_ledger_anomalies GROUP BY 1, 2, 3"
        )
        .await,
        ledger
    );
}

/// DuckDB runs the same SQL files over the same night's Parquet and must give exactly xueji's
/// published marts; Polars and pyarrow must read each of them (tests/crosscheck.py). Needs the
/// Python packages duckdb, polars and pyarrow (installed by scripts/test); skipped without them
/// only when run as bare `cargo test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_gives_the_same_marts_and_polars_and_pyarrow_read_them() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import duckdb, polars, pyarrow"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            !crate::common::peers_required(),
            "scripts/test and CI need the Python packages duckdb, polars and pyarrow"
        );
        eprintln!("跳过 / skipped: duckdb, polars or pyarrow is not installed");
        return;
    }
    let (dir, _) = prepared().await;
    let wh = dir.path().join("wh");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crosscheck.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&wh)
        .arg(NIGHT1)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        text.lines().filter(|l| l.starts_with("通过 ok")).count(),
        models::SQL_FILES
            .iter()
            // The dedup models and list_key_changes call xueji's own functions: not in DuckDB.
            .filter(|(f, _)| !f.starts_with("dedup_") && *f != "list_key_changes.sql")
            .count(),
        "{text}"
    );
}

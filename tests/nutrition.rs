//! 营养改善计划 on hand-made rows: the 受益学校名单 and its 责任体系 (the schools in the programme on
//! the date, their pupils, who answers for each school and county, and the gaps), as the mart
//! and the county report show them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use xueji::render::{self, Format, RenderOptions};

/// A file of an input table: its template headers (from the schema) and the given rows, cells in
/// the order of the schema's columns.
fn input_file(path: &Path, table: &str, rows: &[&[&str]]) -> PathBuf {
    let t = xueji::schema::catalog().table(table).unwrap();
    let header: csv::StringRecord = t.columns.iter().map(|c| c.header.as_str()).collect();
    let rows: Vec<csv::StringRecord> = rows.iter().map(|r| r.iter().copied().collect()).collect();
    write_csv(path, &header, &rows)
}

/// The first `n` rows of `school` in the sample's county file on which the generator planted
/// nothing (truth/records.csv): each is accepted, in school and, at a 小学 or 初中, compulsory.
fn clean_pupils(county_code: &str, school: &str, n: usize) -> Vec<csv::StringRecord> {
    let mut truth = csv::Reader::from_path(samples().join("truth/records.csv")).unwrap();
    let h = truth.headers().unwrap().clone();
    let (file, row, sid, plant, rule, graduated) = (
        col(&h, "csv_file"),
        col(&h, "csv_row"),
        col(&h, "school_id"),
        col(&h, "plant"),
        col(&h, "expect_rule"),
        col(&h, "graduated"),
    );
    let csv_file = format!("students-csv/{county_code}.csv");
    let clean: BTreeSet<usize> = truth
        .records()
        .map(Result::unwrap)
        .filter(|r| {
            r[file] == csv_file
                && &r[sid] == school
                && r[plant].is_empty()
                && r[rule].is_empty()
                && &r[graduated] == "0"
        })
        .map(|r| r[row].parse().unwrap())
        .collect();
    // The truth's csv_row is the line in the file: the header is line 1.
    let picked: Vec<csv::StringRecord> = county(county_code)
        .1
        .into_iter()
        .enumerate()
        .filter(|(k, _)| clean.contains(&(k + 2)))
        .map(|(_, r)| r)
        .take(n)
        .collect();
    assert_eq!(picked.len(), n, "the sample has {n} clean pupils at {school}");
    picked
}

/// Seed 002 (操作手册 省市县级, 第四部分营养餐管理): "14.3 责任体系管理 (53)14.4 受益学校名单查询 (55)",
/// and in the school manual "13.2 责任体系管理" — the 责任体系 has a county level and a school level;
/// DOMAIN.md: "责任体系 (who answers for it per school and county)".
/// DOMAIN.md: "受益学生名单 (in-school compulsory pupils of beneficiary schools)" — the list counts
/// them per school, for the schools taking part on the date only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beneficiary_school_list_holds_the_schools_in_the_programme_on_the_date_and_flags_duty_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A: in the programme, its 责任人 in the 责任体系. B: leaves after the date, no 责任人 anywhere.
    // C: joins after the date. GONE: left before the date. F: no pupils on file, its 学校责任人
    // only in the 受益学校 file, and its county has named nobody.
    let (a, b, c, gone, f) = ("2341023002", "2341023004", "2341023001", "2341226002", "2341226001");
    let (header, _) = county("341023");
    let mut pupils = clean_pupils("341023", a, 7);
    pupils.extend(clean_pupils("341023", b, 4));
    pupils.extend(clean_pupils("341023", c, 3));
    pupils.extend(clean_pupils("341226", gone, 5));
    let students = write_csv(&d.join("in/students.csv"), &header, &pupils);
    let schools = input_file(
        &d.join("in/nutrition_schools.csv"),
        "nutrition_schools",
        &[
            &[a, "国家试点", "食堂供餐", "20210901", "", ""],
            &[b, "国家试点", "家庭（个人）托餐", "20210901", "20261231", ""],
            // Approved for later: filed before it starts, counted from its 纳入日期 on.
            &[c, "国家试点", "食堂供餐", "20261101", "", "李华"],
            &[gone, "国家试点", "食堂供餐", "20210901", "20261001", "王芳"],
            &[f, "地方试点", "企业（单位）供餐", "20220301", "", "赵刚"],
        ],
    );
    let duty = input_file(
        &d.join("in/nutrition_duty.csv"),
        "nutrition_duty",
        &[
            &["341023", "", "周伟", "教育局局长", "13900000001"],
            &["341023", a, "张明", "校长", "13900000002"],
            &["341226", gone, "孙丽", "校长", "13900000003"],
        ],
    );
    let wh = d.join("wh");
    let out = ingest(
        &wh,
        NIGHT1,
        vec![samples().join("schools.csv"), students, schools, duty],
        2,
    )
    .await;
    assert_eq!(
        (out.metrics.file_errors, out.metrics.rejected),
        (0, 0),
        "every hand-made row is accepted, a 纳入日期 after the night too"
    );
    assert_eq!(
        out.metrics.tables.get("nutrition_duty"),
        Some(&3),
        "the 责任体系 file is recognised"
    );
    run_models(&wh).await;

    // On 2026-10-15: A and B (its 退出日期 is after the date) and F; not C (纳入日期 after the date)
    // nor GONE (退出日期 before it), whatever pupils they have. The pupils are the ones written
    // above; the gaps: B has no 学校责任人, F's county no 责任人 (F's own comes from the 受益学校 file).
    let list = dump(
        &wh,
        "SELECT school_id, school_person, school_person_post, county_person, county_person_post, pupils, beneficiaries, duty_gap FROM list_nutrition_schools",
        None,
    )
    .await;
    assert_eq!(
        list[1..],
        [
            format!("{a},张明,校长,周伟,教育局局长,7,7,"),
            format!("{b},,,周伟,教育局局长,4,4,缺学校责任人"),
            format!("{f},赵刚,,,,0,0,缺县级责任人"),
        ],
        "{list:?}"
    );
    // The pupils of the schools not listed are no beneficiaries either.
    let benef = dump(
        &wh,
        "SELECT school_id, COUNT(*) FROM list_nutrition_beneficiaries GROUP BY school_id",
        None,
    )
    .await;
    assert_eq!(benef[1..], [format!("{a},7"), format!("{b},4")]);
    // Staff phones are ingested, never published.
    let everything = dump(&wh, "SELECT * FROM list_nutrition_schools", None).await;
    assert!(everything.iter().all(|l| !l.contains("1390000000")), "{everything:?}");

    // The county report: the schools, the county's 责任人 among the figures, the 责任体系 with
    // its gaps; no phone.
    let names = dump(
        &wh,
        &format!("SELECT school_id, school_name FROM school_regions WHERE school_id IN ('{a}', '{b}', '{c}', '{f}')"),
        None,
    )
    .await;
    let name = |id: &str| {
        names
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{id},")))
            .unwrap()
            .to_string()
    };
    let mut o = RenderOptions::new(wh.to_str().unwrap(), &d.join("reports"));
    (o.threads, o.memory_mb) = (2, 1024);
    (o.only, o.formats, o.units) = (
        vec!["nutrition_schools".into()],
        vec![Format::Html],
        vec!["341023".into(), "341226".into()],
    );
    let r = render::render(&o).await.unwrap();
    assert_eq!(r.documents["nutrition_schools"], 2, "one document per county");
    let page = |code: &str| {
        let dir = d.join("reports/营养改善计划受益学校名单");
        std::fs::read_to_string(dir.join(format!("{code}.html"))).unwrap()
    };
    // B's row of the 责任体系 says 未落实 (a cell of its own, not the note under the tables).
    let yi = page("341023");
    for want in [
        name(a),
        name(b),
        "周伟（教育局局长）".into(),
        "张明".into(),
        "缺学校责任人".into(),
    ] {
        assert!(yi.contains(&want), "341023 shows {want}");
    }
    assert!(yi.contains("<td>未落实</td>"), "the gap in the 责任体系 table");
    assert!(!yi.contains(&name(c)), "a school that joins later is not on the list");
    let ys = page("341226");
    for want in [name(f), "赵刚".into(), "缺县级责任人".into()] {
        assert!(ys.contains(&want), "341226 shows {want}");
    }
    assert!(
        !yi.contains("1390000000") && !ys.contains("1390000000"),
        "no phone printed"
    );
}

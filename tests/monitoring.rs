//! 学籍号监测 and the disabled pupils whose special-education items are missing (issue 23), end to
//! end on hand-made changes of one county of the committed sample: each test quotes the seed line
//! it encodes and checks what a statistician reads in the lists and in the masked report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::*;
use xueji::models::{self, MaskKind};
use xueji::render::{self, Format, RenderOptions};

const COUNTY: &str = "341023";

/// Indexes of the county's rows the generator left plain: no planted problem, not a graduate
/// (truth/records.csv), 学籍号 = G + the ID number, not disabled.
fn plain_rows(h: &csv::StringRecord, rows: &[csv::StringRecord]) -> Vec<usize> {
    let mut r = csv::Reader::from_path(samples().join("truth/records.csv")).unwrap();
    let t = r.headers().unwrap().clone();
    let (file, row, plant, rule, graduated) = (
        col(&t, "csv_file"),
        col(&t, "csv_row"),
        col(&t, "plant"),
        col(&t, "expect_rule"),
        col(&t, "graduated"),
    );
    let ours = format!("students-csv/{COUNTY}.csv");
    // csv_row is the line number: the header is line 1, the first record line 2.
    let planted: BTreeSet<usize> = r
        .records()
        .map(Result::unwrap)
        .filter(|x| x[file] == ours && !(x[plant].is_empty() && x[rule].is_empty() && &x[graduated] == "0"))
        .map(|x| x[row].parse::<usize>().unwrap() - 2)
        .collect();
    let (regno, id, health) = (col(h, "学籍号"), col(h, "身份证件号"), col(h, "健康状况"));
    (0..rows.len())
        .filter(|&i| {
            !planted.contains(&i)
                && rows[i][regno] == format!("G{}", &rows[i][id])
                && rows[i].get(health) != Some("残疾")
        })
        .collect()
}

/// The same person's resident ID under another sequence number of the same gender (a reissue).
fn reissued(id: &str) -> String {
    let seq: u32 = id[14..17].parse().unwrap();
    let first17 = format!("{}{:03}", &id[..14], (seq + 500) % 1000);
    format!("{first17}{}", xueji::idcard::check_char(&first17).unwrap())
}

/// A list's rows by their first column (the 学籍号), each as its CSV fields.
async fn by_regno(wh: &Path, sql: &str) -> BTreeMap<String, Vec<String>> {
    dump(wh, sql, None)
        .await
        .into_iter()
        .skip(1)
        .map(|l| {
            let v: Vec<String> = l.split(',').map(str::to_string).collect();
            (v[0].clone(), v)
        })
        .collect()
}

/// The one result row of a query, as CSV.
async fn one(wh: &Path, sql: &str) -> String {
    let rows = dump(wh, sql, None).await;
    assert_eq!(rows.len(), 2, "{sql}: {rows:?}");
    rows[1].clone()
}

async fn in_school(wh: &Path) -> BTreeSet<String> {
    dump(wh, "SELECT registration_no FROM student_status WHERE in_school", None)
        .await
        .into_iter()
        .skip(1)
        .collect()
}

/// The county's document of a report, as HTML (the report masked, as it leaves the schools).
async fn render_html(wh: &Path, out: &Path, report: &str, dir: &str) -> String {
    let mut o = RenderOptions::new(wh.to_str().unwrap(), out);
    (o.threads, o.memory_mb) = (2, 1024);
    (o.only, o.formats) = (vec![report.to_string()], vec![Format::Html]);
    render::render(&o).await.unwrap();
    std::fs::read_to_string(out.join(format!("{dir}/{COUNTY}.html"))).unwrap()
}

/// A list that leaves the school has no ID number or birth date column, and masks its 学籍号
/// (G + an ID number) as one.
fn assert_no_id_columns(model: &str) {
    let s = models::out_schema(model).unwrap();
    for c in &s.columns {
        assert!(
            !c.name.contains("id_number") && !c.name.contains("birth"),
            "{model}.{}",
            c.name
        );
    }
    let reg = s.columns.iter().find(|c| c.name == "registration_no").unwrap();
    assert_eq!(reg.mask, Some(MaskKind::Id), "{model}.registration_no");
}

/// Seed 002: "临时学籍号以“L”开头,是每个学生获得正式学籍号之前的必经阶段" — an L number is listed with
/// the pupil's age in whole years on the date and the months since 入学年月.
/// Seed 002: "对于没有提供身份证号但查重没有问题的学生,分配“J”字头正式学籍号" — every J number in school
/// is listed.
/// Seed 003: "以“G”为前缀的正式学生学号为“G+身份证号”,但在学生证号变更等特殊情况下,两者可能会有所不同"
/// — a G number equal to the ID number is not listed, one whose ID number was changed is; a
/// lower-case x in the ID number is no change. No full ID number leaves in the list or the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l_and_j_numbers_and_g_numbers_of_a_changed_id_are_listed_with_the_age_and_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, mut rows) = county(COUNTY);
    let (school_id, regno, id, birth, enrol) = (
        col(&h, "学校标识码"),
        col(&h, "学籍号"),
        col(&h, "身份证件号"),
        col(&h, "出生日期"),
        col(&h, "入学年月"),
    );
    let plain = plain_rows(&h, &rows);
    // Ten years old on 2026-10-15: born from 2015-10-16 to 2016-10-15.
    let ten = *plain
        .iter()
        .find(|&&i| {
            let b = &rows[i][birth];
            ("20151016"..="20161015").contains(&b)
        })
        .expect("a plain pupil aged 10");
    let others: Vec<usize> = plain.iter().copied().filter(|&i| i != ten).collect();
    let x = *others
        .iter()
        .find(|&&i| rows[i][id].ends_with('X'))
        .expect("an ID number ending in X");
    let rest: Vec<usize> = others.into_iter().filter(|&i| i != x).collect();
    let (same, changed) = (rest[0], rest[1]);

    // An L number: the school's county, the birth date and 4 digits (not the ID's last 4).
    let tail = if rows[ten][id].ends_with("9999") {
        "9998"
    } else {
        "9999"
    };
    let l_number = format!("L{COUNTY}{}{tail}", &rows[ten][birth]);
    let r = with(&rows[ten], regno, &l_number);
    rows[ten] = r;
    let old_g = rows[changed][regno].to_string();
    let new_id = reissued(&rows[changed][id]);
    let r = with(&rows[changed], id, &new_id);
    rows[changed] = r;
    let lower = rows[x][id].to_lowercase();
    let r = with(&rows[x], id, &lower);
    rows[x] = r;
    let file = write_csv(&tmp.path().join(format!("a/{COUNTY}.csv")), &h, &rows);
    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, vec![samples().join("schools.csv"), file], 2).await;
    run_models(&wh).await;

    let present = in_school(&wh).await;
    for i in [ten, same, changed, x] {
        assert!(present.contains(&rows[i][regno]), "{} in school", &rows[i][regno]);
    }
    let list = by_regno(
        &wh,
        "SELECT registration_no, issue_code, issue, age, months_since_enrolment FROM list_registration_numbers",
    )
    .await;
    let l = &list[&l_number];
    assert_eq!((l[1].as_str(), l[3].as_str()), ("L", "10"), "{l:?}");
    let (y, m): (i64, i64) = (
        rows[ten][enrol][..4].parse().unwrap(),
        rows[ten][enrol][4..].parse().unwrap(),
    );
    assert_eq!(
        l[4],
        (2026 * 12 + 10 - (y * 12 + m)).to_string(),
        "months since 入学年月"
    );
    assert!(!list.contains_key(&rows[same][regno]), "G + the ID number: not listed");
    assert!(!list.contains_key(&rows[x][regno]), "x and X are one ID number");
    let g = &list[&old_g];
    assert_eq!(g[1], "G", "{g:?}");
    assert!(g[2].contains("不一致"), "{g:?}");
    let j_in_school: BTreeSet<&String> = present.iter().filter(|r| r.starts_with('J')).collect();
    let j_listed: BTreeSet<&String> = list
        .iter()
        .filter(|(_, v)| v[1].starts_with('J'))
        .map(|(k, _)| k)
        .collect();
    assert!(!j_in_school.is_empty(), "the sample has J numbers");
    assert_eq!(j_listed, j_in_school, "every J number in school, as a J number");

    // The school's counts: its pupils in school and its L numbers.
    let school = &rows[ten][school_id];
    assert_eq!(
        one(
            &wh,
            &format!("SELECT SUM(pupils), SUM(l_numbers) FROM stats_registration_numbers WHERE school_id = '{school}'")
        )
        .await,
        one(
            &wh,
            &format!(
                "SELECT COUNT(*), SUM(CASE WHEN registration_no LIKE 'L%' THEN 1 ELSE 0 END) FROM student_status \
                 WHERE in_school AND school_id = '{school}'"
            )
        )
        .await
    );

    // No column of the list holds a pupil's ID number (a listed G number is not the ID number
    // by definition; it is masked when printed, being a former one), nor does the county's report.
    assert_no_id_columns("list_registration_numbers");
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r[id].to_uppercase())
        .filter(|v| v.len() == 18)
        .collect();
    assert!(ids.contains(&new_id));
    for line in dump(&wh, "SELECT * FROM list_registration_numbers", None).await {
        let line = line.to_uppercase();
        assert!(!ids.iter().any(|i| line.contains(i.as_str())), "{line}");
    }
    let page = render_html(&wh, &tmp.path().join("reports"), "registration_numbers", "学籍号监测").await;
    for r in list.keys() {
        assert!(!page.contains(r.as_str()), "{r} is not printed in full");
        assert!(page.contains(&xueji::udf::mask_id(r)), "{r} is printed masked");
    }
    let upper = page.to_uppercase();
    assert!(
        !ids.iter().any(|i| upper.contains(i.as_str())),
        "no ID number in the report"
    );
}

/// Seed 001 第15章: "特教学生选择列表默认显示本学校未维护特教信息的残疾学生" — a pupil the record calls
/// disabled (健康状况 残疾, or a 残疾类型) whose special-education items of the template (残疾类型,
/// 随班就读) are missing is listed, one with both filled in is not, nor a pupil without disability.
/// reference/TEMPLATE_FIELDS.md §2.8: "非随班就读 ↔ 无残疾" — in an ordinary school, a disabled pupil
/// written 非随班就读 has no placement either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_pupils_without_their_special_education_items_are_listed_and_no_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, mut rows) = county(COUNTY);
    let (regno, id, health, kind, class) = (
        col(&h, "学籍号"),
        col(&h, "身份证件号"),
        col(&h, "健康状况"),
        col(&h, "残疾类型"),
        col(&h, "随班就读"),
    );
    let plain = plain_rows(&h, &rows);
    // 健康状况, 残疾类型, 随班就读, and what the list says is missing (None: not listed).
    let cases: [(&str, &str, &str, Option<&str>); 6] = [
        ("残疾", "视力残疾", "视力残疾随班就读", None),
        ("残疾", "肢体残疾", "", Some("随班就读未填")),
        ("残疾", "", "其他残疾随班就读", Some("残疾类型未填")),
        (
            "健康或良好",
            "听力残疾",
            "非随班就读",
            Some("普通学校残疾学生填为非随班就读"),
        ),
        (
            "残疾",
            "无残疾",
            "",
            Some("健康状况为残疾，残疾类型为无残疾；随班就读未填"),
        ),
        ("健康或良好", "无残疾", "", None),
    ];
    for (k, (hs, dt, ic, _)) in cases.iter().enumerate() {
        let i = plain[k];
        let r = with(&with(&with(&rows[i], health, hs), kind, dt), class, ic);
        rows[i] = r;
    }
    let file = write_csv(&tmp.path().join(format!("a/{COUNTY}.csv")), &h, &rows);
    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, vec![samples().join("schools.csv"), file], 2).await;
    run_models(&wh).await;

    let present = in_school(&wh).await;
    let list = by_regno(
        &wh,
        "SELECT registration_no, missing, health_status, disability_type, inclusive_class FROM list_disability_info_missing",
    )
    .await;
    for (k, (.., want)) in cases.iter().enumerate() {
        let r = &rows[plain[k]][regno];
        assert!(present.contains(r), "case {k}: {r} in school");
        match want {
            Some(m) => assert_eq!(list.get(r).map(|v| v[1].as_str()), Some(*m), "case {k}"),
            None => assert!(!list.contains_key(r), "case {k}: {:?}", list.get(r)),
        }
    }

    // The mart keeps the 学籍号 in full (G + the ID number, as every mart does); the county's report
    // prints it masked, and no ID number.
    assert_no_id_columns("list_disability_info_missing");
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r[id].to_uppercase())
        .filter(|v| v.len() == 18)
        .collect();
    let page = render_html(
        &wh,
        &tmp.path().join("reports"),
        "disability_info_missing",
        "残疾学生特殊教育信息缺项名单",
    )
    .await;
    for r in list.keys() {
        assert!(!page.contains(r.as_str()), "{r} is not printed in full");
        assert!(page.contains(&xueji::udf::mask_id(r)), "{r} is printed masked");
    }
    let upper = page.to_uppercase();
    assert!(
        !ids.iter().any(|i| upper.contains(i.as_str())),
        "no ID number in the report"
    );
}

//! The seeds' rules end to end, on hand-made changes of the committed sample's rows: each test
//! quotes the seed line it encodes and checks what a statistician would read in the marts.

use crate::common::*;

/// Seed 000, 第三篇 12: "无论学生如何转学,学生的入学年月的规则为:小学从小学一年级算起" — a pupil who
/// repeated a year keeps 入学年月 and sits in a class of the next cohort: accepted with a warning,
/// counted in the class's grade.
/// Seed 000, 第三篇 10: "外国学生的“户口性质”填写“非农业户口”" — a foreign pupil is never a
/// 进城务工人员随迁子女, even with 农业户口 written by mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_who_repeated_a_year_counts_in_the_class_grade_and_a_foreign_pupil_is_never_a_migrant_child() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, enrol, nationality) = (col(&h, "学籍号"), col(&h, "入学年月"), col(&h, "国籍/地区"));
    let original = write_csv(&tmp.path().join("a/341023.csv"), &h, &rows);
    let wh = tmp.path().join("wh");
    let first = ingest(&wh, NIGHT1, vec![samples().join("schools.csv"), original], 2).await;
    run_models(&wh).await;
    let migrants = dump(
        &wh,
        "SELECT registration_no FROM student_status WHERE migrant_derived AND grade >= 2 ORDER BY 1 LIMIT 2",
        None,
    )
    .await;
    let (repeater, foreigner) = (migrants[1].clone(), migrants[2].clone());
    let grade = column_of(&wh, "student_status", "grade", &repeater).await;
    assert_eq!(
        column_of(&wh, "student_status", "migrant_derived", &foreigner).await,
        "true"
    );

    let changed: Vec<csv::StringRecord> = rows
        .iter()
        .map(|r| {
            if r[regno] == repeater {
                // 留级: 入学年月 a year before the class's cohort.
                let y: i32 = r[enrol][..4].parse().unwrap();
                with(r, enrol, &format!("{}{}", y - 1, &r[enrol][4..]))
            } else if r[regno] == foreigner {
                with(r, nationality, "美国")
            } else {
                r.clone()
            }
        })
        .collect();
    let night2 = write_csv(&tmp.path().join("b/341023.csv"), &h, &changed);
    let out = ingest(&wh, "2026-10-16", vec![samples().join("schools.csv"), night2], 2).await;
    // The sample's planted format errors are turned away again; nobody else.
    assert_eq!(out.metrics.rejected, first.metrics.rejected, "nobody more turned away");
    run_models(&wh).await;
    assert_eq!(
        column_of(&wh, "student_status", "grade", &repeater).await,
        grade,
        "the class's grade"
    );
    assert_eq!(column_of(&wh, "student_status", "status", &repeater).await, "在校");
    assert_eq!(
        column_of(&wh, "student_status", "migrant_derived", &foreigner).await,
        "false"
    );
    let warned = dump(
        &wh,
        "SELECT rule_code FROM rejects WHERE snapshot_date = DATE '2026-10-16' AND severity = '警告'",
        None,
    )
    .await;
    assert!(warned.contains(&"W_CLASS_YEAR".to_string()), "{warned:?}");
    assert!(warned.contains(&"W_FOREIGN_HUKOU".to_string()), "{warned:?}");
    // A migrant child's 户口所在地 is another county's: not the school's area, as a foreign
    // pupil's should be (seed 000 第三篇 10).
    assert!(warned.contains(&"W_FOREIGN_HUKOU_PLACE".to_string()), "{warned:?}");
}

/// Seed 000, 第三篇 12: "无论学生如何转学,学生的入学年月的规则为:小学从小学一年级算起" — after a
/// 跳级, or a 休学 and its 复学, the pupil keeps 入学年月 and sits in another cohort's class. The
/// warning W_CLASS_YEAR is for the mismatches nothing explains: an approved movement on record
/// (an earlier night) or in tonight's files silences it; a pending one does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_of_another_cohort_is_not_warned_when_an_approved_movement_explains_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, enrol, school, name) = (
        col(&h, "学籍号"),
        col(&h, "入学年月"),
        col(&h, "学校标识码"),
        col(&h, "姓名"),
    );
    let wh = tmp.path().join("wh");
    let schools = samples().join("schools.csv");
    let n1 = write_csv(&tmp.path().join("n1/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools.clone(), n1], 2).await;
    run_models(&wh).await;
    let picked = dump(
        &wh,
        "SELECT registration_no FROM student_status WHERE stage = 1 AND grade >= 3 AND status = '在校'
         ORDER BY registration_no LIMIT 4",
        None,
    )
    .await;
    let [returned, skipped, unexplained, pending] = [1, 2, 3, 4].map(|i| picked[i].clone());
    let row = |who: &str| rows.iter().find(|r| &r[regno] == who).unwrap().clone();
    let movement = |id: &str, who: &str, kind: &str, applied: &str, status: &str| {
        let r = row(who);
        school_movement(SchoolMovement {
            id,
            regno: who,
            name: &r[name],
            kind,
            school: &r[school],
            day: applied,
            approved: status == "审核通过",
        })
    };
    // Night 2 puts a 休学 and its 复学 on record; night 3 brings a 跳级 approved and one still
    // waiting (its file no longer lists the earlier movements: the warehouse has them).
    let on_record = write_csv(
        &tmp.path().join("n2/movements.csv"),
        &header_of("movements"),
        &[
            movement("YD202600900001", &returned, "休学", "20250310", "审核通过"),
            movement("YD202600900002", &returned, "复学", "20250905", "审核通过"),
        ],
    );
    let n2 = write_csv(&tmp.path().join("n2/341023.csv"), &h, &rows);
    ingest(&wh, "2026-10-16", vec![schools.clone(), on_record, n2], 2).await;
    let moved: Vec<csv::StringRecord> = rows
        .iter()
        .map(|r| {
            if picked[1..].contains(&r[regno].to_string()) {
                // 入学年月 a year before the class's cohort.
                let y: i32 = r[enrol][..4].parse().unwrap();
                with(r, enrol, &format!("{}{}", y - 1, &r[enrol][4..]))
            } else {
                r.clone()
            }
        })
        .collect();
    let tonight = write_csv(
        &tmp.path().join("n3/movements.csv"),
        &header_of("movements"),
        &[
            movement("YD202600900003", &skipped, "跳级", "20261010", "审核通过"),
            movement("YD202600900004", &pending, "跳级", "20261012", "待审核"),
        ],
    );
    let out = ingest(
        &wh,
        "2026-10-17",
        vec![
            schools,
            tonight,
            write_csv(&tmp.path().join("n3/341023.csv"), &h, &moved),
        ],
        2,
    )
    .await;
    assert!(out.reports.iter().all(|r| r.file_error.is_none()), "{:?}", out.reports);
    assert_eq!(out.metrics.explained, 2, "the 休学/复学 pupil and the 跳级 pupil");
    let warned = dump(
        &wh,
        "SELECT split_part(base_key, '|', 2) FROM rejects WHERE snapshot_date = DATE '2026-10-17' AND rule_code = 'W_CLASS_YEAR' ORDER BY 1",
        None,
    )
    .await;
    for who in [&unexplained, &pending] {
        assert!(warned.contains(who), "{who} still warned: {warned:?}");
    }
    for who in [&returned, &skipped] {
        assert!(!warned.contains(who), "{who} explained: {warned:?}");
    }
    // Nobody turned away, and the file's counts agree with the findings kept.
    let file = out.reports.iter().find(|r| r.file.ends_with("341023.csv")).unwrap();
    let kept = dump(
        &wh,
        "SELECT COUNT(*) FROM rejects WHERE snapshot_date = DATE '2026-10-17' AND severity = '警告' AND source_file LIKE '%341023.csv'",
        None,
    )
    .await;
    assert_eq!(kept[1], file.warnings.to_string());
}

/// Seed 004 全国学籍系统常见问题 4: "“一补“是指“对寄宿生的补助”" — a pupil who walks in (走读)
/// with 是否享受一补 = 是 is warned on import and flagged in the 一补 list for review (the national
/// standard's non-boarder share is shown, not paid silently); a boarder's row is not flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_boarder_with_the_boarders_subsidy_is_flagged_for_review() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, mode, yibu, class) = (
        col(&h, "学籍号"),
        col(&h, "就读方式"),
        col(&h, "是否享受一补"),
        col(&h, "班号"),
    );
    let primary = |r: &csv::StringRecord| r[class].chars().nth(4) == Some('1') && r[regno].starts_with('G');
    let walker = rows
        .iter()
        .find(|r| primary(r) && &r[mode] == "走读" && &r[yibu] == "否")
        .unwrap()[regno]
        .to_string();
    let boarder = rows
        .iter()
        .find(|r| primary(r) && &r[mode] == "住校" && &r[yibu] == "否")
        .unwrap()[regno]
        .to_string();
    let changed: Vec<csv::StringRecord> = rows
        .iter()
        .map(|r| {
            if r[regno] == walker || r[regno] == boarder {
                with(r, yibu, "是")
            } else {
                r.clone()
            }
        })
        .collect();
    let wh = tmp.path().join("wh");
    let file = write_csv(&tmp.path().join("a/341023.csv"), &h, &changed);
    ingest(&wh, NIGHT1, vec![samples().join("schools.csv"), file], 2).await;
    run_models(&wh).await;
    let warned = dump(
        &wh,
        "SELECT split_part(base_key, '|', 2) FROM rejects WHERE rule_code = 'W_YIBU_NONBOARDER'",
        None,
    )
    .await;
    assert!(warned.contains(&walker) && !warned.contains(&boarder), "{warned:?}");
    let row = |who: &str| {
        let wh = wh.clone();
        let sql = format!(
            "SELECT boarder, amount_yuan_per_year, needs_review, review_note IS NOT NULL FROM list_yibu WHERE registration_no = '{who}'"
        );
        async move { dump(&wh, &sql, None).await }
    };
    assert_eq!(
        row(&walker).await[1..],
        ["false,625.0,true,true"],
        "half the 小学 standard, flagged"
    );
    assert_eq!(row(&boarder).await[1..], ["true,1250.0,false,false"]);
}

/// A file refused part-way (a byte that is not UTF-8 far down a UTF-8 CSV) keeps no counts: the
/// class-year warnings it staged before breaking are neither explained nor taken off its (zero)
/// count — the night goes on, the file is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_refused_part_way_keeps_its_explained_warnings_out_of_the_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, enrol, school, name) = (
        col(&h, "学籍号"),
        col(&h, "入学年月"),
        col(&h, "学校标识码"),
        col(&h, "姓名"),
    );
    let wh = tmp.path().join("wh");
    let schools = samples().join("schools.csv");
    let who = rows
        .iter()
        .find(|r| r[col(&h, "班号")].chars().nth(4) == Some('1'))
        .unwrap()
        .clone();
    let back = |id: &str, kind: &str, day: &str| {
        school_movement(SchoolMovement {
            id,
            regno: &who[regno],
            name: &who[name],
            kind,
            school: &who[school],
            day,
            approved: true,
        })
    };
    let moves = write_csv(
        &tmp.path().join("n1/movements.csv"),
        &header_of("movements"),
        &[
            back("YD202600910001", "休学", "20250310"),
            back("YD202600910002", "复学", "20250905"),
        ],
    );
    let n1 = write_csv(&tmp.path().join("n1/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools.clone(), moves, n1], 2).await;
    // The pupil first, in a class of another cohort; then the rest, and a broken byte at the end.
    let y: i32 = who[enrol][..4].parse().unwrap();
    let mut night: Vec<csv::StringRecord> = vec![with(&who, enrol, &format!("{}{}", y - 1, &who[enrol][4..]))];
    night.extend(rows.iter().filter(|r| r[regno] != who[regno]).cloned());
    let path = write_csv(&tmp.path().join("n2/341023.csv"), &h, &night);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 256 << 10, "the break is past the encoding sniff");
    bytes.extend_from_slice(b"\xff\xfe broken\n");
    std::fs::write(&path, bytes).unwrap();
    let out = ingest(&wh, "2026-10-16", vec![schools, path], 2).await;
    let file = out.reports.iter().find(|r| r.file.ends_with("341023.csv")).unwrap();
    assert!(file.file_error.is_some(), "{file:?}");
    assert_eq!((file.warnings, out.metrics.explained), (0, 0));
}

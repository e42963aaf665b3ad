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
}

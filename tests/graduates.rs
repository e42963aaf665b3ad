//! Graduation (毕业) and 学制 end to end, on hand-made changes of the committed sample's rows:
//! graduates a school still lists, graduates it stops listing, 五四学制, and the movement rules
//! of the graduation season.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

const JUNIOR: &str = "2341023002";
const PRIMARY: &str = "2341023001";

/// The sample's schools, the `five_four` ones 五四制 and the rest 六三制.
fn schools_with_system(path: &Path, five_four: &[&str]) -> std::path::PathBuf {
    let mut r = csv::Reader::from_path(samples().join("schools.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let k = col(&h, "学制");
    let rows: Vec<csv::StringRecord> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            // The primary school writes an accepted spelling (alias) of 五四制.
            let v = match &x[0] {
                id if !five_four.contains(&id) => "六三制",
                PRIMARY => "五四学制",
                _ => "五四制",
            };
            with(&x, k, v)
        })
        .collect();
    write_csv(path, &h, &rows)
}

/// Sorted 学籍号 of `rows` of `school` whose 班号 starts with `cohort_stage` (e.g. "20242").
fn regnos(h: &csv::StringRecord, rows: &[csv::StringRecord], school: &str, cohort_stage: &str) -> Vec<String> {
    let (sc, class, regno) = (col(h, "学校标识码"), col(h, "班号"), col(h, "学籍号"));
    let mut v: Vec<String> = rows
        .iter()
        .filter(|r| &r[sc] == school && r[class].starts_with(cohort_stage))
        .map(|r| r[regno].to_string())
        .collect();
    v.sort();
    v
}

/// Seed 004 (学籍管理中的特殊问题): "学生学籍已经处于毕业状态…处于毕业状态者,由县级学籍管理部门在网上做毕业驳回"
/// — a graduate's registration stays, as 毕业. Seed 004 (常见问题解答目录): "针对实行五四学制的省市" — under
/// 五四学制 初中 has four grades and 小学 five. The school's 学制 decides: the same pupils of the
/// 2023 junior cohort are graduates of a 六三制 school and in 初中四年级 of a 五四制 one, and the
/// 2021 primary cohort (小学六年级 under 六三制) graduated in 2026 under 五四制.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_school_system_decides_who_has_graduated() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (class, enrol) = (col(&h, "班号"), col(&h, "入学年月"));
    // Five pupils of the 2024 junior cohort moved to a 2023 class (as a school's older class).
    let moved: Vec<String> = regnos(&h, &rows, JUNIOR, "20242").into_iter().take(5).collect();
    let regno = col(&h, "学籍号");
    let changed: Vec<csv::StringRecord> = rows
        .iter()
        .map(|r| {
            if moved.contains(&r[regno].to_string()) {
                let r = with(r, class, &format!("2023{}", &r[class][4..]));
                with(&r, enrol, "202309")
            } else {
                r.clone()
            }
        })
        .collect();
    let students = write_csv(&tmp.path().join("s/341023.csv"), &h, &changed);
    let wh = tmp.path().join("wh");
    let six_three = schools_with_system(&tmp.path().join("a/schools.csv"), &[]);
    let first = ingest(&wh, NIGHT1, vec![six_three, students.clone()], 2).await;
    run_models(&wh).await;
    // Each moved pupil is in the warehouse (`column_of` finds exactly one row): not refused.
    for r in &moved {
        assert_eq!(column_of(&wh, "student_status", "status", r).await, "毕业");
        assert_eq!(column_of(&wh, "student_status", "status_since", r).await, "2026-07-01");
        assert_eq!(column_of(&wh, "list_graduates", "source", r).await, "学校仍在报送");
        assert_eq!(column_of(&wh, "list_graduates", "graduation_year", r).await, "2026");
    }
    // The school's 2021 class as the warehouse holds it (the sample's planted errors aside).
    let primary6: Vec<String> = dump(
        &wh,
        &format!(
            "SELECT registration_no FROM student_status WHERE school_id = '{PRIMARY}' AND class_code LIKE '20211%'
             GROUP BY 1 HAVING COUNT(*) = 1"
        ),
        None,
    )
    .await[1..]
        .to_vec();
    assert!(primary6.len() >= 5, "{primary6:?}");
    assert_eq!(
        column_of(&wh, "student_status", "grade_label", &primary6[0]).await,
        "小学六年级"
    );
    assert_eq!(
        column_of(&wh, "student_status", "graduating", &primary6[0]).await,
        "true"
    );

    // The next night the county says both schools run 五四制.
    let five_four = schools_with_system(&tmp.path().join("b/schools.csv"), &[JUNIOR, PRIMARY]);
    let second = ingest(&wh, "2026-10-16", vec![five_four, students], 2).await;
    assert_eq!(
        second.metrics.rejected, first.metrics.rejected,
        "nobody more turned away"
    );
    run_models(&wh).await;
    for r in &moved {
        assert_eq!(column_of(&wh, "student_status", "status", r).await, "在校");
        assert_eq!(column_of(&wh, "student_status", "grade_label", r).await, "初中四年级");
        assert_eq!(column_of(&wh, "student_status", "graduating", r).await, "true");
    }
    for r in &primary6 {
        assert_eq!(column_of(&wh, "student_status", "status", r).await, "毕业");
        assert_eq!(column_of(&wh, "list_graduates", "graduation_year", r).await, "2026");
    }
    // The in-school roster follows: the 五四制 junior school's fourth grade is on it.
    let on_roster = dump(
        &wh,
        &format!(
            "SELECT COUNT(*) FROM list_roster WHERE registration_no IN ({})",
            moved.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(", ")
        ),
        None,
    )
    .await;
    assert_eq!(on_roster[1], "5");
}

/// A school that stops listing its graduates after graduation keeps them (seed 004: a graduate's
/// registration stays, "处于毕业状态"), and their going is not a mass deletion held for
/// confirmation; a pupil dropped before the graduation date has left, not graduated.
/// Seed 003: "为办理毕业、毕业、升级,学籍系统将于每年7月15日0:00至8月14日24:00暂停开通转学业务" and
/// "毕业后跨省留学新业务上线时间限于8月15日0:00至12月14日24:00、3月1日0:00至5月31日24:00" — a graduate's
/// transfer to another province applied for on 7月20日 is flagged, one on 8月20日 is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graduates_a_school_stops_listing_are_kept_and_the_season_rules_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let regno = col(&h, "学籍号");
    let graduating = regnos(&h, &rows, JUNIOR, "20242");
    assert!(graduating.len() >= 20, "{}", graduating.len());
    let name_of = |r: &str| {
        rows.iter()
            .find(|x| &x[regno] == r)
            .map(|x| x[col(&h, "姓名")].to_string())
            .unwrap()
    };
    let without = |gone: &[String]| -> Vec<csv::StringRecord> {
        rows.iter()
            .filter(|r| !gone.contains(&r[regno].to_string()))
            .cloned()
            .collect()
    };
    let wh = tmp.path().join("wh");
    let schools = samples().join("schools.csv");
    let n1 = write_csv(&tmp.path().join("n1/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools.clone(), n1], 2).await;

    // 2027-06-20, before graduation: one graduating pupil leaves without a movement, another
    // has a 休学 still awaiting the bureau.
    let (left, pending) = (&graduating[0], &graduating[1]);
    let m3 = row_of(
        "movements",
        &[
            ("异动编号", "YD202700000003"),
            ("学籍号", pending),
            ("姓名", &name_of(pending)),
            ("异动类型", "休学"),
            ("原学校标识码", JUNIOR),
            ("申请日期", "20270610"),
            ("异动原因", "因病"),
            ("审核1单位", "学校"),
            ("审核1意见", "同意"),
            ("审核1时间", "20270611"),
            ("当前处理单位", "主管教育局"),
            ("审核状态", "待审核"),
        ],
    );
    let n2 = write_csv(
        &tmp.path().join("n2/341023.csv"),
        &h,
        &without(std::slice::from_ref(left)),
    );
    let mv2 = write_csv(
        &tmp.path().join("n2/movements.csv"),
        &header_of("movements"),
        std::slice::from_ref(&m3),
    );
    ingest(&wh, "2027-06-20", vec![schools.clone(), n2, mv2], 2).await;
    run_models(&wh).await;
    let v7 = dump(
        &wh,
        "SELECT registration_no, kind_code FROM list_movement_violations WHERE kind_code = 'V7'",
        None,
    )
    .await;
    assert_eq!(v7[1..], [format!("{pending},V7")], "在办业务清理 before graduation");

    // 2027-09-10: the school no longer lists its 2027 graduates; two of them apply to schools in
    // another province (湖北 420103), on 7月20日 and on 8月20日.
    let transfer = |id: &str, who: &str, applied: &str, step: &str, to: &str| {
        row_of(
            "movements",
            &[
                ("异动编号", id),
                ("学籍号", who),
                ("姓名", &name_of(who)),
                ("异动类型", "转学"),
                ("原学校标识码", JUNIOR),
                ("转入学校标识码", to),
                ("申请日期", applied),
                ("异动原因", "随父母工作调动"),
                ("审核1单位", "转入学校"),
                ("审核1意见", "同意"),
                ("审核1时间", step),
                ("当前处理单位", "转入教育局"),
                ("审核状态", "待审核"),
            ],
        )
    };
    let (g1, g2, g3) = (&graduating[2], &graduating[3], &graduating[4]);
    // g5 took a 休学 in March and came back (复学) in May: a graduate all the same.
    let g5 = &graduating[5];
    let approved = |id: &str, kind: &str, day: &str| {
        school_movement(SchoolMovement {
            id,
            regno: g5,
            name: &name_of(g5),
            kind,
            school: JUNIOR,
            day,
            approved: true,
        })
    };
    // g3's receiving school is in no school master of this (province's) warehouse: another province.
    let moves = vec![
        m3.clone(),
        transfer("YD202700000001", g1, "20270720", "20270721", "2420103003"),
        transfer("YD202700000002", g2, "20270820", "20270821", "2420103003"),
        transfer("YD202700000004", g3, "20270720", "20270721", "2510104001"),
        approved("YD202700000005", "休学", "20270301"),
        approved("YD202700000006", "复学", "20270506"),
    ];
    let n3 = write_csv(&tmp.path().join("n3/341023.csv"), &h, &without(&graduating));
    let mv3 = write_csv(&tmp.path().join("n3/movements.csv"), &header_of("movements"), &moves);
    let out = ingest(&wh, "2027-09-10", vec![schools, n3, mv3], 2).await;
    assert!(
        out.commit.held_deletions.is_empty(),
        "graduates leaving are not held: {:?}",
        out.commit.held_deletions
    );
    run_models(&wh).await;

    let listed: BTreeSet<String> = dump(
        &wh,
        &format!("SELECT registration_no FROM list_graduates WHERE school_id = '{JUNIOR}' AND source = '学校已不再报送' AND graduation_year = 2027"),
        None,
    )
    .await[1..]
        .iter()
        .cloned()
        .collect();
    let want: BTreeSet<String> = graduating[1..].iter().cloned().collect();
    assert_eq!(listed, want, "every graduate but the pupil who left in June");
    assert!(listed.contains(g5), "back from 休学 before graduating");
    // The 休学 applied for in June is still 待审核 after graduation: still to clear (V7).
    let v7 = dump(
        &wh,
        "SELECT registration_no FROM list_movement_violations WHERE kind_code = 'V7'",
        None,
    )
    .await;
    assert_eq!(v7[1..], [pending.to_string()], "在办业务清理 after graduation too");
    assert_eq!(column_of(&wh, "list_graduates", "last_seen", g1).await, "2027-09-10");
    // The primary school still lists its 2027 graduates: 毕业, from tonight's rows.
    let primary6 = dump(
        &wh,
        &format!("SELECT registration_no FROM student_status WHERE school_id = '{PRIMARY}' AND class_code LIKE '20211%' AND status = '毕业'"),
        None,
    )
    .await;
    assert!(primary6.len() > 5, "{primary6:?}");
    let primary6 = &primary6[1..];
    assert_eq!(
        column_of(&wh, "list_graduates", "source", &primary6[0]).await,
        "学校仍在报送"
    );
    assert_eq!(column_of(&wh, "student_status", "status", &primary6[0]).await, "毕业");

    let kinds = |who: &str| {
        let wh = wh.clone();
        let who = who.to_string();
        async move {
            dump(
                &wh,
                &format!(
                    "SELECT kind_code FROM list_movement_violations
                     WHERE registration_no = '{who}' AND movement_type = '转学' AND kind_code <> 'V3'"
                ),
                None,
            )
            .await
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        kinds(g1).await,
        ["V1", "V5", "V6"],
        "in the freeze, the pause and outside the window"
    );
    assert_eq!(kinds(g2).await, Vec::<String>::new(), "inside the 8/15–12/14 window");
    assert_eq!(
        kinds(g3).await,
        ["V1", "V5", "V6"],
        "to a school outside the province's master"
    );
}

/// Seed 004 (常见问题解答目录): "针对实行五四学制的省市" — a 五四制 junior school has four grades, so its
/// 2024 cohort is in 初中四年级 in the autumn of 2027, not graduated. A school that stops listing
/// that cohort then is losing pupils, and the deletion guard holds it for confirmation (the same
/// rows of a 六三制 school are graduates, and pass: see the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_four_schools_fourth_junior_grade_vanishing_is_held() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let regno = col(&h, "学籍号");
    let cohort = regnos(&h, &rows, JUNIOR, "20242");
    let wh = tmp.path().join("wh");
    let schools = schools_with_system(&tmp.path().join("schools.csv"), &[JUNIOR]);
    let n1 = write_csv(&tmp.path().join("n1/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools.clone(), n1], 2).await;
    let left: Vec<csv::StringRecord> = rows
        .iter()
        .filter(|r| !cohort.contains(&r[regno].to_string()))
        .cloned()
        .collect();
    let n2 = write_csv(&tmp.path().join("n2/341023.csv"), &h, &left);
    let out = ingest(&wh, "2027-09-10", vec![schools, n2], 2).await;
    let held: Vec<&str> = out.commit.held_deletions.iter().map(|d| d.school_id.as_str()).collect();
    assert_eq!(held, [JUNIOR], "{:?}", out.commit.held_deletions);
}

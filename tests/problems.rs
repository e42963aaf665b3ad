//! Problem registrations (问题学籍) as the seeds decide them, on hand-made rows: a transfer under
//! way is not a problem, the responsible unit follows the schools' 学籍主管教育行政部门, and
//! 先入者保有.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The county file with a copy of the first accepted-looking row of `from` registered again at
/// `to` under another 学籍号 (the same ID number: a kind-1 group of two). Returns the file, the
/// copied pupil's 学籍号 at `from` and the new one.
fn registered_twice(
    dir: &Path,
    county_code: &str,
    from: &str,
    to: &str,
    stage_digit: char,
) -> (PathBuf, String, String) {
    let (h, rows) = county(county_code);
    let (sc, regno, id, class) = (
        col(&h, "学校标识码"),
        col(&h, "学籍号"),
        col(&h, "身份证件号"),
        col(&h, "班号"),
    );
    let ids: Vec<&str> = rows.iter().map(|r| &r[id]).collect();
    let original = rows
        .iter()
        .find(|r| {
            &r[sc] == from
                && r[regno].starts_with('G')
                && r[class].chars().nth(4) == Some(stage_digit)
                && ids.iter().filter(|x| **x == &r[id]).count() == 1
        })
        .unwrap()
        .clone();
    let new_regno = format!("L{}", &original[regno][1..]);
    let copy = with(&with(&original, sc, to), regno, &new_regno);
    let mut all = rows.clone();
    all.push(copy);
    let path = write_csv(&dir.join(format!("{county_code}.csv")), &h, &all);
    (path, original[regno].to_string(), new_regno)
}

async fn member_state(wh: &Path, regno: &str) -> Vec<String> {
    dump(
        wh,
        &format!(
            "SELECT m.decision_state, g.status, g.responsible_level, g.responsible_unit, m.handled_as_no_id
             FROM dedup_members m JOIN dedup_groups g ON g.group_id = m.group_id
             WHERE m.registration_no = '{regno}' AND m.kind = 1"
        ),
        None,
    )
    .await
}

/// A pupil the receiving school has registered while the transfer is still being approved is on
/// two schools' lists with one ID: that is the transfer (seed 000 第二篇: "转入学校获得其他三方同意
/// 信息后,通知学生报到入学"), not a 问题学籍 to handle. Without the movement it is 待处理.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_under_way_between_the_two_schools_is_not_a_problem_to_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let (students, from_regno, _) = registered_twice(&tmp.path().join("s"), "341023", "2341023001", "2341023004", '1');
    let wh = tmp.path().join("wh");
    let schools = samples().join("schools.csv");
    ingest(&wh, NIGHT1, vec![schools.clone(), students.clone()], 2).await;
    run_models(&wh).await;
    let before = member_state(&wh, &from_regno).await;
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before[1].starts_with("待处理,待处理,"), "{before:?}");

    let moves = file_of(
        &tmp.path().join("m/movements.csv"),
        "movements",
        &[vec![
            ("异动编号", "YD202600900001"),
            ("学籍号", &from_regno),
            ("姓名", "某"),
            ("异动类型", "转学"),
            ("原学校标识码", "2341023001"),
            ("转入学校标识码", "2341023004"),
            ("申请日期", "20261010"),
            ("异动原因", "随父母工作调动"),
            ("审核1单位", "转入学校"),
            ("审核1意见", "同意"),
            ("审核1时间", "20261011"),
            ("当前处理单位", "转出学校"),
            ("审核状态", "待审核"),
        ]],
    );
    ingest(&wh, "2026-10-16", vec![schools.clone(), students.clone(), moves], 2).await;
    run_models(&wh).await;
    let after = member_state(&wh, &from_regno).await;
    assert!(after[1].starts_with("转学在办,转学在办,"), "{after:?}");

    // Approved: under way while the sending school's files catch up (a month), not for ever.
    let approved = |day: &str, applied: &str, steps: [&str; 3], effective: &str| {
        let night = tmp.path().join(format!("{day}/movements.csv"));
        let row = vec![
            ("异动编号", "YD202600900001"),
            ("学籍号", from_regno.as_str()),
            ("姓名", "某"),
            ("异动类型", "转学"),
            ("原学校标识码", "2341023001"),
            ("转入学校标识码", "2341023004"),
            ("申请日期", applied),
            ("异动日期", effective),
            ("异动原因", "随父母工作调动"),
            ("审核1单位", "转入学校"),
            ("审核1意见", "同意"),
            ("审核1时间", steps[0]),
            ("审核2单位", "转出学校"),
            ("审核2意见", "同意"),
            ("审核2时间", steps[1]),
            ("审核3单位", "主管教育局"),
            ("审核3意见", "同意"),
            ("审核3时间", steps[2]),
            ("审核状态", "审核通过"),
        ];
        file_of(&night, "movements", &[row])
    };
    let recent = approved("a", "20261010", ["20261011", "20261012", "20261013"], "20261014");
    ingest(&wh, "2026-10-17", vec![schools.clone(), students.clone(), recent], 2).await;
    run_models(&wh).await;
    let got = member_state(&wh, &from_regno).await;
    assert!(
        got[1].starts_with("转学在办,转学在办,"),
        "approved four days ago: {got:?}"
    );
    let old = approved("b", "20250901", ["20250902", "20250903", "20250904"], "20250905");
    ingest(&wh, "2026-10-18", vec![schools, students, old], 2).await;
    run_models(&wh).await;
    let got = member_state(&wh, &from_regno).await;
    assert!(got[1].starts_with("待处理,待处理,"), "approved a year ago: {got:?}");
}

/// The responsible unit is the lowest common superior of the schools' 学籍主管教育行政部门 (seed
/// 004: "两校在同一县域的,向县级教育行政部门反映;在同一地市两个县域的,向地市级教育行政部门反映"): a pupil
/// registered twice in a senior high school the city runs (主管教育行政部门 341000) goes to the
/// city, though the school stands in county 341023.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_run_schools_problem_goes_to_the_city() {
    let tmp = tempfile::tempdir().unwrap();
    let (students, from_regno, _) = registered_twice(&tmp.path().join("s"), "341023", "2341023003", "2341023003", '3');
    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, vec![samples().join("schools.csv"), students], 2).await;
    run_models(&wh).await;
    let got = member_state(&wh, &from_regno).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[1].contains(",地市,341000,"), "{got:?}");
}

/// Seed 002: "若因公安户籍部门造成学生身份证号重复,按“先入者保有”原则,后入者按暂无身份号码处理" — when both
/// schools' 佐证 are approved (two real pupils with one number), the later registration is
/// handled as a pupil without an ID number; the first keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_of_two_attested_pupils_is_handled_as_without_an_id_number() {
    let tmp = tempfile::tempdir().unwrap();
    let (first_file, first_regno, second_regno) =
        registered_twice(&tmp.path().join("s"), "341023", "2341023001", "2341023004", '1');
    let wh = tmp.path().join("wh");
    let schools = samples().join("schools.csv");
    // The copy first appears a night later: the original is the first registered.
    let (h, rows) = county("341023");
    let plain = write_csv(&tmp.path().join("n1/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools.clone(), plain], 2).await;
    ingest(&wh, "2026-10-16", vec![schools.clone(), first_file.clone()], 2).await;
    let attest = |id: &'static str, school: &'static str, regno: &str| -> Vec<(&'static str, String)> {
        vec![
            ("处理编号", id.into()),
            ("学校标识码", school.into()),
            ("学籍号", regno.into()),
            ("姓名", "某".into()),
            ("问题类别", "身份证件号重复".into()),
            ("处理方式", "佐证".into()),
            ("申请日期", "20261017".into()),
            ("区县审核意见", "同意".into()),
            ("区县审核时间", "20261018".into()),
        ]
    };
    let (a, b) = (
        attest("WT202600900001", "2341023001", &first_regno),
        attest("WT202600900002", "2341023004", &second_regno),
    );
    let decisions = file_of(
        &tmp.path().join("d/dedup_decisions.csv"),
        "dedup_decisions",
        &[
            a.iter().map(|(k, v)| (*k, v.as_str())).collect(),
            b.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        ],
    );
    ingest(&wh, "2026-10-19", vec![schools, first_file.clone(), decisions], 2).await;
    run_models(&wh).await;
    let first = member_state(&wh, &first_regno).await;
    let second = member_state(&wh, &second_regno).await;
    assert!(first[1].ends_with(",false"), "the first keeps the number: {first:?}");
    assert!(second[1].ends_with(",true"), "the later one: {second:?}");

    // A third registration of the number appears; the first is then deleted, and the other two
    // are attested: the ID stays with the earlier of the two claimants left.
    let mut r = csv::Reader::from_path(&first_file).unwrap();
    let h = r.headers().unwrap().clone();
    let mut rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let last = second_regno
        .chars()
        .last()
        .unwrap()
        .to_digit(10)
        .map_or(0, |d| (d + 1) % 10);
    let third_regno = format!("{}{last}", &second_regno[..18]);
    rows.push(with(rows.last().unwrap(), col(&h, "学籍号"), &third_regno));
    let three = write_csv(&tmp.path().join("t/341023.csv"), &h, &rows);
    ingest(&wh, "2026-10-20", vec![samples().join("schools.csv"), three.clone()], 2).await;
    let mut deleted = attest("WT202600900003", "2341023001", &first_regno);
    deleted[5].1 = "删除".into();
    deleted[6].1 = "20261021".into();
    let mut c = attest("WT202600900004", "2341023004", &third_regno);
    c[6].1 = "20261021".into();
    let decisions = file_of(
        &tmp.path().join("d2/dedup_decisions.csv"),
        "dedup_decisions",
        &[&deleted, &b, &c]
            .iter()
            .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
            .collect::<Vec<_>>(),
    );
    ingest(
        &wh,
        "2026-10-22",
        vec![samples().join("schools.csv"), three, decisions],
        2,
    )
    .await;
    run_models(&wh).await;
    let second = member_state(&wh, &second_regno).await;
    let third = member_state(&wh, &third_regno).await;
    assert!(second[1].ends_with(",false"), "now the first claimant: {second:?}");
    assert!(third[1].ends_with(",true"), "the later claimant: {third:?}");
}

/// Seed 002: "第一种情况:同一区县的学校,…学籍主管教育行政部门对学校提交的申请和证明材料进行核办,核办原则
/// 是,只能通过一个,另外一个自动不通过" and "第二种情况:…两个学校学籍主管教育行政部门…都核办通过,则需要两个
/// 学籍主管教育部门的共同上级进行问题学籍的仲裁" — what decides is the schools' 学籍主管教育行政部门,
/// not where they stand: two senior schools in county 341023, one run by the city (341000) and
/// one by the county, each approve their 佐证; neither fails by itself, the city arbitrates. When
/// the city runs both, its second approval fails by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_by_different_authorities_in_one_county_go_to_arbitration() {
    let tmp = tempfile::tempdir().unwrap();
    let (students, city_regno, county_regno) =
        registered_twice(&tmp.path().join("s"), "341023", "2341023003", "2341023005", '3');
    let sample = std::fs::read_to_string(samples().join("schools.csv")).unwrap();
    let senior = sample.lines().find(|l| l.starts_with("2341023003,")).unwrap();
    let run_by = |authority: &str| {
        let second = senior.replacen(
            "2341023003,黟县实验高级中学,341023,341000",
            &format!("2341023005,黟县第二高级中学,341023,{authority}"),
            1,
        );
        let path = tmp.path().join(format!("schools-{authority}/schools.csv"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{}\n{second}\n", sample.trim_end())).unwrap();
        path
    };
    let attest = |id: &str, school: &str, regno: &str, day: &str| {
        vec![
            ("处理编号", id.to_string()),
            ("学校标识码", school.to_string()),
            ("学籍号", regno.to_string()),
            ("姓名", "某".to_string()),
            ("问题类别", "身份证件号重复".to_string()),
            ("处理方式", "佐证".to_string()),
            ("申请日期", "20261013".to_string()),
            ("区县审核意见", "同意".to_string()),
            ("区县审核时间", day.to_string()),
        ]
    };
    let rows = [
        attest("WT202600910001", "2341023003", &city_regno, "20261014"),
        attest("WT202600910002", "2341023005", &county_regno, "20261015"),
    ];
    let refs: Vec<Vec<(&str, &str)>> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let decisions = file_of(&tmp.path().join("d/dedup_decisions.csv"), "dedup_decisions", &refs);
    for (authority, want) in [
        ("341023", ["待上级仲裁", "待上级仲裁"]),
        ("341000", ["已通过", "自动不通过"]),
    ] {
        let wh = tmp.path().join(format!("wh-{authority}"));
        ingest(
            &wh,
            NIGHT1,
            vec![run_by(authority), students.clone(), decisions.clone()],
            2,
        )
        .await;
        run_models(&wh).await;
        let (a, b) = (
            member_state(&wh, &city_regno).await,
            member_state(&wh, &county_regno).await,
        );
        assert!(a[1].starts_with(&format!("{},", want[0])), "{authority}: {a:?} {b:?}");
        assert!(b[1].starts_with(&format!("{},", want[1])), "{authority}: {b:?}");
    }
    // Run by the city and by the county: the common superior, the city, arbitrates.
    let wh = tmp.path().join("wh-341023");
    let a = member_state(&wh, &city_regno).await;
    assert!(a[1].contains(",地市,341000,"), "{a:?}");
}

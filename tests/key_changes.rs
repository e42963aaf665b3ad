//! 关键数据变更 (issue 23; seeds 000 七, 002, 003): changes of 姓名 and 身份证件号 seen between
//! nights, with or without an approved request, on hand-made changes of the committed sample's
//! rows; a changed number checked again by dedup; no full ID number in the list or its report;
//! the generator's requests against their truth.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use calamine::{Reader, Xlsx};
use xueji::render::{self, Format, RenderOptions};
use xueji::udf::mask_id;

use crate::common::*;

const NIGHT2: &str = "2026-10-16";
const NIGHT3: &str = "2026-10-17";

fn schools_csv() -> PathBuf {
    samples().join("schools.csv")
}

fn lines(rows: Vec<String>) -> Vec<Vec<String>> {
    rows.into_iter()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The list as a bureau reads it: school, 学籍号, field, old, new, night seen, 审批情况, request.
async fn key_changes(wh: &Path) -> Vec<Vec<String>> {
    let mut rows = lines(
        dump(
            wh,
            "SELECT school_id, registration_no, field, old_value, new_value, changed_on, approval, request_id
             FROM list_key_changes",
            None,
        )
        .await,
    );
    rows.sort();
    rows
}

/// Pupils with a G 学籍号 and a valid resident ID number that no problem group holds: (school,
/// 学籍号, 姓名, 身份证件号), ordered.
async fn clean_pupils(wh: &Path) -> Vec<Vec<String>> {
    lines(
        dump(
            wh,
            "SELECT s.school_id, s.registration_no, s.name, s.id_number FROM students s
             WHERE s.id_type = '居民身份证' AND length(s.id_number) = 18 AND s.registration_no LIKE 'G%'
               AND id_check(s.id_number, s.gender, s.birth_date, s.as_of_date) IS NULL
               AND NOT EXISTS (SELECT 1 FROM dedup_members m WHERE m.record_key = s.record_key)",
            None,
        )
        .await,
    )
}

/// Every ID number of the warehouse's latest night.
async fn taken_ids(wh: &Path) -> HashSet<String> {
    dump(wh, "SELECT id_number FROM students WHERE id_number IS NOT NULL", None)
        .await
        .into_iter()
        .skip(1)
        .collect()
}

/// A valid resident ID number of the region, birth date and gender of `id` that nobody holds.
fn fresh_id(id: &str, taken: &HashSet<String>) -> String {
    let seq: u32 = id[14..17].parse().unwrap();
    (1..500)
        .map(|k| {
            let first17 = format!("{}{:03}", &id[..14], (seq + 2 * k) % 1000);
            let check = xueji::idcard::check_char(&first17).unwrap();
            format!("{first17}{check}")
        })
        .find(|c| !taken.contains(c))
        .unwrap()
}

/// Another given name after the same first character.
fn new_name(name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    ["晓东", "思远"]
        .iter()
        .map(|g| format!("{first}{g}"))
        .find(|n| n != name)
        .unwrap()
}

/// `rows` with the pupil of 学籍号 `regno` given `value` in column `k`.
fn changed(rows: &[csv::StringRecord], regno: usize, who: &str, k: usize, value: &str) -> Vec<csv::StringRecord> {
    rows.iter()
        .map(|r| if &r[regno] == who { with(r, k, value) } else { r.clone() })
        .collect()
}

/// Seed 002: "“姓名”和“身份证号”是两项关键信息,若需修改,应由学生所在学校学籍管理员在学籍系统内上传相关
/// 证明材料照片,县级学籍主管部门核办后,重新进行全国查重和身份比对。" — a name changed with the bureau's
/// approval is 有审批; an ID number changed with no request at all is 无审批变更, which the county
/// must investigate.
/// Seed 003: "学籍修改的历史信息将与学籍一起永久保留。" — a night later, with nothing new, both changes
/// are still listed on the night they were seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_change_with_an_approved_request_is_approved_and_an_id_change_without_one_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, name, id) = (col(&h, "学籍号"), col(&h, "姓名"), col(&h, "身份证件号"));
    let wh = tmp.path().join("wh");
    let night1 = write_csv(&tmp.path().join("a/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools_csv(), night1], 2).await;
    run_models(&wh).await;
    assert!(key_changes(&wh).await.is_empty(), "one night: nothing has changed");

    let pupils = clean_pupils(&wh).await;
    let (p, q) = (&pupils[0], &pupils[1]);
    let renamed = new_name(&p[2]);
    let new_id = fresh_id(&q[3], &taken_ids(&wh).await);
    let rows2 = changed(&changed(&rows, regno, &p[1], name, &renamed), regno, &q[1], id, &new_id);
    let night2 = write_csv(&tmp.path().join("b/341023.csv"), &h, &rows2);
    let requests = file_of(
        &tmp.path().join("b/key_change_requests.csv"),
        "key_change_requests",
        &[vec![
            ("request_id", "GJ2026000101"),
            ("school_id", p[0].as_str()),
            ("registration_no", p[1].as_str()),
            ("field", "姓名"),
            ("old_value", p[2].as_str()),
            ("new_value", renamed.as_str()),
            ("reason", "户口簿姓名已变更"),
            ("apply_date", "20261008"),
            ("status", "审核通过"),
            ("review_unit", "主管教育局"),
            ("review_date", "20261012"),
        ]],
    );
    ingest(&wh, NIGHT2, vec![schools_csv(), night2.clone(), requests], 2).await;
    assert_eq!(
        dump(
            &wh,
            "SELECT COUNT(*) FROM rejects WHERE table_name = 'key_change_requests'",
            None
        )
        .await[1],
        "0",
        "the request is accepted"
    );
    run_models(&wh).await;
    let mut want = vec![
        vec![
            p[0].clone(),
            p[1].clone(),
            "姓名".into(),
            p[2].clone(),
            renamed.clone(),
            NIGHT2.into(),
            "有审批".into(),
            "GJ2026000101".into(),
        ],
        vec![
            q[0].clone(),
            q[1].clone(),
            "身份证件号".into(),
            mask_id(&q[3]),
            mask_id(&new_id),
            NIGHT2.into(),
            "无审批变更".into(),
            String::new(),
        ],
    ];
    want.sort();
    assert_eq!(key_changes(&wh).await, want);

    // Night 3: the same file again, no request file: the history stays as it was.
    ingest(&wh, NIGHT3, vec![schools_csv(), night2], 2).await;
    run_models(&wh).await;
    assert_eq!(key_changes(&wh).await, want, "the changes of night 2 are kept");
}

/// Seed 000 七: "系统会将该学生变更后的信息再次进行查重。如果该学生变更后的信息和系统中的信息有重复则该
/// 学生会进入问题学籍" — a pupil whose ID number changes to another school's pupil's number forms a
/// 身份证件号重复 group with that pupil the same night: dedup reads today's registrations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_id_number_is_checked_again_and_collides_with_another_schools_pupil() {
    let tmp = tempfile::tempdir().unwrap();
    let (ha, ra) = county("341023");
    let (hb, rb) = county("341226");
    let (regno_a, regno_b, id_a) = (col(&ha, "学籍号"), col(&hb, "学籍号"), col(&ha, "身份证件号"));
    let wh = tmp.path().join("wh");
    let a1 = write_csv(&tmp.path().join("a/341023.csv"), &ha, &ra);
    let b = write_csv(&tmp.path().join("a/341226.csv"), &hb, &rb);
    ingest(&wh, NIGHT1, vec![schools_csv(), a1, b.clone()], 2).await;
    run_models(&wh).await;
    let pupils = clean_pupils(&wh).await;
    let r = pupils
        .iter()
        .find(|p| ra.iter().any(|row| row[regno_a] == p[1]))
        .unwrap();
    let s = pupils
        .iter()
        .find(|p| p[0] != r[0] && rb.iter().any(|row| row[regno_b] == p[1]))
        .unwrap();
    let kind1 = format!(
        "SELECT group_id, registration_no FROM dedup_members WHERE kind = 1 AND registration_no IN ('{}', '{}')",
        r[1], s[1]
    );
    assert!(
        lines(dump(&wh, &kind1, None).await).is_empty(),
        "no duplicate on night 1"
    );

    let a2 = write_csv(
        &tmp.path().join("b/341023.csv"),
        &ha,
        &changed(&ra, regno_a, &r[1], id_a, &s[3]),
    );
    ingest(&wh, NIGHT2, vec![schools_csv(), a2, b], 2).await;
    run_models(&wh).await;
    let group = lines(dump(&wh, &kind1, None).await);
    assert_eq!(group.len(), 2, "both registrations in a kind-1 group: {group:?}");
    assert_eq!(group[0][0], group[1][0], "one group: {group:?}");
    let list = key_changes(&wh).await;
    assert_eq!(
        list,
        vec![vec![
            r[0].clone(),
            r[1].clone(),
            "身份证件号".into(),
            mask_id(&r[3]),
            mask_id(&s[3]),
            NIGHT2.into(),
            "无审批变更".into(),
            String::new(),
        ]]
    );
}

/// A workbook's first sheet, every cell as text.
fn sheet_text(path: &Path) -> String {
    let mut wb: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Seed 004: "学生的学籍信息属于隐私,需要受到保护。" — the list pairs old and new ID numbers: neither
/// is stored in full in the mart, and the county's report shows neither, nor the 学籍号 (G + the
/// old number); the masked forms (the region only) are what it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_change_list_and_its_report_never_show_a_full_id_number() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, id) = (col(&h, "学籍号"), col(&h, "身份证件号"));
    let wh = tmp.path().join("wh");
    let night1 = write_csv(&tmp.path().join("a/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools_csv(), night1], 2).await;
    run_models(&wh).await;
    let pupils = clean_pupils(&wh).await;
    let (p, q) = (&pupils[0], &pupils[1]);
    let taken = taken_ids(&wh).await;
    let (new_p, new_q) = (fresh_id(&p[3], &taken), fresh_id(&q[3], &taken));
    // p without a request, q with one awaiting review (the request file holds both numbers).
    let rows2 = changed(&changed(&rows, regno, &p[1], id, &new_p), regno, &q[1], id, &new_q);
    let night2 = write_csv(&tmp.path().join("b/341023.csv"), &h, &rows2);
    let requests = file_of(
        &tmp.path().join("b/key_change_requests.csv"),
        "key_change_requests",
        &[vec![
            ("request_id", "GJ2026000102"),
            ("school_id", q[0].as_str()),
            ("registration_no", q[1].as_str()),
            ("field", "身份证件号"),
            ("old_value", q[3].as_str()),
            ("new_value", new_q.as_str()),
            ("apply_date", "20261014"),
            ("status", "待审核"),
        ]],
    );
    ingest(&wh, NIGHT2, vec![schools_csv(), night2, requests], 2).await;
    run_models(&wh).await;
    let mut approvals: Vec<String> = key_changes(&wh).await.into_iter().map(|r| r[6].clone()).collect();
    approvals.sort();
    assert_eq!(approvals, ["待审核", "无审批变更"]);

    let full: Vec<&str> = vec![p[3].as_str(), q[3].as_str(), new_p.as_str(), new_q.as_str()];
    // The mart: no value column holds a number in full (the 学籍号 column is masked on output).
    let stored = dump(&wh, "SELECT * EXCEPT (registration_no) FROM list_key_changes", None)
        .await
        .join("\n");
    for n in &full {
        assert!(!stored.contains(n), "{n} stored in full: {stored}");
    }
    assert!(stored.contains(&mask_id(&new_p)) && stored.contains(&mask_id(&new_q)));

    // The county's report, as it leaves for the bureau.
    let out = tmp.path().join("out");
    let mut o = RenderOptions::new(wh.to_str().unwrap(), &out);
    (o.threads, o.memory_mb) = (2, 1024);
    (o.only, o.formats) = (vec!["key_changes_county".into()], vec![Format::Html, Format::Xlsx]);
    let r = render::render(&o).await.unwrap();
    assert_eq!(r.documents.get("key_changes_county"), Some(&1), "{:?}", r.failed);
    let county = lines(dump(&wh, "SELECT DISTINCT county_code FROM list_key_changes", None).await)
        .remove(0)
        .remove(0);
    let page = std::fs::read_to_string(out.join(format!("关键数据变更/区县/{county}.html"))).unwrap();
    let book = sheet_text(&out.join(format!("关键数据变更/区县/{county}.xlsx")));
    for n in full.iter().copied().chain([p[1].as_str(), q[1].as_str()]) {
        assert!(!page.contains(n) && !book.contains(n), "{n} printed in full");
    }
    for n in [&new_p, &new_q, &p[1], &q[1]] {
        let masked = mask_id(n);
        assert!(page.contains(&masked) && book.contains(&masked), "{masked} printed");
    }
}

/// The generator's requests (data-samples/truth/key_changes.csv) show as their truth says: those
/// whose new value the sample already holds (awaiting review, refused) on the first night, without
/// a date; the others once a later night applies their change by hand, since the generator writes
/// one night. Seed 002: "县级学籍主管部门核办" — a request only the school has approved still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_requests_show_as_their_truth_says() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    let mut rd = csv::Reader::from_path(samples().join("truth/key_changes.csv")).unwrap();
    let th = rd.headers().unwrap().clone();
    let truth: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let t = |r: &csv::StringRecord, k: &str| r[col(&th, k)].to_string();
    let pending = |r: &csv::StringRecord| t(r, "in_data") == "0";
    assert!(
        truth.iter().any(pending) && truth.iter().any(|r| !pending(r)),
        "the sample has requests of both kinds: {truth:?}"
    );
    let state = |list: &[Vec<String>], id: &str| list.iter().find(|x| x[7] == id).map(|x| (x[5].clone(), x[6].clone()));
    let list = key_changes(&wh).await;
    for r in &truth {
        let id = t(r, "request_id");
        let want = (!pending(r)).then(|| (String::new(), t(r, "expected")));
        assert_eq!(state(&list, &id), want, "{id} on night 1");
    }

    // Night 2: the approved changes (and the one the school alone approved) reach the data.
    let changed_dir = tmp.path().join("students-csv");
    for e in std::fs::read_dir(samples().join("students-csv")).unwrap() {
        let path = e.unwrap().path();
        let mut rd = csv::Reader::from_path(&path).unwrap();
        let h = rd.headers().unwrap().clone();
        let (regno, school) = (col(&h, "学籍号"), col(&h, "学校标识码"));
        let rows: Vec<csv::StringRecord> = rd
            .records()
            .map(|row| {
                let row = row.unwrap();
                let hit = truth
                    .iter()
                    .find(|&x| pending(x) && t(x, "registration_no") == row[regno] && t(x, "school_id") == row[school]);
                match hit {
                    Some(x) => with(&row, col(&h, &t(x, "field")), &t(x, "new_value")),
                    None => row,
                }
            })
            .collect();
        write_csv(&changed_dir.join(path.file_name().unwrap()), &h, &rows);
    }
    let mut sources: Vec<PathBuf> = sample_sources()
        .into_iter()
        .filter(|p| !p.ends_with("students-csv"))
        .collect();
    sources.push(changed_dir);
    ingest(&wh, NIGHT2, sources, 2).await;
    run_models(&wh).await;
    let list = key_changes(&wh).await;
    for r in &truth {
        let id = t(r, "request_id");
        let night = if pending(r) { NIGHT2.to_string() } else { String::new() };
        assert_eq!(state(&list, &id), Some((night, t(r, "expected"))), "{id} on night 2");
    }
    assert_eq!(list.len(), truth.len(), "nothing else changed: {list:?}");
}

/// Seed 002: "注:如果问题学籍提示的错误类型为“身份证件号不存在”的,则只能申请变更身份证件号;如果问题学籍
/// 提示的错误类型为“身份证件号与姓名不匹配”的,则只能申请变更身份证件号和姓名。" — two pupils whose
/// numbers fail the check are 身份证件号错误 problems; each school files a 变更 that the county
/// approves and sends a new number and a new name. Under 与姓名不匹配 both changes are the problem's
/// 变更; under 不存在 the new number is, the new name is beyond what the 变更 may change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_under_a_wrong_id_problem_may_change_only_what_the_error_allows() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, rows) = county("341023");
    let (regno, name, id) = (col(&h, "学籍号"), col(&h, "姓名"), col(&h, "身份证件号"));
    let wh = tmp.path().join("wh");
    let clean = write_csv(&tmp.path().join("a/341023.csv"), &h, &rows);
    ingest(&wh, NIGHT1, vec![schools_csv(), clean], 2).await;
    run_models(&wh).await;
    let pupils = clean_pupils(&wh).await;
    let (p, q) = (&pupils[0], &pupils[1]);
    // A wrong check character: a number that cannot exist.
    let broken = |n: &str| format!("{}{}", &n[..17], if n.ends_with('1') { '2' } else { '1' });
    let rows2 = changed(
        &changed(&rows, regno, &p[1], id, &broken(&p[3])),
        regno,
        &q[1],
        id,
        &broken(&q[3]),
    );
    ingest(
        &wh,
        NIGHT2,
        vec![schools_csv(), write_csv(&tmp.path().join("b/341023.csv"), &h, &rows2)],
        2,
    )
    .await;
    run_models(&wh).await;
    let wrong = dump(
        &wh,
        "SELECT registration_no FROM dedup_members WHERE kind = 3 ORDER BY 1",
        None,
    )
    .await;
    assert!(wrong.contains(&p[1]) && wrong.contains(&q[1]), "{wrong:?}");

    let taken = taken_ids(&wh).await;
    let (p_id, q_id) = (fresh_id(&p[3], &taken), fresh_id(&q[3], &taken));
    let (p_name, q_name) = (new_name(&p[2]), new_name(&q[2]));
    let rows3 = changed(&changed(&rows2, regno, &p[1], id, &p_id), regno, &q[1], id, &q_id);
    let rows3 = changed(
        &changed(&rows3, regno, &p[1], name, &p_name),
        regno,
        &q[1],
        name,
        &q_name,
    );
    let decision = |no: &str, who: &Vec<String>, kind: &'static str| {
        vec![
            ("decision_id", no.to_string()),
            ("school_id", who[0].clone()),
            ("registration_no", who[1].clone()),
            ("name", who[2].clone()),
            ("problem_kind", kind.to_string()),
            ("action", "变更".to_string()),
            ("apply_date", "20261016".to_string()),
            ("note", "户口簿核对后更正".to_string()),
            ("county_decision", "同意".to_string()),
            ("county_time", "20261016".to_string()),
        ]
    };
    let decisions = [
        decision("WT2026000201", p, "身份证件号不存在"),
        decision("WT2026000202", q, "身份证件号与姓名不匹配"),
    ];
    let as_refs: Vec<Vec<(&str, &str)>> = decisions
        .iter()
        .map(|d| d.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let decisions = file_of(&tmp.path().join("c/dedup_decisions.csv"), "dedup_decisions", &as_refs);
    let night3 = write_csv(&tmp.path().join("c/341023.csv"), &h, &rows3);
    ingest(&wh, NIGHT3, vec![schools_csv(), night3, decisions], 2).await;
    assert_eq!(
        dump(
            &wh,
            "SELECT COUNT(*) FROM rejects WHERE table_name = 'dedup_decisions'",
            None
        )
        .await[1],
        "0",
        "both kinds of 身份证件号错误 are accepted"
    );
    run_models(&wh).await;
    let seen: Vec<(String, String, String)> = key_changes(&wh)
        .await
        .into_iter()
        .filter(|r| r[5] == NIGHT3)
        .map(|r| (r[1].clone(), r[2].clone(), r[6].clone()))
        .collect();
    let mut want = vec![
        (p[1].clone(), "身份证件号".to_string(), "问题学籍变更".to_string()),
        (p[1].clone(), "姓名".to_string(), "超出问题学籍变更范围".to_string()),
        (q[1].clone(), "身份证件号".to_string(), "问题学籍变更".to_string()),
        (q[1].clone(), "姓名".to_string(), "问题学籍变更".to_string()),
    ];
    want.sort();
    let mut seen = seen;
    seen.sort();
    assert_eq!(seen, want);
    // The fixed numbers pass the check: neither pupil is a problem registration any more.
    let wrong = dump(&wh, "SELECT registration_no FROM dedup_members WHERE kind = 3", None).await;
    assert!(!wrong.contains(&p[1]) && !wrong.contains(&q[1]), "{wrong:?}");

    // A night later q's number changes again with no request and no new 变更: the earlier
    // 变更 does not cover it.
    let again = fresh_id(&q_id, &taken_ids(&wh).await);
    let rows4 = changed(&rows3, regno, &q[1], id, &again);
    let night4 = write_csv(&tmp.path().join("d/341023.csv"), &h, &rows4);
    ingest(&wh, "2026-10-18", vec![schools_csv(), night4], 2).await;
    run_models(&wh).await;
    let later: Vec<String> = key_changes(&wh)
        .await
        .into_iter()
        .filter(|r| r[5] == "2026-10-18")
        .map(|r| format!("{},{},{}", r[1], r[2], r[6]))
        .collect();
    assert_eq!(later, [format!("{},身份证件号,无审批变更", q[1])]);
}

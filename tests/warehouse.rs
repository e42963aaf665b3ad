//! Warehouse guarantees: GBK and UTF-8 (with or without BOM) give identical tables; thread count does not matter;
//! re-running a night changes nothing; a second night stores only changes and the first night
//! stays queryable; a crash in the middle of a commit leaves the previous night readable.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn csv_sources(data: &Path, dir: &str) -> Vec<std::path::PathBuf> {
    vec![data.join("schools.csv"), data.join("movements.csv"), data.join(dir)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_and_utf8_give_identical_tables_with_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_world(&data, 21, 1500, "csv,gbk");
    // Excel saves "CSV UTF-8" with a byte-order mark: one county file carries one.
    let first = std::fs::read_dir(data.join("students-csv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let text = std::fs::read(&first).unwrap();
    std::fs::write(&first, [b"\xEF\xBB\xBF".as_slice(), &text].concat()).unwrap();
    let (a, b) = (tmp.path().join("utf8"), tmp.path().join("gbk"));
    let oa = ingest(&a, NIGHT1, csv_sources(&data, "students-csv"), 2).await;
    let ob = ingest(&b, NIGHT1, csv_sources(&data, "students-gbk"), 1).await;
    assert!(oa.reports.iter().any(|r| r.encoding == "UTF-8"));
    assert!(oa.reports.iter().any(|r| r.encoding == "UTF-8 (BOM)"));
    assert!(
        ob.reports
            .iter()
            .filter(|r| r.table == "students")
            .all(|r| r.encoding == "GBK/GB18030"),
        "{:?}",
        ob.reports.iter().map(|r| &r.encoding).collect::<Vec<_>>()
    );
    let (ta, tb) = (
        dump(&a, STUDENTS_CONTENT, None).await,
        dump(&b, STUDENTS_CONTENT, None).await,
    );
    assert!(ta.len() > 1000);
    assert_eq!(ta, tb);
    // The warehouse's text is read as plain Utf8 (warehouse::session): read as Utf8View, the 20M
    // roster's join and sort booked several times their memory and spilled.
    assert_eq!(
        dump(&a, "SELECT DISTINCT arrow_typeof(name) AS t FROM students", None).await,
        ["t", "Utf8"]
    );
    let rq = "SELECT row_no, column_header, value, rule_code FROM rejects";
    assert_eq!(dump(&a, rq, None).await, dump(&b, rq, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_a_night_gives_identical_tables_and_later_nights_store_only_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_world(&data, 22, 1500, "csv");
    let wh = tmp.path().join("wh");
    let src = csv_sources(&data, "students-csv");
    ingest(&wh, NIGHT1, src.clone(), 2).await;
    let first = dump(&wh, "SELECT * FROM students", None).await;
    let first_state = dump(&wh, "SELECT * EXCEPT (as_of_date) FROM students", None).await;
    let log1 = dump(&wh, "SELECT COUNT(*) FROM students_log", None).await;
    let again = ingest(&wh, NIGHT1, src.clone(), 1).await;
    assert_eq!(
        dump(&wh, "SELECT * FROM students", None).await,
        first,
        "same night again: same table"
    );
    assert_eq!(
        dump(&wh, "SELECT COUNT(*) FROM students_log", None).await,
        log1,
        "no doubled rows"
    );
    assert_eq!(again.commit.seq, 2);

    // Night 2: one county file changes one pupil's phone and loses its last pupil.
    let county = std::fs::read_dir(data.join("students-csv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let text = std::fs::read_to_string(&county).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let phone = header.iter().position(|h| *h == "联系电话").unwrap();
    // Change a pupil whose row is accepted (no planted problem: a plain row without quotes).
    let target = (1..lines.len() - 1)
        .find(|&i| !lines[i].contains('"') && lines[i].split(',').nth(phone).is_some_and(|p| p.len() == 11))
        .unwrap();
    let mut f: Vec<String> = lines[target].split(',').map(str::to_string).collect();
    f[phone] = "13900000000".into();
    lines[target] = f.join(",");
    // Remove the last pupil whose row was accepted on night 1 (Excel row = line index + 1).
    let file = format!("students-csv/{}", county.file_name().unwrap().to_str().unwrap());
    let rows = dump(
        &wh,
        &format!("SELECT source_row, record_key FROM students WHERE source_file = '{file}'"),
        None,
    )
    .await;
    let (last_row, removed_key) = rows[1..]
        .iter()
        .map(|l| l.split_once(',').unwrap())
        .map(|(r, k)| (r.parse::<usize>().unwrap(), k.to_string()))
        .filter(|(r, _)| r - 1 != target)
        .max()
        .unwrap();
    lines.remove(last_row - 1);
    std::fs::write(&county, lines.join("\n") + "\n").unwrap();
    // Night 2 compared in one go, and in a copy of the warehouse in four key buckets, as a large
    // province is (the buckets chosen from the memory pool): the same change log.
    let wh4 = tmp.path().join("wh4");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&wh)
            .arg(&wh4)
            .status()
            .unwrap()
            .success()
    );
    let n2 = ingest(&wh, "2026-10-16", src.clone(), 2).await;
    let n2_in_4 = ingest_in_buckets(&wh4, "2026-10-16", src.clone(), 2, Some(4)).await;
    assert_eq!(n2.commit.changes, n2_in_4.commit.changes);
    let log = "SELECT * FROM students_log";
    assert_eq!(dump(&wh, log, None).await, dump(&wh4, log, None).await);
    let [ins, upd, del] = n2.commit.changes["students"];
    assert_eq!(
        (ins, upd, del),
        (0, 1, 1),
        "only the changed pupil is written again, and the removed one deleted"
    );
    let q = format!("SELECT COUNT(*) FROM students WHERE record_key = '{removed_key}'");
    assert_eq!(
        (
            dump(&wh, &q, None).await[1].as_str(),
            dump(&wh, &q, Some(NIGHT1)).await[1].as_str()
        ),
        ("0", "1"),
        "deleted tonight, there on night 1"
    );
    assert_eq!(
        dump(&wh, "SELECT phone FROM students WHERE phone = '13900000000'", None)
            .await
            .len(),
        2
    );
    // The first night is still there, as it was.
    assert_eq!(
        dump(&wh, "SELECT * EXCEPT (as_of_date) FROM students", Some(NIGHT1)).await,
        first_state
    );
    let n1_phone = dump(
        &wh,
        "SELECT COUNT(*) FROM students WHERE phone = '13900000000'",
        Some(NIGHT1),
    )
    .await;
    assert_eq!(n1_phone[1], "0");
    let log2 = dump(&wh, "SELECT COUNT(*) FROM students_log", None).await;
    let grew: u64 = log2[1].parse::<u64>().unwrap() - log1[1].parse::<u64>().unwrap();
    assert_eq!(grew, upd + del, "a night stores only what changed");
    // Backfilling an earlier night is refused with a clear message.
    let mut o = xueji::pipeline::IngestOptions::new(wh.to_str().unwrap(), date("2026-10-01"), src);
    (o.threads, o.memory_mb) = (2, 512);
    let err = xueji::pipeline::ingest(&o).await.unwrap_err().to_string();
    assert!(err.contains("更晚的快照日期"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_commit_leaves_the_previous_night_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_world(&data, 23, 1000, "csv");
    let wh = tmp.path().join("wh");
    let src = csv_sources(&data, "students-csv");
    ingest(&wh, NIGHT1, src.clone(), 2).await;
    let before = dump(&wh, "SELECT * FROM students", None).await;
    let bin = env!("CARGO_BIN_EXE_xueji");
    for point in ["after_schools", "after_students", "before_nights_commit"] {
        let status = Command::new(bin)
            .args(["ingest", "--warehouse", wh.to_str().unwrap(), "--date", "2026-10-16"])
            .args(src.iter().map(|p| p.to_str().unwrap()))
            .env("XUEJI_FAULT", point)
            .status()
            .unwrap();
        assert!(!status.success(), "the process was killed at {point}");
        assert_eq!(
            dump(&wh, "SELECT * FROM students", None).await,
            before,
            "after a crash at {point} readers see the previous night"
        );
        let nights = dump(&wh, "SELECT COUNT(*) FROM nights", None).await;
        assert_eq!(nights[1], "1");
    }
    // The re-run completes the night; its tables equal a clean run's.
    ingest(&wh, "2026-10-16", src.clone(), 2).await;
    let clean = tmp.path().join("clean");
    ingest(&clean, NIGHT1, src.clone(), 2).await;
    ingest(&clean, "2026-10-16", src, 2).await;
    for q in [
        "SELECT * FROM students",
        "SELECT * FROM students_log",
        "SELECT * FROM movements",
        "SELECT * FROM schools",
        "SELECT * FROM rejects",
    ] {
        assert_eq!(dump(&wh, q, None).await, dump(&clean, q, None).await, "{q}");
    }
}

/// A county re-sends its corrected file for a night already committed: the second ingest of the
/// night replaces that county's schools only. On the second night of a warehouse (a previous
/// state to compare with, the comparison in key buckets), the night after the re-send equals a
/// night that had the corrected file from the start: the pupil it dropped is deleted, the other
/// county's changes of the night stay, and so do its rejected rows; each file has one report
/// row. (Before, a second ingest of a date replaced the whole night: the other county's pupils
/// and changes vanished.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_resending_its_file_for_the_same_night_replaces_only_its_schools() {
    const NIGHT2: &str = "2026-10-16";
    let tmp = tempfile::tempdir().unwrap();
    let (h, a) = county("341023");
    let (_, b) = county("341226");
    let (name, regno) = (col(&h, "姓名"), col(&h, "学籍号"));
    let schools = samples().join("schools.csv");
    let file = |dir: &str, code: &str, rows: &[csv::StringRecord]| {
        write_csv(&tmp.path().join(dir).join(format!("{code}.csv")), &h, rows)
    };
    let first = vec![schools.clone(), file("n1", "341023", &a), file("n1", "341226", &b)];
    // Night 2: 341226 renames a pupil; 341023 sends a row without a name (R_REQUIRED) ...
    let renamed = b[7][regno].to_string();
    let b2: Vec<csv::StringRecord> = b
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i == 7 {
                with(r, name, "欧阳新名")
            } else {
                r.clone()
            }
        })
        .collect();
    let a2: Vec<csv::StringRecord> = a
        .iter()
        .enumerate()
        .map(|(i, r)| if i == 3 { with(r, name, "") } else { r.clone() })
        .collect();
    // ... and then re-sends it corrected: the nameless row fixed, its last pupil gone.
    let a3: Vec<csv::StringRecord> = a[..a.len() - 1].to_vec();
    let dropped = a.last().unwrap()[regno].to_string();

    let wh = tmp.path().join("wh");
    ingest(&wh, NIGHT1, first.clone(), 2).await;
    ingest(
        &wh,
        NIGHT2,
        vec![schools.clone(), file("n2", "341023", &a2), file("n2", "341226", &b2)],
        2,
    )
    .await;
    let b_rejects = "SELECT * FROM rejects WHERE source_file = 'n2/341226.csv' ORDER BY row_no, column_name";
    let before = dump(&wh, b_rejects, None).await;
    assert!(before.len() > 2, "341226 has rejected rows on night 2");
    let resent = file("n2", "341023", &a3);
    ingest_in_buckets(&wh, NIGHT2, vec![schools.clone(), resent.clone()], 2, Some(3)).await;

    // The same nights with the corrected file from the start.
    let reference = tmp.path().join("reference");
    ingest(&reference, NIGHT1, first, 2).await;
    ingest(&reference, NIGHT2, vec![schools, resent, file("n2", "341226", &b2)], 2).await;
    let q = "SELECT * EXCEPT (source_file) FROM students ORDER BY record_key";
    assert_eq!(
        dump(&wh, q, None).await,
        dump(&reference, q, None).await,
        "the students of night 2"
    );
    let named = format!("SELECT name FROM students WHERE registration_no = '{renamed}'");
    assert_eq!(
        dump(&wh, &named, None).await[1],
        "欧阳新名",
        "the other county's change of the night"
    );
    let gone = format!("SELECT COUNT(*) FROM students WHERE registration_no = '{dropped}'");
    assert_eq!(
        dump(&wh, &gone, None).await[1],
        "0",
        "the pupil the corrected file dropped"
    );
    assert_eq!(
        dump(&wh, &gone, Some(NIGHT1)).await[1],
        "1",
        "... who was there the night before"
    );
    let rejects = "SELECT * FROM rejects ORDER BY source_file, row_no, column_name, rule_code";
    assert_eq!(
        dump(&wh, rejects, None).await,
        dump(&reference, rejects, None).await,
        "rejected rows"
    );
    assert_eq!(
        dump(&wh, b_rejects, None).await,
        before,
        "the other county's rejected rows"
    );
    let files = format!(
        "SELECT source_file, COUNT(*) FROM import_files WHERE snapshot_date = DATE '{NIGHT2}' GROUP BY source_file ORDER BY 1"
    );
    let files = dump(&wh, &files, None).await;
    assert_eq!(
        files[1..],
        ["data-samples/schools.csv,1", "n2/341023.csv,1", "n2/341226.csv,1"],
        "one report row per file"
    );
}

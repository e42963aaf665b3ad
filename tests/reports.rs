//! `xueji render` over data-samples: every report renders as HTML, PDF and XLSX; the PDF text
//! (pdftotext) shows the names, counts and page numbers a user checks; lists that leave the
//! school are masked unless told otherwise; the figures equal the marts; the output is the same
//! whatever the thread count; golden snapshots of one statistics report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use calamine::{Reader, Xlsx};
use xueji::render::{self, Format, RenderOptions};

async fn warehouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    wh
}

fn options(wh: &Path, out: &Path, threads: usize) -> RenderOptions {
    let mut o = RenderOptions::new(wh.to_str().unwrap(), out);
    o.threads = threads;
    o.memory_mb = 1024;
    o
}

/// The text of a PDF, one string per page (pdftotext, from poppler-utils, which scripts/test installs).
fn pdf_pages(path: &Path) -> Vec<String> {
    let out = Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "pdftotext {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// A workbook's first sheet as rows of text.
fn sheet(path: &Path) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

async fn rows(wh: &Path, sql: &str) -> Vec<Vec<String>> {
    dump(wh, sql, None)
        .await
        .into_iter()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_renders_and_prints_what_the_marts_hold() {
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path()).await;
    let out = dir.path().join("reports");
    let r = render::render(&options(&wh, &out, 2)).await.unwrap();
    for def in render::catalog().unwrap() {
        if def.on_demand {
            assert!(
                !r.documents.contains_key(&def.key) && !out.join(&def.dir).exists(),
                "{} is made only when asked for",
                def.key
            );
            continue;
        }
        assert!(
            r.documents.get(&def.key).copied().unwrap_or(0) > 0,
            "report {} has documents on the samples: {:?}",
            def.key,
            r.documents
        );
        for f in ["html", "pdf", "xlsx"] {
            assert!(
                r.files
                    .iter()
                    .any(|p| p.contains(&format!("/{}/", def.dir)) && p.ends_with(f)),
                "{} has a {f} file",
                def.key
            );
        }
    }
    assert!(out.join("index.html").exists());

    // 学生花名册 of the largest school: one section per class, every pupil, the header and the
    // page numbers on every page.
    let school = rows(&wh, "SELECT school_id, school_name, COUNT(*) AS n, COUNT(DISTINCT class_code) FROM list_roster GROUP BY school_id, school_name ORDER BY n DESC, school_id LIMIT 1").await.remove(0);
    let (id, name, pupils) = (&school[0], &school[1], school[2].parse::<usize>().unwrap());
    let html = std::fs::read_to_string(out.join(format!("学生花名册/{id}.html"))).unwrap();
    assert_eq!(
        html.matches("<h2>").count(),
        school[3].parse::<usize>().unwrap() + 1,
        "a section per class and the summary"
    );
    let pages = pdf_pages(&out.join(format!("学生花名册/{id}.pdf")));
    let n = pages.len();
    assert!(n >= 2);
    for (i, p) in pages.iter().enumerate() {
        assert!(
            p.contains(&format!("第 {} 页 共 {n} 页", i + 1)),
            "page {} numbered: {p}",
            i + 1
        );
        assert!(
            p.contains(name) && p.contains(&format!("快照日期 {NIGHT1}")),
            "page {} names the school and the date",
            i + 1
        );
    }
    let roster = rows(
        &wh,
        &format!("SELECT name, registration_no FROM list_roster WHERE school_id = '{id}'"),
    )
    .await;
    let text = pages.concat();
    for p in &roster {
        assert!(text.contains(&p[1]), "the PDF lists {} ({})", p[0], p[1]);
    }
    // Every page with pupils on it carries the table header (Typst repeats it).
    assert!(
        pages
            .iter()
            .filter(|p| roster.iter().any(|r| p.contains(&r[1])))
            .all(|p| p.contains("学籍号") && p.contains("身份证件号"))
    );
    let book = sheet(&out.join(format!("学生花名册/{id}.xlsx")));
    assert_eq!(
        book[1][0..4],
        ["分组", "班内序号", "学籍号", "姓名"].map(String::from),
        "Chinese headers from the schema labels"
    );
    assert_eq!(book.len() - 2, pupils, "one row per pupil");
    // Stays in the school: ID numbers in full.
    let full = rows(
        &wh,
        &format!(
            "SELECT id_number FROM list_roster WHERE school_id = '{id}' AND id_number IS NOT NULL AND id_number <> ''"
        ),
    )
    .await;
    assert!(full.iter().all(|x| html.contains(&x[0])));

    // 寄宿生名单 leaves the school: masked by default (the 学籍号 too: it is G + the ID number).
    let boarders = rows(&wh, "SELECT b.school_id, r.id_number FROM list_boarders b JOIN list_roster r ON r.registration_no = b.registration_no WHERE length(r.id_number) = 18").await;
    let school = &boarders[0][0];
    let ids: Vec<&str> = boarders
        .iter()
        .filter(|b| &b[0] == school)
        .map(|b| b[1].as_str())
        .collect();
    let page = std::fs::read_to_string(out.join(format!("寄宿生名单/{school}.html"))).unwrap();
    let pdf = pdf_pages(&out.join(format!("寄宿生名单/{school}.pdf"))).concat();
    let book = sheet(&out.join(format!("寄宿生名单/{school}.xlsx"))).concat().join(",");
    for id in &ids {
        let masked = xueji::udf::mask_id(id);
        assert!(
            !page.contains(id) && !pdf.contains(id) && !book.contains(id),
            "{id} is not printed in full"
        );
        assert!(
            page.contains(&masked) && pdf.contains(&masked) && book.contains(&masked),
            "{masked} is printed"
        );
    }
    // …and in full when the recipient is entitled to it (a per-report setting).
    let full_out = dir.path().join("full");
    let mut o = options(&wh, &full_out, 2);
    (o.only, o.unmask, o.formats) = (vec!["boarders".into()], vec!["boarders".into()], vec![Format::Html]);
    render::render(&o).await.unwrap();
    let page = std::fs::read_to_string(full_out.join(format!("寄宿生名单/{school}.html"))).unwrap();
    assert!(ids.iter().all(|id| page.contains(id)));

    // 留守儿童统计 per county: the 合计 row equals the mart, the chart is drawn.
    let county = rows(&wh, "SELECT county_code, SUM(pupils), SUM(left_behind), SUM(single_parent) FROM stats_left_behind GROUP BY county_code ORDER BY county_code LIMIT 1").await.remove(0);
    let book = sheet(&out.join(format!("留守儿童统计/区县/{}.xlsx", county[0])));
    let header = &book[1];
    let total = book.last().unwrap();
    let col = |label: &str| {
        header
            .iter()
            .position(|h| h == label)
            .unwrap_or_else(|| panic!("column {label} in {header:?}"))
    };
    assert_eq!(total[0], "合计");
    assert_eq!(total[col("在校生数")], county[1]);
    assert_eq!(total[col("留守儿童合计")], county[2]);
    let html = std::fs::read_to_string(out.join(format!("留守儿童统计/区县/{}.html", county[0]))).unwrap();
    assert!(html.contains("<svg") && html.contains("单亲留守"));
    let pdf = pdf_pages(&out.join(format!("留守儿童统计/区县/{}.pdf", county[0]))).concat();
    assert!(pdf.contains("留守儿童统计表") && pdf.contains(&county[2]) && pdf.contains("填表人"));

    // 营养改善计划: the subsidy total equals the mart; signature lines printed.
    let subsidy = rows(&wh, "SELECT school_id, SUM(subsidy_yuan), COUNT(*) FROM stats_nutrition_subsidy GROUP BY school_id ORDER BY school_id LIMIT 1").await.remove(0);
    let pdf = pdf_pages(&out.join(format!("营养改善计划受益学生名单/{}.pdf", subsidy[0]))).concat();
    let yuan: f64 = subsidy[1].parse().unwrap();
    assert!(
        pdf.contains(&format!("合计 {}", xueji_number(yuan))) || pdf.contains(&xueji_number(yuan)),
        "subsidy total {yuan} printed"
    );
    assert!(pdf.contains("经办人") && pdf.contains("校长"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_pupil_documents_and_numbered_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path()).await;
    let pupil = rows(&wh, "SELECT st.registration_no, s.name, s.id_number, st.school_id, s.m1_name FROM student_status st JOIN students s ON s.record_key = st.record_key WHERE st.status = '在校' AND length(s.id_number) = 18 AND s.m1_name IS NOT NULL ORDER BY st.registration_no LIMIT 1").await.remove(0);
    let (reg, name, id, school) = (&pupil[0], &pupil[1], &pupil[2], &pupil[3]);
    let out = dir.path().join("out");
    let mut o = options(&wh, &out, 2);
    o.only = vec!["card".into(), "info_sheet".into()];
    // A pupil is named by 学籍号 or by ID number.
    o.units = vec![id.clone()];
    let r = render::render(&o).await.unwrap();
    assert_eq!((r.documents["card"], r.documents["info_sheet"]), (1, 1));
    assert!(
        !r.files.iter().any(|f| f.ends_with(".xlsx")),
        "no workbook for a one-pupil form"
    );
    for (dir_name, title) in [("学籍卡片", "学籍卡片"), ("学生基本信息表", "学生基本信息表")] {
        let pdf = pdf_pages(&out.join(format!("{dir_name}/{reg}.pdf")));
        assert_eq!(pdf.len(), 1, "{title} fits one page");
        let text: String = pdf[0].chars().filter(|c| !c.is_whitespace()).collect();
        // Kept by the school or handed to the parents: printed in full.
        for want in [
            title,
            name.as_str(),
            reg.as_str(),
            id.as_str(),
            pupil[4].as_str(),
            "第1页共1页",
        ] {
            assert!(text.contains(want), "{title} shows {want}: {text}");
        }
        let html = std::fs::read_to_string(out.join(format!("{dir_name}/{reg}.html"))).unwrap();
        assert!(html.contains(name) && html.contains(id));
    }
    // Family members in their order (成员1 first).
    let text = pdf_pages(&out.join(format!("学生基本信息表/{reg}.pdf"))).concat();
    assert!(text.find(&pupil[4]).unwrap() < text.find("说明").unwrap());

    // A school's code prints a card for each of its registrations but those transferred out.
    let mut o = options(&wh, &out, 2);
    (o.only, o.units, o.formats) = (vec!["card".into()], vec![school.clone()], vec![Format::Html]);
    let r = render::render(&o).await.unwrap();
    let n = rows(&wh, &format!("SELECT COUNT(DISTINCT registration_no) FROM student_status WHERE school_id = '{school}' AND status <> '转出'")).await;
    assert_eq!(r.documents["card"].to_string(), n[0][0]);

    // Without a unit, or with one that matches nobody, nothing is printed and the user is told.
    o.units = vec![];
    assert!(render::render(&o).await.unwrap_err().to_string().contains("--unit"));
    o.units = vec!["G000000000000000000".into()];
    assert!(
        render::render(&o)
            .await
            .unwrap_err()
            .to_string()
            .contains("G000000000000000000")
    );
    let moved = rows(&wh, "SELECT registration_no FROM student_status WHERE status = '转出' AND registration_no NOT IN (SELECT registration_no FROM student_status WHERE status <> '转出') LIMIT 1").await;
    o.only = vec!["info_sheet".into()];
    o.units = vec![moved[0][0].clone()];
    assert!(
        render::render(&o).await.is_err(),
        "no 学生基本信息表 for a pupil transferred out"
    );

    // 学籍证明: each issue takes the school's next number; stub and certificate carry it; the
    // register lists every number once, even when two renders race.
    let mut o = options(&wh, &out, 2);
    (o.only, o.units) = (vec!["certificate".into()], vec![reg.clone()]);
    let first = render::render(&o).await.unwrap();
    let (a, b) = tokio::join!(render::render(&o), render::render(&o));
    let mut serials: Vec<String> = first
        .issued
        .iter()
        .chain(&a.unwrap().issued)
        .chain(&b.unwrap().issued)
        .cloned()
        .collect();
    let year = chrono::Datelike::year(&chrono::Local::now());
    assert_eq!(serials[0], format!("{school}-{year}-00001"));
    serials.sort();
    assert_eq!(
        serials,
        (1..=3).map(|k| format!("{school}-{year}-{k:05}")).collect::<Vec<_>>()
    );
    let pages = pdf_pages(&out.join(format!("学籍证明/{}.pdf", serials[0])));
    assert_eq!(pages.len(), 1);
    // Spaced titles (学 籍 证 明) read as words.
    let text: String = pages[0].chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(text.matches(&serials[0]).count(), 2, "stub and certificate: {text}");
    for want in [
        "学籍证明存根",
        "兹有我校学生",
        "身份证号码为",
        "学籍号码为",
        "特此证明",
        "公章",
        "盖骑缝章",
        "现在我校就读",
        id.as_str(),
        reg.as_str(),
        name.as_str(),
    ] {
        assert!(text.contains(want), "the certificate says {want}: {text}");
    }
    let register = rows(
        &wh,
        "SELECT serial, registration_no, name FROM certificates ORDER BY serial",
    )
    .await;
    assert_eq!(register.iter().map(|r| r[0].clone()).collect::<Vec<_>>(), serials);
    assert!(register.iter().all(|r| &r[1] == reg && &r[2] == name));
}

/// How reports print a number (whole numbers without ".0").
fn xueji_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_night_gives_the_same_files_whatever_the_thread_count_and_golden_pages() {
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path()).await;
    let mut bytes: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for threads in [1, 2] {
        let out = dir.path().join(format!("t{threads}"));
        let mut o = options(&wh, &out, threads);
        o.only = vec!["left_behind_province".into(), "transfers_pending".into(), "yibu".into()];
        let r = render::render(&o).await.unwrap();
        bytes.push(
            r.files
                .iter()
                .map(|f| (f.replace(out.to_str().unwrap(), ""), std::fs::read(f).unwrap()))
                .collect(),
        );
    }
    assert_eq!(bytes[0].keys().collect::<Vec<_>>(), bytes[1].keys().collect::<Vec<_>>());
    for (k, v) in &bytes[0] {
        assert!(v == &bytes[1][k], "{k} differs between 1 and 2 threads");
    }
    // Golden: the province 留守儿童 report of the first province, as HTML and as PDF text.
    let (name, html) = bytes[0]
        .iter()
        .find(|(k, _)| k.contains("留守儿童统计/省/") && k.ends_with(".html") && !k.ends_with("index.html"))
        .unwrap();
    insta::assert_snapshot!("left_behind_province_html", String::from_utf8(html.clone()).unwrap());
    let pdf = dir
        .path()
        .join("t1")
        .join(name.trim_start_matches('/').replace(".html", ".pdf"));
    let text: Vec<String> = pdf_pages(&pdf)
        .iter()
        .map(|p| p.lines().map(str::trim_end).collect::<Vec<_>>().join("\n"))
        .collect();
    insta::assert_snapshot!("left_behind_province_pdf_text", text.join("\n---- 分页 ----\n"));
}

/// A report that cannot be written fails alone and is named; every other report is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_fails_alone_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = warehouse(tmp.path()).await;
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Where the roster's folder should be, a file: its documents cannot be written.
    std::fs::write(out.join("学生花名册"), "").unwrap();
    let mut o = options(&wh, &out, 2);
    o.formats = vec![Format::Html];
    let r = render::render(&o).await.unwrap();
    assert_eq!(
        r.failed.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["roster"],
        "{:?}",
        r.failed
    );
    assert!(
        r.failed[0].1.contains("学生花名册"),
        "the error names what failed: {}",
        r.failed[0].1
    );
    assert!(
        r.documents.get("problems").is_some_and(|n| *n > 0),
        "the others are written: {:?}",
        r.documents
    );
    let index = std::fs::read_to_string(&r.index).unwrap();
    assert!(index.contains("生成失败"), "the index says which report failed");
}

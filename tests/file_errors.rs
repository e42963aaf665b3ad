//! Files that are not a usable template get one clear file-level error each; the other files of
//! the night still load, and the import report lists the failure.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_file_gets_one_file_level_error_and_the_rest_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    gen_world(&data, 31, 600, "xlsx");
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let good_xlsx = std::fs::read_dir(data.join("students-xlsx"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let bytes = std::fs::read(&good_xlsx).unwrap();
    std::fs::write(bad.join("truncated.xlsx"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(bad.join("not_excel.xlsx"), "这不是 Excel 文件").unwrap();
    let mut cfb = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    cfb.extend(std::iter::repeat_n(0u8, 504));
    cfb.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(bad.join("encrypted.xlsx"), &cfb).unwrap();
    std::fs::write(bad.join("other_table.csv"), "学号,姓名,成绩\n1,张三,90\n").unwrap();
    std::fs::write(bad.join("empty.csv"), "").unwrap();
    let mut sources = xueji::pipeline::sample_sources(&data);
    sources.push(bad.clone());
    let out = ingest(&tmp.path().join("wh"), NIGHT1, sources, 2).await;
    let code = |name: &str| {
        out.reports
            .iter()
            .find(|r| r.file == format!("bad/{name}"))
            .and_then(|r| r.file_error.clone())
            .map(|e| e.0)
    };
    assert_eq!(code("truncated.xlsx").as_deref(), Some("F_BAD_WORKBOOK"));
    assert_eq!(code("not_excel.xlsx").as_deref(), Some("F_BAD_WORKBOOK"));
    assert_eq!(code("encrypted.xlsx").as_deref(), Some("F_ENCRYPTED"));
    assert_eq!(code("other_table.csv").as_deref(), Some("F_NOT_TEMPLATE"));
    assert_eq!(code("empty.csv").as_deref(), Some("F_EMPTY"));
    let msg = out
        .reports
        .iter()
        .find(|r| r.file == "bad/other_table.csv")
        .unwrap()
        .file_error
        .clone()
        .unwrap()
        .1;
    assert!(
        msg.contains("缺少") && msg.contains("学校标识码"),
        "the message names the missing columns: {msg}"
    );
    assert_eq!(out.metrics.file_errors, 5);
    let wh = tmp.path().join("wh");
    let n = dump(&wh, "SELECT COUNT(*) FROM rejects WHERE severity = '文件错误'", None).await;
    assert_eq!(n[1], "5");
    let students = dump(&wh, "SELECT COUNT(*) FROM students", None).await;
    assert!(students[1].parse::<u64>().unwrap() > 500, "the good files loaded");
    let index = std::fs::read_to_string(&out.report_index).unwrap();
    assert!(index.contains("文件已加密"), "the report index shows the file error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_row_above_the_header_is_skipped_and_rows_are_numbered_as_excel_shows() {
    use rust_xlsxwriter::Workbook;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    // A clean record (nothing planted) from the sample's ground truth.
    let truth: Vec<csv::StringRecord> = csv::Reader::from_path(samples.join("truth/records.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    let clean = truth.iter().find(|t| t[8].is_empty()).unwrap();
    let (file, row) = (clean[6].to_string(), clean[7].parse::<usize>().unwrap());
    let mut rdr = csv::Reader::from_path(samples.join(&file)).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let record = rdr.records().nth(row - 2).unwrap().unwrap();
    let phone = headers.iter().position(|h| h == "联系电话").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("titled.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "某某学校学生信息导入模板").unwrap();
    for (j, h) in headers.iter().enumerate() {
        ws.write_string(1, j as u16, h).unwrap();
    }
    for (j, v) in record.iter().enumerate() {
        ws.write_string(3, j as u16, v).unwrap();
        ws.write_string(4, j as u16, if j == phone { "138-0000-0000" } else { v })
            .unwrap();
    }
    wb.save(&path).unwrap();
    let wh = tmp.path().join("wh");
    let out = ingest(&wh, NIGHT1, vec![path], 1).await;
    let r = &out.reports[0];
    assert_eq!((r.rows_in, r.accepted, r.rejected), (2, 1, 1), "{r:?}");
    let rejects = dump(&wh, "SELECT row_no, column_header, rule_code FROM rejects", None).await;
    assert_eq!(
        rejects,
        vec![
            "row_no,column_header,rule_code".to_string(),
            "5,联系电话,R_PHONE".to_string()
        ]
    );
}

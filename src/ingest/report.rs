//! Import reports: for every source file an HTML page and a CSV (UTF-8 with BOM, for Excel) that
//! list each failure with row (as Excel shows it), column, value, reason and what was expected,
//! like the 失败原因 list of the national system; plus an index page of the night.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::array::{Array, Int64Array};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use super::FileReport;
use crate::schema::catalog;

const TEMPLATE: &str = include_str!("../../reports/import_report.html");
const INDEX: &str = include_str!("../../reports/import_index.html");
const HTML_LIMIT: usize = 2000;

#[derive(Serialize, Clone)]
struct FindingView {
    row: String,
    header: String,
    value: String,
    severity: String,
    message: String,
    expected: String,
    rule: String,
}

#[derive(Serialize)]
struct RuleCount {
    code: String,
    severity: String,
    message: String,
    count: u64,
}

/// The night a set of reports is about.
pub struct Night<'a> {
    pub date: String,
    /// Files refused at file level.
    pub failed: &'a [String],
    pub held_out: &'a [super::HeldOut],
    pub held_deletions: &'a [crate::warehouse::commit::HeldDeletion],
}

/// Longest file-name stem of a report (bytes): file systems allow 255.
const MAX_STEM: usize = 120;

/// Report file stems for every source, one each: the source's name with its separators replaced;
/// when that is too long, or another source's stem is the same, cut and followed by a hash of
/// the whole name.
fn report_stems(files: &[&str]) -> BTreeMap<String, String> {
    let plain = |f: &str| -> String {
        f.chars()
            .map(|c| if matches!(c, '/' | '\\' | ':' | '\0') { '_' } else { c })
            .collect()
    };
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        *count.entry(plain(f)).or_default() += 1;
    }
    files
        .iter()
        .map(|f| {
            let p = plain(f);
            let stem = if p.len() <= MAX_STEM && count[&p] == 1 {
                p
            } else {
                let mut cut = MAX_STEM.min(p.len());
                while !p.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}-{:08x}", &p[..cut], xxhash_rust::xxh3::xxh3_64(f.as_bytes()) as u32)
            };
            (f.to_string(), stem)
        })
        .collect()
}

/// Write the reports of a night into `dir`; returns the index page. `stg_findings` must be registered.
pub async fn write_reports(
    ctx: &SessionContext,
    dir: &Path,
    night: &Night<'_>,
    reports: &[FileReport],
) -> Result<PathBuf> {
    let (date, failed) = (night.date.as_str(), night.failed);
    let names: Vec<&str> = reports.iter().map(|r| r.file.as_str()).collect();
    let stems = report_stems(&names);
    let safe_name = |f: &str| stems.get(f).cloned().unwrap_or_else(|| report_stems(&[f])[f].clone());
    std::fs::create_dir_all(dir).with_context(|| format!("无法创建报告目录 {}", dir.display()))?;
    let mut env = minijinja::Environment::new();
    env.add_template("import_report.html", TEMPLATE)?;
    env.add_template("import_index.html", INDEX)?;
    let failed_list = if failed.is_empty() {
        "''".into()
    } else {
        failed
            .iter()
            .map(|f| format!("'{}'", f.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let df = ctx
        .sql(&format!(
            "SELECT source_file, row_no, column_header, value, severity, message, expected, rule_code FROM stg_findings
             WHERE row_no IS NOT NULL AND source_file NOT IN ({failed_list})
             ORDER BY source_file, row_no, column_name, rule_code"
        ))
        .await?;
    let mut stream = df.execute_stream().await?;
    let mut by_file: BTreeMap<String, (Vec<FindingView>, u64)> = BTreeMap::new();
    let mut csv_out: Option<(String, crate::safe_csv::Writer<std::fs::File>)> = None;
    let open_csv = |file: &str| -> Result<crate::safe_csv::Writer<std::fs::File>> {
        let path = dir.join(format!("{}.csv", safe_name(file)));
        let mut f = std::fs::File::create(&path).with_context(|| format!("无法写入导入报告 {}", path.display()))?;
        f.write_all(b"\xEF\xBB\xBF")?;
        let mut w = crate::safe_csv::Writer::new(f);
        w.write_record(["行号", "列名", "填写的值", "严重程度", "失败原因", "应填写", "原因代码"])?;
        Ok(w)
    };
    while let Some(b) = stream.next().await {
        let b = b?;
        let s = |i: usize| crate::warehouse::strings(b.column(i)).ok();
        let (file, header, value, sev, msg, exp, rule) = (s(0), s(2), s(3), s(4), s(5), s(6), s(7));
        let row = b.column(1).as_any().downcast_ref::<Int64Array>().context("row_no")?;
        let (Some(file), Some(header), Some(value), Some(sev), Some(msg), Some(exp), Some(rule)) =
            (file, header, value, sev, msg, exp, rule)
        else {
            anyhow::bail!("bug: findings staging has unexpected column types");
        };
        for i in 0..b.num_rows() {
            let f = file.value(i);
            if csv_out.as_ref().is_none_or(|(n, _)| n != f) {
                if let Some((_, mut w)) = csv_out.take() {
                    w.flush()?;
                }
                csv_out = Some((f.to_string(), open_csv(f)?));
            }
            let v = FindingView {
                row: row.value(i).to_string(),
                header: header.value(i).to_string(),
                value: value.value(i).to_string(),
                severity: sev.value(i).to_string(),
                message: msg.value(i).to_string(),
                expected: exp.value(i).to_string(),
                rule: rule.value(i).to_string(),
            };
            let w = &mut csv_out.as_mut().expect("opened").1;
            w.write_record([
                &v.row,
                &v.header,
                &v.value,
                &v.severity,
                &v.message,
                &v.expected,
                &v.rule,
            ])?;
            let e = by_file.entry(f.to_string()).or_default();
            e.1 += 1;
            if e.0.len() < HTML_LIMIT {
                e.0.push(v);
            }
        }
    }
    if let Some((_, mut w)) = csv_out.take() {
        w.flush()?;
    }
    let cat = catalog();
    let mut index_rows = Vec::new();
    for r in reports {
        let (findings, total) = by_file.remove(&r.file).unwrap_or_default();
        if total == 0 {
            let mut w = open_csv(&r.file)?;
            if let Some((code, msg)) = &r.file_error {
                w.write_record(["", "", "", "文件错误", msg.as_str(), "", code.as_str()])?;
            }
            w.flush()?;
        }
        let rules: Vec<RuleCount> = r
            .by_rule
            .iter()
            .map(|(code, n)| {
                let rule = cat.rule(code);
                RuleCount {
                    code: code.clone(),
                    severity: rule.severity.label().into(),
                    message: rule.message.clone(),
                    count: *n,
                }
            })
            .collect();
        let label = cat
            .table(&r.table)
            .map(|t| t.table.label.clone())
            .unwrap_or_else(|| "—".into());
        let file_ctx = minijinja::context! {
            file => &r.file, sheet => &r.sheet, table_label => &label, encoding => &r.encoding,
            rows_in => r.rows_in, accepted => r.accepted, rejected => r.rejected, warnings => r.warnings,
            file_error => &r.file_error,
        };
        let html = env.get_template("import_report.html")?.render(minijinja::context! {
            file => file_ctx, date => date, rules => minijinja::Value::from(minijinja::value::Serde(&rules)), findings => minijinja::Value::from(minijinja::value::Serde(&findings)), truncated => total as usize > HTML_LIMIT, total => total,
        })?;
        let name = safe_name(&r.file);
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, html).with_context(|| format!("无法写入导入报告 {}", page.display()))?;
        index_rows.push(minijinja::context! { file => &r.file, page => format!("{name}.html"), csv => format!("{name}.csv"), table_label => label,
            rows_in => r.rows_in, accepted => r.accepted, rejected => r.rejected, warnings => r.warnings, file_error => &r.file_error });
    }
    let index = dir.join("index.html");
    std::fs::write(
        &index,
        env.get_template("import_index.html")?.render(minijinja::context! {
            date => date, files => index_rows,
            held_out => minijinja::Value::from(minijinja::value::Serde(night.held_out)),
            held_deletions => minijinja::Value::from(minijinja::value::Serde(night.held_deletions)),
        })?,
    )?;
    Ok(index)
}

//! `xueji render`: printable reports from the finished marts, each as HTML, PDF and XLSX.
//!
//! Every report is declared in `reports/reports.toml`: SQL that shapes every value, one
//! document per `file_code`. This module streams the SQL, groups rows into documents, masks
//! what leaves the school, and hands each document to the templates (`reports/document.html`,
//! `reports/document.typ`, which compute nothing) and to the XLSX writer, on every core.

mod catalog;
pub mod chart;
mod document;
pub mod pdf;
mod rows;
pub(crate) mod xlsx;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use minijinja::{AutoEscape, Environment, Value};
use serde::{Deserialize, Serialize};

use crate::models::MaskKind;
use crate::output::{number, text_column};
use crate::warehouse;

pub use catalog::*;
pub use document::*;
use rows::*;

const TEMPLATES: [(&str, &str); 6] = [
    ("layout.html", include_str!("../../reports/layout.html")),
    ("document.html", include_str!("../../reports/document.html")),
    ("index.html", include_str!("../../reports/index.html")),
    ("document.typ", include_str!("../../reports/document.typ")),
    ("certificate.html", include_str!("../../reports/certificate.html")),
    ("certificate.typ", include_str!("../../reports/certificate.typ")),
];

/// Output formats of `xueji render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Pdf,
    Xlsx,
}

pub struct RenderOptions {
    pub warehouse: String,
    pub date: Option<NaiveDate>,
    pub out: PathBuf,
    pub threads: usize,
    pub memory_mb: usize,
    /// Formats to write (empty: all).
    pub formats: Vec<Format>,
    /// Report keys to render (empty: all).
    pub only: Vec<String>,
    /// Report keys printed without masking (for a recipient entitled to the full list).
    pub unmask: Vec<String>,
    /// Render only the documents of these units (school, county, … codes; for the per-pupil
    /// reports also 学籍号 or 身份证件号; empty: all).
    pub units: Vec<String>,
}

impl RenderOptions {
    /// Every report, every format, every unit.
    pub fn new(warehouse: &str, out: &Path) -> Self {
        RenderOptions {
            warehouse: warehouse.to_string(),
            date: None,
            out: out.to_path_buf(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_mb: 4096,
            formats: Vec::new(),
            only: Vec::new(),
            unmask: Vec::new(),
            units: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct RenderOutcome {
    pub snapshot_date: String,
    /// Documents per report key.
    pub documents: BTreeMap<String, usize>,
    /// Every file written, sorted.
    pub files: Vec<String>,
    /// PDF pages written.
    pub pages: usize,
    /// The page that lists every report.
    pub index: String,
    /// The register numbers given out (学籍证明).
    pub issued: Vec<String>,
    /// Reports that could not be written: (key, why). The others were written.
    pub failed: Vec<(String, String)>,
}

impl RenderOutcome {
    fn add(&mut self, (files, pages): (Vec<PathBuf>, usize)) {
        self.files.extend(files.into_iter().map(|p| p.display().to_string()));
        self.pages += pages;
    }
}

#[derive(Serialize)]
struct IndexEntry {
    code: String,
    name: String,
    stem: String,
    rows: usize,
}

/// Render every report (or those `o.only` names) of the night into `o.out`. Reports made on
/// demand (per pupil) are made only when named, for the units given.
pub async fn render(o: &RenderOptions) -> Result<RenderOutcome> {
    let reports = catalog()?;
    for k in o.only.iter().chain(&o.unmask) {
        anyhow::ensure!(
            reports.iter().any(|r| &r.key == k),
            "没有名为 {k} 的报表；可用：{}",
            reports.iter().map(|r| r.key.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let asked: Vec<Format> = if o.formats.is_empty() {
        vec![Format::Html, Format::Pdf, Format::Xlsx]
    } else {
        o.formats.iter().copied().collect::<BTreeSet<_>>().into_iter().collect()
    };
    let (wh, ctx, reg) = crate::pipeline::open_session(&o.warehouse, o.date, o.threads, o.memory_mb).await?;
    // The date the views show: the one asked for, else the latest night.
    let date = reg.as_of.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let env = Arc::new(environment()?);
    let mut out = RenderOutcome {
        snapshot_date: date.clone(),
        ..Default::default()
    };
    let mut index = Vec::new();
    let progress = crate::progress::Progress::new("报表", "份", None);
    for report in reports.iter().filter(|r| {
        if o.only.is_empty() {
            !r.on_demand
        } else {
            o.only.contains(&r.key)
        }
    }) {
        progress.note(report.title.clone());
        let masked = report.mask && !o.unmask.contains(&report.key);
        let formats: Vec<Format> = asked
            .iter()
            .copied()
            .filter(|f| report.formats.as_ref().is_none_or(|l| l.contains(f)))
            .collect();
        if formats.is_empty() {
            anyhow::ensure!(
                o.only.is_empty(),
                "报表 {} 没有所要的格式；它的格式：{:?}",
                report.key,
                report.formats.as_deref().unwrap_or_default()
            );
            continue;
        }
        let units = match &report.scope {
            Some(scope) if !o.units.is_empty() => resolve(&ctx, report, scope, &o.units).await?,
            _ if report.on_demand && o.units.is_empty() => bail!(
                "报表 {}（{}）按学生出具：请用 --unit 给出学校标识码、学籍号或身份证件号",
                report.key,
                report.title
            ),
            _ => o.units.clone(),
        };
        // A report that fails (its SQL, a value no format can hold, a file that cannot be
        // written) fails alone and is named; the others are still written.
        let written = async {
            let dir = o.out.join(&report.dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("无法创建目录 {}", dir.display()))?;
            let extras = extras(&ctx, report, &units).await?;
            let mut rest = Vec::new();
            for part in &report.parts[1..] {
                rest.push(keyed(&ctx, report, part, !masked, &units).await?);
            }
            // The first part streams: a document is finished when its file_code changes, and at most
            // `threads` documents are being typeset while the next is read.
            let mut stream = run(&ctx, report, &report.parts[0].sql, &units)
                .await?
                .execute_stream()
                .await?;
            let permits = Arc::new(tokio::sync::Semaphore::new(o.threads.max(1)));
            let mut jobs = tokio::task::JoinSet::new();
            let mut entries = Vec::new();
            let mut shape0: Option<PartShape> = None;
            let mut current: Option<(String, PartRows)> = None;
            let mut seen = BTreeSet::new();
            let mut build = |code: String, rows: PartRows, shape0: &PartShape| {
                let mut parts = vec![(Some(rows), shape0, &report.parts[0])];
                for ((shape, map), def) in rest.iter_mut().zip(&report.parts[1..]) {
                    parts.push((map.remove(&code), &*shape, def));
                }
                assemble(report, &code, &date, masked, parts, &extras)
            };
            let issue = async |doc: Document,
                               entries: &mut Vec<IndexEntry>,
                               jobs: &mut tokio::task::JoinSet<Result<(Vec<PathBuf>, usize)>>|
                   -> Result<()> {
                let mut doc = doc;
                let permit = permits.clone().acquire_owned().await?;
                if report.serial {
                    let field = |k: &str| {
                        doc.fields
                            .get(k)
                            .cloned()
                            .with_context(|| format!("报表 {}：编号报表的 SQL 应返回 {k} 列", report.key))
                    };
                    doc.serial = warehouse::certificates::issue(
                        &wh,
                        &report.key,
                        &field("school_id")?,
                        &field("registration_no")?,
                        &doc.unit_name,
                        &date,
                    )
                    .await?
                    .serial;
                }
                entries.push(IndexEntry {
                    code: doc.unit_code.clone(),
                    name: doc.unit_name.clone(),
                    stem: doc.stem(),
                    rows: doc.rows(),
                });
                let (env, dir, formats) = (env.clone(), dir.clone(), formats.clone());
                let progress = progress.clone();
                jobs.spawn_blocking(move || {
                    let r = write_document(&env, &doc, &dir, &formats);
                    drop(permit);
                    progress.inc(1);
                    r
                });
                Ok(())
            };
            while let Some(batch) = stream.next().await {
                let batch = batch.with_context(|| format!("报表 {} 的 SQL 执行失败", report.key))?;
                if shape0.is_none() {
                    shape0 = Some(shape(report, &report.parts[0], &batch.schema(), !masked)?);
                }
                let s = shape0.as_ref().expect("set above");
                for (code, name, section, values) in batch_rows(&batch, s)? {
                    if current.as_ref().is_none_or(|(c, _)| *c != code) {
                        if let Some((c, rows)) = current.take() {
                            issue(build(c, rows, s), &mut entries, &mut jobs).await?;
                        }
                        if !seen.insert(code.clone()) {
                            bail!("报表 {}：SQL 结果未按 file_code 排序（{code} 出现了两次）", report.key);
                        }
                        current = Some((
                            code.clone(),
                            PartRows {
                                file_name: name,
                                sections: Vec::new(),
                            },
                        ));
                    }
                    push_row(&mut current.as_mut().expect("set above").1, section, values);
                }
                // Collect finished documents as they come, so an error stops the night early.
                while let Some(done) = jobs.try_join_next() {
                    out.add(done??);
                }
            }
            if let (Some((c, rows)), Some(s)) = (current.take(), shape0.as_ref()) {
                issue(build(c, rows, s), &mut entries, &mut jobs).await?;
            }
            while let Some(done) = jobs.join_next().await {
                out.add(done??);
            }
            let page = env.get_template("index.html")?.render(minijinja::context! {
                title => &report.title, level => &report.level, date => &date, masked => masked,
                entries => Value::from(minijinja::value::Serde(&entries)), formats => Value::from(minijinja::value::Serde(&formats)),
            })?;
            let path = dir.join("index.html");
            std::fs::write(&path, page).with_context(|| format!("无法写入 {}", path.display()))?;
            out.files.push(path.display().to_string());
            out.documents.insert(report.key.clone(), entries.len());
            if report.serial {
                out.issued.extend(entries.iter().map(|e| e.stem.clone()));
            }
            index.push(minijinja::context! { title => &report.title, level => &report.level, dir => &report.dir, documents => entries.len(), masked => masked });
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = written {
            out.failed.push((report.key.clone(), format!("{e:#}")));
            index.push(minijinja::context! { title => &report.title, level => &report.level, dir => &report.dir, documents => 0, masked => masked, failed => format!("{e:#}") });
        }
    }
    progress.finish();
    let page = env
        .get_template("index.html")?
        .render(minijinja::context! { title => "报表目录", date => &date, reports => index })?;
    let path = o.out.join("index.html");
    std::fs::write(&path, page).with_context(|| format!("无法写入 {}", path.display()))?;
    out.index = path.display().to_string();
    out.files.push(out.index.clone());
    out.files.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_what_identifies_the_region_only() {
        assert_eq!(MaskKind::Id.apply("52010220120304123X"), "520102************");
        assert_eq!(MaskKind::Phone.apply("13812345678"), "138****5678");
        assert_eq!(
            MaskKind::Address.apply("贵州省贵阳市南明区花果园街道1号"),
            "贵州省贵阳市南明区****"
        );
    }

    #[test]
    fn numbers_print_as_written() {
        assert_eq!(number(1250.0), "1250");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(0.333333), "0.33");
    }

    #[test]
    fn every_report_is_well_formed() {
        let reports = catalog().unwrap();
        assert!(reports.len() >= 10);
        for r in &reports {
            for p in &r.parts {
                if let Some(m) = &p.model
                    && crate::schema::catalog().table(m).is_none()
                {
                    crate::models::out_schema(m).unwrap_or_else(|e| panic!("{}: {e}", r.key));
                }
            }
            assert!(
                !r.serial || r.template == "certificate",
                "{}: a numbered report prints its number",
                r.key
            );
            assert!(
                r.scope.is_none() || r.on_demand,
                "{}: scope is for on-demand reports",
                r.key
            );
        }
    }

    #[test]
    fn rows_get_a_fixed_height_only_when_every_value_fits_one_line() {
        let col = |name: &str, label: &str| Column {
            name: name.into(),
            label: label.into(),
            numeric: false,
            fr: 0,
        };
        let table = |rows: Vec<Vec<String>>| Table {
            title: String::new(),
            section: String::new(),
            new_page: false,
            form: false,
            columns: vec![col("name", "姓名"), col("address", "现住址")],
            rows,
            total: None,
            one_line: false,
        };
        let mut short = table(vec![vec!["王佳".into(), "山丹县解放路288号25栋4单元399室".into()]]);
        fit_widths(&mut short, true);
        assert!(short.one_line);
        // An address wider than its column (the page's width at most) wraps: the row's height is left to Typst.
        let mut long = table(vec![vec![
            "王佳".into(),
            "甘肃省张掖市山丹县清泉镇解放路288号25栋4单元399室（父母在外务工，由祖父母照看）".repeat(3),
        ]]);
        fit_widths(&mut long, true);
        assert!(!long.one_line);
        // The same check in the markup: a fixed row height, or none.
        let env = environment().unwrap();
        let markup = |t: Table| {
            let doc = Document {
                report: "r".into(),
                title: "t".into(),
                level: "学校".into(),
                unit_code: "1".into(),
                unit_name: "n".into(),
                date: "2026-10-15".into(),
                landscape: true,
                masked: false,
                note: String::new(),
                facts: vec![],
                charts: vec![],
                tables: vec![t],
                signatures: vec![],
                template: "document".into(),
                fields: BTreeMap::new(),
                serial: String::new(),
            };
            env.get_template("document.typ")
                .unwrap()
                .render(minijinja::context! { doc => Value::from(minijinja::value::Serde(&doc)) })
                .unwrap()
        };
        assert!(markup(short).contains(&format!("rows: (auto, {}pt)", pdf::SIZES.line_row_pt)));
        assert!(!markup(long).contains("rows:"));
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("a/b/学校.xlsx"), "学校.xlsx");
        assert_eq!(file_stem(".."), "_");
        assert_eq!(file_stem("x:y"), "x_y");
    }
}

//! `xueji render`: printable reports from the finished marts, each as HTML, PDF and XLSX.
//!
//! Every report is declared in `reports/reports.toml`: SQL that shapes every value, one
//! document per `file_code`. This module streams the SQL, groups rows into documents, masks
//! what leaves the school, and hands each document to the templates (`reports/document.html`,
//! `reports/document.typ`, which compute nothing) and to the XLSX writer, on every core.

pub mod chart;
pub mod pdf;
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
use crate::warehouse;

const CATALOG: &str = include_str!("../../reports/reports.toml");
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    report: Vec<ReportDef>,
}

/// One `[[report]]` of `reports/reports.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDef {
    pub key: String,
    pub title: String,
    pub dir: String,
    pub level: String,
    #[serde(default)]
    pub landscape: bool,
    #[serde(default)]
    pub mask: bool,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub signatures: Vec<String>,
    /// The templates `<template>.html` and `<template>.typ` (default: document).
    #[serde(default = "default_template")]
    pub template: String,
    /// Made only when asked for by name, for the units given (per-pupil documents).
    #[serde(default)]
    pub on_demand: bool,
    /// SQL returning `file_code` and the columns that `--unit` may name (school, 学籍号, ID
    /// number): `--unit` picks the documents whose row matches in any column.
    #[serde(default)]
    pub scope: Option<String>,
    /// The formats the report is made in (default: all).
    #[serde(default)]
    pub formats: Option<Vec<Format>>,
    /// Every document gets the next number of the register (学籍证明); the SQL's first part
    /// must return `school_id` and `registration_no`.
    #[serde(default)]
    pub serial: bool,
    pub parts: Vec<PartDef>,
    #[serde(default)]
    pub facts: Vec<FactsDef>,
    #[serde(default)]
    pub charts: Vec<ChartDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartDef {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub title: String,
    pub sql: String,
    /// Columns summed in a 合计 row.
    #[serde(default)]
    pub total: Vec<String>,
    #[serde(default)]
    pub new_page: bool,
    /// Shown as a form (label, value, label, value …) instead of a table: one per row.
    #[serde(default)]
    pub form: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_template() -> String {
    "document".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsDef {
    pub sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartDef {
    pub title: String,
    pub sql: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The reports of `reports/reports.toml`.
pub fn catalog() -> Result<Vec<ReportDef>> {
    let c: Catalog = toml::from_str(CATALOG).context("reports/reports.toml 格式错误")?;
    let mut keys = BTreeSet::new();
    for r in &c.report {
        anyhow::ensure!(keys.insert(r.key.as_str()), "reports/reports.toml：报表 {} 重复", r.key);
        anyhow::ensure!(!r.parts.is_empty(), "reports/reports.toml：报表 {} 没有 parts", r.key);
        anyhow::ensure!(
            TEMPLATES.iter().any(|(n, _)| *n == format!("{}.typ", r.template)),
            "reports/reports.toml：报表 {} 的模板 {} 不存在",
            r.key,
            r.template
        );
        anyhow::ensure!(
            !r.serial || r.on_demand,
            "reports/reports.toml：编号报表 {} 只能按需出具（on_demand = true）",
            r.key
        );
    }
    Ok(c.report)
}

/// A column as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    pub label: String,
    pub numeric: bool,
    /// Relative width (Typst `fr`), from the longest of the label and the values.
    pub fr: usize,
}

/// One table of a document: a part, or one section of it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    pub section: String,
    pub new_page: bool,
    pub form: bool,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    pub total: Option<Vec<String>>,
    /// Every value fits its column on one line, so the PDF can give the rows a fixed height:
    /// Typst then lays each cell out once instead of measuring it first (a long roster typesets
    /// in about half the time).
    pub one_line: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    pub svg: String,
}

/// What one file of a report holds.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub report: String,
    pub title: String,
    pub level: String,
    pub unit_code: String,
    pub unit_name: String,
    pub date: String,
    pub landscape: bool,
    pub masked: bool,
    pub note: String,
    pub facts: Vec<Fact>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    pub signatures: Vec<String>,
    /// `reports/<template>.html|typ`.
    pub template: String,
    /// The first row of the first table by column name, for templates that place values one by
    /// one (a certificate's sentence).
    pub fields: BTreeMap<String, String>,
    /// The register's number (numbered reports), else empty.
    pub serial: String,
}

impl Document {
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// The file name without extension: the number of a numbered document, else the unit's code.
    pub fn stem(&self) -> String {
        file_stem(if self.serial.is_empty() {
            &self.unit_code
        } else {
            &self.serial
        })
    }
}

/// The rows of one part for one document, before they are cut into sections.
struct PartRows {
    file_name: String,
    sections: Vec<(String, Vec<Vec<String>>)>,
}

/// How a part's columns are shown: labels, mask kinds and which are numbers.
struct PartShape {
    has_section: bool,
    columns: Vec<Column>,
    masks: Vec<Option<MaskKind>>,
}

fn shape(
    report: &ReportDef,
    part: &PartDef,
    batch_schema: &arrow::datatypes::Schema,
    unmasked: bool,
) -> Result<PartShape> {
    let fields = batch_schema.fields();
    anyhow::ensure!(
        fields.len() >= 3 && fields[0].name() == "file_code" && fields[1].name() == "file_name",
        "报表 {}：SQL 的前两列应为 file_code, file_name",
        report.key
    );
    let has_section = fields[2].name() == "section";
    // Labels: a model's schema, or an input table's template headers (students, movements, …).
    let input = part.model.as_deref().and_then(|m| crate::schema::catalog().table(m));
    let model_schema = if input.is_some() {
        None
    } else {
        part.model.as_deref().map(crate::models::out_schema).transpose()?
    };
    let masks_by_name = crate::models::mask_kinds();
    let mut columns = Vec::new();
    let mut masks = Vec::new();
    for f in fields.iter().skip(if has_section { 3 } else { 2 }) {
        let name = f.name();
        let label = part
            .labels
            .get(name)
            .cloned()
            .or_else(|| {
                model_schema
                    .as_ref()
                    .and_then(|s| s.columns.iter().find(|c| &c.name == name).map(|c| c.label.clone()))
            })
            .or_else(|| input.and_then(|t| t.column(name)).map(|c| c.header.clone()))
            .with_context(|| format!("报表 {}：列 {name} 没有中文标题（在 labels 中给出）", report.key))?;
        let numeric = f.data_type().is_numeric();
        columns.push(Column {
            name: name.clone(),
            label,
            numeric,
            fr: 1,
        });
        masks.push(if report.mask && !unmasked {
            masks_by_name.get(name.as_str()).copied()
        } else {
            None
        });
    }
    for t in &part.total {
        anyhow::ensure!(
            columns.iter().any(|c| &c.name == t),
            "报表 {}：合计列 {t} 不在 SQL 结果中",
            report.key
        );
    }
    Ok(PartShape {
        has_section,
        columns,
        masks,
    })
}

use crate::output::{number, text_column};

/// A row as a document shows it: (file_code, file_name, section, shown values).
type TextRow = (String, String, String, Vec<String>);

/// Text rows of a batch, masked as the shape says.
fn batch_rows(b: &RecordBatch, shape: &PartShape) -> Result<Vec<TextRow>> {
    let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
    let first = if shape.has_section { 3 } else { 2 };
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let values = cols[first..]
            .iter()
            .zip(&shape.masks)
            .map(|(c, m)| match m {
                Some(k) if !c[i].is_empty() => k.apply(&c[i]),
                _ => c[i].clone(),
            })
            .collect();
        out.push((
            cols[0][i].clone(),
            cols[1][i].clone(),
            if shape.has_section {
                cols[2][i].clone()
            } else {
                String::new()
            },
            values,
        ));
    }
    Ok(out)
}

/// Run a statement whole: rows keyed by file_code.
async fn keyed(
    ctx: &SessionContext,
    report: &ReportDef,
    part: &PartDef,
    unmasked: bool,
    units: &[String],
) -> Result<(PartShape, HashMap<String, PartRows>)> {
    let batches = run(ctx, report, &part.sql, units).await?.collect().await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    let mut map: HashMap<String, PartRows> = HashMap::new();
    if batches.is_empty() {
        return Ok((
            PartShape {
                has_section: false,
                columns: Vec::new(),
                masks: Vec::new(),
            },
            map,
        ));
    }
    let shape = shape(report, part, &schema, unmasked)?;
    for b in &batches {
        for (code, name, section, values) in batch_rows(b, &shape)? {
            push_row(
                map.entry(code).or_insert_with(|| PartRows {
                    file_name: name,
                    sections: Vec::new(),
                }),
                section,
                values,
            );
        }
    }
    Ok((shape, map))
}

fn push_row(p: &mut PartRows, section: String, values: Vec<String>) {
    match p.sections.last_mut() {
        Some((s, rows)) if *s == section => rows.push(values),
        _ => p.sections.push((section, vec![values])),
    }
}

/// A report statement limited to some units. The filter sits above the statement's ORDER BY in
/// the plan (the optimizer pushes it down to the mart scan, so one school's roster reads that
/// school's rows), and the order the statement asks for is kept: wrapping the SQL in a
/// subquery would let the planner drop an inner ORDER BY.
async fn run(
    ctx: &SessionContext,
    report: &ReportDef,
    sql: &str,
    units: &[String],
) -> Result<datafusion::prelude::DataFrame> {
    use datafusion::prelude::{col, lit};
    let df = ctx.sql(sql).await.with_context(|| {
        format!(
            "报表 {} 的 SQL 无法执行（所需的数据集市是否已由 xueji run 生成？）",
            report.key
        )
    })?;
    if units.is_empty() {
        return Ok(df);
    }
    Ok(df.filter(col("file_code").in_list(units.iter().map(|u| lit(u.as_str())).collect(), false))?)
}

/// The figures and charts of every document of a report, read whole (they are small).
struct Extras {
    facts: HashMap<String, Vec<Fact>>,
    charts: HashMap<String, Vec<Chart>>,
}

async fn extras(ctx: &SessionContext, report: &ReportDef, units: &[String]) -> Result<Extras> {
    let mut facts: HashMap<String, Vec<Fact>> = HashMap::new();
    for f in &report.facts {
        let batches = run(ctx, report, &f.sql, units).await?.collect().await?;
        // One row per document, one column per figure: the order of the figures is the
        // statement's column order, whatever order the rows come in.
        for b in &batches {
            let schema = b.schema();
            anyhow::ensure!(
                schema.fields().len() >= 2 && schema.field(0).name() == "file_code",
                "报表 {}：facts 的 SQL 应返回 file_code 和至少一列数值（列名即标签）",
                report.key
            );
            let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                let list = facts.entry(cols[0][i].clone()).or_default();
                list.extend(schema.fields().iter().zip(&cols).skip(1).map(|(f, c)| Fact {
                    label: f.name().clone(),
                    value: c[i].clone(),
                }));
            }
        }
    }
    let mut charts: HashMap<String, Vec<Chart>> = HashMap::new();
    for c in &report.charts {
        let batches = run(ctx, report, &c.sql, units).await?.collect().await?;
        let Some(first) = batches.first() else { continue };
        let schema = first.schema();
        anyhow::ensure!(
            schema.fields().len() >= 3,
            "报表 {}：charts 的 SQL 应返回 file_code, category 和至少一列数值",
            report.key
        );
        let series: Vec<String> = schema.fields()[2..]
            .iter()
            .map(|f| c.labels.get(f.name()).cloned().unwrap_or_else(|| f.name().clone()))
            .collect();
        let mut data: BTreeMap<String, Vec<(String, Vec<f64>)>> = BTreeMap::new();
        for b in &batches {
            let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                let values = cols[2..].iter().map(|c| c[i].parse::<f64>().unwrap_or(0.0)).collect();
                data.entry(cols[0][i].clone())
                    .or_default()
                    .push((cols[1][i].clone(), values));
            }
        }
        for (code, rows) in data {
            charts.entry(code).or_default().push(Chart {
                title: c.title.clone(),
                svg: chart::bars(&series, &rows),
            });
        }
    }
    Ok(Extras { facts, charts })
}

/// The template environment: HTML escaped as HTML, Typst markup escaped as Typst.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".typ") {
            AutoEscape::Custom("typst".into())
        } else {
            AutoEscape::Html
        }
    });
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == AutoEscape::Custom("typst".into()) && !value.is_safe() {
            // Numbers are written as they are (sizes such as 10.664pt, in code); everything else is text.
            let text = match value.as_str() {
                Some(s) => pdf::escape(s),
                None if value.kind() == minijinja::value::ValueKind::Number => value.to_string(),
                None => pdf::escape(&value.to_string()),
            };
            out.write_str(&text)
                .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_global("pdf", Value::from(minijinja::value::Serde(*pdf::SIZES)));
    // A Typst string literal (for SVG handed to `image`): quotes and backslashes escaped.
    env.add_filter("typst_str", |v: String| {
        Value::from_safe_string(format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
    });
    for (name, text) in TEMPLATES {
        env.add_template(name, text)?;
    }
    Ok(env)
}

/// File name of a unit's documents: its code, with what a file system refuses replaced.
fn file_stem(code: &str) -> String {
    let base = code.rsplit(['/', '\\']).next().unwrap_or(code);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".into()
    } else {
        s
    }
}

/// Write one document in every asked format; the files written and the PDF's pages.
pub fn write_document(
    env: &Environment,
    doc: &Document,
    dir: &Path,
    formats: &[Format],
) -> Result<(Vec<PathBuf>, usize)> {
    let stem = doc.stem();
    let path = |f: &Format| {
        dir.join(format!(
            "{stem}.{}",
            match f {
                Format::Html => "html",
                Format::Pdf => "pdf",
                Format::Xlsx => "xlsx",
            }
        ))
    };
    let context = || minijinja::context! { doc => Value::from(minijinja::value::Serde(doc)) };
    // The PDF takes most of the time: it is typeset beside the HTML and the XLSX.
    std::thread::scope(|scope| {
        let pdf = formats.contains(&Format::Pdf).then(|| {
            scope.spawn(|| -> Result<usize> {
                let path = path(&Format::Pdf);
                let markup = env.get_template(&format!("{}.typ", doc.template))?.render(context())?;
                let (bytes, n) = pdf::pdf(markup, &format!("{}/{}/{}", doc.report, doc.unit_code, doc.date))
                    .with_context(|| format!("{} 的 PDF", path.display()))?;
                std::fs::write(&path, bytes).with_context(|| format!("无法写入 {}", path.display()))?;
                Ok(n)
            })
        });
        for f in formats {
            let path = path(f);
            match f {
                Format::Html => {
                    let html = env.get_template(&format!("{}.html", doc.template))?.render(context())?;
                    std::fs::write(&path, html).with_context(|| format!("无法写入 {}", path.display()))?;
                }
                Format::Xlsx => xlsx::write(doc, &path)?,
                Format::Pdf => {}
            }
        }
        let pages = match pdf {
            Some(h) => h.join().map_err(|_| {
                anyhow::anyhow!(
                    "{} 的 PDF：排版中断 / typesetting panicked",
                    path(&Format::Pdf).display()
                )
            })??,
            None => 0,
        };
        Ok((formats.iter().map(path).collect(), pages))
    })
}

/// Column widths from the longest label or value (CJK counts double), capped so that one
/// long address cannot squeeze the other columns; then whether every value fits on one line
/// (the header row may wrap: its height stays Typst's to find).
fn fit_widths(t: &mut Table, landscape: bool) {
    let w = |s: &str| s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>();
    for (i, c) in t.columns.iter_mut().enumerate() {
        let longest = t
            .rows
            .iter()
            .map(|r| w(&r[i]))
            .max()
            .unwrap_or(0)
            .max(t.total.as_ref().map_or(0, |r| w(&r[i])));
        c.fr = longest.max(w(&c.label).min(8)).clamp(4, 40);
    }
    let per_fr = pdf::text_width_pt(landscape) / t.columns.iter().map(|c| c.fr as f64).sum::<f64>();
    // A point to spare for kerning and rounding.
    let room: Vec<f64> = t
        .columns
        .iter()
        .map(|c| c.fr as f64 * per_fr - 2.0 * pdf::SIZES.inset_x_pt - 1.0)
        .collect();
    t.one_line = !t.form
        && t.rows
            .iter()
            .chain(&t.total)
            .all(|r| r.iter().zip(&room).all(|(v, room)| pdf::body_width_pt(v) <= *room));
}

/// The 合计 row: the named columns summed, the first cell saying what the row is.
fn totals(t: &Table, summed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if summed.contains(&c.name) {
                number(t.rows.iter().map(|r| r[i].parse::<f64>().unwrap_or(0.0)).sum())
            } else {
                String::new()
            }
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = if first.is_empty() {
            "合计".into()
        } else {
            format!("合计 {first}")
        };
    }
    out
}

fn assemble(
    report: &ReportDef,
    code: &str,
    date: &str,
    masked: bool,
    parts: Vec<(Option<PartRows>, &PartShape, &PartDef)>,
    extras: &Extras,
) -> Document {
    let mut unit_name = String::new();
    let mut tables = Vec::new();
    for (rows, shape, def) in parts {
        let Some(rows) = rows else { continue };
        if unit_name.is_empty() {
            unit_name = rows.file_name.clone();
        }
        for (section, rows) in rows.sections {
            let mut t = Table {
                title: def.title.clone(),
                section,
                new_page: def.new_page,
                form: def.form,
                columns: shape.columns.clone(),
                rows,
                total: None,
                one_line: false,
            };
            if !def.total.is_empty() {
                t.total = Some(totals(&t, &def.total));
            }
            fit_widths(&mut t, report.landscape);
            tables.push(t);
        }
    }
    let fields = match tables.first() {
        Some(t) if report.template != "document" => t
            .columns
            .iter()
            .zip(t.rows.first().into_iter().flatten())
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect(),
        _ => BTreeMap::new(),
    };
    Document {
        report: report.key.clone(),
        title: report.title.clone(),
        level: report.level.clone(),
        unit_code: code.to_string(),
        unit_name,
        date: date.to_string(),
        landscape: report.landscape,
        masked,
        note: report.note.clone(),
        facts: extras.facts.get(code).cloned().unwrap_or_default(),
        charts: extras.charts.get(code).cloned().unwrap_or_default(),
        tables,
        signatures: report.signatures.clone(),
        template: report.template.clone(),
        fields,
        serial: String::new(),
    }
}

#[derive(Serialize)]
struct IndexEntry {
    code: String,
    name: String,
    stem: String,
    rows: usize,
}

/// The documents that `--unit` names through a report's `scope`: the file codes of the rows
/// that hold one of the units in any column. A unit that matches nothing is an error, so that a
/// mistyped 学籍号 is not taken for "nothing to print".
async fn resolve(ctx: &SessionContext, report: &ReportDef, scope: &str, units: &[String]) -> Result<Vec<String>> {
    use datafusion::prelude::{cast, ident, lit};
    let err = || format!("报表 {} 的 scope SQL 无法执行", report.key);
    let df = ctx.sql(scope).await.with_context(err)?;
    let columns: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    anyhow::ensure!(
        columns.first().is_some_and(|c| c == "file_code"),
        "报表 {}：scope 的 SQL 第一列应为 file_code",
        report.key
    );
    let values: Vec<_> = units.iter().map(|u| lit(u.as_str())).collect();
    let any = columns
        .iter()
        .map(|c| cast(ident(c), DataType::Utf8).in_list(values.clone(), false))
        .reduce(|a, b| a.or(b))
        .expect("file_code is a column");
    let batches = df.filter(any)?.collect().await.with_context(err)?;
    let mut codes = BTreeSet::new();
    let mut matched = BTreeSet::new();
    for b in &batches {
        let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            codes.insert(cols[0][i].clone());
            matched.extend(cols.iter().map(|c| &c[i]).filter(|v| units.contains(v)).cloned());
        }
    }
    let missing: Vec<&str> = units
        .iter()
        .filter(|u| !matched.contains(*u))
        .map(String::as_str)
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "报表 {}：--unit 给出的 {} 没有找到可出具的学生（应为学校标识码、学籍号或身份证件号；已转出等状态的学籍不能出具）",
        report.title,
        missing.join("、")
    );
    Ok(codes.into_iter().collect())
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

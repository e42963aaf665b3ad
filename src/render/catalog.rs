//! The report catalogue: `reports/reports.toml` read and checked.

use super::*;

const CATALOG: &str = include_str!("../../reports/reports.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Catalog {
    pub(super) report: Vec<ReportDef>,
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

pub(super) fn default_template() -> String {
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

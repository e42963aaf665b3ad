//! The schema catalogue: every table's columns, types, Chinese labels, checks and code lists,
//! read from the TOML files in `schemas/` (embedded at build time so the binary is self-contained).
//!
//! Nothing else in the code base spells a Chinese header: ingest maps headers, the warehouse
//! builds arrow schemas and reports take labels from here.

mod calendar;
mod regions;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

pub use calendar::{Calendar, grades_of_stage};
pub use regions::Regions;

/// Storage type of a column (every template cell is text; ingest converts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    Utf8,
    Date,
    Bool,
    Int64,
    Float64,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Utf8 => DataType::Utf8,
            ColType::Date => DataType::Date32,
            ColType::Bool => DataType::Boolean,
            ColType::Int64 => DataType::Int64,
            ColType::Float64 => DataType::Float64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Required {
    Yes,
    No,
    /// Required or not depending on other fields; decided by a cross-field rule.
    Cond,
}

/// The field check applied on import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Text,
    Address,
    PersonName,
    Code,
    Bool,
    Date8,
    /// A date that may lie after the snapshot (the end of a term, of a programme).
    Date8Any,
    Month6,
    /// A 2-digit province code that exists.
    Province2,
    /// A non-negative whole number.
    Integer,
    /// A non-negative number with at most two decimals.
    Decimal,
    Region12,
    County6,
    Authority6,
    SchoolId,
    Phone,
    Postcode,
    Distance,
    ClassCode,
    IdNumber,
    MemberIdNumber,
    IdValidPeriod,
    Email,
    RegistrationNo,
}

impl Check {
    /// What a value must look like, in the words of the import errors and the reference page.
    pub fn describe(self) -> &'static str {
        match self {
            Check::Text => "文本",
            Check::Address => "地址文本",
            Check::PersonName => "汉字或字母（少数民族姓名可用“·”）",
            Check::Code => "代码表中的名称",
            Check::Bool => "是 或 否",
            Check::Date8 => "8位日期 YYYYMMDD，不晚于快照日期",
            Check::Date8Any => "8位日期 YYYYMMDD，如 20150901",
            Check::Month6 => "6位年月 YYYYMM，不晚于快照日期",
            Check::Province2 => "2位省级代码，如 52",
            Check::Integer => "非负整数，如 21",
            Check::Decimal => "数字，最多两位小数，如 132.5",
            Check::Region12 => "12位区划代码，前6位为国家统计局区划代码中存在的县级代码",
            Check::County6 | Check::Authority6 => "6位区划代码",
            Check::SchoolId => "10位数字",
            Check::Phone => "只填数字：手机11位；固话7–8位，带区号10–12位",
            Check::Postcode => "6位数字",
            Check::Distance => "数字，单位公里，最多一位小数，如 3.5",
            Check::ClassCode => "班号：入学年份与入学年月一致，学段与学校类别相符",
            Check::IdNumber => {
                "证件号：居民身份证的位数、校验位、出生日期、地区、性别有误时给出警告，并列入问题学籍“身份证件号错误”"
            }
            Check::MemberIdNumber => "居民身份证号须有效",
            Check::IdValidPeriod => "起止年份或日期，如 2020年—2025年、20200601-20250601 或 2020.06.01-2025.06.01",
            Check::Email => "如 name@example.com",
            Check::RegistrationNo => "19位：G、J或L加18位",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    /// English snake_case name in the warehouse.
    pub name: String,
    /// Header exactly as in the template; also the Chinese label in reports.
    pub header: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "type")]
    pub col_type: ColType,
    pub required: Required,
    pub check: Check,
    pub codelist: Option<String>,
    /// "compulsory": belongs to 义务教育 only.
    pub stage: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    /// A column that files may omit entirely (e.g. 学籍号 in exports only).
    #[serde(default)]
    pub optional_column: bool,
    /// Longest value accepted, in characters (default: [`ColumnDef::max_chars`]).
    pub max_len: Option<usize>,
}

impl ColumnDef {
    /// Longest value accepted, in characters: `max_len`, else 50 for a person's name, 300 for an
    /// address and 200 for anything else. A 40,000-character name would fit no report, no Excel
    /// cell (32,767) and no screen.
    pub fn max_chars(&self) -> usize {
        self.max_len.unwrap_or(match self.check {
            Check::PersonName => 50,
            Check::Address => 300,
            _ => 200,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMeta {
    pub name: String,
    pub label: String,
    /// Column that identifies a row across nights (computed for students); several joined by `+`.
    pub key: String,
    /// Column whose values bound a snapshot: rows of a submitted scope that are absent are deleted.
    pub scope: Option<String>,
    pub history: String,
    pub grain: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSchema {
    pub table: TableMeta,
    pub columns: Vec<ColumnDef>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Arrow fields of the data columns (all nullable: a warehouse never infers, but absent
    /// optional values are null).
    pub fn data_fields(&self) -> Vec<Field> {
        self.columns
            .iter()
            .map(|c| Field::new(&c.name, c.col_type.arrow(), true))
            .collect()
    }

    /// Headers that every file of this table must have.
    pub fn required_headers(&self) -> impl Iterator<Item = &ColumnDef> {
        self.columns
            .iter()
            .filter(|c| !c.optional_column && c.required == Required::Yes)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeValue {
    pub code: String,
    pub name: String,
    pub stage: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeList {
    pub label: String,
    #[serde(default)]
    pub values: Vec<CodeValue>,
    #[serde(default)]
    pub forbidden: Vec<String>,
    pub source: Option<String>,
    /// name or alias -> index into `values`
    #[serde(skip)]
    lookup: HashMap<String, Vec<usize>, ahash::RandomState>,
}

impl CodeList {
    /// The entries a spelling may stand for (a name can be in two stages, e.g. 其他).
    pub fn lookup(&self, text: &str) -> &[usize] {
        self.lookup.get(text).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|v| v.name.as_str())
    }

    fn index(&mut self) {
        self.lookup.clear();
        for (i, v) in self.values.iter().enumerate() {
            for s in std::iter::once(&v.name).chain(&v.aliases) {
                self.lookup.entry(s.clone()).or_default().push(i);
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub severity: Severity,
    pub message: String,
    /// The seed lines the rule follows, `<file number> <place>：<text>` (docs/rules.md).
    #[serde(default)]
    pub seed: Vec<String>,
    /// Where the rule comes from when no seed line says it.
    #[serde(default)]
    pub basis: String,
    /// The files that emit it, `path` or `path#function`.
    #[serde(default)]
    pub code: Vec<String>,
    /// The tests that prove it (paths as in schemas/domain_rules.toml).
    #[serde(default)]
    pub tests: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    File,
    Error,
    Warning,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::File => "文件错误",
            Severity::Error => "错误",
            Severity::Warning => "警告",
        }
    }
}

#[derive(Debug, Deserialize)]
struct CodeListsFile {
    lists: HashMap<String, CodeList>,
}

#[derive(Debug, Deserialize)]
struct RulesFile {
    rules: HashMap<String, Rule>,
}

/// Everything in `schemas/`, parsed once per process.
pub struct Catalog {
    pub students: TableSchema,
    pub schools: TableSchema,
    pub movements: TableSchema,
    pub dedup_decisions: TableSchema,
    pub key_change_requests: TableSchema,
    pub nutrition_schools: TableSchema,
    pub nutrition_terms: TableSchema,
    pub nutrition_duty: TableSchema,
    pub exams: TableSchema,
    pub meal_ledger: TableSchema,
    pub codelists: HashMap<String, CodeList>,
    pub rules: HashMap<String, Rule>,
    pub regions: Regions,
    pub calendar: Calendar,
}

impl Catalog {
    pub fn codelist(&self, name: &str) -> &CodeList {
        self.codelists
            .get(name)
            .unwrap_or_else(|| panic!("bug: code list {name} is not in codelists.toml"))
    }

    pub fn rule(&self, code: &str) -> &Rule {
        self.rules
            .get(code)
            .unwrap_or_else(|| panic!("bug: rule {code} is not in rules.toml"))
    }

    /// The input tables, in the order ingest tries them when recognising a file.
    pub fn input_tables(&self) -> [&TableSchema; 10] {
        [
            &self.students,
            &self.movements,
            &self.dedup_decisions,
            &self.key_change_requests,
            &self.exams,
            &self.meal_ledger,
            &self.nutrition_terms,
            &self.nutrition_duty,
            &self.nutrition_schools,
            &self.schools,
        ]
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.input_tables().into_iter().find(|t| t.table.name == name)
    }
}

const STUDENTS_TOML: &str = include_str!("../../schemas/students.toml");
const SCHOOLS_TOML: &str = include_str!("../../schemas/schools.toml");
const MOVEMENTS_TOML: &str = include_str!("../../schemas/movements.toml");
const DECISIONS_TOML: &str = include_str!("../../schemas/dedup_decisions.toml");
const KEY_CHANGES_TOML: &str = include_str!("../../schemas/key_change_requests.toml");
const NUTRITION_SCHOOLS_TOML: &str = include_str!("../../schemas/nutrition_schools.toml");
const NUTRITION_TERMS_TOML: &str = include_str!("../../schemas/nutrition_terms.toml");
const NUTRITION_DUTY_TOML: &str = include_str!("../../schemas/nutrition_duty.toml");
const EXAMS_TOML: &str = include_str!("../../schemas/exams.toml");
const MEAL_LEDGER_TOML: &str = include_str!("../../schemas/meal_ledger.toml");
const CODELISTS_TOML: &str = include_str!("../../schemas/codelists.toml");
const RULES_TOML: &str = include_str!("../../schemas/rules.toml");
const ETHNICITY_CSV: &str = include_str!("../../schemas/reference/ethnicity_codes.csv");

fn load() -> Result<Catalog, String> {
    let parse = |name: &str, text: &str| -> Result<TableSchema, String> {
        toml::from_str(text).map_err(|e| format!("schemas/{name}: {e}"))
    };
    let mut lists: CodeListsFile =
        toml::from_str(CODELISTS_TOML).map_err(|e| format!("schemas/codelists.toml: {e}"))?;
    // The ethnicity list: the CSV (GB/T 3304) plus the template's extra entries and aliases.
    let eth = lists
        .lists
        .get_mut("ethnicity")
        .ok_or("codelists.toml: no ethnicity list")?;
    let extra = std::mem::take(&mut eth.values);
    for line in ETHNICITY_CSV.lines().skip(1).filter(|l| !l.is_empty()) {
        let (code, name) = line.split_once(',').ok_or("ethnicity_codes.csv: bad line")?;
        let aliases = extra
            .iter()
            .filter(|e| e.code == code)
            .flat_map(|e| e.aliases.clone())
            .collect();
        eth.values.push(CodeValue {
            code: code.into(),
            name: name.into(),
            stage: None,
            aliases,
        });
    }
    eth.values.extend(extra.into_iter().filter(|e| e.code.is_empty()));
    for list in lists.lists.values_mut() {
        list.index();
    }
    let rules: RulesFile = toml::from_str(RULES_TOML).map_err(|e| format!("schemas/rules.toml: {e}"))?;
    Ok(Catalog {
        students: parse("students.toml", STUDENTS_TOML)?,
        schools: parse("schools.toml", SCHOOLS_TOML)?,
        movements: parse("movements.toml", MOVEMENTS_TOML)?,
        dedup_decisions: parse("dedup_decisions.toml", DECISIONS_TOML)?,
        key_change_requests: parse("key_change_requests.toml", KEY_CHANGES_TOML)?,
        nutrition_schools: parse("nutrition_schools.toml", NUTRITION_SCHOOLS_TOML)?,
        nutrition_terms: parse("nutrition_terms.toml", NUTRITION_TERMS_TOML)?,
        nutrition_duty: parse("nutrition_duty.toml", NUTRITION_DUTY_TOML)?,
        exams: parse("exams.toml", EXAMS_TOML)?,
        meal_ledger: parse("meal_ledger.toml", MEAL_LEDGER_TOML)?,
        codelists: lists.lists,
        rules: rules.rules,
        regions: Regions::load()?,
        calendar: Calendar::load()?,
    })
}

static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| load().unwrap_or_else(|e| panic!("bug: the embedded schema files do not parse: {e}")));

/// The process-wide catalogue.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

/// Arrow schema from a list of fields.
pub fn arrow_schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_schema_has_the_71_template_columns_plus_registration_no() {
        let s = &catalog().students;
        assert_eq!(s.columns.iter().filter(|c| !c.optional_column).count(), 71);
        assert_eq!(s.columns[0].header, "学校标识码");
        assert_eq!(s.columns[70].header, "是否进城务工人员随迁子女");
        let mut names: Vec<_> = s.columns.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), s.columns.len(), "column names are unique");
    }

    #[test]
    fn every_codelist_and_rule_referenced_exists() {
        let c = catalog();
        for t in c.input_tables() {
            for col in &t.columns {
                if col.check == Check::Code {
                    let list = col
                        .codelist
                        .as_deref()
                        .unwrap_or_else(|| panic!("{} has no codelist", col.name));
                    assert!(c.codelists.contains_key(list), "{list}");
                }
            }
        }
        assert_eq!(c.codelist("ethnicity").values.len(), 58 + 1);
        assert_eq!(c.codelist("ethnicity").lookup("毛难族").len(), 1);
        assert_eq!(c.codelist("admission_mode").lookup("其他").len(), 2);
    }
}

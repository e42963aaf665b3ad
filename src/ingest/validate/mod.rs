//! Row validation by the schema files and the rules of DOMAIN.md. Produces cleaned values and
//! findings (errors reject the row; warnings do not). Never panics on any input.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use crate::cols::{MovementCols, StudentCols};
use crate::idcard::{self, IdDefect};
use crate::schema::{Catalog, Check, CodeList, ColType, Required, Severity, TableSchema, grades_of_stage};

mod movement;
mod student;
#[cfg(test)]
mod tests;

pub use movement::{movement_chain, movement_chains, transfer_flow};

/// One finding on one cell.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Schema column index (None for a whole-row finding).
    pub column: usize,
    pub value: String,
    pub rule: &'static str,
    pub expected: String,
}

/// What a school master says that validation needs.
#[derive(Debug, Clone)]
pub struct SchoolInfo {
    pub stages: Vec<u8>,
    pub public: bool,
    /// 属地区县 (6 digits): a transfer's flow comes from the two schools' counties.
    pub county: String,
    /// 学制 五四制: primary school has five grades and junior school four.
    pub five_four: bool,
}

impl SchoolInfo {
    /// From a school row's 学校类别, 办学类型, 属地区县代码 and 学制.
    pub fn new(kind: &str, ownership: &str, county: &str, school_system: &str) -> Self {
        SchoolInfo {
            stages: stages_of_kind(kind),
            public: ownership == "公办",
            county: county.to_string(),
            five_four: school_system == "五四制",
        }
    }
}

pub struct Validator {
    pub cat: &'static Catalog,
    pub table: &'static TableSchema,
    pub snapshot: NaiveDate,
    pub schools: Arc<HashMap<String, SchoolInfo>>,
    sc: Option<StudentCols>,
    mc: Option<MovementCols>,
    /// (start_date, end_date) when the table has both: they must be in order.
    date_pair: Option<(usize, usize)>,
    /// Exam measures with the range a child's value can have: (column, low, high).
    measures: Vec<(usize, f64, f64)>,
    /// Each column's code list, resolved once rather than per cell.
    lists: Vec<Option<&'static CodeList>>,
}

/// Stages a school kind offers (1 小学, 2 初中, 3 高中).
pub fn stages_of_kind(kind: &str) -> Vec<u8> {
    match kind {
        "小学" => vec![1],
        "初级中学" => vec![2],
        "九年一贯制学校" => vec![1, 2],
        "完全中学" => vec![2, 3],
        "高级中学" => vec![3],
        "十二年一贯制学校" => vec![1, 2, 3],
        _ => vec![1, 2, 3],
    }
}

impl Validator {
    pub fn new(
        cat: &'static Catalog,
        table: &'static TableSchema,
        snapshot: NaiveDate,
        schools: Arc<HashMap<String, SchoolInfo>>,
    ) -> Self {
        let sc = (table.table.name == "students").then(|| StudentCols::new(table));
        let mc = (table.table.name == "movements").then(|| MovementCols::new(table));
        let lists = table
            .columns
            .iter()
            .map(|c| c.codelist.as_deref().map(|n| cat.codelist(n)))
            .collect();
        // Columns the row rules need, found once rather than per row.
        let date_pair = table.index_of("start_date").zip(table.index_of("end_date"));
        let measures = if table.table.name == "exams" {
            [("height_cm", 50.0, 230.0), ("weight_kg", 8.0, 200.0)]
                .into_iter()
                .map(|(n, lo, hi)| (table.index_of(n).expect("exam column"), lo, hi))
                .collect()
        } else {
            Vec::new()
        };
        Validator {
            cat,
            table,
            snapshot,
            schools,
            sc,
            mc,
            date_pair,
            measures,
            lists,
        }
    }

    /// Clean values in place (trim; names lose inner spaces) and return the findings.
    pub fn check(&self, v: &mut [String]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut bad = vec![false; v.len()];
        for (i, col) in self.table.columns.iter().enumerate() {
            let trimmed = v[i].trim_matches(|c: char| c.is_whitespace());
            if trimmed.len() != v[i].len() {
                v[i] = trimmed.to_string();
            }
            if col.check == Check::PersonName && v[i].contains([' ', '\u{3000}']) {
                out.push(Finding {
                    column: i,
                    value: v[i].clone(),
                    rule: "W_NAME_SPACES",
                    expected: String::new(),
                });
                v[i].retain(|c| c != ' ' && c != '\u{3000}');
            }
            if v[i].is_empty() {
                if col.required == Required::Yes {
                    out.push(self.err(i, v, "R_REQUIRED", "不能为空"));
                    bad[i] = true;
                }
                continue;
            }
            let limit = col.max_chars();
            if v[i].len() > limit && v[i].chars().count() > limit {
                let n = v[i].chars().count();
                let shown: String = v[i].chars().take(20).collect();
                out.push(Finding {
                    column: i,
                    value: format!("{shown}……（共 {n} 字）"),
                    rule: "R_TOO_LONG",
                    expected: format!("不超过 {limit} 个字"),
                });
                bad[i] = true;
                continue;
            }
            if let Some(f) = self.field(i, &v[i]) {
                bad[i] = true;
                out.push(f);
            } else if col.check == Check::Code
                && let Some(list) = self.lists[i]
                && let [k] = list.lookup(&v[i])
                && list.values[*k].name != v[i]
            {
                // An accepted spelling (alias) is stored as the list's own name, which the
                // models compare with (五四学制 → 五四制).
                v[i] = list.values[*k].name.clone();
            }
        }
        if let Some(c) = &self.sc {
            self.student_rules(c, v, &bad, &mut out);
            // A value the seed says is not filled is set aside, as if empty (see W_STAGE_FIELD).
            for f in out.iter().filter(|f| f.rule == "W_STAGE_FIELD") {
                v[f.column].clear();
            }
        }
        if let Some(c) = &self.mc {
            self.movement_rules(c, v, &bad, &mut out);
        }
        self.date_order_rules(v, &bad, &mut out);
        self.exam_rules(v, &bad, &mut out);
        out
    }

    fn err(&self, i: usize, v: &[String], rule: &'static str, expected: impl Into<String>) -> Finding {
        Finding {
            column: i,
            value: v[i].clone(),
            rule,
            expected: expected.into(),
        }
    }

    /// The check of one non-empty field on its own.
    fn field(&self, i: usize, s: &str) -> Option<Finding> {
        let col = &self.table.columns[i];
        let f = |rule: &'static str, exp: &str| {
            Some(Finding {
                column: i,
                value: s.to_string(),
                rule,
                expected: exp.to_string(),
            })
        };
        let digits = |n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        match col.check {
            Check::Text | Check::Address | Check::IdNumber | Check::MemberIdNumber | Check::ClassCode => None,
            Check::PersonName => {
                let ok = s
                    .chars()
                    .all(|c| c.is_alphabetic() && !c.is_ascii_digit() || c == '·' || c == '•' || c == '.');
                if ok {
                    None
                } else {
                    f("R_NAME_CHARS", col.check.describe())
                }
            }
            Check::Code => {
                let list = self.lists[i]?;
                if !list.lookup(s).is_empty() {
                    None
                } else if list.forbidden.iter().any(|x| x == s) {
                    f(
                        "R_FORBIDDEN_ID_TYPE",
                        "居民身份证、港澳台证件、护照等，不得使用军人证件",
                    )
                } else {
                    let names: Vec<&str> = list.names().collect();
                    let shown = if names.len() > 8 {
                        format!("{}……（共 {} 项）", names[..8].join("、"), names.len())
                    } else {
                        names.join("、")
                    };
                    f("R_CODE", &format!("{}之一：{}", list.label, shown))
                }
            }
            Check::Bool => {
                if s == "是" || s == "否" {
                    None
                } else {
                    f("R_BOOL", col.check.describe())
                }
            }
            Check::Date8Any => {
                if idcard::parse_yyyymmdd(s).is_some() {
                    None
                } else {
                    f("R_DATE", col.check.describe())
                }
            }
            Check::Province2 => {
                if digits(2) && self.cat.regions.name(s).is_some() {
                    None
                } else {
                    f("R_PROVINCE", col.check.describe())
                }
            }
            Check::Integer => {
                if s.len() <= 9 && digits(s.len()) {
                    None
                } else {
                    f("R_INTEGER", col.check.describe())
                }
            }
            Check::Decimal => {
                let ok = match s.split_once('.') {
                    None => s.len() <= 9 && digits(s.len()),
                    Some((a, b)) => {
                        !a.is_empty()
                            && a.len() <= 9
                            && a.bytes().all(|x| x.is_ascii_digit())
                            && (1..=2).contains(&b.len())
                            && b.bytes().all(|x| x.is_ascii_digit())
                    }
                };
                if ok { None } else { f("R_DECIMAL", col.check.describe()) }
            }
            Check::Date8 => match idcard::parse_yyyymmdd(s) {
                None => f("R_DATE", Check::Date8Any.describe()),
                Some(d) if d > self.snapshot => {
                    f("R_DATE_FUTURE", &format!("不晚于 {}", self.snapshot.format("%Y%m%d")))
                }
                Some(_) => None,
            },
            Check::Month6 => {
                let m = if digits(6) {
                    NaiveDate::from_ymd_opt(s[..4].parse().ok()?, s[4..].parse().ok()?, 1)
                } else {
                    None
                };
                match m {
                    None => f("R_MONTH", "6位年月 YYYYMM，如 202309"),
                    Some(d) if d > self.snapshot => {
                        f("R_MONTH_FUTURE", &format!("不晚于 {}", self.snapshot.format("%Y%m")))
                    }
                    Some(_) => None,
                }
            }
            Check::Region12 => {
                if !digits(12) {
                    f("R_REGION_FORMAT", "12位数字，如 110101000000")
                } else if !self.cat.regions.known6(&s[..6]) {
                    f("R_REGION_UNKNOWN", "国家统计局区划代码中存在的县级代码")
                } else {
                    None
                }
            }
            Check::County6 | Check::Authority6 => {
                if digits(6) && self.cat.regions.known6(s) {
                    None
                } else {
                    f("R_REGION_UNKNOWN", col.check.describe())
                }
            }
            Check::SchoolId => {
                if digits(10) {
                    None
                } else {
                    f("R_SCHOOL_ID", col.check.describe())
                }
            }
            Check::Phone => {
                if !s.bytes().all(|b| b.is_ascii_digit()) {
                    f("R_PHONE", "只填数字，不加“-”、空格或文字")
                } else {
                    let ok = match s.as_bytes()[0] {
                        b'1' => s.len() == 11,
                        b'0' => (10..=12).contains(&s.len()),
                        _ => (7..=8).contains(&s.len()),
                    };
                    if ok {
                        None
                    } else {
                        f("R_PHONE_LENGTH", "手机11位；固话7–8位，带区号10–12位")
                    }
                }
            }
            Check::Postcode => {
                if digits(6) {
                    None
                } else {
                    f("R_POSTCODE", col.check.describe())
                }
            }
            Check::Distance => {
                let ok = match s.split_once('.') {
                    None => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
                    Some((a, b)) => {
                        !a.is_empty()
                            && a.bytes().all(|x| x.is_ascii_digit())
                            && b.len() == 1
                            && b.as_bytes()[0].is_ascii_digit()
                    }
                };
                if ok {
                    None
                } else {
                    f("R_DISTANCE", col.check.describe())
                }
            }
            Check::IdValidPeriod => {
                let ok = id_valid_period(s);
                if ok {
                    None
                } else {
                    f("R_ID_PERIOD", col.check.describe())
                }
            }
            Check::Email => {
                let ok = s
                    .split_once('@')
                    .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.'));
                if ok { None } else { f("R_EMAIL", col.check.describe()) }
            }
            Check::RegistrationNo => {
                let b = s.as_bytes();
                let ok = b.len() == 19
                    && matches!(b[0], b'G' | b'J' | b'L')
                    && b[1..18].iter().all(u8::is_ascii_digit)
                    && (b[18].is_ascii_digit() || b[18] == b'X');
                if ok {
                    None
                } else {
                    f("R_REGISTRATION_NO", col.check.describe())
                }
            }
        }
    }

    /// Pairs of dates in one row that must be in order (a term, a programme membership).
    fn date_order_rules(&self, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let Some((a, b)) = self.date_pair else { return };
        if bad[a] || bad[b] {
            return;
        }
        if let (Some(x), Some(y)) = (idcard::parse_yyyymmdd(&v[a]), idcard::parse_yyyymmdd(&v[b]))
            && y < x
        {
            out.push(self.err(
                b,
                v,
                "R_DATE_ORDER",
                format!("不早于{} {}", self.table.columns[a].header, x.format("%Y%m%d")),
            ));
        }
    }

    /// Heights and weights a child can have (a value in metres or grams is a unit mistake).
    fn exam_rules(&self, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        for &(i, lo, hi) in &self.measures {
            if bad[i] || v[i].is_empty() {
                continue;
            }
            let x: f64 = v[i].parse().unwrap_or(-1.0);
            if !(lo..=hi).contains(&x) {
                out.push(self.err(i, v, "R_MEASURE_RANGE", format!("{lo}–{hi}")));
            }
        }
    }

    pub fn severity(&self, rule: &str) -> Severity {
        self.cat.rule(rule).severity
    }
}

/// Convert a cleaned, valid text value to its storage type.
pub enum Typed {
    Str,
    Date(i32),
    Bool(bool),
    Int(i64),
    Float(f64),
    Null,
}

pub fn typed(t: ColType, s: &str) -> Typed {
    if s.is_empty() {
        return Typed::Null;
    }
    match t {
        ColType::Utf8 => Typed::Str,
        ColType::Date => idcard::parse_yyyymmdd(s)
            .map(|d| Typed::Date((d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32))
            .unwrap_or(Typed::Null),
        ColType::Bool => Typed::Bool(s == "是"),
        ColType::Int64 => s.parse().map(Typed::Int).unwrap_or(Typed::Null),
        ColType::Float64 => s.parse().map(Typed::Float).unwrap_or(Typed::Null),
    }
}

/// A 身份证件有效期 as the card shows it (`20150101-20250101`, `2015.01.01-2025.01.01`) or as the
/// seed says it may be written: “可根据身份证件中的有效期填写,如XXXX年—XXXX年,不能填写成“10年”“20年”等”
/// (seed 000, 第三篇 8): a range of years with 年 and a dash of any width, the end not before the start.
fn id_valid_period(s: &str) -> bool {
    let unified: String = s
        .chars()
        .map(|c| {
            if matches!(c, '—' | '–' | '－' | '~' | '～' | '至' | '到') {
                '-'
            } else {
                c
            }
        })
        .collect();
    let Some((a, b)) = unified.split_once('-') else {
        return false;
    };
    let side = |p: &str| -> Option<(i32, u32, u32)> {
        let p = p.trim().trim_end_matches('年');
        if p.len() == 4 && p.bytes().all(|c| c.is_ascii_digit()) {
            let y: i32 = p.parse().ok()?;
            return (1900..=2100).contains(&y).then_some((y, 0, 0));
        }
        if p.len() != 8 && p.len() != 10 {
            return None;
        }
        let d = idcard::parse_yyyymmdd(&p.replace('.', ""))?;
        use chrono::Datelike;
        Some((d.year(), d.month(), d.day()))
    };
    matches!((side(a), side(b)), (Some(x), Some(y)) if x <= y)
}

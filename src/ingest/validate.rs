//! Row validation by the schema files and the rules of DOMAIN.md. Produces cleaned values and
//! findings (errors reject the row; warnings do not). Never panics on any input.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use crate::cols::{MovementCols, StudentCols};
use crate::idcard::{self, IdDefect};
use crate::schema::{Catalog, Check, CodeList, ColType, Required, Severity, TableSchema, grades_of_stage};

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

/// The approval chain of a movement (DOMAIN.md §Statuses and movements): flow 0 is any movement
/// other than a transfer (school, then its bureau); flows 1–3 are transfers in one county, in one
/// province, across provinces.
pub fn movement_chain(flow: u8) -> &'static [&'static str] {
    match flow {
        0 => &["学校", "主管教育局"],
        1 => &["转入学校", "转出学校", "主管教育局"],
        2 => &["转入学校", "转入教育局", "转出学校", "转出教育局"],
        _ => &["转入学校", "转入教育局", "教育部", "转出学校", "转出教育局"],
    }
}

/// The cross-province chain as seed 000 第二篇 describes it: four parties, no 教育部 step
/// (“四、转入学校学籍主管部门在学籍系统中核办。五、转出学校在学籍系统中核办。六、转出学校学籍主管部门在学籍系统中
/// 核办。七、转入学校获得其他三方同意信息后”), beside the routed form of 第一篇.
const CROSS_PROVINCE_FOUR_PARTIES: &[&str] = &["转入学校", "转入教育局", "转出学校", "转出教育局"];

/// The chains a movement of `flow` may follow: one, or for a transfer across provinces the
/// routed chain (with 教育部) and the four-party one.
pub fn movement_chains(flow: u8) -> Vec<&'static [&'static str]> {
    match flow {
        3 => vec![movement_chain(3), CROSS_PROVINCE_FOUR_PARTIES],
        f => vec![movement_chain(f)],
    }
}

/// The chain a movement's filled steps follow: the first that agrees with every unit filled in
/// (`units`, empty where not filled) and, when one step is pending, with the current handler.
fn pick_chain(options: Vec<&'static [&'static str]>, units: &[&str], handler: &str) -> &'static [&'static str] {
    let fits = |c: &&[&str]| {
        units
            .iter()
            .enumerate()
            .all(|(k, u)| u.is_empty() || c.get(k) == Some(u))
    };
    let done = units.iter().take_while(|u| !u.is_empty()).count();
    options
        .iter()
        .copied()
        .filter(fits)
        .find(|c| handler.is_empty() || c.get(done).is_none_or(|h| *h == handler))
        .or_else(|| options.iter().copied().find(fits))
        .unwrap_or(options[0])
}

/// A transfer's flow from the two schools' counties: 1 same county, 2 same province, 3 other province.
pub fn transfer_flow(from_county: &str, to_county: &str) -> u8 {
    if from_county == to_county {
        1
    } else if from_county.get(..2) == to_county.get(..2) {
        2
    } else {
        3
    }
}

fn school_year(d: NaiveDate) -> i32 {
    if d.month() >= 9 { d.year() } else { d.year() - 1 }
}

/// How many years the cohort of a pupil's class (班号) may be from the year of 入学年月 (留级,
/// 跳级, 休学 and back) before it is taken for a typing error.
const MAX_COHORT_SHIFT: i32 = 3;

/// How many summers after its graduation a class may still be listed without a warning.
const MAX_YEARS_GRADUATED: i32 = 2;

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

    fn student_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        let school = self.schools.get(&v[c.school_id]);
        if ok(c.school_id) && !self.schools.is_empty() && school.is_none() {
            out.push(self.err(c.school_id, v, "R_SCHOOL_UNKNOWN", "学校名录中的学校标识码"));
        }
        // Stage: from the class code, checked against what the school offers.
        let mut stage: Option<u8> = None;
        let mut class_entry: Option<i32> = None;
        if ok(c.class_code) {
            let s = &v[c.class_code];
            let b = s.as_bytes();
            if b.len() == 7 && b.iter().all(u8::is_ascii_digit) && (b'1'..=b'3').contains(&b[4]) {
                let st = b[4] - b'0';
                class_entry = s[..4].parse().ok();
                match school {
                    Some(sc) if !sc.stages.contains(&st) => {
                        out.push(self.err(
                            c.class_code,
                            v,
                            "R_CLASS_STAGE",
                            format!(
                                "学段代码 {}",
                                sc.stages.iter().map(u8::to_string).collect::<Vec<_>>().join("/")
                            ),
                        ));
                        stage = (sc.stages.len() == 1).then(|| sc.stages[0]);
                    }
                    _ => stage = Some(st),
                }
            } else {
                out.push(self.err(
                    c.class_code,
                    v,
                    "R_CLASS_FORMAT",
                    "7位：入学年份4位+学段1位(1小学 2初中 3高中)+班序2位，如 2023101",
                ));
            }
        }
        // The grade comes from the cohort in the 班号: 入学年月 counts from the first grade of the
        // stage whatever happened since (seed 000, 第三篇 12: "无论学生如何转学…小学从小学一年级
        // 算起"), so a pupil who repeated or skipped a year, or came back from 休学, is in a class
        // of another cohort. A few years apart is a warning; more is an error.
        if ok(c.enrol_month) {
            let entry: i32 = v[c.enrol_month][..4].parse().unwrap_or(0);
            // The class's cohort when it is close enough to 入学年月 to be the pupil's own.
            let cohort = class_entry.filter(|ce| (ce - entry).abs() <= MAX_COHORT_SHIFT);
            if let Some(ce) = class_entry
                && ce != entry
            {
                if cohort.is_none() {
                    out.push(self.err(
                        c.class_code,
                        v,
                        "R_CLASS_YEAR",
                        format!(
                            "班号前4位应在 {} 至 {} 之间",
                            entry - MAX_COHORT_SHIFT,
                            entry + MAX_COHORT_SHIFT
                        ),
                    ));
                } else {
                    out.push(self.err(
                        c.class_code,
                        v,
                        "W_CLASS_YEAR",
                        format!("入学年月 {entry} 年；留级、跳级、休学复学的学生如此，其余请核对"),
                    ));
                }
            }
            if let Some(st) = stage {
                let (cohort, col) = match cohort {
                    Some(ce) => (ce, c.class_code),
                    None => (entry, c.enrol_month),
                };
                let grade = school_year(self.snapshot) - cohort + 1;
                let five_four = school.is_some_and(|s| s.five_four);
                let max = grades_of_stage(st, five_four);
                // A cohort past the last grade has graduated (毕业): a school may still list its
                // graduates, who are kept as such (the status model says 毕业); only a cohort
                // that has not started yet is impossible.
                if grade < 1 {
                    out.push(self.err(
                        col,
                        v,
                        "R_GRADE",
                        format!(
                            "{}班级的入学年份不应晚于 {}",
                            ["", "小学", "初中", "高中"][st as usize],
                            school_year(self.snapshot)
                        ),
                    ));
                } else if grade > max + MAX_YEARS_GRADUATED {
                    // A graduate is kept, but a class that left long ago is more likely a wrong
                    // 班号 or 入学年月 than a school still listing its old graduates.
                    out.push(self.err(
                        col,
                        v,
                        "W_GRADUATED_LONG_AGO",
                        format!(
                            "近 {MAX_YEARS_GRADUATED} 年内毕业的班级；此班于 {} 年毕业",
                            cohort + max
                        ),
                    ));
                } else if grade <= max && ok(c.birth_date) {
                    // Age at 1 September against the usual age of the grade: only a warning.
                    let birth = idcard::parse_yyyymmdd(&v[c.birth_date]).expect("checked");
                    let sep1 = NaiveDate::from_ymd_opt(school_year(self.snapshot), 9, 1).expect("date");
                    let age = sep1.years_since(birth).unwrap_or(0) as i32;
                    let first = [0, 6, 6 + grades_of_stage(1, five_four), 15][st as usize];
                    let usual = first + grade - 1;
                    if (age - usual).abs() > 2 {
                        out.push(self.err(
                            c.birth_date,
                            v,
                            "W_AGE",
                            format!(
                                "{}{}年级学生通常约 {usual} 岁，此生 {age} 岁",
                                ["", "小学", "初中", "高中"][st as usize],
                                grade
                            ),
                        ));
                    }
                }
            }
        }
        // 义务教育-only fields.
        for (i, col) in self.table.columns.iter().enumerate() {
            if col.stage.as_deref() != Some("compulsory") || bad[i] {
                continue;
            }
            match stage {
                // seed 000: “是否留守儿童”选项由义务教育阶段学生填写,高中学生不用填写 (and so for
                // 随迁子女, 一补): not filling it is what the seed asks, a value filled anyway is
                // set aside (stored empty) with a warning, not a reason to turn the pupil away.
                Some(3) if !v[i].is_empty() && v[i] != "否" && v[i] != "非留守儿童" => {
                    out.push(self.err(i, v, "W_STAGE_FIELD", "空、“否”或“非留守儿童”"))
                }
                Some(1 | 2) if v[i].is_empty() => out.push(self.err(i, v, "R_STAGE_REQUIRED", "义务教育阶段必填")),
                _ => {}
            }
        }
        if let (Some(st), true, Some(list)) = (stage, ok(c.admission_mode), self.lists[c.admission_mode]) {
            let want = if st == 3 { "senior" } else { "compulsory" };
            if !list
                .lookup(&v[c.admission_mode])
                .iter()
                .any(|&k| list.values[k].stage.as_deref() == Some(want))
            {
                let names: Vec<&str> = list
                    .values
                    .iter()
                    .filter(|x| x.stage.as_deref() == Some(want))
                    .map(|x| x.name.as_str())
                    .collect();
                out.push(self.err(c.admission_mode, v, "R_ADMISSION_STAGE", names.join("、")));
            }
        }
        self.field_rules(c, stage, v, bad, out);
        if ok(c.gov_purchased_place) && v[c.gov_purchased_place] == "是" && school.is_some_and(|s| s.public) {
            out.push(self.err(c.gov_purchased_place, v, "R_GOV_PLACE_PUBLIC", "否"));
        }
        self.id_rules(c, v, bad, out);
        self.member_rules(c, v, bad, out);
    }

    /// Rules the seeds state for single fields, each quoted where it is checked.
    fn field_rules(&self, c: &StudentCols, stage: Option<u8>, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        // seed 000, 第三篇 14: "义务教育阶段没有“借读”的说法和概念,高中的学生来源分为:正常入学、借读、其他"
        if matches!(stage, Some(1 | 2)) && ok(c.student_source) && v[c.student_source] == "借读" {
            out.push(self.err(c.student_source, v, "R_SOURCE_STAGE", "正常入学、其他"));
        }
        // seed 000, 第三篇 26: "如果监护人不在该范围,则可以选择“其他”,然后在关系说明栏中,填写监护人关系"
        for (rel, note) in [(c.m1_relation, c.m1_relation_note), (c.m2_relation, c.m2_relation_note)] {
            if ok(rel) && v[rel] == "其他" && v[note].trim().is_empty() {
                out.push(self.err(note, v, "W_RELATION_NOTE", "关系为“其他”时填写具体关系，如姑妈、舅舅"));
            }
        }
        // seed 000, 第三篇: "行政区划代码为12位,前六位为省市县,后六位补六个0" — a code below the county is
        // read at its county.
        for i in [
            c.hukou_region_code,
            c.birthplace_code,
            c.m1_hukou_region_code,
            c.m2_hukou_region_code,
        ] {
            if ok(i) && v[i].len() == 12 && v[i].is_ascii() && &v[i][6..] != "000000" {
                out.push(self.err(i, v, "W_REGION_TAIL", format!("{}000000", &v[i][..6])));
            }
        }
        // seed 000, 第三篇 10: "外国学生的“户口性质”填写“非农业户口”,“户口所在地”填写学生所在学校的所在区域"
        let foreign = ok(c.nationality) && !["中国", "中国大陆"].contains(&v[c.nationality].as_str());
        if foreign && ok(c.hukou_type) && v[c.hukou_type] != "非农业户口" {
            out.push(self.err(c.hukou_type, v, "W_FOREIGN_HUKOU", "非农业户口"));
        }
        if foreign
            && ok(c.hukou_region_code)
            && let Some(school) = self.schools.get(&v[c.school_id])
            && !v[c.hukou_region_code].starts_with(&school.county)
        {
            out.push(self.err(
                c.hukou_region_code,
                v,
                "W_FOREIGN_HUKOU_PLACE",
                format!("学校所在区县 {}（{}000000）", school.county, school.county),
            ));
        }
        // seed 000, 第三篇 4: "中国籍学生的籍贯可具体到区县一级;外籍学生的籍贯可填写为“国外”" — a Chinese
        // pupil's 籍贯 is a place of China, from the province down to the county at most.
        if ok(c.nationality) && !foreign && ok(c.native_place) && !self.cat.regions.names_place(&v[c.native_place]) {
            out.push(self.err(
                c.native_place,
                v,
                "W_NATIVE_PLACE",
                "中国的省、市或区县名称（如“安徽省阜阳市临泉县”）",
            ));
        }
        // reference/TEMPLATE_FIELDS.md §2.8: "视力残疾随班就读 ↔ 视力残疾; 听力残疾随班就读 ↔ 听力残疾;
        // 智力残疾随班就读 ↔ 智力残疾; 其他残疾随班就读 ↔ 言语/肢体/精神/多重/其他残疾". Only this
        // direction: a disabled pupil in a special school is 非随班就读.
        if ok(c.inclusive_class) && ok(c.disability_type) {
            let d = v[c.disability_type].as_str();
            let fits = match v[c.inclusive_class].as_str() {
                "视力残疾随班就读" => d == "视力残疾",
                "听力残疾随班就读" => d == "听力残疾",
                "智力残疾随班就读" => d == "智力残疾",
                "其他残疾随班就读" => ["言语残疾", "肢体残疾", "精神残疾", "多重残疾", "其他残疾"].contains(&d),
                _ => true,
            };
            if !fits {
                out.push(self.err(
                    c.disability_type,
                    v,
                    "W_INCLUSIVE_DISABILITY",
                    format!("与随班就读“{}”相应的残疾类型", v[c.inclusive_class]),
                ));
            }
        }
        // seed 004, 4: "“一补“是指“对寄宿生的补助”"; seed 000, 第三篇: "是否住校是判断是否寄宿生的依据"
        if ok(c.receives_yibu) && v[c.receives_yibu] == "是" && ok(c.attendance_mode) && v[c.attendance_mode] == "走读"
        {
            out.push(self.err(
                c.receives_yibu,
                v,
                "W_YIBU_NONBOARDER",
                "一补只给住校生；走读生应为“否”",
            ));
        }
    }

    fn id_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        if bad[c.id_type] || v[c.id_type].is_empty() {
            return;
        }
        let id = &v[c.id_number];
        if id.is_empty() {
            if v[c.id_type] != "其他" {
                out.push(self.err(c.id_number, v, "R_ID_REQUIRED", "证件号码"));
            }
            return;
        }
        if v[c.id_type] != "居民身份证" {
            return;
        }
        let (norm, changed) = idcard::normalise(id);
        if changed {
            out.push(self.err(c.id_number, v, "W_ID_NONSTANDARD", norm.clone()));
        }
        let regions = &self.cat.regions;
        match idcard::analyse(&norm, self.snapshot, |r| regions.known6(r)) {
            Err(defect) => {
                let exp = match defect {
                    IdDefect::BadCheck => format!("校验位应为 {}", idcard::check_char(&norm[..17]).unwrap_or('?')),
                    IdDefect::Legacy15 => format!("升级后为 {}", idcard::upgrade15(&norm).unwrap_or_default()),
                    _ => "18位居民身份证号".into(),
                };
                out.push(self.err(c.id_number, v, defect.rule(), exp));
            }
            Ok(rid) => {
                if !bad[c.gender] && !v[c.gender].is_empty() && (v[c.gender] == "男") != rid.male {
                    out.push(self.err(
                        c.gender,
                        v,
                        "W_ID_GENDER",
                        if rid.male {
                            "男（身份证号第17位为奇数）"
                        } else {
                            "女（身份证号第17位为偶数）"
                        },
                    ));
                }
                if !bad[c.birth_date]
                    && !v[c.birth_date].is_empty()
                    && idcard::parse_yyyymmdd(&v[c.birth_date]) != Some(rid.birth)
                {
                    out.push(self.err(c.birth_date, v, "W_ID_BIRTH", rid.birth.format("%Y%m%d").to_string()));
                }
            }
        }
    }

    fn member_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let regions = &self.cat.regions;
        let mut member_has_id = false;
        for (tp, num) in [(c.m1_id_type, c.m1_id_number), (c.m2_id_type, c.m2_id_number)] {
            if v[num].is_empty() || bad[tp] {
                continue;
            }
            if v[tp].is_empty() || v[tp] == "居民身份证" {
                let (norm, _) = idcard::normalise(&v[num]);
                match idcard::analyse(&norm, self.snapshot, |r| regions.known6(r)) {
                    Ok(_) => member_has_id = true,
                    Err(d) => out.push(self.err(
                        num,
                        v,
                        "R_MEMBER_ID",
                        format!(
                            "有效的18位居民身份证号（{}）",
                            self.cat.rule(d.rule()).message.split('，').next().unwrap_or("")
                        ),
                    )),
                }
            }
        }
        if v[c.id_number].is_empty()
            && v[c.id_type] == "其他"
            && !member_has_id
            && !out.iter().any(|f| f.rule == "R_MEMBER_ID")
        {
            out.push(self.err(c.m1_id_number, v, "R_GUARDIAN_ID", "至少一名家庭成员的居民身份证号"));
        }
        // Every child has a guardian (an orphan's is the 福利院 or the 民政部门): a row whose members
        // are both marked 否 names none. Both cells well-formed, or nothing is said.
        let is = |i: usize, x: &str| !bad[i] && v[i] == x;
        if is(c.m1_is_guardian, "否") && (v[c.m2_is_guardian].is_empty() || is(c.m2_is_guardian, "否")) {
            out.push(self.err(c.m1_is_guardian, v, "W_NO_GUARDIAN", "至少一名家庭成员是监护人"));
        }
        if !v[c.m2_name].is_empty() {
            for i in [
                c.m2_relation,
                c.m2_address,
                c.m2_hukou_region_code,
                c.m2_phone,
                c.m2_is_guardian,
            ] {
                if v[i].is_empty() {
                    out.push(self.err(
                        i,
                        v,
                        "R_MEMBER_INCOMPLETE",
                        "成员2的关系、现住址、户口所在地、联系电话、是否监护人",
                    ));
                }
            }
        }
    }

    /// A movement on its own: the type against the school's stages, a transfer's destination,
    /// the approval chain of its flow (units in order, no step after a refusal, times in order),
    /// the status and current handler against the steps, the 异动日期; a transfer applied for
    /// inside the summer freeze is listed (warning), since ones started earlier may continue.
    fn movement_rules(&self, c: &MovementCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        let date = |i: usize| if ok(i) { idcard::parse_yyyymmdd(&v[i]) } else { None };
        let lookup = |i: usize| -> (Option<&SchoolInfo>, bool) {
            if !ok(i) || self.schools.is_empty() {
                return (None, false);
            }
            let s = self.schools.get(&v[i]);
            (s, s.is_none())
        };
        let ((from, from_unknown), (to, to_unknown)) = (lookup(c.from_school_id), lookup(c.to_school_id));
        let transfer = v[c.movement_type] == "转学";
        // A province's school master holds its own schools only: a transfer with one school outside
        // it comes from or goes to another province (seed 000 第二篇, 跨省转学), and is kept with a
        // warning; a school the pupil is registered in must be known.
        let outside = transfer && (from_unknown != to_unknown);
        for (i, unknown) in [(c.from_school_id, from_unknown), (c.to_school_id, to_unknown)] {
            if unknown && outside {
                out.push(self.err(
                    i,
                    v,
                    "W_SCHOOL_OTHER_PROVINCE",
                    "按外省学校处理；若是本省学校，请核对学校标识码",
                ));
            } else if unknown {
                out.push(self.err(i, v, "R_SCHOOL_UNKNOWN", "学校名录中的学校标识码"));
            }
        }
        if bad[c.movement_type] || v[c.movement_type].is_empty() {
            return;
        }
        let mtype = v[c.movement_type].as_str();
        let list = self.lists[c.movement_type].expect("movement_type has a code list");
        let senior_only = list
            .lookup(mtype)
            .iter()
            .any(|&k| list.values[k].stage.as_deref() == Some("senior"));
        if senior_only && from.is_some_and(|s| !s.stages.contains(&3)) {
            out.push(self.err(
                c.movement_type,
                v,
                "R_TYPE_STAGE",
                "转学、休学、复学、死亡、其他离校等义务教育阶段允许的类型",
            ));
        }
        if transfer && (v[c.to_school_id].is_empty() || v[c.to_school_id] == v[c.from_school_id]) {
            out.push(self.err(c.to_school_id, v, "R_TO_SCHOOL", "与原学校不同的转入学校标识码"));
        }
        let units: Vec<&str> = [c.step1_unit, c.step2_unit, c.step3_unit, c.step4_unit, c.step5_unit]
            .map(|i| v[i].as_str())
            .to_vec();
        let chain = if transfer {
            let flow = match (from, to) {
                (Some(a), Some(b)) => Some(transfer_flow(&a.county, &b.county)),
                _ if outside => Some(3),
                _ => None,
            };
            flow.map(|f| pick_chain(movement_chains(f), &units, &v[c.current_handler]))
        } else {
            Some(movement_chain(0))
        };
        let steps = [
            (c.step1_unit, c.step1_decision, c.step1_time),
            (c.step2_unit, c.step2_decision, c.step2_time),
            (c.step3_unit, c.step3_decision, c.step3_time),
            (c.step4_unit, c.step4_decision, c.step4_time),
            (c.step5_unit, c.step5_decision, c.step5_time),
        ];
        let mut done = 0usize;
        let mut refused = false;
        let mut gap = false;
        let mut prev_time = date(c.apply_date);
        let mut step_ok = true;
        for (k, &(u, d, t)) in steps.iter().enumerate() {
            let filled = [u, d, t].map(|i| !v[i].is_empty());
            if filled == [false; 3] {
                gap = true;
                continue;
            }
            if gap {
                out.push(self.err(u, v, "R_STEP_GAP", format!("先填写审核{}", k)));
                step_ok = false;
                break;
            }
            if let Some(i) = [u, d, t].into_iter().find(|&i| v[i].is_empty()) {
                out.push(self.err(i, v, "R_STEP_INCOMPLETE", "单位、意见、时间三项齐全"));
                step_ok = false;
                break;
            }
            if [u, d, t].into_iter().any(|i| bad[i]) {
                step_ok = false;
                break;
            }
            if refused {
                out.push(self.err(u, v, "R_STEP_AFTER_REFUSAL", "空"));
                step_ok = false;
                break;
            }
            if let Some(chain) = chain
                && chain.get(k) != Some(&v[u].as_str())
            {
                out.push(self.err(
                    u,
                    v,
                    "R_STEP_ORDER",
                    format!(
                        "审核{}应为“{}”（流程：{}）",
                        k + 1,
                        chain.get(k).unwrap_or(&"（无）"),
                        chain.join(" → ")
                    ),
                ));
                step_ok = false;
                break;
            }
            let t_ = date(t);
            if let (Some(p), Some(x)) = (prev_time, t_)
                && x < p
            {
                out.push(self.err(t, v, "R_STEP_TIME", format!("不早于 {}", p.format("%Y%m%d"))));
                step_ok = false;
                break;
            }
            prev_time = t_.or(prev_time);
            refused = v[d] == "不同意";
            done = k + 1;
        }
        if step_ok
            && let Some(chain) = chain
            && ok(c.status)
        {
            let status = v[c.status].as_str();
            let want = if refused {
                "审核不通过"
            } else if done == chain.len() {
                "审核通过"
            } else {
                "待审核"
            };
            if status != want && status != "已撤销" {
                out.push(self.err(c.status, v, "R_STATUS", format!("按已填的审核步骤应为“{want}”")));
            } else if status == "待审核" && v[c.current_handler] != chain[done] {
                out.push(self.err(c.current_handler, v, "R_HANDLER", chain[done]));
            }
        }
        let (apply, effective) = (date(c.apply_date), date(c.effective_date));
        if ok(c.status) && v[c.status] == "审核通过" && effective.is_none() && !bad[c.effective_date] {
            out.push(self.err(c.effective_date, v, "R_EFFECTIVE_DATE", "审核通过的异动须填写异动日期"));
        } else if let (Some(a), Some(e)) = (apply, effective)
            && e < a
        {
            out.push(self.err(
                c.effective_date,
                v,
                "R_EFFECTIVE_DATE",
                format!("不早于申请日期 {}", a.format("%Y%m%d")),
            ));
        }
        if transfer
            && let Some(a) = apply
            && self.cat.calendar.contains("transfer_freeze", a)
        {
            out.push(self.err(c.apply_date, v, "W_TRANSFER_FREEZE", "暂停期以外的日期"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::catalog;

    fn snapshot() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 15).unwrap()
    }

    fn id(first17: &str) -> String {
        format!("{first17}{}", idcard::check_char(first17).unwrap())
    }

    /// A valid 小学三年级 registration at school 2110101001.
    fn valid() -> Vec<String> {
        let t = &catalog().students;
        let mut v = vec![String::new(); t.columns.len()];
        let mut set = |n: &str, x: &str| v[t.index_of(n).unwrap()] = x.to_string();
        set("school_id", "2110101001");
        set("name", "王小明");
        set("gender", "男");
        set("birth_date", "20170301");
        set("birthplace_code", "110101000000");
        set("native_place", "北京市东城区");
        set("ethnicity", "汉族");
        set("nationality", "中国");
        set("id_type", "居民身份证");
        set("overseas_status", "否");
        set("health_status", "健康或良好");
        set("political_status", "少先队员");
        set("id_number", &id("11010120170301123"));
        set("hukou_type", "非农业户口");
        set("hukou_region_code", "110101000000");
        set("class_code", "2024102");
        set("enrol_month", "202409");
        set("admission_mode", "就近入学");
        set("attendance_mode", "走读");
        set("current_address", "北京市东城区建设路12号3栋2单元301室");
        set("postal_address", "北京市东城区建设路12号3栋2单元301室");
        set("home_address", "北京市东城区建设路12号3栋2单元301室");
        set("phone", "13812345678");
        set("postcode", "100010");
        for b in [
            "is_only_child",
            "had_preschool",
            "needs_aid",
            "receives_yibu",
            "is_orphan",
            "is_martyr_child",
            "is_migrant_child",
        ] {
            set(b, "否");
        }
        set("left_behind_type", "非留守儿童");
        set("school_distance_km", "1.5");
        set("m1_name", "王大明");
        set("m1_relation", "父亲");
        set("m1_address", "北京市东城区建设路12号");
        set("m1_hukou_region_code", "110101000000");
        set("m1_phone", "13912345678");
        set("m1_is_guardian", "是");
        set("m1_id_type", "居民身份证");
        set("m1_id_number", &id("11010119880101123"));
        set("registration_no", &format!("G{}", id("11010120170301123")));
        v
    }

    fn validator() -> Validator {
        let mut schools = HashMap::new();
        schools.insert(
            "2110101001".to_string(),
            SchoolInfo {
                stages: vec![1],
                public: true,
                county: "110101".into(),
                five_four: false,
            },
        );
        Validator::new(catalog(), &catalog().students, snapshot(), Arc::new(schools))
    }

    /// The findings (rule, column) of the valid row with these columns set.
    fn findings(set: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let t = &catalog().students;
        let mut v = valid();
        for (col, value) in set {
            v[t.index_of(col).unwrap()] = value.to_string();
        }
        validator()
            .check(&mut v)
            .into_iter()
            .map(|f| (f.rule, t.columns[f.column].name.clone()))
            .collect()
    }

    fn rules_after(col: &str, value: &str) -> Vec<(&'static str, String)> {
        findings(&[(col, value)])
    }

    /// seed 000, 第三篇 8: “身份证件有效期如何填写? 答:可根据身份证件中的有效期填写,如XXXX年—XXXX年,
    /// 不能填写成“10年”“20年”等。”
    #[test]
    fn the_id_valid_period_is_accepted_as_the_seed_writes_it() {
        for ok in [
            "2015年—2025年",
            "2015年-2025年",
            "2015—2025",
            "20150101-20250101",
            "2015.01.01-2025.01.01",
        ] {
            assert!(
                rules_after("id_valid_period", ok).is_empty(),
                "{ok}: {:?}",
                rules_after("id_valid_period", ok)
            );
        }
        for bad in ["10年", "20年", "2025年—2015年", "2015年", "长期"] {
            assert!(
                rules_after("id_valid_period", bad)
                    .iter()
                    .any(|(r, _)| *r == "R_ID_PERIOD"),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn the_valid_record_has_no_findings() {
        let mut v = valid();
        assert!(
            validator().check(&mut v).is_empty(),
            "{:?}",
            validator().check(&mut valid())
        );
    }

    #[test]
    fn every_rule_rejects_its_bad_value_on_its_column() {
        let cases: &[(&str, &str, &str)] = &[
            ("name", "", "R_REQUIRED"),
            ("name", "王小明2", "R_NAME_CHARS"),
            ("gender", "M", "R_CODE"),
            ("ethnicity", "汉", "R_CODE"),
            ("id_type", "军官证", "R_FORBIDDEN_ID_TYPE"),
            ("birth_date", "20170231", "R_DATE"),
            ("birth_date", "20270101", "R_DATE_FUTURE"),
            ("enrol_month", "202413", "R_MONTH"),
            ("enrol_month", "202709", "R_MONTH_FUTURE"),
            ("hukou_region_code", "110101", "R_REGION_FORMAT"),
            ("birthplace_code", "990100000000", "R_REGION_UNKNOWN"),
            ("school_id", "21101", "R_SCHOOL_ID"),
            ("school_id", "2110101999", "R_SCHOOL_UNKNOWN"),
            ("phone", "138-1234-5678", "R_PHONE"),
            ("phone", "13812", "R_PHONE_LENGTH"),
            ("postcode", "10001", "R_POSTCODE"),
            ("is_only_child", "Y", "R_BOOL"),
            ("school_distance_km", "3.5公里", "R_DISTANCE"),
            ("school_distance_km", "3.55", "R_DISTANCE"),
            ("class_code", "三年级二班", "R_CLASS_FORMAT"),
            ("class_code", "2020102", "R_CLASS_YEAR"),
            ("class_code", "2024302", "R_CLASS_STAGE"),
            ("admission_mode", "体育特招", "R_ADMISSION_STAGE"),
            ("left_behind_type", "", "R_STAGE_REQUIRED"),
            ("id_number", "", "R_ID_REQUIRED"),
            ("m1_id_number", "110101198801011231", "R_MEMBER_ID"),
            ("id_valid_period", "长期", "R_ID_PERIOD"),
            // seed 000, 第三篇 8: “不能填写成“10年”“20年”等”
            ("id_valid_period", "10年", "R_ID_PERIOD"),
            ("email", "parent.qq.com", "R_EMAIL"),
            ("registration_no", "G123", "R_REGISTRATION_NO"),
            ("gov_purchased_place", "是", "R_GOV_PLACE_PUBLIC"),
        ];
        for (col, bad, rule) in cases {
            let got = rules_after(col, bad);
            assert!(
                got.iter().any(|(r, _)| r == rule),
                "{col}={bad}: expected {rule}, got {got:?}"
            );
            let errors: Vec<_> = got
                .iter()
                .filter(|(r, _)| catalog().rule(r).severity == Severity::Error)
                .collect();
            assert_eq!(errors.len(), 1, "{col}={bad}: exactly one error expected, got {got:?}");
        }
    }

    /// The field rules of the seeds, one hand-made row each.
    #[test]
    fn field_rules_of_the_seeds() {
        let check = findings;
        let one = |rule: &'static str, col: &str| vec![(rule, col.to_string())];
        // seed 000, 第三篇 14: "义务教育阶段没有“借读”的说法和概念"
        assert_eq!(
            check(&[("student_source", "借读")]),
            one("R_SOURCE_STAGE", "student_source")
        );
        // seed 000, 第三篇 26: "可以选择“其他”,然后在关系说明栏中,填写监护人关系"
        assert_eq!(
            check(&[("m1_relation", "其他"), ("m1_relation_note", "")]),
            one("W_RELATION_NOTE", "m1_relation_note")
        );
        assert_eq!(check(&[("m1_relation", "其他"), ("m1_relation_note", "姑妈")]), vec![]);
        // seed 000, 第三篇: "行政区划代码为12位,前六位为省市县,后六位补六个0"
        assert_eq!(
            check(&[("hukou_region_code", "110101001000")]),
            one("W_REGION_TAIL", "hukou_region_code")
        );
        // seed 000, 第三篇 10: "外国学生的“户口性质”填写“非农业户口”"
        assert_eq!(
            check(&[("nationality", "美国"), ("hukou_type", "农业户口")]),
            one("W_FOREIGN_HUKOU", "hukou_type")
        );
        // ... "“户口所在地”填写学生所在学校的所在区域": the school (2110101001) is in 110101.
        let foreign = [
            ("nationality", "美国"),
            ("hukou_type", "非农业户口"),
            ("native_place", "国外"),
        ];
        assert_eq!(check(&foreign), vec![]);
        assert_eq!(
            check(&[foreign.as_slice(), &[("hukou_region_code", "110102000000")]].concat()),
            one("W_FOREIGN_HUKOU_PLACE", "hukou_region_code")
        );
        // seed 000, 第三篇 4: "中国籍学生的籍贯可具体到区县一级;外籍学生的籍贯可填写为“国外”"
        assert_eq!(
            check(&[("native_place", "国外")]),
            one("W_NATIVE_PLACE", "native_place")
        );
        // A place of China from the province to the county, full or short, or a region code
        // (reference TEMPLATE_FIELDS.md: "some school forms store a region code instead").
        for place in [
            "安徽省阜阳市临泉县",
            "安徽省",
            "阜阳",
            "临泉县",
            "临泉",
            "新疆维吾尔自治区",
            "新疆",
            "延边",
            "恩施",
            "兴安盟",
            "兴安",
            "广西壮族自治区南宁市",
            "341221",
            "香港",
        ] {
            assert_eq!(check(&[("native_place", place)]), vec![], "{place}");
        }
        for junk in ["汉族", "本地", "1", "999999", "临"] {
            assert_eq!(
                check(&[("native_place", junk)]),
                one("W_NATIVE_PLACE", "native_place"),
                "{junk}"
            );
        }
        assert_eq!(
            check(&[
                ("nationality", "美国"),
                ("native_place", "国外"),
                ("hukou_type", "非农业户口")
            ]),
            vec![]
        );
        // seed 004, 4: "“一补“是指“对寄宿生的补助”"
        assert_eq!(
            check(&[("attendance_mode", "走读"), ("receives_yibu", "是")]),
            one("W_YIBU_NONBOARDER", "receives_yibu")
        );
        assert_eq!(check(&[("attendance_mode", "住校"), ("receives_yibu", "是")]), vec![]);
        // reference/TEMPLATE_FIELDS.md §2.8: "视力残疾随班就读 ↔ 视力残疾"
        assert_eq!(
            check(&[("inclusive_class", "视力残疾随班就读"), ("disability_type", "无残疾")]),
            one("W_INCLUSIVE_DISABILITY", "disability_type")
        );
        assert_eq!(
            check(&[("inclusive_class", "其他残疾随班就读"), ("disability_type", "肢体残疾")]),
            vec![]
        );
        // seed 000, 第三篇 28: "…或者民政部门担任监护人" — every child has a guardian.
        assert_eq!(
            check(&[("m1_is_guardian", "否")]),
            one("W_NO_GUARDIAN", "m1_is_guardian"),
            "member 1 is not, and no member 2"
        );
        let second = |g: &'static str| {
            [
                ("m1_is_guardian", "否"),
                ("m2_name", "王芳"),
                ("m2_relation", "母亲"),
                ("m2_address", "北京市东城区"),
                ("m2_hukou_region_code", "110101000000"),
                ("m2_phone", "13812345678"),
                ("m2_is_guardian", g),
            ]
        };
        assert_eq!(check(&second("否")), one("W_NO_GUARDIAN", "m1_is_guardian"));
        assert_eq!(check(&second("是")), vec![], "the mother is");
    }

    /// Seed 000, 第三篇 12: "无论学生如何转学,学生的入学年月的规则为:小学从小学一年级算起" — a pupil
    /// who repeated a year (入学年月 202309, now in the 2024 cohort's class) or skipped one
    /// (入学年月 202409, in the 2023 cohort's class) is accepted with a warning, in the class's
    /// grade; a 班号 years away from 入学年月 is a typing error.
    #[test]
    fn repeated_and_skipped_years_are_accepted_in_the_class_grade() {
        let check = |class: &str, enrol: &str| findings(&[("class_code", class), ("enrol_month", enrol)]);
        let warned = vec![("W_CLASS_YEAR", "class_code".to_string())];
        assert_eq!(check("2024101", "202309"), warned, "留级");
        assert_eq!(check("2023101", "202409"), warned, "跳级");
        assert_eq!(check("2024101", "202409"), vec![], "in step");
        assert_eq!(check("2019101", "202409")[0].0, "R_CLASS_YEAR", "five years apart");
        // The grade is the class's: a class of a cohort that starts next year is refused
        // whatever 入学年月 says.
        assert_eq!(
            check("2027101", "202609"),
            vec![
                ("W_CLASS_YEAR", "class_code".to_string()),
                ("R_GRADE", "class_code".to_string())
            ]
        );
    }

    /// Seed 004 (学籍管理中的特殊问题): "学生学籍已经处于毕业状态…处于毕业状态者,由县级学籍管理部门在网上做毕业驳回"
    /// — a graduate's registration stays, in the 毕业 state. A school that still lists last
    /// summer's graduates (the 2020 primary cohort in 2026, the 2023 junior cohort) is not refused:
    /// the status model makes them 毕业. Under 五四学制 (seed 004: "针对实行五四学制的省市") 初中
    /// has four grades and 小学 five, so the 2023 junior cohort is in grade 4, and the usual age of
    /// 初中一年级 is 11.
    #[test]
    fn graduates_are_accepted_and_five_four_schools_have_a_fourth_junior_grade() {
        let check = |class: &str, enrol: &str| findings(&[("class_code", class), ("enrol_month", enrol)]);
        assert_eq!(check("2020101", "202009"), vec![], "primary graduate of 2026");
        assert_eq!(check("2019101", "201909"), vec![], "primary graduate of 2025");
        assert_eq!(
            check("2018101", "201809"),
            vec![("W_GRADUATED_LONG_AGO", "class_code".to_string())],
            "graduated in 2024: kept, with a warning"
        );
        assert_eq!(check("2021101", "202109"), vec![], "primary grade 6");
        let t = &catalog().students;
        let under = |five_four: bool, class: &str, enrol: &str, birth: &str| {
            let mut schools = HashMap::new();
            schools.insert(
                "2110101001".to_string(),
                SchoolInfo {
                    stages: vec![1, 2],
                    public: true,
                    county: "110101".into(),
                    five_four,
                },
            );
            let mut v = valid();
            v[t.index_of("class_code").unwrap()] = class.into();
            v[t.index_of("enrol_month").unwrap()] = enrol.into();
            v[t.index_of("birth_date").unwrap()] = birth.into();
            v[t.index_of("id_number").unwrap()] = id(&format!("110101{birth}123"));
            let vd = Validator::new(catalog(), t, snapshot(), Arc::new(schools));
            vd.check(&mut v).into_iter().map(|f| f.rule).collect::<Vec<_>>()
        };
        // 初中一年级 at 11 (born 2015-03): usual under 五四制, two years young under 六三制.
        assert_eq!(under(true, "2026201", "202609", "20150301"), Vec::<&str>::new());
        assert_eq!(under(false, "2026201", "202609", "20150301"), Vec::<&str>::new());
        assert_eq!(under(false, "2026201", "202609", "20140301"), Vec::<&str>::new());
        assert_eq!(under(true, "2026201", "202609", "20120301"), vec!["W_AGE"]);
        // 初中四年级 (2023 cohort) is in school under 五四制 and a graduate under 六三制: both kept.
        assert_eq!(under(true, "2023201", "202309", "20120301"), Vec::<&str>::new());
        assert_eq!(under(false, "2023201", "202309", "20120301"), Vec::<&str>::new());
    }

    #[test]
    fn grade_out_of_range_and_senior_fields() {
        let t = &catalog().students;
        let mut v = valid();
        v[t.index_of("class_code").unwrap()] = "2027102".into();
        v[t.index_of("enrol_month").unwrap()] = "202609".into();
        let got: Vec<_> = validator().check(&mut v).into_iter().map(|f| f.rule).collect();
        assert_eq!(got, vec!["W_CLASS_YEAR", "R_GRADE"]);

        // A 高中 pupil must leave 留守 / 随迁 / 一补 empty or 否.
        let mut schools = HashMap::new();
        schools.insert(
            "2110101001".to_string(),
            SchoolInfo {
                stages: vec![3],
                public: true,
                county: "110101".into(),
                five_four: false,
            },
        );
        let senior = Validator::new(catalog(), t, snapshot(), Arc::new(schools));
        let mut v = valid();
        v[t.index_of("class_code").unwrap()] = "2024302".into();
        v[t.index_of("admission_mode").unwrap()] = "统一招生考试/普通入学".into();
        v[t.index_of("birth_date").unwrap()] = "20090301".into();
        v[t.index_of("id_number").unwrap()] = id("11010120090301123");
        v[t.index_of("registration_no").unwrap()] = format!("G{}", id("11010120090301123"));
        v[t.index_of("left_behind_type").unwrap()] = "单亲留守儿童".into();
        // seed 000: “是否留守儿童”选项由义务教育阶段学生填写,高中学生不用填写: a warning, and the
        // value is set aside.
        let got: Vec<_> = senior.check(&mut v).into_iter().map(|f| f.rule).collect();
        assert_eq!(got, vec!["W_STAGE_FIELD"]);
        assert_eq!(v[t.index_of("left_behind_type").unwrap()], "");
    }

    #[test]
    fn id_defects_are_warnings_on_the_right_column() {
        let cases = [
            ("id_number", id("11010120170301123").replace(|_: char| false, ""), None),
            (
                "id_number",
                format!("{}0", &id("11010120170301123")[..17]),
                Some(("W_ID_CHECK", "id_number")),
            ),
            (
                "id_number",
                "110101170301123".to_string(),
                Some(("W_ID_LEGACY15", "id_number")),
            ),
            (
                "id_number",
                "11010120170301123".to_string(),
                Some(("W_ID_MALFORMED", "id_number")),
            ),
            ("id_number", id("99010120170301123"), Some(("W_ID_REGION", "id_number"))),
            ("id_number", id("11010120171301123"), Some(("W_ID_DATE", "id_number"))),
            ("id_number", id("11010120170301124"), Some(("W_ID_GENDER", "gender"))),
            ("id_number", id("11010120170302123"), Some(("W_ID_BIRTH", "birth_date"))),
        ];
        for (col, value, want) in cases {
            let mut got = rules_after(col, &value);
            if value.ends_with('0')
                && want == Some(("W_ID_CHECK", "id_number"))
                && idcard::check_char(&value[..17]) == Some('0')
            {
                continue;
            }
            got.retain(|(r, _)| r.starts_with("W_ID"));
            match want {
                None => assert!(got.is_empty(), "{value}: {got:?}"),
                Some((r, c)) => assert_eq!(got, vec![(r, c.to_string())], "{value}"),
            }
            let errors = rules_after(col, &value)
                .into_iter()
                .filter(|(r, _)| r.starts_with("R_"))
                .count();
            assert_eq!(errors, 0, "an ID defect never rejects the row: {value}");
        }
    }

    #[test]
    fn names_lose_spaces_with_a_warning_and_guardian_id_is_needed_without_own_id() {
        let t = &catalog().students;
        let mut v = valid();
        v[t.index_of("name").unwrap()] = "王 小\u{3000}明".into();
        let got: Vec<_> = validator().check(&mut v).into_iter().map(|f| f.rule).collect();
        assert_eq!(got, vec!["W_NAME_SPACES"]);
        assert_eq!(v[t.index_of("name").unwrap()], "王小明");

        let mut v = valid();
        v[t.index_of("id_type").unwrap()] = "其他".into();
        v[t.index_of("id_number").unwrap()].clear();
        assert!(
            validator().check(&mut v).is_empty(),
            "a member with a resident ID is enough"
        );
        v[t.index_of("m1_id_number").unwrap()].clear();
        let got: Vec<_> = validator()
            .check(&mut v)
            .into_iter()
            .map(|f| (f.rule, t.columns[f.column].name.clone()))
            .collect();
        assert_eq!(got, vec![("R_GUARDIAN_ID", "m1_id_number".to_string())]);
    }

    #[test]
    fn member_two_is_all_or_nothing() {
        let t = &catalog().students;
        let mut v = valid();
        v[t.index_of("m2_name").unwrap()] = "李丽".into();
        let got: Vec<_> = validator().check(&mut v).into_iter().map(|f| f.rule).collect();
        assert_eq!(got, vec!["R_MEMBER_INCOMPLETE"; 5]);
    }

    #[test]
    fn implausible_age_is_only_a_warning() {
        let t = &catalog().students;
        let mut v = valid();
        let birth = "20120301";
        v[t.index_of("birth_date").unwrap()] = birth.into();
        v[t.index_of("id_number").unwrap()] = id("11010120120301123");
        v[t.index_of("registration_no").unwrap()] = format!("G{}", id("11010120120301123"));
        let got: Vec<_> = validator().check(&mut v).into_iter().map(|f| f.rule).collect();
        assert_eq!(got, vec!["W_AGE"]);
    }

    /// A same-province transfer (flow 2) between a Beijing 东城 and a 西城 school, fully approved.
    fn movement(steps: &[(&str, &str, &str)], status: &str, handler: &str) -> Vec<String> {
        let t = &catalog().movements;
        let mut v = vec![String::new(); t.columns.len()];
        let mut set = |c: &str, x: &str| v[t.index_of(c).unwrap()] = x.to_string();
        set("movement_id", "YD1");
        set("registration_no", &format!("G{}", id("11010120170301123")));
        set("name", "王小明");
        set("movement_type", "转学");
        set("from_school_id", "2110101001");
        set("to_school_id", "2110102001");
        set("apply_date", "20251008");
        for (k, (u, d, tm)) in steps.iter().enumerate() {
            set(&format!("step{}_unit", k + 1), u);
            set(&format!("step{}_decision", k + 1), d);
            set(&format!("step{}_time", k + 1), tm);
        }
        set("status", status);
        set("current_handler", handler);
        if status == "审核通过" {
            set("effective_date", steps.last().map_or("", |s| s.2));
        }
        v
    }

    fn movement_rules(v: &mut [String]) -> Vec<(&'static str, String)> {
        let mut schools = HashMap::new();
        schools.insert(
            "2110101001".to_string(),
            SchoolInfo {
                stages: vec![1],
                public: true,
                county: "110101".into(),
                five_four: false,
            },
        );
        schools.insert(
            "2110102001".to_string(),
            SchoolInfo {
                stages: vec![1],
                public: true,
                county: "110102".into(),
                five_four: false,
            },
        );
        // Another province (安徽 黟县).
        schools.insert(
            "2341023001".to_string(),
            SchoolInfo {
                stages: vec![1],
                public: true,
                county: "341023".into(),
                five_four: false,
            },
        );
        let t = &catalog().movements;
        Validator::new(catalog(), t, snapshot(), Arc::new(schools))
            .check(v)
            .into_iter()
            .map(|f| (f.rule, t.columns[f.column].name.clone()))
            .collect()
    }

    #[test]
    fn a_transfer_follows_the_chain_of_its_flow() {
        let full = [
            ("转入学校", "同意", "20251009"),
            ("转入教育局", "同意", "20251010"),
            ("转出学校", "同意", "20251011"),
            ("转出教育局", "同意", "20251012"),
        ];
        assert!(movement_rules(&mut movement(&full, "审核通过", "")).is_empty());
        // Pending at the third unit, which must be the current handler.
        assert!(movement_rules(&mut movement(&full[..2], "待审核", "转出学校")).is_empty());
        assert_eq!(
            movement_rules(&mut movement(&full[..2], "待审核", "转出教育局")),
            vec![("R_HANDLER", "current_handler".into())]
        );
        // The same-county order in a flow-2 transfer.
        let wrong = [("转入学校", "同意", "20251009"), ("转出学校", "同意", "20251010")];
        assert_eq!(
            movement_rules(&mut movement(&wrong, "待审核", "转出学校")),
            vec![("R_STEP_ORDER", "step2_unit".into())]
        );
        // A refusal ends the chain; the status must say so.
        let refused = [("转入学校", "同意", "20251009"), ("转入教育局", "不同意", "20251010")];
        assert!(movement_rules(&mut movement(&refused, "审核不通过", "")).is_empty());
        assert_eq!(
            movement_rules(&mut movement(&refused, "审核通过", "")),
            vec![("R_STATUS", "status".into())]
        );
        let after = [("转入学校", "不同意", "20251009"), ("转入教育局", "同意", "20251010")];
        assert_eq!(
            movement_rules(&mut movement(&after, "审核不通过", "")),
            vec![("R_STEP_AFTER_REFUSAL", "step2_unit".into())]
        );
        // Times go forward from the application.
        let back = [("转入学校", "同意", "20251009"), ("转入教育局", "同意", "20251001")];
        assert_eq!(
            movement_rules(&mut movement(&back, "待审核", "转出学校")),
            vec![("R_STEP_TIME", "step2_time".into())]
        );
        // A missing piece, and a gap.
        let mut v = movement(&full[..1], "待审核", "转入教育局");
        v[catalog().movements.index_of("step1_time").unwrap()].clear();
        assert_eq!(movement_rules(&mut v), vec![("R_STEP_INCOMPLETE", "step1_time".into())]);
        let mut v = movement(&full[..2], "待审核", "转出学校");
        for c in ["step1_unit", "step1_decision", "step1_time"] {
            v[catalog().movements.index_of(c).unwrap()].clear();
        }
        assert_eq!(movement_rules(&mut v), vec![("R_STEP_GAP", "step2_unit".into())]);
    }

    /// seed 000 第一篇: 跨省转学 “首办学校(转入学校)…→首办教育局(转入教育局)…→教育部→对方学校(转出学校)…→对方教育局
    /// (转出教育局)”; 第二篇: “四、转入学校学籍主管部门在学籍系统中核办。五、转出学校在学籍系统中核办。六、转出学校学籍
    /// 主管部门在学籍系统中核办。七、转入学校获得其他三方同意信息后,通知学生报到入学。” Both are accepted.
    #[test]
    fn a_cross_province_transfer_is_accepted_with_or_without_the_ministry_step() {
        let t = &catalog().movements;
        let across = |steps: &[(&str, &str, &str)], status: &str, handler: &str| {
            let mut v = movement(steps, status, handler);
            v[t.index_of("to_school_id").unwrap()] = "2341023001".into();
            movement_rules(&mut v)
        };
        let routed = [
            ("转入学校", "同意", "20251009"),
            ("转入教育局", "同意", "20251010"),
            ("教育部", "同意", "20251011"),
            ("转出学校", "同意", "20251012"),
            ("转出教育局", "同意", "20251013"),
        ];
        let four = [
            ("转入学校", "同意", "20251009"),
            ("转入教育局", "同意", "20251010"),
            ("转出学校", "同意", "20251012"),
            ("转出教育局", "同意", "20251013"),
        ];
        assert!(
            across(&routed, "审核通过", "").is_empty(),
            "{:?}",
            across(&routed, "审核通过", "")
        );
        assert!(
            across(&four, "审核通过", "").is_empty(),
            "{:?}",
            across(&four, "审核通过", "")
        );
        // Pending after two steps: either next party is right.
        assert!(across(&four[..2], "待审核", "教育部").is_empty());
        assert!(across(&four[..2], "待审核", "转出学校").is_empty());
        // Out of order in both forms is still refused.
        let wrong = [("转入学校", "同意", "20251009"), ("转出学校", "同意", "20251010")];
        assert_eq!(
            across(&wrong, "待审核", "转入教育局"),
            vec![("R_STEP_ORDER", "step2_unit".into())]
        );
    }

    /// Seed 000 第二篇 (跨省转学): a province's school master lists its own schools only, so a
    /// transfer out to, or in from, a school of another province names one school it cannot know.
    /// It is kept with a warning, its steps checked against the cross-province chains; a
    /// transfer between two unknown schools, or another movement of an unknown school, is not.
    #[test]
    fn a_transfer_to_or_from_another_province_s_school_is_kept() {
        let t = &catalog().movements;
        let four = [
            ("转入学校", "同意", "20251009"),
            ("转入教育局", "同意", "20251010"),
            ("转出学校", "同意", "20251012"),
            ("转出教育局", "同意", "20251013"),
        ];
        let with = |from: &str, to: &str, steps: &[(&str, &str, &str)], status: &str, handler: &str| {
            let mut v = movement(steps, status, handler);
            v[t.index_of("from_school_id").unwrap()] = from.into();
            v[t.index_of("to_school_id").unwrap()] = to.into();
            movement_rules(&mut v)
        };
        let out = vec![("W_SCHOOL_OTHER_PROVINCE", "to_school_id".to_string())];
        assert_eq!(with("2110101001", "2510104001", &four, "审核通过", ""), out);
        let into = vec![("W_SCHOOL_OTHER_PROVINCE", "from_school_id".to_string())];
        assert_eq!(with("2510104001", "2110101001", &four, "审核通过", ""), into);
        // Checked as a cross-province transfer: the 教育部 may be next, a same-county order is not.
        assert_eq!(with("2110101001", "2510104001", &four[..2], "待审核", "教育部"), out);
        let wrong = [("转入学校", "同意", "20251009"), ("转出学校", "同意", "20251010")];
        let mut got = with("2110101001", "2510104001", &wrong, "待审核", "转入教育局");
        got.sort();
        assert_eq!(
            got,
            vec![
                ("R_STEP_ORDER", "step2_unit".to_string()),
                ("W_SCHOOL_OTHER_PROVINCE", "to_school_id".to_string())
            ]
        );
        let both = with("2510104001", "2510104002", &four, "审核通过", "");
        assert_eq!(
            both,
            vec![
                ("R_SCHOOL_UNKNOWN", "from_school_id".to_string()),
                ("R_SCHOOL_UNKNOWN", "to_school_id".to_string())
            ]
        );
        let mut v = movement(
            &[("学校", "同意", "20251009"), ("主管教育局", "同意", "20251010")],
            "审核通过",
            "",
        );
        v[t.index_of("movement_type").unwrap()] = "休学".into();
        v[t.index_of("from_school_id").unwrap()] = "2510104001".into();
        v[t.index_of("to_school_id").unwrap()].clear();
        assert_eq!(
            movement_rules(&mut v),
            vec![("R_SCHOOL_UNKNOWN", "from_school_id".to_string())]
        );
    }

    #[test]
    fn transfers_in_the_summer_freeze_are_flagged_and_compulsory_pupils_are_not_expelled() {
        let t = &catalog().movements;
        let mut v = movement(&[("转入学校", "同意", "20250720")], "待审核", "转入教育局");
        v[t.index_of("apply_date").unwrap()] = "20250716".into();
        assert_eq!(movement_rules(&mut v), vec![("W_TRANSFER_FREEZE", "apply_date".into())]);
        let mut v = movement(&[("学校", "同意", "20251009")], "待审核", "主管教育局");
        v[t.index_of("movement_type").unwrap()] = "开除".into();
        v[t.index_of("to_school_id").unwrap()].clear();
        assert_eq!(movement_rules(&mut v), vec![("R_TYPE_STAGE", "movement_type".into())]);
        v[t.index_of("movement_type").unwrap()] = "转学".into();
        assert!(movement_rules(&mut v).iter().any(|r| r.0 == "R_TO_SCHOOL"));
    }
}

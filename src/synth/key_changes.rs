//! Synthetic 关键数据变更申请 (seed 002: "“姓名”和“身份证号”是两项关键信息……县级学籍主管部门核办")
//! for a few clean pupils, one scenario each in turn, with what `list_key_changes` must show
//! (truth/key_changes.csv).
//!
//! The generator writes one night. A request whose change is already in that night's data (the
//! school changed the record while the request awaits review, or after it was refused) is listed
//! on the first night; a request approved but not yet in the data (`in_data` = 0) waits for a
//! later night, on which a test applies its change by hand (old value → new value in the pupil's
//! row). The records themselves are never altered here, so the registrations stay as they were.

use anyhow::Result;
use chrono::NaiveDate;
use rand::Rng;

use super::GenOptions;
use super::names;
use super::pupil::{self, IdRegistry};
use crate::schema::catalog;

/// A clean pupil (no planted problem, a G 学籍号, an 18-digit resident ID) a request may be about.
pub struct Candidate {
    pub school_id: String,
    pub registration_no: String,
    pub name: String,
    pub id_number: String,
}

/// At most this many requests: a few in a sample, bounded at any scale.
pub const MAX_REQUESTS: usize = 12;

/// (field, 审核状态, 审核单位, the new value already in the data, the state the list shows once the
/// new value is in the data).
type Scenario = (&'static str, &'static str, &'static str, bool, &'static str);

const SCENARIOS: [Scenario; 6] = [
    ("姓名", "审核通过", "主管教育局", false, "有审批"),
    ("身份证件号", "审核通过", "主管教育局", false, "有审批"),
    ("姓名", "待审核", "", true, "待审核"),
    ("身份证件号", "审核不通过", "主管教育局", true, "审核不通过"),
    // Approved by the school only: the bureau's review is still to come.
    ("姓名", "审核通过", "学校", false, "待审核"),
    ("身份证件号", "待审核", "", true, "待审核"),
];

/// Another name: the first character (the surname, mostly) kept, a new given name.
fn other_name(name: &str, rng: &mut impl Rng) -> String {
    let first: String = name.chars().take(1).collect();
    for _ in 0..20 {
        let candidate = format!("{first}{}", names::render("", &names::given(rng)));
        if candidate != name {
            return candidate;
        }
    }
    format!("{first}{}", names::render("", &[(0, 0), (1, 0)]))
}

/// Another resident ID of the same region, birth date and gender, nobody's yet.
fn other_id(id: &str, ids: &mut IdRegistry, rng: &mut impl Rng) -> Option<String> {
    let birth = crate::idcard::parse_yyyymmdd(id.get(6..14)?)?;
    let digit = *id.as_bytes().get(16)?;
    let male = digit.is_ascii_digit().then_some((digit - b'0') % 2 == 1)?;
    let mut new = pupil::make_id(id.get(..6)?, birth, male, rng.random_range(0..500));
    ids.claim(&mut new);
    (new != id).then_some(new)
}

/// Write `key_change_requests.csv` and `truth/key_changes.csv`; returns the number of requests.
pub fn write(o: &GenOptions, candidates: &[Candidate], ids: &mut IdRegistry, rng: &mut impl Rng) -> Result<u64> {
    let t = &catalog().key_change_requests;
    let col = |n: &str| t.index_of(n).expect("key_change_requests column");
    let mut w = csv::Writer::from_path(o.out.join("key_change_requests.csv"))?;
    w.write_record(t.columns.iter().map(|c| c.header.as_str()))?;
    let mut truth = csv::Writer::from_path(o.out.join("truth/key_changes.csv"))?;
    truth.write_record([
        "request_id",
        "school_id",
        "registration_no",
        "field",
        "old_value",
        "new_value",
        "in_data",
        "expected",
    ])?;
    let mut n = 0u64;
    for (k, c) in candidates.iter().take(MAX_REQUESTS).enumerate() {
        let (field, status, unit, in_data, expected) = SCENARIOS[k % SCENARIOS.len()];
        let (current, other) = if field == "姓名" {
            (c.name.clone(), other_name(&c.name, rng))
        } else {
            let Some(other) = other_id(&c.id_number, ids, rng) else {
                continue;
            };
            (c.id_number.clone(), other)
        };
        // Already in the data: the school sent the new value, the old one is the request's word.
        let (old, new) = if in_data { (other, current) } else { (current, other) };
        let apply: NaiveDate = o.as_of - chrono::Duration::days(rng.random_range(20..40));
        n += 1;
        let id = format!("GJ{}{n:06}", o.as_of.format("%Y"));
        let mut r = vec![String::new(); t.columns.len()];
        r[col("request_id")] = id.clone();
        r[col("school_id")] = c.school_id.clone();
        r[col("registration_no")] = c.registration_no.clone();
        r[col("field")] = field.into();
        r[col("old_value")] = old.clone();
        r[col("new_value")] = new.clone();
        r[col("reason")] = if field == "姓名" {
            "户口簿姓名已变更，已上传户口簿"
        } else {
            "公安机关更正身份证号，已上传户口簿与证明"
        }
        .into();
        r[col("apply_date")] = apply.format("%Y%m%d").to_string();
        r[col("status")] = status.into();
        if !unit.is_empty() {
            r[col("review_unit")] = unit.into();
            r[col("review_date")] = (apply + chrono::Duration::days(3)).format("%Y%m%d").to_string();
        }
        w.write_record(&r)?;
        truth.write_record([
            id.as_str(),
            &c.school_id,
            &c.registration_no,
            field,
            &old,
            &new,
            if in_data { "1" } else { "0" },
            expected,
        ])?;
    }
    w.flush()?;
    truth.flush()?;
    Ok(n)
}

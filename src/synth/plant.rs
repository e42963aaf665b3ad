//! Planted problems: every kind a test or benchmark must find, each recorded in the ground truth.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use super::pupil::{IdRegistry, Person, make_id};
use super::variants::{name_variant, swap_day_month};
use super::world::School;
use crate::cols::StudentCols;
use crate::idcard;

/// What a planted record must make ingest (and later dedup) report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// A row-level format error: the row must be rejected with this rule on this column.
    Format(&'static str, &'static str),
    /// An ID-number defect: accepted with this warning; 问题学籍 kind 3.
    IdDefect(&'static str),
    /// A warning that does not block the import.
    Warning(&'static str, &'static str),
    /// A second registration of the same person elsewhere (exact ID or no-ID duplicate).
    Dup(DupScope, bool),
    /// A second registration with a variant of the data that the official rules miss.
    Fuzzy(Fuzzy),
    /// Different people who look alike.
    Twin,
    /// Twins where one is registered without an ID number, so no two valid numbers tell them apart.
    TwinNoId,
    Namesake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupScope {
    SameSchool,
    SameCounty,
    OtherCounty,
    OtherProvince,
}

/// How the second registration differs (made in variants.rs). The ID kinds keep name, gender
/// and birth date; the others are registered without an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuzzy {
    /// A sequence digit one up.
    IdTypo,
    /// Two sequence digits swapped.
    IdTransposed,
    IdFullWidth,
    IdLegacy15,
    /// One of the 17 digits wrong, anywhere.
    IdDigit,
    /// Two neighbouring digits swapped, anywhere in the 17.
    IdAdjacent,
    /// Only the check character wrong.
    IdWrongCheck,
    /// Two corruptions (wrong digits or swaps).
    IdTwoEdits,
    /// The same data without the ID number.
    IdMissing,
    NameSpaces,
    NameFullWidthSpace,
    NameTraditional,
    NameHomophone,
    /// A character replaced by a look-alike (形近字).
    NameShape,
    /// A given-name character replaced by one that sounds different.
    NameOther,
    /// A given-name character dropped.
    NameDrop,
    /// A given-name character added.
    NameAdd,
    BirthDay,
    BirthMonth,
    BirthYear,
    /// Day and month swapped.
    BirthSwap,
    GenderWrong,
}

impl Plant {
    pub fn label(self) -> String {
        match self {
            Plant::Format(r, _) => format!("format:{r}"),
            Plant::IdDefect(r) => format!("id_defect:{r}"),
            Plant::Warning(r, _) => format!("warning:{r}"),
            Plant::Dup(s, noid) => format!("dup:{}{}", if noid { "noid_" } else { "id_" }, s.label()),
            Plant::Fuzzy(f) => format!("fuzzy:{f:?}"),
            Plant::Twin => "hard_negative:twin".into(),
            Plant::TwinNoId => "hard_negative:twin_noid".into(),
            Plant::Namesake => "hard_negative:namesake".into(),
        }
    }

    /// The rule ingest must report for the planted row, and on which column.
    pub fn expected(self) -> Option<(&'static str, &'static str)> {
        match self {
            Plant::Format(r, c) | Plant::Warning(r, c) => Some((r, c)),
            Plant::IdDefect(r) => Some((
                r,
                if r == "W_ID_GENDER" {
                    "gender"
                } else if r == "W_ID_BIRTH" {
                    "birth_date"
                } else {
                    "id_number"
                },
            )),
            // Every changed number fails its check character and keeps a real birth part, and a
            // number that fails is not compared with 性别 or 出生日期: W_ID_CHECK alone.
            Plant::Fuzzy(
                Fuzzy::IdTypo
                | Fuzzy::IdTransposed
                | Fuzzy::IdDigit
                | Fuzzy::IdAdjacent
                | Fuzzy::IdWrongCheck
                | Fuzzy::IdTwoEdits,
            ) => Some(("W_ID_CHECK", "id_number")),
            Plant::Fuzzy(Fuzzy::IdFullWidth) => Some(("W_ID_NONSTANDARD", "id_number")),
            Plant::Fuzzy(Fuzzy::IdLegacy15) => Some(("W_ID_LEGACY15", "id_number")),
            Plant::Fuzzy(Fuzzy::NameSpaces | Fuzzy::NameFullWidthSpace) => Some(("W_NAME_SPACES", "name")),
            // The other name, birth-date and gender kinds, IdMissing and the twin without an ID
            // are registered without an ID number (其他, the parents' numbers given): nothing to
            // compare the changed value with, and a birth date within a year of the true one
            // keeps the age-for-grade check (W_AGE) quiet.
            _ => None,
        }
    }
}

impl DupScope {
    fn label(self) -> &'static str {
        match self {
            DupScope::SameSchool => "same_school",
            DupScope::SameCounty => "same_county",
            DupScope::OtherCounty => "other_county",
            DupScope::OtherProvince => "other_province",
        }
    }
}

/// The round-robin list: each kind is planted in turn, so a small sample holds every kind. Each
/// fuzzy kind is listed once, so each is planted at about the same rate.
pub const PLANTS: &[Plant] = &[
    Plant::Format("R_REQUIRED", "name"),
    Plant::Dup(DupScope::SameSchool, false),
    Plant::Fuzzy(Fuzzy::BirthDay),
    Plant::IdDefect("W_ID_CHECK"),
    Plant::Format("R_CODE", "ethnicity"),
    Plant::Fuzzy(Fuzzy::IdTypo),
    Plant::Format("R_FORBIDDEN_ID_TYPE", "id_type"),
    Plant::Fuzzy(Fuzzy::IdDigit),
    Plant::Dup(DupScope::SameCounty, false),
    Plant::Format("R_DATE", "birth_date"),
    Plant::IdDefect("W_ID_DATE"),
    Plant::Format("R_MONTH", "enrol_month"),
    Plant::Fuzzy(Fuzzy::NameShape),
    Plant::Fuzzy(Fuzzy::IdTransposed),
    Plant::Format("R_REGION_FORMAT", "hukou_region_code"),
    Plant::Dup(DupScope::OtherCounty, false),
    Plant::Format("R_REGION_UNKNOWN", "birthplace_code"),
    Plant::Fuzzy(Fuzzy::GenderWrong),
    Plant::IdDefect("W_ID_REGION"),
    Plant::Format("R_NAME_CHARS", "name"),
    Plant::Twin,
    Plant::Format("R_PHONE", "phone"),
    Plant::Fuzzy(Fuzzy::IdAdjacent),
    Plant::Fuzzy(Fuzzy::IdFullWidth),
    Plant::Format("R_PHONE_LENGTH", "m1_phone"),
    Plant::Dup(DupScope::OtherProvince, false),
    Plant::Format("R_POSTCODE", "postcode"),
    Plant::Fuzzy(Fuzzy::BirthMonth),
    Plant::IdDefect("W_ID_GENDER"),
    Plant::Format("R_BOOL", "is_only_child"),
    Plant::Fuzzy(Fuzzy::IdLegacy15),
    Plant::Format("R_DISTANCE", "school_distance_km"),
    Plant::Fuzzy(Fuzzy::NameOther),
    Plant::Dup(DupScope::SameCounty, true),
    Plant::Format("R_CLASS_FORMAT", "class_code"),
    Plant::IdDefect("W_ID_BIRTH"),
    Plant::Warning("W_CLASS_YEAR", "class_code"),
    Plant::Fuzzy(Fuzzy::IdWrongCheck),
    Plant::Namesake,
    Plant::Format("R_GRADE", "class_code"),
    Plant::TwinNoId,
    Plant::Fuzzy(Fuzzy::NameSpaces),
    Plant::Format("R_ADMISSION_STAGE", "admission_mode"),
    Plant::Fuzzy(Fuzzy::BirthYear),
    Plant::IdDefect("W_ID_LEGACY15"),
    Plant::Warning("W_STAGE_FIELD", "left_behind_type"),
    Plant::Fuzzy(Fuzzy::NameFullWidthSpace),
    Plant::Format("R_STAGE_REQUIRED", "left_behind_type"),
    Plant::Fuzzy(Fuzzy::NameDrop),
    Plant::Dup(DupScope::OtherCounty, true),
    Plant::Format("R_ID_REQUIRED", "id_number"),
    Plant::IdDefect("W_ID_MALFORMED"),
    Plant::Format("R_GUARDIAN_ID", "m1_id_number"),
    Plant::Fuzzy(Fuzzy::IdTwoEdits),
    Plant::Fuzzy(Fuzzy::NameTraditional),
    Plant::Format("R_MEMBER_ID", "m1_id_number"),
    Plant::Warning("W_AGE", "birth_date"),
    Plant::Format("R_MEMBER_INCOMPLETE", "m2_relation"),
    Plant::Fuzzy(Fuzzy::BirthSwap),
    Plant::Fuzzy(Fuzzy::NameHomophone),
    Plant::Format("R_ID_PERIOD", "id_valid_period"),
    Plant::Twin,
    Plant::Format("R_EMAIL", "email"),
    Plant::Fuzzy(Fuzzy::NameAdd),
    Plant::Format("R_REGISTRATION_NO", "registration_no"),
    Plant::Format("R_GOV_PLACE_PUBLIC", "gov_purchased_place"),
    Plant::Format("R_DATE_FUTURE", "birth_date"),
    Plant::Fuzzy(Fuzzy::IdMissing),
    Plant::Format("R_MONTH_FUTURE", "enrol_month"),
    Plant::Format("R_CLASS_STAGE", "class_code"),
    Plant::Format("R_SCHOOL_UNKNOWN", "school_id"),
    Plant::Format("R_SCHOOL_ID", "school_id"),
];

/// Whether `plant` can be applied to this pupil at this school (stage-specific rules).
pub fn applicable(plant: Plant, p: &Person, school: &School) -> bool {
    match plant {
        Plant::Warning("W_STAGE_FIELD", _) => p.stage == 3,
        Plant::Format("R_STAGE_REQUIRED" | "R_ADMISSION_STAGE", _) => p.stage < 3,
        Plant::Format("R_GOV_PLACE_PUBLIC", _) => school.public,
        Plant::Format("R_CLASS_STAGE", _) => school.stages.len() == 1,
        // Only a name with a character that has a traditional form (a homophone, a look-alike)
        // can be written so; otherwise the copy would be the name unchanged.
        Plant::Fuzzy(f @ (Fuzzy::NameTraditional | Fuzzy::NameHomophone | Fuzzy::NameShape)) => {
            p.id18.is_some() && name_variant(f, p) != p.name()
        }
        // Dropping a character must leave a given name: 2-character names (李浩) cannot.
        Plant::Fuzzy(Fuzzy::NameDrop) => p.id18.is_some() && p.given.len() >= 2,
        // Day and month can be swapped into another real date only when both are at most 12.
        Plant::Fuzzy(Fuzzy::BirthSwap) => p.id18.is_some() && swap_day_month(p.birth).is_some(),
        // One twin with an ID number and one without.
        Plant::TwinNoId => p.id18.is_some(),
        Plant::Format("R_GUARDIAN_ID" | "R_ID_REQUIRED", _) | Plant::IdDefect(_) | Plant::Fuzzy(_) | Plant::Dup(..) => {
            p.id18.is_some()
        }
        _ => true,
    }
}

/// Temporary 学籍号 (L): school county + birth date + 4 random digits; used where no G number can exist.
pub fn l_number(school: &School, birth: NaiveDate, rng: &mut impl Rng) -> String {
    format!(
        "L{}{}{:04}",
        school.county,
        birth.format("%Y%m%d"),
        rng.random_range(0..10000)
    )
}

/// Apply a row-level plant to a rendered record.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    plant: Plant,
    r: &mut [String],
    p: &Person,
    school: &School,
    year: i32,
    as_of: NaiveDate,
    c: &StudentCols,
    rng: &mut impl Rng,
    ids: &mut IdRegistry,
) {
    let id = p.id18.clone().unwrap_or_default();
    match plant {
        Plant::Format(rule, _) => match rule {
            "R_REQUIRED" => r[c.name].clear(),
            "R_CODE" => r[c.ethnicity] = "汉".into(),
            "R_FORBIDDEN_ID_TYPE" => r[c.id_type] = "军官证".into(),
            "R_DATE" => r[c.birth_date] = format!("{}0231", p.birth.year()),
            "R_MONTH" => r[c.enrol_month] = format!("{}13", &r[c.enrol_month][..4]),
            "R_REGION_FORMAT" => r[c.hukou_region_code] = p.hukou_county.clone(),
            "R_REGION_UNKNOWN" => r[c.birthplace_code] = "990100000000".into(),
            "R_NAME_CHARS" => r[c.name].push('2'),
            "R_PHONE" => r[c.phone] = format!("{}-{}", &r[c.phone][..3], &r[c.phone][3..]),
            "R_PHONE_LENGTH" => r[c.m1_phone].truncate(5),
            "R_POSTCODE" => r[c.postcode].truncate(5),
            "R_BOOL" => r[c.is_only_child] = "Y".into(),
            "R_DISTANCE" => r[c.school_distance_km] = format!("{}公里", r[c.school_distance_km]),
            "R_CLASS_FORMAT" => r[c.class_code] = "三年级二班".into(),
            "R_GRADE" => {
                // A class of next year's cohort (a graduate's past class is legitimate). The
                // cohort is a year from 入学年月: a 班号 warning too, not a typing error.
                r[c.class_code] = format!("{}{}", year + 1, &r[c.class_code][4..]);
                r[c.enrol_month] = format!("{year}09");
            }
            "R_ADMISSION_STAGE" => r[c.admission_mode] = "体育特招".into(),
            "R_STAGE_REQUIRED" => r[c.left_behind_type].clear(),
            "R_ID_REQUIRED" => r[c.id_number].clear(),
            "R_GUARDIAN_ID" => {
                r[c.id_type] = "其他".into();
                for i in [c.id_number, c.m1_id_type, c.m1_id_number, c.m2_id_type, c.m2_id_number] {
                    r[i].clear();
                }
            }
            "R_MEMBER_ID" => {
                let m = &mut r[c.m1_id_number];
                let last = if m.ends_with('0') { '1' } else { '0' };
                m.pop();
                m.push(last);
                if idcard::check_char(&m[..17]) == Some(last) {
                    m.pop();
                    m.push('5');
                }
            }
            "R_MEMBER_INCOMPLETE" => r[c.m2_relation].clear(),
            "R_ID_PERIOD" => r[c.id_valid_period] = "长期".into(),
            "R_EMAIL" => r[c.email] = "parent.qq.com".into(),
            "R_REGISTRATION_NO" => r[c.registration_no] = "G123".into(),
            "R_GOV_PLACE_PUBLIC" => r[c.gov_purchased_place] = "是".into(),
            "R_DATE_FUTURE" => r[c.birth_date] = (as_of + chrono::Duration::days(40)).format("%Y%m%d").to_string(),
            "R_MONTH_FUTURE" => r[c.enrol_month] = format!("{}09", as_of.year() + 1),
            "R_CLASS_STAGE" => {
                let other = if school.stages[0] == 3 { '1' } else { '3' };
                r[c.class_code].replace_range(4..5, &other.to_string());
            }
            "R_SCHOOL_UNKNOWN" => r[c.school_id] = format!("2{}998", school.county),
            "R_SCHOOL_ID" => r[c.school_id] = school.id[..5].to_string(),
            other => unreachable!("plant {other} has no mutation"),
        },
        Plant::IdDefect(rule) => {
            let bad = match rule {
                "W_ID_CHECK" => with_wrong_check(&id),
                "W_ID_DATE" => recheck(&format!("{}{}13{}", &id[..6], &id[6..10], &id[12..17])),
                "W_ID_REGION" => recheck(&format!("990101{}", &id[6..17])),
                "W_ID_LEGACY15" => format!("{}{}", &id[..6], &id[8..17]),
                "W_ID_MALFORMED" => id[..17].to_string(),
                "W_ID_GENDER" => {
                    r[c.gender] = if p.male { "女" } else { "男" }.into();
                    id.clone()
                }
                "W_ID_BIRTH" => {
                    r[c.birth_date] = (p.birth + chrono::Duration::days(1)).format("%Y%m%d").to_string();
                    id.clone()
                }
                other => unreachable!("id defect {other}"),
            };
            if bad != id {
                r[c.id_number] = bad;
                r[c.registration_no] = l_number(school, p.birth, rng);
            }
        }
        // seed 000: “是否留守儿童”选项由义务教育阶段学生填写,高中学生不用填写 — filled anyway.
        Plant::Warning("W_STAGE_FIELD", _) => r[c.left_behind_type] = "单亲留守儿童".into(),
        // A pupil who repeated a year (留级): 入学年月 a year before the cohort of the class, whose
        // grade the pupil is in.
        Plant::Warning("W_CLASS_YEAR", _) => {
            let y: i32 = r[c.enrol_month][..4].parse().unwrap_or(year);
            r[c.enrol_month] = format!("{}{}", y - 1, &r[c.enrol_month][4..]);
        }
        Plant::Warning("W_AGE", _) => {
            let birth = p.birth - chrono::Duration::days(365 * 5);
            r[c.birth_date] = birth.format("%Y%m%d").to_string();
            let mut nid = make_id(&p.hukou_county, birth, p.male, rng.random_range(0..500));
            ids.claim(&mut nid);
            r[c.registration_no] = format!("G{nid}");
            r[c.id_number] = nid;
        }
        _ => {}
    }
}

fn recheck(first17: &str) -> String {
    match idcard::check_char(first17) {
        Some(c) => format!("{first17}{c}"),
        None => format!("{first17}0"),
    }
}

fn with_wrong_check(id: &str) -> String {
    let good = idcard::check_char(&id[..17]).unwrap_or('0');
    let wrong = if good == '0' { '1' } else { '0' };
    format!("{}{wrong}", &id[..17])
}

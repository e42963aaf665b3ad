//! Scalar functions registered in every session (so `xueji sql` has them too).
//!
//! - `id_defect(id)`: null for a valid resident ID number, else the defect code
//!   (`W_ID_MALFORMED`, `W_ID_LEGACY15`, `W_ID_DATE`, `W_ID_CHECK`, `W_ID_REGION`), after
//!   normalising spaces, full-width digits and a lower-case x; dates are checked against today.
//! - `id_check(id, gender, birth_date, as_of)`: the same, checked against `as_of` (so a model gives
//!   the same answer whatever day it runs), plus `W_ID_GENDER` when the sequence digit contradicts
//!   the gender and `W_ID_BIRTH` when the birth date part contradicts the birth date.
//! - `id_normalise(id)`: that normalised form; 15-digit numbers stay as they are.
//! - `id_to18(id)`: the normalised form with a 15-digit legacy number upgraded to 18 digits.
//! - `id_birth_date(id)`, `id_gender(id)`: read from a structurally valid (15- or 18-digit) number.
//! - `mask_id(id)`: `520102************` — the region (first 6 digits) of a resident ID number kept,
//!   and the prefix letter of a 学籍号 (`G520102************`); anything else all `*`.
//! - `mask_birth_date(date)`: `2012-**-**` — the year kept (a date column: cast it to text first).
//! - `mask_address(address)`: `贵州省贵阳市南明区****` — cut to the county.
//! - `mask_name(name)`: `张*涵` — the first and last characters kept.
//! - `stable_id(kind, key)`: `<kind>-<16 hex>`, a keyed hash of `key` with the warehouse's own
//!   secret: stable across nights, but not reversible to the ID number it may be made from.
//! - `graduation_date(class_code, enrol_month, school_system)`: the day the class graduates under
//!   the school's 学制 ([`crate::schema::Calendar::graduation_date`]); one rule for the models and
//!   the commit's deletion guard.
//! - `key_bucket(key, n)`: which of `n` buckets a key falls in (0 to n-1), from a hash of its
//!   text; the commit compares a large night with the previous one bucket by bucket.
//! - `name_normalise`, `name_pinyin`, `name_sound`: see [`fuzzy`].
//! - `id_level`, `name_level`, `birth_level`: comparison levels, see [`compare`].
//! - `fs_fit(...)`: Fellegi–Sunter weights learned by EM, and `fs_level_label(field, level)`, see
//!   [`fellegi`].
//! - `dedup_cluster(a, b, score, id_a, id_b)`: clusters without chaining, see [`cluster`].

pub mod cluster;
pub mod compare;
pub mod fellegi;
pub mod fuzzy;
pub mod stable;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Int64Array, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};
use chrono::NaiveDate;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::idcard;
use crate::schema::catalog;

/// A string argument as a plain `StringArray`, whatever string type the column has.
fn str_arg(a: &ArrayRef) -> Result<StringArray> {
    let c = arrow::compute::cast(a, &DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Utf8".into()))
}

fn date_arg(a: &ArrayRef) -> Result<Date32Array> {
    let c = arrow::compute::cast(a, &DataType::Date32)?;
    c.as_any()
        .downcast_ref::<Date32Array>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Date32".into()))
}

/// One list value holding `values`: the result (and state) of the list-returning aggregates.
fn list_of(values: ArrayRef, field: Arc<Field>) -> ScalarValue {
    let n = values.len();
    ScalarValue::List(Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths([n]),
        values,
        None,
    )))
}

fn map_str(args: &[ColumnarValue], f: impl Fn(&str) -> Option<String>) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let a = str_arg(&arrays[0])?;
    let out: StringArray = a.iter().map(|v| v.and_then(&f)).collect();
    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
}

pub fn id_defect(raw: &str) -> Option<String> {
    id_check(raw, None, None, chrono::Local::now().date_naive())
}

/// The defect code of an ID number (None when it is valid), as `id_check` in SQL.
pub fn id_check(raw: &str, gender: Option<&str>, birth: Option<NaiveDate>, as_of: NaiveDate) -> Option<String> {
    let (norm, _) = idcard::normalise(raw);
    let regions = &catalog().regions;
    match idcard::analyse(&norm, as_of, |r| regions.known6(r)) {
        Err(d) => Some(d.rule().to_string()),
        Ok(rid) => {
            if gender.is_some_and(|g| (g == "男") != rid.male && (g == "男" || g == "女")) {
                Some("W_ID_GENDER".into())
            } else if birth.is_some_and(|b| b != rid.birth) {
                Some("W_ID_BIRTH".into())
            } else {
                None
            }
        }
    }
}

/// Birth date and gender digit of a structurally valid number (18 digits, or 15 legacy).
fn id_parts(raw: &str) -> Option<(NaiveDate, bool)> {
    let (norm, _) = idcard::normalise(raw);
    let full = if norm.len() == 15 {
        idcard::upgrade15(&norm)?
    } else {
        norm
    };
    let b = full.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((idcard::parse_yyyymmdd(&full[6..14])?, (b[16] - b'0') % 2 == 1))
}

/// The normalised number with a 15-digit legacy number upgraded to 18 digits (born 19xx, check
/// character computed); other numbers as `id_normalise` gives them.
pub fn id_to18(raw: &str) -> Option<String> {
    let (norm, _) = idcard::normalise(raw);
    if norm.len() == 15 {
        idcard::upgrade15(&norm).or(Some(norm))
    } else {
        Some(norm)
    }
}

/// `520102************`: an ID number as a list that leaves the school shows it. Only the region
/// (the first 6 digits, which the school's county mostly implies anyway) of a resident ID number
/// is kept, and the prefix letter of a 学籍号 (G formal, J without a citizen ID, L temporary:
/// `G520102************`), never the birth date, sequence or check character; a number of any
/// other form (passports, permits, numbers too short to be a resident ID) is all `*`. Why the
/// last 4 are gone too: see [`crate::models::MaskKind`].
pub fn mask_id(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let letter = usize::from(chars.len() > 1 && matches!(chars[0], 'G' | 'J' | 'L'));
    let body = &chars[letter..];
    let region = body.len() >= 15 && body[..6].iter().all(char::is_ascii_digit);
    let keep = letter + if region { 6 } else { 0 };
    chars[..keep]
        .iter()
        .copied()
        .chain(std::iter::repeat_n('*', chars.len() - keep))
        .collect()
}

/// `2012-**-**`: a date with its year kept and every other digit hidden (`20120304` gives
/// `2012****`); text that does not start with a 4-digit year has every digit hidden.
pub fn mask_birth_date(raw: &str) -> String {
    let year = raw.chars().take(4).filter(char::is_ascii_digit).count() == 4;
    let keep = if year { 4 } else { 0 };
    raw.chars()
        .enumerate()
        .map(|(i, c)| if i >= keep && c.is_numeric() { '*' } else { c })
        .collect()
}

/// `贵州省贵阳市南明区****`: an address cut to its county. Kept: the text up to and including the
/// first 县/区/旗 that ends a county-level name within the first 30 characters; failing that,
/// up to the last 市 within the first 10; failing that, the first 3 characters (never the whole
/// text). The street, house and estate are always hidden.
pub fn mask_address(raw: &str) -> String {
    let c: Vec<char> = raw.chars().collect();
    if c.is_empty() {
        return String::new();
    }
    let keep = county_end(&c)
        .or_else(|| c[..c.len().min(10)].iter().rposition(|&x| x == '市').map(|i| i + 1))
        .unwrap_or_else(|| 3.min(c.len() - 1));
    c[..keep].iter().collect::<String>() + "****"
}

/// Where the county-level part of an address ends (after its 县, 区 or 旗), if it has one.
fn county_end(c: &[char]) -> Option<usize> {
    for i in 0..c.len().min(30) {
        let prev = i.checked_sub(1).map(|j| c[j]);
        match (c[i], prev) {
            // 自治区, 地区, 市辖区: a province, a prefecture or a city's districts as a whole; the
            // county comes after.
            ('区', Some('治' | '地' | '辖')) => {}
            // 小区, 社区, 园区, 校区, …: an estate came first, so there is no county to keep.
            ('区', Some('小' | '社' | '园' | '校' | '景' | '街' | '片')) => return None,
            // 红旗路: a street.
            ('旗', Some('红')) => return None,
            ('县' | '区' | '旗', _) => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `张*涵`: the first and (from three characters on) the last character kept.
pub fn mask_name(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// `<kind>-<16 hex>` from a keyed hash: equal keys give equal ids in one warehouse.
pub fn stable_id(secret: u64, kind: &str, key: &str) -> String {
    format!(
        "{kind}-{:016X}",
        xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), secret)
    )
}

/// A text cell, empty when null.
fn text(a: &StringArray, i: usize) -> &str {
    if a.is_valid(i) { a.value(i) } else { "" }
}

fn days_to_date(d: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(d.into()))
}

/// Register every function. `secret` keys `stable_id` (the warehouse's; 0 where there is none).
pub fn register(ctx: &SessionContext, secret: u64) {
    let s = |name: &str, f: fn(&str) -> Option<String>| {
        create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| map_str(args, f)),
        )
    };
    ctx.register_udf(s("id_defect", id_defect));
    ctx.register_udf(s("id_normalise", |v| Some(idcard::normalise(v).0)));
    ctx.register_udf(s("id_to18", id_to18));
    ctx.register_udf(s("mask_id", |v| Some(mask_id(v))));
    ctx.register_udf(s("mask_birth_date", |v| Some(mask_birth_date(v))));
    ctx.register_udf(s("mask_address", |v| Some(mask_address(v))));
    ctx.register_udf(s("mask_name", |v| Some(mask_name(v))));
    ctx.register_udf(s("id_gender", |v| {
        id_parts(v).map(|(_, male)| if male { "男" } else { "女" }.to_string())
    }));
    ctx.register_udf(create_udf(
        "id_birth_date",
        vec![DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let a = str_arg(&arrays[0])?;
            let out: Date32Array = a
                .iter()
                .map(|v| v.and_then(id_parts).map(|(d, _)| crate::warehouse::days(d)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "id_check",
        vec![DataType::Utf8, DataType::Utf8, DataType::Date32, DataType::Date32],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (id, gender, birth, as_of) = (
                str_arg(&arrays[0])?,
                str_arg(&arrays[1])?,
                date_arg(&arrays[2])?,
                date_arg(&arrays[3])?,
            );
            let out: StringArray = (0..id.len())
                .map(|i| {
                    let day = |a: &Date32Array| if a.is_valid(i) { days_to_date(a.value(i)) } else { None };
                    let as_of = day(&as_of)?;
                    if id.is_null(i) || id.value(i).is_empty() {
                        return None;
                    }
                    id_check(
                        id.value(i),
                        gender.is_valid(i).then(|| gender.value(i)),
                        day(&birth),
                        as_of,
                    )
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "graduation_date",
        vec![DataType::Utf8, DataType::Utf8, DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (class, enrol, system) = (str_arg(&arrays[0])?, str_arg(&arrays[1])?, str_arg(&arrays[2])?);
            let calendar = &crate::schema::catalog().calendar;
            let out: Date32Array = (0..class.len())
                .map(|i| {
                    calendar
                        .graduation_date(text(&class, i), text(&enrol, i), text(&system, i) == "五四制")
                        .map(crate::warehouse::days)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "key_bucket",
        vec![DataType::Utf8, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (key, n) = (
                str_arg(&arrays[0])?,
                arrays[1]
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned()
                    .ok_or_else(|| DataFusionError::Internal("key_bucket: n".into()))?,
            );
            let out: Int64Array = (0..key.len())
                .map(|i| {
                    (key.is_valid(i) && n.is_valid(i) && n.value(i) > 0)
                        .then(|| (xxhash_rust::xxh3::xxh3_64(key.value(i).as_bytes()) % n.value(i) as u64) as i64)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    fuzzy::register(ctx);
    compare::register(ctx);
    ctx.register_udaf(fellegi::fs_fit());
    ctx.register_udf(fellegi::fs_level_label());
    ctx.register_udaf(cluster::dedup_cluster());
    register_stable_id(ctx, secret);
}

/// (Re-)register `stable_id` keyed with a warehouse's secret.
pub fn register_stable_id(ctx: &SessionContext, secret: u64) {
    ctx.register_udf(stable::stable_id_udf(Some(secret)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_region_the_year_and_the_county_only() {
        assert_eq!(mask_id("52010220150101123X"), "520102************");
        assert_eq!(
            mask_id("G52010220150101123X"),
            "G520102************",
            "a 学籍号 keeps its letter"
        );
        assert_eq!(mask_id("L52010220150101123X"), "L520102************");
        assert_eq!(mask_id("520102150101123"), "520102*********", "15-digit legacy");
        assert_eq!(mask_id("E12345678"), "*********", "a passport shows nothing");
        assert_eq!(mask_id("H1234567890"), "***********", "a permit shows nothing");
        assert_eq!(mask_id("J2015ABC"), "J*******");
        assert_eq!((mask_id(""), mask_id("G")), (String::new(), "*".to_string()));
        assert_eq!(mask_birth_date("2012-03-04"), "2012-**-**");
        assert_eq!(mask_birth_date("20120304"), "2012****");
        assert_eq!(mask_birth_date("12-03-04"), "**-**-**");
        assert_eq!(mask_birth_date(""), "");
        for (address, masked) in [
            ("贵州省贵阳市南明区花果园街道1号", "贵州省贵阳市南明区****"),
            ("黟县解放路219号20栋5单元2264室", "黟县****"),
            ("江汉区人民路104号6栋4单元775室", "江汉区****"),
            (
                "新疆维吾尔自治区乌鲁木齐市天山区解放南路1号",
                "新疆维吾尔自治区乌鲁木齐市天山区****",
            ),
            (
                "内蒙古自治区呼伦贝尔市鄂温克族自治旗巴彦托海镇",
                "内蒙古自治区呼伦贝尔市鄂温克族自治旗****",
            ),
            ("西藏阿里地区噶尔县狮泉河镇", "西藏阿里地区噶尔县****"),
            ("贵阳市花果园小区3栋", "贵阳市****"),
            ("阳光小区3栋2单元", "阳光小****"),
            ("红旗路12号", "红旗路****"),
            ("解放路", "解放****"),
            ("", ""),
        ] {
            assert_eq!(mask_address(address), masked, "{address}");
        }
        let id18 = format!("11010119850301123{}", idcard::check_char("11010119850301123").unwrap());
        assert_eq!(id_to18("110101850301123").as_deref(), Some(id18.as_str()));
        assert_eq!(id_to18(&id18.replace('1', "１")).as_deref(), Some(id18.as_str()));
        assert_eq!(
            (
                mask_name("张子涵").as_str(),
                mask_name("王一").as_str(),
                mask_name("欧阳子涵").as_str()
            ),
            ("张*涵", "王*", "欧**涵")
        );
    }

    #[test]
    fn id_check_sees_gender_and_birth_contradictions() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let first17 = "11010120150301123";
        let id = format!("{first17}{}", idcard::check_char(first17).unwrap());
        let asof = d("2026-10-15");
        // Digit 17 is 3: odd, a boy.
        assert_eq!(id_check(&id, Some("男"), Some(d("2015-03-01")), asof), None);
        assert_eq!(
            id_check(&id, Some("女"), Some(d("2015-03-01")), asof).as_deref(),
            Some("W_ID_GENDER")
        );
        assert_eq!(
            id_check(&id, Some("男"), Some(d("2015-03-02")), asof).as_deref(),
            Some("W_ID_BIRTH")
        );
        assert_eq!(
            id_check(&id, None, None, d("2015-02-01")).as_deref(),
            Some("W_ID_DATE"),
            "born after the as-of date"
        );
        assert_eq!(id_check(&id[..17], None, None, asof).as_deref(), Some("W_ID_MALFORMED"));
        assert_eq!(
            id_parts(&format!("{}{}", &id[..6], &id[8..17])),
            Some((d("1915-03-01"), true)),
            "15-digit legacy numbers are of the 1900s"
        );
        assert_ne!(
            stable_id(1, "1", &id),
            stable_id(2, "1", &id),
            "the secret changes the id"
        );
        assert_eq!(stable_id(1, "1", &id), stable_id(1, "1", &id));
    }
}

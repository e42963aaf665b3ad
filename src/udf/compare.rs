//! Comparison levels of the fuzzy matcher (疑似重复), one function per field, as in a
//! Fellegi–Sunter model: each pair of values falls into one named level, from the strongest
//! agreement to plain disagreement. The levels' weights are not set here: `fs_fit` learns them
//! from the data (see [`super::fellegi`]). A new level goes into `LEVELS` there too, with its
//! label, and into dedup_candidates' weight columns: unit tests there check both.
//!
//! - `id_valid(id, as_of)`: an 18-character resident ID number that passes its check character
//!   and carries a real birth date not after `as_of`;
//! - `id_level(a, b)`: `same`, `same15`, `check` (all but the check character), `one_edit` (one
//!   substitution or one swap of neighbours), `two_edits`, `valid_different` (both pass their
//!   check character and differ: two people), `different`, or NULL when one is missing; the
//!   typo levels only for two 18-character numbers one of which fails its check character;
//! - `name_level(a, b)`: `same`, `normalised`, `pinyin` (homophone), `sound` (southern
//!   confusions), `shape` (one character replaced by a shape-similar one, 形近字), `one_char`
//!   (one character replaced by another), `extra_char` (one character dropped or added),
//!   `different`, or NULL;
//! - `birth_level(a, b)`: `same`, `swap` (day and month swapped), `day1` (a day apart),
//!   `month` (same day; same year, or a month apart across the new year), `year` (same month
//!   and day, ≤ 2 years apart), `different`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, Int64Builder, ListArray, StringArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use chrono::Datelike;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::fuzzy::{name_normalise, name_pinyin, name_sound};
use super::{date_arg, days_to_date, str_arg};
use crate::idcard;

/// Characters commonly written for one another (形近字), as groups. Registrars copy names from
/// handwritten forms; a one-stroke slip gives another real character with another sound.
const SHAPE_GROUPS: &[&str] = &[
    "己已巳",
    "未末",
    "日曰",
    "天夭",
    "王玉主",
    "土士",
    "人入八",
    "大太犬",
    "晨晟",
    "刀力",
    "田由甲申",
    "戊戌戍",
    "干千于",
    "卜下",
    "木本术",
    "治冶",
    "候侯",
    "拨拔",
    "汩汨",
    "莹莺",
    "折拆",
    "壁璧",
    "即既",
    "佳住",
    "茜蓓",
    "溪淏",
    "瑕暇",
    "婷亭",
    "妍研",
    "洁浩",
    "琪淇棋",
    "萱宣",
    "涵函",
    "冰水",
    "杨扬",
    "晴睛",
    "清情请",
    "梓锌",
    "辰宸",
    "钰玉",
    "怡冶",
    "苒冉",
    "熙煕",
    "彤肜",
    "昕听",
    "炜伟",
    "浩皓",
    "铭名",
    "睿叡",
];

fn shape_similar(a: char, b: char) -> bool {
    SHAPE_GROUPS.iter().any(|g| g.contains(a) && g.contains(b))
}

/// An 18-character resident ID number (after normalising) that passes its check character and
/// whose birth part is a real date, not after `as_of` when given.
pub fn id_valid(raw: &str, as_of: Option<chrono::NaiveDate>) -> bool {
    let s = idcard::normalise(raw).0;
    valid18(&s) && as_of.is_none_or(|d| idcard::parse_yyyymmdd(&s[6..14]).is_some_and(|b| b <= d))
}

/// Passes the check character and carries a real birth date: a number that could be a pupil's.
fn valid18(s: &str) -> bool {
    s.len() == 18
        && s.is_ascii()
        && idcard::check_char(&s[..17]).is_some_and(|c| s.ends_with(c))
        && idcard::parse_yyyymmdd(&s[6..14]).is_some_and(|b| b.year() >= 1900)
}

/// The comparison level of two ID numbers (see the module documentation); `None` if one is empty.
pub fn id_level(a: &str, b: &str) -> Option<&'static str> {
    let (a, _) = idcard::normalise(a);
    let (b, _) = idcard::normalise(b);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a == b {
        return Some("same");
    }
    let as15 = |s: &str| (s.len() == 18 && s.is_ascii()).then(|| format!("{}{}", &s[..6], &s[8..17]));
    if (a.len() == 15 && as15(&b).as_deref() == Some(a.as_str()))
        || (b.len() == 15 && as15(&a).as_deref() == Some(b.as_str()))
    {
        return Some("same15");
    }
    // Two numbers that both pass the check character are two people, however close: one
    // substitution always breaks the check, and twins differ in the sequence digits.
    if valid18(&a) && valid18(&b) {
        return Some("valid_different");
    }
    // Typos are measured on resident ID numbers only, one of which fails its check character:
    // passports and other numbers issued together may differ in one place and be two people.
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.len() != 18 || y.len() != 18 || !a.is_ascii() || !b.is_ascii() {
        return Some("different");
    }
    let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).collect();
    Some(match diff.as_slice() {
        [i] if *i == x.len() - 1 => "check",
        [_] => "one_edit",
        [i, j] if *j == i + 1 && x[*i] == y[*j] && x[*j] == y[*i] => "one_edit",
        [_, _] => "two_edits",
        _ => "different",
    })
}

/// Edit distance of at most one between two character strings (substitution, insertion,
/// deletion), and the substituted pair when it is a substitution.
fn one_char(a: &[char], b: &[char]) -> Option<Option<(char, char)>> {
    match a.len() as isize - b.len() as isize {
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match diff.as_slice() {
                [i] => Some(Some((a[*i], b[*i]))),
                _ => None,
            }
        }
        1 | -1 => {
            let (long, short) = if a.len() > b.len() { (a, b) } else { (b, a) };
            let i = (0..short.len()).find(|&i| long[i] != short[i]).unwrap_or(short.len());
            (long[i + 1..] == short[i..]).then_some(None)
        }
        _ => None,
    }
}

/// The comparison level of two names (see the module documentation); `None` if one is empty.
pub fn name_level(a: &str, b: &str) -> Option<&'static str> {
    if a.trim().is_empty() || b.trim().is_empty() {
        return None;
    }
    if a == b {
        return Some("same");
    }
    let (na, nb) = (name_normalise(a), name_normalise(b));
    if na == nb {
        return Some("normalised");
    }
    if name_pinyin(&na) == name_pinyin(&nb) {
        return Some("pinyin");
    }
    if name_sound(&na) == name_sound(&nb) {
        return Some("sound");
    }
    let (ca, cb): (Vec<char>, Vec<char>) = (na.chars().collect(), nb.chars().collect());
    Some(match one_char(&ca, &cb) {
        Some(Some((x, y))) if shape_similar(x, y) => "shape",
        Some(Some(_)) => "one_char",
        Some(None) => "extra_char",
        None => "different",
    })
}

/// The comparison level of two birth dates (see the module documentation).
pub fn birth_level(a: chrono::NaiveDate, b: chrono::NaiveDate) -> &'static str {
    if a == b {
        return "same";
    }
    if a.year() == b.year() && a.month() == b.day() && a.day() == b.month() {
        return "swap";
    }
    if (a - b).num_days().abs() == 1 {
        return "day1";
    }
    let months = |d: chrono::NaiveDate| d.year() * 12 + d.month() as i32;
    if a.day() == b.day() && (a.year() == b.year() || (months(a) - months(b)).abs() == 1) {
        return "month";
    }
    if a.month() == b.month() && a.day() == b.day() && (a.year() - b.year()).abs() <= 2 {
        return "year";
    }
    "different"
}

/// `block_pairs(members)`: every pair (a, b), a < b, of a block's members (BIGINT; distinct,
/// sorted), as a list of `{a, b}`; the blocking of the fuzzy matcher turns each small block into
/// its pairs.
fn block_pairs(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let lists = arrays[0]
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| DataFusionError::Internal("block_pairs: a list of BIGINT".into()))?;
    let (mut a, mut b) = (Int64Builder::new(), Int64Builder::new());
    let mut lengths = Vec::with_capacity(lists.len());
    for i in 0..lists.len() {
        let mut m: Vec<i64> = Vec::new();
        if lists.is_valid(i) {
            let v = arrow::compute::cast(&lists.value(i), &DataType::Int64)?;
            if let Some(v) = v.as_any().downcast_ref::<Int64Array>() {
                m.extend(v.iter().flatten());
            }
        }
        m.sort_unstable();
        m.dedup();
        let mut n = 0;
        for x in 0..m.len() {
            for y in &m[x + 1..] {
                a.append_value(m[x]);
                b.append_value(*y);
                n += 1;
            }
        }
        lengths.push(n);
    }
    let st = StructArray::new(
        pair_fields(),
        vec![Arc::new(a.finish()) as ArrayRef, Arc::new(b.finish())],
        None,
    );
    let list = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Struct(pair_fields()), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(st),
        None,
    );
    Ok(ColumnarValue::Array(Arc::new(list)))
}

fn pair_fields() -> Fields {
    Fields::from(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Int64, false),
    ])
}

fn two_strings(args: &[ColumnarValue], f: fn(&str, &str) -> Option<&'static str>) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let (a, b) = (str_arg(&arrays[0])?, str_arg(&arrays[1])?);
    let out: StringArray = (0..a.len())
        .map(|i| {
            (a.is_valid(i) && b.is_valid(i))
                .then(|| f(a.value(i), b.value(i)))
                .flatten()
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
}

pub fn register(ctx: &SessionContext) {
    let utf8 = |name: &str, f: fn(&str, &str) -> Option<&'static str>| {
        create_udf(
            name,
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| two_strings(args, f)),
        )
    };
    ctx.register_udf(create_udf(
        "block_pairs",
        vec![DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))],
        DataType::List(Arc::new(Field::new_list_field(DataType::Struct(pair_fields()), true))),
        Volatility::Immutable,
        Arc::new(block_pairs),
    ));
    ctx.register_udf(utf8("id_level", id_level));
    ctx.register_udf(create_udf(
        "id_valid",
        vec![DataType::Utf8, DataType::Date32],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (a, d) = (str_arg(&arrays[0])?, date_arg(&arrays[1])?);
            let out: arrow::array::BooleanArray = (0..a.len())
                .map(|i| {
                    let as_of = d.is_valid(i).then(|| days_to_date(d.value(i))).flatten();
                    Some(a.is_valid(i) && id_valid(a.value(i), as_of))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(utf8("name_level", name_level));
    ctx.register_udf(create_udf(
        "birth_level",
        vec![DataType::Date32, DataType::Date32],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (a, b) = (date_arg(&arrays[0])?, date_arg(&arrays[1])?);
            let out: StringArray = (0..a.len())
                .map(|i| {
                    let d = |x: &arrow::array::Date32Array| x.is_valid(i).then(|| days_to_date(x.value(i))).flatten();
                    Some(birth_level(d(&a)?, d(&b)?))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> chrono::NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn id_levels() {
        let id = "110105201503070021";
        assert_eq!(id_level(id, id), Some("same"));
        assert_eq!(id_level(id, ""), None);
        assert_eq!(id_level(id, "110105150307002"), Some("same15"));
        assert_eq!(id_level(id, "11010520150307002X"), Some("check"));
        assert_eq!(id_level(id, "110105201503070921"), Some("one_edit"));
        assert_eq!(
            id_level(id, "110105021503070021"),
            Some("one_edit"),
            "a swap of neighbours"
        );
        assert_eq!(id_level(id, "110105201503079921"), Some("two_edits"));
        // Twins: numbers one sequence apart, both valid.
        assert_eq!(id_level(id, "110105201503070048"), Some("valid_different"));
        assert_eq!(id_level(id, "440305201901010011"), Some("different"));
        assert_eq!(
            id_level("E12345678", "E12345679"),
            Some("different"),
            "passports issued together"
        );
    }

    #[test]
    fn name_levels() {
        assert_eq!(name_level("张伟", "张伟"), Some("same"));
        assert_eq!(name_level("张 伟", "张伟"), Some("normalised"));
        assert_eq!(name_level("张伟", "张炜"), Some("pinyin"));
        assert_eq!(name_level("陈晨", "陈岑"), Some("sound"));
        assert_eq!(name_level("李已", "李己"), Some("shape"));
        assert_eq!(name_level("王末", "王未"), Some("shape"));
        assert_eq!(name_level("王子涵", "王涵"), Some("extra_char"), "a character dropped");
        assert_eq!(name_level("王涵", "王梓涵"), Some("extra_char"), "a character added");
        assert_eq!(name_level("王涵", "王强"), Some("one_char"));
        assert_eq!(name_level("王涵", "李强"), Some("different"));
        assert_eq!(name_level("", "李强"), None);
    }

    #[test]
    fn birth_levels() {
        assert_eq!(birth_level(d("2015-03-07"), d("2015-03-07")), "same");
        assert_eq!(birth_level(d("2015-03-07"), d("2015-07-03")), "swap");
        assert_eq!(birth_level(d("2015-03-31"), d("2015-04-01")), "day1");
        assert_eq!(birth_level(d("2015-03-07"), d("2015-05-07")), "month");
        assert_eq!(
            birth_level(d("2015-01-30"), d("2014-12-30")),
            "month",
            "a month back over the new year"
        );
        assert_eq!(birth_level(d("2015-03-07"), d("2014-03-07")), "year");
        assert_eq!(birth_level(d("2015-03-07"), d("2011-08-19")), "different");
    }
}

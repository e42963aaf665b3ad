//! Names as the fuzzy matcher (疑似重复) compares them: normalised, as pinyin, as heard.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use pinyin::ToPinyin;

use super::map_str;

/// A name as it should compare: no spaces of any width, full-width letters and digits made
/// half-width, the separator dot of minority and foreign names unified, traditional
/// characters made simplified, Latin letters upper-cased.
pub fn name_normalise(raw: &str) -> String {
    let half: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '•' | '・' | '．' | '.' | '‧' | '∙' | '⋅' | '･' => '·',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect();
    fast2s::convert(&half)
}

/// Toneless pinyin of the normalised name, syllables separated by one space; characters without
/// a reading (letters, the dot) are kept. Polyphonic characters take their first reading, so
/// one character always gives one key.
pub fn name_pinyin(raw: &str) -> String {
    let norm = name_normalise(raw);
    let mut out = String::with_capacity(norm.len() * 2);
    for (c, py) in norm.chars().zip(norm.as_str().to_pinyin()) {
        if !out.is_empty() {
            out.push(' ');
        }
        match py {
            Some(p) => out.push_str(p.plain()),
            None => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// The pinyin key with the confusions of southern speech folded (模糊音: zh/ch/sh as z/c/s,
/// -ang/-eng/-ing as -an/-en/-in), as input methods do; names heard and typed by different
/// people meet on this key.
pub fn name_sound(raw: &str) -> String {
    name_pinyin(raw)
        .split(' ')
        .map(|syl| {
            let s = syl
                .strip_prefix("zh")
                .map(|r| format!("z{r}"))
                .or_else(|| syl.strip_prefix("ch").map(|r| format!("c{r}")))
                .or_else(|| syl.strip_prefix("sh").map(|r| format!("s{r}")))
                .unwrap_or_else(|| syl.to_string());
            match s.strip_suffix("ng") {
                Some(r) if r.ends_with(['a', 'e', 'i']) => r.to_string() + "n",
                _ => s,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn register(ctx: &SessionContext) {
    let s = |name: &str, f: fn(&str) -> Option<String>| {
        create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| map_str(args, f)),
        )
    };
    ctx.register_udf(s("name_normalise", |v| Some(name_normalise(v))));
    ctx.register_udf(s("name_pinyin", |v| Some(name_pinyin(v))));
    ctx.register_udf(s("name_sound", |v| Some(name_sound(v))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::names::GIVEN_GROUPS;

    #[test]
    fn names_compare_after_normalising() {
        assert_eq!(name_normalise("王\u{3000}子涵"), "王子涵");
        assert_eq!(name_normalise(" 劉 偉 "), "刘伟");
        assert_eq!(name_normalise("阿依古丽•买买提"), "阿依古丽·买买提");
        assert_eq!(name_normalise("阿依古丽．买买提"), "阿依古丽·买买提");
        assert_eq!(name_normalise("ｊｏｈｎ"), "JOHN");
        assert_eq!(name_pinyin("張 子涵"), "zhang zi han");
        assert_eq!(name_pinyin("張子涵"), name_pinyin("张梓晗"));
        assert_eq!(name_sound("张诗晴"), "zan si qin");
        assert_eq!(name_sound("张思琴"), name_sound("章诗情"));
        assert_eq!(name_sound("王宏"), "wan hong", "-ong is not folded");
    }

    #[test]
    fn every_homophone_group_of_the_generator_has_one_sound() {
        for g in GIVEN_GROUPS {
            let keys: std::collections::BTreeSet<String> = g.iter().map(|c| name_sound(c)).collect();
            assert_eq!(keys.len(), 1, "{g:?} → {keys:?}");
        }
    }
}

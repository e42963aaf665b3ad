//! Functions the fuzzy matcher (疑似重复) needs: name normalisation and pinyin, how two ID
//! numbers relate, and connected components to cluster matched pairs.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, StringArray, StringBuilder, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Accumulator, AggregateUDF, ColumnarValue, Volatility, create_udaf, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use pinyin::ToPinyin;

use super::{map_str, str_arg};
use crate::idcard;

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

/// How two ID numbers relate, as evidence that two registrations are one pupil:
/// - `same`: equal after normalisation (spaces, full-width, x);
/// - `same15`: a 15-digit number that is the 18-digit one without century and check character;
/// - `typo`: one passes the check character and the other is one substitution or one swap of
///   neighbouring digits away from it (the check character shows which one is wrong);
/// - `different`: both pass their check character and differ — strong evidence of two people;
/// - `missing`: one or both are empty;
/// - `unrelated`: anything else.
pub fn id_relation(a: &str, b: &str) -> &'static str {
    let (a, _) = idcard::normalise(a);
    let (b, _) = idcard::normalise(b);
    if a.is_empty() || b.is_empty() {
        return "missing";
    }
    if a == b {
        return "same";
    }
    // A 15-digit number is the 18-digit one without the century and the check character;
    // compared that way, whatever century the upgrade rule would assume.
    let as15 = |s: &str| (s.len() == 18 && s.is_ascii()).then(|| format!("{}{}", &s[..6], &s[8..17]));
    if (a.len() == 15 && as15(&b).as_deref() == Some(a.as_str()))
        || (b.len() == 15 && as15(&a).as_deref() == Some(b.as_str()))
    {
        return "same15";
    }
    let valid = |s: &str| s.len() == 18 && s.is_ascii() && idcard::check_char(&s[..17]).is_some_and(|c| s.ends_with(c));
    match (valid(&a), valid(&b)) {
        (true, true) => "different",
        (true, false) | (false, true) if one_edit(a.as_bytes(), b.as_bytes()) => "typo",
        _ => "unrelated",
    }
}

/// One substitution, or one swap of two neighbours, turns `a` into `b` (same length).
fn one_edit(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    match diff.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
        _ => false,
    }
}

/// Union-find over interned node names; each component is named by its smallest member, so the
/// answer does not depend on the order in which edges arrive.
#[derive(Debug, Default)]
struct Components {
    edges: Vec<(String, String)>,
    bytes: usize,
}

impl Components {
    fn add(&mut self, a: &StringArray, b: &StringArray) {
        for i in 0..a.len() {
            if a.is_valid(i) && b.is_valid(i) {
                self.bytes += a.value(i).len() + b.value(i).len() + 48;
                self.edges.push((a.value(i).to_string(), b.value(i).to_string()));
            }
        }
    }

    fn resolve(&self) -> Vec<(&str, &str)> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(self.edges.len() * 2);
        let mut names: Vec<&str> = Vec::with_capacity(self.edges.len() * 2);
        for (a, b) in &self.edges {
            for s in [a.as_str(), b.as_str()] {
                if !index.contains_key(s) {
                    index.insert(s, names.len());
                    names.push(s);
                }
            }
        }
        let mut parent: Vec<usize> = (0..names.len()).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for (a, b) in &self.edges {
            let (ra, rb) = (
                find(&mut parent, index[a.as_str()]),
                find(&mut parent, index[b.as_str()]),
            );
            if ra != rb {
                // The root is always the smaller name: the component's name is its minimum.
                if names[ra] < names[rb] {
                    parent[rb] = ra
                } else {
                    parent[ra] = rb
                }
            }
        }
        let mut out: Vec<(&str, &str)> = (0..names.len())
            .map(|i| (names[i], names[find(&mut parent, i)]))
            .collect();
        out.sort_unstable();
        out
    }
}

fn pair_fields() -> Fields {
    Fields::from(vec![
        Field::new("node", DataType::Utf8, false),
        Field::new("root", DataType::Utf8, false),
    ])
}

fn list_of(values: ArrayRef, field: Arc<Field>) -> ScalarValue {
    let n = values.len();
    ScalarValue::List(Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths([n]),
        values,
        None,
    )))
}

impl Accumulator for Components {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&str_arg(&values[0])?, &str_arg(&values[1])?);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let list = |a: &ArrayRef| -> Result<ListArray> {
            a.as_any()
                .downcast_ref::<ListArray>()
                .cloned()
                .ok_or_else(|| DataFusionError::Internal("connected_components state".into()))
        };
        let (la, lb) = (list(&states[0])?, list(&states[1])?);
        for i in 0..la.len() {
            if la.is_valid(i) && lb.is_valid(i) {
                self.add(&str_arg(&la.value(i))?, &str_arg(&lb.value(i))?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let a: StringArray = self.edges.iter().map(|(a, _)| Some(a.as_str())).collect();
        let b: StringArray = self.edges.iter().map(|(_, b)| Some(b.as_str())).collect();
        let item = Arc::new(Field::new_list_field(DataType::Utf8, true));
        Ok(vec![list_of(Arc::new(a), item.clone()), list_of(Arc::new(b), item)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let pairs = self.resolve();
        let (mut node, mut root) = (StringBuilder::new(), StringBuilder::new());
        for (n, r) in pairs {
            node.append_value(n);
            root.append_value(r);
        }
        let st = StructArray::new(
            pair_fields(),
            vec![Arc::new(node.finish()), Arc::new(root.finish())],
            None,
        );
        Ok(list_of(
            Arc::new(st),
            Arc::new(Field::new_list_field(DataType::Struct(pair_fields()), true)),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.bytes
    }
}

/// `connected_components(a, b)`: over the edges (a, b) of a graph, one list of
/// `{node, root}` for every node, `root` being the smallest node of its component.
fn connected_components() -> AggregateUDF {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    create_udaf(
        "connected_components",
        vec![DataType::Utf8, DataType::Utf8],
        Arc::new(list(DataType::Struct(pair_fields()))),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::<Components>::default())),
        Arc::new(vec![list(DataType::Utf8), list(DataType::Utf8)]),
    )
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
    ctx.register_udf(create_udf(
        "id_relation",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (a, b) = (str_arg(&arrays[0])?, str_arg(&arrays[1])?);
            let out: StringArray = (0..a.len())
                .map(|i| {
                    Some(id_relation(
                        if a.is_valid(i) { a.value(i) } else { "" },
                        if b.is_valid(i) { b.value(i) } else { "" },
                    ))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udaf(connected_components());
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

    #[test]
    fn id_relations() {
        let first17 = "11010120150301123";
        let good = format!("{first17}{}", idcard::check_char(first17).unwrap());
        let legacy = format!("{}{}", &good[..6], &good[8..17]);
        assert_eq!(id_relation(&good, &good.replace('1', "１")), "same");
        assert_eq!(id_relation(&legacy, &good), "same15");
        let mut typo = good.clone().into_bytes();
        typo[15] = if typo[15] == b'9' { b'0' } else { typo[15] + 1 };
        assert_eq!(id_relation(&good, std::str::from_utf8(&typo).unwrap()), "typo");
        let swapped = format!("{}{}{}{}", &good[..14], &good[15..16], &good[14..15], &good[16..]);
        assert_eq!(id_relation(&swapped, &good), "typo", "{swapped} {good}");
        let other17 = "11010120150301135";
        let other = format!("{other17}{}", idcard::check_char(other17).unwrap());
        assert_eq!(id_relation(&good, &other), "different");
        assert_eq!(id_relation(&good, ""), "missing");
    }

    #[test]
    fn components_are_named_by_their_smallest_member_whatever_the_edge_order() {
        let run = |edges: &[(&str, &str)]| {
            let mut c = Components::default();
            let a: StringArray = edges.iter().map(|e| Some(e.0)).collect();
            let b: StringArray = edges.iter().map(|e| Some(e.1)).collect();
            c.add(&a, &b);
            c.resolve()
                .into_iter()
                .map(|(n, r)| (n.to_string(), r.to_string()))
                .collect::<Vec<_>>()
        };
        let one = run(&[("d", "c"), ("c", "b"), ("x", "y"), ("b", "e")]);
        let two = run(&[("y", "x"), ("e", "b"), ("b", "c"), ("c", "d")]);
        assert_eq!(one, two);
        assert_eq!(one.iter().filter(|(_, r)| r == "b").count(), 4);
        assert!(one.contains(&("y".into(), "x".into())));
    }
}

//! `fs_fit`: the Fellegi–Sunter weights of the fuzzy matcher, learned from the data itself.
//!
//! `fs_fit(sample, rules, records, id, name, birth, gender, hukou, guardian, phone, school)`
//! aggregates the comparison levels of pairs (NULL = the field is missing on one side; `rules`:
//! the blocking rules that made the pair; `records`: how many registrations there are) of three
//! samples:
//! - `random`: random pairs, nearly all of two different pupils: u, how often two different
//!   pupils show a level by chance, is their share (with half a pair added to every level, so
//!   that a level no random pair shows is rare, not impossible; fixed, as in Splink);
//! - `anchor`: pairs sharing one ID number (official kind 1), one pupil registered twice: how a
//!   pupil's other fields vary between registrations, the data's own evidence for m;
//! - `blocked`: the candidate pairs. m (how often one pupil registered twice shows a level) is
//!   fitted by expectation maximisation over them, once per blocking rule and without the fields
//!   that rule's blocks agree on (two pupils blocked on name and birth date agree on those, so
//!   there they are no evidence, and a fit that counted them would call every blocked pair one
//!   pupil); the expected matches of all rules are pooled, with the anchors' counts and the
//!   hand-set m of each level (worth [`PRIOR_PAIRS`] pairs) as a Dirichlet prior.
//!
//! It returns one row per field and level with m, u, the weight log2(m/u), and the row
//! `prior / odds`: the probability that two registrations taken at random are one pupil (the
//! anchors and the blocked pairs more likely one pupil than two, weighted by their posterior,
//! over all pairs: a fixed point).
//! The state is the count of each distinct pattern, a few thousand at most, so partitions merge
//! cheaply and the fit is the same whatever the order of rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Builder, Int64Array, Int64Builder, ListArray, StringArray, StringBuilder, StructArray,
};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udaf, create_udf,
};
use datafusion::scalar::ScalarValue;

use super::{list_of, str_arg};

/// The compared fields, in argument order, with their Chinese names.
pub const FIELDS: [(&str, &str); 8] = [
    ("id", "身份证件号"),
    ("name", "姓名"),
    ("birth", "出生日期"),
    ("gender", "性别"),
    ("hukou", "户口所在地"),
    ("guardian", "监护人姓名"),
    ("phone", "联系电话"),
    ("school", "学校"),
];

/// How many pairs the priors are worth against the data.
pub const PRIOR_PAIRS: f64 = 200.0;
const ITERATIONS: usize = 200;
const MAX_WEIGHT: f64 = 30.0;

/// Every comparison level the matcher knows: field, level, Chinese label and the hand-set m
/// (before normalising). `dedup_candidates` has a weight column for each (a test checks).
const LEVELS: [(&str, &str, &str, f64); 33] = [
    ("id", "same", "证件号相同", 0.5),
    ("id", "same15", "证件号15位与18位一致", 0.02),
    ("id", "check", "证件号仅校验码不同", 0.03),
    ("id", "one_edit", "证件号仅错一位或相邻两位颠倒", 0.2),
    ("id", "two_edits", "证件号错两位", 0.03),
    ("id", "valid_different", "两个有效且不同的证件号", 0.001),
    ("id", "different", "证件号不同", 0.02),
    ("name", "same", "姓名相同", 0.8),
    ("name", "normalised", "姓名去空格、全角、繁体后相同", 0.03),
    ("name", "pinyin", "姓名同音", 0.05),
    ("name", "sound", "姓名近音", 0.02),
    ("name", "shape", "姓名一字形近", 0.03),
    ("name", "one_char", "姓名有一字不同", 0.03),
    ("name", "extra_char", "姓名多一字或少一字", 0.03),
    ("name", "different", "姓名不同", 0.01),
    ("birth", "same", "出生日期相同", 0.85),
    ("birth", "swap", "出生日期月日颠倒", 0.02),
    ("birth", "day1", "出生日期差一天", 0.03),
    ("birth", "month", "出生日期仅月份不同", 0.03),
    ("birth", "year", "出生日期仅年份不同", 0.03),
    ("birth", "different", "出生日期不同", 0.02),
    ("gender", "same", "性别相同", 0.98),
    ("gender", "different", "性别不同", 0.02),
    ("hukou", "same", "户口所在地同一区县", 0.8),
    ("hukou", "city", "户口所在地同一地市", 0.1),
    ("hukou", "different", "户口所在地不同", 0.1),
    ("guardian", "same", "监护人姓名相同", 0.8),
    ("guardian", "different", "监护人姓名不同", 0.2),
    ("phone", "same", "联系电话相同", 0.5),
    ("phone", "different", "联系电话不同", 0.5),
    ("school", "same_school", "同一学校", 0.2),
    ("school", "same_county", "同一区县的学校", 0.4),
    ("school", "different", "不同区县的学校", 0.4),
];

/// Label and hand-set m of a level; an unknown level gets no label and a small m.
fn level_info(field: &str, level: &str) -> (&'static str, f64) {
    LEVELS
        .iter()
        .find(|(f, l, _, _)| *f == field && *l == level)
        .map_or(("", 0.05), |&(_, _, label, m)| (label, m))
}

/// The fitted model: per field, level → (m, u, anchor pairs, blocked pairs at the level).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The prior probability that two registrations taken at random are one pupil.
    pub prior: f64,
    /// The expected number of pairs of registrations that are one pupil.
    pub expected: f64,
    pub levels: Vec<BTreeMap<String, (f64, f64, u64, u64)>>,
}

/// The blocking rules and the fields whose agreement their blocks force: EM runs once per rule
/// over its pairs without those fields, whose agreement there says nothing (as Splink does).
const SESSIONS: &[(&str, &[usize])] = &[
    ("id15", &[0]),
    ("id_tail", &[0]),
    ("sound_birth", &[1, 2]),
    ("name_day", &[1, 2]),
    ("name_year", &[1, 2, 4]),
    ("birth_place", &[2, 3, 4]),
    ("birth_guardian", &[2, 5]),
    ("name_guardian", &[1, 5]),
];

/// One blocked pattern: its rules, the level index of each field (`None` = missing), its count.
struct Blocked {
    rules: Vec<String>,
    levels: Vec<Option<usize>>,
    count: f64,
}

fn normalise(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

/// log2 of the likelihood ratio m/u of a pattern over the fields not in `skip`.
fn log_ratio(levels: &[Option<usize>], m: &[Vec<f64>], u: &[Vec<f64>], skip: &[usize]) -> f64 {
    levels
        .iter()
        .enumerate()
        .filter(|(f, _)| !skip.contains(f))
        .filter_map(|(f, l)| l.map(|l| weight(m[f][l], u[f][l])))
        .sum()
}

/// A posterior as EM counts it: pairs more likely two pupils than one count for nothing. A
/// million blocked strangers at 2% each would otherwise outweigh a few thousand true pairs, and
/// the fields they agree on because of the block (the county, the school's county) would pull
/// the fit towards calling them one pupil (classification EM).
fn confident(p: f64) -> f64 {
    if p >= 0.5 { p } else { 0.0 }
}

fn posterior(prior_log_odds: f64, log_ratio: f64) -> f64 {
    1.0 / (1.0 + (-(prior_log_odds + log_ratio)).exp2())
}

/// Fit m and the prior (see the module documentation) from pattern counts: key
/// `<sample>/<rules>` (R, A or B: random, anchor, blocked; the blocking rules, comma-separated)
/// + levels joined by `|` (empty = missing); `records`: how many registrations there are.
pub fn fit(counts: &BTreeMap<String, u64>, records: u64) -> Fit {
    let nf = FIELDS.len();
    let mut names: Vec<Vec<String>> = vec![Vec::new(); nf];
    let mut parsed: Vec<(char, String, Vec<Option<String>>, u64)> = Vec::new();
    for (k, &c) in counts {
        let mut parts = k.split('|');
        let head = parts.next().unwrap_or("B");
        let (sample, rules) = head.split_once('/').unwrap_or((head, ""));
        let sample = sample.chars().next().unwrap_or('B');
        let lv: Vec<Option<String>> = (0..nf)
            .map(|_| parts.next().filter(|s| !s.is_empty()).map(str::to_string))
            .collect();
        for (f, l) in lv.iter().enumerate() {
            if let Some(l) = l
                && !names[f].contains(l)
                // The ID of an anchor is the same by definition: not a level of the candidates.
                && !(sample == 'A' && f == 0)
            {
                names[f].push(l.clone());
            }
        }
        parsed.push((sample, rules.to_string(), lv, c));
    }
    for n in &mut names {
        n.sort();
    }
    let zeros = |v: f64| -> Vec<Vec<f64>> { names.iter().map(|n| vec![v; n.len()]).collect() };
    let (mut u, mut anchors, mut seen) = (zeros(0.5), zeros(0.0), zeros(0.0));
    let mut blocked: Vec<Blocked> = Vec::new();
    let mut anchor_pairs = 0.0;
    for (sample, rules, lv, c) in &parsed {
        let levels: Vec<Option<usize>> = lv
            .iter()
            .enumerate()
            .map(|(f, l)| l.as_ref().and_then(|l| names[f].iter().position(|x| x == l)))
            .collect();
        let target = match sample {
            'R' => &mut u,
            'A' => &mut anchors,
            _ => &mut seen,
        };
        for (f, l) in levels.iter().enumerate() {
            if let Some(l) = l
                && !(*sample == 'A' && f == 0)
            {
                target[f][*l] += *c as f64;
            }
        }
        match sample {
            'A' => anchor_pairs += *c as f64,
            'B' => blocked.push(Blocked {
                rules: rules.split(',').map(str::to_string).collect(),
                levels,
                count: *c as f64,
            }),
            _ => {}
        }
    }
    u.iter_mut().for_each(|v| normalise(v));
    // The prior of m: the hand-set m worth PRIOR_PAIRS pairs, plus the anchors' counts.
    let prior: Vec<Vec<f64>> = (0..nf)
        .map(|f| {
            let mut m0: Vec<f64> = names[f].iter().map(|l| level_info(FIELDS[f].0, l).1).collect();
            normalise(&mut m0);
            m0.iter().zip(&anchors[f]).map(|(m, a)| m * PRIOR_PAIRS + a).collect()
        })
        .collect();
    let start = |p: &Vec<Vec<f64>>| {
        let mut m = p.clone();
        m.iter_mut().for_each(|v| normalise(v));
        m
    };
    // EM per blocking rule (u fixed); the expected matches of every session are pooled, a pair
    // met by several rules counting once in all (else the easy pairs, met by every rule, would
    // outweigh the hard ones).
    let sessions_of = |b: &Blocked| SESSIONS.iter().filter(|(r, _)| b.rules.iter().any(|x| x == r)).count() as f64;
    let mut pooled = prior.clone();
    for (rule, skip) in SESSIONS {
        let pairs: Vec<&Blocked> = blocked.iter().filter(|b| b.rules.iter().any(|r| r == rule)).collect();
        let total: f64 = pairs.iter().map(|b| b.count).sum();
        if total == 0.0 {
            continue;
        }
        let shares: Vec<f64> = pairs.iter().map(|b| 1.0 / sessions_of(b).max(1.0)).collect();
        let (mut m, mut lambda) = (start(&prior), 0.01_f64);
        let mut expected = zeros(0.0);
        for _ in 0..ITERATIONS {
            let mut em = prior.clone();
            expected = zeros(0.0);
            let mut matched = 0.0;
            let odds = (lambda / (1.0 - lambda)).log2();
            for (b, share) in pairs.iter().zip(&shares) {
                let w = b.count * confident(posterior(odds, log_ratio(&b.levels, &m, &u, skip)));
                matched += w;
                for (f, l) in b.levels.iter().enumerate() {
                    if let Some(l) = l
                        && !skip.contains(&f)
                    {
                        em[f][*l] += w;
                        expected[f][*l] += w * share;
                    }
                }
            }
            for (f, v) in em.iter_mut().enumerate() {
                if skip.contains(&f) {
                    v.clone_from(&m[f]);
                } else {
                    normalise(v);
                }
            }
            let new_lambda = (matched / total).clamp(1e-9, 1.0 - 1e-9);
            let change = (new_lambda - lambda).abs();
            (m, lambda) = (em, new_lambda);
            if change < 1e-12 {
                break;
            }
        }
        for (f, v) in expected.iter().enumerate() {
            for (l, x) in v.iter().enumerate() {
                pooled[f][l] += x;
            }
        }
    }
    let m = start(&pooled);
    // The prior: the expected number of one-pupil pairs over all pairs, a fixed point of the
    // blocked pairs' posteriors under it (plus the anchors, which are one pupil).
    let all_pairs = (records as f64) * (records as f64 - 1.0) / 2.0;
    let ratios: Vec<(f64, f64)> = blocked
        .iter()
        .map(|b| (b.count, log_ratio(&b.levels, &m, &u, &[])))
        .collect();
    let mut expected = anchor_pairs + 1.0;
    for _ in 0..ITERATIONS {
        let p = (expected / all_pairs.max(2.0)).clamp(1e-15, 0.5);
        let odds = (p / (1.0 - p)).log2();
        let next = anchor_pairs
            + ratios
                .iter()
                .map(|(c, r)| c * confident(posterior(odds, *r)))
                .sum::<f64>();
        let change = (next - expected).abs();
        expected = next.max(1.0);
        if change < 1e-6 {
            break;
        }
    }
    let levels = (0..nf)
        .map(|f| {
            names[f]
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), (m[f][i], u[f][i], anchors[f][i] as u64, seen[f][i] as u64)))
                .collect()
        })
        .collect();
    Fit {
        prior: (expected / all_pairs.max(2.0)).clamp(1e-15, 0.5),
        expected,
        levels,
    }
}

fn weight(m: f64, u: f64) -> f64 {
    if m <= 0.0 || u <= 0.0 {
        return 0.0;
    }
    (m / u).log2().clamp(-MAX_WEIGHT, MAX_WEIGHT)
}

#[derive(Debug, Default)]
struct FitAcc {
    counts: HashMap<String, u64>,
    records: u64,
}

/// The state's key that carries the number of registrations (merged by maximum, not summed).
const RECORDS: &str = "#records";

fn out_fields() -> Fields {
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    Fields::from(vec![
        f("field", DataType::Utf8),
        f("field_label", DataType::Utf8),
        f("level", DataType::Utf8),
        f("level_label", DataType::Utf8),
        f("m", DataType::Float64),
        f("u", DataType::Float64),
        f("weight", DataType::Float64),
        f("anchors", DataType::Int64),
        f("pairs", DataType::Int64),
    ])
}

impl Accumulator for FitAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (sample, rules) = (str_arg(&values[0])?, str_arg(&values[1])?);
        let records = arrow::compute::cast(&values[2], &DataType::Int64)?;
        let records = records
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("fs_fit: records".into()))?;
        if let Some(n) = arrow::compute::max(records) {
            self.records = self.records.max(n.max(0) as u64);
        }
        let cols: Vec<StringArray> = values[3..].iter().map(str_arg).collect::<Result<_>>()?;
        let mut key = String::new();
        for i in 0..sample.len() {
            key.clear();
            key.push(match sample.is_valid(i).then(|| sample.value(i)) {
                Some("random") => 'R',
                Some("anchor") => 'A',
                _ => 'B',
            });
            key.push('/');
            if rules.is_valid(i) {
                key.push_str(rules.value(i));
            }
            for c in &cols {
                key.push('|');
                if c.is_valid(i) {
                    key.push_str(c.value(i));
                }
            }
            *self.counts.entry(key.clone()).or_default() += 1;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let list = |a: &ArrayRef| -> Result<ListArray> {
            a.as_any()
                .downcast_ref::<ListArray>()
                .cloned()
                .ok_or_else(|| DataFusionError::Internal("fs_fit state".into()))
        };
        let (keys, counts) = (list(&states[0])?, list(&states[1])?);
        for i in 0..keys.len() {
            if !(keys.is_valid(i) && counts.is_valid(i)) {
                continue;
            }
            let k = str_arg(&keys.value(i))?;
            let c = counts.value(i);
            let c = c
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("fs_fit counts".into()))?;
            for j in 0..k.len() {
                if k.value(j) == RECORDS {
                    self.records = self.records.max(c.value(j) as u64);
                } else {
                    *self.counts.entry(k.value(j).to_string()).or_default() += c.value(j) as u64;
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let keys: StringArray = self
            .counts
            .keys()
            .map(|k| Some(k.as_str()))
            .chain([Some(RECORDS)])
            .collect();
        let counts: Int64Array = self
            .counts
            .values()
            .map(|&c| Some(c as i64))
            .chain([Some(self.records as i64)])
            .collect();
        Ok(vec![
            list_of(Arc::new(keys), Arc::new(Field::new_list_field(DataType::Utf8, true))),
            list_of(Arc::new(counts), Arc::new(Field::new_list_field(DataType::Int64, true))),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let sorted: BTreeMap<String, u64> = self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let fit = fit(&sorted, self.records);
        let (mut field, mut field_label, mut level, mut level_label) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let (mut m, mut u, mut w) = (Float64Builder::new(), Float64Builder::new(), Float64Builder::new());
        let (mut anchors, mut pairs) = (Int64Builder::new(), Int64Builder::new());
        field.append_value("prior");
        field_label.append_value("先验");
        level.append_value("odds");
        level_label.append_value("任取两条学籍为同一学生的先验几率");
        m.append_value(fit.prior);
        u.append_null();
        w.append_value((fit.prior / (1.0 - fit.prior)).log2());
        anchors.append_null();
        pairs.append_value(fit.expected.round() as i64);
        for (f, lv) in fit.levels.iter().enumerate() {
            for (l, (mm, uu, a, n)) in lv {
                field.append_value(FIELDS[f].0);
                field_label.append_value(FIELDS[f].1);
                level.append_value(l);
                level_label.append_value(level_info(FIELDS[f].0, l).0);
                m.append_value(*mm);
                u.append_value(*uu);
                w.append_value(weight(*mm, *uu));
                anchors.append_value(*a as i64);
                pairs.append_value(*n as i64);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(field.finish()),
            Arc::new(field_label.finish()),
            Arc::new(level.finish()),
            Arc::new(level_label.finish()),
            Arc::new(m.finish()),
            Arc::new(u.finish()),
            Arc::new(w.finish()),
            Arc::new(anchors.finish()),
            Arc::new(pairs.finish()),
        ];
        let st = StructArray::new(out_fields(), cols, None);
        Ok(list_of(
            Arc::new(st),
            Arc::new(Field::new_list_field(DataType::Struct(out_fields()), true)),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.counts.keys().map(|k| k.len() + 32).sum::<usize>()
    }
}

pub fn fs_fit() -> AggregateUDF {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    let mut args = vec![DataType::Utf8, DataType::Utf8, DataType::Int64];
    args.extend(std::iter::repeat_n(DataType::Utf8, FIELDS.len()));
    create_udaf(
        "fs_fit",
        args,
        Arc::new(list(DataType::Struct(out_fields()))),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::<FitAcc>::default())),
        Arc::new(vec![list(DataType::Utf8), list(DataType::Int64)]),
    )
}

/// `fs_level_label(field, level)`: the Chinese label `fs_fit` gives a comparison level (NULL for a
/// missing one), for the reasons of a scored pair without joining it with the model again.
pub fn fs_level_label() -> ScalarUDF {
    create_udf(
        "fs_level_label",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (field, level) = (str_arg(&arrays[0])?, str_arg(&arrays[1])?);
            let out: StringArray = field
                .iter()
                .zip(level.iter())
                .map(|(f, l)| Some(level_info(f?, l?).0))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The levels of `field` in [`LEVELS`].
    fn known(field: &str) -> Vec<&'static str> {
        LEVELS.iter().filter(|l| l.0 == field).map(|l| l.1).collect()
    }

    /// The words quoted with `quote` in `text` that look like a level name.
    fn quoted(text: &str, quote: char) -> BTreeSet<&str> {
        let level = |w: &&str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        text.split(quote).skip(1).step_by(2).filter(level).collect()
    }

    /// Every level the comparisons produce (compare.rs for ID, name and birth date, dedup_pairs'
    /// CASEs for the others) is in LEVELS, and every level there is produced: a level unknown
    /// to LEVELS would have no label and no weight column in dedup_candidates.
    #[test]
    fn the_comparisons_produce_exactly_the_known_levels() {
        let rust = include_str!("compare.rs");
        let sql = include_str!("../../sql/dedup_pairs.sql");
        for (field, _) in FIELDS {
            let produced = if let Some(start) = rust.find(&format!("pub fn {field}_level(")) {
                let body = &rust[start..];
                quoted(&body[..body.find("\n}\n").unwrap()], '"')
            } else {
                let head = &sql[..sql.find(&format!("END AS {field}_level")).expect(field)];
                quoted(&head[head.rfind("\n       CASE ").expect(field)..], '\'')
            };
            let known: BTreeSet<&str> = known(field).into_iter().collect();
            assert_eq!(produced, known, "{field}");
        }
    }

    /// dedup_candidates scores a pair with one weight column a level, picked in the field's CASE:
    /// a level missing there, or picking another's column, would weigh a pair wrongly unseen.
    #[test]
    fn dedup_candidates_weighs_every_known_level() {
        let sql = include_str!("../../sql/dedup_candidates.sql");
        for (field, _) in FIELDS {
            let start = sql.find(&format!("CASE p.{field}_level ")).expect(field);
            let end = start + sql[start..].find(" END").expect(field);
            let case = format!("{} ", &sql[start..end]);
            let levels = known(field);
            assert_eq!(case.matches("WHEN ").count(), levels.len(), "{case}");
            // The CASE gives this field's weight: the next alias after its END is w_<field>.
            let alias = &sql[end..];
            assert!(
                alias[alias.find(" AS ").unwrap()..].starts_with(&format!(" AS w_{field},")),
                "{field}"
            );
            for level in levels {
                let column = format!("{field}_{level}");
                let pick = format!("WHEN '{level}' THEN w.{column}");
                assert!(
                    [" ", "\n"].iter().any(|e| case.contains(&format!("{pick}{e}"))),
                    "{pick}: {case}"
                );
                let pivot = format!("MAX(weight) FILTER (WHERE field = '{field}' AND level = '{level}') AS {column}");
                assert!(
                    [",", "\n"].iter().any(|e| sql.contains(&format!("{pivot}{e}"))),
                    "{pivot}"
                );
            }
        }
    }

    /// Patterns from a known mixture: EM finds weights of the right sign and the share of pairs.
    #[test]
    fn em_recovers_a_known_mixture() {
        let mut counts = BTreeMap::new();
        let key = |s: char, id: &str, name: &str, birth: &str| format!("{s}/id15,sound_birth|{id}|{name}|{birth}|||||");
        // 30 true pairs: mostly same name and birth, ID typo or missing.
        counts.insert(key('B', "one_edit", "same", "same"), 15);
        counts.insert(key('B', "", "same", "same"), 10);
        counts.insert(key('B', "", "pinyin", "same"), 3);
        counts.insert(key('B', "", "same", "day1"), 2);
        // 970 blocked strangers: same birth (the block), names differ, IDs both valid.
        counts.insert(key('B', "valid_different", "different", "same"), 700);
        counts.insert(key('B', "", "different", "same"), 200);
        counts.insert(key('B', "valid_different", "one_char", "same"), 70);
        // Anchors: one pupil twice with one ID number.
        counts.insert(key('A', "same", "same", "same"), 400);
        counts.insert(key('A', "same", "pinyin", "same"), 10);
        counts.insert(key('A', "same", "same", "day1"), 10);
        // Random pairs.
        counts.insert(key('R', "different", "different", "different"), 5000);
        counts.insert(key('R', "valid_different", "different", "different"), 5000);
        counts.insert(key('R', "valid_different", "different", "same"), 3);
        let fit = fit(&counts, 10_000);
        let expected = 30.0 + 420.0;
        assert!((fit.expected - expected).abs() < 10.0, "{fit:?}");
        let w = |f: usize, l: &str| {
            let (m, u, _, _) = fit.levels[f][l];
            weight(m, u)
        };
        assert!(w(0, "one_edit") > 5.0 && w(0, "valid_different") < -5.0, "{fit:?}");
        assert!(w(1, "same") > 3.0 && w(1, "different") < -3.0, "{fit:?}");
        assert!(!fit.levels[0].contains_key("same"), "an anchor's ID is not a level");
        assert_eq!(fit, super::fit(&counts, 10_000), "the fit is deterministic");
    }
}

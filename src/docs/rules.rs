//! docs/rules.md: every rule the warehouse encodes, with the seed lines it follows, where it is
//! encoded and the tests that prove it. The import's reason codes come from schemas/rules.toml
//! (its `seed`, `basis`, `code` and `tests` fields), the other rules from
//! schemas/domain_rules.toml. tests/docs.rs checks each quote against its seed file and that
//! every test and function named here exists, so the page cannot claim what the code lacks.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use super::{GENERATED, cell};
use crate::models;
use crate::schema::{Severity, catalog};

const DOMAIN_RULES_TOML: &str = include_str!("../../schemas/domain_rules.toml");
/// Read again for the order of its codes (the catalogue keeps them in a map).
const RULES_TOML: &str = include_str!("../../schemas/rules.toml");

/// One rule of schemas/domain_rules.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainRule {
    /// The section of docs/rules.md.
    pub group: String,
    /// A short Chinese name.
    pub name: String,
    /// What the code does, in a Chinese sentence.
    #[serde(default)]
    pub doc: String,
    /// The seed lines it follows (see [`SeedQuote`]).
    #[serde(default)]
    pub seed: Vec<String>,
    /// Where it comes from when no seed line says it.
    #[serde(default)]
    pub basis: String,
    /// `<model>.<column>` of the marts that carry the rule.
    #[serde(default)]
    pub columns: Vec<String>,
    /// The files that encode it, `path` or `path#function`.
    #[serde(default)]
    pub code: Vec<String>,
    /// The tests that prove it (see [`test_files`]).
    #[serde(default)]
    pub tests: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainRulesFile {
    /// Seed file number (`000`) → what the file holds.
    pub seeds: BTreeMap<String, String>,
    /// The rules, in the order of the page.
    pub rules: Vec<DomainRule>,
}

pub fn domain_rules() -> Result<DomainRulesFile> {
    toml::from_str(DOMAIN_RULES_TOML).map_err(|e| anyhow::anyhow!("schemas/domain_rules.toml: {e}"))
}

/// What one rule names as its sources, its encoding and its proof (for the checks of tests/docs.rs).
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The reason code, or the domain rule's name.
    pub rule: String,
    /// A reason code of rules.toml (its code must be emitted by one of the `code` files).
    pub reason_code: bool,
    pub seed: Vec<String>,
    pub code: Vec<String>,
    pub tests: Vec<String>,
}

/// Every rule of both files, reason codes first in their file's order.
pub fn evidence() -> Result<Vec<Evidence>> {
    let cat = catalog();
    let mut out: Vec<Evidence> = rule_codes()
        .into_iter()
        .map(|c| {
            let r = cat.rule(c);
            Evidence {
                rule: c.to_string(),
                reason_code: true,
                seed: r.seed.clone(),
                code: r.code.clone(),
                tests: r.tests.clone(),
            }
        })
        .collect();
    out.extend(domain_rules()?.rules.into_iter().map(|r| Evidence {
        rule: r.name,
        reason_code: false,
        seed: r.seed,
        code: r.code,
        tests: r.tests,
    }));
    Ok(out)
}

/// The reason codes in the order rules.toml lists them.
fn rule_codes() -> Vec<&'static str> {
    RULES_TOML
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[rules.")?.strip_suffix(']'))
        .collect()
}

/// A quote of a seed document, written `<file number> <place>：<text>` (`000 第三篇 三.8：…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedQuote {
    /// The first three characters of the seed file's name (`000`).
    pub file: String,
    /// Where a reader finds it in the file (`第三篇 三.8`); may be empty.
    pub place: String,
    pub text: String,
}

impl SeedQuote {
    pub fn parse(s: &str) -> Result<Self> {
        let (head, text) = s.split_once('：').with_context(|| {
            format!("种子引文应写作“<文件编号> <位置>：<原文>” / a seed quote is “NNN place：text”: {s}")
        })?;
        let head = head.trim();
        let (file, place) = head.split_once(' ').unwrap_or((head, ""));
        ensure!(
            file.len() == 3 && file.bytes().all(|b| b.is_ascii_digit()),
            "种子文件编号应为 3 位数字 / the seed file number has 3 digits: {s}"
        );
        ensure!(
            text.split('…').any(|p| !normalise(p).is_empty()),
            "种子引文为空 / empty seed quote: {s}"
        );
        Ok(SeedQuote {
            file: file.to_string(),
            place: place.trim().to_string(),
            text: text.trim().to_string(),
        })
    }

    /// Whether the quote stands in `seed` (a seed file's text): each part between “…”, in order,
    /// after [`normalise`] on both sides.
    pub fn found_in(&self, seed: &str) -> bool {
        let seed = normalise(seed);
        let mut from = 0;
        let mut parts = 0;
        for part in self.text.split('…').map(normalise).filter(|p| !p.is_empty()) {
            match seed[from..].find(&part) {
                Some(i) => from += i + part.len(),
                None => return false,
            }
            parts += 1;
        }
        parts > 0
    }
}

/// Text as compared with the seeds, which are OCR'd and scraped: without whitespace, full-width
/// forms as half-width, one kind of quotation mark and of dash, and without the page numbers
/// (`-5-`) the scans left inside sentences.
pub fn normalise(s: &str) -> String {
    let mut chars: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '。' => '.',
            '“' | '”' | '„' | '「' | '」' | '『' | '』' => '"',
            '‘' | '’' => '\'',
            '—' | '–' | '―' | '‐' | '−' | '─' => '-',
            c => c,
        };
        if c == '-' && chars.last() == Some(&'-') {
            continue;
        }
        chars.push(c);
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '-' {
            let digits = chars[i + 1..].iter().take(3).take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 && chars.get(i + 1 + digits) == Some(&'-') {
                i += digits + 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The files a test can be in, and its function's name: `integration::m::f` is in tests/m.rs (the
/// integration test binary); `a::b::tests::f` in src/a/b.rs, src/a/b/mod.rs or src/a/b/tests.rs.
pub fn test_files(path: &str) -> (Vec<String>, String) {
    let mut parts: Vec<&str> = path.split("::").collect();
    let name = parts.pop().unwrap_or_default().to_string();
    if parts.first() == Some(&"integration") {
        return (vec![format!("tests/{}.rs", parts[1..].join("/"))], name);
    }
    if parts.last() == Some(&"tests") {
        parts.pop();
    }
    let base = format!("src/{}", parts.join("/"));
    (
        vec![
            format!("{base}.rs"),
            format!("{base}/mod.rs"),
            format!("{base}/tests.rs"),
        ],
        name,
    )
}

/// A place that encodes a rule, `path` or `path#function`: the repository file and the function.
pub fn code_ref(s: &str) -> (&str, Option<&str>) {
    match s.split_once('#') {
        Some((file, f)) => (file, Some(f)),
        None => (s, None),
    }
}

/// The sections of the reason codes: severity, anchor, title, what the severity does.
const SEVERITIES: [(Severity, &str, &str, &str); 3] = [
    (
        Severity::File,
        "file",
        "文件错误 / file errors",
        "整个文件不导入，只记一条文件级错误",
    ),
    (
        Severity::Error,
        "error",
        "行校验错误 / row errors",
        "拒收该行：写入 `rejects` 与导入报告，不进入表",
    ),
    (
        Severity::Warning,
        "warning",
        "警告 / warnings",
        "导入该行；发现写入 `rejects`，严重程度为“警告”",
    ),
];

fn seed_cell(rule: &str, seed: &[String], basis: &str, seeds: &BTreeMap<String, String>) -> Result<String> {
    let mut parts = Vec::new();
    for s in seed {
        let q = SeedQuote::parse(s).with_context(|| rule.to_string())?;
        ensure!(
            seeds.contains_key(&q.file),
            "{rule}: 没有编号为 {} 的种子文件（见 schemas/domain_rules.toml [seeds]）",
            q.file
        );
        let place = if q.place.is_empty() {
            String::new()
        } else {
            format!(" {}", q.place)
        };
        parts.push(format!("{}{place}：“{}”", q.file, cell(&q.text)));
    }
    match (seed.is_empty(), basis.is_empty()) {
        (_, true) => {}
        (false, false) => parts.push(format!("（{}）", cell(basis))),
        (true, false) if basis.starts_with("无种子原文") => parts.push(cell(basis)),
        (true, false) => parts.push(format!("无种子原文；{}", cell(basis))),
    }
    if parts.is_empty() {
        parts.push("无种子原文（未注明依据）".into());
    }
    Ok(parts.join("<br>"))
}

fn code_cell(code: &[String]) -> String {
    if code.is_empty() {
        return "—".into();
    }
    code.iter()
        .map(|c| match code_ref(c) {
            (file, Some(f)) => format!("[`{file}`](../{file}) `{f}`"),
            (file, None) => format!("[`{file}`](../{file})"),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn tests_cell(tests: &[String]) -> String {
    if tests.is_empty() {
        return "（尚无测试）".into();
    }
    tests.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join("<br>")
}

/// The mart columns of a domain rule, each checked against its model's schema.
fn columns_cell(
    rule: &str,
    columns: &[String],
    all: &[models::Model],
    schemas: &mut BTreeMap<String, models::OutSchema>,
) -> Result<String> {
    let mut parts = Vec::new();
    for c in columns {
        let Some((model, column)) = c.split_once('.') else {
            bail!("{rule}: 集市列应写作 <模型>.<列> / a column is model.column: {c}");
        };
        if let Entry::Vacant(e) = schemas.entry(model.to_string()) {
            let m = all
                .iter()
                .find(|m| m.name == model)
                .with_context(|| format!("{rule}: 没有模型 {model} / no such model"))?;
            e.insert(models::out_schema(&m.schema)?);
        }
        let col = schemas[model]
            .columns
            .iter()
            .find(|x| x.name == column)
            .with_context(|| format!("{rule}: 模型 {model} 没有列 {column} / no such column"))?;
        parts.push(format!(
            "[`{model}`](marts.md#{model}).`{column}`（{}）",
            cell(&col.label)
        ));
    }
    Ok(parts.join("<br>"))
}

/// docs/rules.md.
pub fn page() -> Result<String> {
    let cat = catalog();
    let file = domain_rules()?;
    let codes = rule_codes();
    ensure!(
        codes.len() == cat.rules.len(),
        "schemas/rules.toml: 每条规则应以 [rules.<代码>] 单独一行开头"
    );
    let mut groups: Vec<&str> = Vec::new();
    for r in &file.rules {
        if !groups.contains(&r.group.as_str()) {
            groups.push(&r.group);
        }
    }
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "# 规则对照 / Rules: seed → code → test\n\n{GENERATED}")?;
    writeln!(
        w,
        "本页列出仓库实现的每一条规则：它依据的种子原文（学籍系统的手册与问答）、实现它的文件、证明它的测试。\
         导入的原因代码及其出处在 [`schemas/rules.toml`](../schemas/rules.toml)（`seed`、`basis`、`code`、`tests`），\
         其余业务规则在 [`schemas/domain_rules.toml`](../schemas/domain_rules.toml)。`tests/docs.rs` 检查每段引文确在所注的种子文件中\
         （不计空格、全角与半角标点及扫描留下的页码，“…”表示省略），每个测试与函数确实存在，每个原因代码确由程序发出。\n\
         Every rule the warehouse encodes: the seed lines it follows, where it is encoded and the tests that prove it.\n"
    )?;
    writeln!(
        w,
        "种子文件（`../shared/seeds/<编号>_*.txt`，不随仓库分发）/ seed files:\n\n| 编号 | 内容 |\n|---|---|"
    )?;
    for (n, what) in &file.seeds {
        writeln!(w, "| {n} | {} |", cell(what))?;
    }
    writeln!(
        w,
        "\n位置写法：“第三篇 三.8”即第三篇第三部分第 8 问。测试写法：`integration::<模块>::<函数>` 是 `tests/<模块>.rs` 中的集成测试\
         （`cargo test --test integration <模块>::`），其余是 `src/` 中的单元测试（`cargo test --lib <路径>`）。\n"
    )?;

    let untested: Vec<String> = codes
        .iter()
        .filter(|c| cat.rule(c).tests.is_empty())
        .map(|c| format!("`{c}`"))
        .chain(file.rules.iter().filter(|r| r.tests.is_empty()).map(|r| r.name.clone()))
        .collect();
    writeln!(
        w,
        "## 概况 / Summary\n\n- 原因代码 {} 条，其中 {} 条引用种子原文；业务规则 {} 条，其中 {} 条引用种子原文。\n- 尚无测试 / not yet tested（{} 条）：{}\n",
        codes.len(),
        codes.iter().filter(|c| !cat.rule(c).seed.is_empty()).count(),
        file.rules.len(),
        file.rules.iter().filter(|r| !r.seed.is_empty()).count(),
        untested.len(),
        if untested.is_empty() {
            "无".to_string()
        } else {
            untested.join("、")
        }
    )?;

    writeln!(w, "## 目录 / Contents\n")?;
    for (sev, id, title, _) in SEVERITIES {
        let n = codes.iter().filter(|c| cat.rule(c).severity == sev).count();
        writeln!(w, "- [{title}](#{id})（{n}）")?;
    }
    for (g, name) in groups.iter().enumerate() {
        let n = file.rules.iter().filter(|r| r.group == *name).count();
        writeln!(w, "- [业务规则：{name}](#domain-{})（{n}）", g + 1)?;
    }
    writeln!(w)?;

    for (sev, id, title, what) in SEVERITIES {
        writeln!(
            w,
            "<a id=\"{id}\"></a>\n\n## {title}\n\n严重程度“{}”：{what}。代码与说明见 [`schemas/rules.toml`](../schemas/rules.toml)。\n\n\
             | 代码 code | 说明 message | 种子原文 / 依据 seed | 实现 code | 测试 tests |\n|---|---|---|---|---|",
            sev.label()
        )?;
        for c in codes.iter().filter(|c| cat.rule(c).severity == sev) {
            let r = cat.rule(c);
            writeln!(
                w,
                "| `{c}` | {} | {} | {} | {} |",
                cell(&r.message),
                seed_cell(c, &r.seed, &r.basis, &file.seeds)?,
                code_cell(&r.code),
                tests_cell(&r.tests)
            )?;
        }
        writeln!(w)?;
    }

    let all_models = models::models()?;
    let mut schemas = BTreeMap::new();
    for (g, name) in groups.iter().enumerate() {
        writeln!(
            w,
            "<a id=\"domain-{}\"></a>\n\n## 业务规则：{name}\n\n\
             | 规则 rule | 种子原文 / 依据 seed | 实现 code | 测试 tests |\n|---|---|---|---|",
            g + 1
        )?;
        for r in file.rules.iter().filter(|r| r.group == *name) {
            let doc = if r.doc.is_empty() {
                String::new()
            } else {
                format!("<br>{}", cell(&r.doc))
            };
            let cols = columns_cell(&r.name, &r.columns, &all_models, &mut schemas)?;
            let code = code_cell(&r.code);
            let place = match (cols.is_empty(), r.code.is_empty()) {
                (true, _) => code,
                (false, true) => cols,
                (false, false) => format!("{cols}<br>{code}"),
            };
            writeln!(
                w,
                "| **{}**{doc} | {} | {place} | {} |",
                cell(&r.name),
                seed_cell(&r.name, &r.seed, &r.basis, &file.seeds)?,
                tests_cell(&r.tests)
            )?;
        }
        writeln!(w)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_match_across_ocr_spacing_punctuation_widths_and_page_numbers() {
        // As seed 000 has it: a page number inside the sentence, half-width commas.
        let seed = "答:户口本上的身份证号码不一定是正确的,有些甚至是15位或\n-12-者16位的。建议到当地派出所";
        let q = |s: &str| SeedQuote::parse(s).unwrap();
        assert!(q("000 第三篇 六.4：有些甚至是15位或者16位的").found_in(seed));
        assert!(q("000：户口本上的身份证号码不一定是正确的，有些 甚至…16位的。").found_in(seed));
        assert!(!q("000：16位的…户口本").found_in(seed), "the parts in their order");
        assert!(!q("000：有些甚至是17位的").found_in(seed));
        assert_eq!(q("000 第三篇 六.4：x").place, "第三篇 六.4");
        assert!(SeedQuote::parse("第三篇：有些").is_err(), "no file number");
        assert!(SeedQuote::parse("000 有些").is_err(), "no ：");
        assert!(SeedQuote::parse("000：…").is_err(), "nothing quoted");
        assert_eq!(
            normalise("外县农村到本县农村——不属于 本县农村----不属于"),
            "外县农村到本县农村-不属于本县农村-不属于"
        );
    }

    #[test]
    fn test_paths_point_to_their_files() {
        assert_eq!(
            test_files("integration::domain::a_test"),
            (vec!["tests/domain.rs".to_string()], "a_test".to_string())
        );
        assert_eq!(
            test_files("ingest::validate::tests::b"),
            (
                vec![
                    "src/ingest/validate.rs".to_string(),
                    "src/ingest/validate/mod.rs".to_string(),
                    "src/ingest/validate/tests.rs".to_string()
                ],
                "b".to_string()
            )
        );
        assert_eq!(code_ref("src/idcard.rs#analyse"), ("src/idcard.rs", Some("analyse")));
        assert_eq!(code_ref("sql/student_status.sql"), ("sql/student_status.sql", None));
    }
}

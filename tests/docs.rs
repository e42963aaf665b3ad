//! The reference pages in docs/ are what `xueji docs` makes from today's schema files and model
//! headers: a dashboard author reading docs/marts.md sees the columns the Parquet files have.

#[test]
fn the_reference_pages_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let stale: Vec<String> = xueji::docs::stale(&dir)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        stale.is_empty(),
        "{stale:?} 不是最新：请运行 cargo run -- docs --out docs / out of date: run `cargo run -- docs --out docs`"
    );
}

#[test]
fn every_mart_and_input_column_is_on_the_reference_pages() {
    let pages = xueji::docs::pages().unwrap();
    let marts = &pages.iter().find(|(n, _)| *n == "marts.md").unwrap().1;
    for m in xueji::models::models().unwrap() {
        let schema = xueji::models::out_schema(&m.schema).unwrap();
        let section = marts
            .split(&format!("<a id=\"{}\"></a>", m.name))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {}", m.name));
        let section = section.split("<a id=").next().unwrap();
        for c in &schema.columns {
            assert!(
                section.contains(&format!("| `{}` |", c.name)) && section.contains(&c.label),
                "{}.{} missing from its section",
                m.name,
                c.name
            );
        }
    }
    let tables = &pages.iter().find(|(n, _)| *n == "tables.md").unwrap().1;
    for t in xueji::schema::catalog().input_tables() {
        for c in &t.columns {
            assert!(
                tables.contains(&format!("| `{}` | {}", c.name, c.header.replace('|', "\\|"))),
                "{}.{} missing",
                t.table.name,
                c.name
            );
        }
    }
}

/// The man pages and shell completions in docs/ are what today's command line makes.
#[test]
fn the_man_pages_and_completions_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["docs", "--check", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: run `cargo run -- docs --out docs`",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(dir.join("man/xueji-ingest.1").exists() && dir.join("completions/xueji.bash").exists());
}

/// The repository's root, where the files a rule names are.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Whether Rust source defines function `name`.
fn defines(text: &str, name: &str) -> bool {
    text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"))
}

/// Source without its unit tests, which name reason codes without emitting them (a module's
/// tests in a file of their own, `tests.rs`, are left out by the walks).
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests {").next().unwrap_or(text)
}

/// A reader of docs/rules.md finds every reason code the import can report.
#[test]
fn every_reason_code_is_on_the_rules_page() {
    let pages = xueji::docs::pages().unwrap();
    let page = &pages.iter().find(|(n, _)| *n == "rules.md").unwrap().1;
    let mut missing: Vec<&String> = xueji::schema::catalog()
        .rules
        .keys()
        .filter(|c| !page.contains(&format!("| `{c}` |")))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "not on docs/rules.md: {missing:?}");
}

/// Every test the rules page names as proof exists (a `fn` of that name in the file its path
/// points to), and so does every file and function it names as the rule's code; a reason code is
/// emitted by one of the files named for it.
#[test]
fn every_test_file_and_function_named_for_a_rule_exists() {
    let root = root();
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).ok();
    let mut wrong = Vec::new();
    for e in xueji::docs::rules::evidence().unwrap() {
        for t in &e.tests {
            let (files, name) = xueji::docs::rules::test_files(t);
            let found = files
                .iter()
                .filter_map(|f| read(f.as_str()))
                .filter(|t| defines(t, &name));
            if found.count() != 1 {
                wrong.push(format!("{}: 测试 {t} 不存在 / no such test (in {files:?})", e.rule));
            }
        }
        let mut emitted = false;
        for c in &e.code {
            let (file, function) = xueji::docs::rules::code_ref(c);
            let Some(text) = read(file) else {
                wrong.push(format!("{}: 文件 {file} 不存在 / no such file", e.rule));
                continue;
            };
            if let Some(f) = function
                && !defines(&text, f)
            {
                wrong.push(format!("{}: {file} 中没有函数 {f} / no such function", e.rule));
            }
            emitted |= file.ends_with(".rs") && without_tests(&text).contains(&format!("\"{}\"", e.rule));
        }
        if e.reason_code && !e.code.is_empty() && !emitted {
            wrong.push(format!(
                "{}: 所列文件都不发出此代码 / none of its code files emits it",
                e.rule
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A reason code that no code emits would be a rule the page claims and the import never applies.
/// The generator (src/synth) names the codes it plants and unit tests name the codes they expect:
/// neither counts.
#[test]
fn every_reason_code_is_emitted_by_the_import() {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("synth") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("tests.rs") {
                out.push_str(without_tests(&std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut src = String::new();
    walk(&root().join("src"), &mut src);
    let mut silent: Vec<&String> = xueji::schema::catalog()
        .rules
        .keys()
        .filter(|c| !src.contains(&format!("\"{c}\"")))
        .collect();
    silent.sort();
    assert!(
        silent.is_empty(),
        "declared in schemas/rules.toml but never emitted: {silent:?}"
    );
}

/// Every seed quote on the rules page stands in the seed file it names, as the OCR'd text has it
/// (spaces, full- or half-width punctuation and page numbers aside; “…” skips text). The seeds are
/// beside the repository (`../shared/seeds`); a clone without them skips this check.
#[test]
fn every_seed_quote_is_in_its_seed_file() {
    let dir = root().join("../shared/seeds");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let seeds: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    let mut wrong = Vec::new();
    let mut quotes = 0;
    for e in xueji::docs::rules::evidence().unwrap() {
        for s in &e.seed {
            let q = xueji::docs::rules::SeedQuote::parse(s).unwrap();
            quotes += 1;
            match seeds.iter().find(|(name, _)| name.starts_with(&format!("{}_", q.file))) {
                None => wrong.push(format!("{}: 没有种子文件 {}_*.txt / no such seed file", e.rule, q.file)),
                Some((name, text)) if !q.found_in(text) => {
                    wrong.push(format!("{}: {name} 中找不到 / not in the seed: {}", e.rule, q.text))
                }
                Some(_) => {}
            }
        }
    }
    assert!(quotes > 50, "the rules quote their seeds ({quotes} quotes)");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

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

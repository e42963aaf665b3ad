//! A document as the templates see it (columns, tables, figures, charts), how it is assembled
//! from a report's parts, and how it is written as HTML, PDF and XLSX.

use super::*;

/// A column as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    pub label: String,
    pub numeric: bool,
    /// Relative width (Typst `fr`), from the longest of the label and the values.
    pub fr: usize,
}

/// One table of a document: a part, or one section of it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    pub section: String,
    pub new_page: bool,
    pub form: bool,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    pub total: Option<Vec<String>>,
    /// Every value fits its column on one line, so the PDF can give the rows a fixed height:
    /// Typst then lays each cell out once instead of measuring it first (a long roster typesets
    /// in about half the time).
    pub one_line: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    pub svg: String,
}

/// What one file of a report holds.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub report: String,
    pub title: String,
    pub level: String,
    pub unit_code: String,
    pub unit_name: String,
    pub date: String,
    pub landscape: bool,
    pub masked: bool,
    pub note: String,
    pub facts: Vec<Fact>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    pub signatures: Vec<String>,
    /// `reports/<template>.html|typ`.
    pub template: String,
    /// The first row of the first table by column name, for templates that place values one by
    /// one (a certificate's sentence).
    pub fields: BTreeMap<String, String>,
    /// The register's number (numbered reports), else empty.
    pub serial: String,
}

impl Document {
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// The file name without extension: the number of a numbered document, else the unit's code.
    pub fn stem(&self) -> String {
        file_stem(if self.serial.is_empty() {
            &self.unit_code
        } else {
            &self.serial
        })
    }
}

/// The template environment: HTML escaped as HTML, Typst markup escaped as Typst.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".typ") {
            AutoEscape::Custom("typst".into())
        } else {
            AutoEscape::Html
        }
    });
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == AutoEscape::Custom("typst".into()) && !value.is_safe() {
            // Numbers are written as they are (sizes such as 10.664pt, in code); everything else is text.
            let text = match value.as_str() {
                Some(s) => pdf::escape(s),
                None if value.kind() == minijinja::value::ValueKind::Number => value.to_string(),
                None => pdf::escape(&value.to_string()),
            };
            out.write_str(&text)
                .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_global("pdf", Value::from(minijinja::value::Serde(*pdf::SIZES)));
    // A Typst string literal (for SVG handed to `image`): quotes and backslashes escaped.
    env.add_filter("typst_str", |v: String| {
        Value::from_safe_string(format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
    });
    for (name, text) in TEMPLATES {
        env.add_template(name, text)?;
    }
    Ok(env)
}

/// File name of a unit's documents: its code, with what a file system refuses replaced.
pub(super) fn file_stem(code: &str) -> String {
    let base = code.rsplit(['/', '\\']).next().unwrap_or(code);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".into()
    } else {
        s
    }
}

/// Write one document in every asked format; the files written and the PDF's pages.
pub fn write_document(
    env: &Environment,
    doc: &Document,
    dir: &Path,
    formats: &[Format],
) -> Result<(Vec<PathBuf>, usize)> {
    let stem = doc.stem();
    let path = |f: &Format| {
        dir.join(format!(
            "{stem}.{}",
            match f {
                Format::Html => "html",
                Format::Pdf => "pdf",
                Format::Xlsx => "xlsx",
            }
        ))
    };
    let context = || minijinja::context! { doc => Value::from(minijinja::value::Serde(doc)) };
    // The PDF takes most of the time: it is typeset beside the HTML and the XLSX.
    std::thread::scope(|scope| {
        let pdf = formats.contains(&Format::Pdf).then(|| {
            scope.spawn(|| -> Result<usize> {
                let path = path(&Format::Pdf);
                let markup = env.get_template(&format!("{}.typ", doc.template))?.render(context())?;
                let (bytes, n) = pdf::pdf(markup, &format!("{}/{}/{}", doc.report, doc.unit_code, doc.date))
                    .with_context(|| format!("{} 的 PDF", path.display()))?;
                std::fs::write(&path, bytes).with_context(|| format!("无法写入 {}", path.display()))?;
                Ok(n)
            })
        });
        for f in formats {
            let path = path(f);
            match f {
                Format::Html => {
                    let html = env.get_template(&format!("{}.html", doc.template))?.render(context())?;
                    std::fs::write(&path, html).with_context(|| format!("无法写入 {}", path.display()))?;
                }
                Format::Xlsx => xlsx::write(doc, &path)?,
                Format::Pdf => {}
            }
        }
        let pages = match pdf {
            Some(h) => h.join().map_err(|_| {
                anyhow::anyhow!(
                    "{} 的 PDF：排版中断 / typesetting panicked",
                    path(&Format::Pdf).display()
                )
            })??,
            None => 0,
        };
        Ok((formats.iter().map(path).collect(), pages))
    })
}

/// Column widths from the longest label or value (CJK counts double), capped so that one
/// long address cannot squeeze the other columns; then whether every value fits on one line
/// (the header row may wrap: its height stays Typst's to find).
pub(super) fn fit_widths(t: &mut Table, landscape: bool) {
    let w = |s: &str| s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>();
    for (i, c) in t.columns.iter_mut().enumerate() {
        let longest = t
            .rows
            .iter()
            .map(|r| w(&r[i]))
            .max()
            .unwrap_or(0)
            .max(t.total.as_ref().map_or(0, |r| w(&r[i])));
        c.fr = longest.max(w(&c.label).min(8)).clamp(4, 40);
    }
    let per_fr = pdf::text_width_pt(landscape) / t.columns.iter().map(|c| c.fr as f64).sum::<f64>();
    // A point to spare for kerning and rounding.
    let room: Vec<f64> = t
        .columns
        .iter()
        .map(|c| c.fr as f64 * per_fr - 2.0 * pdf::SIZES.inset_x_pt - 1.0)
        .collect();
    t.one_line = !t.form
        && t.rows
            .iter()
            .chain(&t.total)
            .all(|r| r.iter().zip(&room).all(|(v, room)| pdf::body_width_pt(v) <= *room));
}

/// The 合计 row: the named columns summed, the first cell saying what the row is.
pub(super) fn totals(t: &Table, summed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if summed.contains(&c.name) {
                number(t.rows.iter().map(|r| r[i].parse::<f64>().unwrap_or(0.0)).sum())
            } else {
                String::new()
            }
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = if first.is_empty() {
            "合计".into()
        } else {
            format!("合计 {first}")
        };
    }
    out
}

pub(super) fn assemble(
    report: &ReportDef,
    code: &str,
    date: &str,
    masked: bool,
    parts: Vec<(Option<PartRows>, &PartShape, &PartDef)>,
    extras: &Extras,
) -> Document {
    let mut unit_name = String::new();
    let mut tables = Vec::new();
    for (rows, shape, def) in parts {
        let Some(rows) = rows else { continue };
        if unit_name.is_empty() {
            unit_name = rows.file_name.clone();
        }
        for (section, rows) in rows.sections {
            let mut t = Table {
                title: def.title.clone(),
                section,
                new_page: def.new_page,
                form: def.form,
                columns: shape.columns.clone(),
                rows,
                total: None,
                one_line: false,
            };
            if !def.total.is_empty() {
                t.total = Some(totals(&t, &def.total));
            }
            fit_widths(&mut t, report.landscape);
            tables.push(t);
        }
    }
    let fields = match tables.first() {
        Some(t) if report.template != "document" => t
            .columns
            .iter()
            .zip(t.rows.first().into_iter().flatten())
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect(),
        _ => BTreeMap::new(),
    };
    Document {
        report: report.key.clone(),
        title: report.title.clone(),
        level: report.level.clone(),
        unit_code: code.to_string(),
        unit_name,
        date: date.to_string(),
        landscape: report.landscape,
        masked,
        note: report.note.clone(),
        facts: extras.facts.get(code).cloned().unwrap_or_default(),
        charts: extras.charts.get(code).cloned().unwrap_or_default(),
        tables,
        signatures: report.signatures.clone(),
        template: report.template.clone(),
        fields,
        serial: String::new(),
    }
}

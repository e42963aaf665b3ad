//! PDF through Typst as a library: the markup that `reports/*.typ` renders to is compiled in
//! memory with one embedded CJK font, so a fresh machine prints Chinese without installing fonts.

use std::sync::LazyLock;

use anyhow::{Result, anyhow};
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// Noto Sans CJK SC Regular (SIL OFL 1.1), cut to Latin, punctuation, the CJK Unified
/// Ideographs block and full-width forms: every character of a name in the basic block prints.
const FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansCJKsc-Regular-subset.otf");

/// Sizes of `reports/document.typ` that the one-line check below relies on; the template reads
/// them from the `pdf` global, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sizes {
    pub body_pt: f64,
    pub inset_x_pt: f64,
    pub inset_y_pt: f64,
    pub margin_x_mm: f64,
    /// The height of a table row of one line: the text's cap height (Typst's default top edge)
    /// down to the baseline, plus the cell insets.
    pub line_row_pt: f64,
}

pub static SIZES: LazyLock<Sizes> = LazyLock::new(|| {
    let (body_pt, inset_y_pt) = (8.0, 2.4);
    let cap = FACE
        .capital_height()
        .map_or(0.75, |h| f64::from(h) / f64::from(FACE.units_per_em()));
    // Typst's own height to a thousandth of a point: a hair more would move a row to the next page.
    let line_row_pt = ((cap * body_pt + 2.0 * inset_y_pt) * 1000.0).round() / 1000.0;
    Sizes {
        body_pt,
        inset_x_pt: 2.5,
        inset_y_pt,
        margin_x_mm: 12.0,
        line_row_pt,
    }
});

static FACE: LazyLock<ttf_parser::Face<'static>> =
    LazyLock::new(|| ttf_parser::Face::parse(FONT, 0).expect("the embedded font parses"));

/// Width of the text block of a page, in points.
pub fn text_width_pt(landscape: bool) -> f64 {
    let paper_mm = if landscape { 297.0 } else { 210.0 };
    (paper_mm - 2.0 * SIZES.margin_x_mm) * 72.0 / 25.4
}

/// Width of `text` in the body size, in points, at least what Typst sets: the glyphs' advances
/// (a missing glyph as a full em), plus the quarter em Typst puts between Chinese and Latin.
pub fn body_width_pt(text: &str) -> f64 {
    let upem = f64::from(FACE.units_per_em());
    let mut em = 0.0;
    let mut prev_cjk = None;
    for c in text.chars() {
        em += FACE
            .glyph_index(c)
            .and_then(|g| FACE.glyph_hor_advance(g))
            .map_or(1.0, |a| f64::from(a) / upem);
        let cjk = !c.is_ascii();
        if c.is_alphanumeric() {
            if prev_cjk.is_some_and(|p| p != cjk) {
                em += 0.25;
            }
            prev_cjk = Some(cjk);
        }
    }
    em * SIZES.body_pt
}

struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: FileId,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let fonts: Vec<Font> = Font::iter(Bytes::new(FONT)).collect();
    Shared {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        // One id for every document: ids are interned for the life of the process.
        main: RootedPath::new(
            VirtualRoot::Project,
            VirtualPath::new("/main.typ").expect("a valid path"),
        )
        .intern(),
    }
});

struct Doc {
    source: Source,
}

impl World for Doc {
    fn library(&self) -> &LazyHash<Library> {
        &SHARED.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &SHARED.book
    }
    fn main(&self) -> FileId {
        SHARED.main
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == SHARED.main {
            Ok(self.source.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }
    fn file(&self, _id: FileId) -> FileResult<Bytes> {
        // Reports embed everything (charts as inline SVG); nothing is read from disk.
        Err(FileError::AccessDenied)
    }
    fn font(&self, index: usize) -> Option<Font> {
        SHARED.fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        // Reports print the snapshot date, never the clock: same inputs, same bytes.
        None
    }
}

/// Compile Typst markup into PDF bytes and the page count. `ident` names the document stably
/// (same ident and markup, same bytes).
pub fn pdf(markup: String, ident: &str) -> Result<(Vec<u8>, usize)> {
    let doc = Doc {
        source: Source::new(SHARED.main, markup),
    };
    let compiled = typst::compile::<PagedDocument>(&doc);
    let document = compiled.output.map_err(|errs| diagnose(&doc, &errs))?;
    // Untagged: tagging (PDF/UA structure) costs a third of the time of a long roster, and
    // these are printed, not read aloud; the HTML is the accessible form.
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(ident.to_string()),
        tagged: false,
        ..Default::default()
    };
    let bytes = typst_pdf::pdf(&document, &options).map_err(|errs| diagnose(&doc, &errs))?;
    // Each document is different; keep the memo cache from growing over thousands of them.
    typst::comemo::evict(2);
    Ok((bytes, document.pages().len()))
}

fn diagnose(doc: &Doc, errs: &[typst::diag::SourceDiagnostic]) -> anyhow::Error {
    use typst::WorldExt;
    let text = doc.source.text();
    let msgs: Vec<String> = errs
        .iter()
        .map(|e| {
            let at = doc
                .range(e.span)
                .map(|r| text[r.start.saturating_sub(40)..(r.end + 40).min(text.len())].to_string());
            format!(
                "{}{}",
                e.message,
                at.map(|a| format!("（位于 …{a}…）")).unwrap_or_default()
            )
        })
        .collect();
    anyhow!("PDF 排版失败 / typesetting failed: {}", msgs.join("；"))
}

/// Escape text for Typst markup: every ASCII symbol behind a backslash (Typst reads `\` and any
/// non-space character as that character), line breaks as spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_prints_as_itself() {
        // Markup characters in a value (an address with #, a name with *) must not become markup.
        let tricky = "1#楼*302_室 [A] $5 <x> @y // z \\ `q` ~ -- =";
        let markup = format!("#set text(font: \"Noto Sans CJK SC\")\n{}", escape(tricky));
        let (pdf, pages) = pdf(markup, "t").expect("compiles");
        assert_eq!(pages, 1);
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn widths_are_the_fonts() {
        // Ideographs are one em; Latin digits narrower; a switch between them adds a quarter em.
        assert_eq!(body_width_pt("学籍"), 2.0 * SIZES.body_pt);
        let digits = body_width_pt("2026");
        assert!(digits > 0.0 && digits < 4.0 * SIZES.body_pt, "{digits}");
        assert!((body_width_pt("学2026") - (body_width_pt("学") + digits + 0.25 * SIZES.body_pt)).abs() < 1e-9);
        assert!((10.0..11.5).contains(&SIZES.line_row_pt), "{}", SIZES.line_row_pt);
    }

    #[test]
    fn bad_markup_is_an_error_not_a_panic() {
        let e = pdf("#table(".to_string(), "t").unwrap_err().to_string();
        assert!(e.contains("PDF 排版失败"), "{e}");
    }
}

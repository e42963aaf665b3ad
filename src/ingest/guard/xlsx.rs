//! `.xlsx`: the parts calamine reads whole when it opens a workbook, streamed through byte caps.

use super::*;

/// Uncompressed size of a shared-strings table.
pub const MAX_SST_BYTES: u64 = 128 << 20;
/// How far a table's declared `uniqueCount` may exceed the strings it holds.
const SST_COUNT_SLACK: u64 = 16;
/// A declared `uniqueCount` up to this is harmless whatever the table holds (calamine reserves
/// that many `String`s: 24 MB); writers that get the count wrong are not refused for it.
const SST_DECLARED_HARMLESS: u64 = 1 << 20;
/// Uncompressed size of any other part calamine reads whole when it opens an .xlsx file.
pub const MAX_PART_BYTES: u64 = 64 << 20;
/// Everything this guard decompresses from one .xlsx file.
pub const MAX_XLSX_READ_BYTES: u64 = 256 << 20;
/// Style records (`xf`, `font`, `fill`, `border`, `numFmt`) of a styles part: calamine builds a
/// full style, with cloned fonts, for each `xf`.
pub const MAX_STYLE_RECORDS: u64 = 262_144;
/// How much of a worksheet is read to find its `<dimension>`.
const SHEET_HEAD_BYTES: u64 = 64 << 10;

/// Refuse an .xlsx (or .xlsm) file whose parts would make calamine allocate without bound when it
/// opens the workbook. Call it before `calamine::open_workbook`.
pub fn check_xlsx(path: &Path) -> Result<(), FileError> {
    let f = File::open(path).map_err(|e| err("F_NOT_FOUND", e.to_string()))?;
    check_xlsx_from(BufReader::new(f))
}

fn check_xlsx_from<R: Read + Seek>(reader: R) -> Result<(), FileError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| zip_error(&e.to_string()))?;
    let names: Vec<(usize, String)> = (0..zip.len())
        .filter_map(|i| Some((i, zip.name_for_index(i)?.ok()?.into_owned())))
        .collect();
    let mut used = 0u64;
    for (i, name) in &names {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with("sharedstrings.xml") {
            check_sst_part(&mut zip, *i, name, &mut used)?;
        } else if lower.ends_with(".xml") && lower.contains("worksheets/") {
            check_sheet_head(&mut zip, *i, name, &mut used)?;
        } else if lower.ends_with("styles.xml")
            || lower.ends_with("workbook.xml")
            || lower.ends_with("theme1.xml")
            || lower.ends_with(".rels")
        {
            check_part(&mut zip, *i, name, lower.ends_with("styles.xml"), &mut used)?;
        }
    }
    Ok(())
}

/// Streams entry `i` through a cap into `sink` (which returns false to stop early): at most
/// `cap + 1` bytes, and never past what is left of [`MAX_XLSX_READ_BYTES`]. Returns how many bytes
/// came: more than `cap` means the entry is larger than `cap`.
fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    i: usize,
    name: &str,
    cap: u64,
    used: &mut u64,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Result<u64, FileError> {
    let left = MAX_XLSX_READ_BYTES.saturating_sub(*used);
    let limit = cap.min(left);
    let entry = zip.by_index(i).map_err(|e| zip_error(&format!("{name}：{e}")))?;
    let mut r = entry.take(limit + 1);
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(zip_error(&format!("{name}：{e}"))),
        };
        n += k as u64;
        if !sink(&buf[..k]) {
            break;
        }
    }
    *used += n;
    if n > limit && limit < cap {
        return Err(too_large(format!(
            "工作簿解压后的内容超过 {} MB 上限",
            MAX_XLSX_READ_BYTES >> 20
        )));
    }
    Ok(n)
}

fn check_sst_part<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    i: usize,
    name: &str,
    used: &mut u64,
) -> Result<(), FileError> {
    let mut scan = TagScanner::new(&["si"], "sst", "");
    let n = read_entry(zip, i, name, MAX_SST_BYTES, used, |b| {
        scan.feed(b);
        true
    })?;
    if n > MAX_SST_BYTES {
        return Err(too_large(format!(
            "共享字符串表（{name}）解压后超过 {} MB 上限",
            MAX_SST_BYTES >> 20
        )));
    }
    sst_verdict(&scan, name)
}

/// The shared-strings table once streamed whole: the strings really there within the cap, and the
/// declared `uniqueCount` (calamine reserves that many strings) near what is there.
fn sst_verdict(scan: &TagScanner, name: &str) -> Result<(), FileError> {
    let counted = scan.count;
    if counted > MAX_SST_STRINGS {
        return Err(too_large(format!(
            "共享字符串表（{name}）有 {} 个字符串，超过 {} 个的上限",
            grouped(counted),
            grouped(MAX_SST_STRINGS)
        )));
    }
    let attrs = scan.captured.as_deref().unwrap_or(&[]);
    let declared = attr(attrs, "uniqueCount").and_then(parse_count);
    if let Some(d) = declared
        && d > counted.saturating_add(SST_COUNT_SLACK)
        && d > SST_DECLARED_HARMLESS
    {
        let total = attr(attrs, "count")
            .and_then(parse_count)
            .map_or(String::new(), |c| format!("（count={}）", grouped(c)));
        return Err(bad(format!(
            "共享字符串表（{name}）声明有 {} 个不同的字符串{total}，实际只有 {} 个",
            grouped(d),
            grouped(counted)
        )));
    }
    Ok(())
}

fn check_sheet_head<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    i: usize,
    name: &str,
    used: &mut u64,
) -> Result<(), FileError> {
    let mut scan = TagScanner::new(&[], "dimension", "sheetData");
    read_entry(zip, i, name, SHEET_HEAD_BYTES, used, |b| {
        scan.feed(b);
        !scan.stopped && scan.captured.is_none()
    })?;
    if let Some(attrs) = scan.captured.as_deref()
        && let Some(r) = attr(attrs, "ref")
    {
        check_dimension_ref(name, r)?;
    }
    Ok(())
}

fn check_part<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    i: usize,
    name: &str,
    styles: bool,
    used: &mut u64,
) -> Result<(), FileError> {
    let counted: &'static [&'static str] = if styles {
        &["xf", "font", "fill", "border", "numFmt"]
    } else {
        &[]
    };
    let mut scan = TagScanner::new(counted, "", "");
    let n = read_entry(zip, i, name, MAX_PART_BYTES, used, |b| {
        if styles {
            scan.feed(b);
        }
        true
    })?;
    if n > MAX_PART_BYTES {
        return Err(too_large(format!("{name} 解压后超过 {} MB 上限", MAX_PART_BYTES >> 20)));
    }
    if scan.count > MAX_STYLE_RECORDS {
        return Err(too_large(format!(
            "样式表（{name}）有 {} 条格式记录，超过 {} 条的上限",
            grouped(scan.count),
            grouped(MAX_STYLE_RECORDS)
        )));
    }
    Ok(())
}

/// A sheet's `<dimension ref="A1:XFD1048576"/>`: within the format's limits and not inverted
/// (calamine subtracts start from end). A reference calamine cannot read is left to calamine,
/// which refuses the sheet.
fn check_dimension_ref(sheet: &str, r: &[u8]) -> Result<(), FileError> {
    let text = String::from_utf8_lossy(r);
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 2 {
        return Ok(());
    }
    let mut cells = Vec::with_capacity(2);
    for p in &parts {
        match parse_a1(p) {
            Some(c) => cells.push(c),
            None => return Ok(()),
        }
    }
    let shown: String = text.chars().take(40).collect();
    if cells
        .iter()
        .any(|&(row, col)| row > u64::from(XLSX_MAX_ROWS) || col > u64::from(XLSX_MAX_COLS))
    {
        return Err(err(
            "F_CELL_REF",
            format!("工作表 {sheet} 声明的范围 {shown} 超出 Excel 的范围（最多 1,048,576 行、16,384 列）"),
        ));
    }
    if let [a, b] = cells[..]
        && (b.0 < a.0 || b.1 < a.1)
    {
        return Err(err("F_CELL_REF", format!("工作表 {sheet} 声明的范围 {shown} 起止颠倒")));
    }
    Ok(())
}

/// The 1-based (row, column) of an A1 reference as calamine reads it (letters, then digits),
/// saturating instead of wrapping; None where calamine refuses the reference.
fn parse_a1(s: &str) -> Option<(u64, u64)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut col = 0u64;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_alphabetic() {
            break;
        }
        col = col
            .saturating_mul(26)
            .saturating_add(u64::from(c.to_ascii_uppercase() - b'A') + 1);
        i += 1;
    }
    let digits = i;
    let mut row = 0u64;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            return None;
        }
        row = row.saturating_mul(10).saturating_add(u64::from(c - b'0'));
        i += 1;
    }
    if i == digits || row == 0 || col == 0 {
        return None;
    }
    Some((row, col))
}

/// The value of attribute `key` in the text of a start tag after its name (`a="1" b='2'`).
fn attr<'a>(attrs: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let n = attrs.len();
    let at = |i: usize| attrs.get(i).copied().unwrap_or(0);
    let mut i = 0;
    loop {
        while i < n && (at(i).is_ascii_whitespace() || at(i) == b'/') {
            i += 1;
        }
        if i >= n {
            return None;
        }
        let start = i;
        while i < n && at(i) != b'=' && !at(i).is_ascii_whitespace() {
            i += 1;
        }
        let name = attrs.get(start..i)?;
        while i < n && at(i).is_ascii_whitespace() {
            i += 1;
        }
        if at(i) != b'=' {
            return None;
        }
        i += 1;
        while i < n && at(i).is_ascii_whitespace() {
            i += 1;
        }
        let quote = at(i);
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        i += 1;
        let vstart = i;
        while i < n && at(i) != quote {
            i += 1;
        }
        if i >= n {
            return None;
        }
        let value = attrs.get(vstart..i)?;
        i += 1;
        if name == key.as_bytes() {
            return Some(value);
        }
    }
}

/// A count attribute: digits (a leading `+` and surrounding spaces allowed), saturating.
fn parse_count(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    let v = v.strip_prefix(b"+").unwrap_or(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))),
    )
}

const NAME_MAX: usize = 32;
const ATTR_MAX: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scan {
    Text,
    /// Just after `<`.
    Open,
    /// In a start tag's name.
    Name,
    /// In a tag after its name (or in an end tag, comment, declaration).
    Tag,
}

/// Start tags of an XML document fed in pieces of any size (a tag split across two pieces is seen
/// whole): counts the tags whose local name (the name after any `prefix:`) is one of
/// `count_names`, keeps the attribute text of the first tag named `capture` (up to 4 KiB), and
/// stops at the first tag named `stop`. Approximate where XML allows `>` (in attribute values,
/// comments): that can only end a tag early, never make text look like a tag.
struct TagScanner {
    count_names: &'static [&'static str],
    capture: &'static str,
    stop: &'static str,
    state: Scan,
    name: [u8; NAME_MAX],
    name_len: usize,
    capturing: bool,
    attrs: Vec<u8>,
    count: u64,
    captured: Option<Vec<u8>>,
    stopped: bool,
}

impl TagScanner {
    fn new(count_names: &'static [&'static str], capture: &'static str, stop: &'static str) -> Self {
        TagScanner {
            count_names,
            capture,
            stop,
            state: Scan::Text,
            name: [0; NAME_MAX],
            name_len: 0,
            capturing: false,
            attrs: Vec::new(),
            count: 0,
            captured: None,
            stopped: false,
        }
    }

    fn feed(&mut self, buf: &[u8]) {
        for &b in buf {
            if self.stopped {
                return;
            }
            match self.state {
                Scan::Text => {
                    if b == b'<' {
                        self.state = Scan::Open;
                    }
                }
                Scan::Open => {
                    self.state = match b {
                        b'/' | b'?' | b'!' => Scan::Tag,
                        b'<' => Scan::Open,
                        b'>' => Scan::Text,
                        _ if b.is_ascii_whitespace() => Scan::Tag,
                        _ => {
                            self.name[0] = b;
                            self.name_len = 1;
                            Scan::Name
                        }
                    };
                }
                Scan::Name => {
                    if b == b'>' || b == b'/' || b.is_ascii_whitespace() {
                        self.start_tag();
                        if b == b'>' {
                            self.end_tag();
                            self.state = Scan::Text;
                        } else {
                            self.state = Scan::Tag;
                        }
                    } else if b == b'<' {
                        self.state = Scan::Open;
                    } else {
                        if let Some(slot) = self.name.get_mut(self.name_len) {
                            *slot = b;
                        }
                        self.name_len = self.name_len.saturating_add(1);
                    }
                }
                Scan::Tag => {
                    if b == b'>' {
                        self.end_tag();
                        self.state = Scan::Text;
                    } else if b == b'<' {
                        self.capturing = false;
                        self.attrs.clear();
                        self.state = Scan::Open;
                    } else if self.capturing && self.attrs.len() < ATTR_MAX {
                        self.attrs.push(b);
                    }
                }
            }
        }
    }

    fn start_tag(&mut self) {
        if self.name_len > NAME_MAX {
            return;
        }
        let name = &self.name[..self.name_len];
        let local = match name.iter().rposition(|&c| c == b':') {
            Some(p) => &name[p + 1..],
            None => name,
        };
        if self.count_names.iter().any(|n| n.as_bytes() == local) {
            self.count += 1;
        }
        if !self.stop.is_empty() && local == self.stop.as_bytes() {
            self.stopped = true;
        }
        if self.captured.is_none() && !self.capture.is_empty() && local == self.capture.as_bytes() {
            self.capturing = true;
            self.attrs.clear();
        }
    }

    fn end_tag(&mut self) {
        if self.capturing {
            self.capturing = false;
            self.captured = Some(std::mem::take(&mut self.attrs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SST: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="9" uniqueCount="4"><si><t>ab</t></si><x:si><t>b</t></x:si><si/><si><r><t>c</t></r><rPh><t>d</t></rPh></si><six/><!-- <si> --></sst>"#;

    fn scan_sst(pieces: &[&[u8]]) -> TagScanner {
        let mut s = TagScanner::new(&["si"], "sst", "");
        for p in pieces {
            s.feed(p);
        }
        s
    }

    #[test]
    fn si_tags_are_counted_whatever_the_read_buffer_boundaries() {
        // `<six/>` is not `<si`; the `<si>` in the comment is counted (harmless: more lenient).
        let whole = scan_sst(&[SST]);
        assert_eq!(whole.count, 5);
        for cut in 0..=SST.len() {
            let s = scan_sst(&[&SST[..cut], &SST[cut..]]);
            assert_eq!(s.count, whole.count, "cut at {cut}");
            assert_eq!(
                attr(s.captured.as_deref().unwrap(), "uniqueCount"),
                Some(&b"4"[..]),
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = SST.chunks(1).collect();
        let s = scan_sst(&bytes);
        assert_eq!(s.count, whole.count);
        assert_eq!(attr(s.captured.as_deref().unwrap(), "count"), Some(&b"9"[..]));
        for cut in 0..=SST.len() {
            for cut2 in cut..=SST.len() {
                let s = scan_sst(&[&SST[..cut], &SST[cut..cut2], &SST[cut2..]]);
                assert_eq!(s.count, whole.count, "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn a_unique_count_beyond_the_strings_present_is_refused() {
        let with = |unique: &str| {
            let xml = format!(
                r#"<sst count="3" uniqueCount="{unique}"><si><t>a</t></si><si><t>b</t></si><si><t>c</t></si></sst>"#
            );
            let mut s = TagScanner::new(&["si"], "sst", "");
            s.feed(xml.as_bytes());
            sst_verdict(&s, "xl/sharedStrings.xml")
        };
        assert!(with("3").is_ok());
        assert!(with("19").is_ok(), "a small slack");
        assert!(with("100000").is_ok(), "a wrong but harmless count is not refused");
        let e = with("100000000000").unwrap_err();
        assert_eq!(e.rule, "F_BAD_WORKBOOK");
        assert!(
            e.detail.contains("100,000,000,000") && e.detail.contains("实际只有 3 个"),
            "{}",
            e.detail
        );
        assert_eq!(
            with("99999999999999999999999999").unwrap_err().rule,
            "F_BAD_WORKBOOK",
            "saturates, does not wrap"
        );
        assert!(with("abc").is_ok(), "calamine ignores a count it cannot read");
        let mut many = TagScanner::new(&["si"], "sst", "");
        many.count = MAX_SST_STRINGS + 1;
        assert_eq!(sst_verdict(&many, "x").unwrap_err().rule, "F_TOO_LARGE");
    }

    #[test]
    fn attributes_are_read_exactly() {
        let a = br#" xmlns:x="u" count = '12' uniqueCount="7" /"#;
        assert_eq!(attr(a, "count"), Some(&b"12"[..]));
        assert_eq!(attr(a, "uniqueCount"), Some(&b"7"[..]));
        assert_eq!(attr(a, "Count"), None);
        assert_eq!(attr(br#"xuniqueCount="9""#, "uniqueCount"), None);
        assert_eq!(attr(br#"a="unterminated"#, "a"), None);
        assert_eq!(parse_count(b" +42 "), Some(42));
        assert_eq!(parse_count(b"1e9"), None);
        assert_eq!(parse_count(b""), None);
    }

    #[test]
    fn a_dimension_beyond_the_format_is_refused() {
        let dim = |r: &str| check_dimension_ref("xl/worksheets/sheet1.xml", r.as_bytes());
        assert!(dim("A1:XFD1048576").is_ok());
        assert!(dim("A1").is_ok());
        assert!(dim("B2:C3").is_ok());
        assert!(dim("$A$1").is_ok(), "left to calamine");
        assert!(dim("A1:B2:C3").is_ok(), "left to calamine");
        for r in ["A1:XFD1048577", "A1:XFE1", "A1:MWLQKWU2", "A1:A99999999999999999999999"] {
            assert_eq!(dim(r).unwrap_err().rule, "F_CELL_REF", "{r}");
        }
        assert_eq!(dim("C3:B2").unwrap_err().rule, "F_CELL_REF");
        let mut head = TagScanner::new(&[], "dimension", "sheetData");
        let xml = br#"<worksheet xmlns="m"><sheetPr/><dimension ref="A1:C2"/><sheetData><row r="1"><c r="A1"/></row></sheetData><dimension ref="A1:XFE1"/></worksheet>"#;
        for chunk in xml.chunks(7) {
            head.feed(chunk);
        }
        assert_eq!(attr(head.captured.as_deref().unwrap(), "ref"), Some(&b"A1:C2"[..]));
        assert!(head.stopped);
    }

    #[test]
    fn a_cell_beyond_the_format_is_refused_with_its_position_as_excel_shows_it() {
        assert!(check_cell(0, 0).is_ok());
        assert!(check_cell(1_048_575, 16_383).is_ok());
        assert_eq!(check_cell(1_048_576, 0).unwrap_err().rule, "F_CELL_REF");
        let e = check_cell(1, u32::MAX - 1).unwrap_err();
        assert_eq!(e.rule, "F_CELL_REF");
        assert!(e.detail.ends_with("第 2 行第 4294967295 列"), "{}", e.detail);
        let e = check_cell(u32::MAX, u32::MAX).unwrap_err();
        assert!(e.detail.contains("第 4294967296 行第 4294967296 列"), "{}", e.detail);
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn xlsx_parts_are_checked_by_what_they_hold() {
        let sheet: &[u8] = br#"<worksheet><dimension ref="A1:B2"/><sheetData/></worksheet>"#;
        let styles: &[u8] = b"<styleSheet><cellXfs><xf/></cellXfs></styleSheet>";
        let ok = zip_of(&[
            ("xl/sharedStrings.xml", SST),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/styles.xml", styles),
        ]);
        assert!(check_xlsx_from(std::io::Cursor::new(ok)).is_ok());
        let huge: &[u8] = br#"<sst uniqueCount="100000000000"><si><t>a</t></si></sst>"#;
        let e = check_xlsx_from(std::io::Cursor::new(zip_of(&[("xl/SharedStrings.xml", huge)]))).unwrap_err();
        assert_eq!(e.rule, "F_BAD_WORKBOOK");
        let wide: &[u8] = br#"<worksheet><dimension ref="A1:XFE3"/><sheetData/></worksheet>"#;
        let e = check_xlsx_from(std::io::Cursor::new(zip_of(&[("xl/worksheets/sheet2.xml", wide)]))).unwrap_err();
        assert_eq!(e.rule, "F_CELL_REF");
        let many: Vec<u8> = std::iter::once(&b"<styleSheet><cellXfs>"[..])
            .chain(std::iter::repeat_n(&b"<xf/>"[..], MAX_STYLE_RECORDS as usize + 1))
            .chain(std::iter::once(&b"</cellXfs></styleSheet>"[..]))
            .flatten()
            .copied()
            .collect();
        let e = check_xlsx_from(std::io::Cursor::new(zip_of(&[("xl/styles.xml", &many[..])]))).unwrap_err();
        assert_eq!(e.rule, "F_TOO_LARGE");
        assert_eq!(
            check_xlsx_from(std::io::Cursor::new(b"not a zip".to_vec()))
                .unwrap_err()
                .rule,
            "F_BAD_WORKBOOK"
        );
    }
}

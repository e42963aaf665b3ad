//! Checks made before calamine opens a workbook. A crafted file of a few kilobytes could make
//! calamine reserve terabytes (an abort that takes the whole nightly ingest down), loop for ever or
//! panic; such a file must instead be refused with one file-level error, like any broken file.
//!
//! * `.xlsx`: [`check_xlsx`] streams the parts calamine reads whole when it opens the workbook
//!   (shared strings, styles, workbook, theme, relationships) through a byte cap, whatever sizes
//!   the zip directory declares, counts the shared strings really there against the count the
//!   table declares (calamine reserves that many), and checks each sheet's declared dimension.
//!   [`check_cell`] is for the cell loop: a cell reference past the format's limits is refused.
//! * `.xls`: calamine parses every sheet when the workbook is opened, so [`check_xls`] reads the
//!   workbook stream the way calamine 0.38 reads it (its own compound-file reader, then its BIFF
//!   record loops) and refuses the file where calamine would allocate without bound, loop or panic.
//!
//! Nothing here trusts a declared size: every count is of what is really in the file, every read
//! is capped, and every slice access is checked.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use super::source::FileError;

/// Uncompressed size of a shared-strings table.
pub const MAX_SST_BYTES: u64 = 128 << 20;
/// Strings of a shared-strings table (calamine keeps each as a `String`).
pub const MAX_SST_STRINGS: u64 = 4_000_000;
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
/// The limits of the .xlsx format.
pub const XLSX_MAX_ROWS: u32 = 1_048_576;
pub const XLSX_MAX_COLS: u32 = 16_384;

/// Size of an .xls file (calamine holds the whole file, then its workbook stream, in memory).
pub const MAX_XLS_BYTES: u64 = 256 << 20;
/// Cells in the bounding box of one .xls sheet: calamine allocates the box densely.
pub const MAX_XLS_CELLS: u64 = 8_388_608;
/// Cells of all the sheets of an .xls file together (value and formula boxes, and cell records):
/// calamine keeps every sheet of the workbook in memory at once.
pub const MAX_XLS_TOTAL_CELLS: u64 = 2 * MAX_XLS_CELLS;
/// The limits of the .xls (BIFF8) format.
const XLS_MAX_ROWS: u64 = 65_536;
const XLS_MAX_COLS: u64 = 256;
/// CONTINUE records after one record: calamine collects them in a list per record, and takes them
/// off its front one by one (quadratic). A 256 MB stream of 8 KB records has about 33,000.
const MAX_CONTINUE_RECORDS: usize = 40_000;
/// Estimated text of one formula as calamine renders it, and of all formulas of a file.
const MAX_FORMULA_TEXT: u64 = 1 << 20;
const MAX_FORMULA_TEXT_TOTAL: u64 = 256 << 20;
/// Estimated bytes calamine moves rendering the formulas of a file (its formula printer inserts at
/// the front of the text, so a crafted formula costs the square of its length).
const MAX_FORMULA_WORK: u64 = 1 << 34;

fn err(rule: &'static str, detail: impl Into<String>) -> FileError {
    FileError {
        rule,
        detail: detail.into(),
    }
}

fn bad(detail: impl Into<String>) -> FileError {
    err("F_BAD_WORKBOOK", detail)
}

fn too_large(detail: impl Into<String>) -> FileError {
    err("F_TOO_LARGE", detail)
}

/// A zip error as calamine's would be classified (an entry that needs a password is an
/// encrypted workbook).
fn zip_error(msg: &str) -> FileError {
    let lower = msg.to_ascii_lowercase();
    let rule = if lower.contains("password") || lower.contains("encrypt") {
        "F_ENCRYPTED"
    } else {
        "F_BAD_WORKBOOK"
    };
    err(rule, msg)
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[a, b2, c, d]) => u32::from_le_bytes([a, b2, c, d]),
        _ => 0,
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at.saturating_add(4))) << 32)
}

fn le32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

// ---------------------------------------------------------------------------------------------
// Cells of an .xlsx sheet

/// A cell position (0-based) read from a sheet: refused past the format's limits, where a crafted
/// reference such as `MWLQKWU2` (column 4,294,967,295) would have a row grown to its column.
#[inline]
pub fn check_cell(row: u32, col: u32) -> Result<(), FileError> {
    if row < XLSX_MAX_ROWS && col < XLSX_MAX_COLS {
        return Ok(());
    }
    Err(err(
        "F_CELL_REF",
        format!(
            "单元格位置超出 Excel 的范围（最多 1,048,576 行、16,384 列）：第 {} 行第 {} 列",
            u64::from(row) + 1,
            u64::from(col) + 1
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// .xlsx

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

// ---------------------------------------------------------------------------------------------
// .xls: the compound file, read as calamine reads it

/// Refuse an .xls file that would make calamine allocate without bound, loop for ever or panic
/// when it opens the workbook (it parses every sheet then). Call it before calamine sees the file.
pub fn check_xls(path: &Path) -> Result<(), FileError> {
    let not_found = |e: std::io::Error| err("F_NOT_FOUND", e.to_string());
    let too_big = || too_large(format!("文件大小超过 {} MB 上限", MAX_XLS_BYTES >> 20));
    if std::fs::metadata(path).map_err(not_found)?.len() > MAX_XLS_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(not_found)?
        .take(MAX_XLS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(not_found)?;
    if bytes.len() as u64 > MAX_XLS_BYTES {
        return Err(too_big());
    }
    check_xls_bytes(&bytes)
}

fn check_xls_bytes(file: &[u8]) -> Result<(), FileError> {
    let stream = workbook_stream(file)?;
    check_biff(&stream)
}

const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const DIFSECT: u32 = 0xFFFF_FFFC;
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;

/// The sectors of a compound file as calamine's `Sectors` holds them: the file after its header,
/// read in order up to the furthest sector asked for, zero-filled past the end of the file.
struct Sectors<'a> {
    body: &'a [u8],
    size: usize,
    maxid: usize,
    /// The length of calamine's buffer.
    loaded: usize,
}

impl Sectors<'_> {
    /// Sector `id` as calamine's `Sectors::get` returns it: appends at most `max` bytes of it to
    /// `out` and returns its length. Refused where calamine errs (past `maxid`) or would slice
    /// backwards (a sector starting past the end of the file).
    fn get(&mut self, id: u32, out: &mut Vec<u8>, max: usize) -> Result<usize, FileError> {
        let idx = id as usize;
        if idx > self.maxid {
            return Err(bad(format!("复合文档的扇区 {id} 超出文件末尾")));
        }
        let start = idx * self.size;
        let end = start + self.size;
        let len = if end > self.loaded {
            let got = self.loaded.max(end.min(self.body.len()));
            self.loaded = end;
            if got < start {
                return Err(bad(format!("复合文档的扇区 {id} 超出文件末尾")));
            }
            got - start
        } else {
            self.size
        };
        let take = len.min(max);
        let from = start.min(self.body.len());
        let to = (start + take).min(self.body.len());
        out.extend_from_slice(&self.body[from..to]);
        out.resize(out.len() + (take - (to - from)), 0);
        Ok(len)
    }

    /// A sector chain as calamine's `get_chain` reads it (until ENDOFCHAIN or `len` bytes).
    /// Refused where calamine would index past its FAT (a panic) or follow a cycle (a chain with
    /// more steps than the file has sectors, which calamine grows until memory runs out).
    fn chain(&mut self, start: u32, fats: &[u32], len: usize) -> Result<Vec<u8>, FileError> {
        let mut out = Vec::new();
        let mut id = start;
        let mut steps = 0usize;
        while id != ENDOFCHAIN {
            steps += 1;
            if steps > self.maxid + 1 {
                return Err(bad("复合文档的扇区链成环"));
            }
            let remaining = len - out.len();
            self.get(id, &mut out, remaining)?;
            if out.len() >= len {
                break;
            }
            id = *fats
                .get(id as usize)
                .ok_or_else(|| bad(format!("复合文档的 FAT 中没有扇区 {id}")))?;
        }
        Ok(out)
    }
}

/// A mini-stream chain as calamine reads it; refused where calamine would read a mini sector
/// from outside the mini stream or index past the mini FAT.
fn mini_chain(mini: &[u8], minifat: &[u32], maxid: usize, start: u32, len: usize) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    let mut id = start;
    let mut steps = 0usize;
    while id != ENDOFCHAIN {
        steps += 1;
        if steps > mini.len() / 64 + 1 {
            return Err(bad("复合文档的迷你扇区链成环"));
        }
        let idx = id as usize;
        let from = idx.checked_mul(64).filter(|_| idx <= maxid.saturating_mul(8));
        let Some(sector) = from.and_then(|f| mini.get(f..f + 64)) else {
            return Err(bad(format!("复合文档的迷你扇区 {id} 超出迷你流")));
        };
        let take = 64usize.min(len - out.len());
        out.extend_from_slice(&sector[..take]);
        if out.len() >= len {
            break;
        }
        id = *minifat
            .get(idx)
            .ok_or_else(|| bad(format!("复合文档的迷你 FAT 中没有扇区 {id}")))?;
    }
    Ok(out)
}

/// The workbook stream exactly as calamine 0.38 reads it (`cfb.rs`: `Cfb::new`, then
/// `get_stream("Workbook")`, else "Book"), refusing the file where its reader would panic, loop
/// or allocate by a count the file can inflate (a DIFAT listing the same FAT sector over and over
/// makes both calamine and the `cfb` crate allocate 127 × the file's size).
fn workbook_stream(file: &[u8]) -> Result<Vec<u8>, FileError> {
    const SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let header = file.get(..512).ok_or_else(|| bad("复合文档头不完整"))?;
    if header.get(..8) != Some(&SIGNATURE[..]) {
        return Err(bad("不是 OLE 复合文档"));
    }
    let version = u16_at(header, 26);
    let size: usize = match u16_at(header, 30) {
        0x0009 => 512,
        0x000C => 4096,
        s => return Err(bad(format!("复合文档的扇区大小无效（0x{s:X}）"))),
    };
    if u16_at(header, 32) != 0x0006 {
        return Err(bad("复合文档的迷你扇区大小无效"));
    }
    let body = file.get(size..).ok_or_else(|| bad("复合文档头不完整"))?;
    let dir_start = u32_at(header, 48);
    let mini_fat_start = u32_at(header, 60);
    let mini_fat_len = u32_at(header, 64) as usize;
    let difat_start = u32_at(header, 68);
    let maxid = file.len() / size;
    let mut sectors = Sectors {
        body,
        size,
        maxid,
        loaded: 0,
    };

    // The DIFAT: 109 entries in the header, then a chain of sectors. A legitimate file needs
    // one DIFAT sector per (size/4 - 1) FAT sectors, each FAT sector covering size/4 sectors.
    let mut difat: Vec<u32> = le32s(header.get(76..512).unwrap_or(&[])).collect();
    let per = size / 4;
    let max_difat_sectors = maxid / (per * (per - 1)) + 2;
    let mut buf = Vec::with_capacity(size);
    let mut id = difat_start;
    let mut steps = 0usize;
    while id < RESERVED_SECTORS {
        steps += 1;
        if steps > max_difat_sectors {
            return Err(bad("复合文档的 DIFAT 扇区链过长"));
        }
        buf.clear();
        if sectors.get(id, &mut buf, usize::MAX)? % 4 != 0 {
            return Err(bad("复合文档的 DIFAT 扇区不完整"));
        }
        difat.extend(le32s(&buf));
        id = difat.pop().ok_or_else(|| bad("复合文档的 DIFAT 为空"))?;
    }
    let mut fats: Vec<u32> = Vec::new();
    for &fat in difat.iter().filter(|&&x| x < DIFSECT) {
        buf.clear();
        if sectors.get(fat, &mut buf, usize::MAX)? % 4 != 0 {
            return Err(bad("复合文档的 FAT 扇区不完整"));
        }
        fats.extend(le32s(&buf));
    }

    // The directory: calamine takes the first entry (in directory order, not the tree's) named
    // "Workbook", else "Book".
    let dir = sectors.chain(dir_start, &fats, usize::MAX)?;
    let mut root: Option<(u32, usize)> = None;
    let mut workbook: Option<(u32, usize)> = None;
    let mut book: Option<(u32, usize)> = None;
    for entry in dir.chunks_exact(128) {
        let (decoded, _, _) = encoding_rs::UTF_16LE.decode(&entry[..64]);
        let name: &str = match decoded.as_bytes().iter().position(|&b| b == 0) {
            Some(l) => &decoded[..l],
            None => &decoded,
        };
        let start = u32_at(entry, 116);
        let len = if size == 512 {
            u32_at(entry, 120) as usize
        } else {
            u64_at(entry, 120) as usize
        };
        if root.is_none() {
            root = Some((start, len));
        }
        if workbook.is_none() && name.as_bytes().eq_ignore_ascii_case(b"Workbook") {
            workbook = Some((start, len));
        }
        if book.is_none() && name.as_bytes().eq_ignore_ascii_case(b"Book") {
            book = Some((start, len));
        }
    }
    let Some(root) = root else {
        return Err(bad("复合文档没有目录"));
    };
    if version != 3 && root.0 == ENDOFCHAIN {
        return Err(bad("复合文档的根目录为空"));
    }
    let (mini, minifat) = if mini_fat_len > 0 {
        let mini = sectors.chain(root.0, &fats, root.1)?;
        let table = sectors.chain(mini_fat_start, &fats, mini_fat_len.saturating_mul(size))?;
        if table.len() % 4 != 0 {
            return Err(bad("复合文档的迷你 FAT 不完整"));
        }
        (mini, le32s(&table).collect::<Vec<u32>>())
    } else {
        (Vec::new(), Vec::new())
    };
    let (start, len) = workbook.or(book).ok_or_else(|| bad("找不到 Workbook 流"))?;
    if len < 4096 {
        mini_chain(&mini, &minifat, maxid, start, len)
    } else {
        sectors.chain(start, &fats, len)
    }
}

// ---------------------------------------------------------------------------------------------
// .xls: the BIFF records, walked as calamine walks them

/// A record as calamine's `RecordIter` yields it: the record and the CONTINUE records after it.
struct Rec<'a> {
    typ: u16,
    data: &'a [u8],
    /// Offset of the first CONTINUE record, and how many follow.
    first_cont: usize,
    conts: usize,
    /// Offset after the last CONTINUE record.
    end: usize,
}

fn record_at(s: &[u8], pos: usize) -> Result<Option<Rec<'_>>, FileError> {
    let rest = s.get(pos..).unwrap_or(&[]);
    if rest.len() < 4 {
        return if rest.is_empty() {
            Ok(None)
        } else {
            Err(bad(format!("工作簿流在偏移 {pos} 处截断")))
        };
    }
    let typ = u16_at(rest, 0);
    let len = usize::from(u16_at(rest, 2));
    let Some(data) = rest.get(4..4 + len) else {
        return Err(bad(format!(
            "偏移 {pos} 处的记录（类型 0x{typ:04X}，长度 {len}）超出工作簿流的末尾"
        )));
    };
    let first_cont = pos + 4 + len;
    let mut end = first_cont;
    let mut conts = 0usize;
    loop {
        let next = s.get(end..).unwrap_or(&[]);
        if next.len() <= 4 || u16_at(next, 0) != 0x003C {
            break;
        }
        let l = usize::from(u16_at(next, 2));
        if next.len() < l + 4 {
            return Err(bad(format!("偏移 {end} 处的续记录超出工作簿流的末尾")));
        }
        conts += 1;
        if conts > MAX_CONTINUE_RECORDS {
            return Err(bad(format!(
                "偏移 {pos} 处的记录后有超过 {} 个续记录",
                grouped(MAX_CONTINUE_RECORDS as u64)
            )));
        }
        end += 4 + l;
    }
    Ok(Some(Rec {
        typ,
        data,
        first_cont,
        conts,
        end,
    }))
}

/// A record whose fixed part calamine reads without checking its length.
fn need(r: &Rec<'_>, n: usize) -> Result<(), FileError> {
    if r.data.len() < n {
        return Err(bad(format!("类型 0x{:04X} 的记录过短（{} 字节）", r.typ, r.data.len())));
    }
    Ok(())
}

/// What the globals substream tells the sheets' walk.
struct Globals {
    /// Stream offsets of the sheets' BOF records, in BOUNDSHEET order.
    sheets: Vec<usize>,
    biff8: bool,
    /// Upper bounds (bytes) of a sheet name and of a defined name as a formula shows them.
    sheet_name: u64,
    defined_name: u64,
}

/// The workbook stream: the globals, then each sheet from its BOUNDSHEET position, as calamine's
/// `parse_workbook` reads them.
fn check_biff(s: &[u8]) -> Result<(), FileError> {
    let mut g = Globals {
        sheets: Vec::new(),
        biff8: true,
        sheet_name: 4,
        defined_name: 5,
    };
    let mut pos = 0usize;
    while let Some(r) = record_at(s, pos)? {
        pos = r.end;
        match r.typ {
            // FilePass: calamine stops with its password error (reported as F_ENCRYPTED).
            0x002F => {
                need(&r, 2)?;
                if u16_at(r.data, 0) != 0 {
                    return Ok(());
                }
            }
            0x0042 | 0x0022 => need(&r, 2)?,
            // BoundSheet8: u32 stream position of the sheet's BOF, state, type, name.
            0x0085 => {
                need(&r, 6)?;
                let at = u32_at(r.data, 0) as usize;
                if s.get(at..at + 4).is_none() || u16_at(s, at) != 0x0809 {
                    return Err(bad(format!(
                        "第 {} 个工作表的起始位置（偏移 {at}）不是工作簿流中的工作表开头（流长 {} 字节）",
                        g.sheets.len() + 1,
                        s.len()
                    )));
                }
                g.sheets.push(at);
                g.sheet_name = g.sheet_name.max(3 * u64::from(r.data.get(6).copied().unwrap_or(0)));
            }
            0x0809 => {
                need(&r, 2)?;
                let dt = if r.data.len() >= 4 { u16_at(r.data, 2) } else { 0 };
                g.biff8 = match u16_at(r.data, 0) {
                    0x0200 | 0x0002 | 0x0007 | 0x0300 | 0x0400 | 0x0500 => false,
                    0 => dt != 0x1000,
                    _ => true,
                };
            }
            0x0018 => check_lbl(r.data, &mut g)?,
            0x0017 if g.biff8 => need(&r, 2)?,
            0x00FC => check_sst_record(s, &r)?,
            0x000A => break,
            _ => {}
        }
    }
    let cx = FormulaCtx {
        biff8: g.biff8,
        sheet_name: g.sheet_name + 1,
        defined_name: g.defined_name,
    };
    let mut t = Totals::default();
    let mut spans = Vec::with_capacity(g.sheets.len());
    for (k, &at) in g.sheets.iter().enumerate() {
        let end = check_sheet(s, k + 1, at, &cx, &mut t)?;
        spans.push((at, end));
    }
    // Each sheet is read from its BOUNDSHEET position: two sheets must not share records.
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(bad(OVERLAP));
    }
    Ok(())
}

const OVERLAP: &str = "工作表的记录相互重叠（工作表位置重复，或工作表缺少结束记录）";

/// Lbl (a defined name): calamine reads its fixed part, the name, and the first token of its
/// formula without checking lengths.
fn check_lbl(d: &[u8], g: &mut Globals) -> Result<(), FileError> {
    let broken = || bad("定义名称（Lbl 记录）已损坏");
    if d.len() < 14 {
        return Err(broken());
    }
    let cch = u64::from(d[3]);
    let cce = usize::from(u16_at(d, 4));
    g.defined_name = g.defined_name.max(3 * cch);
    let Some(rgce) = d.len().checked_sub(cce).and_then(|from| d.get(from..)) else {
        return Err(broken());
    };
    let needed = match (rgce.first().copied().unwrap_or(0), g.biff8) {
        (0x3a | 0x5a | 0x7a, true) => 7,
        (0x3a | 0x5a | 0x7a, false) => 18,
        (0x3b | 0x5b | 0x7b, true) => 11,
        (0x3b | 0x5b | 0x7b, false) => 21,
        (0x3c | 0x5c | 0x7c | 0x3d | 0x5d | 0x7d, true) => 3,
        (0x3c | 0x5c | 0x7c | 0x3d | 0x5d | 0x7d, false) => 13,
        _ => 0,
    };
    if rgce.len() < needed {
        return Err(broken());
    }
    Ok(())
}

/// A record's data split over CONTINUE records, read the way calamine's `Record` reads it.
struct Parts<'a> {
    data: &'a [u8],
    rest: &'a [&'a [u8]],
}

impl<'a> Parts<'a> {
    fn next_part(&mut self) -> bool {
        let rest: &'a [&'a [u8]] = self.rest;
        match rest.split_first() {
            Some((&d, tail)) => {
                self.data = d;
                self.rest = tail;
                true
            }
            None => false,
        }
    }

    fn skip(&mut self, mut n: usize) -> bool {
        while n > 0 {
            if self.data.is_empty() && !self.next_part() {
                return false;
            }
            let data: &'a [u8] = self.data;
            let l = n.min(data.len());
            self.data = &data[l..];
            n -= l;
        }
        true
    }
}

/// SST: calamine's `parse_sst` reads the strings one by one, with unchecked reads of the optional
/// fields; the number of strings is capped (each is a `String`, 3 bytes can make one).
fn check_sst_record(s: &[u8], r: &Rec<'_>) -> Result<(), FileError> {
    let broken = || bad("共享字符串表（SST 记录）已损坏");
    let mut conts: Vec<&[u8]> = Vec::with_capacity(r.conts);
    let mut p = r.first_cont;
    for _ in 0..r.conts {
        let l = usize::from(u16_at(s, p + 2));
        conts.push(s.get(p + 4..p + 4 + l).unwrap_or(&[]));
        p += 4 + l;
    }
    let Some(body) = r.data.get(8..) else {
        return Err(broken());
    };
    let mut rd = Parts {
        data: body,
        rest: &conts,
    };
    let mut count = 0u64;
    while !rd.data.is_empty() || rd.next_part() {
        count += 1;
        if count > MAX_SST_STRINGS {
            return Err(too_large(format!(
                "共享字符串表的字符串超过 {} 个的上限",
                grouped(MAX_SST_STRINGS)
            )));
        }
        if rd.data.is_empty() {
            continue;
        }
        let Some(&[c0, c1, flags]) = rd.data.get(..3) else {
            return Err(broken());
        };
        let cch = usize::from(u16::from_le_bytes([c0, c1]));
        rd.data = &rd.data[3..];
        let mut high = flags & 0x1 != 0;
        let mut runs = 0usize;
        let mut ext = 0usize;
        if flags & 0x8 != 0 {
            if rd.data.len() < 2 {
                return Err(broken());
            }
            runs = usize::from(u16_at(rd.data, 0));
            rd.data = &rd.data[2..];
        }
        if flags & 0x4 != 0 {
            if rd.data.len() < 4 {
                return Err(broken());
            }
            // calamine: `read_i32(..) as usize` (a negative size is huge and fails the skip).
            ext = u32_at(rd.data, 0) as i32 as usize;
            rd.data = &rd.data[4..];
        }
        let mut left = cch;
        while left > 0 {
            let l = if high {
                (rd.data.len() / 2).min(left)
            } else {
                rd.data.len().min(left)
            };
            rd.data = &rd.data[if high { 2 * l } else { l }..];
            left -= l;
            if left > 0 {
                if !rd.next_part() {
                    return Err(broken());
                }
                let Some((&f, rest)) = rd.data.split_first() else {
                    return Err(broken());
                };
                high = f & 0x1 != 0;
                rd.data = rest;
            }
        }
        if !rd.skip(runs.saturating_mul(4)) || !rd.skip(ext) {
            return Err(broken());
        }
    }
    Ok(())
}

/// Counts of all the sheets of a workbook.
#[derive(Default)]
struct Totals {
    /// Cells of the dense ranges calamine builds (values and formulas).
    area: u64,
    /// Cells calamine collects before building them.
    cells: u64,
    /// Bytes of records walked by the sheets: sheets that overlap walk some twice.
    walked: usize,
    formula_text: u64,
    formula_work: u64,
}

/// The bounding box of a set of cells, as `Range::from_sparse` computes it.
#[derive(Default, Clone, Copy)]
struct BBox {
    any: bool,
    r0: u32,
    r1: u32,
    c0: u32,
    c1: u32,
}

impl BBox {
    fn add(&mut self, r: u32, c: u32) {
        if !self.any {
            *self = BBox {
                any: true,
                r0: r,
                r1: r,
                c0: c,
                c1: c,
            };
            return;
        }
        self.r0 = self.r0.min(r);
        self.r1 = self.r1.max(r);
        self.c0 = self.c0.min(c);
        self.c1 = self.c1.max(c);
    }

    fn rows(&self) -> u64 {
        if self.any { u64::from(self.r1 - self.r0) + 1 } else { 0 }
    }

    fn cols(&self) -> u64 {
        if self.any { u64::from(self.c1 - self.c0) + 1 } else { 0 }
    }

    fn area(&self) -> u64 {
        self.rows() * self.cols()
    }
}

fn xls_cell(k: usize, row: u16, col: u16) -> Result<(), FileError> {
    if u64::from(col) < XLS_MAX_COLS {
        return Ok(());
    }
    Err(err(
        "F_CELL_REF",
        format!(
            "第 {k} 个工作表的单元格位置超出 .xls 格式的范围（最多 65,536 行、256 列）：第 {} 行第 {} 列",
            u32::from(row) + 1,
            u32::from(col) + 1
        ),
    ))
}

/// DIMENSIONS: calamine reserves rows × columns cells for it (with unchecked subtractions).
fn check_dimensions(d: &[u8], k: usize) -> Result<(), FileError> {
    let (rf, rl, cf, cl) = match d.len() {
        10 => (
            u64::from(u16_at(d, 0)),
            u64::from(u16_at(d, 2)),
            u64::from(u16_at(d, 4)),
            u64::from(u16_at(d, 6)),
        ),
        14 | 16 => (
            u64::from(u32_at(d, 0)),
            u64::from(u32_at(d, 4)),
            u64::from(u16_at(d, 8)),
            u64::from(u16_at(d, 10)),
        ),
        n => return Err(bad(format!("第 {k} 个工作表的 DIMENSIONS 记录长度无效（{n} 字节）"))),
    };
    if rl > XLS_MAX_ROWS || cl > XLS_MAX_COLS {
        return Err(err(
            "F_CELL_REF",
            format!(
                "第 {k} 个工作表声明的范围（第 {}–{rl} 行、第 {}–{cl} 列）超出 .xls 格式的范围（最多 65,536 行、256 列）",
                rf + 1,
                cf + 1
            ),
        ));
    }
    if rl >= 1 && cl >= 1 {
        // calamine: a first column past 0xFF, or after the last, is taken as 0.
        let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
        if rf > rl - 1 || cf > cl - 1 {
            return Err(bad(format!("第 {k} 个工作表的 DIMENSIONS 记录范围无效")));
        }
        let (rows, cols) = (rl - rf, cl - cf);
        if rows * cols > MAX_XLS_CELLS {
            return Err(too_large(format!(
                "第 {k} 个工作表声明的范围有 {} 行 × {cols} 列，超过 {} 个单元格的上限",
                grouped(rows),
                grouped(MAX_XLS_CELLS)
            )));
        }
    }
    Ok(())
}

/// One sheet, from its BOF to its EOF, as calamine's sheet loop reads it (records of nested
/// substreams such as charts are skipped). Returns the offset after the last record read.
fn check_sheet(s: &[u8], k: usize, start: usize, cx: &FormulaCtx, t: &mut Totals) -> Result<usize, FileError> {
    let mut pos = start;
    let mut seen_bof = false;
    let mut depth = 0usize;
    let mut fmla = (0u32, 0u32);
    let mut cells = BBox::default();
    let mut formulas = BBox::default();
    while let Some(r) = record_at(s, pos)? {
        t.walked += r.end - pos;
        if t.walked > s.len() {
            return Err(bad(OVERLAP));
        }
        pos = r.end;
        if depth > 0 {
            match r.typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let d = r.data;
        match r.typ {
            0x0809 => {
                if seen_bof {
                    depth += 1;
                } else {
                    seen_bof = true;
                }
            }
            0x0200 => check_dimensions(d, k)?,
            // Number, Label, RString, BoolErr, RK, LabelSst: (row, column) first.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD => {
                let min = match r.typ {
                    0x0203 => 14,
                    0x0205 => 8,
                    0x027E | 0x00FD => 10,
                    _ => 6,
                };
                need(&r, min)?;
                let (row, col) = (u16_at(d, 0), u16_at(d, 2));
                xls_cell(k, row, col)?;
                cells.add(row.into(), col.into());
                t.cells += 1;
            }
            // String (a formula's text value): at the last formula's cell.
            0x0207 => {
                cells.add(fmla.0, fmla.1);
                t.cells += 1;
            }
            // MulRk: row, first column, 6 bytes per cell, last column.
            0x00BD => {
                need(&r, 6)?;
                let row = u16_at(d, 0);
                let (first, last) = (u16_at(d, 2), u16_at(d, d.len() - 2));
                if last < first {
                    return Err(bad(format!("第 {k} 个工作表的 MULRK 记录列范围颠倒")));
                }
                xls_cell(k, row, last)?;
                let n = usize::from(last - first) + 1;
                if d.len() != 6 + 6 * n {
                    return Err(bad(format!("第 {k} 个工作表的 MULRK 记录长度不符")));
                }
                cells.add(row.into(), first.into());
                cells.add(row.into(), last.into());
                t.cells += n as u64;
            }
            // MergeCells: a count, then 8 bytes per range, read unchecked.
            0x00E5 => {
                need(&r, 2)?;
                if d.len() < 2 + 8 * usize::from(u16_at(d, 0)) {
                    return Err(bad(format!("第 {k} 个工作表的 MERGECELLS 记录过短")));
                }
            }
            0x000A => break,
            0x0006 => {
                need(&r, 20)?;
                let (row, col) = (u16_at(d, 0), u16_at(d, 2));
                xls_cell(k, row, col)?;
                fmla = (row.into(), col.into());
                cells.add(fmla.0, fmla.1);
                formulas.add(fmla.0, fmla.1);
                t.cells += 2;
                let (len, work) = formula_cost(d.get(20..).unwrap_or(&[]), cx)?;
                if len > MAX_FORMULA_TEXT {
                    return Err(too_large(format!(
                        "第 {k} 个工作表第 {} 行第 {} 列的公式展开后超过 {} MB",
                        u32::from(row) + 1,
                        u32::from(col) + 1,
                        MAX_FORMULA_TEXT >> 20
                    )));
                }
                t.formula_text += len;
                t.formula_work = t.formula_work.saturating_add(work);
                if t.formula_text > MAX_FORMULA_TEXT_TOTAL || t.formula_work > MAX_FORMULA_WORK {
                    return Err(too_large("工作簿中的公式总量超过可读取的上限"));
                }
            }
            // Blank and MulBlank: calamine skips them, but their columns must be valid too.
            0x0201 if d.len() >= 4 => {
                xls_cell(k, u16_at(d, 0), u16_at(d, 2))?;
            }
            0x00BE if d.len() >= 6 => {
                xls_cell(k, u16_at(d, 0), u16_at(d, 2))?;
                xls_cell(k, u16_at(d, 0), u16_at(d, d.len() - 2))?;
            }
            _ => {}
        }
    }
    if cells.area() > MAX_XLS_CELLS {
        return Err(too_large(format!(
            "第 {k} 个工作表的单元格分布在 {} 行 × {} 列的范围内，超过 {} 个单元格的上限",
            grouped(cells.rows()),
            grouped(cells.cols()),
            grouped(MAX_XLS_CELLS)
        )));
    }
    t.area += cells.area() + formulas.area();
    if t.area > MAX_XLS_TOTAL_CELLS || t.cells > MAX_XLS_TOTAL_CELLS {
        return Err(too_large(format!(
            "工作簿的单元格总数超过 {} 个的上限",
            grouped(MAX_XLS_TOTAL_CELLS)
        )));
    }
    Ok(pos)
}

/// What a formula's text can refer to.
struct FormulaCtx {
    biff8: bool,
    /// Upper bounds (bytes) of a sheet name (with its `!`) and of a defined name.
    sheet_name: u64,
    defined_name: u64,
}

/// Moves `r` past its first `n` bytes; false when it has fewer (calamine would panic).
fn advance(r: &mut &[u8], n: usize) -> bool {
    let cur: &[u8] = r;
    match cur.get(n..) {
        Some(rest) => {
            *r = rest;
            true
        }
        None => false,
    }
}

/// Upper bounds of the text calamine's `parse_formula` builds from a FORMULA record's formula
/// (`rgce`, from its `cce` field on) and of the bytes it moves doing so (it inserts at the front
/// of the text: 255 spaces per 4-byte token). The token walk mirrors calamine's: where calamine
/// returns an error (a formula it cannot show) the walk stops, which is harmless; where calamine
/// would slice past the token bytes or overflow (a panic) the file is refused. Operand stack
/// errors are not tracked: the walk goes on, which can only overestimate.
fn formula_cost(rgce: &[u8], cx: &FormulaCtx) -> Result<(u64, u64), FileError> {
    let panic = || bad("公式记录已损坏");
    let Some(&[c0, c1]) = rgce.get(..2) else {
        return Err(panic());
    };
    let cce = usize::from(u16::from_le_bytes([c0, c1]));
    let Some(mut r) = rgce.get(2..2 + cce) else {
        return Err(panic());
    };
    let (mut len, mut work, mut operands) = (0u64, 0u64, 0u64);
    while let Some((&ptg, rest)) = r.split_first() {
        r = rest;
        match ptg {
            // PtgRef3d: ixti, row (shown as row + 1 in u16), column.
            0x3a | 0x5a | 0x7a => {
                if r.len() < 6 || u16_at(r, 2) == 0xFFFF {
                    return Err(panic());
                }
                r = &r[6..];
                operands += 1;
                len += cx.sheet_name + 12;
            }
            // PtgArea3d, PtgRefErr3d, PtgAreaErr3d.
            0x3b | 0x5b | 0x7b | 0x3c | 0x5c | 0x7c | 0x3d | 0x5d | 0x7d => {
                let n = if matches!(ptg, 0x3c | 0x5c | 0x7c) { 6 } else { 10 };
                if !advance(&mut r, n) {
                    return Err(panic());
                }
                operands += 1;
                len += cx.sheet_name + 26;
            }
            // PtgExp: calamine checks its length itself.
            0x01 => {
                operands += 1;
                if !advance(&mut r, 4) {
                    break;
                }
            }
            // Binary operators: the right operand is split off and appended again.
            0x03..=0x11 => {
                work += len;
                len += 2;
            }
            // Unary plus/minus and parentheses: inserted before the operand.
            0x12 | 0x13 => {
                work += len;
                len += 1;
            }
            0x14 => len += 1,
            0x15 => {
                work += len;
                len += 2;
            }
            0x16 => operands += 1,
            // PtgStr: calamine checks its length itself.
            0x17 => {
                operands += 1;
                len += 2;
                let Some(&cch) = r.first() else { break };
                let cch = usize::from(cch);
                let consumed = if cx.biff8 {
                    let Some(&flags) = r.get(1) else { break };
                    1 + if flags & 0x1 != 0 { 2 * cch } else { cch }
                } else {
                    cch
                };
                if !advance(&mut r, 1 + consumed) {
                    break;
                }
                len += 3 * cch as u64;
            }
            0x18 => {
                if !advance(&mut r, 5) {
                    return Err(panic());
                }
            }
            // PtgAttr*.
            0x19 => {
                let Some((&etpg, rest)) = r.split_first() else {
                    return Err(panic());
                };
                r = rest;
                match etpg {
                    0x01 | 0x02 | 0x08 | 0x20 | 0x21 => {
                        if !advance(&mut r, 2) {
                            return Err(panic());
                        }
                    }
                    // PtgAttrChoose: a count, then 2 bytes per choice and one more.
                    0x04 => {
                        if r.len() < 2 {
                            return Err(panic());
                        }
                        let n = usize::from(u16_at(r, 0)) + 1;
                        if !advance(&mut r, 2 + 2 * n) {
                            return Err(panic());
                        }
                    }
                    // PtgAttrSum.
                    0x10 => {
                        if !advance(&mut r, 2) {
                            return Err(panic());
                        }
                        work += len;
                        len += 5;
                    }
                    // PtgAttrSpace: up to 255 characters, each inserted at the operand's start.
                    0x40 | 0x41 => {
                        let Some(&kind) = r.first() else {
                            return Err(panic());
                        };
                        if kind > 0x06 {
                            break;
                        }
                        let Some(&cch) = r.get(1) else {
                            return Err(panic());
                        };
                        let cch = u64::from(cch);
                        work = work.saturating_add(cch * (len + cch));
                        len += cch;
                        r = &r[2..];
                    }
                    _ => break,
                }
            }
            // PtgErr: an error code calamine does not know stops it.
            0x1C => {
                let Some((&e, rest)) = r.split_first() else {
                    return Err(panic());
                };
                r = rest;
                operands += 1;
                if !matches!(e, 0x00 | 0x07 | 0x0F | 0x17 | 0x1D | 0x24 | 0x2A | 0x2B) {
                    break;
                }
                len += 14;
            }
            // PtgBool, PtgInt, PtgNum (a float printed in full: up to ~330 characters), PtgArray.
            0x1D | 0x1E | 0x1F | 0x20 | 0x40 | 0x60 => {
                let (n, shown) = match ptg {
                    0x1D => (1, 5),
                    0x1E => (2, 5),
                    0x1F => (8, 330),
                    _ => (7, 10),
                };
                if !advance(&mut r, n) {
                    return Err(panic());
                }
                operands += 1;
                len += shown;
            }
            // PtgFuncVar: argument count, then the function index.
            0x22 | 0x42 | 0x62 => {
                if r.len() < 3 {
                    return Err(panic());
                }
                let argc = u64::from(r[0]);
                r = &r[3..];
                work += len;
                len += 24 + argc;
                operands += 1;
            }
            // PtgFunc: the function index (its argument count is calamine's table).
            0x21 | 0x41 | 0x61 => {
                if !advance(&mut r, 2) {
                    return Err(panic());
                }
                work += len;
                len += 24 + operands.min(255);
                operands += 1;
            }
            // PtgName: a one-based index, read as `index - 1`.
            0x23 | 0x43 | 0x63 => {
                if r.len() < 4 || u32_at(r, 0) == 0 {
                    return Err(panic());
                }
                r = &r[4..];
                operands += 1;
                len += cx.defined_name + 5;
            }
            // PtgRef: BIFF8 shows the row as row + 1 in u16.
            0x24 | 0x44 | 0x64 => {
                let ok = if cx.biff8 {
                    r.len() >= 4 && u16_at(r, 0) != 0xFFFF && advance(&mut r, 4)
                } else {
                    advance(&mut r, 3)
                };
                if !ok {
                    return Err(panic());
                }
                operands += 1;
                len += 12;
            }
            // PtgArea, PtgRefErr, PtgAreaErr, PtgNameX.
            0x25 | 0x45 | 0x65 | 0x2A | 0x4A | 0x6A | 0x2B | 0x4B | 0x6B | 0x39 | 0x59 => {
                let n = match (ptg, cx.biff8) {
                    (0x25 | 0x45 | 0x65 | 0x2B | 0x4B | 0x6B, true) => 8,
                    (0x25 | 0x45 | 0x65 | 0x2B | 0x4B | 0x6B, false) => 6,
                    (0x2A | 0x4A | 0x6A, true) => 4,
                    (0x2A | 0x4A | 0x6A, false) => 3,
                    _ => 6,
                };
                if !advance(&mut r, n) {
                    return Err(panic());
                }
                operands += 1;
                len += 24;
            }
            _ => break,
        }
        if len > MAX_FORMULA_TEXT {
            break;
        }
    }
    Ok((len, work))
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

    // --- BIFF ---

    fn rec(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
        out.extend_from_slice(&typ.to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    }

    fn bof(dt: u16) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [0x0600u16, dt, 0x0DBB, 0x07CC] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&6u32.to_le_bytes());
        d
    }

    fn cell(row: u16, col: u16, rest: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&row.to_le_bytes());
        d.extend_from_slice(&col.to_le_bytes());
        d.extend_from_slice(rest);
        d
    }

    fn label(row: u16, col: u16, text: &str) -> Vec<u8> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let mut rest = vec![0, 0];
        rest.extend_from_slice(&(units.len() as u16).to_le_bytes());
        rest.push(1);
        for u in units {
            rest.extend_from_slice(&u.to_le_bytes());
        }
        cell(row, col, &rest)
    }

    fn number(row: u16, col: u16) -> Vec<u8> {
        let mut rest = vec![0, 0];
        rest.extend_from_slice(&1.5f64.to_le_bytes());
        cell(row, col, &rest)
    }

    fn dims(rf: u32, rl: u32, cf: u16, cl: u16) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&rf.to_le_bytes());
        d.extend_from_slice(&rl.to_le_bytes());
        d.extend_from_slice(&cf.to_le_bytes());
        d.extend_from_slice(&cl.to_le_bytes());
        d.extend_from_slice(&[0, 0]);
        d
    }

    /// A BIFF8 stream: globals (with `globals` records) and one sheet per entry of `sheets`;
    /// `pos` overrides BOUNDSHEET positions.
    fn biff(globals: &[(u16, Vec<u8>)], sheets: &[Vec<(u16, Vec<u8>)>], pos: &dyn Fn(usize, u32) -> u32) -> Vec<u8> {
        let mut s = Vec::new();
        rec(&mut s, 0x0809, &bof(0x0005));
        rec(&mut s, 0x0042, &1200u16.to_le_bytes());
        for (t, d) in globals {
            rec(&mut s, *t, d);
        }
        let mut slots = Vec::new();
        for k in 0..sheets.len() {
            slots.push(s.len() + 4);
            let name = format!("S{k}");
            let mut d = vec![0u8; 4];
            d.extend_from_slice(&[0, 0, name.len() as u8, 0]);
            d.extend_from_slice(name.as_bytes());
            rec(&mut s, 0x0085, &d);
        }
        rec(&mut s, 0x000A, &[]);
        for (k, records) in sheets.iter().enumerate() {
            let at = s.len() as u32;
            s[slots[k]..slots[k] + 4].copy_from_slice(&pos(k, at).to_le_bytes());
            rec(&mut s, 0x0809, &bof(0x0010));
            for (t, d) in records {
                rec(&mut s, *t, d);
            }
            rec(&mut s, 0x000A, &[]);
        }
        s
    }

    fn one_sheet(records: Vec<(u16, Vec<u8>)>) -> Vec<u8> {
        biff(&[], &[records], &|_, at| at)
    }

    fn table() -> Vec<(u16, Vec<u8>)> {
        vec![
            (0x0200, dims(0, 2, 0, 2)),
            (0x0204, label(0, 0, "学号")),
            (0x0204, label(0, 1, "姓名")),
            (0x0203, number(1, 0)),
            (0x0204, label(1, 1, "张三")),
        ]
    }

    fn rule(s: &[u8]) -> &'static str {
        match check_biff(s) {
            Ok(()) => "ok",
            Err(e) => e.rule,
        }
    }

    #[test]
    fn a_well_formed_stream_passes() {
        assert_eq!(rule(&one_sheet(table())), "ok");
        // A chart substream nested in the sheet, and two sheets.
        let mut t = table();
        t.push((0x0809, bof(0x0020)));
        t.push((0x0203, number(0, 9000)));
        t.push((0x000A, vec![]));
        assert_eq!(rule(&biff(&[], &[t, table()], &|_, at| at)), "ok");
        // Trailing zero padding after the last EOF is never read.
        let mut padded = one_sheet(table());
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(rule(&padded), "ok");
    }

    #[test]
    fn a_sheet_position_outside_the_stream_or_not_at_a_bof_is_refused() {
        assert_eq!(rule(&biff(&[], &[table()], &|_, _| 0x7FFF_FFFF)), "F_BAD_WORKBOOK");
        assert_eq!(rule(&biff(&[], &[table()], &|_, at| at + 4)), "F_BAD_WORKBOOK");
        let s = biff(&[], &[table()], &|_, at| at);
        assert_eq!(rule(&biff(&[], &[table()], &|_, _| s.len() as u32)), "F_BAD_WORKBOOK");
        // Two sheets at the same position: calamine would read the cells twice.
        let first = biff(&[], &[table(), table()], &|_, at| at);
        let at0 = u32_at(&first, first.windows(2).position(|w| w == [0x85u8, 0x00]).unwrap() + 4);
        assert_eq!(rule(&biff(&[], &[table(), table()], &|_, _| at0)), "F_BAD_WORKBOOK");
    }

    #[test]
    fn a_record_running_past_the_stream_is_refused() {
        // The sheet's EOF replaced by a NUMBER record that claims 14 bytes and has 1.
        let mut s = one_sheet(table());
        let n = s.len();
        s.truncate(n - 4);
        s.extend_from_slice(&[0x03, 0x02, 0x0E, 0x00, 0x01]);
        assert_eq!(rule(&s), "F_BAD_WORKBOOK");
        assert_eq!(rule(&[0x09, 0x08, 0x10]), "F_BAD_WORKBOOK");
        assert_eq!(
            rule(&[0x09, 0x08, 0x01, 0x00, 0x06]),
            "F_BAD_WORKBOOK",
            "a BOF calamine reads 2 bytes of"
        );
    }

    #[test]
    fn a_far_cell_and_a_huge_dimension_are_refused() {
        let mut t = table();
        t.push((0x0203, number(65535, 65535)));
        assert_eq!(rule(&one_sheet(t)), "F_CELL_REF");
        let mut t = table();
        t.push((0x0201, cell(3, 300, &[0, 0])));
        assert_eq!(rule(&one_sheet(t)), "F_CELL_REF", "a blank cell past the last column");
        let mut t = table();
        t[0] = (0x0200, dims(0, 0x7FFF_FFFF, 0, 256));
        assert_eq!(rule(&one_sheet(t)), "F_CELL_REF");
        let mut t = table();
        t[0] = (0x0200, dims(0, 65_536, 0, 256));
        assert_eq!(rule(&one_sheet(t)), "F_TOO_LARGE");
        let mut t = table();
        t[0] = (0x0200, dims(10, 5, 0, 2));
        assert_eq!(
            rule(&one_sheet(t)),
            "F_BAD_WORKBOOK",
            "calamine would subtract past zero"
        );
        let mut t = table();
        t[0] = (0x0200, vec![0; 12]);
        assert_eq!(rule(&one_sheet(t)), "F_BAD_WORKBOOK");
        let mut t = table();
        t[0] = (0x0200, dims(0, 0, 0, 0));
        assert_eq!(rule(&one_sheet(t)), "ok", "an empty sheet's dimensions");
        let mut t = table();
        t[0] = (0x0200, dims(0, 1, 300, 2));
        assert_eq!(
            rule(&one_sheet(t)),
            "ok",
            "calamine takes a first column past 0xFF as 0"
        );
    }

    #[test]
    fn cells_spread_over_a_box_too_large_are_refused() {
        let mut t = table();
        t.push((0x0203, number(65535, 255)));
        assert_eq!(rule(&one_sheet(t)), "F_TOO_LARGE");
        // Each sheet within the limit, the workbook not.
        let mut t = table();
        t.push((0x0203, number(40_000, 200)));
        assert_eq!(rule(&one_sheet(t.clone())), "ok");
        assert_eq!(rule(&biff(&[], &[t.clone(), t.clone(), t], &|_, at| at)), "F_TOO_LARGE");
    }

    #[test]
    fn mulrk_and_mergecells_are_checked_as_calamine_reads_them() {
        let mulrk = |first: u16, last: u16, cells: usize| {
            let mut rest = first.to_le_bytes().to_vec();
            rest.extend(std::iter::repeat_n(0u8, 6 * cells));
            rest.extend_from_slice(&last.to_le_bytes());
            let mut d = 1u16.to_le_bytes().to_vec();
            d.extend_from_slice(&rest);
            d
        };
        let with = |r: (u16, Vec<u8>)| {
            let mut t = table();
            t.push(r);
            rule(&one_sheet(t))
        };
        assert_eq!(with((0x00BD, mulrk(2, 4, 3))), "ok");
        assert_eq!(with((0x00BD, mulrk(4, 2, 3))), "F_BAD_WORKBOOK");
        assert_eq!(with((0x00BD, mulrk(2, 4, 2))), "F_BAD_WORKBOOK");
        assert_eq!(with((0x00BD, mulrk(0, 65535, 1))), "F_CELL_REF");
        assert_eq!(with((0x00E5, vec![2, 0, 0, 0, 0, 0, 0, 0, 1, 0])), "F_BAD_WORKBOOK");
        assert_eq!(with((0x00E5, vec![1])), "F_BAD_WORKBOOK");
        assert_eq!(with((0x00E5, vec![1, 0, 0, 0, 1, 0, 0, 0, 1, 0])), "ok");
    }

    fn formula(tokens: &[u8]) -> (u16, Vec<u8>) {
        let mut d = cell(1, 2, &[0, 0]);
        d.extend_from_slice(&2.0f64.to_le_bytes());
        d.extend_from_slice(&[0; 6]);
        d.extend_from_slice(&(tokens.len() as u16).to_le_bytes());
        d.extend_from_slice(tokens);
        (0x0006, d)
    }

    #[test]
    fn formulas_calamine_would_choke_on_are_refused() {
        let with = |tokens: &[u8]| {
            let mut t = table();
            t.push(formula(tokens));
            rule(&one_sheet(t))
        };
        // =A1+1
        assert_eq!(with(&[0x24, 0, 0, 0, 0xC0, 0x1E, 1, 0, 0x03]), "ok");
        // An unknown token: calamine shows the formula as unrecognised, nothing more.
        assert_eq!(with(&[0x24, 0, 0, 0, 0xC0, 0xFF, 1, 2, 3]), "ok");
        // A reference to row 65536 + 1: an overflow.
        assert_eq!(with(&[0x24, 0xFF, 0xFF, 0, 0xC0]), "F_BAD_WORKBOOK");
        // A token cut short.
        assert_eq!(with(&[0x1F, 0, 0, 0]), "F_BAD_WORKBOOK");
        // A name index of 0 (calamine reads index - 1).
        assert_eq!(with(&[0x23, 0, 0, 0, 0]), "F_BAD_WORKBOOK");
        // An integer, then 16,000 PtgAttrSpace tokens of 255 spaces each: gigabytes of memmove.
        let mut tokens = vec![0x1E, 1, 0];
        for _ in 0..16_000 {
            tokens.extend_from_slice(&[0x19, 0x40, 0x00, 0xFF]);
        }
        assert_eq!(with(&tokens), "F_TOO_LARGE");
        // A formula record whose cce runs past its data.
        let (t, mut d) = formula(&[0x1E, 1, 0]);
        let n = d.len();
        d[20..22].copy_from_slice(&((n as u16) + 10).to_le_bytes());
        let mut tb = table();
        tb.push((t, d));
        assert_eq!(rule(&one_sheet(tb)), "F_BAD_WORKBOOK");
    }

    #[test]
    fn continue_records_are_followed_and_capped() {
        // An SST with two strings, the second split over a CONTINUE record.
        let mut sst = Vec::new();
        sst.extend_from_slice(&2u32.to_le_bytes());
        sst.extend_from_slice(&2u32.to_le_bytes());
        sst.extend_from_slice(&[2, 0, 0, b'a', b'b']);
        sst.extend_from_slice(&[4, 0, 1, b'c', 0]);
        let cont = vec![1, b'd', 0, b'e', 0, b'f', 0];
        let s = biff(&[(0x00FC, sst.clone()), (0x003C, cont)], &[table()], &|_, at| at);
        assert_eq!(rule(&s), "ok");
        // The second string needs more characters than there are, and no CONTINUE follows.
        let s = biff(&[(0x00FC, sst.clone())], &[table()], &|_, at| at);
        assert_eq!(rule(&s), "F_BAD_WORKBOOK");
        // A CONTINUE record with no bytes where calamine reads the next part's flags.
        let s = biff(&[(0x00FC, sst.clone()), (0x003C, vec![])], &[table()], &|_, at| at);
        assert_eq!(rule(&s), "F_BAD_WORKBOOK");
        // Rich-text flags with the run count missing.
        let mut cut = sst[..8].to_vec();
        cut.extend_from_slice(&[1, 0, 0x08, b'x']);
        let s = biff(&[(0x00FC, cut)], &[table()], &|_, at| at);
        assert_eq!(rule(&s), "F_BAD_WORKBOOK");
        // 40,001 empty CONTINUE records after one record.
        let flood: Vec<(u16, Vec<u8>)> = std::iter::once((0x0809u16, bof(0x0005)))
            .chain(std::iter::repeat_n((0x003Cu16, vec![]), MAX_CONTINUE_RECORDS + 1))
            .collect();
        let mut s = Vec::new();
        for (t, d) in &flood {
            rec(&mut s, *t, d);
        }
        rec(&mut s, 0x000A, &[]);
        assert_eq!(rule(&s), "F_BAD_WORKBOOK");
    }

    #[test]
    fn an_encrypted_workbook_is_left_to_calamine() {
        let s = biff(&[(0x002F, vec![1, 0, 0, 0])], &[table()], &|_, _| 0x7FFF_FFFF);
        assert_eq!(rule(&s), "ok", "calamine stops at FILEPASS with its password error");
    }

    // --- the compound file ---

    fn cfb_file(stream_name: &str, stream: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut cf =
            cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new())).unwrap();
        {
            let mut st = cf.create_stream(stream_name).unwrap();
            st.write_all(stream).unwrap();
        }
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    fn big_table() -> Vec<(u16, Vec<u8>)> {
        let mut t = table();
        t[0] = (0x0200, dims(0, 400, 0, 2));
        for r in 2..400 {
            t.push((0x0204, label(r, 1, "王小明")));
        }
        t
    }

    #[test]
    fn the_workbook_stream_is_read_from_the_compound_file_as_calamine_reads_it() {
        for t in [table(), big_table()] {
            let s = one_sheet(t);
            let file = cfb_file("/Workbook", &s);
            assert_eq!(workbook_stream(&file).unwrap(), s, "stream of {} bytes", s.len());
            assert!(check_xls_bytes(&file).is_ok());
            let file = cfb_file("/Book", &s);
            assert_eq!(workbook_stream(&file).unwrap(), s);
        }
        let mut t = table();
        t.push((0x0203, number(65535, 65535)));
        assert_eq!(
            check_xls_bytes(&cfb_file("/Workbook", &one_sheet(t))).unwrap_err().rule,
            "F_CELL_REF"
        );
        assert_eq!(
            check_xls_bytes(&cfb_file("/Other", &one_sheet(table())))
                .unwrap_err()
                .rule,
            "F_BAD_WORKBOOK"
        );
        assert_eq!(check_xls_bytes(b"short").unwrap_err().rule, "F_BAD_WORKBOOK");
    }

    #[test]
    fn cycles_and_runaway_chains_in_the_compound_file_are_refused() {
        let file = cfb_file("/Workbook", &one_sheet(big_table()));
        // The directory's sector made to point to itself in the FAT: calamine would read the
        // directory for ever (it has no length to stop at).
        let mut looped = file.clone();
        let dir = u32_at(&file, 48) as usize;
        let fat = u32_at(&file, 76) as usize;
        let at = (fat + 1) * 512 + 4 * dir;
        looped[at..at + 4].copy_from_slice(&(dir as u32).to_le_bytes());
        assert_eq!(check_xls_bytes(&looped).unwrap_err().rule, "F_BAD_WORKBOOK");
        // A DIFAT sector that lists itself as the next one: calamine would add 127 FAT sectors
        // per turn.
        let mut difat = file.clone();
        let id = (difat.len() / 512 - 1) as u32;
        let mut sector: Vec<u8> = std::iter::repeat_n(0u8, 508).collect();
        sector.extend_from_slice(&id.to_le_bytes());
        difat.extend_from_slice(&sector);
        difat[68..72].copy_from_slice(&id.to_le_bytes());
        assert_eq!(check_xls_bytes(&difat).unwrap_err().rule, "F_BAD_WORKBOOK");
        // A sector number past the end of the file.
        let mut far = file.clone();
        far[48..52].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
        assert_eq!(check_xls_bytes(&far).unwrap_err().rule, "F_BAD_WORKBOOK");
    }
}

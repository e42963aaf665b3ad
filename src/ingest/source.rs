//! Opening a source file: recognise the format and encoding, find the header row, match columns
//! by header text, and hand out data rows with the row number Excel shows.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};

use calamine::{Data, Reader, open_workbook_auto};

use crate::schema::{Catalog, ColumnDef, TableSchema};

/// A file-level failure: the whole file is refused with one clear message.
#[derive(Debug, Clone)]
pub struct FileError {
    pub rule: &'static str,
    pub detail: String,
}

impl FileError {
    fn new(rule: &'static str, detail: impl Into<String>) -> Self {
        FileError {
            rule,
            detail: detail.into(),
        }
    }
}

pub type Row = (u64, Vec<String>);

/// Where the data rows come from. CSV rows are read into one reused record, so a row costs no
/// allocation per cell. Workbook rows come in blocks: a legacy .xls sheet as one block, an .xlsx
/// sheet from its reader thread, to which each block goes back once read so that its cells'
/// strings are written again rather than allocated anew.
enum Rows {
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        record: csv::StringRecord,
        next_no: u64,
    },
    Blocks {
        block: Vec<Row>,
        pos: usize,
        feed: Option<Feed>,
    },
}

/// The two ends of an .xlsx reader thread's channels, on the worker's side.
struct Feed {
    rx: Receiver<Msg>,
    back: Sender<Vec<Row>>,
}

/// An opened, recognised source.
pub struct Source {
    pub table: &'static TableSchema,
    pub encoding: &'static str,
    pub sheet: String,
    /// For each schema column, the file column that holds it.
    pub mapping: Vec<Option<usize>>,
    rows: Rows,
}

impl Source {
    fn blocks(
        table: &'static TableSchema,
        encoding: &'static str,
        sheet: String,
        mapping: Vec<Option<usize>>,
        block: Vec<Row>,
        feed: Option<Feed>,
    ) -> Self {
        // `pos` is one before the first row: `next_row` advances first.
        Source {
            table,
            encoding,
            sheet,
            mapping,
            rows: Rows::Blocks {
                block,
                pos: usize::MAX,
                feed,
            },
        }
    }

    fn current(&self) -> &[String] {
        match &self.rows {
            Rows::Blocks { block, pos, .. } => block.get(*pos).map_or(&[][..], |r| &r.1[..]),
            Rows::Csv { .. } => &[],
        }
    }

    /// Advance to the next data row; returns its row number as Excel shows it.
    pub fn next_row(&mut self) -> Option<Result<u64, FileError>> {
        match &mut self.rows {
            Rows::Csv {
                reader,
                record,
                next_no,
            } => {
                let row_no = *next_no;
                *next_no += 1;
                match reader.read_record(record) {
                    Ok(true) => Some(Ok(row_no)),
                    Ok(false) => None,
                    Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                        Some(Err(FileError::new("F_ENCODING", format!("第 {row_no} 行: {e}"))))
                    }
                    Err(e) => Some(Err(FileError::new("F_TRUNCATED", format!("第 {row_no} 行: {e}")))),
                }
            }
            Rows::Blocks { block, pos, feed } => {
                *pos = pos.wrapping_add(1);
                while *pos >= block.len() {
                    let f = feed.as_ref()?;
                    let _ = f.back.send(std::mem::take(block));
                    match f.rx.recv().ok()? {
                        Msg::Rows(b) => (*block, *pos) = (b, 0),
                        Msg::Failed(e) => return Some(Err(e)),
                        Msg::Header(..) => return Some(Err(FileError::new("F_BAD_WORKBOOK", "bug: a second header"))),
                    }
                }
                Some(Ok(block[*pos].0))
            }
        }
    }

    /// Cell `k` (file column) of the current row; empty when the row is shorter.
    pub fn cell(&self, k: usize) -> &str {
        match &self.rows {
            Rows::Csv { record, .. } => record.get(k).unwrap_or(""),
            Rows::Blocks { .. } => self.current().get(k).map_or("", String::as_str),
        }
    }

    /// Whether every cell of the current row is blank.
    pub fn row_is_blank(&self) -> bool {
        match &self.rows {
            Rows::Csv { record, .. } => record.iter().all(|c| c.trim().is_empty()),
            Rows::Blocks { .. } => self.current().iter().all(|c| c.trim().is_empty()),
        }
    }
}

pub fn open(path: &Path, cat: &'static Catalog) -> Result<Source, FileError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "txt" => open_csv(path, cat),
        "xlsx" | "xlsm" | "xls" => open_workbook(path, cat),
        _ => Err(FileError::new("F_UNSUPPORTED", format!("扩展名 .{ext}"))),
    }
}

fn open_csv(path: &Path, cat: &'static Catalog) -> Result<Source, FileError> {
    let not_found = |e: std::io::Error| FileError::new("F_NOT_FOUND", e.to_string());
    let mut f = File::open(path).map_err(not_found)?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_full(&mut f, &mut head).map_err(not_found)?;
    head.truncate(n);
    let (encoding, label) = detect_encoding(&head);
    let mut f = File::open(path).map_err(not_found)?;
    // UTF-8 goes to the CSV reader as is (it checks UTF-8 per record); only other encodings pay
    // for a decoding pass.
    let input: Box<dyn Read + Send> = if encoding == encoding_rs::UTF_8 {
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            f.seek(SeekFrom::Start(3)).map_err(not_found)?;
        }
        Box::new(f)
    } else {
        Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding))
                .bom_override(true)
                .build(BufReader::with_capacity(1 << 20, f)),
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let header: Vec<String> = match reader.read_record(&mut record) {
        Ok(true) => record.iter().map(clean_header).collect(),
        Err(e) => return Err(FileError::new("F_ENCODING", e.to_string())),
        Ok(false) => return Err(FileError::new("F_EMPTY", "")),
    };
    let (table, mapping) = recognise(&header, cat)?;
    // Excel shows the header as row 1, so the first data row is row 2.
    Ok(Source {
        table,
        encoding: label,
        sheet: String::new(),
        mapping,
        rows: Rows::Csv {
            reader,
            record,
            next_no: 2,
        },
    })
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// UTF-8 (with or without BOM) if the first 64 KiB decode as UTF-8, else GB18030 (a superset of GBK).
pub fn detect_encoding(head: &[u8]) -> (&'static encoding_rs::Encoding, &'static str) {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return (encoding_rs::UTF_8, "UTF-8 (BOM)");
    }
    match std::str::from_utf8(head) {
        Ok(_) => (encoding_rs::UTF_8, "UTF-8"),
        // A multi-byte character cut at the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => (encoding_rs::UTF_8, "UTF-8"),
        Err(_) => (encoding_rs::GB18030, "GBK/GB18030"),
    }
}

fn clean_header(h: &str) -> String {
    h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '*' || c == '★')
        .to_string()
}

fn matches(col: &ColumnDef, h: &str) -> bool {
    col.header == h || col.aliases.iter().any(|a| a == h)
}

/// Which table a header row belongs to, and where each schema column is.
fn recognise(
    header: &[String],
    cat: &'static Catalog,
) -> Result<(&'static TableSchema, Vec<Option<usize>>), FileError> {
    let mut best: Option<(&'static TableSchema, Vec<&str>, usize)> = None;
    for t in cat.input_tables() {
        let missing: Vec<&str> = t
            .required_headers()
            .filter(|c| !header.iter().any(|h| matches(c, h)))
            .map(|c| c.header.as_str())
            .collect();
        let found = t
            .columns
            .iter()
            .filter(|c| header.iter().any(|h| matches(c, h)))
            .count();
        if missing.is_empty() {
            let mut mapping = Vec::with_capacity(t.columns.len());
            for c in &t.columns {
                let hits: Vec<usize> = header
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| matches(c, h))
                    .map(|(i, _)| i)
                    .collect();
                if hits.len() > 1 {
                    return Err(FileError::new(
                        "F_DUPLICATE_HEADER",
                        format!("“{}”出现 {} 次", c.header, hits.len()),
                    ));
                }
                mapping.push(hits.first().copied());
            }
            return Ok((t, mapping));
        }
        if best.as_ref().is_none_or(|b| found > b.2) {
            best = Some((t, missing, found));
        }
    }
    let (t, missing, _) = best.expect("three tables");
    let shown: Vec<&str> = missing.iter().take(8).copied().collect();
    Err(FileError::new(
        "F_NOT_TEMPLATE",
        format!(
            "最接近“{}”，缺少 {} 列：{}{}",
            t.table.label,
            missing.len(),
            shown.join("、"),
            if missing.len() > 8 { "……" } else { "" }
        ),
    ))
}

/// Refuse a file whose first bytes are not the workbook its extension names (an encrypted
/// .xlsx is a compound file); returns whether it is a legacy .xls.
fn check_workbook(path: &Path) -> Result<bool, FileError> {
    let mut magic = [0u8; 8];
    let mut f = File::open(path).map_err(|e| FileError::new("F_NOT_FOUND", e.to_string()))?;
    let n = read_full(&mut f, &mut magic).map_err(|e| FileError::new("F_NOT_FOUND", e.to_string()))?;
    let is_zip = n >= 4 && magic[..4] == [0x50, 0x4B, 0x03, 0x04];
    let is_cfb = n >= 8 && magic == [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "xls" && is_cfb {
        // An encrypted OOXML workbook is stored inside a compound file with an EncryptionInfo stream.
        let bytes = std::fs::read(path).unwrap_or_default();
        let needle: Vec<u8> = "EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes).collect();
        if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
            return Err(FileError::new("F_ENCRYPTED", ""));
        }
    }
    if (ext == "xls" && !is_cfb) || (ext != "xls" && !is_zip) {
        return Err(FileError::new("F_BAD_WORKBOOK", "文件头不是 Excel 格式"));
    }
    Ok(ext == "xls")
}

fn open_workbook(path: &Path, cat: &'static Catalog) -> Result<Source, FileError> {
    if check_workbook(path)? {
        // Legacy .xls sheets hold at most 65,536 rows: reading one whole is bounded once its
        // declared and actual cell positions are checked (calamine reads every sheet at open).
        super::guard::check_xls(path)?;
        return std::panic::catch_unwind(|| open_xls(path, cat)).unwrap_or_else(|_| Err(panicked()));
    }
    let (rx, back) = spawn_xlsx_reader(path, cat);
    xlsx_source(rx, back)
}

/// A source being opened. An .xlsx file's reader thread starts at once, so that it opens the
/// workbook, reads the shared strings and the first rows while the worker still validates the
/// previous file; other files are opened when their turn comes.
pub enum Opening {
    Later(PathBuf),
    Xlsx(Receiver<Msg>, Sender<Vec<Row>>),
    Failed(FileError),
}

pub fn open_ahead(path: &Path, cat: &'static Catalog) -> Opening {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !matches!(ext.as_str(), "xlsx" | "xlsm") {
        return Opening::Later(path.to_path_buf());
    }
    match check_workbook(path) {
        Ok(false) => {
            let (rx, back) = spawn_xlsx_reader(path, cat);
            Opening::Xlsx(rx, back)
        }
        Ok(true) => Opening::Later(path.to_path_buf()),
        Err(e) => Opening::Failed(e),
    }
}

impl Opening {
    /// The opened source, once its header is known.
    pub fn wait(self, cat: &'static Catalog) -> Result<Source, FileError> {
        match self {
            Opening::Later(p) => open(&p, cat),
            Opening::Xlsx(rx, back) => xlsx_source(rx, back),
            Opening::Failed(e) => Err(e),
        }
    }
}

fn open_xls(path: &Path, cat: &'static Catalog) -> Result<Source, FileError> {
    let mut wb = open_workbook_auto(path).map_err(|e| classify_calamine(&e.to_string()))?;
    let names = wb.sheet_names().to_vec();
    if names.is_empty() {
        return Err(FileError::new("F_NO_SHEET", ""));
    }
    let mut first_err = None;
    for name in &names {
        let range = match wb.worksheet_range(name) {
            Ok(r) => r,
            Err(e) => {
                first_err.get_or_insert(classify_calamine(&e.to_string()));
                continue;
            }
        };
        let r0 = range.start().map_or(0, |s| s.0) as u64;
        let head: Vec<(u64, Vec<String>)> = range
            .rows()
            .take(5)
            .enumerate()
            .map(|(k, row)| (r0 + k as u64 + 1, row.iter().map(cell_text).collect()))
            .collect();
        match find_header(&head, cat, name) {
            Ok((table, mapping, header_row)) => {
                let skip = (header_row - r0) as usize;
                let data: Vec<Row> = range
                    .rows()
                    .enumerate()
                    .skip(skip)
                    .map(|(i, r)| (r0 + i as u64 + 1, r.iter().map(cell_text).collect::<Vec<_>>()))
                    .filter(|(_, v)| v.iter().any(|s| !s.trim().is_empty()))
                    .collect();
                return Ok(Source::blocks(table, "XLS", name.clone(), mapping, data, None));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| FileError::new("F_NO_SHEET", "")))
}

/// The header among the first rows of a sheet: (table, mapping, Excel row number of the header).
fn find_header(
    head: &[(u64, Vec<String>)],
    cat: &'static Catalog,
    sheet: &str,
) -> Result<(&'static TableSchema, Vec<Option<usize>>, u64), FileError> {
    let mut first_err = None;
    for (row_no, cells) in head {
        let header: Vec<String> = cells.iter().map(|c| clean_header(c)).collect();
        match recognise(&header, cat) {
            Ok((t, m)) => return Ok((t, m, *row_no)),
            Err(mut e) => {
                if first_err.is_none() {
                    e.detail = format!("工作表“{sheet}”：{}", e.detail);
                    first_err = Some(e);
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| FileError::new("F_EMPTY", format!("工作表“{sheet}”为空"))))
}

/// Rows of one sheet from calamine's cell reader, grouped by row; `emit` returns false to stop early.
fn read_rows<RS: std::io::Read + std::io::Seek>(
    wb: &mut calamine::Xlsx<RS>,
    sheet: &str,
    mut fresh: impl FnMut() -> Vec<String>,
    mut emit: impl FnMut(u64, Vec<String>) -> bool,
) -> Result<(), FileError> {
    let mut reader = wb
        .worksheet_cells_reader(sheet)
        .map_err(|e| classify_calamine(&e.to_string()))?;
    let mut cur: Option<(u32, Vec<String>)> = None;
    loop {
        let cell = match reader.next_cell() {
            Ok(c) => c,
            Err(e) => return Err(FileError::new("F_TRUNCATED", e.to_string())),
        };
        let Some(cell) = cell else { break };
        let (r, c) = cell.get_position();
        // A cell reference past the format's limits would size the row by it.
        super::guard::check_cell(r, c)?;
        if cur.as_ref().is_some_and(|(row, _)| *row != r) {
            let (row, cells) = cur.take().expect("checked");
            if !emit(row as u64 + 1, cells) {
                return Ok(());
            }
        }
        let entry = cur.get_or_insert_with(|| (r, fresh()));
        let c = c as usize;
        if entry.1.len() <= c {
            entry.1.resize(c + 1, String::new());
        }
        push_dataref(&mut entry.1[c], cell.get_value());
    }
    if let Some((row, cells)) = cur {
        emit(row as u64 + 1, cells);
    }
    Ok(())
}

/// What the reader thread of an .xlsx file sends: first the recognised header, then rows in
/// blocks (one message per row would cost two thread wake-ups per row).
pub enum Msg {
    Header(&'static TableSchema, Vec<Option<usize>>, String),
    Rows(Vec<Row>),
    Failed(FileError),
}

/// Rows per message from the reader thread.
const BLOCK: usize = 256;

/// On the reader thread: the blocks the worker has read and sent back, emptied for reuse. A row
/// vector keeps its length and its strings their capacity, cleared: an empty cell reads as a
/// missing one.
struct Recycler {
    returned: Receiver<Vec<Row>>,
    rows: Vec<Vec<String>>,
    blocks: Vec<Vec<Row>>,
}

impl Recycler {
    fn collect(&mut self) {
        while let Ok(mut b) = self.returned.try_recv() {
            for (_, mut cells) in b.drain(..) {
                cells.iter_mut().for_each(String::clear);
                self.rows.push(cells);
            }
            self.blocks.push(b);
        }
    }

    fn row(&mut self) -> Vec<String> {
        if self.rows.is_empty() {
            self.collect();
        }
        self.rows.pop().unwrap_or_default()
    }

    fn block(&mut self) -> Vec<Row> {
        self.collect();
        self.blocks.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK))
    }
}

/// An .xlsx sheet streamed cell by cell on a reader thread through a bounded channel: the workbook
/// is opened once, the header found among the first rows, and memory stays bounded whatever the
/// sheet size.
fn spawn_xlsx_reader(path: &Path, cat: &'static Catalog) -> (Receiver<Msg>, Sender<Vec<Row>>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(4);
    // Read blocks come back here; their row vectors and cell strings are reused.
    let (back, returned) = std::sync::mpsc::channel::<Vec<Row>>();
    let rec = std::cell::RefCell::new(Recycler {
        returned,
        rows: Vec::new(),
        blocks: Vec::new(),
    });
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        // Declared sizes are checked before calamine allocates by them; a panic inside the
        // reader costs this file, not the night.
        if let Err(e) = super::guard::check_xlsx(&p) {
            let _ = tx.send(Msg::Failed(e));
            return;
        }
        let failed = tx.clone();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut wb = match calamine::open_workbook::<calamine::Xlsx<_>, _>(&p) {
                Ok(w) => w,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(classify_calamine(&e.to_string())));
                    return;
                }
            };
            let names = wb.sheet_names().to_vec();
            let mut first_err = None;
            for name in &names {
                let mut head: Vec<Row> = Vec::new();
                let mut header_row: Option<u64> = None;
                // Decide on the header once five rows (or the whole short sheet) are in; then stream.
                let decide = |head: &mut Vec<Row>, first_err: &mut Option<FileError>| -> Option<u64> {
                    match find_header(head, cat, name) {
                        Ok((t, m, hr)) => {
                            if tx.send(Msg::Header(t, m, name.clone())).is_err() {
                                return None;
                            }
                            let rows: Vec<Row> = head
                                .drain(..)
                                .filter(|(r, c)| *r > hr && c.iter().any(|x| !x.trim().is_empty()))
                                .collect();
                            if !rows.is_empty() && tx.send(Msg::Rows(rows)).is_err() {
                                return None;
                            }
                            Some(hr)
                        }
                        Err(e) => {
                            first_err.get_or_insert(e);
                            None
                        }
                    }
                };
                let mut block: Vec<Row> = rec.borrow_mut().block();
                let mut res = read_rows(
                    &mut wb,
                    name,
                    || rec.borrow_mut().row(),
                    |r, cells| {
                        if header_row.is_some() {
                            if cells.iter().all(|x| x.trim().is_empty()) {
                                return true;
                            }
                            block.push((r, cells));
                            // A closed receiver means the reader was dropped: stop.
                            return block.len() < BLOCK
                                || tx
                                    .send(Msg::Rows(std::mem::replace(&mut block, rec.borrow_mut().block())))
                                    .is_ok();
                        }
                        head.push((r, cells));
                        if head.len() < 5 {
                            return true;
                        }
                        header_row = decide(&mut head, &mut first_err);
                        header_row.is_some()
                    },
                );
                if header_row.is_none() && !head.is_empty() && head.len() < 5 {
                    header_row = decide(&mut head, &mut first_err);
                }
                if !block.is_empty() && tx.send(Msg::Rows(block)).is_err() {
                    res = Ok(());
                }
                match res {
                    Err(e) if header_row.is_some() => {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                    Ok(()) => {}
                }
                if header_row.is_some() {
                    return;
                }
            }
            let _ = tx.send(Msg::Failed(
                first_err.unwrap_or_else(|| FileError::new("F_NO_SHEET", "")),
            ));
        }));
        if read.is_err() {
            let _ = failed.send(Msg::Failed(panicked()));
        }
    });
    (rx, back)
}

/// The file-level error of a workbook whose reading panicked inside the reader library.
fn panicked() -> FileError {
    FileError::new("F_BAD_WORKBOOK", "读取工作簿时出错：文件结构异常")
}

/// The source of a reader thread, once it has sent the header (or failed).
fn xlsx_source(rx: Receiver<Msg>, back: Sender<Vec<Row>>) -> Result<Source, FileError> {
    match rx.recv() {
        Ok(Msg::Header(table, mapping, sheet)) => Ok(Source::blocks(
            table,
            "XLSX",
            sheet,
            mapping,
            Vec::new(),
            Some(Feed { rx, back }),
        )),
        Ok(Msg::Failed(e)) => Err(e),
        Ok(Msg::Rows(_)) | Err(_) => Err(FileError::new("F_BAD_WORKBOOK", "读取线程意外结束")),
    }
}

fn classify_calamine(msg: &str) -> FileError {
    let lower = msg.to_ascii_lowercase();
    // Everything but encryption is a damaged or unreadable workbook to the user.
    let rule = if lower.contains("password") || lower.contains("encrypt") {
        "F_ENCRYPTED"
    } else {
        "F_BAD_WORKBOOK"
    };
    FileError::new(rule, msg)
}

/// Append a cell's text (see [`cell_text`]) to `out`; text cells, nearly all of a template, are
/// copied without an allocation.
fn push_dataref(out: &mut String, c: &calamine::DataRef<'_>) {
    use calamine::DataRef as D;
    match c {
        D::Empty => {}
        D::String(s) => out.push_str(s),
        D::SharedString(s) => out.push_str(s),
        other => out.push_str(&dataref_text(other)),
    }
}

fn dataref_text(c: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef as D;
    match c {
        D::Empty => String::new(),
        D::String(s) => s.clone(),
        D::SharedString(s) => (*s).to_string(),
        D::Float(f) => cell_text(&Data::Float(*f)),
        D::Int(i) => i.to_string(),
        D::Bool(b) => cell_text(&Data::Bool(*b)),
        D::DateTime(d) => excel_date(d.as_f64()),
        D::DateTimeIso(s) | D::DurationIso(s) => s.replace('-', ""),
        D::Error(e) => format!("#{e:?}"),
    }
}

/// Cell text as the user typed it. Numbers typed into a cell come back as floats: write them
/// without a trailing ".0" (IDs and codes must stay strings); dates as YYYYMMDD.
pub fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        Data::DateTime(d) => excel_date(d.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.replace('-', ""),
        Data::Error(e) => format!("#{e:?}"),
        #[allow(unreachable_patterns)]
        _ => String::new(),
    }
}

/// An Excel date serial (days since 1899-12-30, 1900 date system) as YYYYMMDD.
fn excel_date(serial: f64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("date");
    base.checked_add_signed(chrono::Duration::days(serial.floor() as i64))
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| serial.to_string())
}

//! `.xls`: [`check_xls`], the file's size, then the BIFF records of its workbook stream (read by
//! `compound`), walked the way calamine 0.38 walks them; formulas are costed in `formula`. The
//! tests build BIFF streams and compound files by hand.

use super::compound::workbook_stream;
use super::formula::{FormulaCtx, MAX_FORMULA_TEXT, formula_cost};
use super::*;

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
/// Estimated text of all formulas of a file as calamine renders them.
const MAX_FORMULA_TEXT_TOTAL: u64 = 256 << 20;
/// Estimated bytes calamine moves rendering the formulas of a file (its formula printer inserts at
/// the front of the text, so a crafted formula costs the square of its length).
const MAX_FORMULA_WORK: u64 = 1 << 34;

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

#[cfg(test)]
mod tests {
    use super::*;

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

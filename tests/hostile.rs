//! Crafted workbooks, each small, each of which once took the whole nightly ingest down (an
//! allocation abort or a panic inside calamine). Every function writes one file to `out`: a
//! template workbook with the given header row and one data row, then the one crafted change.
//! The file-level error each should now get is named on each function.
#![allow(dead_code)]

use std::io::{Cursor, Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

// ---------------------------------------------------------------------------------------------
// .xlsx

/// A valid workbook written by rust_xlsxwriter: the header in row 1, `row` in row 2, text
/// cells (so `xl/sharedStrings.xml` holds them).
fn template(header: &[&str], row: &[&str]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in row.iter().enumerate() {
        ws.write_string(1, c as u16, *v).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

/// `src` (a zip) copied entry by entry to `out`; `edit` returns new contents for an entry (by
/// name) or None to copy it as is.
fn rezip(src: &[u8], out: &Path, mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut zin = ZipArchive::new(Cursor::new(src)).unwrap();
    let mut zout = ZipWriter::new(std::fs::File::create(out).unwrap());
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for i in 0..zin.len() {
        let name = zin.name_for_index(i).unwrap().unwrap().to_string();
        let mut data = Vec::new();
        zin.by_index(i).unwrap().read_to_end(&mut data).unwrap();
        match edit(&name, data) {
            Some(new) => {
                zout.start_file(name.as_str(), deflated).unwrap();
                zout.write_all(&new).unwrap();
            }
            None => zout.raw_copy_file(zin.by_index_raw(i).unwrap()).unwrap(),
        }
    }
    zout.finish().unwrap();
}

/// The value of attribute `name` in `xml` (the first ` name="…"`).
fn get_attr<'a>(xml: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = xml.find(&key).unwrap_or_else(|| panic!("no {name} attribute")) + key.len();
    let end = at + xml[at..].find('"').unwrap();
    &xml[at..end]
}

/// `xml` with the value of attribute `name` (its first occurrence) replaced by `value`.
fn set_attr(xml: &str, name: &str, value: &str) -> String {
    let key = format!(" {name}=\"");
    let at = xml.find(&key).unwrap_or_else(|| panic!("no {name} attribute")) + key.len();
    let end = at + xml[at..].find('"').unwrap();
    format!("{}{}{}", &xml[..at], value, &xml[end..])
}

fn is_sst(name: &str) -> bool {
    name.eq_ignore_ascii_case("xl/sharedStrings.xml")
}

/// The template itself (a control: it must load).
pub fn xlsx_valid(out: &Path, header: &[&str], row: &[&str]) {
    std::fs::write(out, template(header, row)).unwrap();
}

/// `<sst … uniqueCount="100000000000">`: calamine reserved that many strings (an abort).
/// Expected: F_BAD_WORKBOOK (the table declares far more strings than it holds).
pub fn xlsx_huge_unique_count(out: &Path, header: &[&str], row: &[&str]) {
    rezip(&template(header, row), out, |name, data| {
        is_sst(name).then(|| set_attr(&String::from_utf8(data).unwrap(), "uniqueCount", "100000000000").into_bytes())
    });
}

/// The first cell of row 2 at `MWLQKWU2`: column 4,294,967,295, which calamine reads without
/// overflowing; the reader grew the row to that many cells (an abort).
/// Expected: F_CELL_REF, “…：第 2 行第 4294967295 列” (from `guard::check_cell` in the cell loop;
/// the sheet's `<dimension>` is left valid, so `check_xlsx` passes the file).
pub fn xlsx_overflowing_cell_ref(out: &Path, header: &[&str], row: &[&str]) {
    rezip(&template(header, row), out, |name, data| {
        if !name.eq_ignore_ascii_case("xl/worksheets/sheet1.xml") {
            return None;
        }
        let xml = String::from_utf8(data).unwrap();
        let row2 = xml.find("<row r=\"2\"").expect("row 2");
        let key = "<c r=\"";
        let at = row2 + xml[row2..].find(key).expect("a cell in row 2") + key.len();
        let end = at + xml[at..].find('"').unwrap();
        Some(format!("{}MWLQKWU2{}", &xml[..at], &xml[end..]).into_bytes())
    });
}

/// `xl/sharedStrings.xml` of about 315 MB uncompressed (the template's strings, then 18.5
/// million `<si><t>x</t></si>`), deflated to well under a megabyte; its counts are true.
/// Expected: F_TOO_LARGE (the table is over 128 MB).
pub fn xlsx_shared_strings_bomb(out: &Path, header: &[&str], row: &[&str]) {
    const ONE: &[u8] = b"<si><t>x</t></si>";
    const PER_CHUNK: usize = 61_681; // 1 MiB of them
    const CHUNKS: usize = 300;
    let pad = (PER_CHUNK * CHUNKS) as u64;
    let chunk: Vec<u8> = ONE.repeat(PER_CHUNK);
    let src = template(header, row);
    let mut zin = ZipArchive::new(Cursor::new(&src[..])).unwrap();
    let mut zout = ZipWriter::new(std::fs::File::create(out).unwrap());
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for i in 0..zin.len() {
        let name = zin.name_for_index(i).unwrap().unwrap().to_string();
        if !is_sst(&name) {
            zout.raw_copy_file(zin.by_index_raw(i).unwrap()).unwrap();
            continue;
        }
        let mut xml = String::new();
        zin.by_index(i).unwrap().read_to_string(&mut xml).unwrap();
        let unique: u64 = get_attr(&xml, "uniqueCount").parse().unwrap();
        let count: u64 = get_attr(&xml, "count").parse().unwrap();
        let xml = set_attr(&xml, "uniqueCount", &(unique + pad).to_string());
        let xml = set_attr(&xml, "count", &(count + pad).to_string());
        let close = xml.rfind("</sst>").expect("</sst>");
        zout.start_file(name.as_str(), deflated).unwrap();
        zout.write_all(&xml.as_bytes()[..close]).unwrap();
        for _ in 0..CHUNKS {
            zout.write_all(&chunk).unwrap();
        }
        zout.write_all(&xml.as_bytes()[close..]).unwrap();
    }
    zout.finish().unwrap();
}

// ---------------------------------------------------------------------------------------------
// .xls: a minimal BIFF8 workbook stream, by hand, in a compound file written with `cfb`

fn rec(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// BOF: BIFF8 (0x0600), substream type `dt` (0x0005 globals, 0x0010 worksheet).
fn bof(dt: u16) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [0x0600u16, dt, 0x0DBB, 0x07CC] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&6u32.to_le_bytes());
    d
}

/// LABEL: row, column, XF index, then the text as UTF-16 (cch, flags 0x01, characters).
fn label(row: u16, col: u16, text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut d = Vec::new();
    d.extend_from_slice(&row.to_le_bytes());
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&(units.len() as u16).to_le_bytes());
    d.push(1);
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d
}

/// NUMBER: row, column, XF index, an f64.
fn number(row: u16, col: u16, v: f64) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&row.to_le_bytes());
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&v.to_le_bytes());
    d
}

/// DIMENSIONS (BIFF8): first row, last row + 1 (u32), first column, last column + 1 (u16).
fn dimensions(first_row: u32, rows_end: u32, first_col: u16, cols_end: u16) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&first_row.to_le_bytes());
    d.extend_from_slice(&rows_end.to_le_bytes());
    d.extend_from_slice(&first_col.to_le_bytes());
    d.extend_from_slice(&cols_end.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d
}

/// How a crafted .xls differs from the template.
#[derive(Default)]
struct Craft {
    /// DIMENSIONS instead of the true one.
    dimensions: Option<Vec<u8>>,
    /// Records after the two rows.
    extra: Vec<(u16, Vec<u8>)>,
    /// BOUNDSHEET pointing past the end of the stream.
    bad_position: bool,
}

/// A BIFF8 workbook stream: globals (BOF, CODEPAGE 1200, one BOUNDSHEET "Sheet1", EOF), then the
/// sheet (BOF, DIMENSIONS, the header as row 1 and `row` as row 2 in LABEL records, EOF).
fn biff8(header: &[&str], row: &[&str], craft: Craft) -> Vec<u8> {
    let mut s = Vec::new();
    rec(&mut s, 0x0809, &bof(0x0005));
    rec(&mut s, 0x0042, &1200u16.to_le_bytes());
    let name = b"Sheet1";
    let mut sheet = vec![0u8; 4]; // stream position of the sheet's BOF, set below
    sheet.extend_from_slice(&[0, 0, name.len() as u8, 0]); // visible, worksheet, cch, 8-bit chars
    sheet.extend_from_slice(name);
    let position_at = s.len() + 4;
    rec(&mut s, 0x0085, &sheet);
    rec(&mut s, 0x000A, &[]);
    let sheet_at = s.len() as u32;
    rec(&mut s, 0x0809, &bof(0x0010));
    let cols = header.len().max(row.len()).max(1) as u16;
    let dims = craft.dimensions.unwrap_or_else(|| dimensions(0, 2, 0, cols));
    rec(&mut s, 0x0200, &dims);
    for (c, h) in header.iter().enumerate() {
        rec(&mut s, 0x0204, &label(0, c as u16, h));
    }
    for (c, v) in row.iter().enumerate() {
        rec(&mut s, 0x0204, &label(1, c as u16, v));
    }
    for (typ, data) in &craft.extra {
        rec(&mut s, *typ, data);
    }
    rec(&mut s, 0x000A, &[]);
    let position = if craft.bad_position {
        s.len() as u32 + 4096
    } else {
        sheet_at
    };
    s[position_at..position_at + 4].copy_from_slice(&position.to_le_bytes());
    s
}

/// `stream` as the "Workbook" stream of a version 3 (512-byte sector) compound file, as Excel
/// writes .xls files.
fn write_xls(out: &Path, stream: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .unwrap();
    let mut cf = cfb::CompoundFile::create_with_version(cfb::Version::V3, file).unwrap();
    {
        let mut st = cf.create_stream("/Workbook").unwrap();
        st.write_all(stream).unwrap();
    }
    cf.flush().unwrap();
}

/// The .xls template itself (a control: it must load).
pub fn xls_valid(out: &Path, header: &[&str], row: &[&str]) {
    write_xls(out, &biff8(header, row, Craft::default()));
}

/// A NUMBER cell at row 65,536, column 65,536 besides the table: calamine allocated the bounding
/// box of all cells, 65,536 × 65,536 cells (137 GB).
/// Expected: F_CELL_REF (column past the .xls limit of 256).
pub fn xls_far_cell(out: &Path, header: &[&str], row: &[&str]) {
    let craft = Craft {
        extra: vec![(0x0203, number(65535, 65535, 1.0))],
        ..Craft::default()
    };
    write_xls(out, &biff8(header, row, craft));
}

/// DIMENSIONS declaring rows 1 to 2,147,483,647 over 256 columns: calamine reserved
/// rows × columns cells when it opened the workbook.
/// Expected: F_CELL_REF (rows past the .xls limit of 65,536).
pub fn xls_huge_dimensions(out: &Path, header: &[&str], row: &[&str]) {
    let craft = Craft {
        dimensions: Some(dimensions(0, 0x7FFF_FFFF, 0, 256)),
        ..Craft::default()
    };
    write_xls(out, &biff8(header, row, craft));
}

/// BOUNDSHEET giving the sheet a stream position 4 KB past the end of the stream: calamine
/// sliced the stream there (a panic).
/// Expected: F_BAD_WORKBOOK.
pub fn xls_bad_sheet_position(out: &Path, header: &[&str], row: &[&str]) {
    let craft = Craft {
        bad_position: true,
        ..Craft::default()
    };
    write_xls(out, &biff8(header, row, craft));
}

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
//!   workbook stream the way calamine 0.38 reads it (its own compound-file reader: `compound`,
//!   then its BIFF record loops: `xls`, and its formula printer: `formula`) and refuses the
//!   file where calamine would allocate without bound, loop or panic.
//!
//! Nothing here trusts a declared size: every count is of what is really in the file, every read
//! is capped, and every slice access is checked.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use super::source::FileError;

mod compound;
mod formula;
mod xls;
mod xlsx;

pub use xls::check_xls;
pub use xlsx::check_xlsx;

/// Strings of a shared-strings table, .xlsx or .xls (calamine keeps each as a `String`).
pub const MAX_SST_STRINGS: u64 = 4_000_000;
/// The limits of the .xlsx format.
pub const XLSX_MAX_ROWS: u32 = 1_048_576;
pub const XLSX_MAX_COLS: u32 = 16_384;

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

//! Formulas of an .xls sheet: upper bounds of the text calamine would render from a FORMULA record
//! and of the work it would take; one formula's text is capped here, the file's totals in `xls`.

use super::*;

/// Estimated text of one formula as calamine renders it.
pub(super) const MAX_FORMULA_TEXT: u64 = 1 << 20;

/// What a formula's text can refer to.
pub(super) struct FormulaCtx {
    pub(super) biff8: bool,
    /// Upper bounds (bytes) of a sheet name (with its `!`) and of a defined name.
    pub(super) sheet_name: u64,
    pub(super) defined_name: u64,
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
pub(super) fn formula_cost(rgce: &[u8], cx: &FormulaCtx) -> Result<(u64, u64), FileError> {
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

//! A document as a workbook: one sheet per part, the schema's Chinese labels as headers, numbers
//! as numbers and everything else (ID numbers, 学籍号, codes) as text, so Excel keeps every digit.

use std::path::Path;

use anyhow::{Context, Result};
use rust_xlsxwriter::{Format, FormatAlign, Workbook};

use super::{Document, Table};

use crate::output::fixed_properties;

pub fn write(doc: &Document, path: &Path) -> Result<()> {
    let mut wb = Workbook::new();
    wb.set_properties(&fixed_properties().set_title(format!("{} · {}", doc.title, doc.unit_name)));
    let head = Format::new()
        .set_bold()
        .set_background_color("#EEF1F5")
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let text = Format::new().set_num_format("@");
    let title = Format::new().set_bold().set_font_size(14);
    // Tables of one part (its sections) share a sheet; a section becomes the first column.
    let mut groups: Vec<(&str, Vec<&Table>)> = Vec::new();
    for t in &doc.tables {
        match groups.last_mut() {
            Some((name, ts)) if *name == t.title.as_str() => ts.push(t),
            _ => groups.push((t.title.as_str(), vec![t])),
        }
    }
    let mut used = Vec::new();
    for (name, tables) in groups {
        let ws = wb.add_worksheet();
        ws.set_name(sheet_name(if name.is_empty() { &doc.title } else { name }, &mut used))?;
        let sectioned = tables.iter().any(|t| !t.section.is_empty());
        let off = u16::from(sectioned);
        ws.write_string_with_format(
            0,
            0,
            format!(
                "{}{} · {}（{}）· 快照日期 {}",
                doc.title,
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" · {name}")
                },
                doc.unit_name,
                doc.unit_code,
                doc.date
            ),
            &title,
        )?;
        let columns = &tables[0].columns;
        if sectioned {
            ws.write_string_with_format(1, 0, "分组", &head)?;
            ws.set_column_width(0, 16)?;
        }
        for (j, c) in columns.iter().enumerate() {
            let col = j as u16 + off;
            ws.write_string_with_format(1, col, &c.label, &head)?;
            ws.set_column_width(col, (c.fr as f64 + 2.0).clamp(6.0, 42.0))?;
        }
        let mut row = 2u32;
        for t in &tables {
            for r in t.rows.iter().chain(t.total.iter()) {
                if sectioned {
                    ws.write_string_with_format(row, 0, &t.section, &text)?;
                }
                for (j, (v, c)) in r.iter().zip(columns).enumerate() {
                    let col = j as u16 + off;
                    match v.parse::<f64>() {
                        Ok(n) if c.numeric => ws.write_number(row, col, n).map(|_| ())?,
                        _ if v.is_empty() => {}
                        _ => ws.write_string_with_format(row, col, v, &text).map(|_| ())?,
                    }
                }
                row += 1;
            }
        }
        ws.set_freeze_panes(2, 0)?;
        if row > 2 {
            ws.autofilter(1, 0, row - 1, columns.len() as u16 + off - 1)?;
        }
    }
    if doc.tables.is_empty() {
        wb.add_worksheet().set_name(sheet_name(&doc.title, &mut Vec::new()))?;
    }
    wb.save(path).with_context(|| format!("无法写入 {}", path.display()))
}

/// A sheet name Excel accepts: at most 31 characters, none of []:*?/\, unique in the book.
fn sheet_name(want: &str, used: &mut Vec<String>) -> String {
    let clean: String = want
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(28)
        .collect();
    let mut name = clean.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{clean}{n}");
        n += 1;
    }
    used.push(name.clone());
    name
}

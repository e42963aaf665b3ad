//! SVG bar charts for the statistics reports: the same SVG goes inline into the HTML and, as an
//! image, into the PDF. Geometry is computed here so that templates only place the picture.

use std::fmt::Write;

/// Series colours: distinguishable in print and for the common colour-vision deficiencies.
const COLOURS: [&str; 4] = ["#2f6db5", "#e08a2c", "#4a9a5b", "#8c6bb1"];

/// Grouped vertical bars: one group per category, one bar per series, the value above each bar
/// and a legend. `rows` are (category, one value per series).
pub fn bars(series: &[String], rows: &[(String, Vec<f64>)]) -> String {
    let (w, h) = (720.0, 300.0);
    let (left, right, top, bottom) = (48.0, 12.0, 34.0, 64.0);
    let max = rows.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0_f64, f64::max);
    let scale_max = nice_ceiling(max);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let group_w = plot_w / rows.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).min(36.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="Noto Sans CJK SC, sans-serif" font-size="11" role="img">"#
    );
    // Grid lines and the value axis: five steps of a round number.
    for i in 0..=4 {
        let v = scale_max * i as f64 / 4.0;
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd" stroke-width="1"/>"##,
            w - right
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left - 4.0,
            y + 4.0,
            fmt(v)
        );
    }
    let rotate = rows.len() > 8;
    for (gi, (category, values)) in rows.iter().enumerate() {
        let gx = left + group_w * gi as f64 + (group_w - bar_w * values.len() as f64) / 2.0;
        for (si, v) in values.iter().enumerate() {
            let bh = if scale_max > 0.0 { plot_h * v / scale_max } else { 0.0 };
            let x = gx + bar_w * si as f64;
            let y = top + plot_h - bh;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{}：{}</title></rect>"#,
                bar_w - 1.0,
                COLOURS[si % COLOURS.len()],
                xml(category),
                fmt(*v)
            );
            if bar_w >= 14.0 {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#333">{}</text>"##,
                    x + bar_w / 2.0,
                    y - 3.0,
                    fmt(*v)
                );
            }
        }
        let cx = left + group_w * (gi as f64 + 0.5);
        let cy = top + plot_h + 14.0;
        if rotate {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{cy:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {cy:.1})" fill="#333">{}</text>"##,
                xml(category)
            );
        } else {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{cy:.1}" text-anchor="middle" fill="#333">{}</text>"##,
                xml(category)
            );
        }
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        top + plot_h,
        w - right,
        top + plot_h
    );
    for (si, name) in series.iter().enumerate() {
        let x = left + 110.0 * si as f64;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="8" width="12" height="12" fill="{}"/>"#,
            COLOURS[si % COLOURS.len()]
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="18" fill="#333">{}</text>"##,
            x + 16.0,
            xml(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// The axis top: four equal steps of a round number (1, 2 or 5 × 10ⁿ, at least 1, since the
/// charts count pupils), so every grid line reads as a whole number.
fn nice_ceiling(v: f64) -> f64 {
    let raw = (v / 4.0).max(1.0);
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= raw)
        .unwrap_or(10.0 * p);
    4.0 * step
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bars(
            &["单亲".into(), "双亲".into()],
            &[("一年级".into(), vec![30.0, 10.0]), ("二年级".into(), vec![0.0, 45.0])],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // The axis tops at 80 (four steps of 20 cover 45); four bars, a legend of two.
        assert!(svg.contains(">80</text>") && svg.contains(">20</text>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 6);
        assert!(svg.contains("一年级：30"));
    }

    #[test]
    fn round_axis() {
        assert_eq!(nice_ceiling(45.0), 80.0);
        assert_eq!(nice_ceiling(38.0), 40.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(5.0), 8.0);
        assert_eq!(nice_ceiling(0.0), 4.0);
    }
}

//! The 学籍 system calendar (schemas/reference/calendar.csv): windows such as the summer transfer
//! freeze, by year. A row for a given year replaces the default (`*`) rows of its window, since
//! the dates are set by an annual notice and change by year and province.

use chrono::{Datelike, NaiveDate};

const CALENDAR: &str = include_str!("../../schemas/reference/calendar.csv");

#[derive(Debug, Clone)]
pub struct WindowRow {
    /// None: every year without its own row.
    pub year: Option<i32>,
    pub window: String,
    /// (month, day) of the first and last day, both inclusive.
    pub start: (u32, u32),
    pub end: (u32, u32),
    pub source: String,
}

pub struct Calendar {
    pub rows: Vec<WindowRow>,
}

fn month_day(s: &str) -> Result<(u32, u32), String> {
    let (m, d) = s
        .split_once('-')
        .ok_or_else(|| format!("calendar.csv: {s} is not MM-DD"))?;
    let md = (
        m.parse().map_err(|_| format!("calendar.csv: {s}"))?,
        d.parse().map_err(|_| format!("calendar.csv: {s}"))?,
    );
    NaiveDate::from_ymd_opt(2024, md.0, md.1).ok_or_else(|| format!("calendar.csv: {s} is not a day"))?;
    Ok(md)
}

impl Calendar {
    pub(super) fn load() -> Result<Self, String> {
        let mut rows = Vec::new();
        for line in CALENDAR.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.splitn(5, ',').collect();
            let [year, window, start, end, source] = f[..] else {
                return Err(format!("calendar.csv: bad line {line}"));
            };
            let year = if year == "*" {
                None
            } else {
                Some(year.parse().map_err(|_| format!("calendar.csv: bad year {year}"))?)
            };
            rows.push(WindowRow {
                year,
                window: window.into(),
                start: month_day(start)?,
                end: month_day(end)?,
                source: source.into(),
            });
        }
        Ok(Calendar { rows })
    }

    /// The periods of `window` in calendar year `year`.
    pub fn periods(&self, window: &str, year: i32) -> Vec<(NaiveDate, NaiveDate)> {
        let own: Vec<&WindowRow> = self
            .rows
            .iter()
            .filter(|r| r.window == window && r.year == Some(year))
            .collect();
        let rows = if own.is_empty() {
            self.rows
                .iter()
                .filter(|r| r.window == window && r.year.is_none())
                .collect()
        } else {
            own
        };
        rows.iter()
            .filter_map(|r| {
                Some((
                    NaiveDate::from_ymd_opt(year, r.start.0, r.start.1)?,
                    NaiveDate::from_ymd_opt(year, r.end.0, r.end.1)?,
                ))
            })
            .collect()
    }

    /// Whether `d` falls inside `window`.
    pub fn contains(&self, window: &str, d: NaiveDate) -> bool {
        self.periods(window, d.year())
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freeze_follows_the_year_specific_row() {
        let c = Calendar::load().unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(c.contains("transfer_freeze", d(2026, 7, 15)));
        assert!(c.contains("transfer_freeze", d(2026, 8, 14)));
        assert!(!c.contains("transfer_freeze", d(2026, 7, 14)));
        assert!(!c.contains("transfer_freeze", d(2026, 8, 15)));
        // 2014 had its own dates.
        assert!(!c.contains("transfer_freeze", d(2014, 7, 16)));
        assert!(c.contains("transfer_freeze", d(2014, 7, 21)));
        assert_eq!(c.periods("cross_province_after_graduation", 2026).len(), 2);
    }
}

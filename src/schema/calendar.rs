//! The 学籍 system calendar (schemas/reference/calendar.csv): windows such as the summer transfer
//! freeze, by year. A row for a given year replaces the default (`*`) rows of its window, since
//! the dates are set by an annual notice and change by year and province.

use chrono::{Datelike, NaiveDate};

const CALENDAR: &str = include_str!("../../schemas/reference/calendar.csv");

/// Grades of a stage (1 小学, 2 初中, 3 高中) under a school's 学制: 六三制, or 五四制 where
/// 小学 has five grades and 初中 four (seed 004: "五四学制的省市").
pub fn grades_of_stage(stage: u8, five_four: bool) -> i32 {
    match (stage, five_four) {
        (1, false) => 6,
        (1, true) => 5,
        (2, true) => 4,
        _ => 3,
    }
}

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

    /// The day a class graduates: the first day of the graduating grades' pause
    /// (`graduating_pause`, for 毕业、升级) in the summer its stage ends. The cohort is the 班号's
    /// first four digits, else 入学年月's year; the stage the 班号's fifth digit (without one,
    /// three grades). None when neither gives a year.
    pub fn graduation_date(&self, class_code: &str, enrol_month: &str, five_four: bool) -> Option<NaiveDate> {
        let year = |s: &str| s.get(..4).and_then(|y| y.parse::<i32>().ok());
        let cohort = year(class_code).or_else(|| year(enrol_month))?;
        let stage = class_code.get(4..5).and_then(|d| d.parse::<u8>().ok()).unwrap_or(3);
        let y = cohort + grades_of_stage(stage, five_four);
        let day = self.periods("graduating_pause", y).first().map(|p| p.0);
        day.or_else(|| NaiveDate::from_ymd_opt(y, 7, 1))
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
    fn a_class_graduates_when_its_stage_ends_under_its_school_system() {
        let c = Calendar::load().unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(c.graduation_date("2021101", "202109", false), d(2027, 7, 1));
        assert_eq!(c.graduation_date("2021101", "202109", true), d(2026, 7, 1));
        assert_eq!(c.graduation_date("2023201", "202309", false), d(2026, 7, 1));
        assert_eq!(c.graduation_date("2023201", "202309", true), d(2027, 7, 1));
        assert_eq!(
            c.graduation_date("", "202409", false),
            d(2027, 7, 1),
            "入学年月 without a 班号"
        );
        assert_eq!(c.graduation_date("", "", false), None);
    }

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

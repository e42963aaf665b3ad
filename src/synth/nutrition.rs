//! Synthetic 营养改善计划 inputs: the beneficiary schools, the subsidy standard by term and
//! province, the 责任体系 (a 责任人 per county and per school, with planted gaps), physical
//! examinations with a planted screening category each, and the monthly meal ledger with planted
//! over-claims — each with its truth under `truth/` (the gaps are read from the files themselves).

use std::fs::File;

use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GenOptions;
use super::names;
use super::world::School;
use crate::schema::catalog;

/// Cut-offs of one sex and half-year of age (WS/T 456-2014 and WS/T 586-2018).
#[derive(Debug, Clone, Copy)]
struct Cutoffs {
    stunting_height_max: f64,
    wasting_severe_bmi_max: f64,
    wasting_mild_bmi_max: f64,
    overweight_bmi_min: f64,
    obesity_bmi_min: f64,
}

/// Screening categories the generator plants, as the truth names them.
pub const CATEGORIES: [&str; 5] = ["正常", "生长迟缓", "消瘦", "超重", "肥胖"];

/// One row of a screening table: sex (M/F), age from (inclusive) and to (exclusive), cut-offs.
type TableRow = (String, f64, f64, Vec<f64>);

/// The two screening tables, parsed once per process (the generator looks one up per pupil).
static TABLES: std::sync::LazyLock<[Vec<TableRow>; 2]> = std::sync::LazyLock::new(|| {
    let parse = |text: &str| -> Vec<TableRow> {
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let from: f64 = f.get(3)?.parse().ok()?;
                let to: f64 = f.get(4)?.parse().unwrap_or(f64::INFINITY);
                Some((
                    f[1].to_string(),
                    from,
                    to,
                    f[5..].iter().filter_map(|x| x.parse().ok()).collect(),
                ))
            })
            .collect()
    };
    [
        parse(include_str!("../../schemas/reference/ws_t_456_2014.csv")),
        parse(include_str!("../../schemas/reference/ws_t_586_2018.csv")),
    ]
});

fn cutoffs(male: bool, age_half: f64) -> Option<Cutoffs> {
    let sex = if male { "M" } else { "F" };
    let find = |t: &'static [TableRow]| -> Option<&'static Vec<f64>> {
        t.iter()
            .find(|r| r.0 == sex && r.1 <= age_half && age_half < r.2)
            .map(|r| &r.3)
    };
    let (a, b) = (find(&TABLES[0])?, find(&TABLES[1])?);
    Some(Cutoffs {
        stunting_height_max: a[0],
        wasting_severe_bmi_max: a[1],
        wasting_mild_bmi_max: a[3],
        overweight_bmi_min: b[0],
        obesity_bmi_min: b[1],
    })
}

/// Age in whole half-years at `on` (the screening tables' rows).
pub fn age_half_years(birth: NaiveDate, on: NaiveDate) -> f64 {
    let mut months = (on.year() - birth.year()) * 12 + on.month() as i32 - birth.month() as i32;
    if on.day() < birth.day() {
        months -= 1;
    }
    (months.max(0) / 6) as f64 / 2.0
}

/// One pupil as the nutrition files need it.
pub struct Pupil<'a> {
    pub registration_no: &'a str,
    pub name: &'a str,
    pub male: bool,
    pub birth: NaiveDate,
    pub compulsory: bool,
}

pub struct Writers {
    schools: csv::Writer<File>,
    duty: csv::Writer<File>,
    /// The 责任体系 draws from its own stream, so that it does not move the exams and the ledger.
    duty_rng: ChaCha8Rng,
    /// The county of the last 责任体系 county row, and how many counties have taken part so far.
    duty_county: Option<String>,
    duty_counties: usize,
    exams: csv::Writer<File>,
    ledger: csv::Writer<File>,
    truth_exams: csv::Writer<File>,
    truth_ledger: csv::Writer<File>,
    year: i32,
    as_of: NaiveDate,
    pub exams_written: u64,
    /// Schools taking part so far: every tenth has left the programme.
    taking_part: usize,
}

fn writer(o: &GenOptions, file: &str, headers: &[&str]) -> Result<csv::Writer<File>> {
    let mut w = csv::Writer::from_path(o.out.join(file))?;
    w.write_record(headers)?;
    Ok(w)
}

fn headers(t: &crate::schema::TableSchema) -> Vec<&str> {
    t.columns.iter().map(|c| c.header.as_str()).collect()
}

/// The standard of a province: the second province of the world tops the national 5 元 up to 6.
fn standard(province_index: usize) -> f64 {
    if province_index == 1 { 6.0 } else { 5.0 }
}

impl Writers {
    pub fn open(o: &GenOptions, year: i32, provinces: &[String]) -> Result<Self> {
        let cat = catalog();
        let mut terms = writer(o, "nutrition_terms.csv", &headers(&cat.nutrition_terms))?;
        for (k, p) in provinces.iter().enumerate() {
            let d = |y: i32, m: u32, dd: u32| {
                NaiveDate::from_ymd_opt(y, m, dd)
                    .expect("date")
                    .format("%Y%m%d")
                    .to_string()
            };
            for (term, a, b, days, std) in [
                (format!("{}年春季学期", year), d(year, 2, 1), d(year, 7, 31), "100", 5.0),
                (
                    format!("{}年秋季学期", year),
                    d(year, 9, 1),
                    d(year + 1, 1, 31),
                    "100",
                    standard(k),
                ),
            ] {
                terms.write_record([p.as_str(), &term, &a, &b, days, &format!("{std:.2}")])?;
            }
        }
        terms.flush()?;
        Ok(Writers {
            schools: writer(o, "nutrition_schools.csv", &headers(&cat.nutrition_schools))?,
            duty: writer(o, "nutrition_duty.csv", &headers(&cat.nutrition_duty))?,
            duty_rng: ChaCha8Rng::seed_from_u64(o.seed ^ 0x6475_7479),
            duty_county: None,
            duty_counties: 0,
            exams: writer(o, "exams.csv", &headers(&cat.exams))?,
            ledger: writer(o, "meal_ledger.csv", &headers(&cat.meal_ledger))?,
            truth_exams: writer(
                o,
                "truth/exams.csv",
                &["registration_no", "school_id", "gender", "category"],
            )?,
            truth_ledger: writer(
                o,
                "truth/meal_ledger.csv",
                &["school_id", "month", "over_beneficiaries", "over_standard"],
            )?,
            year,
            as_of: o.as_of,
            exams_written: 0,
            taking_part: 0,
        })
    }

    /// A school's part: rural schools with 小学 or 初中 take part (one in ten left the programme
    /// before the snapshot); their compulsory pupils are examined; each month of the term so far
    /// has a ledger row, some claiming more meals than pupils × days or more money than meals ×
    /// standard.
    pub fn school(
        &mut self,
        school: &School,
        province_index: usize,
        pupils: &[Pupil],
        rng: &mut impl Rng,
    ) -> Result<()> {
        if school.urban || !school.stages.iter().any(|s| *s < 3) {
            return Ok(());
        }
        // Every tenth school taking part has left (the fourth first), so a small sample has one.
        self.taking_part += 1;
        let left = self.taking_part % 10 == 4;
        let pilot = if province_index == 0 {
            "国家试点"
        } else {
            "地方试点"
        };
        let mode = ["食堂供餐", "食堂供餐", "企业（单位）供餐", "家庭（个人）托餐"][rng.random_range(0..4)];
        let end = if left {
            (self.as_of - chrono::Duration::days(rng.random_range(5..60)))
                .format("%Y%m%d")
                .to_string()
        } else {
            String::new()
        };
        self.schools
            .write_record([school.id.as_str(), pilot, mode, "20210901", &end, ""])?;
        // The 责任体系: the county's row with its first school taking part. Every fifth county (the
        // fourth first) and every fifth school (the third first, never one that left) have not
        // named a 责任人, so that a small sample shows both gaps.
        if self.duty_county.as_deref() != Some(school.county.as_str()) {
            self.duty_county = Some(school.county.clone());
            self.duty_counties += 1;
            if self.duty_counties % 5 != 4 {
                self.duty_row(&school.county, "", ["教育局局长", "教育局副局长"])?;
            }
        }
        if self.taking_part % 5 != 3 {
            self.duty_row(&school.county, &school.id, ["校长", "副校长"])?;
        }
        if left {
            return Ok(());
        }
        let term_start = NaiveDate::from_ymd_opt(self.year, 9, 1).expect("date");
        for p in pupils.iter().filter(|p| p.compulsory) {
            let exam = (term_start + chrono::Duration::days(rng.random_range(5..40))).min(self.as_of);
            let Some(c) = cutoffs(p.male, age_half_years(p.birth, exam)) else {
                continue;
            };
            let k = match rng.random_range(0..100) {
                0..80 => 0,
                80..85 => 1,
                85..90 => 2,
                90..95 => 3,
                _ => 4,
            };
            // Values with a margin from every cut-off, so that rounding cannot move a pupil.
            let normal_height = c.stunting_height_max + rng.random_range(6.0..18.0);
            let normal_bmi = (c.wasting_mild_bmi_max + c.overweight_bmi_min) / 2.0;
            let (h, bmi) = match k {
                0 => (normal_height, normal_bmi),
                1 => (c.stunting_height_max - rng.random_range(1.0..6.0), normal_bmi),
                2 => (normal_height, c.wasting_severe_bmi_max - 0.6),
                3 => (normal_height, (c.overweight_bmi_min + c.obesity_bmi_min) / 2.0),
                _ => (normal_height, c.obesity_bmi_min + 1.5),
            };
            let h = (h * 10.0).round() / 10.0;
            let w = (bmi * (h / 100.0).powi(2) * 10.0).round() / 10.0;
            let gender = if p.male { "男" } else { "女" };
            self.exams.write_record([
                school.id.as_str(),
                p.registration_no,
                p.name,
                gender,
                &p.birth.format("%Y%m%d").to_string(),
                &exam.format("%Y%m%d").to_string(),
                &format!("{h:.1}"),
                &format!("{w:.1}"),
            ])?;
            self.truth_exams
                .write_record([p.registration_no, &school.id, gender, CATEGORIES[k]])?;
            self.exams_written += 1;
        }
        // Meals are claimed for at most 70% of the compulsory pupils on the file, which stays
        // under the beneficiaries however many records the import rejects or movements remove.
        let on_file = pupils.iter().filter(|p| p.compulsory).count() as i64;
        let std = standard(province_index);
        let mut month = term_start;
        while month <= self.as_of {
            let days = 20i64;
            let over_pupils = rng.random_bool(0.25);
            let over_money = rng.random_bool(0.25);
            // Over: more than twice the pupils on file, which the accepted planted records (not
            // on file) cannot make up.
            let meals = if over_pupils {
                (on_file * 2 + 10) * days
            } else {
                on_file * 7 / 10 * days
            };
            let amount = meals as f64 * std * if over_money { 1.2 } else { 1.0 };
            let m = month.format("%Y%m").to_string();
            self.ledger.write_record([
                school.id.as_str(),
                &m,
                &days.to_string(),
                &meals.to_string(),
                &format!("{amount:.2}"),
            ])?;
            let b = |x: bool| if x { "1" } else { "0" };
            self.truth_ledger
                .write_record([school.id.as_str(), &m, b(over_pupils), b(over_money)])?;
            month = month.checked_add_months(chrono::Months::new(1)).expect("date");
        }
        Ok(())
    }

    /// One row of the 责任体系: a synthetic name, one of two posts and a mobile number.
    fn duty_row(&mut self, county: &str, school_id: &str, posts: [&str; 2]) -> Result<()> {
        let r = &mut self.duty_rng;
        let surname = names::surname(r);
        let name = names::render(surname, &names::given(r));
        let post = posts[r.random_range(0..2)];
        let phone = format!("139{:08}", r.random_range(0..100_000_000u32));
        self.duty.write_record([county, school_id, &name, post, &phone])?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.schools.flush()?;
        self.duty.flush()?;
        self.exams.flush()?;
        self.ledger.flush()?;
        self.truth_exams.flush()?;
        self.truth_ledger.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_years_count_completed_months() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(age_half_years(d(2018, 3, 15), d(2026, 9, 14)), 8.0);
        assert_eq!(age_half_years(d(2018, 3, 15), d(2026, 9, 15)), 8.5);
        assert!(cutoffs(true, 8.5).is_some());
        assert!(cutoffs(false, 5.5).is_none());
    }
}

//! `xueji gen`: a deterministic synthetic 学籍 world with planted problems and its ground truth.
//!
//! Writes, under OUT: `schools.csv` (学校名录), `students-xlsx/<学校标识码>.xlsx` (one national
//! template per school, text cells), `students-csv/<county>.csv` (UTF-8) and
//! `students-gbk/<county>.csv` (GBK), `movements.csv` (学籍异动), and `truth/` (records.csv: the
//! true person and the planted problem of every record, with its file and row in each format;
//! movements.csv). Streaming: memory is bounded by one school, whatever `--pupils` is.

mod decisions;
mod graduates;
mod key_changes;
mod movements;
pub(crate) mod names;
mod nutrition;
mod plant;
mod pupil;
mod variants;
mod world;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cols::{SchoolCols, StudentCols};
use crate::schema::catalog;
use plant::{DupScope, Plant};
use pupil::Person;
use world::School;

/// Changes whenever the generator makes different data from the same options (bench data
/// folders are made again when it differs).
pub const GENERATOR_VERSION: &str = "2026-11-30.4";

/// Options of `xueji gen`.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub pupils: u64,
    pub seed: u64,
    pub out: PathBuf,
    pub provinces: usize,
    pub pupils_per_county: u64,
    pub school_size: u64,
    /// The date the data describe (grades and ages are computed for it).
    pub as_of: NaiveDate,
    /// Share of pupils that carry a planted problem.
    pub problem_rate: f64,
    pub xlsx: bool,
    pub csv: bool,
    pub gbk: bool,
}

#[derive(Debug, Default)]
pub struct GenSummary {
    pub schools: usize,
    pub persons: u64,
    pub records: u64,
    pub planted: u64,
    pub movements: u64,
    pub decisions: u64,
    pub exams: u64,
}

struct Pending {
    person: Person,
    plant: Plant,
    src: usize,
}

/// One emitted record with what the truth file says about it.
struct Row {
    fields: Vec<String>,
    person: u64,
    plant: Option<Plant>,
    truth: RowTruth,
}

/// What the generator meant a record to be, for the statistics marts' tests: taken from the
/// person and the school, not read back from the record's text.
#[derive(Debug, Clone)]
struct RowTruth {
    stage: u8,
    grade: u32,
    male: bool,
    left_behind: u8,
    migrant_reported: bool,
    /// By the definition: compulsory, rural household of another county, urban or town school.
    migrant_derived: bool,
    outside_county: bool,
    rural_hukou: bool,
    boarder: bool,
    yibu: bool,
    /// The class graduated in the summer before the snapshot (by the school's 学制): the school
    /// still lists a graduate, who is not in school.
    graduated: bool,
}

impl RowTruth {
    fn of(p: &Person, school: &School) -> Self {
        let compulsory = p.stage < 3;
        RowTruth {
            stage: p.stage,
            grade: p.grade,
            male: p.male,
            left_behind: if compulsory { p.left_behind } else { 0 },
            migrant_reported: compulsory && p.migrant_reported,
            migrant_derived: compulsory && school.urban && p.rural_hukou && p.hukou_county != school.county,
            outside_county: p.hukou_county != school.county,
            rural_hukou: p.rural_hukou,
            boarder: p.boarder,
            yibu: compulsory && p.yibu,
            graduated: p.grade > pupil::grades_of(p.stage, school.five_four),
        }
    }

    const HEADERS: [&str; 11] = [
        "stage",
        "grade",
        "male",
        "left_behind",
        "migrant_reported",
        "migrant_derived",
        "outside_county",
        "rural_hukou",
        "boarder",
        "yibu",
        "graduated",
    ];

    fn fields(&self) -> [String; 11] {
        let b = |x: bool| if x { "1" } else { "0" }.to_string();
        [
            self.stage.to_string(),
            self.grade.to_string(),
            b(self.male),
            self.left_behind.to_string(),
            b(self.migrant_reported),
            b(self.migrant_derived),
            b(self.outside_county),
            b(self.rural_hukou),
            b(self.boarder),
            b(self.yibu),
            b(self.graduated),
        ]
    }
}

pub fn generate(o: &GenOptions) -> Result<GenSummary> {
    let cat = catalog();
    let c = StudentCols::new(&cat.students);
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let year = if o.as_of.month() >= 9 {
        o.as_of.year()
    } else {
        o.as_of.year() - 1
    };
    let world = world::build(o.pupils, o.provinces, o.pupils_per_county, o.school_size, &mut rng);
    let mut provinces: Vec<String> = world.schools.iter().map(|s| s.province.clone()).collect();
    provinces.dedup();
    fs::create_dir_all(o.out.join("truth"))?;
    fs::write(
        o.out.join("truth").join(crate::ingest::IGNORE_MARKER),
        "标准答案，不是导入文件：导入 DIR 时跳过本目录 / ground truth, not sources: `xueji ingest DIR` skips this directory\n",
    )?;
    for (on, dir) in [
        (o.xlsx, "students-xlsx"),
        (o.csv, "students-csv"),
        (o.gbk, "students-gbk"),
    ] {
        if on {
            fs::create_dir_all(o.out.join(dir))?;
        }
    }
    write_schools(&o.out.join("schools.csv"), &world.schools)?;
    // The nutrition files draw from their own stream, so they do not move the registrations.
    let mut nutrition_rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x6e75_7472_6974_696f);
    let mut nutrition = nutrition::Writers::open(o, year, &provinces)?;
    // So do the 关键数据变更申请: about every other school offers one clean pupil, up to a few.
    let mut key_rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x6b65_795f_6368_616e);
    let mut key_candidates: Vec<key_changes::Candidate> = Vec::new();
    // And the graduates some schools still list.
    let mut grad_rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x6772_6164_7561_7465);
    let mut next_graduate = graduates::FIRST_PERSON;
    let headers: Vec<&str> = cat.students.columns.iter().map(|c| c.header.as_str()).collect();
    let mut truth = csv::Writer::from_path(o.out.join("truth/records.csv"))?;
    let mut header = vec![
        "person_id",
        "school_id",
        "county_code",
        "province_code",
        "xlsx_file",
        "xlsx_row",
        "csv_file",
        "csv_row",
        "plant",
        "expect_rule",
        "expect_column",
        "expect_header",
        "registration_no",
    ];
    header.extend(RowTruth::HEADERS);
    truth.write_record(&header)?;
    let mut sum = GenSummary {
        schools: world.schools.len(),
        ..Default::default()
    };
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut next_person = 1u64;
    let mut ids = pupil::IdRegistry::default();
    // Plants are taken in turn; one that does not fit this pupil waits at the head of the queue
    // while the next fitting one is used, so rare-fitting kinds do not hold the others up.
    let mut plant_queue: VecDeque<Plant> = plant::PLANTS.iter().copied().collect();
    let mut county_out: Option<CountyFiles> = None;
    let mut mv_sample = Vec::new();
    // Registrations of persons in official problem groups, for the decision records.
    let mut grouped_persons: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut group_members: Vec<decisions::Member> = Vec::new();
    let progress = crate::progress::Progress::new("生成", "所学校", Some(world.schools.len() as u64));
    for (si, school) in world.schools.iter().enumerate() {
        progress.inc(1);
        if county_out.as_ref().is_none_or(|f| f.county != school.county) {
            if let Some(f) = county_out.take() {
                f.finish()?;
            }
            county_out = Some(CountyFiles::open(o, &school.county, &headers)?);
        }
        let files = county_out.as_mut().expect("opened above");
        let mut rows: Vec<Row> = Vec::new();
        // Second registrations planted at earlier schools that belong here.
        let mut keep = VecDeque::new();
        while let Some(pd) = pending.pop_front() {
            if fits(&pd, si, school, &world.schools) {
                rows.push(second_registration(&pd, school, year, &c, &mut rng));
            } else {
                keep.push_back(pd);
            }
        }
        pending = keep;
        for _ in 0..school.pupils {
            let stage = school.stages[rng.random_range(0..school.stages.len())];
            let other = other_rural_county(school, &world.schools, &mut rng);
            let mut p = pupil::new_person(next_person, school, stage, year, &other, &mut rng);
            if let Some(id) = p.id18.as_mut() {
                ids.claim(id);
            }
            next_person += 1;
            sum.persons += 1;
            let mut plant = None;
            if rng.random_bool(o.problem_rate)
                && let Some(k) = plant_queue.iter().position(|&cand| plant::applicable(cand, &p, school))
            {
                let cand = plant_queue.remove(k).expect("position is in range");
                plant_queue.push_back(cand);
                plant = Some(cand);
            }
            if plant.and_then(decisions::kind_of).is_some() {
                grouped_persons.insert(p.id);
            }
            if let Some(Plant::Dup(_, true)) = plant {
                p.id18 = None;
            }
            let mut rec = pupil::record(&p, school, year, &c, &mut rng);
            if let Some(pl) = plant {
                plant::apply(pl, &mut rec, &p, school, year, o.as_of, &c, &mut rng, &mut ids);
            } else {
                pupil::reissue_id(&mut rec, &p, &c, &mut ids);
            }
            if rng.random_bool(0.03) {
                mv_sample.push((rec[c.registration_no].clone(), rec[c.name].clone(), si, stage, p.id));
            }
            match plant {
                Some(Plant::Dup(DupScope::SameSchool, _)) => {
                    let mut copy = pupil::record(&p, school, year, &c, &mut rng);
                    copy[c.registration_no] = plant::l_number(school, p.birth, &mut rng);
                    rows.push(Row {
                        fields: rec,
                        person: p.id,
                        plant: None,
                        truth: RowTruth::of(&p, school),
                    });
                    rows.push(Row {
                        fields: copy,
                        person: p.id,
                        plant,
                        truth: RowTruth::of(&p, school),
                    });
                    continue;
                }
                Some(pl @ (Plant::Dup(..) | Plant::Fuzzy(_))) => {
                    // The plant belongs to the second registration; this one is the original.
                    pending.push_back(Pending {
                        person: p.clone(),
                        plant: pl,
                        src: si,
                    });
                    rows.push(Row {
                        fields: rec,
                        person: p.id,
                        plant: None,
                        truth: RowTruth::of(&p, school),
                    });
                    continue;
                }
                Some(Plant::Twin | Plant::TwinNoId) => {
                    let mut twin = pupil::twin_of(&p, next_person, &mut rng);
                    if plant == Some(Plant::TwinNoId) {
                        // Registered without an ID number, as a pupil without one is (其他, a J number).
                        twin.id18 = None;
                    }
                    if let Some(id) = twin.id18.as_mut() {
                        ids.claim(id);
                    }
                    next_person += 1;
                    sum.persons += 1;
                    let trec = pupil::record(&twin, school, year, &c, &mut rng);
                    rows.push(Row {
                        fields: rec,
                        person: p.id,
                        plant: None,
                        truth: RowTruth::of(&p, school),
                    });
                    rows.push(Row {
                        fields: trec,
                        person: twin.id,
                        plant,
                        truth: RowTruth::of(&twin, school),
                    });
                    continue;
                }
                Some(Plant::Namesake) => {
                    let mut other = pupil::namesake_of(&p, next_person, &mut rng);
                    next_person += 1;
                    sum.persons += 1;
                    if let Some(id) = other.id18.as_mut() {
                        ids.claim(id);
                    }
                    pending.push_back(Pending {
                        person: other,
                        plant: Plant::Namesake,
                        src: si,
                    });
                    rows.push(Row {
                        fields: rec,
                        person: p.id,
                        plant: None,
                        truth: RowTruth::of(&p, school),
                    });
                    continue;
                }
                _ => {}
            }
            rows.push(Row {
                fields: rec,
                person: p.id,
                plant,
                truth: RowTruth::of(&p, school),
            });
        }
        let other = other_rural_county(school, &world.schools, &mut grad_rng);
        for (p, rec) in graduates::still_listed(school, year, &other, &mut next_graduate, &mut ids, &c, &mut grad_rng) {
            sum.persons += 1;
            rows.push(Row {
                fields: rec,
                person: p.id,
                plant: None,
                truth: RowTruth::of(&p, school),
            });
        }
        // The county's last school takes the second registrations that must stay in the county
        // and found no later school (in the same school if need be), so that none is lost.
        if world.schools.get(si + 1).is_none_or(|n| n.county != school.county) {
            let mut keep = VecDeque::new();
            while let Some(pd) = pending.pop_front() {
                let in_county = !matches!(pd.plant, Plant::Dup(DupScope::OtherCounty | DupScope::OtherProvince, _));
                if in_county
                    && world.schools[pd.src].county == school.county
                    && school.stages.contains(&pd.person.stage)
                {
                    rows.push(second_registration(&pd, school, year, &c, &mut rng));
                } else {
                    keep.push_back(pd);
                }
            }
            pending = keep;
        }
        sum.records += rows.len() as u64;
        sum.planted += rows.iter().filter(|r| r.plant.is_some()).count() as u64;
        emit_school(o, school, &rows, files, &mut truth, &headers)?;
        let pupils: Vec<nutrition::Pupil> = rows
            .iter()
            // The exam system knows a pupil in school by a correct record: planted records and
            // graduates are left out.
            .filter(|r| r.plant.is_none() && !r.truth.graduated)
            .filter_map(|r| {
                Some(nutrition::Pupil {
                    registration_no: &r.fields[c.registration_no],
                    name: &r.fields[c.name],
                    male: r.truth.male,
                    birth: crate::idcard::parse_yyyymmdd(&r.fields[c.birth_date])?,
                    compulsory: r.truth.stage < 3,
                })
            })
            .collect();
        let province_index = provinces.iter().position(|p| *p == school.province).unwrap_or(0);
        nutrition.school(school, province_index, &pupils, &mut nutrition_rng)?;
        if key_candidates.len() < key_changes::MAX_REQUESTS && key_rng.random_bool(0.5) {
            let clean: Vec<&Row> = rows
                .iter()
                .filter(|r| r.plant.is_none() && !r.truth.graduated && !grouped_persons.contains(&r.person))
                .filter(|r| {
                    let f = &r.fields;
                    f[c.registration_no].starts_with('G')
                        && f[c.id_type] == "居民身份证"
                        && f[c.id_number].len() == 18
                        && crate::udf::id_check(&f[c.id_number], None, None, o.as_of).is_none()
                })
                .collect();
            if !clean.is_empty() {
                let f = &clean[key_rng.random_range(0..clean.len())].fields;
                key_candidates.push(key_changes::Candidate {
                    school_id: f[c.school_id].clone(),
                    registration_no: f[c.registration_no].clone(),
                    name: f[c.name].clone(),
                    id_number: f[c.id_number].clone(),
                });
            }
        }
        for r in rows.iter().filter(|r| grouped_persons.contains(&r.person)) {
            group_members.push(decisions::Member {
                person: r.person,
                plant: r.plant,
                school_id: r.fields[c.school_id].clone(),
                registration_no: r.fields[c.registration_no].clone(),
                name: r.fields[c.name].clone(),
            });
        }
    }
    progress.finish();
    if let Some(f) = county_out.take() {
        f.finish()?;
    }
    truth.flush()?;
    sum.movements = movements::write(o, &world.schools, &mv_sample, year, &mut rng)?;
    sum.decisions = decisions::write(o, &group_members, year, &mut rng)?;
    key_changes::write(o, &key_candidates, &mut ids, &mut key_rng)?;
    sum.exams = nutrition.exams_written;
    nutrition.finish()?;
    Ok(sum)
}

/// Does a pending second registration belong at school `si`?
fn fits(pd: &Pending, si: usize, school: &School, schools: &[School]) -> bool {
    let src = &schools[pd.src];
    if si == pd.src || !school.stages.contains(&pd.person.stage) {
        return false;
    }
    match pd.plant {
        Plant::Dup(DupScope::OtherCounty, _) => school.province == src.province && school.county != src.county,
        Plant::Dup(DupScope::OtherProvince, _) => school.province != src.province,
        _ => school.county == src.county,
    }
}

fn second_registration(pd: &Pending, school: &School, year: i32, c: &StudentCols, rng: &mut ChaCha8Rng) -> Row {
    let mut rec = pupil::record(&pd.person, school, year, c, rng);
    match pd.plant {
        Plant::Fuzzy(f) => variants::apply_fuzzy(f, &mut rec, &pd.person, school, c, rng),
        Plant::Dup(_, false) => rec[c.registration_no] = plant::l_number(school, pd.person.birth, rng),
        _ => {}
    }
    Row {
        fields: rec,
        person: pd.person.id,
        plant: Some(pd.plant),
        truth: RowTruth::of(&pd.person, school),
    }
}

/// A rural county of the same province (or any other school's county) where migrant pupils come from.
fn other_rural_county(school: &School, schools: &[School], rng: &mut ChaCha8Rng) -> String {
    let n = schools.len();
    let start = rng.random_range(0..n);
    (0..n)
        .map(|k| &schools[(start + k) % n])
        .find(|s| s.county != school.county && !s.urban)
        .map_or_else(|| school.county.clone(), |s| s.county.clone())
}

struct CountyFiles {
    county: String,
    csv: Option<(String, csv::Writer<BufWriter<File>>)>,
    gbk: Option<(String, BufWriter<File>)>,
    rows: u64,
}

impl CountyFiles {
    fn open(o: &GenOptions, county: &str, headers: &[&str]) -> Result<Self> {
        let csv = if o.csv {
            let name = format!("students-csv/{county}.csv");
            let mut w = csv::Writer::from_writer(BufWriter::new(File::create(o.out.join(&name))?));
            w.write_record(headers)?;
            Some((name, w))
        } else {
            None
        };
        let gbk = if o.gbk {
            let name = format!("students-gbk/{county}.csv");
            let mut w = BufWriter::new(File::create(o.out.join(&name))?);
            w.write_all(&gbk_line(headers)?)?;
            Some((name, w))
        } else {
            None
        };
        Ok(CountyFiles {
            county: county.into(),
            csv,
            gbk,
            rows: 0,
        })
    }

    fn finish(self) -> Result<()> {
        if let Some((_, mut w)) = self.csv {
            w.flush()?;
        }
        if let Some((_, mut w)) = self.gbk {
            w.flush()?;
        }
        Ok(())
    }
}

/// One CSV line, encoded as GBK (the generator only uses characters that GBK has).
fn gbk_line<S: AsRef<str>>(fields: &[S]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields.iter().map(AsRef::as_ref))?;
    let utf8 = String::from_utf8(w.into_inner().context("csv buffer")?)?;
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&utf8);
    anyhow::ensure!(!unmappable, "bug: generated text outside GBK: {utf8}");
    Ok(bytes.into_owned())
}

fn emit_school(
    o: &GenOptions,
    school: &School,
    rows: &[Row],
    files: &mut CountyFiles,
    truth: &mut csv::Writer<File>,
    headers: &[&str],
) -> Result<()> {
    let c = StudentCols::new(&catalog().students);
    let xlsx_name = format!("students-xlsx/{}.xlsx", school.id);
    if o.xlsx {
        write_xlsx(&o.out.join(&xlsx_name), headers, rows.iter().map(|r| &r.fields))?;
    }
    for (i, row) in rows.iter().enumerate() {
        files.rows += 1;
        if let Some((_, w)) = files.csv.as_mut() {
            w.write_record(&row.fields)?;
        }
        if let Some((_, w)) = files.gbk.as_mut() {
            w.write_all(&gbk_line(&row.fields)?)?;
        }
        let (rule, col) = row.plant.and_then(Plant::expected).unwrap_or(("", ""));
        let header = if col.is_empty() {
            ""
        } else {
            catalog().students.column(col).map_or("", |c| c.header.as_str())
        };
        let csv_file = files
            .csv
            .as_ref()
            .map(|(n, _)| n.as_str())
            .or(files.gbk.as_ref().map(|(n, _)| n.as_str()))
            .unwrap_or("");
        let mut out = vec![
            row.person.to_string(),
            row.fields[c.school_id].clone(),
            school.county.clone(),
            school.province.clone(),
            if o.xlsx { xlsx_name.clone() } else { String::new() },
            (i + 2).to_string(),
            csv_file.to_string(),
            (files.rows + 1).to_string(),
            row.plant.map(Plant::label).unwrap_or_default(),
            rule.to_string(),
            col.to_string(),
            header.to_string(),
            row.fields[c.registration_no].clone(),
        ];
        out.extend(row.truth.fields());
        truth.write_record(&out)?;
    }
    Ok(())
}

/// A national-template workbook: one sheet, header row, every cell written as text.
pub fn write_xlsx<'a>(path: &Path, headers: &[&str], rows: impl Iterator<Item = &'a Vec<String>>) -> Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    wb.set_properties(&crate::output::fixed_properties());
    let ws = wb.add_worksheet();
    ws.set_name("学生信息")?;
    let text = Format::new().set_num_format("@");
    for (j, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, j as u16, *h, &text)?;
    }
    for (i, r) in rows.enumerate() {
        for (j, v) in r.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string_with_format(i as u32 + 1, j as u16, v, &text)?;
            }
        }
    }
    wb.save(path).with_context(|| format!("写入 {} 失败", path.display()))?;
    Ok(())
}

fn write_schools(path: &Path, schools: &[School]) -> Result<()> {
    let t = &catalog().schools;
    let c = SchoolCols::new(t);
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(t.columns.iter().map(|c| c.header.as_str()))?;
    for s in schools {
        let mut r = vec![String::new(); c.len];
        r[c.school_id] = s.id.clone();
        r[c.school_name] = s.name.clone();
        r[c.county_code] = s.county.clone();
        // Senior high schools are run by the city bureau in this world; the rest by the county.
        r[c.authority_code] = if s.stages == [3] {
            format!("{}00", &s.county[..4])
        } else {
            s.county.clone()
        };
        r[c.school_kind] = s.kind.into();
        r[c.ownership] = if s.public { "公办" } else { "民办" }.into();
        r[c.urban_rural] = catalog()
            .codelist("urban_rural")
            .values
            .iter()
            .find(|v| v.code == s.urban_rural)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        r[c.branch_of] = s.branch_of.clone().unwrap_or_default();
        r[c.address] = format!("{}{}", s.province_name, s.county_name);
        r[c.school_system] = if s.five_four { "五四制" } else { "六三制" }.into();
        w.write_record(&r)?;
    }
    w.flush()?;
    Ok(())
}

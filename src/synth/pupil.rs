//! One synthetic pupil: a true person (identity the ground truth speaks of) and the template
//! record a school would submit for that person.

use chrono::NaiveDate;
use rand::Rng;

use super::names;
use super::world::School;
use crate::cols::StudentCols;
use crate::idcard;

/// The real person behind one or more registrations.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub surname: &'static str,
    pub given: Vec<(usize, usize)>,
    pub male: bool,
    pub birth: NaiveDate,
    /// 18-character resident ID; `None` for pupils without one (证件类型 其他).
    pub id18: Option<String>,
    pub birth_county: String,
    pub hukou_county: String,
    pub rural_hukou: bool,
    pub stage: u8,
    pub grade: u32,
    /// Parents: (name, male, id18, phone)
    pub parents: [(String, bool, String, String); 2],
    pub left_behind: u8,
    /// What the school reported as 随迁子女; differs from the truth in the planted contradictions.
    pub migrant_reported: bool,
    pub boarder: bool,
    pub yibu: bool,
}

impl Person {
    pub fn name(&self) -> String {
        names::render(self.surname, &self.given)
    }
}

/// Make a resident ID for a county, birth date and gender; `seq` picks the sequence number.
pub fn make_id(county: &str, birth: NaiveDate, male: bool, seq: u32) -> String {
    let mut s = (seq % 500) * 2;
    if male {
        s += 1;
    }
    let first17 = format!("{county}{}{:03}", birth.format("%Y%m%d"), s % 1000);
    let c = idcard::check_char(&first17).expect("17 digits");
    format!("{first17}{c}")
}

/// Every pupil ID number issued in one run, so that two people never share one by chance (at a
/// province's scale, random sequence numbers would collide within a county and birth date).
/// Keyed by the first 17 digits as a number: 8 bytes a pupil.
#[derive(Default)]
pub struct IdRegistry {
    issued: std::collections::HashSet<u64>,
}

impl IdRegistry {
    /// Claim `id` for a new person; if someone has it, take the next free sequence number of the
    /// same county, birth date and gender.
    pub fn claim(&mut self, id: &mut String) {
        let Some(mut key) = id.get(..17).and_then(|s| s.parse::<u64>().ok()) else {
            return;
        };
        let base = key - key % 1000;
        for _ in 0..500 {
            if self.issued.insert(key) {
                break;
            }
            key = base + (key % 1000 + 2) % 1000;
        }
        let first17 = format!("{key:017}");
        if id.get(..17) != Some(first17.as_str()) {
            let c = idcard::check_char(&first17).expect("17 digits");
            *id = format!("{first17}{c}");
        }
    }
}

pub fn phone(rng: &mut impl Rng) -> String {
    const PREFIX: [&str; 12] = [
        "130", "131", "135", "136", "138", "139", "150", "151", "158", "177", "186", "188",
    ];
    format!(
        "{}{:08}",
        PREFIX[rng.random_range(0..PREFIX.len())],
        rng.random_range(0..100_000_000u32)
    )
}

/// Birth date for a pupil of `grade` in `stage` in the school year starting in September of `year`.
pub fn birth_for(stage: u8, grade: u32, year: i32, five_four: bool, rng: &mut impl Rng) -> NaiveDate {
    // 小学一年级 at 6 (born Sep Y-7 .. Aug Y-6); 初一 at 12 (11 under 五四制); 高一 at 15.
    let base_age = match stage {
        1 => 6,
        2 => 6 + grades_of(1, five_four) as i32,
        _ => 15,
    } + grade as i32
        - 1;
    let start = NaiveDate::from_ymd_opt(year - base_age - 1, 9, 1).expect("valid");
    start + chrono::Duration::days(rng.random_range(0..365))
}

/// Grades of a stage under the school's 学制.
pub fn grades_of(stage: u8, five_four: bool) -> u32 {
    crate::schema::grades_of_stage(stage, five_four) as u32
}

/// Generate a new person attending `school` in `stage`.
pub fn new_person(
    id: u64,
    school: &School,
    stage: u8,
    year: i32,
    other_rural_county: &str,
    rng: &mut impl Rng,
) -> Person {
    let grade = rng.random_range(1..=grades_of(stage, school.five_four));
    person_in_grade(id, school, stage, grade, year, other_rural_county, rng)
}

/// Generate a new person of `grade` in `stage` at `school` (a grade past the stage's last is a
/// class that graduated in the summer before `year`'s school year).
pub fn person_in_grade(
    id: u64,
    school: &School,
    stage: u8,
    grade: u32,
    year: i32,
    other_rural_county: &str,
    rng: &mut impl Rng,
) -> Person {
    let birth = birth_for(stage, grade, year, school.five_four, rng);
    let male = rng.random_bool(0.515);
    let compulsory = stage < 3;
    // 进城务工人员随迁子女: rural household elsewhere, attending an urban or town school.
    // A migrant pupil comes from another county's countryside; without one there is none.
    let migrant = compulsory && school.urban && other_rural_county != school.county && rng.random_bool(0.18);
    let (hukou_county, rural_hukou) = if migrant {
        (other_rural_county.to_string(), true)
    } else {
        (school.county.clone(), !school.urban || rng.random_bool(0.3))
    };
    let mut left_behind = if compulsory && !school.urban && !migrant {
        match rng.random_range(0..1000) {
            0..75 => 1,
            75..150 => 2,
            _ => 0,
        }
    } else if compulsory && rng.random_bool(0.02) && !migrant {
        1
    } else {
        0
    };
    // Planted contradictions for list_migrant_contradictions: a local rural pupil reported as 随迁,
    // a migrant pupil not reported, a migrant pupil also reported as 留守.
    let mut migrant_reported = migrant;
    if compulsory && !school.urban && rng.random_bool(0.01) {
        migrant_reported = true;
    } else if migrant && rng.random_bool(0.03) {
        migrant_reported = false;
    } else if migrant && rng.random_bool(0.02) {
        left_behind = 1;
    }
    let board_p = match (stage, school.urban) {
        (3, _) => 0.6,
        (2, false) => 0.55,
        (1, false) => 0.12,
        _ => 0.04,
    };
    let boarder = rng.random_bool(board_p);
    let yibu = compulsory && boarder && rng.random_bool(0.3);
    let surname = names::surname(rng);
    let given = names::given(rng);
    let id18 = if rng.random_bool(0.99) {
        Some(make_id(&hukou_county, birth, male, rng.random_range(0..500)))
    } else {
        None
    };
    let father = parent(birth, &hukou_county, true, surname, rng);
    let mother_surname = names::surname(rng);
    let mother = parent(birth, &hukou_county, false, mother_surname, rng);
    Person {
        id,
        surname,
        given,
        male,
        birth,
        id18,
        birth_county: hukou_county.clone(),
        hukou_county,
        rural_hukou,
        stage,
        grade,
        parents: [father, mother],
        left_behind,
        migrant_reported,
        boarder,
        yibu,
    }
}

fn parent(
    child_birth: NaiveDate,
    county: &str,
    is_male: bool,
    sur: &str,
    rng: &mut impl Rng,
) -> (String, bool, String, String) {
    let pb = child_birth - chrono::Duration::days(365 * rng.random_range(24i64..38) + rng.random_range(0i64..365));
    let n = names::render(sur, &names::given(rng));
    (
        n,
        is_male,
        make_id(county, pb, is_male, rng.random_range(0..500)),
        phone(rng),
    )
}

/// Class code 班号: entry year (4) + stage digit (1) + class number (2).
pub fn class_code(stage: u8, grade: u32, year: i32, class_no: u32) -> (String, String) {
    let entry = year - grade as i32 + 1;
    (format!("{entry}{stage}{class_no:02}"), format!("{entry}09"))
}

/// Render the template record (all columns as text, schema order) of `p` at `school`.
pub fn record(p: &Person, school: &School, year: i32, c: &StudentCols, rng: &mut impl Rng) -> Vec<String> {
    let mut r = vec![String::new(); c.len];
    let yes_no = |b: bool| if b { "是" } else { "否" }.to_string();
    let compulsory = p.stage < 3;
    r[c.school_id] = school.id.clone();
    r[c.name] = p.name();
    r[c.gender] = if p.male { "男" } else { "女" }.into();
    r[c.birth_date] = p.birth.format("%Y%m%d").to_string();
    r[c.birthplace_code] = format!("{}000000", p.birth_county);
    r[c.native_place] = school.province_name.clone();
    r[c.ethnicity] = if rng.random_bool(0.91) {
        "汉族"
    } else {
        ["壮族", "回族", "满族", "苗族", "彝族", "土家族", "藏族", "蒙古族"][rng.random_range(0..8)]
    }
    .into();
    r[c.nationality] = "中国".into();
    match &p.id18 {
        Some(id) => {
            r[c.id_type] = "居民身份证".into();
            r[c.id_number] = id.clone();
            r[c.registration_no] = format!("G{id}");
        }
        None => {
            r[c.id_type] = "其他".into();
            let j = make_id(&school.county, p.birth, p.male, (p.id % 500) as u32);
            r[c.registration_no] = format!("J{j}");
        }
    }
    r[c.overseas_status] = "否".into();
    r[c.health_status] = if rng.random_bool(0.96) {
        "健康或良好"
    } else {
        "一般或较弱"
    }
    .into();
    r[c.political_status] = match p.stage {
        1 => "少先队员",
        2 if rng.random_bool(0.3) => "共青团员",
        3 if rng.random_bool(0.6) => "共青团员",
        _ => "群众",
    }
    .into();
    r[c.hukou_type] = if p.rural_hukou {
        "农业户口"
    } else {
        "非农业户口"
    }
    .into();
    r[c.hukou_region_code] = format!("{}000000", p.hukou_county);
    let classes = if school.urban { 8 } else { 3 };
    let (cc, em) = class_code(
        p.stage,
        p.grade,
        year,
        school.class_offset + rng.random_range(1..=classes),
    );
    r[c.class_code] = cc;
    r[c.enrol_month] = em;
    r[c.admission_mode] = if compulsory {
        if rng.random_bool(0.95) {
            "就近入学"
        } else {
            "其他"
        }
    } else if rng.random_bool(0.92) {
        "统一招生考试/普通入学"
    } else {
        "艺术特招"
    }
    .into();
    r[c.attendance_mode] = if p.boarder { "住校" } else { "走读" }.into();
    let home = if school.urban {
        format!(
            "{}{}路{}号{}栋{}单元{}室",
            school.county_name,
            ["建设", "人民", "解放", "中山", "和平", "文化"][rng.random_range(0..6)],
            rng.random_range(1..300),
            rng.random_range(1..30),
            rng.random_range(1..6),
            rng.random_range(101..2999)
        )
    } else {
        format!(
            "{}{}镇{}村{}组{}号",
            school.county_name,
            ["城关", "新华", "青山", "河口", "石桥", "龙泉"][rng.random_range(0..6)],
            ["李家", "王庄", "东沟", "西岭", "马坪"][rng.random_range(0..5)],
            rng.random_range(1..12),
            rng.random_range(1..120)
        )
    };
    r[c.current_address] = home.clone();
    r[c.postal_address] = home.clone();
    r[c.home_address] = home.clone();
    r[c.phone] = p.parents[0].3.clone();
    r[c.postcode] = format!("{}{:04}", &school.county[..2], rng.random_range(0..10000));
    r[c.is_only_child] = yes_no(rng.random_bool(0.4));
    r[c.had_preschool] = yes_no(rng.random_bool(0.9));
    r[c.left_behind_type] = if compulsory {
        ["非留守儿童", "单亲留守儿童", "双亲留守儿童"][p.left_behind as usize].into()
    } else {
        String::new()
    };
    r[c.needs_aid] = yes_no(p.yibu || rng.random_bool(0.05));
    r[c.receives_yibu] = if compulsory { yes_no(p.yibu) } else { String::new() };
    r[c.is_orphan] = yes_no(rng.random_bool(0.002));
    r[c.is_martyr_child] = "否".into();
    r[c.school_distance_km] = format!("{:.1}", rng.random_range(2..250) as f64 / 10.0);
    r[c.commute_mode] =
        ["步行", "家长自行接送", "公共交通（含城市公交、农村客运、地铁）", "校车"][rng.random_range(0..4)].into();
    r[c.needs_school_bus] = yes_no(rng.random_bool(0.1));
    r[c.student_source] = "正常入学".into();
    r[c.disability_type] = "无残疾".into();
    r[c.inclusive_class] = "非随班就读".into();
    if let Some((kind, class)) = disability(p.id) {
        r[c.health_status] = "残疾".into();
        r[c.disability_type] = kind.into();
        r[c.inclusive_class] = class.into();
    }
    r[c.gov_purchased_place] = "否".into();
    r[c.blood_type] = ["A型", "B型", "O型", "AB型", "未知血型"][rng.random_range(0..5)].into();
    for (k, (name, male, id, phone)) in p.parents.iter().enumerate() {
        let (n, rel, addr, hk, ph, g, it, idn) = if k == 0 {
            (
                c.m1_name,
                c.m1_relation,
                c.m1_address,
                c.m1_hukou_region_code,
                c.m1_phone,
                c.m1_is_guardian,
                c.m1_id_type,
                c.m1_id_number,
            )
        } else {
            (
                c.m2_name,
                c.m2_relation,
                c.m2_address,
                c.m2_hukou_region_code,
                c.m2_phone,
                c.m2_is_guardian,
                c.m2_id_type,
                c.m2_id_number,
            )
        };
        r[n] = name.clone();
        r[rel] = if *male { "父亲" } else { "母亲" }.into();
        r[addr] = if p.left_behind > k as u8 {
            format!("{}务工", ["广东省东莞市", "浙江省宁波市", "江苏省苏州市"][k])
        } else {
            home.clone()
        };
        r[hk] = format!("{}000000", p.hukou_county);
        r[ph] = phone.clone();
        r[g] = "是".into();
        r[it] = "居民身份证".into();
        r[idn] = id.clone();
    }
    r[c.is_migrant_child] = if compulsory {
        yes_no(p.migrant_reported)
    } else {
        String::new()
    };
    r
}

/// The 残疾类型 and 随班就读 of a disabled pupil's record (健康状况 残疾), or `None` for most pupils.
/// About 1 in 150 is disabled, attending an ordinary school (随班就读 of the matching kind,
/// reference/TEMPLATE_FIELDS.md §2.8); one in four of them has 随班就读 or 残疾类型 left blank, for
/// list_disability_info_missing. Picked by the person number, not drawn, so that every other value
/// of the data stays as it was.
fn disability(person: u64) -> Option<(&'static str, &'static str)> {
    const KINDS: [(&str, &str); 6] = [
        ("视力残疾", "视力残疾随班就读"),
        ("听力残疾", "听力残疾随班就读"),
        ("智力残疾", "智力残疾随班就读"),
        ("肢体残疾", "其他残疾随班就读"),
        ("言语残疾", "其他残疾随班就读"),
        ("多重残疾", "其他残疾随班就读"),
    ];
    if person % 150 != 75 {
        return None;
    }
    let n = person / 150;
    let (kind, class) = KINDS[(n % 6) as usize];
    Some(match n % 8 {
        1 => (kind, ""),
        5 => ("", class),
        _ => (kind, class),
    })
}

/// Seed 003: "以“G”为前缀的正式学生学号为“G+身份证号”,但在学生证号变更等特殊情况下,两者可能会有所不同"
/// — about 1 pupil in 400 whose ID number was reissued under another sequence number after the G
/// number was given: the record states the new number, the 学籍号 keeps the old one
/// (list_registration_numbers lists them). Picked by the person number, not drawn.
pub fn reissue_id(r: &mut [String], p: &Person, c: &StudentCols, ids: &mut IdRegistry) {
    let Some(old) = p.id18.as_deref() else {
        return;
    };
    if p.id % 400 != 200 || r[c.id_number] != old {
        return;
    }
    let seq: u32 = old[14..17].parse().unwrap_or(0);
    let mut new = make_id(&old[..6], p.birth, p.male, (seq / 2 + 250) % 500);
    ids.claim(&mut new);
    r[c.id_number] = new;
}

/// A namesake: another child with the same name, gender and birth date, born to other parents
/// and registered in the county where `p` was born, with an ID number of their own.
pub fn namesake_of(p: &Person, id: u64, rng: &mut impl Rng) -> Person {
    let mut o = p.clone();
    o.id = id;
    o.hukou_county = p.birth_county.clone();
    o.id18 = Some(make_id(&o.hukou_county, p.birth, p.male, rng.random_range(0..500)));
    let mother_surname = names::surname(rng);
    o.parents = [
        parent(p.birth, &o.hukou_county, true, p.surname, rng),
        parent(p.birth, &o.hukou_county, false, mother_surname, rng),
    ];
    o
}

/// A twin: same parents, birth date and household; a different given name and ID sequence.
pub fn twin_of(p: &Person, id: u64, rng: &mut impl Rng) -> Person {
    let mut t = p.clone();
    t.id = id;
    t.male = rng.random_bool(0.5);
    loop {
        t.given = names::given(rng);
        if t.given != p.given {
            break;
        }
    }
    if let Some(pid) = &p.id18 {
        let seq: u32 = pid[14..17].parse().unwrap_or(0);
        t.id18 = Some(make_id(&p.hukou_county, p.birth, t.male, (seq / 2 + 1) % 500));
    }
    t
}

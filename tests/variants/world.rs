//! The independent generator: pupils, their variant second registrations, twins and same-name
//! strangers, written as one template CSV per school. Written from the variant kinds of issue 22
//! only: its PRNG, name lists and ID arithmetic are its own.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use chrono::{Datelike, Days, Months, NaiveDate};
use csv::StringRecord;
use pinyin::ToPinyin;

use super::{MIN_RECALL, Member, PER_KIND, PUPILS, Reg, STRANGER_PAIRS, TWIN_PAIRS};
use crate::common::{NIGHT1, date, samples};

const SEED: u64 = 0x0022_5EED_1DE9_E4D1;
/// Surnames with their rough frequency (per ten thousand people).
const SURNAMES: &str = "王710 李700 张670 刘540 陈460 杨310 黄250 赵230 吴200 周190 徐150 孙150 马140 \
    朱130 胡130 郭120 何120 林110 高110 罗110 郑100 梁100 谢80 宋80 唐80 许70 韩70 冯70 邓70 曹70 \
    彭60 曾60 肖60 田60 董50 潘50 袁50 蔡50 蒋50 余50 于50 杜40 叶40 程40 魏40 苏40 吕40 丁40 任40 \
    卢40 姚30 沈30 钟30 姜30 崔30 谭30 陆30 范30 汪30 廖30 石30 金30 韦20 贾20 夏20 付20 方20 邹20 \
    熊20 白20 孟20 秦20 邱20 侯20 江20 尹20 薛20 闫20 段20 雷20 龙20 黎20 史20 陶20 贺20 毛20 郝20 \
    顾20 龚20 邵20 万20 覃10 武10 钱10 戴10 严10 欧阳2 司马1 诸葛1";
/// Given-name characters for boys (m), girls (f) or either (n), with weights: ordinary ones, and ones
/// with a shape-similar partner (己 未 天 王 土 人 大 晨 …) so that `name_shape` has pupils to vary.
const GIVEN: &str = "伟m9 强m8 磊m7 军m7 洋m6 勇m6 杰m8 涛m7 明m8 超m6 刚m5 浩m9 宇m10 轩m9 睿m8 博m7 \
    俊m7 鑫m6 航m6 泽m8 鹏m6 辉m5 晟m3 芳f8 娜f7 敏f7 静f8 丽f7 艳f6 娟f6 秀f6 霞f5 桂f4 欣f9 怡f9 \
    佳f8 雨f9 思f8 婷f7 雪f6 颖f6 萱f8 琪f7 玉f4 子n9 涵n9 梓n9 文n8 天n6 一n6 嘉n7 安n6 宁n5 诗n6 \
    晨n7 己n2 已n1 未n2 末n1 王n1 土n1 士n2 人n2 大n2 太n2 日n2";
const FATHER_CHARS: &str = "建国华军明伟强峰海平林斌波勇刚志文东春福庆德";
const MOTHER_CHARS: &str = "丽红梅英芳霞燕萍玲琴秀兰华娟艳凤丹洁";
const ETHNICITIES: &str = "汉族920 回族15 壮族15 满族10 苗族10 土家族20 蒙古族5 彝族5";
/// Characters misread or mistyped as one another by shape (形近字): `name_shape` swaps within one.
const SHAPE_GROUPS: [&str; 9] = [
    "己已巳",
    "未末",
    "日曰",
    "天夭",
    "王玉",
    "土士",
    "人入",
    "大太犬",
    "晨晟",
];
/// Columns copied from the sample's rows: a value must be common there (a planted error is rare);
/// the required ones must be filled (义务教育 rows need 留守儿童, 一补 and 随迁子女).
const COPIED_REQUIRED: &[&str] = &[
    "健康状况",
    "就读方式",
    "是否留守儿童",
    "是否受过学前教育",
    "是否需要申请资助",
    "是否享受一补",
    "是否孤儿",
    "是否烈士或优抚子女",
    "是否进城务工人员随迁子女",
];
const COPIED_OPTIONAL: &[&str] = &[
    "政治面貌",
    "上下学方式",
    "是否需要乘坐校车",
    "血型",
    "学生来源",
    "残疾类型",
    "随班就读",
    "成员1民族",
    "成员2民族",
];

/// splitmix64: small and written here, so the population does not change with rand's algorithms.
#[derive(Default)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let mut r = self.below(xs.iter().map(|x| x.1 as usize).sum());
        for &(x, w) in xs {
            if r < w as usize {
                return x;
            }
            r -= w as usize;
        }
        unreachable!("r is below the total weight")
    }

    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

/// "王710 李700 …" as (name, weight) pairs.
fn weights(s: &'static str) -> Vec<(&'static str, u32)> {
    let split = |t: &'static str| t.split_at(t.find(|c: char| c.is_ascii_digit()).unwrap());
    s.split_whitespace()
        .map(split)
        .map(|(n, w)| (n, w.parse().unwrap()))
        .collect()
}

fn shape_group(c: char) -> Option<&'static str> {
    SHAPE_GROUPS.iter().copied().find(|g| g.contains(c))
}

/// Whether `b` could be `a` misread or misheard: the same character, a shape partner or a homophone.
fn alike(a: char, b: char) -> bool {
    let sound = |c: char| c.to_pinyin().map(|p| p.plain());
    a == b || shape_group(a).is_some_and(|g| g.contains(b)) || (sound(a).is_some() && sound(a) == sound(b))
}

/// The ISO 7064 MOD 11-2 check character of a resident ID's first 17 digits (GB 11643-1999).
fn check_char(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

/// `n` characters of `id`, at distinct positions in `at`, replaced by other digits (or X, as the
/// check character).
fn mistyped(rng: &mut Rng, id: &str, n: usize, at: Range<usize>) -> String {
    let (mut b, mut done) = (id.as_bytes().to_vec(), Vec::new());
    while done.len() < n {
        let (i, c) = (at.start + rng.below(at.len()), *rng.pick(b"0123456789X"));
        if !done.contains(&i) && c != b[i] && (c != b'X' || i == 17) {
            b[i] = c;
            done.push(i);
        }
    }
    String::from_utf8(b).unwrap()
}

/// Two adjacent, differing characters swapped.
fn transposed(rng: &mut Rng, id: &str) -> String {
    let mut b = id.as_bytes().to_vec();
    loop {
        let i = rng.below(17);
        if b[i] != b[i + 1] {
            b.swap(i, i + 1);
            return String::from_utf8(b).unwrap();
        }
    }
}

/// 学籍号 as an adapter writes it: G + an 18-character ID number; otherwise L (a number that is not
/// one) or J (no number) + the school's county + the birth date + 4 digits. Never one given before.
fn regno(rng: &mut Rng, taken: &mut HashSet<String>, id: Option<&str>, county: &str, birth: NaiveDate) -> String {
    let b = id.map(str::as_bytes).unwrap_or_default();
    let id18 = b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == b'X');
    if id18 && taken.insert(format!("G{}", id.unwrap())) {
        return format!("G{}", id.unwrap());
    }
    let kind = if id.is_some() { 'L' } else { 'J' };
    loop {
        let n = format!("{kind}{county}{}{:04}", birth.format("%Y%m%d"), rng.below(10_000));
        if taken.insert(n.clone()) {
            return n;
        }
    }
}

fn yes_no(b: bool) -> String {
    String::from(if b { "是" } else { "否" })
}

struct School {
    id: String,
    county: String,
    /// 1 小学, 2 初中: the 班号's stage digit.
    stage: u8,
}

#[derive(Default)]
pub(super) struct World {
    rng: Rng,
    /// The school year of NIGHT1 (the year of its 1 September).
    year: i32,
    schools: Vec<School>,
    counties: Vec<String>,
    province: HashMap<String, String>,
    surnames: Vec<(&'static str, u32)>,
    ethnicities: Vec<(&'static str, u32)>,
    boy: Vec<(char, u32)>,
    girl: Vec<(char, u32)>,
    chars: Vec<char>,
    persons: usize,
    ids: HashSet<String>,
    regnos: HashSet<String>,
    pub(super) regs: Vec<Reg>,
    /// Pairs of registrations (indices in `regs`) that must stay apart.
    pub(super) twins: Vec<(usize, usize)>,
    pub(super) strangers: Vec<(usize, usize)>,
}

impl World {
    pub(super) fn build() -> World {
        let mut r = csv::Reader::from_path(samples().join("schools.csv")).unwrap();
        let h = r.headers().unwrap().clone();
        let i = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (id, county, kind, address) = (i("学校标识码"), i("属地区县代码"), i("学校类别"), i("学校地址"));
        let (mut schools, mut province) = (Vec::new(), HashMap::new());
        for x in r.records().map(Result::unwrap) {
            // The address starts with the province (安徽省黟县): 籍贯 is written from it.
            let p = x[address].split_inclusive('省').next().unwrap().to_string();
            province.insert(x[county].to_string(), p);
            let stage = match &x[kind] {
                "小学" => 1,
                "初级中学" => 2,
                _ => continue,
            };
            schools.push(School {
                id: x[id].to_string(),
                county: x[county].to_string(),
                stage,
            });
        }
        let mut counties: Vec<String> = province.keys().cloned().collect();
        counties.sort();
        let given: Vec<(char, char, u32)> = GIVEN
            .split_whitespace()
            .map(|t| {
                let mut c = t.chars();
                (c.next().unwrap(), c.next().unwrap(), c.as_str().parse().unwrap())
            })
            .collect();
        let pool = |tag: char| -> Vec<(char, u32)> {
            given
                .iter()
                .filter(|g| g.1 == 'n' || g.1 == tag)
                .map(|g| (g.0, g.2))
                .collect()
        };
        let night = date(NIGHT1);
        let mut w = World {
            rng: Rng(SEED),
            year: night.year() - i32::from(night.month() < 9),
            schools,
            counties,
            province,
            surnames: weights(SURNAMES),
            ethnicities: weights(ETHNICITIES),
            boy: pool('m'),
            girl: pool('f'),
            chars: given.iter().map(|g| g.0).collect(),
            ..Default::default()
        };
        for _ in 0..PUPILS {
            let school = w.rng.below(w.schools.len());
            let hukou = w.hukou_for(school);
            let r = w.pupil(school, hukou);
            w.regs.push(r);
        }
        let spare = w.plant_variants();
        w.plant_twins();
        w.plant_strangers(&spare);
        w
    }

    fn surname(&mut self) -> String {
        self.rng.weighted(&self.surnames).to_string()
    }

    fn given(&mut self, male: bool, n: usize) -> String {
        (0..n)
            .map(|_| self.rng.weighted(if male { &self.boy } else { &self.girl }))
            .collect()
    }

    fn other_county(&mut self, not: &str) -> String {
        loop {
            let c = self.rng.pick(&self.counties);
            if c != not {
                return c.clone();
            }
        }
    }

    /// Most pupils' 户口 is in their school's county; some come from another (随迁, 异地就读).
    fn hukou_for(&mut self, school: usize) -> String {
        let own = self.schools[school].county.clone();
        if self.rng.chance(80) {
            own
        } else {
            self.other_county(&own)
        }
    }

    /// Another school of the same stage (the pupil keeps their grade) where `ok` holds.
    fn other_school(&mut self, from: usize, ok: impl Fn(&School) -> bool) -> usize {
        let stage = self.schools[from].stage;
        let options: Vec<usize> = (0..self.schools.len())
            .filter(|&s| s != from && self.schools[s].stage == stage && ok(&self.schools[s]))
            .collect();
        *self.rng.pick(&options)
    }

    /// A valid resident ID no one has yet: an odd sequence number for a male, even for a female.
    fn new_id(&mut self, county: &str, birth: NaiveDate, male: bool) -> String {
        loop {
            let seq = 2 * self.rng.below(499) + if male { 1 } else { 2 };
            let body = format!("{county}{}{seq:03}", birth.format("%Y%m%d"));
            let id = format!("{body}{}", check_char(&body));
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn adult(&mut self, surname: String, relation: &'static str, hukou: &str, year: i32, male: bool) -> Member {
        let chars: Vec<char> = if male { FATHER_CHARS } else { MOTHER_CHARS }.chars().collect();
        let n = 1 + usize::from(self.rng.chance(70));
        let given: String = (0..n).map(|_| *self.rng.pick(&chars)).collect();
        let days = Days::new(self.rng.below(365) as u64);
        let birth = NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .checked_add_days(days)
            .unwrap();
        let id = self.new_id(hukou, birth, male);
        Member {
            name: surname + &given,
            relation,
            id,
        }
    }

    /// The ID number and parents that follow from the pupil's name, gender, birth date and 户口.
    fn settle(&mut self, r: &mut Reg) {
        r.id = Some(self.new_id(&r.hukou, r.birth, r.male));
        // The child usually carries the father's surname, sometimes the mother's.
        let other = self.surname();
        let (fs, ms) = if self.rng.chance(94) {
            (r.surname.clone(), other)
        } else {
            (other, r.surname.clone())
        };
        let y = r.birth.year();
        let (fy, my) = (y - 24 - self.rng.below(12) as i32, y - 22 - self.rng.below(12) as i32);
        r.members = [
            self.adult(fs, "父亲", &r.hukou, fy, true),
            self.adult(ms, "母亲", &r.hukou, my, false),
        ];
    }

    /// A new pupil's first registration, in a grade of `school` and of the usual age for it.
    fn pupil(&mut self, school: usize, hukou: String) -> Reg {
        let stage = self.schools[school].stage;
        let (male, n) = (self.rng.chance(52), if self.rng.chance(25) { 1 } else { 2 });
        let grade = 1 + self.rng.below(if stage == 1 { 6 } else { 3 }) as i32;
        // 6 years old on 1 September in 小学一年级, 12 in 初一.
        let first_year = self.year + 1 - grade - if stage == 1 { 6 } else { 12 };
        let sep1 = NaiveDate::from_ymd_opt(first_year, 9, 1).unwrap();
        self.persons += 1;
        let mut r = Reg {
            person: self.persons,
            label: "",
            school,
            class: 1 + self.rng.below(6),
            surname: self.surname(),
            given: self.given(male, n),
            male,
            birth: sep1.checked_sub_days(Days::new(self.rng.below(365) as u64)).unwrap(),
            grade,
            born: hukou.clone(),
            hukou,
            id: None,
            ethnicity: self.rng.weighted(&self.ethnicities),
            rural: self.rng.chance(55),
            only_child: self.rng.chance(40),
            members: Default::default(),
        };
        self.settle(&mut r);
        r
    }

    /// Whether first registration `r` can carry the variant `kind`.
    fn fits(r: &Reg, kind: &str) -> bool {
        match kind {
            "birth_swap" => r.birth.day() <= 12 && r.birth.day() != r.birth.month(),
            "name_shape" => r.given.chars().any(|c| shape_group(c).is_some()),
            "name_drop" => r.given.chars().count() == 2 && r.surname.chars().count() == 1,
            _ => true,
        }
    }

    /// A second registration, in another school of the same stage, for PER_KIND pupils of each
    /// kind; returns the pupils left with one registration, in random order.
    fn plant_variants(&mut self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..PUPILS).collect();
        self.rng.shuffle(&mut order);
        let mut used = vec![false; PUPILS];
        for round in 0..PER_KIND {
            for &(kind, _) in &MIN_RECALL {
                let fits = |&&p: &&usize| !used[p] && Self::fits(&self.regs[p], kind);
                let p = *order
                    .iter()
                    .find(fits)
                    .unwrap_or_else(|| panic!("no pupil left for {kind}"));
                used[p] = true;
                let mut r = self.regs[p].clone();
                r.label = kind;
                r.school = self.other_school(r.school, |_| true);
                r.class = 1 + self.rng.below(6);
                self.vary(&mut r, !round.is_multiple_of(2));
                self.regs.push(r);
            }
        }
        order.into_iter().filter(|&p| !used[p]).collect()
    }

    /// Turn `r`, a copy of a first registration, into the variant `r.label`; `alt` picks the second
    /// form of the birth-date kinds.
    fn vary(&mut self, r: &mut Reg, alt: bool) {
        let (kind, id) = (r.label, r.id.clone().unwrap());
        let mut given: Vec<char> = r.given.chars().collect();
        // The ID number. With the right one the birth-date kinds would be found by the official
        // rule (one number) without any fuzzy matching: so none, or (half of them) a mistyped one.
        r.id = match kind {
            "id_digit" | "guardian_changed" => Some(mistyped(&mut self.rng, &id, 1, 0..18)),
            "id_transpose" => Some(transposed(&mut self.rng, &id)),
            "id_check" => Some(mistyped(&mut self.rng, &id, 1, 17..18)),
            "id_two" => Some(mistyped(&mut self.rng, &id, 2, 0..17)),
            // The legacy form: region, birth date without the century, sequence; no check.
            "id_15" => Some(format!("{}{}", &id[..6], &id[8..17])),
            _ if kind.starts_with("birth_") && alt => Some(mistyped(&mut self.rng, &id, 1, 0..18)),
            _ => None,
        };
        let (b, up, i) = (r.birth, self.rng.chance(50), self.rng.below(given.len()));
        let months = Months::new(if kind == "birth_month" { 1 } else { 12 });
        match kind {
            "id_missing" | "id_digit" | "id_transpose" | "id_check" | "id_two" | "id_15" => {}
            "birth_day" => r.birth = if up { b.succ_opt() } else { b.pred_opt() }.unwrap(),
            // The day is clamped to the month's last (31 March less a month: 28 or 29 February).
            "birth_month" | "birth_year" => r.birth = if up { b + months } else { b - months },
            "birth_swap" => r.birth = NaiveDate::from_ymd_opt(b.year(), b.day(), b.month()).unwrap(),
            "name_shape" => {
                let at: Vec<usize> = (0..given.len()).filter(|&i| shape_group(given[i]).is_some()).collect();
                let i = *self.rng.pick(&at);
                let partners: Vec<char> = shape_group(given[i])
                    .unwrap()
                    .chars()
                    .filter(|&c| c != given[i])
                    .collect();
                given[i] = *self.rng.pick(&partners);
            }
            // Another character: neither a homophone nor a shape partner.
            "name_other" | "combo" => {
                given[i] = loop {
                    let c = *self.rng.pick(&self.chars);
                    if !alike(given[i], c) {
                        break c;
                    }
                };
                if kind == "combo" {
                    // The family's 户口 moved to another county.
                    r.hukou = self.other_county(&r.hukou);
                }
            }
            "name_drop" => {
                given.remove(i);
            }
            "name_add" => given.insert(self.rng.below(given.len() + 1), *self.rng.pick(&self.chars)),
            "gender_wrong" => r.male = !r.male,
            "guardian_changed" => {
                // A grandfather listed instead of the father.
                let year = b.year() - 50 - self.rng.below(12) as i32;
                r.members[0] = self.adult(r.surname.clone(), "祖父", &r.hukou, year, true);
            }
            other => unreachable!("no variant {other}"),
        }
        r.given = given.into_iter().collect();
    }

    /// Twins: one school and class, surname, birth date, 户口, parents and address; other given
    /// names; ID numbers that differ only in the sequence and check (a third: one twin without).
    fn plant_twins(&mut self) {
        for i in 0..TWIN_PAIRS {
            let school = self.rng.below(self.schools.len());
            let hukou = self.hukou_for(school);
            let mut a = self.pupil(school, hukou);
            (a.label, a.only_child) = ("twin", false);
            let mut b = a.clone();
            self.persons += 1;
            (b.person, b.male) = (self.persons, self.rng.chance(50));
            let first: Vec<char> = a.given.chars().collect();
            b.given = loop {
                let mut g: Vec<char> = self.given(b.male, first.len()).chars().collect();
                // Half of them share the first character (子涵, 子轩).
                if first.len() == 2 && self.rng.chance(50) {
                    g[0] = first[0];
                }
                if first.iter().zip(&g).any(|(&x, &y)| !alike(x, y)) {
                    break g.into_iter().collect();
                }
            };
            b.id = (!i.is_multiple_of(3)).then(|| self.new_id(&b.hukou, b.birth, b.male));
            self.twins.push((self.regs.len(), self.regs.len() + 1));
            self.regs.extend([a, b]);
        }
    }

    /// A pupil of the same name, gender and birth date in another county, with other parents and
    /// 户口; both with valid, different ID numbers, or (half of them) the stranger without one.
    fn plant_strangers(&mut self, spare: &[usize]) {
        for (i, &o) in spare.iter().take(STRANGER_PAIRS).enumerate() {
            let (from, home) = (self.regs[o].school, self.regs[o].hukou.clone());
            let county = self.schools[from].county.clone();
            let school = self.other_school(from, |s| s.county != county);
            let there = self.schools[school].county.clone();
            let hukou = if there != home { there } else { self.other_county(&home) };
            let mut s = self.pupil(school, hukou);
            let x = &self.regs[o];
            (s.surname, s.given) = (x.surname.clone(), x.given.clone());
            (s.male, s.birth, s.grade, s.label) = (x.male, x.birth, x.grade, "stranger");
            loop {
                self.settle(&mut s);
                if (0..2).all(|m| s.members[m].name != self.regs[o].members[m].name) {
                    break;
                }
            }
            if i % 2 == 1 {
                s.id = None;
            }
            self.strangers.push((o, self.regs.len()));
            self.regs.push(s);
        }
    }

    /// One CSV per school (ingest takes a school's rows from one file a night). Returns the truth:
    /// (file name, row as Excel shows it, the header being row 1) → index in `regs`.
    pub(super) fn write(&mut self, dir: &Path) -> HashMap<(String, u64), usize> {
        let (header, templates) = templates();
        let col = |n: &str| {
            header
                .iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("no column {n}"))
        };
        let (mut truth, mut chosen) = (HashMap::new(), HashMap::new());
        for (s, school) in self.schools.iter().enumerate() {
            let rows = templates
                .get(&school.id)
                .unwrap_or_else(|| panic!("no sample row to copy in {}", school.id));
            let file = format!("{}.csv", school.id);
            let mut w = csv::Writer::from_path(dir.join(&file)).unwrap();
            w.write_record(&header).unwrap();
            for (n, (i, r)) in self.regs.iter().enumerate().filter(|(_, r)| r.school == s).enumerate() {
                // Twins share the template row (one home address): they share a father.
                let next = chosen.len();
                let k = *chosen.entry((s, r.members[0].id.clone())).or_insert(next);
                let mut v: Vec<String> = rows[k % rows.len()].iter().map(str::to_string).collect();
                // A new mobile number for every registration, as an outside adapter writes them.
                let phones = [0, 1].map(|_| format!("1{}{:09}", self.rng.pick(&[3, 5, 8]), self.rng.below(1 << 29)));
                let no = regno(
                    &mut self.rng,
                    &mut self.regnos,
                    r.id.as_deref(),
                    &school.county,
                    r.birth,
                );
                let (address, entry) = (v[col("现住址")].clone(), self.year - r.grade + 1);
                let mut put = |n: &str, x: String| v[col(n)] = x;
                put("学校标识码", school.id.clone());
                put("姓名", format!("{}{}", r.surname, r.given));
                put("性别", if r.male { "男" } else { "女" }.into());
                put("出生日期", r.birth.format("%Y%m%d").to_string());
                put("出生地行政区划代码", format!("{}000000", r.born));
                put("籍贯", self.province[&r.born].clone());
                put("民族", r.ethnicity.into());
                put("国籍/地区", "中国".into());
                put("港澳台侨外", "否".into());
                put(
                    "身份证件类型",
                    if r.id.is_some() { "居民身份证" } else { "其他" }.into(),
                );
                put("身份证件号", r.id.clone().unwrap_or_default());
                put("户口性质", if r.rural { "农业户口" } else { "非农业户口" }.into());
                put("户口所在地行政区划", format!("{}000000", r.hukou));
                put("班号", format!("{entry}{}{:02}", school.stage, r.class));
                put("入学年月", format!("{entry}09"));
                put("入学方式", "就近入学".into());
                put("联系电话", phones[0].clone());
                put("是否独生子女", yes_no(r.only_child));
                put("是否由政府购买学位", "否".into());
                for n in ["曾用名", "身份证件有效期", "电子信箱", "成员1关系说明", "成员2关系说明"]
                {
                    put(n, String::new());
                }
                for (m, x) in r.members.iter().enumerate() {
                    let f = |field: &str| format!("成员{}{field}", m + 1);
                    put(&f("姓名"), x.name.clone());
                    put(&f("关系"), x.relation.into());
                    put(&f("现住址"), address.clone());
                    put(&f("户口所在地行政区划"), format!("{}000000", r.hukou));
                    put(&f("联系电话"), phones[m].clone());
                    put(&f("是否监护人"), yes_no(true));
                    put(&f("身份证件类型"), "居民身份证".into());
                    put(&f("身份证件号"), x.id.clone());
                }
                put("学籍号", no);
                w.write_record(v).unwrap();
                truth.insert((file.clone(), n as u64 + 2), i);
            }
            w.flush().unwrap();
        }
        truth
    }
}

/// The sample's header and, per school, its rows whose non-identity columns are fit to copy.
fn templates() -> (StringRecord, HashMap<String, Vec<StringRecord>>) {
    let mut files: Vec<_> = std::fs::read_dir(samples().join("students-csv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut header, mut all) = (None::<StringRecord>, Vec::new());
    for f in files {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_path(&f).unwrap();
        let h = r.headers().unwrap().clone();
        assert!(
            header.as_ref().is_none_or(|x| *x == h),
            "{} has another header",
            f.display()
        );
        all.extend(r.records().map(Result::unwrap).filter(|x| x.len() == h.len()));
        header = Some(h);
    }
    let header = header.expect("sample student CSVs");
    let col = |n: &str| {
        header
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no column {n}"))
    };
    let copied: Vec<usize> = COPIED_REQUIRED.iter().chain(COPIED_OPTIONAL).map(|n| col(n)).collect();
    let mut seen: HashMap<(usize, &str), usize> = HashMap::new();
    for x in &all {
        for &c in &copied {
            *seen.entry((c, &x[c])).or_default() += 1;
        }
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let usable = |x: &StringRecord| {
        let common = |n: &str| seen.get(&(col(n), &x[col(n)])).is_some_and(|&k| k >= 10);
        let km = &x[col("上下学距离")];
        let (whole, tenth) = km.split_once('.').unwrap_or((km, "0"));
        COPIED_REQUIRED.iter().all(|n| !x[col(n)].is_empty() && common(n))
            && COPIED_OPTIONAL.iter().all(|n| x[col(n)].is_empty() || common(n))
            && (x[col("邮政编码")].len() == 6 && digits(&x[col("邮政编码")]))
            && (km.is_empty() || (digits(whole) && tenth.len() == 1 && digits(tenth)))
            && ["现住址", "通信地址", "家庭地址"].iter().all(|n| !x[col(n)].is_empty())
    };
    let mut rows: HashMap<String, Vec<StringRecord>> = HashMap::new();
    for x in all.iter().filter(|x| usable(x)) {
        rows.entry(x[col("学校标识码")].to_string())
            .or_default()
            .push(x.clone());
    }
    (header, rows)
}

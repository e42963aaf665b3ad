//! Administrative divisions (国家统计局 2023 统计用区划代码), from schemas/reference/divisions_*.csv.

const PROVINCES: &str = include_str!("../../schemas/reference/divisions_province.csv");
const CITIES: &str = include_str!("../../schemas/reference/divisions_city.csv");
const COUNTIES: &str = include_str!("../../schemas/reference/divisions_county.csv");
const ETHNICITIES: &str = include_str!("../../schemas/reference/ethnicity_codes.csv");

#[derive(Debug, Clone)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub parent: String,
}

pub struct Regions {
    pub provinces: Vec<Division>,
    pub cities: Vec<Division>,
    pub counties: Vec<Division>,
    by_code: std::collections::HashMap<String, (u8, usize), ahash::RandomState>,
    /// Names a 籍贯 may start with: every division's full name and its short name of two
    /// characters or more (安徽, 阜阳, 临泉, 延边, 兴安; a bare 和 or 沙 names nothing).
    place_names: std::collections::HashSet<String, ahash::RandomState>,
}

/// Suffixes that a division's short name drops, longest first; then the names of the peoples
/// of an autonomous division (延边朝鲜族自治州 → 延边, 恩施土家族苗族自治州 → 恩施).
const SUFFIXES: [&str; 12] = [
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "省",
    "市",
    "县",
    "区",
    "盟",
    "旗",
];

/// The short name of a division: its name less the suffix and the peoples' names.
fn short_name<'a>(name: &'a str, peoples: &[&str]) -> &'a str {
    let mut s = SUFFIXES.iter().find_map(|x| name.strip_suffix(x)).unwrap_or(name);
    while let Some(rest) = peoples.iter().find_map(|p| s.strip_suffix(p).filter(|r| !r.is_empty())) {
        s = rest;
    }
    s
}

/// The longest name `place_names` holds, in characters (新疆维吾尔自治区 and the like, and the long
/// 自治州 and 自治县 names).
const LONGEST_NAME: usize = 16;

/// Hong Kong, Macao and Taiwan are not in the NBS data but appear in records (reference/README.md).
const HMT: [&str; 3] = ["81", "82", "83"];

impl Regions {
    pub(super) fn load() -> Result<Self, String> {
        fn parse(text: &str, file: &str) -> Result<Vec<Division>, String> {
            text.lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let mut f = l.split(',');
                    match (f.next(), f.next(), f.next()) {
                        (Some(c), Some(n), Some(p)) => Ok(Division {
                            code: c.into(),
                            name: n.into(),
                            parent: p.into(),
                        }),
                        _ => Err(format!("{file}: bad line {l}")),
                    }
                })
                .collect()
        }
        let provinces = parse(PROVINCES, "divisions_province.csv")?;
        let cities = parse(CITIES, "divisions_city.csv")?;
        let counties = parse(COUNTIES, "divisions_county.csv")?;
        let mut by_code = std::collections::HashMap::with_hasher(ahash::RandomState::new());
        for (level, list) in [(2u8, &provinces), (4, &cities), (6, &counties)] {
            for (i, d) in list.iter().enumerate() {
                by_code.insert(d.code.clone(), (level, i));
            }
        }
        // 维吾尔族 is named 维吾尔 in 新疆维吾尔自治区: both forms, longest first.
        let mut peoples: Vec<&str> = ETHNICITIES
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(1))
            .filter(|n| n.ends_with('族'))
            .flat_map(|n| [n, n.trim_end_matches('族')])
            .filter(|n| n.chars().count() >= 2)
            .collect();
        peoples.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let mut place_names = std::collections::HashSet::with_hasher(ahash::RandomState::new());
        for d in provinces.iter().chain(&cities).chain(&counties) {
            place_names.insert(d.name.clone());
            let short = short_name(&d.name, &peoples);
            if short.chars().count() >= 2 {
                place_names.insert(short.to_string());
            }
        }
        place_names.extend(["香港", "澳门", "台湾"].map(String::from));
        // 市辖区 and 县 (a city's own counties) are list rows, not places.
        place_names.remove("市辖区");
        place_names.remove("县");
        Ok(Regions {
            provinces,
            cities,
            counties,
            by_code,
            place_names,
        })
    }

    fn get(&self, code: &str) -> Option<&Division> {
        let (level, i) = *self.by_code.get(code)?;
        Some(match level {
            2 => &self.provinces[i],
            4 => &self.cities[i],
            _ => &self.counties[i],
        })
    }

    /// A 6-digit code that names a county, a city (`xxxx00`) or a province (`xx0000`) of the list,
    /// or a Hong Kong / Macao / Taiwan code.
    pub fn known6(&self, code6: &str) -> bool {
        if code6.len() != 6 || !code6.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if HMT.contains(&&code6[..2]) {
            return true;
        }
        if self.by_code.contains_key(code6) {
            return true;
        }
        if &code6[4..] == "00" {
            if &code6[2..4] == "00" {
                return self.by_code.contains_key(&code6[..2]);
            }
            return self.by_code.contains_key(&code6[..4]);
        }
        false
    }

    /// Name of a province (2), city (4) or county (6) code.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.get(code).map(|d| d.name.as_str())
    }

    /// Does a 籍贯 name a place of China: it starts with a province's, city's or county's name
    /// (full or short: 安徽省阜阳市临泉县, 阜阳, 临泉县), or is a known region code (reference
    /// TEMPLATE_FIELDS.md: "some school forms store a region code instead")?
    pub fn names_place(&self, text: &str) -> bool {
        let t = text.trim();
        if t.len() >= 6 && t.is_ascii() {
            return self.known6(&t[..6]) && t.bytes().all(|b| b.is_ascii_digit());
        }
        t.char_indices()
            .take(LONGEST_NAME)
            .skip(1)
            .any(|(i, ch)| self.place_names.contains(&t[..i + ch.len_utf8()]))
    }

    pub fn counties_of(&self, province: &str) -> impl Iterator<Item = &Division> {
        self.counties.iter().filter(move |d| d.code.starts_with(province))
    }
}

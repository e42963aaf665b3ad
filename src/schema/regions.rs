//! Administrative divisions (国家统计局 2023 统计用区划代码), from schemas/reference/divisions_*.csv.

const PROVINCES: &str = include_str!("../../schemas/reference/divisions_province.csv");
const CITIES: &str = include_str!("../../schemas/reference/divisions_city.csv");
const COUNTIES: &str = include_str!("../../schemas/reference/divisions_county.csv");

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
}

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
        Ok(Regions {
            provinces,
            cities,
            counties,
            by_code,
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

    pub fn counties_of(&self, province: &str) -> impl Iterator<Item = &Division> {
        self.counties.iter().filter(move |d| d.code.starts_with(province))
    }
}

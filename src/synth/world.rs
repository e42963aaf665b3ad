//! The synthetic world: provinces, counties and schools, chosen deterministically from the seed.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::schema::catalog;

#[derive(Debug, Clone)]
pub struct School {
    pub id: String,
    pub name: String,
    pub county: String,
    pub county_name: String,
    pub province: String,
    pub province_name: String,
    pub kind: &'static str,
    pub stages: Vec<u8>,
    pub public: bool,
    pub urban: bool,
    pub urban_rural: &'static str,
    pub branch_of: Option<String>,
    /// 学制 五四制 (the last county of a province with three or more runs it).
    pub five_four: bool,
    /// Branch campuses continue the class numbering after the main campus.
    pub class_offset: u32,
    pub pupils: u64,
}

pub struct World {
    pub schools: Vec<School>,
}

/// (kind name, stages offered, weight)
const KINDS: &[(&str, &[u8], u32)] = &[
    ("小学", &[1], 58),
    ("初级中学", &[2], 20),
    ("九年一贯制学校", &[1, 2], 8),
    ("高级中学", &[3], 9),
    ("完全中学", &[2, 3], 5),
];

pub fn build(pupils: u64, provinces: usize, pupils_per_county: u64, school_size: u64, rng: &mut impl Rng) -> World {
    let regions = &catalog().regions;
    let mut provs: Vec<_> = regions
        .provinces
        .iter()
        .filter(|p| regions.counties_of(&p.code).count() >= 4)
        .collect();
    provs.shuffle(rng);
    provs.truncate(provinces.max(1));
    provs.sort_by(|a, b| a.code.cmp(&b.code));
    let mut schools = Vec::new();
    let per_prov = split(pupils, provs.len() as u64);
    for (p, &np) in provs.iter().zip(&per_prov) {
        let mut counties: Vec<_> = regions
            .counties_of(&p.code)
            .filter(|c| !c.name.contains("市辖区"))
            .collect();
        counties.shuffle(rng);
        let nc = np.div_ceil(pupils_per_county).clamp(2, counties.len() as u64) as usize;
        counties.truncate(nc);
        counties.sort_by(|a, b| a.code.cmp(&b.code));
        for (ci, (c, &ncp)) in counties.iter().zip(&split(np, nc as u64)).enumerate() {
            let five_four = nc >= 3 && ci + 1 == nc;
            let ns = ncp.div_ceil(school_size).clamp(2, 999);
            let mut weights = Vec::new();
            let mut county_schools = Vec::new();
            for i in 0..ns {
                // Guarantee every stage in a county with enough schools; then draw by weight.
                let k = if i < 3 { [0, 1, 3][i as usize] } else { pick_kind(rng) };
                let (kind, stages, _) = KINDS[k];
                let urban = i % 2 == 0 || rng.random_bool(0.2);
                let urban_rural = if urban {
                    ["111", "112", "121"][rng.random_range(0..3)]
                } else {
                    ["210", "220"][rng.random_range(0..2)]
                };
                let public = !rng.random_bool(0.1);
                let id = format!("2{}{:03}", c.code, i + 1);
                let name = format!(
                    "{}{}{}",
                    c.name,
                    ["第一", "第二", "实验", "城关", "育才", "希望", "新华", "红星"][(i % 8) as usize],
                    short(kind)
                );
                weights.push(if urban { 2.0 } else { 0.8 });
                county_schools.push(School {
                    id,
                    name: format!(
                        "{name}{}",
                        if i >= 8 {
                            format!("（{}）", i / 8 + 1)
                        } else {
                            String::new()
                        }
                    ),
                    county: c.code.clone(),
                    county_name: c.name.clone(),
                    province: p.code.clone(),
                    province_name: p.name.clone(),
                    kind,
                    stages: stages.to_vec(),
                    public,
                    urban,
                    urban_rural,
                    branch_of: None,
                    five_four: five_four && !stages.contains(&3),
                    class_offset: 0,
                    pupils: 0,
                });
            }
            // One branch campus per county with a second primary school: it continues the numbering.
            let primaries: Vec<usize> = county_schools
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind == "小学")
                .map(|(i, _)| i)
                .collect();
            if primaries.len() >= 2 {
                let main = county_schools[primaries[0]].id.clone();
                let b = &mut county_schools[primaries[1]];
                b.branch_of = Some(main);
                b.class_offset = 10;
                b.name.push_str("分校");
            }
            let total: f64 = weights.iter().sum();
            let mut left = ncp;
            let n = county_schools.len();
            for (i, s) in county_schools.iter_mut().enumerate() {
                s.pupils = if i + 1 == n {
                    left
                } else {
                    ((ncp as f64 * weights[i] / total) as u64).min(left)
                };
                left -= s.pupils;
            }
            schools.extend(county_schools);
        }
    }
    World { schools }
}

fn short(kind: &str) -> &str {
    match kind {
        "初级中学" => "中学",
        "九年一贯制学校" => "学校",
        "高级中学" => "高级中学",
        "完全中学" => "中学",
        _ => "小学",
    }
}

fn pick_kind(rng: &mut impl Rng) -> usize {
    let total: u32 = KINDS.iter().map(|k| k.2).sum();
    let mut x = rng.random_range(0..total);
    for (i, k) in KINDS.iter().enumerate() {
        if x < k.2 {
            return i;
        }
        x -= k.2;
    }
    0
}

/// Split `n` into `k` near-equal parts.
pub fn split(n: u64, k: u64) -> Vec<u64> {
    (0..k).map(|i| n / k + u64::from(i < n % k)).collect()
}

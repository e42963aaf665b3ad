//! Who may read what: the token file of `xueji serve`. A token is stored only as its SHA-256;
//! each is bound to one jurisdiction (a province, city or county code, or a 学校标识码) and a set
//! of lists, and may see unmasked ID numbers, birth dates, phones and addresses only when its
//! grant says so.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LISTS;

/// The token file: `[[tokens]]` entries.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    #[serde(default)]
    pub tokens: Vec<Grant>,
}

/// One token's grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// A short id, written to the audit log (never the token itself).
    pub id: String,
    /// Who holds it, e.g. 黟县学生资助管理中心.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// `*` (the whole country), a 2-, 4- or 6-digit region code, or a 10-digit 学校标识码.
    pub jurisdiction: String,
    /// The lists it may read; `*` for all.
    pub lists: Vec<String>,
    /// Whether it sees ID numbers, phones and addresses in full.
    #[serde(default)]
    pub unmask: bool,
    /// The last day it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
}

/// Where a token may look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jurisdiction {
    All,
    /// A province (2 digits), city (4) or county (6) code.
    Region(String),
    School(String),
}

impl Jurisdiction {
    pub fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Jurisdiction::All);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match s.len() {
            2 | 4 | 6 => Some(Jurisdiction::Region(s.to_string())),
            10 => Some(Jurisdiction::School(s.to_string())),
            _ => None,
        }
    }

    /// Whether a county lies inside a region jurisdiction (always for `All`).
    pub fn holds_county(&self, county: &str) -> bool {
        match self {
            Jurisdiction::All => true,
            Jurisdiction::Region(r) => county.starts_with(r.as_str()),
            Jurisdiction::School(_) => false,
        }
    }
}

impl Grant {
    pub fn jurisdiction(&self) -> Jurisdiction {
        Jurisdiction::parse(&self.jurisdiction).expect("checked when the file was loaded")
    }

    pub fn may_read(&self, list: &str) -> bool {
        self.lists.iter().any(|l| l == "*" || l == list)
    }
}

/// The grants of a token file, by token hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<String, Grant>,
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Tokens {
    /// Read and check a token file: every entry must name real lists and a well-formed jurisdiction.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("无法读取令牌文件 {}", path.display()))?;
        let file: TokenFile = toml::from_str(&text).with_context(|| format!("令牌文件 {} 格式错误", path.display()))?;
        let mut by_hash = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        for g in file.tokens {
            check(&g).with_context(|| format!("令牌文件 {}：令牌 {}", path.display(), g.id))?;
            ensure!(
                ids.insert(g.id.clone()),
                "令牌文件 {}：令牌编号 {} 重复",
                path.display(),
                g.id
            );
            ensure!(
                by_hash.insert(g.sha256.to_ascii_lowercase(), g.clone()).is_none(),
                "令牌文件 {}：令牌 {} 的散列与另一令牌相同",
                path.display(),
                g.id
            );
        }
        Ok(Tokens { by_hash })
    }

    /// The grant of a presented token.
    pub fn grant(&self, token: &str) -> Option<&Grant> {
        self.by_hash.get(&hash_token(token))
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

fn check(g: &Grant) -> Result<()> {
    ensure!(
        !g.id.is_empty() && g.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "编号 {:?} 只能由字母、数字和 -_. 组成",
        g.id
    );
    ensure!(
        g.sha256.len() == 64 && g.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
        "sha256 应为 64 位十六进制散列"
    );
    let Some(j) = Jurisdiction::parse(&g.jurisdiction) else {
        bail!(
            "管辖范围 {:?} 无效：应为 *、2/4/6 位行政区划代码或 10 位学校标识码",
            g.jurisdiction
        )
    };
    if let Jurisdiction::Region(code) = &j {
        ensure!(
            crate::schema::catalog().regions.name(code).is_some(),
            "管辖范围 {code} 不是已知的行政区划代码"
        );
    }
    ensure!(!g.lists.is_empty(), "没有授权任何清单（lists）");
    for l in &g.lists {
        ensure!(
            l == "*" || LISTS.iter().any(|s| s.name == l),
            "没有名为 {l} 的清单；可用：{}",
            LISTS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// A new random token: printed once, stored only as its hash.
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("无法取得随机数：{e}"))?;
    Ok(format!(
        "xj_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Add a grant for a new token to the file (created if missing); returns the token.
pub fn add_token(path: &Path, mut grant: Grant) -> Result<String> {
    let token = new_token()?;
    grant.sha256 = hash_token(&token);
    check(&grant)?;
    let mut file: TokenFile = match std::fs::read_to_string(path) {
        Ok(t) => toml::from_str(&t).with_context(|| format!("令牌文件 {} 格式错误", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
        Err(e) => return Err(e).with_context(|| format!("无法读取令牌文件 {}", path.display())),
    };
    ensure!(
        !file.tokens.iter().any(|g| g.id == grant.id),
        "令牌文件 {} 中已有编号 {}",
        path.display(),
        grant.id
    );
    file.tokens.push(grant);
    let text = format!(
        "# xueji serve 的访问令牌：只保存令牌的 SHA-256 散列 / access tokens, stored hashed\n{}",
        toml::to_string(&file)?
    );
    // Write beside and rename, so a crash never leaves half a file.
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("无法写入 {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("无法写入 {}", path.display()))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jurisdictions() {
        assert_eq!(Jurisdiction::parse("*"), Some(Jurisdiction::All));
        assert_eq!(Jurisdiction::parse("3410"), Some(Jurisdiction::Region("3410".into())));
        assert_eq!(
            Jurisdiction::parse("2341023003"),
            Some(Jurisdiction::School("2341023003".into()))
        );
        assert_eq!(Jurisdiction::parse("34102"), None);
        assert_eq!(Jurisdiction::parse("34'--"), None);
        assert!(Jurisdiction::Region("3410".into()).holds_county("341023"));
        assert!(!Jurisdiction::Region("3410".into()).holds_county("340102"));
    }

    #[test]
    fn tokens_are_stored_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let g = |id: &str, j: &str, lists: &[&str]| Grant {
            id: id.into(),
            name: "测试".into(),
            sha256: String::new(),
            jurisdiction: j.into(),
            lists: lists.iter().map(|s| s.to_string()).collect(),
            unmask: false,
            expires: None,
        };
        let t = add_token(&path, g("a", "341023", &["list_yibu"])).unwrap();
        assert!(
            !std::fs::read_to_string(&path).unwrap().contains(&t),
            "the token itself is never written"
        );
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.grant(&t).unwrap().id, "a");
        assert!(tokens.grant("xj_wrong").is_none());
        assert!(
            add_token(&path, g("a", "341023", &["list_yibu"])).is_err(),
            "duplicate id"
        );
        assert!(
            add_token(&path, g("b", "99", &["list_yibu"])).is_err(),
            "unknown region"
        );
        assert!(
            add_token(&path, g("b", "341023", &["students"])).is_err(),
            "not a served list"
        );
    }
}

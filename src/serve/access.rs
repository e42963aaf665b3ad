//! Who may read what: the token file of `xueji serve`. A token is stored only as its SHA-256;
//! each is bound to one jurisdiction (a province, city or county code, or a 学校标识码) and a set
//! of lists, and may see unmasked ID numbers, birth dates, phones and addresses only when its
//! grant says so. `lookup` among its lists lets it use 全国学籍查询 (`/v1/lookup`); `*` does not
//! include it, since a lookup reaches beyond the jurisdiction (serve/lookup.rs).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LISTS;

/// The grant of 全国学籍查询 (`/v1/lookup`), named among a token's lists.
pub const LOOKUP: &str = "lookup";

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

    /// Whether it may use 全国学籍查询: only when granted by name, never through `*`.
    pub fn may_lookup(&self) -> bool {
        self.lists.iter().any(|l| l == LOOKUP)
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

    pub fn len(&self) -> usize {
        self.by_hash.len()
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
            l == "*" || l == LOOKUP || LISTS.iter().any(|s| s.name == l),
            "没有名为 {l} 的清单；可用：{}，以及 {LOOKUP}（全国学籍查询）",
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
///
/// Concurrent runs are serialised by a lock file beside the token file and each writes its own
/// temporary file, renamed over the old one: twelve at once store twelve tokens.
pub fn add_token(path: &Path, mut grant: Grant) -> Result<String> {
    let token = new_token()?;
    grant.sha256 = hash_token(&token);
    check(&grant)?;
    let _lock = FileLock::acquire(path)?;
    let mut file = read_file(path)?;
    ensure!(
        !file.tokens.iter().any(|g| g.id == grant.id),
        "令牌文件 {} 中已有编号 {}",
        path.display(),
        grant.id
    );
    file.tokens.push(grant);
    write_file(path, &file)?;
    Ok(token)
}

/// Remove a token from the file; whether it was there. A running server stops taking it when it
/// next reads the file (within its reload interval, or at once on SIGHUP).
pub fn revoke_token(path: &Path, id: &str) -> Result<bool> {
    let _lock = FileLock::acquire(path)?;
    let mut file = read_file(path)?;
    let before = file.tokens.len();
    file.tokens.retain(|g| g.id != id);
    if file.tokens.len() == before {
        return Ok(false);
    }
    write_file(path, &file)?;
    Ok(true)
}

/// The token file as stored (an empty one when it does not exist yet).
fn read_file(path: &Path) -> Result<TokenFile> {
    match std::fs::read_to_string(path) {
        Ok(t) => toml::from_str(&t).with_context(|| format!("令牌文件 {} 格式错误", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(e) => Err(e).with_context(|| format!("无法读取令牌文件 {}", path.display())),
    }
}

/// Write the file whole: a temporary file of its own in the same folder (so no two writers
/// share one), made durable, then renamed over the old one, so a crash never leaves half a file.
fn write_file(path: &Path, file: &TokenFile) -> Result<()> {
    let text = format!(
        "# xueji serve 的访问令牌：只保存令牌的 SHA-256 散列 / access tokens, stored hashed\n{}",
        toml::to_string(file)?
    );
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".xueji-tokens-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("无法在 {} 中创建临时文件", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| {
            // The old file's permissions carry over (a new file stays readable by its owner only).
            if let Ok(m) = std::fs::metadata(path) {
                std::fs::set_permissions(tmp.path(), m.permissions())?;
            }
            tmp.as_file().sync_all()
        })
        .with_context(|| format!("无法写入 {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("无法写入 {}", path.display()))?;
    Ok(())
}

/// How long a writer waits for another's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive lock on a token file: `<file>.lock`, created with `create_new` (only one process
/// can), removed when dropped.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    fn acquire(file: &Path) -> Result<Self> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let started = Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(FileLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(10 + u64::from(std::process::id() % 20)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                    "令牌文件 {} 正被另一个进程修改（锁文件 {} 已存在 {} 秒）；若没有其他 xueji token 在运行，请删除该锁文件后重试",
                    file.display(),
                    path.display(),
                    LOCK_WAIT.as_secs()
                ),
                Err(e) => return Err(e).with_context(|| format!("无法创建锁文件 {}", path.display())),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What tells that a token file changed: its modification time, length and inode (a rename over
/// it makes a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The file's stamp; None when it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
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

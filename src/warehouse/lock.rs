//! The writer lock of a warehouse: one writing command (`ingest`, `run`, …) at a time.
//!
//! The lock is the object `<warehouse>/_xueji/lock`, in the same store as the secret, so it works
//! the same on a local disk and on S3. It is made with put-if-absent (`PutMode::Create`): of two
//! processes that try at once, exactly one creates it. Its body names the holder (a random token),
//! the purpose, the process and a lease (`expires_at`). A background task renews the lease every
//! quarter of it; a process that dies or is killed stops renewing, and its lock expires by itself.
//!
//! A lock whose lease has run out (or whose body cannot be read and that is older than a lease) is
//! taken over: with a conditional overwrite (`PutMode::Update` on the e-tag that was read) where
//! the store supports it (S3), which only one contender can win; otherwise (a local directory,
//! which has no conditional update) by deleting it, only if it is still the very object that was
//! read, and creating it again. Every successful write is read back after a short pause, so that a
//! contender who deleted it in between is noticed; and the renewal, which reads the object back
//! before each overwrite, marks the lock [`lost`](WarehouseLock::lost) as soon as it is someone
//! else's, so that a commit can refuse to publish ([`WarehouseLock::ensure_held`]).
//!
//! Times in the body are RFC 3339 UTC; the lease is compared with this machine's clock, so hosts
//! that share a warehouse need clocks that agree to well within a lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, PutMode, PutOptions, PutPayload, PutResult, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::Warehouse;

/// The lease when `XUEJI_LOCK_LEASE_SECS` is not set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);
/// The environment variable that overrides the lease (seconds, may be fractional).
pub const LEASE_ENV: &str = "XUEJI_LOCK_LEASE_SECS";
/// How often a held lock is looked at again while waiting for it.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The pause between writing the lock and reading it back: long enough for a contender that read
/// the old object just before us to have finished its delete.
const SETTLE: Duration = Duration::from_millis(200);
/// Times the object may change under us in one look before we count it as held.
const MAX_RACES: u32 = 8;

const LOST: &str = "仓库写锁已失去（租约过期或已被其他进程接管），本次结果不发布；请重新运行 / warehouse lock lost";

/// The body of the lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A random token naming this holder: host, pid and a random number.
    pub holder: String,
    /// What the holder is doing, e.g. `ingest 2026-10-15`.
    pub purpose: String,
    pub pid: u32,
    pub host: String,
    /// RFC 3339, UTC.
    pub acquired_at: String,
    /// RFC 3339, UTC: the end of the lease; renewed while the holder runs.
    pub expires_at: String,
}

/// The error of [`acquire`] when another process holds the lock (downcast an `anyhow::Error` to it
/// to tell this case from a storage error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockBusy {
    pub purpose: String,
    pub host: String,
    pub pid: String,
    pub acquired_at: String,
    pub expires_at: String,
}

impl std::fmt::Display for LockBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let LockBusy {
            purpose,
            host,
            pid,
            acquired_at,
            expires_at,
        } = self;
        write!(
            f,
            "仓库正被另一个进程写入（{purpose}，{host} 进程 {pid}，开始于 {acquired_at}，租约到 {expires_at}）；请稍后再试，或用 --wait-lock 秒数 等待"
        )
    }
}

impl std::error::Error for LockBusy {}

/// The writer lock, held while a writing command runs. Release it with [`release`](Self::release);
/// dropping it only stops the renewal, and the lock then expires after its lease.
#[derive(Debug)]
pub struct WarehouseLock {
    slot: Slot,
    info: LockInfo,
    lease: Duration,
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

/// The lease: `XUEJI_LOCK_LEASE_SECS` if set, else [`DEFAULT_LEASE`].
pub fn lease_from_env() -> Result<Duration> {
    let Ok(s) = std::env::var(LEASE_ENV) else {
        return Ok(DEFAULT_LEASE);
    };
    let secs = s
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1e9)
        .with_context(|| {
            format!("环境变量 {LEASE_ENV}={s} 无效：应为正的秒数 / must be a positive number of seconds")
        })?;
    Ok(Duration::from_secs_f64(secs))
}

/// Take the warehouse's writer lock for `purpose` (e.g. `ingest 2026-10-15`), waiting up to `wait`
/// for another holder to finish; the lease is [`lease_from_env`].
pub async fn acquire(wh: &Warehouse, purpose: &str, wait: Duration) -> Result<WarehouseLock> {
    acquire_with_lease(wh, purpose, wait, lease_from_env()?).await
}

/// Run `work` holding the warehouse's write lock, and release it afterwards whether `work`
/// succeeded or not: a failed night must not leave its lock for the next one to wait out.
/// `work`'s own error wins over a failed release.
pub async fn with_lock<T>(
    wh: &Warehouse,
    purpose: &str,
    wait: Duration,
    work: impl AsyncFnOnce(&WarehouseLock) -> Result<T>,
) -> Result<T> {
    let lock = acquire(wh, purpose, wait).await?;
    let out = work(&lock).await;
    let released = lock.release().await;
    let out = out?;
    released?;
    Ok(out)
}

/// [`acquire`] with an explicit lease.
pub async fn acquire_with_lease(
    wh: &Warehouse,
    purpose: &str,
    wait: Duration,
    lease: Duration,
) -> Result<WarehouseLock> {
    anyhow::ensure!(
        !lease.is_zero(),
        "仓库写锁的租约必须大于 0 / the lease must be positive"
    );
    let lease_td = TimeDelta::from_std(lease).context("仓库写锁的租约过长 / lease too long")?;
    let (store, prefix) = wh.store()?;
    let slot = Slot {
        store,
        path: prefix.join("_xueji").join("lock"),
    };
    let host = hostname();
    let pid = std::process::id();
    let me = LockInfo {
        holder: format!("{host}-{pid}-{:016x}", random_u64()),
        purpose: purpose.to_string(),
        pid,
        host,
        acquired_at: String::new(),
        expires_at: String::new(),
    };
    let deadline = Instant::now().checked_add(wait);
    loop {
        let mut busy = None;
        let mut races = 0;
        while busy.is_none() {
            match attempt(&slot, &me, lease_td).await? {
                Attempt::Acquired { info, version, expires } => {
                    return Ok(WarehouseLock::start(slot, info, version, expires, lease));
                }
                Attempt::Busy(b) => busy = Some(b),
                Attempt::Raced if races < MAX_RACES => races += 1,
                Attempt::Raced => {
                    let unknown = || "?".to_string();
                    busy = Some(LockBusy {
                        purpose: "锁正在易手 / lock changing hands".into(),
                        host: unknown(),
                        pid: unknown(),
                        acquired_at: unknown(),
                        expires_at: unknown(),
                    });
                }
            }
        }
        let now = Instant::now();
        let left = match deadline {
            Some(d) if d > now => d - now,
            Some(_) => return Err(anyhow::Error::new(busy.expect("set above"))),
            None => RETRY_EVERY,
        };
        tokio::time::sleep(left.min(RETRY_EVERY)).await;
    }
}

impl WarehouseLock {
    fn start(
        slot: Slot,
        info: LockInfo,
        version: UpdateVersion,
        expires: DateTime<Utc>,
        lease: Duration,
    ) -> WarehouseLock {
        let lost = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let renewal = tokio::spawn(renew_loop(
            slot.clone(),
            info.clone(),
            version,
            expires,
            lease,
            lost.clone(),
            rx,
        ));
        WarehouseLock {
            slot,
            info,
            lease,
            lost,
            stop: Some(tx),
            renewal: Some(renewal),
        }
    }

    /// True once the renewal found the lock gone or someone else's (or could not renew it before
    /// its lease ran out): the command must not publish what it wrote.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The body as written when the lock was taken (`expires_at` is renewed since).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Fails unless the lock is still ours and its lease has not run out, read from the store now:
    /// for a commit to call right before it publishes.
    pub async fn ensure_held(&self) -> Result<()> {
        if self.lost() {
            bail!(LOST);
        }
        match self.slot.read().await? {
            Some((_, Some((info, expires)))) if info.holder == self.info.holder && expires > Utc::now() => Ok(()),
            _ => {
                self.lost.store(true, Ordering::SeqCst);
                bail!(LOST)
            }
        }
    }

    /// Stop renewing and delete the lock, if it is still ours.
    pub async fn release(mut self) -> Result<()> {
        self.stop_renewal().await;
        match self.slot.read().await? {
            Some((_, Some((info, _)))) if info.holder == self.info.holder => match self.slot.delete().await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(anyhow!(e).context("无法删除仓库写锁 _xueji/lock")),
            },
            None => Ok(()),
            Some(_) => {
                self.lost.store(true, Ordering::SeqCst);
                eprintln!("警告：仓库写锁已不属于本进程，未删除 / the warehouse lock is no longer ours; left in place");
                Ok(())
            }
        }
    }

    /// Tell the renewal task to stop and wait for it (a renewal under way finishes first, so it
    /// cannot write the lock again after it is deleted); abort it if it hangs.
    async fn stop_renewal(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.renewal.take()
            && tokio::time::timeout(self.lease, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for WarehouseLock {
    fn drop(&mut self) {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
    }
}

/// The lock object in its store.
#[derive(Debug, Clone)]
struct Slot {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

/// A lock body with its (parsed) end of lease; `None` when it cannot be read.
type Body = Option<(LockInfo, DateTime<Utc>)>;

impl Slot {
    /// The object's metadata and body, or `None` if there is none.
    async fn read(&self) -> object_store::Result<Option<(ObjectMeta, Body)>> {
        match self.store.get_opts(&self.path, GetOptions::default()).await {
            Ok(r) => {
                let meta = r.meta.clone();
                let bytes = r.bytes().await?;
                Ok(Some((meta, parse(&bytes))))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn head(&self) -> object_store::Result<Option<ObjectMeta>> {
        match self
            .store
            .get_opts(
                &self.path,
                GetOptions {
                    head: true,
                    ..Default::default()
                },
            )
            .await
        {
            Ok(r) => Ok(Some(r.meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put(&self, info: &LockInfo, mode: PutMode) -> object_store::Result<PutResult> {
        let body = serde_json::to_vec_pretty(info).expect("a struct of strings serializes");
        self.store
            .put_opts(
                &self.path,
                PutPayload::from(body),
                PutOptions {
                    mode,
                    ..Default::default()
                },
            )
            .await
    }

    async fn delete(&self) -> object_store::Result<()> {
        let path = self.path.clone();
        let mut done = self
            .store
            .delete_stream(futures::stream::once(async move { Ok::<_, object_store::Error>(path) }).boxed());
        while let Some(r) = done.next().await {
            r?;
        }
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Body {
    let info: LockInfo = serde_json::from_slice(bytes).ok()?;
    let expires = DateTime::parse_from_rfc3339(&info.expires_at).ok()?.with_timezone(&Utc);
    Some((info, expires))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `me` with a fresh lease from now.
fn stamped(me: &LockInfo, lease: TimeDelta) -> (LockInfo, DateTime<Utc>) {
    let now = Utc::now();
    let expires = now + lease;
    (
        LockInfo {
            acquired_at: stamp(now),
            expires_at: stamp(expires),
            ..me.clone()
        },
        expires,
    )
}

fn same_object(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.e_tag == b.e_tag && a.version == b.version && a.last_modified == b.last_modified && a.size == b.size
}

enum Attempt {
    Acquired {
        info: LockInfo,
        version: UpdateVersion,
        expires: DateTime<Utc>,
    },
    Busy(LockBusy),
    /// The object changed between two steps: look again at once.
    Raced,
}

/// One try: create the lock, or take over an expired one, or report who holds it.
async fn attempt(slot: &Slot, me: &LockInfo, lease: TimeDelta) -> Result<Attempt> {
    let (mine, expires) = stamped(me, lease);
    match slot.put(&mine, PutMode::Create).await {
        Ok(put) => return confirm(slot, mine, expires, put).await,
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(e @ object_store::Error::NotImplemented { .. }) => {
            return Err(anyhow!(e)
                .context("此存储不支持条件写入（put-if-absent），无法加仓库写锁 / the store has no conditional put"));
        }
        Err(e) => return Err(anyhow!(e).context("无法创建仓库写锁 _xueji/lock")),
    }
    let Some((meta, body)) = slot.read().await.context("无法读取仓库写锁 _xueji/lock")? else {
        return Ok(Attempt::Raced);
    };
    let now = Utc::now();
    // A holder on this machine whose process no longer runs (killed, crashed) left a stale
    // lock: taken over at once rather than after its lease.
    let stale = match &body {
        Some((i, expires)) => *expires <= now || (i.host == me.host && i.pid != me.pid && !pid_alive(i.pid)),
        None => now - meta.last_modified >= lease,
    };
    if !stale {
        return Ok(Attempt::Busy(match body {
            Some((i, _)) => LockBusy {
                purpose: i.purpose,
                host: i.host,
                pid: i.pid.to_string(),
                acquired_at: i.acquired_at,
                expires_at: i.expires_at,
            },
            None => LockBusy {
                purpose: "锁文件无法读取 / unreadable lock".into(),
                host: "?".into(),
                pid: "?".into(),
                acquired_at: stamp(meta.last_modified),
                expires_at: stamp(meta.last_modified + lease),
            },
        }));
    }
    // Expired: take it over.
    let (mine, expires) = stamped(me, lease);
    if meta.e_tag.is_some() {
        // Compare-and-swap on the e-tag that was read: of several contenders, one wins.
        let seen = UpdateVersion {
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
        };
        match slot.put(&mine, PutMode::Update(seen)).await {
            Ok(put) => return confirm(slot, mine, expires, put).await,
            Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                return Ok(Attempt::Raced);
            }
            // A local directory: delete and create instead.
            Err(object_store::Error::NotImplemented { .. }) => {}
            Err(e) => return Err(anyhow!(e).context("无法接管过期的仓库写锁 _xueji/lock")),
        }
    }
    match slot.head().await.context("无法读取仓库写锁 _xueji/lock")? {
        Some(fresh) if same_object(&fresh, &meta) => match slot.delete().await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(anyhow!(e).context("无法删除过期的仓库写锁 _xueji/lock")),
        },
        Some(_) => return Ok(Attempt::Raced),
        None => {}
    }
    match slot.put(&mine, PutMode::Create).await {
        Ok(put) => confirm(slot, mine, expires, put).await,
        Err(object_store::Error::AlreadyExists { .. }) => Ok(Attempt::Raced),
        Err(e) => Err(anyhow!(e).context("无法创建仓库写锁 _xueji/lock")),
    }
}

/// Whether a process of this machine runs (Linux: `/proc`; elsewhere assumed to).
pub(crate) fn pid_alive(pid: u32) -> bool {
    !std::path::Path::new("/proc/self").exists() || std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// After a successful write: wait a moment, then read the lock back; it is ours only if the
/// holder is still us.
async fn confirm(slot: &Slot, mine: LockInfo, expires: DateTime<Utc>, put: PutResult) -> Result<Attempt> {
    tokio::time::sleep(SETTLE).await;
    match slot.read().await.context("无法读取仓库写锁 _xueji/lock")? {
        Some((meta, Some((info, _)))) if info.holder == mine.holder => {
            let version = UpdateVersion {
                e_tag: put.e_tag.or(meta.e_tag),
                version: put.version.or(meta.version),
            };
            Ok(Attempt::Acquired {
                info: mine,
                version,
                expires,
            })
        }
        _ => Ok(Attempt::Raced),
    }
}

async fn renew_loop(
    slot: Slot,
    info: LockInfo,
    mut version: UpdateVersion,
    mut expires: DateTime<Utc>,
    lease: Duration,
    lost: Arc<AtomicBool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let every = lease / 4;
    let Ok(lease) = TimeDelta::from_std(lease) else { return };
    let mut conditional = true;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
        match renew_once(&slot, &info, &mut version, &mut expires, &mut conditional, lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                eprintln!("警告：{LOST}");
                return;
            }
            Err(e) => {
                if Utc::now() >= expires {
                    lost.store(true, Ordering::SeqCst);
                    eprintln!("警告：续租仓库写锁失败 / lock renewal failed: {e:#}；{LOST}");
                    return;
                }
                eprintln!("警告：续租仓库写锁失败，稍后重试 / lock renewal failed, will retry: {e:#}");
            }
        }
    }
}

/// Extend the lease once. `Ok(false)`: the lock is no longer ours (gone, someone else's, or our
/// lease ran out so that anyone may have taken it).
async fn renew_once(
    slot: &Slot,
    info: &LockInfo,
    version: &mut UpdateVersion,
    expires: &mut DateTime<Utc>,
    conditional: &mut bool,
    lease: TimeDelta,
) -> Result<bool> {
    if Utc::now() >= *expires {
        return Ok(false);
    }
    let Some((meta, body)) = slot.read().await? else {
        return Ok(false);
    };
    match &body {
        Some((i, _)) if i.holder == info.holder => {}
        _ => return Ok(false),
    }
    let now = Utc::now();
    if now >= *expires {
        return Ok(false);
    }
    let next_expires = now + lease;
    let next = LockInfo {
        expires_at: stamp(next_expires),
        ..info.clone()
    };
    if *conditional {
        let expected = if version.e_tag.is_some() {
            version.clone()
        } else {
            UpdateVersion {
                e_tag: meta.e_tag.clone(),
                version: meta.version.clone(),
            }
        };
        if expected.e_tag.is_some() {
            match slot.put(&next, PutMode::Update(expected)).await {
                Ok(put) => {
                    *version = put.into();
                    *expires = next_expires;
                    return Ok(true);
                }
                Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                    // Changed since we last wrote it: still ours only if the holder is us (then
                    // use what is there now, and extend at the next round).
                    return Ok(match slot.read().await? {
                        Some((m, Some((i, _)))) if i.holder == info.holder => {
                            *version = UpdateVersion {
                                e_tag: m.e_tag,
                                version: m.version,
                            };
                            true
                        }
                        _ => false,
                    });
                }
                Err(object_store::Error::NotImplemented { .. }) => *conditional = false,
                Err(e) => return Err(e.into()),
            }
        } else {
            *conditional = false;
        }
    }
    // No conditional update (a local directory): overwrite; it was read back as ours just above.
    let put = slot.put(&next, PutMode::Overwrite).await?;
    *version = put.into();
    *expires = next_expires;
    Ok(true)
}

fn hostname() -> String {
    let from_file = ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().find_map(|p| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    });
    from_file
        .or_else(|| {
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|s| !s.trim().is_empty()))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Random bits from the standard library's per-process hash keys (seeded by the OS), for the
/// warehouse's secret and lock holders; the counter keeps two calls of one process apart.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn warehouse() -> (tempfile::TempDir, Warehouse) {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_str().unwrap()).unwrap();
        (dir, wh)
    }

    fn slot(wh: &Warehouse) -> Slot {
        let (store, prefix) = wh.store().unwrap();
        Slot {
            store,
            path: prefix.join("_xueji").join("lock"),
        }
    }

    fn busy(e: &anyhow::Error) -> &LockBusy {
        e.downcast_ref::<LockBusy>()
            .unwrap_or_else(|| panic!("not a LockBusy: {e:#}"))
    }

    fn someone_else(expires: DateTime<Utc>) -> LockInfo {
        LockInfo {
            holder: "other-host-1-0123456789abcdef".into(),
            purpose: "ingest 2026-10-14".into(),
            pid: 1,
            host: "other-host".into(),
            acquired_at: stamp(expires - TimeDelta::hours(1)),
            expires_at: stamp(expires),
        }
    }

    #[tokio::test]
    async fn a_second_writer_is_refused_until_the_first_releases() {
        let (_dir, wh) = warehouse();
        let first = acquire_with_lease(&wh, "ingest 2026-10-15", Duration::ZERO, LONG)
            .await
            .unwrap();
        assert!(!first.lost());
        let e = acquire_with_lease(&wh, "run", Duration::ZERO, LONG).await.unwrap_err();
        let b = busy(&e);
        assert_eq!(b.purpose, "ingest 2026-10-15");
        assert_eq!(b.pid, std::process::id().to_string());
        let msg = e.to_string();
        assert!(msg.starts_with("仓库正被另一个进程写入（ingest 2026-10-15，"), "{msg}");
        assert!(msg.contains(&format!("进程 {}", std::process::id())), "{msg}");
        assert!(msg.ends_with("；请稍后再试，或用 --wait-lock 秒数 等待"), "{msg}");
        first.ensure_held().await.unwrap();
        first.release().await.unwrap();
        assert!(slot(&wh).read().await.unwrap().is_none(), "release deletes the lock");
        let second = acquire_with_lease(&wh, "run", Duration::ZERO, LONG).await.unwrap();
        assert_eq!(second.info().purpose, "run");
        second.release().await.unwrap();
    }

    #[tokio::test]
    async fn an_expired_lock_is_taken_over() {
        let (_dir, wh) = warehouse();
        let s = slot(&wh);
        s.put(&someone_else(Utc::now() - TimeDelta::seconds(5)), PutMode::Create)
            .await
            .unwrap();
        let lock = acquire_with_lease(&wh, "ingest 2026-10-15", Duration::ZERO, LONG)
            .await
            .unwrap();
        let (_, body) = s.read().await.unwrap().unwrap();
        let (info, expires) = body.unwrap();
        assert_eq!(info.holder, lock.info().holder);
        assert!(expires > Utc::now() + TimeDelta::seconds(50));
        lock.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_live_lock_of_another_holder_is_respected() {
        let (_dir, wh) = warehouse();
        let s = slot(&wh);
        let other = someone_else(Utc::now() + TimeDelta::seconds(60));
        s.put(&other, PutMode::Create).await.unwrap();
        let e = acquire_with_lease(&wh, "run", Duration::ZERO, LONG).await.unwrap_err();
        assert_eq!(busy(&e).host, "other-host");
        assert_eq!(busy(&e).expires_at, other.expires_at);
        // Untouched.
        assert_eq!(s.read().await.unwrap().unwrap().1.unwrap().0, other);
    }

    #[tokio::test]
    async fn an_unreadable_lock_is_taken_over_only_when_older_than_a_lease() {
        let (dir, wh) = warehouse();
        let file = dir.path().join("_xueji").join("lock");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"not json").unwrap();
        let e = acquire_with_lease(&wh, "run", Duration::ZERO, LONG).await.unwrap_err();
        assert!(busy(&e).purpose.contains("无法读取"), "{e:#}");
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = acquire_with_lease(&wh, "run", Duration::ZERO, LONG).await.unwrap();
        lock.ensure_held().await.unwrap();
        lock.release().await.unwrap();
    }

    #[tokio::test]
    async fn the_lease_is_renewed_and_a_dropped_lock_expires() {
        let (_dir, wh) = warehouse();
        let s = slot(&wh);
        let lease = Duration::from_secs(2);
        let lock = acquire_with_lease(&wh, "run", Duration::ZERO, lease).await.unwrap();
        let first = s.read().await.unwrap().unwrap().1.unwrap().1;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let later = s.read().await.unwrap().unwrap().1.unwrap().1;
        assert!(later > first, "renewed: {first} -> {later}");
        assert!(!lock.lost());
        // A crashed holder: no release, no renewal; the lock expires after its lease.
        drop(lock);
        assert!(acquire_with_lease(&wh, "run", Duration::ZERO, lease).await.is_err());
        let next = acquire_with_lease(&wh, "run", Duration::from_secs(5), lease)
            .await
            .unwrap();
        next.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_lock_taken_by_someone_else_is_lost_and_not_deleted() {
        let (_dir, wh) = warehouse();
        let s = slot(&wh);
        let lock = acquire_with_lease(&wh, "run", Duration::ZERO, Duration::from_secs(2))
            .await
            .unwrap();
        let other = someone_else(Utc::now() + TimeDelta::seconds(60));
        s.put(&other, PutMode::Overwrite).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(lock.lost());
        assert!(lock.ensure_held().await.is_err());
        lock.release().await.unwrap();
        assert_eq!(
            s.read().await.unwrap().unwrap().1.unwrap().0,
            other,
            "someone else's lock is left alone"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_eight_writers_at_once_exactly_one_gets_the_lock() {
        let (_dir, wh) = warehouse();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let wh = wh.clone();
                tokio::spawn(async move { acquire_with_lease(&wh, &format!("writer {i}"), Duration::ZERO, LONG).await })
            })
            .collect();
        let mut held = Vec::new();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(l) => held.push(l),
                Err(e) => {
                    busy(&e);
                    refused += 1;
                }
            }
        }
        assert_eq!((held.len(), refused), (1, 7));
        for l in held {
            l.release().await.unwrap();
        }
    }
}

//! Who took part in a cluster run, so that a run which lost an executor is never committed.
//!
//! Ballista recovers from a lost executor by running its tasks again elsewhere, and under
//! Ballista 55 that recovery gave wrong rows on xueji's models (a killed executor left
//! `dedup_model` with other weights: tests/cluster.rs). A run on a cluster therefore commits only
//! when no executor left the cluster while it ran: `xueji scheduler` counts the executors it
//! removes and answers on its status port (its own port + [`STATUS_PORT_OFFSET`]) with one JSON
//! document, and `xueji run --cluster` compares it before the first model and after the last,
//! when every executor has reported again (a dead one cannot).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status port is the scheduler's port plus this (50050 → 50060: clear of the executors'
/// default 50051 and 50052).
pub const STATUS_PORT_OFFSET: u16 = 10;

/// What the scheduler's status port answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    /// Executors removed (lost, or stopped) since the scheduler started, oldest first.
    pub removed: Vec<String>,
    /// The scheduler's clock, Unix seconds.
    pub now: u64,
    /// How long the scheduler waits for a silent executor before removing it.
    pub executor_timeout_secs: u64,
    /// Each registered executor's last report, Unix seconds.
    pub heartbeats: BTreeMap<String, u64>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The status address of the scheduler at `addr` (`HOST:PORT`).
pub fn status_addr(addr: &str) -> Result<String> {
    let (host, port) = super::host_port(addr).with_context(|| format!("调度器地址应为 主机:端口：{addr}"))?;
    let port = port
        .checked_add(STATUS_PORT_OFFSET)
        .with_context(|| format!("调度器端口 {port} 过大：状态端口为其后第 {STATUS_PORT_OFFSET} 个"))?;
    Ok(format!("{host}:{port}"))
}

/// Serve the membership of `cluster` on `listen` until the process ends.
pub async fn serve(cluster: &BallistaCluster, listen: SocketAddr, executor_timeout_secs: u64) -> Result<()> {
    let state = cluster.cluster_state();
    let removed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut events = state
        .cluster_state_events()
        .await
        .map_err(|e| anyhow::anyhow!("无法订阅集群事件 / cluster events: {e}"))?;
    let counter = removed.clone();
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            if let ClusterStateEvent::RemovedExecutor { executor_id } = e {
                log::warn!("executor {executor_id} left the cluster");
                counter.lock().expect("lock").push(executor_id);
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("无法监听状态端口 {listen} / cannot listen on the status port"))?;
    tokio::spawn(async move {
        loop {
            let mut conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    // Out of file descriptors, say: answer the next caller, not nobody ever again.
                    log::warn!("status port: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let m = Membership {
                removed: removed.lock().expect("lock").clone(),
                now: unix_now(),
                executor_timeout_secs,
                heartbeats: state
                    .executor_heartbeats()
                    .into_iter()
                    .map(|(id, h)| (id, h.timestamp))
                    .collect(),
            };
            let body = serde_json::to_vec(&m).unwrap_or_default();
            tokio::spawn(async move {
                let _ = conn.write_all(&body).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok(())
}

/// The membership the scheduler's status port `status` reports.
pub async fn membership(status: &str) -> Result<Membership> {
    let read = async {
        let mut conn = tokio::net::TcpStream::connect(status).await?;
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).await?;
        anyhow::Ok(serde_json::from_slice(&buf)?)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
        .with_context(|| {
            format!("无法读取集群调度器的状态端口 {status}（须为 xueji scheduler）/ cannot read the scheduler's status")
        })
}

/// A run's watch on the cluster: taken before the first job, checked after each model and
/// before the commit.
pub struct Watch {
    status: String,
    /// The executors that reported after the watch began: the run's cluster.
    watched: std::collections::BTreeSet<String>,
    /// Removals known when the watch began (of executors that were already gone).
    removed_before: usize,
}

/// Wait until every executor `m` lists has reported after `since` (the scheduler's clock), or
/// until the scheduler's timeout (plus a margin) has passed; the membership then.
async fn reported_since(status: &str, since: u64, timeout_secs: u64) -> Result<Membership> {
    let deadline = std::time::Instant::now() + Duration::from_secs(timeout_secs + 5);
    loop {
        let m = membership(status).await?;
        if m.heartbeats.values().all(|t| *t > since) || std::time::Instant::now() >= deadline {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Watch {
    /// Begin watching the scheduler at `addr` (`HOST:PORT`). An executor listed but silent (one
    /// that died and is not yet removed) is not part of the run: the watch waits for every
    /// listed executor to report once, up to the scheduler's timeout.
    pub async fn start(addr: &str) -> Result<Self> {
        let status = status_addr(addr)?;
        let first = membership(&status).await?;
        let m = reported_since(&status, first.now, first.executor_timeout_secs).await?;
        let watched: std::collections::BTreeSet<String> = m
            .heartbeats
            .iter()
            .filter(|(_, t)| **t > first.now)
            .map(|(id, _)| id.clone())
            .collect();
        anyhow::ensure!(
            !watched.is_empty(),
            "集群 {addr} 上没有在工作的执行器 / the cluster has no live executor"
        );
        Ok(Watch {
            status,
            watched,
            removed_before: m.removed.len(),
        })
    }

    /// Ok when no executor of the run has left the cluster so far: a run stops at the first
    /// model after a loss instead of computing the rest for nothing.
    pub async fn still_whole(&self) -> Result<()> {
        let m = membership(&self.status).await?;
        self.whole(&m)
    }

    fn whole(&self, m: &Membership) -> Result<()> {
        // Gone: an executor of the run no longer listed, or one that joined during the run and
        // was removed (an executor silent at the start was never given work).
        let mut gone: Vec<&str> = self
            .watched
            .iter()
            .filter(|id| !m.heartbeats.contains_key(*id))
            .map(String::as_str)
            .collect();
        for id in m.removed.iter().skip(self.removed_before) {
            if !gone.contains(&id.as_str()) {
                gone.push(id);
            }
        }
        anyhow::ensure!(
            gone.is_empty(),
            "本次运行中集群失去了执行器（{}）：结果可能有误，运行未提交，仍提供上一次运行的结果；执行器恢复后请重跑 \
             / an executor left the cluster during the run: nothing was committed",
            gone.join("、")
        );
        Ok(())
    }

    /// Ok when no executor left the cluster since [`Watch::start`] and every executor has
    /// reported after now (so none died unnoticed in the last moments of the run).
    pub async fn check(&self) -> Result<()> {
        let end = membership(&self.status).await?;
        self.whole(&end)?;
        let m = reported_since(&self.status, end.now, end.executor_timeout_secs).await?;
        self.whole(&m)?;
        let silent: Vec<&str> = m
            .heartbeats
            .iter()
            .filter(|(_, t)| **t <= end.now)
            .map(|(id, _)| id.as_str())
            .collect();
        anyhow::ensure!(
            silent.is_empty(),
            "执行器（{}）在运行结束后没有再报到：结果可能有误，运行未提交 / executors silent since the run ended: nothing was committed",
            silent.join("、")
        );
        Ok(())
    }
}

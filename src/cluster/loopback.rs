//! A cluster on this machine: `xueji scheduler` and executors as child processes on free
//! loopback ports, stopped when dropped. `xueji bench cluster` measures on it and the tests run
//! on it; a real cluster runs the same commands on separate machines (docs/distributed.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::membership::STATUS_PORT_OFFSET;

pub struct Loopback {
    /// `df://127.0.0.1:PORT`, for `--cluster`.
    pub url: String,
    bin: PathBuf,
    scheduler: String,
    work: PathBuf,
    env: Vec<(String, String)>,
    /// The scheduler first, then the executors in the order they started.
    children: Vec<Child>,
    /// Each executor's work folder (shuffle files), in the order they started.
    pub work_dirs: Vec<PathBuf>,
    /// Cores and memory of each executor.
    cores: usize,
    memory_mb: usize,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for(port: u16) -> Result<()> {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("127.0.0.1:{port} 上没有服务启动 / nothing listens on port {port}")
}

impl Loopback {
    /// Start `bin scheduler` (which takes a silent executor for lost after
    /// `executor_timeout_secs`) and `executors` × `bin executor` of `cores` cores and `memory_mb`
    /// each, working under `work`, every process with `env` added to its environment.
    pub fn start(
        bin: &Path,
        work: &Path,
        executors: usize,
        (cores, memory_mb): (usize, usize),
        executor_timeout_secs: u64,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        // The scheduler's status port is its port + STATUS_PORT_OFFSET: both must be free.
        let mut port = free_port()?;
        while port >= u16::MAX - STATUS_PORT_OFFSET
            || std::net::TcpListener::bind(("127.0.0.1", port + STATUS_PORT_OFFSET)).is_err()
        {
            port = free_port()?;
        }
        let scheduler = format!("127.0.0.1:{port}");
        let mut cluster = Loopback {
            url: format!("df://{scheduler}"),
            bin: bin.to_path_buf(),
            scheduler: scheduler.clone(),
            work: work.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            children: Vec::new(),
            work_dirs: Vec::new(),
            cores,
            memory_mb,
        };
        let timeout = executor_timeout_secs.to_string();
        // Every executor shares this machine's disk: a finished job's result files go after ten
        // minutes, ample for a client on the same machine, not after the default hour.
        let child = cluster.spawn(&[
            "scheduler",
            "--listen",
            &scheduler,
            "--executor-timeout-secs",
            &timeout,
            "--keep-results-secs",
            "600",
        ])?;
        cluster.children.push(child);
        wait_for(port)?;
        wait_for(port + STATUS_PORT_OFFSET)?;
        for _ in 0..executors {
            cluster.add_executor()?;
        }
        Ok(cluster)
    }

    fn spawn(&self, args: &[&str]) -> Result<Child> {
        Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("无法启动 {} {} / cannot start a node", self.bin.display(), args[0]))
    }

    /// Start one more executor.
    pub fn add_executor(&mut self) -> Result<()> {
        let (flight, grpc) = (free_port()?, free_port()?);
        let dir = self.work.join(format!("executor-{}", self.children.len()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = self.spawn(&[
            "executor",
            "--scheduler",
            &self.scheduler,
            "--listen",
            &format!("127.0.0.1:{flight}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
            "--work-dir",
            &dir.to_string_lossy(),
            "--cores",
            &self.cores.to_string(),
            "--memory-mb",
            &self.memory_mb.to_string(),
        ])?;
        self.children.push(child);
        self.work_dirs.push(dir);
        wait_for(flight)
    }

    /// Kill the `k`-th executor started (SIGKILL: no goodbye to the scheduler).
    pub fn kill_executor(&mut self, k: usize) -> Result<()> {
        let c = &mut self.children[1 + k];
        c.kill()?;
        c.wait()?;
        Ok(())
    }

    /// The executors' process ids, in the order they started.
    pub fn executor_pids(&self) -> Vec<u32> {
        self.children[1..].iter().map(Child::id).collect()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

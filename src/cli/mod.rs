//! `xueji` — 学籍数据仓库命令行 / the K-12 student-registration warehouse CLI. The binary's `main`
//! only calls [`main`]: the command line lives in the library, so that the code it shares with
//! the library is compiled once.

mod args;
mod dispatch;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

pub use args::Command;
use dispatch::run;

/// xueji（学籍）：中小学生学籍数据的导入、校验与查询。
/// K-12 student-registration warehouse: import, validate, query.
#[derive(Parser)]
#[command(name = "xueji", version)]
pub struct Cli {
    /// 不显示进度 / no progress bars or progress lines
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command prints JSON (then no progress is shown either).
    pub fn json(&self) -> bool {
        match &self.command {
            Command::Nightly { json, .. }
            | Command::Ingest { json, .. }
            | Command::Run { json, .. }
            | Command::Check { json, .. }
            | Command::Render { json, .. } => *json,
            _ => false,
        }
    }
}

/// The man pages (the command and each subcommand) and shell completions, as (path under the
/// docs folder, contents): generated from the CLI definition, so they never disagree with it.
pub fn cli_docs() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    // The thread count defaults to this machine's cores: the pages say so instead of a number.
    fn portable(c: clap::Command) -> clap::Command {
        let c = c.mut_args(|a| {
            if a.get_id() == "threads" {
                a.hide_default_value(true)
            } else {
                a
            }
        });
        c.mut_subcommands(portable)
    }
    let cmd = portable(Cli::command());
    let mut out = Vec::new();
    let mut page = |c: clap::Command, name: String| -> Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).title(name.to_uppercase()).render(&mut buf)?;
        out.push((PathBuf::from("man").join(format!("{name}.1")), buf));
        Ok(())
    };
    page(cmd.clone(), "xueji".into())?;
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        page(
            sub.clone().display_name(format!("xueji-{}", sub.get_name())),
            format!("xueji-{}", sub.get_name()),
        )?;
    }
    for (shell, file) in [
        (Shell::Bash, "xueji.bash"),
        (Shell::Zsh, "_xueji"),
        (Shell::Fish, "xueji.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "xueji", &mut buf);
        out.push((PathBuf::from("completions").join(file), buf));
    }
    Ok(out)
}

/// One glibc malloc arena per core (at least two), unless MALLOC_ARENA_MAX says otherwise. glibc's default (8 per
/// core) lets every runtime thread grow an arena of its own, and memory freed in one is not reused
/// by another: a 20-million-pupil ingest peaked at 5.8-6.6 GB with the default and 4.9 GB with two
/// arenas, in the same time. One arena on two cores took a third longer.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        // SAFETY: mallopt only sets a malloc parameter; it runs before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores as libc::c_int);
        }
    }
}

/// Files xueji creates (warehouse, published marts, reports, the audit log) are readable by the
/// owner's group at most: they hold children's records. `XUEJI_UMASK` (octal, e.g. `077` for the
/// owner alone, `022` for everyone) overrides the default `027`.
fn restrict_file_modes() -> Result<(), String> {
    let mask = match std::env::var("XUEJI_UMASK") {
        Ok(v) => u32::from_str_radix(v.trim(), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("XUEJI_UMASK={v} 不是八进制权限掩码（例如 027）"))?,
        Err(_) => 0o027,
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
    let _ = mask;
    Ok(())
}

/// The `xueji` program: process settings, the runtime, the command, its exit code.
pub fn main() -> ExitCode {
    limit_malloc_arenas();
    if let Err(e) = restrict_file_modes() {
        eprintln!("错误：{e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    crate::progress::init(cli.quiet || cli.json());
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误：无法启动运行时：{e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 / error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  原因 / caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

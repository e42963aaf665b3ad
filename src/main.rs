//! `xueji` — 学籍数据仓库命令行 / the K-12 student-registration warehouse CLI ([`xueji::cli`]).

fn main() -> std::process::ExitCode {
    xueji::cli::main()
}

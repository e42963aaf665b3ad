//! Each command: what it runs and what it prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::pipeline::{self, IngestOptions, SqlFormat, default_threads};
use crate::pipeline_config::PipelineConfig;
use crate::synth::{GenOptions, generate};

use super::args::{BenchWhat, Command};
use super::output::*;
use super::{Cli, cli_docs};

pub(super) async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Gen {
            pupils,
            seed,
            out,
            provinces,
            pupils_per_county,
            school_size,
            as_of,
            problem_rate,
            formats,
        } => {
            let f: Vec<&str> = formats.split(',').map(str::trim).collect();
            for x in &f {
                anyhow::ensure!(["xlsx", "csv", "gbk"].contains(x), "未知格式 {x}：可选 xlsx,csv,gbk");
            }
            let o = GenOptions {
                pupils,
                seed,
                out: out.clone(),
                provinces,
                pupils_per_county,
                school_size,
                as_of,
                problem_rate,
                xlsx: f.contains(&"xlsx"),
                csv: f.contains(&"csv"),
                gbk: f.contains(&"gbk"),
            };
            let t0 = std::time::Instant::now();
            let s = tokio::task::block_in_place(|| generate(&o))?;
            println!(
                "已生成 / generated: {} 所学校, {} 名学生, {} 条学籍记录（其中 {} 条埋设了问题）, {} 条异动, {} 条问题学籍处理记录, {} 条体检记录, 用时 {:.1} 秒 → {}",
                s.schools,
                s.persons,
                s.records,
                s.planted,
                s.movements,
                s.decisions,
                s.exams,
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            warehouse,
            date,
            threads,
            memory_mb,
            report_dir,
            change_buckets,
            confirm_deletions,
            wait_lock,
            json,
            sources,
        } => {
            let mut o = IngestOptions::new(&warehouse, date, sources);
            (o.threads, o.memory_mb, o.report_dir, o.change_buckets) = (threads, memory_mb, report_dir, change_buckets);
            o.guard.confirmed = confirm_deletions;
            o.wait_lock_secs = wait_lock;
            let out = pipeline::ingest(&o).await?;
            show_ingest(&out, json)?;
            Ok(committed_code(&out, None))
        }
        Command::Run {
            warehouse,
            date,
            models,
            threads,
            memory_mb,
            jobs,
            cluster,
            passes,
            wait_lock,
            json,
        } => {
            let o = crate::models::RunOptions {
                warehouse,
                date,
                only: models,
                threads,
                memory_mb,
                jobs,
                cluster,
                passes,
                wait_lock_secs: wait_lock,
            };
            let out = crate::models::run(&o).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_run(&out);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Vacuum {
            warehouse,
            keep_hours,
            dry_run,
            force,
            wait_lock,
            json,
        } => {
            let wait = std::time::Duration::from_secs(wait_lock);
            let out = crate::warehouse::vacuum::run(&warehouse, keep_hours, force, dry_run, wait).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_vacuum(&out);
            }
            match out.failures() {
                Some(e) => {
                    eprintln!("错误 / error: {e}");
                    Ok(ExitCode::FAILURE)
                }
                None => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Check { json } => {
            let rep = crate::models::check().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                for m in &rep.ok {
                    println!("通过 / ok: {m}");
                }
                for p in &rep.problems {
                    println!("问题 / problem: {p}");
                }
            }
            Ok(if rep.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Bench {
            what: BenchWhat::Dedup(a),
        } => {
            crate::bench::dedup(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs { out, check: true } => {
            let mut stale: Vec<PathBuf> = crate::docs::stale(&out)?.into_iter().map(|(p, _)| p).collect();
            for (rel, bytes) in cli_docs()? {
                if std::fs::read(out.join(&rel)).ok().as_deref() != Some(bytes.as_slice()) {
                    stale.push(out.join(rel));
                }
            }
            for p in &stale {
                println!("需要重新生成 / out of date: {}", p.display());
            }
            Ok(if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Docs { out, check: false } => {
            for p in crate::docs::write(&out)? {
                println!("已更新 / written: {p}");
            }
            for (rel, bytes) in cli_docs()? {
                let path = out.join(rel);
                if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                    std::fs::create_dir_all(path.parent().expect("under the docs folder"))?;
                    std::fs::write(&path, bytes)?;
                    println!("已更新 / written: {}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Rosters(a),
        } => {
            crate::bench::rosters(&a.options_or(100_000)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Problems { args, problem_rate },
        } => {
            crate::bench::problems(&args.options(), problem_rate).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Serve(a),
        } => {
            crate::bench::serve(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Cluster(a),
        } => {
            crate::bench::cluster(&a.bench.options(), a.reuse, a.cluster_threads).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Marts(a),
        } => {
            crate::bench::marts(&a.options()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Ingest(a),
        } => {
            tokio::task::block_in_place(|| crate::bench::ingest(&a.options()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render {
            warehouse,
            date,
            out,
            reports,
            units,
            formats,
            unmask,
            json,
            threads,
            memory_mb,
        } => {
            let o = crate::render::RenderOptions {
                warehouse,
                date,
                out,
                threads,
                memory_mb,
                formats,
                only: reports,
                unmask,
                units,
            };
            let r = crate::render::render(&o).await?;
            if json {
                let mut v = serde_json::to_value(&r)?;
                v["peak_rss_mb"] = serde_json::json!(crate::memory::peak_rss_mb());
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_render(Some(&r));
            }
            Ok(if r.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Serve {
            warehouse,
            listen,
            tokens,
            audit,
            refresh_seconds,
            threads,
            memory_mb,
            tls_cert,
            tls_key,
            allow_plain_http,
            max_connections,
            header_timeout_seconds,
            idle_timeout_seconds,
            reload_tokens_seconds,
            xlsx_builds,
            audit_unauthenticated_per_second,
            lookups_per_minute,
        } => {
            let seconds = |flag: &str, v: f64| {
                std::time::Duration::try_from_secs_f64(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| anyhow::anyhow!("--{flag} 应为正的秒数"))
            };
            let o = crate::serve::ServeOptions {
                warehouse,
                listen,
                tokens,
                audit,
                refresh: seconds("refresh-seconds", refresh_seconds)?,
                threads,
                memory_mb,
            };
            let limits = crate::serve::Limits {
                max_connections,
                header_timeout: seconds("header-timeout-seconds", header_timeout_seconds)?,
                idle_timeout: seconds("idle-timeout-seconds", idle_timeout_seconds)?,
                tls: tls_cert
                    .zip(tls_key)
                    .map(|(cert, key)| crate::serve::TlsFiles { cert, key }),
                allow_plain_http,
                reload_tokens: if reload_tokens_seconds > 0.0 {
                    Some(seconds("reload-tokens-seconds", reload_tokens_seconds)?)
                } else {
                    anyhow::ensure!(reload_tokens_seconds >= 0.0, "--reload-tokens-seconds 不能为负");
                    None
                },
                xlsx_builds,
                unauthenticated_lines_per_second: audit_unauthenticated_per_second,
                lookups_per_minute,
            };
            crate::serve::serve(&o, &limits).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            tokens,
            id,
            name,
            jurisdiction,
            lists,
            unmask,
            expires,
        } => {
            let grant = crate::serve::access::Grant {
                id: id.clone(),
                name,
                sha256: String::new(),
                jurisdiction,
                lists,
                unmask,
                expires,
            };
            let token = crate::serve::access::add_token(&tokens, grant)?;
            println!("{token}");
            eprintln!(
                "已把令牌 {id} 的散列写入 {}；上面的令牌只显示这一次，请安全地交给持有单位 / token {id} added; it is shown only this once",
                tokens.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Lookup {
            warehouse,
            as_of,
            name,
            id_number,
            registration_no,
            json,
            threads,
            memory_mb,
        } => {
            lookup(
                &warehouse,
                as_of,
                &name,
                id_number,
                registration_no,
                json,
                threads,
                memory_mb,
            )
            .await
        }
        Command::Sql {
            warehouse,
            format,
            as_of,
            threads,
            memory_mb,
            cluster,
            query,
        } => {
            let batches = pipeline::sql_all_on(&warehouse, &[&query], as_of, threads, memory_mb, cluster.as_deref())
                .await?
                .pop()
                .unwrap_or_default();
            pipeline::print_batches(&batches, format, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scheduler {
            listen,
            advertise,
            executor_timeout_secs,
            keep_results_secs,
        } => {
            eprintln!("xueji 调度器监听 / scheduler listening on {listen}");
            crate::cluster::run_scheduler(listen, advertise, executor_timeout_secs, keep_results_secs).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Executor {
            scheduler,
            listen,
            grpc_listen,
            work_dir,
            memory_mb,
            cores,
            advertise,
        } => {
            eprintln!("xueji 执行器 {listen}（gRPC {grpc_listen}），调度器 {scheduler} / executor");
            crate::cluster::run_executor(crate::cluster::ExecutorOptions {
                scheduler,
                listen,
                grpc_listen,
                work_dir,
                memory_mb,
                cores,
                advertise,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Nightly {
            pipeline: file,
            date,
            json,
        } => {
            let job = PipelineConfig::load(&file)?;
            let vacuum_keep_hours = job.vacuum_keep_hours;
            let (o, models) = job.into_job(date)?;
            let out = pipeline::ingest(&o).await?;
            let mut render_error = None;
            match models {
                Some(m) => {
                    let runs = crate::models::run(&m).await?;
                    let rendered = render_local(&m.warehouse, &runs.snapshot_date)
                        .await
                        .unwrap_or_else(|e| {
                            render_error = Some(format!("报表生成失败 / rendering failed: {e:#}"));
                            None
                        });
                    if let Some(r) = rendered.as_ref().filter(|r| !r.failed.is_empty()) {
                        let keys: Vec<&str> = r.failed.iter().map(|f| f.0.as_str()).collect();
                        render_error = Some(format!("报表 {} 未能生成", keys.join("、")));
                    }
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({ "ingest": out, "run": runs, "render": rendered })
                            )?
                        );
                    } else {
                        print_ingest(&out);
                        print_run(&runs);
                        if render_error.is_none() {
                            print_render(rendered.as_ref());
                        }
                    }
                }
                None => show_ingest(&out, json)?,
            }
            if let Some(hours) = vacuum_keep_hours {
                let wait = std::time::Duration::from_secs(o.wait_lock_secs);
                let failed = match crate::warehouse::vacuum::run(&o.warehouse, hours, false, false, wait).await {
                    // On stderr: with --json, stdout carries the night's outcome alone.
                    Ok(v) => {
                        eprintln!(
                            "清理 / vacuum：删除 {} 个文件，{:.1} MB / removed {} files",
                            v.files,
                            v.bytes as f64 / 1e6,
                            v.files
                        );
                        v.failures()
                    }
                    Err(e) => Some(format!("{e:#}")),
                };
                if let Some(e) = failed {
                    let e = format!("清理旧文件失败 / vacuum failed: {e}");
                    render_error = Some(render_error.map_or(e.clone(), |r| format!("{r}；{e}")));
                }
            }
            Ok(committed_code(&out, render_error.as_deref()))
        }
        Command::Demo { pipeline: file } => {
            anyhow::ensure!(
                file.exists(),
                "找不到作业文件 {}：请在项目根目录运行 / run from the project folder",
                file.display()
            );
            let (o, models) = PipelineConfig::load(&file)?.into_job(None)?;
            let warehouse = o.warehouse.clone();
            let out = pipeline::ingest(&o).await?;
            print_ingest(&out);
            let ran = match models {
                Some(m) => {
                    let r = crate::models::run(&m).await?;
                    print_run(&r);
                    print_render(render_local(&m.warehouse, &r.snapshot_date).await?.as_ref());
                    r.models.iter().any(|x| x.model == "dedup_groups")
                }
                None => false,
            };
            let mut titles = vec!["各校在册学籍（前 10 所）/ registrations per school (first 10):"];
            let mut queries = vec![
                "SELECT s.school_id AS 学校标识码, COUNT(*) AS 在册学籍, SUM(CASE WHEN left_behind_type IN ('单亲留守儿童','双亲留守儿童') THEN 1 ELSE 0 END) AS 留守儿童, SUM(CASE WHEN attendance_mode = '住校' THEN 1 ELSE 0 END) AS 住校生 FROM students s GROUP BY s.school_id ORDER BY s.school_id LIMIT 10",
            ];
            if ran {
                titles.push("问题学籍 / problem registrations (dedup_groups):");
                queries.push("SELECT kind_label AS 问题类别, responsible_level AS 负责层级, COUNT(*) AS 问题组, SUM(member_count) AS 学籍数, SUM(CASE WHEN status = '已解决' THEN 1 ELSE 0 END) AS 已解决 FROM dedup_groups GROUP BY kind, kind_label, responsible_level ORDER BY kind, CASE responsible_level WHEN '区县' THEN 1 WHEN '地市' THEN 2 WHEN '省级' THEN 3 ELSE 4 END");
                titles.push("同一学生的多条学籍（精确 + 疑似）/ pupils registered more than once (dedup_clusters):");
                queries.push("SELECT found_by AS 发现方式, COUNT(DISTINCT cluster_id) AS 学生数, COUNT(*) AS 学籍数 FROM dedup_clusters GROUP BY found_by ORDER BY found_by");
                titles.push("在校生分类统计（教基表口径）/ pupils in school by kind (stats_school_form):");
                queries.push("SELECT county_name AS 区县, SUM(pupils) AS 在校生, SUM(girls) AS 女, SUM(boarders) AS 寄宿生, SUM(migrant) AS 随迁子女, SUM(migrant_worker) AS 进城务工随迁, SUM(rural_left_behind) AS 农村留守儿童 FROM stats_school_form GROUP BY county_code, county_name ORDER BY county_code");
            }
            for (title, b) in titles
                .iter()
                .zip(pipeline::sql_all(&warehouse, &queries, None, default_threads(), 1024).await?)
            {
                println!("\n{title}");
                pipeline::print_batches(&b, SqlFormat::Table, &mut std::io::stdout().lock())?;
            }
            let marts: Vec<String> = crate::models::models()?.into_iter().map(|m| m.name).collect();
            println!(
                "\n仓库 / warehouse: {warehouse}/\n  输入表 inputs: {}, rejects, import_files\n  模型表 marts: {}",
                crate::warehouse::HISTORY_TABLES.join(", "),
                marts.join(", ")
            );
            println!("导入报告 / import reports: {}", out.report_index.display());
            println!(
                "自行查询 / ask your own question:\n  cargo run --release -- sql --warehouse {warehouse} \"SELECT rule_code, COUNT(*) FROM rejects GROUP BY rule_code ORDER BY 2 DESC\""
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

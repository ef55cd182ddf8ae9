//! `kubewiz diagnose`: on a live cluster, check a stage's health on each host and, where it is
//! not healthy, gather evidence (the stage's view across hosts, the journal of its units, the
//! catalog's probes; for a host it cannot reach, the control machine's probes) and say
//! which known failure it is. Reads only; `kubewiz apply --auto-fix` applies the fixes.

use super::run::pool;
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::config::ResolvedHost;
use crate::diagnose::reach::SSH_SOURCE;
use crate::engine::evidence::{self, HostAccess};
use crate::engine::HostPool;
use crate::events::{Event, Evidence};
use crate::output::{Format, PlainPrinter};
use crate::ssh::Connection;
use crate::ssh::ExecRequest;
use crate::stages;
use crate::stages::{Finding, Severity};
use anyhow::{bail, Result};
use clap::Args;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub file: FileArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The stage to look at.
    #[arg(long, default_value = "etcd", help = stage_help())]
    pub stage: String,
}

pub async fn run(args: DiagnoseArgs) -> Result<ExitCode> {
    let loaded = match super::load_or_exit(&args.file.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let spec = &loaded.spec;
    let Some(check) = stages::health_check(stages::REGISTRY, spec, &args.stage) else {
        bail!(
            "--stage {:?}: diagnose knows {}",
            args.stage,
            stages::names(stages::REGISTRY).join(", ")
        );
    };
    let (hosts, units, health) = (check.hosts, check.units, check.command);
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let log = crate::logging::init(&dir.logs(), "diagnose")?;
    let pool = pool(&hosts, &dir, &args.connect)?;
    let mut printer = PlainPrinter::new(super::use_color(), true);
    let mut unhealthy = 0;
    let stage = args.stage.as_str();

    // Each host's own check and the stage's view across hosts, at once.
    let local = futures::future::join_all(hosts.iter().map(|h| local_check(&pool, h, &health)));
    let ctx = crate::stages::FixContext {
        spec,
        dir: &dir,
        pool: &*pool,
    };
    let view = async {
        match check.view {
            Some(view) => view(&ctx).await,
            None => vec![],
        }
    };
    let (local, findings) = futures::join!(local, view);
    for f in &findings {
        tracing::info!(host = %f.host, severity = ?f.severity, source = %f.source, "{}", f.line);
    }

    let verdicts = local.into_iter().map(|(host, local)| {
        let (pool, units, findings) = (&pool, &units, &findings);
        async move {
            let mine: Vec<&Finding> = findings.iter().filter(|f| f.host == host).collect();
            let problem = mine.iter().any(|f| f.severity == Severity::Problem);
            let (conn, output, ssh_error) = match local {
                // Unreachable: the SSH error and the control machine's probes of the host.
                Local::Unreachable(e) => {
                    let target = pool
                        .target(&host)
                        .expect("every checked host is in the pool");
                    let access = HostAccess::Unreachable {
                        address: &target.address,
                        port: target.port,
                    };
                    let known = vec![(SSH_SOURCE.to_string(), e)];
                    let d = evidence::diagnose(access, stage, units, known).await;
                    return (host, Verdict::Unhealthy(d));
                }
                Local::Passed(conn) if !problem => {
                    let mut warnings: Vec<Evidence> = mine
                        .iter()
                        .map(|f| Evidence {
                            source: f.source.clone(),
                            line: f.line.clone(),
                            matched: false,
                        })
                        .collect();
                    warnings.extend(evidence::journal_warnings(&conn, stage, units).await);
                    return (host, Verdict::Healthy(warnings));
                }
                Local::Passed(conn) => (conn, vec![], None),
                Local::Failed {
                    conn,
                    output,
                    ssh_error,
                } => (conn, output, ssh_error),
            };
            let mut known: Vec<(String, String)> = mine
                .iter()
                .map(|f| (f.source.clone(), f.line.clone()))
                .collect();
            known.extend(evidence::lines_from("step output", &output));
            known.extend(ssh_error.map(|e| (SSH_SOURCE.to_string(), e)));
            let d = evidence::diagnose(HostAccess::Connected(&conn), stage, units, known).await;
            (host, Verdict::Unhealthy(d))
        }
    });
    for (host, verdict) in futures::future::join_all(verdicts).await {
        let at = crate::events::StepRef::new(stage, "diagnose", &host);
        let ev = match verdict {
            Verdict::Healthy(warnings) => Event::Healthy { at, warnings },
            Verdict::Unhealthy(diagnosis) => {
                unhealthy += 1;
                Event::Diagnosis { at, diagnosis }
            }
        };
        let mut out = std::io::stdout().lock();
        match args.connect.output {
            Format::Json => writeln!(out, "{}", serde_json::to_string(&ev)?)?,
            Format::Plain => printer.write(&mut out, &ev)?,
        }
    }
    pool.close_all().await;
    eprintln!("kubewiz: log in {}", log.file.display());
    if unhealthy > 0 {
        eprintln!(
            "kubewiz: `kubewiz apply --auto-fix -f {}` applies the fixes kubewiz knows and retries",
            args.file.file.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

enum Verdict {
    Healthy(Vec<Evidence>),
    Unhealthy(crate::events::Diagnosis),
}

/// What a host's own health command said.
enum Local {
    /// No SSH connection: the error.
    Unreachable(String),
    Passed(Connection),
    /// Its output, and the SSH error that ended it if any (sudo refused, connection lost).
    Failed {
        conn: Connection,
        output: Vec<String>,
        ssh_error: Option<String>,
    },
}

/// A host's own health command (none: evidence is always gathered).
async fn local_check(
    pool: &HostPool,
    host: &ResolvedHost,
    health: &Option<String>,
) -> (String, Local) {
    let name = host.name.clone();
    let conn = match pool.connection(&host.name).await {
        Ok(c) => c,
        Err(e) => return (name, Local::Unreachable(e.to_string())),
    };
    let Some(cmd) = health else {
        let local = Local::Failed {
            conn,
            output: vec![],
            ssh_error: None,
        };
        return (name, local);
    };
    let req = ExecRequest {
        command: cmd.clone(),
        sudo: true,
        timeout: Some(Duration::from_secs(15)),
        stdin: None,
    };
    let mut output = vec![];
    let ssh_error = match conn.exec(&req, &mut |l| output.push(l.line)).await {
        Ok(o) if o.exit_status == Some(0) => return (name, Local::Passed(conn)),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let local = Local::Failed {
        conn,
        output,
        ssh_error,
    };
    (name, local)
}

/// `--stage`'s help: the registry's stages.
fn stage_help() -> String {
    format!(
        "The stage to look at: {}",
        stages::names(stages::REGISTRY).join(", ")
    )
}

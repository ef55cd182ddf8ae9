//! `kubewiz diagnose`: on a live cluster, check a stage's health on each host and, where it is
//! not healthy, gather evidence (journal of the stage's units, the catalog's probes) and say
//! which known failure it is. Reads only; `kubewiz apply --auto-fix` applies the fixes.

use super::run::pool;
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::config::ResolvedHost;
use crate::engine::evidence;
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

    let verdicts = local.into_iter().map(|(host, conn, output)| {
        let (units, findings) = (&units, &findings);
        async move {
            let mine: Vec<&Finding> = findings.iter().filter(|f| f.host == host).collect();
            let problem = mine.iter().any(|f| f.severity == Severity::Problem);
            let conn = match conn {
                Ok(c) => c,
                Err(e) => return (host, Verdict::CannotCheck(e)),
            };
            if output.is_none() && !problem {
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
            let extra: Vec<(String, String)> = mine
                .iter()
                .map(|f| (f.source.clone(), f.line.clone()))
                .collect();
            let output = output.unwrap_or_default();
            let d = evidence::diagnose_with(Some(&conn), stage, units, &output, &extra).await;
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
            Verdict::CannotCheck(err) => {
                unhealthy += 1;
                writeln!(std::io::stdout().lock(), "{host}: cannot check: {err}")?;
                continue;
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
    CannotCheck(String),
}

/// A host's own health command: its connection, and None when it passed, else its output.
async fn local_check(
    pool: &HostPool,
    host: &ResolvedHost,
    health: &Option<String>,
) -> (String, Result<Connection, String>, Option<Vec<String>>) {
    let conn = match pool.connection(&host.name).await {
        Ok(c) => c,
        Err(e) => return (host.name.clone(), Err(e.to_string()), None),
    };
    let Some(cmd) = health else {
        // No probe: evidence is always gathered.
        return (host.name.clone(), Ok(conn), Some(vec![]));
    };
    let req = ExecRequest {
        command: cmd.clone(),
        sudo: true,
        timeout: Some(Duration::from_secs(15)),
        stdin: None,
    };
    let mut output = vec![];
    let ok = matches!(
        conn.exec(&req, &mut |l| output.push(l.line)).await,
        Ok(o) if o.exit_status == Some(0)
    );
    (host.name.clone(), Ok(conn), (!ok).then_some(output))
}

/// `--stage`'s help: the registry's stages.
fn stage_help() -> String {
    format!(
        "The stage to look at: {}",
        stages::names(stages::REGISTRY).join(", ")
    )
}

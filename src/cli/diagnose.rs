//! `kubewiz diagnose`: on a live cluster, check a stage's health on each host and, where it is
//! not healthy, gather evidence (journal of the stage's units, the catalog's probes) and say
//! which known failure it is. Reads only; `kubewiz apply --auto-fix` applies the fixes.

use super::run::pool;
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::diagnose::reach::SSH_SOURCE;
use crate::engine::evidence::{self, HostAccess};
use crate::engine::HostPool;
use crate::events::{Diagnosis, Event};
use crate::output::{Format, PlainPrinter};
use crate::ssh::ExecRequest;
use crate::stages;
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
    let checks = hosts.iter().map(|h| {
        let (pool, units, health) = (pool.clone(), units.clone(), health.clone());
        async move {
            (
                h.name.clone(),
                check_host(&pool, &h.name, stage, &units, &health).await,
            )
        }
    });
    for (host, diagnosis) in futures::future::join_all(checks).await {
        let mut out = std::io::stdout().lock();
        let Some(d) = diagnosis else {
            writeln!(out, "{host}: {} is healthy", args.stage)?;
            continue;
        };
        unhealthy += 1;
        let ev = Event::Diagnosis {
            at: crate::events::StepRef::new(&args.stage, "diagnose", &host),
            diagnosis: d,
        };
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

/// One host: None when the stage's health probe passes, else the diagnosis. A host that cannot
/// be reached, or whose sudo refuses, is diagnosed from that SSH error (and, unreachable, from
/// the control machine's probes of it).
async fn check_host(
    pool: &HostPool,
    host: &str,
    stage: &str,
    units: &[String],
    health: &Option<String>,
) -> Option<Diagnosis> {
    let conn = match pool.connection(host).await {
        Ok(c) => c,
        Err(e) => {
            let target = pool
                .target(host)
                .expect("every checked host is in the pool");
            let access = HostAccess::Unreachable {
                address: &target.address,
                port: target.port,
            };
            let known = vec![(SSH_SOURCE.to_string(), e.to_string())];
            return Some(evidence::diagnose(access, stage, units, known).await);
        }
    };
    let mut output = vec![];
    let mut ssh_error = None;
    if let Some(cmd) = health {
        let req = ExecRequest {
            command: cmd.clone(),
            sudo: true,
            timeout: Some(Duration::from_secs(15)),
            stdin: None,
        };
        match conn.exec(&req, &mut |l| output.push(l.line)).await {
            Ok(o) if o.exit_status == Some(0) => return None,
            Ok(_) => {}
            Err(e) => ssh_error = Some(e.to_string()),
        }
    }
    let mut known = evidence::lines_from("step output", &output);
    known.extend(ssh_error.map(|e| (SSH_SOURCE.to_string(), e)));
    Some(evidence::diagnose(HostAccess::Connected(&conn), stage, units, known).await)
}

/// `--stage`'s help: the registry's stages.
fn stage_help() -> String {
    format!(
        "The stage to look at: {}",
        stages::names(stages::REGISTRY).join(", ")
    )
}

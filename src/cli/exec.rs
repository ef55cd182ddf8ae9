//! `kubewiz exec`: one ad-hoc command on many hosts, live output, a summary of exit codes.

use super::run::{ctrl_c, pool, run_plan, Run};
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::config::Role;
use crate::engine::RunOptions;
use crate::events::StepOutcome;
use crate::output::Format;
use crate::plan::{HostSteps, Plan, Stage, Step, StepAction};
use anyhow::{bail, Result};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub file: FileArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',', conflicts_with = "role")]
    pub hosts: Vec<String>,
    /// Only the hosts with this role.
    #[arg(long)]
    pub role: Option<Role>,
    /// Seconds the command may run on each host.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// The command (after `--`), run through sh -c (with sudo where the host is set up for it).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub async fn run(args: ExecArgs) -> Result<ExitCode> {
    let loaded = match super::load_or_exit(&args.file.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let mut hosts = loaded.spec.resolved_hosts();
    if !args.hosts.is_empty() {
        for h in &args.hosts {
            if !hosts.iter().any(|r| &r.name == h) {
                bail!(
                    "--hosts: no host named {h:?} in {}",
                    args.file.file.display()
                );
            }
        }
        hosts.retain(|h| args.hosts.contains(&h.name));
    }
    if let Some(role) = args.role {
        hosts.retain(|h| h.roles.contains(&role));
        if hosts.is_empty() {
            bail!("no host has the role {}", role.as_str());
        }
    }
    let command = args.command.join(" ");
    let plan = Plan {
        cluster: loaded.spec.name.clone(),
        stages: vec![Stage {
            name: "exec".into(),
            units: vec![],
            description: "ad-hoc command".into(),
            hosts: hosts
                .iter()
                .map(|h| HostSteps {
                    host: h.name.clone(),
                    // Ad-hoc commands may not be idempotent: never run twice (the default).
                    steps: vec![Step::new(
                        "command",
                        &command,
                        StepAction::Script {
                            script: command.clone(),
                            reports_result: false,
                        },
                    )
                    .timeout_secs(args.timeout)],
                })
                .collect(),
        }],
    };
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let log = crate::logging::init(&dir.logs(), "exec")?;
    let pool = pool(&hosts, &dir, &args.connect)?;
    let (summary, _) = run_plan(Run {
        plan: &plan,
        pool: pool.clone(),
        connect: &args.connect,
        options: RunOptions {
            parallel: args.connect.parallel,
            journal: None,
            rerun_stages: vec![],
            partial: false,
            views: Default::default(),
        },
        show_step: false,
        cancel: ctrl_c(),
    })
    .await?;
    pool.close_all().await;
    eprintln!("kubewiz: log in {}", log.file.display());

    if args.connect.output == Format::Plain {
        let width = hosts.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
        println!("{:<width$}  result", "host");
        for h in &hosts {
            let outcome = summary
                .outcomes
                .iter()
                .find(|(at, _)| at.host == h.name)
                .map(|(_, o)| o);
            let text = match outcome {
                Some(StepOutcome::Done) => "exit 0".to_string(),
                Some(StepOutcome::Failed {
                    exit_status: Some(c),
                    ..
                }) => format!("exit {c}"),
                Some(StepOutcome::Failed { message, .. }) => format!("error: {message}"),
                Some(o) => o.label().to_string(),
                None => "not run".to_string(),
            };
            println!("{:<width$}  {text}", h.name);
        }
    }
    Ok(super::run_exit_code(&summary))
}

//! `kubewiz apply`: run the stages, resuming an interrupted run from the journal.

use super::run::{run_plan, Run};
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::engine::RunOptions;
use crate::{config, stages};
use anyhow::{bail, Result};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub file: FileArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Start at this stage and run it and the ones after it again, whatever the journal says.
    #[arg(long)]
    pub from_stage: Option<String>,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only_hosts: Vec<String>,
    /// Only this one step, as stage/step (e.g. prep/sysctl): retry one step on demand.
    #[arg(long)]
    pub step: Option<String>,
}

pub async fn run(args: ApplyArgs) -> Result<ExitCode> {
    let loaded = match config::load(&args.file.file) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let spec = &loaded.spec;
    let mut plan = stages::build_plan(spec)?;
    let mut rerun_stages = vec![];
    if let Some(stage) = &args.from_stage {
        plan.start_at_stage(stage).map_err(anyhow::Error::msg)?;
        rerun_stages = plan.stage_names();
    }
    if !args.only_hosts.is_empty() {
        let unknown: Vec<_> = args
            .only_hosts
            .iter()
            .filter(|h| !spec.hosts.iter().any(|s| &s.name == *h))
            .collect();
        if !unknown.is_empty() {
            bail!("--only-hosts names hosts not in the cluster file: {unknown:?}");
        }
        plan.retain_hosts(&args.only_hosts);
    }
    if let Some(step) = &args.step {
        plan.only_step(step).map_err(anyhow::Error::msg)?;
        // One step on demand always runs, even when the journal has it.
        rerun_stages = plan.stage_names();
    }
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let hosts = spec.resolved_hosts();
    let summary = run_plan(Run {
        plan: &plan,
        hosts: &hosts,
        dir: &dir,
        connect: &args.connect,
        options: RunOptions {
            parallel: args.connect.parallel,
            journal: Some(dir.journal()),
            rerun_stages,
        },
        show_step: true,
        log_name: "apply",
    })
    .await?;
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

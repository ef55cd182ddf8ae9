//! `kubewiz apply`: run the stages, resuming an interrupted run from the journal; with
//! `--auto-fix`, apply the fix a diagnosis offers and retry the failed stage.

use super::run::{ctrl_c, pool, run_plan, Run};
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::diagnose::fixes::{self, FixContext};
use crate::engine::{HostPool, RunOptions, RunSummary};
use crate::{config, pki, stages};
use anyhow::{bail, Result};
use clap::Args;
use std::io::IsTerminal;
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
    /// Only these stages (comma-separated, e.g. preflight,prep).
    #[arg(long, value_delimiter = ',')]
    pub only_stages: Vec<String>,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only_hosts: Vec<String>,
    /// Only this one step, as stage/step (e.g. prep/sysctl): retry one step on demand.
    #[arg(long)]
    pub step: Option<String>,
    /// Preflight checks whose failure is only reported (e.g. port-2379,memory; or all).
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// When a failure has a known fix, apply it and retry the failed stage (twice at most).
    #[arg(long)]
    pub auto_fix: bool,
    /// Consent to destructive fixes (an etcd data directory moved aside) without a prompt.
    #[arg(long)]
    pub yes: bool,
}

/// Rounds of fix-and-retry before giving up.
const MAX_FIX_ROUNDS: usize = 2;

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
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let log = crate::logging::init(&dir.logs(), "apply")?;
    let hosts = spec.resolved_hosts();
    if let Some(unknown) = args
        .only_hosts
        .iter()
        .find(|h| !hosts.iter().any(|r| &r.name == *h))
    {
        bail!(
            "--only-hosts: no host named {unknown:?} in {}",
            args.file.file.display()
        );
    }
    let pool = pool(&hosts, &dir, &args.connect)?;
    let cancel = ctrl_c();

    let mut rerun_stages: Vec<String> = vec![];
    let mut summary = None;
    for round in 0..=MAX_FIX_ROUNDS {
        // The PKI lives in the cluster directory: created once, reused, never regenerated
        // silently (a re-issued leaf is reported, its old files backed up).
        let report = pki::ensure(&dir, spec)?;
        if report.changed() {
            eprint!("{report}");
        }
        let plan = narrowed_plan(&args, spec, &dir, &mut rerun_stages)?;
        let s = run_plan(Run {
            plan: &plan,
            pool: pool.clone(),
            connect: &args.connect,
            options: RunOptions {
                parallel: args.connect.parallel,
                journal: Some(dir.journal()),
                rerun_stages: rerun_stages.clone(),
                // A retried piece leaves the run open: the next full apply resumes.
                partial: args.step.is_some() || !args.only_hosts.is_empty(),
            },
            show_step: true,
            cancel: cancel.clone(),
        })
        .await?;
        let retry = !s.ok && !s.interrupted && args.auto_fix && round < MAX_FIX_ROUNDS;
        if retry {
            match apply_fixes(&args, spec, &dir, &pool, &s).await? {
                Some(stage) => {
                    eprintln!("kubewiz: retrying stage {stage} after the fix");
                    rerun_stages = vec![stage];
                    summary = Some(s);
                    continue;
                }
                None => eprintln!("kubewiz: no automatic fix for this failure"),
            }
        }
        summary = Some(s);
        break;
    }
    pool.close_all().await;
    eprintln!("kubewiz: log in {}", log.file.display());
    let summary = summary.expect("at least one round ran");
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn narrowed_plan(
    args: &ApplyArgs,
    spec: &config::ClusterSpec,
    dir: &ClusterDir,
    rerun_stages: &mut Vec<String>,
) -> Result<crate::plan::Plan> {
    let opts = stages::PlanOptions {
        ignore_preflight: args.ignore_preflight_errors.clone(),
    };
    let mut plan = stages::build_plan(spec, dir, &opts)?;
    if let Some(stage) = &args.from_stage {
        plan.start_at_stage(stage).map_err(anyhow::Error::msg)?;
        rerun_stages.extend(plan.stage_names());
    }
    if !args.only_stages.is_empty() {
        plan.retain_stages(&args.only_stages)
            .map_err(anyhow::Error::msg)?;
    }
    if !args.only_hosts.is_empty() {
        plan.retain_hosts(&args.only_hosts);
    }
    if let Some(step) = &args.step {
        plan.only_step(step).map_err(anyhow::Error::msg)?;
        // One step on demand always runs, even when the journal has it.
        rerun_stages.extend(plan.stage_names());
    }
    Ok(plan)
}

/// Apply each distinct fix the failed steps' diagnoses offer. Returns the stage to retry, or
/// None when nothing could be fixed.
async fn apply_fixes(
    args: &ApplyArgs,
    spec: &config::ClusterSpec,
    dir: &ClusterDir,
    pool: &HostPool,
    s: &RunSummary,
) -> Result<Option<String>> {
    let ctx = FixContext { spec, dir, pool };
    let mut done: Vec<String> = vec![];
    let mut stage = None;
    for (at, d) in &s.diagnoses {
        let Some(fix) = &d.auto_fix else { continue };
        if done.contains(&fix.action) || !fixes::known(&fix.action) {
            continue;
        }
        let consent = !fix.destructive || args.yes || confirm(&fix.description)?;
        if !consent {
            eprintln!(
                "kubewiz: skipped the fix ({}): it needs your consent (--yes)",
                fix.description
            );
            continue;
        }
        eprintln!(
            "kubewiz: fixing ({}): {}",
            d.id.as_deref().unwrap_or("?"),
            fix.description
        );
        let mut emit = |line: String| eprintln!("    {line}");
        fixes::apply(&ctx, &fix.action, &at.host, consent, &mut emit).await?;
        done.push(fix.action.clone());
        stage.get_or_insert_with(|| at.stage.clone());
    }
    Ok(stage)
}

fn confirm(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("kubewiz: {what}\nThis is destructive. Type yes to go on: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

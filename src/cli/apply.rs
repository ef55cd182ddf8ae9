//! `kubewiz apply`: run the stages, resuming an interrupted run from the journal; with
//! `--auto-fix`, apply the fix a diagnosis offers and retry the failed stage.

use super::run::{ctrl_c, pool, run_plan, Run};
use super::{ConnectArgs, FileArg};
use crate::cluster_dir::ClusterDir;
use crate::deploy::{self, FixContext, FixNote, FixOffer, Narrowing, Request, MAX_FIX_ROUNDS};
use crate::engine::RunSummary;
use crate::events::StepOutcome;
use crate::output::{self, PlainPrinter};
use crate::stages;
use crate::summary::{summary_after_failure, ClusterSummary, StoppedOn, SummaryLines};
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

pub async fn run(args: ApplyArgs) -> Result<ExitCode> {
    let loaded = match super::load_or_exit(&args.file.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let log = crate::logging::init(&dir.logs(), "apply")?;
    let hosts = loaded.spec.resolved_hosts();
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

    let mut request = Request {
        plan: stages::PlanOptions {
            ignore_preflight: args.ignore_preflight_errors.clone(),
        },
        narrowing: Narrowing {
            from_stage: args.from_stage.clone(),
            only_stages: args.only_stages.clone(),
            only_hosts: args.only_hosts.clone(),
            step: args.step.clone(),
            skipped: vec![],
        },
        parallel: args.connect.parallel,
        ..Request::new(loaded.spec, dir)
    };
    let mut summary = None;
    // The summary lines of every round: a retry's replace the round before's.
    let mut lines = SummaryLines::default();
    for round in 0..=MAX_FIX_ROUNDS {
        let prepared = deploy::prepare(&request)?;
        if prepared.pki.changed() {
            eprint!("{}", prepared.pki);
        }
        let (s, round_lines) = run_plan(Run {
            plan: &prepared.plan,
            pool: pool.clone(),
            connect: &args.connect,
            options: prepared.options,
            show_step: true,
            cancel: cancel.clone(),
        })
        .await?;
        lines.merge(&round_lines);
        let retry = !s.ok && !s.interrupted && args.auto_fix && round < MAX_FIX_ROUNDS;
        if retry {
            let ctx = FixContext {
                spec: &request.spec,
                dir: &request.dir,
                pool: &*pool,
            };
            let offers = deploy::offers(&s.diagnoses);
            match deploy::apply_fixes(&ctx, &offers, &mut |o| consent(&args, o), &mut note).await? {
                Some(stage) => {
                    eprintln!("kubewiz: retrying stage {stage} after the fix");
                    request = request.retry_after_fix(&stage);
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
    let summary = summary.expect("at least one round ran");
    // A run that stopped on a failure after the nodes joined still has a cluster to describe.
    let stopped_on = (!summary.ok).then(|| first_failure(&summary)).flatten();
    let describe = summary.ok || (stopped_on.is_some() && summary_after_failure(&lines));
    if describe && !summary.interrupted {
        let file = std::path::absolute(&args.file.file)?;
        let log_file = std::path::absolute(&log.file)?;
        let mut end = ClusterSummary::new(&request.spec.name, &lines, &file, Some(&log_file));
        if let Some(failure) = stopped_on {
            end = end.stopped(failure);
        }
        let printer = PlainPrinter::new(super::use_color(), true);
        output::write_summary(
            &mut std::io::stdout().lock(),
            args.connect.output,
            &printer,
            &end,
        )?;
    }
    eprintln!("kubewiz: log in {}", log.file.display());
    Ok(super::run_exit_code(&summary))
}

/// The first step the run failed, with the catalog's diagnosis of it.
fn first_failure(s: &RunSummary) -> Option<StoppedOn> {
    s.outcomes.iter().find_map(|(at, outcome)| match outcome {
        StepOutcome::Failed { message, .. } => {
            let diagnosis = s.diagnoses.iter().find(|(d, _)| d == at).map(|(_, d)| d);
            Some(StoppedOn::new(at, message, diagnosis))
        }
        _ => None,
    })
}

/// Consent to a destructive fix: `--yes`, else typed on the terminal.
fn consent(args: &ApplyArgs, offer: &FixOffer) -> Result<bool> {
    Ok(args.yes || confirm(&offer.fix.description)?)
}

fn note(n: FixNote<'_>) {
    match n {
        FixNote::NoConsent(o) => eprintln!(
            "kubewiz: skipped the fix ({}): it needs your consent (--yes)",
            o.fix.description
        ),
        FixNote::Fixing(o) => eprintln!(
            "kubewiz: fixing ({}): {}",
            o.id.as_deref().unwrap_or("?"),
            o.fix.description
        ),
        FixNote::Line(line) => eprintln!("    {line}"),
    }
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

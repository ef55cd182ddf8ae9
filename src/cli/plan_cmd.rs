//! `kubewiz plan`: the dry run. Prints every step and every file it writes, per host.

use super::FileArg;
use crate::plan::{Plan, StepAction};
use crate::{config, stages};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Also print each step's full script.
    #[arg(long)]
    pub show_scripts: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PlanArgs) -> Result<ExitCode> {
    let loaded = match config::load(&args.file.file) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let plan = stages::build_plan(&loaded.spec)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render(&plan, args.show_scripts));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn render(plan: &Plan, show_scripts: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan for cluster {}: {} stage(s), {} steps (dry run: nothing is changed)",
        plan.cluster,
        plan.stages.len(),
        plan.total_steps()
    );
    for stage in &plan.stages {
        let _ = writeln!(out, "\nstage {}: {}", stage.name, stage.description);
        for host in &stage.hosts {
            let _ = writeln!(out, "  host {}", host.host);
            for step in &host.steps {
                let _ = writeln!(
                    out,
                    "    {}/{:<14} {}",
                    stage.name, step.name, step.description
                );
                let mut writes = step.writes.clone();
                if let StepAction::File { path, .. } = &step.action {
                    if !writes.contains(path) {
                        writes.push(path.clone());
                    }
                }
                for w in writes {
                    let _ = writeln!(out, "{:>24}writes {w}", "");
                }
                if show_scripts {
                    let body = match &step.action {
                        StepAction::Script { script, .. } => script.clone(),
                        StepAction::File { content, .. } => content.clone(),
                    };
                    for line in body.lines() {
                        let _ = writeln!(out, "{:>8}| {line}", "");
                    }
                }
            }
        }
    }
    out
}

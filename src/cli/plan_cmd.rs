//! `kubewiz plan`: the dry run. Prints every step and every file it writes, per host.

use super::FileArg;
use crate::cluster_dir::ClusterDir;
use crate::plan::{FileSource, Plan, Step, StepAction, StepScope};
use crate::stages;
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
    let loaded = match super::load_or_exit(&args.file.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let plan = stages::build_plan(&loaded.spec, &dir, &stages::PlanOptions::default())?;
    let addons = crate::addons::rendered(&loaded.spec)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render(&plan, args.show_scripts));
        print!("{}", render_addons(&addons, &dir));
    }
    Ok(ExitCode::SUCCESS)
}

/// How a step runs when not on each host on its own: `[once] `, `[serial] `, `[barrier] `.
fn marker(step: &Step) -> String {
    let mut m = String::new();
    match step.scope {
        StepScope::EachHost => {}
        StepScope::Once => m.push_str("[once] "),
        StepScope::Serial => m.push_str("[serial] "),
    }
    if step.barrier {
        m.push_str("[barrier] ");
    }
    m
}

/// The add-on manifests and what kubewiz changes in each release manifest.
pub fn render_addons(addons: &[crate::addons::Rendered], dir: &ClusterDir) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for a in addons {
        let _ = writeln!(
            out,
            "\nadd-on {}: {} with {} change(s), written to {} by apply",
            a.name,
            a.source.display(),
            a.changes.len(),
            crate::addons::path_in(dir, a.name).display()
        );
        for c in &a.changes {
            let _ = writeln!(out, "  set {c}");
        }
        for w in &a.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    out
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
                    "    {}/{:<14} {}{}",
                    stage.name,
                    step.name,
                    marker(step),
                    step.description
                );
                let mut writes = step.writes.clone();
                if let StepAction::Files { files, .. } = &step.action {
                    for f in files {
                        if !writes.contains(&f.path) {
                            writes.push(f.path.clone());
                        }
                    }
                }
                for w in writes {
                    let _ = writeln!(out, "{:>24}writes {w}", "");
                }
                if show_scripts {
                    let body = match &step.action {
                        StepAction::Script { script, .. } => script.clone(),
                        StepAction::ClockSkew { max_skew_ms } => {
                            format!("compare `date +%s.%N` with this machine's clock (max {max_skew_ms} ms)")
                        }
                        StepAction::Files { files, on_change } => files
                            .iter()
                            .map(|f| match &f.source {
                                FileSource::Inline { content, secret } if !*secret => format!(
                                    "{} (mode {:o}):\n{}",
                                    f.path,
                                    f.mode,
                                    String::from_utf8_lossy(content)
                                ),
                                FileSource::Inline { .. } => {
                                    format!(
                                        "{} (mode {:o}): <private key, not shown>",
                                        f.path, f.mode
                                    )
                                }
                                FileSource::Local { path, sha256 } => format!(
                                    "{} (mode {:o}): from {} (sha256 {sha256})",
                                    f.path,
                                    f.mode,
                                    path.display()
                                ),
                            })
                            .chain(on_change.iter().map(|c| format!("then, if changed:\n{c}")))
                            .collect::<Vec<_>>()
                            .join("\n"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{HostSteps, Stage};

    #[test]
    fn cluster_wide_steps_are_marked() {
        let steps = vec![
            Step::script("swap", "swap off", "true"),
            Step::script("start", "start", "true").after_barrier(),
            Step::script("flannel", "flanneld", "true").scope(StepScope::Serial),
            Step::script("token", "token", "true").scope(StepScope::Once),
        ];
        let plan = Plan {
            cluster: "c".into(),
            stages: vec![Stage {
                name: "s".into(),
                description: String::new(),
                units: vec![],
                hosts: vec![HostSteps {
                    host: "n1".into(),
                    steps,
                }],
            }],
        };
        let text = render(&plan, false);
        let line = |step: &str| {
            text.lines()
                .find(|l| l.contains(&format!("s/{step} ")))
                .unwrap()
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(line("swap"), "swap off");
        assert_eq!(line("start"), "[barrier] start");
        assert_eq!(line("flannel"), "[serial] flanneld");
        assert_eq!(line("token"), "[once] token");
    }
}

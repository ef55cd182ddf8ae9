//! `kubewiz` (no arguments) and `kubewiz wizard [-f cluster.yaml]`: the terminal UI.

use crate::tui::{runner, theme::Theme, App};
use anyhow::{bail, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args, Default)]
pub struct WizardArgs {
    /// Open this cluster file (or start a new cluster saved there when it does not exist).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
}

pub async fn run(args: WizardArgs) -> Result<ExitCode> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "the wizard needs a terminal; without one, use the headless commands: kubewiz validate|plan|apply -f cluster.yaml"
        );
    }
    let theme = Theme::from_env();
    let app = match &args.file {
        Some(f) => App::with_file(theme, f),
        None => App::new(theme),
    };
    let app = runner::run_terminal(app).await?;
    // Printed after the terminal is restored.
    if let Some(d) = &app.dash {
        match &d.end {
            Some(e) if e.ok => eprintln!("kubewiz: deployment finished"),
            Some(e) if e.interrupted => eprintln!(
                "kubewiz: stopped; run `kubewiz wizard -f {}` (or apply) to resume",
                app.wizard.file.display()
            ),
            Some(_) => eprintln!("kubewiz: the deployment stopped on a failure"),
            None => {}
        }
    }
    if let Some(log) = &app.log_file {
        eprintln!("kubewiz: log in {}", log.display());
    }
    Ok(match app.dash.as_ref().and_then(|d| d.end.as_ref()) {
        Some(e) if e.interrupted => ExitCode::from(130),
        Some(e) if !e.ok => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

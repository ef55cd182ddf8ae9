//! Command line (clap). Every command is a thin front end over config → plan → engine → events.

mod apply;
mod certs;
mod diagnose;
mod exec;
mod kubeconfig;
pub mod plan_cmd;
mod run;
mod validate;
mod wizard;

use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config;
use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "kubewiz",
    version,
    about = "Install a Kubernetes cluster from binaries over SSH",
    long_about = "Install a Kubernetes cluster from binaries over SSH.\n\n\
        Describe the cluster in a cluster file (see assets/cluster.example.yaml), then:\n  \
        kubewiz validate -f cluster.yaml\n  kubewiz plan -f cluster.yaml\n  kubewiz apply -f cluster.yaml"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a cluster file and report every problem at once, each with its field path.
    Validate(FileArg),
    /// Dry run: print every stage, step and file per host, changing nothing.
    Plan(plan_cmd::PlanArgs),
    /// Run the stages on the hosts (resumes an interrupted run from the journal).
    Apply(apply::ApplyArgs),
    /// Run one command on many hosts, output streamed live and prefixed by host.
    Exec(exec::ExecArgs),
    /// On a live cluster: check a stage's health per host and name the known failure behind it.
    Diagnose(diagnose::DiagnoseArgs),
    /// The cluster's PKI: list, check against the cluster file, generate.
    Certs(certs::CertsArgs),
    /// Where the cluster's admin kubeconfig is; `--merge` adds it to ~/.kube/config.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// The interactive wizard and live dashboard (also what `kubewiz` alone opens).
    Wizard(wizard::WizardArgs),
}

#[derive(Debug, Args)]
pub struct FileArg {
    /// The cluster file; its folder is the cluster directory (known_hosts, state, logs).
    #[arg(short = 'f', long = "file", default_value = "cluster.yaml")]
    pub file: PathBuf,
}

/// Options shared by the commands that talk to hosts.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Accept and record host keys never seen before (they are refused otherwise).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// How many steps run at the same time, over all hosts (a host waiting for the others
    /// holds none).
    #[arg(long, default_value_t = 64)]
    pub parallel: usize,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Output format; plain is the default when stdout is not a terminal.
    #[arg(long, value_enum, default_value = "plain")]
    pub output: Format,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None => Command::Wizard(wizard::WizardArgs::default()),
    };
    let result = match command {
        Command::Validate(a) => validate::run(&a),
        Command::Plan(a) => plan_cmd::run(&a),
        Command::Apply(a) => runtime().block_on(apply::run(a)),
        Command::Exec(a) => runtime().block_on(exec::run(a)),
        Command::Diagnose(a) => runtime().block_on(diagnose::run(a)),
        Command::Certs(a) => certs::run(&a),
        Command::Kubeconfig(a) => kubeconfig::run(&a),
        Command::Wizard(a) => runtime().block_on(wizard::run(a)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kubewiz: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The cluster file, loaded and valid; else what is wrong with it printed on stdout (every
/// finding with its field path) and the exit code 1 for the command to return.
pub fn load_or_exit(file: &Path) -> Result<config::Loaded, ExitCode> {
    config::load(file).map_err(|e| {
        println!("{e}");
        ExitCode::from(1)
    })
}

/// A run's exit code: 130 when interrupted (as a shell reports Ctrl-C), 1 on a failure.
pub fn run_exit_code(summary: &crate::engine::RunSummary) -> ExitCode {
    if summary.interrupted {
        ExitCode::from(130)
    } else if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
}

/// Colour only on a terminal and when NO_COLOR is unset (https://no-color.org).
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

//! Shared by apply, exec and diagnose: connections, a printer, Ctrl-C handling.

use super::ConnectArgs;
use crate::cluster_dir::ClusterDir;
use crate::config::ResolvedHost;
use crate::deploy::{self, targets::Secrets};
use crate::engine::{CancellationToken, HostPool, RunOptions, RunSummary};
use crate::output::{self, PlainPrinter};
use crate::plan::Plan;
use crate::summary::SummaryLines;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

/// One connection pool for the whole command: fixes and retries reuse the connections.
pub fn pool(
    hosts: &[ResolvedHost],
    dir: &ClusterDir,
    connect: &ConnectArgs,
) -> Result<Arc<HostPool>> {
    deploy::pool(
        hosts,
        dir,
        Secrets::EnvOrPrompt,
        connect.accept_new_host_keys,
        Duration::from_secs(connect.connect_timeout),
    )
}

/// A token cancelled by the first Ctrl-C; the second one quits at once.
pub fn ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nkubewiz: stopping after the running steps (Ctrl-C again to quit now; the journal stays consistent)");
            on_signal.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    cancel
}

pub struct Run<'a> {
    pub plan: &'a Plan,
    pub pool: Arc<HostPool>,
    pub connect: &'a ConnectArgs,
    pub options: RunOptions,
    /// `exec` prints `host | line`, `apply` `host stage/step | line`.
    pub show_step: bool,
    pub cancel: CancellationToken,
}

/// Run the plan, its events printed as they come; with the summary lines its steps printed.
pub async fn run_plan(r: Run<'_>) -> Result<(RunSummary, SummaryLines)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(output::print_events(
        rx,
        r.connect.output,
        PlainPrinter::new(super::use_color(), r.show_step),
    ));
    let result = deploy::run_plan(r.plan, r.pool, r.options, tx, r.cancel).await;
    let lines = printer.await.unwrap_or_default();
    Ok((result?, lines))
}

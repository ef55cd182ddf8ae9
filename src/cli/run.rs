//! Shared by apply and exec: run a plan with a printer, Ctrl-C handling and a log file.

use super::ConnectArgs;
use crate::cluster_dir::ClusterDir;
use crate::config::ResolvedHost;
use crate::engine::{self, CancellationToken, HostPool, RunOptions, RunSummary};
use crate::output::{self, PlainPrinter};
use crate::plan::Plan;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

pub struct Run<'a> {
    pub plan: &'a Plan,
    pub hosts: &'a [ResolvedHost],
    pub dir: &'a ClusterDir,
    pub connect: &'a ConnectArgs,
    pub options: RunOptions,
    /// `exec` prints `host | line`, `apply` `host stage/step | line`.
    pub show_step: bool,
    pub log_name: &'a str,
}

pub async fn run_plan(r: Run<'_>) -> Result<RunSummary> {
    let log = crate::logging::init(&r.dir.logs(), r.log_name)?;
    tracing::info!(cluster = %r.plan.cluster, steps = r.plan.total_steps(), "run starts");
    let targets = super::targets::ssh_targets(r.hosts)?;
    let policy = super::targets::host_key_policy(r.dir, r.connect.accept_new_host_keys);
    let pool = Arc::new(HostPool::new(
        targets,
        policy,
        Duration::from_secs(r.connect.connect_timeout),
    ));

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

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(output::print_events(
        rx,
        r.connect.output,
        PlainPrinter::new(super::use_color(), r.show_step),
    ));
    let result = engine::run(r.plan, pool.clone(), r.options, tx, cancel).await;
    pool.close_all().await;
    let _ = printer.await;
    if let Ok(s) = &result {
        tracing::info!(ok = s.ok, interrupted = s.interrupted, "run ends");
    }
    eprintln!("kubewiz: log in {}", log.file.display());
    result
}

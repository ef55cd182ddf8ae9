//! What the TUI needs from the SSH layer and the engine, as small functions over what exists:
//! SSH targets without terminal prompts, "test connection" with the host key shown before it
//! is trusted, and running a deploy request (built and run by [`crate::deploy`]) on a pool.

use super::wizard::HostCheck;
use crate::cluster_dir::ClusterDir;
use crate::config::ResolvedHost;
use crate::deploy::{
    self,
    targets::{host_key_policy, Secrets},
};
use crate::engine::{CancellationToken, RunSummary};
use crate::events::Event;
use crate::ssh::{known_hosts, probe_host_key, Connection, ExecRequest, SshError, SshTarget};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SSH target of a host. Secrets come from the environment only (the TUI owns the
/// terminal, so nothing is prompted for on it): a host with password auth needs its
/// `password_env` set.
pub fn ssh_target(h: &ResolvedHost) -> anyhow::Result<SshTarget> {
    deploy::targets::ssh_target(h, Secrets::EnvOnly, &mut std::collections::HashMap::new())
}

/// Connect with the cluster's known_hosts (never learning a key), log in, and run `id -un`
/// (through sudo when the host uses it).
pub async fn test_host(h: &ResolvedHost, dir: &ClusterDir) -> HostCheck {
    let target = match ssh_target(h) {
        Ok(t) => t,
        Err(e) => return HostCheck::Failed(e.to_string()),
    };
    let sudo = target.sudo;
    let policy = Arc::new(host_key_policy(dir, false));
    let conn = match Connection::connect(target, policy, CONNECT_TIMEOUT).await {
        Ok(c) => c,
        Err(SshError::HostKeyUnknown {
            fingerprint,
            key_type,
            ..
        }) => {
            return HostCheck::UnknownKey {
                key_type,
                fingerprint,
            }
        }
        Err(e) => return HostCheck::Failed(e.to_string()),
    };
    let mut out = vec![];
    let res = {
        let mut sink = |l: crate::ssh::OutputLine| out.push(l.line);
        conn.exec(
            &ExecRequest::new("id -un")
                .sudo(sudo)
                .timeout(CONNECT_TIMEOUT),
            &mut sink,
        )
        .await
    };
    conn.close().await;
    match res {
        Ok(o) if o.success() => HostCheck::Ok(if sudo {
            format!(
                "logged in as {}, sudo works ({})",
                h.user,
                out.first().map(String::as_str).unwrap_or("root")
            )
        } else {
            format!("logged in as {}", h.user)
        }),
        Ok(o) => HostCheck::Failed(format!(
            "logged in, but `id -un`{} failed (exit {:?}): {}",
            if sudo { " with sudo" } else { "" },
            o.exit_status,
            out.join(" / ")
        )),
        Err(e) => HostCheck::Failed(e.to_string()),
    }
}

/// Record the key the user saw as `fingerprint` in the cluster's known_hosts, after reading
/// it again (a different key now is refused), then test the host.
pub async fn accept_and_test(h: &ResolvedHost, dir: &ClusterDir, fingerprint: &str) -> HostCheck {
    let address = h.address.to_string();
    let (_, seen, key) = match probe_host_key(&address, h.port, CONNECT_TIMEOUT).await {
        Ok(k) => k,
        Err(e) => return HostCheck::Failed(e.to_string()),
    };
    if seen != fingerprint {
        return HostCheck::Failed(format!(
            "the host now presents {seen}, not the {fingerprint} you accepted; nothing was recorded: test again and compare"
        ));
    }
    if let Err(e) = known_hosts::append_known_host(&dir.known_hosts(), &address, h.port, &key) {
        return HostCheck::Failed(format!(
            "cannot record the key in {}: {e}",
            dir.known_hosts().display()
        ));
    }
    tracing::info!(host = %h.name, %fingerprint, file = %dir.known_hosts().display(), "host key accepted");
    test_host(h, dir).await
}

/// Run a deploy request as `apply` does, the events to `tx`: the plan is built here, in the
/// run's task (the PKI is written, the bundle hashed), never on the UI thread; connections
/// only to the hosts the narrowed plan runs on (their keys accepted in the wizard already).
/// The error says what failed: building the plan, or the run.
pub async fn run_request(
    request: deploy::Request,
    tx: UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<RunSummary, String> {
    let req = request.clone();
    let prepared = tokio::task::spawn_blocking(move || deploy::prepare(&req))
        .await
        .map_err(|e| format!("cannot build the plan: {e}"))?
        .map_err(|e| format!("cannot build the plan: {e:#}"))?;
    if prepared.pki.changed() {
        tracing::info!("PKI: {}", prepared.pki);
    }
    let hosts = deploy::hosts_in(&prepared.plan, &request.spec.resolved_hosts());
    let pool = deploy::pool(
        &hosts,
        &request.dir,
        Secrets::EnvOnly,
        false,
        CONNECT_TIMEOUT,
    )
    .map_err(|e| format!("the run could not go on: {e:#}"))?;
    let result = deploy::run_plan(&prepared.plan, pool.clone(), prepared.options, tx, cancel).await;
    pool.close_all().await;
    result.map_err(|e| format!("the run could not go on: {e:#}"))
}

/// Run the fix `action` for a failure on `host` (consent given in the pane), over
/// connections of its own. The caller then runs the plan again, the failed stage afresh.
pub async fn apply_fix(
    request: &deploy::Request,
    action: &str,
    host: &str,
    destructive_ok: bool,
    emit: &mut deploy::Emit<'_>,
) -> anyhow::Result<()> {
    let pool = deploy::pool(
        &request.spec.resolved_hosts(),
        &request.dir,
        Secrets::EnvOnly,
        false,
        CONNECT_TIMEOUT,
    )?;
    let ctx = deploy::FixContext {
        spec: &request.spec,
        dir: &request.dir,
        pool: &*pool,
    };
    let r = deploy::apply_fix(&ctx, action, host, destructive_ok, emit).await;
    pool.close_all().await;
    r
}

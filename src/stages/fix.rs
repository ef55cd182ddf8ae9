//! Fixes: what kubewiz can do itself about a known failure (the catalog's `auto_fix.action`).
//! Each stage declares the fixes it owns in the registry ([`super::StageDef::fixes`]); this
//! module holds their shape, the lookup by name, and the one way a fix runs a script on hosts.
//!
//! A fix changes what caused the failure; the caller then retries the failed stage, whose steps
//! put the rest right. Destructive fixes move data aside (never delete it) and need consent.

use super::{StageDef, REGISTRY};
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Role};
use crate::ssh::{Connection, ExecRequest, SshError};
use anyhow::{anyhow, bail, Result};
use futures::future::BoxFuture;
use std::time::Duration;

/// What a fix did, line by line, for the front end to show.
pub type Emit<'a> = dyn FnMut(String) + Send + 'a;

/// Where a fix gets its SSH connections: the engine's host pool implements it, so a stage's
/// fixes need no more of the engine than this.
pub trait Connections: Sync {
    fn connection<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Connection, SshError>>;
}

pub struct FixContext<'a> {
    pub spec: &'a ClusterSpec,
    pub dir: &'a ClusterDir,
    pub pool: &'a dyn Connections,
}

/// How a fix runs: for the failure seen on `host`.
pub type FixFn =
    for<'a> fn(&'a FixContext<'a>, &'a str, &'a mut Emit<'a>) -> BoxFuture<'a, Result<()>>;

/// One fix a stage owns.
#[derive(Clone, Copy)]
pub struct FixDef {
    /// The catalog's `auto_fix.action`.
    pub name: &'static str,
    /// Some(what it destroys) when it needs the user's consent (the catalog's `destructive`).
    pub destroys: Option<&'static str>,
    pub run: FixFn,
}

impl FixDef {
    pub fn destructive(&self) -> bool {
        self.destroys.is_some()
    }

    /// Run the fix for a failure seen on `host`; `consent` is the user's yes to a destructive one.
    pub async fn run(
        &self,
        ctx: &FixContext<'_>,
        host: &str,
        consent: bool,
        emit: &mut Emit<'_>,
    ) -> Result<()> {
        if let (Some(what), false) = (self.destroys, consent) {
            bail!("{what}: it needs your consent");
        }
        (self.run)(ctx, host, emit).await
    }
}

impl std::fmt::Debug for FixDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixDef")
            .field("name", &self.name)
            .field("destroys", &self.destroys)
            .finish()
    }
}

/// The fix named `action`, from whichever stage of the registry owns it.
pub fn fix(action: &str) -> Option<&'static FixDef> {
    fix_in(REGISTRY, action)
}

pub fn fix_in<'r>(registry: &'r [StageDef], action: &str) -> Option<&'r FixDef> {
    registry
        .iter()
        .flat_map(|s| s.fixes)
        .find(|f| f.name == action)
}

/// Run the fix `action` (see [`FixDef::run`]); an error when no stage has a fix of that name.
pub async fn apply(
    ctx: &FixContext<'_>,
    action: &str,
    host: &str,
    consent: bool,
    emit: &mut Emit<'_>,
) -> Result<()> {
    tracing::info!(action, host, "applying a fix");
    match fix(action) {
        Some(f) => f.run(ctx, host, consent, emit).await,
        None => bail!("kubewiz has no fix named {action:?}"),
    }
}

/// Whether some stage has a fix named `action`.
pub fn known(action: &str) -> bool {
    fix(action).is_some()
}

/// The names of the cluster's hosts with `role`, in the cluster file's order.
pub fn hosts_with(spec: &ClusterSpec, role: Role) -> Vec<String> {
    spec.hosts_with_role(role)
        .iter()
        .map(|h| h.name.clone())
        .collect()
}

/// Run a fix script on one host (with sudo, 120 s at most): its output lines go to `emit`, a
/// non-zero exit is an error naming the host.
pub async fn run_script(
    ctx: &FixContext<'_>,
    host: &str,
    script: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let conn = ctx.pool.connection(host).await?;
    let req = ExecRequest {
        command: script.to_string(),
        sudo: true,
        timeout: Some(Duration::from_secs(120)),
        stdin: None,
    };
    let out = conn.exec(&req, &mut |l| emit(l.line)).await?;
    match out.exit_status {
        Some(0) => Ok(()),
        other => bail!("the fix failed on {host} (exit status {other:?})"),
    }
}

/// Run a fix script on every host of `hosts` at once (a restart reaches them together); lines
/// are shown as `host: line`. Errors name each host that failed.
pub async fn run_script_on(
    ctx: &FixContext<'_>,
    hosts: &[String],
    script: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let runs = hosts.iter().map(|h| async move {
        let mut lines = vec![];
        let r = run_script(ctx, h, script, &mut |l| lines.push(l)).await;
        (h, r, lines)
    });
    let mut errors = vec![];
    for (h, r, lines) in futures::future::join_all(runs).await {
        for l in lines {
            emit(format!("{h}: {l}"));
        }
        if let Err(e) = r {
            errors.push(format!("{h}: {e:#}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(errors.join("; ")))
    }
}

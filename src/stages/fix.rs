//! Fixes: what kubewiz can do itself about a known failure (the catalog's `auto_fix.action`).
//! Each stage declares the fixes it owns in the registry ([`super::StageDef::fixes`]); this
//! module holds their shape, the lookup by name, and the one way a fix runs a script on hosts.
//!
//! A fix changes what caused the failure; the caller then retries the failed stage, whose steps
//! put the rest right. Destructive fixes move data aside (never delete it) and need consent.

use super::{StageDef, REGISTRY};
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Role};
use crate::ssh::{Connection, ExecRequest, SshError, Stream, UploadRequest, UploadSource};
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

/// What a command printed on a host and how it ended: a fix looks before it acts.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub exit_status: Option<u32>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Captured {
    pub fn ok(&self) -> bool {
        self.exit_status == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.join("\n")
    }

    /// The last line of stderr (or of stdout), for a message saying why a command failed.
    pub fn last_line(&self) -> &str {
        self.stderr
            .iter()
            .chain(&self.stdout)
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Run `command` on `host` (with sudo, `timeout_secs` at most) and collect its output; a
/// non-zero exit is not an error here, a host that cannot be reached is.
pub async fn capture(
    ctx: &FixContext<'_>,
    host: &str,
    command: &str,
    timeout_secs: u64,
) -> Result<Captured> {
    let conn = ctx.pool.connection(host).await?;
    let req = ExecRequest {
        command: command.to_string(),
        sudo: true,
        timeout: Some(Duration::from_secs(timeout_secs)),
        stdin: None,
    };
    let mut out = Captured::default();
    let outcome = conn
        .exec(&req, &mut |l| match l.stream {
            Stream::Stdout => out.stdout.push(l.line),
            Stream::Stderr => out.stderr.push(l.line),
        })
        .await?;
    out.exit_status = outcome.exit_status;
    Ok(out)
}

/// Write `content` to `path` on `host` as root with `mode`; whether the file changed.
pub async fn upload(
    ctx: &FixContext<'_>,
    host: &str,
    path: &str,
    mode: u32,
    content: &str,
) -> Result<bool> {
    let conn = ctx.pool.connection(host).await?;
    let req = UploadRequest {
        source: UploadSource::Bytes(content.as_bytes().to_vec()),
        remote_path: path.to_string(),
        mode,
        owner: None,
        sudo: true,
    };
    let up = conn
        .upload(&req)
        .await
        .map_err(|e| anyhow!("writing {path} on {host}: {e}"))?;
    Ok(up.changed)
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

//! What the TUI needs from the SSH layer and the engine, as small functions over what exists:
//! SSH targets without terminal prompts, "test connection" with the host key shown before it
//! is trusted, and running a plan on a host pool.

use super::wizard::HostCheck;
use crate::cli::targets::host_key_policy;
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, ResolvedHost};
use crate::engine::{self, CancellationToken, HostPool, RunOptions, RunSummary};
use crate::events::Event;
use crate::events::StepRef;
use crate::plan::Plan;
use crate::ssh::{known_hosts, probe_host_key, Connection, ExecRequest, SshError, SshTarget};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SSH target of a host. Secrets come from the environment only (the TUI owns the
/// terminal, so nothing is prompted for on it): a host with password auth needs its
/// `password_env` set.
pub fn ssh_target(h: &ResolvedHost) -> Result<SshTarget> {
    crate::cli::targets::ssh_target(
        h,
        crate::cli::targets::Secrets::EnvOnly,
        &mut std::collections::HashMap::new(),
    )
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

/// What to run: the cluster's plan, narrowed to one step on some hosts (retry) and without
/// the steps the user skipped.
#[derive(Debug, Clone)]
pub struct PlanRecipe {
    pub spec: ClusterSpec,
    pub dir: ClusterDir,
    /// `stage/step`.
    pub only_step: Option<String>,
    pub hosts: Option<Vec<String>>,
    /// `stage/step@host`.
    pub skipped: Vec<StepRef>,
}

impl PlanRecipe {
    pub fn without_skipped(&self, mut plan: Plan) -> Plan {
        for st in &mut plan.stages {
            for h in &mut st.hosts {
                let (stage, host) = (st.name.clone(), h.host.clone());
                h.steps
                    .retain(|s| !self.skipped.contains(&StepRef::new(&stage, &s.name, &host)));
            }
        }
        plan
    }

    pub fn narrow(&self, plan: Plan) -> Result<Plan> {
        let mut plan = self.without_skipped(plan);
        if let Some(step) = &self.only_step {
            plan.only_step(step).map_err(anyhow::Error::msg)?;
        }
        if let Some(hosts) = &self.hosts {
            plan.retain_hosts(hosts);
        }
        Ok(plan)
    }

    /// As `apply` does: the PKI first (kept in the cluster directory, never silently
    /// regenerated), then the plan, which reads it.
    pub fn build(&self) -> Result<Plan> {
        crate::pki::ensure(&self.dir, &self.spec)?;
        let plan = crate::stages::build_plan(&self.spec, &self.dir, &Default::default())?;
        self.narrow(plan)
    }
}

/// Build the recipe's plan and run it (one connection per host), as `apply` does, sending the
/// events to `tx`. Host keys must be known already (accepted in the wizard).
pub async fn run_recipe(
    recipe: PlanRecipe,
    options: RunOptions,
    tx: UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let r = recipe.clone();
    let plan = tokio::task::spawn_blocking(move || r.build()).await??;
    run_plan(
        plan,
        recipe.spec.resolved_hosts(),
        recipe.dir,
        options,
        tx,
        cancel,
    )
    .await
}

/// Run the catalog fix `action` for a failure on `host` (as `apply --auto-fix` does), over
/// connections of its own. The caller then runs the failed stage again.
pub async fn apply_fix(
    recipe: &PlanRecipe,
    action: &str,
    host: &str,
    destructive_ok: bool,
    emit: &mut crate::diagnose::fixes::Emit<'_>,
) -> Result<()> {
    let targets = recipe
        .spec
        .resolved_hosts()
        .iter()
        .map(ssh_target)
        .collect::<Result<Vec<_>>>()?;
    let pool = HostPool::new(
        targets,
        host_key_policy(&recipe.dir, false),
        CONNECT_TIMEOUT,
    );
    let ctx = crate::diagnose::fixes::FixContext {
        spec: &recipe.spec,
        dir: &recipe.dir,
        pool: &pool,
    };
    tracing::info!(action, host, "applying a fix (tui)");
    let r = crate::diagnose::fixes::apply(&ctx, action, host, destructive_ok, emit).await;
    pool.close_all().await;
    r
}

/// Run a plan on the hosts (one connection per host), sending the events to `tx`.
pub async fn run_plan(
    plan: Plan,
    hosts: Vec<ResolvedHost>,
    dir: ClusterDir,
    options: RunOptions,
    tx: UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let in_plan: Vec<&ResolvedHost> = hosts
        .iter()
        .filter(|h| {
            plan.stages
                .iter()
                .any(|s| s.hosts.iter().any(|x| x.host == h.name))
        })
        .collect();
    let targets = in_plan
        .into_iter()
        .map(ssh_target)
        .collect::<Result<Vec<_>>>()?;
    let pool = Arc::new(HostPool::new(
        targets,
        host_key_policy(&dir, false),
        CONNECT_TIMEOUT,
    ));
    tracing::info!(cluster = %plan.cluster, steps = plan.total_steps(), "run starts (tui)");
    let result = engine::run(&plan, pool.clone(), options, tx, cancel).await;
    pool.close_all().await;
    if let Ok(s) = &result {
        tracing::info!(ok = s.ok, interrupted = s.interrupted, "run ends (tui)");
    }
    result
}

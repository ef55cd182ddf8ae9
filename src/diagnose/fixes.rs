//! The auto-fixes the failure catalog names (`auto_fix.action`). A fix changes what caused the
//! failure; the caller then retries the failed stage, whose steps put the rest right (a
//! re-issued certificate is uploaded by `etcd/certs` and the member restarted by `etcd/start`).
//! Destructive fixes move data aside (never delete it) and need the caller's explicit consent.

use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Role};
use crate::engine::HostPool;
use crate::ssh::ExecRequest;
use crate::stages::etcd::{DATA_DIR, PKI_DIR};
use anyhow::{anyhow, bail, Context, Result};
use std::time::Duration;

/// What a fix did, line by line, for the front end to show.
pub type Emit<'a> = dyn FnMut(String) + Send + 'a;

pub struct FixContext<'a> {
    pub spec: &'a ClusterSpec,
    pub dir: &'a ClusterDir,
    pub pool: &'a HostPool,
}

/// Whether kubewiz knows how to run `action` (the catalog's list, checked when it loads).
pub fn known(action: &str) -> bool {
    crate::diagnose::catalog::AUTO_FIX_ACTIONS
        .iter()
        .any(|(name, _)| *name == action)
}

/// Run the fix `action` for a failure seen on `host`. `destructive_ok` is the user's consent.
pub async fn apply(
    ctx: &FixContext<'_>,
    action: &str,
    host: &str,
    destructive_ok: bool,
    emit: &mut Emit<'_>,
) -> Result<()> {
    match action {
        "reissue-etcd-certs" => reissue_etcd_certs(ctx, emit),
        "restart-etcd-together" => on_members(ctx, "systemctl restart --no-block etcd", emit).await,
        "wipe-etcd-data" => {
            if !destructive_ok {
                bail!("moving the etcd data directories aside loses the cluster's data: it needs your consent");
            }
            // Stop every member first, then move the data aside: no member may keep running
            // with the old cluster while the others start a new one.
            on_members(ctx, "systemctl stop etcd", emit).await?;
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "");
            let script = format!(
                "if [ -d {DATA_DIR} ]; then mv {DATA_DIR} {DATA_DIR}.kubewiz-backup-{stamp} && \
                 echo \"moved {DATA_DIR} to {DATA_DIR}.kubewiz-backup-{stamp}\"; fi"
            );
            on_members(ctx, &script, emit).await
        }
        "open-etcd-ports" => {
            let script = "if command -v firewall-cmd >/dev/null 2>&1 && systemctl is-active --quiet firewalld; then \
                  systemctl stop firewalld && echo 'firewalld stopped'; fi; \
                if command -v iptables >/dev/null 2>&1; then \
                  iptables -S INPUT | grep -E -- '--dport (2379|2380)' | grep -E 'DROP|REJECT' | \
                  while read -r rule; do set -- $rule; shift; iptables -D \"$@\" && echo \"removed: $rule\"; done; fi";
            run(ctx, host, script, emit).await
        }
        "sync-clock" => {
            let script = "for u in chronyd chrony systemd-timesyncd ntpd ntp; do \
                  if systemctl cat $u.service >/dev/null 2>&1; then systemctl enable --now $u && systemctl restart $u \
                  && echo \"$u restarted\"; exit 0; fi; done; \
                echo 'no time sync service is installed: install chrony' >&2; exit 1";
            run(ctx, host, script, emit).await
        }
        "load-br-netfilter" => {
            run(
                ctx,
                host,
                "modprobe br_netfilter && echo 'br_netfilter loaded'",
                emit,
            )
            .await
        }
        "swap-off" => run(ctx, host, "swapoff -a && echo 'swap off'", emit).await,
        other => bail!("kubewiz has no fix named {other:?}"),
    }
}

/// Bring the local PKI back in line with the cluster file: `pki::ensure` re-issues, from the
/// existing etcd CA, every member certificate whose SANs no longer match (a member IP missing),
/// keeping the old files as a backup. The retry of the etcd stage then uploads the right
/// certificates (also where a host holds a wrong copy) and restarts those members together.
fn reissue_etcd_certs(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    let report = crate::pki::ensure(ctx.dir, ctx.spec).context("re-issuing etcd certificates")?;
    if report.changed() {
        for line in report.to_string().lines() {
            emit(line.to_string());
        }
    } else {
        emit(format!(
            "the cluster directory's certificates already list every member IP; the retry \
             replaces any other copy on the hosts ({PKI_DIR}) and restarts those members"
        ));
    }
    Ok(())
}

async fn on_members(ctx: &FixContext<'_>, script: &str, emit: &mut Emit<'_>) -> Result<()> {
    let members: Vec<String> = ctx
        .spec
        .hosts_with_role(Role::Etcd)
        .iter()
        .map(|h| h.name.clone())
        .collect();
    // Together: one task per member, so a restart reaches all of them at once.
    let runs = members.iter().map(|m| async move {
        let mut lines = vec![];
        let r = run(ctx, m, script, &mut |l| lines.push(l)).await;
        (m, r, lines)
    });
    let mut errors = vec![];
    for (m, r, lines) in futures::future::join_all(runs).await {
        for l in lines {
            emit(format!("{m}: {l}"));
        }
        if let Err(e) = r {
            errors.push(format!("{m}: {e:#}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(errors.join("; ")))
    }
}

async fn run(ctx: &FixContext<'_>, host: &str, script: &str, emit: &mut Emit<'_>) -> Result<()> {
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

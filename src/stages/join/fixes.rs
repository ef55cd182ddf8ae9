//! The join stage's fixes (catalog K1, K2, K3, D1). Each puts back what the failure lacks; the
//! retried stage then ships the rest (a new bootstrap kubeconfig, kubelet's configuration) and
//! restarts kubelet where that changed.

use super::{
    admin_kubectl, token, BOOTSTRAP_KUBECONFIG, CA_FILE, KUBELET_KUBECONFIG, TOKEN_MANIFEST,
};
use crate::config::{ClusterSpec, Role};
use crate::stages::fix::{hosts_with, run_script, upload, Emit, FixContext};
use crate::stages::runtime::CGROUP_DRIVER_RECORD;
use crate::stages::Templates;
use anyhow::{anyhow, Context, Result};
use minijinja::context;

/// The first master: where kubewiz's kubectl runs with the admin kubeconfig.
fn first_master(ctx: &FixContext<'_>) -> Result<String> {
    hosts_with(ctx.spec, Role::Master)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no host has the master role"))
}

fn kubectl(ctx: &FixContext<'_>, master: &str) -> Result<String> {
    let h = ctx
        .spec
        .hosts
        .iter()
        .find(|h| h.name == master)
        .ok_or_else(|| anyhow!("{master} is not in the cluster file"))?;
    Ok(admin_kubectl(ctx.spec, h))
}

/// A fix script's lines, prefixed with the host, without the step protocol's result line.
async fn run_on(ctx: &FixContext<'_>, host: &str, script: &str, emit: &mut Emit<'_>) -> Result<()> {
    let mut out = |l: String| {
        if !l.starts_with("KUBEWIZ-RESULT") {
            emit(format!("{host}: {l}"));
        }
    };
    run_script(ctx, host, script, &mut out).await
}

/// K1/K3: kubewiz's cluster role bindings applied again on the first master (bootstrap users
/// may create CSRs, their client CSRs are auto-approved), then the pending client CSRs that
/// kubewiz's bootstrap token made for planned nodes approved (the controller does not look at
/// a CSR again when a binding comes back, and kubelet waits for its CSR an hour), and the
/// pending serving CSRs of planned nodes.
pub async fn bind_node_bootstrappers(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    let t = Templates::new();
    let master = first_master(ctx)?;
    let kubectl = kubectl(ctx, &master)?;
    let manifest = crate::stages::control_plane::rbac::manifest(&t, ctx.spec)?;
    let rbac = t.script("control_plane/rbac.sh", context! { kubectl, manifest })?;
    run_on(ctx, &master, &rbac, emit).await?;
    let Some(tk) = token::load(ctx.dir)? else {
        return Ok(());
    };
    let approve = approve_client_csrs_script(&t, ctx.spec, &kubectl, &tk.id)?;
    run_on(ctx, &master, &approve, emit).await?;
    // Serving CSRs as the serving-csrs step approves them (planned nodes asking for their own
    // name and address only); a narrowed retry may not have that step. Kubelets that are not
    // up yet are the retry's to wait for.
    let serving = super::serving_csrs_script(&t, ctx.spec, &kubectl, 20)?;
    if run_on(ctx, &master, &serving, emit).await.is_err() {
        emit(format!("{master}: some kubelets do not serve yet; the retried stage waits for them"));
    }
    Ok(())
}

/// The script that approves the pending client CSRs made with bootstrap token `token_id` for
/// the cluster's planned nodes (masters and nodes), run by `kubectl` on the first master.
pub fn approve_client_csrs_script(
    t: &Templates,
    spec: &ClusterSpec,
    kubectl: &str,
    token_id: &str,
) -> Result<String> {
    let nodes: Vec<String> = spec
        .hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Master) || h.roles.contains(&Role::Node))
        .map(|h| h.name.clone())
        .collect();
    t.script(
        "join/approve_client_csrs.sh",
        context! { kubectl, user => format!("system:bootstrap:{token_id}"), nodes },
    )
}

/// K2: a new bootstrap token in the cluster directory, its Secret uploaded to the first master
/// and created in the cluster (kubewiz's older tokens removed), the new bootstrap kubeconfig on
/// the failing host with kubelet restarted there unless it joined already (a narrowed retry
/// may not run the kubelet-files step; a whole one ships it to the others).
pub async fn renew_bootstrap_token(
    ctx: &FixContext<'_>,
    host: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let t = Templates::new();
    let tk = token::renew(ctx.dir, time::OffsetDateTime::now_utc())?;
    emit(format!(
        "a new bootstrap token {} (expires {}) in {}",
        tk.id,
        tk.expires_rfc3339(),
        token::path(ctx.dir).display()
    ));
    let master = first_master(ctx)?;
    let kubectl = kubectl(ctx, &master)?;
    upload(ctx, &master, TOKEN_MANIFEST, 0o600, &tk.secret_manifest(&ctx.spec.name))
        .await
        .with_context(|| format!("writing {TOKEN_MANIFEST} on {master}"))?;
    let script = super::bootstrap_token_script(&t, &kubectl, &tk)?;
    run_on(ctx, &master, &script, emit).await?;
    let server = crate::pki::apiserver_url(ctx.spec)?;
    let kubeconfig = tk.bootstrap_kubeconfig(&ctx.spec.name, &server, CA_FILE);
    upload(ctx, host, BOOTSTRAP_KUBECONFIG, 0o600, &kubeconfig)
        .await
        .with_context(|| format!("writing {BOOTSTRAP_KUBECONFIG} on {host}"))?;
    let restart = format!(
        "if [ -s {KUBELET_KUBECONFIG} ]; then echo 'kubelet joined already: not restarted'; \
         else systemctl restart kubelet && echo 'kubelet restarted with the new bootstrap token'; fi"
    );
    run_on(ctx, host, &restart, emit).await
}

/// D1: kubelet's cgroup driver is not the runtime's: record the driver the runtime runs with
/// on this host (the runtime's config is left alone: its containers run under it), so the
/// retried kubelet-config step writes the same one and restarts kubelet.
pub async fn record_runtime_cgroup_driver(
    ctx: &FixContext<'_>,
    host: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let query = match ctx.spec.runtime {
        crate::config::Runtime::Docker => "docker info --format '{{.CgroupDriver}}'",
        crate::config::Runtime::Containerd => {
            "if grep -q '^ *SystemdCgroup = true' /etc/containerd/config.toml; then echo systemd; else echo cgroupfs; fi"
        }
    };
    let script = format!(
        "d=$({query})\ncase \"$d\" in systemd|cgroupfs) ;; *) echo \"the runtime reports no cgroup driver ($d)\" >&2; exit 1 ;; esac\n\
         was=$(cat {CGROUP_DRIVER_RECORD} 2>/dev/null)\nprintf '%s\\n' \"$d\" > {CGROUP_DRIVER_RECORD}\n\
         echo \"recorded the runtime's cgroup driver $d in {CGROUP_DRIVER_RECORD} (was ${{was:-nothing}})\""
    );
    run_on(ctx, host, &script, emit).await
}

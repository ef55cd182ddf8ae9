//! The join stage, on every master and node: kubelet and kube-proxy from the Kubernetes server
//! tarball, kubelets joining by TLS bootstrap with kubewiz's bootstrap token, their serving
//! certificates approved by kubewiz for planned nodes only, every node waited for until Ready,
//! masters marked, the cluster file kept in the cluster, and the node table at the end.
//! kubeadm's `bootstrap-token`, `kubelet-start`, `mark-control-plane`, `upload-config` and
//! `kubelet-finalize` phases, as a binary install.

pub mod csr;
pub mod fixes;
pub mod kubelet;
pub mod token;

use super::fix::FixDef;
use super::release::{install_steps, kubernetes_server};
use super::templates::touch_restart_marker;
use super::{BuildCtx, Built, Health, RoleNeeds, StageDef, RETRY};
use crate::config::versions::{self, Feature};
use crate::config::{ClusterSpec, HostSpec, Role};
use crate::plan::{FileSource, HostSteps, RemoteFile, RetryPolicy, Step, StepAction, StepScope};
use anyhow::{bail, Result};
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "join",
    description: "kubelet and kube-proxy on every master and node; nodes joined and Ready",
    units: &UNITS,
    build,
    needs: &[
        RoleNeeds {
            role: Role::Node,
            ports: &PORTS,
            units: &UNITS,
        },
        RoleNeeds {
            role: Role::Master,
            ports: &PORTS,
            units: &UNITS,
        },
    ],
    health: Health {
        roles: &[Role::Master, Role::Node],
        command: Some(health_command),
        view: None,
    },
    fixes: &[
        FixDef {
            name: "bind-node-bootstrappers",
            destroys: None,
            run: |ctx, _host, emit| Box::pin(fixes::bind_node_bootstrappers(ctx, emit)),
        },
        FixDef {
            name: "renew-bootstrap-token",
            destroys: None,
            run: |ctx, host, emit| Box::pin(fixes::renew_bootstrap_token(ctx, host, emit)),
        },
        FixDef {
            name: "record-runtime-cgroup-driver",
            destroys: None,
            run: |ctx, host, emit| Box::pin(fixes::record_runtime_cgroup_driver(ctx, host, emit)),
        },
    ],
};

pub const KUBELET: &str = "kubelet";
pub const KUBE_PROXY: &str = "kube-proxy";
const UNITS: [&str; 2] = [KUBELET, KUBE_PROXY];
/// kube-proxy's metrics (127.0.0.1), kubelet's API, kube-proxy's healthz.
const PORTS: [u16; 3] = [10249, 10250, 10256];
/// kubectl too: the ready step asks the API server about its own node with kubelet's
/// credentials, and `diagnose` does the same.
const BINARIES: [&str; 3] = [KUBELET, KUBE_PROXY, "kubectl"];

pub const CA_FILE: &str = "/etc/kubernetes/pki/ca.crt";
pub const BOOTSTRAP_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// Written by kubelet itself once its client certificate is issued.
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
pub const KUBE_PROXY_KUBECONFIG: &str = "/etc/kubernetes/kube-proxy.conf";
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
pub const KUBE_PROXY_CONFIG: &str = "/var/lib/kube-proxy/config.yaml";
pub const CERT_DIR: &str = "/var/lib/kubelet/pki";
pub const CLIENT_CERT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
pub const SERVER_CERT: &str = "/var/lib/kubelet/pki/kubelet-server-current.pem";
/// The Secret manifest of the token, on the first master only (0600).
const TOKEN_MANIFEST: &str = "/etc/kubernetes/kubewiz/bootstrap-token.yaml";
/// The ConfigMap upload-config writes.
pub const CONFIG_MAP: &str = "kubewiz-config";
/// How long the nodes get to be Ready, and their kubelets to serve with approved certificates.
const WAIT_SECS: u64 = 180;

/// `kubewiz diagnose --stage join`: kubelet and kube-proxy running, and the node (named as the
/// host: prep set the hostname) Ready, asked with kubelet's own credentials.
fn health_command() -> String {
    format!(
        "systemctl is-active --quiet {KUBELET} && systemctl is-active --quiet {KUBE_PROXY} && \
         test \"$(/usr/local/bin/kubectl --kubeconfig={KUBELET_KUBECONFIG} --request-timeout=10s \
         get node \"$(hostname)\" -o jsonpath='{{.status.conditions[?(@.type==\"Ready\")].status}}')\" = True"
    )
}

/// A file the plan never prints: kubeconfigs with a token or key.
fn secret_file(path: &str, mode: u32, content: impl Into<Vec<u8>>) -> RemoteFile {
    RemoteFile {
        path: path.into(),
        mode,
        source: FileSource::Inline {
            content: content.into(),
            secret: true,
        },
    }
}

/// kubectl on the first master with the admin kubeconfig, at its own API server.
fn admin_kubectl(spec: &ClusterSpec, h: &HostSpec) -> String {
    let port = spec.apiserver.port();
    let server = match h.address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(a)) => format!("https://[{a}]:{port}"),
        _ => format!("https://{}:{port}", h.address),
    };
    format!(
        "/usr/local/bin/kubectl --kubeconfig={} --server={server} --request-timeout=10s",
        super::control_plane::flags::kubeconfig("admin")
    )
}

/// The hosts of the stage: masters (their kubelets make them nodes of the cluster) and nodes.
fn hosts(spec: &ClusterSpec) -> Vec<&HostSpec> {
    spec.hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Master) || h.roles.contains(&Role::Node))
        .collect()
}

/// The files the local cluster directory gives each host: the cluster CA certificate, the
/// bootstrap kubeconfig and kube-proxy's kubeconfig. None before the first apply made them.
struct Shipped {
    kubelet: Vec<RemoteFile>,
    kube_proxy: Vec<RemoteFile>,
    token: Option<token::BootstrapToken>,
}

fn shipped(ctx: &BuildCtx<'_>) -> Result<Option<Shipped>> {
    let (spec, dir) = (ctx.spec, ctx.dir);
    let ca = crate::pki::pki_dir(dir).join("ca.crt");
    let proxy = crate::pki::kubeconfig_dir(dir).join("kube-proxy.conf");
    let Some(t) = token::load(dir)? else {
        return Ok(None);
    };
    if !ca.is_file() || !proxy.is_file() {
        return Ok(None);
    }
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))
    };
    let server = crate::pki::apiserver_url(spec)?;
    Ok(Some(Shipped {
        kubelet: vec![
            RemoteFile::inline(CA_FILE, 0o644, read(&ca)?),
            secret_file(
                BOOTSTRAP_KUBECONFIG,
                0o600,
                t.bootstrap_kubeconfig(&spec.name, &server, CA_FILE),
            ),
        ],
        kube_proxy: vec![secret_file(KUBE_PROXY_KUBECONFIG, 0o600, read(&proxy)?)],
        token: Some(t),
    }))
}

/// The ConfigMap of upload-config: the cluster file without `auth` (key file paths and the
/// names of password variables are this machine's business, not the cluster's).
fn config_map(spec: &ClusterSpec) -> String {
    let mut clean = spec.clone();
    clean.defaults.auth = None;
    for h in &mut clean.hosts {
        h.auth = None;
    }
    let yaml = crate::config::to_yaml(&clean);
    let body: String = yaml.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {CONFIG_MAP}\n  namespace: kube-system\n  \
         labels:\n    app.kubernetes.io/managed-by: kubewiz\ndata:\n  cluster.yaml: |\n{body}"
    )
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, t) = (ctx.spec, ctx.templates);
    // Docker past dockershim (1.24) is a validation error that names K7: no plan gets here.
    let kubernetes = &spec.versions.kubernetes;
    let version = kubernetes.trim_start_matches('v').to_string();
    let install = install_steps(
        spec,
        t,
        &kubernetes_server(&version, &BINARIES, "kubelet --version | sed 's/^Kubernetes v//'", &UNITS),
    )?;
    let hosts = hosts(spec);
    let Some(first_master) = spec.hosts_with_role(Role::Master).into_iter().next() else {
        bail!("the join stage needs a master (validation requires one)");
    };
    let shipped = shipped(ctx)?;
    let kubectl = admin_kubectl(spec, first_master);
    let start = t.script("control_plane/start.sh", context! { units => UNITS })?;
    let kubelet_config = kubelet::config(t, spec)?;

    let mut per_host = vec![];
    for h in &hosts {
        let first = h.name == first_master.name;
        let mut steps = install.clone();
        if first {
            steps.extend(token_steps(ctx, shipped.as_ref(), &kubectl)?);
        }
        let (kubelet_files, proxy_files, writes_note) = match &shipped {
            Some(s) => (s.kubelet.clone(), s.kube_proxy.clone(), ""),
            None => (vec![], vec![], " (created by apply)"),
        };
        steps.push(
            Step::new(
                "kubelet-files",
                "the cluster CA certificate and kubelet's bootstrap kubeconfig (with the token; 0600)",
                StepAction::Files {
                    files: kubelet_files,
                    // The bootstrap kubeconfig is read only until kubelet has its own: a new
                    // token does not restart a kubelet that joined already.
                    on_change: Some(format!(
                        "[ -s {KUBELET_KUBECONFIG} ] || {{ {}; }}",
                        touch_restart_marker(KUBELET)
                    )),
                },
            )
            .writes([CA_FILE, BOOTSTRAP_KUBECONFIG].map(|p| format!("{p}{writes_note}")))
            .retry(RETRY),
        );
        steps.push(
            Step::new(
                "kube-proxy-files",
                "kube-proxy's kubeconfig (its client certificate; 0600)",
                StepAction::Files {
                    files: proxy_files,
                    on_change: Some(touch_restart_marker(KUBE_PROXY)),
                },
            )
            .writes([format!("{KUBE_PROXY_KUBECONFIG}{writes_note}")])
            .retry(RETRY),
        );
        steps.push(super::runtime::config_step(
            t,
            (
                "kubelet-config",
                &format!(
                    "{KUBELET_CONFIG}: KubeletConfiguration (webhook authn/authz, clusterDNS, \
                     the runtime's recorded cgroup driver, certificate rotation, serving \
                     certificates from the cluster)"
                ),
            ),
            KUBELET_CONFIG,
            KUBELET,
            kubelet_config.clone(),
            false,
        )?);
        let kubelet_flags = kubelet::flags(spec, h);
        steps.push(unit_step(t, spec, "kubelet-unit", &kubelet::unit(spec, kubelet_flags))?);
        steps.push(
            Step::new(
                "kube-proxy-config",
                &format!("{KUBE_PROXY_CONFIG}: KubeProxyConfiguration (iptables mode)"),
                StepAction::Files {
                    files: vec![RemoteFile::inline(
                        KUBE_PROXY_CONFIG,
                        0o644,
                        kubelet::proxy_config(t, spec, h)?,
                    )],
                    on_change: Some(touch_restart_marker(KUBE_PROXY)),
                },
            )
            .retry(RETRY),
        );
        steps.push(unit_step(t, spec, "kube-proxy-unit", &kubelet::proxy_unit())?);
        // The token is in the cluster before any kubelet starts with it.
        steps.push(
            Step::script(
                "start",
                "kubelet and kube-proxy enabled and running (restarted once when what they read changed)",
                start.clone(),
            )
            .retry(RETRY)
            .after_barrier(),
        );
        if first {
            steps.push(
                Step::script(
                    "serving-csrs",
                    &format!(
                        "approve kubelet-serving CSRs of planned nodes asking for their own name \
                         and address only; wait up to {WAIT_SECS} s for every kubelet to serve"
                    ),
                    serving_csrs_script(t, spec, &kubectl, WAIT_SECS)?,
                )
                .retry(RetryPolicy::ONCE)
                .timeout_secs(WAIT_SECS + 60)
                .scope(StepScope::Once),
            );
        }
        steps.push(
            Step::script(
                "ready",
                &format!(
                    "wait up to {WAIT_SECS} s for this node Ready; kubelet on its rotated client \
                     certificate (kubelet-finalize) and with its serving certificate"
                ),
                t.script(
                    "join/ready.sh",
                    context! {
                        name => h.name, kubeconfig => KUBELET_KUBECONFIG,
                        client_cert => CLIENT_CERT, server_cert => SERVER_CERT,
                        wait_secs => WAIT_SECS,
                    },
                )?,
            )
            .retry(RetryPolicy::ONCE)
            .timeout_secs(WAIT_SECS + 60),
        );
        if first {
            steps.extend(cluster_steps(t, spec, &kubectl)?);
        }
        per_host.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Built {
        description: format!(
            "Kubernetes {version} kubelet and kube-proxy on {} hosts, {} runtime; kubeadm's \
             bootstrap-token, kubelet-start, mark-control-plane, upload-config and \
             kubelet-finalize phases; serving certificates approved for planned nodes only",
            hosts.len(),
            kubelet::runtime_name(spec.runtime),
        ),
        hosts: per_host,
    })
}

/// A systemd unit file step: on a change, systemd reloads and the unit's marker is left.
fn unit_step(
    t: &super::Templates,
    spec: &ClusterSpec,
    name: &str,
    u: &kubelet::Unit,
) -> Result<Step> {
    let text = t.render(
        "control_plane/unit.service",
        context! {
            cluster => spec.name, name => u.name, description => u.description,
            after => u.after, flags => u.flags,
        },
    )?;
    Ok(Step::new(
        name,
        &format!("systemd unit {}.service ({} flags)", u.name, u.flags.len()),
        StepAction::Files {
            files: vec![RemoteFile::inline(
                &format!("/etc/systemd/system/{}.service", u.name),
                0o644,
                text,
            )],
            on_change: Some(format!(
                "systemctl daemon-reload\n{}",
                touch_restart_marker(u.name)
            )),
        },
    )
    .retry(RETRY))
}

/// The first master's token steps: the Secret manifest uploaded (0600), then created in the
/// cluster when it lacks it.
fn token_steps(
    ctx: &BuildCtx<'_>,
    shipped: Option<&Shipped>,
    kubectl: &str,
) -> Result<Vec<Step>> {
    let token = shipped.and_then(|s| s.token.as_ref());
    let (files, name, expires, script) = match token {
        Some(tk) => (
            vec![secret_file(
                TOKEN_MANIFEST,
                0o600,
                tk.secret_manifest(&ctx.spec.name),
            )],
            tk.secret_name(),
            tk.expires_rfc3339(),
            bootstrap_token_script(ctx.templates, kubectl, tk)?,
        ),
        None => (
            vec![],
            "bootstrap-token-<id>".into(),
            "(made by apply)".into(),
            token_script(ctx.templates, kubectl, "bootstrap-token-<id>", "(made by apply)")?,
        ),
    };
    Ok(vec![
        Step::new(
            "token-file",
            "the bootstrap token's Secret manifest (0600), from the cluster directory",
            StepAction::Files {
                files,
                on_change: None,
            },
        )
        .writes([TOKEN_MANIFEST])
        .retry(RETRY)
        .scope(StepScope::Once),
        Step::script(
            "bootstrap-token",
            &format!(
                "secret kube-system/{name} (bootstrap token, group {}, expires {expires})",
                super::control_plane::rbac::BOOTSTRAP_GROUP
            ),
            script,
        )
        .retry(RETRY)
        .scope(StepScope::Once),
    ])
}

/// The serving-csrs script: approve planned nodes' serving CSRs, wait up to `wait_secs` for
/// every kubelet to serve.
fn serving_csrs_script(
    t: &super::Templates,
    spec: &ClusterSpec,
    kubectl: &str,
    wait_secs: u64,
) -> Result<String> {
    let planned: Vec<minijinja::Value> = hosts(spec)
        .iter()
        .map(|h| {
            Ok(context! { name => h.name, san => csr::serving_san_hex(&h.name, &h.address)? })
        })
        .collect::<Result<_>>()?;
    t.script(
        "join/serving_csrs.sh",
        context! { kubectl, nodes => planned, wait_secs, san_oid => csr::SAN_OID_HEX },
    )
}

/// The script that puts token `tk`'s Secret (uploaded as [`TOKEN_MANIFEST`]) in the cluster.
fn bootstrap_token_script(
    t: &super::Templates,
    kubectl: &str,
    tk: &token::BootstrapToken,
) -> Result<String> {
    token_script(t, kubectl, &tk.secret_name(), &tk.expires_rfc3339())
}

fn token_script(t: &super::Templates, kubectl: &str, name: &str, expires: &str) -> Result<String> {
    t.script(
        "join/bootstrap_token.sh",
        context! { kubectl, file => TOKEN_MANIFEST, name, expires },
    )
}

/// The first master's steps once the nodes are Ready: mark-control-plane, upload-config, and
/// the node table.
fn cluster_steps(t: &super::Templates, spec: &ClusterSpec, kubectl: &str) -> Result<Vec<Step>> {
    let k = &spec.versions.kubernetes;
    let has = |f| versions::has(f, k) == Some(true);
    let mut master_labels = vec![];
    if has(Feature::MasterRoleLabel) {
        master_labels.push("node-role.kubernetes.io/master");
    }
    if has(Feature::ControlPlaneRoleLabel) {
        master_labels.push("node-role.kubernetes.io/control-plane");
    }
    let taint = match has(Feature::MasterRoleLabel) {
        true => "node-role.kubernetes.io/master",
        false => "node-role.kubernetes.io/control-plane",
    };
    let masters: Vec<minijinja::Value> = spec
        .hosts_with_role(Role::Master)
        .iter()
        .map(|m| context! { name => m.name, node => m.roles.contains(&Role::Node) })
        .collect();
    let nodes: Vec<&str> = spec
        .hosts_with_role(Role::Node)
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    // Every node's ready step is done before the nodes are marked and listed.
    Ok(vec![
        Step::script(
            "mark-control-plane",
            &format!(
                "masters labelled {}; tainted {taint}:NoSchedule unless they are nodes too",
                master_labels.join(", ")
            ),
            t.script(
                "join/mark_control_plane.sh",
                context! {
                    kubectl, master_labels, taint, masters, nodes,
                    node_label => "node-role.kubernetes.io/node",
                },
            )?,
        )
        .retry(RETRY)
        .scope(StepScope::Once)
        .after_barrier(),
        Step::script(
            "upload-config",
            &format!("the cluster file without its auth settings, as ConfigMap kube-system/{CONFIG_MAP}"),
            t.script(
                "join/upload_config.sh",
                context! { kubectl, name => CONFIG_MAP, manifest => config_map(spec) },
            )?,
        )
        .retry(RETRY)
        .scope(StepScope::Once),
        Step::script(
            "nodes",
            "one kubewiz-node line per node of the cluster, then kubectl get nodes",
            t.script("join/nodes.sh", context! { kubectl })?,
        )
        .retry(RETRY)
        .scope(StepScope::Once),
    ])
}

#[cfg(test)]
mod tests;

//! The control plane stage, on every master: kube-apiserver, kube-controller-manager,
//! kube-scheduler and kubectl from the Kubernetes server tarball, the master's certificates and
//! kubeconfigs from the cluster directory, one systemd unit per component with its flags from
//! [`flags`] (per Kubernetes version), started (restarted once when something they read
//! changed), waited for, then the RBAC kubewiz's nodes need, applied once. kubeadm's `certs`,
//! `kubeconfig`, `control-plane` and `wait-control-plane` phases, as a binary install.

pub mod flags;
pub mod rbac;

use super::release::{install_steps, kubernetes_server};
use super::templates::touch_restart_marker;
use super::{BuildCtx, Built, Health, RoleNeeds, StageDef, RETRY};
use crate::config::{ClusterSpec, HostSpec, Role};
use crate::plan::{HostSteps, RemoteFile, RetryPolicy, Step, StepAction, StepScope};
use anyhow::Result;
use flags::{Flag, CONTROLLER_MANAGER_PORT, SCHEDULER_PORT};
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "control_plane",
    description: "kube-apiserver, kube-controller-manager and kube-scheduler on the masters",
    units: &UNITS,
    build,
    needs: &[RoleNeeds {
        role: Role::Master,
        ports: &[
            crate::config::ApiServerSpec::DEFAULT_PORT,
            CONTROLLER_MANAGER_PORT,
            SCHEDULER_PORT,
        ],
        units: &UNITS,
    }],
    health: Health {
        roles: &[Role::Master],
        command: Some(health_command),
        view: None,
    },
    fixes: &[],
};

pub const APISERVER: &str = "kube-apiserver";
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const SCHEDULER: &str = "kube-scheduler";
const UNITS: [&str; 3] = [APISERVER, CONTROLLER_MANAGER, SCHEDULER];
const BINARIES: [&str; 4] = [APISERVER, CONTROLLER_MANAGER, SCHEDULER, "kubectl"];
/// How long a master's apiserver, then its controller-manager and scheduler, get to answer.
const WAIT_SECS: u64 = 120;
/// Restarts by systemd (RestartSec=5) during the wait after which an apiserver that keeps
/// exiting is not waited for any longer.
const CRASH_RESTARTS: u32 = 3;

/// kubectl on a master with the admin kubeconfig, against `server`.
pub fn kubectl_at(server: &str) -> String {
    format!(
        "/usr/local/bin/kubectl --kubeconfig={} --server={server} --request-timeout=10s",
        flags::kubeconfig("admin")
    )
}

/// kubectl for the controller-manager's and scheduler's /healthz: their serving certificates
/// are self-signed (made in memory), so no CA; a client certificate of the cluster CA (the
/// apiserver's kubelet client, already on the master), because an anonymous request gets 401.
const HEALTHZ_PROBE: &str = "/usr/local/bin/kubectl --kubeconfig=/dev/null \
     --insecure-skip-tls-verify --request-timeout=5s \
     --client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt \
     --client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key";

/// The API server's URL on master `h`'s own address.
pub fn own_server(spec: &ClusterSpec, h: &HostSpec) -> String {
    let port = spec.apiserver.port();
    match h.address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(a)) => format!("https://[{a}]:{port}"),
        _ => format!("https://{}:{port}", h.address),
    }
}

/// `kubewiz diagnose --stage control_plane`: the apiserver is ready (through the admin
/// certificate, at the server of the admin kubeconfig), the controller-manager and scheduler
/// answer /healthz.
fn health_command() -> String {
    let admin = format!(
        "/usr/local/bin/kubectl --kubeconfig={} --request-timeout=10s",
        flags::kubeconfig("admin")
    );
    format!(
        "{admin} get --raw /readyz && \
         {HEALTHZ_PROBE} --server=https://127.0.0.1:{CONTROLLER_MANAGER_PORT} get --raw /healthz && \
         {HEALTHZ_PROBE} --server=https://127.0.0.1:{SCHEDULER_PORT} get --raw /healthz"
    )
}

/// One component's unit file: its name, what it waits for, its flags.
struct Unit {
    name: &'static str,
    description: &'static str,
    after: &'static str,
    flags: Vec<Flag>,
}

/// The three units of master `h`.
fn units(spec: &ClusterSpec, h: &HostSpec) -> [Unit; 3] {
    [
        Unit {
            name: APISERVER,
            description: "Kubernetes API server",
            after: "network-online.target etcd.service",
            flags: flags::apiserver(spec, h),
        },
        Unit {
            name: CONTROLLER_MANAGER,
            description: "Kubernetes controller manager",
            after: "network-online.target kube-apiserver.service",
            flags: flags::controller_manager(spec),
        },
        Unit {
            name: SCHEDULER,
            description: "Kubernetes scheduler",
            after: "network-online.target kube-apiserver.service",
            flags: flags::scheduler(spec),
        },
    ]
}

/// The unit file of `u`.
fn render_unit(t: &super::Templates, spec: &ClusterSpec, u: &Unit) -> Result<String> {
    t.render(
        "control_plane/unit.service",
        context! {
            cluster => spec.name, name => u.name, description => u.description,
            after => u.after, flags => u.flags,
        },
    )
}

/// `/etc/systemd/system/<unit>.service`.
fn unit_path(unit: &str) -> String {
    format!("/etc/systemd/system/{unit}.service")
}

/// The restart markers of every component: certificates and binaries are read by all three.
fn touch_all_markers() -> String {
    UNITS
        .iter()
        .map(|u| touch_restart_marker(u))
        .collect::<Vec<_>>()
        .join("\n")
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, dir, t) = (ctx.spec, ctx.dir, ctx.templates);
    let masters = spec.hosts_with_role(Role::Master);
    let version = spec.versions.kubernetes.trim_start_matches('v').to_string();
    // Hashed once here, whatever the number of masters; uploaded once per host (compared by
    // sha256 first); only the four binaries are unpacked.
    let install = install_steps(
        spec,
        t,
        &kubernetes_server(&version, &BINARIES, "kube-apiserver --version | sed 's/^Kubernetes v//'", &UNITS),
    )?;
    let pki = crate::pki::master_files_available(dir);
    let files = match pki {
        true => Some(crate::pki::master_files(dir)?),
        false => None,
    };
    let (cert_files, cert_paths) = super::pki_files(files, crate::pki::master_remote_paths(dir));
    let start = t.script("control_plane/start.sh", context! { units => UNITS })?;
    let components = [
        context! { unit => CONTROLLER_MANAGER, port => CONTROLLER_MANAGER_PORT },
        context! { unit => SCHEDULER, port => SCHEDULER_PORT },
    ];
    let manifest = rbac::manifest(t, spec)?;
    let admin_path = std::path::absolute(crate::pki::admin_kubeconfig_path(dir))?
        .display()
        .to_string();

    let mut hosts = vec![];
    for (i, h) in masters.iter().enumerate() {
        let kubectl = kubectl_at(&own_server(spec, h));
        let mut steps = install.clone();
        steps.push(
            Step::new(
                "certs",
                "the master's certificates and kubeconfigs (keys and kubeconfigs 0600)",
                StepAction::Files {
                    files: cert_files.clone(),
                    on_change: Some(touch_all_markers()),
                },
            )
            .writes(cert_paths.clone())
            .retry(RETRY),
        );
        for u in units(spec, h) {
            let step = u.name.trim_start_matches("kube-");
            steps.push(
                Step::new(
                    &format!("{step}-unit"),
                    &format!("systemd unit {}.service ({} flags)", u.name, u.flags.len()),
                    StepAction::Files {
                        files: vec![RemoteFile::inline(
                            &unit_path(u.name),
                            0o644,
                            render_unit(t, spec, &u)?,
                        )],
                        on_change: Some(format!(
                            "systemctl daemon-reload\n{}",
                            touch_restart_marker(u.name)
                        )),
                    },
                )
                .retry(RETRY),
            );
        }
        steps.push(
            Step::script(
                "start",
                "the three units enabled and running (restarted once when what they read changed)",
                start.clone(),
            )
            .retry(RETRY),
        );
        // The wait already has a deadline: a second attempt would only delay the diagnosis.
        steps.push(
            Step::script(
                "wait",
                &format!(
                    "wait up to {WAIT_SECS} s for /readyz, then the controller-manager's and \
                     scheduler's /healthz"
                ),
                t.script(
                    "control_plane/wait.sh",
                    context! {
                        kubectl, wait_secs => WAIT_SECS, crash_restarts => CRASH_RESTARTS,
                        probe => HEALTHZ_PROBE, components,
                    },
                )?,
            )
            .retry(RetryPolicy::ONCE)
            .timeout_secs(WAIT_SECS * 2 + 30),
        );
        if i == 0 {
            steps.push(
                Step::script(
                    "rbac",
                    "cluster role bindings: apiserver to kubelets, node bootstrap, CSR \
                     auto-approval (kubectl apply)",
                    t.script(
                        "control_plane/rbac.sh",
                        context! { kubectl, manifest },
                    )?,
                )
                .retry(RETRY)
                .scope(StepScope::Once),
            );
        }
        // On every master: its controller-manager and scheduler answer on 127.0.0.1 only.
        steps.push(
            Step::script(
                "report",
                "this master's component health (kubewiz-component lines), and where the \
                 admin kubeconfig is",
                t.script(
                    "control_plane/report.sh",
                    context! {
                        kubectl, admin_path, host => h.name, first => i == 0,
                        probe => HEALTHZ_PROBE, components,
                    },
                )?,
            )
            .retry(RETRY),
        );
        hosts.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Built {
        description: format!(
            "Kubernetes {version} control plane on {}: kube-apiserver, \
             kube-controller-manager, kube-scheduler as systemd units (kubeadm's certs, \
             kubeconfig, control-plane and wait-control-plane phases; upload-certs has no \
             counterpart: each master gets its certificates from the cluster directory); RBAC \
             for kubelets and node bootstrap",
            match masters.len() {
                1 => "1 master".to_string(),
                n => format!("{n} masters"),
            }
        ),
        hosts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_dir::ClusterDir;

    fn lab_spec() -> ClusterSpec {
        crate::config::parse_str(
            "name: lab\nhosts:\n  - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}\n  - {name: node2, address: 10.77.0.12, roles: [etcd, node]}\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\nversions: {kubernetes: 1.20.2}\n",
        )
        .unwrap()
    }

    #[test]
    fn the_apiserver_unit_carries_its_flags_one_a_line() {
        let spec = lab_spec();
        let t = super::super::Templates::new();
        let [api, cm, _] = units(&spec, &spec.hosts[0]);
        let text = render_unit(&t, &spec, &api).unwrap();
        assert!(
            text.contains("ExecStart=/usr/local/bin/kube-apiserver \\\n  --advertise-address=10.77.0.11 \\\n"),
            "{text}"
        );
        assert!(text.contains("  --service-account-issuer=https://kubernetes.default.svc.cluster.local \\\n"));
        assert!(text.contains("  --etcd-servers=https://10.77.0.11:2379,https://10.77.0.12:2379 \\\n"));
        // The last flag ends the command line.
        assert!(text.contains("  --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key\nRestart="));
        assert!(text.contains("After=network-online.target etcd.service\n"));
        let text = render_unit(&t, &spec, &cm).unwrap();
        assert!(text.contains("  --controllers=*,bootstrapsigner,tokencleaner \\\n"), "{text}");
        assert!(text.contains("  --allocate-node-cidrs=false"), "{text}");
    }

    /// The plan: masters only; binaries, certificates, units, start, wait on each; RBAC and
    /// the report once, on the first master; key contents never in a printable file.
    #[test]
    fn the_plan_runs_on_masters_with_rbac_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let mut spec = lab_spec();
        spec.binaries = crate::config::BinariesSpec::Installed;
        spec.hosts[1].roles.push(Role::Master);
        let t = super::super::Templates::new();
        let opts = super::super::PlanOptions::default();
        let ctx = BuildCtx { spec: &spec, dir: &dir, opts: &opts, templates: &t, registry: super::super::REGISTRY };
        // Before the PKI exists: the paths are shown, nothing is shipped.
        let built = build(&ctx).unwrap();
        let names = |hs: &HostSteps| hs.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(built.hosts.len(), 2);
        assert_eq!(
            names(&built.hosts[0]),
            ["install", "certs", "apiserver-unit", "controller-manager-unit", "scheduler-unit", "start", "wait", "rbac", "report"]
        );
        let mut second = names(&built.hosts[0])[..7].to_vec();
        second.push("report".into());
        assert_eq!(names(&built.hosts[1]), second, "the report on every master");
        // Each master reports its own components; the kubeconfig is shown once.
        let report = |hs: &HostSteps| match &hs.steps.last().unwrap().action {
            StepAction::Script { script, .. } => script.clone(),
            _ => panic!(),
        };
        for (hs, host) in built.hosts.iter().zip(["node1", "node2"]) {
            let script = report(hs);
            assert!(script.contains(&format!("echo \"kubewiz-component host={host} name=$1 status=$2\"")), "{script}");
            assert!(script.contains("component kube-scheduler ok"), "{script}");
            assert!(script.contains("--server=https://127.0.0.1:10257 get --raw /healthz"), "{script}");
            assert_eq!(script.contains("admin kubeconfig: "), host == "node1", "{script}");
        }
        let certs = &built.hosts[0].steps[1];
        assert!(certs.writes.iter().any(|w| w == "/etc/kubernetes/pki/sa.key (created by apply)"));

        crate::pki::ensure(&dir, &spec).unwrap();
        let built = build(&ctx).unwrap();
        let StepAction::Files { files, .. } = &built.hosts[1].steps[1].action else { panic!() };
        for f in files {
            let crate::plan::FileSource::Inline { secret, .. } = &f.source else { panic!() };
            let private = f.path.ends_with(".key") || f.path.ends_with(".conf");
            assert_eq!(*secret, private, "{}", f.path);
        }
        // Each master's apiserver advertises its own address and is waited for there.
        let unit = |hs: &HostSteps| match &hs.steps[2].action {
            StepAction::Files { files, .. } => match &files[0].source {
                crate::plan::FileSource::Inline { content, .. } => String::from_utf8(content.clone()).unwrap(),
                _ => panic!(),
            },
            _ => panic!(),
        };
        assert!(unit(&built.hosts[1]).contains("--advertise-address=10.77.0.12 "));
        let StepAction::Script { script, .. } = &built.hosts[1].steps[6].action else { panic!() };
        assert!(script.contains("--server=https://10.77.0.12:6443"), "{script}");
        let rbac = &built.hosts[0].steps[7];
        assert_eq!(rbac.scope, StepScope::Once);
        let StepAction::Script { script, .. } = &rbac.action else { panic!() };
        for want in [
            "name: \"system:kubelet-api-admin\"",
            "name: \"kube-apiserver-kubelet-client\"",
            "name: \"system:bootstrappers:kubewiz\"",
            "certificatesigningrequests:nodeclient",
            "certificatesigningrequests:selfnodeclient",
        ] {
            assert!(script.contains(want), "{want}: {script}");
        }
    }
}

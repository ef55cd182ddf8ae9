//! kubelet's and kube-proxy's configuration files and unit flags. Every flag was checked
//! against the 1.20.2 binaries' `--help` (the lab bundle's); one that only some versions have
//! is asked of [`versions::has`].

use super::{
    BOOTSTRAP_KUBECONFIG, CA_FILE, CERT_DIR, KUBELET, KUBELET_CONFIG, KUBELET_KUBECONFIG,
    KUBE_PROXY, KUBE_PROXY_CONFIG, KUBE_PROXY_KUBECONFIG,
};
use crate::config::versions::{self, Feature};
use crate::config::{ClusterSpec, HostSpec, Runtime};
use crate::stages::control_plane::flags::Flag;
use crate::stages::runtime::{CGROUP_DRIVER_RECORD, DRIVER_SLOT};
use crate::stages::Templates;
use anyhow::{anyhow, Result};
use minijinja::context;

/// containerd's CRI socket.
pub const CONTAINERD_SOCKET: &str = "unix:///run/containerd/containerd.sock";

/// One unit file: its name, what it starts after, its flags.
pub struct Unit {
    pub name: &'static str,
    pub description: &'static str,
    pub after: String,
    pub flags: Vec<Flag>,
}

pub fn runtime_name(r: Runtime) -> &'static str {
    match r {
        Runtime::Docker => "docker",
        Runtime::Containerd => "containerd",
    }
}

fn flag(name: &'static str, value: impl Into<String>) -> Flag {
    Flag {
        name,
        value: value.into(),
    }
}

/// kubelet's flags on host `h`: its files, its name and address as the cluster file has them,
/// the pinned pause image, and the runtime's.
pub fn flags(spec: &ClusterSpec, h: &HostSpec) -> Vec<Flag> {
    let k = &spec.versions.kubernetes;
    let mut f = vec![
        flag("config", KUBELET_CONFIG),
        flag("bootstrap-kubeconfig", BOOTSTRAP_KUBECONFIG),
        flag("kubeconfig", KUBELET_KUBECONFIG),
        flag("cert-dir", CERT_DIR),
        flag("hostname-override", &h.name),
        flag("node-ip", &h.address),
        flag("pod-infra-container-image", versions::pause_image(k)),
    ];
    let runtime_flag = versions::has(Feature::KubeletContainerRuntimeFlag, k) == Some(true);
    match spec.runtime {
        // dockershim, built into kubelet up to 1.23 (the plan refuses docker after that, K7).
        Runtime::Docker => f.push(flag("container-runtime", "docker")),
        Runtime::Containerd => {
            if runtime_flag {
                f.push(flag("container-runtime", "remote"));
            }
            f.push(flag("container-runtime-endpoint", CONTAINERD_SOCKET));
        }
    }
    f
}

/// kubelet's unit: after the runtime.
pub fn unit(spec: &ClusterSpec, flags: Vec<Flag>) -> Unit {
    let runtime = match spec.runtime {
        Runtime::Docker => "docker.service",
        Runtime::Containerd => "containerd.service",
    };
    Unit {
        name: KUBELET,
        description: "Kubernetes node agent (kubelet)",
        after: format!("network-online.target {runtime}"),
        flags,
    }
}

pub fn proxy_unit() -> Unit {
    Unit {
        name: KUBE_PROXY,
        description: "Kubernetes network proxy (kube-proxy)",
        after: "network-online.target kubelet.service".into(),
        flags: vec![flag("config", KUBE_PROXY_CONFIG)],
    }
}

/// The KubeletConfiguration, with the host's placeholder for the recorded cgroup driver
/// (filled on the host by the runtime stage's config script).
pub fn config(t: &Templates, spec: &ClusterSpec) -> Result<String> {
    let dns = spec
        .cluster_dns_ip()
        .ok_or_else(|| anyhow!("network.cluster_dns: no cluster DNS address (validation reports why)"))?;
    t.render(
        "join/kubelet-config.yaml",
        context! {
            cluster => spec.name, record => CGROUP_DRIVER_RECORD, ca_file => CA_FILE,
            driver => DRIVER_SLOT, cluster_dns => dns.to_string(),
            dns_domain => spec.network.dns_domain,
        },
    )
}

/// The KubeProxyConfiguration of host `h`; conntrack settings only those the cluster file sets
/// (kube-proxy's defaults otherwise).
pub fn proxy_config(t: &Templates, spec: &ClusterSpec, h: &HostSpec) -> Result<String> {
    let c = &spec.kube_proxy.conntrack;
    let mut conntrack: Vec<(&str, String)> = vec![];
    if let Some(n) = c.max_per_core {
        conntrack.push(("maxPerCore", n.to_string()));
    }
    if let Some(d) = &c.tcp_established_timeout {
        conntrack.push(("tcpEstablishedTimeout", d.clone()));
    }
    if let Some(d) = &c.tcp_close_wait_timeout {
        conntrack.push(("tcpCloseWaitTimeout", d.clone()));
    }
    t.render(
        "join/kube-proxy-config.yaml",
        context! {
            cluster => spec.name, address => h.address, kubeconfig => KUBE_PROXY_KUBECONFIG,
            pod_cidr => spec.network.pod_cidr, name => h.name, conntrack,
        },
    )
}

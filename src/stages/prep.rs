//! Host prep: the first stage. Every step checks before it acts and reports changed,
//! unchanged or not applicable (with the reason).

use super::Templates;
use crate::config::ClusterSpec;
use crate::plan::{HostSteps, RetryPolicy, Stage, Step};
use anyhow::Result;
use minijinja::context;
use std::time::Duration;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "prep/firewalld.sh",
        include_str!("../../assets/templates/prep/firewalld.sh"),
    ),
    (
        "prep/selinux.sh",
        include_str!("../../assets/templates/prep/selinux.sh"),
    ),
    (
        "prep/swap.sh",
        include_str!("../../assets/templates/prep/swap.sh"),
    ),
    (
        "prep/hostname.sh",
        include_str!("../../assets/templates/prep/hostname.sh"),
    ),
    (
        "prep/etc_hosts.sh",
        include_str!("../../assets/templates/prep/etc_hosts.sh"),
    ),
    (
        "prep/br_netfilter.sh",
        include_str!("../../assets/templates/prep/br_netfilter.sh"),
    ),
    (
        "prep/sysctl.sh",
        include_str!("../../assets/templates/prep/sysctl.sh"),
    ),
    (
        "prep/time_sync.sh",
        include_str!("../../assets/templates/prep/time_sync.sh"),
    ),
];

/// Kernel settings every Kubernetes node needs (bridged traffic through iptables, forwarding).
const SYSCTLS: &[(&str, &str)] = &[
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),
];

/// Shell steps are cheap and idempotent: one retry covers a dropped connection.
const RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff: Duration::from_secs(1),
};

pub fn build(spec: &ClusterSpec, t: &Templates) -> Result<Stage> {
    let hosts: Vec<_> = spec
        .hosts
        .iter()
        .map(|h| context! { name => h.name, address => h.address })
        .collect();
    let sysctls: Vec<_> = SYSCTLS
        .iter()
        .map(|(k, v)| context! { key => k, value => v })
        .collect();
    let hosts_ctx = context! {
        hosts => hosts,
        begin_marker => format!("# BEGIN kubewiz hosts of cluster {}", spec.name),
        end_marker => format!("# END kubewiz hosts of cluster {}", spec.name),
    };
    let etc_hosts = t.script("prep/etc_hosts.sh", hosts_ctx)?;
    let sysctl = t.script("prep/sysctl.sh", context! { sysctls => sysctls })?;
    let plain = |name: &str| t.script(&format!("prep/{name}.sh"), context! {});

    let mut per_host = vec![];
    for host in &spec.hosts {
        let step = |name: &str, description: &str, script: String, writes: &[&str]| {
            Step::script(name, description, script)
                .writes(writes.iter().copied())
                .retry(RETRY)
        };
        per_host.push(HostSteps {
            host: host.name.clone(),
            steps: vec![
                step(
                    "firewalld",
                    "stop and disable firewalld if present",
                    plain("firewalld")?,
                    &[],
                ),
                step(
                    "selinux",
                    "SELinux permissive if present",
                    plain("selinux")?,
                    &["/etc/selinux/config"],
                ),
                step(
                    "swap",
                    "swap off and commented out of /etc/fstab",
                    plain("swap")?,
                    &["/etc/fstab"],
                ),
                // /etc/hosts first: after a rename sudo must resolve the new name.
                step(
                    "etc-hosts",
                    "/etc/hosts lists every cluster host",
                    etc_hosts.clone(),
                    &["/etc/hosts"],
                ),
                step(
                    "hostname",
                    &format!("hostname set to {}", host.name),
                    t.script("prep/hostname.sh", context! { hostname => host.name })?,
                    &["/etc/hostname"],
                ),
                step(
                    "br-netfilter",
                    "br_netfilter loaded and loaded at boot",
                    plain("br_netfilter")?,
                    &["/etc/modules-load.d/kubewiz-br_netfilter.conf"],
                ),
                step(
                    "sysctl",
                    "bridge-nf-call-iptables/ip6tables and ip_forward = 1, persisted",
                    sysctl.clone(),
                    &["/etc/sysctl.d/99-kubernetes.conf"],
                ),
                step(
                    "time-sync",
                    "a time sync service enabled where one exists",
                    plain("time_sync")?,
                    &[],
                ),
            ],
        });
    }
    Ok(Stage {
        name: "prep".into(),
        units: vec![],
        description:
            "host prep: firewall, SELinux, swap, hostname, /etc/hosts, kernel settings, time sync"
                .into(),
        hosts: per_host,
    })
}

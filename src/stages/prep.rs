//! Host prep: the first stage. Every step checks before it acts and reports changed,
//! unchanged or not applicable (with the reason).

use super::etcd::{CLIENT_PORT, PEER_PORT};
use super::fix::{run_script, FixDef};
use super::{BuildCtx, Built, Health, StageDef, RETRY};
use crate::plan::{HostSteps, Step};
use anyhow::Result;
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "prep",
    description:
        "host prep: firewall, SELinux, swap, hostname, /etc/hosts, kernel settings, time sync",
    units: &[],
    build,
    needs: &[],
    health: Health::EVERY_HOST_EVIDENCE,
    fixes: &[
        FixDef {
            name: "open-etcd-ports",
            destroys: None,
            run: |ctx, host, emit| {
                Box::pin(async move { run_script(ctx, host, &open_etcd_ports(), emit).await })
            },
        },
        FixDef {
            name: "sync-clock",
            destroys: None,
            run: |ctx, host, emit| Box::pin(run_script(ctx, host, SYNC_CLOCK, emit)),
        },
        FixDef {
            name: "load-br-netfilter",
            destroys: None,
            run: |ctx, host, emit| {
                Box::pin(run_script(
                    ctx,
                    host,
                    "modprobe br_netfilter && echo 'br_netfilter loaded'",
                    emit,
                ))
            },
        },
        FixDef {
            name: "swap-off",
            destroys: None,
            run: |ctx, host, emit| {
                Box::pin(run_script(ctx, host, "swapoff -a && echo 'swap off'", emit))
            },
        },
    ],
};

/// Stop firewalld and drop the iptables rules that reject etcd's ports (catalog entry H3).
fn open_etcd_ports() -> String {
    format!(
        "if command -v firewall-cmd >/dev/null 2>&1 && systemctl is-active --quiet firewalld; then \
           systemctl stop firewalld && echo 'firewalld stopped'; fi; \
         if command -v iptables >/dev/null 2>&1; then \
           iptables -S INPUT | grep -E -- '--dport ({CLIENT_PORT}|{PEER_PORT})' | grep -E 'DROP|REJECT' | \
           while read -r rule; do set -- $rule; shift; iptables -D \"$@\" && echo \"removed: $rule\"; done; fi"
    )
}

/// Enable and restart whichever time sync service the host has (catalog entry H4).
const SYNC_CLOCK: &str = "for u in chronyd chrony systemd-timesyncd ntpd ntp; do \
      if systemctl cat $u.service >/dev/null 2>&1; then systemctl enable --now $u && systemctl restart $u \
      && echo \"$u restarted\"; exit 0; fi; done; \
    echo 'no time sync service is installed: install chrony' >&2; exit 1";

/// Kernel settings every Kubernetes node needs (bridged traffic through iptables, forwarding).
const SYSCTLS: &[(&str, &str)] = &[
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),
];

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, t) = (ctx.spec, ctx.templates);
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
        per_host.push(HostSteps {
            host: host.name.clone(),
            steps: vec![
                Step::script(
                    "firewalld",
                    "stop and disable firewalld if present",
                    plain("firewalld")?,
                )
                .retry(RETRY),
                Step::script(
                    "selinux",
                    "SELinux permissive if present",
                    plain("selinux")?,
                )
                .writes(["/etc/selinux/config"])
                .retry(RETRY),
                Step::script(
                    "swap",
                    "swap off and commented out of /etc/fstab",
                    plain("swap")?,
                )
                .writes(["/etc/fstab"])
                .retry(RETRY),
                // /etc/hosts first: after a rename sudo must resolve the new name.
                Step::script(
                    "etc-hosts",
                    "/etc/hosts lists every cluster host",
                    etc_hosts.clone(),
                )
                .writes(["/etc/hosts"])
                .retry(RETRY),
                Step::script(
                    "hostname",
                    &format!("hostname set to {}", host.name),
                    t.script("prep/hostname.sh", context! { hostname => host.name })?,
                )
                .writes(["/etc/hostname"])
                .retry(RETRY),
                Step::script(
                    "br-netfilter",
                    "br_netfilter loaded and loaded at boot",
                    plain("br_netfilter")?,
                )
                .writes(["/etc/modules-load.d/kubewiz-br_netfilter.conf"])
                .retry(RETRY),
                Step::script(
                    "sysctl",
                    "bridge-nf-call-iptables/ip6tables and ip_forward = 1, persisted",
                    sysctl.clone(),
                )
                .writes(["/etc/sysctl.d/99-kubernetes.conf"])
                .retry(RETRY),
                Step::script(
                    "time-sync",
                    "a time sync service enabled where one exists",
                    plain("time_sync")?,
                )
                .retry(RETRY),
            ],
        });
    }
    Ok(Built {
        description: STAGE.description.into(),
        hosts: per_host,
    })
}

//! Preflight: read-only checks on every host before anything changes one (kubeadm-grade):
//! kernel, cgroups, hostname, commands, ports for the host's roles, swap, SELinux, firewalld,
//! disk, memory, and the clock against this machine's. Each check passes, warns or fails;
//! `--ignore-preflight-errors` turns chosen failures into warnings.

use super::Templates;
use crate::config::{ClusterSpec, Role};
use crate::plan::{HostSteps, Stage, Step, StepAction};
use anyhow::Result;
use minijinja::context;

pub const TEMPLATES: &[(&str, &str)] = &[(
    "preflight/checks.sh",
    include_str!("../../assets/templates/preflight/checks.sh"),
)];

/// The check names `--ignore-preflight-errors` accepts (ports as `port-<n>`), and `all`.
pub const CHECKS: &[&str] = &[
    "kernel",
    "cgroups",
    "hostname",
    "commands",
    "port-<n>",
    "swap",
    "selinux",
    "firewalld",
    "disk",
    "memory",
    "clock",
];

/// etcd's tolerance for clock differences between members is about a second.
const MAX_SKEW_MS: u64 = 1000;

pub fn ports_for(roles: &[Role]) -> Vec<u16> {
    let mut ports = vec![];
    for r in roles {
        ports.extend_from_slice(match r {
            Role::Etcd => &[2379, 2380][..],
            Role::Master => &[6443, 10257, 10259][..],
            Role::Node => &[10250][..],
        });
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Units kubewiz runs itself: a port they hold is not a conflict (a rerun on a live cluster).
fn own_units(roles: &[Role]) -> Vec<&'static str> {
    let mut units = vec![];
    for r in roles {
        units.extend_from_slice(match r {
            Role::Etcd => &["etcd"][..],
            Role::Master => &[
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ][..],
            Role::Node => &["kubelet"][..],
        });
    }
    units
}

pub fn build(spec: &ClusterSpec, ignore: &[String], t: &Templates) -> Result<Stage> {
    let mut hosts = vec![];
    for h in &spec.hosts {
        let masters_need = h.roles.contains(&Role::Master);
        let roles: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
        let checks = t.script(
            "preflight/checks.sh",
            context! {
                ignore, hostname => h.name, roles, ports => ports_for(&h.roles),
                own_units => own_units(&h.roles),
                min_mem_kb => if masters_need { 1_900_000 } else { 950_000 },
            },
        )?;
        let clock_ignored = ignore.iter().any(|i| i == "clock" || i == "all");
        let mut steps = vec![Step::script(
            "checks",
            "kernel, cgroups, commands, ports, swap, SELinux, firewalld, disk, memory",
            checks,
        )];
        if !clock_ignored {
            steps.push(
                Step::new(
                    "clock",
                    &format!("clock within {MAX_SKEW_MS} ms of this machine's"),
                    StepAction::ClockSkew {
                        max_skew_ms: MAX_SKEW_MS,
                    },
                )
                .timeout_secs(10),
            );
        }
        hosts.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Stage {
        name: "preflight".into(),
        units: vec![],
        description: "read-only checks before anything changes a host".into(),
        hosts,
    })
}

//! Preflight: read-only checks on every host before anything changes one (kubeadm-grade):
//! kernel, cgroups, hostname, commands, ports for the host's roles, swap, SELinux, firewalld,
//! disk, memory, and the clock against this machine's. Each check passes, warns or fails;
//! `--ignore-preflight-errors` turns chosen failures into warnings.

use super::{BuildCtx, Built, Health, RoleNeeds, StageDef};
use crate::config::Role;
use crate::plan::{HostSteps, Step, StepAction};
use anyhow::Result;
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "preflight",
    description: "read-only checks before anything changes a host (kubeadm's preflight phase)",
    units: &[],
    build,
    needs: &[],
    health: Health::EVERY_HOST_EVIDENCE,
    fixes: &[],
};

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

/// Ports and units of the stages kubewiz does not have yet (the node join),
/// checked already so that a busy port shows before anything changes a host. A stage that
/// exists declares its own in the registry ([`StageDef::needs`]) and leaves this list: a test
/// refuses a name that is both here and in the registry.
pub const UPCOMING_NEEDS: &[(&str, RoleNeeds)] = &[];

/// What a host with these roles needs: every stage's ports and units for each role (the
/// registry's, then the upcoming stages'), in role order. The ports come sorted, once each.
pub fn needs_for(registry: &[StageDef], roles: &[Role]) -> (Vec<u16>, Vec<&'static str>) {
    let (mut ports, mut units) = (vec![], vec![]);
    for r in roles {
        let declared = registry.iter().flat_map(|s| s.needs.iter());
        for n in declared.chain(UPCOMING_NEEDS.iter().map(|(_, n)| n)) {
            if n.role == *r {
                ports.extend_from_slice(n.ports);
                units.extend_from_slice(n.units);
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    (ports, units)
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, t, ignore) = (ctx.spec, ctx.templates, &ctx.opts.ignore_preflight);
    let mut hosts = vec![];
    for h in &spec.hosts {
        let masters_need = h.roles.contains(&Role::Master);
        let roles: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
        // Units kubewiz runs itself: a port they hold is not a conflict (a rerun on a live
        // cluster).
        let (ports, own_units) = needs_for(ctx.registry, &h.roles);
        let checks = t.script(
            "preflight/checks.sh",
            context! {
                ignore, hostname => h.name, roles, ports, own_units,
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
    Ok(Built {
        description: STAGE.description.into(),
        hosts,
    })
}

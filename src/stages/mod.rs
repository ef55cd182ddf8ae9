//! The stages `apply` runs, in one registry: each stage is one file here (its steps per host,
//! what preflight must check for it, its health probe, its fixes) plus its templates under
//! `assets/templates/<stage>/`, and its name in the `stages!` list below. Everything that lists stages reads
//! the registry: the plan's order, `kubewiz plan`, `kubewiz diagnose --stage`, preflight's
//! ports, and the failure catalog's stages and fix actions.
//!
//! Adding a stage `runtime`:
//! - `src/stages/runtime.rs` with `pub const STAGE: StageDef = StageDef { name: "runtime", .. }`
//!   and its `build` (steps from [`crate::plan::Step::new`]/[`crate::plan::Step::script`];
//!   release binaries through [`release::install_steps`]; the restart marker through
//!   [`templates::touch_restart_marker`] and the `restart_marker(unit)` template function);
//! - its templates under `assets/templates/runtime/` (embedded by build.rs, named
//!   `runtime/<file>`);
//! - `runtime` in the `stages! { .. }` list, in run order (it declares the module and puts
//!   `runtime::STAGE` into [`REGISTRY`]);
//! - `runtime` out of `upcoming_stages` in assets/failures.yaml (the catalog loader refuses a
//!   stage that is both built and upcoming), and its ports out of
//!   [`preflight::UPCOMING_NEEDS`] if it had any there.

pub mod fix;
pub mod release;
pub mod templates;

pub use fix::{fix, Connections, Emit, FixContext, FixDef};
pub use templates::Templates;

use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, ResolvedHost, Role};
use crate::plan::{HostSteps, Plan, RetryPolicy, Stage};
use anyhow::Result;
use std::time::Duration;

/// Declares each stage's module and its place in [`REGISTRY`]: a stage is named once.
macro_rules! stages {
    ($($stage:ident),* $(,)?) => {
        $(pub mod $stage;)*
        /// The stages, in the order `apply` runs them.
        pub static REGISTRY: &[StageDef] = &[$($stage::STAGE),*];
    };
}

stages! { preflight, prep, etcd, runtime, network, control_plane, join }

/// One stage: plain data and functions, declared as a `const` in the stage's own file.
#[derive(Debug, Clone, Copy)]
pub struct StageDef {
    /// `prep`, `etcd`: shown as `stage/step`, named by `--only-stages`, the catalog's `stage`.
    pub name: &'static str,
    /// One line for lists (`kubewiz diagnose --help`); the plan may say more (versions, counts).
    pub description: &'static str,
    /// systemd units whose journal explains a failed step of this stage.
    pub units: &'static [&'static str],
    /// The stage's steps per host.
    pub build: fn(&BuildCtx<'_>) -> Result<Built>,
    /// Ports that must be free and units that may already hold them, per role (preflight).
    pub needs: &'static [RoleNeeds],
    /// How `kubewiz diagnose --stage <name>` looks at a live cluster.
    pub health: Health,
    /// The catalog's auto-fix actions this stage owns.
    pub fixes: &'static [FixDef],
}

/// What a stage's `build` gets.
pub struct BuildCtx<'a> {
    pub spec: &'a ClusterSpec,
    pub dir: &'a ClusterDir,
    pub opts: &'a PlanOptions,
    pub templates: &'a Templates,
    /// The registry the plan is built from (preflight reads every stage's needs).
    pub registry: &'a [StageDef],
}

/// What a stage's `build` makes; the registry adds the name and units.
pub struct Built {
    pub description: String,
    pub hosts: Vec<HostSteps>,
}

/// What a host with `role` needs for a stage.
#[derive(Debug, Clone, Copy)]
pub struct RoleNeeds {
    pub role: Role,
    /// Ports that must be free before the stage runs (preflight's `port-<n>` checks).
    pub ports: &'static [u16],
    /// Units of kubewiz's own that may hold those ports already (a rerun on a live cluster).
    pub units: &'static [&'static str],
}

/// A stage's health probe for `kubewiz diagnose`.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// The hosts it looks at: those with any of these roles; every host when empty.
    pub roles: &'static [Role],
    /// The command run on each of them (with sudo); the host is healthy when it exits 0, and
    /// evidence is gathered otherwise. None: no probe, evidence is always gathered.
    pub command: Option<fn() -> String>,
    /// The stage as seen across hosts (a client's view, peers, quorum), run once for all hosts
    /// after the per-host commands; its findings join each host's evidence.
    pub view: Option<ViewFn>,
}

/// A stage's cluster-wide look at a live cluster (the live context fixes get, too).
pub type ViewFn = for<'a> fn(&'a FixContext<'a>) -> futures::future::BoxFuture<'a, Vec<Finding>>;

/// One thing a [`ViewFn`] found about a host: an evidence line in kubewiz's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub host: String,
    pub severity: Severity,
    /// Where it comes from, as an evidence source ("client view").
    pub source: String,
    pub line: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The host is not healthy, whatever its own check says.
    Problem,
    /// Worth showing; the host stays healthy.
    Warning,
}

impl Health {
    /// No probe: `kubewiz diagnose` gathers the catalog's evidence on every host (host-level
    /// stages, whose failures show in the host's state rather than in a daemon).
    pub const EVERY_HOST_EVIDENCE: Health = Health {
        roles: &[],
        command: None,
        view: None,
    };
}

/// Shell steps are cheap and idempotent: one retry covers a dropped connection.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff: Duration::from_secs(1),
};

/// What shapes a plan besides the cluster file.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Preflight checks whose failure is only a warning (`--ignore-preflight-errors`).
    pub ignore_preflight: Vec<String>,
}

/// The stage named `name`.
pub fn stage(name: &str) -> Option<&'static StageDef> {
    REGISTRY.iter().find(|s| s.name == name)
}

/// What `kubewiz diagnose --stage <name>` looks at on a live cluster.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub hosts: Vec<ResolvedHost>,
    /// Units whose journal is gathered as evidence.
    pub units: Vec<String>,
    /// The probe each host runs (healthy when it exits 0); None: evidence is always gathered.
    pub command: Option<String>,
    pub view: Option<ViewFn>,
}

/// The health check of the stage `name` of `registry`, or None when it has no such stage.
pub fn health_check(registry: &[StageDef], spec: &ClusterSpec, name: &str) -> Option<HealthCheck> {
    let def = registry.iter().find(|s| s.name == name)?;
    Some(HealthCheck {
        hosts: spec
            .resolved_hosts()
            .into_iter()
            .filter(|h| {
                def.health.roles.is_empty() || def.health.roles.iter().any(|r| h.roles.contains(r))
            })
            .collect(),
        units: def.units.iter().map(|u| u.to_string()).collect(),
        command: def.health.command.map(|c| c()),
        view: def.health.view,
    })
}

/// The registry's stage names, in order.
pub fn names(registry: &[StageDef]) -> Vec<&'static str> {
    registry.iter().map(|s| s.name).collect()
}

/// The plan `apply` runs for this cluster. Reads the PKI from the cluster directory (apply
/// creates it first; `plan` shows placeholders when it does not exist yet).
pub fn build_plan(spec: &ClusterSpec, dir: &ClusterDir, opts: &PlanOptions) -> Result<Plan> {
    build_plan_with(REGISTRY, &Templates::new(), spec, dir, opts)
}

/// [`build_plan`] from any registry and templates (a test adds a throwaway stage).
pub fn build_plan_with(
    registry: &[StageDef],
    templates: &Templates,
    spec: &ClusterSpec,
    dir: &ClusterDir,
    opts: &PlanOptions,
) -> Result<Plan> {
    let ctx = BuildCtx {
        spec,
        dir,
        opts,
        templates,
        registry,
    };
    let mut stages = vec![];
    for def in registry {
        let built = (def.build)(&ctx)?;
        stages.push(Stage {
            name: def.name.into(),
            description: built.description,
            units: def.units.iter().map(|u| u.to_string()).collect(),
            hosts: built.hosts,
        });
    }
    let plan = Plan {
        cluster: spec.name.clone(),
        stages,
    };
    // A stage's scopes and barriers must make sense before `plan` prints or `apply` runs it.
    plan.validate()
        .map_err(|e| anyhow::anyhow!("kubewiz built an inconsistent plan: {e}"))?;
    Ok(plan)
}

/// The files of a `certs` step and the paths `kubewiz plan` shows for it: the PKI's files
/// (remote path, bytes, mode) when the cluster directory has them, else none and only their
/// remote paths, marked as made by apply (`plan` before the first apply).
pub fn pki_files(
    files: Option<Vec<(String, Vec<u8>, u32)>>,
    remote_paths: Vec<String>,
) -> (Vec<crate::plan::RemoteFile>, Vec<String>) {
    match files {
        Some(files) => {
            let files: Vec<crate::plan::RemoteFile> = files
                .into_iter()
                .map(|(path, content, mode)| crate::plan::RemoteFile::inline(&path, mode, content))
                .collect();
            let paths = files.iter().map(|f| f.path.clone()).collect();
            (files, paths)
        }
        None => {
            let paths = remote_paths
                .into_iter()
                .map(|p| format!("{p} (created by apply)"))
                .collect();
            (vec![], paths)
        }
    }
}

/// POSIX single-quoting, for values put into shell scripts.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("node1"), "node1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn health_looks_at_the_hosts_of_any_of_its_roles() {
        let spec = crate::config::parse_str(
            "name: t\ndefaults: {user: kube, auth: {method: agent}}\nhosts:\n\
             - {name: e1, address: 10.0.0.1, roles: [etcd]}\n\
             - {name: m1, address: 10.0.0.2, roles: [master]}\n\
             - {name: n1, address: 10.0.0.3, roles: [node]}\n\
             network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n",
        )
        .unwrap();
        let hosts = |stage: &str| -> Vec<String> {
            health_check(REGISTRY, &spec, stage)
                .unwrap()
                .hosts
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        // A master that is not a node runs the runtime and flannel too, so it is looked at.
        assert_eq!(hosts("runtime"), ["m1", "n1"]);
        assert_eq!(hosts("network"), ["m1", "n1"]);
        assert_eq!(hosts("etcd"), ["e1"]);
        assert_eq!(hosts("prep"), ["e1", "m1", "n1"]);
    }
}

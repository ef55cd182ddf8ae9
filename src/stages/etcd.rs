//! The etcd stage: binaries, certificates, unit, data directory, start all members at once,
//! wait for health, then a health/status/member table. Its fixes: re-issue member certificates,
//! restart the members together, move stale data directories aside, replace a damaged member
//! (`replace`; `joined` records the members that joined the running cluster that way).

mod joined;
mod replace;

pub mod view;

use super::fix::{hosts_with, run_script_on, Emit, FixContext, FixDef};
use super::release::{install_steps, Release};
use super::templates::{touch_restart_marker, unit_step};
use super::{BuildCtx, Built, Health, RoleNeeds, StageDef, RETRY};
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, HostSpec, Role};
use crate::plan::{HostSteps, RetryPolicy, Step, StepAction, StepScope};
use anyhow::{Context, Result};
use minijinja::context;
use sha2::{Digest, Sha256};

pub const STAGE: StageDef = StageDef {
    name: "etcd",
    description: "the etcd cluster, with TLS, on the etcd hosts",
    units: &[UNIT_NAME],
    build,
    needs: &[RoleNeeds {
        role: Role::Etcd,
        ports: &[CLIENT_PORT, PEER_PORT],
        units: &[UNIT_NAME],
    }],
    health: Health {
        roles: &[Role::Etcd],
        command: Some(health_command),
        view: Some(view::view),
    },
    fixes: &[
        FixDef {
            name: "reissue-etcd-certs",
            destroys: None,
            run: |ctx, _host, emit| Box::pin(async move { reissue_etcd_certs(ctx, emit) }),
        },
        FixDef {
            name: "restart-etcd-together",
            destroys: None,
            run: |ctx, _host, emit| Box::pin(restart_together(ctx, emit)),
        },
        FixDef {
            name: "replace-etcd-member",
            destroys: Some(
                "the member's data directory is moved aside and the member rebuilt from the \
                 others",
            ),
            run: |ctx, host, emit| Box::pin(replace::replace_member(ctx, host, emit)),
        },
        FixDef {
            name: "wipe-etcd-data",
            destroys: Some("moving the etcd data directories aside loses the cluster's data"),
            run: |ctx, _host, emit| Box::pin(wipe_data(ctx, emit)),
        },
    ],
};

/// Where things live on an etcd member.
pub const PKI_DIR: &str = crate::pki::ETCD_PKI_DIR;
pub const DATA_DIR: &str = "/var/lib/etcd";
pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;
const UNIT_NAME: &str = "etcd";
const UNIT: &str = "/etc/systemd/system/etcd.service";
/// How long members get to form a quorum before the health step fails.
const HEALTH_WAIT_SECS: u64 = 90;
/// Restarts by systemd (RestartSec=5) during the health step after which a member that keeps
/// exiting is not waited for any longer: about 20 s instead of the whole wait.
const HEALTH_CRASH_RESTARTS: u32 = 3;

/// etcdctl on a member, against itself, with the health-check client certificate: the one
/// rendering used by the health and report steps and by `kubewiz diagnose` (the catalog's
/// probes and manual commands are held to it by tests/catalog.rs).
pub fn etcdctl() -> String {
    etcdctl_at(&format!("https://127.0.0.1:{CLIENT_PORT}"))
}

/// [`etcdctl`] against other `endpoints` (comma-separated client URLs), e.g. the members'
/// cluster addresses as a client of the cluster sees them.
pub fn etcdctl_at(endpoints: &str) -> String {
    format!(
        "/usr/local/bin/etcdctl --endpoints={endpoints} {} --command-timeout=5s",
        client_cert_flags()
    )
}

/// The endpoint and TLS flags of [`etcdctl`].
pub fn etcdctl_tls_flags() -> String {
    format!(
        "--endpoints=https://127.0.0.1:{CLIENT_PORT} {}",
        client_cert_flags()
    )
}

fn client_cert_flags() -> String {
    format!(
        "--cacert={PKI_DIR}/ca.crt --cert={PKI_DIR}/healthcheck-client.crt \
         --key={PKI_DIR}/healthcheck-client.key"
    )
}

/// A member's client URL on its cluster address.
pub fn client_url(address: &str) -> String {
    format!("https://{address}:{CLIENT_PORT}")
}

/// A member's peer URL on its cluster address.
pub fn peer_url(address: &str) -> String {
    format!("https://{address}:{PEER_PORT}")
}

/// `kubewiz diagnose --stage etcd`: healthy when this exits 0 on the member.
fn health_command() -> String {
    format!("{} endpoint health", etcdctl())
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, dir, t) = (ctx.spec, ctx.dir, ctx.templates);
    let members = spec.hosts_with_role(Role::Etcd);
    let pki = crate::pki::etcd_member_files_available(dir, spec);
    let units = UnitInputs::of(spec, dir)?;
    let token = units.token.clone();
    let version = spec.versions.etcd.trim_start_matches('v').to_string();
    // The release tarball's name and top folder, as etcd's releases lay them out.
    let rdir = format!("etcd-v{version}-linux-amd64");
    let install = install_steps(
        spec,
        t,
        &Release {
            name: "etcd",
            version: &version,
            tarball: format!("{rdir}.tar.gz"),
            top_dir: rdir,
            binaries: &["etcd", "etcdctl"],
            version_cmd: "etcd --version | awk '/^etcd Version:/ { print $3 }'",
            restart_units: &[UNIT_NAME],
        },
    )?;
    let etcdctl = etcdctl();
    let start = t.script("etcd/start.sh", context! { unit => UNIT_NAME })?;
    let health = t.script(
        "etcd/health.sh",
        context! {
            etcdctl, wait_secs => HEALTH_WAIT_SECS, unit => UNIT_NAME,
            crash_restarts => HEALTH_CRASH_RESTARTS,
        },
    )?;
    let report = t.script("etcd/report.sh", context! { etcdctl })?;
    let data_dir = t.script("etcd/data_dir.sh", context! { data_dir => DATA_DIR, token })?;

    let mut hosts = vec![];
    for (i, h) in members.iter().enumerate() {
        let mut steps = install.clone();
        let files = match pki {
            true => Some(crate::pki::files_for_host(dir, spec, &h.name)?),
            false => None,
        };
        let (cert_files, cert_paths) =
            super::pki_files(files, crate::pki::etcd_member_remote_paths(dir));
        steps.push(
            Step::new(
                "certs",
                "the member's certificates (CA, server, peer, health-check client)",
                StepAction::Files {
                    files: cert_files,
                    on_change: Some(touch_restart_marker(UNIT_NAME)),
                },
            )
            .writes(cert_paths)
            .retry(RETRY),
        );
        let unit = units.render(t, spec, h)?;
        steps.push(unit_step(
            "systemd unit etcd.service (Type=notify, Restart=on-failure)",
            UNIT,
            UNIT_NAME,
            unit,
        ));
        steps.push(
            Step::script(
                "data-dir",
                &format!("{DATA_DIR} empty or this cluster's own"),
                data_dir.clone(),
            )
            .writes([format!("{DATA_DIR}/kubewiz-cluster")])
            .retry(RETRY),
        );
        steps.push(
            Step::script(
                "start",
                "start every member at once (--no-block)",
                start.clone(),
            )
            .retry(RETRY)
            .after_barrier(),
        );
        // The health script already waits with a deadline: a second attempt would only double
        // the time to the diagnosis.
        steps.push(
            Step::script(
                "health",
                &format!("wait up to {HEALTH_WAIT_SECS} s for a healthy member"),
                health.clone(),
            )
            .retry(RetryPolicy::ONCE)
            .timeout_secs(HEALTH_WAIT_SECS + 30)
            // Every member was started before anyone waits for a quorum.
            .after_barrier(),
        );
        if i == 0 {
            steps.push(
                Step::script(
                    "report",
                    "endpoint health, status and members as tables",
                    report.clone(),
                )
                .retry(RETRY)
                .scope(StepScope::Once),
            );
        }
        hosts.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Built {
        description: format!(
            "etcd {version} cluster of {} members with TLS (kubeadm's etcd phase, as an external \
             cluster)",
            members.len()
        ),
        hosts,
    })
}

/// What every member's unit is rendered from besides the member itself.
struct UnitInputs {
    initial_cluster: String,
    token: String,
    joined: joined::Joined,
    /// etcd's v2 API, off by default since 3.4: flannel before 0.18 reads its config with it.
    enable_v2: bool,
}

impl UnitInputs {
    fn of(spec: &ClusterSpec, dir: &ClusterDir) -> Result<UnitInputs> {
        let initial_cluster = spec
            .hosts_with_role(Role::Etcd)
            .iter()
            .map(|h| format!("{}={}", h.name, peer_url(&h.address)))
            .collect::<Vec<_>>()
            .join(",");
        Ok(UnitInputs {
            initial_cluster,
            token: cluster_token(spec, dir),
            joined: joined::load(dir)?,
            enable_v2: super::network::needs_etcd_v2(spec)?,
        })
    }

    /// etcd.service of member `h`: `--initial-cluster-state=existing` once it joined the
    /// running cluster (see [`joined`]), `new` otherwise.
    fn render(&self, t: &super::Templates, spec: &ClusterSpec, h: &HostSpec) -> Result<String> {
        let initial_cluster_state = self.joined.initial_cluster_state(&h.name, &self.token);
        t.render(
            "etcd/etcd.service",
            context! {
                cluster => spec.name, name => h.name, address => h.address,
                etcd_bin => "/usr/local/bin/etcd", data_dir => DATA_DIR, pki => PKI_DIR,
                initial_cluster => self.initial_cluster, token => self.token,
                initial_cluster_state, client_port => CLIENT_PORT, peer_port => PEER_PORT,
                enable_v2 => self.enable_v2,
            },
        )
    }
}

/// The etcd.service kubewiz renders for member `host` (a fix of another stage puts it back).
pub fn unit_of(spec: &ClusterSpec, dir: &ClusterDir, host: &str) -> Result<String> {
    let h = spec
        .hosts
        .iter()
        .find(|h| h.name == host)
        .with_context(|| format!("no host named {host:?} in the cluster file"))?;
    UnitInputs::of(spec, dir)?.render(&super::Templates::new(), spec, h)
}

/// Where etcd.service lives on a member.
pub const UNIT_PATH: &str = UNIT;

/// Where a member's data directory is moved aside (kept, never deleted), stamped with now.
fn backup_dir() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "");
    format!("{DATA_DIR}.kubewiz-backup-{stamp}")
}

/// The shell lines that move the data directory to `backup` if it exists (beside an earlier
/// backup of the same second, never into it) and say where.
fn move_data_aside(backup: &str) -> String {
    format!(
        "if [ -d {DATA_DIR} ]; then b={backup}; if [ -e \"$b\" ]; then b=\"$b-$$\"; fi; \
         mv {DATA_DIR} \"$b\" && echo \"moved {DATA_DIR} to $b\"; fi"
    )
}

/// The initial-cluster token: the cluster's name plus its etcd CA, so a data directory left by
/// another cluster (or by this one before its PKI was replaced) is recognised as stale.
fn cluster_token(spec: &ClusterSpec, dir: &ClusterDir) -> String {
    let ca = std::fs::read(crate::pki::etcd_ca_cert_path(dir)).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(&ca));
    format!("{}-etcd-{}", spec.name, &digest[..12])
}

// ---- fixes ----

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

async fn restart_together(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    let members = hosts_with(ctx.spec, Role::Etcd);
    run_script_on(ctx, &members, "systemctl restart --no-block etcd", emit).await
}

async fn wipe_data(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    let members = hosts_with(ctx.spec, Role::Etcd);
    // Stop every member first, then move the data aside: no member may keep running with the
    // old cluster while the others start a new one.
    run_script_on(ctx, &members, "systemctl stop etcd", emit).await?;
    run_script_on(ctx, &members, &move_data_aside(&backup_dir()), emit).await?;
    // Every member bootstraps the new cluster together: none joins an existing one.
    joined::clear(ctx.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four etcd members (a fixture of the config tests).
    fn spec() -> ClusterSpec {
        crate::config::parse_str(include_str!(
            "../../tests/fixtures/config/valid/four-etcd.yaml"
        ))
        .unwrap()
    }

    /// A replaced member's unit is the bootstrapping one with `existing` (and a journal line
    /// saying so); every other member's unit is untouched by the record.
    #[test]
    fn a_member_recorded_as_joined_renders_existing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let (spec, t) = (spec(), super::super::Templates::new());
        let unit = |host: &str| {
            let h = spec.hosts.iter().find(|h| h.name == host).unwrap();
            UnitInputs::of(&spec, &dir).unwrap().render(&t, &spec, h).unwrap()
        };
        let (before3, before2) = (unit("node3"), unit("node2"));
        assert!(before3.contains("  --initial-cluster-state=new \\\n"), "{before3}");
        assert!(!before3.contains("ExecStartPre"), "{before3}");
        assert!(before3.contains("Type=notify\nExecStart="), "{before3}");

        joined::record(&dir, "node3", &cluster_token(&spec, &dir), "/b").unwrap();
        let after3 = unit("node3");
        assert!(after3.contains("  --initial-cluster-state=existing \\\n"), "{after3}");
        let echo = "ExecStartPre=/bin/echo \"etcd member node3 starts with \
                    --initial-cluster-state=existing";
        assert!(after3.contains(echo), "{after3}");
        let lines = |u: &str| -> Vec<String> {
            u.lines()
                .filter(|l| !l.contains("initial-cluster-state") && !l.starts_with('#'))
                .map(String::from)
                .collect()
        };
        assert_eq!(lines(&before3), lines(&after3), "nothing else differs");
        assert_eq!(unit("node2"), before2, "the other members keep `new`");
    }
}

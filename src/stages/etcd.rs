//! The etcd stage: binaries, certificates, unit, data directory, start all members at once,
//! wait for health, then a health/status/member table. Its fixes: re-issue member certificates,
//! restart the members together, move stale data directories aside.

pub mod view;

use super::fix::{hosts_with, run_script_on, Emit, FixContext, FixDef};
use super::release::{install_steps, Release};
use super::templates::touch_restart_marker;
use super::{BuildCtx, Built, Health, RoleNeeds, StageDef, RETRY};
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Role};
use crate::plan::{HostSteps, RemoteFile, RetryPolicy, Step, StepAction, StepScope};
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
        role: Some(Role::Etcd),
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

/// etcdctl on a member, against itself, with the health-check client certificate: the one
/// rendering used by the health and report steps and by `kubewiz diagnose` (the catalog's
/// probes and manual commands are held to it by tests/catalog.rs).
pub fn etcdctl() -> String {
    format!(
        "/usr/local/bin/etcdctl {} --command-timeout=5s",
        etcdctl_tls_flags()
    )
}

/// The endpoint and TLS flags of [`etcdctl`].
pub fn etcdctl_tls_flags() -> String {
    format!(
        "--endpoints=https://127.0.0.1:{CLIENT_PORT} --cacert={PKI_DIR}/ca.crt \
         --cert={PKI_DIR}/healthcheck-client.crt --key={PKI_DIR}/healthcheck-client.key"
    )
}

/// `kubewiz diagnose --stage etcd`: healthy when this exits 0 on the member.
fn health_command() -> String {
    format!("{} endpoint health", etcdctl())
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, dir, t) = (ctx.spec, ctx.dir, ctx.templates);
    let members: Vec<_> = spec
        .hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Etcd))
        .collect();
    let initial_cluster = members
        .iter()
        .map(|h| format!("{}=https://{}:{PEER_PORT}", h.name, h.address))
        .collect::<Vec<_>>()
        .join(",");
    let pki = crate::pki::etcd_member_files_available(dir, spec);
    let token = cluster_token(spec, dir);
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
            restart_unit: Some(UNIT_NAME),
        },
    )?;
    let etcdctl = etcdctl();
    let start = t.script("etcd/start.sh", context! { unit => UNIT_NAME })?;
    let health = t.script(
        "etcd/health.sh",
        context! { etcdctl, wait_secs => HEALTH_WAIT_SECS },
    )?;
    let report = t.script("etcd/report.sh", context! { etcdctl })?;
    let data_dir = t.script("etcd/data_dir.sh", context! { data_dir => DATA_DIR, token })?;

    let mut hosts = vec![];
    for (i, h) in members.iter().enumerate() {
        let mut steps = install.clone();
        let (cert_files, cert_paths): (Vec<RemoteFile>, Vec<String>) = if pki {
            let files: Vec<RemoteFile> = crate::pki::files_for_host(dir, spec, &h.name)?
                .into_iter()
                .map(|(path, content, mode)| RemoteFile::inline(&path, mode, content))
                .collect();
            let paths = files.iter().map(|f| f.path.clone()).collect();
            (files, paths)
        } else {
            // `kubewiz plan` before the first apply: the PKI does not exist yet.
            let paths = crate::pki::etcd_member_remote_paths(dir)
                .into_iter()
                .map(|p| format!("{p} (created by apply)"))
                .collect();
            (vec![], paths)
        };
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
        let unit = t.render(
            "etcd/etcd.service",
            context! {
                cluster => spec.name, name => h.name, address => h.address,
                etcd_bin => "/usr/local/bin/etcd", data_dir => DATA_DIR, pki => PKI_DIR,
                initial_cluster, token, client_port => CLIENT_PORT, peer_port => PEER_PORT,
            },
        )?;
        steps.push(
            Step::new(
                "unit",
                "systemd unit etcd.service (Type=notify, Restart=on-failure)",
                StepAction::Files {
                    files: vec![RemoteFile::inline(UNIT, 0o644, unit)],
                    on_change: Some(format!(
                        "systemctl daemon-reload\n{}",
                        touch_restart_marker(UNIT_NAME)
                    )),
                },
            )
            .retry(RETRY),
        );
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
            "etcd {version} cluster of {} members with TLS",
            members.len()
        ),
        hosts,
    })
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
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "");
    let script = format!(
        "if [ -d {DATA_DIR} ]; then mv {DATA_DIR} {DATA_DIR}.kubewiz-backup-{stamp} && \
         echo \"moved {DATA_DIR} to {DATA_DIR}.kubewiz-backup-{stamp}\"; fi"
    );
    run_script_on(ctx, &members, &script, emit).await
}

//! The etcd stage: binaries, certificates, unit, data directory, start all members at once,
//! wait for health, then a health/status/member table.

use super::Templates;
use crate::cluster_dir::ClusterDir;
use crate::config::{BinariesSpec, ClusterSpec, Role};
use crate::plan::{
    FileSource, HostSteps, RemoteFile, RetryPolicy, Stage, Step, StepAction, StepScope,
};
use anyhow::{Context, Result};
use minijinja::context;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "etcd/etcd.service",
        include_str!("../../assets/templates/etcd/etcd.service"),
    ),
    (
        "etcd/install.sh",
        include_str!("../../assets/templates/etcd/install.sh"),
    ),
    (
        "etcd/data_dir.sh",
        include_str!("../../assets/templates/etcd/data_dir.sh"),
    ),
    (
        "etcd/start.sh",
        include_str!("../../assets/templates/etcd/start.sh"),
    ),
    (
        "etcd/health.sh",
        include_str!("../../assets/templates/etcd/health.sh"),
    ),
    (
        "etcd/report.sh",
        include_str!("../../assets/templates/etcd/report.sh"),
    ),
];

/// Where things live on an etcd member.
pub const PKI_DIR: &str = "/etc/etcd/pki";
pub const DATA_DIR: &str = "/var/lib/etcd";
const BUNDLE_DIR: &str = "/opt/kubewiz/bundle";
const UNIT: &str = "/etc/systemd/system/etcd.service";
/// How long members get to form a quorum before the health step fails.
const HEALTH_WAIT_SECS: u64 = 90;

const RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff: Duration::from_secs(1),
};

/// The release tarball's name and top folder, as etcd's releases lay them out.
fn release_dir(version: &str) -> String {
    format!("etcd-v{}-linux-amd64", version.trim_start_matches('v'))
}

pub fn build(spec: &ClusterSpec, dir: &ClusterDir, t: &Templates) -> Result<Stage> {
    let members: Vec<_> = spec
        .hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Etcd))
        .collect();
    let initial_cluster = members
        .iter()
        .map(|h| format!("{}=https://{}:2380", h.name, h.address))
        .collect::<Vec<_>>()
        .join(",");
    let pki = crate::pki::etcd_member_files_available(dir, spec);
    let token = cluster_token(spec, dir);
    let version = spec.versions.etcd.trim_start_matches('v').to_string();
    let rdir = release_dir(&version);
    let tarball_name = format!("{rdir}.tar.gz");
    let remote_tarball = format!("{BUNDLE_DIR}/{tarball_name}");

    let (source, url, bundle_file) = match &spec.binaries {
        BinariesSpec::Installed => ("installed", String::new(), None),
        BinariesSpec::Mirror { mirror_url } => (
            "mirror",
            format!("{}/{}", mirror_url.trim_end_matches('/'), tarball_name),
            None,
        ),
        BinariesSpec::Bundle { bundle_dir } => {
            let local = bundle_dir.join(&tarball_name);
            let sha = sha256_file(&local).with_context(|| {
                format!(
                    "binaries.bundle_dir: the etcd release tarball {} is missing or unreadable",
                    local.display()
                )
            })?;
            ("bundle", String::new(), Some((local, sha)))
        }
    };
    let install = t.script(
        "etcd/install.sh",
        context! { source, url, tarball => remote_tarball, dir => rdir, version },
    )?;
    let start = t.script("etcd/start.sh", context! {})?;
    let health = t.script(
        "etcd/health.sh",
        context! { pki => PKI_DIR, wait_secs => HEALTH_WAIT_SECS },
    )?;
    let report = t.script("etcd/report.sh", context! { pki => PKI_DIR })?;
    let data_dir = t.script("etcd/data_dir.sh", context! { data_dir => DATA_DIR, token })?;

    let mut hosts = vec![];
    for (i, h) in members.iter().enumerate() {
        let step = |name: &str,
                    description: &str,
                    action: StepAction,
                    writes: Vec<String>,
                    timeout: u64| {
            Step::new(name, description, action)
                .writes(writes)
                .retry(RETRY)
                .timeout_secs(timeout)
        };
        let script = |s: &str| StepAction::Script {
            script: s.to_string(),
            reports_result: true,
        };
        let mut steps = vec![];
        if let Some((local, sha256)) = &bundle_file {
            steps.push(step(
                "bundle",
                &format!("upload {tarball_name} from the bundle"),
                StepAction::Files {
                    files: vec![RemoteFile {
                        path: remote_tarball.clone(),
                        mode: 0o644,
                        source: FileSource::Local {
                            path: local.clone(),
                            sha256: sha256.clone(),
                        },
                    }],
                    on_change: None,
                },
                vec![],
                300,
            ));
        }
        steps.push(step(
            "install",
            &format!("etcd and etcdctl {version} in /usr/local/bin"),
            script(&install),
            vec![
                "/usr/local/bin/etcd".into(),
                "/usr/local/bin/etcdctl".into(),
            ],
            300,
        ));
        let cert_files = match &pki {
            true => crate::pki::files_for_host(dir, spec, &h.name)?
                .into_iter()
                .map(|(path, content, mode)| RemoteFile::inline(&path, mode, content))
                .collect(),
            // `kubewiz plan` before the first apply: the PKI does not exist yet.
            false => vec![],
        };
        let cert_paths: Vec<String> = if pki {
            cert_files
                .iter()
                .map(|f: &RemoteFile| f.path.clone())
                .collect()
        } else {
            [
                "ca.crt",
                "server.crt",
                "server.key",
                "peer.crt",
                "peer.key",
                "healthcheck-client.crt",
                "healthcheck-client.key",
            ]
            .iter()
            .map(|f| format!("{PKI_DIR}/{f} (created by apply)"))
            .collect()
        };
        steps.push(step(
            "certs",
            "the member's certificates (CA, server, peer, health-check client)",
            StepAction::Files {
                files: cert_files,
                on_change: Some(restart_marker()),
            },
            cert_paths,
            60,
        ));
        let unit = t.render(
            "etcd/etcd.service",
            context! {
                cluster => spec.name, name => h.name, address => h.address,
                etcd_bin => "/usr/local/bin/etcd", data_dir => DATA_DIR, pki => PKI_DIR,
                initial_cluster, token,
            },
        )?;
        steps.push(step(
            "unit",
            "systemd unit etcd.service (Type=notify, Restart=on-failure)",
            StepAction::Files {
                files: vec![RemoteFile::inline(UNIT, 0o644, unit)],
                on_change: Some(format!("systemctl daemon-reload\n{}", restart_marker())),
            },
            vec![],
            60,
        ));
        steps.push(step(
            "data-dir",
            &format!("{DATA_DIR} empty or this cluster's own"),
            script(&data_dir),
            vec![format!("{DATA_DIR}/kubewiz-cluster")],
            60,
        ));
        steps.push(
            step(
                "start",
                "start every member at once (--no-block)",
                script(&start),
                vec![],
                60,
            )
            .after_barrier(),
        );
        steps.push(
            step(
                "health",
                &format!("wait up to {HEALTH_WAIT_SECS} s for a healthy member"),
                script(&health),
                vec![],
                HEALTH_WAIT_SECS + 30,
            )
            .after_barrier(),
        );
        // The health script already waits with a deadline: a second attempt would only double
        // the time to the diagnosis.
        if let Some(health) = steps.last_mut() {
            health.retry = RetryPolicy::ONCE;
        }
        if i == 0 {
            steps.push(
                step(
                    "report",
                    "endpoint health, status and members as tables",
                    script(&report),
                    vec![],
                    60,
                )
                .scope(StepScope::Once),
            );
        }
        hosts.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Stage {
        name: "etcd".into(),
        units: vec!["etcd".into()],
        description: format!(
            "etcd {version} cluster of {} members with TLS",
            members.len()
        ),
        hosts,
    })
}

fn restart_marker() -> String {
    "mkdir -p /run/kubewiz && touch /run/kubewiz/etcd.restart".to_string()
}

/// The initial-cluster token: the cluster's name plus its etcd CA, so a data directory left by
/// another cluster (or by this one before its PKI was replaced) is recognised as stale.
fn cluster_token(spec: &ClusterSpec, dir: &ClusterDir) -> String {
    let ca = std::fs::read(crate::pki::etcd_ca_cert_path(dir)).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(&ca));
    format!("{}-etcd-{}", spec.name, &digest[..12])
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

//! Release binaries into /usr/local/bin, from wherever the cluster file says they come from
//! (`binaries.source`): already installed (checked and linked), a local bundle (uploaded, then
//! unpacked on the host) or a mirror (downloaded by the host). One template for every release
//! tarball kubewiz installs: etcd, the Kubernetes binaries, flannel and CNI plugins.

use super::{Templates, RETRY};
use crate::config::{BinariesSpec, ClusterSpec};
use crate::plan::{FileSource, RemoteFile, Step, StepAction};
use anyhow::{Context, Result};
use minijinja::context;
use sha2::{Digest, Sha256};

/// Where uploaded and downloaded tarballs are kept on a host.
pub const BUNDLE_DIR: &str = "/opt/kubewiz/bundle";
/// Where an install leaves its stamp: what the tarball and the binaries it put in place were,
/// so a rerun does not unpack a tarball again while neither changed.
pub const STAMP_DIR: &str = "/opt/kubewiz/installed";
const TEMPLATE: &str = "common/install_release.sh";
/// Uploads and unpacking of big tarballs get longer than the default minute.
const TIMEOUT_SECS: u64 = 300;

/// One release tarball and what to take from it.
pub struct Release<'a> {
    /// The software's name in messages (`etcd`).
    pub name: &'a str,
    /// The version the cluster file asks for, without a leading `v`.
    pub version: &'a str,
    /// The tarball's file name (`etcd-v3.4.23-linux-amd64.tar.gz`).
    pub tarball: String,
    /// The folder inside the tarball that holds the binaries ("" for none).
    pub top_dir: String,
    /// The binaries to install; the first is asked for its `--version` after the install.
    pub binaries: &'a [&'a str],
    /// A shell command printing the installed version, compared with `version` when the
    /// binaries are already installed (`binaries.source: installed`).
    pub version_cmd: &'a str,
    /// The units whose restart markers are left when a binary changed.
    pub restart_units: &'a [&'a str],
}

/// The Kubernetes server release tarball, as Kubernetes' releases name it: the control plane
/// and join stages each unpack their own binaries from it.
pub fn kubernetes_server<'a>(
    version: &'a str,
    binaries: &'a [&'a str],
    version_cmd: &'a str,
    restart_units: &'a [&'a str],
) -> Release<'a> {
    Release {
        name: "kubernetes",
        version,
        tarball: "kubernetes-server-linux-amd64.tar.gz".into(),
        top_dir: "kubernetes/server/bin".into(),
        binaries,
        version_cmd,
        restart_units,
    }
}

/// Where release binaries go unless a release says otherwise.
pub const BIN_DIR: &str = "/usr/local/bin";

/// The steps that put the release's binaries in place: `bundle` (only with a bundle: upload the
/// tarball, compared by sha256 first) and `install`.
pub fn install_steps(spec: &ClusterSpec, t: &Templates, r: &Release<'_>) -> Result<Vec<Step>> {
    install_steps_into(spec, t, r, BIN_DIR)
}

/// [`install_steps`] into another directory (`/opt/cni/bin` for the CNI plugins).
pub fn install_steps_into(
    spec: &ClusterSpec,
    t: &Templates,
    r: &Release<'_>,
    bin_dir: &str,
) -> Result<Vec<Step>> {
    let remote_tarball = format!("{BUNDLE_DIR}/{}", r.tarball);
    let mut steps = vec![];
    let (source, url) = match &spec.binaries {
        BinariesSpec::Installed => ("installed", String::new()),
        BinariesSpec::Mirror { mirror_url } => (
            "mirror",
            format!("{}/{}", mirror_url.trim_end_matches('/'), r.tarball),
        ),
        BinariesSpec::Bundle { bundle_dir } => {
            let local = bundle_dir.join(&r.tarball);
            let sha256 = sha256_file(&local).with_context(|| {
                format!(
                    "binaries.bundle_dir: the {} release tarball {} is missing or unreadable",
                    r.name,
                    local.display()
                )
            })?;
            let upload = StepAction::Files {
                files: vec![RemoteFile {
                    path: remote_tarball.clone(),
                    mode: 0o644,
                    source: FileSource::Local {
                        path: local,
                        sha256,
                    },
                }],
                on_change: None,
            };
            steps.push(
                Step::new(
                    "bundle",
                    &format!("upload {} from the bundle", r.tarball),
                    upload,
                )
                .retry(RETRY)
                .timeout_secs(TIMEOUT_SECS),
            );
            ("bundle", String::new())
        }
    };
    let prefix = match r.top_dir.as_str() {
        "" => String::new(),
        d => format!("{d}/"),
    };
    // One stamp per tarball and set of binaries (the Kubernetes tarball gives the masters and
    // the nodes different ones).
    let stamp = format!("{STAMP_DIR}/{}--{}", r.tarball, r.binaries.join(","));
    let script = t.script(
        TEMPLATE,
        context! {
            name => r.name, version => r.version, source, url, tarball => remote_tarball,
            prefix, binaries => r.binaries, listing => and_list(r.binaries),
            version_cmd => r.version_cmd, restart_units => r.restart_units, bin_dir, stamp,
        },
    )?;
    steps.push(
        Step::script(
            "install",
            &format!("{} {} in {bin_dir}", and_list(r.binaries), r.version),
            script,
        )
        .writes(r.binaries.iter().map(|b| format!("{bin_dir}/{b}")))
        .retry(RETRY)
        .timeout_secs(TIMEOUT_SECS),
    );
    Ok(steps)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub(super) fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        assert_eq!(and_list(&["etcd"]), "etcd");
        assert_eq!(and_list(&["etcd", "etcdctl"]), "etcd and etcdctl");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}

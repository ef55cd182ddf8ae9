//! The cluster's PKI, kept in the cluster directory in kubeadm's layout and never regenerated
//! silently.
//!
//! ```text
//! <cluster dir>/pki/
//!   ca.crt ca.key                      cluster CA (10 years)
//!   etcd/ca.crt etcd/ca.key            etcd CA
//!   front-proxy-ca.crt .key            front-proxy (aggregation layer) CA
//!   sa.key sa.pub                      service-account token signing pair
//!   etcd/<host>/server.crt .key        per etcd member: SANs its IP, its name, 127.0.0.1, localhost
//!   etcd/<host>/peer.crt .key          the same SANs; serverAuth + clientAuth
//!   etcd/healthcheck-client.crt .key   etcdctl on the members
//!   apiserver-etcd-client.crt .key
//!   flannel-etcd-client.crt .key       flanneld (cni.plugin: flannel only)
//!   apiserver.crt .key                 SANs: kubernetes.default.svc.*, service IP, masters, VIP, extra
//!   apiserver-kubelet-client.crt .key  O=system:masters
//!   front-proxy-client.crt .key
//!   admin, controller-manager, scheduler, kube-proxy .crt .key   clients of the kubeconfigs
//!   manifest.json                      what each certificate was issued from
//!   backup/<UTC timestamp>/...         files replaced by a re-issue, same paths
//! <cluster dir>/kubeconfigs/
//!   admin.conf controller-manager.conf scheduler.conf kube-proxy.conf
//! ```
//!
//! Nothing per node: nodes join by kubelet TLS bootstrapping (a bootstrap token), so each
//! kubelet gets its client certificate from the API server's CSR signer (the cluster CA, used
//! by the controller-manager) at join time, and its key never leaves the node. Directories
//! made by earlier versions may hold `pki/kubelet/<node>.crt .key` and
//! `kubeconfigs/kubelet-<node>.conf`: like every file kubewiz no longer asks for (a removed
//! host's), they are reported `orphaned` by [`ensure`], warned about by [`check()`], and left in
//! place; nothing is ever deleted.
//!
//! Keys are 0600, certificates 0644, kubeconfigs 0600; every file is written atomically. Keys
//! are RSA-2048 unless the cluster file says `pki: { key_algorithm: ecdsa }` (P-256); leaves
//! are valid one year. A CA already in the directory is used as it is, whatever made it.
//! Leaves are compared with the cluster file on every [`ensure`]: only those that differ are
//! re-issued, from the same CA, after their old files were moved to the backup folder; the
//! report says which and why.

mod check;
mod ensure;
mod inspect;
mod issue;
mod kubeconfig;
mod layout;
mod master;
mod report;
mod store;
pub mod tls_check;

pub use check::{check, list, CertRow, CheckFinding, CheckReport};
pub use inspect::{format_time, parse_cert_der, parse_cert_pem, rfc3339, CertInfo};
pub use layout::{
    apiserver_url, kubeconfigs, leaves, CaKind, KubeconfigSpec, LeafSpec, San, Usage,
    CA_VALIDITY_DAYS, LEAF_VALIDITY_DAYS,
};
pub use master::{
    master_files, master_files_available, master_remote_paths, KUBERNETES_DIR, MASTER_PKI_DIR,
};
pub use report::{Change, PkiReport, ReportEntry};
pub use store::{kubeconfig_dir, pki_dir, Manifest};

use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Role};
use anyhow::{anyhow, bail, Context, Result};
use ensure::{Cas, Decision};
use std::path::PathBuf;
use store::Store;
use time::OffsetDateTime;

/// Where an etcd member keeps its certificates.
pub const ETCD_PKI_DIR: &str = "/etc/etcd/pki";

/// Creates what is missing and re-issues what the cluster file no longer matches; see the
/// module documentation. Errors (naming the file) on a CA or service-account key that cannot
/// be used as it is: kubewiz never replaces those by itself.
pub fn ensure(dir: &ClusterDir, spec: &ClusterSpec) -> Result<PkiReport> {
    let now = OffsetDateTime::now_utc();
    let mut store = Store::open_locked(dir, now)?;
    ensure::ensure(&mut store, spec, now, ensure::Scope::All)
}

/// [`ensure`] for the etcd part only: the etcd CA, every member's server and peer
/// certificates, the health-check and API-server clients. What the etcd stage needs before
/// the rest of the PKI exists.
pub fn ensure_etcd(dir: &ClusterDir, spec: &ClusterSpec) -> Result<PkiReport> {
    let now = OffsetDateTime::now_utc();
    let mut store = Store::open_locked(dir, now)?;
    ensure::ensure(&mut store, spec, now, ensure::Scope::Etcd)
}

/// Re-issues one etcd member's server and peer certificates from the existing etcd CA, with
/// the SANs the cluster file gives it, whether or not they looked wrong (the auto-fix for a
/// member certificate missing its IP). The old files go to the backup folder. The etcd CA must
/// exist already.
pub fn reissue_etcd_member(dir: &ClusterDir, spec: &ClusterSpec, host: &str) -> Result<PkiReport> {
    let h = etcd_member(spec, host)?;
    let sans = layout::etcd_member_sans(h)?;
    replace_member(dir, spec, h, sans, |reasons| {
        let mut r = vec!["re-issued on request".to_string()];
        r.extend(reasons);
        r
    })
}

/// **For fault injection in tests and the lab only.** Replaces `host`'s etcd server and peer
/// certificates with ones carrying exactly `sans` (IP addresses or DNS names), signed by the
/// real etcd CA, so members reject each other the way a hand-made PKI that forgot an address
/// does. The old files go to the backup folder. A later [`ensure`] sees the SANs differ from
/// the cluster file and re-issues them; inject after it (or upload [`files_for_host`] right
/// away).
pub fn issue_etcd_member_with_sans<S: AsRef<str>>(
    dir: &ClusterDir,
    spec: &ClusterSpec,
    host: &str,
    sans: &[S],
) -> Result<PkiReport> {
    let h = etcd_member(spec, host)?;
    let sans: Vec<San> = sans
        .iter()
        .map(|s| San::parse(s.as_ref()))
        .collect::<Result<_>>()?;
    let listed = sans
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    replace_member(dir, spec, h, sans, |_| {
        vec![format!("fault injection: SANs set to [{listed}]")]
    })
}

fn etcd_member<'a>(spec: &'a ClusterSpec, host: &str) -> Result<&'a crate::config::HostSpec> {
    let h = layout::host(spec, host)?;
    if !h.roles.contains(&Role::Etcd) {
        bail!(
            "host {host} is not an etcd member (its roles: {})",
            roles(h)
        );
    }
    Ok(h)
}

fn roles(h: &crate::config::HostSpec) -> String {
    h.roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn replace_member(
    dir: &ClusterDir,
    spec: &ClusterSpec,
    h: &crate::config::HostSpec,
    sans: Vec<San>,
    reasons: impl Fn(Vec<String>) -> Vec<String>,
) -> Result<PkiReport> {
    let now = OffsetDateTime::now_utc();
    let mut store = Store::open_locked(dir, now)?;
    let mut manifest = store.load_manifest()?;
    let alg = spec.pki.key_algorithm;
    let ca = ensure::load_ca(&store, CaKind::Etcd, now)?.ok_or_else(|| {
        anyhow!(
            "there is no etcd CA ({} is missing); run `kubewiz certs generate` first",
            store.show(&store.crt(CaKind::Etcd.id()))
        )
    })?;
    let mut work = vec![];
    for leaf in layout::etcd_member_leaves(h, sans) {
        let why = match std::fs::read(store.crt(&leaf.id))
            .ok()
            .and_then(|pem| parse_cert_pem(&pem).ok())
        {
            Some(info) => ensure::differences(&leaf, &info, &ca, alg, now, &store),
            None => vec![],
        };
        work.push((leaf, Decision::Reissue(reasons(why))));
    }
    let mut cas = Cas::new();
    cas.insert(CaKind::Etcd, ca);
    let mut report = PkiReport::default();
    ensure::replace_leaves(&mut store, &mut manifest, &mut report, work, &cas, alg, now)?;
    store.save_manifest(&manifest)?;
    report.backup = store.backup_dir().map(|p| p.to_path_buf());
    Ok(report)
}

/// The files an etcd member needs, and only those, as (remote path, bytes, mode): under
/// [`ETCD_PKI_DIR`] the etcd CA certificate (not its key), the member's server and peer pairs,
/// and the health-check client pair (etcdctl on the member). Errors when `host` is not an etcd
/// member or a file is missing (run [`ensure`] first).
pub fn files_for_host(
    dir: &ClusterDir,
    spec: &ClusterSpec,
    host: &str,
) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let h = etcd_member(spec, host)?;
    let store = Store::open(dir, OffsetDateTime::now_utc());
    read_sources(&store, etcd_member_sources(&store, &h.name), ETCD_PKI_DIR)
}

/// The bytes of each (local path, remote name, mode), as (`remote_dir`/name, bytes, mode).
fn read_sources(
    store: &Store,
    sources: Vec<(PathBuf, &'static str, u32)>,
    remote_dir: &str,
) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let mut out = vec![];
    for (local, remote, mode) in sources {
        let bytes = store.read(&local)?.ok_or_else(|| {
            anyhow!(
                "{} is missing; run `kubewiz certs generate -f <cluster file>` first",
                store.show(&local)
            )
        })?;
        out.push((format!("{remote_dir}/{remote}"), bytes, mode));
    }
    Ok(out)
}

/// The remote paths [`files_for_host`] hands a member, without reading anything (what
/// `kubewiz plan` shows before the PKI exists).
pub fn etcd_member_remote_paths(dir: &ClusterDir) -> Vec<String> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    // The host only picks the local files; the remote names are the same for every member.
    etcd_member_sources(&store, "member")
        .into_iter()
        .map(|(_, remote, _)| format!("{ETCD_PKI_DIR}/{remote}"))
        .collect()
}

/// (local path, name under /etc/etcd/pki, mode) of what a member gets.
fn etcd_member_sources(store: &Store, host: &str) -> Vec<(PathBuf, &'static str, u32)> {
    use store::{CERT_MODE, KEY_MODE};
    let member = |kind: &str| format!("etcd/{host}/{kind}");
    vec![
        (store.crt(CaKind::Etcd.id()), "ca.crt", CERT_MODE),
        (store.crt(&member("server")), "server.crt", CERT_MODE),
        (store.key(&member("server")), "server.key", KEY_MODE),
        (store.crt(&member("peer")), "peer.crt", CERT_MODE),
        (store.key(&member("peer")), "peer.key", KEY_MODE),
        (
            store.crt("etcd/healthcheck-client"),
            "healthcheck-client.crt",
            CERT_MODE,
        ),
        (
            store.key("etcd/healthcheck-client"),
            "healthcheck-client.key",
            KEY_MODE,
        ),
    ]
}

/// Whether every file [`files_for_host`] hands out exists for every etcd member (false before
/// the first [`ensure`]: `kubewiz plan` then shows the paths only).
pub fn etcd_member_files_available(dir: &ClusterDir, spec: &ClusterSpec) -> bool {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    spec.hosts_with_role(Role::Etcd).iter().all(|h| {
        etcd_member_sources(&store, &h.name)
            .iter()
            .all(|(p, _, _)| p.is_file())
    })
}

/// Where a flannel host keeps the etcd CA and flanneld's client pair.
pub const FLANNEL_PKI_DIR: &str = "/etc/flannel/pki";

/// What a flannel host needs to reach etcd, as (remote path, bytes, mode) under
/// [`FLANNEL_PKI_DIR`]: the etcd CA certificate (not its key) and flanneld's client pair.
/// Errors naming the file when one is missing (run [`ensure`] first).
pub fn flannel_files(dir: &ClusterDir) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    read_sources(&store, flannel_sources(&store), FLANNEL_PKI_DIR)
}

/// The remote paths of [`flannel_files`], and whether every local file exists (false before
/// the first [`ensure`]: `kubewiz plan` then shows the paths only).
pub fn flannel_remote_paths(dir: &ClusterDir) -> (Vec<String>, bool) {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    let sources = flannel_sources(&store);
    let available = sources.iter().all(|(p, _, _)| p.is_file());
    let paths = sources
        .into_iter()
        .map(|(_, remote, _)| format!("{FLANNEL_PKI_DIR}/{remote}"))
        .collect();
    (paths, available)
}

fn flannel_sources(store: &Store) -> Vec<(PathBuf, &'static str, u32)> {
    use store::{CERT_MODE, KEY_MODE};
    let leaf = layout::FLANNEL_ETCD_CLIENT;
    vec![
        (store.crt(CaKind::Etcd.id()), "ca.crt", CERT_MODE),
        (store.crt(leaf), "flanneld.crt", CERT_MODE),
        (store.key(leaf), "flanneld.key", KEY_MODE),
    ]
}

/// `<cluster dir>/pki/etcd/ca.crt`.
pub fn etcd_ca_cert_path(dir: &ClusterDir) -> PathBuf {
    pki_dir(dir).join("etcd").join("ca.crt")
}

/// `<cluster dir>/pki/etcd/healthcheck-client.{crt,key}`: the client identity that checks
/// members (on the members with etcdctl, from the control machine through a tunnel).
pub fn etcd_healthcheck_client_paths(dir: &ClusterDir) -> (PathBuf, PathBuf) {
    let etcd = pki_dir(dir).join("etcd");
    (
        etcd.join("healthcheck-client.crt"),
        etcd.join("healthcheck-client.key"),
    )
}

/// `<cluster dir>/kubeconfigs/admin.conf`.
pub fn admin_kubeconfig_path(dir: &ClusterDir) -> PathBuf {
    kubeconfig_dir(dir).join("admin.conf")
}

/// The manifest as last written (`pki/manifest.json`), empty when there is none.
pub fn manifest(dir: &ClusterDir) -> Result<Manifest> {
    Store::open(dir, OffsetDateTime::now_utc())
        .load_manifest()
        .context("reading the PKI manifest")
}

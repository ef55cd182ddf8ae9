//! What a master gets from the cluster directory's PKI, and only that: the files kube-apiserver,
//! kube-controller-manager, kube-scheduler and kubectl on the master read. No etcd member
//! certificate, no front-proxy CA key, no kube-proxy kubeconfig.

use super::store::{Store, CERT_MODE, KEY_MODE, KUBECONFIG_MODE};
use super::CaKind;
use crate::cluster_dir::ClusterDir;
use anyhow::{anyhow, Result};
use std::path::PathBuf;
use time::OffsetDateTime;

/// Where a master keeps its kubeconfigs (and the unit files' `--kubeconfig`).
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// Where a master keeps its certificates and keys.
pub const MASTER_PKI_DIR: &str = "/etc/kubernetes/pki";

/// (local path, remote path, mode) of one file a host gets.
pub(super) type Source = (PathBuf, String, u32);

/// What a master gets: the cluster CA with its key (the controller-manager's CSR signer signs
/// kubelet certificates with it), the API server's serving and kubelet-client pairs, the
/// front-proxy CA certificate and client pair, the etcd CA certificate and the API server's
/// etcd client pair, the service-account pair, and the admin, controller-manager and scheduler
/// kubeconfigs.
fn master_sources(store: &Store) -> Vec<Source> {
    let pki = |name: &str| format!("{MASTER_PKI_DIR}/{name}");
    let pair = |id: &str| {
        [
            (store.crt(id), pki(&format!("{id}.crt")), CERT_MODE),
            (store.key(id), pki(&format!("{id}.key")), KEY_MODE),
        ]
    };
    let mut out = vec![];
    out.extend(pair(CaKind::Cluster.id()));
    out.extend(pair("apiserver"));
    out.extend(pair("apiserver-kubelet-client"));
    let fp_ca = CaKind::FrontProxy.id();
    out.push((store.crt(fp_ca), pki(&format!("{fp_ca}.crt")), CERT_MODE));
    out.extend(pair("front-proxy-client"));
    let etcd_ca = CaKind::Etcd.id();
    out.push((
        store.crt(etcd_ca),
        pki(&format!("{etcd_ca}.crt")),
        CERT_MODE,
    ));
    out.extend(pair("apiserver-etcd-client"));
    out.push((store.pki().join("sa.key"), pki("sa.key"), KEY_MODE));
    out.push((store.pki().join("sa.pub"), pki("sa.pub"), CERT_MODE));
    for conf in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        out.push((
            store.kubeconfig(conf),
            format!("{KUBERNETES_DIR}/{conf}"),
            KUBECONFIG_MODE,
        ));
    }
    out
}

/// The files a master needs, as (remote path, bytes, mode). Errors naming the first missing
/// file (run `kubewiz certs generate` or `apply`, which creates the PKI first).
pub fn master_files(dir: &ClusterDir) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    read_sources(&store, master_sources(&store))
}

/// The remote paths [`master_files`] hands out, without reading anything (`kubewiz plan` before
/// the PKI exists).
pub fn master_remote_paths(dir: &ClusterDir) -> Vec<String> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    master_sources(&store)
        .into_iter()
        .map(|(_, r, _)| r)
        .collect()
}

/// Whether every file [`master_files`] hands out exists.
pub fn master_files_available(dir: &ClusterDir) -> bool {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    master_sources(&store).iter().all(|(p, _, _)| p.is_file())
}

/// The bytes of each source, as (remote path, bytes, mode); errors on the first missing file.
pub(super) fn read_sources(
    store: &Store,
    sources: Vec<Source>,
) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let mut out = vec![];
    for (local, remote, mode) in sources {
        let bytes = store.read(&local)?.ok_or_else(|| {
            anyhow!(
                "{} is missing; run `kubewiz certs generate -f <cluster file>` first",
                store.show(&local)
            )
        })?;
        out.push((remote, bytes, mode));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A master gets exactly what its three daemons and kubectl read, keys and kubeconfigs 0600;
    /// nothing of etcd's members, no front-proxy CA key, no kube-proxy kubeconfig.
    #[test]
    fn a_master_gets_only_what_it_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("cluster.yaml");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/config/valid/minimal.yaml"
            ),
            &file,
        )
        .unwrap();
        let dir = ClusterDir::of_cluster_file(&file);
        let spec = crate::config::parse_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(!master_files_available(&dir));
        assert!(master_files(&dir)
            .unwrap_err()
            .to_string()
            .contains("is missing"));
        crate::pki::ensure(&dir, &spec).unwrap();
        assert!(master_files_available(&dir));
        let files = master_files(&dir).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, master_remote_paths(&dir));
        let names: Vec<&str> = paths
            .iter()
            .map(|p| p.strip_prefix("/etc/kubernetes/").unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "pki/ca.crt",
                "pki/ca.key",
                "pki/apiserver.crt",
                "pki/apiserver.key",
                "pki/apiserver-kubelet-client.crt",
                "pki/apiserver-kubelet-client.key",
                "pki/front-proxy-ca.crt",
                "pki/front-proxy-client.crt",
                "pki/front-proxy-client.key",
                "pki/etcd/ca.crt",
                "pki/apiserver-etcd-client.crt",
                "pki/apiserver-etcd-client.key",
                "pki/sa.key",
                "pki/sa.pub",
                "admin.conf",
                "controller-manager.conf",
                "scheduler.conf",
            ]
        );
        for (path, bytes, mode) in &files {
            let private = path.ends_with(".key") || path.ends_with(".conf");
            assert_eq!(*mode, if private { 0o600 } else { 0o644 }, "{path}");
            assert!(!bytes.is_empty(), "{path}");
        }
    }
}

//! What a master gets from the cluster directory's PKI, and only that: the files kube-apiserver,
//! kube-controller-manager, kube-scheduler and kubectl on the master read. No etcd member
//! certificate, no front-proxy CA key, no kube-proxy kubeconfig.

use super::store::{Store, CERT_MODE, KEY_MODE, KUBECONFIG_MODE};
use super::CaKind;
use crate::cluster_dir::ClusterDir;
use anyhow::Result;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Where a master keeps its kubeconfigs (and the unit files' `--kubeconfig`).
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// Where a master keeps its certificates and keys.
pub const MASTER_PKI_DIR: &str = "/etc/kubernetes/pki";

/// What a master gets, as (local path, name under [`KUBERNETES_DIR`], mode): the cluster CA
/// with its key (the controller-manager's CSR signer signs kubelet certificates with it), the
/// API server's serving and kubelet-client pairs, the front-proxy CA certificate and client
/// pair, the etcd CA certificate and the API server's etcd client pair, the service-account
/// pair, and the admin, controller-manager and scheduler kubeconfigs.
fn master_sources(store: &Store) -> Vec<(PathBuf, &'static str, u32)> {
    let (ca, fp_ca, etcd_ca) = (
        CaKind::Cluster.id(),
        CaKind::FrontProxy.id(),
        CaKind::Etcd.id(),
    );
    vec![
        (store.crt(ca), "pki/ca.crt", CERT_MODE),
        (store.key(ca), "pki/ca.key", KEY_MODE),
        (store.crt("apiserver"), "pki/apiserver.crt", CERT_MODE),
        (store.key("apiserver"), "pki/apiserver.key", KEY_MODE),
        (
            store.crt("apiserver-kubelet-client"),
            "pki/apiserver-kubelet-client.crt",
            CERT_MODE,
        ),
        (
            store.key("apiserver-kubelet-client"),
            "pki/apiserver-kubelet-client.key",
            KEY_MODE,
        ),
        (store.crt(fp_ca), "pki/front-proxy-ca.crt", CERT_MODE),
        (
            store.crt("front-proxy-client"),
            "pki/front-proxy-client.crt",
            CERT_MODE,
        ),
        (
            store.key("front-proxy-client"),
            "pki/front-proxy-client.key",
            KEY_MODE,
        ),
        (store.crt(etcd_ca), "pki/etcd/ca.crt", CERT_MODE),
        (
            store.crt("apiserver-etcd-client"),
            "pki/apiserver-etcd-client.crt",
            CERT_MODE,
        ),
        (
            store.key("apiserver-etcd-client"),
            "pki/apiserver-etcd-client.key",
            KEY_MODE,
        ),
        (store.pki().join("sa.key"), "pki/sa.key", KEY_MODE),
        (store.pki().join("sa.pub"), "pki/sa.pub", CERT_MODE),
        (
            store.kubeconfig("admin.conf"),
            "admin.conf",
            KUBECONFIG_MODE,
        ),
        (
            store.kubeconfig("controller-manager.conf"),
            "controller-manager.conf",
            KUBECONFIG_MODE,
        ),
        (
            store.kubeconfig("scheduler.conf"),
            "scheduler.conf",
            KUBECONFIG_MODE,
        ),
    ]
}

/// The files a master needs, as (remote path, bytes, mode). Errors naming the first missing
/// file (run `kubewiz certs generate` or `apply`, which creates the PKI first).
pub fn master_files(dir: &ClusterDir) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    super::read_sources(&store, master_sources(&store), KUBERNETES_DIR)
}

/// The remote paths [`master_files`] hands out, without reading anything (`kubewiz plan` before
/// the PKI exists).
pub fn master_remote_paths(dir: &ClusterDir) -> Vec<String> {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    master_sources(&store)
        .into_iter()
        .map(|(_, name, _)| format!("{KUBERNETES_DIR}/{name}"))
        .collect()
}

/// Whether every file [`master_files`] hands out exists.
pub fn master_files_available(dir: &ClusterDir) -> bool {
    let store = Store::open(dir, OffsetDateTime::now_utc());
    master_sources(&store).iter().all(|(p, _, _)| p.is_file())
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

//! CoreDNS, the cluster's DNS: kubewiz's own manifest (assets/templates/addons/coredns.yaml, in
//! the shape of CoreDNS's Kubernetes deployment as kubeadm deploys it) with the service at the
//! cluster DNS address, the cluster domain in its Corefile, and the image kubeadm pins for the
//! Kubernetes version: the bundle's reference for it when the bundle carries it.

use crate::addons::images;
use crate::config::{versions, BinariesSpec, ClusterSpec};
use anyhow::{anyhow, Result};
use minijinja::context;

/// The Deployment (and ConfigMap) name; its pods are labelled [`SELECTOR`].
pub const NAME: &str = "coredns";
pub const SELECTOR: &str = "k8s-app=kube-dns";
/// As kubeadm: two replicas, so DNS survives one node.
const REPLICAS: u32 = 2;

/// The image CoreDNS runs, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The reference the manifest uses: the bundle's when it has the image.
    pub reference: String,
    /// The bundle's archive holding it (`images/coredns-1.7.0.tar`), or none: pulled by each
    /// node.
    pub archive: Option<String>,
}

/// The CoreDNS image for the cluster file's Kubernetes version, matched against the bundle's
/// images (any registry of the same repository and tag).
pub fn image(spec: &ClusterSpec) -> Result<Image> {
    let wanted = versions::coredns_image(&spec.versions.kubernetes);
    let in_bundle = match &spec.binaries {
        BinariesSpec::Bundle { bundle_dir } => images::in_bundle(bundle_dir)?,
        _ => vec![],
    };
    Ok(match images::matching(&in_bundle, wanted) {
        Some((archive, reference)) => Image {
            reference: reference.to_string(),
            archive: Some(format!(
                "{}/{}",
                images::IMAGES_DIR,
                archive.file.file_name().unwrap_or_default().to_string_lossy()
            )),
        },
        None => Image {
            reference: wanted.to_string(),
            archive: None,
        },
    })
}

/// The version part of an image reference (`1.7.0`, `v1.8.0`).
pub fn tag(reference: &str) -> &str {
    images::without_registry(reference)
        .rsplit_once(':')
        .map_or("latest", |(_, t)| t)
}

/// The manifest: ServiceAccount, ClusterRole and binding, the Corefile's ConfigMap, the
/// Deployment and the kube-dns Service.
pub fn manifest(t: &crate::stages::Templates, spec: &ClusterSpec, image: &Image) -> Result<String> {
    let dns_ip = spec.cluster_dns_ip().ok_or_else(|| {
        anyhow!("network.cluster_dns: no valid cluster DNS address for CoreDNS's service")
    })?;
    t.render(
        "addons/coredns.yaml",
        context! {
            cluster => spec.name, version => tag(&image.reference), image => image.reference,
            dns_ip => dns_ip.to_string(), domain => spec.network.dns_domain.to_ascii_lowercase(),
            replicas => REPLICAS,
        },
    )
}

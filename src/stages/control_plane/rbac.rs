//! The cluster role bindings kubewiz's cluster needs, as a manifest applied with kubectl:
//! the API server's kubelet client may use the kubelet API (catalog A4), bootstrapping kubelets
//! may ask for their certificate (K1), and those requests and the nodes' renewals are approved
//! by the controller-manager (CSR auto-approval).

use crate::config::ClusterSpec;
use anyhow::{anyhow, Result};
use minijinja::context;

/// The group of kubewiz's bootstrap tokens (`auth-extra-groups`): what the join stage's
/// kubelets authenticate as before they have a certificate.
pub const BOOTSTRAP_GROUP: &str = "system:bootstrappers:kubewiz";

/// One ClusterRoleBinding of one subject.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Binding {
    pub name: &'static str,
    pub role: String,
    /// `User` or `Group`.
    pub kind: &'static str,
    pub subject: String,
}

/// kubewiz's bindings, named `kubewiz:*`.
pub fn bindings(spec: &ClusterSpec) -> Result<Vec<Binding>> {
    // The user the API server presents to kubelets: its kubelet-client certificate's CN.
    let kubelet_client = crate::pki::leaves(spec)?
        .into_iter()
        .find(|l| l.id == "apiserver-kubelet-client")
        .ok_or_else(|| anyhow!("the PKI layout has no apiserver-kubelet-client"))?
        .common_name;
    let csr = "system:certificates.k8s.io:certificatesigningrequests";
    Ok(vec![
        Binding {
            name: "kubewiz:apiserver-kubelet-api-admin",
            role: "system:kubelet-api-admin".into(),
            kind: "User",
            subject: kubelet_client,
        },
        Binding {
            name: "kubewiz:node-bootstrapper",
            role: "system:node-bootstrapper".into(),
            kind: "Group",
            subject: BOOTSTRAP_GROUP.into(),
        },
        Binding {
            name: "kubewiz:node-autoapprove-bootstrap",
            role: format!("{csr}:nodeclient"),
            kind: "Group",
            subject: BOOTSTRAP_GROUP.into(),
        },
        Binding {
            name: "kubewiz:node-autoapprove-certificate-rotation",
            role: format!("{csr}:selfnodeclient"),
            kind: "Group",
            subject: "system:nodes".into(),
        },
    ])
}

/// The manifest of [`bindings`].
pub fn manifest(t: &crate::stages::Templates, spec: &ClusterSpec) -> Result<String> {
    t.render(
        "control_plane/rbac.yaml",
        context! { cluster => spec.name, bindings => bindings(spec)? },
    )
}

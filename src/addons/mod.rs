//! Add-on manifests: Kubernetes objects kubewiz applies once the API answers, taken from their
//! projects' releases (never re-typed here) and adjusted through the knobs those projects
//! document: Calico. CoreDNS is kubewiz's own manifest (src/stages/addons/coredns.rs); the addons
//! stage applies both.
//!
//! A manifest comes from the bundle like every release tarball; what kubewiz changes in it is a
//! list of [`Change`]s that `kubewiz plan` prints and `apply` writes, with the rendered file,
//! under `<cluster dir>/addons/`.

pub mod calico;
pub mod images;
mod yaml_docs;

use crate::cluster_dir::{write_atomic, ClusterDir};
use crate::config::ClusterSpec;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// One knob kubewiz set in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Where, in the manifest's own terms: `DaemonSet calico-node, container calico-node, env
    /// CALICO_IPV4POOL_CIDR`.
    pub at: String,
    /// The manifest's value; `None` when it had none (Calico ships CALICO_IPV4POOL_CIDR
    /// commented out).
    pub from: Option<String>,
    pub to: String,
    /// Why kubewiz sets it, in the cluster file's terms (`network.pod_cidr`).
    pub because: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = self.from.as_deref().unwrap_or("(unset)");
        write!(f, "{}: {from} -> {} ({})", self.at, self.to, self.because)
    }
}

/// A manifest as kubewiz will apply it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `calico`: the file is `addons/<name>.yaml`.
    pub name: &'static str,
    /// The release manifest it was made from.
    pub source: PathBuf,
    pub yaml: String,
    pub changes: Vec<Change>,
    /// What the operator should know: an image the bundle lacks, a knob the manifest lacks.
    pub warnings: Vec<String>,
}

/// The add-on manifests the cluster file asks for, rendered (none with flannel).
pub fn rendered(spec: &ClusterSpec) -> Result<Vec<Rendered>> {
    Ok(calico::for_spec(spec)?.into_iter().collect())
}

/// Where `apply` keeps a rendered manifest.
pub fn path_in(dir: &ClusterDir, name: &str) -> PathBuf {
    dir.root().join("addons").join(format!("{name}.yaml"))
}

/// Write each rendered manifest into the cluster directory (atomically; rewritten only when
/// its content changed, since it is derived from the cluster file and the release manifest).
pub fn write(dir: &ClusterDir, manifests: &[Rendered]) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    for m in manifests {
        let path = path_in(dir, m.name);
        if std::fs::read(&path).ok().as_deref() == Some(m.yaml.as_bytes()) {
            continue;
        }
        write_atomic(&path, m.yaml.as_bytes(), 0o644)
            .with_context(|| format!("writing the {} manifest", m.name))?;
        written.push(path);
    }
    Ok(written)
}

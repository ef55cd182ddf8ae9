//! The join stage's lab tests' cluster file.

use super::cli::cluster_copy;

/// The lab's cluster file with `runtime`, and kube-proxy's conntrack settings at zero (lab only:
/// /proc/sys is read-only in the nspawn machines) and kubelet's eviction thresholds low (lab
/// only: the machines share the host's disk) when the lab's file predates the fields.
pub fn cluster(lab: &super::Lab, runtime: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, file) = cluster_copy(&lab.dir);
    let mut text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\nruntime: docker\n"), "{text}");
    text = text.replace("\nruntime: docker\n", &format!("\nruntime: {runtime}\n"));
    if !text.contains("\nkube_proxy:") {
        text.push_str(
            "# lab only: /proc/sys is read-only in nspawn; 0 leaves the kernel's values alone\n\
             kube_proxy:\n  conntrack: {max_per_core: 0, tcp_established_timeout: 0s, tcp_close_wait_timeout: 0s}\n",
        );
    }
    if !text.contains("\nkubelet:") {
        text.push_str(LAB_KUBELET);
    }
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// As scripts/lab writes it.
pub const LAB_KUBELET: &str =
    "# lab only: the machines share the host's disk, which other work fills\n\
    kubelet:\n  eviction_hard: {imagefs.available: 3%, nodefs.available: 3%}\n";

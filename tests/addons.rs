//! `kubewiz plan` with Calico: the release manifest from the bundle, the knobs kubewiz sets in
//! it and the images it points at the bundle. The manifest is tests/fixtures/calico-shape.yaml,
//! written for these tests in the shape of Calico's calico.yaml (no Calico release exists here).

mod common;

use common::cli::kubewiz;
use std::path::Path;

/// A minimal `docker save` archive naming `tag`.
fn image_archive(path: &Path, tag: &str) {
    let manifest = format!(r#"[{{"Config":"c.json","RepoTags":["{tag}"],"Layers":[]}}]"#);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, body) in [("c.json", "{}".to_string()), ("manifest.json", manifest)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.finish().unwrap();
}

/// What the plan's other stages upload from the bundle with this cluster file.
const OTHER_TARBALLS: &[&str] = &[
    "etcd-v3.4.23-linux-amd64.tar.gz",
    "kubernetes-server-linux-amd64.tar.gz",
];

/// A cluster file with Calico and a bundle holding its manifest and one of its images; the
/// release tarballs the other stages upload are only hashed by `plan`, so any bytes do.
fn calico_cluster(mode: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("images")).unwrap();
    std::fs::copy(
        "tests/fixtures/calico-shape.yaml",
        bundle.join("calico-v3.29.1.yaml"),
    )
    .unwrap();
    image_archive(
        &bundle.join("images/calico-node-v3.29.1.tar"),
        "calico/node:v3.29.1",
    );
    for tarball in OTHER_TARBALLS {
        std::fs::write(bundle.join(tarball), "plan only hashes it").unwrap();
    }
    let file = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string("tests/fixtures/config/valid/minimal.yaml").unwrap();
    std::fs::write(
        &file,
        format!(
            "{text}cni:\n  plugin: calico\n  calico:\n    mode: {mode}\n\
             binaries:\n  source: bundle\n  bundle_dir: {}\n",
            bundle.display()
        ),
    )
    .unwrap();
    (dir, file)
}

fn plan(file: &Path) -> (bool, String, String) {
    let out = kubewiz(&["plan", "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_shows_what_kubewiz_sets_in_calicos_manifest() {
    let (dir, file) = calico_cluster("vxlan");
    let (ok, out, err) = plan(&file);
    assert!(ok, "{err}");
    let addon = out
        .split("\nadd-on calico:")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    for line in [
        "set DaemonSet calico-node, container calico-node: env CALICO_IPV4POOL_CIDR: (unset) -> 10.244.0.0/16 (network.pod_cidr)",
        "set DaemonSet calico-node, container calico-node: env CALICO_IPV4POOL_VXLAN: Never -> Always (cni.calico.mode vxlan)",
        "set ConfigMap calico-config: calico_backend: bird -> vxlan (cni.calico.mode vxlan)",
        "set DaemonSet calico-node, container calico-node: image: docker.io/calico/node:v3.29.1 -> calico/node:v3.29.1 (the bundle's images/calico-node-v3.29.1.tar)",
        "warning: DaemonSet calico-node, container install-cni uses docker.io/calico/cni:v3.29.1, which is not in the bundle",
    ] {
        assert!(addon.contains(line), "missing {line:?} in:\n{addon}");
    }
    let written = dir.path().join("addons/calico.yaml").display().to_string();
    assert!(addon.contains(&written), "{addon}");
    // plan is a dry run: nothing written
    assert!(!dir.path().join("addons").exists());
}

#[test]
fn plan_names_the_missing_manifest() {
    let (dir, file) = calico_cluster("ipip");
    std::fs::remove_file(dir.path().join("bundle/calico-v3.29.1.yaml")).unwrap();
    let (ok, _, err) = plan(&file);
    assert!(!ok);
    assert!(
        err.contains("binaries.bundle_dir") && err.contains("calico-v3.29.1.yaml"),
        "{err}"
    );
}

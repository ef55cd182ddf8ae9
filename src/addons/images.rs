//! The container images a bundle carries: `images/*.tar` in `binaries.bundle_dir`, each a
//! `docker save` archive whose manifest.json names its references (RepoTags). The runtime
//! stage loads them on the hosts; manifests are pointed at them.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The folder of image archives inside a bundle.
pub const IMAGES_DIR: &str = "images";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleImage {
    pub file: PathBuf,
    /// `k8s.gcr.io/pause:3.2`, as the archive names it.
    pub references: Vec<String>,
}

/// Every image archive under `<bundle>/images`, sorted by file name; none when the folder is
/// missing. An archive without a readable manifest.json is an error naming the file.
pub fn in_bundle(bundle: &Path) -> Result<Vec<BundleImage>> {
    let dir = bundle.join(IMAGES_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(vec![]);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let references = references_in(&file)
                .with_context(|| format!("image archive {}", file.display()))?;
            Ok(BundleImage { file, references })
        })
        .collect()
}

/// The RepoTags of a `docker save` archive.
fn references_in(archive: &Path) -> Result<Vec<String>> {
    let f = std::fs::File::open(archive).context("cannot open it")?;
    let mut tar = tar::Archive::new(f);
    for entry in tar.entries_with_seek().context("not a tar archive")? {
        let mut entry = entry.context("not a tar archive")?;
        if entry.path()?.as_os_str() != "manifest.json" {
            continue;
        }
        let manifest: Vec<serde_json::Value> = serde_json::from_reader(&mut entry)
            .context("manifest.json is not a docker image manifest")?;
        let refs: Vec<String> = manifest
            .iter()
            .filter_map(|m| m.get("RepoTags")?.as_array().cloned())
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        anyhow::ensure!(!refs.is_empty(), "manifest.json names no image (RepoTags)");
        return Ok(refs);
    }
    anyhow::bail!("no manifest.json: not a `docker save` archive")
}

/// The repository path and tag of a reference without its registry: `docker.io/calico/node:v3`
/// and `calico/node:v3` are both `calico/node:v3`. A first segment with a dot, a colon or
/// `localhost` is a registry (the rule docker uses).
pub fn without_registry(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => reference,
    }
}

/// The bundle's reference for `wanted`: the same reference, else the same repository and tag
/// under another registry (or none).
pub fn matching<'a>(images: &'a [BundleImage], wanted: &str) -> Option<(&'a BundleImage, &'a str)> {
    let exact = images.iter().find_map(|i| {
        i.references
            .iter()
            .find(|r| r.as_str() == wanted)
            .map(|r| (i, r.as_str()))
    });
    exact.or_else(|| {
        images.iter().find_map(|i| {
            i.references
                .iter()
                .find(|r| without_registry(r) == without_registry(wanted))
                .map(|r| (i, r.as_str()))
        })
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal `docker save` archive naming `tags` (what the tests' bundles hold).
    pub fn write_archive(path: &Path, tags: &[&str]) {
        let manifest = serde_json::json!([{ "Config": "c.json", "RepoTags": tags, "Layers": [] }]);
        let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, body) in [
            ("c.json", b"{}".to_vec()),
            ("manifest.json", manifest.to_string().into_bytes()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_slice()).unwrap();
        }
        b.finish().unwrap();
    }

    #[test]
    fn reads_the_references_of_each_archive() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("images")).unwrap();
        write_archive(
            &d.path().join("images/pause-3.2.tar"),
            &["k8s.gcr.io/pause:3.2"],
        );
        std::fs::write(d.path().join("images/notes.txt"), "x").unwrap();
        let images = in_bundle(d.path()).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].references, ["k8s.gcr.io/pause:3.2"]);
    }

    #[test]
    fn a_bundle_without_images_has_none_and_a_bad_archive_is_named() {
        let d = tempfile::tempdir().unwrap();
        assert!(in_bundle(d.path()).unwrap().is_empty());
        std::fs::create_dir(d.path().join("images")).unwrap();
        std::fs::write(d.path().join("images/broken.tar"), "not a tar").unwrap();
        let e = in_bundle(d.path()).unwrap_err();
        assert!(format!("{e:#}").contains("broken.tar"), "{e:#}");
    }

    #[test]
    fn references_match_across_registries() {
        assert_eq!(
            without_registry("docker.io/calico/node:v3.29.1"),
            "calico/node:v3.29.1"
        );
        assert_eq!(
            without_registry("calico/node:v3.29.1"),
            "calico/node:v3.29.1"
        );
        assert_eq!(without_registry("localhost:5000/x:1"), "x:1");
        let images = vec![BundleImage {
            file: "images/node.tar".into(),
            references: vec!["calico/node:v3.29.1".into()],
        }];
        let (_, r) = matching(&images, "docker.io/calico/node:v3.29.1").unwrap();
        assert_eq!(r, "calico/node:v3.29.1");
        assert!(matching(&images, "docker.io/calico/node:v3.28.0").is_none());
    }
}

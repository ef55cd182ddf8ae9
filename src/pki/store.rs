//! The PKI on disk: paths under `<cluster dir>/pki/` and `kubeconfigs/`, atomic writes with the
//! right modes, backups of replaced files, the lock that keeps two runs apart, the manifest.

use crate::cluster_dir::{write_atomic, ClusterDir};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const KEY_MODE: u32 = 0o600;
pub const CERT_MODE: u32 = 0o644;
/// Kubeconfigs embed a private key.
pub const KUBECONFIG_MODE: u32 = 0o600;

pub fn pki_dir(dir: &ClusterDir) -> PathBuf {
    dir.root().join("pki")
}

pub fn kubeconfig_dir(dir: &ClusterDir) -> PathBuf {
    dir.root().join("kubeconfigs")
}

/// The PKI of one cluster directory, for one run.
pub struct Store {
    root: PathBuf,
    pki: PathBuf,
    stamp: String,
    /// This run's backup folder, once something was moved there.
    backup: Option<PathBuf>,
    _lock: Option<fs::File>,
}

impl Store {
    /// Opens the PKI for reading; nothing is created.
    pub fn open(dir: &ClusterDir, now: OffsetDateTime) -> Store {
        Store {
            root: dir.root().to_path_buf(),
            pki: pki_dir(dir),
            stamp: backup_stamp(now),
            backup: None,
            _lock: None,
        }
    }

    /// Opens the PKI for changes: creates `pki/` and holds `pki/.lock` (an advisory lock) until
    /// dropped, so two runs never interleave.
    pub fn open_locked(dir: &ClusterDir, now: OffsetDateTime) -> Result<Store> {
        let mut store = Store::open(dir, now);
        fs::create_dir_all(&store.pki)
            .with_context(|| format!("creating {}", store.pki.display()))?;
        let lock_path = store.pki.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        store._lock = Some(lock);
        Ok(store)
    }

    pub fn pki(&self) -> &Path {
        &self.pki
    }

    pub fn crt(&self, id: &str) -> PathBuf {
        self.pki.join(format!("{id}.crt"))
    }

    pub fn key(&self, id: &str) -> PathBuf {
        self.pki.join(format!("{id}.key"))
    }

    pub fn kubeconfig(&self, file: &str) -> PathBuf {
        self.root.join("kubeconfigs").join(file)
    }

    /// A path as reports show it: relative to the cluster directory (`pki/etcd/ca.crt`).
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The file's bytes, `None` when it does not exist.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.show(path))),
        }
    }

    pub fn write(&self, path: &Path, data: &[u8], mode: u32) -> Result<()> {
        write_atomic(path, data, mode).with_context(|| format!("writing {}", self.show(path)))
    }

    /// This run's backup folder (`pki/backup/<UTC timestamp>/`), if anything was backed up.
    pub fn backup_dir(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// Moves `path` (if it exists) into this run's backup folder, keeping its path under `pki/`
    /// (kubeconfigs go to `kubeconfigs/` in the backup). Returns where it went.
    pub fn backup(&mut self, path: &Path) -> Result<Option<PathBuf>> {
        if fs::symlink_metadata(path).is_err() {
            return Ok(None);
        }
        let rel = match path.strip_prefix(&self.pki) {
            Ok(r) => r.to_path_buf(),
            Err(_) => path.strip_prefix(&self.root).unwrap_or(path).to_path_buf(),
        };
        let dir = self.backup_folder()?;
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", self.show(parent)))?;
        }
        fs::rename(path, &dest)
            .with_context(|| format!("moving {} to {}", self.show(path), self.show(&dest)))?;
        Ok(Some(dest))
    }

    fn backup_folder(&mut self) -> Result<PathBuf> {
        if let Some(b) = &self.backup {
            return Ok(b.clone());
        }
        use std::os::unix::fs::DirBuilderExt;
        let base = self.pki.join("backup");
        fs::create_dir_all(&base).with_context(|| format!("creating {}", self.show(&base)))?;
        for n in 1.. {
            let name = if n == 1 {
                self.stamp.clone()
            } else {
                format!("{}-{n}", self.stamp)
            };
            let candidate = base.join(name);
            match fs::DirBuilder::new().mode(0o700).create(&candidate) {
                Ok(()) => {
                    self.backup = Some(candidate.clone());
                    return Ok(candidate);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", self.show(&candidate)))
                }
            }
        }
        unreachable!("some backup folder name is free")
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.pki.join("manifest.json")
    }

    pub fn load_manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        match self.read(&path)? {
            None => Ok(Manifest::default()),
            Some(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a kubewiz manifest; move it away and run again to rebuild it from the certificates",
                    self.show(&path)
                )
            }),
        }
    }

    pub fn save_manifest(&self, m: &Manifest) -> Result<()> {
        let mut text = serde_json::to_string_pretty(m).context("serializing the manifest")?;
        text.push('\n');
        self.write(&self.manifest_path(), text.as_bytes(), CERT_MODE)
    }
}

/// `20260501T120000Z`: the RFC 3339 stamp without separators, safe in a folder name.
fn backup_stamp(now: OffsetDateTime) -> String {
    super::inspect::rfc3339(now).replace(['-', ':'], "")
}

/// `pki/manifest.json`: what each certificate was issued from, so a change of the cluster file
/// can be traced to the certificates it touched. The certificates themselves stay the truth:
/// `ensure` compares the cluster file with what the files say, and rewrites the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default = "manifest_version")]
    pub version: u32,
    #[serde(default)]
    pub cas: BTreeMap<String, CaRecord>,
    #[serde(default)]
    pub leaves: BTreeMap<String, LeafRecord>,
}

fn manifest_version() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaRecord {
    pub cert: String,
    pub key: String,
    pub subject: String,
    pub key_algorithm: String,
    /// Hex SHA-256 of the certificate (DER).
    pub fingerprint: String,
    pub not_after: String,
    /// `generated` by kubewiz, or `provided` (found in the directory when first seen).
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafRecord {
    pub cert: String,
    pub key: String,
    /// `ca`, `etcd/ca`, `front-proxy-ca`.
    pub ca: String,
    pub issuer_fingerprint: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub usage: String,
    pub key_algorithm: String,
    /// Hex SHA-256 of the certificate (DER).
    pub fingerprint: String,
    pub serial: String,
    pub not_after: String,
    pub issued_at: String,
    /// Why it was last re-issued, and where the previous files went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reissue: Option<Reissue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reissue {
    pub at: String,
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_keep_paths_and_never_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let now = OffsetDateTime::now_utc();
        let mut first = Store::open_locked(&dir, now).unwrap();
        let key = first.key("etcd/m1/peer");
        first.write(&key, b"old", KEY_MODE).unwrap();
        let conf = first.kubeconfig("admin.conf");
        first.write(&conf, b"conf", KUBECONFIG_MODE).unwrap();
        let moved = first.backup(&key).unwrap().unwrap();
        let stamp = backup_stamp(now);
        assert_eq!(
            first.show(&moved),
            format!("pki/backup/{stamp}/etcd/m1/peer.key")
        );
        assert_eq!(std::fs::read(&moved).unwrap(), b"old");
        assert!(!key.exists());
        let moved = first.backup(&conf).unwrap().unwrap();
        assert_eq!(
            first.show(&moved),
            format!("pki/backup/{stamp}/kubeconfigs/admin.conf")
        );
        assert_eq!(first.backup(&key).unwrap(), None, "nothing to move");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(first.backup_dir().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(first);
        // A second run in the same second gets a folder of its own.
        let mut second = Store::open_locked(&dir, now).unwrap();
        second.write(&key, b"newer", KEY_MODE).unwrap();
        let moved = second.backup(&key).unwrap().unwrap();
        assert_eq!(
            second.show(&moved),
            format!("pki/backup/{stamp}-2/etcd/m1/peer.key")
        );
    }

    #[test]
    fn manifest_round_trips_and_bad_json_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let store = Store::open_locked(&dir, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(store.load_manifest().unwrap(), Manifest::default());
        let mut m = Manifest {
            version: 1,
            ..Manifest::default()
        };
        m.cas.insert(
            "ca".into(),
            CaRecord {
                cert: "pki/ca.crt".into(),
                key: "pki/ca.key".into(),
                subject: "CN=kubernetes".into(),
                key_algorithm: "RSA-2048".into(),
                fingerprint: "ab".into(),
                not_after: "2036-01-01T00:00:00Z".into(),
                origin: "generated".into(),
            },
        );
        store.save_manifest(&m).unwrap();
        assert_eq!(store.load_manifest().unwrap(), m);
        std::fs::write(store.manifest_path(), "{").unwrap();
        let e = format!("{:#}", store.load_manifest().unwrap_err());
        assert!(
            e.contains("pki/manifest.json is not a kubewiz manifest"),
            "{e}"
        );
    }
}

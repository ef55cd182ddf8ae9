//! The cluster directory: the folder that holds `cluster.yaml` and everything the tool keeps for
//! that cluster (known_hosts, state journal, logs, later the PKI). It is the one thing a user
//! must never lose, so every file in it is written atomically: a temp file in the same folder,
//! fsync, rename over the old one, fsync of the folder.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ClusterDir {
    root: PathBuf,
}

impl ClusterDir {
    /// The cluster directory is the folder of the cluster file.
    pub fn of_cluster_file(cluster_file: &Path) -> ClusterDir {
        let root = cluster_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        ClusterDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Host keys accepted for this cluster (besides the user's ~/.ssh/known_hosts).
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }

    pub fn journal(&self) -> PathBuf {
        self.state_file("journal.json")
    }

    /// A file of the run state kept between runs (`state/<name>`), written with [`write_atomic`].
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.root.join("state").join(name)
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
}

/// Write `data` to `path` atomically with the given mode (0600 for anything secret).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        // The mode given to open() is filtered by the umask; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/secret.key");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temp files left behind.
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn cluster_dir_is_the_folder_of_the_file() {
        let d = ClusterDir::of_cluster_file(Path::new("/x/lab/cluster.yaml"));
        assert_eq!(d.root(), Path::new("/x/lab"));
        assert_eq!(d.journal(), Path::new("/x/lab/state/journal.json"));
        let d = ClusterDir::of_cluster_file(Path::new("cluster.yaml"));
        assert_eq!(d.root(), Path::new("."));
    }
}

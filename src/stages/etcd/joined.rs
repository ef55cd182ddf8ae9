//! The members that joined the running cluster rather than bootstrapping it with the others: a
//! member replaced by `replace-etcd-member` was added with `etcdctl member add` and must start
//! with `--initial-cluster-state=existing` from then on (with `new` and an empty data directory
//! it would try to bootstrap a cluster of its own). Kept in the cluster directory
//! (`state/etcd-joined.json`, written atomically) so every later plan renders its unit the same.
//!
//! Each record carries the cluster token it was made under: a cluster whose etcd CA (and so
//! token) changed is a new cluster, bootstrapped by every member, and the record no longer
//! applies. Moving every member's data aside (`wipe-etcd-data`) clears the records.

use crate::cluster_dir::{write_atomic, ClusterDir};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FILE: &str = "etcd-joined.json";
const VERSION: u32 = 1;

/// The `--initial-cluster-state` of a member that bootstrapped the cluster with the others.
pub const NEW: &str = "new";
/// The `--initial-cluster-state` of a member added to the running cluster.
pub const EXISTING: &str = "existing";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Joined {
    pub version: u32,
    /// By host name.
    pub members: BTreeMap<String, JoinedMember>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinedMember {
    /// The cluster token when it joined (see the module docs).
    pub token: String,
    /// When it was added back, RFC 3339.
    pub joined: String,
    /// Where its damaged data directory was moved on the host.
    pub backup: String,
}

pub fn path(dir: &ClusterDir) -> PathBuf {
    dir.state_file(FILE)
}

/// The records of `dir`; none when the file does not exist. An unreadable file is an error,
/// not an empty record: rendering `new` for a replaced member would be wrong.
pub fn load(dir: &ClusterDir) -> Result<Joined> {
    let p = path(dir);
    let text = match std::fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Joined::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let joined: Joined = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is unreadable: fix or remove it (it records which etcd members joined as existing)",
            p.display()
        )
    })?;
    if joined.version != VERSION {
        bail!(
            "{}: version {} (this kubewiz reads version {VERSION})",
            p.display(),
            joined.version
        );
    }
    Ok(joined)
}

impl Joined {
    /// The `--initial-cluster-state` of `host` in the cluster whose token is `token`.
    pub fn initial_cluster_state(&self, host: &str, token: &str) -> &'static str {
        match self.members.get(host) {
            Some(m) if m.token == token => EXISTING,
            _ => NEW,
        }
    }
}

/// Record that `host` joined the running cluster of `token` (its old data moved to `backup`).
pub fn record(dir: &ClusterDir, host: &str, token: &str, backup: &str) -> Result<()> {
    let mut joined = load(dir)?;
    joined.version = VERSION;
    joined.members.insert(
        host.to_string(),
        JoinedMember {
            token: token.to_string(),
            joined: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            backup: backup.to_string(),
        },
    );
    save(dir, &joined)
}

/// Forget every record: the members bootstrap a new cluster together.
pub fn clear(dir: &ClusterDir) -> Result<()> {
    if load(dir)?.members.is_empty() {
        return Ok(());
    }
    save(
        dir,
        &Joined {
            version: VERSION,
            members: BTreeMap::new(),
        },
    )
}

fn save(dir: &ClusterDir, joined: &Joined) -> Result<()> {
    let p = path(dir);
    let text = serde_json::to_vec_pretty(joined)?;
    write_atomic(&p, &text, 0o644).with_context(|| format!("writing {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, ClusterDir) {
        let t = tempfile::tempdir().unwrap();
        let d = ClusterDir::of_cluster_file(&t.path().join("cluster.yaml"));
        (t, d)
    }

    #[test]
    fn a_recorded_member_is_existing_under_its_token_only() {
        let (_t, d) = dir();
        assert_eq!(load(&d).unwrap(), Joined::default(), "no file: no records");
        record(&d, "node3", "lab-etcd-abc", "/var/lib/etcd.kubewiz-backup-x").unwrap();
        let j = load(&d).unwrap();
        assert_eq!(j.initial_cluster_state("node3", "lab-etcd-abc"), EXISTING);
        assert_eq!(j.initial_cluster_state("node2", "lab-etcd-abc"), NEW);
        assert_eq!(
            j.initial_cluster_state("node3", "lab-etcd-other"),
            NEW,
            "another CA, another cluster"
        );
        assert_eq!(j.members["node3"].backup, "/var/lib/etcd.kubewiz-backup-x");
        clear(&d).unwrap();
        assert_eq!(
            load(&d).unwrap().initial_cluster_state("node3", "lab-etcd-abc"),
            NEW
        );
    }

    #[test]
    fn an_unreadable_record_is_an_error_naming_the_file() {
        let (_t, d) = dir();
        std::fs::create_dir_all(path(&d).parent().unwrap()).unwrap();
        std::fs::write(path(&d), b"{not json").unwrap();
        let e = format!("{:#}", load(&d).unwrap_err());
        assert!(e.contains("etcd-joined.json"), "{e}");
    }
}

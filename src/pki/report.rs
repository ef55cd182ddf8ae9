//! What a PKI run did, per file, for the engine and the CLI to show.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    /// Did not exist; made now.
    Created,
    /// A certificate replaced by a new one from the same CA (the old files are in the backup).
    Reissued {
        reasons: Vec<String>,
    },
    /// A derived file (kubeconfig, `sa.pub`) rewritten.
    Updated {
        reasons: Vec<String>,
    },
    Unchanged,
    /// In the directory but no longer asked for (a removed host's, or a kubelet client
    /// certificate of an earlier version); left in place.
    Orphaned,
}

impl Change {
    pub fn word(&self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Reissued { .. } => "reissued",
            Change::Updated { .. } => "updated",
            Change::Unchanged => "unchanged",
            Change::Orphaned => "orphaned",
        }
    }

    pub fn reasons(&self) -> &[String] {
        match self {
            Change::Reissued { reasons } | Change::Updated { reasons } => reasons,
            _ => &[],
        }
    }
}

/// One file (for a certificate and its key: the `.crt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportEntry {
    /// Relative to the cluster directory: `pki/etcd/node1/server.crt`.
    pub file: String,
    /// `etcd server of node1`, `cluster CA (provided)`.
    pub what: String,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PkiReport {
    pub entries: Vec<ReportEntry>,
    /// Where replaced files went (`pki/backup/<UTC timestamp>/`), when any were.
    pub backup: Option<PathBuf>,
}

impl PkiReport {
    pub(crate) fn push(&mut self, file: String, what: impl Into<String>, change: Change) {
        self.entries.push(ReportEntry {
            file,
            what: what.into(),
            change,
        });
    }

    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.entries
            .iter()
            .any(|e| !matches!(e.change, Change::Unchanged | Change::Orphaned))
    }

    pub fn entry(&self, file: &str) -> Option<&ReportEntry> {
        self.entries.iter().find(|e| e.file == file)
    }

    /// Files with the given change word (`created`, `reissued`, ...).
    pub fn files(&self, word: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.change.word() == word)
            .map(|e| e.file.as_str())
            .collect()
    }

    /// `3 created, 1 reissued, 20 unchanged`.
    pub fn summary(&self) -> String {
        let mut parts = vec![];
        for word in ["created", "reissued", "updated", "unchanged", "orphaned"] {
            let n = self.files(word).len();
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        if parts.is_empty() {
            "nothing to do".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One line per file (`reissued   pki/apiserver.crt   API server: SANs changed: +IP 10.0.0.4`),
/// then the summary and the backup folder.
impl fmt::Display for PkiReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.entries.iter().map(|e| e.file.len()).max().unwrap_or(0);
        for e in &self.entries {
            write!(f, "{:<9}  {:<width$}  {}", e.change.word(), e.file, e.what)?;
            let reasons = e.change.reasons();
            if !reasons.is_empty() {
                write!(f, ": {}", reasons.join("; "))?;
            }
            writeln!(f)?;
        }
        write!(f, "{}", self.summary())?;
        if let Some(b) = &self.backup {
            write!(f, "; replaced files are in {}", b.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_files_reasons_and_summary() {
        let mut r = PkiReport::default();
        r.push("pki/ca.crt".into(), "cluster CA", Change::Unchanged);
        r.push(
            "pki/apiserver.crt".into(),
            "API server",
            Change::Reissued {
                reasons: vec!["SANs changed: +IP 10.77.0.14".into(), "expired".into()],
            },
        );
        r.push(
            "pki/etcd/n5/peer.crt".into(),
            "etcd peer of n5",
            Change::Created,
        );
        r.backup = Some("/c/pki/backup/20260101T000000Z".into());
        assert!(r.changed());
        assert_eq!(
            r.to_string(),
            "unchanged  pki/ca.crt            cluster CA\n\
             reissued   pki/apiserver.crt     API server: SANs changed: +IP 10.77.0.14; expired\n\
             created    pki/etcd/n5/peer.crt  etcd peer of n5\n\
             1 created, 1 reissued, 1 unchanged; replaced files are in /c/pki/backup/20260101T000000Z"
        );
        assert_eq!(r.files("created"), ["pki/etcd/n5/peer.crt"]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["entries"][1]["change"], "reissued");
        assert_eq!(
            json["entries"][1]["reasons"][0],
            "SANs changed: +IP 10.77.0.14"
        );
        assert!(!PkiReport::default().changed());
        assert_eq!(PkiReport::default().summary(), "nothing to do");
    }
}

//! The state journal: which steps finished in the current run, with the hash of their inputs.
//!
//! A run that ends cleanly is marked complete; the next `apply` then starts a fresh run and
//! every step checks the host again (and reports `unchanged`). A run that was interrupted
//! (Ctrl-C, crash, failure) is resumed: steps it finished with the same inputs are skipped.

use crate::cluster_dir::write_atomic;
use crate::events::StepRef;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JournalData {
    pub version: u32,
    pub run_started_unix: u64,
    pub run_complete: bool,
    /// Key: `stage/step@host` ([`StepRef`]'s text, so journals of every version read alike).
    pub steps: BTreeMap<String, JournalEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub hash: String,
    pub outcome: String,
    pub finished_unix: u64,
}

impl JournalData {
    /// A run that did some steps and did not end cleanly: the next run resumes it.
    pub fn interrupted(&self) -> bool {
        !self.run_complete && !self.steps.is_empty()
    }
}

/// Steps done by the interrupted run the journal at `path` records, if it records one (a
/// missing or unreadable journal records none: opening it for a run reports the latter).
pub fn interrupted_run(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    let data: JournalData = serde_json::from_slice(&bytes).ok()?;
    data.interrupted().then_some(data.steps.len())
}

pub struct Journal {
    path: PathBuf,
    data: JournalData,
}

/// The journal's key of a step: its `stage/step@host`.
pub fn key(at: &StepRef) -> String {
    at.to_string()
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Journal {
    /// Open the journal for a new run. Returns whether the previous run was interrupted, in
    /// which case its finished steps are kept for resuming; otherwise they are cleared.
    pub fn open_for_run(path: &Path) -> Result<(Journal, bool)> {
        let previous = match std::fs::read(path) {
            Ok(bytes) => Some(serde_json::from_slice::<JournalData>(&bytes).with_context(
                || {
                    format!(
                        "the state journal {} is unreadable; move it away to start afresh",
                        path.display()
                    )
                },
            )?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let resuming = previous.as_ref().is_some_and(JournalData::interrupted);
        let data = match previous {
            Some(p) if resuming => p,
            _ => JournalData {
                version: 1,
                run_started_unix: now_unix(),
                run_complete: false,
                steps: BTreeMap::new(),
            },
        };
        let journal = Journal {
            path: path.to_path_buf(),
            data,
        };
        journal.save()?;
        Ok((journal, resuming))
    }

    /// Whether the step finished earlier in this run with the same inputs.
    pub fn finished_with(&self, at: &StepRef, hash: &str) -> bool {
        self.data
            .steps
            .get(&key(at))
            .is_some_and(|e| e.hash == hash)
    }

    /// Forget steps (e.g. the ones `--from-stage` asks to re-run).
    pub fn forget(&mut self, steps: impl IntoIterator<Item = StepRef>) {
        for at in steps {
            self.data.steps.remove(&key(&at));
        }
    }

    pub fn record(&mut self, at: &StepRef, hash: String, outcome: &str) -> Result<()> {
        self.data.steps.insert(
            key(at),
            JournalEntry {
                hash,
                outcome: outcome.to_string(),
                finished_unix: now_unix(),
            },
        );
        self.save()
    }

    pub fn mark_complete(&mut self) -> Result<()> {
        self.data.run_complete = true;
        self.save()
    }

    pub fn data(&self) -> &JournalData {
        &self.data
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.data)?;
        write_atomic(&self.path, &bytes, 0o600)
            .with_context(|| format!("saving the state journal {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_run_is_resumed_complete_run_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state/journal.json");
        let (mut j, resuming) = Journal::open_for_run(&p).unwrap();
        assert!(!resuming);
        let swap = StepRef::new("prep", "swap", "n1");
        j.record(&swap, "h1".into(), "changed").unwrap();
        drop(j); // "crash"
        assert_eq!(interrupted_run(&p), Some(1));
        let (mut j, resuming) = Journal::open_for_run(&p).unwrap();
        assert!(resuming);
        assert!(j.finished_with(&swap, "h1"));
        assert!(!j.finished_with(&swap, "other-inputs"));
        j.mark_complete().unwrap();
        assert_eq!(interrupted_run(&p), None);
        let (j, resuming) = Journal::open_for_run(&p).unwrap();
        assert!(!resuming);
        assert!(!j.finished_with(&swap, "h1"));
    }

    #[test]
    fn a_journal_written_before_step_refs_still_resumes() {
        // The file an interrupted run of an earlier kubewiz left: keys are plain text.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.json");
        std::fs::write(
            &p,
            br#"{"version":1,"run_started_unix":1,"run_complete":false,
                "steps":{"etcd/certs@node3":{"hash":"h","outcome":"changed","finished_unix":2}}}"#,
        )
        .unwrap();
        let (j, resuming) = Journal::open_for_run(&p).unwrap();
        assert!(resuming);
        assert!(j.finished_with(&StepRef::new("etcd", "certs", "node3"), "h"));
        assert!(!j.finished_with(&StepRef::new("etcd", "certs", "node2"), "h"));
        let key: StepRef = j.data().steps.keys().next().unwrap().parse().unwrap();
        assert_eq!(key, StepRef::new("etcd", "certs", "node3"));
    }

    #[test]
    fn corrupt_journal_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.json");
        std::fs::write(&p, b"{not json").unwrap();
        let err = Journal::open_for_run(&p).err().unwrap().to_string();
        assert!(err.contains("unreadable"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"{not json");
    }
}

//! The event stream: everything a front end (TUI, plain lines, JSON lines) learns about a run.
//!
//! Events are plain data, serialisable as one JSON object per line. They never carry secrets:
//! steps are built from the cluster file, which holds none, and passwords travel only on stdin.

use crate::plan::StepScope;
use serde::Serialize;
use std::fmt;

/// One step on one host: `stage/step@host`. The key of the journal, of every step event and
/// of a run's outcomes. In JSON its three fields sit flat in the event (`#[serde(flatten)]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StepRef {
    pub stage: String,
    pub step: String,
    pub host: String,
}

impl StepRef {
    pub fn new(stage: &str, step: &str, host: &str) -> StepRef {
        StepRef {
            stage: stage.into(),
            step: step.into(),
            host: host.into(),
        }
    }

    /// `stage/step` (what `--step` takes).
    pub fn stage_step(&self) -> String {
        format!("{}/{}", self.stage, self.step)
    }
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.stage, self.step, self.host)
    }
}

impl std::str::FromStr for StepRef {
    type Err = String;

    /// Parses `stage/step@host` (the journal's keys).
    fn from_str(s: &str) -> Result<StepRef, String> {
        let bad = || format!("{s:?} is not of the form stage/step@host");
        let (stage_step, host) = s.rsplit_once('@').ok_or_else(bad)?;
        let (stage, step) = stage_step.split_once('/').ok_or_else(bad)?;
        if stage.is_empty() || step.is_empty() || host.is_empty() {
            return Err(bad());
        }
        Ok(StepRef::new(stage, step, host))
    }
}

/// Why the engine did not run a step. Shown (and written in JSON) as its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The user stopped the run (Ctrl-C, cancel).
    Interrupted,
    /// A step before it failed on the same host.
    EarlierStepFailed,
    /// The journal has it finished, with the same inputs, by the interrupted run this resumes.
    DoneInJournal,
    /// Another host of the stage failed a step before this step's barrier (or serial turn).
    PeerFailed { host: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Interrupted => f.write_str("interrupted"),
            SkipReason::EarlierStepFailed => f.write_str("an earlier step failed on this host"),
            SkipReason::DoneInJournal => f.write_str("done in the interrupted run (journal)"),
            SkipReason::PeerFailed { host } => {
                write!(
                    f,
                    "{host} failed before this step, which waits for all hosts"
                )
            }
        }
    }
}

impl Serialize for SkipReason {
    /// The sentence, as the JSON lines carried before the reasons were a type.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which output stream of a remote command a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// How one step ended on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepOutcome {
    /// The step changed the host.
    Changed,
    /// The effect was already there; nothing was done.
    Unchanged,
    /// The step does not apply to this host (e.g. no firewalld installed).
    NotApplicable { reason: String },
    /// A plain command ran to exit status 0 (used by `exec`, which does not report changes).
    Done,
    /// The engine did not run the step.
    Skipped { reason: SkipReason },
    Failed {
        exit_status: Option<u32>,
        message: String,
        last_lines: Vec<String>,
    },
}

impl StepOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, StepOutcome::Failed { .. })
    }

    /// A short word for summaries and tables.
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Changed => "changed",
            StepOutcome::Unchanged => "unchanged",
            StepOutcome::NotApplicable { .. } => "n/a",
            StepOutcome::Done => "ok",
            StepOutcome::Skipped { .. } => "skipped",
            StepOutcome::Failed { .. } => "failed",
        }
    }
}

/// Tally of step outcomes, for stage and plan summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub changed: usize,
    pub unchanged: usize,
    pub not_applicable: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Counts {
    pub fn add(&mut self, outcome: &StepOutcome) {
        match outcome {
            StepOutcome::Changed => self.changed += 1,
            StepOutcome::Unchanged => self.unchanged += 1,
            StepOutcome::NotApplicable { .. } => self.not_applicable += 1,
            StepOutcome::Done => self.done += 1,
            StepOutcome::Skipped { .. } => self.skipped += 1,
            StepOutcome::Failed { .. } => self.failed += 1,
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.not_applicable += other.not_applicable;
        self.done += other.done;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }

    pub fn total(&self) -> usize {
        self.changed + self.unchanged + self.not_applicable + self.done + self.skipped + self.failed
    }
}

/// One stage as announced at the start of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageSummary {
    pub name: String,
    /// Steps in the stage's order.
    pub steps: Vec<StepSummary>,
    /// Hosts the stage runs on.
    pub hosts: Vec<String>,
}

impl StageSummary {
    /// A stage whose every host runs every step on its own (tests, benchmarks).
    pub fn each_host<S: AsRef<str>>(name: &str, steps: &[S], hosts: &[String]) -> StageSummary {
        StageSummary {
            name: name.into(),
            steps: steps
                .iter()
                .map(|s| StepSummary {
                    name: s.as_ref().into(),
                    scope: StepScope::EachHost,
                    barrier: false,
                    hosts: hosts.to_vec(),
                })
                .collect(),
            hosts: hosts.to_vec(),
        }
    }

    pub fn step_names(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.name.clone()).collect()
    }
}

/// One step of a stage as announced: how it runs and on which hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepSummary {
    pub name: String,
    pub scope: StepScope,
    /// Every host finishes the steps before this one before any host starts it.
    pub barrier: bool,
    /// The hosts that run it, in the stage's host order (one for a `once` step).
    pub hosts: Vec<String>,
}

impl StepSummary {
    /// A few words on how the step runs beyond "each host on its own": `once on node1`,
    /// `serial`, `waits for all hosts`; None for a plain step.
    pub fn how(&self) -> Option<String> {
        let mut parts = vec![];
        match self.scope {
            StepScope::EachHost => {}
            StepScope::Once => parts.push(format!(
                "once on {}",
                self.hosts.first().map(String::as_str).unwrap_or("no host")
            )),
            StepScope::Serial => parts.push("serial".to_string()),
        }
        if self.barrier {
            parts.push("waits for all hosts".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// What a host waits for before it starts a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// Every host of the stage to finish the steps before a barrier step.
    Barrier,
    /// The host before it to finish a serial step.
    SerialTurn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlanStarted {
        cluster: String,
        stages: Vec<StageSummary>,
        total_steps: usize,
        /// True when this run continues an interrupted one from the journal.
        resumed: bool,
    },
    StageStarted {
        stage: String,
    },
    StepStarted {
        #[serde(flatten)]
        at: StepRef,
        attempt: u32,
    },
    Output {
        #[serde(flatten)]
        at: StepRef,
        stream: OutputStream,
        line: String,
    },
    /// A host waits before it starts a step: at a barrier, or for its serial turn.
    StepWaiting {
        #[serde(flatten)]
        at: StepRef,
        waits_for: WaitFor,
        /// The hosts it waits for (those not yet past the step).
        for_hosts: Vec<String>,
    },
    StepRetrying {
        #[serde(flatten)]
        at: StepRef,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    StepFinished {
        #[serde(flatten)]
        at: StepRef,
        outcome: StepOutcome,
        duration_ms: u64,
        attempt: u32,
    },
    StageFinished {
        stage: String,
        ok: bool,
        counts: Counts,
        duration_ms: u64,
    },
    /// A failed step matched a known failure (or not: `diagnosis.id` is None and the evidence
    /// still shows what was gathered).
    Diagnosis {
        #[serde(flatten)]
        at: StepRef,
        diagnosis: Diagnosis,
    },
    /// `kubewiz diagnose`: a host passed its stage's health check; `warnings` are what the
    /// cluster view and the unit's journal show all the same (TLS or raft errors).
    Healthy {
        #[serde(flatten)]
        at: StepRef,
        warnings: Vec<Evidence>,
    },
    PlanFinished {
        ok: bool,
        /// Set when the user interrupted the run (Ctrl-C): the journal lets the next run resume.
        interrupted: bool,
        counts: Counts,
        duration_ms: u64,
    },
}

/// Why a step failed, as far as the failure catalog (assets/failures.yaml) can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Catalog id (e.g. "E1"); None when nothing in the catalog matched.
    pub id: Option<String>,
    pub title: String,
    pub cause: String,
    /// The lines that matched (or, with no match, the tail of what was gathered), each with
    /// where it came from ("step output", "journalctl -u etcd", a probe's name).
    pub evidence: Vec<Evidence>,
    pub fix: String,
    /// Commands a user can run by hand to fix it.
    pub manual_commands: Vec<String>,
    /// What kubewiz can do itself, if anything.
    pub auto_fix: Option<AutoFix>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub source: String,
    pub line: String,
    /// True for a line that matched a catalog signature (highlighted in the TUI).
    pub matched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoFix {
    /// Action id the engine knows how to run (e.g. "reissue-etcd-certs").
    pub action: String,
    pub description: String,
    /// Destructive fixes (wiping a data dir) need the user's explicit consent.
    pub destructive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_their_field_names_and_reason_texts() {
        let ev = Event::StepFinished {
            at: StepRef::new("etcd", "health", "node2"),
            outcome: StepOutcome::Skipped {
                reason: SkipReason::DoneInJournal,
            },
            duration_ms: 0,
            attempt: 0,
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"event":"step_finished","stage":"etcd","step":"health","host":"node2","outcome":{"status":"skipped","reason":"done in the interrupted run (journal)"},"duration_ms":0,"attempt":0}"#
        );
        let ev = Event::StepWaiting {
            at: StepRef::new("etcd", "start", "node1"),
            waits_for: WaitFor::SerialTurn,
            for_hosts: vec!["node0".into()],
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"event":"step_waiting","stage":"etcd","step":"start","host":"node1","waits_for":"serial_turn","for_hosts":["node0"]}"#
        );
        assert_eq!(SkipReason::Interrupted.to_string(), "interrupted");
        assert_eq!(
            SkipReason::EarlierStepFailed.to_string(),
            "an earlier step failed on this host"
        );
    }

    #[test]
    fn step_refs_read_back_from_their_text() {
        let at = StepRef::new("etcd", "data-dir", "node-1.lab");
        assert_eq!(at.to_string(), "etcd/data-dir@node-1.lab");
        assert_eq!(at.to_string().parse::<StepRef>(), Ok(at));
        assert!("etcd/health".parse::<StepRef>().is_err());
        assert!("etcd@node1".parse::<StepRef>().is_err());
    }
}

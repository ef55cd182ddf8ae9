//! The event stream: everything a front end (TUI, plain lines, JSON lines) learns about a run.
//!
//! Events are plain data, serialisable as one JSON object per line. They never carry secrets:
//! steps are built from the cluster file, which holds none, and passwords travel only on stdin.

use serde::Serialize;

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
    Skipped { reason: String },
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
    /// Step names in order.
    pub steps: Vec<String>,
    /// Hosts the stage runs on.
    pub hosts: Vec<String>,
    /// Each host's steps, in the order of `hosts`, when they differ (a step only one host
    /// runs); empty when every host runs every step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_steps: Vec<Vec<String>>,
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
        stage: String,
        step: String,
        host: String,
        attempt: u32,
    },
    Output {
        stage: String,
        step: String,
        host: String,
        stream: OutputStream,
        line: String,
    },
    StepRetrying {
        stage: String,
        step: String,
        host: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    StepFinished {
        stage: String,
        step: String,
        host: String,
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
        stage: String,
        step: String,
        host: String,
        diagnosis: Diagnosis,
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

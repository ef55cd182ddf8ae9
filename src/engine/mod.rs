//! Runs a plan: stages in order; inside a stage every host runs its steps in order, hosts in
//! parallel (bounded). Everything it does goes out as events; it knows nothing of terminals.

pub mod evidence;
pub mod hosts;
pub mod journal;
pub mod step_exec;

use crate::events::{Counts, Diagnosis, Event, OutputStream, StageSummary, StepOutcome};
use crate::plan::{HostSteps, Plan, Stage};
use anyhow::Result;
pub use hosts::HostPool;
use journal::Journal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;
pub use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How many hosts work at the same time.
    pub parallel: usize,
    /// The state journal; None for ad-hoc runs (`exec`).
    pub journal: Option<PathBuf>,
    /// Stages whose journal entries are forgotten, so they run again (`--from-stage`).
    pub rerun_stages: Vec<String>,
    /// A narrowed plan (one step, some hosts or stages): its success does not complete the
    /// run in the journal, so the full plan run after it still resumes.
    pub partial: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: 64,
            journal: None,
            rerun_stages: vec![],
            partial: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub ok: bool,
    pub interrupted: bool,
    pub counts: Counts,
    /// Every step's outcome, in the order they finished: (stage, step, host, outcome).
    pub outcomes: Vec<(String, String, String, StepOutcome)>,
    /// What the failure catalog made of each failed step: (stage, step, host, diagnosis).
    pub diagnoses: Vec<(String, String, String, Diagnosis)>,
}

type Sender = UnboundedSender<Event>;

fn send(tx: &Sender, ev: Event) {
    // A closed receiver means the front end is gone; the run still finishes its bookkeeping.
    let _ = tx.send(ev);
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Run the plan. Returns Err only when the journal cannot be read or written; step failures
/// are reported in the summary and the events.
pub async fn run(
    plan: &Plan,
    pool: Arc<HostPool>,
    opts: RunOptions,
    tx: Sender,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let started = Instant::now();
    let (journal, resumed) = match &opts.journal {
        Some(path) => {
            let (mut j, resumed) = Journal::open_for_run(path)?;
            let rerun: Vec<String> = plan
                .stages
                .iter()
                .filter(|s| opts.rerun_stages.contains(&s.name))
                .flat_map(stage_keys)
                .collect();
            j.forget(rerun);
            (Some(Arc::new(Mutex::new(j))), resumed)
        }
        None => (None, false),
    };

    send(
        &tx,
        Event::PlanStarted {
            cluster: plan.cluster.clone(),
            stages: stage_summaries(plan),
            total_steps: plan.total_steps(),
            resumed,
        },
    );

    let limit = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let mut summary = RunSummary {
        ok: true,
        interrupted: false,
        counts: Counts::default(),
        outcomes: vec![],
        diagnoses: vec![],
    };
    for stage in &plan.stages {
        if cancel.is_cancelled() {
            break;
        }
        let stage_started = Instant::now();
        send(
            &tx,
            Event::StageStarted {
                stage: stage.name.clone(),
            },
        );
        let mut tasks = tokio::task::JoinSet::new();
        for host_steps in &stage.hosts {
            let ctx = HostRun {
                stage: stage.name.clone(),
                units: stage.units.clone(),
                steps: host_steps.clone(),
                pool: pool.clone(),
                tx: tx.clone(),
                journal: journal.clone(),
                cancel: cancel.clone(),
            };
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore never closed");
                ctx.run().await
            });
        }
        let mut counts = Counts::default();
        while let Some(joined) = tasks.join_next().await {
            let host_result = joined.expect("a host task panicked");
            let (results, diagnoses) = host_result?;
            for (step, host, d) in diagnoses {
                summary.diagnoses.push((stage.name.clone(), step, host, d));
            }
            for (step, host, outcome) in results {
                counts.add(&outcome);
                summary
                    .outcomes
                    .push((stage.name.clone(), step, host, outcome));
            }
        }
        let ok = counts.failed == 0;
        summary.counts.merge(&counts);
        send(
            &tx,
            Event::StageFinished {
                stage: stage.name.clone(),
                ok,
                counts,
                duration_ms: millis(stage_started.elapsed()),
            },
        );
        if !ok {
            summary.ok = false;
            break;
        }
    }
    summary.interrupted = cancel.is_cancelled();
    if summary.interrupted {
        summary.ok = false;
    }
    if summary.ok && !opts.partial {
        if let Some(j) = &journal {
            j.lock().expect("journal lock").mark_complete()?;
        }
    }
    send(
        &tx,
        Event::PlanFinished {
            ok: summary.ok,
            interrupted: summary.interrupted,
            counts: summary.counts,
            duration_ms: millis(started.elapsed()),
        },
    );
    Ok(summary)
}

/// The stages as `PlanStarted` announces them: what a front end draws before any step runs.
pub fn stage_summaries(plan: &Plan) -> Vec<StageSummary> {
    plan.stages
        .iter()
        .map(|s| {
            let steps = step_names(s);
            let host_steps: Vec<Vec<String>> = s
                .hosts
                .iter()
                .map(|h| h.steps.iter().map(|x| x.name.clone()).collect())
                .collect();
            let uniform = host_steps.iter().all(|h| *h == steps);
            StageSummary {
                name: s.name.clone(),
                steps,
                hosts: s.hosts.iter().map(|h| h.host.clone()).collect(),
                host_steps: if uniform { vec![] } else { host_steps },
            }
        })
        .collect()
}

fn step_names(stage: &Stage) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for h in &stage.hosts {
        for s in &h.steps {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    names
}

fn stage_keys(stage: &Stage) -> Vec<String> {
    stage
        .hosts
        .iter()
        .flat_map(|h| {
            h.steps
                .iter()
                .map(|s| journal::key(&stage.name, &s.name, &h.host))
        })
        .collect()
}

/// A host's step outcomes and diagnoses: (step, host, …).
type HostResults = (
    Vec<(String, String, StepOutcome)>,
    Vec<(String, String, Diagnosis)>,
);

/// One host's share of one stage.
struct HostRun {
    stage: String,
    /// systemd units whose journal explains a failure of this stage.
    units: Vec<String>,
    steps: HostSteps,
    pool: Arc<HostPool>,
    tx: Sender,
    journal: Option<Arc<Mutex<Journal>>>,
    cancel: CancellationToken,
}

impl HostRun {
    async fn run(self) -> Result<HostResults> {
        let host = self.steps.host.clone();
        let mut results = vec![];
        let mut diagnoses = vec![];
        let mut failed = false;
        for step in &self.steps.steps {
            let key = journal::key(&self.stage, &step.name, &host);
            let hash = step.input_hash();
            let skip_reason = if self.cancel.is_cancelled() {
                Some("interrupted".to_string())
            } else if failed {
                Some("an earlier step failed on this host".to_string())
            } else if self
                .journal
                .as_ref()
                .is_some_and(|j| j.lock().expect("journal lock").finished_with(&key, &hash))
            {
                Some("done in the interrupted run (journal)".to_string())
            } else {
                None
            };
            if let Some(reason) = skip_reason {
                let outcome = StepOutcome::Skipped { reason };
                self.finished(&step.name, outcome.clone(), Duration::ZERO, 0);
                results.push((step.name.clone(), host.clone(), outcome));
                continue;
            }

            let started = Instant::now();
            let mut attempt = 1;
            let outcome = loop {
                send(
                    &self.tx,
                    Event::StepStarted {
                        stage: self.stage.clone(),
                        step: step.name.clone(),
                        host: host.clone(),
                        attempt,
                    },
                );
                let result = self.attempt(step).await;
                let last = attempt >= step.retry.attempts.max(1);
                if !result.outcome.is_failure()
                    || !result.retryable
                    || last
                    || self.cancel.is_cancelled()
                {
                    break result.outcome;
                }
                attempt += 1;
                let delay = step.retry.delay_before(attempt);
                let reason = match &result.outcome {
                    StepOutcome::Failed { message, .. } => message.clone(),
                    _ => String::new(),
                };
                send(
                    &self.tx,
                    Event::StepRetrying {
                        stage: self.stage.clone(),
                        step: step.name.clone(),
                        host: host.clone(),
                        attempt,
                        delay_ms: millis(delay),
                        reason,
                    },
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = self.cancel.cancelled() => {}
                }
            };
            if let StepOutcome::Failed {
                last_lines,
                message,
                ..
            } = &outcome
            {
                failed = true;
                if !self.cancel.is_cancelled() {
                    // The failure message is evidence too (a lost connection, a clock skew).
                    let mut output = last_lines.clone();
                    output.push(message.clone());
                    let d = self.explain(&step.name, &output).await;
                    diagnoses.push((step.name.clone(), host.clone(), d));
                }
            } else if let Some(j) = &self.journal {
                j.lock()
                    .expect("journal lock")
                    .record(key, hash, outcome.label())?;
            }
            self.finished(&step.name, outcome.clone(), started.elapsed(), attempt);
            results.push((step.name.clone(), host.clone(), outcome));
        }
        Ok((results, diagnoses))
    }

    async fn attempt(&self, step: &crate::plan::Step) -> step_exec::Attempt {
        let host = &self.steps.host;
        let conn = match self.pool.connection(host).await {
            Ok(c) => c,
            Err(e) => {
                return step_exec::Attempt {
                    retryable: e.is_retryable(),
                    outcome: StepOutcome::Failed {
                        exit_status: None,
                        message: e.to_string(),
                        last_lines: vec![],
                    },
                }
            }
        };
        let tx = self.tx.clone();
        let (stage, step_name, host) = (self.stage.clone(), step.name.clone(), host.clone());
        let mut emit = move |stream: OutputStream, line: String| {
            // The log file keeps every line, so "open the full log" shows everything.
            tracing::debug!(target: "kubewiz::output", %host, step = %step_name, ?stream, "{line}");
            send(
                &tx,
                Event::Output {
                    stage: stage.clone(),
                    step: step_name.clone(),
                    host: host.clone(),
                    stream,
                    line,
                },
            )
        };
        step_exec::run_attempt(&conn, step, &mut emit).await
    }

    /// Gather evidence on the host and emit what the failure catalog makes of it.
    async fn explain(&self, step: &str, last_lines: &[String]) -> Diagnosis {
        let conn = self.pool.connection(&self.steps.host).await.ok();
        let diagnosis =
            evidence::diagnose(conn.as_ref(), &self.stage, &self.units, last_lines).await;
        tracing::info!(stage = %self.stage, step, host = %self.steps.host, id = ?diagnosis.id, "diagnosis");
        send(
            &self.tx,
            Event::Diagnosis {
                stage: self.stage.clone(),
                step: step.to_string(),
                host: self.steps.host.clone(),
                diagnosis: diagnosis.clone(),
            },
        );
        diagnosis
    }

    fn finished(&self, step: &str, outcome: StepOutcome, took: Duration, attempt: u32) {
        tracing::info!(
            stage = %self.stage,
            step,
            host = %self.steps.host,
            outcome = outcome.label(),
            attempt,
            took_ms = millis(took),
            "step finished"
        );
        if let StepOutcome::Failed { message, .. } = &outcome {
            tracing::warn!(stage = %self.stage, step, host = %self.steps.host, "{message}");
        }
        send(
            &self.tx,
            Event::StepFinished {
                stage: self.stage.clone(),
                step: step.to_string(),
                host: self.steps.host.clone(),
                outcome,
                duration_ms: millis(took),
                attempt,
            },
        );
    }
}

//! Runs a plan: stages in order; inside a stage every host runs its steps in order, hosts in
//! parallel, each step attempt bounded by `--parallel`. A step may wait for the other hosts
//! (a barrier) or for its serial turn, as its scope and barrier flag say; the engine reads
//! nothing else of a stage (no stage names). Everything it does goes out as events; it knows
//! nothing of terminals.

pub mod evidence;
pub mod hosts;
pub mod journal;
pub mod step_exec;
pub mod sync;

use crate::events::{
    Counts, Diagnosis, Event, OutputStream, SkipReason, StepOutcome, StepRef, WaitFor,
};
use crate::plan::{HostSteps, Plan, Stage, Step, StepScope};
use anyhow::Result;
use evidence::HostAccess;
pub use hosts::HostPool;
use journal::Journal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use step_exec::FailedIn;
use sync::{EndOnDrop, StageSync, Wait};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;
pub use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How many step attempts run at the same time (over all hosts). Never held while a host
    /// waits for others, so a barrier cannot starve.
    pub parallel: usize,
    /// The state journal; None for ad-hoc runs (`exec`).
    pub journal: Option<PathBuf>,
    /// Stages whose journal entries are forgotten, so they run again (`--from-stage`).
    pub rerun_stages: Vec<String>,
    /// A narrowed plan (one step, some hosts or stages): its success does not complete the
    /// run in the journal, so the full plan run after it still resumes.
    pub partial: bool,
    /// Per stage, its cluster-wide view ([`crate::stages::Health::view`]): when a step of that
    /// stage fails, the view runs once and its findings about the host join the evidence, so
    /// `apply` diagnoses as `kubewiz diagnose` does.
    pub views: StageViews,
}

/// A stage's view, ready to run on the engine's pool.
pub type StageView = Arc<
    dyn Fn(Arc<HostPool>) -> futures::future::BoxFuture<'static, Vec<crate::stages::Finding>>
        + Send
        + Sync,
>;

#[derive(Clone, Default)]
pub struct StageViews(pub std::collections::BTreeMap<String, StageView>);

impl std::fmt::Debug for StageViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: 64,
            journal: None,
            rerun_stages: vec![],
            partial: false,
            views: StageViews::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub ok: bool,
    pub interrupted: bool,
    pub counts: Counts,
    /// Every step's outcome, per host in the order it finished them.
    pub outcomes: Vec<(StepRef, StepOutcome)>,
    /// What the failure catalog made of each failed step.
    pub diagnoses: Vec<(StepRef, Diagnosis)>,
}

type Sender = UnboundedSender<Event>;

fn send(tx: &Sender, ev: Event) {
    // A closed receiver means the front end is gone; the run still finishes its bookkeeping.
    let _ = tx.send(ev);
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Run the plan. Returns Err when the plan is inconsistent (see [`Plan::validate`]) or the
/// journal cannot be read or written; step failures are reported in the summary and the
/// events.
pub async fn run(
    plan: &Plan,
    pool: Arc<HostPool>,
    opts: RunOptions,
    tx: Sender,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    plan.validate()
        .map_err(|e| anyhow::anyhow!("the plan cannot run: {e}"))?;
    let started = Instant::now();
    let (journal, resumed) = match &opts.journal {
        Some(path) => {
            let (mut j, resumed) = Journal::open_for_run(path)?;
            let rerun: Vec<StepRef> = plan
                .stages
                .iter()
                .filter(|s| opts.rerun_stages.contains(&s.name))
                .flat_map(stage_refs)
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
            stages: plan.stages.iter().map(Stage::summary).collect(),
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
        let order: Vec<String> = stage.step_order().iter().map(|s| s.name.clone()).collect();
        let sync = Arc::new(StageSync::new(
            stage.hosts.iter().map(|h| h.host.clone()).collect(),
        ));
        // One run of the stage's view for all of its failures.
        let view = opts
            .views
            .0
            .get(&stage.name)
            .map(|v| (v.clone(), Arc::new(tokio::sync::OnceCell::new())));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, host_steps) in stage.hosts.iter().enumerate() {
            let ctx = HostRun {
                index,
                positions: host_steps
                    .steps
                    .iter()
                    .map(|s| order.iter().position(|o| *o == s.name).expect("in order"))
                    .collect(),
                serial_before: host_steps
                    .steps
                    .iter()
                    .map(|s| serial_predecessor(stage, index, s))
                    .collect(),
                stage: stage.name.clone(),
                units: stage.units.clone(),
                view: view.clone(),
                steps: host_steps.clone(),
                sync: sync.clone(),
                limit: limit.clone(),
                pool: pool.clone(),
                tx: tx.clone(),
                journal: journal.clone(),
                cancel: cancel.clone(),
            };
            tasks.spawn(ctx.run());
        }
        let mut counts = Counts::default();
        while let Some(joined) = tasks.join_next().await {
            let host_result = joined.expect("a host task panicked");
            let (results, diagnoses) = host_result?;
            summary.diagnoses.extend(diagnoses);
            for (at, outcome) in results {
                counts.add(&outcome);
                summary.outcomes.push((at, outcome));
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

fn stage_refs(stage: &Stage) -> Vec<StepRef> {
    stage
        .hosts
        .iter()
        .flat_map(|h| {
            h.steps
                .iter()
                .map(|s| StepRef::new(&stage.name, &s.name, &h.host))
        })
        .collect()
}

/// For a serial step: the host before `index` in the stage's host order that has it too.
fn serial_predecessor(stage: &Stage, index: usize, step: &Step) -> Option<usize> {
    if step.scope != StepScope::Serial {
        return None;
    }
    (0..index)
        .rev()
        .find(|&i| stage.hosts[i].steps.iter().any(|s| s.name == step.name))
}

/// A host's step outcomes and diagnoses.
type HostResults = (Vec<(StepRef, StepOutcome)>, Vec<(StepRef, Diagnosis)>);

/// One host's share of one stage.
struct HostRun {
    /// This host's index in the stage's host order.
    index: usize,
    /// Position of each of this host's steps in the stage's step order.
    positions: Vec<usize>,
    /// For each serial step, the host whose turn comes before this one's.
    serial_before: Vec<Option<usize>>,
    stage: String,
    /// systemd units whose journal explains a failure of this stage.
    units: Vec<String>,
    /// The stage's view and, once it ran, its findings.
    view: Option<(
        StageView,
        Arc<tokio::sync::OnceCell<Vec<crate::stages::Finding>>>,
    )>,
    steps: HostSteps,
    sync: Arc<StageSync>,
    limit: Arc<Semaphore>,
    pool: Arc<HostPool>,
    tx: Sender,
    journal: Option<Arc<Mutex<Journal>>>,
    cancel: CancellationToken,
}

impl HostRun {
    async fn run(self) -> Result<HostResults> {
        // However this task ends, the other hosts stop waiting for it.
        let _end = EndOnDrop {
            sync: self.sync.clone(),
            host: self.index,
        };
        let host = self.steps.host.clone();
        let mut results = vec![];
        let mut diagnoses = vec![];
        // Why the rest of this host's steps are skipped, once one failed here or on a peer
        // the host waited for.
        let mut given_up: Option<SkipReason> = None;
        for (i, step) in self.steps.steps.iter().enumerate() {
            let pos = self.positions[i];
            self.sync.pass(self.index, pos);
            let at = StepRef::new(&self.stage, &step.name, &host);
            let hash = step.input_hash();
            let mut skip = self.skip_reason(&at, &hash, &given_up);
            if skip.is_none() {
                skip = match self.wait_before(&at, i, step, pos).await {
                    Wait::Go => None,
                    Wait::Cancelled => Some(SkipReason::Interrupted),
                    Wait::PeerFailed(peer) => {
                        given_up = Some(SkipReason::PeerFailed { host: peer });
                        given_up.clone()
                    }
                };
            }
            let started = Instant::now();
            let (outcome, attempt, failed_in) = match skip {
                Some(reason) => (StepOutcome::Skipped { reason }, 0, FailedIn::Step),
                None => match self.attempts(&at, step).await {
                    Some((done, attempt)) => (done.outcome, attempt, done.failed_in),
                    None => (
                        StepOutcome::Skipped {
                            reason: SkipReason::Interrupted,
                        },
                        0,
                        FailedIn::Step,
                    ),
                },
            };
            let ran = attempt > 0;
            if let StepOutcome::Failed {
                last_lines,
                message,
                ..
            } = &outcome
            {
                given_up = Some(SkipReason::EarlierStepFailed);
                if !self.cancel.is_cancelled() {
                    let d = self.explain(&at, last_lines, message, failed_in).await;
                    diagnoses.push((at.clone(), d));
                }
            } else if ran {
                if let Some(j) = &self.journal {
                    j.lock()
                        .expect("journal lock")
                        .record(&at, hash, outcome.label())?;
                }
            }
            let took = if ran {
                started.elapsed()
            } else {
                Duration::ZERO
            };
            self.finished(&at, outcome.clone(), took, attempt);
            if outcome.is_failure() {
                self.sync.fail(self.index, pos);
            } else {
                self.sync.pass(self.index, pos + 1);
            }
            results.push((at, outcome));
        }
        Ok((results, diagnoses))
    }

    /// Why the step is not run at all, before any waiting: the run was cancelled, the host
    /// gave up, or the interrupted run this one resumes finished it with the same inputs.
    fn skip_reason(
        &self,
        at: &StepRef,
        hash: &str,
        given_up: &Option<SkipReason>,
    ) -> Option<SkipReason> {
        if self.cancel.is_cancelled() {
            Some(SkipReason::Interrupted)
        } else if given_up.is_some() {
            given_up.clone()
        } else if self
            .journal
            .as_ref()
            .is_some_and(|j| j.lock().expect("journal lock").finished_with(at, hash))
        {
            Some(SkipReason::DoneInJournal)
        } else {
            None
        }
    }

    /// Wait at the step's barrier and for its serial turn, as the plan says; tell the front
    /// end who this host waits for.
    async fn wait_before(&self, at: &StepRef, i: usize, step: &Step, pos: usize) -> Wait {
        if step.barrier {
            let others = self.sync.not_at(self.index, pos);
            if !others.is_empty() {
                self.waiting(at, WaitFor::Barrier, others);
            }
            let w = self.sync.barrier(self.index, pos, &self.cancel).await;
            if w != Wait::Go {
                return w;
            }
        }
        if let Some(before) = self.serial_before[i] {
            if !self.sync.is_past(before, pos) {
                let who = vec![self.sync.host(before).to_string()];
                self.waiting(at, WaitFor::SerialTurn, who);
            }
            return self.sync.turn_after(before, pos, &self.cancel).await;
        }
        Wait::Go
    }

    fn waiting(&self, at: &StepRef, waits_for: WaitFor, for_hosts: Vec<String>) {
        tracing::info!(step = %at, ?waits_for, ?for_hosts, "step waits");
        send(
            &self.tx,
            Event::StepWaiting {
                at: at.clone(),
                waits_for,
                for_hosts,
            },
        );
    }

    /// Run the step's attempts, each under a concurrency permit. Returns the last attempt and
    /// its number, or None when cancelled before the first one started.
    async fn attempts(&self, at: &StepRef, step: &Step) -> Option<(step_exec::Attempt, u32)> {
        let mut attempt = 1;
        loop {
            // Cancelled while waiting for room: this attempt never starts.
            let permit = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => None,
                p = self.limit.clone().acquire_owned() => Some(p.expect("semaphore never closed")),
            }?;
            send(
                &self.tx,
                Event::StepStarted {
                    at: at.clone(),
                    attempt,
                },
            );
            let result = self.attempt(at, step).await;
            drop(permit);
            let last = attempt >= step.retry.attempts.max(1);
            if !result.outcome.is_failure()
                || !result.retryable
                || last
                || self.cancel.is_cancelled()
            {
                return Some((result, attempt));
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
                    at: at.clone(),
                    attempt,
                    delay_ms: millis(delay),
                    reason,
                },
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.cancel.cancelled() => return Some((result, attempt - 1)),
            }
        }
    }

    async fn attempt(&self, at: &StepRef, step: &Step) -> step_exec::Attempt {
        let conn = match self.pool.connection(&at.host).await {
            Ok(c) => c,
            Err(e) => {
                return step_exec::Attempt {
                    failed_in: FailedIn::Connect,
                    ..step_exec::Attempt::ssh_failure(&e, e.to_string(), vec![])
                }
            }
        };
        let tx = self.tx.clone();
        let at = at.clone();
        let mut emit = move |stream: OutputStream, line: String| {
            // The log file keeps every line, so "open the full log" shows everything.
            tracing::debug!(target: "kubewiz::output", host = %at.host, step = %at.step, ?stream, "{line}");
            send(
                &tx,
                Event::Output {
                    at: at.clone(),
                    stream,
                    line,
                },
            )
        };
        step_exec::run_attempt(&conn, step, &mut emit).await
    }

    /// Gather evidence about the host and emit what the failure catalog makes of it. The
    /// failure message is evidence too (a lost connection, a clock skew, sudo refused); when
    /// the host could not be reached, the control machine probes it instead.
    async fn explain(
        &self,
        at: &StepRef,
        last_lines: &[String],
        message: &str,
        failed_in: FailedIn,
    ) -> Diagnosis {
        let _permit = self.limit.clone().acquire_owned().await;
        let mut known = vec![];
        // The stage's view across hosts, for a step that ran and failed (not for a host that
        // cannot be reached: the view would only say that again).
        if let (Some((view, findings)), FailedIn::Step) = (&self.view, failed_in) {
            let findings = findings.get_or_init(|| view(self.pool.clone())).await;
            known.extend(
                findings
                    .iter()
                    .filter(|f| f.host == at.host)
                    .map(|f| (f.source.clone(), f.line.clone())),
            );
        }
        known.extend(evidence::lines_from("step output", last_lines));
        let source = match failed_in {
            FailedIn::Step => "step output",
            FailedIn::Ssh | FailedIn::Connect => crate::diagnose::reach::SSH_SOURCE,
        };
        known.push((source.to_string(), message.to_string()));
        let conn = match failed_in {
            // Connecting again would only wait as long again for the same error.
            FailedIn::Connect => None,
            FailedIn::Step | FailedIn::Ssh => self.pool.connection(&at.host).await.ok(),
        };
        let target = self
            .pool
            .target(&at.host)
            .expect("a planned host is in the pool");
        let access = match &conn {
            Some(c) => HostAccess::Connected(c),
            None => HostAccess::Unreachable {
                address: &target.address,
                port: target.port,
            },
        };
        let diagnosis = evidence::diagnose(access, &self.stage, &self.units, known).await;
        tracing::info!(step = %at, id = ?diagnosis.id, "diagnosis");
        send(
            &self.tx,
            Event::Diagnosis {
                at: at.clone(),
                diagnosis: diagnosis.clone(),
            },
        );
        diagnosis
    }

    fn finished(&self, at: &StepRef, outcome: StepOutcome, took: Duration, attempt: u32) {
        tracing::info!(
            stage = %at.stage,
            step = %at.step,
            host = %at.host,
            outcome = outcome.label(),
            attempt,
            took_ms = millis(took),
            "step finished"
        );
        if let StepOutcome::Failed { message, .. } = &outcome {
            tracing::warn!(stage = %at.stage, step = %at.step, host = %at.host, "{message}");
        }
        send(
            &self.tx,
            Event::StepFinished {
                at: at.clone(),
                outcome,
                duration_ms: millis(took),
                attempt,
            },
        );
    }
}

//! The live deployment dashboard: stages, a host × stage matrix, progress and ETA, the log of
//! the selected host and step (follow, pause, scroll, search), and the failures the
//! troubleshooting pane shows. Built from the stages the first run announces, then fed the engine's events; drawn by
//! pure functions over it.

use super::input::{truncate, LineInput};
use super::keymap::{ch, ctrl, footer_line, key, Binding, Keymap};
use super::logbuf::{LogLine, Ring};
use super::summary_view::SUMMARY_KEYS;
use super::theme::Theme;
use crate::events::{
    Counts, Diagnosis, Event, OutputStream, SkipReason, StageSummary, StepOutcome, StepRef,
};
use crate::summary::{ClusterSummary, StoppedOn, SummaryLines};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;
use std::collections::HashMap;
use std::path::PathBuf;

/// Width of the stage table at the left of the matrix.
const STAGES_WIDTH: u16 = 54;
/// Width of the matrix's host column (`▸ ` and the name).
const HOST_COLUMN: u16 = 12;

/// What a run does (shown in the header; decides what follows when it ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKind {
    /// The whole plan (the journal skips what an interrupted run finished).
    Full,
    /// One step again on some hosts, then the full plan continues.
    Retry {
        stage: String,
        step: String,
        hosts: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    /// The host does not run this step.
    NotHere,
    Pending,
    /// Waiting before it starts: at a barrier for `for_hosts`, or for its serial turn.
    Waiting {
        for_hosts: Vec<String>,
        serial: bool,
    },
    Running {
        attempt: u32,
        since_ms: u64,
    },
    Retrying {
        attempt: u32,
    },
    Finished {
        outcome: StepOutcome,
        duration_ms: u64,
    },
}

impl StepState {
    fn finished(&self) -> bool {
        matches!(self, StepState::Finished { .. })
    }
    fn failed(&self) -> bool {
        matches!(self, StepState::Finished { outcome, .. } if outcome.is_failure())
    }
    fn active(&self) -> bool {
        matches!(
            self,
            StepState::Running { .. } | StepState::Retrying { .. } | StepState::Waiting { .. }
        )
    }
}

/// A step skipped because the journal has it from an interrupted run counts as done.
fn journal_skip(outcome: &StepOutcome) -> bool {
    matches!(
        outcome,
        StepOutcome::Skipped {
            reason: SkipReason::DoneInJournal
        }
    )
}

#[derive(Debug, Clone)]
pub struct StageView {
    pub name: String,
    pub steps: Vec<String>,
    /// Per step, how it runs when not on each host on its own ("once on node1", "serial").
    pub how: Vec<Option<String>>,
    pub started_ms: Option<u64>,
    pub duration_ms: Option<u64>,
}

/// A failed step, with what the catalog said about it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub at: StepRef,
    pub exit_status: Option<u32>,
    pub message: String,
    pub last_lines: Vec<String>,
    pub attempt: u32,
    pub diagnosis: Option<Diagnosis>,
}

impl Failure {
    pub fn key(&self) -> StepRef {
        self.at.clone()
    }
    /// Lines of evidence that matched a catalog signature.
    pub fn matched_lines(&self) -> Vec<&str> {
        self.diagnosis
            .iter()
            .flat_map(|d| &d.evidence)
            .filter(|e| e.matched)
            .map(|e| e.line.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Pane {
    pub index: usize,
    pub confirm_skip: bool,
    pub confirm_fix: bool,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub struct RunEnd {
    pub ok: bool,
    pub interrupted: bool,
    pub counts: Counts,
    pub duration_ms: u64,
}

pub struct Dashboard {
    pub cluster: String,
    pub stages: Vec<StageView>,
    pub hosts: Vec<String>,
    host_idx: HashMap<String, usize>,
    stage_idx: HashMap<String, usize>,
    /// `[stage][host][step]`.
    pub cells: Vec<Vec<Vec<StepState>>>,
    logs: HashMap<(usize, usize, usize), Ring>,
    /// Per host: the step it started last (stage, step).
    last_started: Vec<Option<(usize, usize)>>,
    pending_diagnoses: HashMap<StepRef, Diagnosis>,
    pub now_ms: u64,
    pub run_started_ms: Option<u64>,
    pub running: bool,
    pub stopping: bool,
    pub resumed: bool,
    pub kind: RunKind,
    pub end: Option<RunEnd>,
    // Selection and log view.
    pub sel_host: usize,
    pub sel_stage: usize,
    pub sel_step: usize,
    pub follow: bool,
    pub live: bool,
    pub view_end: u64,
    pub search: Option<LineInput>,
    pub query: Option<String>,
    pub failures: Vec<Failure>,
    pub pane: Option<Pane>,
    pub full_log: Option<u64>,
    pub notice: Option<(bool, String)>,
    pub warnings: Vec<String>,
    pub log_file: Option<PathBuf>,
    /// Lines of output received in total.
    pub lines_total: u64,
    /// The `kubewiz-node` / `kubewiz-component` lines of this session's runs (last wins).
    pub summary_lines: SummaryLines,
    /// Made when a full run ends well; shown instead of the stages and logs while
    /// `show_summary` (a key switches).
    pub summary: Option<ClusterSummary>,
    pub show_summary: bool,
}

impl Dashboard {
    /// From the stages as `PlanStarted` announces them.
    pub fn from_summaries(cluster: &str, summaries: &[StageSummary]) -> Dashboard {
        Dashboard::build(cluster, summaries)
    }

    /// Give a dashboard started before its plan was known (the run builds the plan) the shape
    /// of the stages its first run announces; what it shows besides (notice, log file) stays.
    pub fn reshape(&mut self, cluster: &str, stages: &[StageSummary]) {
        let shaped = Dashboard::from_summaries(cluster, stages);
        self.cluster = shaped.cluster;
        self.stages = shaped.stages;
        self.hosts = shaped.hosts;
        self.host_idx = shaped.host_idx;
        self.stage_idx = shaped.stage_idx;
        self.cells = shaped.cells;
        self.last_started = shaped.last_started;
        self.logs.clear();
    }

    fn build(cluster: &str, summaries: &[StageSummary]) -> Dashboard {
        let mut hosts: Vec<String> = vec![];
        for s in summaries {
            for h in &s.hosts {
                if !hosts.contains(h) {
                    hosts.push(h.clone());
                }
            }
        }
        let host_idx = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let mut stages = vec![];
        let mut cells = vec![];
        for s in summaries {
            let grid = hosts
                .iter()
                .map(|host| {
                    s.steps
                        .iter()
                        .map(|step| {
                            if step.hosts.contains(host) {
                                StepState::Pending
                            } else {
                                StepState::NotHere
                            }
                        })
                        .collect()
                })
                .collect();
            cells.push(grid);
            stages.push(StageView {
                name: s.name.clone(),
                steps: s.step_names(),
                how: s.steps.iter().map(|st| st.how()).collect(),
                started_ms: None,
                duration_ms: None,
            });
        }
        let stage_idx = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Dashboard {
            cluster: cluster.to_string(),
            last_started: vec![None; hosts.len()],
            stages,
            hosts,
            host_idx,
            stage_idx,
            cells,
            logs: HashMap::new(),
            pending_diagnoses: HashMap::new(),
            now_ms: 0,
            run_started_ms: None,
            running: false,
            stopping: false,
            resumed: false,
            kind: RunKind::Full,
            end: None,
            sel_host: 0,
            sel_stage: 0,
            sel_step: 0,
            follow: true,
            live: true,
            view_end: 0,
            search: None,
            query: None,
            failures: vec![],
            pane: None,
            full_log: None,
            notice: None,
            warnings: vec![],
            log_file: None,
            lines_total: 0,
            summary_lines: SummaryLines::default(),
            summary: None,
            show_summary: false,
        }
    }

    /// A run is about to start.
    pub fn run_starting(&mut self, kind: RunKind) {
        self.kind = kind;
        self.running = true;
        self.stopping = false;
        self.end = None;
        self.pane = None;
        self.notice = None;
        self.summary = None;
        self.show_summary = false;
    }

    /// A full run ended well: the summary screen, from the lines its steps printed.
    pub fn finish_with_summary(&mut self, cluster_file: &std::path::Path) {
        self.summary = Some(ClusterSummary::new(
            &self.cluster,
            &self.summary_lines,
            cluster_file,
            self.log_file.as_deref(),
        ));
        self.show_summary = true;
    }

    /// A full run stopped on a failure after the nodes joined: the summary is there behind `s`
    /// (with the failure at its head), while the troubleshooting pane stays in front.
    pub fn finish_stopped(&mut self, cluster_file: &std::path::Path) {
        let interrupted = self.end.as_ref().is_none_or(|e| e.interrupted);
        let Some(first) = self.failures.first() else {
            return;
        };
        if interrupted || !crate::summary::summary_after_failure(&self.summary_lines) {
            return;
        }
        let stopped = StoppedOn::new(&first.at, &first.message, first.diagnosis.as_ref());
        let summary = ClusterSummary::new(
            &self.cluster,
            &self.summary_lines,
            cluster_file,
            self.log_file.as_deref(),
        );
        self.summary = Some(summary.stopped(stopped));
    }

    fn idx(&self, stage: &str, step: &str, host: &str) -> Option<(usize, usize, usize)> {
        let s = *self.stage_idx.get(stage)?;
        let h = *self.host_idx.get(host)?;
        let k = self.stages[s].steps.iter().position(|x| x == step)?;
        Some((s, h, k))
    }

    pub fn ring(&self, s: usize, h: usize, k: usize) -> Option<&Ring> {
        self.logs.get(&(s, h, k))
    }

    fn push_line(&mut self, key: (usize, usize, usize), stderr: bool, text: String) {
        self.logs
            .entry(key)
            .or_default()
            .push(LogLine { stderr, text });
    }

    pub fn on_event(&mut self, ev: Event) {
        self.summary_lines.observe(&ev);
        match ev {
            Event::PlanStarted {
                stages, resumed, ..
            } => {
                self.running = true;
                self.resumed = resumed;
                if self.kind == RunKind::Full || self.run_started_ms.is_none() {
                    self.run_started_ms = Some(self.now_ms);
                }
                // Steps of this run that are not done go back to pending.
                for st in &stages {
                    for host in &st.hosts {
                        for step in st.step_names() {
                            if let Some((s, h, k)) = self.idx(&st.name, &step, host) {
                                let c = &mut self.cells[s][h][k];
                                let keep = matches!(c, StepState::NotHere)
                                    || matches!(c, StepState::Finished { outcome, .. } if !outcome.is_failure() && !matches!(outcome, StepOutcome::Skipped { .. }));
                                if !keep {
                                    *c = StepState::Pending;
                                }
                            }
                        }
                    }
                }
            }
            Event::StageStarted { stage } => {
                if let Some(&s) = self.stage_idx.get(&stage) {
                    self.stages[s].started_ms = Some(self.now_ms);
                    self.stages[s].duration_ms = None;
                }
            }
            Event::StepStarted { at, attempt } => {
                let Some((s, h, k)) = self.idx(&at.stage, &at.step, &at.host) else {
                    return;
                };
                self.failures.retain(|f| f.at != at);
                if let Some(p) = &mut self.pane {
                    p.index = p.index.min(self.failures.len().saturating_sub(1));
                }
                if self.failures.is_empty() {
                    self.pane = None;
                }
                if self.logs.get(&(s, h, k)).is_some_and(|r| !r.is_empty()) {
                    self.push_line((s, h, k), false, format!("──── attempt {attempt} ────"));
                }
                self.cells[s][h][k] = StepState::Running {
                    attempt,
                    since_ms: self.now_ms,
                };
                self.last_started[h] = Some((s, k));
                // Following: stay on the selected host while it works, else go where the
                // action is.
                let sel_busy = h != self.sel_host
                    && self.cells.iter().any(|st| {
                        st.get(self.sel_host)
                            .is_some_and(|row| row.iter().any(|c| c.active()))
                    });
                if self.follow && !sel_busy {
                    self.sel_host = h;
                    self.sel_stage = s;
                    self.sel_step = k;
                    self.live = true;
                }
            }
            Event::Output { at, stream, line } => {
                self.lines_total += 1;
                if let Some(key) = self.idx(&at.stage, &at.step, &at.host) {
                    self.push_line(key, stream == OutputStream::Stderr, line);
                }
            }
            Event::StepWaiting {
                at,
                waits_for,
                for_hosts,
            } => {
                if let Some((s, h, k)) = self.idx(&at.stage, &at.step, &at.host) {
                    let serial = waits_for == crate::events::WaitFor::SerialTurn;
                    let what = if serial {
                        "its turn"
                    } else {
                        "every host to get here"
                    };
                    let line = format!("waiting for {what} (on {})", for_hosts.join(", "));
                    self.push_line((s, h, k), false, line);
                    self.cells[s][h][k] = StepState::Waiting { for_hosts, serial };
                    // The step the host is at: where following it leads.
                    self.last_started[h] = Some((s, k));
                }
            }
            Event::StepRetrying {
                at,
                attempt,
                delay_ms,
                reason,
            } => {
                if let Some((s, h, k)) = self.idx(&at.stage, &at.step, &at.host) {
                    self.cells[s][h][k] = StepState::Retrying { attempt };
                    self.push_line(
                        (s, h, k),
                        true,
                        format!("retrying in {}: {reason}", fmt_ms(delay_ms)),
                    );
                }
            }
            Event::StepFinished {
                at,
                outcome,
                duration_ms,
                attempt,
            } => {
                let Some((s, h, k)) = self.idx(&at.stage, &at.step, &at.host) else {
                    return;
                };
                let cell = &mut self.cells[s][h][k];
                if journal_skip(&outcome) && cell.finished() && !cell.failed() {
                    return; // done before; keep what it was
                }
                if let StepOutcome::Failed {
                    exit_status,
                    message,
                    last_lines,
                } = &outcome
                {
                    self.failures.retain(|f| f.at != at);
                    self.failures.push(Failure {
                        diagnosis: self.pending_diagnoses.remove(&at),
                        at: at.clone(),
                        exit_status: *exit_status,
                        message: message.clone(),
                        last_lines: last_lines.clone(),
                        attempt,
                    });
                    if self.pane.is_none() {
                        self.pane = Some(Pane {
                            index: self.failures.len() - 1,
                            ..Pane::default()
                        });
                        // Show the failed step's log behind the pane.
                        self.sel_host = h;
                        self.sel_stage = s;
                        self.sel_step = k;
                        self.follow = false;
                        self.live = true;
                    }
                }
                self.cells[s][h][k] = StepState::Finished {
                    outcome,
                    duration_ms,
                };
            }
            Event::StageFinished {
                stage, duration_ms, ..
            } => {
                if let Some(&s) = self.stage_idx.get(&stage) {
                    self.stages[s].duration_ms = Some(duration_ms);
                }
            }
            Event::Diagnosis { at, diagnosis } => {
                match self.failures.iter_mut().find(|f| f.at == at) {
                    Some(f) => f.diagnosis = Some(diagnosis),
                    None => {
                        self.pending_diagnoses.insert(at, diagnosis);
                    }
                }
            }
            // Only `kubewiz diagnose` says it; a deployment's dashboard has steps for that.
            Event::Healthy { .. } => {}
            Event::PlanFinished {
                ok,
                interrupted,
                counts,
                duration_ms,
            } => {
                self.running = false;
                self.end = Some(RunEnd {
                    ok,
                    interrupted,
                    counts,
                    duration_ms,
                });
                for stage in &mut self.cells {
                    for host in stage {
                        for c in host {
                            if c.active() {
                                *c = StepState::Pending;
                            }
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ figures

    /// (finished, total) steps over the whole plan.
    pub fn progress(&self) -> (usize, usize) {
        let mut done = 0;
        let mut total = 0;
        for stage in &self.cells {
            for host in stage {
                for c in host {
                    if *c != StepState::NotHere {
                        total += 1;
                        if c.finished() && !c.failed() {
                            done += 1;
                        }
                    }
                }
            }
        }
        (done, total)
    }

    pub fn elapsed_ms(&self) -> u64 {
        match (&self.end, self.run_started_ms) {
            (Some(e), _) if !self.running => e.duration_ms,
            (_, Some(start)) => self.now_ms.saturating_sub(start),
            _ => 0,
        }
    }

    /// Time left, from the pace so far.
    pub fn eta_ms(&self) -> Option<u64> {
        let (done, total) = self.progress();
        if !self.running || done == 0 || done >= total {
            return None;
        }
        let per = self.elapsed_ms() as f64 / done as f64;
        Some((per * (total - done) as f64) as u64)
    }

    pub fn stage_counts(&self, s: usize) -> (usize, usize, Counts) {
        let mut counts = Counts::default();
        let mut done = 0;
        let mut total = 0;
        for host in &self.cells[s] {
            for c in host {
                if *c == StepState::NotHere {
                    continue;
                }
                total += 1;
                if let StepState::Finished { outcome, .. } = c {
                    counts.add(outcome);
                    if !outcome.is_failure() {
                        done += 1;
                    }
                }
            }
        }
        (done, total, counts)
    }

    pub fn stage_state(&self, s: usize) -> &'static str {
        let (done, total, counts) = self.stage_counts(s);
        let active = self.cells[s].iter().flatten().any(|c| c.active());
        if counts.failed > 0 {
            "failed"
        } else if total > 0 && done == total {
            "done"
        } else if active {
            "running"
        } else {
            "pending"
        }
    }

    // ------------------------------------------------------------------ selection

    pub fn select_host(&mut self, h: usize) {
        self.sel_host = h.min(self.hosts.len().saturating_sub(1));
        if self.follow {
            if let Some((s, k)) = self.last_started.get(self.sel_host).copied().flatten() {
                self.sel_stage = s;
                self.sel_step = k;
            }
        }
        self.live = true;
    }

    pub fn select_stage(&mut self, s: usize) {
        self.sel_stage = s.min(self.stages.len().saturating_sub(1));
        self.sel_step = self.sel_step.min(
            self.stages
                .get(self.sel_stage)
                .map(|s| s.steps.len().saturating_sub(1))
                .unwrap_or(0),
        );
        self.follow = false;
        self.live = true;
    }

    pub fn select_step(&mut self, delta: isize) {
        let n = self
            .stages
            .get(self.sel_stage)
            .map(|s| s.steps.len())
            .unwrap_or(0);
        if n == 0 {
            return;
        }
        self.sel_step = (self.sel_step as isize + delta).rem_euclid(n as isize) as usize;
        self.follow = false;
        self.live = true;
    }

    pub fn selected_ring(&self) -> Option<&Ring> {
        self.ring(self.sel_stage, self.sel_host, self.sel_step)
    }

    pub fn selected_label(&self) -> String {
        let host = self.hosts.get(self.sel_host).cloned().unwrap_or_default();
        let stage = self.stages.get(self.sel_stage);
        let step = stage
            .and_then(|s| s.steps.get(self.sel_step))
            .cloned()
            .unwrap_or_default();
        format!(
            "{host} · {}/{step}",
            stage.map(|s| s.name.as_str()).unwrap_or("")
        )
    }

    /// Pause (or resume) the live view.
    pub fn toggle_pause(&mut self) {
        if self.live {
            self.view_end = self.selected_ring().map(|r| r.end_seq()).unwrap_or(0);
            self.live = false;
        } else {
            self.live = true;
        }
    }

    pub fn scroll(&mut self, lines: i64) {
        let Some(r) = self.selected_ring() else {
            return;
        };
        let (first, end) = (r.first_seq(), r.end_seq());
        let cur = if self.live { end } else { self.view_end };
        let next = (cur as i64 + lines).clamp(first as i64, end as i64) as u64;
        if next >= end && lines > 0 {
            self.live = true;
        } else {
            self.live = false;
            self.view_end = next;
        }
    }

    /// Jump to the previous (older, `back`) or next match of the query.
    pub fn jump_match(&mut self, back: bool, height: u64) {
        let Some(q) = self.query.clone() else { return };
        let Some(r) = self.selected_ring() else {
            return;
        };
        let matches = r.find(&q.to_lowercase());
        let ring_end = r.end_seq();
        if matches.is_empty() {
            self.notice = Some((true, format!("no line matches {q:?}")));
            return;
        }
        let end = if self.live { ring_end } else { self.view_end };
        // The line shown in the middle of the view.
        let mid = end.saturating_sub(height / 2 + 1);
        let target = if back {
            matches.iter().rev().find(|&&m| m < mid).or(matches.last())
        } else {
            matches.iter().find(|&&m| m > mid).or(matches.first())
        };
        if let Some(&m) = target {
            self.live = false;
            self.view_end = (m + height / 2 + 1).min(ring_end);
            self.notice = Some((
                false,
                format!(
                    "match {} of {}",
                    matches.iter().position(|x| *x == m).unwrap_or(0) + 1,
                    matches.len()
                ),
            ));
        }
    }

    pub fn open_failure(&mut self, i: usize) {
        if let Some(f) = self.failures.get(i) {
            if let Some((s, h, k)) = self.idx(&f.at.stage, &f.at.step, &f.at.host) {
                self.sel_stage = s;
                self.sel_host = h;
                self.sel_step = k;
                self.follow = false;
                self.live = true;
            }
            self.pane = Some(Pane {
                index: i,
                ..Pane::default()
            });
        }
    }

    pub fn current_failure(&self) -> Option<&Failure> {
        self.pane.as_ref().and_then(|p| self.failures.get(p.index))
    }

    /// Every kept line of one host, in plan order, with a header per step.
    pub fn host_log(&self, h: usize) -> Vec<(Option<String>, Option<&LogLine>)> {
        let mut out = vec![];
        for (s, st) in self.stages.iter().enumerate() {
            for (k, name) in st.steps.iter().enumerate() {
                if let Some(r) = self.ring(s, h, k) {
                    let dropped = if r.dropped() > 0 {
                        format!(" ({} older lines in the log file)", r.dropped())
                    } else {
                        String::new()
                    };
                    out.push((Some(format!("── {}/{name}{dropped}", st.name)), None));
                    out.extend(r.iter().map(|(_, l)| (None, Some(l))));
                }
            }
        }
        out
    }

    // ------------------------------------------------------------------ drawing

    /// Rows of the stage table and the matrix beside it (borders and header included).
    pub fn top_height(&self, area: Rect) -> u16 {
        let rows = if self.stages_as_columns(area.width.saturating_sub(STAGES_WIDTH)) {
            self.hosts.len().max(self.stages.len())
        } else {
            self.stages.len()
        };
        (rows as u16 + 3).min(area.height / 2)
    }

    /// Whether a matrix `width` columns wide shows hosts as rows and stages as columns with
    /// every stage name whole in its header; else it turns: a row per stage, beside the stage
    /// table's rows, and a column per host.
    fn stages_as_columns(&self, width: u16) -> bool {
        let n = self.stages.len().max(1) as u16;
        let longest = self
            .stages
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0) as u16;
        // Borders, the host column, a space before each stage column.
        width.saturating_sub(2 + HOST_COLUMN + n) / n >= longest
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let [header, gauge, top, log, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(self.top_height(area)),
            Constraint::Min(5),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_header(f, header, theme);
        self.draw_gauge(f, gauge, theme);
        if let Some(s) = self.summary.as_ref().filter(|_| self.show_summary) {
            super::summary_view::draw(s, f, top.union(log), theme);
            self.draw_footer(f, footer, theme);
            return;
        }
        let [stages_a, matrix_a] =
            Layout::horizontal([Constraint::Length(STAGES_WIDTH), Constraint::Min(20)]).areas(top);
        self.draw_stages(f, stages_a, theme);
        self.draw_matrix(f, matrix_a, theme);
        if let Some(scroll) = self.full_log {
            self.draw_full_log(f, log.union(top), theme, scroll);
        } else {
            self.draw_log(f, log, theme);
        }
        self.draw_footer(f, footer, theme);
        if self.pane.is_some() && self.full_log.is_none() {
            super::trouble::draw(self, f, top.union(log), theme);
        }
    }

    fn draw_header(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let state = if self.stopping {
            Span::styled("stopping after the running steps…", theme.warn())
        } else if self.running {
            match &self.kind {
                // The run task builds the plan (PKI, bundle checksums) before it announces it.
                _ if self.stages.is_empty() => Span::styled(
                    "building the plan (certificates, bundle checksums)…",
                    theme.running(),
                ),
                RunKind::Full if self.resumed => {
                    Span::styled("resuming the interrupted run", theme.running())
                }
                RunKind::Full => Span::styled("deploying", theme.running()),
                RunKind::Retry { stage, step, hosts } => Span::styled(
                    format!("retrying {stage}/{step} on {}", hosts.join(", ")),
                    theme.running(),
                ),
            }
        } else {
            match &self.end {
                Some(e) if e.ok && matches!(self.kind, RunKind::Full) => {
                    Span::styled("✓ deployment finished", theme.ok())
                }
                Some(e) if e.ok => Span::styled("✓ retry succeeded", theme.ok()),
                Some(e) if e.interrupted => Span::styled(
                    "interrupted: the journal keeps what was done; reopen to resume",
                    theme.warn(),
                ),
                Some(_) => Span::styled("✗ deployment stopped on a failure", theme.err()),
                None => Span::styled("starting…", theme.dim()),
            }
        };
        let mut spans = vec![
            Span::styled(" kubewiz ", theme.title()),
            Span::styled(format!("· {} · ", self.cluster), theme.base()),
            state,
        ];
        if !self.warnings.is_empty() {
            spans.push(Span::styled(
                format!("  ⚠ {}", self.warnings.join("; ")),
                theme.warn(),
            ));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_gauge(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let (done, total) = self.progress();
        let ratio = if total == 0 {
            0.0
        } else {
            done as f64 / total as f64
        };
        let eta = match self.eta_ms() {
            Some(ms) => format!("ETA {}", fmt_clock(ms)),
            None if self.running => "ETA —".into(),
            None => String::new(),
        };
        let label = format!(
            "{done}/{total} steps · {:.0}% · {} {eta}",
            ratio * 100.0,
            fmt_clock(self.elapsed_ms())
        );
        let style = if self.failures.is_empty() {
            theme.ok()
        } else {
            theme.err()
        };
        // The figures beside the bar, not on it: readable whatever the bar's colour.
        let label = format!(" {label}");
        let [bar, text] = Layout::horizontal([
            Constraint::Min(10),
            Constraint::Length(label.chars().count() as u16 + 1),
        ])
        .areas(area);
        let bar = Rect {
            x: bar.x + 1,
            width: bar.width.saturating_sub(1),
            ..bar
        };
        let w = bar.width as usize;
        let filled = ((ratio.clamp(0.0, 1.0) * w as f64).round() as usize).min(w);
        let (fill, rest) = ("█", "░");
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(fill.repeat(filled), style),
                Span::styled(rest.repeat(w - filled), theme.border()),
            ])),
            bar,
        );
        f.render_widget(Paragraph::new(Span::styled(label, theme.title())), text);
    }

    fn draw_stages(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let rows: Vec<Row> = self
            .stages
            .iter()
            .enumerate()
            .map(|(s, st)| {
                let (done, total, counts) = self.stage_counts(s);
                let state = self.stage_state(s);
                let (mark, style) = match state {
                    "done" => ("✓", theme.ok()),
                    "failed" => ("✗", theme.err()),
                    "running" => ("▶", theme.running()),
                    _ => ("·", theme.dim()),
                };
                let dur = match (st.duration_ms, st.started_ms) {
                    (Some(d), _) => fmt_ms(d),
                    (None, Some(start)) if state == "running" => {
                        fmt_ms(self.now_ms.saturating_sub(start))
                    }
                    _ => String::new(),
                };
                let tally = if counts.failed > 0 {
                    format!("{} failed", counts.failed)
                } else if counts.total() > 0 {
                    format!("{} changed", counts.changed)
                } else {
                    String::new()
                };
                let sel = s == self.sel_stage;
                Row::new(vec![
                    Span::styled(
                        format!("{mark} {}", st.name),
                        if sel { theme.title() } else { style },
                    ),
                    Span::styled(state.to_string(), style),
                    Span::raw(format!("{done}/{total}")),
                    Span::raw(dur),
                    Span::styled(tally, theme.dim()),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    // "✓ control_plane"
                    Constraint::Length(15),
                    Constraint::Length(8),
                    Constraint::Length(6),
                    Constraint::Length(6),
                    Constraint::Min(10),
                ],
            )
            .header(
                Row::new(vec!["Stage", "State", "Steps", "Time", "Result"]).style(theme.title()),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(" Stages ", theme.title())),
            ),
            area,
        );
    }

    /// What the matrix shows for host `h` in stage `s`: a mark, the steps done, the step at
    /// hand (failed, waiting or running) and its style.
    fn cell(&self, s: usize, h: usize, theme: &Theme) -> (String, Option<String>, Style) {
        let row = &self.cells[s][h];
        let total = row.iter().filter(|c| **c != StepState::NotHere).count();
        let done = row.iter().filter(|c| c.finished() && !c.failed()).count();
        let step = |k: usize| Some(self.stages[s].steps[k].clone());
        let failed = row.iter().position(|c| c.failed());
        let waiting = row
            .iter()
            .position(|c| matches!(c, StepState::Waiting { .. }));
        let active = row.iter().position(|c| c.active());
        let (head, step, style) = if total == 0 {
            ("—".to_string(), None, theme.dim())
        } else if let Some(k) = failed {
            (format!("✗ {done}/{total}"), step(k), theme.err())
        } else if let Some(k) = waiting {
            (format!("… {done}/{total}"), step(k), theme.warn())
        } else if let Some(k) = active {
            (format!("▶ {done}/{total}"), step(k), theme.running())
        } else if done == total {
            (format!("✓ {done}/{total}"), None, theme.ok())
        } else {
            (format!("· {done}/{total}"), None, theme.dim())
        };
        let style = if h == self.sel_host && s == self.sel_stage {
            theme.selected()
        } else {
            style
        };
        (head, step, style)
    }

    /// The cell's text in `width` columns: the step name only when it fits whole.
    fn cell_span(&self, s: usize, h: usize, width: usize, theme: &Theme) -> Span<'static> {
        let (head, step, style) = self.cell(s, h, theme);
        let text = match step {
            Some(step) if head.chars().count() + 1 + step.chars().count() <= width => {
                format!("{head} {step}")
            }
            _ => head,
        };
        Span::styled(text, style)
    }

    fn draw_matrix(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if !self.stages_as_columns(area.width) {
            return self.draw_matrix_by_stage(f, area, theme);
        }
        let mut header = vec![Span::styled("Host", theme.title())];
        for st in &self.stages {
            header.push(Span::styled(st.name.clone(), theme.title()));
        }
        let n = self.stages.len().max(1) as u16;
        let col = (area.width.saturating_sub(2 + HOST_COLUMN + n) / n) as usize;
        let rows: Vec<Row> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(h, name)| {
                let mut cells = vec![Span::styled(
                    format!("{} {name}", if h == self.sel_host { "▸" } else { " " }),
                    if h == self.sel_host {
                        theme.title()
                    } else {
                        theme.base()
                    },
                )];
                for s in 0..self.stages.len() {
                    cells.push(self.cell_span(s, h, col, theme));
                }
                Row::new(cells)
            })
            .collect();
        let mut widths = vec![Constraint::Length(HOST_COLUMN)];
        widths.extend(self.stages.iter().map(|_| Constraint::Fill(1)));
        f.render_widget(
            matrix_table(rows, widths, header, " Hosts × stages ", theme),
            area,
        );
    }

    /// Too many stages for their names across: a row per stage, level with the stage table's
    /// row of the same stage, and a column per host.
    fn draw_matrix_by_stage(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let n = self.hosts.len().max(1) as u16;
        let col = (area.width.saturating_sub(2 + n - 1) / n) as usize;
        let header: Vec<Span> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(h, name)| {
                if h == self.sel_host {
                    Span::styled(truncate(&format!("▸ {name}"), col), theme.title())
                } else {
                    Span::styled(truncate(&format!("  {name}"), col), theme.base())
                }
            })
            .collect();
        let rows: Vec<Row> = (0..self.stages.len())
            .map(|s| {
                Row::new(
                    (0..self.hosts.len())
                        .map(|h| self.cell_span(s, h, col, theme))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let widths: Vec<Constraint> = self.hosts.iter().map(|_| Constraint::Fill(1)).collect();
        f.render_widget(
            matrix_table(rows, widths, header, " Stages × hosts ", theme),
            area,
        );
    }

    fn draw_log(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let state = if self.live { "live" } else { "paused" };
        let follow = if self.follow { ", following" } else { "" };
        let step_state = self
            .cells
            .get(self.sel_stage)
            .and_then(|s| s.get(self.sel_host))
            .and_then(|h| h.get(self.sel_step));
        // "once on node1", "serial", "waits for all hosts", for a step not yet run.
        let how = self
            .stages
            .get(self.sel_stage)
            .and_then(|st| st.how.get(self.sel_step).cloned().flatten())
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let st_label = match step_state {
            Some(StepState::Finished {
                outcome,
                duration_ms,
            }) => {
                format!(" — {} in {}{how}", outcome.label(), fmt_ms(*duration_ms))
            }
            Some(StepState::Waiting { for_hosts, serial }) => format!(
                " — waiting for {} ({})",
                for_hosts.join(", "),
                if *serial {
                    "serial: one host at a time"
                } else {
                    "every host gets here first"
                }
            ),
            Some(StepState::Running { attempt, since_ms }) => format!(
                " — running {}{}{how}",
                fmt_ms(self.now_ms.saturating_sub(*since_ms)),
                if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                }
            ),
            Some(StepState::Retrying { attempt }) => format!(" — retrying (attempt {attempt})"),
            Some(StepState::Pending) => format!(" — pending{how}"),
            Some(StepState::NotHere) => format!(" — not on this host{how}"),
            None => String::new(),
        };
        let title = format!(
            " Log: {}{st_label} ({state}{follow}) ",
            self.selected_label()
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_focus())
            .title(Span::styled(title, theme.title()));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let height = inner.height as usize;
        let Some(ring) = self.selected_ring() else {
            f.render_widget(
                Paragraph::new(Span::styled("no output yet", theme.dim())),
                inner,
            );
            return;
        };
        let end = if self.live {
            ring.end_seq()
        } else {
            self.view_end
        };
        let q = self.query.as_ref().map(|q| q.to_lowercase());
        let evidence: Vec<&str> = self
            .failures
            .iter()
            .filter(|f| {
                Some(f.at.host.as_str()) == self.hosts.get(self.sel_host).map(|s| s.as_str())
                    && f.at.stage == self.stages[self.sel_stage].name
                    && f.at.step == self.stages[self.sel_stage].steps[self.sel_step]
            })
            .flat_map(|f| f.matched_lines())
            .collect();
        let width = inner.width as usize;
        let lines: Vec<Line> = ring
            .window(end, height)
            .map(|(_, l)| {
                let text = truncate(&l.text, width);
                let is_evidence = evidence.iter().any(|e| {
                    l.text.contains(e) || e.contains(l.text.as_str()) && !l.text.is_empty()
                });
                let is_match = q
                    .as_ref()
                    .is_some_and(|q| !q.is_empty() && l.text.to_lowercase().contains(q));
                let style = if is_evidence || is_match {
                    theme.highlight()
                } else if l.stderr {
                    theme.warn()
                } else if l.text.starts_with("────") {
                    theme.dim()
                } else {
                    Style::default()
                };
                Line::from(Span::styled(text, style))
            })
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_full_log(&self, f: &mut Frame, area: Rect, theme: &Theme, scroll: u64) {
        let host = self.hosts.get(self.sel_host).cloned().unwrap_or_default();
        let file = self
            .log_file
            .as_ref()
            .map(|p| format!(" — every line is also in {}", p.display()))
            .unwrap_or_default();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_focus())
            .title(Span::styled(
                format!(" Full log of {host}{file} (Esc: close) "),
                theme.title(),
            ));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let all = self.host_log(self.sel_host);
        let h = inner.height as usize;
        let max_start = all.len().saturating_sub(h);
        let start = max_start.saturating_sub(scroll as usize);
        let width = inner.width as usize;
        let lines: Vec<Line> = all
            .iter()
            .skip(start)
            .take(h)
            .map(|(hdr, l)| match (hdr, l) {
                (Some(hdr), _) => Line::from(Span::styled(truncate(hdr, width), theme.accent())),
                (None, Some(l)) => Line::from(Span::styled(
                    truncate(&l.text, width),
                    if l.stderr {
                        theme.warn()
                    } else {
                        Style::default()
                    },
                )),
                _ => Line::from(""),
            })
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_footer(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if let Some(input) = &self.search {
            let mut spans = vec![Span::styled(" search: ", theme.key())];
            spans.extend(input.spans(40, true, theme));
            let keys: Vec<String> = SEARCH_KEYS
                .bindings
                .iter()
                .map(|b| format!("{}: {}", b.label, b.footer.unwrap_or(b.help)))
                .collect();
            spans.push(Span::styled(format!("  {}", keys.join("  ")), theme.dim()));
            f.render_widget(Paragraph::new(Line::from(spans)), area);
            return;
        }
        if let Some((is_err, msg)) = &self.notice {
            f.render_widget(
                Paragraph::new(Span::styled(
                    format!(" {msg}"),
                    if *is_err { theme.err() } else { theme.ok() },
                )),
                area,
            );
            return;
        }
        let docs = if self.full_log.is_some() {
            FULL_LOG_KEYS.docs()
        } else if self.summary.is_some() && self.show_summary {
            SUMMARY_KEYS.docs()
        } else if self.summary.is_some() {
            // The run is over: the way to the summary instead of the live-log keys.
            let live = [DashAction::Follow, DashAction::Pause].map(|a| DASH_KEYS.doc(a));
            DASH_KEYS
                .docs()
                .into_iter()
                .filter(|d| !live.contains(&Some(d.clone())))
                .collect()
        } else {
            DASH_KEYS
                .docs()
                .into_iter()
                .filter(|d| Some(d) != DASH_KEYS.doc(DashAction::Summary).as_ref())
                .collect()
        };
        f.render_widget(Paragraph::new(footer_line(&docs, theme)), area);
    }

    // ------------------------------------------------------------------ keys

    /// A key while the search input is open.
    pub fn search_key(&mut self, key: KeyEvent, height: u64) {
        let Some(input) = &mut self.search else {
            return;
        };
        match SEARCH_KEYS.action(&key) {
            Some(SearchAction::Cancel) => self.search = None,
            Some(SearchAction::Find) => {
                let q = input.value.clone();
                self.search = None;
                self.query = (!q.is_empty()).then_some(q);
                self.jump_match(true, height);
            }
            None => {
                input.handle(key);
            }
        }
    }

    /// A key while the full log is open.
    pub fn full_log_key(&mut self, key: KeyEvent) {
        let Some(scroll) = &mut self.full_log else {
            return;
        };
        match FULL_LOG_KEYS.action(&key) {
            Some(FullLogAction::Close) => self.full_log = None,
            Some(FullLogAction::Older) => *scroll += 1,
            Some(FullLogAction::Newer) => *scroll = scroll.saturating_sub(1),
            Some(FullLogAction::PageOlder) => *scroll += 20,
            Some(FullLogAction::PageNewer) => *scroll = scroll.saturating_sub(20),
            Some(FullLogAction::Top) => *scroll = u64::MAX / 2,
            Some(FullLogAction::Bottom) => *scroll = 0,
            None => {}
        }
    }

    /// A key on the dashboard itself (no search, full log or pane open); what the app must do.
    /// `height`: the log view's, for page scrolling and search jumps.
    pub fn on_key(&mut self, key: KeyEvent, height: u64) -> Option<DashCommand> {
        let page = (height as i64 - 1).max(1);
        match DASH_KEYS.action(&key)? {
            DashAction::Quit | DashAction::Interrupt => return Some(DashCommand::Quit),
            DashAction::Help => return Some(DashCommand::Help),
            DashAction::Wizard if !self.running => return Some(DashCommand::Wizard),
            DashAction::Wizard => {}
            DashAction::HostUp => self.select_host(self.sel_host.saturating_sub(1)),
            DashAction::HostDown => self.select_host(self.sel_host + 1),
            DashAction::StagePrev => self.select_stage(self.sel_stage.saturating_sub(1)),
            DashAction::StageNext => self.select_stage(self.sel_stage + 1),
            DashAction::StepPrev => self.select_step(-1),
            DashAction::StepNext => self.select_step(1),
            DashAction::Follow => {
                self.follow = !self.follow;
                if self.follow {
                    self.select_host(self.sel_host);
                }
            }
            DashAction::Pause => self.toggle_pause(),
            DashAction::PageUp => self.scroll(-page),
            DashAction::PageDown => self.scroll(page),
            DashAction::LineUp => self.scroll(-1),
            DashAction::LineDown => self.scroll(1),
            DashAction::Top => self.scroll(-(1 << 40)),
            DashAction::Live => self.live = true,
            DashAction::Search => self.search = Some(LineInput::default()),
            DashAction::MatchOlder => self.jump_match(true, height),
            DashAction::MatchNewer => self.jump_match(false, height),
            DashAction::Trouble => {
                if self.failures.is_empty() {
                    self.notice = Some((false, "no failure to troubleshoot".into()));
                } else {
                    self.open_failure(0);
                }
            }
            DashAction::FullLog => self.full_log = Some(0),
            DashAction::Summary if self.summary.is_some() => self.show_summary = true,
            DashAction::Summary => {
                self.notice = Some((
                    false,
                    "the summary comes at the end of a run that joined the nodes".into(),
                ))
            }
            DashAction::ClearQuery => self.query = None,
        }
        None
    }
}

/// What a dashboard key asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashCommand {
    Help,
    Quit,
    Wizard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashAction {
    HostUp,
    HostDown,
    StagePrev,
    StageNext,
    StepPrev,
    StepNext,
    Follow,
    Pause,
    PageUp,
    PageDown,
    LineUp,
    LineDown,
    Top,
    Live,
    Search,
    MatchOlder,
    MatchNewer,
    Trouble,
    FullLog,
    Summary,
    Wizard,
    ClearQuery,
    Help,
    Quit,
    /// Ctrl-C: quit from anywhere on the dashboard (twice while stopping: at once).
    Interrupt,
}

pub const DASH_KEYS: Keymap<DashAction> = Keymap {
    title: "Dashboard",
    bindings: &[
        Binding {
            keys: &[
                (key(KeyCode::Up), DashAction::HostUp),
                (ch('k'), DashAction::HostUp),
                (key(KeyCode::Down), DashAction::HostDown),
                (ch('j'), DashAction::HostDown),
            ],
            label: "↑↓",
            footer: Some("host"),
            help: "select a host",
        },
        Binding {
            keys: &[
                (key(KeyCode::Left), DashAction::StagePrev),
                (ch('h'), DashAction::StagePrev),
                (key(KeyCode::Right), DashAction::StageNext),
            ],
            label: "←→",
            footer: Some("stage"),
            help: "select a stage",
        },
        Binding {
            keys: &[
                (ch('['), DashAction::StepPrev),
                (ch(']'), DashAction::StepNext),
            ],
            label: "[ ]",
            footer: Some("step"),
            help: "previous / next step of the stage",
        },
        Binding {
            keys: &[(ch('f'), DashAction::Follow)],
            label: "f",
            footer: Some("follow"),
            help: "follow the running step of the host",
        },
        Binding {
            keys: &[(ch(' '), DashAction::Pause), (ch('p'), DashAction::Pause)],
            label: "space",
            footer: Some("pause"),
            help: "pause / resume the live log",
        },
        Binding {
            keys: &[
                (key(KeyCode::PageUp), DashAction::PageUp),
                (key(KeyCode::PageDown), DashAction::PageDown),
                (ch('K'), DashAction::LineUp),
                (ch('J'), DashAction::LineDown),
                (key(KeyCode::Home), DashAction::Top),
                (ch('g'), DashAction::Top),
                (key(KeyCode::End), DashAction::Live),
                (ch('G'), DashAction::Live),
            ],
            label: "PgUp/Dn",
            footer: Some("scroll"),
            help: "scroll the log; J K: a line; Home: top; End: live",
        },
        Binding {
            keys: &[
                (ch('/'), DashAction::Search),
                (ch('n'), DashAction::MatchOlder),
                (ch('N'), DashAction::MatchNewer),
            ],
            label: "/",
            footer: Some("search"),
            help: "search the log; n / N: older / newer match",
        },
        Binding {
            keys: &[(ch('t'), DashAction::Trouble)],
            label: "t",
            footer: Some("trouble"),
            help: "troubleshoot the failures",
        },
        Binding {
            keys: &[(ch('l'), DashAction::FullLog)],
            label: "l",
            footer: Some("full log"),
            help: "the host's full log (and the log file)",
        },
        Binding {
            keys: &[(ch('s'), DashAction::Summary)],
            label: "s",
            footer: Some("summary"),
            help: "the cluster summary, once nodes joined",
        },
        Binding {
            keys: &[(ch('w'), DashAction::Wizard)],
            label: "w",
            footer: None,
            help: "back to the wizard when no run is going",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), DashAction::ClearQuery)],
            label: "Esc",
            footer: None,
            help: "clear the search",
        },
        Binding {
            keys: &[(ch('?'), DashAction::Help)],
            label: "?",
            footer: Some("help"),
            help: "this help (F1 too)",
        },
        Binding {
            keys: &[
                (ch('q'), DashAction::Quit),
                (ctrl('c'), DashAction::Interrupt),
            ],
            label: "q",
            footer: Some("quit"),
            help: "quit, Ctrl-C too (a running deployment stops)",
        },
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FullLogAction {
    Older,
    Newer,
    PageOlder,
    PageNewer,
    Top,
    Bottom,
    Close,
}

const FULL_LOG_KEYS: Keymap<FullLogAction> = Keymap {
    title: "Full log",
    bindings: &[
        Binding {
            keys: &[
                (key(KeyCode::Up), FullLogAction::Older),
                (ch('k'), FullLogAction::Older),
                (key(KeyCode::Down), FullLogAction::Newer),
                (ch('j'), FullLogAction::Newer),
                (key(KeyCode::PageUp), FullLogAction::PageOlder),
                (key(KeyCode::PageDown), FullLogAction::PageNewer),
            ],
            label: "↑↓ PgUp PgDn",
            footer: Some("scroll"),
            help: "scroll the full log",
        },
        Binding {
            keys: &[
                (key(KeyCode::Home), FullLogAction::Top),
                (ch('g'), FullLogAction::Top),
                (key(KeyCode::End), FullLogAction::Bottom),
                (ch('G'), FullLogAction::Bottom),
            ],
            label: "Home/End",
            footer: Some("top/bottom"),
            help: "the first / last line",
        },
        Binding {
            keys: &[
                (key(KeyCode::Esc), FullLogAction::Close),
                (ch('l'), FullLogAction::Close),
                (ch('q'), FullLogAction::Close),
            ],
            label: "Esc",
            footer: Some("close"),
            help: "close the full log",
        },
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchAction {
    Find,
    Cancel,
}

const SEARCH_KEYS: Keymap<SearchAction> = Keymap {
    title: "Search",
    bindings: &[
        Binding {
            keys: &[(key(KeyCode::Enter), SearchAction::Find)],
            label: "Enter",
            footer: Some("find"),
            help: "find the text in the log",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), SearchAction::Cancel)],
            label: "Esc",
            footer: Some("cancel"),
            help: "close the search",
        },
    ],
};

/// The matrix, either way round, in its titled box.
fn matrix_table<'a>(
    rows: Vec<Row<'a>>,
    widths: Vec<Constraint>,
    header: Vec<Span<'a>>,
    title: &'a str,
    theme: &Theme,
) -> Table<'a> {
    Table::new(rows, widths).header(Row::new(header)).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.title())),
    )
}

/// `850ms`, `2.1s`, `1m05s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// `0:07`, `12:30`.
pub fn fmt_clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{StepSummary, WaitFor};
    use crate::plan::StepScope;

    fn dash() -> Dashboard {
        let hosts: Vec<String> = vec!["n1".into(), "n2".into()];
        let mut stage = StageSummary::each_host("etcd", &["start"], &hosts);
        stage.steps[0].barrier = true;
        stage.steps.push(StepSummary {
            name: "report".into(),
            scope: StepScope::Once,
            barrier: false,
            hosts: vec!["n1".into()],
        });
        Dashboard::from_summaries("c", &[stage])
    }

    #[test]
    fn a_once_step_is_on_its_host_only_and_says_how_it_runs() {
        let d = dash();
        assert_eq!(d.cells[0][0][1], StepState::Pending);
        assert_eq!(d.cells[0][1][1], StepState::NotHere);
        assert_eq!(
            d.stages[0].how,
            vec![
                Some("waits for all hosts".to_string()),
                Some("once on n1".to_string())
            ]
        );
    }

    #[test]
    fn waiting_shows_in_the_log_and_a_journal_skip_keeps_a_done_step() {
        let mut d = dash();
        d.on_event(Event::StepWaiting {
            at: StepRef::new("etcd", "start", "n1"),
            waits_for: WaitFor::Barrier,
            for_hosts: vec!["n2".into()],
        });
        let lines: Vec<String> = d
            .ring(0, 0, 0)
            .unwrap()
            .iter()
            .map(|(_, l)| l.text.clone())
            .collect();
        assert_eq!(lines, vec!["waiting for every host to get here (on n2)"]);

        let at = StepRef::new("etcd", "start", "n2");
        let finished = |outcome| Event::StepFinished {
            at: at.clone(),
            outcome,
            duration_ms: 5,
            attempt: 1,
        };
        d.on_event(finished(StepOutcome::Changed));
        d.on_event(finished(StepOutcome::Skipped {
            reason: SkipReason::DoneInJournal,
        }));
        assert_eq!(
            d.cells[0][1][0],
            StepState::Finished {
                outcome: StepOutcome::Changed,
                duration_ms: 5
            }
        );
        // Any other skip replaces it.
        d.on_event(finished(StepOutcome::Skipped {
            reason: SkipReason::PeerFailed { host: "n1".into() },
        }));
        assert!(matches!(
            d.cells[0][1][0],
            StepState::Finished {
                outcome: StepOutcome::Skipped { .. },
                ..
            }
        ));
    }
}

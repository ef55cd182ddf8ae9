//! The terminal UI: the wizard, the live deployment dashboard, the troubleshooting pane.
//!
//! Shape (ratatui's component template + television's render loop):
//! - [`App`] is the state; terminal keys, engine [`Event`]s and results of background work
//!   ([`Msg`]) go in; side effects ([`Effect`]: test a host, start a run, copy...) come out and
//!   are carried out by [`runner::Driver`]. Nothing in `App` does I/O except saving the
//!   cluster file.
//! - [`App::draw`] is a pure function of the state; [`runner::run_loop`] drains every pending
//!   event (`recv_many`) before it draws, at most ~30 frames a second, so a flood of output
//!   never stalls the keyboard.
//! - Time is injected ([`App::set_now`]) so render tests are deterministic.

pub mod connect;
pub mod dashboard;
pub mod input;
pub mod logbuf;
pub mod runner;
pub mod theme;
pub mod trouble;
pub mod wizard;

use crate::cluster_dir::ClusterDir;
use crate::config::{self, ResolvedHost};
use crate::engine::journal::JournalData;
use crate::engine::RunOptions;
use crate::events::Event;
use crate::plan::Plan;
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use dashboard::{Dashboard, RunKind};
use input::LineInput;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::path::{Path, PathBuf};
use theme::Theme;
use wizard::{HostCheck, Wizard};

/// Smallest terminal the screens are laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Side effects the app asks for; carried out by [`runner::Driver`].
#[derive(Debug)]
pub enum Effect {
    /// Start the log file in the cluster directory (once the directory is known).
    InitLog(ClusterDir),
    /// Read a cluster file (from the welcome screen).
    OpenFile(PathBuf),
    TestHost {
        index: usize,
        host: ResolvedHost,
        dir: ClusterDir,
    },
    /// Record the host key shown as `fingerprint` (checked again) and test again.
    AcceptKey {
        index: usize,
        host: ResolvedHost,
        fingerprint: String,
        dir: ClusterDir,
    },
    StartRun {
        recipe: Box<connect::PlanRecipe>,
        options: RunOptions,
        kind: RunKind,
    },
    /// Run a catalog fix (`diagnose::fixes`) for a failure on `host`; then the app retries
    /// the stage.
    ApplyFix {
        recipe: Box<connect::PlanRecipe>,
        action: String,
        host: String,
        destructive_ok: bool,
        stage: String,
    },
    /// Stop the running plan after the steps in progress (the journal stays consistent).
    Cancel,
    /// Put text on the terminal's clipboard (OSC 52).
    Copy(String),
}

/// Results of background work.
#[derive(Debug)]
pub enum Msg {
    HostCheck {
        index: usize,
        address: String,
        check: HostCheck,
    },
    RunEnded {
        kind: RunKind,
        /// `ok` of the run's summary, or why it could not run at all.
        result: Result<bool, String>,
    },
    LogFile(PathBuf),
    Notice(bool, String),
    /// SIGTERM or SIGHUP: stop like a confirmed quit (the journal stays consistent).
    Terminate,
    /// A fix ran (or failed): on success the app runs the plan again, `stage` afresh.
    FixDone {
        stage: String,
        result: Result<(), String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The cluster has an interrupted run in its journal.
    Resume { steps: usize },
    /// Quit while a run is going.
    QuitRunning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Wizard,
    Dashboard,
}

pub struct App {
    pub theme: Theme,
    pub mode: Mode,
    pub wizard: Wizard,
    pub dash: Option<Dashboard>,
    pub prompt: Option<Prompt>,
    pub help: bool,
    pub quit: bool,
    /// Quit once the run has stopped.
    quit_after_run: bool,
    /// Steps the user chose to skip: `stage/step@host`.
    skipped: Vec<crate::events::StepRef>,
    effects: Vec<Effect>,
    now_ms: u64,
    /// Height of the log view at the last draw (for search jumps).
    log_height: u64,
    /// This session's log file, once the cluster directory is known.
    pub log_file: Option<PathBuf>,
}

impl App {
    /// The wizard on a new cluster.
    pub fn new(theme: Theme) -> App {
        App {
            theme,
            mode: Mode::Wizard,
            wizard: Wizard::new("mycluster"),
            dash: None,
            prompt: None,
            help: false,
            quit: false,
            quit_after_run: false,
            skipped: vec![],
            effects: vec![],
            now_ms: 0,
            log_height: 20,
            log_file: None,
        }
    }

    /// `kubewiz wizard -f FILE`: open FILE when it exists, else start a new cluster saved there.
    pub fn with_file(theme: Theme, file: &Path) -> App {
        let mut app = App::new(theme);
        if file.exists() {
            app.open_file(file.to_path_buf());
        } else {
            let name = file
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().to_lowercase())
                .filter(|n| !n.is_empty() && n != ".")
                .unwrap_or_else(|| "mycluster".into());
            let mut w = Wizard::new(&name);
            w.file = file.to_path_buf();
            w.welcome = wizard_welcome_for(&name, file);
            app.wizard = w;
        }
        app
    }

    /// The dashboard alone, on a plan (tests, the bench).
    pub fn for_plan(theme: Theme, plan: &Plan) -> App {
        let mut app = App::new(theme);
        app.mode = Mode::Dashboard;
        let mut d = Dashboard::new(plan);
        d.run_starting(RunKind::Full);
        app.dash = Some(d);
        app
    }

    /// The dashboard alone, on the stages a `PlanStarted` announces (render tests, bench).
    pub fn for_stages(theme: Theme, cluster: &str, stages: &[crate::events::StageSummary]) -> App {
        let mut app = App::new(theme);
        app.mode = Mode::Dashboard;
        let mut d = Dashboard::from_summaries(cluster, stages);
        d.run_starting(RunKind::Full);
        app.dash = Some(d);
        app
    }

    pub fn set_now(&mut self, ms: u64) {
        self.now_ms = ms;
        if let Some(d) = &mut self.dash {
            d.now_ms = ms;
        }
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn is_running(&self) -> bool {
        self.dash.as_ref().is_some_and(|d| d.running)
    }

    // ------------------------------------------------------------------ inputs

    pub fn on_engine(&mut self, ev: Event) {
        if let Some(d) = &mut self.dash {
            d.on_event(ev);
        }
    }

    pub fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::HostCheck {
                index,
                address,
                check,
            } => self.wizard.on_host_check(index, &address, check),
            Msg::LogFile(p) => {
                if let Some(d) = &mut self.dash {
                    d.log_file = Some(p.clone());
                }
                self.log_file = Some(p);
            }
            Msg::Notice(is_err, text) => self.notice(is_err, text),
            Msg::Terminate => {
                if self.is_running() {
                    self.prompt = None;
                    self.prompt_key(Prompt::QuitRunning, KeyEvent::from(KeyCode::Char('y')));
                } else {
                    self.quit = true;
                }
            }
            Msg::FixDone { stage, result } => {
                if let Some(d) = &mut self.dash {
                    d.running = false;
                }
                if self.quit_after_run {
                    self.quit = true;
                    return;
                }
                match result {
                    Ok(()) => {
                        self.start_run(vec![stage.clone()]);
                        self.notice(false, format!("fix applied; running stage {stage} again"));
                    }
                    Err(e) => self.notice(true, format!("the fix failed: {e}")),
                }
            }
            Msg::RunEnded { kind, result } => {
                if let Some(d) = &mut self.dash {
                    d.running = false;
                    d.stopping = false;
                }
                if self.quit_after_run {
                    self.quit = true;
                    return;
                }
                match result {
                    Err(e) => self.notice(true, format!("the run could not go on: {e}")),
                    Ok(ok) => {
                        if ok && matches!(kind, RunKind::Retry { .. }) {
                            // The step works now: continue the whole plan (the journal skips
                            // what is done).
                            self.start_full_run();
                        }
                    }
                }
            }
        }
    }

    fn notice(&mut self, is_err: bool, text: String) {
        match &mut self.dash {
            Some(d) if self.mode == Mode::Dashboard => d.notice = Some((is_err, text)),
            _ => self.wizard.status = Some((is_err, text)),
        }
    }

    pub fn on_terminal(&mut self, ev: TermEvent) {
        match ev {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => self.on_key(k),
            TermEvent::Paste(text) if self.mode == Mode::Wizard && self.prompt.is_none() => {
                self.wizard.on_paste(&text);
            }
            _ => {}
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.help {
            self.help = false;
            return;
        }
        if let Some(p) = self.prompt.clone() {
            self.prompt_key(p, key);
            return;
        }
        if key.code == KeyCode::F(1) {
            self.help = true;
            return;
        }
        match self.mode {
            Mode::Wizard => {
                if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
                    self.quit = true;
                    return;
                }
                let mut effects = vec![];
                let used = if ctrl && key.code == KeyCode::Char('n') {
                    self.wizard.next(&mut effects);
                    true
                } else if ctrl && key.code == KeyCode::Char('p') {
                    self.wizard.prev(&mut effects);
                    true
                } else if key.code == KeyCode::PageDown && self.wizard.pages_screens() {
                    self.wizard.next(&mut effects);
                    true
                } else if key.code == KeyCode::PageUp && self.wizard.pages_screens() {
                    self.wizard.prev(&mut effects);
                    true
                } else {
                    self.wizard.on_key(key, &mut effects)
                };
                if !used && key.code == KeyCode::Char('?') && !self.wizard.typing() {
                    self.help = true;
                }
                if !used && key.code == KeyCode::Char('q') && !self.wizard.typing() {
                    self.quit = true;
                }
                if !used && key.code == KeyCode::Esc && !self.wizard.has_modal() {
                    self.wizard.prev(&mut effects);
                }
                for e in effects {
                    match e {
                        Effect::OpenFile(p) => self.open_file(p),
                        other => self.effects.push(other),
                    }
                }
                if self.wizard.deploy_requested {
                    self.wizard.deploy_requested = false;
                    self.deploy();
                }
            }
            Mode::Dashboard => self.dash_key(key),
        }
    }

    fn prompt_key(&mut self, p: Prompt, key: KeyEvent) {
        let yes = matches!(
            key.code,
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
        );
        let no = matches!(
            key.code,
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
        );
        if !yes && !no {
            return;
        }
        self.prompt = None;
        match p {
            Prompt::Resume { .. } => {
                if yes {
                    self.deploy();
                }
            }
            Prompt::QuitRunning => {
                if yes {
                    self.effects.push(Effect::Cancel);
                    self.quit_after_run = true;
                    if let Some(d) = &mut self.dash {
                        d.stopping = true;
                    }
                }
            }
        }
    }

    /// Open an existing cluster file: parse it (a broken file opens in the review editor),
    /// and offer to resume when its journal has an interrupted run.
    pub fn open_file(&mut self, path: PathBuf) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.wizard.status = Some((true, format!("cannot read {}: {e}", path.display())));
                return;
            }
        };
        self.wizard = match config::parse_str(&text) {
            Ok(spec) => Wizard::open(path, spec),
            Err(_) => {
                let mut w = Wizard::open_broken(path, &text);
                w.status = Some((
                    true,
                    "the file does not parse: fix it here, then Ctrl-S".into(),
                ));
                w
            }
        };
        let dir = self.wizard.dir();
        self.effects.push(Effect::InitLog(dir.clone()));
        if let Some(steps) = interrupted_run(&dir) {
            self.prompt = Some(Prompt::Resume { steps });
        }
    }

    /// Save is done (review screen): build the plan and start the dashboard.
    pub fn deploy(&mut self) {
        let loaded = match config::load(&self.wizard.file) {
            Ok(l) => l,
            Err(e) => {
                self.wizard.status = Some((true, e.to_string().replace('\n', "; ")));
                return;
            }
        };
        self.wizard.spec = loaded.spec;
        let plan = match crate::stages::build_plan(
            &self.wizard.spec,
            &self.wizard.dir(),
            &Default::default(),
        ) {
            Ok(p) => p,
            Err(e) => {
                self.wizard.status = Some((true, format!("cannot build the plan: {e:#}")));
                return;
            }
        };
        let mut d = Dashboard::new(&plan);
        d.log_file = self.log_file.clone();
        d.now_ms = self.now_ms;
        self.dash = Some(d);
        self.mode = Mode::Dashboard;
        self.start_full_run();
    }

    /// The plan's shape for the dashboard (the run builds it again, after the PKI).
    fn full_plan(&self) -> Option<Plan> {
        let plan =
            crate::stages::build_plan(&self.wizard.spec, &self.wizard.dir(), &Default::default())
                .ok()?;
        Some(self.recipe().without_skipped(plan))
    }

    fn recipe(&self) -> connect::PlanRecipe {
        connect::PlanRecipe {
            spec: self.wizard.spec.clone(),
            dir: self.wizard.dir(),
            only_step: None,
            hosts: None,
            skipped: self.skipped.clone(),
        }
    }

    fn start_full_run(&mut self) {
        self.start_run(vec![]);
    }

    /// The whole plan; the journal skips what is done, except in `rerun_stages`.
    fn start_run(&mut self, rerun_stages: Vec<String>) {
        let dir = self.wizard.dir();
        if let Some(d) = &mut self.dash {
            d.run_starting(RunKind::Full);
        }
        self.effects.push(Effect::StartRun {
            recipe: Box::new(self.recipe()),
            options: RunOptions {
                journal: Some(dir.journal()),
                rerun_stages,
                ..RunOptions::default()
            },
            kind: RunKind::Full,
        });
    }

    /// Run one step again on `hosts`. The narrowed run keeps no journal: a narrowed plan that
    /// succeeds would mark the journal complete, and the full plan that follows could then no
    /// longer skip what the interrupted run finished. The step itself is idempotent: the full
    /// plan that follows finds it in place.
    fn start_retry(&mut self, stage: &str, step: &str, hosts: Vec<String>) {
        let mut recipe = self.recipe();
        recipe.only_step = Some(format!("{stage}/{step}"));
        recipe.hosts = Some(hosts.clone());
        if let Err(e) = self.full_plan().map(|p| recipe.narrow(p)).transpose() {
            self.notice(true, format!("{e:#}"));
            return;
        }
        let kind = RunKind::Retry {
            stage: stage.into(),
            step: step.into(),
            hosts,
        };
        if let Some(d) = &mut self.dash {
            d.run_starting(kind.clone());
        }
        self.effects.push(Effect::StartRun {
            recipe: Box::new(recipe),
            options: RunOptions {
                journal: None,
                rerun_stages: vec![stage.to_string()],
                ..RunOptions::default()
            },
            kind,
        });
    }

    fn dash_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let height = self.log_height;
        let file = self.wizard.file.display().to_string();
        let Some(d) = &mut self.dash else { return };
        d.notice = None;
        // Search input.
        if let Some(input) = &mut d.search {
            match key.code {
                KeyCode::Esc => d.search = None,
                KeyCode::Enter => {
                    let q = input.value.clone();
                    d.search = None;
                    d.query = (!q.is_empty()).then_some(q);
                    d.jump_match(true, height);
                }
                _ => {
                    input.handle(key);
                }
            }
            return;
        }
        if ctrl && key.code == KeyCode::Char('c') {
            if d.stopping {
                self.quit = true; // second Ctrl-C: the journal is written step by step
            } else if d.running {
                self.prompt = Some(Prompt::QuitRunning);
            } else {
                self.quit = true;
            }
            return;
        }
        // Full log view.
        if let Some(scroll) = &mut d.full_log {
            match key.code {
                KeyCode::Esc | KeyCode::Char('l') | KeyCode::Char('q') => d.full_log = None,
                KeyCode::Up | KeyCode::Char('k') => *scroll += 1,
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_sub(1),
                KeyCode::PageUp => *scroll += 20,
                KeyCode::PageDown => *scroll = scroll.saturating_sub(20),
                KeyCode::Home | KeyCode::Char('g') => *scroll = u64::MAX / 2,
                KeyCode::End | KeyCode::Char('G') => *scroll = 0,
                _ => {}
            }
            return;
        }
        // Troubleshooting pane.
        if let Some(pane) = d.pane.clone() {
            let Some(fail) = d.failures.get(pane.index).cloned() else {
                d.pane = None;
                return;
            };
            if pane.confirm_fix {
                if key.code == KeyCode::Char('y') {
                    self.apply_fix(&fail, true);
                } else if let Some(p) = &mut d.pane {
                    p.confirm_fix = false;
                }
                return;
            }
            if pane.confirm_skip {
                match key.code {
                    KeyCode::Char('y') => {
                        let k = fail.key();
                        self.skipped.push(k.clone());
                        let d = self.dash.as_mut().expect("dash");
                        d.failures.retain(|f| f.key() != k);
                        d.pane = None;
                        d.warnings.push(format!("skipped {k}"));
                        self.start_full_run();
                    }
                    _ => {
                        if let Some(p) = &mut d.pane {
                            p.confirm_skip = false;
                        }
                    }
                }
                return;
            }
            let idle = !d.running;
            match key.code {
                KeyCode::Esc => d.pane = None,
                KeyCode::Tab => {
                    let n = d.failures.len().max(1);
                    d.open_failure((pane.index + 1) % n);
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    if let Some(p) = &mut d.pane {
                        p.scroll = p.scroll.saturating_sub(1)
                    }
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    if let Some(p) = &mut d.pane {
                        p.scroll += 1
                    }
                }
                KeyCode::Char('l') => d.full_log = Some(0),
                KeyCode::Char('c') => {
                    let text = trouble::copy_text(&fail, &file);
                    d.notice = Some((
                        false,
                        format!(
                            "copied to the clipboard (OSC 52): {}",
                            text.lines().next().unwrap_or("")
                        ),
                    ));
                    self.effects.push(Effect::Copy(text));
                }
                KeyCode::Char('r') if idle => {
                    let hosts: Vec<String> = d
                        .failures
                        .iter()
                        .filter(|x| x.at.stage == fail.at.stage && x.at.step == fail.at.step)
                        .map(|x| x.at.host.clone())
                        .collect();
                    self.start_retry(&fail.at.stage, &fail.at.step, hosts);
                }
                KeyCode::Char('h') if idle => {
                    self.start_retry(&fail.at.stage, &fail.at.step, vec![fail.at.host.clone()]);
                }
                KeyCode::Char('s') if idle => {
                    if let Some(p) = &mut d.pane {
                        p.confirm_skip = true;
                    }
                }
                KeyCode::Char('a') if idle => match trouble::auto_fix_unavailable(&fail) {
                    Some(why) => d.notice = Some((true, format!("apply the fix: {why}"))),
                    None => {
                        let destructive = fail
                            .diagnosis
                            .as_ref()
                            .and_then(|x| x.auto_fix.as_ref())
                            .is_some_and(|x| x.destructive);
                        if destructive {
                            if let Some(p) = &mut d.pane {
                                p.confirm_fix = true;
                            }
                        } else {
                            self.apply_fix(&fail, false);
                        }
                    }
                },
                KeyCode::Char('r' | 'h' | 's' | 'a') => {
                    d.notice = Some((true, "wait: the run is still finishing other hosts".into()));
                }
                KeyCode::Char('?') => self.help = true,
                KeyCode::Char('q') => self.quit_key(),
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit_key(),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Up | KeyCode::Char('k') => d.select_host(d.sel_host.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => d.select_host(d.sel_host + 1),
            KeyCode::Left | KeyCode::Char('h') => d.select_stage(d.sel_stage.saturating_sub(1)),
            KeyCode::Right => d.select_stage(d.sel_stage + 1),
            KeyCode::Char('[') => d.select_step(-1),
            KeyCode::Char(']') => d.select_step(1),
            KeyCode::Char('f') => {
                d.follow = !d.follow;
                if d.follow {
                    d.select_host(d.sel_host);
                }
            }
            KeyCode::Char(' ') | KeyCode::Char('p') => d.toggle_pause(),
            KeyCode::PageUp => d.scroll(-(height as i64 - 1).max(1)),
            KeyCode::PageDown => d.scroll((height as i64 - 1).max(1)),
            KeyCode::Char('K') => d.scroll(-1),
            KeyCode::Char('J') => d.scroll(1),
            KeyCode::Home | KeyCode::Char('g') => d.scroll(-(1 << 40)),
            KeyCode::End | KeyCode::Char('G') => d.live = true,
            KeyCode::Char('/') => d.search = Some(LineInput::default()),
            KeyCode::Char('n') => d.jump_match(true, height),
            KeyCode::Char('N') => d.jump_match(false, height),
            KeyCode::Char('t') => {
                if d.failures.is_empty() {
                    d.notice = Some((false, "no failure to troubleshoot".into()));
                } else {
                    d.open_failure(0);
                }
            }
            KeyCode::Char('l') => d.full_log = Some(0),
            KeyCode::Char('w') if !d.running => {
                self.mode = Mode::Wizard;
            }
            KeyCode::Esc => {
                d.query = None;
            }
            _ => {}
        }
    }

    fn apply_fix(&mut self, fail: &dashboard::Failure, destructive_ok: bool) {
        let Some(fix) = fail.diagnosis.as_ref().and_then(|d| d.auto_fix.clone()) else {
            return;
        };
        let recipe = Box::new(self.recipe());
        if let Some(d) = &mut self.dash {
            d.pane = None;
            d.running = true;
            d.notice = Some((false, format!("fixing: {}", fix.description)));
        }
        self.effects.push(Effect::ApplyFix {
            recipe,
            action: fix.action,
            host: fail.at.host.clone(),
            destructive_ok,
            stage: fail.at.stage.clone(),
        });
    }

    fn quit_key(&mut self) {
        if self.is_running() {
            self.prompt = Some(Prompt::QuitRunning);
        } else {
            self.quit = true;
        }
    }

    // ------------------------------------------------------------------ drawing

    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            draw_too_small(f, area, &self.theme);
            return;
        }
        match (self.mode, &self.dash) {
            (Mode::Dashboard, Some(d)) => {
                d.draw(f, area, &self.theme);
                // Header, gauge, matrix (hosts + 3 borders/header), log borders, footer.
                let top = (d.hosts.len().max(d.stages.len()) as u16 + 3).min(area.height / 2);
                self.log_height = area.height.saturating_sub(2 + top + 1 + 2) as u64;
            }
            _ => self.wizard.draw(f, area, &self.theme),
        }
        if let Some(p) = &self.prompt {
            draw_prompt(f, area, &self.theme, p);
        }
        if self.help {
            draw_help(f, area, &self.theme, self.mode);
        }
    }
}

fn wizard_welcome_for(name: &str, file: &Path) -> input::Form {
    use input::{Field, Form};
    Form::new(vec![
        Field::choice(
            "mode",
            "Start",
            "",
            &["new cluster", "open a cluster file"],
            "new cluster",
        ),
        Field::text("name", "Cluster name", "name", name),
        Field::text("file", "Cluster file", "file", &file.display().to_string()),
    ])
}

/// Steps done by an interrupted run recorded in the cluster's journal, if there is one.
pub fn interrupted_run(dir: &ClusterDir) -> Option<usize> {
    let bytes = std::fs::read(dir.journal()).ok()?;
    let data: JournalData = serde_json::from_slice(&bytes).ok()?;
    (!data.run_complete && !data.steps.is_empty()).then_some(data.steps.len())
}

fn draw_too_small(f: &mut Frame, area: Rect, theme: &Theme) {
    let lines = vec![
        Line::from(Span::styled("Terminal too small", theme.err())),
        Line::from(format!(
            "{}×{} — kubewiz needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::from(Span::styled(
            "Enlarge the window; nothing is lost meanwhile.",
            theme.dim(),
        )),
    ];
    let h = 3.min(area.height);
    let r = Rect {
        x: area.x,
        y: area.y + area.height.saturating_sub(h) / 2,
        width: area.width,
        height: h,
    };
    f.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        r,
    );
}

fn draw_prompt(f: &mut Frame, area: Rect, theme: &Theme, p: &Prompt) {
    let (title, body) = match p {
        Prompt::Resume { steps } => (
            " Resume the interrupted run? ",
            format!(
                "This cluster's journal records an interrupted run ({steps} step(s) finished).\n\n\
                 y / Enter: resume it now (finished steps are skipped)\n\
                 n / Esc:   open the wizard instead"
            ),
        ),
        Prompt::QuitRunning => (
            " Stop the deployment? ",
            "The steps in progress finish, then kubewiz stops; the journal keeps what was done\n\
             and reopening this cluster offers to resume.\n\n\
             y / Enter: stop and quit    n / Esc: keep going"
                .to_string(),
        ),
    };
    let r = wizard::centered(area, 76.min(area.width), 9);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(body).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.warn())
                .title(Span::styled(title, theme.title())),
        ),
        r,
    );
}

fn draw_help(f: &mut Frame, area: Rect, theme: &Theme, mode: Mode) {
    let sections: &[(&str, &[(&str, &str)])] = match mode {
        Mode::Wizard => &[
            (
                "Everywhere",
                &[
                    ("Ctrl-N / PgDn", "next screen"),
                    ("Ctrl-P / PgUp", "previous screen"),
                    ("Tab / ↑ ↓", "next / previous field"),
                    ("← →  space", "change a choice, move in a list of flags"),
                    ("F1", "this help"),
                    ("Ctrl-C", "quit (nothing is saved until Review)"),
                ],
            ),
            (
                "Hosts",
                &[
                    ("a / e / d", "add / edit / delete a host"),
                    ("p", "paste lines: ADDRESS NAME ROLES"),
                    ("t / T", "test the connection of this / every host"),
                    ("y / A", "accept the new host key of this / every host"),
                    ("Tab", "edit the defaults every host inherits"),
                ],
            ),
            (
                "Review",
                &[
                    ("Ctrl-S", "validate and save the cluster file"),
                    ("F5 / Ctrl-D", "save and deploy"),
                ],
            ),
        ],
        Mode::Dashboard => &[
            (
                "Dashboard",
                &[
                    ("↑ ↓", "select a host"),
                    ("← →", "select a stage"),
                    ("[ ]", "previous / next step of the stage"),
                    ("f", "follow the running step of the host"),
                    ("space", "pause / resume the live log"),
                    ("PgUp PgDn J K", "scroll the log; End: back to live"),
                    ("/ n N", "search the log; older / newer match"),
                    ("l", "the host's full log (and the log file)"),
                    ("t", "troubleshoot the failures"),
                    ("w", "back to the wizard when no run is going"),
                    ("q / Ctrl-C", "quit (a running deployment stops cleanly)"),
                ],
            ),
            (
                "Troubleshooting pane",
                &[
                    ("r", "retry the step on the hosts where it failed"),
                    ("h", "retry on this host only"),
                    ("a", "apply the automatic fix, then retry"),
                    ("s", "skip the step (asks first)"),
                    ("c", "copy the fix command (OSC 52)"),
                    ("l", "open the full log; Tab: next failure"),
                ],
            ),
        ],
    };
    let mut lines = vec![];
    for (title, keys) in sections {
        lines.push(Line::from(Span::styled(title.to_string(), theme.title())));
        for (k, v) in keys.iter() {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<16}"), theme.key()),
                Span::raw(v.to_string()),
            ]));
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        theme.dim(),
    )));
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = wizard::centered(area, 72.min(area.width), h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus())
                .title(Span::styled(" Help ", theme.title())),
        ),
        r,
    );
}

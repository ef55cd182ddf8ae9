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
#[cfg(test)]
mod deploy_tests;
pub mod input;
pub mod keymap;
pub mod logbuf;
pub mod modal;
pub mod runner;
pub mod summary_view;
pub mod theme;
pub mod trouble;
pub mod wizard;

use crate::cluster_dir::ClusterDir;
use crate::config::{self, ResolvedHost};
use crate::deploy::{self, Narrowing};
use crate::events::Event;
use crate::plan::Plan;
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind};
use dashboard::{DashAction, DashCommand, Dashboard, RunKind, DASH_KEYS};
use keymap::{help_lines, key, Answer, Binding, HelpSection, Keymap, PROMPT_KEYS};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::path::{Path, PathBuf};
use summary_view::{SummaryAction, SUMMARY_KEYS};
use theme::Theme;
use trouble::{PaneCommand, PANE_KEYS};
use wizard::{HostCheck, KeyOutcome, Wizard};

/// Smallest terminal the screens are laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAction {
    Help,
}

/// Keys the app takes before any screen (a prompt aside).
pub const APP_KEYS: Keymap<AppAction> = Keymap {
    title: "Everywhere",
    bindings: &[Binding {
        keys: &[(key(KeyCode::F(1)), AppAction::Help)],
        label: "F1",
        footer: Some("help"),
        help: "this help, wherever you are",
    }],
};

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
    /// Build the request's plan and run it (in the run's task, never on the UI thread).
    StartRun {
        request: Box<deploy::Request>,
        kind: RunKind,
    },
    /// Run a catalog fix (`deploy::apply_fix`) for a failure on `host`; then the app retries
    /// the stage.
    ApplyFix {
        request: Box<deploy::Request>,
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
        /// `ok` of the run's summary, or why it could not run at all (the plan could not be
        /// built, the run could not go on).
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
    /// The failure whose fix is running: its pane opens again if the fix fails (or refuses).
    fixing: Option<crate::events::StepRef>,
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
            fixing: None,
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
            app.wizard = Wizard::new_at(&name, file);
        }
        app
    }

    /// The dashboard alone, on a plan (tests, the bench).
    pub fn for_plan(theme: Theme, plan: &Plan) -> App {
        let stages: Vec<_> = plan
            .stages
            .iter()
            .map(crate::plan::Stage::summary)
            .collect();
        App::for_stages(theme, &plan.cluster, &stages)
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
            // The first run's announcement gives the dashboard its shape (the plan is built
            // in the run's task, not here).
            if let Event::PlanStarted {
                cluster, stages, ..
            } = &ev
            {
                if d.stages.is_empty() {
                    d.reshape(cluster, stages);
                }
            }
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
                        self.start_run(Some(&stage));
                        self.notice(false, format!("fix applied; running stage {stage} again"));
                    }
                    Err(e) => {
                        // Back to the failure, where the reason has room to be read whole.
                        let at = self.fixing.take();
                        if let Some(d) = &mut self.dash {
                            if let Some(i) = d.failures.iter().position(|f| Some(f.key()) == at) {
                                d.open_failure(i);
                            }
                        }
                        self.notice(true, format!("the fix failed: {e}"))
                    }
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
                    // Nothing ran (the plan could not be built): back to the wizard, where the
                    // cluster file can be put right.
                    Err(e) if self.dash.as_ref().is_some_and(|d| d.stages.is_empty()) => {
                        self.mode = Mode::Wizard;
                        // The review lists it with the file's own errors.
                        if let Some(r) = &mut self.wizard.review {
                            r.plan_error = Some(e.clone());
                        }
                        self.wizard.status = Some((true, e));
                    }
                    Err(e) => self.notice(true, e),
                    Ok(ok) => {
                        if ok && matches!(kind, RunKind::Retry { .. }) {
                            // The step works now: continue the whole plan (the journal skips
                            // what is done).
                            self.start_full_run();
                        } else {
                            let file = self.wizard.file.clone();
                            if let Some(d) = &mut self.dash {
                                if ok {
                                    d.finish_with_summary(&file);
                                } else {
                                    d.finish_stopped(&file);
                                }
                            }
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
        if self.help {
            self.help = false;
            return;
        }
        if let Some(p) = self.prompt.clone() {
            self.prompt_key(p, key);
            return;
        }
        if APP_KEYS.action(&key) == Some(AppAction::Help) {
            self.help = true;
            return;
        }
        match self.mode {
            Mode::Wizard => self.wizard_key(key),
            Mode::Dashboard => self.dash_key(key),
        }
    }

    fn wizard_key(&mut self, key: KeyEvent) {
        let mut effects = vec![];
        match self.wizard.on_key(key, &mut effects) {
            KeyOutcome::Help => self.help = true,
            KeyOutcome::Quit => self.quit = true,
            KeyOutcome::Used | KeyOutcome::Unused => {}
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

    fn prompt_key(&mut self, p: Prompt, key: KeyEvent) {
        let Some(answer) = PROMPT_KEYS.action(&key) else {
            return;
        };
        let yes = answer == Answer::Yes;
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
        if let Some(steps) = crate::engine::journal::interrupted_run(&dir.journal()) {
            self.prompt = Some(Prompt::Resume { steps });
        }
    }

    /// Save is done (review screen): start the dashboard and the run, which builds the plan;
    /// the dashboard takes its shape from the run's `PlanStarted`.
    pub fn deploy(&mut self) {
        let loaded = match config::load(&self.wizard.file) {
            Ok(l) => l,
            Err(e) => {
                self.wizard.status = Some((true, e.to_string().replace('\n', "; ")));
                return;
            }
        };
        self.wizard.spec = loaded.spec;
        if let Some(r) = &mut self.wizard.review {
            r.plan_error = None;
        }
        let mut d = Dashboard::from_summaries(&self.wizard.spec.name, &[]);
        d.log_file = self.log_file.clone();
        d.now_ms = self.now_ms;
        self.dash = Some(d);
        self.mode = Mode::Dashboard;
        self.start_full_run();
    }

    /// The whole plan without the steps the user skipped.
    fn request(&self) -> deploy::Request {
        deploy::Request {
            narrowing: Narrowing {
                skipped: self.skipped.clone(),
                ..Narrowing::default()
            },
            ..deploy::Request::new(self.wizard.spec.clone(), self.wizard.dir())
        }
    }

    fn start_full_run(&mut self) {
        self.start_run(None);
    }

    /// The whole plan; the journal skips what is done, except in the stage a fix was for.
    fn start_run(&mut self, fixed_stage: Option<&str>) {
        let request = match fixed_stage {
            Some(stage) => self.request().retry_after_fix(stage),
            None => self.request(),
        };
        if let Some(d) = &mut self.dash {
            d.run_starting(RunKind::Full);
        }
        self.effects.push(Effect::StartRun {
            request: Box::new(request),
            kind: RunKind::Full,
        });
    }

    /// Run one step again on `hosts`, as `apply --step stage/step --only-hosts …` does (the
    /// journal rule is [`deploy::run_options`]'s); on success the full plan continues.
    fn start_retry(&mut self, stage: &str, step: &str, hosts: Vec<String>) {
        let mut request = self.request();
        request.narrowing = Narrowing {
            skipped: self.skipped.clone(),
            ..Narrowing::one_step(stage, step, hosts.clone())
        };
        let kind = RunKind::Retry {
            stage: stage.into(),
            step: step.into(),
            hosts,
        };
        if let Some(d) = &mut self.dash {
            d.run_starting(kind.clone());
        }
        self.effects.push(Effect::StartRun {
            request: Box::new(request),
            kind,
        });
    }

    /// Dashboard keys: the search input, Ctrl-C, the full log, the troubleshooting pane, then
    /// the dashboard's own; each of them has its keymap where it is drawn.
    fn dash_key(&mut self, key: KeyEvent) {
        let height = self.log_height;
        let file = self.wizard.file.display().to_string();
        let Some(d) = &mut self.dash else { return };
        d.notice = None;
        if d.search.is_some() {
            d.search_key(key, height);
            return;
        }
        if DASH_KEYS.action(&key) == Some(DashAction::Interrupt) {
            if d.stopping {
                self.quit = true; // second Ctrl-C: the journal is written step by step
            } else if d.running {
                self.prompt = Some(Prompt::QuitRunning);
            } else {
                self.quit = true;
            }
            return;
        }
        if d.full_log.is_some() {
            d.full_log_key(key);
            return;
        }
        if d.pane.is_some() {
            if let Some(cmd) = trouble::on_key(d, key, &file) {
                self.pane_command(cmd);
            }
            return;
        }
        if d.summary.is_some() && d.show_summary {
            match SUMMARY_KEYS.action(&key) {
                Some(SummaryAction::Dashboard) => d.show_summary = false,
                Some(SummaryAction::Wizard) => self.mode = Mode::Wizard,
                Some(SummaryAction::Help) => self.help = true,
                Some(SummaryAction::Quit) => self.quit_key(),
                None => {}
            }
            return;
        }
        match d.on_key(key, height) {
            Some(DashCommand::Quit) => self.quit_key(),
            Some(DashCommand::Help) => self.help = true,
            Some(DashCommand::Wizard) => self.mode = Mode::Wizard,
            None => {}
        }
    }

    /// Carry out what the troubleshooting pane asked for.
    fn pane_command(&mut self, cmd: PaneCommand) {
        match cmd {
            PaneCommand::Retry { stage, step, hosts } => self.start_retry(&stage, &step, hosts),
            PaneCommand::ApplyFix {
                failure,
                destructive_ok,
            } => self.apply_fix(&failure, destructive_ok),
            PaneCommand::Skip(failure) => {
                self.skipped.push(failure.key());
                self.start_full_run();
            }
            PaneCommand::Copy(text) => self.effects.push(Effect::Copy(text)),
            PaneCommand::Help => self.help = true,
            PaneCommand::Quit => self.quit_key(),
        }
    }

    fn apply_fix(&mut self, fail: &dashboard::Failure, destructive_ok: bool) {
        let Some(fix) = fail.diagnosis.as_ref().and_then(|d| d.auto_fix.clone()) else {
            return;
        };
        let request = Box::new(self.request());
        self.fixing = Some(fail.key());
        if let Some(d) = &mut self.dash {
            d.pane = None;
            d.running = true;
            d.notice = Some((false, format!("fixing: {}", fix.description)));
        }
        self.effects.push(Effect::ApplyFix {
            request,
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
                // Header, gauge, stage table and matrix, log borders, footer.
                let top = d.top_height(area);
                self.log_height = area.height.saturating_sub(2 + top + 1 + 2) as u64;
            }
            _ => self.wizard.draw(f, area, &self.theme),
        }
        if let Some(p) = &self.prompt {
            draw_prompt(f, area, &self.theme, p);
        }
        if self.help {
            draw_help(f, area, &self.theme, &self.help_sections());
        }
        input::scrub(f.buffer_mut());
    }

    /// The help: the keys of what is on screen, from the keymaps the handlers use.
    pub fn help_sections(&self) -> Vec<HelpSection> {
        match (self.mode, &self.dash) {
            (Mode::Dashboard, Some(d)) if d.summary.is_some() && d.show_summary => {
                vec![SUMMARY_KEYS.section(), DASH_KEYS.section()]
            }
            (Mode::Dashboard, Some(_)) => vec![DASH_KEYS.section(), PANE_KEYS.section()],
            _ => self.wizard.help_sections(),
        }
    }
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
    // The keys as the handler reads them (PROMPT_KEYS): written once.
    let label = |a: Answer| PROMPT_KEYS.binding(a).map(|b| b.label).unwrap_or("?");
    let (yes, no) = (label(Answer::Yes), label(Answer::No));
    let (title, body) = match p {
        Prompt::Resume { steps } => (
            " Resume the interrupted run? ",
            format!(
                "This cluster's journal records an interrupted run ({steps} step(s) finished).\n\n\
                 {yes}: resume it now (finished steps are skipped)\n\
                 {no}:   open the wizard instead"
            ),
        ),
        Prompt::QuitRunning => (
            " Stop the deployment? ",
            format!(
                "The steps in progress finish, then kubewiz stops; the journal keeps what was done\n\
                 and reopening this cluster offers to resume.\n\n\
                 {yes}: stop and quit    {no}: keep going"
            ),
        ),
    };
    let inner = modal::modal(
        f,
        area,
        76.min(area.width),
        9,
        theme.warn(),
        Span::styled(title, theme.title()),
    );
    f.render_widget(Paragraph::new(body).wrap(Wrap { trim: false }), inner);
}

fn draw_help(f: &mut Frame, area: Rect, theme: &Theme, sections: &[HelpSection]) {
    let mut lines = help_lines(sections, theme);
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        theme.dim(),
    )));
    let h = (lines.len() as u16 + 2).min(area.height);
    let inner = modal::modal(
        f,
        area,
        72.min(area.width),
        h,
        theme.border_focus(),
        Span::styled(" Help ", theme.title()),
    );
    f.render_widget(Paragraph::new(lines), inner);
}

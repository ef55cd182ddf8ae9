//! The wizard: welcome, hosts, network, pod network, runtime, review. Its model is the
//! [`ClusterSpec`] itself, so the answers are exactly the cluster file `apply` reads; every
//! field is checked by `config::validate` as you type and its finding shown beside the field.
//!
//! Each screen is one [`Screen`] in its own file (title, keymap, key handling, draw); this
//! module is the driver: the screen order ([`SCREENS`]), crumbs, next/previous, the validation
//! state, the wizard-wide keys and the dispatch. A form screen is data: a [`FormScreen`] says
//! how the spec becomes a form and the form the spec, and the driver does the rest, so a new
//! form screen is one file and its name in the `screens!` list.

mod host_form;
mod paste;

/// Declares each screen's module and lists its `SCREEN` in [`SCREENS`], in this order: a new
/// screen is its file and its name here.
macro_rules! screens {
    ($($screen:ident),* $(,)?) => {
        $(mod $screen;)*
        /// The screens, in order.
        pub const SCREENS: &[&Screen] = &[$(&$screen::SCREEN),*];
    };
}

screens! {
    welcome,
    hosts,
    network,
    cni,
    runtime,
    review,
}

pub use hosts::{HostCheck, HostEdit, HostsFocus};
pub use paste::{parse_host_lines, Paste};
pub use review::{file_text, Review};

use super::input::{truncate, Form, FormKey, FORM_KEYS};
use super::keymap::{ch, ctrl, footer_line, key, Binding, HelpSection, KeyDoc, Keymap};
use super::theme::Theme;
use super::Effect;
use crate::cluster_dir::ClusterDir;
use crate::config::{self, ClusterSpec, Finding};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Which screen: each screen file declares its own (`Step::HOSTS` in hosts.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step(pub &'static str);

/// One wizard screen. Plain data: functions over the [`Wizard`].
pub struct Screen {
    pub step: Step,
    pub title: &'static str,
    /// Finding paths that belong to this screen: its crumb counts their errors, and the type
    /// errors its form reports replace those of the last edit.
    pub paths: &'static [&'static str],
    /// A form screen's spec ↔ form (the default handlers below use it).
    pub form: Option<FormScreen>,
    /// The keys that apply now, for the footer and the help.
    pub keys: fn(&Wizard) -> Vec<KeyDoc>,
    /// Handles a key; false when it was not used (the wizard-wide keys get it then).
    pub on_key: fn(&mut Wizard, KeyEvent, &mut Vec<Effect>) -> bool,
    pub on_paste: fn(&mut Wizard, &str),
    pub draw: fn(&Wizard, &mut Frame, Rect, &Theme),
    /// Whether letters are typed (not commands like `q` and `?`).
    pub typing: fn(&Wizard) -> bool,
    /// Whether a box is open over the screen.
    pub modal: fn(&Wizard) -> bool,
    /// Whether PgUp/PgDn change screens (the review editor scrolls with them).
    pub pages: bool,
    pub enter: fn(&mut Wizard),
    /// Leaving the screen; false to stay.
    pub leave: fn(&mut Wizard, &mut Vec<Effect>) -> bool,
}

/// How a form screen is built from the spec and written back.
pub struct FormScreen {
    pub form: fn(&ClusterSpec) -> Form,
    /// Writes the form into the spec; returns the fields' type errors (not a number...).
    pub apply: fn(&Form, &mut ClusterSpec) -> Vec<Finding>,
    /// Lines above the form.
    pub intro: fn(&ClusterSpec) -> Vec<String>,
    /// Lines below the form's hint (explanations of the choices).
    pub after: fn(&ClusterSpec, &Theme) -> Vec<Line<'static>>,
}

impl Screen {
    /// The defaults: a form screen (its handlers do nothing without `form`).
    pub const BASE: Screen = Screen {
        step: Step(""),
        title: "",
        paths: &[],
        form: None,
        keys: form_keys,
        on_key: form_key,
        on_paste: form_paste,
        draw: form_draw,
        typing: yes,
        modal: no,
        pages: true,
        enter: nothing,
        leave: go_on,
    };
}

fn yes(_: &Wizard) -> bool {
    true
}
fn no(_: &Wizard) -> bool {
    false
}
fn nothing(_: &mut Wizard) {}
fn go_on(_: &mut Wizard, _: &mut Vec<Effect>) -> bool {
    true
}
/// No `after` lines.
pub fn no_lines(_: &ClusterSpec, _: &Theme) -> Vec<Line<'static>> {
    vec![]
}

/// What a key did, for the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    Used,
    Unused,
    Help,
    Quit,
}

/// The wizard-wide actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nav {
    Next,
    Prev,
    Back,
    Help,
    Quit,
}

/// How to go back where PgUp does something else (the review editor).
fn back_key() -> Option<KeyDoc> {
    GLOBAL_KEYS.doc(Nav::Prev)
}

/// Wizard-wide keys that work everywhere, also while typing.
const GLOBAL_KEYS: Keymap<Nav> = Keymap {
    title: "Everywhere",
    bindings: &[
        Binding {
            keys: &[(ctrl('n'), Nav::Next)],
            label: "Ctrl-N",
            footer: Some("next"),
            help: "next screen",
        },
        Binding {
            keys: &[(ctrl('p'), Nav::Prev)],
            label: "Ctrl-P",
            footer: Some("back"),
            help: "previous screen",
        },
        Binding {
            keys: &[(ctrl('c'), Nav::Quit), (ctrl('q'), Nav::Quit)],
            label: "Ctrl-C",
            footer: Some("quit"),
            help: "quit (nothing is saved until Review)",
        },
    ],
};

/// Wizard-wide keys the screen did not use.
const FALLBACK_KEYS: Keymap<Nav> = Keymap {
    title: "Everywhere",
    bindings: &[
        Binding {
            keys: &[(key(KeyCode::PageDown), Nav::Next)],
            label: "PgDn",
            footer: Some("next"),
            help: "next screen (no box open; the review editor scrolls)",
        },
        Binding {
            keys: &[(key(KeyCode::PageUp), Nav::Prev)],
            label: "PgUp",
            footer: Some("back"),
            help: "previous screen (likewise)",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), Nav::Back)],
            label: "Esc",
            footer: None,
            help: "close the box, else the previous screen",
        },
        Binding {
            keys: &[(ch('?'), Nav::Help)],
            label: "?",
            footer: None,
            help: "this help (where letters are not typed)",
        },
        Binding {
            keys: &[(ch('q'), Nav::Quit)],
            label: "q",
            footer: None,
            help: "quit (where letters are not typed)",
        },
    ],
};

pub struct Wizard {
    pub step: Step,
    /// The screens, in order ([`SCREENS`]; tests add their own).
    pub screens: &'static [&'static Screen],
    pub spec: ClusterSpec,
    /// The cluster file the wizard saves (its folder is the cluster directory).
    pub file: PathBuf,
    pub welcome: Form,
    file_edited: bool,
    pub hosts_focus: HostsFocus,
    pub selected_host: usize,
    pub defaults_form: Form,
    pub checks: Vec<HostCheck>,
    pub edit: Option<HostEdit>,
    pub paste: Option<Paste>,
    /// The forms of the form screens.
    pub forms: HashMap<Step, Form>,
    pub review: Option<Review>,
    /// `config::validate` of the spec as it is now.
    pub findings: Vec<Finding>,
    /// Type errors of form fields (a port that is not a number), by path.
    pub local: Vec<Finding>,
    /// A one-line status (saved, error opening the file...): (is_error, text).
    pub status: Option<(bool, String)>,
    /// Set when the user asked to deploy after a successful save.
    pub deploy_requested: bool,
}

pub fn default_spec(name: &str) -> ClusterSpec {
    // Parsed rather than built, so every default is the file format's own.
    let mut spec = config::parse_str(
        "name: x\nhosts: []\nnetwork:\n  pod_cidr: 10.244.0.0/16\n  service_cidr: 10.96.0.0/12\n",
    )
    .expect("the built-in starting cluster file parses");
    spec.name = name.to_string();
    spec
}

pub fn default_file(name: &str) -> String {
    format!("./clusters/{name}/cluster.yaml")
}

impl Wizard {
    /// A wizard for a new cluster.
    pub fn new(name: &str) -> Wizard {
        Wizard::with_screens(name, SCREENS)
    }

    /// A wizard for a new cluster over `screens` (the first is where it starts).
    pub fn with_screens(name: &str, screens: &'static [&'static Screen]) -> Wizard {
        let spec = default_spec(name);
        let mut w = Wizard {
            step: screens[0].step,
            screens,
            file: PathBuf::from(default_file(name)),
            welcome: welcome::form("new cluster", name, &default_file(name)),
            file_edited: false,
            hosts_focus: HostsFocus::Table,
            selected_host: 0,
            defaults_form: Form::default(),
            checks: vec![],
            edit: None,
            paste: None,
            forms: HashMap::new(),
            review: None,
            findings: vec![],
            local: vec![],
            status: None,
            deploy_requested: false,
            spec,
        };
        w.rebuild_forms();
        w.revalidate();
        w
    }

    /// A new cluster to be saved at `file` (`kubewiz wizard -f FILE` with no FILE yet).
    pub fn new_at(name: &str, file: &Path) -> Wizard {
        let mut w = Wizard::new(name);
        w.file = file.to_path_buf();
        w.welcome = welcome::form("new cluster", name, &file.display().to_string());
        w
    }

    /// A wizard on an existing (parsed) cluster file, at the hosts screen.
    pub fn open(file: PathBuf, spec: ClusterSpec) -> Wizard {
        let mut w = Wizard::new(&spec.name);
        w.welcome = welcome::form("open a cluster file", "", &file.display().to_string());
        w.file = file;
        w.file_edited = true;
        w.spec = spec;
        w.step = Step::HOSTS;
        w.rebuild_forms();
        w.revalidate();
        w
    }

    /// Open a cluster file whose text does not parse: straight to the review screen, where the
    /// YAML can be fixed by hand.
    pub fn open_broken(file: PathBuf, text: &str) -> Wizard {
        let mut w = Wizard::new("cluster");
        w.welcome = welcome::form("open a cluster file", "", &file.display().to_string());
        w.file = file;
        w.file_edited = true;
        w.step = Step::REVIEW;
        w.review = Some(Review::new(text, true));
        w
    }

    pub fn dir(&self) -> ClusterDir {
        ClusterDir::of_cluster_file(&self.file)
    }

    /// The screen shown now.
    pub fn screen(&self) -> &'static Screen {
        self.screens
            .iter()
            .copied()
            .find(|s| s.step == self.step)
            .unwrap_or(self.screens[0])
    }

    fn index(&self) -> usize {
        self.screens
            .iter()
            .position(|s| s.step == self.step)
            .unwrap_or(0)
    }

    /// Every form again from the spec (after the review editor or a save changed it).
    fn rebuild_forms(&mut self) {
        self.defaults_form =
            host_form::defaults_form(&self.spec.defaults).keep_focus_from(&self.defaults_form);
        for s in self.screens {
            if let Some(fs) = &s.form {
                let form = (fs.form)(&self.spec);
                let form = match self.forms.get(&s.step) {
                    Some(old) => form.keep_focus_from(old),
                    None => form,
                };
                self.forms.insert(s.step, form);
            }
        }
        self.checks
            .resize(self.spec.hosts.len(), HostCheck::Untested);
    }

    pub fn revalidate(&mut self) {
        self.findings = config::validate(&self.spec);
        self.checks
            .resize(self.spec.hosts.len(), HostCheck::Untested);
        if self.selected_host >= self.spec.hosts.len() {
            self.selected_host = self.spec.hosts.len().saturating_sub(1);
        }
    }

    /// The first finding (errors before warnings) for a field path: `(is_error, message)`.
    pub fn finding_for(&self, path: &str) -> Option<(bool, String)> {
        if path.is_empty() {
            return None;
        }
        let matches = |f: &&&Finding| {
            f.path == path
                || f.path
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        };
        let all: Vec<&Finding> = self.local.iter().chain(&self.findings).collect();
        all.iter()
            .find(|f| matches(f) && f.is_error())
            .or_else(|| all.iter().find(|f| matches(f)))
            .map(|f| (f.is_error(), f.message.clone()))
    }

    pub fn error_count(&self, prefix: &str) -> usize {
        self.local
            .iter()
            .chain(&self.findings)
            .filter(|f| f.is_error() && f.path.starts_with(prefix))
            .count()
    }

    /// Whether a text field (or modal) has the keyboard, so letters are typed, not commands.
    pub fn typing(&self) -> bool {
        (self.screen().typing)(self)
    }

    /// Whether PgUp/PgDn change screens (the review editor scrolls with them).
    pub fn pages_screens(&self) -> bool {
        !self.has_modal() && self.screen().pages
    }

    pub fn has_modal(&self) -> bool {
        (self.screen().modal)(self)
    }

    // ------------------------------------------------------------------ navigation

    pub fn go(&mut self, step: Step, effects: &mut Vec<Effect>) {
        if step != self.step && !(self.screen().leave)(self, effects) {
            return;
        }
        self.step = step;
        (self.screen().enter)(self);
    }

    pub fn next(&mut self, effects: &mut Vec<Effect>) {
        if let Some(s) = self.screens.get(self.index() + 1) {
            self.go(s.step, effects);
        }
    }

    pub fn prev(&mut self, effects: &mut Vec<Effect>) {
        if let Some(i) = self.index().checked_sub(1) {
            self.go(self.screens[i].step, effects);
        }
    }

    // ------------------------------------------------------------------ keys

    /// Handles a key: the wizard-wide keys, the screen's, then the wizard-wide fallbacks.
    pub fn on_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> KeyOutcome {
        if let Some(nav) = GLOBAL_KEYS.action(&key) {
            return self.nav(nav, effects);
        }
        if (self.screen().on_key)(self, key, effects) {
            return KeyOutcome::Used;
        }
        match FALLBACK_KEYS.action(&key) {
            Some(Nav::Next | Nav::Prev) if !self.pages_screens() => KeyOutcome::Unused,
            Some(Nav::Help | Nav::Quit) if self.typing() => KeyOutcome::Unused,
            Some(Nav::Back) if self.has_modal() => KeyOutcome::Unused,
            Some(nav) => self.nav(nav, effects),
            None => KeyOutcome::Unused,
        }
    }

    fn nav(&mut self, nav: Nav, effects: &mut Vec<Effect>) -> KeyOutcome {
        match nav {
            Nav::Next => self.next(effects),
            Nav::Prev | Nav::Back => self.prev(effects),
            Nav::Help => return KeyOutcome::Help,
            Nav::Quit => return KeyOutcome::Quit,
        }
        KeyOutcome::Used
    }

    /// Pasted text (bracketed paste), normalised: line ends, tabs, no control characters.
    pub fn on_paste(&mut self, text: &str) {
        let text = super::input::normalize(text);
        (self.screen().on_paste)(self, &text);
    }

    /// The keys of the screen as it is now, then the wizard-wide ones, for the footer.
    fn footer_keys(&self) -> Vec<KeyDoc> {
        let mut docs = (self.screen().keys)(self);
        let first = self.index() == 0;
        let last = self.index() + 1 == self.screens.len();
        let paging = if self.pages_screens() {
            &FALLBACK_KEYS
        } else {
            &GLOBAL_KEYS
        };
        // A box open over the screen has the keyboard until it is closed.
        if !last && !self.has_modal() {
            docs.extend(paging.doc(Nav::Next));
        }
        if !first && !self.has_modal() {
            docs.extend(paging.doc(Nav::Prev));
        }
        docs.extend(super::APP_KEYS.docs());
        docs.extend(GLOBAL_KEYS.doc(Nav::Quit));
        docs
    }

    /// The help: the wizard-wide keys, then the screen's.
    pub fn help_sections(&self) -> Vec<HelpSection> {
        let mut everywhere = GLOBAL_KEYS.section();
        everywhere.keys.extend(FALLBACK_KEYS.docs());
        everywhere.keys.extend(super::APP_KEYS.docs());
        vec![
            everywhere,
            HelpSection {
                title: self.screen().title,
                keys: (self.screen().keys)(self),
            },
        ]
    }

    // ------------------------------------------------------------------ form screens

    /// A form screen's form, if this is one.
    fn form_mut(&mut self) -> Option<&mut Form> {
        self.forms.get_mut(&self.step)
    }

    /// Write the form of the screen shown into the spec, rebuilding the form when a choice
    /// changed which fields it has.
    fn apply_form(&mut self, switched: bool) {
        let screen = self.screen();
        let (Some(fs), Some(form)) = (&screen.form, self.forms.get(&screen.step)) else {
            return;
        };
        let local = (fs.apply)(form, &mut self.spec);
        self.local
            .retain(|x| !screen.paths.iter().any(|p| x.path.starts_with(p)));
        self.local.extend(local);
        if switched {
            let rebuilt = (fs.form)(&self.spec).keep_focus_from(form);
            self.forms.insert(screen.step, rebuilt);
        }
        self.revalidate();
    }

    // ------------------------------------------------------------------ drawing

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let [crumbs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_crumbs(f, crumbs, theme);
        (self.screen().draw)(self, f, body, theme);
        if let Some((is_err, msg)) = &self.status {
            let st = if *is_err { theme.err() } else { theme.ok() };
            f.render_widget(
                Paragraph::new(Line::from(Span::styled(
                    truncate(msg, status.width as usize),
                    st,
                ))),
                status,
            );
        } else {
            // A first-time user should never have to guess a key: the screen's keys, always.
            f.render_widget(
                Paragraph::new(footer_line(&self.footer_keys(), theme)),
                status,
            );
        }
    }

    fn draw_crumbs(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut spans = vec![Span::styled(" kubewiz ", theme.title())];
        let at = self.index();
        for (i, s) in self.screens.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" › ", theme.dim()));
            }
            let errs: usize = s.paths.iter().map(|p| self.error_count(p)).sum();
            let st = if i == at {
                theme.selected()
            } else if i < at {
                theme.base()
            } else {
                theme.dim()
            };
            spans.push(Span::styled(format!("{}. {}", i + 1, s.title), st));
            if errs > 0 {
                spans.push(Span::styled(format!(" ✗{errs}"), theme.err()));
            }
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    /// A bordered screen: intro lines, the form with findings beside the fields, the focused
    /// field's finding and hint, then `after`.
    fn draw_form_screen(&self, f: &mut Frame, area: Rect, theme: &Theme, page: FormPage) {
        let FormPage {
            title,
            intro,
            form,
            after,
        } = page;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_focus())
            .title(Span::styled(format!(" {title} "), theme.title()));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let intro_h = intro.len() as u16;
        let form_h = form.fields.len() as u16;
        let [intro_a, _, form_a, _, hint_a, _, after_a] = Layout::vertical([
            Constraint::Length(intro_h),
            Constraint::Length(1),
            Constraint::Length(form_h),
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(inner);
        f.render_widget(
            Paragraph::new(
                intro
                    .iter()
                    .map(|l| Line::from(Span::styled(format!(" {l}"), theme.dim())))
                    .collect::<Vec<_>>(),
            ),
            intro_a,
        );
        form.render(f, form_a, theme, true, &|p| self.finding_for(p));
        let mut hint = vec![];
        if let Some(fl) = form.fields.get(form.focus) {
            if let Some((is_err, msg)) = fl.finding(&|p| self.finding_for(p)) {
                hint.push(Line::from(Span::styled(
                    format!("  {}: {msg}", if is_err { "error" } else { "warning" }),
                    if is_err { theme.err() } else { theme.warn() },
                )));
            }
            if !fl.hint.is_empty() {
                hint.push(Line::from(Span::styled(
                    format!("  {}", fl.hint),
                    theme.dim(),
                )));
            }
        }
        f.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), hint_a);
        f.render_widget(Paragraph::new(after).wrap(Wrap { trim: false }), after_a);
    }
}

/// What a form screen shows, for [`Wizard::draw_form_screen`].
struct FormPage<'a> {
    title: &'a str,
    intro: Vec<String>,
    form: &'a Form,
    after: Vec<Line<'static>>,
}

// ---------------------------------------------------------------------- form screen handlers

/// Keys of a form screen that its form does not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormScreenAction {
    Next,
}

const FORM_SCREEN_KEYS: Keymap<FormScreenAction> = Keymap {
    title: "Form",
    bindings: &[Binding {
        keys: &[(key(KeyCode::Enter), FormScreenAction::Next)],
        label: "Enter",
        footer: None,
        help: "next screen",
    }],
};

fn form_keys(_: &Wizard) -> Vec<KeyDoc> {
    let mut docs = FORM_KEYS.docs();
    docs.extend(FORM_SCREEN_KEYS.docs());
    docs
}

fn form_key(w: &mut Wizard, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
    let Some(form) = w.form_mut() else {
        return false;
    };
    let r = form.handle(key);
    if matches!(r, FormKey::Edited | FormKey::Switched) {
        w.apply_form(r == FormKey::Switched);
    }
    if r == FormKey::Ignored {
        return match FORM_SCREEN_KEYS.action(&key) {
            Some(FormScreenAction::Next) => {
                w.next(effects);
                true
            }
            None => false,
        };
    }
    true
}

fn form_paste(w: &mut Wizard, text: &str) {
    if let Some(form) = w.form_mut() {
        let r = form.paste(text);
        if r != FormKey::Ignored {
            w.apply_form(false);
        }
    }
}

fn form_draw(w: &Wizard, f: &mut Frame, area: Rect, theme: &Theme) {
    let screen = w.screen();
    let (Some(fs), Some(form)) = (&screen.form, w.forms.get(&screen.step)) else {
        return;
    };
    let page = FormPage {
        title: screen.title,
        intro: (fs.intro)(&w.spec),
        form,
        after: (fs.after)(&w.spec, theme),
    };
    w.draw_form_screen(f, area, theme, page);
}

/// `Some(trimmed)` unless blank.
fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Runtime;
    use crate::tui::input::Field;
    use crossterm::event::KeyModifiers;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    // A throwaway form screen, to show what a new screen takes: this block (its file) and
    // one line in the screen list (`SCREENS_WITH_TEST` below).
    impl Step {
        const ENGINE: Step = Step("engine");
    }
    const ENGINE: Screen = Screen {
        step: Step::ENGINE,
        title: "Engine",
        paths: &["runtime"],
        form: Some(FormScreen {
            form: |s| {
                Form::new(vec![Field::choice(
                    "runtime",
                    "Runtime",
                    "runtime",
                    &["docker", "containerd"],
                    if s.runtime == Runtime::Containerd {
                        "containerd"
                    } else {
                        "docker"
                    },
                )])
            },
            apply: |f, s| {
                s.runtime = match f.value("runtime").as_str() {
                    "containerd" => Runtime::Containerd,
                    _ => Runtime::Docker,
                };
                vec![]
            },
            intro: |_| vec!["Which container runtime.".into()],
            after: no_lines,
        }),
        ..Screen::BASE
    };
    const SCREENS_WITH_TEST: &[&Screen] = &[
        &welcome::SCREEN,
        &hosts::SCREEN,
        &ENGINE,
        &network::SCREEN,
        &cni::SCREEN,
        &runtime::SCREEN,
        &review::SCREEN,
    ];

    #[test]
    fn a_new_form_screen_is_one_block_and_one_line_in_the_list() {
        let mut w = Wizard::with_screens("lab", SCREENS_WITH_TEST);
        let mut fx = vec![];
        w.go(Step::HOSTS, &mut fx);
        w.next(&mut fx);
        assert_eq!(w.step, Step::ENGINE);
        let before = w.spec.runtime;
        let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(w.on_key(k(KeyCode::Right), &mut fx), KeyOutcome::Used);
        assert_ne!(w.spec.runtime, before, "the form wrote the spec");
        assert_eq!(
            w.forms[&Step::ENGINE].value("runtime") == "containerd",
            w.spec.runtime == Runtime::Containerd
        );
        let mut t = Terminal::new(TestBackend::new(100, 24)).unwrap();
        t.draw(|f| w.draw(f, f.area(), &Theme::MONO)).unwrap();
        let screen = format!("{}", t.backend());
        // In the crumbs, between Hosts and Network (with its findings count, if any).
        let at = |s: &str| screen.find(s).unwrap_or_else(|| panic!("no {s}: {screen}"));
        assert!(at("2. Hosts") < at("3. Engine") && at("3. Engine") < at("4. Network"));
        assert!(screen.contains("Which container runtime."), "{screen}");
        // Enter on a choice goes on, to the screen after it.
        w.on_key(k(KeyCode::Enter), &mut fx);
        assert_eq!(w.step, Step::NETWORK);
        w.prev(&mut fx);
        assert_eq!(w.step, Step::ENGINE);
    }
}

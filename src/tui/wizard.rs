//! The wizard: welcome, hosts, network, pod network, runtime, review. Its model is the
//! [`ClusterSpec`] itself, so the answers are exactly the cluster file `apply` reads; every
//! field is checked by `config::validate` as you type and its finding shown beside the field.

use super::input::{truncate, Field, Form, FormKey};
use super::theme::Theme;
use super::Effect;
use crate::cluster_dir::ClusterDir;
use crate::config::{
    self, AuthSpec, BinariesSpec, CalicoMode, CalicoSpec, ClusterSpec, CniSpec, Finding,
    FlannelBackend, FlannelSpec, HostDefaults, HostSpec, NetworkSpec, Role, Runtime, Severity,
    Versions,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use std::path::{Path, PathBuf};
use tui_textarea::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Welcome,
    Hosts,
    Network,
    PodNetwork,
    Runtime,
    Review,
}

impl Step {
    /// The keys of this screen, for the footer (F1 shows them all).
    pub fn keys(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Step::Welcome => &[
                ("↑↓", "choose"),
                ("Enter", "go on"),
                ("F1", "help"),
                ("Ctrl-C", "quit"),
            ],
            Step::Hosts => &[
                ("a/e/d", "add/edit/delete"),
                ("p", "paste"),
                ("t/T", "test"),
                ("y/A", "accept key"),
                ("Tab", "defaults"),
                ("PgDn", "next"),
                ("F1", "help"),
            ],
            Step::Network | Step::PodNetwork | Step::Runtime => &[
                ("Tab/↑↓", "field"),
                ("←→", "choose"),
                ("PgDn", "next"),
                ("PgUp", "back"),
                ("F1", "help"),
            ],
            Step::Review => &[
                ("Ctrl-S", "save"),
                ("F5", "save and deploy"),
                ("PgUp", "back"),
                ("F1", "help"),
            ],
        }
    }

    pub const ALL: [Step; 6] = [
        Step::Welcome,
        Step::Hosts,
        Step::Network,
        Step::PodNetwork,
        Step::Runtime,
        Step::Review,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Welcome => "Welcome",
            Step::Hosts => "Hosts",
            Step::Network => "Network",
            Step::PodNetwork => "Pod network",
            Step::Runtime => "Runtime & versions",
            Step::Review => "Review & deploy",
        }
    }

    fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Result of "test connection" for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCheck {
    Untested,
    Testing,
    /// Connected, logged in, sudo works (the detail says what was checked).
    Ok(String),
    /// The host key is not known yet: shown for the user to accept.
    UnknownKey {
        key_type: String,
        fingerprint: String,
    },
    Accepting,
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostsFocus {
    Table,
    Defaults,
}

pub struct HostEdit {
    pub index: usize,
    pub form: Form,
    pub is_new: bool,
}

pub struct Paste {
    pub textarea: TextArea<'static>,
    pub problems: Vec<String>,
    pub parsed: Vec<HostSpec>,
}

pub struct Review {
    pub textarea: TextArea<'static>,
    /// The YAML generated from the spec when the screen was last entered.
    pub generated: String,
    /// parse_str + validate of the text as it is now.
    pub findings: Vec<Finding>,
    pub parsed: Option<ClusterSpec>,
    /// Edited by hand since generated.
    pub edited: bool,
}

pub struct Wizard {
    pub step: Step,
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
    pub network: Form,
    pub cni: Form,
    pub runtime: Form,
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

fn welcome_form(mode: &str, name: &str, file: &str) -> Form {
    let mut fields = vec![Field::choice(
        "mode",
        "Start",
        "",
        &["new cluster", "open a cluster file"],
        mode,
    )
    .hint("←/→ to choose: describe a new cluster, or open a cluster.yaml written before")];
    if mode == "new cluster" {
        fields.push(
            Field::text("name", "Cluster name", "name", name)
                .hint("lowercase letters, digits and '-'; also names the cluster directory"),
        );
    }
    fields.push(Field::text("file", "Cluster file", "file", file).hint(
        "its folder is the cluster directory: known_hosts, state journal, logs, later the PKI",
    ));
    Form::new(fields)
}

impl Wizard {
    /// A wizard for a new cluster.
    pub fn new(name: &str) -> Wizard {
        let spec = default_spec(name);
        let mut w = Wizard {
            step: Step::Welcome,
            file: PathBuf::from(default_file(name)),
            welcome: welcome_form("new cluster", name, &default_file(name)),
            file_edited: false,
            hosts_focus: HostsFocus::Table,
            selected_host: 0,
            defaults_form: Form::default(),
            checks: vec![],
            edit: None,
            paste: None,
            network: Form::default(),
            cni: Form::default(),
            runtime: Form::default(),
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

    /// A wizard on an existing (parsed) cluster file, at the hosts screen.
    pub fn open(file: PathBuf, spec: ClusterSpec) -> Wizard {
        let mut w = Wizard::new(&spec.name);
        w.welcome = welcome_form("open a cluster file", "", &file.display().to_string());
        w.file = file;
        w.file_edited = true;
        w.spec = spec;
        w.step = Step::Hosts;
        w.rebuild_forms();
        w.revalidate();
        w
    }

    /// Open a cluster file whose text does not parse: straight to the review screen, where the
    /// YAML can be fixed by hand.
    pub fn open_broken(file: PathBuf, text: &str) -> Wizard {
        let mut w = Wizard::new("cluster");
        w.welcome = welcome_form("open a cluster file", "", &file.display().to_string());
        w.file = file;
        w.file_edited = true;
        w.step = Step::Review;
        w.review = Some(Review::new(text, true));
        w
    }

    pub fn dir(&self) -> ClusterDir {
        ClusterDir::of_cluster_file(&self.file)
    }

    fn rebuild_forms(&mut self) {
        self.defaults_form =
            defaults_form(&self.spec.defaults).keep_focus_from(&self.defaults_form);
        self.network = network_form(&self.spec.network).keep_focus_from(&self.network);
        self.cni = cni_form(&self.spec.cni).keep_focus_from(&self.cni);
        self.runtime = runtime_form(&self.spec).keep_focus_from(&self.runtime);
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
        match self.step {
            Step::Hosts => {
                self.edit.is_some()
                    || self.paste.is_some()
                    || self.hosts_focus == HostsFocus::Defaults
            }
            Step::Review => true,
            _ => true,
        }
    }

    /// Whether PgUp/PgDn change screens (the review editor scrolls with them).
    pub fn pages_screens(&self) -> bool {
        !self.has_modal() && self.step != Step::Review
    }

    pub fn has_modal(&self) -> bool {
        self.edit.is_some() || self.paste.is_some()
    }

    // ------------------------------------------------------------------ navigation

    pub fn go(&mut self, step: Step, effects: &mut Vec<Effect>) {
        if self.step == Step::Welcome && step != Step::Welcome && !self.leave_welcome(effects) {
            return;
        }
        if self.step == Step::Review && step != Step::Review {
            self.leave_review();
        }
        self.step = step;
        if step == Step::Review {
            self.enter_review();
        }
    }

    pub fn next(&mut self, effects: &mut Vec<Effect>) {
        let i = self.step.index();
        if i + 1 < Step::ALL.len() {
            self.go(Step::ALL[i + 1], effects);
        }
    }

    pub fn prev(&mut self, effects: &mut Vec<Effect>) {
        let i = self.step.index();
        if i > 0 {
            self.go(Step::ALL[i - 1], effects);
        }
    }

    /// Leaving the welcome screen: a new cluster takes the name and file; opening a file is
    /// done by the app (it may offer to resume). Returns false to stay.
    fn leave_welcome(&mut self, effects: &mut Vec<Effect>) -> bool {
        let file = self.welcome.value("file").trim().to_string();
        if file.is_empty() {
            self.status = Some((true, "give the path of the cluster file".into()));
            return false;
        }
        if self.welcome.value("mode") == "open a cluster file" {
            effects.push(Effect::OpenFile(PathBuf::from(file)));
            return false;
        }
        if self.finding_for("name").is_some_and(|(e, _)| e) {
            self.status = Some((true, "fix the cluster name first".into()));
            return false;
        }
        let path = PathBuf::from(&file);
        if path.exists() {
            self.status = Some((
                true,
                format!(
                    "{file} exists already: choose \"open a cluster file\" to open it, or another path"
                ),
            ));
            return false;
        }
        self.file = path;
        self.status = None;
        effects.push(Effect::InitLog(self.dir()));
        true
    }

    // ------------------------------------------------------------------ keys

    /// After a form screen handled a key: Enter it did not use goes to the next screen.
    fn form_key_rest(&mut self, r: FormKey, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if r == FormKey::Ignored && key.code == KeyCode::Enter {
            self.next(effects);
            return true;
        }
        r != FormKey::Ignored
    }

    /// Handles a key; returns false when it was not used (the app then tries global keys).
    pub fn on_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        match self.step {
            Step::Welcome => self.welcome_key(key, effects),
            Step::Hosts => self.hosts_key(key, effects),
            Step::Network => {
                let r = self.network.handle(key);
                if matches!(r, FormKey::Edited | FormKey::Switched) {
                    self.apply_network();
                }
                self.form_key_rest(r, key, effects)
            }
            Step::PodNetwork => {
                let r = self.cni.handle(key);
                if matches!(r, FormKey::Edited | FormKey::Switched) {
                    self.apply_cni();
                }
                self.form_key_rest(r, key, effects)
            }
            Step::Runtime => {
                let r = self.runtime.handle(key);
                if matches!(r, FormKey::Edited | FormKey::Switched) {
                    self.apply_runtime(r == FormKey::Switched);
                }
                self.form_key_rest(r, key, effects)
            }
            Step::Review => self.review_key(key, effects),
        }
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some(p) = &mut self.paste {
            p.textarea.insert_str(text);
            p.reparse();
            return;
        }
        if let Some(r) = &mut self.review {
            if self.step == Step::Review {
                r.textarea.insert_str(text);
                r.revalidate();
                return;
            }
        }
        let form = match self.step {
            Step::Welcome => &mut self.welcome,
            Step::Hosts => match &mut self.edit {
                Some(e) => &mut e.form,
                None if self.hosts_focus == HostsFocus::Defaults => &mut self.defaults_form,
                None => {
                    // A paste on the hosts table opens the bulk paste with it.
                    let mut p = Paste::new();
                    p.textarea.insert_str(text);
                    p.reparse();
                    self.paste = Some(p);
                    return;
                }
            },
            Step::Network => &mut self.network,
            Step::PodNetwork => &mut self.cni,
            Step::Runtime => &mut self.runtime,
            Step::Review => return,
        };
        form.paste(text);
        self.after_form_edit();
    }

    fn after_form_edit(&mut self) {
        match self.step {
            Step::Welcome => self.apply_welcome(),
            Step::Network => self.apply_network(),
            Step::PodNetwork => self.apply_cni(),
            Step::Runtime => self.apply_runtime(false),
            Step::Hosts => {
                if self.edit.is_some() {
                    self.apply_host_edit(false);
                } else {
                    self.apply_defaults(false);
                }
            }
            Step::Review => {}
        }
    }

    fn welcome_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if key.code == KeyCode::Enter {
            if self.welcome.is_last() {
                self.next(effects);
            } else {
                self.welcome.focus += 1;
            }
            return true;
        }
        let r = self.welcome.handle(key);
        match r {
            FormKey::Switched => {
                let mode = self.welcome.value("mode");
                let file = if mode == "new cluster" && !self.file_edited {
                    default_file(&self.spec.name)
                } else {
                    self.welcome.value("file")
                };
                self.welcome = welcome_form(&mode, &self.spec.name, &file);
            }
            FormKey::Edited => {
                if self.welcome.focused_key() == Some("file") {
                    self.file_edited = true;
                }
                self.apply_welcome();
            }
            _ => {}
        }
        r != FormKey::Ignored
    }

    fn apply_welcome(&mut self) {
        if self.welcome.get("name").is_some() {
            self.spec.name = self.welcome.value("name").trim().to_string();
            if !self.file_edited {
                let file = default_file(&self.spec.name);
                if let Some(Field {
                    kind: super::input::FieldKind::Text(i),
                    ..
                }) = self.welcome.fields.iter_mut().find(|f| f.key == "file")
                {
                    *i = super::input::LineInput::new(file);
                }
            }
        }
        self.status = None;
        self.revalidate();
    }

    // ------------------------------------------------------------------ hosts

    fn hosts_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if let Some(mut p) = self.paste.take() {
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            match key.code {
                KeyCode::Esc => {}
                KeyCode::Char('s') if ctrl => {
                    p.reparse();
                    if p.parsed.is_empty() {
                        p.problems.insert(0, "no host lines to add yet".into());
                        self.paste = Some(p);
                    } else {
                        let n = p.parsed.len();
                        for h in p.parsed {
                            self.spec.hosts.push(h);
                        }
                        self.status = Some((false, format!("added {n} host(s)")));
                        self.revalidate();
                    }
                }
                _ => {
                    if p.textarea.input(key) {
                        p.reparse();
                    }
                    self.paste = Some(p);
                }
            }
            return true;
        }
        if self.edit.is_some() {
            match key.code {
                KeyCode::Esc | KeyCode::Enter => {
                    let e = self.edit.take().expect("edit");
                    let h = &self.spec.hosts[e.index];
                    if e.is_new && h.name.is_empty() && h.address.is_empty() {
                        self.spec.hosts.remove(e.index);
                        self.checks.remove(e.index);
                    }
                    self.local.retain(|f| !f.path.starts_with("hosts["));
                    self.revalidate();
                }
                _ => {
                    let r = self.edit.as_mut().expect("edit").form.handle(key);
                    if matches!(r, FormKey::Edited | FormKey::Switched) {
                        self.apply_host_edit(r == FormKey::Switched);
                    }
                }
            }
            return true;
        }
        if self.hosts_focus == HostsFocus::Defaults {
            match key.code {
                KeyCode::Esc => self.hosts_focus = HostsFocus::Table,
                KeyCode::Tab if self.defaults_form.is_last() => {
                    self.hosts_focus = HostsFocus::Table;
                    self.defaults_form.focus = 0;
                }
                KeyCode::Enter => {
                    if self.defaults_form.is_last() {
                        self.hosts_focus = HostsFocus::Table;
                        self.defaults_form.focus = 0;
                    } else {
                        self.defaults_form.focus += 1;
                    }
                }
                _ => {
                    let r = self.defaults_form.handle(key);
                    if matches!(r, FormKey::Edited | FormKey::Switched) {
                        self.apply_defaults(r == FormKey::Switched);
                    }
                    return r != FormKey::Ignored;
                }
            }
            return true;
        }
        let n = self.spec.hosts.len();
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => self.hosts_focus = HostsFocus::Defaults,
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected_host = self.selected_host.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected_host = (self.selected_host + 1).min(n.saturating_sub(1))
            }
            KeyCode::Char('a') => {
                self.spec.hosts.push(HostSpec {
                    name: String::new(),
                    address: String::new(),
                    port: None,
                    user: None,
                    auth: None,
                    sudo: None,
                    roles: vec![Role::Node],
                });
                self.checks.push(HostCheck::Untested);
                self.selected_host = n;
                self.edit = Some(HostEdit {
                    index: n,
                    form: host_form(&self.spec.hosts[n], n),
                    is_new: true,
                });
                self.revalidate();
            }
            KeyCode::Char('e') | KeyCode::Enter if n > 0 => {
                let i = self.selected_host;
                self.edit = Some(HostEdit {
                    index: i,
                    form: host_form(&self.spec.hosts[i], i),
                    is_new: false,
                });
            }
            KeyCode::Char('d') | KeyCode::Delete if n > 0 => {
                let h = self.spec.hosts.remove(self.selected_host);
                self.checks.remove(self.selected_host);
                self.status = Some((false, format!("deleted host {}", h.name)));
                self.revalidate();
            }
            KeyCode::Char('p') => self.paste = Some(Paste::new()),
            KeyCode::Char('t') if n > 0 => self.test_host(self.selected_host, effects),
            KeyCode::Char('T') => {
                for i in 0..n {
                    self.test_host(i, effects);
                }
            }
            KeyCode::Char('y') if n > 0 => self.accept_key(self.selected_host, effects),
            KeyCode::Char('A') => {
                for i in 0..n {
                    if matches!(self.checks[i], HostCheck::UnknownKey { .. }) {
                        self.accept_key(i, effects);
                    }
                }
            }
            KeyCode::Enter => self.next(effects),
            _ => return false,
        }
        true
    }

    /// The host as the engine would use it (defaults applied), if its address parses.
    pub fn resolved(&self, index: usize) -> Option<config::ResolvedHost> {
        let h = self.spec.hosts.get(index)?;
        let one = ClusterSpec {
            hosts: vec![h.clone()],
            ..self.spec.clone()
        };
        one.resolved_hosts().into_iter().next()
    }

    fn test_host(&mut self, i: usize, effects: &mut Vec<Effect>) {
        let blocking = self
            .local
            .iter()
            .chain(&self.findings)
            .find(|f| f.is_error() && f.path.starts_with(&format!("hosts[{i}]")))
            .or_else(|| {
                self.findings
                    .iter()
                    .find(|f| f.is_error() && f.path.starts_with("defaults"))
            });
        if let Some(f) = blocking {
            self.checks[i] =
                HostCheck::Failed(format!("fix this first: {}: {}", f.path, f.message));
            return;
        }
        match self.resolved(i) {
            Some(host) => {
                self.checks[i] = HostCheck::Testing;
                effects.push(Effect::TestHost {
                    index: i,
                    host,
                    dir: self.dir(),
                });
            }
            None => self.checks[i] = HostCheck::Failed("the address is not an IP address".into()),
        }
    }

    fn accept_key(&mut self, i: usize, effects: &mut Vec<Effect>) {
        let HostCheck::UnknownKey { fingerprint, .. } = &self.checks[i] else {
            self.status = Some((
                false,
                "no new host key to accept for this host: press t to test the connection first"
                    .into(),
            ));
            return;
        };
        let fingerprint = fingerprint.clone();
        if let Some(host) = self.resolved(i) {
            self.checks[i] = HostCheck::Accepting;
            effects.push(Effect::AcceptKey {
                index: i,
                host,
                fingerprint,
                dir: self.dir(),
            });
        }
    }

    /// A test result from the runner. Results for a host list that changed since are dropped.
    pub fn on_host_check(&mut self, index: usize, address: &str, check: HostCheck) {
        if self
            .spec
            .hosts
            .get(index)
            .is_some_and(|h| h.address == address)
        {
            self.checks[index] = check;
        }
    }

    fn apply_defaults(&mut self, switched: bool) {
        let f = &self.defaults_form;
        self.local.retain(|x| !x.path.starts_with("defaults"));
        let mut d = HostDefaults {
            port: None,
            user: non_empty(&f.value("user")),
            auth: auth_from(
                &f.value("auth"),
                &f.value("key_file"),
                &f.value("password_env"),
            ),
            sudo: match f.value("sudo").as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        };
        match parse_port(&f.value("port")) {
            Ok(p) => d.port = p,
            Err(e) => self.local.push(Finding::error("defaults.port", e)),
        }
        self.spec.defaults = d;
        if switched {
            self.defaults_form =
                defaults_form(&self.spec.defaults).keep_focus_from(&self.defaults_form);
        }
        self.revalidate();
    }

    fn apply_host_edit(&mut self, switched: bool) {
        let Some(e) = &mut self.edit else { return };
        let i = e.index;
        let f = &e.form;
        let at = format!("hosts[{i}]");
        self.local.retain(|x| !x.path.starts_with(&at));
        let h = &mut self.spec.hosts[i];
        h.name = f.value("name").trim().to_string();
        h.address = f.value("address").trim().to_string();
        match parse_port(&f.value("port")) {
            Ok(p) => h.port = p,
            Err(msg) => self.local.push(Finding::error(format!("{at}.port"), msg)),
        }
        h.user = non_empty(&f.value("user"));
        h.auth = match f.value("auth").as_str() {
            "default" => None,
            m => auth_from(m, &f.value("key_file"), &f.value("password_env")),
        };
        h.sudo = match f.value("sudo").as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        h.roles = f
            .value("roles")
            .split(',')
            .filter_map(|r| match r {
                "etcd" => Some(Role::Etcd),
                "master" => Some(Role::Master),
                "node" => Some(Role::Node),
                _ => None,
            })
            .collect();
        if switched {
            let form = host_form(h, i).keep_focus_from(&e.form);
            // Keep the roles cursor where it was.
            e.form = keep_flag_cursor(form, &e.form);
        }
        if let Some(c) = self.checks.get_mut(i) {
            *c = HostCheck::Untested;
        }
        self.revalidate();
    }

    // ------------------------------------------------------------------ other forms

    fn apply_network(&mut self) {
        let f = &self.network;
        self.spec.network = NetworkSpec {
            pod_cidr: f.value("pod_cidr").trim().to_string(),
            service_cidr: f.value("service_cidr").trim().to_string(),
            cluster_dns: non_empty(&f.value("cluster_dns")),
            dns_domain: f.value("dns_domain").trim().to_string(),
        };
        self.revalidate();
    }

    fn apply_cni(&mut self) {
        let f = &self.cni;
        self.spec.cni = if f.value("plugin") == "calico" {
            CniSpec::Calico {
                calico: CalicoSpec {
                    mode: match f.value("mode").as_str() {
                        "vxlan" => CalicoMode::Vxlan,
                        "bgp" => CalicoMode::Bgp,
                        _ => CalicoMode::Ipip,
                    },
                },
            }
        } else {
            CniSpec::Flannel {
                flannel: FlannelSpec {
                    backend: if f.value("backend") == "host-gw" {
                        FlannelBackend::HostGw
                    } else {
                        FlannelBackend::Vxlan
                    },
                },
            }
        };
        self.cni = cni_form(&self.spec.cni).keep_focus_from(&self.cni);
        self.revalidate();
    }

    fn apply_runtime(&mut self, switched: bool) {
        let f = &self.runtime;
        self.spec.runtime = if f.value("runtime") == "containerd" {
            Runtime::Containerd
        } else {
            Runtime::Docker
        };
        self.spec.versions = Versions {
            kubernetes: f.value("kubernetes").trim().to_string(),
            etcd: f.value("etcd").trim().to_string(),
            flannel: f.value("flannel").trim().to_string(),
            calico: f.value("calico").trim().to_string(),
            cni_plugins: f.value("cni_plugins").trim().to_string(),
        };
        self.spec.binaries = match f.value("source").as_str() {
            "bundle" => BinariesSpec::Bundle {
                bundle_dir: PathBuf::from(f.value("bundle_dir").trim()),
            },
            "mirror" => BinariesSpec::Mirror {
                mirror_url: f.value("mirror_url").trim().to_string(),
            },
            _ => BinariesSpec::Installed,
        };
        if switched {
            self.runtime = runtime_form(&self.spec).keep_focus_from(&self.runtime);
        }
        self.revalidate();
    }

    // ------------------------------------------------------------------ review

    fn enter_review(&mut self) {
        let yaml = file_text(&self.spec);
        let regenerate = match &self.review {
            Some(r) => r.generated != yaml && !(r.edited && r.parsed.as_ref() == Some(&self.spec)),
            None => true,
        };
        if regenerate {
            self.review = Some(Review::new(&yaml, false));
        }
    }

    fn leave_review(&mut self) {
        if let Some(r) = &self.review {
            if let Some(spec) = &r.parsed {
                if r.edited && spec != &self.spec {
                    self.spec = spec.clone();
                    self.rebuild_forms();
                    self.revalidate();
                }
            }
        }
    }

    fn review_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => {
                self.save();
                true
            }
            KeyCode::F(5) => {
                self.save_and_deploy(effects);
                true
            }
            KeyCode::Char('d') if ctrl => {
                self.save_and_deploy(effects);
                true
            }
            _ => {
                let Some(r) = &mut self.review else {
                    return false;
                };
                if r.textarea.input(key) {
                    r.edited = true;
                    r.revalidate();
                    self.status = None;
                }
                true
            }
        }
    }

    fn save_and_deploy(&mut self, effects: &mut Vec<Effect>) {
        if self.save() {
            self.deploy_requested = true;
            let _ = effects;
        }
    }

    /// Validate the review text and write it atomically to the cluster file.
    pub fn save(&mut self) -> bool {
        let Some(r) = &mut self.review else {
            return false;
        };
        r.revalidate();
        let errors = r.findings.iter().filter(|f| f.is_error()).count();
        if errors > 0 {
            self.status = Some((
                true,
                format!("not saved: {errors} error(s) in the file; fix them (listed on the right)"),
            ));
            return false;
        }
        let mut text = r.textarea.lines().join("\n");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        match crate::cluster_dir::write_atomic(&self.file, text.as_bytes(), 0o644) {
            Ok(()) => {
                if let Some(spec) = r.parsed.clone() {
                    self.spec = spec;
                }
                r.generated = file_text(&self.spec);
                r.edited = false;
                self.status = Some((false, format!("saved {}", self.file.display())));
                self.rebuild_forms();
                self.revalidate();
                true
            }
            Err(e) => {
                self.status = Some((true, format!("cannot save: {e:#}")));
                false
            }
        }
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
        match self.step {
            Step::Welcome => self.draw_welcome(f, body, theme),
            Step::Hosts => self.draw_hosts(f, body, theme),
            Step::Network => self.draw_network(f, body, theme),
            Step::PodNetwork => self.draw_cni(f, body, theme),
            Step::Runtime => self.draw_runtime(f, body, theme),
            Step::Review => self.draw_review(f, body, theme),
        }
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
            let mut spans = vec![];
            for (key, what) in self.step.keys() {
                spans.push(Span::styled(format!(" {key} "), theme.key()));
                spans.push(Span::styled(format!("{what} "), theme.dim()));
            }
            f.render_widget(Paragraph::new(Line::from(spans)), status);
        }
    }

    fn draw_crumbs(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut spans = vec![Span::styled(" kubewiz ", theme.title())];
        for (i, s) in Step::ALL.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" › ", theme.dim()));
            }
            let errs = match s {
                Step::Welcome => self.error_count("name"),
                Step::Hosts => self.error_count("hosts") + self.error_count("defaults"),
                Step::Network => self.error_count("network"),
                Step::PodNetwork => self.error_count("cni"),
                Step::Runtime => self.error_count("versions") + self.error_count("binaries"),
                Step::Review => 0,
            };
            let st = if *s == self.step {
                theme.selected()
            } else if i < self.step.index() {
                theme.base()
            } else {
                theme.dim()
            };
            spans.push(Span::styled(format!("{}. {}", i + 1, s.title()), st));
            if errs > 0 && *s != Step::Welcome {
                spans.push(Span::styled(format!(" ✗{errs}"), theme.err()));
            }
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn hint_line(form: &Form, focused: bool) -> Option<String> {
        if !focused {
            return None;
        }
        form.fields
            .get(form.focus)
            .map(|fl| fl.hint.clone())
            .filter(|h| !h.is_empty())
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_form_screen(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        title: &str,
        intro: &[String],
        form: &Form,
        after: Vec<Line<'static>>,
    ) {
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
            if let Some((is_err, msg)) = self.finding_for(&fl.path) {
                hint.push(Line::from(Span::styled(
                    format!("  {}: {msg}", if is_err { "error" } else { "warning" }),
                    if is_err { theme.err() } else { theme.warn() },
                )));
            }
        }
        if let Some(h) = Self::hint_line(form, true) {
            hint.push(Line::from(Span::styled(format!("  {h}"), theme.dim())));
        }
        f.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), hint_a);
        f.render_widget(Paragraph::new(after).wrap(Wrap { trim: false }), after_a);
    }

    fn draw_welcome(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let intro = vec![
            "kubewiz installs a Kubernetes cluster from release binaries over SSH: host prep,"
                .into(),
            "PKI, etcd, runtime, pod network, control plane, nodes, add-ons. Every answer here"
                .into(),
            "goes into one cluster file, the same file `kubewiz apply -f` reads.".into(),
        ];
        self.draw_form_screen(
            f,
            area,
            theme,
            "Welcome",
            &intro,
            &self.welcome,
            vec![Line::from(Span::styled(
                "  Enter: next field / continue   Ctrl-N: continue   Ctrl-C: quit".to_string(),
                theme.dim(),
            ))],
        );
    }

    fn draw_network(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let dns = self
            .spec
            .cluster_dns_ip()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "—".into());
        let intro = vec![
            "The cluster's internal networks: one IP family, not overlapping each other nor any host.".into(),
            format!("Cluster DNS will be {dns}; the kubernetes API service {}.",
                self.spec.apiserver_service_ip().map(|i| i.to_string()).unwrap_or_else(|| "—".into())),
        ];
        self.draw_form_screen(f, area, theme, "Network", &intro, &self.network, vec![]);
    }

    fn draw_cni(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let intro = vec!["How pods on different hosts reach each other.".into()];
        let explain: &[(&str, &str)] = match &self.spec.cni {
            CniSpec::Flannel { .. } => &[
                ("flannel", "a simple overlay: flanneld leases each node a subnet from etcd and writes /run/flannel/subnet.env"),
                ("vxlan", "encapsulates pod traffic in UDP; works across routed networks (default)"),
                ("host-gw", "plain routes via each host, no encapsulation: faster, but every host must share one L2 segment"),
            ],
            CniSpec::Calico { .. } => &[
                ("calico", "routes pod traffic with BGP and enforces network policies"),
                ("ipip", "IP-in-IP encapsulation between hosts; works across subnets (default)"),
                ("vxlan", "VXLAN encapsulation, for networks that drop IP-in-IP (some clouds)"),
                ("bgp", "no encapsulation: pod routes announced by BGP; hosts on one L2 or BGP-capable routers"),
            ],
        };
        let selected = match &self.spec.cni {
            CniSpec::Flannel { flannel } => match flannel.backend {
                FlannelBackend::Vxlan => "vxlan",
                FlannelBackend::HostGw => "host-gw",
            },
            CniSpec::Calico { calico } => match calico.mode {
                CalicoMode::Ipip => "ipip",
                CalicoMode::Vxlan => "vxlan",
                CalicoMode::Bgp => "bgp",
            },
        };
        let after = explain
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let st = if i == 0 || *k == selected {
                    theme.base()
                } else {
                    theme.dim()
                };
                let mark = if *k == selected { "▸" } else { " " };
                Line::from(vec![
                    Span::styled(format!("  {mark} {k:<9}"), theme.key()),
                    Span::styled(v.to_string(), st),
                ])
            })
            .collect();
        self.draw_form_screen(f, area, theme, "Pod network", &intro, &self.cni, after);
    }

    fn draw_runtime(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let intro = vec![
            "Container runtime, the versions to install, and where the release binaries come from."
                .into(),
        ];
        self.draw_form_screen(
            f,
            area,
            theme,
            "Runtime & versions",
            &intro,
            &self.runtime,
            vec![],
        );
    }

    fn draw_hosts(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let dh = self.defaults_form.fields.len() as u16 + 2;
        let [defaults_a, table_a, detail_a] = Layout::vertical([
            Constraint::Length(dh),
            Constraint::Min(5),
            Constraint::Length(5),
        ])
        .areas(area);
        let dfocus = self.hosts_focus == HostsFocus::Defaults && !self.has_modal();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(if dfocus {
                theme.border_focus()
            } else {
                theme.border()
            })
            .title(Span::styled(
                if dfocus {
                    " Defaults for every host (Tab/Esc: back to the table) ".to_string()
                } else {
                    " Defaults for every host (Tab: edit) ".to_string()
                },
                theme.title(),
            ));
        let inner = block.inner(defaults_a);
        f.render_widget(block, defaults_a);
        self.defaults_form
            .render(f, inner, theme, dfocus, &|p| self.finding_for(p));

        let tfocus = self.hosts_focus == HostsFocus::Table && !self.has_modal();
        let d = &self.spec.defaults;
        let rows: Vec<Row> = self
            .spec
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let inherit = |v: Option<String>, dv: Option<String>, builtin: &str| match v {
                    Some(v) => v,
                    None => dv.unwrap_or_else(|| builtin.to_string()),
                };
                let auth = h
                    .auth
                    .as_ref()
                    .or(d.auth.as_ref())
                    .map(auth_label)
                    .unwrap_or_else(|| "agent".into());
                let user = inherit(h.user.clone(), d.user.clone(), "root");
                let sudo = h.sudo.or(d.sudo).unwrap_or(user != "root");
                let err = self
                    .local
                    .iter()
                    .chain(&self.findings)
                    .find(|x| x.is_error() && x.path.starts_with(&format!("hosts[{i}]")));
                let (check, cst) = match (err, &self.checks[i]) {
                    (Some(e), _) => (format!("✗ {}", e.message), theme.err()),
                    (None, HostCheck::Untested) => ("not tested (t)".into(), theme.dim()),
                    (None, HostCheck::Testing) => ("testing…".into(), theme.running()),
                    (None, HostCheck::Accepting) => ("recording the key…".into(), theme.running()),
                    (None, HostCheck::Ok(m)) => (format!("✓ {m}"), theme.ok()),
                    (None, HostCheck::UnknownKey { fingerprint, .. }) => {
                        (format!("? new key {fingerprint} (y: accept)"), theme.warn())
                    }
                    (None, HostCheck::Failed(m)) => (format!("✗ {m}"), theme.err()),
                };
                let roles: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
                let st = if tfocus && i == self.selected_host {
                    theme.selected()
                } else {
                    theme.base()
                };
                Row::new(vec![
                    Span::raw(format!("{}", i + 1)),
                    Span::raw(h.name.clone()),
                    Span::raw(h.address.clone()),
                    Span::raw(h.port.or(d.port).unwrap_or(22).to_string()),
                    Span::raw(user),
                    Span::raw(auth),
                    Span::raw(if sudo { "yes" } else { "no" }),
                    Span::raw(roles.join(",")),
                    Span::styled(check, if st == theme.base() { cst } else { st }),
                ])
                .style(st)
            })
            .collect();
        let count = self.spec.hosts.len();
        let title = format!(" Hosts ({count}) ");
        let table = Table::new(
            rows,
            [
                Constraint::Length(2),
                Constraint::Length(10),
                Constraint::Length(15),
                Constraint::Length(5),
                Constraint::Length(8),
                Constraint::Length(18),
                Constraint::Length(4),
                Constraint::Length(16),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(vec![
                "#",
                "Name",
                "Address",
                "Port",
                "User",
                "Auth",
                "Sudo",
                "Roles",
                "Connection",
            ])
            .style(theme.title()),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(if tfocus {
                    theme.border_focus()
                } else {
                    theme.border()
                })
                .title(Span::styled(title, theme.title())),
        );
        f.render_widget(table, table_a);
        if count == 0 {
            let inner = Rect {
                x: table_a.x + 2,
                y: table_a.y + 2,
                width: table_a.width.saturating_sub(4),
                height: 2.min(table_a.height.saturating_sub(3)),
            };
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(Span::styled(
                        "No hosts yet: press p to paste lines like `192.168.1.10 master01 etcd,master`,",
                        theme.dim(),
                    )),
                    Line::from(Span::styled("or a to add one host.", theme.dim())),
                ]),
                inner,
            );
        }

        // The selected host's connection detail (full message or fingerprint), then findings
        // about the host list as a whole.
        let mut detail = vec![];
        if let (Some(h), Some(c)) = (
            self.spec.hosts.get(self.selected_host),
            self.checks.get(self.selected_host),
        ) {
            match c {
                HostCheck::UnknownKey {
                    key_type,
                    fingerprint,
                } => {
                    detail.push(Line::from(vec![
                        Span::styled(
                            format!(" {} presents a host key never seen before: ", h.name),
                            theme.warn(),
                        ),
                        Span::styled(format!("{key_type} {fingerprint}"), theme.title()),
                    ]));
                    detail.push(Line::from(Span::styled(
                        "  compare with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the machine; y accepts it into the cluster's known_hosts",
                        theme.dim(),
                    )));
                }
                HostCheck::Failed(m) => detail.push(Line::from(Span::styled(
                    format!(" {}: {m}", h.name),
                    theme.err(),
                ))),
                _ => {}
            }
        }
        for x in self
            .findings
            .iter()
            .filter(|x| x.path == "hosts" || x.path.starts_with("defaults"))
        {
            let st = if x.severity == Severity::Error {
                theme.err()
            } else {
                theme.warn()
            };
            detail.push(Line::from(Span::styled(format!(" {x}"), st)));
        }
        f.render_widget(Paragraph::new(detail).wrap(Wrap { trim: false }), detail_a);

        if let Some(e) = &self.edit {
            self.draw_host_edit(f, area, theme, e);
        }
        if let Some(p) = &self.paste {
            draw_paste(f, area, theme, p);
        }
    }

    fn draw_host_edit(&self, f: &mut Frame, area: Rect, theme: &Theme, e: &HostEdit) {
        let h = (e.form.fields.len() as u16 + 6).min(area.height);
        let w = area.width.saturating_sub(8).min(110);
        let r = centered(area, w, h);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border_focus())
            .title(Span::styled(
                format!(" Host {} — Enter/Esc: done ", e.index + 1),
                theme.title(),
            ));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let [form_a, _, hint_a] = Layout::vertical([
            Constraint::Length(e.form.fields.len() as u16),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(inner);
        e.form
            .render(f, form_a, theme, true, &|p| self.finding_for(p));
        let mut hint = vec![];
        if let Some(fl) = e.form.fields.get(e.form.focus) {
            if let Some((is_err, msg)) = self.finding_for(&fl.path) {
                hint.push(Line::from(Span::styled(
                    format!("  {msg}"),
                    if is_err { theme.err() } else { theme.warn() },
                )));
            } else if !fl.hint.is_empty() {
                hint.push(Line::from(Span::styled(
                    format!("  {}", fl.hint),
                    theme.dim(),
                )));
            }
        }
        f.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), hint_a);
    }

    fn draw_review(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let Some(r) = &self.review else { return };
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .areas(area);
        let title = format!(
            " {}{} ",
            self.file.display(),
            if r.edited { " (edited)" } else { "" }
        );
        let mut ta = r.textarea.clone();
        ta.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus())
                .title(Span::styled(title, theme.title())),
        );
        ta.set_line_number_style(theme.dim());
        ta.set_cursor_line_style(ratatui::style::Style::default());
        ta.set_cursor_style(theme.selected());
        f.render_widget(&ta, left);

        let errors = r.findings.iter().filter(|x| x.is_error()).count();
        let warnings = r.findings.len() - errors;
        let mut lines = vec![];
        if r.findings.is_empty() {
            lines.push(Line::from(Span::styled(
                "✓ the file is valid".to_string(),
                theme.ok(),
            )));
        } else {
            lines.push(Line::from(Span::styled(
                format!("{errors} error(s), {warnings} warning(s)"),
                if errors > 0 {
                    theme.err()
                } else {
                    theme.warn()
                },
            )));
        }
        for x in &r.findings {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                format!(
                    "{} {}",
                    if x.is_error() { "✗" } else { "!" },
                    if x.path.is_empty() { "(file)" } else { &x.path }
                ),
                if x.is_error() {
                    theme.err()
                } else {
                    theme.warn()
                },
            )));
            lines.push(Line::from(Span::raw(format!("  {}", x.message))));
        }
        lines.push(Line::from(""));
        for (k, v) in [
            ("Ctrl-S", "save"),
            ("F5 / Ctrl-D", "save and deploy"),
            ("Ctrl-P", "back"),
        ] {
            lines.push(Line::from(vec![
                Span::styled(format!("{k:<12}"), theme.key()),
                Span::raw(v.to_string()),
            ]));
        }
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.border())
                    .title(Span::styled(" Validation ", theme.title())),
            ),
            right,
        );
    }
}

impl Paste {
    fn new() -> Paste {
        let mut textarea = TextArea::default();
        textarea
            .set_placeholder_text("192.168.1.10 master01 etcd,master\n192.168.1.11 node01 node");
        Paste {
            textarea,
            problems: vec![],
            parsed: vec![],
        }
    }

    fn reparse(&mut self) {
        let (hosts, problems) = parse_host_lines(&self.textarea.lines().join("\n"));
        self.parsed = hosts;
        self.problems = problems;
    }
}

fn draw_paste(f: &mut Frame, area: Rect, theme: &Theme, p: &Paste) {
    let w = area.width.saturating_sub(8).min(100);
    let h = area.height.saturating_sub(4).min(22);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus())
        .title(Span::styled(
            " Paste hosts: ADDRESS NAME ROLES per line — Ctrl-S: add, Esc: cancel ",
            theme.title(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [text_a, info_a] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(inner);
    let mut ta = p.textarea.clone();
    ta.set_cursor_line_style(ratatui::style::Style::default());
    ta.set_cursor_style(theme.selected());
    ta.set_placeholder_style(theme.dim());
    f.render_widget(&ta, text_a);
    let mut info = vec![Line::from(Span::styled(
        format!(
            "{} host(s) ready; roles: etcd, master, node (comma-separated)",
            p.parsed.len()
        ),
        theme.ok(),
    ))];
    for prob in p.problems.iter().take(3) {
        info.push(Line::from(Span::styled(prob.clone(), theme.err())));
    }
    f.render_widget(Paragraph::new(info), info_a);
}

impl Review {
    fn new(text: &str, edited: bool) -> Review {
        let lines: Vec<String> = text.lines().map(String::from).collect();
        let mut r = Review {
            textarea: TextArea::new(lines),
            generated: if edited {
                String::new()
            } else {
                text.to_string()
            },
            findings: vec![],
            parsed: None,
            edited,
        };
        r.revalidate();
        r
    }

    fn revalidate(&mut self) {
        let text = self.textarea.lines().join("\n");
        match config::parse_str(&text) {
            Ok(spec) => {
                self.findings = config::validate(&spec);
                self.parsed = Some(spec);
            }
            Err(findings) => {
                self.findings = findings;
                self.parsed = None;
            }
        }
    }
}

/// The file as the wizard saves it: a header, then `config::to_yaml`.
pub fn file_text(spec: &ClusterSpec) -> String {
    format!(
        "# kubewiz cluster file (written by the wizard; `kubewiz apply -f` reads it)\n{}",
        config::to_yaml(spec)
    )
}

/// `ADDRESS NAME ROLES` per line (any order: the IP address, the role list and the name are
/// told apart); `#` comments and blank lines are skipped. Returns the hosts and one problem per
/// bad line.
pub fn parse_host_lines(text: &str) -> (Vec<HostSpec>, Vec<String>) {
    let mut hosts = vec![];
    let mut problems = vec![];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut address = None;
        let mut name = None;
        let mut roles: Vec<Role> = vec![];
        let mut bad = None;
        for tok in line.split_whitespace() {
            let role_list: Option<Vec<Role>> = tok
                .split(',')
                .map(|r| match r.to_ascii_lowercase().as_str() {
                    "etcd" => Some(Role::Etcd),
                    "master" => Some(Role::Master),
                    "node" | "worker" => Some(Role::Node),
                    _ => None,
                })
                .collect();
            if tok.parse::<std::net::IpAddr>().is_ok() && address.is_none() {
                address = Some(tok.to_string());
            } else if let Some(rs) = role_list {
                for r in rs {
                    if !roles.contains(&r) {
                        roles.push(r);
                    }
                }
            } else if name.is_none() {
                name = Some(tok.to_string());
            } else {
                bad = Some(format!("unexpected {tok:?}"));
            }
        }
        let problem = bad.or_else(|| {
            if address.is_none() {
                Some("no IP address".into())
            } else if name.is_none() {
                Some("no host name".into())
            } else {
                None
            }
        });
        match problem {
            Some(p) => problems.push(format!("line {}: {p}: {line}", n + 1)),
            None => hosts.push(HostSpec {
                name: name.unwrap_or_default(),
                address: address.unwrap_or_default(),
                port: None,
                user: None,
                auth: None,
                sudo: None,
                roles: if roles.is_empty() {
                    vec![Role::Node]
                } else {
                    roles
                },
            }),
        }
    }
    (hosts, problems)
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn parse_port(s: &str) -> Result<Option<u16>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u16>()
        .map(Some)
        .map_err(|_| format!("{t:?} is not a port number; use 1-65535 (22 for ssh)"))
}

fn auth_from(method: &str, key_file: &str, password_env: &str) -> Option<AuthSpec> {
    match method {
        "key" => Some(AuthSpec::Key {
            key_file: PathBuf::from(key_file.trim()),
            passphrase_env: None,
        }),
        "password" => Some(AuthSpec::Password {
            password_env: non_empty(password_env),
        }),
        "agent" => Some(AuthSpec::Agent),
        _ => None,
    }
}

fn auth_label(a: &AuthSpec) -> String {
    match a {
        AuthSpec::Agent => "agent".into(),
        AuthSpec::Key { key_file, .. } => format!(
            "key {}",
            Path::new(key_file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        ),
        AuthSpec::Password { .. } => "password".into(),
    }
}

fn auth_fields(auth: Option<&AuthSpec>, path: &str, with_default: bool) -> Vec<Field> {
    let (method, key_file, pw_env) = match auth {
        None => (
            if with_default { "default" } else { "agent" },
            String::new(),
            String::new(),
        ),
        Some(AuthSpec::Agent) => ("agent", String::new(), String::new()),
        Some(AuthSpec::Key { key_file, .. }) => {
            ("key", key_file.display().to_string(), String::new())
        }
        Some(AuthSpec::Password { password_env }) => (
            "password",
            String::new(),
            password_env.clone().unwrap_or_default(),
        ),
    };
    let options: &[&'static str] = if with_default {
        &["default", "agent", "key", "password"]
    } else {
        &["agent", "key", "password"]
    };
    let mut v = vec![Field::choice("auth", "Auth", &format!("{path}.auth"), options, method)
        .hint("agent: keys of the running ssh-agent; key: a private key file; password: asked for, never saved")];
    match method {
        "key" => v.push(
            Field::text("key_file", "Key file", &format!("{path}.auth.key_file"), &key_file)
                .hint("path of the private key, e.g. ~/.ssh/id_ed25519"),
        ),
        "password" => v.push(
            Field::text("password_env", "Password var", &format!("{path}.auth.password_env"), &pw_env)
                .hint("optional: environment variable holding the password; otherwise you are asked for it"),
        ),
        _ => {}
    }
    v
}

fn defaults_form(d: &HostDefaults) -> Form {
    let mut fields = vec![
        Field::text(
            "user",
            "User",
            "defaults.user",
            d.user.as_deref().unwrap_or(""),
        )
        .hint("user to log in as; blank: root"),
        Field::text(
            "port",
            "Port",
            "defaults.port",
            &d.port.map(|p| p.to_string()).unwrap_or_default(),
        )
        .hint("ssh port; blank: 22"),
    ];
    fields.extend(auth_fields(d.auth.as_ref(), "defaults", false));
    let sudo = match d.sudo {
        None => "auto",
        Some(true) => "yes",
        Some(false) => "no",
    };
    fields.push(
        Field::choice(
            "sudo",
            "Sudo",
            "defaults.sudo",
            &["auto", "yes", "no"],
            sudo,
        )
        .hint("run commands with sudo; auto: yes unless the user is root"),
    );
    Form::new(fields)
}

fn host_form(h: &HostSpec, i: usize) -> Form {
    let at = format!("hosts[{i}]");
    let mut fields = vec![
        Field::text("name", "Name", &format!("{at}.name"), &h.name)
            .hint("RFC 1123 host name; prep sets it as the machine's hostname"),
        Field::text("address", "Address", &format!("{at}.address"), &h.address)
            .hint("IPv4 or IPv6 address kubewiz connects to and the cluster uses"),
        Field::text(
            "port",
            "Port",
            &format!("{at}.port"),
            &h.port.map(|p| p.to_string()).unwrap_or_default(),
        )
        .hint("blank: the default"),
        Field::text(
            "user",
            "User",
            &format!("{at}.user"),
            h.user.as_deref().unwrap_or(""),
        )
        .hint("blank: the default"),
    ];
    fields.extend(auth_fields(h.auth.as_ref(), &at, true));
    let sudo = match h.sudo {
        None => "default",
        Some(true) => "yes",
        Some(false) => "no",
    };
    fields.push(Field::choice(
        "sudo",
        "Sudo",
        &format!("{at}.sudo"),
        &["default", "yes", "no"],
        sudo,
    ));
    let on: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
    fields.push(
        Field::flags(
            "roles",
            "Roles",
            &format!("{at}.roles"),
            &["etcd", "master", "node"],
            &on,
        )
        .hint(
            "space or e/m/n toggles; etcd: an etcd member; master: control plane; node: runs pods",
        ),
    );
    Form::new(fields)
}

fn keep_flag_cursor(mut new: Form, old: &Form) -> Form {
    use super::input::FieldKind;
    let old_cursor = old.fields.iter().find_map(|f| match &f.kind {
        FieldKind::Flags { cursor, .. } => Some(*cursor),
        _ => None,
    });
    if let Some(c) = old_cursor {
        for f in &mut new.fields {
            if let FieldKind::Flags { cursor, .. } = &mut f.kind {
                *cursor = c;
            }
        }
    }
    new
}

fn network_form(n: &NetworkSpec) -> Form {
    Form::new(vec![
        Field::text("pod_cidr", "Pod CIDR", "network.pod_cidr", &n.pod_cidr)
            .hint("pod addresses; every node gets a /24 of it, so a /16 holds 256 nodes"),
        Field::text(
            "service_cidr",
            "Service CIDR",
            "network.service_cidr",
            &n.service_cidr,
        )
        .hint("cluster IPs of services; its first address is the kubernetes API service"),
        Field::text(
            "cluster_dns",
            "DNS service IP",
            "network.cluster_dns",
            n.cluster_dns.as_deref().unwrap_or(""),
        )
        .hint("blank: the 10th address of the service CIDR"),
        Field::text(
            "dns_domain",
            "DNS domain",
            "network.dns_domain",
            &n.dns_domain,
        )
        .hint("domain of services and pods, usually cluster.local"),
    ])
}

fn cni_form(c: &CniSpec) -> Form {
    match c {
        CniSpec::Flannel { flannel } => Form::new(vec![
            Field::choice(
                "plugin",
                "Plugin",
                "cni.plugin",
                &["flannel", "calico"],
                "flannel",
            ),
            Field::choice(
                "backend",
                "Backend",
                "cni.flannel.backend",
                &["vxlan", "host-gw"],
                match flannel.backend {
                    FlannelBackend::Vxlan => "vxlan",
                    FlannelBackend::HostGw => "host-gw",
                },
            ),
        ]),
        CniSpec::Calico { calico } => Form::new(vec![
            Field::choice(
                "plugin",
                "Plugin",
                "cni.plugin",
                &["flannel", "calico"],
                "calico",
            ),
            Field::choice(
                "mode",
                "Mode",
                "cni.calico.mode",
                &["ipip", "vxlan", "bgp"],
                match calico.mode {
                    CalicoMode::Ipip => "ipip",
                    CalicoMode::Vxlan => "vxlan",
                    CalicoMode::Bgp => "bgp",
                },
            ),
        ]),
    }
}

fn runtime_form(s: &ClusterSpec) -> Form {
    let v = &s.versions;
    let mut fields = vec![
        Field::choice(
            "runtime",
            "Runtime",
            "runtime",
            &["docker", "containerd"],
            match s.runtime {
                Runtime::Docker => "docker",
                Runtime::Containerd => "containerd",
            },
        )
        .hint("docker as in the classic binary guides; containerd as modern clusters use"),
        Field::text(
            "kubernetes",
            "Kubernetes",
            "versions.kubernetes",
            &v.kubernetes,
        ),
        Field::text("etcd", "etcd", "versions.etcd", &v.etcd),
        Field::text("flannel", "flannel", "versions.flannel", &v.flannel),
        Field::text("calico", "calico", "versions.calico", &v.calico),
        Field::text(
            "cni_plugins",
            "CNI plugins",
            "versions.cni_plugins",
            &v.cni_plugins,
        ),
    ];
    let (source, extra) = match &s.binaries {
        BinariesSpec::Installed => ("installed", None),
        BinariesSpec::Bundle { bundle_dir } => (
            "bundle",
            Some(
                Field::text(
                    "bundle_dir",
                    "Bundle dir",
                    "binaries.bundle_dir",
                    &bundle_dir.display().to_string(),
                )
                .hint("directory of release tarballs on this machine, uploaded to the hosts (offline installs)"),
            ),
        ),
        BinariesSpec::Mirror { mirror_url } => (
            "mirror",
            Some(
                Field::text("mirror_url", "Mirror URL", "binaries.mirror_url", mirror_url)
                    .hint("http(s) URL the hosts download the binaries from"),
            ),
        ),
    };
    fields.push(
        Field::choice(
            "source",
            "Binaries",
            "binaries",
            &["installed", "bundle", "mirror"],
            source,
        )
        .hint("installed: already on the hosts' PATH; bundle: tarballs from here; mirror: hosts download"),
    );
    fields.extend(extra);
    Form::new(fields)
}

pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lines() {
        let (h, p) = parse_host_lines(
            "192.168.1.10 master01 etcd,master\n# comment\n\nnode02 10.0.0.2\n10.0.0.3\nx y z",
        );
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].roles, vec![Role::Etcd, Role::Master]);
        assert_eq!(h[1].name, "node02");
        assert_eq!(h[1].roles, vec![Role::Node]);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn wizard_answers_round_trip_through_the_file() {
        let mut w = Wizard::new("lab");
        let (hosts, _) = parse_host_lines("10.77.0.11 node1 etcd,master,node");
        w.spec.hosts = hosts;
        let text = file_text(&w.spec);
        assert_eq!(config::parse_str(&text).unwrap(), w.spec);
    }
}

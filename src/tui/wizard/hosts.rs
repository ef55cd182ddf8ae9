//! Hosts: the defaults every host inherits, the host table with connection tests and host-key
//! acceptance, the host editor and the paste box (paste.rs) over it.

use super::host_form::{auth_label, defaults_form, defaults_from, host_form, host_from};
use super::paste::{self, Paste};
use super::{Screen, Step, Wizard};
use crate::config::{self, ClusterSpec, HostSpec, Role, Severity};
use crate::tui::input::{Form, FormKey, FORM_KEYS};
use crate::tui::keymap::{ch, key, Binding, KeyDoc, Keymap};
use crate::tui::modal;
use crate::tui::theme::Theme;
use crate::tui::Effect;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

impl Step {
    pub const HOSTS: Step = Step("hosts");
}

pub const SCREEN: Screen = Screen {
    step: Step::HOSTS,
    title: "Hosts",
    paths: &["hosts", "defaults"],
    keys,
    on_key,
    on_paste,
    draw,
    typing,
    modal,
    ..Screen::BASE
};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableAction {
    Up,
    Down,
    Add,
    Edit,
    Delete,
    Paste,
    Test,
    TestAll,
    Accept,
    AcceptAll,
    Defaults,
    Enter,
}

const TABLE_KEYS: Keymap<TableAction> = Keymap {
    title: "Hosts",
    bindings: &[
        Binding {
            keys: &[
                (key(KeyCode::Up), TableAction::Up),
                (ch('k'), TableAction::Up),
                (key(KeyCode::Down), TableAction::Down),
                (ch('j'), TableAction::Down),
            ],
            label: "↑↓",
            footer: None,
            help: "select a host",
        },
        Binding {
            keys: &[
                (ch('a'), TableAction::Add),
                (ch('e'), TableAction::Edit),
                (ch('d'), TableAction::Delete),
                (key(KeyCode::Delete), TableAction::Delete),
            ],
            label: "a/e/d",
            footer: Some("add/edit/delete"),
            help: "add / edit / delete a host",
        },
        Binding {
            keys: &[(ch('p'), TableAction::Paste)],
            label: "p",
            footer: Some("paste"),
            help: "paste lines: ADDRESS NAME ROLES",
        },
        Binding {
            keys: &[
                (ch('t'), TableAction::Test),
                (ch('T'), TableAction::TestAll),
            ],
            label: "t/T",
            footer: Some("test"),
            help: "test the connection of this / every host",
        },
        Binding {
            keys: &[
                (ch('y'), TableAction::Accept),
                (ch('A'), TableAction::AcceptAll),
            ],
            label: "y/A",
            footer: Some("accept key"),
            help: "accept the new host key of this / every host",
        },
        Binding {
            keys: &[
                (key(KeyCode::Tab), TableAction::Defaults),
                (key(KeyCode::BackTab), TableAction::Defaults),
            ],
            label: "Tab",
            footer: Some("defaults"),
            help: "edit the defaults every host inherits",
        },
        Binding {
            keys: &[(key(KeyCode::Enter), TableAction::Enter)],
            label: "Enter",
            footer: None,
            help: "edit the selected host (no host yet: next screen)",
        },
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefaultsAction {
    Advance,
    Leave,
}

const DEFAULTS_KEYS: Keymap<DefaultsAction> = Keymap {
    title: "Defaults",
    bindings: &[
        Binding {
            keys: &[
                (key(KeyCode::Tab), DefaultsAction::Advance),
                (key(KeyCode::Enter), DefaultsAction::Advance),
            ],
            label: "Tab/Enter",
            footer: None,
            help: "next field; from the last one, back to the table",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), DefaultsAction::Leave)],
            label: "Esc",
            footer: Some("table"),
            help: "back to the host table",
        },
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditAction {
    Done,
}

const EDIT_KEYS: Keymap<EditAction> = Keymap {
    title: "Host",
    bindings: &[Binding {
        keys: &[
            (key(KeyCode::Enter), EditAction::Done),
            (key(KeyCode::Esc), EditAction::Done),
        ],
        label: "Enter/Esc",
        footer: Some("done"),
        help: "close the editor (a new host left empty is dropped)",
    }],
};

fn keys(w: &Wizard) -> Vec<KeyDoc> {
    if w.paste.is_some() {
        return paste::keys();
    }
    let mut docs = vec![];
    if w.edit.is_some() || w.hosts_focus == HostsFocus::Defaults {
        docs.extend(FORM_KEYS.docs());
    }
    if w.edit.is_some() {
        docs.extend(EDIT_KEYS.docs());
    } else if w.hosts_focus == HostsFocus::Defaults {
        docs.extend(DEFAULTS_KEYS.docs());
    } else {
        docs.extend(TABLE_KEYS.docs());
    }
    docs
}

fn typing(w: &Wizard) -> bool {
    modal(w) || w.hosts_focus == HostsFocus::Defaults
}

fn modal(w: &Wizard) -> bool {
    w.edit.is_some() || w.paste.is_some()
}

fn on_key(w: &mut Wizard, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
    if w.paste.is_some() {
        paste::on_key(w, key);
        return true;
    }
    if w.edit.is_some() {
        edit_key(w, key);
        return true;
    }
    if w.hosts_focus == HostsFocus::Defaults {
        return defaults_key(w, key);
    }
    table_key(w, key, effects)
}

/// The host editor has every key.
fn edit_key(w: &mut Wizard, key: KeyEvent) {
    match EDIT_KEYS.action(&key) {
        Some(EditAction::Done) => {
            let e = w.edit.take().expect("edit");
            let h = &w.spec.hosts[e.index];
            if e.is_new && h.name.is_empty() && h.address.is_empty() {
                w.spec.hosts.remove(e.index);
                w.checks.remove(e.index);
            }
            w.local.retain(|f| !f.path.starts_with("hosts["));
            w.revalidate();
        }
        None => {
            let r = w.edit.as_mut().expect("edit").form.handle(key);
            if matches!(r, FormKey::Edited | FormKey::Switched) {
                apply_host_edit(w, r == FormKey::Switched);
            }
        }
    }
}

fn defaults_key(w: &mut Wizard, key: KeyEvent) -> bool {
    match DEFAULTS_KEYS.action(&key) {
        Some(DefaultsAction::Leave) => w.hosts_focus = HostsFocus::Table,
        Some(DefaultsAction::Advance) => {
            if w.defaults_form.is_last() {
                w.hosts_focus = HostsFocus::Table;
                w.defaults_form.focus = 0;
            } else {
                w.defaults_form.focus += 1;
            }
        }
        None => {
            let r = w.defaults_form.handle(key);
            if matches!(r, FormKey::Edited | FormKey::Switched) {
                apply_defaults(w, r == FormKey::Switched);
            }
            return r != FormKey::Ignored;
        }
    }
    true
}

fn table_key(w: &mut Wizard, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
    let n = w.spec.hosts.len();
    let Some(action) = TABLE_KEYS.action(&key) else {
        return false;
    };
    match action {
        TableAction::Defaults => w.hosts_focus = HostsFocus::Defaults,
        TableAction::Up => w.selected_host = w.selected_host.saturating_sub(1),
        TableAction::Down => w.selected_host = (w.selected_host + 1).min(n.saturating_sub(1)),
        TableAction::Add => {
            w.spec.hosts.push(HostSpec {
                name: String::new(),
                address: String::new(),
                port: None,
                user: None,
                auth: None,
                sudo: None,
                roles: vec![Role::Node],
            });
            w.checks.push(HostCheck::Untested);
            w.selected_host = n;
            w.edit = Some(HostEdit {
                index: n,
                form: host_form(&w.spec.hosts[n], n),
                is_new: true,
            });
            w.revalidate();
        }
        TableAction::Edit | TableAction::Enter if n > 0 => {
            let i = w.selected_host;
            w.edit = Some(HostEdit {
                index: i,
                form: host_form(&w.spec.hosts[i], i),
                is_new: false,
            });
        }
        TableAction::Enter => w.next(effects),
        TableAction::Delete if n > 0 => {
            let h = w.spec.hosts.remove(w.selected_host);
            w.checks.remove(w.selected_host);
            w.status = Some((false, format!("deleted host {}", h.name)));
            w.revalidate();
        }
        TableAction::Paste => w.paste = Some(Paste::new()),
        TableAction::Test if n > 0 => test_host(w, w.selected_host, effects),
        TableAction::TestAll => {
            for i in 0..n {
                test_host(w, i, effects);
            }
        }
        TableAction::Accept if n > 0 => accept_key(w, w.selected_host, effects),
        TableAction::AcceptAll => {
            for i in 0..n {
                if matches!(w.checks[i], HostCheck::UnknownKey { .. }) {
                    accept_key(w, i, effects);
                }
            }
        }
        TableAction::Edit | TableAction::Delete | TableAction::Test | TableAction::Accept => {
            return false
        }
    }
    true
}

fn on_paste(w: &mut Wizard, text: &str) {
    if let Some(p) = &mut w.paste {
        p.insert(text);
    } else if let Some(e) = &mut w.edit {
        e.form.paste(text);
        apply_host_edit(w, false);
    } else if w.hosts_focus == HostsFocus::Defaults {
        w.defaults_form.paste(text);
        apply_defaults(w, false);
    } else {
        // A paste on the hosts table opens the bulk paste with it.
        let mut p = Paste::new();
        p.insert(text);
        w.paste = Some(p);
    }
}

impl Wizard {
    /// The host as the engine would use it (defaults applied), if its address parses.
    pub fn resolved(&self, index: usize) -> Option<config::ResolvedHost> {
        let h = self.spec.hosts.get(index)?;
        let one = ClusterSpec {
            hosts: vec![h.clone()],
            ..self.spec.clone()
        };
        one.resolved_hosts().into_iter().next()
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
}

fn test_host(w: &mut Wizard, i: usize, effects: &mut Vec<Effect>) {
    let blocking = w
        .local
        .iter()
        .chain(&w.findings)
        .find(|f| f.is_error() && f.path.starts_with(&format!("hosts[{i}]")))
        .or_else(|| {
            w.findings
                .iter()
                .find(|f| f.is_error() && f.path.starts_with("defaults"))
        });
    if let Some(f) = blocking {
        w.checks[i] = HostCheck::Failed(format!("fix this first: {}: {}", f.path, f.message));
        return;
    }
    match w.resolved(i) {
        Some(host) => {
            w.checks[i] = HostCheck::Testing;
            effects.push(Effect::TestHost {
                index: i,
                host,
                dir: w.dir(),
            });
        }
        None => w.checks[i] = HostCheck::Failed("the address is not an IP address".into()),
    }
}

fn accept_key(w: &mut Wizard, i: usize, effects: &mut Vec<Effect>) {
    let HostCheck::UnknownKey { fingerprint, .. } = &w.checks[i] else {
        w.status = Some((
            false,
            "no new host key to accept for this host: press t to test the connection first".into(),
        ));
        return;
    };
    let fingerprint = fingerprint.clone();
    if let Some(host) = w.resolved(i) {
        w.checks[i] = HostCheck::Accepting;
        effects.push(Effect::AcceptKey {
            index: i,
            host,
            fingerprint,
            dir: w.dir(),
        });
    }
}

fn apply_defaults(w: &mut Wizard, switched: bool) {
    let (d, local) = defaults_from(&w.defaults_form);
    w.local.retain(|x| !x.path.starts_with("defaults"));
    w.local.extend(local);
    w.spec.defaults = d;
    if switched {
        w.defaults_form = defaults_form(&w.spec.defaults).keep_focus_from(&w.defaults_form);
    }
    w.revalidate();
}

fn apply_host_edit(w: &mut Wizard, switched: bool) {
    let Some(e) = &mut w.edit else { return };
    let i = e.index;
    let at = format!("hosts[{i}]");
    w.local.retain(|x| !x.path.starts_with(&at));
    let h = &mut w.spec.hosts[i];
    w.local.extend(host_from(&e.form, i, h));
    if switched {
        e.form = host_form(h, i).keep_focus_from(&e.form);
    }
    if let Some(c) = w.checks.get_mut(i) {
        *c = HostCheck::Untested;
    }
    w.revalidate();
}

// ---------------------------------------------------------------------- drawing

fn draw(w: &Wizard, f: &mut Frame, area: Rect, theme: &Theme) {
    let dh = w.defaults_form.fields.len() as u16 + 2;
    let [defaults_a, table_a, detail_a] = Layout::vertical([
        Constraint::Length(dh),
        Constraint::Min(5),
        Constraint::Length(5),
    ])
    .areas(area);
    let dfocus = w.hosts_focus == HostsFocus::Defaults && !modal(w);
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
    w.defaults_form
        .render(f, inner, theme, dfocus, &|p| w.finding_for(p));
    draw_table(w, f, table_a, theme);
    draw_detail(w, f, detail_a, theme);
    if let Some(e) = &w.edit {
        draw_host_edit(w, f, area, theme, e);
    }
    if let Some(p) = &w.paste {
        paste::draw(f, area, theme, p);
    }
}

fn draw_table(w: &Wizard, f: &mut Frame, table_a: Rect, theme: &Theme) {
    let tfocus = w.hosts_focus == HostsFocus::Table && !modal(w);
    let d = &w.spec.defaults;
    let rows: Vec<Row> = w
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
            let err = w
                .local
                .iter()
                .chain(&w.findings)
                .find(|x| x.is_error() && x.path.starts_with(&format!("hosts[{i}]")));
            let (check, cst) = match (err, &w.checks[i]) {
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
            let st = if tfocus && i == w.selected_host {
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
    let count = w.spec.hosts.len();
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
}

/// The selected host's connection detail (full message or fingerprint), then findings about
/// the host list as a whole.
fn draw_detail(w: &Wizard, f: &mut Frame, detail_a: Rect, theme: &Theme) {
    let mut detail = vec![];
    if let (Some(h), Some(c)) = (
        w.spec.hosts.get(w.selected_host),
        w.checks.get(w.selected_host),
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
    for x in w
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
}

fn draw_host_edit(w: &Wizard, f: &mut Frame, area: Rect, theme: &Theme, e: &HostEdit) {
    let h = (e.form.fields.len() as u16 + 6).min(area.height);
    let width = area.width.saturating_sub(8).min(110);
    let done = &EDIT_KEYS.bindings[0];
    let title = format!(
        " Host {} — {}: {} ",
        e.index + 1,
        done.label,
        done.footer.unwrap_or(done.help)
    );
    let inner = modal::modal(
        f,
        area,
        width,
        h,
        theme.border_focus(),
        Span::styled(title, theme.title()),
    );
    let [form_a, _, hint_a] = Layout::vertical([
        Constraint::Length(e.form.fields.len() as u16),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    e.form.render(f, form_a, theme, true, &|p| w.finding_for(p));
    let mut hint = vec![];
    if let Some(fl) = e.form.fields.get(e.form.focus) {
        if let Some((is_err, msg)) = fl.finding(&|p| w.finding_for(p)) {
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

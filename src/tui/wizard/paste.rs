//! The hosts screen's paste box: lines of `ADDRESS NAME ROLES`, parsed as they are typed or
//! pasted, added to the host list with Ctrl-S.

use super::Wizard;
use crate::config::{HostSpec, Role};
use crate::tui::input::normalize;
use crate::tui::keymap::{ctrl, key, Binding, KeyDoc, Keymap};
use crate::tui::modal;
use crate::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use tui_textarea::TextArea;

/// Shown while the box is empty, one example per line.
const EXAMPLE: [&str; 2] = [
    "192.168.1.10 master01 etcd,master",
    "192.168.1.11 node01 node",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Cancel,
}

const KEYS: Keymap<Action> = Keymap {
    title: "Paste hosts",
    bindings: &[
        Binding {
            keys: &[(ctrl('s'), Action::Add)],
            label: "Ctrl-S",
            footer: Some("add"),
            help: "add the hosts of the lines that parse",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), Action::Cancel)],
            label: "Esc",
            footer: Some("cancel"),
            help: "close the box, adding nothing",
        },
    ],
};

pub struct Paste {
    pub textarea: TextArea<'static>,
    pub problems: Vec<String>,
    pub parsed: Vec<HostSpec>,
}

impl Paste {
    pub(super) fn new() -> Paste {
        Paste {
            textarea: TextArea::default(),
            problems: vec![],
            parsed: vec![],
        }
    }

    /// Text at the cursor, normalised (a terminal's paste ends lines with CR).
    pub(super) fn insert(&mut self, text: &str) {
        self.textarea.insert_str(normalize(text));
        self.reparse();
    }

    fn reparse(&mut self) {
        let (hosts, problems) = parse_host_lines(&self.textarea.lines().join("\n"));
        self.parsed = hosts;
        self.problems = problems;
    }
}

pub(super) fn keys() -> Vec<KeyDoc> {
    KEYS.docs()
}

/// A key for the open box.
pub(super) fn on_key(w: &mut Wizard, key: KeyEvent) {
    let Some(mut p) = w.paste.take() else { return };
    match KEYS.action(&key) {
        Some(Action::Cancel) => {}
        Some(Action::Add) => {
            p.reparse();
            if p.parsed.is_empty() {
                p.problems.insert(0, "no host lines to add yet".into());
                w.paste = Some(p);
            } else {
                let n = p.parsed.len();
                w.spec.hosts.extend(p.parsed);
                w.status = Some((false, format!("added {n} host(s)")));
                w.revalidate();
            }
        }
        None => {
            if p.textarea.input(key) {
                p.reparse();
            }
            w.paste = Some(p);
        }
    }
}

pub(super) fn draw(f: &mut Frame, area: Rect, theme: &Theme, p: &Paste) {
    let w = area.width.saturating_sub(8).min(100);
    let h = area.height.saturating_sub(4).min(22);
    let keys: Vec<String> = KEYS
        .bindings
        .iter()
        .map(|b| format!("{}: {}", b.label, b.footer.unwrap_or(b.help)))
        .collect();
    let title = format!(
        " Paste hosts: ADDRESS NAME ROLES per line — {} ",
        keys.join(", ")
    );
    let inner = modal::modal(
        f,
        area,
        w,
        h,
        theme.border_focus(),
        Span::styled(title, theme.title()),
    );
    let [text_a, info_a] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(inner);
    if p.textarea.is_empty() {
        // tui-textarea draws its placeholder as one line; the examples are two.
        let mut lines = vec![Line::from(vec![
            Span::styled(" ", theme.selected()),
            Span::styled(EXAMPLE[0], theme.dim()),
        ])];
        lines.extend(
            EXAMPLE[1..]
                .iter()
                .map(|l| Line::from(Span::styled(format!(" {l}"), theme.dim()))),
        );
        f.render_widget(Paragraph::new(lines), text_a);
    } else {
        let mut ta = p.textarea.clone();
        ta.set_cursor_line_style(ratatui::style::Style::default());
        ta.set_cursor_style(theme.selected());
        f.render_widget(&ta, text_a);
    }
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

/// A comma-separated role list (`etcd,master`); `worker` is taken for `node`.
fn role_list(tok: &str) -> Option<Vec<Role>> {
    tok.split(',')
        .map(|r| match r.to_ascii_lowercase().as_str() {
            "worker" => Some(Role::Node),
            r => r.parse::<Role>().ok(),
        })
        .collect()
}

/// `ADDRESS NAME ROLES` per line (any order: the IP address, the role list and the name are
/// told apart); `#` comments and blank lines are skipped. Returns the hosts and one problem per
/// bad line. Line ends may be LF, CRLF or CR (as a terminal pastes them).
pub fn parse_host_lines(text: &str) -> (Vec<HostSpec>, Vec<String>) {
    let text = normalize(text);
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
            if tok.parse::<std::net::IpAddr>().is_ok() && address.is_none() {
                address = Some(tok.to_string());
            } else if let Some(rs) = role_list(tok) {
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
    fn host_lines_with_a_terminals_line_ends_and_tabs() {
        for text in [
            "10.0.0.1 a etcd,master\r10.0.0.2 b node\r10.0.0.3\tc\tWorker\r",
            "10.0.0.1 a etcd,master\r\n10.0.0.2 b node\r\n10.0.0.3\tc\tWorker\r\n",
        ] {
            let (h, p) = parse_host_lines(text);
            assert_eq!(p, Vec::<String>::new(), "{text:?}");
            let names: Vec<&str> = h.iter().map(|h| h.name.as_str()).collect();
            assert_eq!(names, ["a", "b", "c"], "{text:?}");
            assert_eq!(h[2].roles, vec![Role::Node]);
        }
    }

    #[test]
    fn pasted_text_is_stored_without_control_characters() {
        let mut p = Paste::new();
        p.insert("10.0.0.1 a\r10.0.0.2\tb\u{1b}[2J\r");
        assert_eq!(p.textarea.lines(), ["10.0.0.1 a", "10.0.0.2    b", ""]);
        assert!(p
            .textarea
            .lines()
            .iter()
            .all(|l| !l.chars().any(char::is_control)));
        assert_eq!(p.parsed.len(), 2, "{:?}", p.problems);
    }
}

//! Review & deploy: the cluster file as YAML in an editor, validated as it is edited; save,
//! or save and deploy.

use super::{back_key, Screen, Step, Wizard};
use crate::config::{self, ClusterSpec, Finding};
use crate::tui::input::normalize;
use crate::tui::keymap::{ctrl, key, Binding, KeyDoc, Keymap};
use crate::tui::theme::Theme;
use crate::tui::Effect;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tui_textarea::TextArea;

impl Step {
    pub const REVIEW: Step = Step("review");
}

pub const SCREEN: Screen = Screen {
    step: Step::REVIEW,
    title: "Review & deploy",
    keys,
    on_key,
    on_paste,
    draw,
    pages: false,
    enter,
    leave,
    ..Screen::BASE
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Save,
    Deploy,
}

const KEYS: Keymap<Action> = Keymap {
    title: "Review",
    bindings: &[
        Binding {
            keys: &[(ctrl('s'), Action::Save)],
            label: "Ctrl-S",
            footer: Some("save"),
            help: "validate and save the cluster file",
        },
        Binding {
            keys: &[
                (key(KeyCode::F(5)), Action::Deploy),
                (ctrl('d'), Action::Deploy),
            ],
            label: "F5 / Ctrl-D",
            footer: Some("save and deploy"),
            help: "save and deploy",
        },
    ],
};

pub struct Review {
    pub textarea: TextArea<'static>,
    /// The YAML generated from the spec when the screen was last entered.
    pub generated: String,
    /// parse_str + validate of the text as it is now.
    pub findings: Vec<Finding>,
    pub parsed: Option<ClusterSpec>,
    /// Edited by hand since generated.
    pub edited: bool,
    /// Why the last deploy could not build the plan from this file (a release tarball missing
    /// from the bundle): what `config::validate` cannot see. Cleared by an edit or a new try.
    pub plan_error: Option<String>,
}

impl Review {
    pub(super) fn new(text: &str, edited: bool) -> Review {
        let text = normalize(text);
        let lines: Vec<String> = text.lines().map(String::from).collect();
        let mut r = Review {
            textarea: TextArea::new(lines),
            generated: if edited { String::new() } else { text },
            findings: vec![],
            parsed: None,
            edited,
            plan_error: None,
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

fn keys(_: &Wizard) -> Vec<KeyDoc> {
    KEYS.docs()
}

/// The YAML again from the spec, unless the text edited by hand still says the same.
fn enter(w: &mut Wizard) {
    let yaml = file_text(&w.spec);
    let regenerate = match &w.review {
        Some(r) => r.generated != yaml && !(r.edited && r.parsed.as_ref() == Some(&w.spec)),
        None => true,
    };
    if regenerate {
        w.review = Some(Review::new(&yaml, false));
    }
}

/// Edits by hand that parse go back into the spec (and so into the other screens).
fn leave(w: &mut Wizard, _: &mut Vec<Effect>) -> bool {
    if let Some(r) = &w.review {
        if let Some(spec) = &r.parsed {
            if r.edited && spec != &w.spec {
                w.spec = spec.clone();
                w.rebuild_forms();
                w.revalidate();
            }
        }
    }
    true
}

fn on_key(w: &mut Wizard, key: KeyEvent, _: &mut Vec<Effect>) -> bool {
    match KEYS.action(&key) {
        Some(Action::Save) => {
            save(w);
        }
        Some(Action::Deploy) => {
            if save(w) {
                w.deploy_requested = true;
            }
        }
        None => {
            let Some(r) = &mut w.review else {
                return false;
            };
            if r.textarea.input(key) {
                r.edited = true;
                r.plan_error = None;
                r.revalidate();
                w.status = None;
            }
        }
    }
    true
}

fn on_paste(w: &mut Wizard, text: &str) {
    if let Some(r) = &mut w.review {
        r.textarea.insert_str(normalize(text));
        r.edited = true;
        r.plan_error = None;
        r.revalidate();
        w.status = None;
    }
}

/// Validate the review text and write it atomically to the cluster file.
fn save(w: &mut Wizard) -> bool {
    let Some(r) = &mut w.review else {
        return false;
    };
    r.revalidate();
    let errors = r.findings.iter().filter(|f| f.is_error()).count();
    if errors > 0 {
        w.status = Some((
            true,
            format!("not saved: {errors} error(s) in the file; fix them (listed on the right)"),
        ));
        return false;
    }
    let mut text = r.textarea.lines().join("\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match crate::cluster_dir::write_atomic(&w.file, text.as_bytes(), 0o644) {
        Ok(()) => {
            if let Some(spec) = r.parsed.clone() {
                w.spec = spec;
            }
            r.generated = file_text(&w.spec);
            r.edited = false;
            w.status = Some((false, format!("saved {}", w.file.display())));
            w.rebuild_forms();
            w.revalidate();
            true
        }
        Err(e) => {
            w.status = Some((true, format!("cannot save: {e:#}")));
            false
        }
    }
}

fn draw(w: &Wizard, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(r) = &w.review else { return };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    let title = format!(
        " {}{} ",
        w.file.display(),
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

    let plan_errors = usize::from(r.plan_error.is_some());
    let errors = r.findings.iter().filter(|x| x.is_error()).count() + plan_errors;
    let warnings = r.findings.len() + plan_errors - errors;
    let mut lines = vec![];
    if r.findings.is_empty() && r.plan_error.is_none() {
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
    if let Some(e) = &r.plan_error {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "✗ the plan cannot be built (last deploy)",
            theme.err(),
        )));
        let why = e.strip_prefix("cannot build the plan: ").unwrap_or(e);
        lines.push(Line::from(Span::raw(format!("  {why}"))));
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
    // This screen's keys, and how to go back (PgUp scrolls the editor here).
    for k in KEYS.docs().into_iter().chain(back_key()) {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<12}", k.label), theme.key()),
            Span::raw(k.footer.unwrap_or(k.help).to_string()),
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

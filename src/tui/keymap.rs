//! Keymaps: each key is written once, with the action it triggers and how it is shown. The
//! same table feeds the key handler ([`Keymap::action`]), the footer ([`footer_line`]) and the
//! `?`/F1 help ([`help_lines`]), so what the screen says and what it does cannot drift apart.

use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::{Line, Span};

/// A key as the handler matches it: the code, and whether Ctrl is held. Shift is ignored (the
/// terminal reports `T` as Shift+T, BackTab as Shift+BackTab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

/// A key without Ctrl.
pub const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

/// A character key without Ctrl.
pub const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

/// Ctrl + a character.
pub const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        ev.code == self.code && ev.modifiers.contains(KeyModifiers::CONTROL) == self.ctrl
    }
}

/// One line of a keymap: keys with their actions (`↑`/`k` up, `↓`/`j` down...), one label for
/// them, a short footer text (None: only in the help) and the help text.
#[derive(Debug)]
pub struct Binding<A: 'static> {
    pub keys: &'static [(Key, A)],
    /// How the keys are shown: `a/e/d`, `PgDn`, `↑↓`.
    pub label: &'static str,
    pub footer: Option<&'static str>,
    pub help: &'static str,
}

/// The keys of one screen or pane.
#[derive(Debug)]
pub struct Keymap<A: 'static> {
    pub title: &'static str,
    pub bindings: &'static [Binding<A>],
}

/// A binding as shown (the action type erased), for footers and the help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    pub label: &'static str,
    pub footer: Option<&'static str>,
    pub help: &'static str,
}

/// A titled group of keys in the help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpSection {
    pub title: &'static str,
    pub keys: Vec<KeyDoc>,
}

impl<A: Copy + PartialEq> Keymap<A> {
    /// The action of a key event, if the keymap has it.
    pub fn action(&self, ev: &KeyEvent) -> Option<A> {
        self.bindings
            .iter()
            .flat_map(|b| b.keys)
            .find(|(k, _)| k.matches(ev))
            .map(|(_, a)| *a)
    }

    /// The binding that triggers `action` (for text drawn beside a specific action).
    pub fn binding(&self, action: A) -> Option<&'static Binding<A>> {
        self.bindings
            .iter()
            .find(|b| b.keys.iter().any(|(_, a)| *a == action))
    }

    /// How the binding of `action` is shown.
    pub fn doc(&self, action: A) -> Option<KeyDoc> {
        self.binding(action).map(|b| KeyDoc {
            label: b.label,
            footer: b.footer,
            help: b.help,
        })
    }

    pub fn docs(&self) -> Vec<KeyDoc> {
        self.bindings
            .iter()
            .map(|b| KeyDoc {
                label: b.label,
                footer: b.footer,
                help: b.help,
            })
            .collect()
    }

    pub fn section(&self) -> HelpSection {
        HelpSection {
            title: self.title,
            keys: self.docs(),
        }
    }
}

/// The footer entries of `docs` (those with a footer text), as (label, text).
pub fn footer_entries(docs: &[KeyDoc]) -> Vec<(&'static str, &'static str)> {
    docs.iter()
        .filter_map(|d| d.footer.map(|f| (d.label, f)))
        .collect()
}

/// A one-line list of keys: the key bold, its text dimmed.
pub fn key_line(keys: &[(&str, &str)], theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (k, v) in keys {
        spans.push(Span::styled(k.to_string(), theme.key()));
        spans.push(Span::styled(format!(" {v}  "), theme.dim()));
    }
    Line::from(spans)
}

/// The footer of a screen: its keys that have a footer text.
pub fn footer_line(docs: &[KeyDoc], theme: &Theme) -> Line<'static> {
    key_line(&footer_entries(docs), theme)
}

/// The help's lines: each section's title, then one line per key.
pub fn help_lines(sections: &[HelpSection], theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![];
    for s in sections {
        lines.push(Line::from(Span::styled(s.title.to_string(), theme.title())));
        for k in &s.keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", k.label), theme.key()),
                Span::raw(k.help.to_string()),
            ]));
        }
        lines.push(Line::from(""));
    }
    lines
}

/// Yes / no of a prompt (`y`/Enter, `n`/Esc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

pub const PROMPT_KEYS: Keymap<Answer> = Keymap {
    title: "Question",
    bindings: &[
        Binding {
            keys: &[
                (ch('y'), Answer::Yes),
                (ch('Y'), Answer::Yes),
                (key(KeyCode::Enter), Answer::Yes),
            ],
            label: "y / Enter",
            footer: Some("yes"),
            help: "yes",
        },
        Binding {
            keys: &[
                (ch('n'), Answer::No),
                (ch('N'), Answer::No),
                (key(KeyCode::Esc), Answer::No),
            ],
            label: "n / Esc",
            footer: Some("no"),
            help: "no",
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum A {
        Up,
        Down,
        Save,
    }

    const KEYS: Keymap<A> = Keymap {
        title: "T",
        bindings: &[
            Binding {
                keys: &[
                    (key(KeyCode::Up), A::Up),
                    (ch('k'), A::Up),
                    (key(KeyCode::Down), A::Down),
                ],
                label: "↑↓",
                footer: Some("move"),
                help: "move",
            },
            Binding {
                keys: &[(ctrl('s'), A::Save)],
                label: "Ctrl-S",
                footer: None,
                help: "save",
            },
        ],
    };

    #[test]
    fn keys_map_to_their_action_with_ctrl_told_apart() {
        let ev = |c, m| KeyEvent::new(c, m);
        assert_eq!(
            KEYS.action(&ev(KeyCode::Char('k'), KeyModifiers::NONE)),
            Some(A::Up)
        );
        assert_eq!(
            KEYS.action(&ev(KeyCode::Down, KeyModifiers::SHIFT)),
            Some(A::Down)
        );
        assert_eq!(
            KEYS.action(&ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(A::Save)
        );
        assert_eq!(
            KEYS.action(&ev(KeyCode::Char('s'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            KEYS.action(&ev(KeyCode::Char('k'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(footer_entries(&KEYS.docs()), vec![("↑↓", "move")]);
        assert_eq!(KEYS.binding(A::Save).unwrap().label, "Ctrl-S");
    }
}

//! Small form widgets: a one-line text input, a choice, a set of flags, and a form of them.
//! Errors come from `config::validate` (by field path) and are drawn beside the field.

use super::keymap::{ch, key, Binding, Keymap};
use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Spaces a tab becomes: tui-textarea's own tab width, so a typed and a pasted tab agree.
pub const TAB_SPACES: usize = 4;

/// Text as pasted or typed, made safe to store and to draw. Terminals send pasted line ends as
/// CR (some as CRLF): both become LF. Tabs become spaces (YAML refuses tabs; a tab in a host
/// line separates like a space). Every other control character is dropped: written to the
/// terminal it would move the cursor and corrupt the screen. An escape sequence goes whole
/// (`ESC [ 2 J`, `ESC ] … BEL`), so no printable tail of it is left behind.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' => out.push('\n'),
            '\t' => out.push_str(&" ".repeat(TAB_SPACES)),
            '\x1b' => skip_escape_sequence(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The rest of an escape sequence after its ESC: CSI (`[` parameters, intermediates, one final
/// byte), OSC (`]` up to BEL or ESC `\`), or a two-character escape.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
                if !('\x20'..='\x3f').contains(&c) {
                    break; // not a CSI after all: drop what was read, keep going
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// [`normalize`] for a one-line field: line ends are dropped too.
pub fn normalize_line(text: &str) -> String {
    normalize(text).replace('\n', "")
}

/// The last guard before the terminal: any cell whose symbol holds a control character (a log
/// line from a host, text that came around the normalisers) is drawn as U+FFFD instead. ratatui
/// writes a cell's symbol to the terminal as it is, and a raw CR or ESC there would leave the
/// screen corrupted until the next full redraw.
pub fn scrub(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(char::is_control) {
            cell.set_symbol("\u{FFFD}");
        }
    }
}

/// A one-line text input with a cursor (in chars).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub value: String,
    pub cursor: usize,
    /// Show `•` instead of the text (passwords).
    pub masked: bool,
}

impl LineInput {
    pub fn new(value: impl Into<String>) -> LineInput {
        let value = value.into();
        LineInput {
            cursor: value.chars().count(),
            value,
            masked: false,
        }
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_idx)
            .map(|(i, _)| i)
            .unwrap_or(self.value.len())
    }

    /// Returns true when the key was used (and whether the value changed is up to the caller
    /// to compare).
    pub fn handle(&mut self, key: KeyEvent) -> bool {
        let len = self.value.chars().count();
        match key.code {
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.value.clear();
                self.cursor = 0;
            }
            KeyCode::Char(c)
                if !c.is_control()
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                let at = self.byte_at(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = self.byte_at(self.cursor - 1);
                self.value.remove(at);
                self.cursor -= 1;
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }

    pub fn paste(&mut self, text: &str) {
        for c in normalize_line(text).chars() {
            let at = self.byte_at(self.cursor);
            self.value.insert(at, c);
            self.cursor += 1;
        }
    }

    /// The visible spans for a field `width` wide; the cursor shown when `focused`.
    pub fn spans(&self, width: usize, focused: bool, theme: &Theme) -> Vec<Span<'static>> {
        let shown: Vec<char> = if self.masked {
            self.value.chars().map(|_| '•').collect()
        } else {
            self.value.chars().collect()
        };
        let width = width.max(2);
        // Scroll so the cursor stays visible.
        let start = (self.cursor + 1).saturating_sub(width);
        let mut out = vec![];
        let visible: String = shown.iter().skip(start).take(width).collect();
        if focused {
            let rel = self.cursor - start;
            let before: String = visible.chars().take(rel).collect();
            let at: String = visible
                .chars()
                .nth(rel)
                .map(String::from)
                .unwrap_or(" ".into());
            let after: String = visible.chars().skip(rel + 1).collect();
            let pad = width.saturating_sub(visible.chars().count().max(rel + 1));
            out.push(Span::styled(before, theme.input()));
            out.push(Span::styled(at, theme.selected()));
            out.push(Span::styled(
                format!("{after}{}", " ".repeat(pad)),
                theme.input(),
            ));
        } else {
            let pad = width.saturating_sub(visible.chars().count());
            out.push(Span::styled(
                format!("{visible}{}", " ".repeat(pad)),
                theme.input(),
            ));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Text(LineInput),
    /// One of `options`; ←/→ or space cycles.
    Choice {
        options: Vec<&'static str>,
        index: usize,
    },
    /// Any of `options`; ←/→ moves, space toggles.
    Flags {
        options: Vec<&'static str>,
        on: Vec<bool>,
        cursor: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Stable key the screen code uses to read the value back.
    pub key: &'static str,
    pub label: &'static str,
    /// Finding path whose errors belong to this field (`network.pod_cidr`, `hosts[1].name`).
    pub path: String,
    pub kind: FieldKind,
    /// Shown under the form while the field is focused.
    pub hint: String,
    /// Further finding paths shown beside this field when its own has none: a rule about a
    /// combination (docker needs an older Kubernetes) is fixed in either field.
    pub also: Vec<String>,
}

impl Field {
    pub fn text(key: &'static str, label: &'static str, path: &str, value: &str) -> Field {
        Field {
            key,
            label,
            path: path.to_string(),
            kind: FieldKind::Text(LineInput::new(value)),
            hint: String::new(),
            also: vec![],
        }
    }

    pub fn choice(
        key: &'static str,
        label: &'static str,
        path: &str,
        options: &[&'static str],
        value: &str,
    ) -> Field {
        Field {
            key,
            label,
            path: path.to_string(),
            kind: FieldKind::Choice {
                options: options.to_vec(),
                index: options.iter().position(|o| *o == value).unwrap_or(0),
            },
            hint: String::new(),
            also: vec![],
        }
    }

    pub fn flags(
        key: &'static str,
        label: &'static str,
        path: &str,
        options: &[&'static str],
        on: &[&str],
    ) -> Field {
        Field {
            key,
            label,
            path: path.to_string(),
            kind: FieldKind::Flags {
                options: options.to_vec(),
                on: options.iter().map(|o| on.contains(o)).collect(),
                cursor: 0,
            },
            hint: String::new(),
            also: vec![],
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Field {
        self.hint = hint.into();
        self
    }

    /// Show the findings of `path` too (see [`Field::also`]).
    pub fn also(mut self, path: &str) -> Field {
        self.also.push(path.to_string());
        self
    }

    /// The first finding for this field: its own path, then the `also` paths.
    pub fn finding(
        &self,
        errors: &dyn Fn(&str) -> Option<(bool, String)>,
    ) -> Option<(bool, String)> {
        std::iter::once(&self.path)
            .chain(&self.also)
            .find_map(|p| errors(p))
    }
}

/// Keys every form shares (text fields take the other keys as typing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormAction {
    NextField,
    PrevField,
    Left,
    Right,
    Toggle,
}

pub const FORM_KEYS: Keymap<FormAction> = Keymap {
    title: "Forms",
    bindings: &[
        Binding {
            keys: &[
                (key(KeyCode::Tab), FormAction::NextField),
                (key(KeyCode::Down), FormAction::NextField),
                (key(KeyCode::BackTab), FormAction::PrevField),
                (key(KeyCode::Up), FormAction::PrevField),
            ],
            label: "Tab/↑↓",
            footer: Some("field"),
            help: "next / previous field",
        },
        Binding {
            keys: &[
                (key(KeyCode::Left), FormAction::Left),
                (key(KeyCode::Right), FormAction::Right),
            ],
            label: "←→",
            footer: Some("choose"),
            help: "change a choice, move in a list of flags",
        },
        Binding {
            keys: &[(ch(' '), FormAction::Toggle)],
            label: "space",
            footer: None,
            help: "next choice; a flag on/off (its first letter too)",
        },
    ],
};

/// What a key did to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKey {
    /// Not used by the form.
    Ignored,
    /// Focus moved (or the cursor inside a field).
    Moved,
    /// A text value changed.
    Edited,
    /// A choice or a flag changed: which fields are shown may change.
    Switched,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl Form {
    pub fn new(fields: Vec<Field>) -> Form {
        Form { fields, focus: 0 }
    }

    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The text of a text field, the selected option of a choice, `a,b` for flags.
    pub fn value(&self, key: &str) -> String {
        match self.get(key).map(|f| &f.kind) {
            Some(FieldKind::Text(i)) => i.value.clone(),
            Some(FieldKind::Choice { options, index }) => options[*index].to_string(),
            Some(FieldKind::Flags { options, on, .. }) => options
                .iter()
                .zip(on)
                .filter(|(_, on)| **on)
                .map(|(o, _)| *o)
                .collect::<Vec<_>>()
                .join(","),
            None => String::new(),
        }
    }

    pub fn focused_key(&self) -> Option<&'static str> {
        self.fields.get(self.focus).map(|f| f.key)
    }

    /// Focus the field with `key`, if shown.
    pub fn focus_key(&mut self, key: &str) {
        if let Some(i) = self.fields.iter().position(|f| f.key == key) {
            self.focus = i;
        }
    }

    pub fn is_last(&self) -> bool {
        self.focus + 1 >= self.fields.len()
    }

    pub fn handle(&mut self, key: KeyEvent) -> FormKey {
        let n = self.fields.len();
        if n == 0 {
            return FormKey::Ignored;
        }
        let action = FORM_KEYS.action(&key);
        match action {
            Some(FormAction::NextField) => {
                self.focus = (self.focus + 1) % n;
                return FormKey::Moved;
            }
            Some(FormAction::PrevField) => {
                self.focus = (self.focus + n - 1) % n;
                return FormKey::Moved;
            }
            _ => {}
        }
        let field = &mut self.fields[self.focus];
        match &mut field.kind {
            FieldKind::Text(input) => {
                let before = input.value.clone();
                if input.handle(key) {
                    if input.value != before {
                        FormKey::Edited
                    } else {
                        FormKey::Moved
                    }
                } else {
                    FormKey::Ignored
                }
            }
            FieldKind::Choice { options, index } => match action {
                Some(FormAction::Left) => {
                    *index = (*index + options.len() - 1) % options.len();
                    FormKey::Switched
                }
                Some(FormAction::Right | FormAction::Toggle) => {
                    *index = (*index + 1) % options.len();
                    FormKey::Switched
                }
                _ => FormKey::Ignored,
            },
            FieldKind::Flags {
                options,
                on,
                cursor,
            } => match (action, key.code) {
                (Some(FormAction::Left), _) => {
                    *cursor = (*cursor + options.len() - 1) % options.len();
                    FormKey::Moved
                }
                (Some(FormAction::Right), _) => {
                    *cursor = (*cursor + 1) % options.len();
                    FormKey::Moved
                }
                (Some(FormAction::Toggle), _) => {
                    on[*cursor] = !on[*cursor];
                    FormKey::Switched
                }
                (_, KeyCode::Char(c)) => {
                    // The first letter toggles the matching option (e = etcd, m = master...).
                    match options.iter().position(|o| o.starts_with(c)) {
                        Some(i) => {
                            *cursor = i;
                            on[i] = !on[i];
                            FormKey::Switched
                        }
                        None => FormKey::Ignored,
                    }
                }
                _ => FormKey::Ignored,
            },
        }
    }

    pub fn paste(&mut self, text: &str) -> FormKey {
        if let Some(Field {
            kind: FieldKind::Text(input),
            ..
        }) = self.fields.get_mut(self.focus)
        {
            input.paste(text);
            FormKey::Edited
        } else {
            FormKey::Ignored
        }
    }

    /// Rebuild-friendly: copy focus (by key) and the cursor in lists of flags from an older
    /// form.
    pub fn keep_focus_from(mut self, old: &Form) -> Form {
        if let Some(k) = old.focused_key() {
            self.focus_key(k);
        }
        for f in &mut self.fields {
            let old_cursor = old.get(f.key).and_then(|o| match &o.kind {
                FieldKind::Flags { cursor, .. } => Some(*cursor),
                _ => None,
            });
            if let (
                FieldKind::Flags {
                    cursor, options, ..
                },
                Some(c),
            ) = (&mut f.kind, old_cursor)
            {
                *cursor = c.min(options.len().saturating_sub(1));
            }
        }
        self
    }

    /// Draw one line per field: label, value, and the field's error beside it. `errors(path)`
    /// returns the first error (or warning, prefixed) for a field path. `focused`: whether the
    /// form has the keyboard.
    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        theme: &Theme,
        focused: bool,
        errors: &dyn Fn(&str) -> Option<(bool, String)>,
    ) {
        let label_w = self
            .fields
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let input_w = (area.width as usize)
            .saturating_sub(label_w + 4)
            .clamp(8, 34);
        let mut lines = vec![];
        for (i, field) in self.fields.iter().enumerate() {
            let is_focus = focused && i == self.focus;
            let marker = if is_focus { "▸ " } else { "  " };
            let mut spans = vec![
                Span::styled(marker.to_string(), theme.key()),
                Span::styled(
                    format!("{:<label_w$}", field.label),
                    if is_focus {
                        theme.title()
                    } else {
                        theme.base()
                    },
                ),
            ];
            match &field.kind {
                FieldKind::Text(input) => spans.extend(input.spans(input_w, is_focus, theme)),
                FieldKind::Choice { options, index } => {
                    for (k, o) in options.iter().enumerate() {
                        let st = if k == *index {
                            if is_focus {
                                theme.selected()
                            } else {
                                theme.title()
                            }
                        } else {
                            theme.dim()
                        };
                        let mark = if k == *index { "◉ " } else { "○ " };
                        spans.push(Span::styled(format!("{mark}{o}"), st));
                        spans.push(Span::raw("  "));
                    }
                }
                FieldKind::Flags {
                    options,
                    on,
                    cursor,
                } => {
                    for (k, o) in options.iter().enumerate() {
                        let mark = if on[k] { "[x] " } else { "[ ] " };
                        let st = if is_focus && k == *cursor {
                            theme.selected()
                        } else if on[k] {
                            theme.title()
                        } else {
                            theme.dim()
                        };
                        spans.push(Span::styled(format!("{mark}{o}"), st));
                        spans.push(Span::raw("  "));
                    }
                }
            }
            if let Some((is_err, msg)) = field.finding(errors) {
                let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
                let room = (area.width as usize).saturating_sub(used + 3);
                let (mark, st) = if is_err {
                    ("✗ ", theme.err())
                } else {
                    ("! ", theme.warn())
                };
                spans.push(Span::raw(" "));
                spans.push(Span::styled(truncate(&format!("{mark}{msg}"), room), st));
            } else if matches!(field.kind, FieldKind::Text(_)) && !field.path.is_empty() {
                spans.push(Span::styled(" ✓", theme.ok()));
            }
            lines.push(Line::from(spans));
        }
        f.render_widget(Paragraph::new(lines), area);
    }
}

/// Cut `s` to `width` chars, ending in `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn line_input_edits_with_cursor() {
        let mut i = LineInput::new("ab");
        i.handle(key(KeyCode::Left));
        i.handle(key(KeyCode::Char('é')));
        assert_eq!(i.value, "aéb");
        i.handle(key(KeyCode::Backspace));
        i.handle(key(KeyCode::Delete));
        assert_eq!(i.value, "a");
        i.handle(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(i.value, "");
    }

    #[test]
    fn pasted_line_ends_and_tabs_are_normalised() {
        assert_eq!(normalize("a\rb\r\nc\nd\r"), "a\nb\nc\nd\n");
        assert_eq!(normalize("1.2.3.4\tnode1"), "1.2.3.4    node1");
        // Escape sequences go whole: no "[31m" or "[2J" tail left in a field.
        assert_eq!(normalize("x\u{1b}[31my\u{7}\u{0}z"), "xyz");
        assert_eq!(normalize("10.0.0.1\u{1b}[2J node1"), "10.0.0.1 node1");
        assert_eq!(
            normalize("a\u{1b}]0;title\u{7}b\u{1b}]8;;x\u{1b}\\c"),
            "abc"
        );
        assert_eq!(normalize("a\u{1b}cb\u{1b}"), "ab");
        assert_eq!(normalize("ünïcode ✓"), "ünïcode ✓");
        assert_eq!(normalize_line("10.0.0.1\r\n"), "10.0.0.1");
        let mut i = LineInput::new("");
        i.paste("a\tb\rc\u{1b}");
        assert_eq!(i.value, "a    bc");
        assert_eq!(i.cursor, 7);
    }

    #[test]
    fn scrub_replaces_control_characters_in_the_buffer() {
        let mut b = Buffer::empty(Rect::new(0, 0, 4, 1));
        b[(0, 0)].set_symbol("a");
        b[(1, 0)].set_symbol("\r");
        b[(2, 0)].set_symbol("\u{1b}");
        scrub(&mut b);
        let row: String = (0..4).map(|x| b[(x, 0)].symbol().to_string()).collect();
        assert_eq!(row, "a\u{FFFD}\u{FFFD} ");
    }

    #[test]
    fn form_values() {
        let mut f = Form::new(vec![
            Field::choice("c", "C", "", &["a", "b"], "b"),
            Field::flags("r", "R", "", &["etcd", "master", "node"], &["node"]),
        ]);
        assert_eq!(f.value("c"), "b");
        f.handle(key(KeyCode::Right));
        assert_eq!(f.value("c"), "a");
        f.handle(key(KeyCode::Down));
        f.handle(key(KeyCode::Char('e')));
        assert_eq!(f.value("r"), "etcd,node");
    }
}

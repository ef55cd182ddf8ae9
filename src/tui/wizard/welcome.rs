//! Welcome: a new cluster (its name and file) or an existing cluster file.

use super::{default_file, FormPage, Screen, Step, Wizard};
use crate::tui::input::{Field, FieldKind, Form, FormKey, LineInput, FORM_KEYS};
use crate::tui::keymap::{key, Binding, KeyDoc, Keymap};
use crate::tui::theme::Theme;
use crate::tui::Effect;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::Frame;
use std::path::PathBuf;

impl Step {
    pub const WELCOME: Step = Step("welcome");
}

pub const SCREEN: Screen = Screen {
    step: Step::WELCOME,
    title: "Welcome",
    keys,
    on_key,
    on_paste,
    draw,
    leave,
    ..Screen::BASE
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Advance,
}

const KEYS: Keymap<Action> = Keymap {
    title: "Welcome",
    bindings: &[Binding {
        keys: &[(key(KeyCode::Enter), Action::Advance)],
        label: "Enter",
        footer: Some("go on"),
        help: "next field; from the last one, continue",
    }],
};

const NEW: &str = "new cluster";
const OPEN: &str = "open a cluster file";

/// The welcome form: `mode` is [`NEW`] (with a name) or [`OPEN`].
pub fn form(mode: &str, name: &str, file: &str) -> Form {
    let mut fields = vec![Field::choice("mode", "Start", "", &[NEW, OPEN], mode)
        .hint("←/→ to choose: describe a new cluster, or open a cluster.yaml written before")];
    if mode == NEW {
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

fn keys(_: &Wizard) -> Vec<KeyDoc> {
    let mut docs = FORM_KEYS.docs();
    docs.extend(KEYS.docs());
    docs
}

fn on_key(w: &mut Wizard, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
    if KEYS.action(&key) == Some(Action::Advance) {
        if w.welcome.is_last() {
            w.next(effects);
        } else {
            w.welcome.focus += 1;
        }
        return true;
    }
    let r = w.welcome.handle(key);
    match r {
        FormKey::Switched => {
            let mode = w.welcome.value("mode");
            let file = if mode == NEW && !w.file_edited {
                default_file(&w.spec.name)
            } else {
                w.welcome.value("file")
            };
            w.welcome = form(&mode, &w.spec.name, &file);
        }
        FormKey::Edited => {
            if w.welcome.focused_key() == Some("file") {
                w.file_edited = true;
            }
            apply(w);
        }
        _ => {}
    }
    r != FormKey::Ignored
}

fn on_paste(w: &mut Wizard, text: &str) {
    if w.welcome.paste(text) != FormKey::Ignored {
        apply(w);
    }
}

/// The name into the spec; the default file follows the name until the file is edited.
fn apply(w: &mut Wizard) {
    if w.welcome.get("name").is_some() {
        w.spec.name = w.welcome.value("name").trim().to_string();
        if !w.file_edited {
            let file = default_file(&w.spec.name);
            if let Some(Field {
                kind: FieldKind::Text(i),
                ..
            }) = w.welcome.fields.iter_mut().find(|f| f.key == "file")
            {
                *i = LineInput::new(file);
            }
        }
    }
    w.status = None;
    w.revalidate();
}

/// Leaving: a new cluster takes the name and file; opening a file is done by the app (it may
/// offer to resume). Returns false to stay.
fn leave(w: &mut Wizard, effects: &mut Vec<Effect>) -> bool {
    let file = w.welcome.value("file").trim().to_string();
    if file.is_empty() {
        w.status = Some((true, "give the path of the cluster file".into()));
        return false;
    }
    if w.welcome.value("mode") == OPEN {
        effects.push(Effect::OpenFile(PathBuf::from(file)));
        return false;
    }
    if w.finding_for("name").is_some_and(|(e, _)| e) {
        w.status = Some((true, "fix the cluster name first".into()));
        return false;
    }
    let path = PathBuf::from(&file);
    if path.exists() {
        w.status = Some((
            true,
            format!(
                "{file} exists already: choose \"open a cluster file\" to open it, or another path"
            ),
        ));
        return false;
    }
    w.file = path;
    w.status = None;
    effects.push(Effect::InitLog(w.dir()));
    true
}

fn draw(w: &Wizard, f: &mut Frame, area: Rect, theme: &Theme) {
    let intro = vec![
        "kubewiz installs a Kubernetes cluster from release binaries over SSH: host prep,".into(),
        "PKI, etcd, runtime, pod network, control plane, nodes, add-ons. Every answer here".into(),
        "goes into one cluster file, the same file `kubewiz apply -f` reads.".into(),
    ];
    let page = FormPage {
        title: SCREEN.title,
        intro,
        form: &w.welcome,
        after: vec![],
    };
    w.draw_form_screen(f, area, theme, page);
}

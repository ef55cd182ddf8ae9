//! The troubleshooting pane: opens on a failure, shows the diagnosis (cause, evidence with the
//! matched lines highlighted, fix, manual commands) or, with no catalog match, the output tail;
//! and the actions. Actions run only once the run has stopped.
//!
//! The pane owns its keys ([`PANE_KEYS`], [`on_key`]): it changes its own state (scroll, next
//! failure, the confirmations) and tells the app what to run ([`PaneCommand`]).

use super::dashboard::{Dashboard, Failure};
use super::input::truncate;
use super::keymap::{ch, key, key_line, Binding, Keymap};
use super::modal;
use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneAction {
    RetryStep,
    RetryHost,
    Skip,
    Copy,
    FullLog,
    Close,
    ApplyFix,
    NextFailure,
    ScrollUp,
    ScrollDown,
    Help,
    Quit,
}

/// The pane's keys. Those with a footer text are the action line (r and h with the hosts they
/// retry on); `a` has a line of its own (with the fix, or why it is disabled).
pub const PANE_KEYS: Keymap<PaneAction> = Keymap {
    title: "Troubleshooting pane",
    bindings: &[
        Binding {
            keys: &[(ch('r'), PaneAction::RetryStep)],
            label: "r",
            footer: Some("retry the step"),
            help: "retry the step on the hosts where it failed",
        },
        Binding {
            keys: &[(ch('h'), PaneAction::RetryHost)],
            label: "h",
            footer: Some("retry on this host only"),
            help: "retry on this host only",
        },
        Binding {
            keys: &[(ch('s'), PaneAction::Skip)],
            label: "s",
            footer: Some("skip"),
            help: "skip the step (asks first)",
        },
        Binding {
            keys: &[(ch('c'), PaneAction::Copy)],
            label: "c",
            footer: Some("copy command"),
            help: "copy the fix command (OSC 52)",
        },
        Binding {
            keys: &[(ch('l'), PaneAction::FullLog)],
            label: "l",
            footer: Some("full log"),
            help: "open the full log",
        },
        Binding {
            keys: &[(key(KeyCode::Esc), PaneAction::Close)],
            label: "Esc",
            footer: Some("close"),
            help: "close the pane",
        },
        Binding {
            keys: &[(ch('a'), PaneAction::ApplyFix)],
            label: "a",
            footer: None,
            help: "apply the fix, then retry (asks if destructive)",
        },
        Binding {
            keys: &[(key(KeyCode::Tab), PaneAction::NextFailure)],
            label: "Tab",
            footer: None,
            help: "next failure",
        },
        Binding {
            keys: &[
                (key(KeyCode::Up), PaneAction::ScrollUp),
                (ch('k'), PaneAction::ScrollUp),
                (key(KeyCode::Down), PaneAction::ScrollDown),
                (ch('j'), PaneAction::ScrollDown),
            ],
            label: "↑↓",
            footer: None,
            help: "scroll the diagnosis",
        },
        Binding {
            keys: &[(ch('?'), PaneAction::Help)],
            label: "?",
            footer: None,
            help: "this help",
        },
        Binding {
            keys: &[(ch('q'), PaneAction::Quit)],
            label: "q",
            footer: None,
            help: "quit (a running deployment stops cleanly)",
        },
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Yes,
    No,
}

/// A skip or a destructive fix: only `y` goes ahead; any other key cancels.
const CONFIRM_KEYS: Keymap<Confirm> = Keymap {
    title: "Confirm",
    bindings: &[
        Binding {
            keys: &[(ch('y'), Confirm::Yes)],
            label: "y",
            footer: Some("go ahead"),
            help: "go ahead",
        },
        Binding {
            keys: &[(ch('n'), Confirm::No), (key(KeyCode::Esc), Confirm::No)],
            label: "n",
            footer: Some("cancel"),
            help: "cancel (so does any other key)",
        },
    ],
};

/// What the app must do after a key in the pane.
#[derive(Debug, Clone)]
pub enum PaneCommand {
    /// Run `stage/step` again on `hosts`.
    Retry {
        stage: String,
        step: String,
        hosts: Vec<String>,
    },
    /// Run the failure's catalog fix (`destructive_ok`: the user said yes to it).
    ApplyFix {
        failure: Failure,
        destructive_ok: bool,
    },
    /// The failure was skipped (the pane already dropped it): record it and go on.
    Skip(Failure),
    /// Put this on the clipboard.
    Copy(String),
    Help,
    Quit,
}

/// A key while the pane is open.
pub fn on_key(d: &mut Dashboard, key: KeyEvent, cluster_file: &str) -> Option<PaneCommand> {
    let pane = d.pane.clone()?;
    let Some(fail) = d.failures.get(pane.index).cloned() else {
        d.pane = None;
        return None;
    };
    if pane.confirm_fix || pane.confirm_skip {
        let yes = CONFIRM_KEYS.action(&key) == Some(Confirm::Yes);
        if let Some(p) = &mut d.pane {
            p.confirm_fix = false;
            p.confirm_skip = false;
        }
        return match (yes, pane.confirm_fix) {
            (false, _) => None,
            (true, true) => Some(PaneCommand::ApplyFix {
                failure: fail,
                destructive_ok: true,
            }),
            (true, false) => {
                let k = fail.key();
                d.failures.retain(|f| f.key() != k);
                d.pane = None;
                d.warnings.push(format!("skipped {k}"));
                Some(PaneCommand::Skip(fail))
            }
        };
    }
    let action = PANE_KEYS.action(&key)?;
    let needs_idle = matches!(
        action,
        PaneAction::RetryStep | PaneAction::RetryHost | PaneAction::Skip | PaneAction::ApplyFix
    );
    if needs_idle && d.running {
        d.notice = Some((true, "wait: the run is still finishing other hosts".into()));
        return None;
    }
    match action {
        PaneAction::Close => d.pane = None,
        PaneAction::NextFailure => {
            let n = d.failures.len().max(1);
            d.open_failure((pane.index + 1) % n);
        }
        PaneAction::ScrollUp => {
            if let Some(p) = &mut d.pane {
                p.scroll = p.scroll.saturating_sub(1)
            }
        }
        PaneAction::ScrollDown => {
            if let Some(p) = &mut d.pane {
                p.scroll += 1
            }
        }
        PaneAction::FullLog => d.full_log = Some(0),
        PaneAction::Copy => {
            let text = copy_text(&fail, cluster_file);
            d.notice = Some((
                false,
                format!(
                    "copied to the clipboard (OSC 52): {}",
                    text.lines().next().unwrap_or("")
                ),
            ));
            return Some(PaneCommand::Copy(text));
        }
        PaneAction::RetryStep => {
            return Some(PaneCommand::Retry {
                hosts: hosts_failed(d, &fail),
                stage: fail.at.stage,
                step: fail.at.step,
            })
        }
        PaneAction::RetryHost => {
            return Some(PaneCommand::Retry {
                hosts: vec![fail.at.host.clone()],
                stage: fail.at.stage,
                step: fail.at.step,
            })
        }
        PaneAction::Skip => {
            if let Some(p) = &mut d.pane {
                p.confirm_skip = true;
            }
        }
        PaneAction::ApplyFix => match auto_fix_unavailable(&fail) {
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
                    return Some(PaneCommand::ApplyFix {
                        failure: fail,
                        destructive_ok: false,
                    });
                }
            }
        },
        PaneAction::Help => return Some(PaneCommand::Help),
        PaneAction::Quit => return Some(PaneCommand::Quit),
    }
    None
}

/// The hosts where the failure's step failed.
fn hosts_failed(d: &Dashboard, fail: &Failure) -> Vec<String> {
    d.failures
        .iter()
        .filter(|x| x.at.stage == fail.at.stage && x.at.step == fail.at.step)
        .map(|x| x.at.host.clone())
        .collect()
}

/// Why "apply the fix then retry" is disabled for this failure, or None when it can run
/// (`kubewiz::stages::fix` knows the catalog's action).
pub fn auto_fix_unavailable(f: &Failure) -> Option<String> {
    match f.diagnosis.as_ref().and_then(|d| d.auto_fix.as_ref()) {
        None => Some("no automatic fix for this failure".into()),
        Some(fix) if !crate::deploy::fix::known(&fix.action) => Some(format!(
            "kubewiz has no runner for the fix {:?}: run the commands above by hand, then retry",
            fix.action
        )),
        Some(_) => None,
    }
}

/// What `c` copies: the manual commands, else the command that retries the step by hand.
pub fn copy_text(f: &Failure, cluster_file: &str) -> String {
    match f.diagnosis.as_ref().map(|d| &d.manual_commands) {
        Some(cmds) if !cmds.is_empty() => cmds.join("\n"),
        _ => format!(
            "kubewiz apply -f {cluster_file} --step {}/{} --only-hosts {}",
            f.at.stage, f.at.step, f.at.host
        ),
    }
}

pub fn draw(d: &Dashboard, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(pane) = &d.pane else { return };
    let Some(fail) = d.failures.get(pane.index) else {
        return;
    };
    let exit = fail
        .exit_status
        .map(|s| format!("exit {s}"))
        .unwrap_or_else(|| "no exit status".into());
    let of = if d.failures.len() > 1 {
        format!(
            " — failure {}/{} (Tab: next)",
            pane.index + 1,
            d.failures.len()
        )
    } else {
        String::new()
    };
    let title = Span::styled(
        format!(
            " ✗ {}/{} failed on {} ({exit}, attempt {}){of} ",
            fail.at.stage, fail.at.step, fail.at.host, fail.attempt
        ),
        theme.err(),
    );
    let width = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = vec![];
    let matched = fail.matched_lines();
    match &fail.diagnosis {
        Some(diag) if diag.id.is_some() => {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {} ", diag.id.as_deref().unwrap_or("")),
                    theme.highlight(),
                ),
                Span::styled(format!(" {}", diag.title), theme.title()),
            ]));
            lines.push(Line::from(vec![
                Span::styled(" Cause  ", theme.key()),
                Span::raw(diag.cause.clone()),
            ]));
            lines.push(Line::from(vec![
                Span::styled(" Fix    ", theme.key()),
                Span::raw(diag.fix.clone()),
            ]));
            if !diag.evidence.is_empty() {
                lines.push(Line::from(Span::styled(" Evidence", theme.key())));
                for e in &diag.evidence {
                    lines.push(Line::from(vec![
                        Span::styled(format!("   {:<22} ", truncate(&e.source, 22)), theme.dim()),
                        Span::styled(
                            truncate(&e.line, width.saturating_sub(27)),
                            if e.matched {
                                theme.highlight()
                            } else {
                                theme.base()
                            },
                        ),
                    ]));
                }
            }
            if !diag.manual_commands.is_empty() {
                lines.push(Line::from(Span::styled(
                    " Commands to fix it by hand",
                    theme.key(),
                )));
                for c in &diag.manual_commands {
                    // A `# ...` line says where the next commands run: a note, not a command.
                    lines.push(Line::from(match c.strip_prefix('#') {
                        Some(note) => Span::styled(format!("   {}", note.trim()), theme.dim()),
                        None => Span::styled(format!("   $ {c}"), theme.accent()),
                    }));
                }
            }
        }
        other => {
            lines.push(Line::from(Span::styled(
                " No known failure matched this output: read the tail below, fix the cause, then retry.",
                theme.warn(),
            )));
            if let Some(diag) = other {
                if !diag.cause.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled(" Gathered ", theme.key()),
                        Span::raw(diag.cause.clone()),
                    ]));
                }
            }
        }
    }
    lines.push(Line::from(vec![
        Span::styled(" Error  ", theme.key()),
        Span::styled(fail.message.clone(), theme.err()),
    ]));
    lines.push(Line::from(Span::styled(
        format!(" Output, last {} lines", fail.last_lines.len()),
        theme.key(),
    )));
    for l in &fail.last_lines {
        let hit = matched
            .iter()
            .any(|m| l.contains(m) || m.contains(l.as_str()) && !l.is_empty());
        lines.push(Line::from(Span::styled(
            format!("   {}", truncate(l, width.saturating_sub(4))),
            if hit { theme.highlight() } else { theme.base() },
        )));
    }
    // Actions.
    let label = |c| CONFIRM_KEYS.binding(c).map(|b| b.label).unwrap_or("");
    let (yes, no) = (label(Confirm::Yes), label(Confirm::No));
    let mut act: Vec<Line> = vec![];
    if pane.confirm_fix {
        let fix = fail.diagnosis.as_ref().and_then(|d| d.auto_fix.as_ref());
        let what = fix.map(|x| x.description.as_str()).unwrap_or_default();
        // What it destroys, in the fix's own words (the stage declares them).
        let destroys = fix
            .and_then(|x| crate::stages::fix::fix(&x.action))
            .and_then(|f| f.destroys)
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        act.push(Line::from(Span::styled(
            format!(" This fix is destructive{destroys}."),
            theme.warn(),
        )));
        act.push(Line::from(Span::raw(format!(" {what}"))));
        act.push(Line::from(Span::styled(
            format!(" Apply it? {yes}: apply, then retry the stage   {no}: cancel"),
            theme.warn(),
        )));
    } else if pane.confirm_skip {
        act.push(Line::from(Span::styled(
            format!(
                " Skip {}/{} on {}? Later steps that depend on it may fail. {yes}: skip and continue   {no}: cancel",
                fail.at.stage, fail.at.step, fail.at.host
            ),
            theme.warn(),
        )));
    } else if d.running {
        act.push(Line::from(Span::styled(
            " The run is finishing the other hosts' steps; the actions are ready when it stops.",
            theme.dim(),
        )));
    } else {
        let n_failed = hosts_failed(d, fail).len();
        let entries: Vec<(&str, String)> = PANE_KEYS
            .bindings
            .iter()
            .filter_map(|b| {
                let text = match b.keys.first().map(|(_, a)| *a) {
                    Some(PaneAction::RetryStep) if n_failed > 1 => {
                        format!("retry the step ({n_failed} hosts)")
                    }
                    Some(PaneAction::RetryHost) => format!("retry on {} only", fail.at.host),
                    _ => b.footer?.to_string(),
                };
                b.footer.map(|_| (b.label, text))
            })
            .collect();
        let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
        act.push(key_line(&entries, theme));
        let a = PANE_KEYS
            .binding(PaneAction::ApplyFix)
            .map(|b| b.label)
            .unwrap_or("a");
        match auto_fix_unavailable(fail) {
            None => {
                let desc = fail
                    .diagnosis
                    .as_ref()
                    .and_then(|d| d.auto_fix.as_ref())
                    .map(|x| {
                        let asks = if x.destructive {
                            " (destructive: asks first)"
                        } else {
                            ""
                        };
                        format!(
                            "apply the fix{asks}, then retry the stage: {}",
                            x.description
                        )
                    })
                    .unwrap_or_default();
                act.push(key_line(&[(a, desc.as_str())], theme))
            }
            Some(why) => act.push(Line::from(vec![
                Span::styled(format!(" {a} apply the fix, then retry"), theme.dim()),
                Span::styled(format!(" — disabled: {why}"), theme.dim()),
            ])),
        }
    }
    if let Some((is_err, msg)) = &d.notice {
        act.push(Line::from(Span::styled(
            format!(" {msg}"),
            if *is_err { theme.err() } else { theme.ok() },
        )));
    }
    // As tall as its (wrapped) content, at the bottom: the stages and the matrix stay in view
    // when they can; the actions always show whole (a long fix, a refusal), plus their rule.
    let body_h = rows(&lines, width);
    let act_h = rows(&act, width) as u16 + 1;
    let h = (body_h as u16 + act_h + 2).clamp(12, area.height.max(1));
    let r = Rect {
        y: area.y + area.height.saturating_sub(h),
        height: h.min(area.height),
        ..area
    };
    let inner = modal::boxed(f, r, theme.err(), title);
    let [body_a, actions_a] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(act_h)]).areas(inner);
    // Say so when the diagnosis goes on below what is shown.
    let hidden = body_h.saturating_sub(pane.scroll as usize + body_a.height as usize);
    let more = (hidden > 0).then(|| {
        let keys = PANE_KEYS
            .binding(PaneAction::ScrollDown)
            .map(|b| b.label)
            .unwrap_or("↓");
        Line::from(Span::styled(
            format!(" {hidden} more line(s) below: {keys} scrolls "),
            theme.dim(),
        ))
        .right_aligned()
    });
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((pane.scroll, 0)),
        body_a,
    );

    let mut rule = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border());
    if let Some(more) = more {
        rule = rule.title(more);
    }
    f.render_widget(
        Paragraph::new(act).wrap(Wrap { trim: false }).block(rule),
        actions_a,
    );
}

/// How many rows `lines` take wrapped at `width` the way the pane's paragraphs wrap them: at
/// spaces, a word longer than the row split.
fn rows(lines: &[Line], width: usize) -> usize {
    let width = width.max(1);
    lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_rows(&text, width)
        })
        .sum()
}

fn wrapped_rows(text: &str, width: usize) -> usize {
    let (mut rows, mut col) = (1, 0);
    for (i, word) in text.split(' ').enumerate() {
        let w = Span::raw(word).width();
        let gap = usize::from(i > 0);
        if col + gap + w <= width {
            col += gap + w;
        } else if w <= width {
            rows += 1;
            col = w;
        } else {
            // A word wider than the row: it starts on a row of its own and is cut.
            rows += usize::from(col > 0) + (w - 1) / width;
            col = (w - 1) % width + 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::wrapped_rows;

    #[test]
    fn rows_follow_word_wrapping() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("abc def", 7), 1);
        assert_eq!(wrapped_rows("abc def", 6), 2);
        // 4 + 1 + 4 = 9 fits 10; the third word goes to a second row.
        assert_eq!(wrapped_rows("aaaa bbbb cccc", 10), 2);
        // A word of 25 over a width of 10: 3 rows.
        assert_eq!(wrapped_rows(&"x".repeat(25), 10), 3);
        // A leading space is a column too.
        assert_eq!(wrapped_rows(" abcd efgh", 9), 2);
    }
}

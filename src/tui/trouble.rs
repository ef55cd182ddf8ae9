//! The troubleshooting pane: opens on a failure, shows the diagnosis (cause, evidence with the
//! matched lines highlighted, fix, manual commands) or, with no catalog match, the output tail;
//! and the actions. Actions run only once the run has stopped.

use super::dashboard::{key_line, Dashboard, Failure};
use super::input::truncate;
use super::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Why "apply the fix then retry" is disabled for this failure, or None when it can run
/// (`kubewiz::diagnose::fixes` knows the catalog's action).
pub fn auto_fix_unavailable(f: &Failure) -> Option<String> {
    match f.diagnosis.as_ref().and_then(|d| d.auto_fix.as_ref()) {
        None => Some("no automatic fix for this failure".into()),
        Some(fix) if !crate::diagnose::fixes::known(&fix.action) => Some(format!(
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.err())
        .title(Span::styled(
            format!(
                " ✗ {}/{} failed on {} ({exit}, attempt {}){of} ",
                fail.at.stage, fail.at.step, fail.at.host, fail.attempt
            ),
            theme.err(),
        ));
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
                    lines.push(Line::from(Span::styled(
                        format!("   $ {c}"),
                        theme.accent(),
                    )));
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
    // As tall as its (wrapped) content, at the bottom: the stages and the matrix stay in view
    // when they can.
    let body_h: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(width.max(1)))
        .sum();
    let h = (body_h as u16 + 4 + 2).clamp(12, area.height.max(1));
    let r = Rect {
        y: area.y + area.height.saturating_sub(h),
        height: h.min(area.height),
        ..area
    };
    f.render_widget(Clear, r);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [body_a, actions_a] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(inner);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((pane.scroll, 0)),
        body_a,
    );

    // Actions.
    let mut act: Vec<Line> = vec![];
    if pane.confirm_fix {
        let what = fail
            .diagnosis
            .as_ref()
            .and_then(|d| d.auto_fix.as_ref())
            .map(|x| x.description.clone())
            .unwrap_or_default();
        act.push(Line::from(Span::styled(
            format!(" This fix is destructive: {what}. Apply it? y: apply, then retry the stage   n: cancel"),
            theme.warn(),
        )));
    } else if pane.confirm_skip {
        act.push(Line::from(Span::styled(
            format!(
                " Skip {}/{} on {}? Later steps that depend on it may fail. y: skip and continue   n: cancel",
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
        let hosts_failed: Vec<&str> = d
            .failures
            .iter()
            .filter(|x| x.at.stage == fail.at.stage && x.at.step == fail.at.step)
            .map(|x| x.at.host.as_str())
            .collect();
        let retry_all = if hosts_failed.len() > 1 {
            format!("retry the step ({} hosts)", hosts_failed.len())
        } else {
            "retry the step".to_string()
        };
        let host_only = format!("retry on {} only", fail.at.host);
        act.push(key_line(
            &[
                ("r", retry_all.as_str()),
                ("h", host_only.as_str()),
                ("s", "skip"),
                ("c", "copy command"),
                ("l", "full log"),
                ("Esc", "close"),
            ],
            theme,
        ));
        match auto_fix_unavailable(fail) {
            None => {
                let desc = fail
                    .diagnosis
                    .as_ref()
                    .and_then(|d| d.auto_fix.as_ref())
                    .map(|x| format!("apply the fix ({}), then retry the stage", x.description))
                    .unwrap_or_default();
                act.push(key_line(&[("a", desc.as_str())], theme))
            }
            Some(why) => act.push(Line::from(vec![
                Span::styled(" a apply the fix, then retry", theme.dim()),
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
    f.render_widget(
        Paragraph::new(act).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border()),
        ),
        actions_a,
    );
}

//! The summary screen at the end of a run that joined the nodes (headed by the failure it
//! stopped on, if it did): the node table, the components' health,
//! where the admin kubeconfig is, the first commands to try and the log file. Drawn from a
//! [`ClusterSummary`]; what the run did not report is said, not made up.

use super::keymap::{ch, key, Binding, Keymap};
use super::theme::Theme;
use crate::summary::{ClusterSummary, StoppedOn, NODE_COLUMNS};
use crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryAction {
    Dashboard,
    Wizard,
    Help,
    Quit,
}

/// The keys of the summary screen (its footer and help are made from them).
pub const SUMMARY_KEYS: Keymap<SummaryAction> = Keymap {
    title: "Summary",
    bindings: &[
        Binding {
            keys: &[
                (ch('s'), SummaryAction::Dashboard),
                (key(KeyCode::Esc), SummaryAction::Dashboard),
            ],
            label: "s / Esc",
            footer: Some("back to the dashboard"),
            help: "the dashboard (its stages, hosts and logs); s there comes back here",
        },
        Binding {
            keys: &[(ch('w'), SummaryAction::Wizard)],
            label: "w",
            footer: Some("wizard"),
            help: "back to the wizard",
        },
        Binding {
            keys: &[(ch('?'), SummaryAction::Help)],
            label: "?",
            footer: Some("help"),
            help: "this help (F1 too)",
        },
        Binding {
            keys: &[(ch('q'), SummaryAction::Quit)],
            label: "q",
            footer: Some("quit"),
            help: "quit (the cluster keeps running)",
        },
    ],
};

fn block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(title, theme.title()))
}

/// Draw the summary in `area`.
pub fn draw(s: &ClusterSummary, f: &mut Frame, area: Rect, theme: &Theme) {
    // A table's rows, or one line saying why there is none.
    let rows_height = |n: usize| if n == 0 { 3 } else { n as u16 + 3 };
    let area = match &s.stopped_on {
        Some(stopped) => {
            let [head, rest] =
                Layout::vertical([Constraint::Length(5), Constraint::Min(0)]).areas(area);
            draw_stopped(stopped, f, head, theme);
            rest
        }
        None => area,
    };
    let [nodes_a, comps_a, use_a] = Layout::vertical([
        Constraint::Length(rows_height(s.nodes.len())),
        Constraint::Length(rows_height(s.components.len())),
        Constraint::Min(6),
    ])
    .areas(area);
    draw_nodes(s, f, nodes_a, theme);
    draw_components(s, f, comps_a, theme);
    draw_usage(s, f, use_a, theme);
}

/// The failure the run stopped on: the cluster below is up, but not everything is.
fn draw_stopped(stopped: &StoppedOn, f: &mut Frame, area: Rect, theme: &Theme) {
    let label = |t: &str| Span::styled(format!("{t:<6}"), theme.title());
    let mut lines = vec![Line::from(vec![label("at"), Span::raw(stopped.place())])];
    lines.push(Line::from(vec![
        label("cause"),
        Span::styled(stopped.cause.clone(), theme.err()),
    ]));
    lines.push(Line::from(vec![
        label("fix"),
        match &stopped.fix {
            Some(fix) => Span::raw(fix.clone()),
            None => Span::styled(
                "none in the catalog: see the dashboard's failure pane",
                theme.dim(),
            ),
        },
    ]));
    let title = " The run stopped on a failure ";
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.err())
        .title(Span::styled(title, theme.err()));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

fn draw_nodes(s: &ClusterSummary, f: &mut Frame, area: Rect, theme: &Theme) {
    let ready = s.nodes.iter().filter(|n| n.ready()).count();
    let title = match s.nodes.len() {
        0 => " Nodes ".to_string(),
        n => format!(" Nodes: {ready} of {n} Ready "),
    };
    if s.nodes.is_empty() {
        let text = Span::styled(ClusterSummary::NO_NODES, theme.dim());
        f.render_widget(Paragraph::new(text).block(block(title, theme)), area);
        return;
    }
    let rows = s.nodes.iter().map(|n| {
        let cells = n.cells().map(|c| Span::raw(c.to_string()));
        let mut cells = cells.to_vec();
        let style = if n.ready() { theme.ok() } else { theme.err() };
        cells[1] = Span::styled(n.status.clone(), style);
        Row::new(cells)
    });
    let widths = s.node_widths().map(|w| Constraint::Length(w as u16));
    f.render_widget(
        Table::new(rows, widths)
            .column_spacing(2)
            .header(Row::new(NODE_COLUMNS.to_vec()).style(theme.title()))
            .block(block(title, theme)),
        area,
    );
}

fn draw_components(s: &ClusterSummary, f: &mut Frame, area: Rect, theme: &Theme) {
    let healthy = s.components.iter().filter(|c| c.healthy()).count();
    let title = match s.components.len() {
        0 => " Components ".to_string(),
        n => format!(" Components: {healthy} of {n} healthy "),
    };
    if s.components.is_empty() {
        let text = Span::styled(ClusterSummary::NO_COMPONENTS, theme.dim());
        f.render_widget(Paragraph::new(text).block(block(title, theme)), area);
        return;
    }
    let (hw, nw) = s.component_widths();
    let rows = s.components.iter().map(|c| {
        let (mark, style) = if c.healthy() {
            ("✓", theme.ok())
        } else {
            ("✗", theme.err())
        };
        Row::new(vec![
            Span::raw(c.host.clone()),
            Span::raw(c.name.clone()),
            Span::styled(format!("{mark} {}", c.status), style),
        ])
    });
    let widths = [
        Constraint::Length(hw as u16),
        Constraint::Length(nw as u16),
        Constraint::Min(10),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .column_spacing(2)
            .header(Row::new(vec!["HOST", "COMPONENT", "STATUS"]).style(theme.title()))
            .block(block(title, theme)),
        area,
    );
}

fn draw_usage(s: &ClusterSummary, f: &mut Frame, area: Rect, theme: &Theme) {
    let label = |t: &str| Span::styled(format!("{t:<18}"), theme.title());
    let mut lines = vec![Line::from(vec![
        label("admin kubeconfig"),
        Span::raw(s.kubeconfig.display().to_string()),
    ])];
    lines.push(Line::from(""));
    if s.next_commands.is_empty() {
        lines.push(Line::from(vec![
            label("try"),
            Span::styled(ClusterSummary::NO_COMMANDS, theme.dim()),
        ]));
    } else {
        for (i, c) in s.next_commands.iter().enumerate() {
            lines.push(Line::from(vec![
                label(if i == 0 { "try" } else { "" }),
                Span::styled(c.clone(), theme.accent()),
            ]));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        label("log file"),
        match &s.log_file {
            Some(p) => Span::raw(p.display().to_string()),
            None => Span::styled("none for this session", theme.dim()),
        },
    ]));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Use the cluster ".into(), theme)),
        area,
    );
}

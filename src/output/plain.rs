//! Plain lines: `host stage/step | output`, then `host stage/step: changed (0.2 s)`.

use crate::events::{Event, OutputStream, StepOutcome};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

pub struct PlainPrinter {
    color: bool,
    /// `exec` shows `host | line`; `apply` shows `host stage/step | line`.
    show_step: bool,
}

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();

impl PlainPrinter {
    pub fn new(color: bool, show_step: bool) -> Self {
        PlainPrinter { color, show_step }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn prefix(&self, host: &str, stage: &str, step: &str) -> String {
        if self.show_step {
            format!("{} {stage}/{step}", self.paint(CYAN, host))
        } else {
            self.paint(CYAN, host)
        }
    }

    pub fn write(&mut self, out: &mut impl Write, ev: &Event) -> io::Result<()> {
        match ev {
            Event::PlanStarted {
                cluster,
                stages,
                total_steps,
                resumed,
            } => {
                if !self.show_step {
                    return Ok(());
                }
                let hosts = stages.iter().map(|s| s.hosts.len()).max().unwrap_or(0);
                writeln!(
                    out,
                    "{} cluster {cluster}: {} stage(s), {total_steps} steps on {hosts} host(s){}",
                    self.paint(BOLD, "kubewiz"),
                    stages.len(),
                    if *resumed {
                        " (resuming the interrupted run from the journal)"
                    } else {
                        ""
                    }
                )
            }
            Event::StageStarted { stage } if self.show_step => {
                writeln!(out, "{}", self.paint(BOLD, &format!("== stage {stage}")))
            }
            Event::StageStarted { .. } | Event::StepStarted { .. } => Ok(()),
            Event::Output {
                stage,
                step,
                host,
                stream,
                line,
            } => {
                let bar = match stream {
                    OutputStream::Stdout => "|".to_string(),
                    OutputStream::Stderr => self.paint(YELLOW, "!"),
                };
                writeln!(out, "{} {bar} {line}", self.prefix(host, stage, step))
            }
            Event::StepRetrying {
                stage,
                step,
                host,
                attempt,
                delay_ms,
                reason,
            } => writeln!(
                out,
                "{}: {} {attempt} in {:.1} s ({reason})",
                self.prefix(host, stage, step),
                self.paint(YELLOW, "retry, attempt"),
                *delay_ms as f64 / 1000.0
            ),
            Event::StepFinished {
                stage,
                step,
                host,
                outcome,
                duration_ms,
                ..
            } => {
                let took = format!("({:.2} s)", *duration_ms as f64 / 1000.0);
                let what = match outcome {
                    StepOutcome::Changed => self.paint(YELLOW, "changed"),
                    StepOutcome::Unchanged => self.paint(GREEN, "unchanged"),
                    StepOutcome::Done => self.paint(GREEN, "ok"),
                    StepOutcome::NotApplicable { reason } => {
                        format!("{} ({reason})", self.paint(DIM, "n/a"))
                    }
                    StepOutcome::Skipped { reason } => {
                        format!("{} ({reason})", self.paint(DIM, "skipped"))
                    }
                    StepOutcome::Failed { message, .. } => {
                        format!("{} {message}", self.paint(RED, "FAILED"))
                    }
                };
                writeln!(
                    out,
                    "{}: {what} {}",
                    self.prefix(host, stage, step),
                    self.paint(DIM, &took)
                )
            }
            Event::StageFinished {
                stage,
                ok,
                counts,
                duration_ms,
            } => {
                if !self.show_step {
                    return Ok(());
                }
                let verdict = if *ok {
                    self.paint(GREEN, "ok")
                } else {
                    self.paint(RED, "FAILED")
                };
                writeln!(
                    out,
                    "== stage {stage} {verdict}: {} changed, {} unchanged, {} n/a, {} skipped, {} failed ({:.1} s)",
                    counts.changed,
                    counts.unchanged,
                    counts.not_applicable,
                    counts.skipped,
                    counts.failed,
                    *duration_ms as f64 / 1000.0
                )
            }
            Event::Diagnosis {
                stage,
                step,
                host,
                diagnosis: d,
            } => {
                let head = match &d.id {
                    Some(id) => format!("diagnosis {id}: {}", d.title),
                    None => format!("no known failure matched: {}", d.title),
                };
                writeln!(
                    out,
                    "{}: {}",
                    self.prefix(host, stage, step),
                    self.paint(RED, &head)
                )?;
                if !d.cause.is_empty() {
                    writeln!(out, "    cause: {}", d.cause)?;
                }
                for e in &d.evidence {
                    let line = if e.matched {
                        self.paint(BOLD, &e.line)
                    } else {
                        e.line.clone()
                    };
                    writeln!(out, "    evidence ({}): {line}", e.source)?;
                }
                if !d.fix.is_empty() {
                    writeln!(out, "    fix: {}", d.fix)?;
                }
                for c in &d.manual_commands {
                    writeln!(out, "    by hand: {c}")?;
                }
                if let Some(f) = &d.auto_fix {
                    writeln!(
                        out,
                        "    kubewiz can fix this: {}{}",
                        f.description,
                        if f.destructive {
                            " (destructive: asks first)"
                        } else {
                            ""
                        }
                    )?;
                }
                Ok(())
            }
            Event::PlanFinished {
                ok,
                interrupted,
                duration_ms,
                ..
            } => {
                if !self.show_step {
                    return Ok(());
                }
                let verdict = if *interrupted {
                    self.paint(YELLOW, "interrupted: run `kubewiz apply` again to resume")
                } else if *ok {
                    self.paint(GREEN, "done")
                } else {
                    self.paint(
                        RED,
                        "failed: fix the cause and run `kubewiz apply` again to resume",
                    )
                };
                writeln!(
                    out,
                    "kubewiz {verdict} ({:.1} s)",
                    *duration_ms as f64 / 1000.0
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(p: &mut PlainPrinter, ev: Event) -> String {
        let mut buf = vec![];
        p.write(&mut buf, &ev).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn swap_not_applicable() -> Event {
        Event::StepFinished {
            stage: "prep".into(),
            step: "swap".into(),
            host: "node1".into(),
            outcome: StepOutcome::NotApplicable {
                reason: "no swap".into(),
            },
            duration_ms: 1234,
            attempt: 1,
        }
    }

    #[test]
    fn plain_lines_without_color() {
        let mut p = PlainPrinter::new(false, true);
        let line = render(
            &mut p,
            Event::Output {
                stage: "prep".into(),
                step: "swap".into(),
                host: "node1".into(),
                stream: OutputStream::Stdout,
                line: "swap turned off".into(),
            },
        );
        assert_eq!(line, "node1 prep/swap | swap turned off\n");
        let line = render(&mut p, swap_not_applicable());
        assert_eq!(line, "node1 prep/swap: n/a (no swap) (1.23 s)\n");
        assert!(!line.contains('\x1b'));
    }

    #[test]
    fn color_only_when_asked() {
        let mut p = PlainPrinter::new(true, false);
        let line = render(
            &mut p,
            Event::Output {
                stage: "exec".into(),
                step: "command".into(),
                host: "h1".into(),
                stream: OutputStream::Stderr,
                line: "x".into(),
            },
        );
        assert_eq!(line, "\x1b[36mh1\x1b[0m \x1b[33m!\x1b[0m x\n");
        let mut p = PlainPrinter::new(true, true);
        let line = render(&mut p, swap_not_applicable());
        assert_eq!(
            line,
            "\x1b[36mnode1\x1b[0m prep/swap: \x1b[2mn/a\x1b[0m (no swap) \x1b[2m(1.23 s)\x1b[0m\n"
        );
    }
}

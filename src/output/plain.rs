//! Plain lines: `host stage/step | output`, then `host stage/step: changed (0.2 s)`.

use crate::events::{Event, OutputStream, StepOutcome, StepRef, WaitFor};
use crate::summary::{ClusterSummary, NODE_COLUMNS};
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

    fn prefix(&self, at: &StepRef) -> String {
        if self.show_step {
            format!("{} {}", self.paint(CYAN, &at.host), at.stage_step())
        } else {
            self.paint(CYAN, &at.host)
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
                )?;
                // Only the steps that do not simply run on each host on their own.
                for stage in stages {
                    let how: Vec<String> = stage
                        .steps
                        .iter()
                        .filter_map(|s| Some(format!("{} {}", s.name, s.how()?)))
                        .collect();
                    if !how.is_empty() {
                        writeln!(out, "  {}: {}", stage.name, how.join("; "))?;
                    }
                }
                Ok(())
            }
            Event::StageStarted { stage } if self.show_step => {
                writeln!(out, "{}", self.paint(BOLD, &format!("== stage {stage}")))
            }
            Event::StageStarted { .. } | Event::StepStarted { .. } => Ok(()),
            Event::Output { at, stream, line } => {
                let bar = match stream {
                    OutputStream::Stdout => "|".to_string(),
                    OutputStream::Stderr => self.paint(YELLOW, "!"),
                };
                writeln!(out, "{} {bar} {line}", self.prefix(at))
            }
            Event::StepWaiting {
                at,
                waits_for,
                for_hosts,
            } => {
                let what = match waits_for {
                    WaitFor::Barrier => "waits for every host to get here",
                    WaitFor::SerialTurn => "waits for its turn",
                };
                writeln!(
                    out,
                    "{}: {} (on {})",
                    self.prefix(at),
                    self.paint(DIM, what),
                    for_hosts.join(", ")
                )
            }
            Event::StepRetrying {
                at,
                attempt,
                delay_ms,
                reason,
            } => writeln!(
                out,
                "{}: {} {attempt} in {:.1} s ({reason})",
                self.prefix(at),
                self.paint(YELLOW, "retry, attempt"),
                *delay_ms as f64 / 1000.0
            ),
            Event::StepFinished {
                at,
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
                    self.prefix(at),
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
            Event::Diagnosis { at, diagnosis: d } => {
                let head = match &d.id {
                    Some(id) => format!("diagnosis {id}: {}", d.title),
                    // The title says so already ("no known failure matched").
                    None => d.title.clone(),
                };
                writeln!(out, "{}: {}", self.prefix(at), self.paint(RED, &head))?;
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
            Event::Healthy { at, warnings } => {
                let head = format!("{} is healthy", at.stage);
                writeln!(out, "{}: {}", at.host, self.paint(GREEN, &head))?;
                for e in warnings {
                    writeln!(
                        out,
                        "    warning ({}): {}",
                        e.source,
                        self.paint(YELLOW, &e.line)
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

impl PlainPrinter {
    /// The end of a successful run: the node table and the component health with aligned
    /// columns, the admin kubeconfig, the commands to try, the log file. What the run did not
    /// report is said, not made up.
    pub fn write_summary(&self, out: &mut impl Write, s: &ClusterSummary) -> io::Result<()> {
        writeln!(
            out,
            "{}",
            self.paint(BOLD, &format!("== cluster {}", s.cluster))
        )?;
        if let Some(f) = &s.stopped_on {
            let head = format!("the run stopped on a failure: {} — {}", f.place(), f.cause);
            writeln!(out, "{}", self.paint(RED, &head))?;
            if let Some(fix) = &f.fix {
                writeln!(out, "  fix: {fix}")?;
            }
        }
        writeln!(out, "nodes:")?;
        if s.nodes.is_empty() {
            writeln!(out, "  {}", self.paint(DIM, ClusterSummary::NO_NODES))?;
        } else {
            let w = s.node_widths();
            let head = aligned(&NODE_COLUMNS, &w);
            writeln!(out, "  {}", self.paint(BOLD, head.trim_end()))?;
            for n in &s.nodes {
                let cells = n.cells();
                let mut line = aligned(&cells, &w);
                // Only the status is coloured; padded first, so the columns stay aligned.
                let status_at = w[0] + 2;
                let padded = format!("{:<1$}", n.status, w[1]);
                let style = if n.ready() { GREEN } else { RED };
                line.replace_range(
                    status_at..status_at + padded.len(),
                    &self.paint(style, &padded),
                );
                writeln!(out, "  {}", line.trim_end())?;
            }
        }
        writeln!(out, "components:")?;
        if s.components.is_empty() {
            writeln!(out, "  {}", self.paint(DIM, ClusterSummary::NO_COMPONENTS))?;
        } else {
            let (hw, nw) = s.component_widths();
            let head = aligned(&["HOST", "COMPONENT", "STATUS"], &[hw, nw, 0]);
            writeln!(out, "  {}", self.paint(BOLD, head.trim_end()))?;
            for c in &s.components {
                let style = if c.healthy() { GREEN } else { RED };
                writeln!(
                    out,
                    "  {:<hw$}  {:<nw$}  {}",
                    c.host,
                    c.name,
                    self.paint(style, &c.status)
                )?;
            }
        }
        writeln!(out, "admin kubeconfig: {}", s.kubeconfig.display())?;
        if s.next_commands.is_empty() {
            writeln!(
                out,
                "next: {}",
                self.paint(DIM, ClusterSummary::NO_COMMANDS)
            )?;
        } else {
            writeln!(out, "next:")?;
            for c in &s.next_commands {
                writeln!(out, "  {c}")?;
            }
        }
        if let Some(log) = &s.log_file {
            writeln!(out, "log: {}", log.display())?;
        }
        Ok(())
    }
}

/// Cells left-aligned in columns of `widths`, two spaces apart.
fn aligned(cells: &[&str], widths: &[usize]) -> String {
    cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect::<Vec<_>>()
        .join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::SummaryLines;
    use std::path::Path;

    #[test]
    fn the_summary_aligns_its_tables_and_says_what_is_missing() {
        let mut lines = SummaryLines::default();
        for l in [
            "kubewiz-node name=node1 status=Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5 roles=master,node",
            "kubewiz-node name=node-two status=NotReady version=v1.20.2 internal-ip=10.77.0.12 runtime=containerd://1.4.13 roles=node",
            "kubewiz-component host=node1 name=kube-apiserver status=ok",
            "kubewiz-component host=node1 name=etcd status=the apiserver's etcd check failed: reason withheld",
        ] {
            lines.add_line(l);
        }
        let s = ClusterSummary::new(
            "lab",
            &lines,
            Path::new("/c/lab/cluster.yaml"),
            Some(Path::new("/c/lab/logs/kubewiz-apply.log")),
        );
        let p = PlainPrinter::new(false, true);
        let mut buf = vec![];
        p.write_summary(&mut buf, &s).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "== cluster lab\n\
             nodes:\n  \
             NAME      STATUS    VERSION  INTERNAL-IP  RUNTIME              ROLES\n  \
             node1     Ready     v1.20.2  10.77.0.11   docker://20.10.5     master,node\n  \
             node-two  NotReady  v1.20.2  10.77.0.12   containerd://1.4.13  node\n\
             components:\n  \
             HOST   COMPONENT       STATUS\n  \
             node1  kube-apiserver  ok\n  \
             node1  etcd            the apiserver's etcd check failed: reason withheld\n\
             admin kubeconfig: /c/lab/kubeconfigs/admin.conf\n\
             next:\n  \
             kubectl --kubeconfig /c/lab/kubeconfigs/admin.conf get nodes -o wide\n  \
             kubectl --kubeconfig /c/lab/kubeconfigs/admin.conf get pods -A\n  \
             kubewiz kubeconfig -f /c/lab/cluster.yaml --merge\n\
             log: /c/lab/logs/kubewiz-apply.log\n"
        );

        // A run that stopped after the nodes joined: the failure heads the summary.
        let at = crate::events::StepRef::new("addons", "coredns-wait", "node1");
        let stopped = crate::summary::StoppedOn::new(&at, "exited with status 1", None);
        let s = ClusterSummary::new("lab", &lines, Path::new("c.yaml"), None).stopped(stopped);
        let mut buf = vec![];
        p.write_summary(&mut buf, &s).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with(
                "== cluster lab\nthe run stopped on a failure: addons/coredns-wait on node1 — exited with status 1\nnodes:\n"
            ),
            "{text}"
        );

        // A partial run (prep only): nothing invented.
        let s = ClusterSummary::new("lab", &SummaryLines::default(), Path::new("c.yaml"), None);
        let mut buf = vec![];
        p.write_summary(&mut buf, &s).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            format!(
                "== cluster lab\nnodes:\n  {}\ncomponents:\n  {}\nadmin kubeconfig: ./kubeconfigs/admin.conf\nnext: {}\n",
                ClusterSummary::NO_NODES,
                ClusterSummary::NO_COMPONENTS,
                ClusterSummary::NO_COMMANDS
            )
        );
    }
    use crate::events::{SkipReason, StageSummary, StepSummary};
    use crate::plan::StepScope;

    fn render(p: &mut PlainPrinter, ev: Event) -> String {
        let mut buf = vec![];
        p.write(&mut buf, &ev).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn swap_not_applicable() -> Event {
        Event::StepFinished {
            at: StepRef::new("prep", "swap", "node1"),
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
                at: StepRef::new("prep", "swap", "node1"),
                stream: OutputStream::Stdout,
                line: "swap turned off".into(),
            },
        );
        assert_eq!(line, "node1 prep/swap | swap turned off\n");
        let line = render(&mut p, swap_not_applicable());
        assert_eq!(line, "node1 prep/swap: n/a (no swap) (1.23 s)\n");
        assert!(!line.contains('\x1b'));
        let line = render(
            &mut p,
            Event::StepFinished {
                at: StepRef::new("etcd", "health", "node2"),
                outcome: StepOutcome::Skipped {
                    reason: SkipReason::PeerFailed {
                        host: "node1".into(),
                    },
                },
                duration_ms: 0,
                attempt: 0,
            },
        );
        assert_eq!(
            line,
            "node2 etcd/health: skipped (node1 failed before this step, which waits for all hosts) (0.00 s)\n"
        );
        let line = render(
            &mut p,
            Event::StepWaiting {
                at: StepRef::new("etcd", "start", "node1"),
                waits_for: WaitFor::Barrier,
                for_hosts: vec!["node2".into(), "node3".into()],
            },
        );
        assert_eq!(
            line,
            "node1 etcd/start: waits for every host to get here (on node2, node3)\n"
        );
    }

    #[test]
    fn the_plan_line_names_the_cluster_wide_steps() {
        let mut p = PlainPrinter::new(false, true);
        let step = |name: &str, scope, barrier, hosts: &[&str]| StepSummary {
            name: name.into(),
            scope,
            barrier,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        };
        let text = render(
            &mut p,
            Event::PlanStarted {
                cluster: "c".into(),
                stages: vec![
                    StageSummary {
                        name: "prep".into(),
                        steps: vec![step("swap", StepScope::EachHost, false, &["n1", "n2"])],
                        hosts: vec!["n1".into(), "n2".into()],
                    },
                    StageSummary {
                        name: "etcd".into(),
                        steps: vec![
                            step("start", StepScope::EachHost, true, &["n1", "n2"]),
                            step("flannel", StepScope::Serial, false, &["n1", "n2"]),
                            step("report", StepScope::Once, false, &["n1"]),
                        ],
                        hosts: vec!["n1".into(), "n2".into()],
                    },
                ],
                total_steps: 7,
                resumed: false,
            },
        );
        assert_eq!(
            text,
            "kubewiz cluster c: 2 stage(s), 7 steps on 2 host(s)\n  \
             etcd: start waits for all hosts; flannel serial; report once on n1\n"
        );
    }

    #[test]
    fn color_only_when_asked() {
        let mut p = PlainPrinter::new(true, false);
        let line = render(
            &mut p,
            Event::Output {
                at: StepRef::new("exec", "command", "h1"),
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

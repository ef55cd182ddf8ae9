//! When a step fails for good, gather evidence about its host — the step's output tail, the
//! journal of the stage's systemd units, the catalog's probes for the stage over SSH, or, when
//! the host cannot be reached, a TCP connect and a ping from the control machine — and ask the
//! failure catalog what it means.

use crate::diagnose::{reach, Catalog};
use crate::events::Diagnosis;
use crate::ssh::{Connection, ExecRequest, SshError, Stream};
use std::time::Duration;

/// Journal lines per unit: enough to reach the first error after a restart loop.
const JOURNAL_LINES: usize = 80;

/// How the diagnosis can get at the failing host.
pub enum HostAccess<'a> {
    /// A connection (it may have died since the step failed: that is checked first).
    Connected(&'a Connection),
    /// Connecting failed: only the control machine's view of `address:port` is left.
    Unreachable { address: &'a str, port: u16 },
}

/// Evidence lines as (source, line).
pub type Evidence = Vec<(String, String)>;

/// `lines` as evidence from `source`.
pub fn lines_from(source: &str, lines: &[String]) -> Evidence {
    lines
        .iter()
        .map(|l| (source.to_string(), l.clone()))
        .collect()
}

/// The diagnosis of a failure of `stage` on a host, from `known` (what the failure left: the
/// step's output, its message, an SSH error) and what can be gathered now.
pub async fn diagnose(
    access: HostAccess<'_>,
    stage: &str,
    units: &[String],
    known: Evidence,
) -> Diagnosis {
    let catalog = Catalog::builtin();
    let mut evidence = known;
    match access {
        HostAccess::Connected(conn) => match alive(conn).await {
            Ok(()) => evidence.extend(on_host(conn, catalog, stage, units).await),
            // Every probe needs sudo too: each would fail the same way (after sudo's delay, for
            // a wrong password). What the step or health check met already says why.
            Err(e) if e.is_sudo_refusal() => {
                tracing::debug!(host = %conn.host(), error = %e, "no evidence gathered on the host")
            }
            // Gone since the step failed (powered off, sshd stopped): one reconnect was tried;
            // more commands would each wait for another.
            Err(e) => {
                let t = conn.target();
                evidence.push((reach::SSH_SOURCE.to_string(), e.to_string()));
                evidence.extend(from_control_machine(&t.address, t.port).await);
            }
        },
        HostAccess::Unreachable { address, port } => {
            evidence.extend(from_control_machine(address, port).await)
        }
    }
    catalog.diagnose(stage, &evidence)
}

/// The control machine's TCP connect to the SSH port and ping, at once.
async fn from_control_machine(address: &str, port: u16) -> Evidence {
    lines_from(reach::SOURCE, &reach::probe(address, port).await)
}

/// Whether the connection still runs commands as root (reconnecting once if it dropped).
async fn alive(conn: &Connection) -> Result<(), SshError> {
    let req = ExecRequest {
        command: "true".into(),
        sudo: true,
        timeout: Some(Duration::from_secs(10)),
        stdin: None,
    };
    conn.exec(&req, &mut |_| {}).await.map(|_| ())
}

/// Every journal and probe command at once, on channels of the one connection; the evidence
/// keeps their order (journals first, then probes in the catalog's ranking).
async fn on_host(conn: &Connection, catalog: &Catalog, stage: &str, units: &[String]) -> Evidence {
    let mut commands: Vec<(String, String)> = units
        .iter()
        .map(|unit| {
            // The unit's current (or last) run only: older runs' errors would mislead. But a
            // unit systemd keeps restarting (not running, restarted since it was started)
            // may be caught in a run that has not logged its error yet, and the runs before
            // it are the same failure: then its last lines, whatever run they are from.
            let cmd = format!(
                "v() {{ systemctl show -p \"$1\" --value {unit} 2>/dev/null; }}; \
                 id=$(v InvocationID); r=$(v NRestarts); s=$(v SubState); \
                 if [ -n \"$id\" ] && {{ [ \"${{r:-0}}\" = 0 ] || [ \"$s\" = running ]; }}; then \
                 journalctl -o cat -n {JOURNAL_LINES} --no-pager _SYSTEMD_INVOCATION_ID=$id; \
                 else journalctl -u {unit} -o cat -n {JOURNAL_LINES} --no-pager; fi"
            );
            (format!("journalctl -u {unit}"), cmd)
        })
        .collect();
    commands.extend(
        catalog
            .probes_for(stage)
            .into_iter()
            .map(|p| (p.name.clone(), p.command.clone())),
    );
    let outputs = futures::future::join_all(commands.iter().map(|(_, cmd)| run(conn, cmd))).await;
    let mut evidence = vec![];
    for ((source, _), lines) in commands.iter().zip(outputs) {
        evidence.extend(lines.into_iter().map(|l| (source.clone(), l)));
    }
    evidence
}

/// How far back a healthy host's journal is read for warnings: an ongoing failure repeats
/// within seconds (raft probes), and one fixed a few minutes ago no longer shows.
const WARNING_WINDOW: &str = "-3 min";

/// On a healthy host: the known failures its units' journals still show (TLS or raft errors
/// of the current run, in the last minutes), one line per entry with the line that matched.
pub async fn journal_warnings(
    conn: &Connection,
    stage: &str,
    units: &[String],
) -> Vec<crate::events::Evidence> {
    let catalog = Catalog::builtin();
    let mut evidence = vec![];
    for unit in units {
        let cmd = format!(
            "id=$(systemctl show -p InvocationID --value {unit} 2>/dev/null); \
             [ -n \"$id\" ] && journalctl -o cat -n {JOURNAL_LINES} --no-pager --since '{WARNING_WINDOW}' _SYSTEMD_INVOCATION_ID=$id"
        );
        let source = format!("journalctl -u {unit}");
        evidence.extend(lines_from(&source, &run(conn, &cmd).await));
    }
    catalog
        .matches(stage, &evidence)
        .into_iter()
        .filter(|m| m.entry.in_stage(stage) || m.entry.is_root_cause())
        .filter_map(|m| {
            // The latest line is the one that says the failure is still going on.
            let &i = m.lines.last()?;
            Some(crate::events::Evidence {
                source: evidence[i].0.clone(),
                line: format!(
                    "{} {}: {}",
                    m.entry.id,
                    m.entry.title,
                    evidence[i].1.trim_end()
                ),
                matched: true,
            })
        })
        .collect()
}

/// A read-only evidence command; its failure is just less evidence.
async fn run(conn: &Connection, command: &str) -> Vec<String> {
    let req = ExecRequest {
        command: command.to_string(),
        sudo: true,
        timeout: Some(Duration::from_secs(15)),
        stdin: None,
    };
    let mut lines = vec![];
    let _ = conn
        .exec(&req, &mut |l| {
            if l.stream == Stream::Stdout || !l.line.is_empty() {
                lines.push(l.line)
            }
        })
        .await;
    lines
}

//! When a step fails for good, gather evidence on its host — the step's output tail, the
//! journal of the stage's systemd units, the catalog's probes for the stage — and ask the
//! failure catalog what it means.

use crate::diagnose::Catalog;
use crate::events::Diagnosis;
use crate::ssh::{Connection, ExecRequest, Stream};
use std::time::Duration;

/// Journal lines per unit: enough to reach the first error after a restart loop.
const JOURNAL_LINES: usize = 80;

pub async fn diagnose(
    conn: Option<&Connection>,
    stage: &str,
    units: &[String],
    step_output: &[String],
) -> Diagnosis {
    diagnose_with(conn, stage, units, step_output, &[]).await
}

/// [`diagnose`] with evidence gathered elsewhere (a stage's cluster view), as (source, line),
/// put before the host's own.
pub async fn diagnose_with(
    conn: Option<&Connection>,
    stage: &str,
    units: &[String],
    step_output: &[String],
    extra: &[(String, String)],
) -> Diagnosis {
    let catalog = Catalog::builtin();
    let mut evidence: Vec<(String, String)> = extra.to_vec();
    evidence.extend(
        step_output
            .iter()
            .map(|l| ("step output".to_string(), l.clone())),
    );
    if let Some(conn) = conn {
        // Every journal and probe command at once, on channels of the one connection; the
        // evidence keeps their order (journals first, then probes in the catalog's ranking).
        let mut commands: Vec<(String, String)> = units
            .iter()
            .map(|unit| {
                // The unit's current (or last) run only: older runs' errors would mislead.
                let cmd = format!(
                    "id=$(systemctl show -p InvocationID --value {unit} 2>/dev/null); \
                     if [ -n \"$id\" ]; then journalctl -o cat -n {JOURNAL_LINES} --no-pager _SYSTEMD_INVOCATION_ID=$id; \
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
        let outputs =
            futures::future::join_all(commands.iter().map(|(_, cmd)| run(conn, cmd))).await;
        for ((source, _), lines) in commands.iter().zip(outputs) {
            evidence.extend(lines.into_iter().map(|l| (source.clone(), l)));
        }
    }
    catalog.diagnose(stage, &evidence)
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
        evidence.extend(
            run(conn, &cmd)
                .await
                .into_iter()
                .map(|l| (source.clone(), l)),
        );
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

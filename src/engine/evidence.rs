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
    let catalog = Catalog::builtin();
    let mut evidence: Vec<(String, String)> = step_output
        .iter()
        .map(|l| ("step output".to_string(), l.clone()))
        .collect();
    if let Some(conn) = conn {
        // Every journal and probe command at once, on channels of the one connection; the
        // evidence keeps their order (journals first, then probes in the catalog's ranking).
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
        let outputs =
            futures::future::join_all(commands.iter().map(|(_, cmd)| run(conn, cmd))).await;
        for ((source, _), lines) in commands.iter().zip(outputs) {
            evidence.extend(lines.into_iter().map(|l| (source.clone(), l)));
        }
    }
    catalog.diagnose(stage, &evidence)
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

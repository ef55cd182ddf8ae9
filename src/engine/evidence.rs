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
        for unit in units {
            // The unit's current (or last) run only: older runs' errors would mislead.
            let cmd = format!(
                "id=$(systemctl show -p InvocationID --value {unit} 2>/dev/null); \
                 if [ -n \"$id\" ]; then journalctl -o cat -n {JOURNAL_LINES} --no-pager _SYSTEMD_INVOCATION_ID=$id; \
                 else journalctl -u {unit} -o cat -n {JOURNAL_LINES} --no-pager; fi"
            );
            for line in run(conn, &cmd).await {
                evidence.push((format!("journalctl -u {unit}"), line));
            }
        }
        for probe in catalog.probes_for(stage) {
            for line in run(conn, &probe.command).await {
                evidence.push((probe.name.clone(), line));
            }
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

//! Runs one attempt of one step on one host and turns what happened into a StepOutcome.

use crate::events::{OutputStream, StepOutcome};
use crate::plan::{FileSource, Step, StepAction};
use crate::ssh::{
    Connection, ExecRequest, OutputLine, SshError, Stream, UploadRequest, UploadSource,
};
use std::collections::VecDeque;

/// Marker a step script prints to report its result: `KUBEWIZ-RESULT changed|unchanged|na why`.
pub const RESULT_MARKER: &str = "KUBEWIZ-RESULT ";

/// How many trailing output lines a failure carries.
const TAIL_LINES: usize = 20;

pub struct Attempt {
    pub outcome: StepOutcome,
    /// Worth another attempt: a failed exit or a lost connection, not a refused host key.
    pub retryable: bool,
    /// For a failure: which layer failed, so the diagnosis knows what the message is and what
    /// evidence it can still gather.
    pub failed_in: FailedIn,
}

/// Where a failed attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedIn {
    /// The step itself (its exit status, its output).
    Step,
    /// The SSH layer once connected (sudo refused, the connection dropped): the message is an
    /// SSH error's.
    Ssh,
    /// Connecting or logging in: nothing ran on the host, nothing can be gathered there.
    Connect,
}

impl Attempt {
    /// A finished attempt that did not fail in the SSH layer.
    pub fn new(outcome: StepOutcome, retryable: bool) -> Attempt {
        Attempt {
            outcome,
            retryable,
            failed_in: FailedIn::Step,
        }
    }

    /// An attempt the SSH layer failed: `message` is `e` (with context), `last_lines` what the
    /// step printed before.
    pub fn ssh_failure(e: &SshError, message: String, last_lines: Vec<String>) -> Attempt {
        Attempt {
            outcome: StepOutcome::Failed {
                exit_status: None,
                message,
                last_lines,
            },
            retryable: e.is_retryable(),
            failed_in: FailedIn::Ssh,
        }
    }
}

/// Output of the step as it arrives: `emit(stream, line)`.
pub type Emit<'a> = dyn FnMut(OutputStream, String) + Send + 'a;

pub async fn run_attempt(conn: &Connection, step: &Step, emit: &mut Emit<'_>) -> Attempt {
    let sudo = conn.target().sudo;
    match &step.action {
        StepAction::Script {
            script,
            reports_result,
        } => run_script(conn, step, script, *reports_result, sudo, emit).await,
        StepAction::ClockSkew { max_skew_ms } => clock_skew(conn, *max_skew_ms, emit).await,
        StepAction::Files { files, on_change } => {
            let mut changed = false;
            for f in files {
                let source = match &f.source {
                    FileSource::Inline { content, .. } => UploadSource::Bytes(content.clone()),
                    FileSource::Local { path, .. } => UploadSource::File(path.clone()),
                };
                let req = UploadRequest {
                    source,
                    remote_path: f.path.clone(),
                    mode: f.mode,
                    owner: None,
                    sudo,
                };
                match conn.upload(&req).await {
                    Ok(up) => {
                        if up.changed {
                            emit(OutputStream::Stdout, format!("wrote {}", f.path));
                            changed = true;
                        }
                    }
                    Err(e) => return Attempt::ssh_failure(&e, format!("{}: {e}", f.path), vec![]),
                }
            }
            match (changed, on_change) {
                (false, _) => Attempt::new(StepOutcome::Unchanged, false),
                (true, None) => Attempt::new(StepOutcome::Changed, false),
                (true, Some(script)) => {
                    let then = run_script(conn, step, script, false, sudo, emit).await;
                    match then.outcome {
                        StepOutcome::Done => Attempt::new(StepOutcome::Changed, false),
                        _ => then,
                    }
                }
            }
        }
    }
}

async fn run_script(
    conn: &Connection,
    step: &Step,
    script: &str,
    reports_result: bool,
    sudo: bool,
    emit: &mut Emit<'_>,
) -> Attempt {
    let req = ExecRequest {
        command: script.to_string(),
        sudo,
        timeout: Some(step.timeout),
        stdin: None,
    };
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut reported: Option<StepOutcome> = None;
    let result = {
        let mut sink = |l: OutputLine| {
            if reports_result {
                if let Some(rest) = l.line.strip_prefix(RESULT_MARKER) {
                    reported = Some(parse_result(rest));
                    return;
                }
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(l.line.clone());
            let stream = match l.stream {
                Stream::Stdout => OutputStream::Stdout,
                Stream::Stderr => OutputStream::Stderr,
            };
            emit(stream, l.line);
        };
        conn.exec(&req, &mut sink).await
    };
    let last_lines: Vec<String> = tail.into_iter().collect();
    match result {
        Ok(out) if out.exit_status == Some(0) => {
            Attempt::new(reported.unwrap_or(StepOutcome::Done), false)
        }
        Ok(out) => {
            let message = match (&out.exit_status, &out.exit_signal) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended without an exit status".to_string(),
            };
            let failed = StepOutcome::Failed {
                exit_status: out.exit_status,
                message,
                last_lines,
            };
            Attempt::new(failed, true)
        }
        Err(e) => Attempt::ssh_failure(&e, e.to_string(), last_lines),
    }
}

/// This host's clock minus ours, measured against the midpoint of the round trip.
async fn clock_skew(conn: &Connection, max_skew_ms: u64, emit: &mut Emit<'_>) -> Attempt {
    let req = ExecRequest {
        command: "date +%s.%N".into(),
        sudo: false,
        timeout: Some(std::time::Duration::from_secs(10)),
        stdin: None,
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let mut remote = String::new();
    let before = now();
    let result = conn
        .exec(&req, &mut |l| {
            if l.stream == Stream::Stdout {
                remote = l.line;
            }
        })
        .await;
    let after = now();
    let failed = |message: String| {
        let outcome = StepOutcome::Failed {
            exit_status: None,
            message,
            last_lines: vec![],
        };
        Attempt::new(outcome, true)
    };
    if let Err(e) = result {
        return Attempt::ssh_failure(&e, e.to_string(), vec![]);
    }
    let Ok(remote_secs) = remote.trim().parse::<f64>() else {
        return failed(format!("`date +%s.%N` printed {remote:?}, not a time"));
    };
    let offset = remote_secs - (before + after) / 2.0;
    let line = format!(
        "clock offset {offset:+.3} s against this machine (round trip {:.0} ms)",
        (after - before) * 1000.0
    );
    emit(OutputStream::Stdout, line);
    if offset.abs() * 1000.0 > max_skew_ms as f64 {
        // The wording is the failure catalog's H4 signature.
        let mut a = failed(format!(
            "clock skew across hosts: {:.1}s > {:.0}s (this host against the machine running \
             kubewiz, which signs the certificates): etcd peers reject each other and certificates \
             look expired or not yet valid; turn on time sync (chrony or systemd-timesyncd)",
            offset.abs(),
            max_skew_ms as f64 / 1000.0
        ));
        a.retryable = false;
        return a;
    }
    Attempt::new(StepOutcome::Unchanged, false)
}

fn parse_result(rest: &str) -> StepOutcome {
    let rest = rest.trim();
    let (word, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    match word {
        "changed" => StepOutcome::Changed,
        "unchanged" => StepOutcome::Unchanged,
        "na" => StepOutcome::NotApplicable {
            reason: reason.trim().to_string(),
        },
        other => StepOutcome::Failed {
            exit_status: Some(0),
            message: format!("the step reported an unknown result {other:?}"),
            last_lines: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        assert_eq!(parse_result("changed"), StepOutcome::Changed);
        assert_eq!(parse_result("unchanged\n"), StepOutcome::Unchanged);
        assert_eq!(
            parse_result("na firewalld is not installed"),
            StepOutcome::NotApplicable {
                reason: "firewalld is not installed".into()
            }
        );
        assert!(parse_result("maybe").is_failure());
    }
}

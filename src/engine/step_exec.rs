//! Runs one attempt of one step on one host and turns what happened into a StepOutcome.

use crate::events::{OutputStream, StepOutcome};
use crate::plan::{Step, StepAction};
use crate::ssh::{Connection, ExecRequest, OutputLine, Stream, UploadRequest, UploadSource};
use std::collections::VecDeque;

/// Marker a step script prints to report its result: `KUBEWIZ-RESULT changed|unchanged|na why`.
pub const RESULT_MARKER: &str = "KUBEWIZ-RESULT ";

/// How many trailing output lines a failure carries.
const TAIL_LINES: usize = 20;

pub struct Attempt {
    pub outcome: StepOutcome,
    /// Worth another attempt: a failed exit or a lost connection, not a refused host key.
    pub retryable: bool,
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
        StepAction::File {
            path,
            content,
            mode,
            on_change,
        } => {
            let req = UploadRequest {
                source: UploadSource::Bytes(content.clone().into_bytes()),
                remote_path: path.clone(),
                mode: *mode,
                owner: None,
                sudo,
            };
            match conn.upload(&req).await {
                Ok(up) if !up.changed => Attempt {
                    outcome: StepOutcome::Unchanged,
                    retryable: false,
                },
                Ok(_) => match on_change {
                    None => Attempt {
                        outcome: StepOutcome::Changed,
                        retryable: false,
                    },
                    Some(script) => {
                        let then = run_script(conn, step, script, false, sudo, emit).await;
                        match then.outcome {
                            StepOutcome::Done => Attempt {
                                outcome: StepOutcome::Changed,
                                retryable: false,
                            },
                            _ => then,
                        }
                    }
                },
                Err(e) => Attempt {
                    retryable: e.is_retryable(),
                    outcome: StepOutcome::Failed {
                        exit_status: None,
                        message: e.to_string(),
                        last_lines: vec![],
                    },
                },
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
        Ok(out) if out.exit_status == Some(0) => Attempt {
            outcome: reported.unwrap_or(StepOutcome::Done),
            retryable: false,
        },
        Ok(out) => {
            let message = match (&out.exit_status, &out.exit_signal) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended without an exit status".to_string(),
            };
            Attempt {
                outcome: StepOutcome::Failed {
                    exit_status: out.exit_status,
                    message,
                    last_lines,
                },
                retryable: true,
            }
        }
        Err(e) => Attempt {
            retryable: e.is_retryable(),
            outcome: StepOutcome::Failed {
                exit_status: None,
                message: e.to_string(),
                last_lines,
            },
        },
    }
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

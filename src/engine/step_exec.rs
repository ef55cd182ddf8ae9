//! Runs one attempt of one step on one host and turns what happened into a StepOutcome.

use crate::events::{OutputStream, StepOutcome};
use crate::plan::{FileSource, Step, StepAction};
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
                    Err(e) => {
                        return Attempt {
                            retryable: e.is_retryable(),
                            outcome: StepOutcome::Failed {
                                exit_status: None,
                                message: format!("{}: {e}", f.path),
                                last_lines: vec![],
                            },
                        }
                    }
                }
            }
            match (changed, on_change) {
                (false, _) => Attempt {
                    outcome: StepOutcome::Unchanged,
                    retryable: false,
                },
                (true, None) => Attempt {
                    outcome: StepOutcome::Changed,
                    retryable: false,
                },
                (true, Some(script)) => {
                    let then = run_script(conn, step, script, false, sudo, emit).await;
                    match then.outcome {
                        StepOutcome::Done => Attempt {
                            outcome: StepOutcome::Changed,
                            retryable: false,
                        },
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
    let failed = |message: String| Attempt {
        outcome: StepOutcome::Failed {
            exit_status: None,
            message,
            last_lines: vec![],
        },
        retryable: true,
    };
    if let Err(e) = result {
        return failed(e.to_string());
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
    Attempt {
        outcome: StepOutcome::Unchanged,
        retryable: false,
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

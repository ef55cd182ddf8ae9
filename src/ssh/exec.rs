//! Running one command on an open session channel: streamed output lines, exit status,
//! timeout, stdin, sudo (with or without password).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::future::OptionFuture;
use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::error::{summarize, SshError};
use super::lines::LineSplitter;
use super::shell::{wrap_command, SudoMode, STARTED, SUDO_PROMPT};
use super::target::Secret;

/// A command to run on a host. The command is run by `sh -c` (quoted), whatever the user's
/// login shell. Commands must not contain secrets (they are logged at debug level).
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub command: String,
    /// Run as root: through `sudo` unless the target user is root.
    pub sudo: bool,
    /// Stop the command and fail with [`SshError::Timeout`] after this long.
    pub timeout: Option<Duration>,
    /// Bytes written to the command's stdin, then EOF. `None`: EOF at once.
    pub stdin: Option<Vec<u8>>,
}

impl ExecRequest {
    pub fn new(command: impl Into<String>) -> ExecRequest {
        ExecRequest {
            command: command.into(),
            ..ExecRequest::default()
        }
    }

    pub fn sudo(mut self, sudo: bool) -> ExecRequest {
        self.sudo = sudo;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> ExecRequest {
        self.timeout = Some(timeout);
        self
    }

    pub fn stdin(mut self, stdin: impl Into<Vec<u8>>) -> ExecRequest {
        self.stdin = Some(stdin.into());
        self
    }
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One complete output line (no `\n`, no trailing `\r`; invalid UTF-8 replaced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub line: String,
}

/// How a command ended. A non-zero status is not an error of the SSH layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_status: Option<u32>,
    /// Signal name without `SIG` (e.g. `KILL`) when the command was killed by a signal.
    pub exit_signal: Option<String>,
}

impl ExecOutcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }
}

/// What is fed to the command's stdin.
pub(crate) enum Stdin {
    Empty,
    Bytes(Vec<u8>),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

/// Everything about one run but the channel, the stdin and the sink.
pub(crate) struct RunSpec<'a> {
    pub host: &'a str,
    pub command: &'a str,
    pub mode: SudoMode,
    pub sudo_password: Option<&'a Secret>,
    pub timeout: Option<Duration>,
}

type StdinTask = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

fn start_stdin(tx: &russh::ChannelWriteHalf<Msg>, stdin: Stdin) -> StdinTask {
    let mut w = tx.make_writer();
    Box::pin(async move {
        match stdin {
            Stdin::Empty => {}
            Stdin::Bytes(b) => {
                if !b.is_empty() {
                    w.write_all(&b).await?;
                }
            }
            Stdin::Reader(mut r) => {
                tokio::io::copy(&mut r, &mut w).await?;
            }
        }
        w.shutdown().await // sends EOF
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn signal_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(c) => c.as_str(),
    }
    .to_owned()
}

enum Event {
    Msg(Option<ChannelMsg>),
    StdinDone(std::io::Result<()>),
    Timeout,
}

/// Runs `spec` on `channel` (a fresh session channel), forwarding output lines to `sink` as
/// they arrive. `pgid` receives the remote process group once the command has started (to
/// stop it after a timeout).
pub(crate) async fn run(
    channel: Channel<Msg>,
    spec: RunSpec<'_>,
    stdin: Stdin,
    sink: &mut (dyn FnMut(OutputLine) + Send),
    pgid: &mut Option<u32>,
) -> Result<ExecOutcome, SshError> {
    let host = spec.host;
    let during = || format!("`{}`", summarize(spec.command, 80));
    let (mut rx, tx) = channel.split();

    let wrapped = wrap_command(spec.command, spec.mode);
    tx.exec(true, wrapped.into_bytes())
        .await
        .map_err(|_| SshError::Disconnected {
            host: host.to_owned(),
            during: during(),
        })?;

    let mut out = LineSplitter::new();
    let mut err = LineSplitter::new();
    let emit_out = |l: String, sink: &mut (dyn FnMut(OutputLine) + Send)| {
        sink(OutputLine {
            stream: Stream::Stdout,
            line: l,
        })
    };
    let emit_err = |l: String, sink: &mut (dyn FnMut(OutputLine) + Send)| {
        sink(OutputLine {
            stream: Stream::Stderr,
            line: l,
        })
    };

    // Until the wrapper announces that the command starts, stderr belongs to sudo (or to
    // the shell): watch it for sudo's password prompt and for the "started" line. Stdin is
    // held back until then so that neither sudo reads the command's input as a password nor
    // the command reads the password.
    let mut pending = true;
    let mut pre: Vec<u8> = Vec::new();
    let mut password_sent = false;
    let mut stdin = Some(stdin);
    let mut writer: Option<StdinTask> = None;

    let sleep = async {
        match spec.timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);

    let mut outcome = ExecOutcome::default();
    let mut closed = false;
    loop {
        let event = tokio::select! {
            m = rx.wait() => Event::Msg(m),
            r = OptionFuture::from(writer.as_mut()), if writer.is_some() => {
                Event::StdinDone(r.unwrap_or(Ok(())))
            }
            _ = &mut sleep => Event::Timeout,
        };
        match event {
            Event::Timeout => {
                tracing::debug!(host, "command timed out; stopping it");
                let _ = tx.signal(Sig::KILL).await;
                let _ = tx.eof().await;
                let _ = tx.close().await;
                return Err(SshError::Timeout {
                    host: host.to_owned(),
                    after: spec.timeout.unwrap_or_default(),
                });
            }
            Event::StdinDone(r) => {
                if let Err(e) = r {
                    tracing::debug!(host, error = %e, "stdin not fully delivered");
                }
                writer = None;
            }
            Event::Msg(None) => break,
            Event::Msg(Some(msg)) => match msg {
                ChannelMsg::Data { data } => out.push(&data, |l| emit_out(l, sink)),
                ChannelMsg::ExtendedData { data, ext: 1 } if pending => {
                    pre.extend_from_slice(&data);
                    if let Some(pos) = find(&pre, SUDO_PROMPT.as_bytes()) {
                        pre.drain(pos..pos + SUDO_PROMPT.len());
                        match (spec.sudo_password, password_sent) {
                            (Some(pw), false) => {
                                let mut line = Vec::with_capacity(pw.expose().len() + 1);
                                line.extend_from_slice(pw.expose().as_bytes());
                                line.push(b'\n');
                                tx.data(&line[..])
                                    .await
                                    .map_err(|_| SshError::Disconnected {
                                        host: host.to_owned(),
                                        during: during(),
                                    })?;
                                password_sent = true;
                            }
                            (Some(_), true) => {
                                let _ = tx.close().await;
                                return Err(SshError::SudoPasswordWrong {
                                    host: host.to_owned(),
                                });
                            }
                            (None, _) => {
                                let _ = tx.close().await;
                                return Err(SshError::SudoPasswordRequired {
                                    host: host.to_owned(),
                                });
                            }
                        }
                    }
                    if let Some(pos) = find(&pre, STARTED.as_bytes()) {
                        if let Some(nl) = pre[pos..].iter().position(|&b| b == b'\n') {
                            let end = pos + nl;
                            let announced = String::from_utf8_lossy(&pre[pos + STARTED.len()..end]);
                            *pgid = announced.trim().parse().ok().filter(|&p: &u32| p > 1);
                            // Whatever sudo printed before (lecture, warnings) is passed on.
                            let before = String::from_utf8_lossy(&pre[..pos]).into_owned();
                            for l in before.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                                emit_err(l.to_owned(), sink);
                            }
                            err.push(&pre[end + 1..], |l| emit_err(l, sink));
                            pre.clear();
                            pending = false;
                            writer = stdin.take().map(|s| start_stdin(&tx, s));
                        }
                    }
                }
                ChannelMsg::ExtendedData { data, .. } => err.push(&data, |l| emit_err(l, sink)),
                ChannelMsg::ExitStatus { exit_status } => outcome.exit_status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    outcome.exit_signal = Some(self::signal_name(&signal_name))
                }
                ChannelMsg::Failure => {
                    let _ = tx.close().await;
                    return Err(SshError::Channel {
                        host: host.to_owned(),
                        during: during(),
                        reason: "the server refused to run the command".to_owned(),
                    });
                }
                ChannelMsg::Close => {
                    closed = true;
                    break;
                }
                _ => {}
            },
        }
    }

    if !closed && outcome.exit_status.is_none() && outcome.exit_signal.is_none() {
        return Err(SshError::Disconnected {
            host: host.to_owned(),
            during: during(),
        });
    }
    if pending {
        if spec.mode != SudoMode::None {
            return Err(sudo_failure(host, &pre, &outcome));
        }
        // The shell itself failed before the command (odd login shell?): pass on what it said.
        let text = String::from_utf8_lossy(&pre).into_owned();
        for l in text.lines() {
            emit_err(l.trim_end_matches('\r').to_owned(), sink);
        }
    }
    out.finish(|l| emit_out(l, sink));
    err.finish(|l| emit_err(l, sink));
    tracing::debug!(
        host,
        exit_status = ?outcome.exit_status,
        exit_signal = ?outcome.exit_signal,
        "command finished"
    );
    Ok(outcome)
}

/// Sudo ended without starting the command: say why, from what it printed.
fn sudo_failure(host: &str, pre: &[u8], outcome: &ExecOutcome) -> SshError {
    let text = String::from_utf8_lossy(pre).replace(SUDO_PROMPT, "");
    let lower = text.to_ascii_lowercase();
    if lower.contains("password is required") || lower.contains("terminal is required") {
        SshError::SudoPasswordRequired {
            host: host.to_owned(),
        }
    } else if lower.contains("incorrect password") {
        SshError::SudoPasswordWrong {
            host: host.to_owned(),
        }
    } else {
        let msg = text.trim();
        let message = if msg.is_empty() {
            format!(
                "sudo ended (exit status {:?}) before running the command",
                outcome.exit_status
            )
        } else {
            msg.lines().take(5).collect::<Vec<_>>().join(" / ")
        };
        SshError::Sudo {
            host: host.to_owned(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_failures_are_classified() {
        let o = ExecOutcome {
            exit_status: Some(1),
            exit_signal: None,
        };
        assert!(matches!(
            sudo_failure("h", b"sudo: a password is required\n", &o),
            SshError::SudoPasswordRequired { .. }
        ));
        assert!(matches!(
            sudo_failure("h", b"sudo: 3 incorrect password attempts\n", &o),
            SshError::SudoPasswordWrong { .. }
        ));
        match sudo_failure("h", b"ops is not in the sudoers file.\n", &o) {
            SshError::Sudo { message, .. } => assert!(message.contains("sudoers")),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn find_bytes() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
    }
}

//! [`SshError`]: every failure of the SSH layer, each naming the host and saying what to do.

use std::path::PathBuf;
use std::time::Duration;

/// Errors of the SSH layer. `host` fields read `name (address:port)`.
/// No variant ever carries a password or passphrase.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {host}: {reason}; check that the machine is up, that the address and port are right and that sshd is running")]
    Connect { host: String, reason: String },

    #[error("connecting to {host} timed out after {after:?}; check that the machine is up and that nothing blocks port 22 (or the configured port)")]
    ConnectTimeout { host: String, after: Duration },

    #[error("the host key of {host} is not known ({key_type} {fingerprint}); verify the fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and accept it, or add it to a known_hosts file")]
    HostKeyUnknown {
        host: String,
        fingerprint: String,
        key_type: String,
    },

    #[error("HOST KEY CHANGED for {host}: {file}:{line} records {expected} but the server presented {presented}; this may be a man-in-the-middle attack; if the machine was legitimately reinstalled, remove that line and connect again", file = file.display())]
    HostKeyChanged {
        host: String,
        file: PathBuf,
        line: usize,
        expected: String,
        presented: String,
    },

    #[error("cannot use known_hosts file {file} for {host}: {reason}; fix its permissions or contents", file = file.display())]
    KnownHosts {
        host: String,
        file: PathBuf,
        reason: String,
    },

    #[error("the private key {path} is encrypted; give its passphrase", path = path.display())]
    KeyEncrypted { path: PathBuf },

    #[error("the passphrase for private key {path} is wrong; give the right one", path = path.display())]
    KeyPassphraseWrong { path: PathBuf },

    #[error("cannot load private key {path}: {reason}; check the path and that it is an OpenSSH or PEM private key (ed25519, RSA or ECDSA)", path = path.display())]
    KeyLoad { path: PathBuf, reason: String },

    #[error("cannot use ssh-agent for {host}: {reason}; start an agent and add your key (ssh-add), or use a key file")]
    Agent { host: String, reason: String },

    #[error("{host} rejected login as {user} with {method}; check the user name and that the key is in ~{user}/.ssh/authorized_keys (or the password)")]
    AuthRejected {
        host: String,
        user: String,
        method: String,
    },

    #[error("sudo on {host} needs a password; give the sudo password for this host, or configure passwordless sudo (NOPASSWD) for the user")]
    SudoPasswordRequired { host: String },

    #[error(
        "sudo on {host} rejected the sudo password; give the right sudo password for this host"
    )]
    SudoPasswordWrong { host: String },

    #[error(
        "sudo failed on {host}: {message}; make sure the user may run commands as root with sudo"
    )]
    Sudo { host: String, message: String },

    #[error("a command on {host} did not finish within {after:?}; it was stopped; check the machine or raise the timeout")]
    Timeout { host: String, after: Duration },

    #[error("the connection to {host} dropped during {during}; the result of that command is unknown; check the machine and run again (the next command reconnects)")]
    Disconnected { host: String, during: String },

    #[error("SSH protocol failure with {host} during {during}: {reason}; run again, and check the machine's sshd log if it persists")]
    Channel {
        host: String,
        during: String,
        reason: String,
    },

    #[error("upload of {remote_path} to {host} failed: {reason}")]
    Upload {
        host: String,
        remote_path: String,
        reason: String,
    },

    #[error("cannot read local file {path} for {host}: {reason}; check that it exists and is readable", path = path.display())]
    LocalFile {
        host: String,
        path: PathBuf,
        reason: String,
    },
}

impl SshError {
    /// Whether trying again may help: a lost or refused connection, a timeout, a failed
    /// transfer. Not for host-key, login, key or sudo-password problems (the user must act).
    pub fn is_retryable(&self) -> bool {
        use SshError::*;
        match self {
            Connect { .. }
            | ConnectTimeout { .. }
            | Timeout { .. }
            | Disconnected { .. }
            | Channel { .. }
            | Upload { .. } => true,
            HostKeyUnknown { .. }
            | HostKeyChanged { .. }
            | KnownHosts { .. }
            | KeyEncrypted { .. }
            | KeyPassphraseWrong { .. }
            | KeyLoad { .. }
            | Agent { .. }
            | AuthRejected { .. }
            | SudoPasswordRequired { .. }
            | SudoPasswordWrong { .. }
            | Sudo { .. }
            | LocalFile { .. } => false,
        }
    }

    /// Sudo refused to run a command as root (a password needed, a wrong one, no sudo rule):
    /// every other command with sudo on that host fails the same way.
    pub fn is_sudo_refusal(&self) -> bool {
        use SshError::*;
        matches!(
            self,
            SudoPasswordRequired { .. } | SudoPasswordWrong { .. } | Sudo { .. }
        )
    }

    /// The `name (address:port)` of the host concerned, when the error is about one host.
    pub fn host(&self) -> Option<&str> {
        use SshError::*;
        match self {
            Connect { host, .. }
            | ConnectTimeout { host, .. }
            | HostKeyUnknown { host, .. }
            | HostKeyChanged { host, .. }
            | KnownHosts { host, .. }
            | Agent { host, .. }
            | AuthRejected { host, .. }
            | SudoPasswordRequired { host }
            | SudoPasswordWrong { host }
            | Sudo { host, .. }
            | Timeout { host, .. }
            | Disconnected { host, .. }
            | Channel { host, .. }
            | Upload { host, .. }
            | LocalFile { host, .. } => Some(host),
            KeyEncrypted { .. } | KeyPassphraseWrong { .. } | KeyLoad { .. } => None,
        }
    }
}

/// First `max` characters of a command, on one line, for messages and tracing.
pub(crate) fn summarize(command: &str, max: usize) -> String {
    let one_line: String = command
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > max {
        let mut s: String = trimmed.chars().take(max).collect();
        s.push('…');
        s
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_cuts_and_flattens() {
        assert_eq!(summarize("echo hi\nls", 80), "echo hi ls");
        assert_eq!(summarize("abcdef", 3), "abc…");
    }
}

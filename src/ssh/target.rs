//! Who to connect to and how to log in: [`SshTarget`], [`SshAuth`], [`Secret`].

use std::fmt;
use std::path::PathBuf;

/// A password or passphrase. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Only for handing it to the SSH library or to sudo's stdin.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to authenticate to a host.
#[derive(Clone, Debug)]
pub enum SshAuth {
    /// A private key file (ed25519, RSA or ECDSA, OpenSSH or PEM format).
    KeyFile {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
    /// Every identity of the ssh-agent at `SSH_AUTH_SOCK`, in turn.
    Agent,
    Password(Secret),
}

impl SshAuth {
    /// Short description for messages ("key /root/.ssh/id_ed25519", "ssh-agent", "password").
    pub fn describe(&self) -> String {
        match self {
            SshAuth::KeyFile { path, .. } => format!("key {}", path.display()),
            SshAuth::Agent => "ssh-agent".to_owned(),
            SshAuth::Password(_) => "password".to_owned(),
        }
    }
}

/// One machine to reach over SSH.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// Host name used in messages (the node's name in the cluster file).
    pub name: String,
    /// IP address or DNS name to connect to; also the name looked up in known_hosts.
    pub address: String,
    pub port: u16,
    pub user: String,
    pub auth: SshAuth,
    /// Whether privileged commands may use sudo (ignored when `user` is root).
    pub sudo: bool,
    /// Password for sudo when the user has no passwordless sudo.
    pub sudo_password: Option<Secret>,
}

impl SshTarget {
    /// `name (address:port)`, used in every error and log line about this host.
    pub fn label(&self) -> String {
        host_label(&self.name, &self.address, self.port)
    }

    /// Whether commands asked to run with sudo actually need the `sudo` wrapper.
    pub fn needs_sudo(&self, wants_sudo: bool) -> bool {
        wants_sudo && self.user != "root"
    }
}

pub(crate) fn host_label(name: &str, address: &str, port: u16) -> String {
    let addr = if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    };
    if name.is_empty() || name == address {
        addr
    } else {
        format!("{name} ({addr})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_printed() {
        let s = Secret::from("hunter2".to_owned());
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
        let t = SshTarget {
            name: "n1".into(),
            address: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            auth: SshAuth::Password("pw-secret".into()),
            sudo: true,
            sudo_password: Some("sudo-secret".into()),
        };
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("pw-secret") && !dbg.contains("sudo-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(host_label("n1", "10.0.0.1", 22), "n1 (10.0.0.1:22)");
        assert_eq!(host_label("10.0.0.1", "10.0.0.1", 2222), "10.0.0.1:2222");
        assert_eq!(host_label("n1", "fe80::1", 22), "n1 ([fe80::1]:22)");
    }
}

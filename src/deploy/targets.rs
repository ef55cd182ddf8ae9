//! From the cluster file's hosts to SSH targets: secrets are looked up here (environment or a
//! prompt on the terminal), never read from the file.

use crate::cluster_dir::ClusterDir;
use crate::config::{AuthSpec, ResolvedHost};
use crate::ssh::{HostKeyPolicy, Secret, SshAuth, SshTarget};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Password for sudo on hosts whose user is not root and whose sudo asks for one.
pub const SUDO_PASSWORD_ENV: &str = "KUBEWIZ_SUDO_PASSWORD";

pub fn host_key_policy(dir: &ClusterDir, accept_new: bool) -> HostKeyPolicy {
    let mut known_hosts = vec![];
    if let Some(home) = std::env::var_os("HOME") {
        let user_file = PathBuf::from(home).join(".ssh/known_hosts");
        if user_file.exists() {
            known_hosts.push(user_file);
        }
    }
    known_hosts.push(dir.known_hosts());
    HostKeyPolicy {
        known_hosts,
        learn_file: dir.known_hosts(),
        accept_new,
    }
}

/// Where secrets may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// The environment, else a prompt when stdin is a terminal (headless commands).
    EnvOrPrompt,
    /// The environment only (the TUI owns the terminal: nothing may prompt on it).
    EnvOnly,
}

/// Build one target per host. Prompts (once per env var / user@host) only on a terminal.
pub fn ssh_targets(hosts: &[ResolvedHost]) -> Result<Vec<SshTarget>> {
    ssh_targets_from(hosts, Secrets::EnvOrPrompt)
}

/// One target per host, the secrets from where `secrets` allows (each asked once).
pub fn ssh_targets_from(hosts: &[ResolvedHost], secrets: Secrets) -> Result<Vec<SshTarget>> {
    let mut asked = HashMap::new();
    hosts
        .iter()
        .map(|h| ssh_target(h, secrets, &mut asked))
        .collect()
}

/// One host's target. `asked` remembers passwords already entered, so a password shared by
/// several hosts (the same env var) is asked once.
pub fn ssh_target(
    h: &ResolvedHost,
    secrets: Secrets,
    asked: &mut HashMap<String, Secret>,
) -> Result<SshTarget> {
    let auth = match &h.auth {
        AuthSpec::Agent => SshAuth::Agent,
        AuthSpec::Key {
            key_file,
            passphrase_env,
        } => {
            let from_env = passphrase_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .map(Secret::from);
            let key = format!("passphrase of {}", key_file.display());
            let passphrase = match from_env {
                Some(p) => Some(p),
                None if secrets == Secrets::EnvOrPrompt
                    && crate::ssh::key_is_encrypted(key_file) =>
                {
                    match asked.get(&key) {
                        Some(p) => Some(p.clone()),
                        None => {
                            let p = secret_from_env_or_prompt(
                                None,
                                "passphrase_env",
                                true,
                                &format!("Passphrase for {}: ", key_file.display()),
                                &format!(
                                    "the key {} of host {} is encrypted",
                                    key_file.display(),
                                    h.name
                                ),
                            )?;
                            asked.insert(key, p.clone());
                            Some(p)
                        }
                    }
                }
                // The connect says "encrypted; give its passphrase" (set passphrase_env).
                None => None,
            };
            SshAuth::KeyFile {
                path: key_file.clone(),
                passphrase,
            }
        }
        AuthSpec::Password { password_env } => {
            let key = password_env
                .clone()
                .unwrap_or_else(|| format!("{}@{}", h.user, h.name));
            let secret = match asked.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = secret_from_env_or_prompt(
                        password_env.as_deref(),
                        "password_env",
                        secrets == Secrets::EnvOrPrompt,
                        &format!("SSH password for {}@{} ({}): ", h.user, h.name, h.address),
                        &format!("host {} uses password auth", h.name),
                    )?;
                    asked.insert(key, s.clone());
                    s
                }
            };
            SshAuth::Password(secret)
        }
    };
    // With password auth the same password usually unlocks sudo.
    let sudo_password = std::env::var(SUDO_PASSWORD_ENV)
        .ok()
        .map(Secret::from)
        .or(match &auth {
            SshAuth::Password(p) => Some(p.clone()),
            _ => None,
        });
    Ok(SshTarget {
        name: h.name.clone(),
        address: h.address.to_string(),
        port: h.port,
        user: h.user.clone(),
        auth,
        sudo: h.sudo && h.user != "root",
        sudo_password,
    })
}

/// `field` names the cluster-file key that points at an env var (for the error message).
fn secret_from_env_or_prompt(
    env: Option<&str>,
    field: &str,
    may_prompt: bool,
    prompt: &str,
    what: &str,
) -> Result<Secret> {
    if let Some(var) = env {
        if let Ok(v) = std::env::var(var) {
            return Ok(Secret::from(v));
        }
    }
    if !may_prompt || !std::io::stdin().is_terminal() {
        bail!(
            "{what}: set {} or run on a terminal to be prompted",
            env.map(|v| format!("the environment variable {v}"))
                .unwrap_or_else(|| format!("{field} in the cluster file"))
        );
    }
    Ok(Secret::from(rpassword::prompt_password(prompt)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    fn host_with_key(path: &std::path::Path) -> ResolvedHost {
        ResolvedHost {
            name: "n1".into(),
            address: "10.77.0.11".parse().unwrap(),
            port: 22,
            user: "kube".into(),
            auth: AuthSpec::Key {
                key_file: path.to_path_buf(),
                passphrase_env: None,
            },
            sudo: true,
            roles: vec![Role::Node],
        }
    }

    fn keygen(dir: &std::path::Path, passphrase: &str) -> std::path::PathBuf {
        let path = dir.join(format!("key{}", passphrase.len()));
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        path
    }

    #[test]
    fn an_encrypted_key_without_a_terminal_names_the_field_to_set() {
        let dir = tempfile::tempdir().unwrap();
        let plain = keygen(dir.path(), "");
        let locked = keygen(dir.path(), "s3cret-pass");
        assert!(!crate::ssh::key_is_encrypted(&plain));
        assert!(crate::ssh::key_is_encrypted(&locked));
        let mut asked = HashMap::new();
        // Plain key: no passphrase, no prompt.
        let t = ssh_target(&host_with_key(&plain), Secrets::EnvOrPrompt, &mut asked).unwrap();
        assert!(matches!(
            t.auth,
            SshAuth::KeyFile {
                passphrase: None,
                ..
            }
        ));
        assert!(t.sudo);
        // Encrypted key: tests have no terminal on stdin, so the error says what to set
        // (and the TUI, which never prompts, leaves it to the connect's own message).
        if !std::io::stdin().is_terminal() {
            let err = ssh_target(&host_with_key(&locked), Secrets::EnvOrPrompt, &mut asked)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("is encrypted") && err.contains("passphrase_env"),
                "{err}"
            );
        }
        let t = ssh_target(&host_with_key(&locked), Secrets::EnvOnly, &mut asked).unwrap();
        assert!(matches!(
            t.auth,
            SshAuth::KeyFile {
                passphrase: None,
                ..
            }
        ));
    }
}

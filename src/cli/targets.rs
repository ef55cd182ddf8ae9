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

/// Build one target per host. Prompts (once per env var / key file) only on a terminal.
pub fn ssh_targets(hosts: &[ResolvedHost]) -> Result<Vec<SshTarget>> {
    let mut asked: HashMap<String, Secret> = HashMap::new();
    let sudo_password = std::env::var(SUDO_PASSWORD_ENV).ok().map(Secret::from);
    let mut targets = vec![];
    for h in hosts {
        let auth = match &h.auth {
            AuthSpec::Agent => SshAuth::Agent,
            AuthSpec::Key {
                key_file,
                passphrase_env,
            } => SshAuth::KeyFile {
                path: key_file.clone(),
                passphrase: passphrase_env
                    .as_ref()
                    .and_then(|v| std::env::var(v).ok())
                    .map(Secret::from),
            },
            AuthSpec::Password { password_env } => {
                let key = password_env
                    .clone()
                    .unwrap_or_else(|| format!("{}@{}", h.user, h.name));
                let secret = match asked.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        let s = secret_from_env_or_prompt(
                            password_env.as_deref(),
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
        let sudo_pw = sudo_password.clone().or(match &auth {
            SshAuth::Password(p) => Some(p.clone()),
            _ => None,
        });
        targets.push(SshTarget {
            name: h.name.clone(),
            address: h.address.to_string(),
            port: h.port,
            user: h.user.clone(),
            auth,
            sudo: h.sudo && h.user != "root",
            sudo_password: sudo_pw,
        });
    }
    Ok(targets)
}

fn secret_from_env_or_prompt(env: Option<&str>, prompt: &str, what: &str) -> Result<Secret> {
    if let Some(var) = env {
        if let Ok(v) = std::env::var(var) {
            return Ok(Secret::from(v));
        }
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what}: set {} or run on a terminal to be prompted",
            env.map(|v| format!("the environment variable {v}"))
                .unwrap_or_else(|| "password_env in the cluster file".into())
        );
    }
    Ok(Secret::from(rpassword::prompt_password(prompt)?))
}

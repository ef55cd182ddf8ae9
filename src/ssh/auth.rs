//! User authentication on a fresh connection: key file, ssh-agent or password.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle, Handler, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::MethodKind;

use super::error::SshError;
use super::target::{Secret, SshAuth};

/// Loads a private key, telling an encrypted key (no passphrase given) and a wrong
/// passphrase apart. Runs the KDF off the async threads.
pub async fn load_private_key(
    path: &Path,
    passphrase: Option<&Secret>,
) -> Result<PrivateKey, SshError> {
    let path_buf = path.to_path_buf();
    let pass = passphrase.cloned();
    let res = tokio::task::spawn_blocking(move || {
        let first = russh::keys::load_secret_key(&path_buf, pass.as_ref().map(Secret::expose));
        match first {
            Err(e) if pass.is_some() && !matches!(e, russh::keys::Error::IO(_)) => {
                // Was it the passphrase? Then the key is encrypted without one.
                match russh::keys::load_secret_key(&path_buf, None) {
                    Err(russh::keys::Error::KeyIsEncrypted) => Err(None),
                    _ => Err(Some(e.to_string())),
                }
            }
            Err(russh::keys::Error::KeyIsEncrypted) => Err(None),
            Err(e) => Err(Some(e.to_string())),
            Ok(k) => Ok(k),
        }
    })
    .await
    .map_err(|e| SshError::KeyLoad {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    match res {
        Ok(k) => Ok(k),
        Err(None) if passphrase.is_some() => Err(SshError::KeyPassphraseWrong {
            path: path.to_path_buf(),
        }),
        Err(None) => Err(SshError::KeyEncrypted {
            path: path.to_path_buf(),
        }),
        Err(Some(reason)) => Err(SshError::KeyLoad {
            path: path.to_path_buf(),
            reason,
        }),
    }
}

/// Whether the key file is encrypted (needs a passphrase), so a front end can ask for one
/// before connecting. False for a readable plain key and for anything it cannot read (the
/// connect then reports the real problem).
pub fn key_is_encrypted(path: &Path) -> bool {
    matches!(
        russh::keys::load_secret_key(path, None),
        Err(russh::keys::Error::KeyIsEncrypted)
    )
}

/// The RSA signature hash to use: the best the server announced, else SHA-256 (every
/// OpenSSH since 7.2 takes it; the SHA-1 `ssh-rsa` is disabled in current ones).
async fn rsa_hash<H: Handler>(handle: &Handle<H>) -> Option<HashAlg> {
    match handle.best_supported_rsa_hash().await {
        Ok(Some(best)) => best,
        _ => Some(HashAlg::Sha256),
    }
}

/// Credentials ready for use: the key file is read (and decrypted) once, before connecting,
/// and kept for reconnects.
#[derive(Clone)]
pub(crate) enum Credential {
    Key { key: Arc<PrivateKey>, path: PathBuf },
    Agent,
    Password(Secret),
}

impl Credential {
    pub(crate) async fn prepare(auth: &SshAuth) -> Result<Credential, SshError> {
        Ok(match auth {
            SshAuth::KeyFile { path, passphrase } => Credential::Key {
                key: Arc::new(load_private_key(path, passphrase.as_ref()).await?),
                path: path.clone(),
            },
            SshAuth::Agent => Credential::Agent,
            SshAuth::Password(p) => Credential::Password(p.clone()),
        })
    }
}

/// Authenticates `user` on `handle` with `cred`.
pub(crate) async fn authenticate<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
    cred: &Credential,
    host: &str,
) -> Result<(), SshError> {
    let rejected = |method: String| SshError::AuthRejected {
        host: host.to_owned(),
        user: user.to_owned(),
        method,
    };
    let proto = |e: russh::Error| SshError::Connect {
        host: host.to_owned(),
        reason: format!("during authentication: {e}"),
    };
    match cred {
        Credential::Key { key, path } => {
            let hash = if key.algorithm().is_rsa() {
                rsa_hash(handle).await
            } else {
                None
            };
            let res = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(proto)?;
            if res.success() {
                Ok(())
            } else {
                Err(rejected(format!("public key {}", path.display())))
            }
        }
        Credential::Agent => {
            let agent_err = |reason: String| SshError::Agent {
                host: host.to_owned(),
                reason,
            };
            let mut agent = AgentClient::connect_env()
                .await
                .map_err(|e| agent_err(e.to_string()))?;
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| agent_err(e.to_string()))?;
            if identities.is_empty() {
                return Err(agent_err("the agent holds no keys".to_owned()));
            }
            let n = identities.len();
            for key in identities {
                let hash = if key.algorithm().is_rsa() {
                    rsa_hash(handle).await
                } else {
                    None
                };
                match handle
                    .authenticate_publickey_with(user, key, hash, &mut agent)
                    .await
                {
                    Ok(AuthResult::Success) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(host, error = %e, "agent signing failed");
                        continue;
                    }
                }
            }
            Err(rejected(format!("ssh-agent ({n} keys)")))
        }
        Credential::Password(password) => {
            let res = handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(proto)?;
            match res {
                AuthResult::Success => return Ok(()),
                AuthResult::Failure {
                    remaining_methods, ..
                } if remaining_methods.contains(&MethodKind::KeyboardInteractive) => {}
                AuthResult::Failure { .. } => return Err(rejected("password".to_owned())),
            }
            // sshd with PasswordAuthentication off but keyboard-interactive (PAM) on.
            let mut resp = handle
                .authenticate_keyboard_interactive_start(user, None)
                .await
                .map_err(proto)?;
            for _ in 0..4 {
                match resp {
                    KeyboardInteractiveAuthResponse::Success => return Ok(()),
                    KeyboardInteractiveAuthResponse::Failure { .. } => break,
                    KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                        let answers = prompts
                            .iter()
                            .map(|_| password.expose().to_owned())
                            .collect();
                        resp = handle
                            .authenticate_keyboard_interactive_respond(answers)
                            .await
                            .map_err(proto)?;
                    }
                }
            }
            Err(rejected("password".to_owned()))
        }
    }
}

//! The bootstrap token (kubeadm's `bootstrap-token` phase): made once and kept in the cluster
//! directory (0600, written atomically), so every run hands the kubelets the same credentials
//! until it comes near its expiry; then, or when it is asked to (the K2 fix), a new one. The
//! secret half is never printed: it travels only in files marked secret.

use crate::cluster_dir::{write_atomic, ClusterDir};
use crate::stages::control_plane::rbac::BOOTSTRAP_GROUP;
use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a token is valid (kubeadm's default).
pub const TTL: Duration = Duration::hours(24);
/// A token with less than this left is replaced: a join takes minutes, not hours.
pub const RENEW_BEFORE: Duration = Duration::hours(2);
const MODE: u32 = 0o600;

/// `<id>.<secret>`: 6 and 16 characters of `[a-z0-9]`, as the API server's token
/// authenticator wants them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapToken {
    pub id: String,
    pub secret: String,
    /// Unix time the token stops working (the Secret's `expiration`).
    pub expires_unix: i64,
}

/// Never the secret half, whatever prints it.
impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BootstrapToken({}, expires {})", self.id, self.expires_rfc3339())
    }
}

impl BootstrapToken {
    /// A fresh token valid for [`TTL`] from `now`.
    pub fn generate(now: OffsetDateTime) -> Result<BootstrapToken> {
        Ok(BootstrapToken {
            id: random_chars(6)?,
            secret: random_chars(16)?,
            expires_unix: (now + TTL).unix_timestamp(),
        })
    }

    /// The kube-system Secret that holds it.
    pub fn secret_name(&self) -> String {
        format!("bootstrap-token-{}", self.id)
    }

    pub fn expires_rfc3339(&self) -> String {
        OffsetDateTime::from_unix_timestamp(self.expires_unix)
            .map(crate::pki::rfc3339)
            .unwrap_or_default()
    }

    /// Whether it is still good for a run at `now`.
    pub fn fresh(&self, now: OffsetDateTime) -> bool {
        self.expires_unix - (now + RENEW_BEFORE).unix_timestamp() > 0
    }

    /// The Secret manifest: type bootstrap.kubernetes.io/token, usages authentication and
    /// signing, kubewiz's group, the expiration. `data` (base64) so the step on the master can
    /// compare it with what the cluster holds without decoding anything.
    pub fn secret_manifest(&self, cluster: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\n\
             kind: Secret\n\
             metadata:\n  name: {name}\n  namespace: kube-system\n  labels:\n    app.kubernetes.io/managed-by: kubewiz\n\
             type: bootstrap.kubernetes.io/token\n\
             data:\n  description: {desc}\n  token-id: {id}\n  token-secret: {secret}\n  expiration: {exp}\n  \
             usage-bootstrap-authentication: {yes}\n  usage-bootstrap-signing: {yes}\n  auth-extra-groups: {group}\n",
            name = self.secret_name(),
            desc = b64(&format!("kubewiz: kubelet bootstrap of cluster {cluster}")),
            id = b64(&self.id),
            secret = b64(&self.secret),
            exp = b64(&self.expires_rfc3339()),
            yes = b64("true"),
            group = b64(BOOTSTRAP_GROUP),
        )
    }

    /// The kubelet's bootstrap kubeconfig: the API server, the cluster CA on the host, the token.
    pub fn bootstrap_kubeconfig(&self, cluster: &str, server: &str, ca_file: &str) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n- cluster:\n    certificate-authority: {ca_file}\n    server: {server}\n  name: {cluster}\n\
             contexts:\n- context:\n    cluster: {cluster}\n    user: kubelet-bootstrap\n  name: kubelet-bootstrap@{cluster}\n\
             current-context: kubelet-bootstrap@{cluster}\n\
             preferences: {{}}\n\
             users:\n- name: kubelet-bootstrap\n  user:\n    token: {}.{}\n",
            self.id, self.secret
        )
    }
}

/// `n` characters of `[a-z0-9]`, uniformly (bytes past the last whole multiple of 36 are
/// drawn again).
fn random_chars(n: usize) -> Result<String> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = [0u8; 32];
        rng.fill(&mut buf)
            .map_err(|_| anyhow!("the system's random source failed"))?;
        for b in buf {
            if out.len() < n && usize::from(b) < 252 {
                out.push(char::from(ALPHABET[usize::from(b) % 36]));
            }
        }
    }
    Ok(out)
}

/// `<cluster dir>/bootstrap-token.yaml`.
pub fn path(dir: &ClusterDir) -> std::path::PathBuf {
    dir.root().join("bootstrap-token.yaml")
}

/// The token kept in the cluster directory, if any.
pub fn load(dir: &ClusterDir) -> Result<Option<BootstrapToken>> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let t: BootstrapToken = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a kubewiz bootstrap token", p.display()))?;
    let ok = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if !ok(&t.id, 6) || !ok(&t.secret, 16) {
        return Err(anyhow!(
            "{} holds a malformed token (id [a-z0-9]{{6}}, secret [a-z0-9]{{16}}); remove it and a new one is made",
            p.display()
        ));
    }
    Ok(Some(t))
}

fn save(dir: &ClusterDir, t: &BootstrapToken) -> Result<()> {
    let text = format!(
        "# kubewiz's kubelet bootstrap token for this cluster: a secret (0600). Expires {}.\n{}",
        t.expires_rfc3339(),
        serde_yaml::to_string(t).context("serialising the bootstrap token")?
    );
    write_atomic(&path(dir), text.as_bytes(), MODE)
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Kept,
    /// None was kept, or the kept one was near its expiry (or past it).
    New,
}

/// The token of this run: the kept one while it is fresh, else a new one, saved.
pub fn ensure(dir: &ClusterDir, now: OffsetDateTime) -> Result<(BootstrapToken, Made)> {
    if let Some(t) = load(dir)? {
        if t.fresh(now) {
            return Ok((t, Made::Kept));
        }
    }
    renew(dir, now).map(|t| (t, Made::New))
}

/// A new token, whatever is kept (the K2 fix: the cluster rejected the kept one).
pub fn renew(dir: &ClusterDir, now: OffsetDateTime) -> Result<BootstrapToken> {
    let t = BootstrapToken::generate(now)?;
    save(dir, &t)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_have_the_api_servers_shape_and_are_never_printed() {
        let now = OffsetDateTime::now_utc();
        let t = BootstrapToken::generate(now).unwrap();
        let re = regex::Regex::new(r"^[a-z0-9]{6}\.[a-z0-9]{16}$").unwrap();
        assert!(re.is_match(&format!("{}.{}", t.id, t.secret)));
        assert_ne!(t, BootstrapToken::generate(now).unwrap());
        assert!(!format!("{t:?}").contains(&t.secret));
        let kubeconfig = t.bootstrap_kubeconfig("lab", "https://10.0.0.1:6443", "/ca.crt");
        assert!(kubeconfig.contains(&format!("    token: {}.{}\n", t.id, t.secret)));
        let manifest = t.secret_manifest("lab");
        assert!(manifest.contains(&format!("  name: bootstrap-token-{}\n", t.id)));
        assert!(manifest.contains("type: bootstrap.kubernetes.io/token\n"));
        assert!(!manifest.contains(&t.secret), "base64 only");
        let v: serde_yaml::Value = serde_yaml::from_str(&manifest).unwrap();
        let data = |k: &str| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v["data"][k].as_str().unwrap())
                .unwrap();
            String::from_utf8(b).unwrap()
        };
        assert_eq!(data("token-secret"), t.secret);
        assert_eq!(data("auth-extra-groups"), BOOTSTRAP_GROUP);
        assert_eq!(data("usage-bootstrap-signing"), "true");
        assert_eq!(data("expiration"), t.expires_rfc3339());
    }

    #[test]
    fn kept_while_fresh_then_renewed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let now = OffsetDateTime::now_utc();
        let (first, made) = ensure(&dir, now).unwrap();
        assert_eq!(made, Made::New);
        let mode = std::fs::metadata(path(&dir)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, made) = ensure(&dir, now + Duration::hours(1)).unwrap();
        assert_eq!((made, &again), (Made::Kept, &first));
        // Near its expiry: a new one.
        let (later, made) = ensure(&dir, now + TTL - Duration::hours(1)).unwrap();
        assert_eq!(made, Made::New);
        assert_ne!(later.id, first.id);
        assert_eq!(load(&dir).unwrap(), Some(later.clone()));
        assert_ne!(renew(&dir, now).unwrap(), later);
        std::fs::write(path(&dir), "id: ABC\nsecret: x\nexpires_unix: 1\n").unwrap();
        let err = ensure(&dir, now).unwrap_err().to_string();
        assert!(err.contains("malformed token"), "{err}");
    }
}

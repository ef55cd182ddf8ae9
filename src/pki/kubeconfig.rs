//! Kubeconfigs with embedded certificates (`certificate-authority-data`,
//! `client-certificate-data`, `client-key-data`), as kubeadm writes them.

use base64::Engine as _;
use serde::Deserialize;

/// The text of a kubeconfig for `user` of cluster `cluster` at `server`. Deterministic: the
/// same inputs give the same bytes, so an unchanged file is recognised by comparing.
pub fn render(
    cluster: &str,
    server: &str,
    user: &str,
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> String {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let context = format!("{user}@{cluster}");
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\n\
         contexts:\n\
         - context:\n    cluster: {cluster}\n    user: {user_q}\n  name: {context_q}\n\
         current-context: {context_q}\n\
         preferences: {{}}\n\
         users:\n\
         - name: {user_q}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
        user_q = quote(user),
        context_q = quote(&context),
    )
}

/// YAML double-quoted scalar (user names contain ':').
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What `ensure` and `certs check` read back from a kubeconfig.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Embedded {
    pub server: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    clusters: Vec<ClusterEntry>,
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
struct ClusterEntry {
    cluster: ClusterFields,
}

#[derive(Deserialize)]
struct ClusterFields {
    server: Option<String>,
    #[serde(rename = "certificate-authority-data")]
    ca: Option<String>,
}

#[derive(Deserialize)]
struct UserEntry {
    user: UserFields,
}

#[derive(Deserialize)]
struct UserFields {
    #[serde(rename = "client-certificate-data")]
    cert: Option<String>,
    #[serde(rename = "client-key-data")]
    key: Option<String>,
}

/// The first cluster's server and CA and the first user's certificate and key; `None` when the
/// file is not a kubeconfig.
pub fn read(text: &[u8]) -> Option<Embedded> {
    let f: File = serde_yaml::from_slice(text).ok()?;
    let dec = |s: &Option<String>| {
        s.as_ref().and_then(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        })
    };
    let cluster = f.clusters.first().map(|c| &c.cluster);
    let user = f.users.first().map(|u| &u.user);
    Some(Embedded {
        server: cluster.and_then(|c| c.server.clone()),
        ca_pem: cluster.and_then(|c| dec(&c.ca)),
        cert_pem: user.and_then(|u| dec(&u.cert)),
        key_pem: user.and_then(|u| dec(&u.key)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_read_back() {
        let text = render(
            "lab",
            "https://10.0.0.1:6443",
            "system:node:n1",
            b"CA",
            b"CERT",
            b"KEY",
        );
        assert!(text.contains("name: \"system:node:n1@lab\""));
        let e = read(text.as_bytes()).unwrap();
        assert_eq!(e.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(e.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert_eq!(e.cert_pem.as_deref(), Some(&b"CERT"[..]));
        assert_eq!(e.key_pem.as_deref(), Some(&b"KEY"[..]));
        assert!(read(b": not yaml [").is_none());
    }
}

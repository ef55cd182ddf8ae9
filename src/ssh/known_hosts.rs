//! Host-key checking against OpenSSH known_hosts files: [`HostKeyPolicy`], fingerprints,
//! learning a new key on consent.
//!
//! The parser follows OpenSSH's format: comments, `[host]:port` for ports other than 22,
//! comma-separated patterns with `*`/`?` wildcards and `!` negation, hashed names
//! (`|1|salt|hmac`), `@revoked` lines; `@cert-authority` lines and keys of unknown types are
//! skipped. Line numbers are 1-based physical lines, as in OpenSSH's messages.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// Which known_hosts files decide whether a host key is trusted, and whether an unknown key may
/// be learned.
#[derive(Clone, Debug, Default)]
pub struct HostKeyPolicy {
    /// Files checked, in order (e.g. `~/.ssh/known_hosts` and `<cluster dir>/known_hosts`).
    /// Missing files count as empty.
    pub known_hosts: Vec<PathBuf>,
    /// Where a new key is recorded when `accept_new` is set (created 0600 with its parents).
    pub learn_file: PathBuf,
    /// Trust and record a key for a host that has no entry at all (never a changed key).
    pub accept_new: bool,
}

impl HostKeyPolicy {
    /// The policy with `accept_new` switched to `accept_new`.
    pub fn with_accept_new(&self, accept_new: bool) -> HostKeyPolicy {
        HostKeyPolicy {
            accept_new,
            ..self.clone()
        }
    }
}

/// OpenSSH's `SHA256:base64` fingerprint of a public key (as `ssh-keygen -lf` prints it).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key's algorithm name as in known_hosts (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`).
pub fn key_type(key: &PublicKey) -> String {
    key.algorithm().as_str().to_owned()
}

/// `ssh-ed25519 AAAA…`: the key in OpenSSH public-key format, without comment.
pub fn openssh_public_key(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh()
        .unwrap_or_else(|_| key_type(key))
        .trim()
        .to_owned()
}

/// The name known_hosts uses for `address` on `port`: `address` or `[address]:port`.
pub fn known_hosts_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_owned()
    } else {
        format!("[{address}]:{port}")
    }
}

/// A full known_hosts line (without newline) for `openssh_key` (`type base64`).
pub fn known_hosts_line(address: &str, port: u16, openssh_key: &str) -> String {
    format!("{} {}", known_hosts_name(address, port), openssh_key.trim())
}

/// Appends a known_hosts line for `address:port` to `file`, creating it (0600) and its parent
/// directories. `openssh_key` is `type base64` as returned by [`crate::ssh::probe_host_key`].
pub fn append_known_host(
    file: &Path,
    address: &str,
    port: u16,
    openssh_key: &str,
) -> std::io::Result<()> {
    if let Some(parent) = file.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)?;
    let mut needs_newline = false;
    if f.seek(SeekFrom::End(-1)).is_ok() {
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        needs_newline = last[0] != b'\n';
    }
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&known_hosts_line(address, port, openssh_key));
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

/// One known_hosts entry matching the host being checked.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub file: PathBuf,
    pub line: usize,
    pub key: PublicKey,
    pub revoked: bool,
}

/// Outcome of checking a presented host key.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Found in a known_hosts file.
    Known,
    /// No entry for the host; recorded in the learn file (accept_new).
    Learned,
    /// No entry for the host and no consent to learn it.
    Unknown,
    /// The host has entries but none matches the key (or the key is revoked).
    Changed(Entry),
    /// A file could not be read or written.
    Store { file: PathBuf, reason: String },
}

/// Every entry for `address:port` across the policy's files.
pub(crate) fn entries_for(
    files: &[PathBuf],
    address: &str,
    port: u16,
) -> Result<Vec<Entry>, (PathBuf, String)> {
    let name = known_hosts_name(address, port);
    let mut out = Vec::new();
    for file in files {
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err((file.clone(), e.to_string())),
        };
        for (idx, raw) in text.lines().enumerate() {
            if let Some((key, revoked)) = parse_line_for(raw, &name) {
                out.push(Entry {
                    file: file.clone(),
                    line: idx + 1,
                    key,
                    revoked,
                });
            }
        }
    }
    Ok(out)
}

/// If the line is a usable entry whose host patterns match `name`, its key and revoked flag.
fn parse_line_for(raw: &str, name: &str) -> Option<(PublicKey, bool)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            _ => return None, // @cert-authority: host certificates are not used here
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    let key_b64 = fields.next()?;
    if !patterns_match(first, name) {
        return None;
    }
    match PublicKey::from_openssh(&format!("{key_type} {key_b64}")) {
        Ok(key) => Some((key, revoked)),
        Err(e) => {
            tracing::debug!(error = %e, "skipping unreadable known_hosts key");
            None
        }
    }
}

/// OpenSSH host-pattern list matching: some positive pattern matches and no negated one does.
fn patterns_match(list: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',') {
        if pattern.starts_with("|1|") {
            if hashed_matches(pattern, name) {
                matched = true;
            }
        } else if let Some(neg) = pattern.strip_prefix('!') {
            if glob_match(&neg.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                return false;
            }
        } else if glob_match(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
            matched = true;
        }
    }
    matched
}

fn hashed_matches(entry: &str, name: &str) -> bool {
    let mut parts = entry.split('|').skip(2);
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Some(salt), Some(hash)) = (base64_decode(salt), base64_decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, as in OpenSSH's match_pattern.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// known_hosts' hashed names (`|1|salt|hash`) are padded base64; unpadded is accepted too.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(s)
        .ok()
}

/// Checks `key` presented by `address:port` against the policy, learning it when allowed.
pub(crate) fn check(policy: &HostKeyPolicy, address: &str, port: u16, key: &PublicKey) -> Verdict {
    let entries = match entries_for(&policy.known_hosts, address, port) {
        Ok(e) => e,
        Err((file, reason)) => return Verdict::Store { file, reason },
    };
    if let Some(revoked) = entries
        .iter()
        .find(|e| e.revoked && e.key.key_data() == key.key_data())
    {
        return Verdict::Changed(revoked.clone());
    }
    let live: Vec<&Entry> = entries.iter().filter(|e| !e.revoked).collect();
    if live.iter().any(|e| e.key.key_data() == key.key_data()) {
        return Verdict::Known;
    }
    if !live.is_empty() {
        // Prefer reporting an entry of the same key type: that is the one that "changed".
        let same_type = live.iter().find(|e| e.key.algorithm() == key.algorithm());
        return Verdict::Changed((*same_type.unwrap_or(&live[0])).clone());
    }
    if !policy.accept_new {
        return Verdict::Unknown;
    }
    match append_known_host(&policy.learn_file, address, port, &openssh_public_key(key)) {
        Ok(()) => {
            tracing::info!(
                host = %known_hosts_name(address, port),
                fingerprint = %fingerprint(key),
                file = %policy.learn_file.display(),
                "learned new host key"
            );
            Verdict::Learned
        }
        Err(e) => Verdict::Store {
            file: policy.learn_file.clone(),
            reason: e.to_string(),
        },
    }
}

/// Host-key algorithms to offer the server, the ones already known for this host first
/// (as OpenSSH does), so a server with several keys presents the one we can verify.
pub(crate) fn preferred_algorithms(
    policy: &HostKeyPolicy,
    address: &str,
    port: u16,
    defaults: &[Algorithm],
) -> Vec<Algorithm> {
    let known: Vec<KeyData> = entries_for(&policy.known_hosts, address, port)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.revoked)
        .map(|e| e.key.key_data().clone())
        .collect();
    let is_known = |alg: &Algorithm| {
        known.iter().any(|k| match (k.algorithm(), alg) {
            (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
            (a, b) => a == *b,
        })
    };
    let mut first: Vec<Algorithm> = defaults.iter().filter(|a| is_known(a)).cloned().collect();
    first.extend(defaults.iter().filter(|a| !is_known(a)).cloned());
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZOTfvEFeZH/rMaej7g1tbmjUKoMsY3jcLwecROmySM";
    const EC_KEY: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHE4nRxEotSfVGTyvg20E0coNXBhY0GFGuhEs6mK2pLh18YaLgIFv9UXznI63NHr0JJJMi8RjY0favR1fKK4avM=";
    const OTHER_ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        // Values printed by `ssh-keygen -lf`.
        assert_eq!(
            fingerprint(&key(ED_KEY)),
            "SHA256:vg3fiGkAqa737ywE4LxPMlpIIKob40yYgvHTErZDRL0"
        );
        assert_eq!(
            fingerprint(&key(EC_KEY)),
            "SHA256:Bjw6+tt+q8qcXHiA8ArHXb9tpAGy7KGo+8XbpgbqHLg"
        );
        assert_eq!(key_type(&key(EC_KEY)), "ecdsa-sha2-nistp256");
        assert_eq!(openssh_public_key(&key(ED_KEY)), ED_KEY);
    }

    #[test]
    fn matching_plain_hashed_ports_and_negation() {
        assert!(patterns_match("10.1.2.3", "10.1.2.3"));
        assert!(!patterns_match("10.1.2.3", "[10.1.2.3]:2222"));
        assert!(patterns_match("a,[10.1.2.3]:2222", "[10.1.2.3]:2222"));
        assert!(patterns_match("10.1.2.*", "10.1.2.9"));
        assert!(!patterns_match("10.1.2.*,!10.1.2.9", "10.1.2.9"));
        assert!(patterns_match("node?.LAB", "node1.lab"));
        // Written by `ssh-keygen -H` for "10.1.2.3" and "[10.1.2.3]:2222".
        assert!(patterns_match(
            "|1|XpVCl5G6ZMFfm1GH5z3rG7v6bAw=|m8z8UG/c29LE49nWe/4joDyLExU=",
            "10.1.2.3"
        ));
        assert!(patterns_match(
            "|1|5vn8x8WjvU3f/wGZexHmcwOjnPY=|JaiMRz6tml2GppdNkdXw8nohnGM=",
            "[10.1.2.3]:2222"
        ));
        assert!(!patterns_match(
            "|1|XpVCl5G6ZMFfm1GH5z3rG7v6bAw=|m8z8UG/c29LE49nWe/4joDyLExU=",
            "10.1.2.4"
        ));
    }

    #[test]
    fn check_known_changed_unknown_learned() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(
            &kh,
            format!(
                "# comment\n\n@cert-authority * {OTHER_ED}\nweird-line\n10.1.2.3 {ED_KEY}\n[10.1.2.3]:2222 {OTHER_ED}\n"
            ),
        )
        .unwrap();
        let learn = dir.path().join("sub/learned");
        let mut policy = HostKeyPolicy {
            known_hosts: vec![dir.path().join("missing"), kh.clone(), learn.clone()],
            learn_file: learn.clone(),
            accept_new: false,
        };
        assert!(matches!(
            check(&policy, "10.1.2.3", 22, &key(ED_KEY)),
            Verdict::Known
        ));
        match check(&policy, "10.1.2.3", 2222, &key(ED_KEY)) {
            Verdict::Changed(e) => {
                assert_eq!(e.line, 6);
                assert_eq!(e.file, kh);
                assert_eq!(fingerprint(&e.key), fingerprint(&key(OTHER_ED)));
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            check(&policy, "10.9.9.9", 22, &key(ED_KEY)),
            Verdict::Unknown
        ));
        policy.accept_new = true;
        assert!(matches!(
            check(&policy, "10.9.9.9", 2200, &key(ED_KEY)),
            Verdict::Learned
        ));
        let text = std::fs::read_to_string(&learn).unwrap();
        assert_eq!(text, format!("[10.9.9.9]:2200 {ED_KEY}\n"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&learn).unwrap().permissions().mode() & 0o777,
            0o600
        );
        policy.accept_new = false;
        assert!(matches!(
            check(&policy, "10.9.9.9", 2200, &key(ED_KEY)),
            Verdict::Known
        ));
        // A known host presenting another key is never learned, even with accept_new.
        policy.accept_new = true;
        assert!(matches!(
            check(&policy, "10.9.9.9", 2200, &key(EC_KEY)),
            Verdict::Changed(_)
        ));
    }

    #[test]
    fn known_algorithms_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, format!("h {EC_KEY}\n")).unwrap();
        let policy = HostKeyPolicy {
            known_hosts: vec![kh],
            ..Default::default()
        };
        let defaults = [
            Algorithm::Ed25519,
            Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256,
            },
        ];
        let got = preferred_algorithms(&policy, "h", 22, &defaults);
        assert_eq!(got[0], defaults[1]);
        assert_eq!(got[1], defaults[0]);
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
    }
}

//! `certs list` and `certs check`: what is in the directory, and whether it is what the cluster
//! file needs. Reads only.

use super::ensure::{orphan_reason, orphans, walk};
use super::inspect::{format_time, key_matches, parse_cert_pem, parse_key_pem, CertInfo};
use super::kubeconfig;
use super::layout::{self, key_label, CaKind, LeafSpec, San};
use super::store::Store;
use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, Severity};
use anyhow::Result;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// One certificate, as `certs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRow {
    /// Relative to the cluster directory.
    pub file: String,
    pub subject: String,
    /// `IP 10.77.0.11`, `DNS node1`.
    pub sans: Vec<String>,
    pub issuer: String,
    pub not_after: OffsetDateTime,
    pub days_left: i64,
}

/// Every certificate under `pki/` (not the backups): the CAs, then the leaves in the cluster
/// file's order, then any other. A file that cannot be parsed is listed with its error as the
/// subject.
pub fn list(dir: &ClusterDir, spec: &ClusterSpec) -> Result<Vec<CertRow>> {
    let now = OffsetDateTime::now_utc();
    let store = Store::open(dir, now);
    let mut rows = vec![];
    for path in ordered_certs(&store, spec)? {
        let file = store.show(&path);
        let Some(bytes) = store.read(&path)? else {
            continue;
        };
        match parse_cert_pem(&bytes) {
            Ok(info) => rows.push(CertRow {
                file,
                subject: info.subject_text.clone(),
                sans: info.sans.iter().map(|s| s.to_string()).collect(),
                issuer: info.issuer_text.clone(),
                not_after: info.not_after,
                days_left: info.days_left(now),
            }),
            Err(e) => rows.push(CertRow {
                file,
                subject: format!("(unreadable: {e:#})"),
                sans: vec![],
                issuer: String::new(),
                not_after: OffsetDateTime::UNIX_EPOCH,
                days_left: 0,
            }),
        }
    }
    Ok(rows)
}

fn ordered_certs(store: &Store, spec: &ClusterSpec) -> Result<Vec<PathBuf>> {
    let mut order: Vec<PathBuf> = CaKind::ALL.iter().map(|k| store.crt(k.id())).collect();
    order.extend(layout::leaves(spec)?.iter().map(|l| store.crt(&l.id)));
    let mut out: Vec<PathBuf> = order.iter().filter(|p| p.is_file()).cloned().collect();
    let known: BTreeSet<&PathBuf> = order.iter().collect();
    for p in walk(store.pki(), &store.pki().join("backup"))? {
        if p.extension().is_some_and(|e| e == "crt") && !known.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One problem `certs check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    pub severity: Severity,
    /// Relative to the cluster directory.
    pub file: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub findings: Vec<CheckFinding>,
    /// Certificates, keys and kubeconfigs looked at.
    pub files_checked: usize,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    fn error(&mut self, file: &str, message: impl Into<String>) {
        self.findings.push(CheckFinding {
            severity: Severity::Error,
            file: file.into(),
            message: message.into(),
        });
    }

    fn warning(&mut self, file: &str, message: impl Into<String>) {
        self.findings.push(CheckFinding {
            severity: Severity::Warning,
            file: file.into(),
            message: message.into(),
        });
    }
}

const FIX: &str = "`kubewiz certs generate` re-issues it";
const CREATE: &str = "`kubewiz certs generate` creates it";

/// Verifies the PKI against the cluster file: every file there, every key matching its
/// certificate, every certificate chaining to its CA with the subject, SANs and usages the
/// cluster file needs, kubeconfigs embedding the current files; warns `warn_days` before a
/// certificate expires (an error once expired). Reads only.
pub fn check(dir: &ClusterDir, spec: &ClusterSpec, warn_days: i64) -> Result<CheckReport> {
    let now = OffsetDateTime::now_utc();
    let store = Store::open(dir, now);
    let mut r = CheckReport::default();

    let mut cas: Vec<(CaKind, CertInfo)> = vec![];
    for kind in CaKind::ALL {
        if let Some(info) = check_pair(&store, &mut r, kind.id(), kind.label()) {
            let file = store.show(&store.crt(kind.id()));
            if !info.is_ca {
                r.error(
                    &file,
                    "not a CA certificate (basicConstraints CA:TRUE is missing)",
                );
            }
            if info.self_signed() && !info.signed_by(&info) {
                r.error(&file, "its self-signature does not verify");
            }
            check_validity(&mut r, &file, &info, now, warn_days);
            cas.push((kind, info));
        }
    }
    check_service_account(&store, &mut r);

    let alg = spec.pki.key_algorithm;
    for leaf in layout::leaves(spec)? {
        let Some(info) = check_pair(&store, &mut r, &leaf.id, &leaf.what) else {
            continue;
        };
        let file = store.show(&store.crt(&leaf.id));
        match cas.iter().find(|(k, _)| *k == leaf.ca) {
            Some((_, ca)) if !info.signed_by(ca) => r.error(
                &file,
                format!(
                    "does not chain to the {} ({}): issued by {}; {FIX}",
                    leaf.ca.label(),
                    store.show(&store.crt(leaf.ca.id())),
                    info.issuer_text
                ),
            ),
            _ => {}
        }
        if info.subject() != leaf.subject() {
            r.error(
                &file,
                format!(
                    "subject is {}, should be {}; {FIX}",
                    info.subject(),
                    leaf.subject()
                ),
            );
        }
        check_sans(&mut r, &file, spec, &leaf, &info);
        if info.usage() != Some(leaf.usage) {
            r.error(
                &file,
                format!(
                    "extended key usage is {}, should be {}; {FIX}",
                    info.usage_text(),
                    leaf.usage.describe()
                ),
            );
        }
        if info.key_label != key_label(alg) {
            r.warning(
                &file,
                format!(
                    "key is {}, the cluster file asks for {} (pki.key_algorithm: {}); {FIX}",
                    info.key_label,
                    key_label(alg),
                    alg.as_str()
                ),
            );
        }
        check_validity(&mut r, &file, &info, now, warn_days);
    }

    check_kubeconfigs(&store, spec, &mut r)?;
    for path in orphans(&store, spec)? {
        r.warning(
            &store.show(&path),
            format!("{}; kubewiz does not use it", orphan_reason(&store, &path)),
        );
    }
    Ok(r)
}

/// The certificate and key of `id`: both there, readable, matching, key mode 0600.
fn check_pair(store: &Store, r: &mut CheckReport, id: &str, what: &str) -> Option<CertInfo> {
    let (crt, key) = (store.crt(id), store.key(id));
    let (crt_show, key_show) = (store.show(&crt), store.show(&key));
    r.files_checked += 2;
    let cert = match store.read(&crt) {
        Ok(Some(b)) => b,
        Ok(None) => {
            r.error(&crt_show, format!("missing ({what}); {CREATE}"));
            return None;
        }
        Err(e) => {
            r.error(&crt_show, format!("{e:#}"));
            return None;
        }
    };
    let info = match parse_cert_pem(&cert) {
        Ok(i) => i,
        Err(e) => {
            r.error(&crt_show, format!("cannot be read: {e:#}"));
            return None;
        }
    };
    match store.read(&key) {
        Ok(None) => r.error(&key_show, format!("missing: {crt_show} has no key")),
        Err(e) => r.error(&key_show, format!("{e:#}")),
        Ok(Some(k)) => {
            match parse_key_pem(&k) {
                Err(e) => r.error(&key_show, format!("cannot be read: {e:#}")),
                Ok(kp) if !key_matches(&kp, &info) => {
                    r.error(&key_show, format!("does not match {crt_show}"))
                }
                Ok(_) => {}
            }
            check_key_mode(r, &key, &key_show);
        }
    }
    Some(info)
}

fn check_key_mode(r: &mut CheckReport, path: &Path, show: &str) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            r.warning(
                show,
                format!("private key is readable by others (mode {mode:04o}); chmod 600 {show}"),
            );
        }
    }
}

fn check_validity(
    r: &mut CheckReport,
    file: &str,
    info: &CertInfo,
    now: OffsetDateTime,
    warn_days: i64,
) {
    let days = info.days_left(now);
    if info.not_after <= now {
        r.error(file, format!("expired on {}", format_time(info.not_after)));
    } else if days < warn_days {
        r.warning(
            file,
            format!(
                "expires in {days} day{} ({})",
                if days == 1 { "" } else { "s" },
                format_time(info.not_after)
            ),
        );
    }
    if info.not_before > now {
        r.warning(
            file,
            format!(
                "not valid before {}: is this machine's clock behind?",
                format_time(info.not_before)
            ),
        );
    }
}

/// Missing SANs are errors naming the host they belong to; extra ones are warnings.
fn check_sans(
    r: &mut CheckReport,
    file: &str,
    spec: &ClusterSpec,
    leaf: &LeafSpec,
    info: &CertInfo,
) {
    for san in leaf.sans.iter().filter(|s| !info.sans.contains(s)) {
        let whose = san_owner(spec, leaf, san);
        r.error(
            file,
            format!("SAN {san}{whose} is missing: TLS peers reaching it there reject the certificate (\"bad certificate\"); {FIX}"),
        );
    }
    for san in info.sans.iter().filter(|s| !leaf.sans.contains(s)) {
        r.warning(
            file,
            format!("SAN {san} is not in the cluster file (a removed host or name?); {FIX}"),
        );
    }
}

/// ` (host node2)`: the host whose address or name the SAN is, else what it is for.
fn san_owner(spec: &ClusterSpec, leaf: &LeafSpec, san: &San) -> String {
    let host = spec.hosts.iter().find(|h| match san {
        San::Ip(ip) => h.address.parse().ok() == Some(*ip),
        San::Dns(d) => h.name.eq_ignore_ascii_case(d),
    });
    match (host, &leaf.host) {
        (Some(h), Some(owner)) if &h.name == owner => {
            format!(
                " (etcd member {owner}'s own {})",
                if matches!(san, San::Ip(_)) {
                    "address"
                } else {
                    "name"
                }
            )
        }
        (Some(h), _) => format!(" (host {})", h.name),
        (None, _)
            if spec
                .apiserver
                .vip
                .as_deref()
                .and_then(|v| v.parse().ok())
                .map(San::Ip)
                .as_ref()
                == Some(san) =>
        {
            " (apiserver.vip)".into()
        }
        _ => String::new(),
    }
}

fn check_service_account(store: &Store, r: &mut CheckReport) {
    let key_path = store.pki().join("sa.key");
    let pub_path = store.pki().join("sa.pub");
    let (key_show, pub_show) = (store.show(&key_path), store.show(&pub_path));
    r.files_checked += 2;
    let key = match store.read(&key_path) {
        Ok(Some(k)) => k,
        _ => {
            r.error(
                &key_show,
                format!("missing (service-account signing key); {CREATE}"),
            );
            return;
        }
    };
    check_key_mode(r, &key_path, &key_show);
    let kp = match parse_key_pem(&key) {
        Ok(k) => k,
        Err(e) => {
            r.error(&key_show, format!("cannot be read: {e:#}"));
            return;
        }
    };
    match store.read(&pub_path) {
        Ok(Some(p)) => {
            let same = pem::parse(&p)
                .ok()
                .zip(pem::parse(kp.public_key_pem()).ok())
                .is_some_and(|(a, b)| a.contents() == b.contents());
            if !same {
                r.error(&pub_show, format!("does not match {key_show}"));
            }
        }
        _ => r.error(&pub_show, format!("missing; {CREATE} from {key_show}")),
    }
}

fn check_kubeconfigs(store: &Store, spec: &ClusterSpec, r: &mut CheckReport) -> Result<()> {
    let server = layout::apiserver_url(spec)?;
    let ca = store.read(&store.crt(CaKind::Cluster.id()))?;
    for k in layout::kubeconfigs() {
        let path = store.kubeconfig(&k.file);
        let show = store.show(&path);
        r.files_checked += 1;
        let Some(text) = store.read(&path)? else {
            r.error(&show, format!("missing ({}); {CREATE}", k.what));
            continue;
        };
        check_key_mode(r, &path, &show);
        let Some(e) = kubeconfig::read(&text) else {
            r.error(&show, "is not a readable kubeconfig");
            continue;
        };
        let mut stale = vec![];
        if e.server.as_deref() != Some(server.as_str()) {
            stale.push(format!(
                "server is {}, the cluster file gives {server}",
                e.server.as_deref().unwrap_or("missing")
            ));
        }
        if ca.is_some() && e.ca_pem != ca {
            stale.push(format!(
                "its CA is not {}",
                store.show(&store.crt(CaKind::Cluster.id()))
            ));
        }
        let cert = store.read(&store.crt(&k.leaf))?;
        if cert.is_some() && e.cert_pem != cert {
            stale.push(format!(
                "its client certificate is not {}",
                store.show(&store.crt(&k.leaf))
            ));
        }
        if !stale.is_empty() {
            r.error(&show, format!("{}; {FIX}", stale.join("; ")));
        }
    }
    Ok(())
}

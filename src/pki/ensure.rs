//! Bringing the directory in line with the cluster file: CAs reused or made, leaves compared
//! with what the cluster file asks for and re-issued (old files to the backup) only when they
//! differ, kubeconfigs rewritten when what they embed changed.

use super::inspect::{key_matches, parse_cert_pem, parse_key_pem, rfc3339, CertInfo};
use super::issue::{
    generate_key, issue_leaf, parallel_map, parallel_map_on, self_signed_ca, IssuedLeaf, SigningCa,
    WRITE_THREADS,
};
use super::kubeconfig;
use super::layout::{self, key_label, CaKind, LeafSpec, San};
use super::report::{Change, PkiReport};
use super::store::{
    CaRecord, LeafRecord, Manifest, Reissue, Store, CERT_MODE, KEY_MODE, KUBECONFIG_MODE,
};
use crate::config::{ClusterSpec, KeyAlgorithm};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use time::OffsetDateTime;

pub type Cas = BTreeMap<CaKind, SigningCa>;

/// What to do with one leaf.
pub enum Decision {
    Create,
    Reissue(Vec<String>),
    Keep(Box<CertInfo>),
}

/// How much of the PKI a run looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: CAs, service-account pair, leaves, kubeconfigs.
    All,
    /// The etcd CA and the certificates it signs, nothing else.
    Etcd,
}

/// The PKI, or its etcd part: see [`super::ensure`].
pub fn ensure(
    store: &mut Store,
    spec: &ClusterSpec,
    now: OffsetDateTime,
    scope: Scope,
) -> Result<PkiReport> {
    let mut manifest = store.load_manifest()?;
    let before = manifest.clone();
    let mut report = PkiReport::default();
    let alg = spec.pki.key_algorithm;

    let kinds: &[CaKind] = match scope {
        Scope::All => &CaKind::ALL,
        Scope::Etcd => &[CaKind::Etcd],
    };
    let cas = ensure_cas(store, &mut manifest, &mut report, alg, now, kinds)?;
    if scope == Scope::All {
        ensure_service_account(store, &mut report, alg)?;
    }

    let leaves: Vec<LeafSpec> = layout::leaves(spec)?
        .into_iter()
        .filter(|l| cas.contains_key(&l.ca))
        .collect();
    let decisions: Vec<Decision> = parallel_map(&leaves, |leaf| {
        decide(store, leaf, &cas[&leaf.ca], alg, now)
    })
    .into_iter()
    .collect::<Result<_>>()?;
    let work: Vec<(LeafSpec, Decision)> = leaves.into_iter().zip(decisions).collect();
    replace_leaves(store, &mut manifest, &mut report, work, &cas, alg, now)?;

    if scope == Scope::All {
        ensure_kubeconfigs(store, spec, &cas, &mut report)?;
        report_orphans(store, spec, &mut report)?;
    }

    // Records of leaves whose files are gone (neither in the cluster file nor on disk).
    let wanted: BTreeSet<String> = layout::leaves(spec)?.into_iter().map(|l| l.id).collect();
    manifest
        .leaves
        .retain(|id, _| wanted.contains(id) || store.crt(id).exists());
    if manifest != before || !store.manifest_path().exists() {
        store.save_manifest(&manifest)?;
    }
    report.backup = store.backup_dir().map(Path::to_path_buf);
    Ok(report)
}

/// Loads every CA in `kinds`, making the missing ones. A CA already there is always used as it
/// is (bring your own CA); half a pair, a key not matching its certificate, a certificate that
/// is not a CA or has expired are errors naming the file.
pub fn ensure_cas(
    store: &mut Store,
    manifest: &mut Manifest,
    report: &mut PkiReport,
    alg: KeyAlgorithm,
    now: OffsetDateTime,
    kinds: &[CaKind],
) -> Result<Cas> {
    let mut cas = Cas::new();
    let mut missing = vec![];
    for &kind in kinds {
        match load_ca(store, kind, now)? {
            Some(ca) => {
                let fingerprint = ca.cert.fingerprint();
                let origin = match manifest.cas.get(kind.id()) {
                    Some(r) if r.fingerprint == fingerprint => r.origin.clone(),
                    _ => "provided".to_string(),
                };
                let what = if origin == "provided" {
                    format!("{} (provided, used as it is)", kind.label())
                } else {
                    kind.label().to_string()
                };
                report.push(store.show(&store.crt(kind.id())), what, Change::Unchanged);
                manifest
                    .cas
                    .insert(kind.id().into(), ca_record(store, &ca, origin));
                cas.insert(kind, ca);
            }
            None => missing.push(kind),
        }
    }
    let made = parallel_map(&missing, |&kind| {
        let key = generate_key(alg)?;
        self_signed_ca(kind, &key, now)
    });
    for (kind, issued) in missing.into_iter().zip(made) {
        let issued = issued?;
        let (crt, key) = (store.crt(kind.id()), store.key(kind.id()));
        store.write(&key, issued.key_pem.as_bytes(), KEY_MODE)?;
        store.write(&crt, issued.cert_pem.as_bytes(), CERT_MODE)?;
        let ca = SigningCa::new(
            kind,
            issued.cert_pem.into_bytes(),
            parse_key_pem(issued.key_pem.as_bytes())?,
        )?;
        report.push(store.show(&crt), kind.label(), Change::Created);
        manifest
            .cas
            .insert(kind.id().into(), ca_record(store, &ca, "generated".into()));
        cas.insert(kind, ca);
    }
    Ok(cas)
}

fn ca_record(store: &Store, ca: &SigningCa, origin: String) -> CaRecord {
    CaRecord {
        cert: store.show(&store.crt(ca.kind.id())),
        key: store.show(&store.key(ca.kind.id())),
        subject: ca.cert.subject_text.clone(),
        key_algorithm: ca.cert.key_label.clone(),
        fingerprint: ca.cert.fingerprint(),
        not_after: rfc3339(ca.cert.not_after),
        origin,
    }
}

/// The CA of `kind` from the directory; `None` when neither file is there.
pub fn load_ca(store: &Store, kind: CaKind, now: OffsetDateTime) -> Result<Option<SigningCa>> {
    let (crt, key) = (store.crt(kind.id()), store.key(kind.id()));
    let (crt_show, key_show) = (store.show(&crt), store.show(&key));
    let (cert_pem, key_pem) = match (store.read(&crt)?, store.read(&key)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => bail!(
            "{crt_show} has no key: {key_show} is missing. Put the {}'s key there, or move {crt_show} away to have a new CA made (every certificate it signed is then re-issued)",
            kind.label()
        ),
        (None, Some(_)) => bail!(
            "{key_show} has no certificate: {crt_show} is missing. Put the {}'s certificate there, or move {key_show} away to have a new CA made",
            kind.label()
        ),
        (Some(c), Some(k)) => (c, k),
    };
    let cert = parse_cert_pem(&cert_pem).with_context(|| format!("reading {crt_show}"))?;
    let key_pair = parse_key_pem(&key_pem).with_context(|| format!("reading {key_show}"))?;
    if !key_matches(&key_pair, &cert) {
        bail!("{key_show} does not match {crt_show}: the key is not the certificate's (its public key differs)");
    }
    if !cert.is_ca {
        bail!(
            "{crt_show} is not a CA certificate (basicConstraints CA:TRUE is missing); the {} must be able to sign",
            kind.label()
        );
    }
    if cert.not_after <= now {
        bail!(
            "{crt_show} expired on {}; a new {} means re-issuing everything it signed: move {crt_show} and {key_show} away and run again",
            super::inspect::format_time(cert.not_after),
            kind.label()
        );
    }
    SigningCa::new(kind, cert_pem, key_pair)
        .with_context(|| format!("using {crt_show}"))
        .map(Some)
}

/// `sa.key` (kept once made) and `sa.pub` (derived from it).
fn ensure_service_account(
    store: &mut Store,
    report: &mut PkiReport,
    alg: KeyAlgorithm,
) -> Result<()> {
    let key_path = store.pki().join("sa.key");
    let pub_path = store.pki().join("sa.pub");
    let (key_show, pub_show) = (store.show(&key_path), store.show(&pub_path));
    let what_key = "service-account signing key";
    let what_pub = "service-account public key";
    match (store.read(&key_path)?, store.read(&pub_path)?) {
        (None, Some(_)) => bail!(
            "{pub_show} has no private key: {key_show} is missing. Put the key there, or move {pub_show} away to have a new pair made (existing service-account tokens then stop working)"
        ),
        (None, None) => {
            let key = generate_key(alg)?;
            store.write(&key_path, key.serialize_pem().as_bytes(), KEY_MODE)?;
            store.write(&pub_path, key.public_key_pem().as_bytes(), CERT_MODE)?;
            report.push(key_show, what_key, Change::Created);
            report.push(pub_show, what_pub, Change::Created);
        }
        (Some(k), existing_pub) => {
            let key = parse_key_pem(&k).with_context(|| format!("reading {key_show}"))?;
            report.push(key_show.clone(), what_key, Change::Unchanged);
            let derived = key.public_key_pem();
            match existing_pub {
                None => {
                    store.write(&pub_path, derived.as_bytes(), CERT_MODE)?;
                    report.push(pub_show, format!("{what_pub} (from {key_show})"), Change::Created);
                }
                Some(p) => {
                    let same = pem::parse(&p)
                        .ok()
                        .zip(pem::parse(&derived).ok())
                        .is_some_and(|(a, b)| a.contents() == b.contents());
                    if !same {
                        bail!("{pub_show} does not match {key_show}: it is not that key's public key. Move {pub_show} away to have it derived from the key again");
                    }
                    report.push(pub_show, what_pub, Change::Unchanged);
                }
            }
        }
    }
    Ok(())
}

/// Compares the leaf in the directory with what the cluster file asks for.
pub fn decide(
    store: &Store,
    leaf: &LeafSpec,
    ca: &SigningCa,
    alg: KeyAlgorithm,
    now: OffsetDateTime,
) -> Result<Decision> {
    let (crt, key) = (store.crt(&leaf.id), store.key(&leaf.id));
    Ok(match (store.read(&crt)?, store.read(&key)?) {
        (None, None) => Decision::Create,
        (Some(_), None) => {
            Decision::Reissue(vec![format!("its key {} is missing", store.show(&key))])
        }
        (None, Some(_)) => Decision::Reissue(vec![
            "the certificate is missing (only its key was there)".into(),
        ]),
        (Some(c), Some(k)) => {
            let info = match parse_cert_pem(&c) {
                Ok(i) => i,
                Err(e) => {
                    return Ok(Decision::Reissue(vec![format!(
                        "the certificate cannot be read: {e:#}"
                    )]))
                }
            };
            let mut reasons = differences(leaf, &info, ca, alg, now, store);
            match parse_key_pem(&k) {
                Err(e) => reasons.push(format!("the key cannot be read: {e:#}")),
                Ok(kp) if !key_matches(&kp, &info) => {
                    reasons.push("the key does not match the certificate".into())
                }
                Ok(_) => {}
            }
            if reasons.is_empty() {
                Decision::Keep(Box::new(info))
            } else {
                Decision::Reissue(reasons)
            }
        }
    })
}

/// Why `info` is not what `leaf` asks for (empty: it is).
pub fn differences(
    leaf: &LeafSpec,
    info: &CertInfo,
    ca: &SigningCa,
    alg: KeyAlgorithm,
    now: OffsetDateTime,
    store: &Store,
) -> Vec<String> {
    let mut reasons = vec![];
    if !info.signed_by(&ca.cert) {
        reasons.push(format!(
            "not signed by the current {} ({})",
            ca.kind.label(),
            store.show(&store.crt(ca.kind.id()))
        ));
    }
    if info.subject() != leaf.subject() {
        reasons.push(format!(
            "subject changed: {} → {}",
            info.subject(),
            leaf.subject()
        ));
    }
    if let Some(diff) = san_diff(&info.sans, &leaf.sans) {
        reasons.push(format!("SANs changed: {diff}"));
    }
    if info.usage() != Some(leaf.usage) {
        reasons.push(format!(
            "usages changed: {} → {}",
            info.usage_text(),
            leaf.usage.describe()
        ));
    }
    if info.key_label != key_label(alg) {
        reasons.push(format!(
            "key algorithm changed: {} → {}",
            info.key_label,
            key_label(alg)
        ));
    }
    if info.not_after <= now {
        reasons.push(format!(
            "expired on {}",
            super::inspect::format_time(info.not_after)
        ));
    }
    reasons
}

/// `+IP 10.77.0.14, -DNS old` (`None` when the sets are equal).
pub fn san_diff(have: &[San], want: &[San]) -> Option<String> {
    let mut parts: Vec<String> = want
        .iter()
        .filter(|s| !have.contains(s))
        .map(|s| format!("+{s}"))
        .collect();
    parts.extend(
        have.iter()
            .filter(|s| !want.contains(s))
            .map(|s| format!("-{s}")),
    );
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Issues what `work` says (in parallel), backs up the replaced files, writes the new ones and
/// records everything in the manifest and the report.
pub fn replace_leaves(
    store: &mut Store,
    manifest: &mut Manifest,
    report: &mut PkiReport,
    work: Vec<(LeafSpec, Decision)>,
    cas: &Cas,
    alg: KeyAlgorithm,
    now: OffsetDateTime,
) -> Result<()> {
    let to_issue: Vec<&LeafSpec> = work
        .iter()
        .filter(|(_, d)| !matches!(d, Decision::Keep(_)))
        .map(|(l, _)| l)
        .collect();
    let issued: Vec<IssuedLeaf> = parallel_map(&to_issue, |leaf| {
        issue_leaf(leaf, alg, &cas[&leaf.ca], now)
            .with_context(|| format!("issuing {}", store.show(&store.crt(&leaf.id))))
    })
    .into_iter()
    .collect::<Result<_>>()?;
    // Old files to the backup first (renames), then the new ones written in parallel: every
    // atomic write waits for two fsyncs.
    for (leaf, decision) in &work {
        if matches!(decision, Decision::Reissue(_)) {
            store.backup(&store.crt(&leaf.id))?;
            store.backup(&store.key(&leaf.id))?;
        }
    }
    let writes: Vec<(&LeafSpec, &IssuedLeaf)> = to_issue.iter().copied().zip(&issued).collect();
    let store_ref: &Store = store;
    let infos: Vec<CertInfo> = parallel_map_on(WRITE_THREADS, &writes, |(leaf, new)| {
        store_ref.write(&store_ref.key(&leaf.id), new.key_pem.as_bytes(), KEY_MODE)?;
        store_ref.write(&store_ref.crt(&leaf.id), new.cert_pem.as_bytes(), CERT_MODE)?;
        parse_cert_pem(new.cert_pem.as_bytes())
    })
    .into_iter()
    .collect::<Result<_>>()?;
    let mut infos = infos.into_iter();
    for (leaf, decision) in work {
        let crt = store.crt(&leaf.id);
        let ca = &cas[&leaf.ca];
        let (change, info, issued_at) = match decision {
            Decision::Keep(info) => {
                let fingerprint = info.fingerprint();
                let fresh = manifest
                    .leaves
                    .get(&leaf.id)
                    .is_some_and(|r| r.fingerprint == fingerprint);
                if !fresh {
                    let record =
                        leaf_record(store, &leaf, &info, ca, rfc3339(info.not_before), None);
                    manifest.leaves.insert(leaf.id.clone(), record);
                }
                report.push(store.show(&crt), leaf.what.clone(), Change::Unchanged);
                continue;
            }
            Decision::Create => (Change::Created, infos.next(), rfc3339(now)),
            Decision::Reissue(reasons) => {
                (Change::Reissued { reasons }, infos.next(), rfc3339(now))
            }
        };
        let info =
            info.ok_or_else(|| anyhow!("internal: no certificate issued for {}", leaf.id))?;
        let last_reissue = match &change {
            Change::Reissued { reasons } => Some(Reissue {
                at: rfc3339(now),
                reasons: reasons.clone(),
                backup: store.backup_dir().map(|b| store.show(b)),
            }),
            _ => None,
        };
        let record = leaf_record(store, &leaf, &info, ca, issued_at, last_reissue);
        manifest.leaves.insert(leaf.id.clone(), record);
        report.push(store.show(&crt), leaf.what.clone(), change);
    }
    Ok(())
}

fn leaf_record(
    store: &Store,
    leaf: &LeafSpec,
    info: &CertInfo,
    ca: &SigningCa,
    issued_at: String,
    last_reissue: Option<Reissue>,
) -> LeafRecord {
    LeafRecord {
        cert: store.show(&store.crt(&leaf.id)),
        key: store.show(&store.key(&leaf.id)),
        ca: leaf.ca.id().into(),
        issuer_fingerprint: ca.cert.fingerprint(),
        subject: info.subject(),
        sans: info.sans.iter().map(|s| s.to_string()).collect(),
        usage: info.usage_text(),
        key_algorithm: info.key_label.clone(),
        fingerprint: info.fingerprint(),
        serial: info.serial_hex.clone(),
        not_after: rfc3339(info.not_after),
        issued_at,
        last_reissue,
    }
}

/// The kubeconfigs, rewritten when what they embed (server, CA, certificate) changed.
fn ensure_kubeconfigs(
    store: &mut Store,
    spec: &ClusterSpec,
    cas: &Cas,
    report: &mut PkiReport,
) -> Result<()> {
    let server = layout::apiserver_url(spec)?;
    let ca_pem = &cas[&CaKind::Cluster].cert_pem;
    let mut writes: Vec<(std::path::PathBuf, String)> = vec![];
    for k in layout::kubeconfigs() {
        let (crt, key) = (store.crt(&k.leaf), store.key(&k.leaf));
        let cert_pem = store
            .read(&crt)?
            .ok_or_else(|| anyhow!("{} is missing", store.show(&crt)))?;
        let key_pem = store
            .read(&key)?
            .ok_or_else(|| anyhow!("{} is missing", store.show(&key)))?;
        let text = kubeconfig::render(&spec.name, &server, &k.user, ca_pem, &cert_pem, &key_pem);
        let path = store.kubeconfig(&k.file);
        let show = store.show(&path);
        let change = match store.read(&path)? {
            Some(old) if old == text.as_bytes() => Change::Unchanged,
            None => Change::Created,
            Some(old) => {
                let mut reasons = vec![];
                match kubeconfig::read(&old) {
                    None => reasons.push("was not a readable kubeconfig".to_string()),
                    Some(e) => {
                        if e.server.as_deref() != Some(server.as_str()) {
                            reasons.push(format!(
                                "server changed: {} → {server}",
                                e.server.as_deref().unwrap_or("none")
                            ));
                        }
                        if e.ca_pem.as_deref() != Some(ca_pem.as_slice()) {
                            reasons.push(format!(
                                "embeds the current CA ({})",
                                store.show(&store.crt(CaKind::Cluster.id()))
                            ));
                        }
                        if e.cert_pem.as_deref() != Some(cert_pem.as_slice())
                            || e.key_pem.as_deref() != Some(key_pem.as_slice())
                        {
                            reasons.push(format!("embeds the new {}", store.show(&crt)));
                        }
                        if reasons.is_empty() {
                            reasons.push("content differed from what kubewiz writes".into());
                        }
                    }
                }
                store.backup(&path)?;
                Change::Updated { reasons }
            }
        };
        if change != Change::Unchanged {
            writes.push((path, text));
        }
        report.push(show, k.what, change);
    }
    let store_ref: &Store = store;
    parallel_map_on(WRITE_THREADS, &writes, |(path, text)| {
        store_ref.write(path, text.as_bytes(), KUBECONFIG_MODE)
    })
    .into_iter()
    .collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Certificates and kubeconfigs in the directory that the cluster file no longer asks for.
fn report_orphans(store: &Store, spec: &ClusterSpec, report: &mut PkiReport) -> Result<()> {
    for path in orphans(store, spec)? {
        report.push(
            store.show(&path),
            format!("{}; left in place", orphan_reason(store, &path)),
            Change::Orphaned,
        );
    }
    Ok(())
}

/// Why kubewiz does not ask for an orphan (see [`orphans`]), for people.
pub fn orphan_reason(store: &Store, path: &Path) -> &'static str {
    let in_legacy_dir = path.parent() == Some(&*store.pki().join(layout::LEGACY_KUBELET_DIR));
    let legacy_conf = path.parent() == Some(&*store.kubeconfig(""))
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(layout::LEGACY_KUBELET_CONF_PREFIX));
    if in_legacy_dir {
        "kubelet client certificate from an earlier kubewiz, no longer issued: kubelets get theirs \
         by TLS bootstrapping when they join"
    } else if legacy_conf {
        "kubelet kubeconfig from an earlier kubewiz, no longer written: kubelets get theirs by \
         TLS bootstrapping when they join"
    } else {
        "not in the cluster file (a removed host?)"
    }
}

/// `.crt` files under `pki/` (not the backups) and `.conf` files under `kubeconfigs/` that the
/// cluster file does not ask for: a removed host's, and the per-node kubelet files of earlier
/// versions (see [`orphan_reason`]).
pub fn orphans(store: &Store, spec: &ClusterSpec) -> Result<Vec<std::path::PathBuf>> {
    let mut known: BTreeSet<std::path::PathBuf> =
        CaKind::ALL.iter().map(|k| store.crt(k.id())).collect();
    known.extend(layout::leaves(spec)?.iter().map(|l| store.crt(&l.id)));
    let mut out = vec![];
    for path in walk(store.pki(), &store.pki().join("backup"))? {
        if path.extension().is_some_and(|e| e == "crt") && !known.contains(&path) {
            out.push(path);
        }
    }
    let wanted: BTreeSet<std::path::PathBuf> = layout::kubeconfigs()
        .iter()
        .map(|k| store.kubeconfig(&k.file))
        .collect();
    let kdir = store.kubeconfig("");
    if kdir.is_dir() {
        let mut confs: Vec<_> = std::fs::read_dir(&kdir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf") && !wanted.contains(p))
            .collect();
        confs.sort();
        out.extend(confs);
    }
    Ok(out)
}

/// Every file under `root`, sorted, skipping `skip`.
pub fn walk(root: &Path, skip: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for e in entries {
            let path = e?.path();
            if path == skip {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_differences() {
        let ip = |s: &str| San::Ip(s.parse().unwrap());
        let dns = |s: &str| San::Dns(s.into());
        let have = [ip("10.0.0.1"), dns("old"), dns("localhost")];
        let want = [dns("localhost"), ip("10.0.0.1"), ip("10.0.0.4")];
        assert_eq!(
            san_diff(&have, &want).as_deref(),
            Some("+IP 10.0.0.4, -DNS old")
        );
        // Order does not matter.
        assert_eq!(san_diff(&have[..1], &have[..1]), None);
        assert_eq!(
            san_diff(&[ip("1.1.1.1"), dns("a")], &[dns("a"), ip("1.1.1.1")]),
            None
        );
    }
}

//! Making keys and certificates with rcgen (aws-lc underneath: ring cannot generate RSA keys).

use super::inspect::{parse_cert_pem, CertInfo};
use super::layout::{CaKind, LeafSpec, San, BACKDATE_SECS, CA_VALIDITY_DAYS, LEAF_VALIDITY_DAYS};
use crate::config::KeyAlgorithm;
use anyhow::{anyhow, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, RsaKeySize, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A fresh private key.
pub fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair> {
    match alg {
        KeyAlgorithm::Rsa => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyAlgorithm::Ecdsa => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    }
    .map_err(|e| anyhow!("generating a {} key: {e}", alg.as_str()))
}

/// 16 random bytes, positive (what Go's crypto/x509 users, kubeadm included, do).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no randomness for a serial number"))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero byte: the encoding stays 16 bytes
    Ok(SerialNumber::from_slice(&bytes))
}

/// A CA certificate and its key, as PEM.
pub struct IssuedCa {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed CA: CA:TRUE, keyCertSign + cRLSign (+ digitalSignature, as kubeadm's), 10 years.
pub fn self_signed_ca(kind: CaKind, key: &KeyPair, now: OffsetDateTime) -> Result<IssuedCa> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, kind.common_name());
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    p.not_before = now - Duration::seconds(BACKDATE_SECS);
    p.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    p.serial_number = Some(random_serial()?);
    let cert = p
        .self_signed(key)
        .map_err(|e| anyhow!("signing the {}: {e}", kind.label()))?;
    Ok(IssuedCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A CA able to sign: its certificate (parsed) and an rcgen issuer holding its key.
pub struct SigningCa {
    pub kind: CaKind,
    pub cert: CertInfo,
    pub cert_pem: Vec<u8>,
    pub issuer: Issuer<'static, KeyPair>,
}

impl SigningCa {
    /// From the CA's PEM files; the key must match (checked by the caller).
    pub fn new(kind: CaKind, cert_pem: Vec<u8>, key: KeyPair) -> Result<SigningCa> {
        let cert = parse_cert_pem(&cert_pem)?;
        let text = std::str::from_utf8(&cert_pem).context("not PEM text")?;
        let issuer = Issuer::from_ca_cert_pem(text, key).map_err(|e| {
            anyhow!("cannot sign with this CA: {e} (subjects with multi-valued names are not supported)")
        })?;
        Ok(SigningCa {
            kind,
            cert,
            cert_pem,
            issuer,
        })
    }
}

/// A leaf certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct IssuedLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Signs `leaf` (subject, SANs, usages of the spec) for `key`, valid one year (never past the
/// CA's own end).
pub fn sign_leaf(
    leaf: &LeafSpec,
    key: &KeyPair,
    ca: &SigningCa,
    now: OffsetDateTime,
) -> Result<String> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, leaf.common_name.as_str());
    for o in &leaf.organizations {
        p.distinguished_name
            .push(DnType::OrganizationName, o.as_str());
    }
    p.subject_alt_names = leaf
        .sans
        .iter()
        .map(|s| match s {
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            San::Dns(d) => d
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| anyhow!("SAN {d:?}: {e}")),
        })
        .collect::<Result<_>>()?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
        // TLS with RSA key exchange encrypts to the key; kubeadm sets it for RSA keys.
        p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    if leaf.usage.server_auth() {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if leaf.usage.client_auth() {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - Duration::seconds(BACKDATE_SECS);
    p.not_after = (now + Duration::days(LEAF_VALIDITY_DAYS)).min(ca.cert.not_after);
    p.serial_number = Some(random_serial()?);
    let cert = p
        .signed_by(key, &ca.issuer)
        .map_err(|e| anyhow!("signing {}: {e}", leaf.id))?;
    Ok(cert.pem())
}

/// A new key and certificate for `leaf`.
pub fn issue_leaf(
    leaf: &LeafSpec,
    alg: KeyAlgorithm,
    ca: &SigningCa,
    now: OffsetDateTime,
) -> Result<IssuedLeaf> {
    let key = generate_key(alg)?;
    let cert_pem = sign_leaf(leaf, &key, ca, now)?;
    Ok(IssuedLeaf {
        cert_pem,
        key_pem: key.serialize_pem(),
    })
}

/// Runs `f` on every item on all cores (RSA key generation is the cost of the PKI), results in
/// the items' order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    parallel_map_on(cores, items, f)
}

/// Threads for writing files: each write waits for two fsyncs, so more than the cores help.
pub const WRITE_THREADS: usize = 8;

/// [`parallel_map`] on `threads` threads.
pub fn parallel_map_on<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let threads = threads.min(items.len()).max(1);
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<R>>> = (0..items.len()).map(|_| None).collect();
    let collected = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                collected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
            });
        }
    });
    for (i, r) in collected.into_inner().unwrap_or_else(|e| e.into_inner()) {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow!("worker did not finish"))))
        .collect()
}

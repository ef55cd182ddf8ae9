//! Reading certificates and keys back: what `certs list` shows, what `ensure` compares with the
//! cluster file, what `certs check` verifies. x509-parser does the parsing and the signature
//! checks; rcgen (aws-lc) reads the private keys.

use super::layout::{format_subject, San, Usage};
use anyhow::{anyhow, bail, Context, Result};
use rcgen::KeyPair;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// A parsed certificate, owned.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    /// `CN=kube-apiserver` as kubewiz writes subjects (CN, then every O).
    pub common_name: String,
    pub organizations: Vec<String>,
    /// The whole subject and issuer as x509-parser prints them (`CN=etcd-ca`).
    pub subject_text: String,
    pub issuer_text: String,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    pub sans: Vec<San>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    /// None when the certificate has no extended key usage extension.
    pub server_auth: Option<bool>,
    pub client_auth: Option<bool>,
    pub key_cert_sign: bool,
    /// SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The public key bits (what a private key is matched against).
    pub public_key: Vec<u8>,
    /// `RSA-2048`, `ECDSA P-256`.
    pub key_label: String,
    pub serial_hex: String,
}

impl CertInfo {
    /// `CN=x, O=y` (the form of [`super::layout::LeafSpec::subject`]).
    pub fn subject(&self) -> String {
        format_subject(&self.common_name, &self.organizations)
    }

    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.der)
    }

    pub fn self_signed(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// The usage this certificate's EKUs amount to, if one of kubewiz's.
    pub fn usage(&self) -> Option<Usage> {
        match (self.server_auth?, self.client_auth?) {
            (true, true) => Some(Usage::ServerClient),
            (true, false) => Some(Usage::Server),
            (false, true) => Some(Usage::Client),
            (false, false) => None,
        }
    }

    pub fn usage_text(&self) -> String {
        match (self.server_auth, self.client_auth) {
            (None, _) | (_, None) => "no extended key usage".into(),
            (Some(s), Some(c)) => {
                let mut v = vec![];
                if s {
                    v.push("serverAuth");
                }
                if c {
                    v.push("clientAuth");
                }
                if v.is_empty() {
                    "other extended key usages".into()
                } else {
                    v.join(", ")
                }
            }
        }
    }

    /// Whole days until `not_after` (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// Whether `ca` signed this certificate: the issuer name is the CA's subject and the
    /// signature verifies with the CA's key.
    pub fn signed_by(&self, ca: &CertInfo) -> bool {
        if self.issuer_raw != ca.subject_raw {
            return false;
        }
        let (Ok((_, me)), Ok((_, issuer))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&ca.der),
        ) else {
            return false;
        };
        me.verify_signature(Some(issuer.public_key())).is_ok()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The first certificate of a PEM file.
pub fn parse_cert_pem(pem_text: &[u8]) -> Result<CertInfo> {
    let blocks = pem::parse_many(pem_text).context("not PEM")?;
    let block = blocks
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| anyhow!("no CERTIFICATE block in the file"))?;
    parse_cert_der(block.contents())
}

pub fn parse_cert_der(der: &[u8]) -> Result<CertInfo> {
    let (_, x) = X509Certificate::from_der(der).map_err(|e| anyhow!("not a certificate: {e}"))?;
    let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let common_name = strings(&mut x.subject().iter_common_name())
        .into_iter()
        .next()
        .unwrap_or_default();
    let organizations = strings(&mut x.subject().iter_organization());
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(San::Dns(d.to_ascii_lowercase())),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        sans.push(San::Ip(ip));
                    }
                }
                _ => {}
            }
        }
    }
    let eku = x.extended_key_usage().ok().flatten().map(|e| e.value);
    let spki = x.public_key();
    let key_label = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA-{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                Some("1.3.132.0.34") => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                Some(other) => format!("ECDSA {other}"),
                None => "ECDSA".into(),
            }
        }
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => "Ed25519".into(),
            other => other.to_string(),
        },
    };
    Ok(CertInfo {
        der: der.to_vec(),
        common_name,
        organizations,
        subject_text: x.subject().to_string(),
        issuer_text: x.issuer().to_string(),
        subject_raw: x.subject().as_raw().to_vec(),
        issuer_raw: x.issuer().as_raw().to_vec(),
        sans,
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        is_ca: x.is_ca(),
        server_auth: eku.map(|e| e.server_auth || e.any),
        client_auth: eku.map(|e| e.client_auth || e.any),
        key_cert_sign: x
            .key_usage()
            .ok()
            .flatten()
            .is_some_and(|k| k.value.key_cert_sign()),
        spki: spki.raw.to_vec(),
        public_key: spki.subject_public_key.data.to_vec(),
        key_label,
        serial_hex: x.raw_serial_as_string(),
    })
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// A private key from PEM (PKCS#8, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`).
pub fn parse_key_pem(pem_text: &[u8]) -> Result<KeyPair> {
    let text = std::str::from_utf8(pem_text).context("not PEM text")?;
    let blocks = pem::parse_many(text).context("not PEM")?;
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        bail!("no PRIVATE KEY block in the file");
    };
    if block.tag() == "ENCRYPTED PRIVATE KEY" {
        bail!("the key is encrypted; kubewiz needs it unencrypted (openssl pkey -in KEY -out KEY)");
    }
    KeyPair::try_from(block.contents()).map_err(|e| anyhow!("cannot use the private key: {e}"))
}

/// Whether `key` is the private key of `cert`.
pub fn key_matches(key: &KeyPair, cert: &CertInfo) -> bool {
    key.public_key_raw() == cert.public_key.as_slice()
}

/// `2026-05-01 12:00 UTC`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `2026-05-01T12:00:00Z` (manifest, JSON).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

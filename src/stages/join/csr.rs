//! What a planned node's kubelet-serving CSR must ask for, as the bytes the step on the master
//! looks for in the request: the subjectAltName extension naming exactly the node's name and
//! address. kubewiz approves a serving CSR only when the extension is there once and is exactly
//! this (any other, further or missing name changes its bytes), so a kubelet can never get a
//! serving certificate for a name or address the cluster file does not give it.

use anyhow::{anyhow, Result};
use std::net::IpAddr;

/// DER length octets.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        _ => {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            let mut out = vec![0x80 | bytes.len() as u8];
            out.extend(bytes);
            out
        }
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// The subjectAltName OID, 2.5.29.17, as DER.
pub const SAN_OID_HEX: &str = "0603551d11";

/// The extension's DER from its OID on (non-critical, as Go writes it for a request with a
/// subject): `OID, OCTET STRING { GeneralNames }` with the DNS names first, then the IPs, in
/// the order kubelet puts them (its node's Hostname address, then its InternalIP). Lowercase
/// hex, as `od -tx1` prints it.
pub fn serving_san_hex(name: &str, address: &str) -> Result<String> {
    let ip: IpAddr = address
        .parse()
        .map_err(|_| anyhow!("{address:?} is not an IP address"))?;
    let mut names = tlv(0x82, name.as_bytes());
    let octets = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    names.extend(tlv(0x87, &octets));
    let general_names = tlv(0x30, &names);
    let mut ext = hex::decode(SAN_OID_HEX).expect("constant hex");
    ext.extend(tlv(0x04, &general_names));
    Ok(hex::encode(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a request made the way kubelet makes one (rcgen writes the same
    /// GeneralNames: DNS names, then IPs), found in its DER.
    #[test]
    fn found_in_a_real_request_and_only_for_the_same_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = |sans: Vec<rcgen::SanType>| {
            let mut p = rcgen::CertificateParams::default();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "system:node:node2");
            p.subject_alt_names = sans;
            hex::encode(p.serialize_request(&key).unwrap().der())
        };
        let dns = |n: &str| rcgen::SanType::DnsName(n.try_into().unwrap());
        let ip = |a: &str| rcgen::SanType::IpAddress(a.parse().unwrap());
        let want = serving_san_hex("node2", "10.77.0.12").unwrap();
        assert_eq!(want, "0603551d11040f300d82056e6f64653287040a4d000c");
        let exact = csr(vec![dns("node2"), ip("10.77.0.12")]);
        assert!(exact.contains(&want), "{exact}");
        assert_eq!(exact.matches(SAN_OID_HEX).count(), 1);
        for other in [
            vec![dns("node2"), ip("10.77.0.13")],
            vec![dns("node2"), dns("evil"), ip("10.77.0.12")],
            vec![dns("node2"), ip("10.77.0.12"), ip("10.0.0.1")],
            vec![dns("node3"), ip("10.77.0.12")],
        ] {
            assert!(!csr(other).contains(&want));
        }
        let v6 = serving_san_hex("n", "fd00::1").unwrap();
        assert!(v6.ends_with("8710fd000000000000000000000000000001"), "{v6}");
        assert!(serving_san_hex("n", "node").is_err());
        assert_eq!(der_len(200), vec![0x81, 200]);
    }
}

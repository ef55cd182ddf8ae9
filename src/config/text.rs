//! Small string and address helpers shared by parsing and validation.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The candidate closest to `word`, if one is close enough to be a plausible typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for &c in candidates {
        let limit = match c.chars().count() {
            0..=3 => 1,
            4..=6 => 2,
            _ => 3,
        };
        // Levenshtein with adjacent transpositions as one edit ("prot" is 1 from "port").
        let mut d = strsim::osa_distance(&word, c);
        // "passphrase" for "passphrase_env": one is the start of the other.
        if word.len().min(c.len()) >= 4 && (c.starts_with(&word) || word.starts_with(c)) {
            d = d.min(limit);
        }
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Checks one RFC 1123 label: 1-63 characters, lowercase letters, digits and '-', starting and
/// ending with a letter or digit. `Err` carries the reason, phrased to follow "it ...".
pub(crate) fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("is empty".into());
    }
    if label.len() > 63 {
        return Err(format!("is {} characters long (at most 63)", label.len()));
    }
    if label.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("contains uppercase letters".into());
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "contains {c:?} (only lowercase letters, digits and '-' are allowed)"
        ));
    }
    if label.starts_with('-') {
        return Err("starts with '-'".into());
    }
    if label.ends_with('-') {
        return Err("ends with '-'".into());
    }
    Ok(())
}

/// Checks an RFC 1123 subdomain: dot-separated labels, at most 253 characters in all.
pub(crate) fn check_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 253 {
        return Err(format!("is {} characters long (at most 253)", name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("has an empty part between dots".into());
        }
        check_label(label).map_err(|why| {
            if name.contains('.') {
                format!("has a part {label:?} that {why}")
            } else {
                why
            }
        })?;
    }
    Ok(())
}

/// A name for a failed RFC 1123 check: the lowercase spelling, when that one is valid.
pub(crate) fn lowercase_fix(name: &str, check: fn(&str) -> Result<(), String>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    (lower != name && check(&lower).is_ok()).then_some(lower)
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `1.32.0` or `v1.32.0`: three dot-separated numbers, an optional leading `v`.
pub(crate) fn is_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.chars().all(|c| c.is_ascii_digit()))
}

/// Major and minor of a version `is_version` accepts.
pub(crate) fn major_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Parses a CIDR. `Err` is the complete reason (without the field name): not a CIDR, or host
/// bits set (with the corrected network).
pub(crate) fn parse_cidr(text: &str) -> Result<IpNet, String> {
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() != net => Err(format!(
            "{text:?} has host bits set; did you mean {}?",
            net.trunc()
        )),
        Ok(net) => Ok(net),
        Err(_) if text.parse::<IpAddr>().is_ok() => Err(format!(
            "{text:?} is an address, not a CIDR: add the prefix length, e.g. {text}/16"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a CIDR (write it as address/prefix, e.g. 10.244.0.0/16)"
        )),
    }
}

/// The `n`th address of a network (0 is the network address itself), if the network has one.
pub(crate) fn nth_address(net: &IpNet, n: u128) -> Option<IpAddr> {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits < 128 && n >> host_bits != 0 {
        return None;
    }
    match net.network() {
        IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)) + n;
            Some(IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?)))
        }
        IpAddr::V6(a) => Some(IpAddr::V6(Ipv6Addr::from(u128::from(a).checked_add(n)?))),
    }
}

/// How many addresses a network holds, saturating at `u128::MAX`.
pub(crate) fn size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

pub(crate) fn family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Expands a leading `~/` with `$HOME`. Other paths are returned as they are, and so is `~/...`
/// when `HOME` is not set.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) if path.to_str().is_none_or(|s| s.starts_with("~/")) => {
            PathBuf::from(home).join(rest)
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        // The metric suggest relies on: a swap of two neighbours is one edit.
        let d = strsim::osa_distance;
        assert_eq!(d("", ""), 0);
        assert_eq!(d("adress", "address"), 1);
        assert_eq!(d("prot", "port"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("abc", ""), 3);
    }

    #[test]
    fn suggestions() {
        let keys = ["name", "address", "port", "user", "auth", "sudo", "roles"];
        assert_eq!(suggest("adress", &keys), Some("address"));
        assert_eq!(suggest("Address", &keys), Some("address"));
        assert_eq!(suggest("prot", &keys), Some("port"));
        assert_eq!(suggest("role", &keys), Some("roles"));
        assert_eq!(
            suggest("keyfile", &["key_file", "passphrase_env"]),
            Some("key_file")
        );
        assert_eq!(suggest("hostname", &keys), None);
        assert_eq!(
            suggest("passphrase", &["method", "key_file", "passphrase_env"]),
            Some("passphrase_env")
        );
        assert_eq!(
            suggest("password", &["method", "password_env"]),
            Some("password_env")
        );
        assert_eq!(suggest("cri-o", &["docker", "containerd"]), None);
        assert_eq!(
            suggest("containred", &["docker", "containerd"]),
            Some("containerd")
        );
    }

    #[test]
    fn rfc1123() {
        assert!(check_label("node-1").is_ok());
        assert!(check_label("1node").is_ok());
        assert!(check_label(&"a".repeat(63)).is_ok());
        assert_eq!(
            check_label(&"a".repeat(64)).unwrap_err(),
            "is 64 characters long (at most 63)"
        );
        assert_eq!(check_label("").unwrap_err(), "is empty");
        assert_eq!(
            check_label("Node1").unwrap_err(),
            "contains uppercase letters"
        );
        assert!(check_label("node_1").unwrap_err().contains("'_'"));
        assert_eq!(check_label("-node").unwrap_err(), "starts with '-'");
        assert_eq!(check_label("node-").unwrap_err(), "ends with '-'");
        assert!(check_label("a.b").is_err());

        assert!(check_subdomain("node1.lab.example").is_ok());
        assert!(check_subdomain("node1").is_ok());
        assert_eq!(
            check_subdomain("a..b").unwrap_err(),
            "has an empty part between dots"
        );
        assert_eq!(
            check_subdomain("a.b-").unwrap_err(),
            "has a part \"b-\" that ends with '-'"
        );
        assert_eq!(check_subdomain("node-").unwrap_err(), "ends with '-'");
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(check_subdomain(&long).unwrap_err().contains("at most 253"));

        assert_eq!(
            lowercase_fix("Node1", check_label).as_deref(),
            Some("node1")
        );
        assert_eq!(lowercase_fix("Node_1", check_label), None);
    }

    #[test]
    fn env_names_and_versions() {
        assert!(is_env_var_name("NODE2_PW"));
        assert!(is_env_var_name("_x1"));
        assert!(!is_env_var_name("2PW"));
        assert!(!is_env_var_name("NODE-PW"));
        assert!(!is_env_var_name(""));

        assert!(is_version("1.32.0"));
        assert!(is_version("v3.4.23"));
        assert!(!is_version("1.32"));
        assert!(!is_version("1.32.0-rc.1"));
        assert!(!is_version("latest"));
        assert!(!is_version("1..0"));
        assert_eq!(major_minor("v1.32.0"), Some((1, 32)));
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.244.0.0/16").unwrap().to_string(),
            "10.244.0.0/16"
        );
        assert_eq!(
            parse_cidr("10.244.1.0/16").unwrap_err(),
            "\"10.244.1.0/16\" has host bits set; did you mean 10.244.0.0/16?"
        );
        assert_eq!(
            parse_cidr("fd00::1/64").unwrap_err(),
            "\"fd00::1/64\" has host bits set; did you mean fd00::/64?"
        );
        assert!(parse_cidr("10.244.0.0")
            .unwrap_err()
            .contains("add the prefix length"));
        assert!(parse_cidr("10.244.0.0/33")
            .unwrap_err()
            .contains("is not a CIDR"));
        assert!(parse_cidr("banana").unwrap_err().contains("is not a CIDR"));
    }

    #[test]
    fn nth() {
        let net: IpNet = "10.96.0.0/12".parse().unwrap();
        assert_eq!(nth_address(&net, 10), Some("10.96.0.10".parse().unwrap()));
        assert_eq!(nth_address(&net, 1), Some("10.96.0.1".parse().unwrap()));
        let small: IpNet = "10.0.0.0/29".parse().unwrap();
        assert_eq!(nth_address(&small, 7), Some("10.0.0.7".parse().unwrap()));
        assert_eq!(nth_address(&small, 10), None);
        let v6: IpNet = "fd00:10:96::/112".parse().unwrap();
        assert_eq!(nth_address(&v6, 10), Some("fd00:10:96::a".parse().unwrap()));
        let all: IpNet = "::/0".parse().unwrap();
        assert_eq!(nth_address(&all, 10), Some("::a".parse().unwrap()));
        assert_eq!(size(&small), 8);
        assert_eq!(size(&all), u128::MAX);
    }

    #[test]
    fn home() {
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                expand_home(Path::new("~/.ssh/id_ed25519")),
                PathBuf::from(home).join(".ssh/id_ed25519")
            );
        }
        assert_eq!(expand_home(Path::new("/etc/x")), PathBuf::from("/etc/x"));
        assert_eq!(expand_home(Path::new("~bob/x")), PathBuf::from("~bob/x"));
        assert_eq!(
            expand_home(Path::new("keys/~/x")),
            PathBuf::from("keys/~/x")
        );
    }
}

//! What the rest of the tool uses: hosts with their defaults applied, derived addresses.

use super::text::{expand_home, nth_address};
use super::{AuthSpec, ClusterSpec, HostSpec, Role};
use ipnet::IpNet;
use std::net::IpAddr;

/// A host with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedHost {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub user: String,
    /// A `key_file` starting with `~/` is expanded.
    pub auth: AuthSpec,
    pub sudo: bool,
    pub roles: Vec<Role>,
}

impl ResolvedHost {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

impl ClusterSpec {
    /// The hosts with their defaults applied: host value, else `defaults`, else built-in (port
    /// 22, user root, ssh-agent auth, sudo when the user is not root).
    ///
    /// Call after [`super::validate`] passed: a host whose address is not an IP address is left
    /// out.
    pub fn resolved_hosts(&self) -> Vec<ResolvedHost> {
        let d = &self.defaults;
        self.hosts
            .iter()
            .filter_map(|h| {
                let address = h.address.parse().ok()?;
                let user = h
                    .user
                    .clone()
                    .or_else(|| d.user.clone())
                    .unwrap_or_else(|| "root".into());
                let auth = match h.auth.clone().or_else(|| d.auth.clone()) {
                    Some(AuthSpec::Key {
                        key_file,
                        passphrase_env,
                    }) => AuthSpec::Key {
                        key_file: expand_home(&key_file),
                        passphrase_env,
                    },
                    Some(other) => other,
                    None => AuthSpec::Agent,
                };
                Some(ResolvedHost {
                    name: h.name.clone(),
                    address,
                    port: h.port.or(d.port).unwrap_or(22),
                    sudo: h.sudo.or(d.sudo).unwrap_or(user != "root"),
                    user,
                    auth,
                    roles: h.roles.clone(),
                })
            })
            .collect()
    }

    /// The cluster DNS service address: `network.cluster_dns`, else the 10th address of the
    /// service CIDR (10.96.0.0/12 → 10.96.0.10). `None` when the one that applies is invalid.
    pub fn cluster_dns_ip(&self) -> Option<IpAddr> {
        match &self.network.cluster_dns {
            Some(ip) => ip.parse().ok(),
            None => nth_address(&self.service_net()?, 10),
        }
    }

    /// The `kubernetes` service address: the first address of the service CIDR (10.96.0.1).
    pub fn apiserver_service_ip(&self) -> Option<IpAddr> {
        nth_address(&self.service_net()?, 1)
    }

    pub fn hosts_with_role(&self, role: Role) -> Vec<&HostSpec> {
        self.hosts
            .iter()
            .filter(|h| h.roles.contains(&role))
            .collect()
    }

    fn service_net(&self) -> Option<IpNet> {
        self.network
            .service_cidr
            .parse::<IpNet>()
            .ok()
            .map(|n| n.trunc())
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use std::path::PathBuf;

    fn spec() -> ClusterSpec {
        parse_str(
            "name: lab\n\
             defaults: {user: kube, auth: {method: key, key_file: ~/.ssh/id_ed25519}}\n\
             hosts:\n\
             - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}\n\
             - {name: node2, address: 10.77.0.12, port: 2222, user: root, roles: [node],\n   \
                auth: {method: password, password_env: NODE2_PW}}\n\
             - {name: node3, address: 'fd00::13', sudo: false, roles: [node]}\n\
             network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n",
        )
        .unwrap()
    }

    #[test]
    fn defaults_apply_in_order() {
        let hosts = spec().resolved_hosts();
        assert_eq!(hosts.len(), 3);
        let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
        assert_eq!((h1.port, h1.user.as_str(), h1.sudo), (22, "kube", true));
        match &h1.auth {
            AuthSpec::Key { key_file, .. } => {
                if let Some(home) = std::env::var_os("HOME") {
                    assert_eq!(key_file, &PathBuf::from(home).join(".ssh/id_ed25519"));
                }
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((h2.port, h2.user.as_str(), h2.sudo), (2222, "root", false));
        assert!(
            matches!(&h2.auth, AuthSpec::Password { password_env: Some(e) } if e == "NODE2_PW")
        );
        assert_eq!(h3.address, "fd00::13".parse::<std::net::IpAddr>().unwrap());
        assert!(!h3.sudo);
        assert!(h1.has_role(Role::Master) && !h2.has_role(Role::Master));
    }

    #[test]
    fn built_in_defaults() {
        let mut s = spec();
        s.defaults = HostDefaults::default();
        let h = &s.resolved_hosts()[0];
        assert_eq!((h.port, h.user.as_str(), h.sudo), (22, "root", false));
        assert_eq!(h.auth, AuthSpec::Agent);
    }

    #[test]
    fn service_addresses() {
        let mut s = spec();
        assert_eq!(s.cluster_dns_ip(), Some("10.96.0.10".parse().unwrap()));
        assert_eq!(s.apiserver_service_ip(), Some("10.96.0.1".parse().unwrap()));
        s.network.cluster_dns = Some("10.96.0.53".into());
        assert_eq!(s.cluster_dns_ip(), Some("10.96.0.53".parse().unwrap()));
        s.network.service_cidr = "fd00:10:96::/112".into();
        assert_eq!(
            s.apiserver_service_ip(),
            Some("fd00:10:96::1".parse().unwrap())
        );
        s.network.service_cidr = "nonsense".into();
        assert_eq!(s.apiserver_service_ip(), None);
    }

    #[test]
    fn roles() {
        let s = spec();
        let names = |r| {
            s.hosts_with_role(r)
                .iter()
                .map(|h| h.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Role::Etcd), ["node1"]);
        assert_eq!(names(Role::Node), ["node1", "node2", "node3"]);
    }
}

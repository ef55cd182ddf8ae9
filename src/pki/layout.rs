//! What the PKI holds for a cluster file: the CAs, the leaf certificates with their subjects,
//! SANs and usages, and the kubeconfigs. Pure data, derived from a [`ClusterSpec`]; nothing here
//! touches the disk.

use crate::config::{ClusterSpec, CniSpec, HostSpec, KeyAlgorithm, Role};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Days a CA is valid (kubeadm: 10 years).
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Days a leaf certificate is valid (kubeadm: 1 year).
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// Certificates start this many seconds in the past, so a host whose clock is a little behind
/// accepts them (kubeadm backdates by 5 minutes too).
pub const BACKDATE_SECS: i64 = 300;

/// The three CAs of kubeadm's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaKind {
    /// `ca.crt`: signs the API server and its clients; at join time the controller-manager's
    /// CSR signer signs the kubelets' client certificates with it (TLS bootstrapping).
    Cluster,
    /// `etcd/ca.crt`: signs etcd's server, peer and client certificates.
    Etcd,
    /// `front-proxy-ca.crt`: signs the aggregation layer's client certificate.
    FrontProxy,
}

impl CaKind {
    pub const ALL: [CaKind; 3] = [CaKind::Cluster, CaKind::Etcd, CaKind::FrontProxy];

    /// Path of the pair under `pki/`, without extension.
    pub fn id(self) -> &'static str {
        match self {
            CaKind::Cluster => "ca",
            CaKind::Etcd => "etcd/ca",
            CaKind::FrontProxy => "front-proxy-ca",
        }
    }

    /// Subject CN of a CA kubewiz generates (kubeadm's names).
    pub fn common_name(self) -> &'static str {
        match self {
            CaKind::Cluster => "kubernetes",
            CaKind::Etcd => "etcd-ca",
            CaKind::FrontProxy => "front-proxy-ca",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CaKind::Cluster => "cluster CA",
            CaKind::Etcd => "etcd CA",
            CaKind::FrontProxy => "front-proxy CA",
        }
    }
}

/// Extended key usages of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// serverAuth.
    Server,
    /// serverAuth + clientAuth: etcd's server and peer certificates. Peers are both ends of a
    /// connection; the server certificate needs clientAuth too because etcd's gRPC gateway
    /// dials the member itself with it (kubeadm issues both the same way).
    ServerClient,
    /// clientAuth.
    Client,
}

impl Usage {
    pub fn server_auth(self) -> bool {
        matches!(self, Usage::Server | Usage::ServerClient)
    }

    pub fn client_auth(self) -> bool {
        matches!(self, Usage::Client | Usage::ServerClient)
    }

    /// `serverAuth, clientAuth`, as openssl prints them.
    pub fn describe(self) -> &'static str {
        match self {
            Usage::Server => "serverAuth",
            Usage::ServerClient => "serverAuth, clientAuth",
            Usage::Client => "clientAuth",
        }
    }
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    Ip(IpAddr),
    Dns(String),
}

impl San {
    /// An IP address, else a DNS name (checked loosely: letters, digits, '-', '.', a leading
    /// `*.`). Used for the SANs of the cluster file (validated already) and the fault-injection
    /// helper.
    pub fn parse(text: &str) -> Result<San> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        let name = text.strip_prefix("*.").unwrap_or(text);
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            bail!("{text:?} is neither an IP address nor a DNS name");
        }
        Ok(San::Dns(text.to_ascii_lowercase()))
    }
}

/// `IP 10.77.0.11`, `DNS localhost` (openssl prints `IP Address:` and `DNS:`).
impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "IP {ip}"),
            San::Dns(name) => write!(f, "DNS {name}"),
        }
    }
}

/// One leaf certificate and key the PKI holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// Path of the pair under `pki/`, without extension: `etcd/node1/server`.
    pub id: String,
    pub ca: CaKind,
    pub common_name: String,
    pub organizations: Vec<String>,
    /// In the order they are written; compared as a set.
    pub sans: Vec<San>,
    pub usage: Usage,
    /// The host it belongs to (an etcd member), for messages.
    pub host: Option<String>,
    /// What it is, for people: `etcd server of node1`.
    pub what: String,
}

impl LeafSpec {
    /// `CN=kubernetes-admin, O=system:masters`.
    pub fn subject(&self) -> String {
        format_subject(&self.common_name, &self.organizations)
    }
}

/// `CN=x, O=a, O=b`.
pub fn format_subject(cn: &str, orgs: &[String]) -> String {
    let mut s = format!("CN={cn}");
    for o in orgs {
        s.push_str(", O=");
        s.push_str(o);
    }
    s
}

/// Label of the key type kubewiz generates for `alg`, as [`super::inspect`] describes keys.
pub fn key_label(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::Rsa => "RSA-2048",
        KeyAlgorithm::Ecdsa => "ECDSA P-256",
    }
}

pub(crate) fn host<'a>(spec: &'a ClusterSpec, name: &str) -> Result<&'a HostSpec> {
    spec.hosts
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| anyhow!("no host named {name:?} in the cluster file"))
}

fn host_ip(h: &HostSpec) -> Result<IpAddr> {
    h.address.parse().map_err(|_| {
        anyhow!(
            "host {}: address {:?} is not an IP address (validate the cluster file first)",
            h.name,
            h.address
        )
    })
}

/// SANs of an etcd member's server and peer certificates: its address, its name, loopback.
pub fn etcd_member_sans(h: &HostSpec) -> Result<Vec<San>> {
    Ok(dedup(vec![
        San::Ip(host_ip(h)?),
        San::Dns(h.name.to_ascii_lowercase()),
        San::Ip(IpAddr::from([127, 0, 0, 1])),
        San::Dns("localhost".into()),
    ]))
}

/// The server and peer certificates of one etcd member, with the given SANs.
pub fn etcd_member_leaves(h: &HostSpec, sans: Vec<San>) -> [LeafSpec; 2] {
    let leaf = |kind: &str| LeafSpec {
        id: format!("etcd/{}/{kind}", h.name),
        ca: CaKind::Etcd,
        common_name: h.name.clone(),
        organizations: vec![],
        sans: sans.clone(),
        usage: Usage::ServerClient,
        host: Some(h.name.clone()),
        what: format!("etcd {kind} of {}", h.name),
    };
    [leaf("server"), leaf("peer")]
}

/// SANs of the API server certificate: kubeadm's names, the kubernetes service address, every
/// master's address and name, the VIP, loopback and `apiserver.extra_sans`.
pub fn apiserver_sans(spec: &ClusterSpec) -> Result<Vec<San>> {
    let mut sans = vec![
        San::Dns("kubernetes".into()),
        San::Dns("kubernetes.default".into()),
        San::Dns("kubernetes.default.svc".into()),
        San::Dns(format!(
            "kubernetes.default.svc.{}",
            spec.network.dns_domain.to_ascii_lowercase()
        )),
    ];
    let service_ip = spec.apiserver_service_ip().ok_or_else(|| {
        anyhow!(
            "network.service_cidr {:?} has no first address (validate the cluster file first)",
            spec.network.service_cidr
        )
    })?;
    sans.push(San::Ip(service_ip));
    for m in spec.hosts_with_role(Role::Master) {
        sans.push(San::Ip(host_ip(m)?));
        sans.push(San::Dns(m.name.to_ascii_lowercase()));
    }
    if let Some(vip) = &spec.apiserver.vip {
        let ip = vip.parse().map_err(|_| {
            anyhow!("apiserver.vip {vip:?} is not an IP address (validate the cluster file first)")
        })?;
        sans.push(San::Ip(ip));
    }
    sans.push(San::Ip(IpAddr::from([127, 0, 0, 1])));
    for extra in &spec.apiserver.extra_sans {
        sans.push(San::parse(extra).map_err(|e| anyhow!("apiserver.extra_sans: {e}"))?);
    }
    Ok(dedup(sans))
}

fn dedup(sans: Vec<San>) -> Vec<San> {
    let mut out: Vec<San> = Vec::with_capacity(sans.len());
    for s in sans {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn client(id: &str, ca: CaKind, cn: &str, orgs: &[&str], what: &str) -> LeafSpec {
    LeafSpec {
        id: id.into(),
        ca,
        common_name: cn.into(),
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        sans: vec![],
        usage: Usage::Client,
        host: None,
        what: what.into(),
    }
}

/// The leaf flanneld reads and writes its leases in etcd with.
pub const FLANNEL_ETCD_CLIENT: &str = "flannel-etcd-client";

/// The group that bypasses authorization: admin and the API server's client to kubelets.
pub const MASTERS_GROUP: &str = "system:masters";

/// Every leaf of the cluster, in a stable order: etcd, API server, clients. No kubelet client
/// certificates: nodes join by TLS bootstrapping and get theirs from the API server's CSR
/// signer (files of earlier versions: `LEGACY_KUBELET_DIR`).
pub fn leaves(spec: &ClusterSpec) -> Result<Vec<LeafSpec>> {
    let mut out = Vec::new();
    for h in spec.hosts_with_role(Role::Etcd) {
        out.extend(etcd_member_leaves(h, etcd_member_sans(h)?));
    }
    out.push(client(
        "etcd/healthcheck-client",
        CaKind::Etcd,
        "kube-etcd-healthcheck-client",
        &[],
        "etcd health checks (etcdctl on the members)",
    ));
    out.push(client(
        "apiserver-etcd-client",
        CaKind::Etcd,
        "kube-apiserver-etcd-client",
        &[],
        "API server's client to etcd",
    ));
    if matches!(spec.cni, CniSpec::Flannel { .. }) {
        // Added to an existing PKI on the next apply like any missing leaf: nothing else is
        // re-issued for it.
        out.push(client(
            FLANNEL_ETCD_CLIENT,
            CaKind::Etcd,
            "flanneld",
            &[],
            "flanneld's client to etcd",
        ));
    }
    out.push(LeafSpec {
        id: "apiserver".into(),
        ca: CaKind::Cluster,
        common_name: "kube-apiserver".into(),
        organizations: vec![],
        sans: apiserver_sans(spec)?,
        usage: Usage::Server,
        host: None,
        what: "API server".into(),
    });
    // system:masters rather than kubeadm's newer kubeadm:cluster-admins: that group means
    // something only once a ClusterRoleBinding for it exists, which kubeadm creates during
    // `init`; in a binary install nothing creates it before the API server has to reach the
    // kubelets (logs, exec). The key never leaves the masters.
    out.push(client(
        "apiserver-kubelet-client",
        CaKind::Cluster,
        "kube-apiserver-kubelet-client",
        &[MASTERS_GROUP],
        "API server's client to the kubelets",
    ));
    out.push(client(
        "front-proxy-client",
        CaKind::FrontProxy,
        "front-proxy-client",
        &[],
        "aggregation layer (front proxy) client",
    ));
    for k in KUBECONFIG_USERS {
        out.push(client(k.id, CaKind::Cluster, k.user, k.orgs, k.what));
    }
    Ok(out)
}

/// A component with a kubeconfig of its own (the kubelets have none here: they bootstrap).
pub struct KubeconfigUser {
    /// Leaf id under `pki/`, and the kubeconfig's name (`<id>.conf`).
    pub id: &'static str,
    /// The certificate's CN: the user name the API server sees.
    pub user: &'static str,
    pub orgs: &'static [&'static str],
    pub what: &'static str,
}

pub const KUBECONFIG_USERS: [KubeconfigUser; 4] = [
    KubeconfigUser {
        id: "admin",
        user: "kubernetes-admin",
        orgs: &[MASTERS_GROUP],
        what: "cluster admin (kubectl)",
    },
    KubeconfigUser {
        id: "controller-manager",
        user: "system:kube-controller-manager",
        orgs: &[],
        what: "kube-controller-manager",
    },
    KubeconfigUser {
        id: "scheduler",
        user: "system:kube-scheduler",
        orgs: &[],
        what: "kube-scheduler",
    },
    KubeconfigUser {
        id: "kube-proxy",
        user: "system:kube-proxy",
        orgs: &[],
        what: "kube-proxy",
    },
];

/// Where earlier kubewiz versions put a client certificate per node (`pki/kubelet/<node>.crt`,
/// under `pki/`) and its kubeconfig (`kubeconfigs/kubelet-<node>.conf`). Nothing is issued
/// there any more; files found there are reported orphaned and left in place.
pub const LEGACY_KUBELET_DIR: &str = "kubelet";
/// File-name prefix of those kubeconfigs.
pub const LEGACY_KUBELET_CONF_PREFIX: &str = "kubelet-";

/// One kubeconfig under `<cluster dir>/kubeconfigs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// File name: `admin.conf`.
    pub file: String,
    /// The leaf whose certificate and key it embeds.
    pub leaf: String,
    /// User name in the file (the certificate's CN).
    pub user: String,
    pub what: String,
}

/// Every kubeconfig: admin, controller-manager, scheduler, kube-proxy. The same for every
/// cluster file (the kubelets' are written at join time, from their bootstrap credentials).
pub fn kubeconfigs() -> Vec<KubeconfigSpec> {
    KUBECONFIG_USERS
        .iter()
        .map(|k| KubeconfigSpec {
            file: format!("{}.conf", k.id),
            leaf: k.id.into(),
            user: k.user.into(),
            what: format!("kubeconfig of {}", k.what),
        })
        .collect()
}

/// `https://<VIP or first master>:<port>`: where every kubeconfig points.
pub fn apiserver_url(spec: &ClusterSpec) -> Result<String> {
    let ip: IpAddr = match &spec.apiserver.vip {
        Some(vip) => vip
            .parse()
            .map_err(|_| anyhow!("apiserver.vip {vip:?} is not an IP address"))?,
        None => {
            let first = spec
                .hosts_with_role(Role::Master)
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no host has the master role"))?;
            host_ip(first)?
        }
    };
    let port = spec.apiserver.port();
    Ok(match ip {
        IpAddr::V4(v4) => format!("https://{v4}:{port}"),
        IpAddr::V6(v6) => format!("https://[{v6}]:{port}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> ClusterSpec {
        crate::config::parse_str(&format!(
            "name: lab\nhosts:\n  - {{name: m1, address: 10.77.0.11, roles: [etcd, master, node]}}\n  - {{name: n2, address: 10.77.0.12, roles: [node]}}\nnetwork: {{pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn apiserver_sans_in_order() {
        let s =
            spec("apiserver: {vip: 10.77.0.100, extra_sans: [k8s.example.internal, 10.77.0.11]}\n");
        let sans: Vec<String> = apiserver_sans(&s)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            sans,
            [
                "DNS kubernetes",
                "DNS kubernetes.default",
                "DNS kubernetes.default.svc",
                "DNS kubernetes.default.svc.cluster.local",
                "IP 10.96.0.1",
                "IP 10.77.0.11",
                "DNS m1",
                "IP 10.77.0.100",
                "IP 127.0.0.1",
                "DNS k8s.example.internal",
            ]
        );
    }

    #[test]
    fn leaves_and_kubeconfigs() {
        let s = spec("");
        let ids: Vec<String> = leaves(&s).unwrap().into_iter().map(|l| l.id).collect();
        assert_eq!(
            ids,
            [
                "etcd/m1/server",
                "etcd/m1/peer",
                "etcd/healthcheck-client",
                "apiserver-etcd-client",
                "flannel-etcd-client",
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-client",
                "admin",
                "controller-manager",
                "scheduler",
                "kube-proxy",
            ]
        );
        let files: Vec<String> = kubeconfigs().into_iter().map(|k| k.file).collect();
        assert_eq!(
            files,
            [
                "admin.conf",
                "controller-manager.conf",
                "scheduler.conf",
                "kube-proxy.conf",
            ]
        );
        assert_eq!(apiserver_url(&s).unwrap(), "https://10.77.0.11:6443");
        let s = spec("apiserver: {vip: 'fd00::100', port: 8443}\n");
        assert_eq!(apiserver_url(&s).unwrap(), "https://[fd00::100]:8443");
    }

    #[test]
    fn san_parse() {
        assert_eq!(San::parse("10.0.0.1").unwrap().to_string(), "IP 10.0.0.1");
        assert_eq!(
            San::parse("Foo.example").unwrap().to_string(),
            "DNS foo.example"
        );
        assert_eq!(
            San::parse("*.apps.example").unwrap().to_string(),
            "DNS *.apps.example"
        );
        assert!(San::parse("a b").is_err());
        assert!(San::parse("").is_err());
    }
}

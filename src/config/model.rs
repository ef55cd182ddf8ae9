//! The cluster file, as written on disk (`cluster.yaml`).
//!
//! Addresses and CIDRs are kept as strings here on purpose: a typo in one of them must not stop
//! the parse, so `validate` can report every problem of the file at once, each with its path.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Cluster name; also the default name of the cluster directory.
    pub name: String,
    /// Values every host inherits unless it sets its own.
    #[serde(default, skip_serializing_if = "HostDefaults::is_empty")]
    pub defaults: HostDefaults,
    pub hosts: Vec<HostSpec>,
    pub network: NetworkSpec,
    #[serde(default)]
    pub cni: CniSpec,
    #[serde(default)]
    pub runtime: Runtime,
    /// The cgroup driver of the runtime (and of kubelet, which must match). Default: auto.
    #[serde(default, skip_serializing_if = "CgroupDriver::is_auto")]
    pub cgroup_driver: CgroupDriver,
    #[serde(default)]
    pub versions: Versions,
    #[serde(default)]
    pub binaries: BinariesSpec,
    /// The API server's address and certificate names. Default: the first master, port 6443.
    #[serde(default, skip_serializing_if = "ApiServerSpec::is_empty")]
    pub apiserver: ApiServerSpec,
    /// How the certificates are made. Default: RSA-2048 keys.
    #[serde(default, skip_serializing_if = "PkiSpec::is_default")]
    pub pki: PkiSpec,
    /// kube-proxy's settings. Default: kube-proxy's own defaults.
    #[serde(default, skip_serializing_if = "KubeProxySpec::is_default")]
    pub kube_proxy: KubeProxySpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<bool>,
}

impl HostDefaults {
    pub fn is_empty(&self) -> bool {
        self == &HostDefaults::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSpec {
    /// RFC 1123 host name; prep sets it as the machine's hostname.
    pub name: String,
    /// IPv4 or IPv6 address the tool connects to and the cluster uses.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<bool>,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Etcd,
    Master,
    Node,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Etcd, Role::Master, Role::Node];

    /// The names of [`Role::ALL`], in order: what the cluster file's schema accepts.
    pub const NAMES: [&'static str; Role::ALL.len()] = {
        let mut names = [""; Role::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Role::ALL[i].as_str();
            i += 1;
        }
        names
    };

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Etcd => "etcd",
            Role::Master => "master",
            Role::Node => "node",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one parser of role names: the cluster file (through serde), `exec --role`, the wizard.
impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: etcd, master or node"))
    }
}

/// How to log in. Passwords are never stored: only the name of the environment variable that
/// holds one (or nothing, and the front end prompts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum AuthSpec {
    Key {
        key_file: PathBuf,
        /// Environment variable holding the key's passphrase; prompted for when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase_env: Option<String>,
    },
    Agent,
    Password {
        /// Environment variable holding the password; prompted for when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub pod_cidr: String,
    pub service_cidr: String,
    /// Defaults to the 10th address of the service CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_dns: Option<String>,
    #[serde(default = "default_dns_domain")]
    pub dns_domain: String,
}

fn default_dns_domain() -> String {
    "cluster.local".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "plugin", rename_all = "lowercase")]
pub enum CniSpec {
    Flannel {
        #[serde(default)]
        flannel: FlannelSpec,
    },
    Calico {
        #[serde(default)]
        calico: CalicoSpec,
    },
}

impl Default for CniSpec {
    fn default() -> Self {
        CniSpec::Flannel {
            flannel: FlannelSpec::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlannelSpec {
    #[serde(default)]
    pub backend: FlannelBackend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlannelBackend {
    #[default]
    Vxlan,
    HostGw,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalicoSpec {
    #[serde(default)]
    pub mode: CalicoMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalicoMode {
    #[default]
    Ipip,
    Vxlan,
    Bgp,
}

/// The container runtime. containerd by default: docker works only with a Kubernetes that still
/// has dockershim (see [`super::versions`]), and the default Kubernetes has not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    #[default]
    Containerd,
}

/// Which cgroup driver the runtime and kubelet use. `auto`: `systemd` on a host whose init is
/// systemd with the unified cgroup hierarchy (cgroup v2), else `cgroupfs`; the runtime stage
/// records the decision on the host (`/etc/kubewiz/cgroup-driver`) and later runs keep it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupDriver {
    #[default]
    Auto,
    Systemd,
    Cgroupfs,
}

impl CgroupDriver {
    pub fn is_auto(&self) -> bool {
        *self == CgroupDriver::Auto
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            CgroupDriver::Auto => "auto",
            CgroupDriver::Systemd => "systemd",
            CgroupDriver::Cgroupfs => "cgroupfs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    #[serde(default = "Versions::default_kubernetes")]
    pub kubernetes: String,
    #[serde(default = "Versions::default_etcd")]
    pub etcd: String,
    #[serde(default = "Versions::default_flannel")]
    pub flannel: String,
    #[serde(default = "Versions::default_calico")]
    pub calico: String,
    #[serde(default = "Versions::default_cni_plugins")]
    pub cni_plugins: String,
}

impl Versions {
    fn default_kubernetes() -> String {
        "1.32.0".into()
    }
    fn default_etcd() -> String {
        "3.4.23".into()
    }
    fn default_flannel() -> String {
        "0.26.1".into()
    }
    fn default_calico() -> String {
        "3.29.1".into()
    }
    fn default_cni_plugins() -> String {
        "1.6.2".into()
    }
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            kubernetes: Self::default_kubernetes(),
            etcd: Self::default_etcd(),
            flannel: Self::default_flannel(),
            calico: Self::default_calico(),
            cni_plugins: Self::default_cni_plugins(),
        }
    }
}

/// Where the release binaries come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum BinariesSpec {
    /// A directory of release tarballs on this machine, uploaded to the hosts.
    Bundle { bundle_dir: PathBuf },
    /// A URL the hosts download from themselves (an internal mirror).
    Mirror { mirror_url: String },
    /// The binaries are already on the hosts' PATH.
    #[default]
    Installed,
}

/// The API server as clients reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiServerSpec {
    /// A virtual IP in front of the masters (keepalived, a load balancer). Kubeconfigs point at
    /// it, and it is in the API server certificate. Default: none (the first master's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<String>,
    /// More names and addresses for the API server certificate (IP addresses or DNS names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_sans: Vec<String>,
    /// Secure port of kube-apiserver. Default: 6443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl ApiServerSpec {
    pub const DEFAULT_PORT: u16 = 6443;

    pub fn is_empty(&self) -> bool {
        self == &ApiServerSpec::default()
    }

    /// `port`, else 6443.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(Self::DEFAULT_PORT)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PkiSpec {
    /// Key type of every key kubewiz generates. An existing CA keeps its own key type.
    #[serde(default)]
    pub key_algorithm: KeyAlgorithm,
}

impl PkiSpec {
    pub fn is_default(&self) -> bool {
        self == &PkiSpec::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// RSA-2048, signatures with SHA-256 (kubeadm's default).
    #[default]
    Rsa,
    /// ECDSA on P-256, signatures with SHA-256: much faster to generate, smaller.
    Ecdsa,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "rsa",
            KeyAlgorithm::Ecdsa => "ecdsa",
        }
    }
}

/// kube-proxy's settings a cluster may have to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubeProxySpec {
    #[serde(default, skip_serializing_if = "ConntrackSpec::is_default")]
    pub conntrack: ConntrackSpec,
}

impl KubeProxySpec {
    pub fn is_default(&self) -> bool {
        self == &KubeProxySpec::default()
    }
}

/// The conntrack sysctls kube-proxy sets at start. Unset: kube-proxy's own defaults. A host
/// whose /proc/sys is read-only (a container: kind, nspawn) needs 0 for each, which tells
/// kube-proxy to leave the kernel's value alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConntrackSpec {
    /// nf_conntrack_max per CPU core (kube-proxy: 32768); 0 leaves nf_conntrack_max alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_core: Option<u32>,
    /// A duration such as `24h0m0s` (kube-proxy's default) or `0s` (leave it alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_established_timeout: Option<String>,
    /// A duration such as `1h0m0s` (kube-proxy's default) or `0s` (leave it alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_close_wait_timeout: Option<String>,
}

impl ConntrackSpec {
    pub fn is_default(&self) -> bool {
        self == &ConntrackSpec::default()
    }
}

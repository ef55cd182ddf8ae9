//! The flags of kube-apiserver, kube-controller-manager and kube-scheduler, as one table per
//! component: every flag is a line here, and a flag only some Kubernetes versions have is asked
//! of [`versions::has`] (the one table of version rules), never compared with a version here.
//! Each flag was checked against the 1.20.2 binaries' `--help` (the lab bundle's).

use crate::config::versions::{self, Feature};
use crate::config::{ClusterSpec, CniSpec, HostSpec, Role};
use crate::pki::{KUBERNETES_DIR, MASTER_PKI_DIR};

/// One `--name=value` of a unit's command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    pub name: &'static str,
    pub value: String,
}

/// The ports the controller-manager and the scheduler serve /healthz on (HTTPS, 127.0.0.1).
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const SCHEDULER_PORT: u16 = 10259;

fn pki(file: &str) -> String {
    format!("{MASTER_PKI_DIR}/{file}")
}

/// `/etc/kubernetes/<name>.conf`.
pub fn kubeconfig(name: &str) -> String {
    format!("{KUBERNETES_DIR}/{name}.conf")
}

/// The service-account token issuer: the in-cluster name of the API server.
pub fn service_account_issuer(spec: &ClusterSpec) -> String {
    format!(
        "https://kubernetes.default.svc.{}",
        spec.network.dns_domain.to_ascii_lowercase()
    )
}

/// Whether the cluster's Kubernetes version has `feature` (an unparsable version has none;
/// validation reports it).
fn has(spec: &ClusterSpec, feature: Feature) -> bool {
    versions::has(feature, &spec.versions.kubernetes) == Some(true)
}

/// Builds a flag list: `f("name", value)`, and `when` for the version-dependent lines.
struct Flags(Vec<Flag>);

impl Flags {
    fn f(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.push(Flag {
            name,
            value: value.into(),
        });
        self
    }

    fn when(&mut self, on: bool, name: &'static str, value: impl Into<String>) -> &mut Self {
        if on {
            self.f(name, value);
        }
        self
    }
}

/// kube-apiserver on master `h`.
pub fn apiserver(spec: &ClusterSpec, h: &HostSpec) -> Vec<Flag> {
    let etcd_servers: Vec<String> = spec
        .hosts_with_role(Role::Etcd)
        .iter()
        .map(|m| crate::stages::etcd::client_url(&m.address))
        .collect();
    let issuer = has(spec, Feature::ServiceAccountIssuer);
    let mut f = Flags(vec![]);
    f.f("advertise-address", &h.address)
        .f("bind-address", "0.0.0.0")
        .f("secure-port", spec.apiserver.port().to_string())
        .when(has(spec, Feature::ApiserverInsecurePort), "insecure-port", "0")
        // etcd over TLS with the API server's own client certificate (catalog E3).
        .f("etcd-servers", etcd_servers.join(","))
        .f("etcd-cafile", pki("etcd/ca.crt"))
        .f("etcd-certfile", pki("apiserver-etcd-client.crt"))
        .f("etcd-keyfile", pki("apiserver-etcd-client.key"))
        .f("service-cluster-ip-range", &spec.network.service_cidr)
        .f("client-ca-file", pki("ca.crt"))
        .f("tls-cert-file", pki("apiserver.crt"))
        .f("tls-private-key-file", pki("apiserver.key"))
        .f("kubelet-client-certificate", pki("apiserver-kubelet-client.crt"))
        .f("kubelet-client-key", pki("apiserver-kubelet-client.key"))
        .f("kubelet-preferred-address-types", "InternalIP,Hostname")
        // Bound service-account tokens: required from 1.20 (catalog A1).
        .f("service-account-key-file", pki("sa.pub"))
        .when(issuer, "service-account-signing-key-file", pki("sa.key"))
        .when(issuer, "service-account-issuer", service_account_issuer(spec))
        .f("authorization-mode", "Node,RBAC")
        .f("enable-admission-plugins", "NodeRestriction")
        .f("enable-bootstrap-token-auth", "true")
        .f("allow-privileged", "true")
        // The aggregation layer (front proxy): without these every component logs a missing
        // requestheader CA bundle in a loop.
        .f("requestheader-client-ca-file", pki("front-proxy-ca.crt"))
        .f("requestheader-allowed-names", "front-proxy-client")
        .f("requestheader-extra-headers-prefix", "X-Remote-Extra-")
        .f("requestheader-group-headers", "X-Remote-Group")
        .f("requestheader-username-headers", "X-Remote-User")
        .f("proxy-client-cert-file", pki("front-proxy-client.crt"))
        .f("proxy-client-key-file", pki("front-proxy-client.key"));
    f.0
}

/// kube-controller-manager (the same on every master; leader election picks one).
pub fn controller_manager(spec: &ClusterSpec) -> Vec<Flag> {
    let conf = kubeconfig("controller-manager");
    // flannel keeps the node subnets in etcd: the controller-manager must not hand out
    // podCIDRs of its own. Calico's IPAM ignores them; the range is given for node IPAM.
    let flannel = matches!(spec.cni, CniSpec::Flannel { .. });
    let mut f = Flags(vec![]);
    f.f("kubeconfig", &conf)
        .f("authentication-kubeconfig", &conf)
        .f("authorization-kubeconfig", &conf)
        .f("bind-address", "127.0.0.1")
        .f("secure-port", CONTROLLER_MANAGER_PORT.to_string())
        .when(has(spec, Feature::ControllerManagerInsecurePort), "port", "0")
        .f("leader-elect", "true")
        .f("controllers", "*,bootstrapsigner,tokencleaner")
        .f("client-ca-file", pki("ca.crt"))
        .f("requestheader-client-ca-file", pki("front-proxy-ca.crt"))
        // The CSR signer: kubelets' client certificates come from the cluster CA.
        .f("cluster-signing-cert-file", pki("ca.crt"))
        .f("cluster-signing-key-file", pki("ca.key"))
        .f("root-ca-file", pki("ca.crt"))
        .f("service-account-private-key-file", pki("sa.key"))
        .f("use-service-account-credentials", "true")
        .f("service-cluster-ip-range", &spec.network.service_cidr)
        .f("allocate-node-cidrs", (!flannel).to_string())
        .when(!flannel, "cluster-cidr", &spec.network.pod_cidr);
    f.0
}

/// kube-scheduler.
pub fn scheduler(spec: &ClusterSpec) -> Vec<Flag> {
    let conf = kubeconfig("scheduler");
    let mut f = Flags(vec![]);
    f.f("kubeconfig", &conf)
        .f("authentication-kubeconfig", &conf)
        .f("authorization-kubeconfig", &conf)
        .f("bind-address", "127.0.0.1")
        .f("secure-port", SCHEDULER_PORT.to_string())
        .when(has(spec, Feature::SchedulerInsecurePort), "port", "0")
        .f("leader-elect", "true");
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: &str, cni: &str) -> ClusterSpec {
        crate::config::parse_str(&format!(
            "name: lab\nhosts:\n  - {{name: m1, address: 10.77.0.11, roles: [etcd, master, node]}}\n  - {{name: e2, address: 10.77.0.12, roles: [etcd, node]}}\nnetwork: {{pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}}\ncni: {{plugin: {cni}}}\nruntime: containerd\nversions: {{kubernetes: {version}}}\n"
        ))
        .unwrap()
    }

    fn value(flags: &[Flag], name: &str) -> Option<String> {
        flags.iter().find(|f| f.name == name).map(|f| f.value.clone())
    }

    fn names(flags: &[Flag]) -> Vec<&str> {
        flags.iter().map(|f| f.name).collect()
    }

    #[test]
    fn apiserver_1_20_has_the_issuer_and_the_insecure_port_off() {
        let s = spec("1.20.2", "flannel");
        let a = apiserver(&s, &s.hosts[0]);
        let v = |n| value(&a, n);
        assert_eq!(v("advertise-address").unwrap(), "10.77.0.11");
        assert_eq!(v("secure-port").unwrap(), "6443");
        assert_eq!(v("insecure-port").unwrap(), "0");
        assert_eq!(
            v("etcd-servers").unwrap(),
            "https://10.77.0.11:2379,https://10.77.0.12:2379"
        );
        assert_eq!(
            v("etcd-certfile").unwrap(),
            "/etc/kubernetes/pki/apiserver-etcd-client.crt"
        );
        assert_eq!(
            v("service-account-issuer").unwrap(),
            "https://kubernetes.default.svc.cluster.local"
        );
        assert_eq!(
            v("service-account-signing-key-file").unwrap(),
            "/etc/kubernetes/pki/sa.key"
        );
        assert_eq!(v("service-account-key-file").unwrap(), "/etc/kubernetes/pki/sa.pub");
        assert_eq!(v("authorization-mode").unwrap(), "Node,RBAC");
        assert_eq!(v("enable-bootstrap-token-auth").unwrap(), "true");
        for n in [
            "requestheader-client-ca-file",
            "requestheader-allowed-names",
            "proxy-client-cert-file",
            "proxy-client-key-file",
            "kubelet-client-certificate",
            "kubelet-client-key",
        ] {
            assert!(v(n).is_some(), "{n}");
        }
        let unique: std::collections::BTreeSet<&str> = names(&a).into_iter().collect();
        assert_eq!(unique.len(), a.len(), "each flag once");
    }

    #[test]
    fn removed_flags_are_not_rendered_for_later_versions() {
        let old = spec("1.19.16", "flannel");
        let a = apiserver(&old, &old.hosts[0]);
        assert!(value(&a, "service-account-issuer").is_none());
        assert!(value(&a, "service-account-signing-key-file").is_none());
        assert!(value(&a, "service-account-key-file").is_some());
        assert_eq!(value(&controller_manager(&old), "port").unwrap(), "0");
        assert_eq!(value(&scheduler(&old), "port").unwrap(), "0");

        let new = spec("1.24.17", "flannel");
        let a = apiserver(&new, &new.hosts[0]);
        assert!(value(&a, "insecure-port").is_none());
        assert!(value(&a, "service-account-issuer").is_some());
        assert!(value(&controller_manager(&new), "port").is_none());
        assert!(value(&scheduler(&new), "port").is_none());
        // 1.20: the scheduler and controller-manager still serve insecurely unless told not to.
        let lab = spec("1.20.2", "flannel");
        assert_eq!(value(&controller_manager(&lab), "port").unwrap(), "0");
        assert_eq!(value(&scheduler(&lab), "port").unwrap(), "0");
    }

    #[test]
    fn node_cidrs_are_allocated_only_without_flannel() {
        let cm = controller_manager(&spec("1.20.2", "flannel"));
        assert_eq!(value(&cm, "allocate-node-cidrs").unwrap(), "false");
        assert!(value(&cm, "cluster-cidr").is_none());
        assert_eq!(value(&cm, "controllers").unwrap(), "*,bootstrapsigner,tokencleaner");
        assert_eq!(
            value(&cm, "cluster-signing-key-file").unwrap(),
            "/etc/kubernetes/pki/ca.key"
        );
        assert_eq!(value(&cm, "leader-elect").unwrap(), "true");
        let cm = controller_manager(&spec("1.20.2", "calico"));
        assert_eq!(value(&cm, "allocate-node-cidrs").unwrap(), "true");
        assert_eq!(value(&cm, "cluster-cidr").unwrap(), "10.244.0.0/16");
    }
}

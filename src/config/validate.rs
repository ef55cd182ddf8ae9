//! Semantic checks of a parsed cluster file. Every problem is collected, in file order.

use super::text::{
    check_label, check_subdomain, expand_home, family, is_env_var_name, is_version, lowercase_fix,
    nth_address, overlaps, parse_cidr, size,
};
use super::versions::{self, Feature};
use super::{
    AuthSpec, BinariesSpec, ClusterSpec, CniSpec, Finding, FlannelBackend, HostDefaults, Role,
    Runtime, Versions,
};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// Semantic checks: names, addresses, roles, networks, versions, paths. Returns every error and
/// warning; an empty list means the spec is good to install.
pub fn validate(spec: &ClusterSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    check_name(spec, &mut out);
    check_defaults(&spec.defaults, &mut out);
    let addresses = check_hosts(spec, &mut out);
    check_roles(spec, &mut out);
    check_network(spec, &addresses, &mut out);
    check_cni(spec, &addresses, &mut out);
    check_runtime(spec, &mut out);
    check_versions(&spec.versions, &mut out);
    check_binaries(&spec.binaries, &mut out);
    check_apiserver(spec, &addresses, &mut out);
    check_kube_proxy(spec, &mut out);
    out
}

/// A host's parsed address, with what messages need to name it.
struct HostAddr<'a> {
    index: usize,
    name: &'a str,
    ip: IpAddr,
}

impl HostAddr<'_> {
    /// `hosts[0] (node1) address 10.77.0.11`.
    fn describe(&self) -> String {
        format!("hosts[{}] ({}) address {}", self.index, self.name, self.ip)
    }
}

fn check_name(spec: &ClusterSpec, out: &mut Vec<Finding>) {
    if spec.name.is_empty() {
        out.push(Finding::error(
            "name",
            "the cluster name is empty; use a short lowercase name such as \"lab\"",
        ));
    } else if let Err(why) = check_label(&spec.name) {
        out.push(Finding::error(
            "name",
            format!(
                "{:?} is not a valid cluster name: it {why}{}",
                spec.name,
                fix_hint(&spec.name, check_label)
            ),
        ));
    }
}

fn fix_hint(name: &str, check: fn(&str) -> Result<(), String>) -> String {
    match lowercase_fix(name, check) {
        Some(fix) => format!("; use {fix:?}"),
        None => String::new(),
    }
}

fn check_defaults(d: &HostDefaults, out: &mut Vec<Finding>) {
    if d.port == Some(0) {
        out.push(port_zero("defaults.port"));
    }
    if d.user.as_deref() == Some("") {
        out.push(Finding::error(
            "defaults.user",
            "user is empty; set a user name, or remove the key to log in as root",
        ));
    }
    if let Some(auth) = &d.auth {
        check_auth(auth, "defaults.auth", out);
    }
}

fn port_zero(path: &str) -> Finding {
    Finding::error(
        path,
        "port 0 is not a valid ssh port; use 22 or the port sshd listens on",
    )
}

fn check_auth(auth: &AuthSpec, path: &str, out: &mut Vec<Finding>) {
    match auth {
        AuthSpec::Key {
            key_file,
            passphrase_env,
        } => {
            let at = format!("{path}.key_file");
            if let Some(problem) = key_file_problem(key_file) {
                out.push(Finding::error(at, problem));
            }
            if let Some(name) = passphrase_env {
                check_env_name(name, &format!("{path}.passphrase_env"), out);
            }
        }
        AuthSpec::Agent => {}
        AuthSpec::Password { password_env } => {
            if let Some(name) = password_env {
                check_env_name(name, &format!("{path}.password_env"), out);
            }
        }
    }
}

fn key_file_problem(key_file: &Path) -> Option<String> {
    if key_file.as_os_str().is_empty() {
        return Some(
            "key_file is empty; give the path of the private key, e.g. ~/.ssh/id_ed25519".into(),
        );
    }
    let shown = key_file.display();
    let expanded = expand_home(key_file);
    if key_file.starts_with("~") && expanded == key_file {
        return Some(format!(
            "cannot expand {shown}: HOME is not set; write the full path"
        ));
    }
    let full = if expanded == key_file {
        String::new()
    } else {
        format!(" ({})", expanded.display())
    };
    if !expanded.exists() {
        Some(format!(
            "key file {shown}{full} does not exist; fix the path, or create the key with ssh-keygen -t ed25519 -f {shown}"
        ))
    } else if expanded.is_dir() {
        Some(format!(
            "key file {shown}{full} is a directory; give the path of the private key file"
        ))
    } else {
        None
    }
}

fn check_env_name(name: &str, path: &str, out: &mut Vec<Finding>) {
    if is_env_var_name(name) {
        return;
    }
    let fixed: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let hint = if fixed != name && is_env_var_name(&fixed) {
        format!("; did you mean {fixed:?}?")
    } else {
        String::new()
    };
    out.push(Finding::error(
        path,
        format!(
            "{name:?} is not a valid environment variable name: use letters, digits and '_', not starting with a digit{hint}"
        ),
    ));
}

/// Checks every host; returns the hosts whose address parsed, for the network checks.
fn check_hosts<'a>(spec: &'a ClusterSpec, out: &mut Vec<Finding>) -> Vec<HostAddr<'a>> {
    let mut addresses: Vec<HostAddr> = Vec::new();
    if spec.hosts.is_empty() {
        out.push(Finding::error(
            "hosts",
            "no hosts; add at least one host, with the etcd, master and node roles",
        ));
        return addresses;
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashMap<IpAddr, (usize, u16)> = HashMap::new();
    for (i, h) in spec.hosts.iter().enumerate() {
        let at = |field: &str| format!("hosts[{i}].{field}");

        if h.name.is_empty() {
            out.push(Finding::error(
                at("name"),
                "host name is empty; it becomes the machine's hostname, e.g. node1",
            ));
        } else if let Err(why) = check_subdomain(&h.name) {
            out.push(Finding::error(
                at("name"),
                format!(
                    "{:?} is not a valid host name: it {why}{}",
                    h.name,
                    fix_hint(&h.name, check_subdomain)
                ),
            ));
        }
        if !h.name.is_empty() {
            if let Some(first) = names.get(h.name.as_str()) {
                out.push(Finding::error(
                    at("name"),
                    format!(
                        "{:?} is already the name of hosts[{first}]; host names must be unique",
                        h.name
                    ),
                ));
            } else {
                names.insert(&h.name, i);
            }
        }

        let port = h.port.or(spec.defaults.port).unwrap_or(22);
        match h.address.parse::<IpAddr>() {
            Err(_) => {
                let hint = if !h.address.contains(':')
                    && h.address.chars().any(|c| c.is_ascii_alphabetic())
                {
                    " (host names are not accepted here; use the host's IP address)"
                } else {
                    ""
                };
                out.push(Finding::error(
                    at("address"),
                    format!("{:?} is not an IP address{hint}", h.address),
                ))
            }
            Ok(ip) => {
                if let Some(why) = unusable_address(&ip) {
                    out.push(Finding::error(at("address"), why));
                } else if let Some(&(first, first_port)) = seen.get(&ip) {
                    let ports = if first_port == port {
                        ""
                    } else {
                        " (a different ssh port does not help: the cluster uses the address itself)"
                    };
                    out.push(Finding::error(
                        at("address"),
                        format!(
                            "{ip} is already the address of hosts[{first}] ({}); every host needs its own address{ports}",
                            spec.hosts[first].name
                        ),
                    ));
                } else {
                    seen.insert(ip, (i, port));
                    addresses.push(HostAddr {
                        index: i,
                        name: &h.name,
                        ip,
                    });
                }
            }
        }

        if h.port == Some(0) {
            out.push(port_zero(&at("port")));
        }
        if h.user.as_deref() == Some("") {
            let default = match spec.defaults.user.as_deref() {
                Some(user) if !user.is_empty() => user,
                _ => "root",
            };
            out.push(Finding::error(
                at("user"),
                format!("user is empty; set a user name, or remove the key to use the default ({default})"),
            ));
        }
        if let Some(auth) = &h.auth {
            check_auth(auth, &format!("hosts[{i}].auth"), out);
        }

        if h.roles.is_empty() {
            out.push(Finding::error(
                at("roles"),
                "no roles; give the host at least one of etcd, master, node",
            ));
        }
        for (k, role) in h.roles.iter().enumerate() {
            if h.roles[..k].contains(role) {
                out.push(Finding::error(
                    format!("hosts[{i}].roles[{k}]"),
                    format!("role {:?} is listed twice", role.as_str()),
                ));
            }
        }
    }
    addresses
}

fn unusable_address(ip: &IpAddr) -> Option<String> {
    let why = if ip.is_loopback() {
        "is a loopback address; use an address the other hosts can reach"
    } else if ip.is_unspecified() {
        "is the unspecified address; use the host's own address"
    } else if ip.is_multicast() {
        "is a multicast address; use the host's own address"
    } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        "is the broadcast address; use the host's own address"
    } else {
        return None;
    };
    Some(format!("{ip} {why}"))
}

fn check_roles(spec: &ClusterSpec, out: &mut Vec<Finding>) {
    if spec.hosts.is_empty() {
        return; // already reported: no hosts
    }
    let count = |role| spec.hosts_with_role(role).len();
    if count(Role::Master) == 0 {
        out.push(Finding::error(
            "hosts",
            "no host has the master role; give at least one host the master role",
        ));
    }
    let etcd = count(Role::Etcd);
    if etcd == 0 {
        out.push(Finding::error(
            "hosts",
            "no host has the etcd role; give one, three or five hosts the etcd role",
        ));
    } else if etcd % 2 == 0 {
        out.push(Finding::warning(
            "hosts",
            format!(
                "an even number of etcd members ({etcd}) tolerates no more failures than {}; use {} or {}",
                etcd - 1,
                etcd - 1,
                etcd + 1
            ),
        ));
    }
    if etcd > 7 {
        out.push(Finding::warning(
            "hosts",
            format!(
                "{etcd} etcd members slow every write down and add little safety; use 3, 5 or 7"
            ),
        ));
    }
    if count(Role::Node) == 0 {
        out.push(Finding::warning(
            "hosts",
            "no host has the node role; ordinary pods will have nowhere to run",
        ));
    }
}

fn check_network(spec: &ClusterSpec, hosts: &[HostAddr], out: &mut Vec<Finding>) {
    let n = &spec.network;
    let parsed = |field: &str, text: &str, out: &mut Vec<Finding>| match parse_cidr(text) {
        Ok(net) => Some(net),
        Err(why) => {
            out.push(Finding::error(format!("network.{field}"), why));
            None
        }
    };
    let pod = parsed("pod_cidr", &n.pod_cidr, out);
    let svc = parsed("service_cidr", &n.service_cidr, out);

    if let Some(pod) = pod {
        let pod_hosts = spec
            .hosts
            .iter()
            .filter(|h| h.roles.contains(&Role::Node) || h.roles.contains(&Role::Master))
            .count();
        if let Some(why) = pod_cidr_size_problem(&pod, pod_hosts) {
            out.push(Finding::error("network.pod_cidr", why));
        }
        for h in hosts {
            if h.ip.is_ipv4() != pod.network().is_ipv4() {
                out.push(Finding::error(
                    format!("hosts[{}].address", h.index),
                    format!(
                        "{} is {}, but pod_cidr {pod} is {}; the cluster runs on the host addresses, so they must be of its IP family",
                        h.ip,
                        family(&h.ip),
                        family(&pod.network())
                    ),
                ));
            }
        }
    }
    if let Some(svc) = svc {
        if let Some(why) = service_cidr_size_problem(&svc, &spec.versions.kubernetes) {
            out.push(Finding::error("network.service_cidr", why));
        }
    }
    if let (Some(pod), Some(svc)) = (pod, svc) {
        if pod.network().is_ipv4() != svc.network().is_ipv4() {
            out.push(Finding::error(
                "network.service_cidr",
                format!(
                    "service_cidr {svc} is {} but pod_cidr {pod} is {}; use one IP family for both (dual-stack is not supported)",
                    family(&svc.network()),
                    family(&pod.network())
                ),
            ));
        } else if overlaps(&pod, &svc) {
            out.push(Finding::error(
                "network.service_cidr",
                format!(
                    "service_cidr {svc} overlaps pod_cidr {pod}; choose ranges that do not overlap, e.g. 10.96.0.0/12 and 10.244.0.0/16"
                ),
            ));
        }
    }
    for (field, net) in [("pod_cidr", pod), ("service_cidr", svc)] {
        let Some(net) = net else { continue };
        let inside: Vec<&HostAddr> = hosts.iter().filter(|h| net.contains(&h.ip)).collect();
        if let Some(first) = inside.first() {
            let more = match inside.len() - 1 {
                0 => String::new(),
                1 => " (and 1 more host)".to_string(),
                k => format!(" (and {k} more hosts)"),
            };
            out.push(Finding::error(
                format!("network.{field}"),
                format!(
                    "{field} {net} contains {}{more}; choose a range that no host is in",
                    first.describe()
                ),
            ));
        }
    }

    if let Some(dns) = &n.cluster_dns {
        if let Some(why) = cluster_dns_problem(dns, svc) {
            out.push(Finding::error("network.cluster_dns", why));
        }
    }

    if n.dns_domain.is_empty() {
        out.push(Finding::error(
            "network.dns_domain",
            "dns_domain is empty; use cluster.local",
        ));
    } else if let Err(why) = check_subdomain(&n.dns_domain) {
        out.push(Finding::error(
            "network.dns_domain",
            format!(
                "{:?} is not a valid DNS domain: it {why}{}",
                n.dns_domain,
                match lowercase_fix(&n.dns_domain, check_subdomain) {
                    Some(fix) => format!("; use {fix:?}"),
                    None => "; use e.g. cluster.local".into(),
                }
            ),
        ));
    }
}

/// Each node gets a /24 (IPv4) or /64 (IPv6) of the pod CIDR; kube-controller-manager allows at
/// most 16 bits between the cluster and the node prefix.
fn pod_cidr_size_problem(pod: &IpNet, pod_hosts: usize) -> Option<String> {
    let (node_prefix, example) = if pod.network().is_ipv4() {
        (24u8, "10.244.0.0/16")
    } else {
        (64u8, "fd00:10:244::/56")
    };
    let prefix = pod.prefix_len();
    if prefix > node_prefix {
        return Some(format!(
            "pod_cidr {pod} is too small: every node gets a /{node_prefix} of it; use a /{} or larger, e.g. {example}",
            node_prefix - 8
        ));
    }
    if node_prefix - prefix > 16 {
        return Some(format!(
            "pod_cidr {pod} is too large: nodes get a /{node_prefix} each and kube-controller-manager allows at most 16 bits between the two; use a /{} or smaller, e.g. {example}",
            node_prefix - 16
        ));
    }
    let room = 1usize << (node_prefix - prefix);
    if room < pod_hosts {
        return Some(format!(
            "pod_cidr {pod} has room for {room} node subnet{} (/{node_prefix}), but {pod_hosts} hosts run pods; use a larger range, e.g. {example}",
            if room == 1 { "" } else { "s" }
        ));
    }
    None
}

fn service_cidr_size_problem(svc: &IpNet, kubernetes: &str) -> Option<String> {
    let (smallest, example) = if svc.network().is_ipv4() {
        (28u8, "10.96.0.0/12")
    } else {
        (124u8, "fd00:10:96::/108")
    };
    if svc.prefix_len() > smallest {
        return Some(format!(
            "service_cidr {svc} is too small: it must hold the cluster DNS address (its 10th); use a /{} or larger, e.g. {example}",
            if svc.network().is_ipv4() { 24 } else { 112 }
        ));
    }
    // Without the ServiceCIDR allocator kube-apiserver refuses more than 20 host bits; an
    // unparsable version gets the strict answer.
    let host_bits = svc.max_prefix_len() - svc.prefix_len();
    let large_ok = versions::has(Feature::LargeServiceCidr, kubernetes) == Some(true);
    if host_bits > 20 && !large_ok {
        return Some(format!(
            "service_cidr {svc} is too large: kube-apiserver accepts at most 20 host bits (a /{}); use e.g. {example}",
            svc.max_prefix_len() - 20
        ));
    }
    None
}

fn cluster_dns_problem(dns: &str, svc: Option<IpNet>) -> Option<String> {
    let Ok(ip) = dns.parse::<IpAddr>() else {
        return Some(format!("{dns:?} is not an IP address"));
    };
    let svc = svc?; // the service CIDR's own problem is reported already
    let tenth = nth_address(&svc, 10)
        .map(|a| format!("e.g. {a}"))
        .unwrap_or_else(|| "another address".into());
    if !svc.contains(&ip) {
        let default = match nth_address(&svc, 10) {
            Some(a) => format!(", e.g. {a} (the default when cluster_dns is left out)"),
            None => String::new(),
        };
        return Some(format!(
            "cluster_dns {ip} is outside service_cidr {svc}; use an address inside it{default}"
        ));
    }
    if ip == svc.network() {
        return Some(format!(
            "cluster_dns {ip} is the network address of service_cidr {svc}; use {tenth}"
        ));
    }
    if Some(ip) == nth_address(&svc, 1) {
        return Some(format!(
            "cluster_dns {ip} is the address of the kubernetes api service (the first of service_cidr {svc}); use {tenth}"
        ));
    }
    if ip.is_ipv4() && Some(ip) == nth_address(&svc, size(&svc) - 1) {
        return Some(format!(
            "cluster_dns {ip} is the broadcast address of service_cidr {svc}; use {tenth}"
        ));
    }
    None
}

fn check_cni(spec: &ClusterSpec, hosts: &[HostAddr], out: &mut Vec<Finding>) {
    let CniSpec::Flannel { flannel } = &spec.cni else {
        return;
    };
    if flannel.backend != FlannelBackend::HostGw {
        return;
    }
    let segment = |ip: &IpAddr| -> IpNet {
        let prefix = if ip.is_ipv4() { 24 } else { 64 };
        IpNet::new(*ip, prefix).expect("prefix in range").trunc()
    };
    let Some(first) = hosts.first() else { return };
    let first_seg = segment(&first.ip);
    if let Some(other) = hosts.iter().find(|h| segment(&h.ip) != first_seg) {
        out.push(Finding::warning(
            "cni.flannel.backend",
            format!(
                "host-gw needs all hosts on one L2 segment, but {} and {} are in different /{}s; use vxlan unless they share a segment",
                first.describe(),
                other.describe(),
                first_seg.prefix_len()
            ),
        ));
    }
}

/// The runtime against the Kubernetes version (the table in [`versions`]). An unparsable
/// version is reported on `versions.kubernetes` alone.
fn check_runtime(spec: &ClusterSpec, out: &mut Vec<Finding>) {
    let kubernetes = &spec.versions.kubernetes;
    if spec.runtime == Runtime::Docker
        && versions::has(Feature::Dockershim, kubernetes) == Some(false)
    {
        let last = versions::rule(Feature::Dockershim)
            .until
            .expect("dockershim has a last release");
        out.push(Finding::error(
            "runtime",
            format!(
                "docker needs Kubernetes ≤ {last}, or cri-dockerd (which kubewiz does not install), but versions.kubernetes is {kubernetes}: kubelet has no docker support from {} (catalog K7: it rejects the dockershim flags); use runtime: containerd, or Kubernetes {last}",
                last.next()
            ),
        ));
    }
}

/// `kube_proxy.conntrack`: the timeouts are Go durations, as kube-proxy's configuration reads
/// them.
fn check_kube_proxy(spec: &ClusterSpec, out: &mut Vec<Finding>) {
    let c = &spec.kube_proxy.conntrack;
    for (key, value) in [
        ("tcp_established_timeout", &c.tcp_established_timeout),
        ("tcp_close_wait_timeout", &c.tcp_close_wait_timeout),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !is_go_duration(v)) {
            out.push(Finding::error(
                format!("kube_proxy.conntrack.{key}"),
                format!("{v:?} is not a duration; write e.g. 24h0m0s, 1h, 90s, or 0s to leave the kernel's value alone"),
            ));
        }
    }
}

/// A Go duration without a sign: `0`, or numbers each followed by h, m, s, ms, us or ns.
fn is_go_duration(v: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms|us|µs|ns))+)$").unwrap()
    });
    RE.is_match(v)
}

fn check_versions(v: &Versions, out: &mut Vec<Finding>) {
    let d = Versions::default();
    for (key, value, example) in [
        ("kubernetes", &v.kubernetes, &d.kubernetes),
        ("etcd", &v.etcd, &d.etcd),
        ("flannel", &v.flannel, &d.flannel),
        ("calico", &v.calico, &d.calico),
        ("cni_plugins", &v.cni_plugins, &d.cni_plugins),
    ] {
        if !is_version(value) {
            out.push(Finding::error(
                format!("versions.{key}"),
                format!("{value:?} is not a version; write major.minor.patch, e.g. {example}"),
            ));
        }
    }
}

fn check_binaries(b: &BinariesSpec, out: &mut Vec<Finding>) {
    match b {
        BinariesSpec::Bundle { bundle_dir } => {
            let at = "binaries.bundle_dir";
            if bundle_dir.as_os_str().is_empty() {
                out.push(Finding::error(
                    at,
                    "bundle_dir is empty; give the directory holding the release tarballs",
                ));
                return;
            }
            let dir = expand_home(bundle_dir);
            if !dir.exists() {
                out.push(Finding::error(
                    at,
                    format!(
                        "bundle directory {} does not exist; put the release tarballs there, or use source: mirror or source: installed",
                        bundle_dir.display()
                    ),
                ));
            } else if !dir.is_dir() {
                out.push(Finding::error(
                    at,
                    format!(
                        "{} is not a directory; give the directory holding the release tarballs",
                        bundle_dir.display()
                    ),
                ));
            }
        }
        BinariesSpec::Mirror { mirror_url } => {
            if let Some(why) = mirror_url_problem(mirror_url) {
                out.push(Finding::error("binaries.mirror_url", why));
            }
        }
        BinariesSpec::Installed => {}
    }
}

/// `apiserver`: the VIP, the extra certificate names, the port.
fn check_apiserver(spec: &ClusterSpec, hosts: &[HostAddr], out: &mut Vec<Finding>) {
    let a = &spec.apiserver;
    let pod = parse_cidr(&spec.network.pod_cidr).ok();
    let svc = parse_cidr(&spec.network.service_cidr).ok();
    let is_master = |h: &HostAddr| spec.hosts[h.index].roles.contains(&Role::Master);
    let mut vip_ip = None;
    if let Some(vip) = &a.vip {
        match vip.parse::<IpAddr>() {
            Err(_) => out.push(Finding::error(
                "apiserver.vip",
                format!(
                    "{vip:?} is not an IP address; the VIP is the address in front of the masters (put DNS names in apiserver.extra_sans)"
                ),
            )),
            Ok(ip) => {
                vip_ip = Some(ip);
                if let Some(why) = unusable_address(&ip) {
                    out.push(Finding::error("apiserver.vip", why));
                } else if let Some(h) = hosts.iter().find(|h| h.ip == ip) {
                    if is_master(h) {
                        out.push(Finding::warning(
                            "apiserver.vip",
                            format!(
                                "vip {ip} is the address of hosts[{}] ({}), a master: every client will reach that one master only; use a free address that keepalived or a load balancer moves between the masters, or leave vip out",
                                h.index, h.name
                            ),
                        ));
                    } else {
                        out.push(Finding::error(
                            "apiserver.vip",
                            format!(
                                "vip {ip} is the address of hosts[{}] ({}), which is not a master: no API server listens there; use a free address in front of the masters",
                                h.index, h.name
                            ),
                        ));
                    }
                } else if let Some(first) = hosts.first().filter(|h| h.ip.is_ipv4() != ip.is_ipv4()) {
                    out.push(Finding::error(
                        "apiserver.vip",
                        format!(
                            "vip {ip} is {}, but the hosts are {} ({}); use an address of the hosts' family",
                            family(&ip),
                            family(&first.ip),
                            first.describe()
                        ),
                    ));
                } else {
                    for (field, net) in [("pod_cidr", pod), ("service_cidr", svc)] {
                        if let Some(net) = net.filter(|n| n.contains(&ip)) {
                            out.push(Finding::error(
                                "apiserver.vip",
                                format!(
                                    "vip {ip} is inside {field} {net}; use an address of the hosts' network"
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }

    // Names the API server certificate has anyway, for the duplicate warnings.
    let mut automatic: Vec<(String, String)> = vec![
        ("127.0.0.1".into(), "always in the certificate".into()),
        ("kubernetes".into(), "always in the certificate".into()),
        (
            "kubernetes.default".into(),
            "always in the certificate".into(),
        ),
        (
            "kubernetes.default.svc".into(),
            "always in the certificate".into(),
        ),
        (
            format!("kubernetes.default.svc.{}", spec.network.dns_domain),
            "always in the certificate".into(),
        ),
    ];
    if let Some(ip) = svc.and_then(|n| nth_address(&n, 1)) {
        automatic.push((ip.to_string(), "the kubernetes service address".into()));
    }
    if let Some(ip) = vip_ip {
        automatic.push((ip.to_string(), "apiserver.vip".into()));
    }
    for h in hosts.iter().filter(|h| is_master(h)) {
        automatic.push((
            h.ip.to_string(),
            format!("the address of master {}", h.name),
        ));
    }
    for (k, san) in a.extra_sans.iter().enumerate() {
        let at = format!("apiserver.extra_sans[{k}]");
        let canonical = match san.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                out.push(Finding::error(
                    at,
                    format!("{ip} is not an address a client can reach the API server at"),
                ));
                continue;
            }
            Ok(ip) => ip.to_string(),
            Err(_) => match san_dns_problem(san) {
                Some(why) => {
                    out.push(Finding::error(at, why));
                    continue;
                }
                None => san.clone(),
            },
        };
        if let Some((_, why)) = automatic.iter().find(|(name, _)| *name == canonical) {
            out.push(Finding::warning(
                at,
                format!("{san} is already in the API server certificate ({why}); remove it here"),
            ));
        } else if let Some(first) = a.extra_sans[..k].iter().position(|s| {
            s.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|_| s.clone())
                == canonical
        }) {
            out.push(Finding::warning(
                at,
                format!("{san} is listed twice (also apiserver.extra_sans[{first}])"),
            ));
        }
    }

    if let Some(port) = a.port {
        let masters: Vec<&HostAddr> = hosts.iter().filter(|h| is_master(h)).collect();
        let any_master = |role| {
            masters
                .iter()
                .any(|h| spec.hosts[h.index].roles.contains(&role))
        };
        let taken = match port {
            0 => Some("port 0 is not a valid port; use 6443 (the default)".to_string()),
            2379 | 2380 if any_master(Role::Etcd) => Some(format!(
                "port {port} is etcd's, and a master here runs etcd too; use 6443 (the default)"
            )),
            10250 if any_master(Role::Node) => Some(format!(
                "port {port} is the kubelet's, and a master here runs a kubelet too; use 6443 (the default)"
            )),
            10257 | 10259 => Some(format!(
                "port {port} is the {}'s, which runs on every master; use 6443 (the default)",
                if port == 10257 { "controller manager" } else { "scheduler" }
            )),
            _ => None,
        };
        if let Some(why) = taken {
            out.push(Finding::error("apiserver.port", why));
        }
    }
}

/// A DNS name for a certificate: an RFC 1123 subdomain, optionally with a leading `*.`.
fn san_dns_problem(san: &str) -> Option<String> {
    if san.is_empty() {
        return Some("the name is empty; give an IP address or a DNS name".into());
    }
    let name = san.strip_prefix("*.").unwrap_or(san);
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(format!(
            "{san:?} is not a valid IP address, and a DNS name cannot end in a number"
        ));
    }
    let why = check_subdomain(name).err()?;
    let hint = if san.chars().any(|c| c == ':' || c == '/') {
        "; give a bare IP address or DNS name, without scheme, port or path".to_string()
    } else {
        match lowercase_fix(name, check_subdomain) {
            Some(fix) => format!("; use {:?}", san.replace(name, &fix)),
            None => String::new(),
        }
    };
    Some(format!(
        "{san:?} is neither an IP address nor a valid DNS name: it {why}{hint}"
    ))
}

fn mirror_url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        None => Some(format!(
            "mirror_url {url:?} must start with http:// or https://"
        )),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some(format!(
            "mirror_url {url:?} has no host name after the scheme"
        )),
        Some(_) if url.chars().any(char::is_whitespace) => Some(format!(
            "mirror_url {url:?} contains spaces; percent-encode them as %20"
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for good in ["0", "0s", "24h0m0s", "1h", "90s", "1.5h", "100ms"] {
            assert!(is_go_duration(good), "{good}");
        }
        for bad in ["", "1", "1d", "-1s", "1 h", "h"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn mirror_urls() {
        assert_eq!(mirror_url_problem("http://mirror.lab/k8s"), None);
        assert_eq!(mirror_url_problem("https://10.0.0.1:8080/"), None);
        assert!(mirror_url_problem("ftp://x")
            .unwrap()
            .contains("must start with"));
        assert!(mirror_url_problem("mirror.lab")
            .unwrap()
            .contains("must start with"));
        assert!(mirror_url_problem("http://").unwrap().contains("no host"));
        assert!(mirror_url_problem("http://a b").unwrap().contains("spaces"));
    }

    #[test]
    fn pod_cidr_sizes() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(pod_cidr_size_problem(&net("10.244.0.0/16"), 100), None);
        assert!(pod_cidr_size_problem(&net("10.244.0.0/25"), 1)
            .unwrap()
            .contains("too small"));
        assert!(pod_cidr_size_problem(&net("10.0.0.0/7"), 1)
            .unwrap()
            .contains("too large"));
        assert!(pod_cidr_size_problem(&net("10.244.0.0/23"), 3)
            .unwrap()
            .contains("room for 2 node subnets"));
        assert_eq!(pod_cidr_size_problem(&net("fd00:10:244::/56"), 3), None);
        assert!(pod_cidr_size_problem(&net("fd00::/96"), 1)
            .unwrap()
            .contains("too small"));
    }

    #[test]
    fn service_cidr_sizes() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(
            service_cidr_size_problem(&net("10.96.0.0/12"), "1.32.0"),
            None
        );
        assert_eq!(
            service_cidr_size_problem(&net("10.96.0.0/28"), "1.32.0"),
            None
        );
        assert!(service_cidr_size_problem(&net("10.96.0.0/29"), "1.32.0")
            .unwrap()
            .contains("too small"));
        assert!(service_cidr_size_problem(&net("10.0.0.0/8"), "1.32.0")
            .unwrap()
            .contains("too large"));
        assert_eq!(
            service_cidr_size_problem(&net("10.0.0.0/8"), "1.33.0"),
            None
        );
        assert!(service_cidr_size_problem(&net("fd00::/64"), "1.32.0")
            .unwrap()
            .contains("a /108"));
    }

    #[test]
    fn cluster_dns() {
        let svc = Some("10.96.0.0/12".parse::<IpNet>().unwrap());
        assert_eq!(cluster_dns_problem("10.96.0.10", svc), None);
        assert!(cluster_dns_problem("10.96.0.1", svc)
            .unwrap()
            .contains("kubernetes api"));
        assert!(cluster_dns_problem("10.96.0.0", svc)
            .unwrap()
            .contains("network address"));
        assert!(cluster_dns_problem("10.111.255.255", svc)
            .unwrap()
            .contains("broadcast"));
        assert!(cluster_dns_problem("10.0.0.10", svc)
            .unwrap()
            .contains("e.g. 10.96.0.10"));
        assert!(cluster_dns_problem("dns", svc)
            .unwrap()
            .contains("not an IP address"));
        assert_eq!(cluster_dns_problem("10.0.0.10", None), None);
    }
}

//! Network: the pod and service CIDRs, the DNS service IP and domain.

use super::{no_lines, non_empty, FormScreen, Screen, Step};
use crate::config::{ClusterSpec, Finding, NetworkSpec};
use crate::tui::input::{Field, Form};

impl Step {
    pub const NETWORK: Step = Step("network");
}

pub const SCREEN: Screen = Screen {
    step: Step::NETWORK,
    title: "Network",
    paths: &["network"],
    form: Some(FormScreen {
        form,
        apply,
        intro,
        after: no_lines,
    }),
    ..Screen::BASE
};

fn form(s: &ClusterSpec) -> Form {
    let n = &s.network;
    Form::new(vec![
        Field::text("pod_cidr", "Pod CIDR", "network.pod_cidr", &n.pod_cidr)
            .hint("pod addresses; every node gets a /24 of it, so a /16 holds 256 nodes"),
        Field::text(
            "service_cidr",
            "Service CIDR",
            "network.service_cidr",
            &n.service_cidr,
        )
        .hint("cluster IPs of services; its first address is the kubernetes API service"),
        Field::text(
            "cluster_dns",
            "DNS service IP",
            "network.cluster_dns",
            n.cluster_dns.as_deref().unwrap_or(""),
        )
        .hint("blank: the 10th address of the service CIDR"),
        Field::text(
            "dns_domain",
            "DNS domain",
            "network.dns_domain",
            &n.dns_domain,
        )
        .hint("domain of services and pods, usually cluster.local"),
    ])
}

fn apply(f: &Form, s: &mut ClusterSpec) -> Vec<Finding> {
    s.network = NetworkSpec {
        pod_cidr: f.value("pod_cidr").trim().to_string(),
        service_cidr: f.value("service_cidr").trim().to_string(),
        cluster_dns: non_empty(&f.value("cluster_dns")),
        dns_domain: f.value("dns_domain").trim().to_string(),
    };
    vec![]
}

fn intro(s: &ClusterSpec) -> Vec<String> {
    let ip = |ip: Option<std::net::IpAddr>| ip.map(|i| i.to_string()).unwrap_or_else(|| "—".into());
    vec![
        "The cluster's internal networks: one IP family, not overlapping each other nor any host."
            .into(),
        format!(
            "Cluster DNS will be {}; the kubernetes API service {}.",
            ip(s.cluster_dns_ip()),
            ip(s.apiserver_service_ip())
        ),
    ]
}

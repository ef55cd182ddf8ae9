//! Pod network: flannel (vxlan, host-gw) or calico (ipip, vxlan, bgp), with what each means.

use super::{FormScreen, Screen, Step};
use crate::config::{
    CalicoMode, CalicoSpec, ClusterSpec, CniSpec, Finding, FlannelBackend, FlannelSpec,
};
use crate::tui::input::{Field, Form};
use crate::tui::theme::Theme;
use ratatui::text::{Line, Span};

impl Step {
    pub const POD_NETWORK: Step = Step("pod-network");
}

pub const SCREEN: Screen = Screen {
    step: Step::POD_NETWORK,
    title: "Pod network",
    paths: &["cni"],
    form: Some(FormScreen {
        form,
        apply,
        intro,
        after,
    }),
    ..Screen::BASE
};

const PLUGINS: &[&str] = &["flannel", "calico"];

/// The plugin's mode as the form names it.
fn mode(c: &CniSpec) -> &'static str {
    match c {
        CniSpec::Flannel { flannel } => match flannel.backend {
            FlannelBackend::Vxlan => "vxlan",
            FlannelBackend::HostGw => "host-gw",
        },
        CniSpec::Calico { calico } => match calico.mode {
            CalicoMode::Ipip => "ipip",
            CalicoMode::Vxlan => "vxlan",
            CalicoMode::Bgp => "bgp",
        },
    }
}

fn form(s: &ClusterSpec) -> Form {
    let (plugin, mode_field) = match &s.cni {
        CniSpec::Flannel { .. } => (
            "flannel",
            Field::choice(
                "backend",
                "Backend",
                "cni.flannel.backend",
                &["vxlan", "host-gw"],
                mode(&s.cni),
            ),
        ),
        CniSpec::Calico { .. } => (
            "calico",
            Field::choice(
                "mode",
                "Mode",
                "cni.calico.mode",
                &["ipip", "vxlan", "bgp"],
                mode(&s.cni),
            ),
        ),
    };
    Form::new(vec![
        Field::choice("plugin", "Plugin", "cni.plugin", PLUGINS, plugin),
        mode_field,
    ])
}

fn apply(f: &Form, s: &mut ClusterSpec) -> Vec<Finding> {
    s.cni = if f.value("plugin") == "calico" {
        CniSpec::Calico {
            calico: CalicoSpec {
                mode: match f.value("mode").as_str() {
                    "vxlan" => CalicoMode::Vxlan,
                    "bgp" => CalicoMode::Bgp,
                    _ => CalicoMode::Ipip,
                },
            },
        }
    } else {
        CniSpec::Flannel {
            flannel: FlannelSpec {
                backend: if f.value("backend") == "host-gw" {
                    FlannelBackend::HostGw
                } else {
                    FlannelBackend::Vxlan
                },
            },
        }
    };
    vec![]
}

fn intro(_: &ClusterSpec) -> Vec<String> {
    vec!["How pods on different hosts reach each other.".into()]
}

/// What the plugin and each of its modes do, the chosen one marked.
fn after(s: &ClusterSpec, theme: &Theme) -> Vec<Line<'static>> {
    let explain: &[(&str, &str)] = match &s.cni {
        CniSpec::Flannel { .. } => &[
            ("flannel", "a simple overlay: flanneld leases each node a subnet from etcd and writes /run/flannel/subnet.env"),
            ("vxlan", "encapsulates pod traffic in UDP; works across routed networks (default)"),
            ("host-gw", "plain routes via each host, no encapsulation: faster, but every host must share one L2 segment"),
        ],
        CniSpec::Calico { .. } => &[
            ("calico", "routes pod traffic with BGP and enforces network policies"),
            ("ipip", "IP-in-IP encapsulation between hosts; works across subnets (default)"),
            ("vxlan", "VXLAN encapsulation, for networks that drop IP-in-IP (some clouds)"),
            ("bgp", "no encapsulation: pod routes announced by BGP; hosts on one L2 or BGP-capable routers"),
        ],
    };
    let selected = mode(&s.cni);
    explain
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let st = if i == 0 || *k == selected {
                theme.base()
            } else {
                theme.dim()
            };
            let mark = if *k == selected { "▸" } else { " " };
            Line::from(vec![
                Span::styled(format!("  {mark} {k:<9}"), theme.key()),
                Span::styled(v.to_string(), st),
            ])
        })
        .collect()
}

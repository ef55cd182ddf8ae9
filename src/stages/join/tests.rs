use super::*;
use crate::cluster_dir::ClusterDir;
use crate::stages::{PlanOptions, Templates, REGISTRY};

const LAB: &str = "name: lab\nhosts:\n  - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}\n  - {name: node2, address: 10.77.0.12, roles: [etcd, node]}\n  - {name: node3, address: 10.77.0.13, roles: [etcd, node]}\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\nruntime: docker\nversions: {kubernetes: 1.20.2}\n";

fn spec(extra: &str) -> ClusterSpec {
    crate::config::parse_str(&format!("{LAB}{extra}")).unwrap()
}

fn built(spec: &ClusterSpec, dir: &ClusterDir) -> Built {
    let t = Templates::new();
    let opts = PlanOptions::default();
    let ctx = BuildCtx {
        spec,
        dir,
        opts: &opts,
        templates: &t,
        registry: REGISTRY,
    };
    build(&ctx).unwrap()
}

fn names(hs: &HostSteps) -> Vec<&str> {
    hs.steps.iter().map(|s| s.name.as_str()).collect()
}

fn script<'a>(hs: &'a HostSteps, step: &str) -> &'a str {
    match &hs.steps.iter().find(|s| s.name == step).unwrap().action {
        StepAction::Script { script, .. } => script,
        a => panic!("{a:?}"),
    }
}

fn file_text(hs: &HostSteps, step: &str) -> String {
    match &hs.steps.iter().find(|s| s.name == step).unwrap().action {
        StepAction::Files { files, .. } => match &files[0].source {
            FileSource::Inline { content, .. } => String::from_utf8(content.clone()).unwrap(),
            s => panic!("{s:?}"),
        },
        a => panic!("{a:?}"),
    }
}

/// The steps per host: the token and the cluster-wide steps once, on the first master; the
/// token in the cluster before any kubelet starts (barrier), and the nodes all Ready before
/// they are marked and listed (barrier).
#[test]
fn the_plan_per_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
    let mut s = spec("");
    s.binaries = crate::config::BinariesSpec::Installed;
    let b = built(&s, &dir);
    assert_eq!(b.hosts.len(), 3);
    let each = [
        "install",
        "kubelet-files",
        "kube-proxy-files",
        "kubelet-config",
        "kubelet-unit",
        "kube-proxy-config",
        "kube-proxy-unit",
        "start",
        "ready",
    ];
    assert_eq!(names(&b.hosts[1]), each);
    assert_eq!(
        names(&b.hosts[0]),
        [
            "install",
            "token-file",
            "bootstrap-token",
            "kubelet-files",
            "kube-proxy-files",
            "kubelet-config",
            "kubelet-unit",
            "kube-proxy-config",
            "kube-proxy-unit",
            "start",
            "serving-csrs",
            "ready",
            "mark-control-plane",
            "upload-config",
            "nodes"
        ]
    );
    let step = |n: &str| b.hosts[0].steps.iter().find(|s| s.name == n).unwrap();
    assert!(step("start").barrier && step("mark-control-plane").barrier);
    for once in ["token-file", "bootstrap-token", "serving-csrs", "nodes", "upload-config"] {
        assert_eq!(step(once).scope, StepScope::Once, "{once}");
    }
    for phase in ["bootstrap-token", "kubelet-start", "mark-control-plane", "upload-config", "kubelet-finalize"] {
        assert!(b.description.contains(phase), "{phase}: {}", b.description);
    }
    // Before the first apply: nothing to ship, the paths shown.
    assert!(step("kubelet-files").writes.iter().any(|w| w == "/etc/kubernetes/bootstrap-kubelet.conf (created by apply)"));
}

/// With the PKI and the token in the cluster directory: the token only in files marked secret,
/// never in a script or a printable file.
#[test]
fn the_token_travels_in_secret_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
    let mut s = spec("");
    s.binaries = crate::config::BinariesSpec::Installed;
    crate::pki::ensure(&dir, &s).unwrap();
    let (tk, _) = token::ensure(&dir, time::OffsetDateTime::now_utc()).unwrap();
    let b = built(&s, &dir);
    let mut secret_files = 0;
    for h in &b.hosts {
        for step in &h.steps {
            match &step.action {
                StepAction::Script { script, .. } => {
                    assert!(!script.contains(&tk.secret), "{}/{}", h.host, step.name)
                }
                StepAction::Files { files, .. } => {
                    for f in files {
                        let FileSource::Inline { content, secret } = &f.source else { continue };
                        let text = String::from_utf8_lossy(content);
                        let b64 = base64::engine::general_purpose::STANDARD.encode(&tk.secret);
                        if text.contains(&tk.secret) || text.contains(&b64) {
                            assert!(*secret, "{} holds the token but is not secret", f.path);
                            secret_files += 1;
                        }
                        if f.path.ends_with(".conf") {
                            assert!(*secret, "{}", f.path);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Three bootstrap kubeconfigs and the master's Secret manifest.
    assert_eq!(secret_files, 4);
    let json = serde_json::to_string(&b.hosts).unwrap();
    assert!(!json.contains(&tk.secret));
    assert!(script(&b.hosts[0], "bootstrap-token").contains(&format!("bootstrap-token-{}", tk.id)));
}
use base64::Engine as _;

/// kubelet's unit and configuration, per runtime and host.
#[test]
fn kubelet_and_kube_proxy_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
    let mut s = spec("kube_proxy: {conntrack: {max_per_core: 0, tcp_established_timeout: 0s, tcp_close_wait_timeout: 0s}}\n");
    s.binaries = crate::config::BinariesSpec::Installed;
    let b = built(&s, &dir);
    let unit = file_text(&b.hosts[1], "kubelet-unit");
    for want in [
        "  --hostname-override=node2 \\\n",
        "  --node-ip=10.77.0.12 \\\n",
        "  --pod-infra-container-image=k8s.gcr.io/pause:3.2 \\\n",
        "  --container-runtime=docker\n",
        "After=network-online.target docker.service\n",
    ] {
        assert!(unit.contains(want), "{want}: {unit}");
    }
    let config = script(&b.hosts[1], "kubelet-config");
    for want in ["cgroupDriver: @DRIVER@\n", "  - 10.96.0.10\n", "clusterDomain: cluster.local\n", "serverTLSBootstrap: true\n", "rotateCertificates: true\n"] {
        assert!(config.contains(want), "{want}: {config}");
    }
    let proxy = file_text(&b.hosts[2], "kube-proxy-config");
    let v: serde_yaml::Value = serde_yaml::from_str(&proxy).unwrap();
    assert_eq!(v["hostnameOverride"], "node3");
    assert_eq!(v["bindAddress"], "10.77.0.13");
    assert_eq!(v["clusterCIDR"], "10.244.0.0/16");
    assert_eq!(v["mode"], "iptables");
    assert_eq!(v["conntrack"]["maxPerCore"], 0);
    assert_eq!(v["conntrack"]["tcpCloseWaitTimeout"], "0s");

    // containerd; kube-proxy's own conntrack defaults when the cluster file sets none.
    s.runtime = crate::config::Runtime::Containerd;
    s.kube_proxy = Default::default();
    let b = built(&s, &dir);
    let unit = file_text(&b.hosts[1], "kubelet-unit");
    assert!(unit.contains("  --container-runtime=remote \\\n  --container-runtime-endpoint=unix:///run/containerd/containerd.sock\n"), "{unit}");
    let proxy = file_text(&b.hosts[2], "kube-proxy-config");
    assert!(!proxy.contains("conntrack"), "{proxy}");
}

/// Docker past dockershim is refused before any plan, naming K7.
#[test]
fn docker_after_1_23_names_k7() {
    let mut s = spec("");
    s.versions.kubernetes = "1.24.0".into();
    let findings = crate::config::validate(&s);
    let runtime = findings.iter().find(|f| f.path == "runtime").unwrap().to_string();
    assert!(runtime.contains("K7") && runtime.contains("use runtime: containerd"), "{runtime}");
}

/// upload-config: the cluster file without auth, as a ConfigMap.
#[test]
fn upload_config_drops_auth() {
    let s = crate::config::parse_str(&LAB.replace(
        "  - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}",
        "  - {name: node1, address: 10.77.0.11, roles: [etcd, master, node], auth: {method: key, key_file: /keys/id_lab}}",
    ))
    .unwrap();
    let m = config_map(&s);
    let v: serde_yaml::Value = serde_yaml::from_str(&m).unwrap();
    let inner: ClusterSpec = serde_yaml::from_str(v["data"]["cluster.yaml"].as_str().unwrap()).unwrap();
    assert!(inner.hosts[0].auth.is_none());
    assert_eq!(inner.hosts.len(), 3);
    assert!(!m.contains("id_lab"), "{m}");
}

//! The add-ons stage against the lab's real Kubernetes 1.20.2 apiserver (prep, etcd and the
//! control plane deployed on node1, the machines reset afterwards):
//! - CoreDNS's manifest and Calico's rendered manifest (tests/fixtures/calico-shape.yaml as the
//!   bundle's calico-v<ver>.yaml: no Calico release, and no Calico image can run, here) are
//!   accepted by `kubectl apply --dry-run=server`; the CoreDNS manifest with its service
//!   address outside the service CIDR is refused by the same server, so the check can fail;
//! - `apply --only-stages addons` with no node joined: the objects are applied for real (the
//!   kube-dns service at the cluster DNS address), and the wait stops at once, saying why.

mod common;

use common::cli::{
    apply_json, bundle_kubectl, cluster_copy, diagnoses, kubectl, kubectl_with_input, outcomes,
    reset_control_plane, reset_etcd, ResetControlPlaneOnDrop, ResetEtcdOnDrop,
};
use kubewiz::config::{BinariesSpec, CniSpec};
use kubewiz::stages::{addons, Templates};
use serde_json::Value;
use std::path::Path;

/// The output lines of the addons step `step`.
fn output_of(events: &[Value], step: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "output" && e["stage"] == "addons" && e["step"] == step)
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

fn spec_of(file: &Path) -> kubewiz::config::ClusterSpec {
    kubewiz::config::load(file)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .spec
}

/// A private copy of the lab's cluster deployed up to the control plane (`stages`), with this
/// machine's kubectl and the admin kubeconfig; the machines are reset when it drops (the
/// control plane first, then etcd, the network and the runtimes).
struct Deployed {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    kubectl: std::path::PathBuf,
    _bin: tempfile::TempDir,
}

impl Deployed {
    fn up_to(lab: &common::Lab, stages: &str) -> Deployed {
        let (dir, file) = cluster_copy(&lab.dir);
        reset_control_plane(&file);
        reset_etcd(&file);
        let bin = tempfile::tempdir().unwrap();
        let d = Deployed {
            kubectl: bundle_kubectl(&lab.dir, bin.path()),
            dir,
            file,
            _bin: bin,
        };
        let (code, events) = apply_json(&d.file, &["--only-stages", stages]);
        assert_eq!(code, 0, "{stages}: {:?}", diagnoses(&events));
        d
    }

    fn admin(&self) -> std::path::PathBuf {
        self.dir.path().join("kubeconfigs/admin.conf")
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        kubectl(&self.kubectl, &self.admin(), args)
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        drop(ResetControlPlaneOnDrop(&self.file));
        drop(ResetEtcdOnDrop(&self.file));
    }
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn addon_manifests_are_accepted_by_the_real_apiserver() {
    let Some(lab) = common::lab() else { return };
    let cluster = Deployed::up_to(&lab, "prep,etcd,control_plane");
    let file = cluster.file.clone();
    let dry_run = |yaml: &str| {
        kubectl_with_input(
            &cluster.kubectl,
            &cluster.admin(),
            &["apply", "--dry-run=server", "-f", "-"],
            Some(yaml),
        )
    };

    // CoreDNS as the stage renders it for the lab's cluster file.
    let spec = spec_of(&file);
    let t = Templates::new();
    let image = addons::coredns::image(&spec).unwrap();
    let coredns = addons::coredns::manifest(&t, &spec, &image).unwrap();
    let (ok, out) = dry_run(&coredns);
    eprintln!("CoreDNS, server dry run:\n{out}");
    assert!(ok, "{out}");
    for object in [
        "serviceaccount/coredns",
        "clusterrole.rbac.authorization.k8s.io/system:coredns",
        "clusterrolebinding.rbac.authorization.k8s.io/system:coredns",
        "configmap/coredns",
        "deployment.apps/coredns",
        "service/kube-dns",
    ] {
        assert!(
            out.contains(&format!("{object} created (server dry run)")),
            "{object}: {out}"
        );
    }
    // The server checks what a client cannot: a Deployment whose selector does not match its
    // pods' labels. (A service address outside the service CIDR is not one of those: a dry
    // run allocates no address, so 1.20 accepts it.)
    let wrong = coredns.replacen(
        "matchLabels:\n      k8s-app: kube-dns\n",
        "matchLabels:\n      k8s-app: kube-dns-typo\n",
        1,
    );
    assert_ne!(wrong, coredns);
    let (ok, out) = dry_run(&wrong);
    eprintln!("CoreDNS with a selector its pods do not match, server dry run:\n{out}");
    assert!(!ok, "{out}");
    assert!(
        out.contains("The Deployment \"coredns\" is invalid")
            && out.contains("`selector` does not match template `labels`"),
        "{out}"
    );
    // Nothing was created by the dry runs.
    let (_, svc) = cluster.kubectl(&["-n", "kube-system", "get", "svc", "kube-dns"]);
    assert!(svc.contains("NotFound"), "{svc}");

    // Calico: the bundle's manifest rendered for this cluster with cni calico, as deploy
    // writes it into the cluster directory and the add-ons stage applies it.
    let bundle = tempfile::tempdir().unwrap();
    let mut calico_spec = spec.clone();
    calico_spec.cni = CniSpec::Calico {
        calico: Default::default(),
    };
    std::fs::copy(
        "tests/fixtures/calico-shape.yaml",
        bundle.path().join(kubewiz::addons::calico::manifest_file(
            &calico_spec.versions.calico,
        )),
    )
    .unwrap();
    calico_spec.binaries = BinariesSpec::Bundle {
        bundle_dir: bundle.path().to_path_buf(),
    };
    let calico = kubewiz::addons::calico::for_spec(&calico_spec)
        .unwrap()
        .unwrap();
    let (ok, out) = dry_run(&calico.yaml);
    eprintln!("Calico, server dry run:\n{out}");
    assert!(ok, "{out}");
    for object in [
        "configmap/calico-config",
        "customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org",
        "daemonset.apps/calico-node",
        "deployment.apps/calico-kube-controllers",
    ] {
        assert!(
            out.contains(&format!("{object} created (server dry run)")),
            "{object}: {out}"
        );
    }
    let broken = calico
        .yaml
        .replacen("kind: DaemonSet", "kind: DaemonSett", 1);
    let (ok, out) = dry_run(&broken);
    assert!(!ok, "{out}");

    // The stage for real, with no node joined yet: applied, then the wait says why it stops.
    let (code, events) = apply_json(&file, &["--only-stages", "addons"]);
    assert_ne!(code, 0);
    let steps = outcomes(&events);
    eprintln!("addons with no node: {steps:?}");
    for (step, status) in [
        ("addons/coredns-manifest", "changed"),
        ("addons/coredns-apply", "changed"),
        ("addons/coredns-wait", "failed"),
    ] {
        assert!(
            steps.contains(&("node1".into(), step.into(), status.into())),
            "{step} {status}: {steps:?}"
        );
    }
    let wait = output_of(&events, "coredns-wait");
    assert!(
        wait.iter()
            .any(|l| l.starts_with("no node has joined the cluster")),
        "{wait:?}"
    );
    assert!(
        wait.iter()
            .any(|l| l == "kubewiz-component host=node1 name=coredns status=no node to run on"),
        "{wait:?}"
    );
    let (ok, ip) = cluster.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "svc",
        "kube-dns",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(ok && ip == "10.96.0.10", "{ip}");
    let (ok, corefile) = cluster.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "coredns",
        "-o",
        "jsonpath={.data.Corefile}",
    ]);
    assert!(
        ok && corefile.contains("kubernetes cluster.local in-addr.arpa ip6.arpa"),
        "{corefile}"
    );
}

/// The kubelet this test starts by hand on node1 (a stand-in for the join stage, which is not
/// built yet): the bundle's kubelet 1.20.2 with dockershim, the admin kubeconfig, docker's
/// cgroup driver, as a transient unit. Everything it left is removed on drop.
struct HandKubelet<'a>(&'a Path);

const HAND_KUBELET: &str = "kubewiz-test-kubelet";

impl HandKubelet<'_> {
    fn start(file: &Path) -> HandKubelet<'_> {
        let guard = HandKubelet(file);
        common::cli::exec_on(
            file,
            Some("node1"),
            &format!(
                "set -e; d=/run/{HAND_KUBELET}; mkdir -p $d /var/lib/kubelet; \
                 tar -xzf /opt/kubewiz/bundle/kubernetes-server-linux-amd64.tar.gz -C $d \
                   --strip-components=3 kubernetes/server/bin/kubelet; \
                 drv=$(docker info -f '{{{{.CgroupDriver}}}}'); \
                 printf '%s\\n' 'apiVersion: kubelet.config.k8s.io/v1beta1' 'kind: KubeletConfiguration' \
                   'authentication: {{anonymous: {{enabled: false}}, webhook: {{enabled: true}}, x509: {{clientCAFile: /etc/kubernetes/pki/ca.crt}}}}' \
                   'authorization: {{mode: Webhook}}' \"cgroupDriver: $drv\" 'clusterDNS: [10.96.0.10]' \
                   'clusterDomain: cluster.local' 'failSwapOn: false' >$d/config.yaml; \
                 systemd-run --quiet --unit {HAND_KUBELET} $d/kubelet --config=$d/config.yaml \
                   --kubeconfig=/etc/kubernetes/admin.conf --container-runtime=docker \
                   --pod-infra-container-image=k8s.gcr.io/pause:3.2 --node-ip=10.77.0.11 \
                   --hostname-override=node1"
            ),
        );
        guard
    }
}

impl Drop for HandKubelet<'_> {
    fn drop(&mut self) {
        let _ = common::cli::kubewiz(&[
            "exec",
            "-f",
            self.0.to_str().unwrap(),
            "--hosts",
            "node1",
            "--",
            &format!(
                "systemctl stop {HAND_KUBELET} 2>/dev/null; systemctl reset-failed {HAND_KUBELET} 2>/dev/null; \
                 docker rm -f $(docker ps -aq) >/dev/null 2>&1; \
                 for m in $(awk '$2 ~ \"^/var/lib/kubelet\" {{print $2}}' /proc/mounts | sort -r); do umount $m; done; \
                 rm -rf /var/lib/kubelet /var/lib/dockershim /var/log/pods /var/log/containers /run/{HAND_KUBELET}; true"
            ),
        ])
        .output();
    }
}

/// The lab's air-gapped failure for real: no CoreDNS image in the bundle, none pullable (the
/// machines' DNS refuses, nothing leaves the lab). The coredns pods on node1 (its kubelet
/// started by hand) cannot pull their image; the wait stops long before its deadline and the
/// diagnosis names the image and the fix, as does `kubewiz diagnose --stage addons`.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn coredns_without_its_image_fails_fast_with_the_diagnosis() {
    let Some(lab) = common::lab() else { return };
    let cluster = Deployed::up_to(&lab, "prep,etcd,runtime,network,control_plane");
    let file = cluster.file.clone();
    let _kubelet = HandKubelet::start(&file);
    let ready = (0..60).any(|_| {
        let (_, out) = cluster.kubectl(&["get", "nodes", "--no-headers"]);
        if out.contains(" Ready ") {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        false
    });
    assert!(ready, "node1's kubelet did not become Ready");

    let started = std::time::Instant::now();
    let (code, events) = apply_json(&file, &["--only-stages", "addons"]);
    let took = started.elapsed();
    assert_ne!(code, 0);
    let wait = output_of(&events, "coredns-wait");
    eprintln!("coredns-wait after {took:?}:\n{}", wait.join("\n"));
    // Long before the 300 s deadline: the failed pull ends the wait.
    assert!(took.as_secs() < 150, "{took:?}");
    let image = "k8s.gcr.io/coredns:1.7.0";
    assert!(
        wait.iter().any(
            |l| l.starts_with("kubewiz-component host=node1 name=coredns status=")
                && (l.ends_with(&format!("ErrImagePull: {image}"))
                    || l.ends_with(&format!("ImagePullBackOff: {image}")))
        ),
        "{wait:?}"
    );
    let found = diagnoses(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0]["diagnosis"];
    eprintln!(
        "diagnosis {}: {}\n  cause: {}\n  fix: {}\n  evidence: {}",
        d["id"],
        d["title"],
        d["cause"],
        d["fix"],
        serde_json::to_string_pretty(&d["evidence"]).unwrap()
    );
    assert_eq!(d["id"], "C3", "{d}");
    assert!(
        d["fix"].as_str().unwrap().contains(&format!(
            "put {image} as a docker-save tarball in the bundle's images/ and apply again"
        )),
        "{d}"
    );

    // `kubewiz diagnose --stage addons` sees the same.
    let (code, events) = common::cli::diagnose_stage(&file, "addons");
    assert_ne!(code, 0);
    let ids = common::cli::ids(&events);
    eprintln!("diagnose --stage addons: {ids:?}");
    assert_eq!(ids, [("node1".to_string(), "C3".to_string())]);
}

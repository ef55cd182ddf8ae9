//! The add-ons stage against the lab's real Kubernetes 1.20.2 apiserver (prep, etcd and the
//! control plane deployed on node1, the machines reset afterwards):
//! - CoreDNS's manifest and Calico's rendered manifest (tests/fixtures/calico-shape.yaml as the
//!   bundle's calico-v<ver>.yaml: no Calico release, and no Calico image can run, here) are
//!   accepted by `kubectl apply --dry-run=server`; a Deployment whose selector does not match
//!   its pods, and an unknown kind, are refused by the same server, so the check can fail;
//! - `apply --only-stages addons` with no node joined: the objects are applied for real (the
//!   kube-dns service at the cluster DNS address), and the wait stops at once, saying why;
//! - the whole plan: every stage passes but CoreDNS, whose image the lab cannot have (C3).

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

/// The lab's air-gapped failure for real, from the whole plan: no CoreDNS image in the bundle,
/// none pullable (the machines' DNS refuses, nothing leaves the lab). Every stage up to join
/// passes (three nodes Ready); the coredns pods cannot pull their image, the wait stops long
/// before its deadline and the diagnosis names the image and the fix, as does
/// `kubewiz diagnose --stage addons`.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn the_whole_plan_ends_in_the_air_gapped_coredns_diagnosis() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    common::cli::reset_cluster(&file);
    let _cluster = common::cli::ResetClusterOnDrop(&file);

    let started = std::time::Instant::now();
    let (code, events) = apply_json(&file, &[]);
    let took = started.elapsed();
    assert_ne!(code, 0);
    let failed: Vec<_> = outcomes(&events)
        .into_iter()
        .filter(|(_, _, status)| status == "failed")
        .collect();
    assert_eq!(
        failed,
        [(
            "node1".to_string(),
            "addons/coredns-wait".to_string(),
            "failed".to_string()
        )],
        "{:?}",
        diagnoses(&events)
    );
    let wait = output_of(&events, "coredns-wait");
    eprintln!("whole plan in {took:?}; coredns-wait:\n{}", wait.join("\n"));
    let image = "k8s.gcr.io/coredns:1.7.0";
    assert!(
        wait.iter().any(
            |l| l.starts_with("kubewiz-component host=node1 name=coredns status=")
                && (l.ends_with(&format!("ErrImagePull: {image}"))
                    || l.ends_with(&format!("ImagePullBackOff: {image}")))
        ),
        "{wait:?}"
    );
    // Long before the 300 s deadline: the failed pull ends the wait.
    let wait_ms = events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "coredns-wait")
        .and_then(|e| e["duration_ms"].as_u64())
        .unwrap();
    assert!(wait_ms < 150_000, "{wait_ms} ms");
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

//! The join stage's known failures, made for real on one deployed lab cluster (docker, Kubernetes
//! 1.20.2), each diagnosed by a real `kubewiz apply --auto-fix` (the failed step's diagnosis
//! names the catalog id) and fixed by kubewiz, every node Ready afterwards:
//! - K1 (kubewiz's node-bootstrapper binding deleted, node2 joins again) and D1 (node3's
//!   recorded cgroup driver changed, so kubelet's differs from docker's), in one run;
//! - K3 (the client CSR auto-approval binding deleted, node2 joins again: its CSR stays
//!   pending);
//! - K2 (the bootstrap token's Secret deleted while node2 joins again, a run narrowed to node2's
//!   ready step, which never recreates the Secret).

mod common;

use common::cli::{
    apply_json, diagnoses, exec_on, failed_steps, on, reset_cluster, ResetClusterOnDrop,
};
use common::join::cluster;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

const KUBECTL: &str =
    "/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=20s";

/// `kubewiz apply` with `args`; its exit code and events, how long it took on stderr.
fn apply(file: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let t = Instant::now();
    let (code, events) = apply_json(file, args);
    eprintln!("apply {args:?} took {:.1} s", t.elapsed().as_secs_f64());
    (code, events)
}

/// The diagnosis kubewiz gave `host`'s failed join step, as (id, auto-fix action); with every
/// diagnosis and the evidence lines printed (the catalog's samples come from here).
fn diagnosis_of(events: &[Value], host: &str) -> (String, String) {
    for d in diagnoses(events) {
        eprintln!("diagnosis {d}");
    }
    let d = diagnoses(events)
        .into_iter()
        .find(|d| d["host"] == host && d["diagnosis"]["id"].is_string())
        .unwrap_or_else(|| panic!("{host} diagnosed: {:?}", failed_steps(events)));
    (
        d["diagnosis"]["id"].as_str().unwrap().to_string(),
        d["diagnosis"]["auto_fix"]["action"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

/// `host` as a node that has not joined: kubelet stopped, its certificates and kubeconfig
/// gone, its node object deleted (the bootstrap kubeconfig stays, as on a fresh node).
fn unjoin(file: &Path, host: &str) {
    exec_on(
        file,
        Some(host),
        "systemctl stop kubelet && rm -rf /etc/kubernetes/kubelet.conf /var/lib/kubelet/pki",
    );
    exec_on(
        file,
        Some("node1"),
        &format!("{KUBECTL} delete node {host}"),
    );
}

/// Every node Ready, asked of the API server.
fn assert_all_ready(file: &Path) {
    let ready = on(
        file,
        "node1",
        &format!(
            "{KUBECTL} get nodes -o jsonpath='{{range .items[*]}}{{.metadata.name}}={{.status.conditions[?(@.type==\"Ready\")].status}} {{end}}'"
        ),
    );
    assert_eq!(ready.join(" ").trim(), "node1=True node2=True node3=True");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn join_failures_are_named_and_fixed() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster(&lab, "docker");
    reset_cluster(&file);
    let _reset = ResetClusterOnDrop(&file);
    let (code, events) = apply(&file, &[]);
    assert_eq!(code, 0, "{:?}", failed_steps(&events));

    // K1 on node2 and D1 on node3, one run. Only the join stage: the control plane's rbac step
    // and the runtime's would put both right by themselves.
    exec_on(
        &file,
        Some("node1"),
        &format!("{KUBECTL} delete clusterrolebinding kubewiz:node-bootstrapper"),
    );
    unjoin(&file, "node2");
    let docker = on(&file, "node3", "docker info --format '{{.CgroupDriver}}'");
    let other = if docker == ["systemd"] {
        "cgroupfs"
    } else {
        "systemd"
    };
    exec_on(
        &file,
        Some("node3"),
        &format!("echo {other} > /etc/kubewiz/cgroup-driver"),
    );
    let (code, events) = apply(&file, &["--only-stages", "join", "--auto-fix"]);
    assert_eq!(
        diagnosis_of(&events, "node2"),
        ("K1".into(), "bind-node-bootstrappers".into())
    );
    assert_eq!(
        diagnosis_of(&events, "node3"),
        ("D1".into(), "record-runtime-cgroup-driver".into())
    );
    assert_eq!(
        code,
        0,
        "the retry after the fixes: {:?}",
        failed_steps(&events)
    );
    assert_eq!(on(&file, "node3", "cat /etc/kubewiz/cgroup-driver"), docker);
    let binding = on(
        &file,
        "node1",
        &format!("{KUBECTL} get clusterrolebinding kubewiz:node-bootstrapper -o name"),
    );
    assert_eq!(
        binding,
        ["clusterrolebinding.rbac.authorization.k8s.io/kubewiz:node-bootstrapper"]
    );
    assert_all_ready(&file);

    // K3: node2's client CSR is never auto-approved; kubewiz approves it (its token, a planned
    // node's name) after putting the binding back.
    exec_on(
        &file,
        Some("node1"),
        &format!("{KUBECTL} delete clusterrolebinding kubewiz:node-autoapprove-bootstrap"),
    );
    unjoin(&file, "node2");
    let (code, events) = apply(&file, &["--only-stages", "join", "--auto-fix"]);
    assert_eq!(
        diagnosis_of(&events, "node2"),
        ("K3".into(), "bind-node-bootstrappers".into())
    );
    assert_eq!(
        code,
        0,
        "the retry after the fix: {:?}",
        failed_steps(&events)
    );
    assert_all_ready(&file);

    // K2: the token's Secret deleted while node2 joins, in a run of node2's ready step alone
    // (the bootstrap-token step, which would create it again, is not in it). The fix makes a
    // new token, its Secret, node2's bootstrap kubeconfig; the narrowed retry cannot approve
    // node2's serving certificate (that is the first master's step), the next whole join does.
    let old = std::fs::read_to_string(dir.path().join("bootstrap-token.yaml")).unwrap();
    let id = old
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .trim()
        .to_string();
    exec_on(
        &file,
        Some("node1"),
        &format!("{KUBECTL} -n kube-system delete secret bootstrap-token-{id}"),
    );
    unjoin(&file, "node2");
    exec_on(&file, Some("node2"), "systemctl start kubelet");
    let (_, events) = apply(
        &file,
        &[
            "--step",
            "join/ready",
            "--only-hosts",
            "node2",
            "--auto-fix",
        ],
    );
    assert_eq!(
        diagnosis_of(&events, "node2"),
        ("K2".into(), "renew-bootstrap-token".into())
    );
    let new = std::fs::read_to_string(dir.path().join("bootstrap-token.yaml")).unwrap();
    assert!(new != old, "a new token");
    let (code, events) = apply(&file, &["--only-stages", "join"]);
    assert_eq!(code, 0, "{:?}", failed_steps(&events));
    assert_all_ready(&file);
}

//! The control plane stage end to end on the lab, through the real binary and the real
//! Kubernetes 1.20.2 binaries of the bundle: prep, etcd and control_plane on the lab (node1 is
//! the only master) → /readyz answers this machine through node1's address with the cluster
//! directory's admin kubeconfig, kubewiz's cluster role bindings exist, a rerun changes
//! nothing; then an apiserver started without the service-account issuer flags is diagnosed
//! A1 and the next apply puts its unit back. The machines are put back as they were found
//! ([`common::cli::reset_control_plane`], [`common::cli::reset_etcd`]).

mod common;

use common::cli::{
    apply_json, cluster_copy, diagnoses, exec_on, outcomes, reset_control_plane, reset_etcd,
    ResetControlPlaneOnDrop, ResetEtcdOnDrop,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (host, step, status) of the control_plane steps.
fn cp_outcomes(events: &[Value]) -> Vec<(String, String, String)> {
    outcomes(events)
        .into_iter()
        .filter_map(|(h, s, st)| {
            s.strip_prefix("control_plane/")
                .map(|s| (h, s.to_string(), st))
        })
        .collect()
}

/// The output lines of the control_plane step `step`.
fn output_of(events: &[Value], step: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "output" && e["stage"] == "control_plane" && e["step"] == step)
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

/// The bundle's kubectl, unpacked into `dir` (this machine has none of its own).
fn bundle_kubectl(lab: &Path, dir: &Path) -> PathBuf {
    let tarball = lab.join("bundle/kubernetes-server-linux-amd64.tar.gz");
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg("kubernetes/server/bin/kubectl")
        .status()
        .unwrap();
    assert!(ok.success(), "unpacking kubectl from {}", tarball.display());
    dir.join("kubernetes/server/bin/kubectl")
}

/// `kubectl --kubeconfig <admin.conf> <args>` from this machine: (success, stdout + stderr).
fn kubectl(bin: &Path, admin: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(admin)
        .arg("--request-timeout=10s")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn diagnose(file: &Path) -> (i32, Vec<Value>) {
    common::cli::diagnose_stage(file, "control_plane")
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn control_plane_on_node1() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    reset_control_plane(&file);
    reset_etcd(&file);
    let _etcd = ResetEtcdOnDrop(&file);
    let _control_plane = ResetControlPlaneOnDrop(&file);
    let only = ["--only-stages", "prep,etcd,control_plane"];

    let (code, events) = apply_json(&file, &only);
    let first = cp_outcomes(&events);
    assert_eq!(
        code,
        0,
        "first run failed: {first:?} {:?}",
        diagnoses(&events)
    );
    // node1 is the only master: the stage runs there alone, and changes what it installs.
    assert!(first.iter().all(|(h, _, _)| h == "node1"), "{first:?}");
    for step in [
        "install",
        "certs",
        "apiserver-unit",
        "controller-manager-unit",
        "scheduler-unit",
        "start",
        "rbac",
    ] {
        assert!(
            first.contains(&("node1".into(), step.into(), "changed".into())),
            "{step} not changed on the first run: {first:?}"
        );
    }
    // Keys and kubeconfigs were shipped, never shown: not in the events, not in the log file.
    let all_events = serde_json::to_string(&events).unwrap();
    for secret in ["PRIVATE KEY", "client-key-data"] {
        assert!(!all_events.contains(secret), "{secret} in the events");
        for log in std::fs::read_dir(dir.path().join("logs")).unwrap() {
            let text = std::fs::read_to_string(log.unwrap().path()).unwrap_or_default();
            assert!(!text.contains(secret), "{secret} in the log file");
        }
    }
    let wait = output_of(&events, "wait");
    for component in [
        "kube-apiserver /readyz: ok",
        "kube-controller-manager /healthz: ok",
        "kube-scheduler /healthz: ok",
    ] {
        assert!(
            wait.iter().any(|l| l.starts_with(component)),
            "{component}: {wait:?}"
        );
    }
    let admin = dir.path().join("kubeconfigs/admin.conf");
    let report = output_of(&events, "report");
    let try_line = format!(
        "try: kubectl --kubeconfig {} get --raw /readyz",
        admin.display()
    );
    assert!(report.contains(&try_line), "{report:?}");
    assert!(
        report.iter().any(|l| l.trim() == "[+]etcd ok"),
        "{report:?}"
    );
    // The contract's lines, one per component of the master, read back by the summary parser;
    // the run's last record is the summary they make.
    let mut lines = kubewiz::summary::SummaryLines::default();
    report.iter().for_each(|l| lines.add_line(l));
    let health: Vec<(&str, &str, &str)> = lines
        .components
        .iter()
        .map(|c| (c.host.as_str(), c.name.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        health,
        [
            ("node1", "kube-apiserver", "ok"),
            ("node1", "kube-controller-manager", "ok"),
            ("node1", "kube-scheduler", "ok"),
            ("node1", "etcd", "ok"),
        ],
        "{report:?}"
    );
    let end = events.last().unwrap();
    assert_eq!(end["event"], "summary", "{end}");
    assert_eq!(end["components"].as_array().unwrap().len(), 4, "{end}");
    assert_eq!(
        end["nodes"].as_array().unwrap().len(),
        0,
        "no join stage: {end}"
    );
    assert_eq!(end["kubeconfig"], admin.display().to_string(), "{end}");
    assert_eq!(
        end["next_commands"][0],
        format!("kubectl --kubeconfig {} get nodes -o wide", admin.display()),
        "{end}"
    );

    // From this machine, through node1's address, with the cluster directory's kubeconfig.
    let tmp = tempfile::tempdir().unwrap();
    let bin = bundle_kubectl(&lab.dir, tmp.path());
    let (ok, readyz) = kubectl(&bin, &admin, &["get", "--raw", "/readyz"]);
    assert!(ok && readyz.trim() == "ok", "{readyz}");
    let (ok, bindings) = kubectl(
        &bin,
        &admin,
        &[
            "get",
            "clusterrolebindings",
            "-l",
            "app.kubernetes.io/managed-by=kubewiz",
            "-o",
            "custom-columns=NAME:.metadata.name,ROLE:.roleRef.name,SUBJECT:.subjects[0].name",
            "--no-headers",
        ],
    );
    assert!(ok, "{bindings}");
    let rows: Vec<Vec<&str>> = bindings
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (nodeclient, selfnodeclient) = (
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    );
    let want = [
        vec![
            "kubewiz:apiserver-kubelet-api-admin",
            "system:kubelet-api-admin",
            "kube-apiserver-kubelet-client",
        ],
        vec![
            "kubewiz:node-autoapprove-bootstrap",
            nodeclient,
            "system:bootstrappers:kubewiz",
        ],
        vec![
            "kubewiz:node-autoapprove-certificate-rotation",
            selfnodeclient,
            "system:nodes",
        ],
        vec![
            "kubewiz:node-bootstrapper",
            "system:node-bootstrapper",
            "system:bootstrappers:kubewiz",
        ],
    ];
    assert_eq!(rows, want, "{bindings}");
    // Keys and kubeconfigs on the master are root's alone.
    let modes = exec_on(
        &file,
        Some("node1"),
        "stat -c '%a %n' /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/sa.key /etc/kubernetes/admin.conf /etc/kubernetes/pki/ca.crt",
    );
    for (mode, path) in [
        ("600", "/etc/kubernetes/pki/ca.key"),
        ("600", "/etc/kubernetes/pki/sa.key"),
        ("600", "/etc/kubernetes/admin.conf"),
        ("644", "/etc/kubernetes/pki/ca.crt"),
    ] {
        assert!(modes.contains(&format!("{mode} {path}")), "{modes}");
    }

    // `kubewiz diagnose --stage control_plane`: healthy.
    let (code, events) = diagnose(&file);
    assert_eq!(code, 0, "{:?}", diagnoses(&events));
    assert_eq!(
        events.iter().filter(|e| e["event"] == "healthy").count(),
        1,
        "{events:?}"
    );

    // A rerun changes nothing: every control_plane step unchanged, the RBAC included.
    let (code, events) = apply_json(&file, &["--only-stages", "control_plane"]);
    let second = cp_outcomes(&events);
    assert_eq!(code, 0, "{second:?}");
    assert_eq!(second.len(), first.len(), "{second:?}");
    for (host, step, status) in &second {
        assert_eq!(status, "unchanged", "{host} {step} on the second run");
    }
    let rbac = output_of(&events, "rbac");
    assert_eq!(
        rbac.iter().filter(|l| l.ends_with(" unchanged")).count(),
        4,
        "{rbac:?}"
    );

    // A scheduler that is down: the report says so in its component line and fails the step.
    exec_on(&file, Some("node1"), "systemctl stop kube-scheduler");
    let (code, events) = apply_json(&file, &["--step", "control_plane/report"]);
    exec_on(&file, Some("node1"), "systemctl start kube-scheduler");
    assert_ne!(code, 0);
    let mut lines = kubewiz::summary::SummaryLines::default();
    output_of(&events, "report")
        .iter()
        .for_each(|l| lines.add_line(l));
    let scheduler = lines
        .components
        .iter()
        .find(|c| c.name == "kube-scheduler")
        .expect("a kube-scheduler line");
    eprintln!("the scheduler stopped: {scheduler:?}");
    assert!(
        scheduler.status.starts_with("/healthz on port 10259: ")
            && scheduler.status.contains("was refused"),
        "{scheduler:?}"
    );
    assert!(
        lines
            .components
            .iter()
            .filter(|c| c.name != "kube-scheduler")
            .all(|c| c.healthy()),
        "{lines:?}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "summary"),
        "no summary after a failed run"
    );

    // Catalog A1 for real: the apiserver unit edited by hand to drop the issuer flags (as a
    // pre-1.20 guide writes it) exits at every start; diagnose names A1 from its journal.
    let journal = exec_on(
        &file,
        Some("node1"),
        "sed -i '/--service-account-issuer=/d; /--service-account-signing-key-file=/d' \
         /etc/systemd/system/kube-apiserver.service && systemctl daemon-reload && \
         systemctl restart kube-apiserver; \
         for i in $(seq 30); do journalctl -u kube-apiserver --since '-60s' --no-pager | \
           grep -q 'service-account-issuer is a required flag' && break; sleep 1; done; \
         journalctl -u kube-apiserver --no-pager | grep 'required flag' | tail -n 1",
    );
    assert!(
        journal.contains("service-account-issuer is a required flag"),
        "{journal}"
    );
    eprintln!("the apiserver's journal: {journal}");
    let (code, events) = diagnose(&file);
    assert_ne!(code, 0);
    let found = diagnoses(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["host"], "node1", "{found:?}");
    assert_eq!(found[0]["diagnosis"]["id"], "A1", "{found:?}");
    let matched: Vec<&Value> = found[0]["diagnosis"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["matched"] == true)
        .collect();
    assert!(!matched.is_empty(), "{found:?}");
    eprintln!(
        "diagnosis {}: {}\n  cause: {}\n  fix: {}\n  matched: {} | {}",
        found[0]["diagnosis"]["id"],
        found[0]["diagnosis"]["title"],
        found[0]["diagnosis"]["cause"],
        found[0]["diagnosis"]["fix"],
        matched[0]["source"],
        matched[0]["line"]
    );

    // The next apply puts kubewiz's unit back and restarts the apiserver: ready again.
    let (code, events) = apply_json(&file, &["--only-stages", "control_plane"]);
    let third = cp_outcomes(&events);
    assert_eq!(code, 0, "{third:?}");
    for (_, step, status) in &third {
        let want = if step == "apiserver-unit" || step == "start" {
            "changed"
        } else {
            "unchanged"
        };
        assert_eq!(status, want, "{step} after the unit was edited: {third:?}");
    }
    let (ok, readyz) = kubectl(&bin, &admin, &["get", "--raw", "/readyz"]);
    assert!(ok && readyz.trim() == "ok", "{readyz}");
}

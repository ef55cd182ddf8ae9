//! Secrets never leave the cluster directory's key files: not in `plan` (text or JSON), not in
//! the events of a real run, not in its log file.

mod common;

use common::cli::{apply_json, cluster_copy, kubewiz};
use std::path::Path;

const PEM_KEY: &str = "PRIVATE KEY";

fn stdout_of(args: &[&str]) -> String {
    let out = kubewiz(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn plan_never_prints_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::copy("tests/fixtures/config/valid/minimal.yaml", &file).unwrap();
    let f = file.to_str().unwrap();
    stdout_of(&["certs", "generate", "-f", f]);
    // The keys exist, so the plan has key files to ship...
    let key = std::fs::read_to_string(dir.path().join("pki/etcd/node1/peer.key")).unwrap();
    assert!(key.contains(PEM_KEY));
    // ...and shows neither them nor their content.
    let text = stdout_of(&["plan", "-f", f, "--show-scripts"]);
    assert!(
        text.contains("/etc/etcd/pki/peer.key"),
        "the key file is listed"
    );
    assert!(text.contains("<private key, not shown>"));
    assert!(!text.contains(PEM_KEY));
    let json = stdout_of(&["plan", "-f", f, "--json"]);
    assert!(!json.contains(PEM_KEY));
    let body: String = key.lines().nth(1).unwrap().to_string();
    assert!(!text.contains(&body) && !json.contains(&body));
    // A master's kubeconfigs embed their key as base64: listed, never shown.
    assert!(text.contains("/etc/kubernetes/admin.conf (mode 600): <private key, not shown>"));
    assert!(!text.contains("client-key-data") && !json.contains("client-key-data"));
}

fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle)) {
            hits.push(p.display().to_string());
        }
    }
    hits
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn a_real_run_logs_no_secret() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    // preflight and prep: real sudo on real hosts, no etcd (other tests own that stage).
    let (code, events) = apply_json(&file, &["--only-stages", "preflight,prep"]);
    assert_eq!(code, 0);
    let all_events = serde_json::to_string(&events).unwrap();
    assert!(!all_events.contains(PEM_KEY));
    let logs = dir.path().join("logs");
    assert!(files_containing(&logs, PEM_KEY).is_empty());
    // A sudo password is a secret too: run as `ops`, whose sudo asks for one, with it in the
    // environment, and look for it everywhere the run wrote.
    let pw = std::fs::read_to_string(lab.dir.join("ops.password")).unwrap();
    let pw = pw.trim().to_string();
    assert!(!pw.is_empty());
    let yaml = std::fs::read_to_string(&file)
        .unwrap()
        .replace("user: kube", "user: ops");
    std::fs::write(&file, yaml).unwrap();
    let out = kubewiz(&[
        "exec",
        "-f",
        file.to_str().unwrap(),
        "--output",
        "json",
        "--",
        "id -u",
    ])
    .env("KUBEWIZ_SUDO_PASSWORD", &pw)
    .env("KUBEWIZ_LOG", "debug")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("\"line\":\"0\""),
        "sudo worked as ops: {stdout}"
    );
    assert!(!stdout.contains(&pw) && !String::from_utf8_lossy(&out.stderr).contains(&pw));
    assert!(
        files_containing(&logs, &pw).is_empty(),
        "the sudo password is in a log"
    );
}

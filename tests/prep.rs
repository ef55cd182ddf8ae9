//! Host prep end to end on the lab, through the real binary: the first run changes the hosts,
//! the second reports every step unchanged (or not applicable), and Ctrl-C leaves a journal the
//! next run resumes from.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

use common::cli::{apply_json, cluster_copy, kubewiz};

/// (host, step, status) of the prep steps.
fn outcomes(events: &[Value]) -> Vec<(String, String, String)> {
    common::cli::outcomes(events)
        .into_iter()
        .filter_map(|(h, s, st)| s.strip_prefix("prep/").map(|s| (h, s.to_string(), st)))
        .collect()
}

/// Undo prep on every lab machine so the first run has something to change.
fn unprep(file: &Path) {
    let script = "hostnamectl set-hostname \"m$(hostname | tr -dc 0-9)\" 2>/dev/null || true; \
        rm -f /etc/sysctl.d/99-kubernetes.conf /etc/modules-load.d/kubewiz-br_netfilter.conf; \
        sed -i '/^# BEGIN kubewiz/,/^# END kubewiz/d' /etc/hosts; \
        sed -i '/kubewiz-test-swap/d' /etc/fstab; echo '/swap.kubewiz-test-swap none swap sw 0 0' >> /etc/fstab";
    let st = kubewiz(&["exec", "-f", file.to_str().unwrap(), "--", script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn first_run_changes_second_run_is_unchanged() {
    let Some(lab) = common::lab() else { return };
    let lab = lab.dir;
    let (_dir, file) = cluster_copy(&lab);
    unprep(&file);

    let (code, events) = apply_json(&file, &["--only-stages", "prep"]);
    let first = outcomes(&events);
    assert_eq!(code, 0, "first run failed: {first:?}");
    let hosts = events[0]["stages"][0]["hosts"].as_array().unwrap().len();
    assert_eq!(first.len(), 8 * hosts);
    for step in ["hostname", "etc-hosts", "sysctl", "br-netfilter", "swap"] {
        for (host, s, status) in &first {
            if s == step {
                assert_eq!(status, "changed", "{host} {step} on the first run");
            }
        }
    }
    let (code, events) = apply_json(&file, &["--only-stages", "prep"]);
    assert_eq!(code, 0);
    let second = outcomes(&events);
    assert_eq!(second.len(), first.len());
    for (host, step, status) in &second {
        assert!(
            status == "unchanged" || status == "not_applicable",
            "{host} {step} is {status} on the second run"
        );
    }
    // The hosts really are prepared. Each output line says what it counts, so an assertion
    // can only match the line it means (`exec` prints `host | line`).
    let probe = "echo \"hostname: $(hostname)\"; \
        echo \"test swap commented out: $(grep -c '^# kubewiz (kubelet needs swap off): /swap.kubewiz-test-swap ' /etc/fstab)\"; \
        echo \"swap entries active: $(awk '$1 !~ /^#/ && $3 == \"swap\"' /etc/fstab | wc -l)\"; \
        echo \"sysctl lines: $(wc -l < /etc/sysctl.d/99-kubernetes.conf)\"";
    let out = kubewiz(&["exec", "-f", file.to_str().unwrap(), "--", probe])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<&String> = first.iter().map(|(host, _, _)| host).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), hosts);
    for host in names {
        for want in [
            format!("hostname: {host}"),
            "test swap commented out: 1".to_string(),
            "swap entries active: 0".to_string(),
            "sysctl lines: 3".to_string(),
        ] {
            let line = format!("{host} | {want}");
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
    }
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn interrupted_apply_resumes() {
    let Some(lab) = common::lab() else { return };
    let lab = lab.dir;
    let (dir, file) = cluster_copy(&lab);
    unprep(&file);
    // Interrupt as soon as the first step has finished somewhere.
    let mut child = kubewiz(&[
        "apply",
        "--only-stages",
        "prep",
        "-f",
        file.to_str().unwrap(),
        "--output",
        "json",
        "--parallel",
        "1",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = vec![];
    let mut interrupted = false;
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "step_finished" && !interrupted {
            // Ctrl-C, as a user would press it, to our own child only.
            Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            interrupted = true;
        }
        seen.push(v);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted exit code");
    let finished = seen.last().unwrap();
    assert_eq!(finished["event"], "plan_finished");
    assert_eq!(finished["interrupted"], true);
    let journal: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/journal.json")).unwrap())
            .unwrap();
    assert_eq!(journal["run_complete"], false);
    let done_before = journal["steps"].as_object().unwrap().len();
    assert!(done_before >= 1);

    let (code, events) = apply_json(&file, &["--only-stages", "prep"]);
    assert_eq!(code, 0);
    assert_eq!(events[0]["resumed"], true);
    let skipped = outcomes(&events)
        .iter()
        .filter(|o| o.2 == "skipped")
        .count();
    assert_eq!(
        skipped, done_before,
        "every step the journal has is skipped"
    );
}

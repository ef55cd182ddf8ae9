//! The etcd stage on the lab's real machines with real etcd: a healthy cluster and a rerun
//! that changes nothing, then real failures — a member certificate without its IP, a blocked
//! peer port, a stale data directory, a port held by another process, members stopped, etcd
//! missing on a host — each diagnosed from real logs and, where kubewiz can, fixed.

mod common;

use common::cli::{
    apply_json, cluster_copy, diagnose_stage, diagnoses, exec_on, ids, outcomes, reset_etcd,
    ResetEtcdOnDrop,
};
use std::path::Path;
use std::process::Command;

/// A shell snippet that runs a throwaway one-member etcd (not kubewiz's) on a host for a
/// moment or for good: it leaves real etcd data or holds real ports, as a hand-started one does.
fn foreign_etcd(name: &str, data_dir: &str, client_url: &str, peer_port: u16) -> String {
    format!(
        "cd /tmp && (/usr/local/bin/etcd --name {name} --data-dir {data_dir} \
           --listen-client-urls {client_url} --advertise-client-urls {client_url} \
           --listen-peer-urls http://127.0.0.1:{peer_port} --initial-advertise-peer-urls http://127.0.0.1:{peer_port} \
           --initial-cluster {name}=http://127.0.0.1:{peer_port} --initial-cluster-token {name}-cluster \
           >/tmp/{name}.log 2>&1 & echo $! > /tmp/{name}.pid)"
    )
}

fn deploy_healthy(file: &Path) {
    let (code, events) = apply_json(file, &["--only-stages", "etcd"]);
    assert_eq!(code, 0, "etcd deploy failed: {:?}", failures(&events));
}

fn failures(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"]["status"] == "failed")
        .map(|e| format!("{} {}: {}", e["host"], e["step"], e["outcome"]["message"]))
        .collect()
}

/// The key a test writes before it breaks the cluster, and reads back after the fix.
const KEY: &str = "kubewiz-test/written-before-the-break";

fn put_key(file: &Path, value: &str) {
    let etcdctl = kubewiz::stages::etcd::etcdctl();
    let out = exec_on(file, Some("node1"), &format!("{etcdctl} put {KEY} {value}"));
    assert!(out.contains("OK"), "{out}");
}

/// The key's value read from each member on its cluster address (etcdctl's last
/// --endpoints wins), with a serializable read so each member answers from its own data.
fn key_on_every_member(file: &Path) -> Vec<String> {
    let etcdctl = kubewiz::stages::etcd::etcdctl();
    (1..=3)
        .map(|i| {
            let out = exec_on(
                file,
                Some(&format!("node{i}")),
                &format!(
                    "{etcdctl} --endpoints=https://10.77.0.1{i}:2379 get {KEY} --print-value-only --consistency=s"
                ),
            );
            out.lines()
                .filter_map(|l| l.split_once(" | ").map(|(_, v)| v.trim().to_string()))
                .find(|v| !v.is_empty())
                .unwrap_or_default()
        })
        .collect()
}

/// Every member healthy, its own check and the client view through every member's sshd alike.
fn assert_healthy_from_every_address(file: &Path) {
    let (code, events) = diagnose(file);
    assert_eq!(code, 0, "healthy: {:?}", ids(&events));
    let healthy: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "healthy").collect();
    assert_eq!(healthy.len(), 3, "{events:?}");
    for e in healthy {
        let views: Vec<&serde_json::Value> = e["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["source"] == "client view")
            .collect();
        assert!(views.is_empty(), "{}: {views:?}", e["host"]);
    }
}

fn diagnosis_of<'a>(events: &'a [serde_json::Value], host: &str) -> &'a serde_json::Value {
    diagnoses(events)
        .into_iter()
        .find(|d| d["host"] == host)
        .unwrap_or_else(|| panic!("{host} diagnosed: {events:?}"))
}

fn diagnose(file: &Path) -> (i32, Vec<serde_json::Value>) {
    diagnose_stage(file, "etcd")
}

/// Poll `kubewiz diagnose --stage etcd` until `pred` holds for its findings.
fn diagnose_until(
    file: &Path,
    secs: u64,
    pred: impl Fn(&[(String, String)]) -> bool,
) -> Vec<serde_json::Value> {
    common::cli::diagnose_until(file, "etcd", secs, pred)
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn healthy_cluster_then_a_rerun_changes_nothing() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    // The report step printed the three tables from real etcdctl.
    let report: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "output" && e["step"] == "report")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert!(report.iter().any(|l| l.contains("IS LEADER")), "{report:?}");
    assert_eq!(
        report.iter().filter(|l| l.contains("| started |")).count(),
        3,
        "{report:?}"
    );

    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_eq!(code, 0);
    for (host, step, status) in outcomes(&events) {
        assert_eq!(status, "unchanged", "{host} {step} on a healthy cluster");
    }
    let (code, _) = diagnose(&file);
    assert_eq!(code, 0, "diagnose finds every member healthy");

    // A rerun does not unpack the tarball again (the install's stamp), yet a binary changed
    // by hand since is seen and put back (and the member restarted once, as after any new
    // binary).
    exec_on(&file, Some("node2"), "cp /bin/true /usr/local/bin/etcdctl");
    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    for (host, step, status) in outcomes(&events) {
        let want = match (host.as_str(), step.as_str()) {
            ("node2", "etcd/install" | "etcd/start") => "changed",
            _ => "unchanged",
        };
        assert_eq!(
            status, want,
            "{host} {step} after etcdctl was replaced on node2"
        );
    }
    let v = exec_on(
        &file,
        Some("node2"),
        "/usr/local/bin/etcdctl version | head -n 1",
    );
    assert!(v.contains("etcdctl version: 3.4.23"), "{v}");
}

/// `--parallel 1` lets one step attempt run at a time over all hosts, yet the members still
/// start together (a barrier before `start` and before `health`), so the cluster forms;
/// `report` runs once.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn parallel_one_still_forms_the_cluster() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    let (code, events) = apply_json(&file, &["--only-stages", "etcd", "--parallel", "1"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    // One engine, one event stream: a host starts a barrier step only after every host's
    // events for the steps before it.
    let position = |event: &str, step: &str| -> Vec<usize> {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["event"] == event && e["stage"] == "etcd" && e["step"] == step)
            .map(|(i, _)| i)
            .collect()
    };
    for (before, barrier) in [("data-dir", "start"), ("start", "health")] {
        let last_before = *position("step_finished", before).iter().max().unwrap();
        let first_barrier = *position("step_started", barrier).iter().min().unwrap();
        assert!(last_before < first_barrier, "{before} before {barrier}");
        assert_eq!(position("step_finished", barrier).len(), 3);
    }
    assert_eq!(position("step_started", "report").len(), 1);
    // And one attempt at a time: every started attempt ends before the next one starts.
    let mut running = 0;
    for e in &events {
        match e["event"].as_str().unwrap() {
            "step_started" => running += 1,
            "step_retrying" => running -= 1,
            "step_finished" if e["attempt"] != 0 => running -= 1,
            _ => {}
        }
        assert!((0..=1).contains(&running), "two attempts at once at {e}");
    }
    let (code, _) = diagnose(&file);
    assert_eq!(code, 0, "diagnose finds every member healthy");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn member_cert_without_its_ip_is_diagnosed_and_fixed() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    put_key(&file, "before-the-certificates");

    // A peer/server certificate for node3 that lacks node3's IP, signed by the real etcd CA,
    // put in place on node3 as a hand-made PKI would, then node3 restarted.
    let cdir = kubewiz::cluster_dir::ClusterDir::of_cluster_file(&file);
    let spec = kubewiz::config::load(&file).unwrap().spec;
    kubewiz::pki::issue_etcd_member_with_sans(&cdir, &spec, "node3", &["10.77.0.99", "localhost"])
        .unwrap();
    let pem =
        |name: &str| std::fs::read(dir.path().join(format!("pki/etcd/node3/{name}"))).unwrap();
    for name in ["peer.crt", "peer.key", "server.crt", "server.key"] {
        let tmp = dir.path().join(format!("bad-{name}"));
        std::fs::write(&tmp, pem(name)).unwrap();
        let st = Command::new("scp")
            .args(["-q", "-o", "BatchMode=yes", "-o"])
            .arg(format!(
                "UserKnownHostsFile={}",
                dir.path().join("known_hosts").display()
            ))
            .arg("-i")
            .arg(lab.dir.join("id_lab"))
            .arg(&tmp)
            .arg(format!("root@10.77.0.13:/etc/etcd/pki/{name}"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    exec_on(&file, Some("node3"), "systemctl restart --no-block etcd");

    // What a client sees on node3's cluster address, and what its files say: E2, naming the
    // missing address, on node3 only (its peers' own checks pass and keep the quorum).
    let events = diagnose_until(&file, 60, |ids| {
        ids.iter().any(|(h, id)| h == "node3" && id == "E2")
    });
    let d = diagnosis_of(&events, "node3");
    assert_eq!(d["diagnosis"]["id"], "E2", "{d}");
    assert_eq!(d["diagnosis"]["auto_fix"]["action"], "reissue-etcd-certs");
    let cause = d["diagnosis"]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with(
            "10.77.0.13 is not in the certificate's SANs (it is valid for 10.77.0.99, localhost)"
        ),
        "{cause}"
    );
    let evidence = d["diagnosis"]["evidence"].as_array().unwrap();
    let matched_from = |source: &str| {
        evidence.iter().any(|e| {
            e["matched"] == true
                && e["source"] == source
                && e["line"]
                    .as_str()
                    .unwrap()
                    .contains("does not name 10.77.0.13")
        })
    };
    assert!(matched_from("client view"), "{evidence:?}");
    assert!(matched_from("certificate files"), "{evidence:?}");
    assert!(
        !ids(&events).iter().any(|(h, _)| h != "node3"),
        "only node3 is unhealthy: {:?}",
        ids(&events)
    );

    // The fix: re-issue from the same CA with the missing SAN, redistribute, restart, retry.
    let (code, events) = apply_json(&file, &["--only-stages", "etcd", "--auto-fix"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    assert_healthy_from_every_address(&file);
    assert_eq!(key_on_every_member(&file), ["before-the-certificates"; 3]);
    let san = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(dir.path().join("pki/etcd/node3/peer.crt"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&san.stdout).contains("10.77.0.13"));
    assert!(
        dir.path().join("pki/backup").is_dir(),
        "the bad certificate was kept as a backup"
    );
}

/// A firewall rule on the lab bridge drops node3's peer traffic both ways: diagnose names node3
/// cut off (E13), from which peers and in which direction, as seen through each member's sshd;
/// node1 and node2 keep their quorum. With the rule gone node3 catches up by itself.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn member_cut_off_by_a_bridge_firewall_is_named_with_its_peers() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    put_key(&file, "before-the-cut");
    // This machine bridges the lab (br_netfilter): FORWARD sees traffic between members.
    let _rules = [
        BridgeRule::insert(&[
            "-d",
            "10.77.0.13",
            "-p",
            "tcp",
            "--dport",
            "2380",
            "-j",
            "DROP",
        ]),
        BridgeRule::insert(&[
            "-s",
            "10.77.0.13",
            "-p",
            "tcp",
            "--dport",
            "2380",
            "-j",
            "DROP",
        ]),
    ];
    // Until the two others have re-elected a leader if node3 led: then only node3 is unwell.
    let events = diagnose_until(&file, 60, |ids| {
        ids == [("node3".to_string(), "E13".to_string())]
    });
    let d = diagnosis_of(&events, "node3");
    assert_eq!(d["diagnosis"]["id"], "E13", "{d}");
    let cause = d["diagnosis"]["cause"].as_str().unwrap();
    for part in [
        "node3 (10.77.0.13) runs but cannot exchange with its peers on the peer port (both directions)",
        "does not answer node1 (no answer), node2 (no answer)",
        "it does not reach node1 (no answer), node2 (no answer)",
    ] {
        assert!(cause.contains(part), "{part:?} in {cause}");
    }
    assert!(
        !ids(&events).iter().any(|(h, _)| h != "node3"),
        "node1 and node2 keep their quorum: {:?}",
        ids(&events)
    );
    // apply says the same when node3's health step fails: the stage's view joins the evidence.
    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_ne!(code, 0, "node3 cannot be healthy while cut off");
    let d = diagnoses(&events)
        .into_iter()
        .find(|d| d["host"] == "node3")
        .unwrap_or_else(|| panic!("node3 diagnosed by apply: {:?}", failures(&events)));
    assert_eq!(d["diagnosis"]["id"], "E13", "{d}");
    drop(_rules);
    // The path open again, the member catches up by itself.
    let events = diagnose_until(&file, 90, |ids| ids.is_empty());
    assert!(ids(&events).is_empty(), "{:?}", ids(&events));
    assert_healthy_from_every_address(&file);
    assert_eq!(key_on_every_member(&file), ["before-the-cut"; 3]);
}

/// An iptables FORWARD rule on this machine, removed when dropped (passed or not).
struct BridgeRule(Vec<String>);

impl BridgeRule {
    fn insert(rule: &[&str]) -> BridgeRule {
        let rule: Vec<String> = rule.iter().map(|s| s.to_string()).collect();
        let st = Command::new("iptables")
            .args(["-I", "FORWARD"])
            .args(&rule)
            .status()
            .unwrap();
        assert!(st.success(), "iptables -I FORWARD {rule:?}");
        BridgeRule(rule)
    }
}

impl Drop for BridgeRule {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-D", "FORWARD"])
            .args(&self.0)
            .status();
    }
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn stale_data_dir_is_detected_and_moved_aside_with_consent() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    // node2 gets a real data directory of another cluster (a one-member etcd run briefly).
    reset_etcd(&file);
    exec_on(
        &file,
        Some("node2"),
        &format!(
            "mkdir -p /var/lib/etcd && {}; sleep 3; kill $(cat /tmp/other.pid); sleep 1; test -d /var/lib/etcd/member",
            foreign_etcd("other", "/var/lib/etcd", "http://127.0.0.1:23790", 23800)
        ),
    );
    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_eq!(code, 1);
    let found = ids(&events);
    assert!(
        found
            .iter()
            .any(|(h, id)| h == "node2" && (id == "E5" || id == "E6")),
        "{found:?}"
    );
    let d = diagnoses(&events)
        .into_iter()
        .find(|d| d["host"] == "node2")
        .unwrap();
    assert_eq!(d["diagnosis"]["auto_fix"]["destructive"], true);

    // Without consent nothing is moved; with it the data goes aside (kept) and etcd forms.
    let (code, _) = apply_json(&file, &["--only-stages", "etcd", "--auto-fix"]);
    assert_eq!(code, 1, "no consent, no wipe");
    exec_on(&file, Some("node2"), "test -d /var/lib/etcd/member");
    let (code, events) = apply_json(&file, &["--only-stages", "etcd", "--auto-fix", "--yes"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    exec_on(&file, Some("node2"), "ls -d /var/lib/etcd.kubewiz-backup-*");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn port_held_by_another_process_is_named() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    reset_etcd(&file);
    // Another program holds 2379 on node2 (an etcd started by hand, as in the reports).
    exec_on(
        &file,
        Some("node2"),
        &format!(
            "{}; sleep 2",
            foreign_etcd("squatter", "/tmp/squatter", "http://127.0.0.1:2379", 23801)
        ),
    );
    let (code, events) = apply_json(&file, &["--only-stages", "preflight,etcd"]);
    exec_on(
        &file,
        Some("node2"),
        "kill $(cat /tmp/squatter.pid); rm -rf /tmp/squatter /tmp/squatter.pid",
    );
    assert_eq!(code, 1, "preflight stops the run before anything changes");
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "output" && e["host"] == "node2")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("port-2379") && l.contains("\"etcd\" (pid")),
        "{lines:?}"
    );
    let found = ids(&events);
    assert!(
        found.iter().any(|(h, id)| h == "node2" && id == "E8"),
        "{found:?}"
    );
    assert!(
        !outcomes(&events)
            .iter()
            .any(|(_, s, _)| s.starts_with("etcd/")),
        "no etcd step ran"
    );
}

/// Members stopped by hand are told so (E11, with since when), not "no quorum"; a host without
/// etcd is told that etcd is not installed there (E10) and `apply` installs it again.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn stopped_members_and_a_missing_etcd_are_named_as_such() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    put_key(&file, "before-the-stop");

    // One member stopped: it is told so; the other two keep the quorum and are healthy.
    exec_on(&file, Some("node3"), "systemctl stop etcd");
    let (code, events) = diagnose(&file);
    assert_eq!(code, 1, "a member stopped is not healthy");
    assert_eq!(ids(&events), [("node3".to_string(), "E11".to_string())]);

    // Two stopped: each is told so, and the one still running that the quorum is lost.
    exec_on(&file, Some("node2"), "systemctl stop etcd");
    let (code, events) = diagnose(&file);
    assert_eq!(code, 1, "two members stopped is not healthy");
    let found = ids(&events);
    // The stop time from systemd, e.g. "inactive since Tue 2026-12-01 23:20:05 UTC".
    let since = regex::Regex::new(r"inactive since \w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d").unwrap();
    for host in ["node2", "node3"] {
        assert!(
            found.contains(&(host.to_string(), "E11".to_string())),
            "{host} is named stopped: {found:?}"
        );
        let d = diagnoses(&events)
            .into_iter()
            .find(|d| d["host"] == host)
            .unwrap();
        let cause = d["diagnosis"]["cause"].as_str().unwrap();
        assert!(since.is_match(cause), "{cause}");
    }
    assert!(
        found.contains(&("node1".to_string(), "E14".to_string())),
        "node1 runs without a quorum: {found:?}"
    );
    let cause = diagnosis_of(&events, "node1")["diagnosis"]["cause"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cause.starts_with("Only 1 of 3 members run (node1); a quorum needs 2")
            && cause.contains("node2 (inactive), node3 (inactive)"),
        "{cause}"
    );

    // Started again by apply (the start step starts what is not running): healthy.
    deploy_healthy(&file);
    assert_healthy_from_every_address(&file);
    assert_eq!(key_on_every_member(&file), ["before-the-stop"; 3]);

    // etcd removed from node3 (unit and binaries moved aside, as on a host never installed).
    exec_on(
        &file,
        Some("node3"),
        "systemctl stop etcd; mkdir -p /root/etcd-aside && \
         mv /etc/systemd/system/etcd.service /usr/local/bin/etcd /usr/local/bin/etcdctl /root/etcd-aside/ && \
         systemctl daemon-reload",
    );
    let (_, events) = diagnose(&file);
    let found = ids(&events);
    assert!(
        found.contains(&("node3".to_string(), "E10".to_string())),
        "node3 is named not installed: {found:?}"
    );
    let d = diagnoses(&events)
        .into_iter()
        .find(|d| d["host"] == "node3")
        .unwrap();
    assert!(
        d["diagnosis"]["fix"]
            .as_str()
            .unwrap()
            .contains("kubewiz apply"),
        "{d}"
    );
    // apply installs it again and the member rejoins with its data.
    deploy_healthy(&file);
    let (code, events) = diagnose(&file);
    assert_eq!(code, 0, "healthy again: {:?}", ids(&events));
    exec_on(&file, Some("node3"), "rm -rf /root/etcd-aside");
}

/// What a power loss leaves on a member, done to it by hand: etcd killed without a clean stop
/// (and kept down, as the host is), then the last large record of its newest WAL segment torn
/// by garbage in its middle, as a write the disk never finished; then the host "boots" (etcd
/// started). The WAL's frames are walked with od (the hosts have no python): an 8-byte little-
/// endian length, the top byte 0x80|padding, the record, the padding.
const POWER_LOSS: &str = r#"systemctl kill -s KILL etcd; sleep 1; systemctl stop etcd
W=$(ls /var/lib/etcd/member/wal/*.wal | tail -n 1)
off=0; rec=-1; reclen=0
while :; do
  set -- $(od -An -tu1 -j "$off" -N 8 "$W")
  [ $# -eq 8 ] || break
  len=$(( $1 + $2 * 256 + $3 * 65536 ))
  [ "$len" -gt 0 ] || break
  pad=0; if [ $(( $8 & 128 )) -ne 0 ]; then pad=$(( $8 & 7 )); fi
  if [ "$len" -ge 64 ]; then rec=$off; reclen=$len; fi
  off=$(( off + 8 + len + pad ))
done
[ "$rec" -ge 0 ] || { echo "no WAL record of 64 bytes or more in $W" >&2; exit 1; }
printf '\336\255\276\357' | dd of="$W" bs=1 seek=$(( rec + 8 + reclen / 2 )) conv=notrunc status=none
echo "tore the record at byte $rec ($reclen bytes) of $W"
systemctl start --no-block etcd"#;

/// The `--initial-cluster-state=` line of `host`'s etcd unit.
fn unit_state(file: &Path, host: &str) -> String {
    exec_on(
        file,
        Some(host),
        "grep -e --initial-cluster-state= /etc/systemd/system/etcd.service",
    )
}

/// `kubewiz apply` with its stderr too (the fixes report their steps there).
fn apply_with_stderr(file: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut args = vec!["apply", "-f", file.to_str().unwrap()];
    args.extend(extra);
    args.extend(["--output", "json"]);
    let out = common::cli::kubewiz(&args).output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), events, stderr)
}

/// etcdctl run on the control machine against every member's cluster address, with the
/// cluster directory's CA and health-check client certificate: the cluster as a client sees it.
fn etcdctl_from_here(dir: &Path, args: &[&str]) -> String {
    let pki = dir.join("pki/etcd");
    let out = Command::new("/usr/bin/etcdctl")
        .arg("--endpoints=https://10.77.0.11:2379,https://10.77.0.12:2379,https://10.77.0.13:2379")
        .arg(format!("--cacert={}", pki.join("ca.crt").display()))
        .arg(format!(
            "--cert={}",
            pki.join("healthcheck-client.crt").display()
        ))
        .arg(format!(
            "--key={}",
            pki.join("healthcheck-client.key").display()
        ))
        .arg("--command-timeout=5s")
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "etcdctl {args:?}: {text}");
    text
}

/// The binary guide's "after a power loss one etcd node will not start": the member is named
/// damaged (E12, not E4's "no quorum"), and `apply --auto-fix --yes` replaces it the way etcd's
/// documentation says; the data written before survives, the member joins as `existing` for
/// good, and a second apply changes nothing.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn damaged_member_after_a_power_loss_is_replaced() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    let etcdctl = kubewiz::stages::etcd::etcdctl();
    // A key written before the break, with a value large enough to be the WAL record torn.
    let value = format!("written-before-the-power-loss-{}", "x".repeat(100));
    exec_on(
        &file,
        Some("node1"),
        &format!("{etcdctl} put power-loss-key {value}"),
    );
    let torn = exec_on(&file, Some("node3"), POWER_LOSS);
    assert!(torn.contains("tore the record"), "{torn}");

    // diagnose: node3's data directory is damaged, from its journal's real line. Polled until
    // the others have re-elected a leader if node3 led (their own checks fail meanwhile).
    let events = diagnose_until(&file, 60, |ids| {
        ids == [("node3".to_string(), "E12".to_string())]
    });
    let found = ids(&events);
    assert!(
        found.contains(&("node3".to_string(), "E12".to_string())),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(h, id)| h == "node3" && id == "E4"),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(h, _)| h != "node3"),
        "the other members are healthy: {found:?}"
    );
    let d = diagnoses(&events)
        .into_iter()
        .find(|d| d["host"] == "node3")
        .unwrap();
    assert_eq!(d["diagnosis"]["auto_fix"]["action"], "replace-etcd-member");
    assert_eq!(d["diagnosis"]["auto_fix"]["destructive"], true);
    let evidence = d["diagnosis"]["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["matched"] == true
                && e["line"].as_str().unwrap().contains("walpb: crc mismatch")),
        "{evidence:?}"
    );

    // The fix, with consent: member remove, data aside, member add, start as existing.
    let started = std::time::Instant::now();
    let (code, events, stderr) =
        apply_with_stderr(&file, &["--only-stages", "etcd", "--auto-fix", "--yes"]);
    eprintln!(
        "apply --auto-fix took {:?}; its stderr:\n{stderr}",
        started.elapsed()
    );
    assert_eq!(code, 0, "{:?}\n{stderr}", failures(&events));
    // The first round's health step on node3 gave up early: etcd kept exiting there.
    let health: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "output" && e["step"] == "health" && e["host"] == "node3")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    eprintln!("node3's health output: {health:#?}");
    assert!(
        health
            .iter()
            .any(|l| l.starts_with("etcd keeps exiting on this member")),
        "{health:?}"
    );
    for step in [
        "quorum kept: 2 of the 3 members are healthy besides node3",
        "member remove",
        "moved /var/lib/etcd to /var/lib/etcd.kubewiz-backup-",
        "--initial-cluster-state=existing",
        "member add node3 --peer-urls=https://10.77.0.13:2380",
        "caught up",
    ] {
        assert!(stderr.contains(step), "the fix reports {step:?}:\n{stderr}");
    }

    // Three members started, each healthy on its cluster address as a client sees it.
    let members = etcdctl_from_here(dir.path(), &["member", "list"]);
    assert_eq!(members.matches(", started, ").count(), 3, "{members}");
    let health = etcdctl_from_here(dir.path(), &["endpoint", "health"]);
    for a in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        assert!(
            health.contains(&format!("https://{a}:2379 is healthy")),
            "{health}"
        );
    }
    // The key written before the break reads back from node3 itself.
    let got = exec_on(
        &file,
        Some("node3"),
        &format!("{etcdctl} get power-loss-key --print-value-only"),
    );
    assert!(got.contains(&value), "{got}");
    // node3's unit and journal say `existing`; the others' units still say `new`.
    let unit = unit_state(&file, "node3");
    assert!(unit.contains("--initial-cluster-state=existing"), "{unit}");
    let journal = exec_on(
        &file,
        Some("node3"),
        "journalctl -u etcd -o cat --no-pager | grep -e 'initial-cluster-state=existing'",
    );
    assert!(
        journal.contains("etcd member node3 starts with"),
        "{journal}"
    );
    let unit1 = unit_state(&file, "node1");
    assert!(unit1.contains("--initial-cluster-state=new"), "{unit1}");
    // The damaged data is kept, not deleted; the cluster directory records the join.
    exec_on(
        &file,
        Some("node3"),
        "ls -d /var/lib/etcd.kubewiz-backup-*/member/wal",
    );
    let record = std::fs::read_to_string(dir.path().join("state/etcd-joined.json")).unwrap();
    assert!(record.contains("\"node3\""), "{record}");

    // A second apply leaves everything as it is: no restart, `existing` stays.
    let (code, events) = apply_json(&file, &["--only-stages", "etcd"]);
    assert_eq!(code, 0, "{:?}", failures(&events));
    for (host, step, status) in outcomes(&events) {
        assert_eq!(status, "unchanged", "{host} {step} after the replacement");
    }
    let unit = unit_state(&file, "node3");
    assert!(unit.contains("--initial-cluster-state=existing"), "{unit}");
    let (code, events) = diagnose(&file);
    assert_eq!(code, 0, "healthy: {:?}", ids(&events));
}

/// With two of three members damaged the others hold no quorum: the fix refuses before it
/// changes anything, and says why with the numbers.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn replacing_a_member_is_refused_without_a_quorum() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    reset_etcd(&file);
    let _reset = ResetEtcdOnDrop(&file);
    deploy_healthy(&file);
    let etcdctl = kubewiz::stages::etcd::etcdctl();
    exec_on(
        &file,
        Some("node1"),
        &format!("{etcdctl} put power-loss-key {}", "y".repeat(100)),
    );
    for host in ["node2", "node3"] {
        exec_on(&file, Some(host), POWER_LOSS);
    }
    let (code, events, stderr) =
        apply_with_stderr(&file, &["--only-stages", "etcd", "--auto-fix", "--yes"]);
    eprintln!("apply --auto-fix (exit {code}), its stderr:\n{stderr}");
    assert_ne!(code, 0, "{stderr}");
    let found = ids(&events);
    for host in ["node2", "node3"] {
        assert!(
            found.contains(&(host.to_string(), "E12".to_string())),
            "{found:?}"
        );
    }
    // The fix is offered for whichever damaged member failed first.
    let refusal = regex::Regex::new(
        r"refusing to replace node[23]: the cluster has 3 members, so removing node[23] and adding it back needs 2 healthy members besides it, and none is",
    )
    .unwrap();
    assert!(refusal.is_match(&stderr), "{stderr}");
    assert!(stderr.contains("Nothing was changed"), "{stderr}");
    // Nothing changed: no data moved, no record, every unit still bootstraps as `new`.
    exec_on(
        &file,
        None,
        "! ls -d /var/lib/etcd.kubewiz-backup-* 2>/dev/null && test -d /var/lib/etcd/member/wal \
         && grep -q -e --initial-cluster-state=new /etc/systemd/system/etcd.service",
    );
    assert!(!dir.path().join("state/etcd-joined.json").exists());
}

//! The real binary in tmux against the lab (KUBEWIZ_LAB): an etcd failure as it happens in
//! real life, shown in the troubleshooting pane, and its automatic fix working.
//!
//! kubewiz heals a wrong member certificate in its cluster directory before a deploy uses it,
//! so the failure is made behind kubewiz's back while a run is interrupted:
//!
//! 1. a private cluster directory; etcd reset on the hosts (again at the end);
//! 2. node3's peer port blocked on this machine (it forwards the lab bridge), so node3's etcd
//!    cannot become healthy for now;
//! 3. the wizard opens the file and deploys; once node3's etcd `health` step runs, quit: the
//!    journal keeps node3's finished etcd steps and records an interrupted run;
//! 4. behind kubewiz: node3 gets a peer/server certificate without its IP (signed by the
//!    cluster's real etcd CA; the cluster directory's own PKI stays right), the port is opened
//!    and node3's etcd restarted;
//! 5. the wizard reopens and resumes: node3's finished steps are skipped, its health fails
//!    (two attempts of 90 s) and the pane shows E2 with the address node3's certificate does not
//!    name (the etcd stage's view through the members' sshd) and the automatic fix;
//! 6. `a`: the fix runs, the etcd stage runs again (certs uploaded again), the deployment
//!    goes on to its end (on the lab, CoreDNS's air-gapped stop) and `kubewiz diagnose --stage etcd` finds every member healthy.
//!
//! Screens are read with `capture-pane` and polled with deadlines; no fixed sleeps.

mod common;

use common::cli::{cluster_copy, exec_on, kubewiz, reset_cluster, ResetClusterOnDrop};
use common::tmux::{stopped_on_air_gapped_coredns, Tmux};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Drops node3's etcd peer traffic (both directions) in this machine's FORWARD chain, which
/// the lab bridge goes through. Removed by `open` or on drop.
struct BlockedPeerPort {
    open: bool,
}

const NODE3: &str = "10.77.0.13";

fn peer_rule(dir: &str) -> [&str; 9] {
    [
        "FORWARD", dir, NODE3, "-p", "tcp", "--dport", "2380", "-j", "DROP",
    ]
}

impl BlockedPeerPort {
    fn new() -> Self {
        for dir in ["-d", "-s"] {
            let st = Command::new("iptables")
                .arg("-I")
                .args(peer_rule(dir))
                .status()
                .expect("iptables runs");
            assert!(st.success(), "iptables -I {dir} {NODE3}");
        }
        BlockedPeerPort { open: false }
    }

    fn open(&mut self) {
        for dir in ["-d", "-s"] {
            let st = Command::new("iptables")
                .arg("-D")
                .args(peer_rule(dir))
                .status()
                .unwrap();
            assert!(st.success(), "iptables -D {dir} {NODE3}");
        }
        self.open = true;
    }
}

impl Drop for BlockedPeerPort {
    fn drop(&mut self) {
        if !self.open {
            for dir in ["-d", "-s"] {
                let _ = Command::new("iptables")
                    .arg("-D")
                    .args(peer_rule(dir))
                    .status();
            }
        }
    }
}

/// Copies a directory tree (the cluster directory's PKI).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Puts on node3 a peer/server certificate lacking node3's IP, signed by the cluster's real
/// etcd CA. It is made in a separate copy of the cluster directory, so the cluster directory
/// the wizard uses keeps its right certificates.
fn put_bad_member_cert_on_node3(lab: &common::Lab, cluster: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::copy(
        cluster.join("cluster.yaml"),
        scratch.path().join("cluster.yaml"),
    )
    .unwrap();
    copy_tree(&cluster.join("pki"), &scratch.path().join("pki"));
    let file = scratch.path().join("cluster.yaml");
    let cdir = kubewiz::cluster_dir::ClusterDir::of_cluster_file(&file);
    let spec = kubewiz::config::load(&file).unwrap().spec;
    kubewiz::pki::issue_etcd_member_with_sans(&cdir, &spec, "node3", &["10.77.0.99", "localhost"])
        .unwrap();
    for name in ["peer.crt", "peer.key", "server.crt", "server.key"] {
        let bad = scratch.path().join(format!("pki/etcd/node3/{name}"));
        assert_ne!(
            std::fs::read(&bad).unwrap(),
            std::fs::read(cluster.join(format!("pki/etcd/node3/{name}"))).unwrap(),
            "the bad {name} differs from the cluster directory's"
        );
        let st = Command::new("scp")
            .args(["-q", "-o", "BatchMode=yes", "-o"])
            .arg(format!(
                "UserKnownHostsFile={}",
                cluster.join("known_hosts").display()
            ))
            .arg("-i")
            .arg(lab.key())
            .arg(&bad)
            .arg(format!("root@{NODE3}:/etc/etcd/pki/{name}"))
            .status()
            .unwrap();
        assert!(st.success(), "scp {name} to node3");
    }
}

fn journal(cluster: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(cluster.join("state/journal.json")).unwrap()).unwrap()
}

/// The hosts × stages row of node3 shows its etcd `health` step running.
fn node3_health_running(screen: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains("node3") && l.contains("▶") && l.contains("health"))
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn interrupted_run_resumes_into_a_bad_etcd_cert_and_the_fix_works() {
    let Some(lab) = common::lab() else { return };
    let started = Instant::now();
    let (dir, file) = cluster_copy(&lab.dir);
    let cluster = dir.path();
    let home = cluster.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = env!("CARGO_BIN_EXE_kubewiz");
    let wizard = format!(
        "env HOME={} KUBEWIZ_LOG=kubewiz=debug {bin} wizard -f {}; echo KUBEWIZ-EXITED $?; sleep 600",
        home.display(),
        file.display()
    );
    let t = Duration::from_secs(15);

    // 1-2. Machines without etcd (now and at the end); node3's peer port blocked.
    // The deployment runs every stage after etcd too (runtime, network, control plane, join,
    // addons): all of it is undone, now and at the end, the join first and etcd last.
    reset_cluster(&file);
    let _reset = ResetClusterOnDrop(&file);
    let mut blocked = BlockedPeerPort::new();

    // 3. Open the file, go to review and deploy.
    let tmux = // Wide: the hosts × stages table keeps every cell's step name.
    Tmux::start(cluster, &wizard, "etcd", 200, 50);
    tmux.wait_for("Hosts (3)", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("Pod CIDR", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("flanneld leases", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("Binaries", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("the file is valid", t);
    tmux.keys(&["F5"]);
    // node3 cannot reach its peers: its health step waits.
    tmux.wait(
        "node3's etcd health step running",
        Duration::from_secs(300),
        node3_health_running,
    );
    tmux.keys(&["q"]);
    tmux.wait_for("Stop the deployment?", t);
    tmux.keys(&["y"]);
    // The running steps finish first: node3's health gives up after its 90 s.
    let out = tmux.wait_for("KUBEWIZ-EXITED", Duration::from_secs(180));
    assert!(out.contains("KUBEWIZ-EXITED 130"), "{out}");
    let j = journal(cluster);
    assert_eq!(j["run_complete"], false, "{j}");
    let steps = j["steps"].as_object().unwrap();
    for step in ["certs", "unit", "data-dir", "start"] {
        assert!(
            steps.contains_key(&format!("etcd/{step}@node3")),
            "etcd/{step}@node3 is in the journal: {j}"
        );
    }
    assert!(!steps.contains_key("etcd/health@node3"), "{j}");
    println!("interrupted after {:?}", started.elapsed());

    // 4. Behind kubewiz: a bad certificate on node3, the port open, etcd restarted.
    put_bad_member_cert_on_node3(&lab, cluster);
    blocked.open();
    exec_on(&file, Some("node3"), "systemctl restart --no-block etcd");

    // 5. Reopen and resume: node3's health fails on real logs; the pane diagnoses it.
    tmux.respawn(&wizard);
    tmux.wait_for("Resume the interrupted run?", t);
    tmux.keys(&["y"]);
    let pane = tmux.wait(
        "the troubleshooting pane with its actions",
        // Two attempts of 90 s each, then the diagnosis.
        Duration::from_secs(300),
        |s| s.contains("etcd/health failed on node3") && s.contains("r retry the step"),
    );
    println!("pane after {:?}:\n{pane}", started.elapsed());
    // The stage's view names the missing address, as `kubewiz diagnose` does.
    assert!(pane.contains(" E2 "), "diagnosed as E2:\n{pane}");
    assert!(
        pane.contains("does not name 10.77.0.13"),
        "the evidence is shown:\n{pane}"
    );
    assert!(
        pane.contains("a apply the fix, then retry the stage: Re-issue the etcd certificates of the member at 10.77.0.13"),
        "the automatic fix is offered:\n{pane}"
    );
    assert!(!pane.contains("disabled:"), "{pane}");
    // The resumed run skipped node3's finished steps: they are still the journal's first
    // entries (a step that ran again would have a newer time than the interruption).
    let j2 = journal(cluster);
    for step in ["certs", "unit", "data-dir", "start"] {
        let k = format!("etcd/{step}@node3");
        assert_eq!(
            j2["steps"][&k]["finished_unix"], j["steps"][&k]["finished_unix"],
            "{k} was skipped on resume"
        );
    }

    // 6. Apply the fix: the etcd stage runs again and the deployment finishes.
    tmux.keys(&["a"]);
    // The pane closes and the header leaves the last run's end (the fix, then the stage).
    tmux.wait("the fix to start", t, |s| {
        !s.contains("stopped on a failure") && !s.contains("Esc close")
    });
    let end = tmux.wait("the fixed run to end", Duration::from_secs(600), |s| {
        s.contains("deployment finished") || s.contains("stopped on a failure")
    });
    // The stages after etcd run too; on the air-gapped lab the last one stops at CoreDNS, and
    // the wizard's exit status says its last run failed.
    let finished = end.contains("deployment finished");
    assert!(finished || stopped_on_air_gapped_coredns(&end), "{end}");
    let j3 = journal(cluster);
    assert_ne!(
        j3["steps"]["etcd/certs@node3"]["finished_unix"],
        j["steps"]["etcd/certs@node3"]["finished_unix"],
        "the etcd stage ran again: {j3}"
    );
    let diag = kubewiz(&["diagnose", "-f", file.to_str().unwrap(), "--stage", "etcd"])
        .output()
        .unwrap();
    assert!(
        diag.status.success(),
        "every etcd member healthy: {}",
        String::from_utf8_lossy(&diag.stdout)
    );
    tmux.keys(&["q"]);
    let out = tmux.wait_for("KUBEWIZ-EXITED", t);
    let expected_exit = if finished {
        "KUBEWIZ-EXITED 0"
    } else {
        "KUBEWIZ-EXITED 1"
    };
    assert!(out.contains(expected_exit), "{out}");
    println!("passed in {:?}", started.elapsed());
}

//! The real binary in tmux against the lab (KUBEWIZ_LAB): fill the wizard (3 hosts by bulk
//! paste, key auth, user kube, sudo), accept the host keys, deploy and see prep succeed; then a
//! real failure (br-netfilter on node2 cannot write /etc/modules-load.d), the troubleshooting
//! pane, and a retry that works once the cause is removed.
//!
//! Screens are read with `capture-pane` and polled with a deadline; no fixed sleeps.

mod common;

use common::tmux::{stopped_on_air_gapped_coredns, Tmux};

use std::time::Duration;

/// Runs a command as root on lab machine `i` over ssh (lab key, lab known_hosts).
fn on_machine(lab: &common::Lab, i: usize, cmd: &str) -> std::process::Output {
    lab.ssh_command(i, "root", cmd).output().expect("ssh runs")
}

/// Makes br-netfilter fail on one machine: /etc/modules-load.d becomes a plain file, so the
/// step's `mkdir -p` fails. Restored on drop (also when the test fails).
struct BrokenModulesLoad<'a> {
    lab: &'a common::Lab,
    i: usize,
    restored: bool,
}

const BREAK: &str = "set -e; rm -f /etc/modules-load.d/kubewiz-br_netfilter.conf; \
    rm -rf /etc/modules-load.d.kwtest; mv /etc/modules-load.d /etc/modules-load.d.kwtest; \
    echo 'kubewiz tmux test: not a directory' > /etc/modules-load.d";
const RESTORE: &str = "if [ -d /etc/modules-load.d.kwtest ]; then rm -f /etc/modules-load.d; \
    mv /etc/modules-load.d.kwtest /etc/modules-load.d; fi";

/// Stops etcd and removes a data directory made by kubewiz (it has the cluster marker).
const RESET_ETCD: &str = "if [ -f /var/lib/etcd/kubewiz-cluster ]; then \
    systemctl stop etcd 2>/dev/null || true; rm -rf /var/lib/etcd; fi";

impl<'a> BrokenModulesLoad<'a> {
    fn new(lab: &'a common::Lab, i: usize) -> Self {
        let out = on_machine(lab, i, BREAK);
        assert!(out.status.success(), "breaking machine {i}: {out:?}");
        BrokenModulesLoad {
            lab,
            i,
            restored: false,
        }
    }

    fn restore(&mut self) {
        let out = on_machine(self.lab, self.i, RESTORE);
        assert!(
            out.status.success(),
            "restoring machine {}: {out:?}",
            self.i
        );
        self.restored = true;
    }
}

impl Drop for BrokenModulesLoad<'_> {
    fn drop(&mut self) {
        if !self.restored {
            let _ = on_machine(self.lab, self.i, RESTORE);
        }
    }
}

/// The stages table says prep is done on every host (24 of 24 steps).
fn prep_done(screen: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains("✓ prep") && l.contains("done") && l.contains("24/24"))
}

/// The end of a whole install: the summary screen (shown at once after a successful run, behind
/// `s` after the air-gapped C3 stop) shows the cluster the run built (every planned node
/// Ready, the control plane healthy, the admin kubeconfig) and, after the stop, the failure and
/// its fix; then `s` switches to the dashboard.
fn summary_then_dashboard(tmux: &Tmux, screen: String) -> String {
    let screen = if screen.contains("Use the cluster") {
        screen
    } else {
        tmux.keys(&["s"]);
        tmux.wait("the summary", Duration::from_secs(10), |s| {
            s.contains("Use the cluster")
        })
    };
    if screen.contains("The run stopped on a failure") {
        assert!(screen.contains("addons/coredns-wait on node1"), "{screen}");
        assert!(
            screen.contains("C3: add-on image") && screen.contains("images/ and apply again"),
            "the catalog's cause and fix: {screen}"
        );
    }
    assert!(screen.contains("Nodes: 3 of 3 Ready"), "{screen}");
    for node in ["node1", "node2", "node3"] {
        assert!(
            screen
                .lines()
                .any(|l| l.contains(&format!("│{node}  Ready   v1.20.2"))),
            "{node} Ready: {screen}"
        );
    }
    assert!(screen.contains("kube-apiserver           ✓ ok"), "{screen}");
    assert!(
        screen.contains("kubeconfigs/admin.conf get nodes -o wide"),
        "{screen}"
    );
    assert!(
        screen.contains("back to the dashboard"),
        "the footer says how: {screen}"
    );
    tmux.keys(&["s"]);
    tmux.wait("the dashboard", Duration::from_secs(10), |s| {
        s.contains("Stages ") && !s.contains("Use the cluster")
    })
}

fn count(s: &str, needle: &str) -> usize {
    s.matches(needle).count()
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn wizard_deploys_the_lab_and_troubleshoots_a_failure() {
    let Some(lab) = common::lab() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = env!("CARGO_BIN_EXE_kubewiz");
    let bundle = lab.dir.join("bundle");
    // The deployment runs every stage: join, control plane, network and runtime are undone
    // on every host when the test ends.
    let cluster_file = tmp.path().join("clusters/lab/cluster.yaml");
    let _cluster = common::cli::ResetClusterOnDrop(&cluster_file);
    // A clean HOME: no ~/.ssh/known_hosts, so every host key is new and must be accepted.
    let tmux = Tmux::start(
        tmp.path(),
        &format!(
            "env HOME={} KUBEWIZ_LOG=kubewiz=debug {bin} wizard; echo KUBEWIZ-EXITED $?; sleep 60",
            home.display()
        ),
        "wizard",
        120,
        40,
    );
    let t = Duration::from_secs(15);
    // This test deploys a new cluster (new CA, new etcd token): an etcd data directory left
    // by another kubewiz cluster would be refused (rightly) by the etcd stage.
    for i in 1..=3 {
        let out = on_machine(&lab, i, RESET_ETCD);
        assert!(
            out.status.success(),
            "resetting etcd on machine {i}: {out:?}"
        );
    }

    // Welcome: a new cluster called lab.
    tmux.wait_for("Welcome", t);
    tmux.keys(&["Down", "C-u"]);
    tmux.text("lab");
    tmux.wait_for("./clusters/lab/cluster.yaml", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("Defaults for every host", t);

    // Defaults: user kube, key auth with the lab key, sudo.
    tmux.keys(&["Tab"]);
    tmux.text("kube");
    tmux.keys(&["Down", "Down", "Right", "Down"]);
    tmux.wait_for("Key file", t);
    tmux.text(&lab.key().display().to_string());
    tmux.keys(&["Down", "Right", "Escape"]);
    tmux.wait_for("Defaults for every host (Tab: edit)", t);

    // Bulk paste of the three hosts.
    tmux.keys(&["p"]);
    tmux.wait_for("Paste hosts", t);
    for (i, roles) in ["etcd,master,node", "etcd,node", "etcd,node"]
        .iter()
        .enumerate()
    {
        tmux.text(&format!("{} node{} {roles}", lab.address(i + 1), i + 1));
        tmux.keys(&["Enter"]);
    }
    tmux.wait_for("3 host(s) ready", t);
    tmux.keys(&["C-s"]);
    tmux.wait_for("Hosts (3)", t);

    // Test every connection: three new host keys, shown, then accepted.
    tmux.keys(&["T"]);
    tmux.wait("three new host keys", t, |s| {
        count(s, "new key SHA256:") == 3
    });
    tmux.keys(&["A"]);
    let s = tmux.wait("three hosts ok", t, |s| count(s, "sudo works") == 3);
    assert!(!s.contains('✗'), "{s}");
    let known = std::fs::read_to_string(tmp.path().join("clusters/lab/known_hosts")).unwrap();
    assert_eq!(known.lines().count(), 3, "{known}");

    // Network and pod network: the defaults. Runtime and versions: what the lab's bundle holds
    // (docker with Kubernetes 1.20.2, flannel 0.20.2, CNI plugins 1.1.1; the defaults are newer
    // releases it lacks), binaries from that bundle.
    tmux.keys(&["C-n"]);
    tmux.wait_for("Pod CIDR", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("flanneld leases", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("Binaries", t);
    tmux.keys(&["Left", "Down", "C-u"]);
    tmux.text("1.20.2");
    tmux.keys(&["Down", "Down", "C-u"]);
    tmux.text("0.20.2");
    tmux.keys(&["Down", "Down", "C-u"]);
    tmux.text("1.1.1");
    tmux.keys(&["Down", "Right", "Down"]);
    tmux.wait_for("Bundle dir", t);
    tmux.text(&bundle.display().to_string());
    tmux.keys(&["C-n"]);
    tmux.wait_for("the file is valid", t);

    // Deploy.
    tmux.keys(&["F5"]);
    let mut done = tmux.wait("the run to end", Duration::from_secs(300), |s| {
        s.contains("deployment finished") || s.contains("stopped on a failure")
    });
    if done.contains("stopped on a failure") {
        assert!(
            stopped_on_air_gapped_coredns(&done),
            "the only failure the air-gapped lab allows is CoreDNS's image (C3):\n{done}"
        );
        // Close the troubleshooting pane to see the stages.
        tmux.keys(&["Escape"]);
        done = tmux.wait("the pane to close", t, |s| !s.contains("Esc close"));
    }
    let done = summary_then_dashboard(&tmux, done);
    assert!(prep_done(&done), "prep succeeded on all hosts:\n{done}");
    let file = tmp.path().join("clusters/lab/cluster.yaml");
    let saved = kubewiz::config::load(&file).expect("the saved file is what apply reads");
    assert_eq!(saved.spec.hosts.len(), 3);
    assert!(
        tmp.path()
            .join("clusters/lab/logs")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );

    // A real failure: br-netfilter cannot write on node2. A fresh run (journal removed) so
    // prep runs every step again.
    let _ = std::fs::remove_file(tmp.path().join("clusters/lab/state/journal.json"));
    let mut broken = BrokenModulesLoad::new(&lab, 2);
    tmux.keys(&["w"]);
    tmux.wait_for("Validation", t);
    tmux.keys(&["F5"]);
    let pane = tmux.wait_for("br-netfilter failed on node2", Duration::from_secs(120));
    assert!(pane.contains("Output, last"), "{pane}");
    assert!(
        pane.contains("modules-load.d"),
        "the output tail is shown:\n{pane}"
    );
    let pane = tmux.wait_for("r retry the step", Duration::from_secs(60));
    assert!(pane.contains("h retry on node2 only"), "{pane}");

    // Remove the cause, retry on node2 only: the step works, then the full plan continues.
    broken.restore();
    tmux.keys(&["h"]);
    let end = tmux.wait("the continued run to end", Duration::from_secs(300), |s| {
        !s.contains("br-netfilter failed")
            && (s.contains("deployment finished") || s.contains("stopped on a failure"))
    });
    let end = if end.contains("stopped on a failure") {
        assert!(stopped_on_air_gapped_coredns(&end), "{end}");
        tmux.keys(&["Escape"]);
        tmux.wait("the pane to close", t, |s| !s.contains("Esc close"))
    } else {
        end
    };
    let end = summary_then_dashboard(&tmux, end);
    assert!(prep_done(&end), "{end}");

    // Deploy again and quit mid-run: the engine stops after the running steps, the journal
    // records an interrupted run, and reopening the cluster offers to resume it.
    tmux.keys(&["w"]);
    tmux.wait_for("Validation", t);
    tmux.keys(&["F5"]);
    // Quit once some steps are in the journal (an interrupted run with none is no run).
    tmux.wait("preflight done", t, |s| s.contains("✓ preflight"));
    tmux.keys(&["q"]);
    tmux.wait_for("Stop the deployment?", t);
    tmux.keys(&["y"]);
    let out = tmux.wait_for("KUBEWIZ-EXITED", Duration::from_secs(120));
    assert!(out.contains("KUBEWIZ-EXITED 130"), "{out}");
    assert!(out.contains("to resume"), "{out}");
    let journal: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("clusters/lab/state/journal.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(journal["run_complete"], false, "{journal}");
    assert!(
        !journal["steps"].as_object().unwrap().is_empty(),
        "{journal}"
    );

    tmux.respawn(&format!(
        "env HOME={} {bin} wizard -f clusters/lab/cluster.yaml; echo KUBEWIZ-EXITED $?; sleep 60",
        home.display()
    ));
    tmux.wait_for("Resume the interrupted run?", t);
    tmux.keys(&["y"]);
    tmux.wait("the resumed run to end", Duration::from_secs(300), |s| {
        s.contains("deployment finished") || s.contains("stopped on a failure")
    });
    let s = tmux.screen();
    // The resumed run goes to the plan's end: on the lab, CoreDNS's air-gapped stop, and the
    // wizard's exit status says the last run failed.
    let expected_exit = if s.contains("deployment finished") {
        "KUBEWIZ-EXITED 0"
    } else {
        assert!(stopped_on_air_gapped_coredns(&s), "{s}");
        tmux.keys(&["Escape"]);
        tmux.wait("the pane to close", t, |s| !s.contains("Esc close"));
        "KUBEWIZ-EXITED 1"
    };
    tmux.keys(&["q"]);
    let out = tmux.wait_for("KUBEWIZ-EXITED", t);
    assert!(out.contains(expected_exit), "{out}");
}

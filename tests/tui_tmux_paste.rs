//! The real binary in tmux, no lab needed: hosts pasted the way a terminal pastes them
//! (bracketed paste, CR line ends, a tab) become three hosts, and no pasted control character
//! is left on the screen, neither in the paste box nor on the next screen.

mod common;

use common::tmux::Tmux;
use std::time::Duration;

const HOSTS: &str =
    "10.77.0.11 node1 etcd,master,node\n10.77.0.12\tnode2 etcd,node\n10.77.0.13 node3 etcd,node\n";

#[test]
fn hosts_pasted_from_a_terminal_are_parsed_and_leave_the_screen_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = env!("CARGO_BIN_EXE_kubewiz");
    let tmux = Tmux::start(
        tmp.path(),
        &format!("env HOME={} {bin} wizard; sleep 60", home.display()),
        "paste",
        120,
        40,
    );
    let t = Duration::from_secs(15);
    tmux.wait_for("Welcome", t);
    tmux.keys(&["C-n"]);
    tmux.wait_for("Hosts (0)", t);
    tmux.keys(&["p"]);
    tmux.wait_for("Paste hosts", t);

    tmux.paste(HOSTS);
    let s = tmux.wait_for("3 host(s) ready", t);
    // Each pasted line on a line of its own in the box, the tab gone to spaces.
    for (addr, rest) in [
        ("10.77.0.11", " node1 etcd,master,node"),
        ("10.77.0.12", "    node2 etcd,node"),
        ("10.77.0.13", " node3 etcd,node"),
    ] {
        assert_eq!(
            s.lines()
                .filter(|l| l.contains(&format!("{addr}{rest}")))
                .count(),
            1,
            "{addr}:\n{s}"
        );
    }
    for n in 1..=4 {
        assert!(
            !s.contains(&format!("line {n}: ")),
            "no line is reported as bad:\n{s}"
        );
    }

    tmux.keys(&["C-s"]);
    let s = tmux.wait_for("Hosts (3)", t);
    assert!(s.contains("added 3 host(s)"), "{s}");

    // The next screen: only its own text. A control character that had reached the terminal
    // would leave pasted text where ratatui believes blank cells are.
    // A capture may catch the terminal in the middle of writing a frame (a loaded machine):
    // what matters is that the screen becomes clean, and that a corrupted one never does.
    tmux.keys(&["NPage"]);
    const PASTED: [&str; 3] = ["etcd,node", "node2", "10.77.0.1"];
    let s = tmux.wait("the Network screen without pasted text", t, |s| {
        s.contains("Pod CIDR") && !PASTED.iter().any(|p| s.contains(p))
    });
    assert!(
        s.lines()
            .next()
            .unwrap_or("")
            .starts_with(" kubewiz 1. Welcome"),
        "{s}"
    );
    assert_eq!(s.lines().count(), 40, "{s}");
    tmux.keys(&["C-c"]);
}

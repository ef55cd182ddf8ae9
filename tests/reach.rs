//! Hosts kubewiz cannot reach, on the lab's real machines: sshd stopped, port 22 dropped or
//! rejected by a firewall, an address nobody has, a key the machine does not accept, sudo that
//! wants a password, unknown and changed host keys. `apply` and `diagnose` must name the cause
//! (catalog entries S1-S7) with the SSH error and the control machine's TCP connect and ping as
//! evidence. Every change to a machine is undone by a guard, passed or not.

mod common;

use common::cli::{change_env, cluster_copy, diagnoses, json_events, json_events_env, kubewiz};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where scripts/lab keeps each nspawn machine's runtime files, among them the PID of its init.
const LAB_RUN: &str = "/var/lib/kubewiz-lab/nspawn";
/// The host the tests break: lab machine 3, `node3` in the lab's cluster file.
const MACHINE: usize = 3;
const HOST: &str = "node3";
const PROBES: &str = "from the control machine";

/// The PID of lab machine `i`'s init: the way into it without SSH.
fn machine_pid(i: usize) -> String {
    let p = format!("{LAB_RUN}/m{i}/init.pid");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| {
            panic!("cannot read {p}: {e} (the nspawn lab must be up, and the test run as root)")
        })
        .trim()
        .to_string()
}

/// Run `args` as root in lab machine `i`: in all its namespaces, or only in its network
/// namespace (with this machine's tools, e.g. iptables). Panics unless it succeeds.
fn in_machine(i: usize, net_only: bool, args: &[&str]) {
    let pid = machine_pid(i);
    let scope = if net_only { "-n" } else { "-a" };
    let out = Command::new("nsenter")
        .args(["-t", &pid, scope, "--"])
        .args(args)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "in machine m{i}: {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn port_accepts(address: &str, port: u16) -> bool {
    let addr = format!("{address}:{port}").parse().expect("socket address");
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// sshd started again on a machine when dropped, and waited for.
struct SshdStopped {
    machine: usize,
    address: String,
    port: u16,
}

impl SshdStopped {
    /// Stops sshd now.
    fn new(machine: usize, address: &str, port: u16) -> SshdStopped {
        let guard = SshdStopped::armed(machine, address, port);
        in_machine(machine, false, &["systemctl", "stop", "ssh"]);
        guard
    }

    /// For a test whose step stops sshd itself.
    fn armed(machine: usize, address: &str, port: u16) -> SshdStopped {
        SshdStopped {
            machine,
            address: address.to_string(),
            port,
        }
    }
}

impl Drop for SshdStopped {
    fn drop(&mut self) {
        in_machine(self.machine, false, &["systemctl", "start", "ssh"]);
        let until = Instant::now() + Duration::from_secs(20);
        while !port_accepts(&self.address, self.port) {
            assert!(
                Instant::now() < until,
                "sshd on m{} does not accept connections again",
                self.machine
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An iptables rule at the head of INPUT in a machine's network namespace until dropped.
struct FirewallRule {
    machine: usize,
    rule: Vec<String>,
}

impl FirewallRule {
    fn new(machine: usize, rule: &str) -> FirewallRule {
        let mut rule: Vec<String> = rule.split_whitespace().map(str::to_string).collect();
        rule.extend(["-m", "comment", "--comment", "kubewiz-test-reach"].map(String::from));
        let guard = FirewallRule { machine, rule };
        guard.iptables("-I");
        guard
    }

    fn iptables(&self, op: &str) {
        let mut args = vec!["iptables", op, "INPUT"];
        args.extend(self.rule.iter().map(String::as_str));
        in_machine(self.machine, true, &args);
    }
}

impl Drop for FirewallRule {
    fn drop(&mut self) {
        self.iptables("-D");
    }
}

/// Changes the entry of `host` in a cluster file.
fn edit_host(file: &Path, host: &str, edit: impl FnOnce(&mut serde_yaml::Mapping)) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let entry = doc["hosts"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|h| h["name"] == host)
        .unwrap_or_else(|| panic!("no host {host} in {}", file.display()));
    edit(entry.as_mapping_mut().unwrap());
    std::fs::write(file, serde_yaml::to_string(&doc).unwrap()).unwrap();
}

fn set(h: &mut serde_yaml::Mapping, key: &str, value: &str) {
    h.insert(key.into(), value.into());
}

/// `kubewiz apply` of preflight on the broken host only (JSON events), with `env` changes.
fn apply_on_host(file: &Path, extra: &[&str], env: &[(&str, Option<&str>)]) -> (i32, Vec<Value>) {
    let mut args = vec![
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--only-stages",
        "preflight",
        "--only-hosts",
        HOST,
    ];
    args.extend(extra);
    let started = Instant::now();
    let result = json_events_env(&args, env);
    eprintln!("apply took {:.2} s", started.elapsed().as_secs_f64());
    result
}

/// `kubewiz diagnose` in plain text: the exit code and stdout.
fn diagnose_plain(file: &Path, extra: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String) {
    let mut cmd = kubewiz(&["diagnose", "-f", file.to_str().unwrap()]);
    cmd.args(extra);
    change_env(&mut cmd, env);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    eprintln!("diagnose took {:.2} s", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{stdout}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// The one diagnosis of `host` among the events.
fn diagnosis_of<'a>(events: &'a [Value], host: &str) -> &'a Value {
    let found: Vec<&Value> = diagnoses(events)
        .into_iter()
        .filter(|d| d["host"] == host)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one diagnosis of {host} expected: {events:#?}"
    );
    &found[0]["diagnosis"]
}

/// The failure message of the step that failed on `host`.
fn failure_of(events: &[Value], host: &str) -> String {
    events
        .iter()
        .find(|e| {
            e["event"] == "step_finished" && e["host"] == host && e["outcome"]["status"] == "failed"
        })
        .and_then(|e| e["outcome"]["message"].as_str())
        .unwrap_or_else(|| panic!("no failed step on {host}: {events:#?}"))
        .to_string()
}

/// A run that failed on `HOST` (exit code 1): its events and the failure message.
fn failed(run: (i32, Vec<Value>)) -> (Vec<Value>, String) {
    let (code, events) = run;
    assert_eq!(code, 1, "{events:#?}");
    let message = failure_of(&events, HOST);
    (events, message)
}

/// (source, line, matched) of a diagnosis's evidence.
fn evidence(d: &Value) -> Vec<(String, String, bool)> {
    d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_string(),
                e["line"].as_str().unwrap().to_string(),
                e["matched"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The evidence line from `source` starting with `prefix`: (line, matched).
fn line_from(d: &Value, source: &str, prefix: &str) -> (String, bool) {
    evidence(d)
        .into_iter()
        .find(|(s, l, _)| s == source && l.starts_with(prefix))
        .map(|(_, l, m)| (l, m))
        .unwrap_or_else(|| panic!("no evidence from {source} starting {prefix:?}: {d:#}"))
}

/// Checks the diagnosis `kubewiz apply` gave `HOST`: its id and title.
fn assert_diagnosis(events: &[Value], id: &str, title: &str) -> Value {
    let d = diagnosis_of(events, HOST);
    assert_eq!(d["id"], id, "{d:#}");
    assert_eq!(d["title"], title, "{d:#}");
    d.clone()
}

/// `kubewiz diagnose` exits 1 and prints `HOST etcd/diagnose: diagnosis ID: TITLE` and `lines`.
fn assert_diagnose_says(stdout: &str, code: i32, id: &str, title: &str, lines: &[String]) {
    assert_eq!(code, 1, "{stdout}");
    let head = format!("{HOST} etcd/diagnose: diagnosis {id}: {title}");
    assert!(
        stdout.lines().any(|l| l == head),
        "no line {head:?} in:\n{stdout}"
    );
    for want in lines {
        assert!(
            stdout.lines().any(|l| l.trim_start() == want),
            "no line {want:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("cannot check"), "{stdout}");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn sshd_stopped_is_connection_refused() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    let _sshd = SshdStopped::new(MACHINE, &addr, port);

    let (events, message) = failed(apply_on_host(&file, &[], &[]));
    assert!(
        message.contains(&format!("{HOST} ({addr}:{port})")) && message.contains("refused"),
        "{message}"
    );
    let title = format!("sshd is not listening on {addr}:{port}: connection refused");
    let d = assert_diagnosis(&events, "S2", &title);
    let tcp = format!("tcp connect to {addr}:{port}: refused (Connection refused (os error 111))");
    assert_eq!(line_from(&d, PROBES, "tcp connect"), (tcp.clone(), true));
    assert_eq!(line_from(&d, "ssh", "cannot connect"), (message, true));

    let (code, out) = diagnose_plain(&file, &[], &[]);
    let evidence_line = format!("evidence ({PROBES}): {tcp}");
    assert_diagnose_says(&out, code, "S2", &title, &[evidence_line]);
}

/// The host goes away in the middle of a step (as when it is powered off): the step fails with
/// the dropped connection, and the diagnosis, finding the connection dead, probes the host from
/// the control machine instead of waiting on more SSH commands.
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn a_host_lost_during_a_step_is_probed_from_the_control_machine() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    let _sshd = SshdStopped::armed(MACHINE, &addr, port);
    // Stop sshd, then end this very session (the first sshd above the script) by its PID;
    // the sleep keeps the exit status from arriving first.
    let script = "systemctl stop ssh; p=$$; \
        while [ \"$p\" -gt 1 ] && [ \"$(cat /proc/$p/comm)\" != sshd ]; do \
        p=$(awk '/^PPid:/ {print $2}' /proc/$p/status); done; kill \"$p\"; sleep 5";
    let (events, message) = failed(json_events(&[
        "exec",
        "-f",
        file.to_str().unwrap(),
        "--hosts",
        HOST,
        "--",
        script,
    ]));
    assert!(
        message.starts_with(&format!("the connection to {HOST} ({addr}:{port}) dropped")),
        "{message}"
    );
    let title = format!("sshd is not listening on {addr}:{port}: connection refused");
    let d = assert_diagnosis(&events, "S2", &title);
    let (dropped, _) = line_from(&d, "ssh", "the connection to");
    assert_eq!(dropped, message);
    let (reconnect, matched) = line_from(&d, "ssh", "cannot connect");
    assert!(
        matched && reconnect.contains("Connection refused"),
        "{reconnect}"
    );
    let tcp = format!("tcp connect to {addr}:{port}: refused (Connection refused (os error 111))");
    assert_eq!(line_from(&d, PROBES, "tcp connect"), (tcp, true));
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn port_22_dropped_or_rejected_by_a_firewall() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    // A short connect timeout: the SSH connect waits for it, the diagnosis does not.
    let fast = ["--connect-timeout", "3"];
    {
        let _drop = FirewallRule::new(MACHINE, &format!("-p tcp --dport {port} -j DROP"));
        let (events, message) = failed(apply_on_host(&file, &fast, &[]));
        assert!(message.contains("timed out after 3s"), "{message}");
        let title = format!("port {port} of {addr} does not answer: no answer within 4s");
        let d = assert_diagnosis(&events, "S3", &title);
        let tcp = format!("tcp connect to {addr}:{port}: no answer within 4s");
        assert_eq!(line_from(&d, PROBES, "tcp connect"), (tcp.clone(), true));
        // The host itself answers: what tells a firewall from a machine that is off.
        let (ping, matched) = line_from(&d, PROBES, "ping");
        assert!(ping.starts_with(&format!("ping {addr}: answers")) && !matched);

        let (code, out) = diagnose_plain(&file, &fast, &[]);
        assert_diagnose_says(
            &out,
            code,
            "S3",
            &title,
            &[format!("evidence ({PROBES}): {tcp}")],
        );
    }
    {
        let rule = format!("-p tcp --dport {port} -j REJECT --reject-with icmp-host-prohibited");
        let _reject = FirewallRule::new(MACHINE, &rule);
        let (events, _) = failed(apply_on_host(&file, &fast, &[]));
        let title = format!("port {port} of {addr} does not answer: no route to host");
        let d = assert_diagnosis(&events, "S3", &title);
        let tcp = format!(
            "tcp connect to {addr}:{port}: no route to host (No route to host (os error 113))"
        );
        assert_eq!(line_from(&d, PROBES, "tcp connect"), (tcp, true));
        assert!(line_from(&d, PROBES, "ping")
            .0
            .starts_with(&format!("ping {addr}: answers")));
    }
    assert!(port_accepts(&addr, port), "the rules are gone");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn an_address_nobody_has_does_not_answer() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    // On the lab bridge's subnet, held by no machine: nothing leaves this machine.
    let addr = "10.77.0.99";
    edit_host(&file, HOST, |h| set(h, "address", addr));

    let (events, message) = failed(apply_on_host(&file, &[], &[]));
    assert!(
        message.contains(&format!("{HOST} ({addr}:22)")),
        "{message}"
    );
    let title = format!("{addr} does not answer: the machine is off or the address is wrong");
    let d = assert_diagnosis(&events, "S1", &title);
    let (ping, matched) = line_from(&d, PROBES, "ping");
    assert!(matched, "{ping}");
    assert!(
        ping.starts_with(&format!("ping {addr}: no answer within 2s (")),
        "{ping}"
    );
    let (tcp, _) = line_from(&d, PROBES, "tcp connect");
    assert!(
        tcp == format!(
            "tcp connect to {addr}:22: no route to host (No route to host (os error 113))"
        ) || tcp == format!("tcp connect to {addr}:22: no answer within 4s"),
        "{tcp}"
    );

    let (code, out) = diagnose_plain(&file, &[], &[]);
    assert_diagnose_says(
        &out,
        code,
        "S1",
        &title,
        &[format!("evidence ({PROBES}): {ping}")],
    );
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn a_key_the_machine_does_not_accept_is_a_refused_login() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    let key = common::keygen("ed25519", "");
    let key_path = key.path.to_str().unwrap().to_string();
    edit_host(&file, HOST, |h| {
        let auth = h.get_mut("auth").unwrap().as_mapping_mut().unwrap();
        set(auth, "key_file", &key_path);
    });

    let (events, message) = failed(apply_on_host(&file, &[], &[]));
    let title =
        format!("{HOST} ({addr}:{port}) refuses the login of kube with public key {key_path}");
    let d = assert_diagnosis(&events, "S4", &title);
    assert_eq!(line_from(&d, "ssh", HOST), (message, true));
    let manual: Vec<&str> = d["manual_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        manual.contains(&format!("ssh-copy-id -i {key_path}.pub -p {port} kube@{addr}").as_str()),
        "{manual:?}"
    );

    let (code, out) = diagnose_plain(&file, &[], &[]);
    assert_diagnose_says(&out, code, "S4", &title, &[]);
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn sudo_that_wants_a_password_refuses_the_steps() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    // ops logs in with the lab key, but its sudo asks for its password.
    edit_host(&file, HOST, |h| set(h, "user", "ops"));
    let sudo_env = "KUBEWIZ_SUDO_PASSWORD";
    let cases = [
        (None, "needs a password"),
        (Some("not-the-password"), "rejected the sudo password"),
    ];
    for (password, why) in cases {
        let env = [(sudo_env, password)];
        let (events, message) = failed(apply_on_host(&file, &[], &env));
        let title =
            format!("sudo on {HOST} ({addr}:{port}) refuses to run the steps as root: {why}");
        let d = assert_diagnosis(&events, "S5", &title);
        assert_eq!(line_from(&d, "ssh", "sudo on"), (message, true));

        let (code, out) = diagnose_plain(&file, &[], &env);
        assert_diagnose_says(&out, code, "S5", &title, &[]);
    }
    // The right password passes sudo (the diagnosis was about sudo, nothing else).
    let password = lab.password("ops");
    let (_, events) = apply_on_host(&file, &[], &[(sudo_env, Some(password.expose()))]);
    assert!(
        diagnoses(&events)
            .iter()
            .all(|d| d["diagnosis"]["id"] != "S5"),
        "{events:#?}"
    );
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn unknown_and_changed_host_keys() {
    let Some(lab) = common::lab() else { return };
    let (dir, file) = cluster_copy(&lab.dir);
    let (addr, port) = (lab.address(MACHINE), lab.port());
    // Only the cluster directory's known_hosts counts: a HOME without ~/.ssh.
    let home = tempfile::tempdir().unwrap();
    let env = [("HOME", Some(home.path().to_str().unwrap()))];
    let known_hosts: PathBuf = dir.path().join("known_hosts");
    let others: String = std::fs::read_to_string(&known_hosts)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(&format!("{addr} ")))
        .map(|l| format!("{l}\n"))
        .collect();

    std::fs::write(&known_hosts, &others).unwrap();
    let (events, message) = failed(apply_on_host(&file, &[], &env));
    let title = format!("the host key of {HOST} ({addr}:{port}) is not known yet");
    let d = assert_diagnosis(&events, "S6", &title);
    assert_eq!(line_from(&d, "ssh", "the host key of"), (message, true));
    let (code, out) = diagnose_plain(&file, &[], &env);
    assert_diagnose_says(&out, code, "S6", &title, &[]);

    // Another machine's key recorded for this address.
    let other = common::keygen("ed25519", "");
    let key: Vec<&str> = other.public.split_whitespace().take(2).collect();
    let line_no = others.lines().count() + 1;
    std::fs::write(&known_hosts, format!("{others}{addr} {}\n", key.join(" "))).unwrap();
    let (events, _) = failed(apply_on_host(&file, &[], &env));
    let title = format!("the host key of {HOST} ({addr}:{port}) has changed");
    let d = assert_diagnosis(&events, "S7", &title);
    let cause = d["cause"].as_str().unwrap();
    assert!(
        cause.contains(&format!("line {line_no} of {}", known_hosts.display())),
        "{cause}"
    );
    let (code, out) = diagnose_plain(&file, &[], &env);
    assert_diagnose_says(&out, code, "S7", &title, &[]);
}

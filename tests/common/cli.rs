//! Driving the real binary against a private copy of the lab's cluster directory.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A private cluster directory: the lab's cluster file and known_hosts (PKI and journal start
/// empty), so a test never disturbs the one a person uses.
pub fn cluster_copy(lab: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["cluster.yaml", "known_hosts"] {
        std::fs::copy(lab.join("cluster").join(f), dir.path().join(f)).unwrap();
    }
    let file = dir.path().join("cluster.yaml");
    (dir, file)
}

pub fn kubewiz(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubewiz"));
    c.args(args).env("NO_COLOR", "1");
    c
}

/// Run `kubewiz <args> --output json` (the option before a `--`, as `exec` needs); the exit
/// code and the events.
pub fn json_events(args: &[&str]) -> (i32, Vec<Value>) {
    json_events_env(args, &[])
}

/// [`json_events`] with changes to the environment: `Some(value)` sets a variable, `None`
/// removes it.
pub fn json_events_env(args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, Vec<Value>) {
    let mut all = args.to_vec();
    let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
    all.splice(at..at, ["--output", "json"]);
    let mut cmd = kubewiz(&all);
    change_env(&mut cmd, env);
    let out = cmd.output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    (out.status.code().unwrap_or(-1), events)
}

/// Sets (`Some`) or removes (`None`) environment variables of `cmd`.
pub fn change_env(cmd: &mut Command, env: &[(&str, Option<&str>)]) {
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
}

pub fn apply_json(file: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["apply", "-f", file.to_str().unwrap()];
    args.extend(extra);
    json_events(&args)
}

/// (host, stage/step, status) of every finished step.
pub fn outcomes(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            (
                e["host"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    e["stage"].as_str().unwrap(),
                    e["step"].as_str().unwrap()
                ),
                e["outcome"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn diagnoses(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"] == "diagnosis")
        .collect()
}

/// `kubewiz diagnose --stage <stage> --output json`: the exit code and the events.
pub fn diagnose_stage(file: &Path, stage: &str) -> (i32, Vec<Value>) {
    json_events(&["diagnose", "-f", file.to_str().unwrap(), "--stage", stage])
}

/// (host, catalog id or `none`) of every diagnosis.
pub fn ids(events: &[Value]) -> Vec<(String, String)> {
    diagnoses(events)
        .iter()
        .map(|d| {
            (
                d["host"].as_str().unwrap().to_string(),
                d["diagnosis"]["id"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect()
}

/// Poll `kubewiz diagnose --stage <stage>` until `pred` holds for its findings, or give up
/// after `secs`; the last run's events.
pub fn diagnose_until(
    file: &Path,
    stage: &str,
    secs: u64,
    pred: impl Fn(&[(String, String)]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let (_, events) = diagnose_stage(file, stage);
        if pred(&ids(&events)) || std::time::Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Run a shell command on every host (or `hosts`) through `kubewiz exec`; panics on failure.
pub fn exec_on(file: &Path, hosts: Option<&str>, script: &str) -> String {
    let mut args = vec!["exec", "-f", file.to_str().unwrap()];
    if let Some(h) = hosts {
        args.extend(["--hosts", h]);
    }
    args.extend(["--", script]);
    let out = kubewiz(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "exec {script:?} failed: {text}");
    text
}

/// Stop etcd and remove everything the etcd stage leaves on every host, so a test starts from
/// machines that never ran it (another test's cluster would leave a data directory that is,
/// by design, stale for this one).
pub fn reset_etcd(file: &Path) {
    exec_on(
        file,
        None,
        "systemctl stop etcd 2>/dev/null; systemctl reset-failed etcd 2>/dev/null; \
         rm -rf /var/lib/etcd /var/lib/etcd.kubewiz-backup-* /etc/etcd /etc/systemd/system/etcd.service \
         /run/kubewiz /opt/kubewiz/installed/etcd-*; systemctl daemon-reload; true",
    );
}

/// The lab cluster file's pod CIDR, the image a test loads into docker, the network namespace
/// a test pod lives in: what [`reset_network`] removes.
pub const TEST_POD_CIDR: &str = "10.244.0.0/16";
pub const TEST_IMAGE: &str = "busybox:1.35.0";
pub const TEST_NETNS: &str = "nwpod";

/// What the network stage, and the docker it started, leave on a host: removed, so the machines
/// are as found (docker and containerd installed but stopped and disabled, no firewall rules,
/// and no bridge settings docker would keep from flannel's lease in /var/lib/docker/network).
pub fn reset_network(file: &Path) {
    exec_on(
        file,
        None,
        &format!(
            "if systemctl is-active --quiet docker; then docker rm -f $(docker ps -aq) >/dev/null 2>&1; \
               docker rmi {TEST_IMAGE} >/dev/null 2>&1; fi; \
             systemctl stop flanneld docker.service docker.socket containerd 2>/dev/null; \
             systemctl disable --quiet flanneld docker.service docker.socket containerd 2>/dev/null; \
             systemctl reset-failed flanneld docker 2>/dev/null; \
             ip netns del {TEST_NETNS} 2>/dev/null; \
             for l in flannel.1 docker0 cni0; do ip link del $l 2>/dev/null; done; \
             ip route flush root {TEST_POD_CIDR} 2>/dev/null; \
             rm -rf /etc/flannel /etc/systemd/system/flanneld.service \
               /etc/systemd/system/docker.service.d/flannel.conf /run/flannel \
               /usr/local/bin/flanneld /usr/local/bin/mk-docker-opts.sh /opt/cni /etc/cni \
               /opt/kubewiz/bundle/flannel-* /opt/kubewiz/bundle/cni-plugins-* /tmp/busybox.tar \
               /opt/kubewiz/installed/flannel-* /opt/kubewiz/installed/cni-plugins-* \
               /var/lib/docker/network /var/lib/cni; \
             rmdir /etc/systemd/system/docker.service.d 2>/dev/null; \
             iptables -t nat -F; iptables -t nat -X; iptables -F; iptables -X; iptables -P FORWARD ACCEPT; \
             systemctl daemon-reload; true"
        ),
    );
}

/// Resets etcd (and the runtime and network stages, which a whole deploy runs after it) on the
/// hosts when the test ends, passed or not, so the lab's own cluster file can deploy there
/// afterwards.
pub struct ResetEtcdOnDrop<'a>(pub &'a Path);

impl Drop for ResetEtcdOnDrop<'_> {
    fn drop(&mut self) {
        reset_network(self.0);
        reset_runtime(self.0);
        reset_etcd(self.0);
    }
}

/// Undo what the runtime stage (and docker or containerd) leaves on every host, so the next test
/// finds the runtimes installed but disabled, as the lab makes them: the daemons stopped and
/// disabled, kubewiz's files removed and the package files it replaced put back, the daemons'
/// state (images, docker's key) gone, docker's bridge and iptables chains removed (other rules,
/// such as flannel's, stay), and an /etc/default/docker a test saved put back.
pub fn reset_runtime(file: &Path) {
    reset_with(file, RESET_RUNTIME, "the runtimes");
}

/// Run a reset `script` on every host; panics when it fails, unless a failed test is already
/// unwinding through a drop guard (never a second panic).
fn reset_with(file: &Path, script: &str, what: &str) {
    let ok = kubewiz(&["exec", "-f", file.to_str().unwrap(), "--", script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok || std::thread::panicking(), "resetting {what} failed");
}

const RESET_RUNTIME: &str = "systemctl disable --now --quiet docker.service docker.socket containerd.service 2>/dev/null; \
    systemctl reset-failed docker containerd 2>/dev/null; \
    if [ -e /etc/docker/daemon.json.kubewiz-orig ]; then mv -f /etc/docker/daemon.json.kubewiz-orig /etc/docker/daemon.json; \
    else rm -f /etc/docker/daemon.json; fi; \
    c=/etc/containerd/config.toml; \
    if [ -e $c.kubewiz-orig ]; then mv -f $c.kubewiz-orig $c; \
    elif grep -q '^# Written by kubewiz' $c 2>/dev/null; then rm -f $c; fi; \
    rm -f /etc/systemd/system/docker.service.d/10-kubewiz.conf; \
    rmdir /etc/systemd/system/docker.service.d 2>/dev/null; \
    rm -rf /etc/kubewiz /run/kubewiz /opt/kubewiz/bundle/images \
      /etc/docker/key.json /var/lib/docker/* /var/lib/containerd/*; \
    systemctl daemon-reload; \
    ip link del docker0 2>/dev/null; \
    for t in filter nat; do \
      iptables -t $t -S | grep -E '^-A .*(DOCKER|docker0)' | while read -r rule; do \
        set -- $rule; shift; iptables -t $t -D \"$@\"; done; \
      for ch in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do \
        iptables -t $t -X $ch 2>/dev/null; done; \
    done; \
    if [ -f /run/kubewiz-test-default-docker ]; then \
      mv -f /run/kubewiz-test-default-docker /etc/default/docker; fi; true";

/// Resets the runtimes on the hosts when the test ends, passed or not.
pub struct ResetRuntimeOnDrop<'a>(pub &'a Path);

impl Drop for ResetRuntimeOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            reset_runtime(self.0);
        }
    }
}

/// Undo what the control plane stage leaves on every host: the three units stopped, disabled
/// and removed, /etc/kubernetes, the four binaries and the server tarball gone, the restart
/// markers cleared.
pub fn reset_control_plane(file: &Path) {
    let ok = kubewiz(&[
        "exec",
        "-f",
        file.to_str().unwrap(),
        "--",
        RESET_CONTROL_PLANE,
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .status()
    .is_ok_and(|s| s.success());
    // Never a second panic while a failed test unwinds through a drop guard.
    assert!(
        ok || std::thread::panicking(),
        "resetting the control plane failed"
    );
}

const RESET_CONTROL_PLANE: &str =
    "for u in kube-apiserver kube-controller-manager kube-scheduler; do \
      systemctl disable --now --quiet $u 2>/dev/null; systemctl reset-failed $u 2>/dev/null; \
      rm -f /etc/systemd/system/$u.service /run/kubewiz/$u.restart; done; \
    rm -rf /etc/kubernetes /opt/kubewiz/bundle/kubernetes-server-linux-amd64.tar.gz \
      /opt/kubewiz/installed/kubernetes-server-linux-amd64.tar.gz--*; \
    rm -f /usr/local/bin/kube-apiserver /usr/local/bin/kube-controller-manager \
      /usr/local/bin/kube-scheduler /usr/local/bin/kubectl; \
    systemctl daemon-reload; true";

/// Resets the control plane when the test ends, passed or not (declare it after an etcd guard:
/// guards drop in reverse order, so the apiserver stops before etcd does).
pub struct ResetControlPlaneOnDrop<'a>(pub &'a Path);

impl Drop for ResetControlPlaneOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            reset_control_plane(self.0);
        }
    }
}

/// The bundle's kubectl, unpacked into `dir` (this machine has none of its own).
pub fn bundle_kubectl(lab: &Path, dir: &Path) -> PathBuf {
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
pub fn kubectl(bin: &Path, admin: &Path, args: &[&str]) -> (bool, String) {
    kubectl_with_input(bin, admin, args, None)
}

/// [`kubectl`] with `input` on its stdin (`-f -`).
pub fn kubectl_with_input(
    bin: &Path,
    admin: &Path,
    args: &[&str],
    input: Option<&str>,
) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(admin)
        .arg("--request-timeout=10s")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(input.unwrap_or_default().as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Undo what the join stage leaves on every host: the node objects deleted (while the API
/// server answers), the pods' containers removed, kubelet and kube-proxy stopped, disabled and
/// removed with their files, kubelet's mounts undone, kube-proxy's iptables chains gone.
/// Run it before [`reset_control_plane`] and the runtime, network and etcd resets.
pub fn reset_join(file: &Path) {
    reset_with(file, RESET_JOIN, "the join stage");
}

const RESET_JOIN: &str = "K='/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=10s'; \
    if [ -f /etc/kubernetes/admin.conf ]; then $K delete pods --all --force --grace-period=0 >/dev/null 2>&1; \
      $K delete nodes --all >/dev/null 2>&1; fi; \
    for u in kubelet kube-proxy; do systemctl disable --now --quiet $u 2>/dev/null; \
      systemctl reset-failed $u 2>/dev/null; rm -f /etc/systemd/system/$u.service /run/kubewiz/$u.restart; done; \
    if systemctl is-active --quiet docker; then docker rm -f $(docker ps -aq --filter name=k8s_) >/dev/null 2>&1; fi; \
    if systemctl is-active --quiet containerd && command -v ctr >/dev/null; then \
      for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s KILL $t 2>/dev/null; done; sleep 1; \
      for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do ctr -n k8s.io tasks delete -f $c >/dev/null 2>&1; ctr -n k8s.io containers rm $c 2>/dev/null; done; fi; \
    awk '$2 ~ \"^/var/lib/kubelet\" { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l \"$m\"; done; \
    rm -rf /var/lib/kubelet /var/lib/kube-proxy /etc/kubernetes/bootstrap-kubelet.conf \
      /etc/kubernetes/kubelet.conf /etc/kubernetes/kube-proxy.conf /etc/kubernetes/kubewiz \
      /usr/local/bin/kubelet /usr/local/bin/kube-proxy; \
    for t in filter nat; do for ch in $(iptables -t $t -S | awk '$1 == \"-N\" && $2 ~ /^KUBE-/ { print $2 }'); do \
      iptables -t $t -F $ch 2>/dev/null; done; \
      iptables -t $t -S | grep -E '^-A .*KUBE-' | while read -r rule; do set -- $rule; shift; iptables -t $t -D \"$@\" 2>/dev/null; done; \
      for ch in $(iptables -t $t -S | awk '$1 == \"-N\" && $2 ~ /^KUBE-/ { print $2 }'); do iptables -t $t -X $ch 2>/dev/null; done; done; \
    systemctl daemon-reload; true";

/// Everything a whole `apply` leaves, undone when the test ends (passed or not), in the order
/// the stages came down: join, control plane, network, runtime, etcd.
pub struct ResetClusterOnDrop<'a>(pub &'a Path);

impl Drop for ResetClusterOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            reset_cluster(self.0);
        }
    }
}

/// [`ResetClusterOnDrop`]'s resets, now (a test starts from reset machines).
pub fn reset_cluster(file: &Path) {
    reset_join(file);
    reset_control_plane(file);
    reset_network(file);
    reset_runtime(file);
    reset_etcd(file);
}

/// A command's output lines on one host (as root), without the `host | ` prefix.
pub fn on(file: &Path, host: &str, cmd: &str) -> Vec<String> {
    let prefix = format!("{host} | ");
    exec_on(file, Some(host), cmd)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// `host stage/step: message` of every failed step.
pub fn failed_steps(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"]["status"] == "failed")
        .map(|e| {
            format!(
                "{} {}/{}: {}",
                e["host"], e["stage"], e["step"], e["outcome"]["message"]
            )
        })
        .collect()
}

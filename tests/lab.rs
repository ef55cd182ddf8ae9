//! The lab's own parts (scripts/lab; lab only, not kubewiz): the release bundle it makes for
//! `binaries.source: bundle` has the layout of the real releases and its binaries run on a lab
//! machine, and nothing a container on a lab machine sends to an outside address leaves this
//! machine (the FORWARD DROP on the lab bridge counts it, nothing is routed out), nor does docker
//! fall back to a public DNS server.
//!
//! These tests run as root on the lab's host (like `scripts/lab`): they read the host's
//! iptables counters.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The FORWARD rule `scripts/lab up` installs: nothing from lab0 is routed to another interface.
const NO_EGRESS: &str = "-i lab0 ! -o lab0 -m comment --comment kubewiz-lab-no-egress -j DROP";
/// TEST-NET-1, a documentation address: what a container tries to reach outside.
const OUTSIDE: &str = "192.0.2.1";
/// The lab machines' nameserver: the host's lab0 address, where DNS is refused.
const LAB_DNS: &str = "10.77.0.1";

/// The lab cluster file as YAML.
fn cluster_file(lab: &common::Lab) -> serde_yaml::Value {
    let path = lab.dir.join("cluster/cluster.yaml");
    let text = std::fs::read_to_string(&path).expect("read the lab cluster file");
    serde_yaml::from_str(&text).expect("the lab cluster file is YAML")
}

fn str_at<'a>(v: &'a serde_yaml::Value, section: &str, key: &str) -> &'a str {
    v[section][key]
        .as_str()
        .unwrap_or_else(|| panic!("the lab cluster file has no {section}.{key}"))
}

/// `binaries.bundle_dir` of the lab cluster file.
fn bundle_dir(lab: &common::Lab) -> PathBuf {
    PathBuf::from(str_at(&cluster_file(lab), "binaries", "bundle_dir"))
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command on this machine (the lab's host).
fn host(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

/// The names in a tarball, as `tar -t` lists them.
fn tar_names(tarball: &Path) -> Vec<String> {
    let out = host(&["tar", "-tf", tarball.to_str().unwrap()]);
    ok(&out, &format!("tar -tf {}", tarball.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// One member of an (uncompressed) tarball.
fn tar_member(tarball: &Path, name: &str) -> Vec<u8> {
    let out = host(&["tar", "-xOf", tarball.to_str().unwrap(), name]);
    ok(&out, &format!("tar -xOf {} {name}", tarball.display()));
    out.stdout
}

/// Runs `script` as root on lab machine `i`, with `stdin` (a file) as its input.
fn on_machine(lab: &common::Lab, i: usize, script: &str, stdin: Option<&Path>) -> Output {
    let input = match stdin {
        Some(p) => Stdio::from(
            std::fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())),
        ),
        None => Stdio::null(),
    };
    lab.ssh_command(i, "root", script)
        .stdin(input)
        .output()
        .expect("ssh runs")
}

/// A docker-save archive: its one image's tags and whether every layer's sha256 is the diff id
/// its config names (`docker load` and `ctr images import` refuse it otherwise).
fn image_tags_checked(tarball: &Path) -> Vec<String> {
    let manifest: Value = serde_json::from_slice(&tar_member(tarball, "manifest.json"))
        .expect("manifest.json is JSON");
    let entry = &manifest[0];
    let config: Value =
        serde_json::from_slice(&tar_member(tarball, entry["Config"].as_str().unwrap()))
            .expect("the image config is JSON");
    let layers = entry["Layers"].as_array().expect("Layers");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    assert_eq!(layers.len(), diff_ids.len(), "{}", tarball.display());
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let bytes = tar_member(tarball, layer.as_str().unwrap());
        let sum = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            diff_id.as_str(),
            Some(sum.as_str()),
            "{layer} in {}",
            tarball.display()
        );
    }
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    entry["RepoTags"]
        .as_array()
        .expect("RepoTags")
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// The names in an image's layers (uncompressed tars inside the archive).
fn image_files(tarball: &Path) -> Vec<String> {
    let manifest: Value = serde_json::from_slice(&tar_member(tarball, "manifest.json")).unwrap();
    let mut names = vec![];
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar");
        std::fs::write(&path, tar_member(tarball, layer.as_str().unwrap())).unwrap();
        names.extend(tar_names(&path));
    }
    names
}

/// The busybox test image in the bundle (`images/busybox-*.tar`).
fn busybox_image(bundle: &Path) -> PathBuf {
    let images = bundle.join("images");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&images)
        .unwrap_or_else(|e| panic!("read {}: {e}", images.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("busybox-") && name.ends_with(".tar")
        })
        .collect();
    assert_eq!(found.len(), 1, "one busybox image in {}", images.display());
    found.pop().unwrap()
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn bundle_tarballs_have_the_release_layout() {
    let Some(lab) = common::lab() else { return };
    let file = cluster_file(&lab);
    let bundle = bundle_dir(&lab);

    let names = tar_names(&bundle.join("kubernetes-server-linux-amd64.tar.gz"));
    for bin in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    ] {
        let want = format!("kubernetes/server/bin/{bin}");
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    assert!(
        names.iter().all(|n| n.starts_with("kubernetes/")),
        "{names:?}"
    );

    // Both the version the lab cluster file asks for and the etcd-v2 one of the classic guides.
    let flannel = str_at(&file, "versions", "flannel");
    for v in [flannel, "0.10.0"] {
        let mut names = tar_names(&bundle.join(format!("flannel-v{v}-linux-amd64.tar.gz")));
        names.sort();
        assert_eq!(names, ["flanneld", "mk-docker-opts.sh"], "flannel v{v}");
    }

    let cni = str_at(&file, "versions", "cni_plugins");
    let names = tar_names(&bundle.join(format!("cni-plugins-linux-amd64-v{cni}.tgz")));
    for plugin in ["bridge", "host-local", "loopback", "portmap"] {
        let want = format!("./{plugin}");
        assert!(names.contains(&want), "no {want} in {names:?}");
    }

    let pause = bundle.join("images/pause-3.2.tar");
    assert_eq!(image_tags_checked(&pause), ["k8s.gcr.io/pause:3.2"]);
    assert_eq!(image_files(&pause), ["pause"]);
    let busybox = busybox_image(&bundle);
    let tags = image_tags_checked(&busybox);
    assert!(
        tags.len() == 1 && tags[0].starts_with("busybox:"),
        "{tags:?}"
    );
    let files = image_files(&busybox);
    for want in ["bin/busybox", "bin/sh", "bin/ping", "etc/passwd"] {
        assert!(files.iter().any(|f| f == want), "no {want} in busybox");
    }
}

/// Removes a scratch directory on a lab machine, also when the test fails half-way.
struct MachineDir<'a> {
    lab: &'a common::Lab,
    i: usize,
    path: &'static str,
}

impl Drop for MachineDir<'_> {
    fn drop(&mut self) {
        let out = on_machine(self.lab, self.i, &format!("rm -rf {}", self.path), None);
        if !out.status.success() {
            eprintln!(
                "cleanup: rm -rf {} on machine {}: {out:?}",
                self.path, self.i
            );
        }
    }
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn bundle_binaries_run_on_a_lab_machine() {
    let Some(lab) = common::lab() else { return };
    let file = cluster_file(&lab);
    let k8s = str_at(&file, "versions", "kubernetes");
    let flannel = str_at(&file, "versions", "flannel");
    let bundle = bundle_dir(&lab);
    let dir = MachineDir {
        lab: &lab,
        i: 2,
        path: "/tmp/kubewiz-labtest-bundle",
    };

    let unpack = |tarball: &str, sub: &str, then: &str| {
        let script = format!(
            "set -e; rm -rf {d}/{sub}; mkdir -p {d}/{sub}; tar -xzf - -C {d}/{sub}; cd {d}/{sub}; {then}",
            d = dir.path
        );
        let out = on_machine(&lab, dir.i, &script, Some(&bundle.join(tarball)));
        ok(&out, &format!("{tarball} on machine {}", dir.i))
    };

    let bin = "kubernetes/server/bin";
    let text = unpack(
        "kubernetes-server-linux-amd64.tar.gz",
        "k8s",
        &format!(
            "for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do \
             echo \"$b: $(./{bin}/$b --version)\"; done; \
             echo \"kubectl: $(./{bin}/kubectl version --client --short)\""
        ),
    );
    for b in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ] {
        let want = format!("{b}: Kubernetes v{k8s}");
        assert!(text.lines().any(|l| l == want), "no {want:?} in:\n{text}");
    }
    let want = format!("kubectl: Client Version: v{k8s}");
    assert!(text.lines().any(|l| l == want), "no {want:?} in:\n{text}");

    for v in [flannel, "0.10.0"] {
        let text = unpack(
            &format!("flannel-v{v}-linux-amd64.tar.gz"),
            &format!("flannel-{v}"),
            "./flanneld --version 2>&1; sh -n mk-docker-opts.sh && echo mk-docker-opts.sh parses",
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [format!("v{v}").as_str(), "mk-docker-opts.sh parses"],
            "flannel v{v}"
        );
    }
}

/// A container runtime started by hand on a lab machine (docker or containerd: installed there,
/// not enabled). On drop: docker and containerd stopped, and what they made removed (their state
/// directories if they were empty, the iptables rules, docker0), so the machine is as before.
struct RuntimeOnMachine<'a> {
    lab: &'a common::Lab,
    i: usize,
}

const SAVE: &str = "/run/kubewiz-labtest-runtime";

impl<'a> RuntimeOnMachine<'a> {
    /// Starts `unit` (`docker` or `containerd`) on machine `i`.
    fn start(lab: &'a common::Lab, i: usize, unit: &str) -> Self {
        let before = format!(
            "set -e; for u in docker.service docker.socket containerd.service; do \
               if systemctl is-active -q $u; then echo \"$u is already running\" >&2; exit 1; fi; done; \
             rm -rf {SAVE}; mkdir -p {SAVE}; iptables-save >{SAVE}/v4; ip6tables-save >{SAVE}/v6; \
             for d in /var/lib/docker /var/lib/containerd /etc/docker; do \
               [ -n \"$(ls -A $d 2>/dev/null)\" ] || echo $d >>{SAVE}/empty; done"
        );
        ok(&on_machine(lab, i, &before, None), "saving machine state");
        let guard = RuntimeOnMachine { lab, i };
        let start = format!("systemctl start {unit}");
        ok(&on_machine(lab, i, &start, None), &start);
        guard
    }

    /// Runs `script` on the machine with `stdin`; panics unless it succeeds.
    fn sh(&self, script: &str, stdin: Option<&Path>) -> String {
        let out = on_machine(self.lab, self.i, script, stdin);
        ok(&out, &format!("`{script}` on machine {}", self.i))
    }

    fn docker_run(&self, args: &str) -> Output {
        on_machine(self.lab, self.i, &format!("docker run --rm {args}"), None)
    }
}

impl Drop for RuntimeOnMachine<'_> {
    fn drop(&mut self) {
        let restore = format!(
            "docker ps -aq | xargs -r docker rm -f >/dev/null; \
             systemctl stop docker.socket docker.service containerd.service; \
             ip link del docker0 2>/dev/null; \
             for t in filter nat mangle raw; do iptables -t $t -F; iptables -t $t -X; \
               ip6tables -t $t -F; ip6tables -t $t -X; done; \
             for c in INPUT FORWARD OUTPUT; do iptables -P $c ACCEPT; ip6tables -P $c ACCEPT; done; \
             iptables-restore <{SAVE}/v4; ip6tables-restore <{SAVE}/v6; \
             while read -r d; do find \"$d\" -mindepth 1 -delete; done <{SAVE}/empty; \
             rm -rf /run/docker /run/containerd {SAVE}"
        );
        let out = on_machine(self.lab, self.i, &restore, None);
        if !out.status.success() {
            eprintln!("cleanup of the runtime on machine {}: {out:?}", self.i);
        }
    }
}

/// Lets this host forward what comes in on lab0 (only that interface) while the test runs, and
/// counts lab packets to the outside address that leave through another interface: the proof
/// that the FORWARD DROP, not a host that happens not to forward, keeps them here. Both undone
/// on drop.
struct ForwardingHost {
    before: String,
}

const FORWARDING: &str = "/proc/sys/net/ipv4/conf/lab0/forwarding";
const ROUTED_OUT: [&str; 12] = [
    "POSTROUTING",
    "-s",
    "10.77.0.0/24",
    "-d",
    OUTSIDE,
    "!",
    "-o",
    "lab0",
    "-m",
    "comment",
    "--comment",
    "kubewiz-labtest-routed-out",
];

impl ForwardingHost {
    fn on() -> Self {
        let before = std::fs::read_to_string(FORWARDING)
            .expect("lab0 forwarding setting")
            .trim()
            .to_owned();
        let guard = ForwardingHost { before };
        let mut add = vec!["iptables", "-t", "mangle", "-I"];
        add.extend(ROUTED_OUT);
        ok(&host(&add), "adding the routed-out counter");
        std::fs::write(FORWARDING, "1").expect("set lab0 forwarding");
        guard
    }

    /// Lab packets to the outside address that went out of another interface.
    fn routed_out(&self) -> u64 {
        counter("mangle", "POSTROUTING", "kubewiz-labtest-routed-out")
    }
}

impl Drop for ForwardingHost {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(FORWARDING, &self.before) {
            eprintln!("cleanup: restoring {FORWARDING} to {}: {e}", self.before);
        }
        let mut del = vec!["iptables", "-t", "mangle", "-D"];
        del.extend(ROUTED_OUT);
        let out = host(&del);
        if !out.status.success() {
            eprintln!("cleanup: removing the routed-out counter: {out:?}");
        }
    }
}

/// The packet counter of the rule with this comment (`iptables -v -S` prints `-c PKTS BYTES`).
fn counter(table: &str, chain: &str, comment: &str) -> u64 {
    let text = ok(
        &host(&["iptables", "-t", table, "-v", "-S", chain]),
        "iptables -v -S",
    );
    let line = text
        .lines()
        .find(|l| l.contains(&format!("--comment {comment} ")))
        .unwrap_or_else(|| panic!("no rule {comment} in {table} {chain}:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "-c")
        .expect("-c in the rule");
    words[at + 1].parse().expect("a packet count")
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn container_packet_to_an_outside_address_dies_on_the_lab_bridge() {
    let Some(lab) = common::lab() else { return };
    // The rule must be there before anything is sent: without it nothing is.
    let mut check = vec!["iptables", "-C", "FORWARD"];
    check.extend(NO_EGRESS.split(' '));
    ok(&host(&check), "the lab's FORWARD DROP (scripts/lab up)");

    let image = busybox_image(&bundle_dir(&lab));
    let tags = image_tags_checked(&image);
    let docker = RuntimeOnMachine::start(&lab, 1, "docker");
    docker.sh("docker load", Some(&image));

    // No fallback to a public resolver: the container gets the lab's own nameserver.
    let out = docker.docker_run(&format!(
        "--network bridge {} cat /etc/resolv.conf",
        tags[0]
    ));
    let resolv = ok(&out, "cat /etc/resolv.conf in a container");
    let servers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(servers, [LAB_DNS], "container resolv.conf:\n{resolv}");

    let forwarding = ForwardingHost::on();
    let dropped = counter("filter", "FORWARD", "kubewiz-lab-no-egress");
    let out = docker.docker_run(&format!(
        "--network bridge {} ping -c1 -W1 {OUTSIDE}",
        tags[0]
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("1 packets transmitted, 0 packets received"),
        "the ping to {OUTSIDE} got an answer or did not run: {out:?}"
    );
    let now = counter("filter", "FORWARD", "kubewiz-lab-no-egress");
    assert!(
        now > dropped,
        "the FORWARD DROP counted nothing ({dropped} before, {now} after)"
    );
    assert_eq!(
        forwarding.routed_out(),
        0,
        "a lab packet to {OUTSIDE} left this host"
    );
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn bundle_images_run_under_docker_and_containerd_on_a_lab_machine() {
    let Some(lab) = common::lab() else { return };
    let bundle = bundle_dir(&lab);
    let pause = bundle.join("images/pause-3.2.tar");
    let busybox = busybox_image(&bundle);
    let busybox_tag = image_tags_checked(&busybox).remove(0);

    {
        let docker = RuntimeOnMachine::start(&lab, 3, "docker");
        docker.sh("docker load", Some(&pause));
        docker.sh("docker load", Some(&busybox));
        // The pod sandbox's oom_score_adj: this VM cannot lower it, the lab's runc wrapper
        // clamps it to 0 (without the wrapper, runc fails to start the container).
        let out = docker.docker_run(&format!(
            "--oom-score-adj=-998 {busybox_tag} cat /proc/self/oom_score_adj"
        ));
        assert_eq!(ok(&out, "docker run --oom-score-adj=-998").trim(), "0");
        let state = docker.sh(
            "docker run -d --name kubewiz-labtest-pause k8s.gcr.io/pause:3.2 >/dev/null; \
             docker inspect -f '{{.State.Running}}' kubewiz-labtest-pause; \
             docker rm -f kubewiz-labtest-pause >/dev/null",
            None,
        );
        assert_eq!(state.trim(), "true", "the pause container runs");
    }

    let containerd = RuntimeOnMachine::start(&lab, 3, "containerd");
    let ctr = "ctr -n kubewiz-labtest";
    containerd.sh(&format!("{ctr} images import -"), Some(&pause));
    containerd.sh(&format!("{ctr} images import -"), Some(&busybox));
    let refs = containerd.sh(&format!("{ctr} images ls -q"), None);
    let busybox_ref = format!("docker.io/library/{busybox_tag}");
    let mut refs: Vec<&str> = refs.lines().collect();
    refs.sort();
    assert_eq!(refs, [busybox_ref.as_str(), "k8s.gcr.io/pause:3.2"]);
    let out = containerd.sh(
        &format!("{ctr} run --rm {busybox_ref} kubewiz-labtest-1 echo hello from containerd"),
        None,
    );
    assert_eq!(out.trim(), "hello from containerd");
}

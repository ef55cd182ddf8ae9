//! The runtime stage end to end on the lab, through the real binary: docker on every machine
//! (driver recorded and used, the bundle's images loaded, a container runs, a rerun changes
//! nothing, a changed daemon.json restarts docker once), then containerd on one machine, and a
//! flag daemon.json also sets diagnosed as D2. Every machine is put back as it was found
//! ([`common::cli::reset_runtime`]).

mod common;

use common::cli::{
    apply_json, cluster_copy, diagnoses, exec_on, outcomes, reset_runtime, ResetRuntimeOnDrop,
};
use serde_json::Value;
use std::path::Path;

/// (host, step, status) of the runtime steps.
fn runtime_outcomes(events: &[Value]) -> Vec<(String, String, String)> {
    outcomes(events)
        .into_iter()
        .filter_map(|(h, s, st)| s.strip_prefix("runtime/").map(|s| (h, s.to_string(), st)))
        .collect()
}

/// The value `exec` printed for `host` on the line `host | key: value`.
fn value_of(text: &str, host: &str, key: &str) -> String {
    let prefix = format!("{host} | {key}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
        .trim()
        .to_string()
}

const HOSTS: [&str; 3] = ["node1", "node2", "node3"];

/// When docker's service last started (systemd's monotonic timestamp), per host.
fn docker_started(file: &Path) -> Vec<String> {
    let out = exec_on(
        file,
        None,
        "echo \"started: $(systemctl show -p ActiveEnterTimestampMonotonic --value docker)\"",
    );
    HOSTS.iter().map(|h| value_of(&out, h, "started")).collect()
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn docker_on_every_host() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    reset_runtime(&file);
    let _reset = ResetRuntimeOnDrop(&file);

    let (code, events) = apply_json(&file, &["--only-stages", "prep,runtime"]);
    let first = runtime_outcomes(&events);
    assert_eq!(code, 0, "first run failed: {first:?}");
    for step in [
        "cgroup-driver",
        "daemon-json",
        "docker-unit",
        "start",
        "images",
    ] {
        for host in HOSTS {
            assert!(
                first.contains(&(host.into(), step.into(), "changed".into())),
                "{host} {step} not changed on the first run: {first:?}"
            );
        }
    }

    // What the hosts run now. Each line names what it shows, so an assertion matches only it.
    let probe = r#"echo "active: $(systemctl is-active docker)"
        echo "containerd: $(systemctl is-enabled containerd)"
        echo "recorded: $(cat /etc/kubewiz/cgroup-driver)"
        echo "cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
        echo "docker driver: $(docker info --format '{{.CgroupDriver}}')"
        echo "dns: $(tr -d ' \n' < /etc/docker/daemon.json | grep -o '"dns":\[[^]]*\]')"
        echo "images: $(docker image inspect --format '{{index .RepoTags 0}}' k8s.gcr.io/pause:3.2 busybox:1.35.0 | tr '\n' ' ')"
        echo "run: $(docker run --rm --network none busybox:1.35.0 echo ran-in-busybox 2>&1)"
        echo "forward: $(iptables -S FORWARD | head -n 1)""#;
    let out = exec_on(&file, None, probe);
    for host in HOSTS {
        let v = |k: &str| value_of(&out, host, k);
        assert_eq!(v("active"), "active");
        assert_eq!(v("containerd"), "enabled");
        let expected = if v("cgroup fs") == "cgroup2fs" {
            "systemd"
        } else {
            "cgroupfs"
        };
        assert_eq!(v("recorded"), expected, "{host}: the driver decision");
        assert_eq!(v("docker driver"), v("recorded"), "{host}: docker uses it");
        // The lab's resolv.conf names 10.77.0.1: daemon.json carries it, never a public one.
        assert_eq!(v("dns"), "\"dns\":[\"10.77.0.1\"]");
        assert_eq!(v("images"), "k8s.gcr.io/pause:3.2 busybox:1.35.0");
        assert_eq!(v("run"), "ran-in-busybox");
        assert_eq!(v("forward"), "-P FORWARD ACCEPT");
    }
    let driver_lines: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["event"] == "output"
                && e["step"] == "cgroup-driver"
                && e["line"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("cgroup driver: "))
        })
        .collect();
    assert_eq!(driver_lines.len(), HOSTS.len(), "the driver is shown");

    // `kubewiz diagnose --stage runtime`: every daemon answers.
    let (code, events) = diagnose(&file);
    assert_eq!(code, 0, "{:?}", diagnoses(&events));
    let healthy = events.iter().filter(|e| e["event"] == "healthy").count();
    assert_eq!(healthy, HOSTS.len(), "{events:?}");

    // A rerun changes nothing.
    let started = docker_started(&file);
    let (code, events) = apply_json(&file, &["--only-stages", "runtime"]);
    let second = runtime_outcomes(&events);
    assert_eq!(code, 0, "{second:?}");
    assert_eq!(second.len(), first.len());
    for (host, step, status) in &second {
        assert_eq!(status, "unchanged", "{host} {step} on the second run");
    }
    assert_eq!(docker_started(&file), started, "no restart on a rerun");

    // daemon.json changed on node2 (by hand): kubewiz puts its own back and restarts docker
    // there, once; the other hosts keep running.
    exec_on(
        &file,
        Some("node2"),
        "sed -i 's/\"max-file\": \"5\"/\"max-file\": \"9\"/' /etc/docker/daemon.json && grep -q '\"9\"' /etc/docker/daemon.json",
    );
    let (code, events) = apply_json(&file, &["--only-stages", "runtime"]);
    let third = runtime_outcomes(&events);
    assert_eq!(code, 0, "{third:?}");
    for (host, step, status) in &third {
        let want = if host == "node2" && (step == "daemon-json" || step == "start") {
            "changed"
        } else {
            "unchanged"
        };
        assert_eq!(
            status, want,
            "{host} {step} after daemon.json changed on node2"
        );
    }
    let after = docker_started(&file);
    assert_ne!(after[1], started[1], "node2's docker restarted");
    assert_eq!((&after[0], &after[2]), (&started[0], &started[2]));
    let out = exec_on(
        &file,
        Some("node2"),
        "echo \"max-file: $(grep -o '\"max-file\": \"[0-9]*\"' /etc/docker/daemon.json)\"; \
         echo \"marker: $(ls /run/kubewiz/docker.restart 2>/dev/null | wc -l)\"; \
         echo \"kept: $(ls /etc/docker/ | grep -c kubewiz-orig)\"",
    );
    assert_eq!(value_of(&out, "node2", "max-file"), "\"max-file\": \"5\"");
    assert_eq!(
        value_of(&out, "node2", "marker"),
        "0",
        "the restart is done"
    );
    // kubewiz's own file is replaced, not kept as someone else's.
    assert_eq!(value_of(&out, "node2", "kept"), "0");
    let (code, events) = apply_json(&file, &["--only-stages", "runtime"]);
    assert_eq!(code, 0);
    assert!(runtime_outcomes(&events).iter().all(|o| o.2 == "unchanged"));
    assert_eq!(docker_started(&file), after, "restarted once, not again");

    // docker stopped on node3: its probe fails there, and only there.
    exec_on(&file, Some("node3"), "systemctl stop docker.socket docker");
    let (code, events) = diagnose(&file);
    assert_ne!(code, 0);
    let found = diagnoses(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["host"], "node3");
    let healthy = events.iter().filter(|e| e["event"] == "healthy").count();
    assert_eq!(healthy, HOSTS.len() - 1, "{events:?}");
}

fn diagnose(file: &Path) -> (i32, Vec<Value>) {
    common::cli::diagnose_stage(file, "runtime")
}

/// The copied cluster file with `runtime` and node1 alone running pods: node2 and node3 only
/// keep etcd, so the stage leaves them alone.
fn node1_only(file: &Path, runtime: &str) {
    let yaml = std::fs::read_to_string(file).unwrap();
    assert!(yaml.contains("\nruntime: docker\n"), "{yaml}");
    assert_eq!(yaml.matches("roles: [etcd, node]").count(), 2, "{yaml}");
    let yaml = yaml
        .replace("\nruntime: docker\n", &format!("\nruntime: {runtime}\n"))
        .replace("roles: [etcd, node]", "roles: [etcd]");
    std::fs::write(file, yaml).unwrap();
}

/// Someone adds a flag to docker's unit environment that daemon.json also sets; the next
/// configuration change restarts docker, which refuses to start: the start step fails and is
/// diagnosed as D2 from docker's journal (catalog D2, one place per option).
#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn a_flag_daemon_json_also_sets_is_diagnosed() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    node1_only(&file, "docker");
    reset_runtime(&file);
    let _reset = ResetRuntimeOnDrop(&file);
    let only = ["--only-stages", "runtime"];
    let (code, events) = apply_json(&file, &only);
    assert_eq!(code, 0, "{:?}", runtime_outcomes(&events));

    exec_on(
        &file,
        Some("node1"),
        "[ -f /run/kubewiz-test-default-docker ] || cp -p /etc/default/docker /run/kubewiz-test-default-docker; \
         echo 'DOCKER_OPTS=\"--log-driver=json-file\"' >> /etc/default/docker; \
         sed -i 's/\"max-file\": \"5\"/\"max-file\": \"9\"/' /etc/docker/daemon.json",
    );
    let (code, events) = apply_json(&file, &only);
    assert_ne!(code, 0);
    let failed: Vec<_> = runtime_outcomes(&events)
        .into_iter()
        .filter(|o| o.2 == "failed")
        .collect();
    assert_eq!(failed, [("node1".into(), "start".into(), "failed".into())]);
    let found = diagnoses(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["diagnosis"]["id"], "D2", "{found:?}");
    let cause = found[0]["diagnosis"]["cause"].as_str().unwrap();
    assert!(cause.contains("log-driver"), "{cause}");
}

#[test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
fn containerd_on_one_host() {
    let Some(lab) = common::lab() else { return };
    let (_dir, file) = cluster_copy(&lab.dir);
    node1_only(&file, "containerd");
    reset_runtime(&file);
    let _reset = ResetRuntimeOnDrop(&file);

    let sum = "echo \"sum: $(md5sum < /etc/containerd/config.toml | cut -c1-32)\"";
    let package_file = value_of(&exec_on(&file, Some("node1"), sum), "node1", "sum");
    let only = ["--only-stages", "runtime"];
    let (code, events) = apply_json(&file, &only);
    let first = runtime_outcomes(&events);
    assert_eq!(code, 0, "first run failed: {first:?}");
    for step in ["cgroup-driver", "config-toml", "start", "images"] {
        assert!(
            first.contains(&("node1".into(), step.into(), "changed".into())),
            "{step} not changed on the first run: {first:?}"
        );
    }
    assert!(first.iter().all(|o| o.0 == "node1"), "{first:?}");

    let probe = r#"echo "active: $(systemctl is-active containerd)"
        echo "docker: $(systemctl is-active docker)"
        echo "recorded: $(cat /etc/kubewiz/cgroup-driver)"
        echo "SystemdCgroup: $(containerd config dump | awk '$1 == "SystemdCgroup" { print $3 }')"
        echo "sandbox_image: $(containerd config dump | awk '$1 == "sandbox_image" { print $3 }')"
        echo "bin_dir: $(containerd config dump | awk '$1 == "bin_dir" { print $3 }')"
        echo "images: $(ctr -n k8s.io images ls -q | grep -v '^sha256:' | sort | tr '\n' ' ')"
        echo "kept: $(md5sum < /etc/containerd/config.toml.kubewiz-orig | cut -c1-32)""#;
    let out = exec_on(&file, Some("node1"), probe);
    let v = |k: &str| value_of(&out, "node1", k);
    assert_eq!(v("active"), "active");
    assert_eq!(v("docker"), "inactive");
    let systemd = if v("recorded") == "systemd" {
        "true"
    } else {
        "false"
    };
    assert_eq!(v("SystemdCgroup"), systemd);
    assert_eq!(v("sandbox_image"), "\"k8s.gcr.io/pause:3.2\"");
    assert_eq!(v("bin_dir"), "\"/opt/cni/bin\"");
    assert_eq!(
        v("kept"),
        package_file,
        "the package's config.toml is kept aside"
    );
    // By name (the CRI plugin also lists each image by its digest).
    assert_eq!(
        v("images"),
        "docker.io/library/busybox:1.35.0 k8s.gcr.io/pause:3.2"
    );

    let (code, events) = apply_json(&file, &only);
    assert_eq!(code, 0);
    let second = runtime_outcomes(&events);
    assert_eq!(second.len(), first.len());
    for (host, step, status) in &second {
        assert_eq!(status, "unchanged", "{host} {step} on the second run");
    }
}

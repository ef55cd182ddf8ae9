//! The container runtime stage: docker or containerd from the host's packages on every host that
//! runs pods (master, node). The cgroup driver is decided once per host and recorded there (the
//! kubelet reads the same record); kubewiz owns the runtime's one configuration file
//! (daemon.json or config.toml: one place per option); the image archives of the bundle are
//! loaded, never pulled.
//!
//! Docker's static release tarballs are out of scope: the runtime must be installed from the
//! distribution's packages (the `packages` step names them when they are missing).

use super::release::sha256_file;
use super::templates::touch_restart_marker;
use super::{BuildCtx, Built, Health, StageDef, RETRY};
use crate::config::{versions, BinariesSpec, CgroupDriver, ClusterSpec, Role, Runtime};
use crate::plan::{FileSource, HostSteps, RemoteFile, Step, StepAction};
use anyhow::{Context, Result};
use minijinja::context;
use std::path::{Path, PathBuf};

pub const STAGE: StageDef = StageDef {
    name: "runtime",
    description: "the container runtime (docker or containerd) on the master and node hosts",
    units: &["containerd", "docker"],
    build,
    needs: &[],
    // The hosts the stage sets up: every master and node.
    health: Health {
        roles: &[Role::Master, Role::Node],
        command: Some(health_command),
        view: None,
    },
    fixes: &[],
};

/// Where the cgroup driver decision is kept on a host: the runtime's configuration and
/// kubelet's `cgroupDriver` are both rendered from it (catalog D1).
pub const CGROUP_DRIVER_RECORD: &str = "/etc/kubewiz/cgroup-driver";
/// The files kubewiz wrote on the host, one path a line: a file not listed there was someone
/// else's, and is kept as `<path>.kubewiz-orig` before kubewiz first replaces it.
pub const OWNED_LIST: &str = "/etc/kubewiz/owned";
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
/// kubewiz's drop-in for docker.service (the network stage adds its own beside it).
pub const DOCKER_DROP_IN: &str = "/etc/systemd/system/docker.service.d/10-kubewiz.conf";
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// Where image archives are kept on a host (beside the release tarballs of
/// [`super::release::BUNDLE_DIR`]).
const IMAGES_DIR: &str = "/opt/kubewiz/bundle/images";
/// Container log rotation (docker's json-file driver).
const LOG_MAX_SIZE: &str = "100m";
const LOG_MAX_FILE: &str = "5";
/// How long the start step waits for the daemon to answer.
const START_WAIT_SECS: u64 = 60;
/// The placeholders the config step fills on the host, where the values are known.
pub(crate) const DRIVER_SLOT: &str = "@DRIVER@";
const DNS_SLOT: &str = "\"@DNS@\"";
const SYSTEMD_CGROUP_SLOT: &str = "@SYSTEMD_CGROUP@";

/// `kubewiz diagnose --stage runtime`: the daemon answers. Whichever runtime the host has
/// enabled (the probe has no cluster file).
fn health_command() -> String {
    "if systemctl is-enabled --quiet docker 2>/dev/null; then docker info >/dev/null; \
     else ctr version >/dev/null; fi"
        .into()
}

/// What each runtime is made of.
struct RuntimeDef {
    name: &'static str,
    /// Binaries the host's packages must provide.
    binaries: &'static [&'static str],
    apt_packages: &'static [&'static str],
    dnf_packages: &'static [&'static str],
    /// Units enabled and started, in order (docker needs containerd).
    units: &'static [&'static str],
    /// Answers when the daemon is up.
    probe: &'static str,
}

const DOCKER: RuntimeDef = RuntimeDef {
    name: "docker",
    binaries: &["dockerd", "docker", "containerd", "runc"],
    apt_packages: &["docker.io", "containerd", "runc"],
    dnf_packages: &["docker-ce", "containerd.io"],
    units: &["containerd", "docker"],
    probe: "docker info",
};

const CONTAINERD: RuntimeDef = RuntimeDef {
    name: "containerd",
    binaries: &["containerd", "ctr", "runc"],
    apt_packages: &["containerd", "runc"],
    dnf_packages: &["containerd.io"],
    units: &["containerd"],
    probe: "ctr version",
};

fn runtime_def(r: Runtime) -> &'static RuntimeDef {
    match r {
        Runtime::Docker => &DOCKER,
        Runtime::Containerd => &CONTAINERD,
    }
}

/// docker's daemon.json for `driver` and `dns` (already quoted and comma-separated; empty: no
/// `dns` key). No network options here: the network stage's drop-in owns --bip and --mtu.
pub fn daemon_json(t: &super::Templates, driver: &str, dns: &str) -> Result<String> {
    t.render(
        "runtime/daemon.json",
        context! {
            driver, dns, log_max_size => LOG_MAX_SIZE, log_max_file => LOG_MAX_FILE,
        },
    )
}

/// containerd's config.toml: the CRI plugin with `SystemdCgroup = systemd_cgroup` (`true` or
/// `false`, or the host's placeholder) and the pinned pause image.
pub fn containerd_config(
    t: &super::Templates,
    systemd_cgroup: &str,
    sandbox_image: &str,
) -> Result<String> {
    t.render(
        "runtime/config.toml",
        context! {
            systemd_cgroup, sandbox_image, cni_bin_dir => CNI_BIN_DIR, cni_conf_dir => CNI_CONF_DIR,
        },
    )
}

/// An image archive to load: where it is on the host, and where the host downloads it from
/// (mirror only).
#[derive(serde::Serialize)]
struct Archive {
    path: String,
    url: String,
}

/// The image archives and, with a bundle, the step that uploads them (each hashed once here,
/// whatever the number of hosts).
fn archives(spec: &ClusterSpec) -> Result<(Vec<Archive>, Option<Step>)> {
    let remote = |name: &str| format!("{IMAGES_DIR}/{name}");
    match &spec.binaries {
        BinariesSpec::Installed => Ok((vec![], None)),
        BinariesSpec::Mirror { mirror_url } => {
            // A mirror cannot be listed: it must hold the pause image's archive under the
            // bundle's name for it.
            let name = archive_name(versions::pause_image(&spec.versions.kubernetes));
            let url = format!("{}/images/{name}", mirror_url.trim_end_matches('/'));
            Ok((
                vec![Archive {
                    path: remote(&name),
                    url,
                }],
                None,
            ))
        }
        BinariesSpec::Bundle { bundle_dir } => {
            let local = bundle_archives(bundle_dir)?;
            if local.is_empty() {
                return Ok((vec![], None));
            }
            let mut files = vec![];
            let mut archives = vec![];
            for path in local {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let sha256 = sha256_file(&path)
                    .with_context(|| format!("reading the image archive {}", path.display()))?;
                archives.push(Archive {
                    path: remote(&name),
                    url: String::new(),
                });
                files.push(RemoteFile {
                    path: remote(&name),
                    mode: 0o644,
                    source: FileSource::Local { path, sha256 },
                });
            }
            let upload = Step::new(
                "image-bundle",
                &format!("upload {} image archives from the bundle", files.len()),
                StepAction::Files {
                    files,
                    on_change: None,
                },
            )
            .retry(RETRY)
            .timeout_secs(300);
            Ok((archives, Some(upload)))
        }
    }
}

/// `images/*.tar` of the bundle, sorted; none when it has no images folder.
fn bundle_archives(bundle_dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = bundle_dir.join("images");
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut out = vec![];
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "tar") && p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The bundle's file name for an image: `k8s.gcr.io/pause:3.2` → `pause-3.2.tar`.
fn archive_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    format!("{}.tar", last.replace(':', "-"))
}

/// How the plan describes the driver policy.
fn driver_policy(d: CgroupDriver) -> String {
    match d {
        CgroupDriver::Auto => "cgroup driver auto (systemd with cgroup v2, else cgroupfs; \
                               a recorded decision is kept)"
            .into(),
        d => format!("cgroup driver {} (cluster file)", d.as_str()),
    }
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, t) = (ctx.spec, ctx.templates);
    let rt = runtime_def(spec.runtime);
    let pause = versions::pause_image(&spec.versions.kubernetes);
    let hosts: Vec<_> = spec
        .hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Master) || h.roles.contains(&Role::Node))
        .collect();

    let packages = t.script(
        "runtime/packages.sh",
        context! {
            runtime => rt.name, binaries => rt.binaries, apt_packages => rt.apt_packages,
            dnf_packages => rt.dnf_packages,
            version_cmds => version_commands(spec.runtime),
        },
    )?;
    let driver = t.script(
        "runtime/cgroup_driver.sh",
        context! { record => CGROUP_DRIVER_RECORD, wanted => spec.cgroup_driver.as_str() },
    )?;
    let config_step = match spec.runtime {
        Runtime::Docker => {
            let content = daemon_json(t, DRIVER_SLOT, DNS_SLOT)?;
            let what = format!(
                "{DAEMON_JSON}: the recorded cgroup driver, json-file logs ({LOG_MAX_SIZE} x \
                 {LOG_MAX_FILE}), overlay2, the host's own nameservers"
            );
            config_step(t, ("daemon-json", &what), DAEMON_JSON, "docker", content, true)?
        }
        Runtime::Containerd => {
            let content = containerd_config(t, SYSTEMD_CGROUP_SLOT, pause)?;
            let what = format!(
                "{CONTAINERD_CONFIG}: CRI plugin with SystemdCgroup from the recorded driver, \
                 sandbox_image {pause}, CNI in {CNI_BIN_DIR} and {CNI_CONF_DIR}"
            );
            let step = ("config-toml", what.as_str());
            config_step(t, step, CONTAINERD_CONFIG, "containerd", content, false)?
        }
    };
    let start = t.script(
        "runtime/start.sh",
        context! {
            runtime => rt.name, units => rt.units, probe => rt.probe,
            wait_secs => START_WAIT_SECS, record => CGROUP_DRIVER_RECORD,
        },
    )?;
    let (archives, upload) = archives(spec)?;
    let source = match spec.binaries {
        BinariesSpec::Installed => "installed",
        BinariesSpec::Mirror { .. } => "mirror",
        BinariesSpec::Bundle { .. } => "bundle",
    };
    let images = t.script(
        "runtime/images.sh",
        context! { runtime => rt.name, source, archives => archives, pause },
    )?;
    let archive_names: Vec<String> = archives
        .iter()
        .map(|a| a.path.rsplit('/').next().unwrap_or_default().to_string())
        .collect();

    let mut per_host = vec![];
    for h in &hosts {
        let mut steps = vec![
            Step::script(
                "packages",
                &format!(
                    "{} installed from the host's packages (apt: {}; dnf: {})",
                    rt.binaries.join(", "),
                    rt.apt_packages.join(" "),
                    rt.dnf_packages.join(" ")
                ),
                packages.clone(),
            )
            .retry(RETRY),
            Step::script(
                "cgroup-driver",
                &format!(
                    "{}, recorded in {CGROUP_DRIVER_RECORD}",
                    driver_policy(spec.cgroup_driver)
                ),
                driver.clone(),
            )
            .writes([CGROUP_DRIVER_RECORD])
            .retry(RETRY),
            config_step.clone(),
        ];
        if spec.runtime == Runtime::Docker {
            steps.push(
                Step::new(
                    "docker-unit",
                    "drop-in keeping the iptables FORWARD policy ACCEPT after docker starts",
                    StepAction::Files {
                        files: vec![RemoteFile::inline(
                            DOCKER_DROP_IN,
                            0o644,
                            t.render("runtime/docker-kubewiz.conf", context! {})?,
                        )],
                        on_change: Some(format!(
                            "systemctl daemon-reload\n{}",
                            touch_restart_marker("docker")
                        )),
                    },
                )
                .retry(RETRY),
            );
        }
        steps.push(
            Step::script(
                "start",
                &format!(
                    "{} enabled and running (restarted once when its configuration changed)",
                    rt.units.join(" and ")
                ),
                start.clone(),
            )
            .retry(RETRY)
            .timeout_secs(START_WAIT_SECS + 60),
        );
        if let Some(u) = &upload {
            steps.push(u.clone());
        }
        let images_what = match archive_names.as_slice() {
            [] => "no image archives to load".to_string(),
            names => format!("load {} when missing (never pulled)", names.join(", ")),
        };
        steps.push(
            Step::script("images", &images_what, images.clone())
                .retry(RETRY)
                .timeout_secs(300),
        );
        per_host.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    let images_desc = match archive_names.len() {
        0 => "no image archives".to_string(),
        n => format!("{n} image archives ({source})"),
    };
    Ok(Built {
        description: format!(
            "{} from the host's packages on {} master/node hosts; {}; pause image {pause}; {images_desc}",
            rt.name,
            hosts.len(),
            driver_policy(spec.cgroup_driver),
        ),
        hosts: per_host,
    })
}

/// The shell commands printing each package's version.
fn version_commands(r: Runtime) -> Vec<&'static str> {
    match r {
        Runtime::Docker => vec!["dockerd --version", "containerd --version", "runc --version"],
        Runtime::Containerd => vec!["containerd --version", "runc --version"],
    }
}

/// The step writing a runtime's configuration file: the template rendered here with the
/// placeholders the host fills (the recorded driver, its nameservers), compared with the file
/// on the host before anything is written; a change leaves `unit`'s restart marker.
pub(crate) fn config_step(
    t: &super::Templates,
    (name, description): (&str, &str),
    path: &str,
    unit: &str,
    content: String,
    dns: bool,
) -> Result<Step> {
    let script = t.script(
        "runtime/config.sh",
        context! { path, content, unit, dns, record => CGROUP_DRIVER_RECORD, owned => OWNED_LIST },
    )?;
    Ok(Step::script(name, description, script)
        .writes([path])
        .retry(RETRY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::Templates;

    #[test]
    fn daemon_json_has_one_place_per_option() {
        let t = Templates::new();
        let json = daemon_json(&t, "cgroupfs", "\"10.77.0.1\"").unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["exec-opts"][0], "native.cgroupdriver=cgroupfs");
        assert_eq!(v["dns"], serde_json::json!(["10.77.0.1"]));
        assert_eq!(v["log-driver"], "json-file");
        assert_eq!(v["log-opts"]["max-size"], LOG_MAX_SIZE);
        assert_eq!(v["log-opts"]["max-file"], LOG_MAX_FILE);
        assert_eq!(v["storage-driver"], "overlay2");
        // The network stage's drop-in owns these (catalog D2: never flag and file both).
        for k in ["bip", "mtu", "iptables", "ip-masq", "bridge"] {
            assert!(v.get(k).is_none(), "{k} in {json}");
        }
        let none: serde_json::Value =
            serde_json::from_str(&daemon_json(&t, "systemd", "").unwrap()).unwrap();
        assert!(none.get("dns").is_none(), "{none}");
        assert_eq!(none["exec-opts"][0], "native.cgroupdriver=systemd");
    }

    /// What the host's config step does to the template's placeholders (sed there), here.
    #[test]
    fn the_host_fills_the_placeholders() {
        let t = Templates::new();
        let slots = daemon_json(&t, DRIVER_SLOT, DNS_SLOT).unwrap();
        let filled = slots
            .replace(DNS_SLOT, "\"10.0.0.2\", \"10.0.0.3\"")
            .replace(DRIVER_SLOT, "systemd");
        assert_eq!(
            filled,
            daemon_json(&t, "systemd", "\"10.0.0.2\", \"10.0.0.3\"").unwrap()
        );
        let dropped: String = slots
            .lines()
            .filter(|l| !l.contains(DNS_SLOT))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            dropped.replace(DRIVER_SLOT, "cgroupfs"),
            daemon_json(&t, "cgroupfs", "").unwrap()
        );
        let toml = containerd_config(&t, SYSTEMD_CGROUP_SLOT, "p:1").unwrap();
        assert_eq!(
            toml.replace(SYSTEMD_CGROUP_SLOT, "true"),
            containerd_config(&t, "true", "p:1").unwrap()
        );
    }

    #[test]
    fn containerd_config_sets_the_cri_plugin() {
        let t = Templates::new();
        let toml = containerd_config(&t, "false", "k8s.gcr.io/pause:3.2").unwrap();
        assert!(toml.contains("\nversion = 2\n"), "{toml}");
        let cri = "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"k8s.gcr.io/pause:3.2\"\n";
        assert!(toml.contains(cri), "{toml}");
        let runc = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n        SystemdCgroup = false\n";
        assert!(toml.contains(runc), "{toml}");
        assert!(toml.contains("bin_dir = \"/opt/cni/bin\""), "{toml}");
        assert!(toml.contains("conf_dir = \"/etc/cni/net.d\""), "{toml}");
    }

    /// The driver step, run here with its record in a temporary folder: what it decides, and
    /// that a recorded decision is kept unless the cluster file names a driver.
    #[test]
    fn the_driver_is_decided_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let record = tmp.path().join("cgroup-driver");
        let t = Templates::new();
        let run = |wanted: &str| -> String {
            let script = t
                .script(
                    "runtime/cgroup_driver.sh",
                    context! { record => record.to_str().unwrap(), wanted },
                )
                .unwrap();
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            let recorded = std::fs::read_to_string(&record).unwrap();
            let result = text.lines().last().unwrap_or_default().to_string();
            format!("{} {result}", recorded.trim())
        };
        // This machine's own answer, by the rule the step implements.
        let systemd = Path::new("/run/systemd/system").is_dir();
        let cgroup2 = std::process::Command::new("stat")
            .args(["-fc", "%T", "/sys/fs/cgroup"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "cgroup2fs")
            .unwrap_or(false);
        let auto = if systemd && cgroup2 {
            "systemd"
        } else {
            "cgroupfs"
        };
        let other = if auto == "systemd" {
            "cgroupfs"
        } else {
            "systemd"
        };
        assert_eq!(run("auto"), format!("{auto} KUBEWIZ-RESULT changed"));
        assert_eq!(run("auto"), format!("{auto} KUBEWIZ-RESULT unchanged"));
        // The cluster file names the other driver: it wins, and is kept from then on.
        assert_eq!(run(other), format!("{other} KUBEWIZ-RESULT changed"));
        assert_eq!(run("auto"), format!("{other} KUBEWIZ-RESULT unchanged"));
        assert_eq!(run(auto), format!("{auto} KUBEWIZ-RESULT changed"));
    }

    const SPEC: &str = r#"
name: t
hosts:
  - {name: e1, address: 10.9.0.1, roles: [etcd]}
  - {name: m1, address: 10.9.0.2, roles: [master]}
  - {name: w1, address: 10.9.0.3, roles: [node]}
network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}
runtime: docker
versions: {kubernetes: 1.20.2}
"#;

    fn built(spec: &ClusterSpec) -> Built {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::cluster_dir::ClusterDir::of_cluster_file(&tmp.path().join("c.yaml"));
        let t = Templates::new();
        let ctx = BuildCtx {
            spec,
            dir: &dir,
            opts: &Default::default(),
            templates: &t,
            registry: crate::stages::REGISTRY,
        };
        build(&ctx).unwrap()
    }

    fn step_names(b: &Built) -> Vec<&str> {
        b.hosts[0].steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// The master and node hosts, each runtime's steps, the bundle's archives uploaded by
    /// their sha256, a mirror's pause archive downloaded, nothing to load when installed.
    #[test]
    fn the_plan_per_runtime_and_source() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("images")).unwrap();
        std::fs::write(tmp.path().join("images/pause-3.2.tar"), b"an archive").unwrap();
        std::fs::write(tmp.path().join("images/notes.txt"), b"not an archive").unwrap();
        let mut spec = crate::config::parse_str(SPEC).unwrap();
        spec.binaries = BinariesSpec::Bundle {
            bundle_dir: tmp.path().into(),
        };
        let b = built(&spec);
        let hosts: Vec<&str> = b.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["m1", "w1"]);
        assert_eq!(
            step_names(&b),
            [
                "packages",
                "cgroup-driver",
                "daemon-json",
                "docker-unit",
                "start",
                "image-bundle",
                "images"
            ]
        );
        assert!(b.description.contains("pause image k8s.gcr.io/pause:3.2"), "{}", b.description);
        let upload = &b.hosts[1].steps[5].action;
        let StepAction::Files { files, .. } = upload else {
            panic!("{upload:?}")
        };
        assert_eq!(files.len(), 1, "only images/*.tar");
        assert_eq!(files[0].path, "/opt/kubewiz/bundle/images/pause-3.2.tar");
        let FileSource::Local { sha256, .. } = &files[0].source else {
            panic!("{files:?}")
        };
        let want = sha256_file(&tmp.path().join("images/pause-3.2.tar")).unwrap();
        assert_eq!(sha256, &want);

        spec.runtime = Runtime::Containerd;
        spec.binaries = BinariesSpec::Mirror {
            mirror_url: "http://10.9.0.100/k8s/".into(),
        };
        let b = built(&spec);
        assert_eq!(
            step_names(&b),
            ["packages", "cgroup-driver", "config-toml", "start", "images"]
        );
        let StepAction::Script { script, .. } = &b.hosts[0].steps[4].action else {
            panic!()
        };
        assert!(
            script.contains("http://10.9.0.100/k8s/images/pause-3.2.tar"),
            "{script}"
        );
        assert!(script.contains("ctr -n k8s.io images import"), "{script}");

        spec.binaries = BinariesSpec::Installed;
        let b = built(&spec);
        let StepAction::Script { script, .. } = &b.hosts[0].steps[4].action else {
            panic!()
        };
        assert!(script.contains("report na \"binaries.source: installed"), "{script}");
    }

    /// A missing binary fails the packages step with the packages to install, whichever
    /// package manager this machine has (run here, with a binary no machine has).
    #[test]
    fn missing_packages_are_named() {
        let t = Templates::new();
        let script = t
            .script(
                "runtime/packages.sh",
                context! {
                    runtime => "docker", binaries => ["sh", "kubewiz-no-such-binary"],
                    apt_packages => DOCKER.apt_packages, dnf_packages => DOCKER.dnf_packages,
                    version_cmds => version_commands(Runtime::Docker),
                },
            )
            .unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("docker is not installed: kubewiz-no-such-binary missing; install it with: "),
            "{err}"
        );
        assert!(
            err.contains("apt-get install docker.io containerd runc")
                || err.contains("dnf install docker-ce containerd.io"),
            "{err}"
        );
    }

    #[test]
    fn archive_names_follow_the_bundle() {
        assert_eq!(archive_name("k8s.gcr.io/pause:3.2"), "pause-3.2.tar");
        assert_eq!(archive_name("busybox:1.35.0"), "busybox-1.35.0.tar");
    }
}

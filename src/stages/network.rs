//! The pod network stage. With flannel: flanneld from its release tarball on every master and
//! node, its etcd client certificate, the network config written into etcd once (through the
//! etcd API flannel's version reads), flanneld started one host at a time, routes to every
//! peer's subnet checked, then the runtime put on the lease (docker's drop-in, or the CNI
//! plugins and a conflist for containerd). With calico the stage has no host steps: Calico's
//! manifest is applied by the addons stage, and its calico-node pods put the CNI plugins and
//! config on each host.

use super::fix::{hosts_with, run_script, run_script_on, upload, Emit, FixContext, FixDef};
use super::release::{install_steps, install_steps_into, Release};
use super::templates::{touch_restart_marker, unit_step};
use super::{BuildCtx, Built, Health, StageDef, Templates, RETRY};
use crate::config::{ClusterSpec, CniSpec, FlannelBackend, HostSpec, Role, Runtime};
use crate::plan::{HostSteps, RemoteFile, RetryPolicy, Step, StepAction, StepScope};
use anyhow::{anyhow, bail, Context, Result};
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "network",
    description: "the pod network (flannel) on the masters and nodes, and the runtime on it",
    units: &[UNIT_NAME, "docker"],
    build,
    needs: &[],
    health: Health {
        roles: &[Role::Master, Role::Node],
        command: Some(health_command),
        view: None,
    },
    fixes: &[
        FixDef {
            name: "write-flannel-config",
            destroys: None,
            run: |ctx, _host, emit| Box::pin(write_config_again(ctx, emit)),
        },
        FixDef {
            name: "enable-etcd-v2",
            destroys: None,
            run: |ctx, _host, emit| Box::pin(enable_etcd_v2(ctx, emit)),
        },
        FixDef {
            name: "restart-docker-after-flanneld",
            destroys: None,
            run: |ctx, host, emit| Box::pin(restart_docker_after_flanneld(ctx, host, emit)),
        },
    ],
};

const UNIT_NAME: &str = "flanneld";
const UNIT: &str = "/etc/systemd/system/flanneld.service";
/// flannel's default prefix; the config is `<prefix>/config`, the leases `<prefix>/subnets/`.
pub const ETCD_PREFIX: &str = "/coreos.com/network";
pub const SUBNET_ENV: &str = "/run/flannel/subnet.env";
/// Where mk-docker-opts.sh writes DOCKER_NETWORK_OPTIONS for the docker drop-in.
pub const DOCKER_ENV: &str = "/run/flannel/docker";
pub const DOCKER_DROPIN: &str = "/etc/systemd/system/docker.service.d/flannel.conf";
/// The CNI directories containerd's config.toml names (the runtime stage writes it).
pub use super::runtime::{CNI_BIN_DIR, CNI_CONF_DIR};
pub const CNI_CONFLIST: &str = "10-flannel.conflist";
pub const CNI_LOOPBACK: &str = "99-loopback.conf";
/// flannel's leases are /24s of the pod CIDR.
const SUBNET_LEN: u32 = 24;
/// How long one host's flanneld gets to take its lease (and a restarted one to list routes).
const START_WAIT_SECS: u64 = 60;
/// How long a starting flanneld may keep failing to read its config before the start step
/// stops waiting and shows why (it retries every second; etcd may be electing a leader).
const CONFIG_GRACE_SECS: u64 = 10;
/// The CNI plugins a flannel network on containerd uses.
const CNI_PLUGINS: &[&str] = &["bridge", "host-local", "loopback", "portmap"];

/// Which etcd API a flannel version reads its config and leases with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdApi {
    V2,
    V3,
}

impl EtcdApi {
    pub fn as_str(self) -> &'static str {
        match self {
            EtcdApi::V2 => "v2",
            EtcdApi::V3 => "v3",
        }
    }
}

/// flannel 0.18 moved from etcd's v2 API to v3 (the two keyspaces are separate: a config
/// written through one is not seen through the other). The one place that decides it.
pub fn flannel_etcd_api(version: &str) -> Result<EtcdApi> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok(if (major, minor) >= (0, 18) {
            EtcdApi::V3
        } else {
            EtcdApi::V2
        }),
        _ => bail!("versions.flannel {version:?} is not a version like 0.20.2"),
    }
}

/// Whether etcd must serve its v2 API (off by default since etcd 3.4): flannel before 0.18.
pub fn needs_etcd_v2(spec: &ClusterSpec) -> Result<bool> {
    Ok(matches!(spec.cni, CniSpec::Flannel { .. })
        && flannel_etcd_api(&spec.versions.flannel)? == EtcdApi::V2)
}

/// The hosts that run flanneld: every master and node, in the cluster file's order.
pub fn flannel_hosts(spec: &ClusterSpec) -> Vec<&HostSpec> {
    spec.hosts
        .iter()
        .filter(|h| h.roles.contains(&Role::Master) || h.roles.contains(&Role::Node))
        .collect()
}

/// The network config flanneld reads from etcd.
pub fn network_config(pod_cidr: &str, backend: FlannelBackend) -> String {
    let kind = match backend {
        FlannelBackend::Vxlan => "vxlan",
        FlannelBackend::HostGw => "host-gw",
    };
    format!(
        r#"{{"Network":"{pod_cidr}","SubnetLen":{SUBNET_LEN},"Backend":{{"Type":"{kind}"}}}}"#
    )
}

fn backend_name(b: FlannelBackend) -> &'static str {
    match b {
        FlannelBackend::Vxlan => "vxlan",
        FlannelBackend::HostGw => "host-gw",
    }
}

/// Everything flannel's steps are rendered from.
struct Flannel<'a> {
    spec: &'a ClusterSpec,
    version: String,
    api: EtcdApi,
    backend: FlannelBackend,
    config: String,
}

impl Flannel<'_> {
    fn key(&self) -> String {
        format!("{ETCD_PREFIX}/config")
    }

    /// etcdctl on an etcd member against itself, speaking the API this flannel reads, with
    /// `ETCDCTL_API` set (v2's TLS flags are named differently; `--no-sync` keeps it on the
    /// local member instead of the advertised URLs).
    fn etcdctl(&self) -> String {
        let pki = super::etcd::PKI_DIR;
        match self.api {
            EtcdApi::V2 => format!(
                "env ETCDCTL_API=2 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:{} \
                 --ca-file={pki}/ca.crt --cert-file={pki}/healthcheck-client.crt \
                 --key-file={pki}/healthcheck-client.key --no-sync --timeout=5s",
                super::etcd::CLIENT_PORT
            ),
            EtcdApi::V3 => format!("env ETCDCTL_API=3 {}", super::etcd::etcdctl()),
        }
    }

    /// The script that writes the config into etcd on an etcd member (compared first).
    fn config_script(&self, t: &Templates) -> Result<String> {
        t.script(
            "network/config.sh",
            context! {
                api => self.api.as_str(), version => self.version, key => self.key(),
                config => self.config, etcdctl => self.etcdctl(),
            },
        )
    }

    fn unit(&self, t: &Templates, h: &HostSpec) -> Result<String> {
        let endpoints = self
            .spec
            .hosts_with_role(Role::Etcd)
            .iter()
            .map(|m| super::etcd::client_url(&m.address))
            .collect::<Vec<_>>()
            .join(",");
        t.render(
            "network/flanneld.service",
            context! {
                cluster => self.spec.name, name => h.name, version => self.version,
                api => self.api.as_str(), key => self.key(), config => self.config,
                bin => super::release::BIN_DIR, endpoints, prefix => ETCD_PREFIX,
                pki => crate::pki::FLANNEL_PKI_DIR, address => h.address,
                docker => self.spec.runtime == Runtime::Docker,
            },
        )
    }
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let CniSpec::Flannel { flannel } = &ctx.spec.cni else {
        return Ok(Built {
            description: "calico: no host steps here; its manifest is applied by the addons stage, \
                          and calico-node puts the CNI plugins and config on each host"
                .into(),
            hosts: vec![],
        });
    };
    let (spec, t) = (ctx.spec, ctx.templates);
    let version = spec.versions.flannel.trim_start_matches('v').to_string();
    let f = Flannel {
        spec,
        api: flannel_etcd_api(&version)?,
        backend: flannel.backend,
        config: network_config(&spec.network.pod_cidr, flannel.backend),
        version,
    };
    let hosts = flannel_hosts(spec);
    // The config goes in through the first etcd member: it has etcdctl and a client
    // certificate; it need not run flanneld itself.
    let writer = spec
        .hosts_with_role(Role::Etcd)
        .first()
        .map(|h| h.name.clone())
        .ok_or_else(|| anyhow!("flannel keeps its config in etcd, and no host has the etcd role"))?;

    let rdir = format!("flannel-v{}-linux-amd64", f.version);
    let install = install_steps(
        spec,
        t,
        &Release {
            name: "flannel",
            version: &f.version,
            tarball: format!("{rdir}.tar.gz"),
            top_dir: String::new(),
            binaries: &["flanneld", "mk-docker-opts.sh"],
            version_cmd: "flanneld --version 2>&1 | sed 's/^v//'",
            restart_units: &[UNIT_NAME],
        },
    )?;
    let cni_install = match spec.runtime {
        Runtime::Containerd => cni_plugin_steps(spec, t)?,
        Runtime::Docker => vec![],
    };
    let certs = cert_step(ctx)?;
    let config = Step::script(
        "config",
        &format!(
            "network config {} under {} (etcd {} API, for flannel {})",
            f.config,
            f.key(),
            f.api.as_str(),
            f.version
        ),
        f.config_script(t)?,
    )
    .retry(RETRY)
    .scope(StepScope::Once);
    let start = t.script(
        "network/start.sh",
        context! {
            unit => UNIT_NAME, subnet_env => SUBNET_ENV, wait_secs => START_WAIT_SECS,
            config_grace_secs => CONFIG_GRACE_SECS, backend => backend_name(f.backend), pod_cidr => spec.network.pod_cidr,
        },
    )?;
    let runtime_steps = runtime_steps(ctx)?;

    let mut out: Vec<HostSteps> = vec![];
    if !hosts.iter().any(|h| h.name == writer) {
        out.push(HostSteps {
            host: writer.clone(),
            steps: vec![config.clone()],
        });
    }
    for h in &hosts {
        let mut steps = install.clone();
        steps.extend(cni_install.iter().cloned());
        steps.push(certs.clone());
        if h.name == writer {
            steps.push(config.clone());
        }
        steps.push(unit_step(
            "systemd unit flanneld.service (Type=notify, Restart=on-failure)",
            UNIT,
            UNIT_NAME,
            f.unit(t, h)?,
        ));
        // The barrier: the config is in etcd before any flanneld looks for it.
        steps.push(
            Step::script(
                "start",
                &format!(
                    "start flanneld one host at a time, each waiting up to {START_WAIT_SECS} s \
                     for {SUBNET_ENV}"
                ),
                start.clone(),
            )
            .retry(RetryPolicy::ONCE)
            .timeout_secs(START_WAIT_SECS + 60)
            .scope(StepScope::Serial)
            .after_barrier(),
        );
        let peers: Vec<String> = hosts
            .iter()
            .filter(|p| p.name != h.name)
            .map(|p| format!("{}={}", p.name, p.address))
            .collect();
        let routes = t.script(
            "network/routes.sh",
            context! {
                peers, backend => backend_name(f.backend), pod_cidr => spec.network.pod_cidr,
                unit => UNIT_NAME, wait_secs => START_WAIT_SECS,
                lease_prefix => format!("{ETCD_PREFIX}/subnets"), api => f.api.as_str(),
                etcdctl => f.etcdctl(), etcd_pki => super::etcd::PKI_DIR,
            },
        )?;
        // Every host has its lease before anyone counts its routes.
        steps.push(
            Step::script(
                "routes",
                "a route to every other host's flannel subnet (restart flanneld once if not)",
                routes,
            )
            .retry(RetryPolicy::ONCE)
            .timeout_secs(START_WAIT_SECS * 2 + 30)
            .after_barrier(),
        );
        steps.extend(runtime_steps.iter().cloned());
        out.push(HostSteps {
            host: h.name.clone(),
            steps,
        });
    }
    Ok(Built {
        description: format!(
            "flannel {} ({} backend, etcd {} API, config written once through {writer}) on {} \
             hosts, {} on it",
            f.version,
            backend_name(f.backend),
            f.api.as_str(),
            hosts.len(),
            match spec.runtime {
                Runtime::Docker => "docker",
                Runtime::Containerd => "containerd with the CNI plugins",
            }
        ),
        hosts: out,
    })
}

/// The etcd CA and flanneld's client pair under /etc/flannel/pki.
fn cert_step(ctx: &BuildCtx<'_>) -> Result<Step> {
    let (paths, available) = crate::pki::flannel_remote_paths(ctx.dir);
    let (files, writes) = if available {
        let files: Vec<RemoteFile> = crate::pki::flannel_files(ctx.dir)?
            .into_iter()
            .map(|(path, content, mode)| RemoteFile::inline(&path, mode, content))
            .collect();
        (files, paths)
    } else {
        // `kubewiz plan` before the first apply: the PKI does not exist yet.
        let shown = paths
            .into_iter()
            .map(|p| format!("{p} (created by apply)"))
            .collect();
        (vec![], shown)
    };
    Ok(Step::new(
        "certs",
        "the etcd CA and flanneld's etcd client certificate",
        StepAction::Files {
            files,
            on_change: Some(touch_restart_marker(UNIT_NAME)),
        },
    )
    .writes(writes)
    .retry(RETRY))
}

/// The CNI plugins' release (containerd only), into /opt/cni/bin: steps `cni-bundle`,
/// `cni-install`, so they do not clash with flannel's own `bundle` and `install`.
fn cni_plugin_steps(spec: &ClusterSpec, t: &Templates) -> Result<Vec<Step>> {
    let version = spec.versions.cni_plugins.trim_start_matches('v').to_string();
    let mut steps = install_steps_into(
        spec,
        t,
        &Release {
            name: "CNI plugins",
            version: &version,
            tarball: format!("cni-plugins-linux-amd64-v{version}.tgz"),
            top_dir: ".".into(),
            binaries: CNI_PLUGINS,
            // The plugins do not know their version when built outside their release
            // pipeline (Debian's): an installed set is taken as it is.
            version_cmd: &format!("echo {version}"),
            restart_units: &[],
        },
        CNI_BIN_DIR,
    )?;
    for s in &mut steps {
        s.name = format!("cni-{}", s.name);
    }
    Ok(steps)
}

/// The runtime on the lease: docker's drop-in and restart, or containerd's CNI config.
fn runtime_steps(ctx: &BuildCtx<'_>) -> Result<Vec<Step>> {
    let t = ctx.templates;
    Ok(match ctx.spec.runtime {
        Runtime::Docker => {
            let script = t.script(
                "network/docker.sh",
                context! {
                    cluster => ctx.spec.name, dropin => DOCKER_DROPIN, docker_env => DOCKER_ENV,
                    subnet_env => SUBNET_ENV, flannel_unit => UNIT_NAME,
                },
            )?;
            vec![Step::script(
                "docker",
                "docker on flannel's subnet: drop-in (After=/Wants=flanneld), restart when it \
                 or the lease changed, docker0 checked against FLANNEL_SUBNET and FLANNEL_MTU",
                script,
            )
            .writes([DOCKER_DROPIN])
            .retry(RETRY)
            .timeout_secs(120)]
        }
        Runtime::Containerd => {
            let script = t.script(
                "network/cni_config.sh",
                context! {
                    subnet_env => SUBNET_ENV, conf_dir => CNI_CONF_DIR, conflist => CNI_CONFLIST,
                    loopback => CNI_LOOPBACK,
                },
            )?;
            vec![Step::script(
                "cni-config",
                "CNI network for containerd's pods: bridge cni0 on FLANNEL_SUBNET, portmap, \
                 loopback",
                script,
            )
            .writes([
                format!("{CNI_CONF_DIR}/{CNI_CONFLIST}"),
                format!("{CNI_CONF_DIR}/{CNI_LOOPBACK}"),
            ])
            .retry(RETRY)]
        }
    })
}

/// `kubewiz diagnose --stage network`: flanneld active with its lease written, docker (when it
/// runs) on that lease, and how many peers' subnets are routed.
fn health_command() -> String {
    format!(
        "systemctl is-active --quiet {UNIT_NAME} || {{ echo '{UNIT_NAME} is not active'; exit 1; }}; \
         [ -s {SUBNET_ENV} ] || {{ echo '{SUBNET_ENV} is missing'; exit 1; }}; \
         . {SUBNET_ENV}; \
         if systemctl is-active --quiet docker; then \
           d=$(ip -4 -o addr show docker0 2>/dev/null | awk '{{print $4}}'); \
           [ \"$d\" = \"$FLANNEL_SUBNET\" ] || {{ echo \"docker0 ${{d:-none}} is not on FLANNEL_SUBNET $FLANNEL_SUBNET\"; exit 1; }}; \
         fi; \
         echo \"FLANNEL_SUBNET=$FLANNEL_SUBNET FLANNEL_MTU=$FLANNEL_MTU, \
         $(ip -4 route show root \"$FLANNEL_NETWORK\" | grep -c ' via ') routes to other hosts' subnets\""
    )
}

// ---- fixes ----

fn flannel_of(spec: &ClusterSpec) -> Result<Flannel<'_>> {
    let CniSpec::Flannel { flannel } = &spec.cni else {
        bail!("the cluster file does not use flannel (cni.plugin)");
    };
    let version = spec.versions.flannel.trim_start_matches('v').to_string();
    Ok(Flannel {
        spec,
        api: flannel_etcd_api(&version)?,
        backend: flannel.backend,
        config: network_config(&spec.network.pod_cidr, flannel.backend),
        version,
    })
}

/// F1/F3: the network config is not where flanneld looks: write it again through the first
/// etcd member (flanneld retries the read by itself).
async fn write_config_again(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    let f = flannel_of(ctx.spec)?;
    let writer = hosts_with(ctx.spec, Role::Etcd)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no host has the etcd role"))?;
    let script = f.config_script(&Templates::new())?;
    let mut out = |l: String| {
        if !l.starts_with("KUBEWIZ-RESULT") {
            emit(format!("{writer}: {l}"));
        }
    };
    run_script(ctx, &writer, &script, &mut out).await
}

/// F2: flannel before 0.18 needs etcd's v2 API: put back the unit kubewiz renders for each
/// member (it has --enable-v2=true for such a flannel) and restart the members together.
async fn enable_etcd_v2(ctx: &FixContext<'_>, emit: &mut Emit<'_>) -> Result<()> {
    if !needs_etcd_v2(ctx.spec)? {
        bail!(
            "flannel {} reads etcd's v3 API; it does not need --enable-v2",
            ctx.spec.versions.flannel
        );
    }
    let members = hosts_with(ctx.spec, Role::Etcd);
    let mut changed = vec![];
    for m in &members {
        let unit = super::etcd::unit_of(ctx.spec, ctx.dir, m)?;
        if upload(ctx, m, super::etcd::UNIT_PATH, 0o644, &unit)
            .await
            .with_context(|| format!("writing etcd.service on {m}"))?
        {
            emit(format!("{m}: etcd.service with --enable-v2=true"));
            changed.push(m.clone());
        }
    }
    if !changed.is_empty() {
        run_script_on(
            ctx,
            &changed,
            "systemctl daemon-reload && systemctl restart --no-block etcd && echo 'etcd restarting'",
            emit,
        )
        .await?;
    }
    // The retry writes the config through a member: wait until they serve again.
    let wait = format!(
        "i=0; until {} endpoint health >/dev/null 2>&1; do i=$((i+1)); \
         [ $i -ge 90 ] && {{ echo 'etcd is not healthy after 90 s' >&2; exit 1; }}; sleep 1; done; \
         echo 'etcd healthy'",
        super::etcd::etcdctl()
    );
    run_script_on(ctx, &members, &wait, emit).await
}

/// D4/F9: docker runs on its own bridge instead of flannel's lease: restart flanneld (it
/// writes the options again), then docker with them.
async fn restart_docker_after_flanneld(
    ctx: &FixContext<'_>,
    host: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let script = format!(
        "systemctl restart {UNIT_NAME} && systemctl stop docker.service docker.socket && \
         ip link del docker0 2>/dev/null; systemctl start docker.service && \
         echo \"docker0 $(ip -4 -o addr show docker0 | awk '{{print $4}}')\""
    );
    run_script_on(ctx, &[host.to_string()], &script, emit).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_dir::ClusterDir;

    #[test]
    fn flannel_before_0_18_reads_etcd_v2() {
        assert_eq!(flannel_etcd_api("0.10.0").unwrap(), EtcdApi::V2);
        assert_eq!(flannel_etcd_api("v0.17.9").unwrap(), EtcdApi::V2);
        assert_eq!(flannel_etcd_api("0.18.0").unwrap(), EtcdApi::V3);
        assert_eq!(flannel_etcd_api("0.20.2").unwrap(), EtcdApi::V3);
        assert_eq!(flannel_etcd_api("1.0.0").unwrap(), EtcdApi::V3);
        assert!(flannel_etcd_api("latest").is_err());
    }

    #[test]
    fn config_is_flannels_json() {
        assert_eq!(
            network_config("10.244.0.0/16", FlannelBackend::HostGw),
            r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}"#
        );
        let v: serde_json::Value =
            serde_json::from_str(&network_config("10.244.0.0/16", FlannelBackend::Vxlan))
                .unwrap();
        assert_eq!(v["Backend"]["Type"], "vxlan");
    }

    fn lab_spec(extra: &str) -> ClusterSpec {
        let base = "name: lab\nhosts:\n  - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}\n  - {name: node2, address: 10.77.0.12, roles: [etcd, node]}\n  - {name: node3, address: 10.77.0.13, roles: [etcd, node]}\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n";
        crate::config::parse_str(&format!("{base}{extra}")).unwrap()
    }

    fn stage_of(spec: &ClusterSpec) -> crate::plan::Stage {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let plan = super::super::build_plan(spec, &dir, &Default::default()).unwrap();
        plan.stages.into_iter().find(|s| s.name == "network").unwrap()
    }

    /// Three hosts: the config once on node1, flanneld started serially after a barrier, the
    /// routes after another; docker's drop-in last.
    #[test]
    fn plan_of_three_hosts() {
        let s = stage_of(&lab_spec("runtime: docker\nversions: {flannel: 0.20.2}\n"));
        let names: Vec<String> = s.step_order().iter().map(|s| s.name.clone()).collect();
        assert_eq!(
            names,
            ["install", "certs", "config", "unit", "start", "routes", "docker"],
            "no bundle step: the spec has no bundle"
        );
        assert_eq!(s.hosts_of("config"), ["node1"]);
        assert_eq!(s.hosts_of("start"), ["node1", "node2", "node3"]);
        let step = |n: &str| s.step_order().into_iter().find(|x| x.name == n).unwrap();
        assert_eq!(step("config").scope, StepScope::Once);
        assert_eq!(step("start").scope, StepScope::Serial);
        assert!(step("start").barrier && step("routes").barrier);
        assert!(s.description.contains("etcd v3 API"), "{}", s.description);
    }

    /// The member that writes the config need not run flanneld: it gets that step alone.
    #[test]
    fn an_etcd_only_member_writes_the_config() {
        let spec = crate::config::parse_str(
            "name: c\nhosts:\n  - {name: e1, address: 10.0.0.1, roles: [etcd]}\n  - {name: n1, address: 10.0.0.2, roles: [master, node]}\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\nversions: {flannel: 0.10.0}\n",
        )
        .unwrap();
        let s = stage_of(&spec);
        assert_eq!(s.hosts_of("config"), ["e1"]);
        assert_eq!(s.hosts_of("start"), ["n1"]);
        let script = script_of(&s.hosts[0].steps[0]);
        assert!(script.contains("env ETCDCTL_API=2 /usr/local/bin/etcdctl"), "{script}");
        assert!(script.contains("--ca-file=/etc/etcd/pki/ca.crt"), "{script}");
        assert!(script.contains(" set \"$key\""), "{script}");
        assert!(s.description.contains("etcd v2 API"));
    }

    #[test]
    fn unit_names_the_host_address_and_every_member() {
        let spec = lab_spec("runtime: docker\nversions: {flannel: 0.20.2}\n");
        let f = flannel_of(&spec).unwrap();
        let t = Templates::new();
        let unit = f.unit(&t, &spec.hosts[1]).unwrap();
        for part in [
            "-etcd-endpoints=https://10.77.0.11:2379,https://10.77.0.12:2379,https://10.77.0.13:2379 \\",
            "-iface=10.77.0.12 \\",
            "-etcd-keyfile=/etc/flannel/pki/flanneld.key \\",
            "Type=notify\n",
            "ExecStartPost=/usr/local/bin/mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker\n",
            r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}"#,
        ] {
            assert!(unit.contains(part), "{part:?} in\n{unit}");
        }
        let containerd = lab_spec("runtime: containerd\n");
        let unit = flannel_of(&containerd)
            .unwrap()
            .unit(&t, &containerd.hosts[0])
            .unwrap();
        assert!(!unit.contains("mk-docker-opts"), "{unit}");
    }

    #[test]
    fn etcd_serves_v2_only_for_old_flannel() {
        assert!(needs_etcd_v2(&lab_spec("versions: {flannel: 0.10.0}\n")).unwrap());
        assert!(!needs_etcd_v2(&lab_spec("versions: {flannel: 0.20.2}\n")).unwrap());
        assert!(!needs_etcd_v2(&lab_spec(
            "cni: {plugin: calico}\nversions: {flannel: 0.10.0}\n"
        ))
        .unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let old = super::super::etcd::unit_of(
            &lab_spec("versions: {flannel: 0.10.0}\n"),
            &dir,
            "node2",
        )
        .unwrap();
        assert!(old.contains("  --enable-v2=true \\\n"), "{old}");
        let new = super::super::etcd::unit_of(&lab_spec(""), &dir, "node2").unwrap();
        assert!(!new.contains("enable-v2"), "{new}");
    }

    /// containerd: the CNI plugins under their own step names, into /opt/cni/bin, and the
    /// conflist rendered on the host.
    #[test]
    fn containerd_gets_cni_plugins_and_a_conflist() {
        let s = stage_of(&lab_spec("runtime: containerd\n"));
        let names: Vec<String> = s.step_order().iter().map(|s| s.name.clone()).collect();
        assert_eq!(
            names,
            ["install", "cni-install", "certs", "config", "unit", "start", "routes", "cni-config"]
        );
        let step = |n: &str| s.step_order().into_iter().find(|x| x.name == n).unwrap();
        assert_eq!(
            step("cni-install").writes,
            ["/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback", "/opt/cni/bin/portmap"]
        );
        assert!(script_of(step("cni-config")).contains("10-flannel.conflist"));
    }

    fn script_of(step: &Step) -> &str {
        match &step.action {
            StepAction::Script { script, .. } => script,
            other => panic!("{} is not a script: {other:?}", step.name),
        }
    }

    /// The conflist a host renders from its lease: run for real with sh on a subnet.env.
    #[test]
    fn conflist_is_rendered_from_the_lease() {
        let tmp = tempfile::tempdir().unwrap();
        let env = tmp.path().join("subnet.env");
        std::fs::write(
            &env,
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.17.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        )
        .unwrap();
        let conf = tmp.path().join("net.d");
        let script = Templates::new()
            .script(
                "network/cni_config.sh",
                context! {
                    subnet_env => env.to_str().unwrap(), conf_dir => conf.to_str().unwrap(),
                    conflist => CNI_CONFLIST, loopback => CNI_LOOPBACK,
                },
            )
            .unwrap();
        let run = || {
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(run().contains("KUBEWIZ-RESULT changed"));
        let text = std::fs::read_to_string(conf.join(CNI_CONFLIST)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let bridge = &v["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "cni0");
        assert_eq!(bridge["mtu"], 1450);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["subnet"], "10.244.17.0/24");
        assert_eq!(bridge["ipam"]["routes"][0]["dst"], "10.244.0.0/16");
        assert_eq!(v["plugins"][1]["type"], "portmap");
        let lo: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(conf.join(CNI_LOOPBACK)).unwrap())
                .unwrap();
        assert_eq!(lo["type"], "loopback");
        assert!(run().contains("KUBEWIZ-RESULT unchanged"), "a rerun writes nothing");
    }

    #[test]
    fn calico_has_no_host_steps_here() {
        // The network stage alone: the whole plan needs Calico's manifest in a bundle.
        let spec = lab_spec("cni: {plugin: calico}\n");
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let (opts, t) = (Default::default(), Templates::new());
        let ctx = BuildCtx { spec: &spec, dir: &dir, opts: &opts, templates: &t, registry: super::super::REGISTRY };
        let s = build(&ctx).unwrap();
        assert!(s.hosts.is_empty());
        assert!(s.description.contains("addons stage"), "{}", s.description);
    }
}

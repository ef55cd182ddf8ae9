//! The add-ons stage, once, on the first master: Calico's rendered manifest (when `cni` is
//! calico) and CoreDNS's, each uploaded to /etc/kubernetes/addons/, applied with kubectl and
//! waited for with a deadline. kubeadm's `addon` phase, as a binary install. Images come from
//! the bundle when it carries them: the runtime stage has loaded every `images/*.tar` on every
//! host before any pod starts; an image the bundle lacks is pulled by each node, and when that
//! fails (an air-gapped site) the wait stops at once and names the image.

pub mod coredns;

use super::control_plane::{kubectl_at, own_server};
use super::{BuildCtx, Built, Health, StageDef, Templates, RETRY};
use crate::addons::images;
use crate::config::{BinariesSpec, ClusterSpec, CniSpec, Role};
use crate::plan::{HostSteps, RemoteFile, RetryPolicy, Step, StepAction, StepScope};
use anyhow::{anyhow, Result};
use minijinja::context;

pub const STAGE: StageDef = StageDef {
    name: "addons",
    description: "CoreDNS, and Calico's manifest when cni is calico, applied once on the first master",
    // The pods' pull errors and sandbox failures show in kubelet's journal when the first
    // master is also a node.
    units: &["kubelet"],
    build,
    needs: &[],
    health: Health {
        roles: &[Role::Master],
        command: Some(health_command),
        view: None,
    },
    fixes: &[],
};

/// Where the manifests are kept on the first master (what was applied last).
pub const MANIFEST_DIR: &str = "/etc/kubernetes/addons";
/// How long an add-on's pods get to run: long enough for nodes to pull images from a
/// registry; a pull that fails ends the wait at once.
const WAIT_SECS: u64 = 300;

/// One add-on workload to apply and wait for.
struct Addon {
    /// Step prefix and manifest file name: `coredns` → `coredns-apply`, `coredns.yaml`.
    name: &'static str,
    /// `deployment` or `daemonset`, as kubectl names it.
    kind: &'static str,
    /// The workload, in kube-system.
    workload: &'static str,
    selector: &'static str,
    /// The name of its `kubewiz-component` line.
    component: &'static str,
    yaml: String,
    /// What the manifest step says it is.
    what: String,
}

/// The manifest's path on the master.
pub fn manifest_path(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}.yaml")
}

/// The images the runtime stage loads: every reference of the bundle's `images/*.tar`.
fn bundle_references(spec: &ClusterSpec) -> Result<Vec<String>> {
    Ok(match &spec.binaries {
        BinariesSpec::Bundle { bundle_dir } => images::in_bundle(bundle_dir)?
            .into_iter()
            .flat_map(|i| i.references)
            .collect(),
        _ => vec![],
    })
}

/// The three steps of `a` on the master reached through `kubectl`.
fn steps(
    t: &Templates,
    a: &Addon,
    host: &str,
    kubectl: &str,
    bundle_images: &[String],
) -> Result<Vec<Step>> {
    let path = manifest_path(a.name);
    let pods = t.render(
        "addons/pods.sh",
        context! { kind => a.kind, name => a.workload, selector => a.selector },
    )?;
    Ok(vec![
        Step::new(
            &format!("{}-manifest", a.name),
            &format!("{} at {path}", a.what),
            StepAction::Files {
                files: vec![RemoteFile::inline(&path, 0o644, a.yaml.clone())],
                on_change: None,
            },
        )
        .retry(RETRY)
        .scope(StepScope::Once),
        Step::script(
            &format!("{}-apply", a.name),
            &format!("kubectl apply -f {path}"),
            t.script(
                "addons/apply.sh",
                context! { kubectl, path, what => a.what },
            )?,
        )
        .retry(RETRY)
        .scope(StepScope::Once),
        // The wait has its own deadline: a second attempt would only delay the diagnosis.
        Step::script(
            &format!("{}-wait", a.name),
            &format!(
                "wait up to {WAIT_SECS} s for {}/{} to roll out (stops at a failed image pull)",
                a.kind, a.workload
            ),
            t.script(
                "addons/wait.sh",
                context! {
                    kubectl, pods, host, kind => a.kind, name => a.workload,
                    component => a.component, wait_secs => WAIT_SECS, bundle_images,
                },
            )?,
        )
        .retry(RetryPolicy::ONCE)
        .scope(StepScope::Once)
        .timeout_secs(WAIT_SECS + 60),
    ])
}

fn build(ctx: &BuildCtx<'_>) -> Result<Built> {
    let (spec, t) = (ctx.spec, ctx.templates);
    let first = *spec
        .hosts_with_role(Role::Master)
        .first()
        .ok_or_else(|| anyhow!("the add-ons are applied through a master, and no host has the master role"))?;
    let kubectl = kubectl_at(&own_server(spec, first));
    let bundle_images = bundle_references(spec)?;
    let dns = coredns::image(spec)?;
    let dns_ip = spec
        .cluster_dns_ip()
        .map_or_else(|| "?".to_string(), |ip| ip.to_string());

    let mut addons = vec![];
    let mut parts = vec![];
    // The pod network first: CoreDNS's pods need it.
    if let CniSpec::Calico { .. } = spec.cni {
        let calico = crate::addons::calico::for_spec(spec)?
            .ok_or_else(|| anyhow!("cni.plugin is calico, yet no Calico manifest was rendered"))?;
        parts.push(format!(
            "Calico {} (the bundle's {} with {} change(s), kept as addons/calico.yaml in the \
             cluster directory; calico-node installs the CNI plugins and config on each host)",
            spec.versions.calico,
            crate::addons::calico::manifest_file(&spec.versions.calico),
            calico.changes.len()
        ));
        addons.push(Addon {
            name: "calico",
            kind: "daemonset",
            workload: "calico-node",
            selector: "k8s-app=calico-node",
            component: "calico-node",
            yaml: calico.yaml,
            what: format!("Calico {}'s manifest", spec.versions.calico),
        });
    }
    parts.push(format!(
        "CoreDNS {} at {dns_ip} for {} ({})",
        coredns::tag(&dns.reference),
        spec.network.dns_domain,
        match &dns.archive {
            Some(a) => format!(
                "{}, from the bundle's {a}, loaded on every host by the runtime stage before \
                 the pods start",
                dns.reference
            ),
            None => format!(
                "{} is not in the bundle: each node pulls it from its registry",
                dns.reference
            ),
        }
    ));
    addons.push(Addon {
        name: "coredns",
        kind: "deployment",
        workload: coredns::NAME,
        selector: coredns::SELECTOR,
        component: "coredns",
        yaml: coredns::manifest(t, spec, &dns)?,
        what: "CoreDNS's manifest (ServiceAccount, RBAC, Corefile, Deployment, kube-dns Service)"
            .to_string(),
    });

    let mut all = vec![];
    for a in &addons {
        all.extend(steps(t, a, &first.name, &kubectl, &bundle_images)?);
    }
    Ok(Built {
        description: format!(
            "add-ons applied once through {} (kubeadm's addon phase): {}",
            first.name,
            parts.join("; ")
        ),
        hosts: vec![HostSteps {
            host: first.name.clone(),
            steps: all,
        }],
    })
}

/// `kubewiz diagnose --stage addons`: the CoreDNS deployment is available (its rollout done);
/// otherwise why its pods do not run, for the catalog.
fn health_command() -> String {
    let kubectl = format!(
        "/usr/local/bin/kubectl --kubeconfig={} --request-timeout=10s",
        super::control_plane::flags::kubeconfig("admin")
    );
    let pods = Templates::new()
        .render(
            "addons/pods.sh",
            context! { kind => "deployment", name => coredns::NAME, selector => coredns::SELECTOR },
        )
        .expect("the embedded addons/pods.sh renders");
    format!(
        "K=\"{kubectl}\"\n{pods}\
         if out=$($K -n kube-system rollout status deployment/{name} --timeout=5s 2>&1 </dev/null); \
         then printf '%s\\n' \"$out\"; exit 0; fi\n\
         printf '%s\\n' \"$out\"\nexplain\nexit 1\n",
        name = coredns::NAME
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_dir::ClusterDir;
    use serde_yaml::Value;

    fn spec(extra: &str) -> ClusterSpec {
        crate::config::parse_str(&format!(
            "name: lab\nhosts:\n  - {{name: node1, address: 10.77.0.11, roles: [etcd, master, node]}}\n  - {{name: node2, address: 10.77.0.12, roles: [etcd, master, node]}}\nversions: {{kubernetes: 1.20.2}}\n{extra}"
        ))
        .unwrap()
    }

    fn built(spec: &ClusterSpec) -> Built {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
        let (opts, t) = (Default::default(), Templates::new());
        let ctx = BuildCtx { spec, dir: &dir, opts: &opts, templates: &t, registry: super::super::REGISTRY };
        build(&ctx).unwrap()
    }

    /// The objects of a manifest, by kind.
    fn docs(yaml: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect()
    }

    fn object<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
        docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"))
    }

    use serde::Deserialize;

    fn file_of(step: &Step) -> String {
        let StepAction::Files { files, .. } = &step.action else { panic!("{}", step.name) };
        let crate::plan::FileSource::Inline { content, .. } = &files[0].source else { panic!() };
        String::from_utf8(content.clone()).unwrap()
    }

    fn script_of(step: &Step) -> &str {
        let StepAction::Script { script, .. } = &step.action else { panic!("{}", step.name) };
        script
    }

    #[test]
    fn coredns_serves_the_cluster_domain_at_the_cluster_dns_address() {
        let s = spec(
            "network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.32.0.0/16, dns_domain: Lab.Example}\n",
        );
        let image = coredns::image(&s).unwrap();
        assert_eq!(image, coredns::Image { reference: "k8s.gcr.io/coredns:1.7.0".into(), archive: None });
        let d = docs(&coredns::manifest(&Templates::new(), &s, &image).unwrap());
        let kinds: Vec<&str> = d.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"]);
        let svc = object(&d, "Service");
        assert_eq!(svc["metadata"]["name"], "kube-dns");
        assert_eq!(svc["metadata"]["namespace"], "kube-system");
        // The 10th address of the service CIDR: what kubelet's clusterDNS points pods at.
        assert_eq!(svc["spec"]["clusterIP"], "10.32.0.10");
        assert_eq!(svc["spec"]["selector"]["k8s-app"], "kube-dns");
        let corefile = object(&d, "ConfigMap")["data"]["Corefile"].as_str().unwrap();
        assert!(corefile.contains("kubernetes lab.example in-addr.arpa ip6.arpa {"), "{corefile}");
        assert!(corefile.contains("forward . /etc/resolv.conf"), "{corefile}");
        let dep = object(&d, "Deployment");
        let pod = &dep["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "k8s.gcr.io/coredns:1.7.0");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["serviceAccountName"], "coredns");
        assert_eq!(dep["spec"]["selector"]["matchLabels"]["k8s-app"], "kube-dns");
        assert_eq!(dep["spec"]["template"]["metadata"]["labels"]["k8s-app"], "kube-dns");

        // An explicit network.cluster_dns wins.
        let s = spec("network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12, cluster_dns: 10.96.0.53}\n");
        let d = docs(&coredns::manifest(&Templates::new(), &s, &image).unwrap());
        assert_eq!(object(&d, "Service")["spec"]["clusterIP"], "10.96.0.53");
    }

    #[test]
    fn the_bundles_coredns_image_is_the_one_referenced() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("images")).unwrap();
        // The same repository and tag under another registry name: the bundle's reference.
        crate::addons::images::tests::write_archive(
            &tmp.path().join("images/coredns-1.7.0.tar"),
            &["registry.example/coredns:1.7.0"],
        );
        let mut s = spec("network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n");
        s.binaries = BinariesSpec::Bundle { bundle_dir: tmp.path().to_path_buf() };
        let image = coredns::image(&s).unwrap();
        assert_eq!(image.reference, "registry.example/coredns:1.7.0");
        assert_eq!(image.archive.as_deref(), Some("images/coredns-1.7.0.tar"));
        // A newer Kubernetes wants another CoreDNS: not in this bundle.
        s.versions.kubernetes = "1.22.3".into();
        let image = coredns::image(&s).unwrap();
        assert_eq!(image.reference, "k8s.gcr.io/coredns/coredns:v1.8.4");
        assert_eq!(image.archive, None);
        assert_eq!(coredns::tag(&image.reference), "v1.8.4");
    }

    /// Once, on the first master: CoreDNS's manifest, apply, wait; the wait knows the bundle's
    /// images and prints the component line.
    #[test]
    fn the_plan_applies_coredns_once_on_the_first_master() {
        let b = built(&spec("network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n"));
        assert_eq!(b.hosts.len(), 1);
        assert_eq!(b.hosts[0].host, "node1");
        let names: Vec<&str> = b.hosts[0].steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["coredns-manifest", "coredns-apply", "coredns-wait"]);
        assert!(b.hosts[0].steps.iter().all(|s| s.scope == StepScope::Once));
        let StepAction::Files { files, .. } = &b.hosts[0].steps[0].action else { panic!() };
        assert_eq!(files[0].path, "/etc/kubernetes/addons/coredns.yaml");
        assert!(file_of(&b.hosts[0].steps[0]).contains("clusterIP: 10.96.0.10"));
        let apply = script_of(&b.hosts[0].steps[1]);
        assert!(apply.contains("--server=https://10.77.0.11:6443"), "{apply}");
        assert!(apply.contains("apply -f /etc/kubernetes/addons/coredns.yaml"), "{apply}");
        let wait = script_of(&b.hosts[0].steps[2]);
        assert!(wait.contains("rollout status deployment/coredns"), "{wait}");
        assert!(wait.contains("kubewiz-component host=node1 name=coredns status="), "{wait}");
        // Every placeholder filled (the go-templates kubectl reads keep their own braces).
        assert!(!wait.contains("{{ ") && !wait.contains("{%"), "{wait}");
        parses(wait);
        parses(apply);
        assert!(
            b.description.contains("CoreDNS 1.7.0 at 10.96.0.10 for cluster.local")
                && b.description.contains("not in the bundle"),
            "{}",
            b.description
        );
    }

    /// With Calico: its rendered manifest first (the pod network), then CoreDNS.
    #[test]
    fn with_calico_its_manifest_is_applied_before_coredns() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/calico-shape.yaml"),
            bundle.join("calico-v3.29.1.yaml"),
        )
        .unwrap();
        let mut s = spec("network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\ncni: {plugin: calico}\n");
        s.versions.calico = "3.29.1".into();
        s.binaries = BinariesSpec::Bundle { bundle_dir: bundle.to_path_buf() };
        let b = built(&s);
        let names: Vec<&str> = b.hosts[0].steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["calico-manifest", "calico-apply", "calico-wait", "coredns-manifest", "coredns-apply", "coredns-wait"]
        );
        let manifest = file_of(&b.hosts[0].steps[0]);
        assert_eq!(manifest, crate::addons::calico::for_spec(&s).unwrap().unwrap().yaml);
        assert!(manifest.contains("10.244.0.0/16"));
        let wait = script_of(&b.hosts[0].steps[2]);
        assert!(wait.contains("rollout status daemonset/calico-node"), "{wait}");
        assert!(wait.contains("name=calico-node status="), "{wait}");
        parses(wait);
        assert!(b.description.contains("Calico 3.29.1"), "{}", b.description);
    }

    /// `sh -n`: the rendered script parses.
    fn parses(script: &str) {
        let out = std::process::Command::new("sh").arg("-n").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn health_waits_for_the_coredns_deployment() {
        let cmd = health_command();
        assert!(cmd.contains("rollout status deployment/coredns"), "{cmd}");
        assert!(cmd.contains("--kubeconfig=/etc/kubernetes/admin.conf"), "{cmd}");
        assert!(!cmd.contains("{{ ") && cmd.contains("{{range .items}}"), "{cmd}");
        parses(&cmd);
    }
}

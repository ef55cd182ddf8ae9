//! Calico's release manifest (calico.yaml, as Calico publishes it for a version), with the knobs
//! Calico documents for a manifest install set from the cluster file:
//! - CALICO_IPV4POOL_CIDR = `network.pod_cidr` (the release ships it commented out);
//! - the encapsulation of `cni.calico.mode`: CALICO_IPV4POOL_IPIP / CALICO_IPV4POOL_VXLAN, and
//!   the `calico_backend` of the calico-config ConfigMap (`vxlan` for VXLAN, which also takes
//!   the BIRD checks out of calico-node's liveness and readiness probes);
//! - IP_AUTODETECTION_METHOD = `cidr=` the cluster addresses of the hosts that run pods, so
//!   calico-node picks the address kubewiz connects to and not the NIC of the default route;
//! - every image the bundle carries (`images/*.tar`) referenced as the bundle names it, with
//!   `imagePullPolicy: IfNotPresent`: the runtime stage loads those archives on each host.
//!
//! The CRDs and RBAC are passed through untouched (see [`super::yaml_docs`]).

use super::images::{self, BundleImage};
use super::yaml_docs::Docs;
use super::{Change, Rendered};
use crate::config::{BinariesSpec, CalicoMode, ClusterSpec, CniSpec, Role};
use anyhow::{bail, Context, Result};
use serde_yaml::{Mapping, Value};
use std::path::Path;

const DAEMONSET: &str = "calico-node";
const CONFIG_MAP: &str = "calico-config";

/// The manifest's file name in the bundle for Calico `version` (`calico-v3.29.1.yaml`): the
/// release's calico.yaml, renamed so a bundle can hold several versions.
pub fn manifest_file(version: &str) -> String {
    format!("calico-v{}.yaml", version.trim_start_matches('v'))
}

/// The rendered manifest when the cluster file asks for Calico.
pub fn for_spec(spec: &ClusterSpec) -> Result<Option<Rendered>> {
    let CniSpec::Calico { calico } = &spec.cni else {
        return Ok(None);
    };
    let file = manifest_file(&spec.versions.calico);
    let bundle = match &spec.binaries {
        BinariesSpec::Bundle { bundle_dir } => bundle_dir,
        other => bail!(
            "cni.plugin: calico needs Calico's release manifest ({file}) from a bundle \
             (binaries.source: bundle); binaries.source {} is not supported for it yet",
            match other {
                BinariesSpec::Mirror { .. } => "mirror",
                _ => "installed",
            }
        ),
    };
    let source = bundle.join(&file);
    let text = std::fs::read_to_string(&source).with_context(|| {
        format!(
            "binaries.bundle_dir: Calico {}'s manifest {} is missing or unreadable (put the \
             release's calico.yaml there under that name)",
            spec.versions.calico,
            source.display()
        )
    })?;
    let images = images::in_bundle(bundle)?;
    let mut r = render(spec, calico.mode, &text, &source, &images)?;
    r.source = source;
    Ok(Some(r))
}

/// `text` (a calico.yaml) with the knobs set; `source` names it in errors.
pub fn render(
    spec: &ClusterSpec,
    mode: CalicoMode,
    text: &str,
    source: &Path,
    images: &[BundleImage],
) -> Result<Rendered> {
    let what = source.display().to_string();
    let mut docs = Docs::parse(text, &what)?;
    let mut changes = vec![];
    let mut warnings = vec![];

    let backend = match mode {
        CalicoMode::Vxlan => "vxlan",
        CalicoMode::Ipip | CalicoMode::Bgp => "bird",
    };
    match docs
        .object_mut("ConfigMap", CONFIG_MAP)
        .and_then(|c| c.get_mut("data"))
        .and_then(Value::as_mapping_mut)
    {
        Some(data) => set(
            data,
            "calico_backend",
            backend,
            format!("ConfigMap {CONFIG_MAP}: calico_backend"),
            mode_reason(mode),
            &mut changes,
        ),
        None => warnings.push(format!(
            "{what} has no ConfigMap {CONFIG_MAP} with data: calico_backend was not set"
        )),
    }

    let node = docs.object_mut("DaemonSet", DAEMONSET).with_context(|| {
        format!("{what} has no DaemonSet {DAEMONSET}: is it Calico's calico.yaml?")
    })?;
    let pod_spec = pod_spec_mut(node)
        .with_context(|| format!("{what}: DaemonSet {DAEMONSET} has no pod template"))?;
    let container = containers_mut(pod_spec, "containers")
        .find(|c| c.get("name").and_then(Value::as_str) == Some(DAEMONSET))
        .with_context(|| {
            format!("{what}: DaemonSet {DAEMONSET} has no container named {DAEMONSET}")
        })?;
    let at = |name: &str| format!("DaemonSet {DAEMONSET}, container {DAEMONSET}: env {name}");
    let (ipip, vxlan) = match mode {
        CalicoMode::Ipip => ("Always", "Never"),
        CalicoMode::Vxlan => ("Never", "Always"),
        CalicoMode::Bgp => ("Never", "Never"),
    };
    for (name, value, because) in [
        (
            "CALICO_IPV4POOL_CIDR",
            spec.network.pod_cidr.clone(),
            "network.pod_cidr".to_string(),
        ),
        ("CALICO_IPV4POOL_IPIP", ipip.to_string(), mode_reason(mode)),
        (
            "CALICO_IPV4POOL_VXLAN",
            vxlan.to_string(),
            mode_reason(mode),
        ),
        (
            "IP_AUTODETECTION_METHOD",
            autodetection(spec),
            "the hosts' cluster addresses".to_string(),
        ),
    ] {
        set_env(container, name, &value, at(name), because, &mut changes);
    }
    if mode == CalicoMode::Vxlan {
        for (probe, check) in [
            ("livenessProbe", "-bird-live"),
            ("readinessProbe", "-bird-ready"),
        ] {
            drop_probe_arg(container, probe, check, &mut changes);
        }
    }

    for workload in docs.objects_mut(&["DaemonSet", "Deployment"]) {
        let owner = format!(
            "{} {}",
            workload.get("kind").and_then(Value::as_str).unwrap_or(""),
            workload
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        let Some(pod) = pod_spec_mut(workload) else {
            continue;
        };
        for list in ["initContainers", "containers"] {
            for c in containers_mut(pod, list) {
                point_at_bundle(c, &owner, images, &mut changes, &mut warnings);
            }
        }
    }
    Ok(Rendered {
        name: "calico",
        source: source.to_path_buf(),
        yaml: docs.render()?,
        changes,
        warnings,
    })
}

fn mode_reason(mode: CalicoMode) -> String {
    let m = match mode {
        CalicoMode::Ipip => "ipip",
        CalicoMode::Vxlan => "vxlan",
        CalicoMode::Bgp => "bgp",
    };
    format!("cni.calico.mode {m}")
}

/// `cidr=` each host's cluster address as a host prefix: exactly the addresses kubewiz uses.
fn autodetection(spec: &ClusterSpec) -> String {
    let mut hosts: Vec<&str> = vec![];
    for h in spec
        .hosts_with_role(Role::Master)
        .into_iter()
        .chain(spec.hosts_with_role(Role::Node))
    {
        if !hosts.contains(&h.address.as_str()) {
            hosts.push(&h.address);
        }
    }
    let cidrs: Vec<String> = hosts
        .iter()
        .map(|a| match a.contains(':') {
            true => format!("{a}/128"),
            false => format!("{a}/32"),
        })
        .collect();
    format!("cidr={}", cidrs.join(","))
}

fn pod_spec_mut(workload: &mut Value) -> Option<&mut Value> {
    workload
        .get_mut("spec")?
        .get_mut("template")?
        .get_mut("spec")
}

fn containers_mut<'a>(pod: &'a mut Value, list: &str) -> impl Iterator<Item = &'a mut Value> {
    pod.get_mut(list)
        .and_then(Value::as_sequence_mut)
        .into_iter()
        .flatten()
}

/// Set `key` of a mapping to a string, recording the change when it differs.
fn set(
    map: &mut Mapping,
    key: &str,
    value: &str,
    at: String,
    because: String,
    changes: &mut Vec<Change>,
) {
    let from = map.get(key).map(show);
    if from.as_deref() == Some(value) {
        return;
    }
    map.insert(key.into(), value.into());
    changes.push(Change {
        at,
        from,
        to: value.to_string(),
        because,
    });
}

/// Set env `name` of a container to `value` (replacing a `valueFrom`), added when missing.
fn set_env(
    container: &mut Value,
    name: &str,
    value: &str,
    at: String,
    because: String,
    changes: &mut Vec<Change>,
) {
    let Some(c) = container.as_mapping_mut() else {
        return;
    };
    let env = c
        .entry("env".into())
        .or_insert_with(|| Value::Sequence(vec![]));
    let Some(env) = env.as_sequence_mut() else {
        return;
    };
    let entry = |value: &str| {
        let mut m = Mapping::new();
        m.insert("name".into(), name.into());
        m.insert("value".into(), value.into());
        Value::Mapping(m)
    };
    match env
        .iter_mut()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(e) => {
            let from = match (e.get("value"), e.get("valueFrom")) {
                (Some(v), _) => show(v),
                (None, Some(_)) => "(from another object: valueFrom)".to_string(),
                (None, None) => String::new(),
            };
            if e.get("valueFrom").is_none() && from == value {
                return;
            }
            *e = entry(value);
            changes.push(Change {
                at,
                from: Some(from),
                to: value.into(),
                because,
            });
        }
        None => {
            env.push(entry(value));
            changes.push(Change {
                at,
                from: None,
                to: value.into(),
                because,
            });
        }
    }
}

/// Take `arg` out of a probe's exec command (BIRD's checks when BIRD does not run).
fn drop_probe_arg(container: &mut Value, probe: &str, arg: &str, changes: &mut Vec<Change>) {
    let Some(cmd) = container
        .get_mut(probe)
        .and_then(|p| p.get_mut("exec"))
        .and_then(|e| e.get_mut("command"))
        .and_then(Value::as_sequence_mut)
    else {
        return;
    };
    let before = cmd.iter().map(show).collect::<Vec<_>>().join(" ");
    let n = cmd.len();
    cmd.retain(|a| a.as_str() != Some(arg));
    if cmd.len() != n {
        changes.push(Change {
            at: format!("DaemonSet {DAEMONSET}, container {DAEMONSET}: {probe}"),
            from: Some(before),
            to: cmd.iter().map(show).collect::<Vec<_>>().join(" "),
            because: "cni.calico.mode vxlan runs no BIRD".into(),
        });
    }
}

/// Reference the bundle's copy of the container's image, or warn that the bundle lacks it.
fn point_at_bundle(
    c: &mut Value,
    owner: &str,
    images: &[BundleImage],
    changes: &mut Vec<Change>,
    warnings: &mut Vec<String>,
) {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(wanted) = c.get("image").and_then(Value::as_str).map(str::to_string) else {
        return;
    };
    let Some(m) = c.as_mapping_mut() else {
        return;
    };
    let at = format!("{owner}, container {name}");
    match images::matching(images, &wanted) {
        Some((image, reference)) => {
            let file = image
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            set(
                m,
                "image",
                reference,
                format!("{at}: image"),
                format!("the bundle's images/{file}"),
                changes,
            );
            set(
                m,
                "imagePullPolicy",
                "IfNotPresent",
                format!("{at}: imagePullPolicy"),
                format!("loaded from the bundle's images/{file}, never pulled"),
                changes,
            );
        }
        None => warnings.push(format!(
            "{at} uses {wanted}, which is not in the bundle (images/*.tar): the nodes would \
             have to pull it"
        )),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: &str = include_str!("../../tests/fixtures/calico-shape.yaml");

    fn spec() -> ClusterSpec {
        crate::config::parse_str(
            "name: t\n\
             defaults: {user: kube, auth: {method: agent}}\n\
             hosts:\n\
             - {name: node1, address: 10.77.0.11, roles: [etcd, master, node]}\n\
             - {name: node2, address: 10.77.0.12, roles: [etcd, node]}\n\
             - {name: e3, address: 10.77.0.19, roles: [etcd]}\n\
             network: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n\
             cni: {plugin: calico}\n",
        )
        .unwrap()
    }

    fn rendered(mode: CalicoMode, images: &[BundleImage]) -> Rendered {
        render(
            &spec(),
            mode,
            SHAPE,
            Path::new("calico-v3.29.1.yaml"),
            images,
        )
        .unwrap()
    }

    fn node_env(r: &Rendered, name: &str) -> Option<String> {
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&r.yaml)
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
        let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
        ds["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap_or("(valueFrom)").to_string())
    }
    use serde::Deserialize;

    #[test]
    fn ipip_sets_the_pool_and_the_addresses() {
        let r = rendered(CalicoMode::Ipip, &[]);
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_CIDR").as_deref(),
            Some("10.244.0.0/16")
        );
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_IPIP").as_deref(),
            Some("Always")
        );
        assert_eq!(
            node_env(&r, "IP_AUTODETECTION_METHOD").as_deref(),
            // the etcd-only host runs no pods
            Some("cidr=10.77.0.11/32,10.77.0.12/32")
        );
        let cidr = r
            .changes
            .iter()
            .find(|c| c.at.ends_with("CALICO_IPV4POOL_CIDR"))
            .unwrap();
        assert_eq!(cidr.from, None, "commented out in the release");
        assert!(cidr
            .to_string()
            .contains("(unset) -> 10.244.0.0/16 (network.pod_cidr)"));
        // already as asked: not a change
        assert!(!r.changes.iter().any(|c| c.at.contains("calico_backend")));
        assert!(!r
            .changes
            .iter()
            .any(|c| c.at.ends_with("CALICO_IPV4POOL_IPIP")));
    }

    #[test]
    fn vxlan_switches_the_backend_and_drops_the_bird_checks() {
        let r = rendered(CalicoMode::Vxlan, &[]);
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_VXLAN").as_deref(),
            Some("Always")
        );
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_IPIP").as_deref(),
            Some("Never")
        );
        assert!(r.yaml.contains("calico_backend: vxlan"), "{}", r.yaml);
        assert!(!r.yaml.contains("-bird-live") && !r.yaml.contains("-bird-ready"));
        assert!(r.yaml.contains("-felix-live"));
        let probe = r
            .changes
            .iter()
            .find(|c| c.at.ends_with("livenessProbe"))
            .unwrap();
        assert_eq!(probe.to, "/bin/calico-node -felix-live");
    }

    #[test]
    fn bgp_has_no_encapsulation() {
        let r = rendered(CalicoMode::Bgp, &[]);
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_IPIP").as_deref(),
            Some("Never")
        );
        assert_eq!(
            node_env(&r, "CALICO_IPV4POOL_VXLAN").as_deref(),
            Some("Never")
        );
        assert!(r.yaml.contains("-bird-live"));
    }

    #[test]
    fn images_point_at_the_bundle_and_missing_ones_are_named() {
        let images = vec![BundleImage {
            file: "/b/images/calico-node-v3.29.1.tar".into(),
            references: vec!["calico/node:v3.29.1".into()],
        }];
        let r = rendered(CalicoMode::Ipip, &images);
        assert!(r.yaml.contains("image: calico/node:v3.29.1"), "{}", r.yaml);
        let c = r
            .changes
            .iter()
            .find(|c| c.at == "DaemonSet calico-node, container calico-node: image")
            .unwrap();
        assert_eq!(c.from.as_deref(), Some("docker.io/calico/node:v3.29.1"));
        assert!(c.because.contains("images/calico-node-v3.29.1.tar"));
        for missing in [
            "docker.io/calico/cni:v3.29.1",
            "docker.io/calico/kube-controllers:v3.29.1",
        ] {
            assert!(
                r.warnings.iter().any(|w| w.contains(missing)),
                "{:?}",
                r.warnings
            );
        }
    }

    #[test]
    fn the_crds_pass_through_as_published() {
        let r = rendered(CalicoMode::Ipip, &[]);
        assert!(r
            .yaml
            .contains("x-kubernetes-preserve-unknown-fields: true   # kept byte for byte"));
        // rendering the rendered file again changes nothing
        let again = render(&spec(), CalicoMode::Ipip, &r.yaml, Path::new("x"), &[]).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert_eq!(again.yaml, r.yaml);
    }

    #[test]
    fn a_manifest_without_calico_node_is_refused_by_name() {
        let e = render(
            &spec(),
            CalicoMode::Ipip,
            "kind: ConfigMap\nmetadata: {name: x}\n",
            Path::new("/b/calico-v3.29.1.yaml"),
            &[],
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("/b/calico-v3.29.1.yaml has no DaemonSet calico-node"),
            "{e:#}"
        );
    }

    #[test]
    fn only_a_bundle_holds_the_manifest() {
        let mut s = spec();
        let e = for_spec(&s).unwrap_err();
        assert!(format!("{e}").contains("calico-v3.29.1.yaml"), "{e}");
        s.binaries = BinariesSpec::Bundle {
            bundle_dir: "/nonexistent-bundle".into(),
        };
        let e = for_spec(&s).unwrap_err();
        assert!(
            format!("{e}").contains("/nonexistent-bundle/calico-v3.29.1.yaml"),
            "{e}"
        );
    }
}

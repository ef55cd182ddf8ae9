//! The schema in `parse.rs` is written by hand beside `model.rs`; these tests fail when the two
//! drift apart, in both directions:
//!
//! - model → schema: specs that set every key and use every tagged variant are written with
//!   `to_yaml` and read back by `parse_str` without a finding (an unknown key, a wrong type or
//!   an unknown value would be one).
//! - schema → model: every key path of the schema is written by one of those specs; each
//!   unit enum of the schema allows exactly the names serde has for the model's enum; each
//!   tagged enum exactly the variants the specs use.
//! - presence: leaving a key out fails in serde exactly when the schema says `Required`, and
//!   `null` reads as unset exactly when it says `Optional`.

use super::{parse_str, Field, Kind, Presence, ROOT};
use crate::config::{
    to_yaml, ApiServerSpec, AuthSpec, BinariesSpec, CalicoMode, CalicoSpec, CgroupDriver,
    ClusterSpec, CniSpec, ConntrackSpec, FlannelBackend, FlannelSpec, HostDefaults, HostSpec,
    KeyAlgorithm, KubeProxySpec, NetworkSpec, PkiSpec, Role, Runtime, Versions,
};
use serde::de::{self, DeserializeOwned, Visitor};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `a.b` / `a[]`: a key path with list indices left out.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// What the schema says, by key path.
#[derive(Default)]
struct Schema {
    keys: BTreeMap<String, &'static Presence>,
    /// Unit enums and tags: the allowed names.
    enums: BTreeMap<String, BTreeSet<String>>,
    tags: BTreeSet<String>,
}

const REQUIRED: Presence = Presence::Required;

fn walk_schema(kind: &'static Kind, path: &str, out: &mut Schema) {
    match kind {
        Kind::Str | Kind::Port | Kind::Count | Kind::Bool => {}
        Kind::Enum { values, .. } => {
            out.enums
                .insert(path.into(), values.iter().map(|v| v.to_string()).collect());
        }
        Kind::List { item, .. } => walk_schema(item, &format!("{path}[]"), out),
        Kind::Map(fields) => walk_fields(fields, path, out),
        Kind::Tagged { tag, variants, .. } => {
            let at = join(path, tag);
            out.keys.insert(at.clone(), &REQUIRED);
            out.tags.insert(at.clone());
            out.enums
                .insert(at, variants.iter().map(|v| v.name.to_string()).collect());
            for v in *variants {
                walk_fields(v.fields, path, out);
            }
        }
    }
}

fn walk_fields(fields: &'static [Field], path: &str, out: &mut Schema) {
    for f in fields {
        let at = join(path, f.key);
        out.keys.insert(at.clone(), &f.presence);
        walk_schema(f.kind, &at, out);
    }
}

fn schema() -> Schema {
    let mut s = Schema::default();
    walk_schema(&ROOT, "", &mut s);
    s
}

/// Key paths of a YAML tree, and the string values found under each path.
fn walk_value(
    v: &Value,
    path: &str,
    keys: &mut BTreeSet<String>,
    values: &mut BTreeMap<String, BTreeSet<String>>,
) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let at = join(path, k.as_str().expect("string keys"));
                keys.insert(at.clone());
                walk_value(v, &at, keys, values);
            }
        }
        Value::Sequence(items) => {
            for it in items {
                walk_value(it, &format!("{path}[]"), keys, values);
            }
        }
        Value::String(s) => {
            values.entry(path.into()).or_default().insert(s.clone());
        }
        _ => {}
    }
}

/// Every concrete key location of a YAML tree (`["hosts", 1, "auth"]`), for the presence test.
fn locations(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                at.push(k.clone());
                out.push(at.clone());
                locations(v, at, out);
                at.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, it) in items.iter().enumerate() {
                at.push(Value::Number(i.into()));
                locations(it, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// `hosts[].auth` for `["hosts", 1, "auth"]`.
fn path_of(location: &[Value]) -> String {
    location.iter().fold(String::new(), |p, seg| match seg {
        Value::String(k) => join(&p, k),
        _ => format!("{p}[]"),
    })
}

/// The value at `location`'s parent, and the last segment.
fn parent_mut<'v>(root: &'v mut Value, location: &[Value]) -> &'v mut serde_yaml::Mapping {
    let mut v = root;
    for seg in &location[..location.len() - 1] {
        v = match seg {
            Value::Number(n) => &mut v.as_sequence_mut().unwrap()[n.as_u64().unwrap() as usize],
            key => v.as_mapping_mut().unwrap().get_mut(key).unwrap(),
        };
    }
    v.as_mapping_mut().unwrap()
}

/// The serde names of a unit enum's variants, as its derived `Deserialize` declares them (after
/// `rename_all`): asked of a deserializer that only records them.
fn variant_names<T: DeserializeOwned>() -> BTreeSet<String> {
    struct Recorder(Option<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &mut Recorder {
        type Error = de::value::Error;
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(variants);
            Err(de::Error::custom("recorded"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a unit enum"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }
    let mut r = Recorder(None);
    let _ = T::deserialize(&mut r);
    r.0.expect("a unit enum with a derived Deserialize")
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The schema's unit enums and the model types at their paths. A new enum in the schema must
/// be added here (the test says so).
fn model_enums() -> BTreeMap<String, BTreeSet<String>> {
    [
        ("hosts[].roles[]", variant_names::<Role>()),
        ("cni.flannel.backend", variant_names::<FlannelBackend>()),
        ("cni.calico.mode", variant_names::<CalicoMode>()),
        ("runtime", variant_names::<Runtime>()),
        ("cgroup_driver", variant_names::<CgroupDriver>()),
        ("pki.key_algorithm", variant_names::<KeyAlgorithm>()),
    ]
    .into_iter()
    .map(|(p, v)| (p.to_string(), v))
    .collect()
}

/// Names every variant of the tagged enums, so adding one fails to compile here: then build a
/// spec with it in [`full_specs`] (and add it to the schema).
fn tagged_variant(auth: &AuthSpec, cni: &CniSpec, binaries: &BinariesSpec) -> [&'static str; 3] {
    [
        match auth {
            AuthSpec::Key { .. } => "key",
            AuthSpec::Agent => "agent",
            AuthSpec::Password { .. } => "password",
        },
        match cni {
            CniSpec::Flannel { .. } => "flannel",
            CniSpec::Calico { .. } => "calico",
        },
        match binaries {
            BinariesSpec::Bundle { .. } => "bundle",
            BinariesSpec::Mirror { .. } => "mirror",
            BinariesSpec::Installed => "installed",
        },
    ]
}

fn host(name: &str, auth: AuthSpec) -> HostSpec {
    HostSpec {
        name: name.into(),
        address: "10.0.0.1".into(),
        port: Some(2222),
        user: Some("kube".into()),
        auth: Some(auth),
        sudo: Some(true),
        roles: Role::ALL.to_vec(),
    }
}

/// Specs that together set every key (no `None`, no empty list, nothing left at a default that
/// serialization would drop) and use every variant of the tagged enums.
fn full_specs() -> Vec<ClusterSpec> {
    let key = AuthSpec::Key {
        key_file: "/keys/id".into(),
        passphrase_env: Some("PASS".into()),
    };
    let password = AuthSpec::Password {
        password_env: Some("PW".into()),
    };
    let base = ClusterSpec {
        name: "full".into(),
        defaults: HostDefaults {
            port: Some(22),
            user: Some("ops".into()),
            auth: Some(key.clone()),
            sudo: Some(false),
        },
        hosts: vec![
            host("a", key),
            host("b", password),
            host("c", AuthSpec::Agent),
        ],
        network: NetworkSpec {
            pod_cidr: "10.244.0.0/16".into(),
            service_cidr: "10.96.0.0/12".into(),
            cluster_dns: Some("10.96.0.10".into()),
            dns_domain: "cluster.example".into(),
        },
        cni: CniSpec::Flannel {
            flannel: FlannelSpec {
                backend: FlannelBackend::HostGw,
            },
        },
        runtime: Runtime::Containerd,
        cgroup_driver: CgroupDriver::Systemd,
        versions: Versions::default(),
        binaries: BinariesSpec::Bundle {
            bundle_dir: "/bundle".into(),
        },
        apiserver: ApiServerSpec {
            vip: Some("10.0.0.100".into()),
            extra_sans: vec!["k8s.example".into()],
            port: Some(6443),
        },
        pki: PkiSpec {
            key_algorithm: KeyAlgorithm::Ecdsa,
        },
        kube_proxy: KubeProxySpec {
            conntrack: ConntrackSpec {
                max_per_core: Some(0),
                tcp_established_timeout: Some("0s".into()),
                tcp_close_wait_timeout: Some("1h0m0s".into()),
            },
        },
    };
    let calico = ClusterSpec {
        defaults: HostDefaults {
            auth: Some(AuthSpec::Agent),
            ..base.defaults.clone()
        },
        cni: CniSpec::Calico {
            calico: CalicoSpec {
                mode: CalicoMode::Bgp,
            },
        },
        binaries: BinariesSpec::Mirror {
            mirror_url: "http://mirror.example".into(),
        },
        ..base.clone()
    };
    let installed = ClusterSpec {
        defaults: HostDefaults {
            auth: Some(AuthSpec::Password {
                password_env: Some("PW".into()),
            }),
            ..base.defaults.clone()
        },
        binaries: BinariesSpec::Installed,
        ..base.clone()
    };
    vec![base, calico, installed]
}

fn full_values() -> Vec<Value> {
    full_specs()
        .iter()
        .map(|s| serde_yaml::from_str(&to_yaml(s)).unwrap())
        .collect()
}

#[test]
fn everything_the_model_writes_the_schema_reads() {
    for spec in full_specs() {
        let text = to_yaml(&spec);
        match parse_str(&text) {
            Ok(back) => assert_eq!(back, spec, "{text}"),
            Err(findings) => panic!(
                "the schema in parse.rs rejects what model.rs writes; bring it in step:\n{}\n{text}",
                findings
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
}

#[test]
fn every_schema_key_is_a_model_key() {
    let mut keys = BTreeSet::new();
    let mut values = BTreeMap::new();
    for v in full_values() {
        walk_value(&v, "", &mut keys, &mut values);
    }
    let schema = schema();
    let unknown: Vec<&String> = schema.keys.keys().filter(|k| !keys.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "parse.rs's schema has keys model.rs never writes (or full_specs leaves unset): {unknown:?}"
    );
    // Tags: the variants the schema knows are the ones the model has.
    for tag in &schema.tags {
        assert_eq!(
            values.get(tag),
            schema.enums.get(tag),
            "variants of {tag}: model (left) and schema (right)"
        );
    }
    // And full_specs uses each of them (tagged_variant names every model variant).
    let mut used: [BTreeSet<String>; 3] = Default::default();
    for s in full_specs() {
        for h in &s.hosts {
            let names = tagged_variant(h.auth.as_ref().unwrap(), &s.cni, &s.binaries);
            for (set, name) in used.iter_mut().zip(names) {
                set.insert(name.to_string());
            }
        }
    }
    for (set, tag) in used
        .iter()
        .zip(["hosts[].auth.method", "cni.plugin", "binaries.source"])
    {
        assert_eq!(Some(set), schema.enums.get(tag), "variants of {tag}");
    }
}

#[test]
fn schema_enums_are_the_model_enums() {
    let schema = schema();
    let units: BTreeMap<String, BTreeSet<String>> = schema
        .enums
        .into_iter()
        .filter(|(path, _)| !schema.tags.contains(path))
        .collect();
    assert_eq!(
        units,
        model_enums(),
        "enum values: schema (left) and model (right); a new enum goes into model_enums too"
    );
}

#[test]
fn required_keys_are_the_ones_serde_requires() {
    let schema = schema();
    let mut wrong = Vec::new();
    for root in full_values() {
        let mut all = Vec::new();
        locations(&root, &mut Vec::new(), &mut all);
        for location in all {
            let path = path_of(&location);
            let presence = schema.keys[&path];
            let last = location.last().unwrap();

            let mut without = root.clone();
            parent_mut(&mut without, &location).remove(last);
            let reads = read(&without).is_ok();
            if reads == (*presence == Presence::Required) {
                wrong.push(format!(
                    "{path}: the schema says {}, serde {} the spec without it",
                    name(presence),
                    if reads { "reads" } else { "rejects" }
                ));
            }

            let mut null = root.clone();
            *parent_mut(&mut null, &location).get_mut(last).unwrap() = Value::Null;
            let unset = read(&null).is_ok_and(|s| read(&without).is_ok_and(|w| w == s));
            if unset != (*presence == Presence::Optional) {
                wrong.push(format!(
                    "{path}: the schema says {}, but null {} as leaving it out",
                    name(presence),
                    if unset {
                        "reads the same"
                    } else {
                        "does not read the same"
                    }
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The spec serde reads from the text of `v` (as a cluster file is read: from text, where an
/// explicit null differs from an empty value).
fn read(v: &Value) -> Result<ClusterSpec, serde_yaml::Error> {
    serde_yaml::from_str(&serde_yaml::to_string(v).unwrap())
}

fn name(p: &Presence) -> &'static str {
    match p {
        Presence::Required => "Required",
        Presence::Optional => "Optional",
        Presence::Defaulted => "Defaulted",
    }
}

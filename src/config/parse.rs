//! Parsing: YAML syntax, shape and types, unknown keys — every problem at once, each with its
//! path and, where the YAML parser can tell, its line and column.
//!
//! serde alone stops at the first error and does not see unknown keys inside internally tagged
//! enums (`auth`, `cni`, `binaries`: serde buffers them), so the document is first read as a
//! [`Value`] tree and walked against [`ROOT`], a description of the model's keys and types.
//! Only when that walk finds nothing is the text deserialized into the model (from the text, not
//! the tree, so `etcd: 3.4` stays the string "3.4"). Line and column of a finding come from
//! [`locate`], which replays the text and stops at the finding's path.

use super::{ClusterSpec, Finding, Role, Severity};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;
use std::fmt::{self, Write as _};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// `hosts[1].auth.key_file`.
pub(crate) fn path_string(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The schema: keys and types of `model.rs`, as YAML sees them.

enum Kind {
    /// Any scalar (serde reads numbers and booleans into strings as written).
    Str,
    /// `Option<u16>`.
    Port,
    /// A whole number from 0 (`Option<u32>`).
    Count,
    Bool,
    /// A unit-variant enum.
    Enum {
        noun: &'static str,
        values: &'static [&'static str],
    },
    List {
        item: &'static Kind,
        what: &'static str,
    },
    Map(&'static [Field]),
    /// An internally tagged enum: a mapping whose `tag` key picks the variant.
    Tagged {
        tag: &'static str,
        noun: &'static str,
        variants: &'static [Variant],
    },
}

#[derive(PartialEq)]
enum Presence {
    /// No serde default: the key must be there.
    Required,
    /// An `Option`: missing or null means unset.
    Optional,
    /// `#[serde(default)]`.
    Defaulted,
}

struct Field {
    key: &'static str,
    kind: &'static Kind,
    presence: Presence,
}

struct Variant {
    name: &'static str,
    fields: &'static [Field],
}

const fn field(key: &'static str, kind: &'static Kind, presence: Presence) -> Field {
    Field {
        key,
        kind,
        presence,
    }
}

use Presence::{Defaulted, Optional, Required};

const AUTH: Kind = Kind::Tagged {
    tag: "method",
    noun: "auth method",
    variants: &[
        Variant {
            name: "key",
            fields: &[
                field("key_file", &Kind::Str, Required),
                field("passphrase_env", &Kind::Str, Optional),
            ],
        },
        Variant {
            name: "agent",
            fields: &[],
        },
        Variant {
            name: "password",
            fields: &[field("password_env", &Kind::Str, Optional)],
        },
    ],
};

const DEFAULTS: Kind = Kind::Map(&[
    field("port", &Kind::Port, Optional),
    field("user", &Kind::Str, Optional),
    field("auth", &AUTH, Optional),
    field("sudo", &Kind::Bool, Optional),
]);

const ROLE: Kind = Kind::Enum {
    noun: "role",
    values: &Role::NAMES,
};

const HOST: Kind = Kind::Map(&[
    field("name", &Kind::Str, Required),
    field("address", &Kind::Str, Required),
    field("port", &Kind::Port, Optional),
    field("user", &Kind::Str, Optional),
    field("auth", &AUTH, Optional),
    field("sudo", &Kind::Bool, Optional),
    field(
        "roles",
        &Kind::List {
            item: &ROLE,
            what: "a list of roles, e.g. [etcd, master, node]",
        },
        Required,
    ),
]);

const NETWORK: Kind = Kind::Map(&[
    field("pod_cidr", &Kind::Str, Required),
    field("service_cidr", &Kind::Str, Required),
    field("cluster_dns", &Kind::Str, Optional),
    field("dns_domain", &Kind::Str, Defaulted),
]);

const CNI: Kind = Kind::Tagged {
    tag: "plugin",
    noun: "cni plugin",
    variants: &[
        Variant {
            name: "flannel",
            fields: &[field(
                "flannel",
                &Kind::Map(&[field(
                    "backend",
                    &Kind::Enum {
                        noun: "flannel backend",
                        values: &["vxlan", "host-gw"],
                    },
                    Defaulted,
                )]),
                Defaulted,
            )],
        },
        Variant {
            name: "calico",
            fields: &[field(
                "calico",
                &Kind::Map(&[field(
                    "mode",
                    &Kind::Enum {
                        noun: "calico mode",
                        values: &["ipip", "vxlan", "bgp"],
                    },
                    Defaulted,
                )]),
                Defaulted,
            )],
        },
    ],
};

const VERSIONS: Kind = Kind::Map(&[
    field("kubernetes", &Kind::Str, Defaulted),
    field("etcd", &Kind::Str, Defaulted),
    field("flannel", &Kind::Str, Defaulted),
    field("calico", &Kind::Str, Defaulted),
    field("cni_plugins", &Kind::Str, Defaulted),
]);

const BINARIES: Kind = Kind::Tagged {
    tag: "source",
    noun: "binaries source",
    variants: &[
        Variant {
            name: "bundle",
            fields: &[field("bundle_dir", &Kind::Str, Required)],
        },
        Variant {
            name: "mirror",
            fields: &[field("mirror_url", &Kind::Str, Required)],
        },
        Variant {
            name: "installed",
            fields: &[],
        },
    ],
};

const APISERVER: Kind = Kind::Map(&[
    field("vip", &Kind::Str, Optional),
    field(
        "extra_sans",
        &Kind::List {
            item: &Kind::Str,
            what: "a list of IP addresses and DNS names, e.g. [k8s.example.internal]",
        },
        Defaulted,
    ),
    field("port", &Kind::Port, Optional),
]);

const PKI: Kind = Kind::Map(&[field(
    "key_algorithm",
    &Kind::Enum {
        noun: "key algorithm",
        values: &["rsa", "ecdsa"],
    },
    Defaulted,
)]);

const KUBE_PROXY: Kind = Kind::Map(&[field(
    "conntrack",
    &Kind::Map(&[
        field("max_per_core", &Kind::Count, Optional),
        field("tcp_established_timeout", &Kind::Str, Optional),
        field("tcp_close_wait_timeout", &Kind::Str, Optional),
    ]),
    Defaulted,
)]);

const ROOT: Kind = Kind::Map(&[
    field("name", &Kind::Str, Required),
    field("defaults", &DEFAULTS, Defaulted),
    field(
        "hosts",
        &Kind::List {
            item: &HOST,
            what: "a list of hosts",
        },
        Required,
    ),
    field("network", &NETWORK, Required),
    field("cni", &CNI, Defaulted),
    field(
        "runtime",
        &Kind::Enum {
            noun: "runtime",
            values: &["docker", "containerd"],
        },
        Defaulted,
    ),
    field(
        "cgroup_driver",
        &Kind::Enum {
            noun: "cgroup driver",
            values: &["auto", "systemd", "cgroupfs"],
        },
        Defaulted,
    ),
    field("versions", &VERSIONS, Defaulted),
    field("binaries", &BINARIES, Defaulted),
    field("apiserver", &APISERVER, Defaulted),
    field("pki", &PKI, Defaulted),
    field("kube_proxy", &KUBE_PROXY, Defaulted),
]);

// ---------------------------------------------------------------------------------------------

/// Parses a cluster file: YAML syntax, types, unknown keys at any depth. Every problem of these
/// kinds is reported at once; semantic checks are [`super::validate`]'s.
pub fn parse_str(text: &str) -> Result<ClusterSpec, Vec<Finding>> {
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => return Err(vec![syntax_finding(&e)]),
    };
    if root.is_null() {
        return Err(vec![error(
            "",
            "the file is empty; it needs at least name, hosts and network".into(),
        )]);
    }
    let mut walker = Walker {
        text,
        findings: Vec::new(),
    };
    walker.check(&root, &ROOT, &mut Vec::new());
    if !walker.findings.is_empty() {
        return Err(walker.findings);
    }
    serde_yaml::from_str(text).map_err(|e| vec![fallback_finding(&e)])
}

fn error(path: &str, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        path: path.into(),
        message,
    }
}

fn with_location(message: String, loc: Option<serde_yaml::Location>) -> String {
    match loc {
        Some(l) => format!("{message} (line {}, column {})", l.line(), l.column()),
        None => message,
    }
}

fn syntax_finding(e: &serde_yaml::Error) -> Finding {
    let mut message = e.to_string();
    if let Some(l) = e.location() {
        let at = format!(" at line {} column {}", l.line(), l.column());
        if let Some(i) = message.find(&at) {
            message.replace_range(i..i + at.len(), "");
        }
    }
    error(
        "",
        with_location(format!("invalid YAML: {message}"), e.location()),
    )
}

/// A serde error the walk did not foresee: split serde_yaml's "path: message at line L column C".
fn fallback_finding(e: &serde_yaml::Error) -> Finding {
    let mut message = e.to_string();
    if let Some(l) = e.location() {
        let at = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&at) {
            message = stripped.to_string();
        }
    }
    let (path, message) = match message.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (String::new(), message),
    };
    error(&path, with_location(message, e.location()))
}

struct Walker<'t> {
    text: &'t str,
    findings: Vec<Finding>,
}

/// How a value looks, for "expected X, found Y".
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// A mapping key as text (keys are nearly always strings).
fn key_string(k: &Value) -> String {
    match k {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => flow(other),
    }
}

/// A value on one line, for the rare non-scalar key: `[a, b]`, `{a: b}`.
fn flow(v: &Value) -> String {
    match v {
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(m) => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Tagged(t) => format!("{} {}", t.tag, flow(&t.value)),
        scalar => key_string(scalar),
    }
}

fn one_of(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl Walker<'_> {
    /// Whether the null at `path` is written out (`~`, `null`) rather than empty: serde reads an
    /// empty value as an empty mapping or list, but rejects an explicit null for them.
    fn explicit_null(&self, path: &[Seg]) -> bool {
        let Some(loc) = locate(self.text, path, false) else {
            return false;
        };
        let Some(line) = self.text.lines().nth(loc.line() - 1) else {
            return false;
        };
        let rest: String = line.chars().skip(loc.column() - 1).collect();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '~')
            .collect();
        matches!(word.as_str(), "~" | "null" | "Null" | "NULL")
    }

    fn push(&mut self, path: &[Seg], at_key: bool, message: String) {
        let loc = locate(self.text, path, at_key);
        self.findings
            .push(error(&path_string(path), with_location(message, loc)));
    }

    fn check(&mut self, v: &Value, kind: &Kind, path: &mut Vec<Seg>) {
        let v = match v {
            Value::Tagged(t) => &t.value,
            v => v,
        };
        match kind {
            Kind::Str => {
                if matches!(v, Value::Sequence(_) | Value::Mapping(_)) {
                    self.push(path, false, format!("expected a string, found {}", describe(v)));
                }
            }
            Kind::Port => {
                if v.as_u64().is_none_or(|n| n > u64::from(u16::MAX)) {
                    self.push(
                        path,
                        false,
                        format!("expected a port number (1-65535), found {}", describe(v)),
                    );
                }
            }
            Kind::Count => {
                if v.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) {
                    self.push(
                        path,
                        false,
                        format!("expected a whole number from 0, found {}", describe(v)),
                    );
                }
            }
            Kind::Bool => {
                if !v.is_bool() {
                    self.push(path, false, format!("expected true or false, found {}", describe(v)));
                }
            }
            Kind::Enum { noun, values } => self.check_enum(v, noun, values, path),
            Kind::List { .. } | Kind::Map(_) | Kind::Tagged { .. }
                if v.is_null() && self.explicit_null(path) =>
            {
                let what = match kind {
                    Kind::List { what, .. } => what,
                    _ => "a mapping",
                };
                self.push(
                    path,
                    false,
                    format!("expected {what}, found null"),
                );
            }
            Kind::List { item, what } => match v {
                Value::Null => {}
                Value::Sequence(items) => {
                    for (i, it) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        self.check(it, item, path);
                        path.pop();
                    }
                }
                _ => self.push(path, false, format!("expected {what}, found {}", describe(v))),
            },
            Kind::Map(fields) => match v {
                Value::Null => self.check_fields(&serde_yaml::Mapping::new(), fields, None, path),
                Value::Mapping(m) => self.check_fields(m, fields, None, path),
                _ if path.is_empty() => self.push(
                    path,
                    false,
                    format!(
                        "the file must be a mapping of keys (name: ..., hosts: ..., network: ...), found {}",
                        describe(v)
                    ),
                ),
                _ => self.push(path, false, format!("expected a mapping, found {}", describe(v))),
            },
            Kind::Tagged {
                tag,
                noun,
                variants,
            } => {
                let empty = serde_yaml::Mapping::new();
                let m = match v {
                    Value::Null => &empty,
                    Value::Mapping(m) => m,
                    _ => {
                        let names: Vec<&str> = variants.iter().map(|v| v.name).collect();
                        return self.push(
                            path,
                            false,
                            format!(
                                "expected a mapping with a {tag:?} key ({}), found {}",
                                one_of(&names),
                                describe(v)
                            ),
                        );
                    }
                };
                self.check_tagged(m, tag, noun, variants, path);
            }
        }
    }

    fn check_enum(&mut self, v: &Value, noun: &str, values: &[&str], path: &[Seg]) {
        match v {
            Value::String(s) if values.contains(&s.as_str()) => {}
            Value::String(s) => {
                let hint = match super::text::suggest(s, values) {
                    Some(fix) => format!("did you mean {fix:?}? "),
                    None => String::new(),
                };
                self.push(
                    path,
                    false,
                    format!(
                        "unknown {noun} {s:?} ({hint}allowed: {})",
                        values.join(", ")
                    ),
                );
            }
            _ => self.push(
                path,
                false,
                format!(
                    "expected a {noun} ({}), found {}",
                    one_of(values),
                    describe(v)
                ),
            ),
        }
    }

    fn check_tagged(
        &mut self,
        m: &serde_yaml::Mapping,
        tag: &'static str,
        noun: &str,
        variants: &'static [Variant],
        path: &mut Vec<Seg>,
    ) {
        let names: Vec<&str> = variants.iter().map(|v| v.name).collect();
        let chosen = match m.get(tag) {
            None | Some(Value::Null) => {
                let typo = m
                    .keys()
                    .any(|k| super::text::suggest(&key_string(k), &[tag]).is_some());
                if !typo {
                    self.push(
                        path,
                        false,
                        format!("missing key {tag:?} (one of: {})", names.join(", ")),
                    );
                }
                None
            }
            Some(t) => {
                path.push(Seg::Key(tag.into()));
                self.check_enum(t, noun, &names, path);
                path.pop();
                t.as_str()
                    .and_then(|t| variants.iter().find(|v| v.name == t))
            }
        };
        match chosen {
            Some(variant) => {
                self.check_fields(m, variant.fields, Some((tag, variant, variants)), path);
            }
            None => {
                // Variant unknown: only flag keys no variant knows, and nothing as missing.
                let all: Vec<Field> = std::iter::once(&field(tag, &Kind::Str, Optional))
                    .chain(variants.iter().flat_map(|v| v.fields.iter()))
                    .map(|f| field(f.key, f.kind, Optional))
                    .collect();
                let rest: serde_yaml::Mapping = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != Some(tag))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.check_fields_owned(&rest, &all, path);
            }
        }
    }

    fn check_fields_owned(
        &mut self,
        m: &serde_yaml::Mapping,
        fields: &[Field],
        path: &mut Vec<Seg>,
    ) {
        for (k, v) in m {
            let key = key_string(k);
            path.push(Seg::Key(key.clone()));
            match fields.iter().find(|f| f.key == key) {
                Some(f) if v.is_null() && f.presence == Optional => {}
                Some(f) => self.check(v, f.kind, path),
                None => {
                    let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
                    self.push(path, true, unknown_key(&key, &keys));
                }
            }
            path.pop();
        }
    }

    fn check_fields(
        &mut self,
        m: &serde_yaml::Mapping,
        fields: &'static [Field],
        tagged: Option<(&'static str, &Variant, &'static [Variant])>,
        path: &mut Vec<Seg>,
    ) {
        // Missing keys first; not the ones an unknown key is a typo of ("did you mean" says it).
        let typos: Vec<&str> = m
            .keys()
            .map(key_string)
            .filter(|k| !fields.iter().any(|f| f.key == k))
            .filter_map(|k| {
                let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
                super::text::suggest(&k, &keys)
            })
            .collect();
        for f in fields.iter().filter(|f| f.presence == Required) {
            if !m.contains_key(f.key) && !typos.contains(&f.key) {
                let why = match tagged {
                    Some((tag, chosen, _)) => format!(" (required for {tag}: {})", chosen.name),
                    None => String::new(),
                };
                self.push(path, false, format!("missing key {:?}{why}", f.key));
            }
        }
        for (k, v) in m {
            let key = key_string(k);
            if tagged.is_some_and(|(tag, _, _)| key == tag) {
                continue;
            }
            path.push(Seg::Key(key.clone()));
            match fields.iter().find(|f| f.key == key) {
                Some(f) if v.is_null() && f.presence == Optional => {}
                Some(f) => self.check(v, f.kind, path),
                None => {
                    let message = match tagged {
                        Some((tag, chosen, variants)) => {
                            match variants
                                .iter()
                                .find(|v| v.fields.iter().any(|f| f.key == key))
                            {
                                Some(owner) => format!(
                                    "key {key:?} does not apply to {tag}: {} (it belongs to {tag}: {})",
                                    chosen.name, owner.name
                                ),
                                None => {
                                    let mut keys = vec![tag];
                                    keys.extend(fields.iter().map(|f| f.key));
                                    let elsewhere = variants.iter().find_map(|v| {
                                        let keys: Vec<&str> =
                                            v.fields.iter().map(|f| f.key).collect();
                                        super::text::suggest(&key, &keys).map(|k| (k, v.name))
                                    });
                                    match (super::text::suggest(&key, &keys), elsewhere) {
                                        (None, Some((fix, owner))) => format!(
                                            "unknown key {key:?} (did you mean {fix:?}? it belongs to {tag}: {owner})"
                                        ),
                                        _ => unknown_key(&key, &keys),
                                    }
                                }
                            }
                        }
                        None => {
                            let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
                            unknown_key(&key, &keys)
                        }
                    };
                    self.push(path, true, message);
                }
            }
            path.pop();
        }
    }
}

fn unknown_key(key: &str, known: &[&str]) -> String {
    if key == "<<" {
        return "merge keys (\"<<\") are not supported; write the keys out".into();
    }
    match super::text::suggest(key, known) {
        Some(fix) => format!("unknown key {key:?} (did you mean {fix:?}?)"),
        None if known.is_empty() => format!("unknown key {key:?} (no keys are allowed here)"),
        None => format!("unknown key {key:?} (known keys: {})", known.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// Locating a path in the text: deserialize the text with a seed that follows the path and fails
// at its end; serde_yaml stamps the failure with the position of the event it was reading.

const MARKER: &str = "\u{0}kubewiz-locate";

/// Line and column of the node at `path` (of its key, with `at_key`). When the path does not
/// exist (a missing key), the closest existing parent.
pub(crate) fn locate(text: &str, path: &[Seg], at_key: bool) -> Option<serde_yaml::Location> {
    let mut path = path;
    let mut at_key = at_key;
    loop {
        let seed = Locate { path, at_key };
        let de = serde_yaml::Deserializer::from_str(text);
        match seed.deserialize(de) {
            Err(e) if e.to_string().contains(MARKER) => return e.location(),
            Err(_) => return None,
            Ok(()) if path.is_empty() => return None,
            Ok(()) => {
                path = &path[..path.len() - 1];
                at_key = false;
            }
        }
    }
}

struct Locate<'p> {
    path: &'p [Seg],
    at_key: bool,
}

fn found<E: de::Error>() -> E {
    E::custom(MARKER)
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A YAML tag (`!foo value`): look through it.
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(found());
        };
        let mut i = 0;
        loop {
            if matches!(first, Seg::Index(n) if *n == i) {
                let seed = Locate {
                    path: rest,
                    at_key: self.at_key,
                };
                if seq.next_element_seed(seed)?.is_none() {
                    return Ok(());
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(found());
        };
        let target = match first {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        };
        let stop_at_key = self.at_key && rest.is_empty();
        while let Some(hit) = map.next_key_seed(KeySeed {
            target,
            stop: stop_at_key,
        })? {
            if hit {
                map.next_value_seed(Locate {
                    path: rest,
                    at_key: self.at_key,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl Locate<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(found())
        } else {
            Ok(())
        }
    }
}

/// Reads a mapping key; `true` when it is the target (and fails right there with `stop`).
struct KeySeed<'a> {
    target: Option<&'a str>,
    stop: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeySeed<'_> {
    fn check<E: de::Error>(self, key: Value) -> Result<bool, E> {
        let hit = self.target == Some(key_string(&key).as_str());
        if hit && self.stop {
            Err(found())
        } else {
            Ok(hit)
        }
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(Value::Number(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(Value::String(v.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.check(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Tests that the schema above and model.rs stay in step.
#[cfg(test)]
#[path = "schema_drift.rs"]
mod schema_drift;

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        match parse_str(text) {
            Ok(_) => vec![],
            Err(f) => f.iter().map(|f| f.to_string()).collect(),
        }
    }

    const BASE: &str = "name: lab\nhosts:\n  - name: node1\n    address: 10.77.0.11\n    roles: [etcd, master, node]\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n";

    #[test]
    fn minimal_parses() {
        let spec = parse_str(BASE).unwrap();
        assert_eq!(spec.name, "lab");
        assert_eq!(spec.network.dns_domain, "cluster.local");
    }

    #[test]
    fn paths() {
        let p = [
            Seg::Key("hosts".into()),
            Seg::Index(1),
            Seg::Key("auth".into()),
            Seg::Key("key_file".into()),
        ];
        assert_eq!(path_string(&p), "hosts[1].auth.key_file");
        assert_eq!(path_string(&[]), "");
    }

    #[test]
    fn locates_values_and_keys() {
        let p = [
            Seg::Key("hosts".into()),
            Seg::Index(0),
            Seg::Key("address".into()),
        ];
        let v = locate(BASE, &p, false).unwrap();
        assert_eq!((v.line(), v.column()), (4, 14));
        let k = locate(BASE, &p, true).unwrap();
        assert_eq!((k.line(), k.column()), (4, 5));
        // A missing key: its parent.
        let p = [
            Seg::Key("hosts".into()),
            Seg::Index(0),
            Seg::Key("port".into()),
        ];
        let m = locate(BASE, &p, false).unwrap();
        assert_eq!((m.line(), m.column()), (3, 5));
        let p = [Seg::Key("network".into()), Seg::Key("service_cidr".into())];
        let f = locate(BASE, &p, false).unwrap();
        assert_eq!((f.line(), f.column()), (6, 50));
    }

    #[test]
    fn unknown_keys_inside_tagged_enums() {
        let text = format!(
            "{BASE}defaults: {{auth: {{method: key, keyfile: /k, key_file: /k}}}}\ncni: {{plugin: calico, calico: {{mod: bgp}}, flannel: {{}}}}\nbinaries: {{source: mirror, mirror_url: http://m, bundel_dir: /x}}\n"
        );
        assert_eq!(
            messages(&text),
            [
                "error: defaults.auth.keyfile: unknown key \"keyfile\" (did you mean \"key_file\"?) (line 7, column 32)",
                "error: cni.calico.mod: unknown key \"mod\" (did you mean \"mode\"?) (line 8, column 32)",
                "error: cni.flannel: key \"flannel\" does not apply to plugin: calico (it belongs to plugin: flannel) (line 8, column 43)",
                "error: binaries.bundel_dir: unknown key \"bundel_dir\" (did you mean \"bundle_dir\"? it belongs to source: bundle) (line 9, column 50)",
            ]
        );
    }

    #[test]
    fn types_and_enums() {
        let text = BASE.replace(
            "address: 10.77.0.11",
            "address: 10.77.0.11\n    port: \"abc\"\n    sudo: yes",
        ) + "runtime: cri-o\n";
        assert_eq!(
            messages(&text),
            [
                "error: hosts[0].port: expected a port number (1-65535), found \"abc\" (line 5, column 11)",
                "error: hosts[0].sudo: expected true or false, found \"yes\" (line 6, column 11)",
                "error: runtime: unknown runtime \"cri-o\" (allowed: docker, containerd) (line 9, column 10)",
            ]
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let m = messages("name: lab\nhosts: [\n");
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("error: invalid YAML: "), "{m:?}");
        assert!(m[0].contains("(line "), "{m:?}");
    }
}

//! The failure catalog: types, loading and validation of `assets/failures.yaml`.
//!
//! Validation happens at load, so a bad entry is an error naming the entry and the field, never
//! a regex that silently never fires: ids are unique, stages known, every regex compiles and
//! cannot match an empty line, every sample matches its own entry and every signature (and probe
//! check) is exercised by a sample, no `not_samples` line matches, probes of one name share one
//! command, stages and auto-fix actions are the stage registry's (with the right `destructive`
//! flag; stages not built yet are declared in the catalog's `upcoming_stages`), and
//! every `{placeholder}` in the texts is a capture group of the entry.

use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use super::normalize::normalize;

/// An entry of this stage is about every stage.
pub const ANY_STAGE: &str = "any";

/// What a catalog may name besides itself: the stages kubewiz has and the fix actions they own
/// (with whether each is destructive). Taken from the stage registry.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub stages: Vec<String>,
    pub fixes: Vec<(String, bool)>,
}

impl Vocabulary {
    pub fn of(registry: &[crate::stages::StageDef]) -> Vocabulary {
        Vocabulary {
            stages: registry.iter().map(|s| s.name.to_string()).collect(),
            fixes: registry
                .iter()
                .flat_map(|s| s.fixes)
                .map(|f| (f.name.to_string(), f.destructive()))
                .collect(),
        }
    }
}

/// Entries with at least this priority are root causes (clock skew, firewall): they are ranked
/// with the step's own stage whatever stage they belong to, since they show up as other errors.
pub const ROOT_CAUSE_PRIORITY: u32 = 90;

const BUILTIN_YAML: &str = include_str!("../../assets/failures.yaml");

/// A catalog that failed validation: which entry (if known), which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub entry: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failure catalog: ")?;
        if let Some(e) = &self.entry {
            write!(f, "entry {e}, ")?;
        }
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for CatalogError {}

/// A command run over SSH on the failing host to gather evidence. Its output lines reach the
/// matcher with `name` as their evidence source.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub command: String,
    /// When set the probe is a check: an output line matching it is a match of the entry
    /// (for failures that log nothing, like a `-P FORWARD DROP` policy).
    pub fails_when: Option<Regex>,
}

/// What kubewiz can do itself about a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoFixSpec {
    pub action: String,
    pub description: String,
    pub destructive: bool,
}

/// One known failure.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub stage: String,
    pub title: String,
    /// 0-100, higher is checked first; see [`ROOT_CAUSE_PRIORITY`].
    pub priority: u32,
    /// Matched as substrings against normalised evidence lines of any source.
    pub signatures: Vec<Regex>,
    pub samples: Vec<String>,
    pub not_samples: Vec<String>,
    pub probes: Vec<Probe>,
    /// Applied to every evidence line once the entry matched, only to fill captures
    /// (e.g. the process holding a port, from `ss` output).
    pub extract: Vec<Regex>,
    pub cause: String,
    pub fix: String,
    pub manual: Vec<String>,
    pub auto_fix: Option<AutoFixSpec>,
    pub source: Vec<String>,
    /// Position in the catalog file (the last tie-breaker).
    pub order: usize,
}

impl Entry {
    /// Does this (normalised) line from `source` match the entry? Returns the captures and the
    /// index of the rule that matched (signatures first, then probe checks).
    pub fn match_line(
        &self,
        source: &str,
        normalized: &str,
    ) -> Option<(usize, BTreeMap<String, String>)> {
        for (i, re) in self.signatures.iter().enumerate() {
            if let Some(c) = re.captures(normalized) {
                return Some((i, named_captures(re, &c)));
            }
        }
        for (i, p) in self.probes.iter().enumerate() {
            if p.name != source {
                continue;
            }
            if let Some(re) = &p.fails_when {
                if let Some(c) = re.captures(normalized) {
                    return Some((self.signatures.len() + i, named_captures(re, &c)));
                }
            }
        }
        None
    }

    /// A root cause competes with the entries of whatever stage failed.
    pub fn is_root_cause(&self) -> bool {
        self.priority >= ROOT_CAUSE_PRIORITY
    }

    /// Is this entry about `stage` (its own stage, or `any`)? `-` and `_` are the same.
    pub fn in_stage(&self, stage: &str) -> bool {
        self.stage == "any" || self.stage == stage.replace('-', "_")
    }

    /// The regexes that decide a match: signatures, then probe checks.
    fn deciding_regexes(&self) -> impl Iterator<Item = &Regex> {
        self.signatures
            .iter()
            .chain(self.probes.iter().filter_map(|p| p.fails_when.as_ref()))
    }

    /// Does a sample line (a log line, or a probe's output for a check) match the entry?
    fn sample_hits(&self, sample: &str) -> Vec<usize> {
        let n = normalize(sample);
        self.deciding_regexes()
            .enumerate()
            .filter(|(_, re)| re.is_match(&n))
            .map(|(i, _)| i)
            .collect()
    }
}

pub(crate) fn named_captures(re: &Regex, c: &regex::Captures<'_>) -> BTreeMap<String, String> {
    re.capture_names()
        .flatten()
        .filter_map(|name| {
            c.name(name)
                .map(|m| (name.to_string(), m.as_str().to_string()))
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// The validated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<Entry>,
    upcoming_stages: Vec<String>,
}

// ---- the YAML shape ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    /// Stages the catalog has entries for that kubewiz does not build yet.
    #[serde(default)]
    upcoming_stages: Vec<String>,
    entries: Vec<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    stage: String,
    title: String,
    priority: u32,
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    samples: Vec<String>,
    #[serde(default)]
    not_samples: Vec<String>,
    #[serde(default)]
    probes: Vec<RawProbe>,
    #[serde(default)]
    extract: Vec<String>,
    cause: String,
    fix: String,
    #[serde(default)]
    manual: Vec<String>,
    #[serde(default)]
    auto_fix: Option<RawAutoFix>,
    source: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    name: String,
    command: String,
    #[serde(default)]
    fails_when: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoFix {
    action: String,
    description: String,
    destructive: bool,
}

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(\$?)\{([a-z_][a-z0-9_]*)(?:\|([^{}]*))?\}").expect("placeholder regex")
    })
}

/// `{name}` and `{name|fallback}` placeholders of a text (`${...}` is shell, left alone).
pub(crate) fn placeholders(text: &str) -> Vec<(String, bool)> {
    placeholder_re()
        .captures_iter(text)
        .filter(|c| c[1].is_empty())
        .map(|c| (c[2].to_string(), c.get(3).is_some()))
        .collect()
}

/// Fills `{name}` / `{name|fallback}` from captures; an unknown name with no fallback is kept.
pub(crate) fn fill(text: &str, captures: &BTreeMap<String, String>) -> String {
    placeholder_re()
        .replace_all(text, |c: &regex::Captures<'_>| {
            if !c[1].is_empty() {
                return c[0].to_string();
            }
            match (captures.get(&c[2]), c.get(3)) {
                (Some(v), _) => v.clone(),
                (None, Some(fallback)) => fallback.as_str().to_string(),
                (None, None) => c[0].to_string(),
            }
        })
        .into_owned()
}

impl Catalog {
    /// The catalog shipped in `assets/failures.yaml`, parsed and validated once.
    ///
    /// Panics if it is invalid; `tests/catalog.rs` makes sure it is not. Use
    /// [`Catalog::try_builtin`] to report the error instead.
    pub fn builtin() -> &'static Catalog {
        match Self::try_builtin() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// The built-in catalog, or why it failed validation.
    pub fn try_builtin() -> Result<&'static Catalog, &'static CatalogError> {
        static BUILTIN: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Catalog::from_yaml(BUILTIN_YAML))
            .as_ref()
    }

    /// Parses and validates a catalog against the stage registry.
    pub fn from_yaml(text: &str) -> Result<Catalog, CatalogError> {
        Self::from_yaml_with(text, &Vocabulary::of(crate::stages::REGISTRY))
    }

    /// Parses and validates a catalog: an entry's stage is one of `known`'s, `any`, or one the
    /// catalog lists as upcoming (a stage not built yet; one that is built may not be listed);
    /// an auto-fix action is one of `known`'s, with its destructive flag.
    pub fn from_yaml_with(text: &str, known: &Vocabulary) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = serde_yaml::from_str(text).map_err(|e| CatalogError {
            entry: None,
            field: "yaml".into(),
            message: e.to_string(),
        })?;
        if raw.version != 1 {
            return Err(CatalogError {
                entry: None,
                field: "version".into(),
                message: format!(
                    "unsupported catalog version {} (this kubewiz reads 1)",
                    raw.version
                ),
            });
        }
        if let Some(built) = raw
            .upcoming_stages
            .iter()
            .find(|u| known.stages.contains(u) || u.as_str() == ANY_STAGE)
        {
            return Err(CatalogError {
                entry: None,
                field: "upcoming_stages".into(),
                message: format!(
                    "{built:?} is a stage kubewiz has (or `any`): remove it from upcoming_stages"
                ),
            });
        }
        let stages: Vec<&str> = known
            .stages
            .iter()
            .chain(&raw.upcoming_stages)
            .map(String::as_str)
            .chain([ANY_STAGE])
            .collect();
        let mut entries = Vec::with_capacity(raw.entries.len());
        let mut ids = BTreeSet::new();
        let mut probe_commands: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (order, value) in raw.entries.into_iter().enumerate() {
            let id_hint = value
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", order + 1));
            let raw_entry: RawEntry = serde_yaml::from_value(value).map_err(|e| CatalogError {
                entry: Some(id_hint.clone()),
                field: "yaml".into(),
                message: e.to_string(),
            })?;
            let entry = build_entry(raw_entry, order, &stages, &known.fixes)?;
            if !ids.insert(entry.id.clone()) {
                return Err(err(&entry.id, "id", "duplicate id"));
            }
            for p in &entry.probes {
                match probe_commands.get(&p.name) {
                    Some((cmd, owner)) if *cmd != p.command => {
                        return Err(err(
                            &entry.id,
                            &format!("probes.{}", p.name),
                            &format!("probe name already used by {owner} with another command"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        probe_commands
                            .insert(p.name.clone(), (p.command.clone(), entry.id.clone()));
                    }
                }
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(CatalogError {
                entry: None,
                field: "entries".into(),
                message: "no entries".into(),
            });
        }
        Ok(Catalog {
            entries,
            upcoming_stages: raw.upcoming_stages,
        })
    }

    /// Stages the catalog knows failures of that kubewiz does not build yet.
    pub fn upcoming_stages(&self) -> &[String] {
        &self.upcoming_stages
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

fn err(id: &str, field: &str, message: &str) -> CatalogError {
    CatalogError {
        entry: Some(id.to_string()),
        field: field.to_string(),
        message: message.to_string(),
    }
}

fn compile(id: &str, field: &str, pattern: &str) -> Result<Regex, CatalogError> {
    let re =
        Regex::new(pattern).map_err(|e| err(id, field, &format!("regex does not compile: {e}")))?;
    if re.is_match("") {
        return Err(err(
            id,
            field,
            "regex matches an empty line (it would match everything)",
        ));
    }
    Ok(re)
}

fn build_entry(
    r: RawEntry,
    order: usize,
    stages: &[&str],
    fixes: &[(String, bool)],
) -> Result<Entry, CatalogError> {
    let id = r.id.trim().to_string();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(err(
            &format!("#{}", order + 1),
            "id",
            "empty or contains spaces",
        ));
    }
    if !stages.contains(&r.stage.as_str()) {
        return Err(err(
            &id,
            "stage",
            &format!("unknown stage {:?} (known: {})", r.stage, stages.join(", ")),
        ));
    }
    for (field, text) in [("title", &r.title), ("cause", &r.cause), ("fix", &r.fix)] {
        if text.trim().is_empty() {
            return Err(err(&id, field, "empty"));
        }
    }
    if r.priority > 100 {
        return Err(err(&id, "priority", "must be 0-100"));
    }
    if r.source.iter().all(|s| s.trim().is_empty()) {
        return Err(err(&id, "source", "name at least one source"));
    }
    let signatures = r
        .signatures
        .iter()
        .enumerate()
        .map(|(i, p)| compile(&id, &format!("signatures[{i}]"), p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut probes = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in r.probes.into_iter().enumerate() {
        let field = format!("probes[{i}]");
        let name_ok = !p.name.is_empty()
            && p.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(err(
                &id,
                &format!("{field}.name"),
                "use lowercase letters, digits and '-'",
            ));
        }
        if !names.insert(p.name.clone()) {
            return Err(err(
                &id,
                &format!("{field}.name"),
                &format!("duplicate probe {}", p.name),
            ));
        }
        if p.command.trim().is_empty() {
            return Err(err(&id, &format!("{field}.command"), "empty"));
        }
        let fails_when = p
            .fails_when
            .as_deref()
            .map(|f| compile(&id, &format!("{field}.fails_when"), f))
            .transpose()?;
        probes.push(Probe {
            name: p.name,
            command: p.command.trim().to_string(),
            fails_when,
        });
    }
    let extract = r
        .extract
        .iter()
        .enumerate()
        .map(|(i, p)| compile(&id, &format!("extract[{i}]"), p))
        .collect::<Result<Vec<_>, _>>()?;
    let auto_fix = match r.auto_fix {
        None => None,
        Some(a) => {
            match fixes.iter().find(|(name, _)| *name == a.action) {
                None => {
                    return Err(err(
                        &id,
                        "auto_fix.action",
                        &format!(
                            "unknown action {:?} (kubewiz's stages have: {})",
                            a.action,
                            fixes
                                .iter()
                                .map(|(a, _)| a.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
                Some((_, destructive)) if *destructive != a.destructive => {
                    return Err(err(
                        &id,
                        "auto_fix.destructive",
                        &format!(
                            "{} is {}destructive",
                            a.action,
                            if *destructive { "" } else { "not " }
                        ),
                    ))
                }
                Some(_) => {}
            }
            if a.description.trim().is_empty() {
                return Err(err(&id, "auto_fix.description", "empty"));
            }
            Some(AutoFixSpec {
                action: a.action,
                description: a.description.trim().to_string(),
                destructive: a.destructive,
            })
        }
    };
    let entry = Entry {
        id: id.clone(),
        stage: r.stage,
        title: r.title.trim().to_string(),
        priority: r.priority,
        signatures,
        samples: r.samples,
        not_samples: r.not_samples,
        probes,
        extract,
        cause: r.cause.trim().to_string(),
        fix: r.fix.trim().to_string(),
        manual: r.manual,
        auto_fix,
        source: r.source,
        order,
    };
    check_samples(&entry)?;
    check_placeholders(&entry)?;
    Ok(entry)
}

fn check_samples(e: &Entry) -> Result<(), CatalogError> {
    let deciding: Vec<&Regex> = e.deciding_regexes().collect();
    if deciding.is_empty() {
        return Err(err(
            &e.id,
            "signatures",
            "no signature and no probe with fails_when: it could never match",
        ));
    }
    let mut exercised = vec![false; deciding.len()];
    for (i, s) in e.samples.iter().enumerate() {
        let hits = e.sample_hits(s);
        if hits.is_empty() {
            return Err(err(
                &e.id,
                &format!("samples[{i}]"),
                &format!(
                    "matches none of the entry's signatures (normalised: {:?})",
                    normalize(s)
                ),
            ));
        }
        for h in hits {
            exercised[h] = true;
        }
    }
    if let Some(i) = exercised.iter().position(|x| !x) {
        let field = if i < e.signatures.len() {
            format!("signatures[{i}]")
        } else {
            let p = e
                .probes
                .iter()
                .filter(|p| p.fails_when.is_some())
                .nth(i - e.signatures.len());
            format!(
                "probes.{}.fails_when",
                p.map(|p| p.name.as_str()).unwrap_or("?")
            )
        };
        return Err(err(
            &e.id,
            &field,
            "no sample matches it: add a real line to samples",
        ));
    }
    for (i, s) in e.not_samples.iter().enumerate() {
        if !e.sample_hits(s).is_empty() {
            return Err(err(
                &e.id,
                &format!("not_samples[{i}]"),
                &format!(
                    "matches the entry but must not (normalised: {:?})",
                    normalize(s)
                ),
            ));
        }
    }
    Ok(())
}

fn check_placeholders(e: &Entry) -> Result<(), CatalogError> {
    let deciding: Vec<&Regex> = e.deciding_regexes().collect();
    let group_sets: Vec<BTreeSet<&str>> = deciding
        .iter()
        .map(|re| re.capture_names().flatten().collect())
        .collect();
    let all_groups: BTreeSet<&str> = group_sets
        .iter()
        .flatten()
        .copied()
        .chain(e.extract.iter().flat_map(|re| re.capture_names().flatten()))
        .collect();
    let mut texts: Vec<(String, &str)> = vec![
        ("title".into(), &e.title),
        ("cause".into(), &e.cause),
        ("fix".into(), &e.fix),
    ];
    texts.extend(
        e.manual
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("manual[{i}]"), m.as_str())),
    );
    if let Some(a) = &e.auto_fix {
        texts.push(("auto_fix.description".into(), &a.description));
    }
    for (field, text) in texts {
        for (name, has_fallback) in placeholders(text) {
            if !all_groups.contains(name.as_str()) {
                return Err(err(
                    &e.id,
                    &field,
                    &format!("placeholder {{{name}}} is not a capture group of any signature, probe check or extract"),
                ));
            }
            if !has_fallback && group_sets.iter().any(|g| !g.contains(name.as_str())) {
                return Err(err(
                    &e.id,
                    &field,
                    &format!(
                        "placeholder {{{name}}} is not captured by every signature and probe check: \
                         give it a fallback, {{{name}|...}}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fill_uses_captures_then_fallbacks_and_leaves_shell_alone() {
        let c = caps(&[("ip", "10.77.0.13")]);
        assert_eq!(fill("{ip} is missing", &c), "10.77.0.13 is missing");
        assert_eq!(
            fill("valid for {valid_for|other names}", &c),
            "valid for other names"
        );
        assert_eq!(
            fill("--bip=${flannel_subnet}", &c),
            "--bip=${flannel_subnet}"
        );
        assert_eq!(fill("awk '{print $4}'", &c), "awk '{print $4}'");
    }

    #[test]
    fn placeholders_are_found_with_their_fallback_flag() {
        assert_eq!(
            placeholders("{a} and {b|x} but not ${c}"),
            vec![("a".to_string(), false), ("b".to_string(), true)]
        );
    }

    const ONE: &str = r#"
version: 1
entries:
  - id: X1
    stage: etcd
    title: t
    priority: 10
    signatures: ['boom at (?P<where>\w+)']
    samples: ['boom at home']
    not_samples: ['boom']
    cause: 'boom at {where}'
    fix: f
    source: [s]
"#;

    #[test]
    fn a_small_valid_catalog_loads() {
        let c = Catalog::from_yaml(ONE).unwrap();
        assert_eq!(c.entries().len(), 1);
        assert!(c.get("X1").is_some());
    }

    #[test]
    fn errors_name_entry_and_field() {
        let cases = [
            (ONE.replace("priority: 10", "priority: 101"), "priority"),
            (ONE.replace("stage: etcd", "stage: kubelet"), "stage"),
            (ONE.replace("'boom at home'", "'bang'"), "samples[0]"),
            (ONE.replace("not_samples: ['boom']", "not_samples: ['boom at work']"), "not_samples[0]"),
            (ONE.replace("{where}", "{what}"), "cause"),
            (ONE.replace(r"(?P<where>\w+)", r"(\w+)"), "cause"),
            (ONE.replace("'boom at (?P<where>\\w+)'", "'boom at (?P<where>\\w+'"), "signatures[0]"),
            (ONE.replace("fix: f", "fix: f\n    auto_fix: {action: nuke, description: d, destructive: true}"), "auto_fix.action"),
            (
                ONE.replace("fix: f", "fix: f\n    auto_fix: {action: wipe-etcd-data, description: d, destructive: false}"),
                "auto_fix.destructive",
            ),
            (ONE.replace("title: t", "title: t\n    colour: red"), "yaml"),
        ];
        for (yaml, field) in cases {
            let e = Catalog::from_yaml(&yaml).expect_err(field);
            assert_eq!(e.entry.as_deref(), Some("X1"), "{e}");
            assert_eq!(e.field, field, "{e}");
            assert!(e.to_string().contains("entry X1"), "{e}");
        }
    }

    #[test]
    fn a_regex_matching_everything_is_refused() {
        let yaml = ONE.replace(r"'boom at (?P<where>\w+)'", r"'(?P<where>x*)'");
        let e = Catalog::from_yaml(&yaml).unwrap_err();
        assert_eq!(e.field, "signatures[0]");
        assert!(e.message.contains("empty line"), "{e}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let two = format!("{ONE}{}", &ONE[ONE.find("  - id").unwrap()..]);
        let e = Catalog::from_yaml(&two).unwrap_err();
        assert_eq!((e.entry.as_deref(), e.field.as_str()), (Some("X1"), "id"));
    }
}

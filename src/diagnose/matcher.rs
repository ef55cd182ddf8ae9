//! Matching gathered evidence against the catalog, and turning the best match into a
//! [`Diagnosis`]. Purely data-driven: nothing here knows about a particular entry.
//!
//! Ranking, best first:
//! 1. entries of the failed step's stage (or `any`) and root causes of any stage
//!    (`priority >= ROOT_CAUSE_PRIORITY`: clock skew, firewall), before other stages' entries;
//! 2. higher `priority`;
//! 3. the step's own stage before a root cause of another stage, at equal priority;
//! 4. catalog order.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::catalog::{fill, named_captures, Catalog, Entry, Probe};
use super::normalize::normalize;
use crate::events::{AutoFix, Diagnosis, Evidence};

/// Matched lines shown per diagnosis (distinct ones; repeats of a line are skipped).
const MAX_MATCHED_LINES: usize = 6;
/// Output lines shown per probe of the winning entry.
const MAX_PROBE_LINES: usize = 8;
/// Evidence lines shown when nothing matched.
const TAIL_LINES: usize = 15;

/// One catalog entry that matched, with the evidence lines that did.
#[derive(Debug, Clone)]
pub struct EntryMatch<'a> {
    pub entry: &'a Entry,
    /// Indices into the evidence of the lines that matched (all of them, in order).
    pub lines: Vec<usize>,
    /// Named captures: from the matched lines first (the earliest value wins), then the entry's
    /// `extract` regexes over all evidence.
    pub captures: BTreeMap<String, String>,
    /// Which rule (signature, then probe check) matched each of `lines`, and its captures.
    rules: Vec<(usize, BTreeMap<String, String>)>,
}

/// A probe whose tool the host lacks (`sh: 2: openssl: not found`) says nothing about the
/// failure: its line is not shown.
fn missing_tool(line: &str) -> bool {
    let l = line.trim_end();
    l.starts_with("sh: ") && (l.ends_with(": not found") || l.ends_with(": command not found"))
}

impl Catalog {
    /// Every entry that matches the evidence, best first (see the module docs for the order).
    /// `evidence` is (source, line): the step's output, a journal, or a probe's output with the
    /// probe's name as source.
    pub fn matches<S: AsRef<str>, L: AsRef<str>>(
        &self,
        stage: &str,
        evidence: &[(S, L)],
    ) -> Vec<EntryMatch<'_>> {
        let normalized: Vec<String> = evidence
            .iter()
            .map(|(_, l)| normalize(l.as_ref()))
            .collect();
        let mut found = Vec::new();
        for entry in self.entries() {
            let mut m = EntryMatch {
                entry,
                lines: Vec::new(),
                captures: BTreeMap::new(),
                rules: Vec::new(),
            };
            for (i, (source, _)) in evidence.iter().enumerate() {
                if let Some((rule, caps)) = entry.match_line(source.as_ref(), &normalized[i]) {
                    m.lines.push(i);
                    for (k, v) in &caps {
                        m.captures.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    m.rules.push((rule, caps));
                }
            }
            if m.lines.is_empty() {
                continue;
            }
            for re in &entry.extract {
                extract_into(re, &normalized, &mut m.captures);
            }
            found.push(m);
        }
        found.sort_by_key(|m| {
            let e = m.entry;
            let in_stage = e.in_stage(stage);
            (
                std::cmp::Reverse(in_stage || e.is_root_cause()),
                std::cmp::Reverse(e.priority),
                std::cmp::Reverse(in_stage),
                e.order,
            )
        });
        found
    }

    /// The diagnosis of a failed step of `stage`: the best match, or "no known failure matched"
    /// with the tail of the evidence.
    pub fn diagnose<S: AsRef<str>, L: AsRef<str>>(
        &self,
        stage: &str,
        evidence: &[(S, L)],
    ) -> Diagnosis {
        match self.matches(stage, evidence).into_iter().next() {
            Some(m) => m.to_diagnosis(evidence),
            None => self.no_match(evidence),
        }
    }

    /// Probes worth running when a step of `stage` fails: those of the stage's entries, of `any`
    /// entries and of root causes, best-ranked entries first, each probe once.
    pub fn probes_for(&self, stage: &str) -> Vec<&Probe> {
        let mut entries: Vec<&Entry> = self
            .entries()
            .iter()
            .filter(|e| e.in_stage(stage) || e.is_root_cause())
            .collect();
        entries.sort_by_key(|e| (std::cmp::Reverse(e.priority), e.order));
        let mut seen = BTreeSet::new();
        entries
            .into_iter()
            .flat_map(|e| e.probes.iter())
            .filter(|p| seen.insert(p.name.as_str()))
            .collect()
    }

    fn no_match<S: AsRef<str>, L: AsRef<str>>(&self, evidence: &[(S, L)]) -> Diagnosis {
        let lines: Vec<Evidence> = evidence
            .iter()
            .filter(|(_, l)| !l.as_ref().trim().is_empty())
            .map(|(s, l)| Evidence {
                source: s.as_ref().to_string(),
                line: l.as_ref().trim_end().to_string(),
                matched: false,
            })
            .collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec();
        let sources: BTreeSet<&str> = evidence.iter().map(|(s, _)| s.as_ref()).collect();
        let gathered = if sources.is_empty() {
            "no evidence was gathered".to_string()
        } else {
            format!(
                "{} line(s) were gathered from {}",
                evidence.len(),
                sources.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        Diagnosis {
            id: None,
            title: "no known failure matched".into(),
            cause: format!(
                "None of the {} known failures in the catalog matches what the failed step left: {gathered}.",
                self.entries().len()
            ),
            evidence: tail,
            fix: "Read the full log of the step (its last lines are shown) and retry it: a transient \
                  error such as a slow start or a network blip passes on a second run. If it fails the \
                  same way again, the cause is not in kubewiz's catalog yet."
                .into(),
            manual_commands: vec!["journalctl -o cat --no-pager -n 200 -u <unit of the failed step>".into()],
            auto_fix: None,
        }
    }
}

fn extract_into(re: &Regex, lines: &[String], captures: &mut BTreeMap<String, String>) {
    for line in lines {
        if let Some(c) = re.captures(line) {
            for (k, v) in named_captures(re, &c) {
                captures.entry(k).or_insert(v);
            }
        }
    }
}

/// A line's shape with numbers and ids masked, to show a repeated log line only once.
fn shape(line: &str) -> String {
    use std::sync::OnceLock;
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"[0-9a-f]{8,}|\d+").expect("shape regex"));
    re.replace_all(line, "#").into_owned()
}

impl EntryMatch<'_> {
    /// The event payload: matched lines (each distinct one once, with the line before and after
    /// from the same source as context), the entry's probe output, and the texts filled from
    /// captures.
    pub fn to_diagnosis<S: AsRef<str>, L: AsRef<str>>(&self, evidence: &[(S, L)]) -> Diagnosis {
        let e = self.entry;
        let mut shown: BTreeSet<usize> = BTreeSet::new();
        let mut matched: BTreeSet<usize> = self.lines.iter().copied().collect();
        let all_matched = matched.clone();
        let mut seen_shapes = BTreeSet::new();
        let mut picked = 0;
        for (&i, (rule, caps)) in self.lines.iter().zip(&self.rules) {
            if picked == MAX_MATCHED_LINES {
                break;
            }
            // Lines differing only in numbers (ports, timestamps) are one piece of evidence,
            // unless their captures differ (another peer).
            let key = (*rule, caps, shape(&normalize(evidence[i].1.as_ref())));
            if !seen_shapes.insert(key) {
                continue;
            }
            picked += 1;
            shown.insert(i);
            let source = evidence[i].0.as_ref();
            // Context: the neighbours from the same source, unless they are matches themselves
            // (those are shown once each, above).
            for j in [i.checked_sub(1), Some(i + 1)].into_iter().flatten() {
                if let Some((s, l)) = evidence.get(j) {
                    if s.as_ref() == source
                        && !l.as_ref().trim().is_empty()
                        && !all_matched.contains(&j)
                    {
                        shown.insert(j);
                    }
                }
            }
        }
        for p in &e.probes {
            let lines = evidence
                .iter()
                .enumerate()
                .filter(|(_, (s, l))| {
                    s.as_ref() == p.name
                        && !l.as_ref().trim().is_empty()
                        && !missing_tool(l.as_ref())
                })
                .take(MAX_PROBE_LINES);
            for (i, (_, l)) in lines {
                shown.insert(i);
                if p.fails_when
                    .as_ref()
                    .is_some_and(|re| re.is_match(&normalize(l.as_ref())))
                {
                    matched.insert(i);
                }
            }
        }
        let evidence_out = shown
            .into_iter()
            .map(|i| Evidence {
                source: evidence[i].0.as_ref().to_string(),
                line: evidence[i].1.as_ref().trim_end().to_string(),
                matched: matched.contains(&i),
            })
            .collect();
        let c = &self.captures;
        Diagnosis {
            id: Some(e.id.clone()),
            title: fill(&e.title, c),
            cause: fill(&e.cause, c),
            evidence: evidence_out,
            fix: fill(&e.fix, c),
            manual_commands: e.manual.iter().map(|m| fill(m, c)).collect(),
            auto_fix: e.auto_fix.as_ref().map(|a| AutoFix {
                action: a.action.clone(),
                description: fill(&a.description, c),
                destructive: a.destructive,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAT: &str = r#"
version: 1
upcoming_stages: []
entries:
  - id: R1
    stage: prep
    title: root
    priority: 95
    signatures: ['clock is off by (?P<drift>\S+)']
    samples: ['clock is off by 3s']
    cause: 'off by {drift}'
    fix: sync
    source: [s]
  - id: S1
    stage: etcd
    title: symptom
    priority: 50
    signatures: ['bad cert from (?P<peer>[\d.]+)']
    samples: ['bad cert from 10.0.0.1']
    probes:
      - {name: san, command: 'openssl x509 -noout -ext subjectAltName -in /etc/etcd/pki/peer.crt'}
    cause: 'peer {peer} said no'
    fix: 'reissue for {peer}'
    manual: ['openssl verify {peer}']
    auto_fix: {action: reissue-etcd-certs, description: 'reissue {peer}', destructive: false}
    source: [s]
  - id: O1
    stage: join
    title: other stage, higher priority
    priority: 70
    signatures: ['bad cert']
    samples: ['bad cert']
    cause: c
    fix: f
    source: [s]
  - id: P1
    stage: network
    title: probe check
    priority: 40
    probes:
      - {name: fwd, command: 'iptables -S FORWARD | head -n 1', fails_when: '^-P FORWARD DROP$'}
    samples: ['-P FORWARD DROP']
    not_samples: ['-P FORWARD ACCEPT']
    cause: c
    fix: f
    source: [s]
"#;

    fn ev(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|(s, l)| (s.to_string(), l.to_string()))
            .collect()
    }

    #[test]
    fn in_stage_entry_beats_other_stage_of_higher_priority() {
        let c = Catalog::from_yaml(CAT).unwrap();
        let e = ev(&[
            ("journal", "before"),
            ("journal", "bad cert from 10.0.0.1"),
            ("journal", "after"),
        ]);
        let d = c.diagnose("etcd", &e);
        assert_eq!(d.id.as_deref(), Some("S1"));
        assert_eq!(d.cause, "peer 10.0.0.1 said no");
        assert_eq!(d.manual_commands, vec!["openssl verify 10.0.0.1"]);
        assert_eq!(d.auto_fix.unwrap().description, "reissue 10.0.0.1");
        let lines: Vec<(&str, bool)> = d
            .evidence
            .iter()
            .map(|x| (x.line.as_str(), x.matched))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("before", false),
                ("bad cert from 10.0.0.1", true),
                ("after", false)
            ]
        );
        // In the join stage, O1 is in-stage and wins.
        assert_eq!(c.diagnose("join", &e).id.as_deref(), Some("O1"));
    }

    #[test]
    fn root_cause_of_another_stage_wins() {
        let c = Catalog::from_yaml(CAT).unwrap();
        let e = ev(&[
            ("journal", "bad cert from 10.0.0.1"),
            ("journal", "clock is off by 3s"),
        ]);
        let d = c.diagnose("etcd", &e);
        assert_eq!(d.id.as_deref(), Some("R1"));
        assert_eq!(d.cause, "off by 3s");
    }

    #[test]
    fn probe_checks_only_look_at_their_own_probe_output() {
        let c = Catalog::from_yaml(CAT).unwrap();
        assert_eq!(
            c.diagnose("network", &ev(&[("journal", "-P FORWARD DROP")]))
                .id,
            None
        );
        let d = c.diagnose("network", &ev(&[("fwd", "-P FORWARD DROP")]));
        assert_eq!(d.id.as_deref(), Some("P1"));
        assert!(d.evidence[0].matched);
        assert_eq!(
            c.diagnose("network", &ev(&[("fwd", "-P FORWARD ACCEPT")]))
                .id,
            None
        );
    }

    #[test]
    fn repeated_lines_are_shown_once_and_probe_output_is_included() {
        let c = Catalog::from_yaml(CAT).unwrap();
        let mut e = vec![];
        for _ in 0..50 {
            e.push(("journal".to_string(), "bad cert from 10.0.0.1".to_string()));
        }
        e.push((
            "san".to_string(),
            "X509v3 Subject Alternative Name:".to_string(),
        ));
        e.push(("san".to_string(), "    IP Address:10.0.0.99".to_string()));
        let d = c.diagnose("etcd", &e);
        let matched = d.evidence.iter().filter(|x| x.matched).count();
        assert_eq!(matched, 1);
        assert!(d
            .evidence
            .iter()
            .any(|x| x.source == "san" && x.line.contains("10.0.0.99")));
    }

    #[test]
    fn no_match_gives_the_tail() {
        let c = Catalog::from_yaml(CAT).unwrap();
        let e: Vec<(String, String)> = (0..40)
            .map(|i| ("step".to_string(), format!("line {i}")))
            .collect();
        let d = c.diagnose("etcd", &e);
        assert_eq!(d.id, None);
        assert_eq!(d.title, "no known failure matched");
        assert_eq!(d.evidence.len(), TAIL_LINES);
        assert_eq!(d.evidence.last().unwrap().line, "line 39");
        assert!(d.fix.contains("retry"));
    }

    #[test]
    fn probes_for_a_stage_include_root_causes_once() {
        let c = Catalog::from_yaml(CAT).unwrap();
        let names: Vec<&str> = c
            .probes_for("etcd")
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, vec!["san"]);
        let names: Vec<&str> = c
            .probes_for("network")
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, vec!["fwd"]);
    }
}

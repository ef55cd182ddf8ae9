//! The failure catalog (assets/failures.yaml): THE test that every entry loads, every regex
//! compiles and matches its own samples, and that realistic evidence gets the right diagnosis.

use kubewiz::diagnose::{Catalog, Vocabulary};
use kubewiz::events::Diagnosis;
use kubewiz::stages;

const BUILTIN_YAML: &str = include_str!("../assets/failures.yaml");

/// Every row of shared/reference/failures.md (copied: the reference is not part of the repository).
const REFERENCE_IDS: &[&str] = &[
    "H1", "H2", "H3", "H4", "H5", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "D1", "D2", "D3",
    "D4", "D5", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "A1", "A2", "A3", "A4", "K1",
    "K2", "K3", "K4", "K5", "K6", "K7", "P1", "C1", "C2", "CA1", "CA2",
];

// The lab's etcd 3.4 logs with a peer certificate lacking the member's IP (shared/reference/lab.md).
const LAB_BAD_MEMBER: &[&str] = &[
    r#"2026-11-23 16:31:30.838370 I | embed: rejected connection from "10.77.0.11:36172" (error "remote error: tls: bad certificate", ServerName "")"#,
    r#"2026-11-23 16:31:30.901234 I | embed: rejected connection from "10.77.0.12:40112" (error "remote error: tls: bad certificate", ServerName "")"#,
    "E | etcdserver: publish error: etcdserver: request timed out",
];
const LAB_HEALTHY_PEER: &[&str] = &[
    r#"I | embed: rejected connection from "10.77.0.13:39778" (error "tls: \"10.77.0.13\" does not match any of DNSNames [\"localhost\"]", ServerName "", IPAddresses ["10.77.0.99"], DNSNames ["localhost"])"#,
    "W | rafthttp: health check for peer ed3d9c87aff5aaf0 could not connect: x509: certificate is valid for 10.77.0.99, not 10.77.0.13",
];
// lab.md's --logger=zap line, with the fields it elides ("...") written out as etcd 3.4 logs them.
const LAB_ZAP_BAD_MEMBER: &str = r#"{"level":"warn","ts":"2026-11-23T16:31:31.001Z","caller":"embed/config_logging.go:287","msg":"rejected connection","remote-addr":"10.77.0.11:39864","server-name":"","error":"remote error: tls: bad certificate"}"#;
const LAB_ETCDCTL: &str =
    "https://10.77.0.13:2379 is unhealthy: failed to commit proposal: context deadline exceeded";

fn ev(source: &str, lines: &[&str]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| (source.to_string(), l.to_string()))
        .collect()
}

fn id(d: &Diagnosis) -> &str {
    d.id.as_deref().unwrap_or("<none>")
}

#[test]
fn every_reference_failure_is_in_the_catalog() {
    let c = Catalog::try_builtin().unwrap_or_else(|e| panic!("{e}"));
    for want in REFERENCE_IDS {
        assert!(
            c.get(want).is_some(),
            "reference entry {want} missing from the catalog"
        );
    }
}

/// A stage that runs a daemon (it names units) can be looked at by `kubewiz diagnose`: it has a
/// health probe, and the catalog knows some of its failures; a stage with a probe has units
/// whose journal explains an unhealthy host.
#[test]
fn every_daemon_stage_has_units_a_health_probe_and_catalog_entries() {
    let c = Catalog::builtin();
    for s in stages::REGISTRY {
        assert_eq!(
            s.units.is_empty(),
            s.health.command.is_none(),
            "stage {}: units {:?} but health probe {}",
            s.name,
            s.units,
            s.health.command.is_some()
        );
        if !s.units.is_empty() {
            assert!(
                c.entries().iter().any(|e| e.stage == s.name),
                "stage {} runs {:?} but the catalog has no entry of its own",
                s.name,
                s.units
            );
        }
    }
    let etcd = stages::stage("etcd").expect("the etcd stage");
    assert_eq!(etcd.units, ["etcd"]);
    let probe = (etcd.health.command.expect("etcd's health probe"))();
    assert!(probe.ends_with(" endpoint health"), "{probe}");
}

/// `apply --auto-fix` and the TUI run fixes through `stages::fix`: every action the catalog
/// names resolves there with the catalog's destructive flag, and every fix a stage declares is
/// offered by some entry (a fix nothing offers is dead code).
#[test]
fn catalog_fix_actions_and_stage_fixes_match() {
    let c = Catalog::builtin();
    for e in c.entries() {
        if let Some(a) = &e.auto_fix {
            let f = stages::fix(&a.action)
                .unwrap_or_else(|| panic!("{}: no stage has the fix {}", e.id, a.action));
            assert_eq!(f.destructive(), a.destructive, "{}: {}", e.id, a.action);
        }
    }
    for f in stages::REGISTRY.iter().flat_map(|s| s.fixes) {
        assert!(
            c.entries()
                .iter()
                .any(|e| e.auto_fix.as_ref().is_some_and(|a| a.action == f.name)),
            "the fix {} is offered by no catalog entry",
            f.name
        );
    }
}

/// The catalog's etcdctl commands (probes run by kubewiz, commands shown to run by hand) are
/// the etcd stage's own rendering, so they cannot drift from the certificates it installs.
#[test]
fn catalog_etcdctl_commands_are_the_etcd_stages() {
    let c = Catalog::builtin();
    let (full, flags) = (stages::etcd::etcdctl(), stages::etcd::etcdctl_tls_flags());
    let mut seen = 0;
    for e in c.entries() {
        for p in &e.probes {
            if p.command.contains("--cacert=") {
                seen += 1;
                assert!(
                    p.command.contains(&full),
                    "{} probe {}: {}",
                    e.id,
                    p.name,
                    p.command
                );
            }
        }
        for m in e.manual.iter().filter(|m| m.contains("--cacert=")) {
            seen += 1;
            assert!(m.contains(&flags), "{} manual: {m}", e.id);
        }
    }
    assert!(
        seen >= 2,
        "the catalog has etcdctl commands (E4's probe and manual)"
    );
}

/// The catalog's upcoming stages are those it has entries for and kubewiz does not build:
/// adding a stage to the registry makes the loader refuse the catalog until the stage leaves
/// `upcoming_stages`; dropping one orphans its entries.
#[test]
fn upcoming_stages_are_checked_against_the_registry() {
    // The next stage to be built: the first upcoming one, and the catalog's first entry for it.
    let builtin = Catalog::builtin();
    let next = builtin.upcoming_stages()[0].clone();
    let first = builtin
        .entries()
        .iter()
        .find(|e| e.stage == next)
        .map(|e| e.id.clone())
        .expect("an upcoming stage has entries");
    // `[next, ...]`, or `[next]` when it is the last one.
    let list = match BUILTIN_YAML.contains(&format!("upcoming_stages: [{next}, ")) {
        true => format!("upcoming_stages: [{next}, "),
        false => format!("upcoming_stages: [{next}"),
    };
    assert!(
        BUILTIN_YAML.contains(&list),
        "the catalog lists {next} first"
    );

    // A built stage listed as upcoming.
    let e = Catalog::from_yaml(&BUILTIN_YAML.replacen(
        &list,
        &list.replacen("upcoming_stages: [", "upcoming_stages: [etcd, ", 1),
        1,
    ))
    .unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (None, "upcoming_stages"),
        "{e}"
    );
    assert!(e.message.contains("\"etcd\""), "{e}");

    // The registry grows that stage while the catalog still lists it as upcoming.
    let mut grown = Vocabulary::of(stages::REGISTRY);
    grown.stages.push(next.clone());
    let e = Catalog::from_yaml_with(BUILTIN_YAML, &grown).unwrap_err();
    assert_eq!(e.field, "upcoming_stages", "{e}");
    assert!(e.message.contains(&format!("{next:?}")), "{e}");
    // ... and once it leaves the list, the catalog loads with its entries as they are.
    let moved = BUILTIN_YAML.replacen(&list, "upcoming_stages: [", 1);
    let c = Catalog::from_yaml_with(&moved, &grown).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.get(&first).map(|e| e.stage.as_str()), Some(next.as_str()));

    // An upcoming stage dropped from the list leaves its first entry with an unknown stage.
    let e = Catalog::from_yaml(&moved).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some(first.as_str()), "stage"),
        "{e}"
    );
    let mut known: Vec<String> = stages::names(stages::REGISTRY)
        .into_iter()
        .map(String::from)
        .collect();
    known.extend(builtin.upcoming_stages()[1..].iter().take(1).cloned());
    assert!(
        e.message.contains(&format!("known: {}", known.join(", "))),
        "{e}"
    );

    // A fix no stage declares.
    let mut fewer = Vocabulary::of(stages::REGISTRY);
    fewer.fixes.retain(|(name, _)| name != "swap-off");
    let e = Catalog::from_yaml_with(BUILTIN_YAML, &fewer).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("H2"), "auto_fix.action"),
        "{e}"
    );
}

/// Through the real matcher path: each sample, alone as evidence (from a log, or from one of
/// the entry's probes for probe checks), is matched by its own entry.
#[test]
fn every_sample_is_matched_by_its_entry_through_the_matcher() {
    let c = Catalog::builtin();
    for e in c.entries() {
        let sources: Vec<&str> = std::iter::once("journalctl -u unit")
            .chain(e.probes.iter().map(|p| p.name.as_str()))
            .collect();
        for s in &e.samples {
            let hit = sources.iter().any(|src| {
                c.matches(&e.stage, &[(*src, s.as_str())])
                    .iter()
                    .any(|m| m.entry.id == e.id)
            });
            assert!(hit, "{}: sample not matched through the matcher: {s}", e.id);
        }
        for s in &e.not_samples {
            for src in &sources {
                let ids: Vec<&str> = c
                    .matches(&e.stage, &[(*src, s.as_str())])
                    .iter()
                    .map(|m| m.entry.id.as_str())
                    .collect();
                assert!(
                    !ids.contains(&e.id.as_str()),
                    "{}: not_sample matched: {s}",
                    e.id
                );
            }
        }
    }
}

#[test]
fn a_broken_entry_is_refused_naming_the_entry() {
    // A regex that does not compile, in an existing entry.
    let broken = BUILTIN_YAML.replacen("(?P<valid_for>.+?), not", "(?P<valid_for>.+?, not", 1);
    let e = Catalog::from_yaml(&broken).unwrap_err();
    assert_eq!(e.entry.as_deref(), Some("E2"), "{e}");
    assert_eq!(e.field, "signatures[0]", "{e}");
    assert!(e.to_string().contains("entry E2"), "{e}");

    // A new entry whose sample its signature does not match.
    let added = format!(
        "{BUILTIN_YAML}\n  - id: X1\n    stage: etcd\n    title: t\n    priority: 10\n    signatures: ['foo (?P<n>\\d+)']\n    samples: ['bar 1']\n    cause: 'c {{n}}'\n    fix: f\n    source: [s]\n"
    );
    let e = Catalog::from_yaml(&added).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("X1"), "samples[0]"),
        "{e}"
    );

    // A not_sample that matches.
    let loose = BUILTIN_YAML.replacen("'cluster ID mismatch'", "'cluster'", 1);
    let e = Catalog::from_yaml(&loose).unwrap_err();
    assert_eq!(e.entry.as_deref(), Some("E6"), "{e}");
    assert!(e.field.starts_with("not_samples"), "{e}");

    // A placeholder no signature captures.
    let typo = BUILTIN_YAML.replacen("Member {member} starts", "Member {membr} starts", 1);
    let e = Catalog::from_yaml(&typo).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("E5"), "cause"),
        "{e}"
    );

    // An unknown stage, and a duplicate id.
    let e = Catalog::from_yaml(&BUILTIN_YAML.replacen("stage: runtime", "stage: docker", 1))
        .unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("D1"), "stage"),
        "{e}"
    );
    let e = Catalog::from_yaml(&BUILTIN_YAML.replacen("- id: E9", "- id: E8", 1)).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("E8"), "id"),
        "{e}"
    );
}

#[test]
fn lab_bad_member_logs_give_e1_with_the_peer_ip() {
    let mut evidence = ev("journalctl -u etcd", LAB_BAD_MEMBER);
    evidence.push(("journalctl -u etcd".into(), LAB_ZAP_BAD_MEMBER.into()));
    evidence.push(("step output".into(), LAB_ETCDCTL.into()));
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(id(&d), "E1", "{d:#?}");
    assert!(d.cause.contains("and 10.77.0.11 fails"), "{}", d.cause);
    let matched: Vec<&str> = d
        .evidence
        .iter()
        .filter(|e| e.matched)
        .map(|e| e.line.as_str())
        .collect();
    assert!(
        matched.iter().any(|l| l.contains("10.77.0.11:36172")),
        "{matched:?}"
    );
    assert!(
        matched.iter().any(|l| l.contains("10.77.0.12:40112")),
        "{matched:?}"
    );
    // Context: the publish error right after the first matched line, not itself a match.
    assert!(
        d.evidence
            .iter()
            .any(|e| !e.matched && e.line.contains("publish error")),
        "{:#?}",
        d.evidence
    );
    let fix = d.auto_fix.expect("auto-fix");
    assert_eq!(
        (fix.action.as_str(), fix.destructive),
        ("reissue-etcd-certs", false)
    );
}

#[test]
fn lab_healthy_peer_logs_give_e2_naming_the_missing_ip() {
    let d = Catalog::builtin().diagnose("etcd", &ev("journalctl -u etcd", LAB_HEALTHY_PEER));
    assert_eq!(id(&d), "E2", "{d:#?}");
    assert!(
        d.cause
            .starts_with("10.77.0.13 is not in the certificate's SANs"),
        "{}",
        d.cause
    );
    assert!(d
        .auto_fix
        .unwrap()
        .description
        .contains("member at 10.77.0.13"));
}

#[test]
fn whole_lab_cluster_evidence_names_the_missing_ip() {
    let mut evidence = ev("m1: journalctl -u etcd", LAB_HEALTHY_PEER);
    evidence.extend(ev("m3: journalctl -u etcd", LAB_BAD_MEMBER));
    evidence.push(("m3: step output".into(), LAB_ETCDCTL.into()));
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(
        id(&d),
        "E2",
        "the specific entry outranks the generic one: {d:#?}"
    );
    assert!(d.cause.contains("10.77.0.13"), "{}", d.cause);
    assert!(d.cause.contains("10.77.0.99"), "{}", d.cause);
}

#[test]
fn clock_skew_outranks_the_tls_errors_it_causes() {
    let mut evidence = ev("journalctl -u etcd", LAB_BAD_MEMBER);
    evidence.push((
        "journalctl -u etcd".into(),
        "2026-11-23 16:31:31.000001 W | rafthttp: the clock difference against peer ed3d9c87aff5aaf0 is too high [12.4s > 1s]".into(),
    ));
    evidence.extend(ev("journalctl -u etcd", LAB_HEALTHY_PEER));
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(id(&d), "H4", "{d:#?}");
    assert!(d.cause.contains("12.4s"), "{}", d.cause);
    assert_eq!(d.auto_fix.unwrap().action, "sync-clock");

    // The same from etcd's JSON log, and from the engine's own skew measurement.
    let json = r#"{"level":"warn","ts":"2026-11-23T16:31:30.838Z","caller":"rafthttp/probing_status.go:86","msg":"prober found high clock drift","round-tripper-name":"ROUND_TRIPPER_RAFT_MESSAGE","remote-peer-id":"ed3d9c87aff5aaf0","clock-drift":"3.1s","rtt":"1.2ms"}"#;
    for (line, drift) in [
        (json, "3.1s"),
        ("clock skew across hosts: 2.5s > 1s", "2.5s"),
    ] {
        let mut e = ev("journalctl -u etcd", LAB_BAD_MEMBER);
        e.push(("clock".into(), line.into()));
        let d = Catalog::builtin().diagnose("etcd", &e);
        assert_eq!(id(&d), "H4");
        assert!(d.cause.contains(drift), "{}", d.cause);
    }
}

#[test]
fn not_yet_valid_is_clock_skew_but_expired_is_e9() {
    let c = Catalog::builtin();
    let future = "W | rafthttp: health check for peer 99e95e058a97b252 could not connect: x509: certificate has expired or is not yet valid: current time 2026-11-23T17:56:58Z is before 2026-11-24T17:56:10Z";
    let expired = "W | rafthttp: health check for peer 99e95e058a97b252 could not connect: x509: certificate has expired or is not yet valid: current time 2026-11-23T17:57:14Z is after 2026-11-22T17:56:10Z";
    assert_eq!(id(&c.diagnose("etcd", &ev("j", &[future]))), "H4");
    let d = c.diagnose("etcd", &ev("j", &[expired]));
    assert_eq!(id(&d), "E9");
    assert!(
        d.cause.contains("expired on 2026-11-22T17:56:10Z"),
        "{}",
        d.cause
    );
}

#[test]
fn a_firewall_outranks_the_etcd_symptoms() {
    let mut evidence = ev(
        "journalctl -u etcd",
        &["E | etcdserver: publish error: etcdserver: request timed out"],
    );
    evidence.push((
        "journalctl -u etcd".into(),
        "W | rafthttp: health check for peer 99e95e058a97b252 could not connect: dial tcp 10.77.0.13:2380: connect: no route to host".into(),
    ));
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(id(&d), "H3", "{d:#?}");
    assert!(
        d.cause.starts_with("10.77.0.13:2380 cannot be reached"),
        "{}",
        d.cause
    );

    // A DROP rule seen by the probe is enough, even when the log only shows timeouts.
    let mut evidence = ev(
        "journalctl -u etcd",
        &["E | etcdserver: publish error: etcdserver: request timed out"],
    );
    evidence.push(("iptables-input".into(), "-P INPUT ACCEPT".into()));
    evidence.push((
        "iptables-input".into(),
        "-A INPUT -p tcp -m multiport --dports 2379,2380 -j DROP".into(),
    ));
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(id(&d), "H3", "{d:#?}");
    assert!(d
        .evidence
        .iter()
        .any(|e| e.matched && e.source == "iptables-input"));
    assert_eq!(d.auto_fix.unwrap().action, "open-etcd-ports");

    // Only the timeouts: E4, restart together.
    let d = Catalog::builtin().diagnose(
        "etcd",
        &ev(
            "j",
            &["E | etcdserver: publish error: etcdserver: request timed out"],
        ),
    );
    assert_eq!(id(&d), "E4");
    assert_eq!(d.auto_fix.unwrap().action, "restart-etcd-together");
}

#[test]
fn address_in_use_gives_e8_naming_the_holder() {
    let evidence = vec![
        ("journalctl -u etcd".to_string(), "Nov 23 16:31:30 m1 etcd[812]: 2026-11-23 16:31:30.838370 C | etcdmain: listen tcp 10.77.0.11:2379: bind: address already in use".to_string()),
        ("journalctl -u etcd".to_string(), "Nov 23 16:31:30 m1 systemd[1]: etcd.service: Main process exited, code=exited, status=1/FAILURE".to_string()),
        ("etcd-listeners".to_string(), r#"LISTEN 0      128    10.77.0.11:2379 0.0.0.0:* users:(("python3",pid=19753,fd=3))"#.to_string()),
    ];
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(id(&d), "E8", "{d:#?}");
    assert!(
        d.cause
            .starts_with("10.77.0.11:2379 cannot be bound: address already in use"),
        "{}",
        d.cause
    );
    assert!(d.cause.contains("(python3, pid 19753)"), "{}", d.cause);
    assert!(
        d.manual_commands.contains(&"kill 19753".to_string()),
        "{:?}",
        d.manual_commands
    );
    assert!(d.auto_fix.is_none());
    assert!(
        d.evidence.iter().any(|e| e.source == "etcd-listeners"),
        "probe output is evidence"
    );
}

#[test]
fn already_bootstrapped_gives_e5_with_a_destructive_fix() {
    for line in [
        "2026-11-23 17:54:18.542980 C | etcdmain: member 13b3fcd2fe2f12da has already been bootstrapped",
        r#"{"level":"fatal","ts":"2026-11-23T17:54:39.546Z","caller":"etcdmain/etcd.go:271","msg":"discovery failed","error":"member 13b3fcd2fe2f12da has already been bootstrapped","stacktrace":"go.etcd.io/etcd/etcdmain.startEtcdOrProxyV2"}"#,
    ] {
        let d = Catalog::builtin().diagnose("etcd", &ev("journalctl -u etcd", &[line]));
        assert_eq!(id(&d), "E5", "{d:#?}");
        assert!(d.cause.contains("Member 13b3fcd2fe2f12da"), "{}", d.cause);
        let fix = d.auto_fix.expect("auto-fix");
        assert_eq!(fix.action, "wipe-etcd-data");
        assert!(fix.destructive, "wiping a data dir needs consent");
    }
}

#[test]
fn cluster_id_mismatch_gives_e6() {
    let d = Catalog::builtin().diagnose(
        "etcd",
        &ev(
            "journalctl -u etcd",
            &["2026-11-23 17:54:22.575415 E | rafthttp: request cluster ID mismatch (got dc83e80a104930ea want 1ac9a2d5d97683ae)"],
        ),
    );
    assert_eq!(id(&d), "E6", "{d:#?}");
    assert!(d.auto_fix.unwrap().destructive);

    // kubewiz's own stale data-dir check, before etcd ever starts.
    let d = Catalog::builtin().diagnose(
        "etcd",
        &ev(
            "step output",
            &[
                "stale etcd data directory /var/lib/etcd/member from another cluster (its marker: none; this cluster: lab-3f9a)",
                "etcd would refuse it with 'member has already been bootstrapped' or 'cluster ID mismatch'",
            ],
        ),
    );
    assert_eq!(id(&d), "E6", "{d:#?}");
    assert_eq!(d.auto_fix.unwrap().action, "wipe-etcd-data");
}

/// What `kubewiz diagnose` gathered on the lab's node3 after a power loss (etcd killed, its last
/// WAL record garbled): the health probe's timeouts (E4's lines), the unit restarting, and the
/// journal's one fatal line.
fn lab_damaged_member() -> Vec<(String, String)> {
    let mut evidence = ev(
        "step output",
        &[
            "https://127.0.0.1:2379 is unhealthy: failed to commit proposal: context deadline exceeded",
            "Error: unhealthy cluster",
            "etcd is not healthy after 90 s:",
        ],
    );
    evidence.extend(ev(
        "journalctl -u etcd",
        &[
            "the server is already initialized as member before, starting as etcd member...",
            "initial cluster = ",
            "walpb: crc mismatch",
        ],
    ));
    evidence.extend(ev(
        "etcd-unit",
        &["etcd.service loaded activating/auto-restart result=exit-code restarts=4 since Wed 2026-12-02 00:33:35 UTC"],
    ));
    evidence
}

#[test]
fn a_damaged_data_dir_outranks_the_quorum_symptoms_it_causes() {
    let d = Catalog::builtin().diagnose("etcd", &lab_damaged_member());
    assert_eq!(id(&d), "E12", "{d:#?}");
    assert!(d.cause.contains("(walpb: crc mismatch)"), "{}", d.cause);
    assert!(d
        .evidence
        .iter()
        .any(|e| e.matched && e.line == "walpb: crc mismatch"));
    let fix = d.auto_fix.expect("auto-fix");
    assert_eq!(
        (fix.action.as_str(), fix.destructive),
        ("replace-etcd-member", true),
        "moving a data directory aside needs consent"
    );
    // Without the journal's line it is only the symptoms: E4.
    let symptoms: Vec<_> = lab_damaged_member()
        .into_iter()
        .filter(|(_, l)| l != "walpb: crc mismatch")
        .collect();
    assert_eq!(id(&Catalog::builtin().diagnose("etcd", &symptoms)), "E4");
}

#[test]
fn every_kind_of_data_damage_gives_e12_in_both_log_formats() {
    for line in [
        // lab, then capnslog and zap on loopback
        "panic: cannot use none as id",
        "2026-12-02 00:41:29.055157 C | mvcc/backend: cannot open database at /tmp/repro-replace/d3/member/snap/db (file size too small)",
        r#"{"level":"panic","ts":"2026-12-02T00:44:24.711Z","caller":"backend/backend.go:162","msg":"failed to open database","path":"/tmp/repro-replace/d3/member/snap/db","error":"invalid database","stacktrace":"go.etcd.io/etcd/mvcc/backend.newBackend"}"#,
        r#"{"level":"panic","ts":"2026-12-02T00:43:43.899Z","caller":"raft/log.go:203","msg":"tocommit(94) is out of range [lastIndex(78)]. Was the raft log corrupted, truncated, or lost?"}"#,
    ] {
        let mut evidence = lab_damaged_member();
        evidence.retain(|(_, l)| l != "walpb: crc mismatch");
        evidence.push(("journalctl -u etcd".into(), line.into()));
        let d = Catalog::builtin().diagnose("etcd", &evidence);
        assert_eq!(id(&d), "E12", "{line}: {d:#?}");
        assert!(!d.cause.contains('{'), "every placeholder filled: {}", d.cause);
    }
    // An emptied WAL segment seen by the probe alone (its lab output).
    let d = Catalog::builtin().diagnose(
        "etcd",
        &ev(
            "etcd-data-files",
            &[
                "/var/lib/etcd/member/snap/db 20480 bytes, modified 2026-12-02 01:14",
                "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal 0 bytes, modified 2026-12-02 01:14",
            ],
        ),
    );
    assert_eq!(id(&d), "E12", "{d:#?}");
}

/// A member that bootstrapped anew, or data of another cluster, stays E5/E6 (their fix differs)
/// even where the member's unit restarts and its health times out as a damaged one's does.
#[test]
fn a_member_bootstrapped_anew_is_still_e5_or_e6() {
    for (line, want) in [
        ("member 13b3fcd2fe2f12da has already been bootstrapped", "E5"),
        ("2026-11-23 17:54:22.575415 E | rafthttp: request cluster ID mismatch (got dc83e80a104930ea want 1ac9a2d5d97683ae)", "E6"),
    ] {
        let mut evidence = lab_damaged_member();
        evidence.retain(|(_, l)| l != "walpb: crc mismatch");
        evidence.push(("journalctl -u etcd".into(), line.into()));
        assert_eq!(id(&Catalog::builtin().diagnose("etcd", &evidence)), want, "{line}");
    }
}

#[test]
fn unknown_text_gives_no_id_and_the_tail() {
    let lines: Vec<String> = (1..=40)
        .map(|i| format!("something odd happened, step {i}"))
        .collect();
    let evidence: Vec<(String, String)> = lines
        .iter()
        .map(|l| ("step output".to_string(), l.clone()))
        .collect();
    let d = Catalog::builtin().diagnose("etcd", &evidence);
    assert_eq!(d.id, None);
    assert_eq!(d.title, "no known failure matched");
    assert_eq!(d.evidence.len(), 15);
    assert_eq!(
        d.evidence.first().unwrap().line,
        "something odd happened, step 26"
    );
    assert_eq!(
        d.evidence.last().unwrap().line,
        "something odd happened, step 40"
    );
    assert!(d
        .evidence
        .iter()
        .all(|e| !e.matched && e.source == "step output"));
    assert!(
        d.fix.contains("full log") && d.fix.contains("retry"),
        "{}",
        d.fix
    );
    assert!(d.auto_fix.is_none());

    let d = Catalog::builtin().diagnose("etcd", &Vec::<(String, String)>::new());
    assert_eq!(d.id, None);
    assert!(d.evidence.is_empty());
}

#[test]
fn the_same_line_is_read_by_the_stage() {
    let line = "x509: certificate is valid for 127.0.0.1, 10.32.0.1, not 10.0.0.1";
    let c = Catalog::builtin();
    assert_eq!(id(&c.diagnose("etcd", &ev("j", &[line]))), "E2");
    assert_eq!(id(&c.diagnose("control_plane", &ev("j", &[line]))), "A2");
    assert_eq!(id(&c.diagnose("control-plane", &ev("j", &[line]))), "A2");
}

#[test]
fn probe_checks_diagnose_silent_failures() {
    let c = Catalog::builtin();
    let d = c.diagnose("network", &ev("forward-policy", &["-P FORWARD DROP"]));
    assert_eq!(id(&d), "D5");
    let d = c.diagnose(
        "network",
        &ev(
            "docker0-vs-flannel",
            &["docker0 172.17.0.1/16 differs from FLANNEL_SUBNET 10.244.1.1/24"],
        ),
    );
    assert_eq!(id(&d), "D4");
    assert!(
        d.cause
            .contains("docker0 has 172.17.0.1/16 while flannel leased 10.244.1.1/24"),
        "{}",
        d.cause
    );
    // The same text in a log is not the probe's output.
    assert_eq!(
        c.diagnose("network", &ev("journalctl -u docker", &["-P FORWARD DROP"]))
            .id,
        None
    );
}

#[test]
fn probes_for_a_stage_are_deduplicated_and_include_root_causes() {
    let c = Catalog::builtin();
    let probes = c.probes_for("etcd");
    let names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    for want in [
        "etcd-peer-cert",
        "etcd-data-dir",
        "etcd-listeners",
        "iptables-input",
        "clock",
        "time-sync",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "duplicates in {names:?}");
    assert!(
        !names.contains(&"forward-policy"),
        "network probes do not belong to etcd"
    );
    // Root causes first.
    assert_eq!(names[0], "clock");
    let peer = probes.iter().find(|p| p.name == "etcd-peer-cert").unwrap();
    assert!(
        peer.command.contains("subjectAltName") && peer.command.contains("/etc/etcd/pki/peer.crt")
    );
}

#[test]
fn get_finds_entries_by_id() {
    let c = Catalog::builtin();
    assert_eq!(
        c.get("E5").unwrap().auto_fix.as_ref().unwrap().action,
        "wipe-etcd-data"
    );
    assert!(c.get("Z9").is_none());
}

// ---- hosts kubewiz cannot reach: kubewiz's SSH error, then the control machine's TCP connect
// and ping (src/diagnose/reach.rs), as the lab printed them.

const LAB_SSH_NO_ROUTE: &str = "cannot connect to node3 (10.77.0.99:22): No route to host (os error 113); check that the machine is up, that the address and port are right and that sshd is running";
const LAB_SSH_REFUSED: &str = "cannot connect to node3 (10.77.0.13:22): Connection refused (os error 111); check that the machine is up, that the address and port are right and that sshd is running";
const LAB_SSH_TIMEOUT: &str = "connecting to node3 (10.77.0.13:22) timed out after 10s; check that the machine is up and that nothing blocks port 22 (or the configured port)";
const LAB_SSH_REJECTED: &str = "cannot connect to node3 (10.77.0.13:22): No route to host (os error 113); check that the machine is up, that the address and port are right and that sshd is running";
const LAB_SSH_KEY: &str = "node3 (10.77.0.13:22) rejected login as kube with public key /tmp/reach-exp/newkey; check the user name and that the key is in ~kube/.ssh/authorized_keys (or the password)";
const LAB_SSH_HOST_KEY_UNKNOWN: &str = "the host key of node3 (10.77.0.13:22) is not known (ssh-ed25519 SHA256:/YynTHLuAvT1yWBB3mr7ugeti76k9JtLavjLmRzD44E); verify the fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and accept it, or add it to a known_hosts file";
const LAB_SSH_HOST_KEY_CHANGED: &str = "HOST KEY CHANGED for node3 (10.77.0.13:22): /tmp/reach-exp/hkc/known_hosts:7 records ssh-ed25519 SHA256:03w+LdfaJiyC7NuHXGwYD5UcUj+bDMjbOzWhdv1fRrA but the server presented ssh-ed25519 SHA256:/YynTHLuAvT1yWBB3mr7ugeti76k9JtLavjLmRzD44E; this may be a man-in-the-middle attack; if the machine was legitimately reinstalled, remove that line and connect again";
const LAB_TCP_OPEN: &str =
    r#"tcp connect to 10.77.0.13:22: open, answers "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10""#;
const LAB_TCP_NO_ROUTE_99: &str =
    "tcp connect to 10.77.0.99:22: no route to host (No route to host (os error 113))";
const LAB_TCP_REFUSED: &str =
    "tcp connect to 10.77.0.13:22: refused (Connection refused (os error 111))";
const LAB_TCP_DROPPED: &str = "tcp connect to 10.77.0.13:22: no answer within 4s";
const LAB_TCP_REJECTED: &str =
    "tcp connect to 10.77.0.13:22: no route to host (No route to host (os error 113))";
const LAB_PING_OK: &str = "ping 10.77.0.13: answers (time=0.046 ms)";
const LAB_PING_SILENT: &str = "ping 10.77.0.99: no answer within 2s (1 packets transmitted, 0 received, 100% packet loss, time 0ms)";
const LAB_PING_MISSING: &str =
    "ping 10.77.0.99: cannot run ping (No such file or directory (os error 2))";

fn unreachable(ssh: &str, tcp: &str, ping: &str) -> Vec<(String, String)> {
    use kubewiz::diagnose::reach::{SOURCE, SSH_SOURCE};
    vec![
        (SSH_SOURCE.to_string(), ssh.to_string()),
        (SOURCE.to_string(), tcp.to_string()),
        (SOURCE.to_string(), ping.to_string()),
    ]
}

#[test]
fn an_unreachable_host_is_named_by_the_control_machines_probes() {
    let c = Catalog::builtin();
    // (what happened, evidence, id, title)
    let cases = [
        (
            "address nobody has",
            unreachable(LAB_SSH_NO_ROUTE, LAB_TCP_NO_ROUTE_99, LAB_PING_SILENT),
            "S1",
            "10.77.0.99 does not answer: the machine is off or the address is wrong",
        ),
        (
            "sshd stopped",
            unreachable(LAB_SSH_REFUSED, LAB_TCP_REFUSED, LAB_PING_OK),
            "S2",
            "sshd is not listening on 10.77.0.13:22: connection refused",
        ),
        (
            "DROP on port 22",
            unreachable(LAB_SSH_TIMEOUT, LAB_TCP_DROPPED, LAB_PING_OK),
            "S3",
            "port 22 of 10.77.0.13 does not answer: no answer within 4s",
        ),
        (
            "REJECT on port 22",
            unreachable(LAB_SSH_REJECTED, LAB_TCP_REJECTED, LAB_PING_OK),
            "S3",
            "port 22 of 10.77.0.13 does not answer: no route to host",
        ),
        // Without ping the control machine cannot tell a host that is off from a REJECT rule:
        // S3, whose cause says so.
        (
            "address nobody has, no ping here",
            unreachable(LAB_SSH_NO_ROUTE, LAB_TCP_NO_ROUTE_99, LAB_PING_MISSING),
            "S3",
            "port 22 of 10.77.0.99 does not answer: no route to host",
        ),
        (
            "key refused",
            unreachable(LAB_SSH_KEY, LAB_TCP_OPEN, LAB_PING_OK),
            "S4",
            "node3 (10.77.0.13:22) refuses the login of kube with public key /tmp/reach-exp/newkey",
        ),
        (
            "host key unknown",
            unreachable(LAB_SSH_HOST_KEY_UNKNOWN, LAB_TCP_OPEN, LAB_PING_OK),
            "S6",
            "the host key of node3 (10.77.0.13:22) is not known yet",
        ),
        (
            "host key changed",
            unreachable(LAB_SSH_HOST_KEY_CHANGED, LAB_TCP_OPEN, LAB_PING_OK),
            "S7",
            "the host key of node3 (10.77.0.13:22) has changed",
        ),
    ];
    for (what, evidence, want, title) in cases {
        for stage in ["preflight", "prep", "etcd"] {
            let d = c.diagnose(stage, &evidence);
            assert_eq!(id(&d), want, "{what} in {stage}: {d:#?}");
            assert_eq!(d.title, title, "{what}");
        }
    }
}

#[test]
fn the_probe_lines_are_the_evidence_of_an_unreachable_host() {
    let c = Catalog::builtin();
    let d = c.diagnose(
        "etcd",
        &unreachable(LAB_SSH_NO_ROUTE, LAB_TCP_NO_ROUTE_99, LAB_PING_SILENT),
    );
    let shown: Vec<(&str, &str, bool)> = d
        .evidence
        .iter()
        .map(|e| (e.source.as_str(), e.line.as_str(), e.matched))
        .collect();
    // The ping decides; the TCP line beside it is shown as context.
    assert_eq!(
        shown,
        [
            ("from the control machine", LAB_TCP_NO_ROUTE_99, false),
            ("from the control machine", LAB_PING_SILENT, true),
        ]
    );
    assert!(d
        .manual_commands
        .contains(&"ping -c 3 10.77.0.99".to_string()));

    let d = c.diagnose(
        "etcd",
        &unreachable(LAB_SSH_REFUSED, LAB_TCP_REFUSED, LAB_PING_OK),
    );
    let matched: Vec<(&str, &str)> = d
        .evidence
        .iter()
        .filter(|e| e.matched)
        .map(|e| (e.source.as_str(), e.line.as_str()))
        .collect();
    assert_eq!(
        matched,
        [
            ("ssh", LAB_SSH_REFUSED),
            ("from the control machine", LAB_TCP_REFUSED)
        ]
    );
    assert!(d
        .manual_commands
        .contains(&"nc -vz 10.77.0.13 22".to_string()));
}

#[test]
fn sudo_refusals_give_s5_in_every_stage() {
    let c = Catalog::builtin();
    let lines = [
        ("sudo on node3 (10.77.0.13:22) needs a password; give the sudo password for this host, or configure passwordless sudo (NOPASSWD) for the user", "needs a password"),
        ("sudo on node3 (10.77.0.13:22) rejected the sudo password; give the right sudo password for this host", "rejected the sudo password"),
        ("sudo failed on node3 (10.77.0.13:22): this step must run as root but user kube is not root and sudo is off for this host; log in as root or turn sudo on; make sure the user may run commands as root with sudo", "this step must run as root but user kube is not root and sudo is off for this host; log in as root or turn sudo on"),
    ];
    for (line, why) in lines {
        for stage in ["preflight", "prep", "etcd"] {
            let d = c.diagnose(stage, &ev("ssh", &[line]));
            assert_eq!(id(&d), "S5", "{line}: {d:#?}");
            assert_eq!(
                d.title,
                format!("sudo on node3 (10.77.0.13:22) refuses to run the steps as root: {why}")
            );
            assert!(d.evidence.iter().any(|e| e.matched && e.line == line));
        }
    }
}

#[test]
fn a_reachable_host_gives_no_reach_entry() {
    let c = Catalog::builtin();
    // A step that failed on its own on a host the control machine reaches fine.
    let mut evidence = ev("step output", &["exited with status 1"]);
    evidence.extend(ev(
        kubewiz::diagnose::reach::SOURCE,
        &[LAB_TCP_OPEN, LAB_PING_OK],
    ));
    let d = c.diagnose("etcd", &evidence);
    assert_eq!(d.id, None, "{d:#?}");
}

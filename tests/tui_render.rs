//! Render tests of every TUI screen on ratatui's TestBackend, snapshotted with insta (gitui's
//! way). Deterministic: the clock is injected, paths are relative, events are a recorded
//! sequence (the shape of a real prep + etcd run, with a Diagnosis E1 on a failure).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubewiz::config::{self, ClusterSpec};
use kubewiz::events::{
    AutoFix, Counts, Diagnosis, Event, Evidence, OutputStream, StageSummary, StepOutcome, StepRef,
};
use kubewiz::tui::theme::Theme;
use kubewiz::tui::wizard::{self, HostCheck, Step, Wizard};
use kubewiz::tui::{App, Mode};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const W: u16 = 120;
const H: u16 = 40;

fn render(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    format!("{}", t.backend())
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

/// The lab's cluster, with agent auth (a key file would be checked on disk).
fn lab_spec() -> ClusterSpec {
    config::parse_str(
        r#"
name: lab
defaults: { user: kube, sudo: true, auth: { method: agent } }
hosts:
  - { name: node1, address: 10.77.0.11, roles: [etcd, master, node] }
  - { name: node2, address: 10.77.0.12, roles: [etcd, node] }
  - { name: node3, address: 10.77.0.13, roles: [etcd, node] }
network: { pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12 }
"#,
    )
    .unwrap()
}

fn wizard_app(step: Step) -> App {
    let mut app = App::new(Theme::COLOR);
    let mut w = Wizard::open("clusters/lab/cluster.yaml".into(), lab_spec());
    w.checks = vec![
        HostCheck::Ok("logged in as kube, sudo works (root)".into()),
        HostCheck::UnknownKey {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:q0Lr3sKpJ5m6bS3O1x2vY8fPzv8k2C0Tn7rj0aM6c1E".into(),
        },
        HostCheck::Untested,
    ];
    w.selected_host = 1;
    let mut fx = vec![];
    w.go(step, &mut fx);
    app.wizard = w;
    app
}

/// A new cluster on its (empty) hosts screen.
fn empty_hosts_app() -> App {
    let mut app = App::new(Theme::COLOR);
    let mut w = Wizard::new("lab");
    w.step = Step::HOSTS;
    app.wizard = w;
    app
}

#[test]
fn welcome() {
    let mut app = App::new(Theme::COLOR);
    // Typing the name updates the default cluster file.
    app.on_key(key(KeyCode::Down));
    for _ in 0..9 {
        app.on_key(key(KeyCode::Backspace));
    }
    typed(&mut app, "lab");
    insta::assert_snapshot!("welcome", render(&mut app, W, H));
    assert_eq!(
        app.wizard.welcome.value("file"),
        "./clusters/lab/cluster.yaml"
    );
}

#[test]
fn welcome_invalid_name() {
    let mut app = App::new(Theme::COLOR);
    app.on_key(key(KeyCode::Down));
    typed(&mut app, "_X");
    insta::assert_snapshot!("welcome_invalid_name", render(&mut app, W, H));
}

#[test]
fn hosts() {
    let mut app = wizard_app(Step::HOSTS);
    insta::assert_snapshot!("hosts", render(&mut app, W, H));
}

#[test]
fn hosts_empty() {
    let mut app = empty_hosts_app();
    insta::assert_snapshot!("hosts_empty", render(&mut app, W, H));
}

#[test]
fn hosts_bulk_paste() {
    let mut app = empty_hosts_app();
    app.on_key(key(KeyCode::Char('p')));
    typed(&mut app, "10.77.0.11 node1 etcd,master,node");
    app.on_key(key(KeyCode::Enter));
    typed(&mut app, "10.77.0.12 node2 etcd,node");
    app.on_key(key(KeyCode::Enter));
    typed(&mut app, "10.77.0.13");
    insta::assert_snapshot!("hosts_bulk_paste", render(&mut app, W, H));
    app.on_key(ctrl('s'));
    assert_eq!(app.wizard.spec.hosts.len(), 2);
}

#[test]
fn host_edit_with_error() {
    let mut app = wizard_app(Step::HOSTS);
    app.on_key(key(KeyCode::Char('e')));
    // Address field: make it wrong.
    app.on_key(key(KeyCode::Down));
    typed(&mut app, "x");
    insta::assert_snapshot!("host_edit", render(&mut app, W, H));
}

#[test]
fn network_validated_as_you_type() {
    let mut app = wizard_app(Step::NETWORK);
    // Service CIDR overlapping the pod CIDR: the error is beside the field.
    app.on_key(key(KeyCode::Down));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "10.240.0.0/12");
    insta::assert_snapshot!("network", render(&mut app, W, H));
    assert!(app
        .wizard
        .finding_for("network.service_cidr")
        .is_some_and(|(e, m)| e && m.contains("overlaps")));
}

#[test]
fn pod_network() {
    let mut app = wizard_app(Step::POD_NETWORK);
    insta::assert_snapshot!("pod_network_flannel", render(&mut app, W, H));
    app.on_key(key(KeyCode::Right));
    insta::assert_snapshot!("pod_network_calico", render(&mut app, W, H));
}

#[test]
fn runtime() {
    let mut app = wizard_app(Step::RUNTIME);
    insta::assert_snapshot!("runtime", render(&mut app, W, H));
}

#[test]
fn review() {
    let mut app = wizard_app(Step::REVIEW);
    insta::assert_snapshot!("review", render(&mut app, W, H));
    // The text is the cluster file `apply` reads.
    let text = app
        .wizard
        .review
        .as_ref()
        .unwrap()
        .textarea
        .lines()
        .join("\n");
    assert_eq!(config::parse_str(&text).unwrap(), lab_spec());
    assert_eq!(text, wizard::file_text(&lab_spec()).trim_end());
}

#[test]
fn review_with_error() {
    let mut app = wizard_app(Step::REVIEW);
    // Break the name on line 2.
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::End));
    typed(&mut app, "_");
    insta::assert_snapshot!("review_error", render(&mut app, W, H));
}

// ---------------------------------------------------------------------- dashboard

const HOSTS: [&str; 3] = ["node1", "node2", "node3"];
const PREP: [&str; 8] = [
    "firewalld",
    "selinux",
    "swap",
    "etc-hosts",
    "hostname",
    "br-netfilter",
    "sysctl",
    "time-sync",
];
const ETCD: [&str; 4] = ["install", "certs", "start", "health"];

fn stages() -> Vec<StageSummary> {
    let hosts: Vec<String> = HOSTS.iter().map(|s| s.to_string()).collect();
    vec![
        StageSummary::each_host("prep", &PREP, &hosts),
        StageSummary::each_host("etcd", &ETCD, &hosts),
    ]
}

fn started(stage: &str, step: &str, host: &str) -> Event {
    Event::StepStarted {
        at: StepRef::new(stage, step, host),
        attempt: 1,
    }
}

fn out(stage: &str, step: &str, host: &str, line: &str) -> Event {
    Event::Output {
        at: StepRef::new(stage, step, host),
        stream: OutputStream::Stdout,
        line: line.into(),
    }
}

fn finished(stage: &str, step: &str, host: &str, outcome: StepOutcome, ms: u64) -> Event {
    Event::StepFinished {
        at: StepRef::new(stage, step, host),
        outcome,
        duration_ms: ms,
        attempt: 1,
    }
}

/// Prep on all hosts (node3 lags behind at `hostname` when `all` is false).
fn prep_events(app: &mut App, all: bool) {
    let feed = |app: &mut App, ev| app.on_engine(ev);
    app.set_now(0);
    feed(
        app,
        Event::PlanStarted {
            cluster: "lab".into(),
            stages: stages(),
            total_steps: 36,
            resumed: false,
        },
    );
    feed(
        app,
        Event::StageStarted {
            stage: "prep".into(),
        },
    );
    let mut t = 0;
    for (k, step) in PREP.iter().enumerate() {
        for host in HOSTS {
            if !all && host == "node3" && k >= 4 {
                continue;
            }
            t += 40;
            app.set_now(t);
            feed(app, started("prep", step, host));
            match *step {
                "firewalld" => feed(
                    app,
                    finished(
                        "prep",
                        step,
                        host,
                        StepOutcome::NotApplicable {
                            reason: "firewalld is not installed".into(),
                        },
                        35,
                    ),
                ),
                "hostname" => {
                    feed(
                        app,
                        out("prep", step, host, &format!("hostname set to {host}")),
                    );
                    feed(app, finished("prep", step, host, StepOutcome::Changed, 120));
                }
                "etc-hosts" => {
                    feed(
                        app,
                        out("prep", step, host, "/etc/hosts lists the 3 cluster hosts"),
                    );
                    feed(app, finished("prep", step, host, StepOutcome::Changed, 80));
                }
                _ => feed(
                    app,
                    finished("prep", step, host, StepOutcome::Unchanged, 60),
                ),
            }
        }
    }
    if !all {
        app.set_now(t + 10);
        feed(app, started("prep", "hostname", "node3"));
        feed(
            app,
            out("prep", "hostname", "node3", "setting the hostname to node3"),
        );
        return;
    }
    feed(
        app,
        Event::StageFinished {
            stage: "prep".into(),
            ok: true,
            counts: Counts::default(),
            duration_ms: 2140,
        },
    );
}

fn dashboard_app() -> App {
    let mut app = App::for_stages(Theme::COLOR, "lab", &stages());
    app.wizard.file = "clusters/lab/cluster.yaml".into();
    app.wizard.spec = lab_spec();
    app
}

#[test]
fn dashboard_mid_run() {
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    app.set_now(2600);
    insta::assert_snapshot!("dashboard_running", render(&mut app, W, H));
}

#[test]
fn dashboard_finished() {
    let mut app = dashboard_app();
    prep_events(&mut app, true);
    app.on_engine(Event::StageStarted {
        stage: "etcd".into(),
    });
    for (i, step) in ETCD.iter().enumerate() {
        for host in HOSTS {
            app.on_engine(started("etcd", step, host));
            if *step == "health" && host == "node1" {
                for l in [
                    "https://10.77.0.11:2379 is healthy: successfully committed proposal: took = 9.1ms",
                    "https://10.77.0.12:2379 is healthy: successfully committed proposal: took = 8.7ms",
                    "https://10.77.0.13:2379 is healthy: successfully committed proposal: took = 10.2ms",
                ] {
                    app.on_engine(out("etcd", step, host, l));
                }
            }
            app.on_engine(finished(
                "etcd",
                step,
                host,
                StepOutcome::Changed,
                300 + i as u64 * 100,
            ));
        }
    }
    app.on_engine(Event::StageFinished {
        stage: "etcd".into(),
        ok: true,
        counts: Counts::default(),
        duration_ms: 4800,
    });
    app.on_engine(Event::PlanFinished {
        ok: true,
        interrupted: false,
        counts: Counts::default(),
        duration_ms: 7012,
    });
    app.set_now(9000);
    // Select node1's etcd health log.
    app.on_key(key(KeyCode::Right));
    app.on_key(key(KeyCode::Char(']')));
    app.on_key(key(KeyCode::Char(']')));
    app.on_key(key(KeyCode::Char(']')));
    insta::assert_snapshot!("dashboard_done", render(&mut app, W, H));
}

fn e1() -> Diagnosis {
    Diagnosis {
        id: Some("E1".into()),
        title: "etcd peer certificate lacks this member's IP".into(),
        cause: "node2's peer certificate does not list 10.77.0.12 in its SANs, so the other members reject its TLS connections (bad certificate)".into(),
        evidence: vec![
            Evidence {
                source: "journalctl -u etcd".into(),
                line: "rejected connection from \"10.77.0.12:39778\" (error \"tls: \\\"10.77.0.12\\\" does not match any of DNSNames [\\\"localhost\\\"]\")".into(),
                matched: true,
            },
            Evidence {
                source: "step output".into(),
                line: "is unhealthy: failed to commit proposal: context deadline exceeded".into(),
                matched: true,
            },
            Evidence {
                source: "openssl x509".into(),
                line: "X509v3 Subject Alternative Name: DNS:localhost, IP Address:10.77.0.99".into(),
                matched: false,
            },
        ],
        fix: "reissue the etcd peer and server certificates with every member IP, upload them, restart etcd on all members".into(),
        manual_commands: vec![
            "kubewiz certs renew -f clusters/lab/cluster.yaml --etcd".into(),
            "kubewiz apply -f clusters/lab/cluster.yaml --from-stage etcd".into(),
        ],
        auto_fix: Some(AutoFix {
            action: "reissue-etcd-certs".into(),
            description: "reissue the etcd certificates and restart etcd".into(),
            destructive: false,
        }),
    }
}

/// The recorded failure: etcd health fails on node2, diagnosed as E1.
fn failure_events(app: &mut App, with_diagnosis: bool) {
    let tail = [
        "waiting for etcd to be healthy (90s)",
        "{\"level\":\"warn\",\"msg\":\"rejected connection\",\"remote-addr\":\"10.77.0.11:39864\",\"error\":\"remote error: tls: bad certificate\"}",
        "https://10.77.0.12:2379 is unhealthy: failed to commit proposal: context deadline exceeded",
        "Error: unhealthy cluster",
    ];
    health_fails_on(app, "node2", &tail, with_diagnosis.then(e1));
}

/// etcd's health step fails on `host` with `tail` as its last output, diagnosed as `diagnosis`.
fn health_fails_on(app: &mut App, host: &str, tail: &[&str], diagnosis: Option<Diagnosis>) {
    prep_events(app, true);
    app.on_engine(Event::StageStarted {
        stage: "etcd".into(),
    });
    for step in ["install", "certs", "start"] {
        for h in HOSTS {
            app.on_engine(started("etcd", step, h));
            app.on_engine(finished("etcd", step, h, StepOutcome::Changed, 400));
        }
    }
    for h in HOSTS {
        app.on_engine(started("etcd", "health", h));
    }
    let tail: Vec<String> = tail.iter().map(|l| l.to_string()).collect();
    for l in &tail {
        app.on_engine(out("etcd", "health", host, l));
    }
    for h in HOSTS.iter().filter(|h| **h != host) {
        app.on_engine(finished("etcd", "health", h, StepOutcome::Changed, 2100));
    }
    app.on_engine(finished(
        "etcd",
        "health",
        host,
        StepOutcome::Failed {
            exit_status: Some(1),
            message: "the script exited with status 1".into(),
            last_lines: tail,
        },
        90_000,
    ));
    if let Some(diagnosis) = diagnosis {
        app.on_engine(Event::Diagnosis {
            at: StepRef::new("etcd", "health", host),
            diagnosis,
        });
    }
    app.on_engine(Event::StageFinished {
        stage: "etcd".into(),
        ok: false,
        counts: Counts::default(),
        duration_ms: 95_000,
    });
    app.on_engine(Event::PlanFinished {
        ok: false,
        interrupted: false,
        counts: Counts::default(),
        duration_ms: 97_500,
    });
    app.set_now(98_000);
}

/// A fix whose description wraps (E2's names the member and what is done) is shown whole,
/// with its key: the actions area grows with it.
#[test]
fn a_long_fix_description_is_shown_whole() {
    let mut app = dashboard_app();
    failure_events(&mut app, false);
    let mut d = e1();
    d.auto_fix.as_mut().unwrap().description = "Re-issue the etcd certificates of the member \
        at 10.77.0.13 from the existing etcd CA with the missing SAN, redistribute them, and \
        restart the members together."
        .into();
    app.on_engine(Event::Diagnosis {
        at: StepRef::new("etcd", "health", "node2"),
        diagnosis: d,
    });
    let screen = render(&mut app, 100, H);
    let flat: String = screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '"' || c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("apply the fix, then retry the stage: Re-issue")
            && flat.contains("restart the members together."),
        "{screen}"
    );
}

#[test]
fn troubleshooting_pane_with_diagnosis() {
    let mut app = dashboard_app();
    failure_events(&mut app, true);
    assert!(
        app.dash.as_ref().unwrap().pane.is_some(),
        "the pane opens on a failure"
    );
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("troubleshoot_e1", screen);

    // Matched evidence is highlighted (not only coloured: also under NO_COLOR).
    let mut mono = dashboard_app();
    mono.theme = Theme::MONO;
    failure_events(&mut mono, true);
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    t.draw(|f| mono.draw(f)).unwrap();
    let buf = t.backend().buffer();
    let row = (0..H)
        .find(|y| {
            (0..W)
                .map(|x| buf[(x, *y)].symbol().to_string())
                .collect::<String>()
                .contains("is unhealthy: failed to commit")
        })
        .expect("the evidence line is shown");
    let styled = (0..W).any(|x| {
        buf[(x, row)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    });
    assert!(styled, "the matched line is reversed in monochrome");
    assert!(
        (0..H).all(|y| (0..W).all(|x| buf[(x, y)].fg == ratatui::style::Color::Reset)),
        "NO_COLOR: no colour at all"
    );

    // "Apply the fix" runs the catalog's action for node2, then the stage again.
    let mut fixing = dashboard_app();
    failure_events(&mut fixing, true);
    fixing.on_key(key(KeyCode::Char('a')));
    match &fixing.take_effects()[..] {
        [kubewiz::tui::Effect::ApplyFix {
            action,
            host,
            stage,
            ..
        }] => assert_eq!(
            (action.as_str(), host.as_str(), stage.as_str()),
            ("reissue-etcd-certs", "node2", "etcd")
        ),
        other => panic!("expected one ApplyFix, got {other:?}"),
    }

    // Retry asks the engine for one step on node2.
    app.on_key(key(KeyCode::Char('h')));
    let fx = app.take_effects();
    match &fx[..] {
        [kubewiz::tui::Effect::StartRun { kind, .. }] => assert_eq!(
            kind,
            &kubewiz::tui::dashboard::RunKind::Retry {
                stage: "etcd".into(),
                step: "health".into(),
                hosts: vec!["node2".into()]
            }
        ),
        other => panic!("expected one StartRun, got {other:?}"),
    }
}

/// node3's health step after a power loss emptied its WAL segment, and the evidence kubewiz
/// gathers there (the lab's real lines), diagnosed by the real catalog: E12.
const E12_HEALTH_TAIL: [&str; 4] = [
    "etcd keeps exiting on this member: systemd restarted it 4 times in 19 s, so it is not waited for",
    "{\"level\":\"warn\",\"ts\":\"2026-12-02T01:56:28.446Z\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"endpoint://client-f9bb4734-e9af-4748-8fb5-32e7a74e63fa/127.0.0.1:2379\",\"attempt\":0,\"error\":\"rpc error: code = DeadlineExceeded desc = latest balancer error: all SubConns are in TransientFailure\"}",
    "https://127.0.0.1:2379 is unhealthy: failed to commit proposal: context deadline exceeded",
    "Error: unhealthy cluster",
];

fn e12() -> Diagnosis {
    let mut evidence: Vec<(String, String)> = E12_HEALTH_TAIL
        .iter()
        .map(|l| ("step output".to_string(), l.to_string()))
        .collect();
    for (source, line) in [
        ("journalctl -u etcd", "initial cluster = "),
        ("journalctl -u etcd", "restarting member 0 in cluster 0 at commit index 0"),
        ("journalctl -u etcd", "panic: cannot use none as id"),
        ("journalctl -u etcd", "goroutine 1 [running]:"),
        ("etcd-unit", "etcd.service loaded activating/auto-restart result=exit-code restarts=2 since Wed 2026-12-02 01:14:45 UTC"),
        ("etcd-data-files", "/var/lib/etcd/member/snap/db 20480 bytes, modified 2026-12-02 01:14"),
        ("etcd-data-files", "/var/lib/etcd/member/wal/0.tmp 64000000 bytes, modified 2026-12-02 01:14"),
        ("etcd-data-files", "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal 0 bytes, modified 2026-12-02 01:14"),
    ] {
        evidence.push((source.into(), line.into()));
    }
    kubewiz::diagnose::Catalog::builtin().diagnose("etcd", &evidence)
}

/// A damaged member: its diagnosis, the matched journal line highlighted, the destructive fix
/// one key away and a confirmation that says what it moves aside; a refusal reads whole.
#[test]
fn troubleshooting_pane_for_a_damaged_member() {
    let mut app = dashboard_app();
    let d = e12();
    assert_eq!(d.id.as_deref(), Some("E12"), "{d:#?}");
    health_fails_on(&mut app, "node3", &E12_HEALTH_TAIL, Some(d));
    insta::assert_snapshot!("troubleshoot_e12", render(&mut app, W, H));

    app.on_key(key(KeyCode::Char('a')));
    assert!(
        app.take_effects().is_empty(),
        "a destructive fix asks first"
    );
    insta::assert_snapshot!("troubleshoot_e12_confirm", render(&mut app, W, H));
    app.on_key(key(KeyCode::Char('y')));
    match &app.take_effects()[..] {
        [kubewiz::tui::Effect::ApplyFix {
            action,
            host,
            destructive_ok,
            ..
        }] => assert_eq!(
            (action.as_str(), host.as_str(), *destructive_ok),
            ("replace-etcd-member", "node3", true)
        ),
        other => panic!("expected one ApplyFix, got {other:?}"),
    }
    app.on_msg(kubewiz::tui::Msg::FixDone {
        stage: "etcd".into(),
        result: Err("refusing to replace node3: the cluster has 3 members, so removing node3 and adding it back needs 2 healthy members besides it, and only 1 is (node1). Nothing was changed: bring the other members back first (a cluster that has lost its quorum is restored from a snapshot, not repaired member by member)".into()),
    });
    insta::assert_snapshot!("troubleshoot_e12_refused", render(&mut app, W, H));
}

#[test]
fn troubleshooting_pane_without_catalog_match() {
    let mut app = dashboard_app();
    failure_events(&mut app, false);
    insta::assert_snapshot!("troubleshoot_no_match", render(&mut app, W, H));
    // Skip asks first.
    app.on_key(key(KeyCode::Char('s')));
    insta::assert_snapshot!("troubleshoot_skip_confirm", render(&mut app, W, H));
}

#[test]
fn full_log_and_search() {
    let mut app = dashboard_app();
    failure_events(&mut app, true);
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('/')));
    typed(&mut app, "unhealthy");
    app.on_key(key(KeyCode::Enter));
    insta::assert_snapshot!("dashboard_search", render(&mut app, W, H));
    app.on_key(key(KeyCode::Char('l')));
    insta::assert_snapshot!("full_log", render(&mut app, W, H));
}

#[test]
fn help() {
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    app.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!("help_dashboard", render(&mut app, W, H));
    let mut app = wizard_app(Step::HOSTS);
    app.on_key(key(KeyCode::F(1)));
    insta::assert_snapshot!("help_wizard", render(&mut app, W, H));
}

#[test]
fn too_small() {
    let mut app = wizard_app(Step::HOSTS);
    insta::assert_snapshot!("too_small", render(&mut app, 60, 15));
}

#[test]
fn quit_mid_run_asks_then_cancels() {
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    app.on_key(key(KeyCode::Char('q')));
    insta::assert_snapshot!("quit_prompt", render(&mut app, W, H));
    app.on_key(key(KeyCode::Char('y')));
    assert!(matches!(
        app.take_effects()[..],
        [kubewiz::tui::Effect::Cancel]
    ));
    assert!(!app.quit, "waits for the engine to stop");
    app.on_msg(kubewiz::tui::Msg::RunEnded {
        kind: kubewiz::tui::dashboard::RunKind::Full,
        result: Ok(false),
    });
    assert!(app.quit);
    assert_eq!(app.mode, Mode::Dashboard);
}

#[test]
fn log_is_bounded_under_a_flood() {
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    for i in 0..20_000 {
        app.on_engine(out("prep", "hostname", "node3", &format!("line {i}")));
    }
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Down));
    let d = app.dash.as_ref().unwrap();
    let ring = d.ring(0, 2, 4).unwrap();
    assert_eq!(ring.len(), kubewiz::tui::logbuf::LINES_PER_STEP);
    assert!(render(&mut app, W, H).contains("line 19999"));
}

#[test]
fn reopening_an_interrupted_cluster_offers_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cluster.yaml");
    std::fs::write(&file, wizard::file_text(&lab_spec())).unwrap();
    std::fs::create_dir_all(tmp.path().join("state")).unwrap();
    std::fs::write(
        tmp.path().join("state/journal.json"),
        r#"{"version":1,"run_started_unix":1,"run_complete":false,
            "steps":{"prep/swap@node1":{"hash":"h","outcome":"unchanged","finished_unix":2}}}"#,
    )
    .unwrap();
    let mut app = App::with_file(Theme::COLOR, &file);
    assert_eq!(app.prompt, Some(kubewiz::tui::Prompt::Resume { steps: 1 }));
    insta::assert_snapshot!("resume_prompt", render(&mut app, W, H));
    // No: the wizard, on the hosts.
    app.on_key(key(KeyCode::Char('n')));
    assert_eq!(app.prompt, None);
    assert_eq!(app.mode, Mode::Wizard);
    assert_eq!(app.wizard.step, Step::HOSTS);
}

#[test]
fn a_broken_cluster_file_opens_in_the_review_editor() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cluster.yaml");
    std::fs::write(&file, "name: lab\nhosts: [\n").unwrap();
    let app = App::with_file(Theme::COLOR, &file);
    assert_eq!(app.wizard.step, Step::REVIEW);
    let review = app.wizard.review.as_ref().unwrap();
    assert!(review.findings.iter().any(|f| f.is_error()));
    assert_eq!(review.textarea.lines()[1], "hosts: [");
}

#[test]
fn a_missing_cluster_file_starts_a_new_cluster_there() {
    let app = App::with_file(
        Theme::COLOR,
        std::path::Path::new("clusters/prod/cluster.yaml"),
    );
    assert_eq!(app.wizard.step, Step::WELCOME);
    assert_eq!(app.wizard.spec.name, "prod");
    assert_eq!(
        app.wizard.welcome.value("file"),
        "clusters/prod/cluster.yaml"
    );
}

// ---------------------------------------------------------------------- paste, control characters

/// No cell of the screen holds a control character (it would reach the terminal as is).
fn assert_no_control_characters(app: &mut App) {
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer();
    for y in 0..H {
        for x in 0..W {
            let s = buf[(x, y)].symbol();
            assert!(
                !s.chars().any(char::is_control),
                "control character {s:?} at {x},{y}"
            );
        }
    }
}

#[test]
fn hosts_paste_box_shows_its_examples_on_two_lines() {
    let mut app = empty_hosts_app();
    app.on_key(key(KeyCode::Char('p')));
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("hosts_paste_empty", screen);
    let first = screen
        .lines()
        .position(|l| l.contains("192.168.1.10 master01 etcd,master"))
        .expect("the first example is shown");
    let line = screen.lines().nth(first).unwrap();
    assert!(!line.contains("192.168.1.11"), "run together: {line}");
    assert!(screen
        .lines()
        .nth(first + 1)
        .unwrap()
        .contains("192.168.1.11 node01 node"));
}

#[test]
fn a_terminal_paste_with_cr_line_ends_gives_hosts_and_a_clean_screen() {
    use crossterm::event::Event as TermEvent;
    let mut app = empty_hosts_app();
    app.on_key(key(KeyCode::Char('p')));
    // What a terminal sends for three pasted lines (bracketed paste): CR line ends (one CRLF),
    // a tab, and control characters that must not reach the screen.
    app.on_terminal(TermEvent::Paste(
        "10.77.0.11 node1 etcd,master,node\r10.77.0.12\tnode2 etcd,node\r\n10.77.0.13 node3\u{7} etcd,node\u{1b}\r".into(),
    ));
    let screen = render(&mut app, W, H);
    assert!(screen.contains("3 host(s) ready"), "{screen}");
    assert_no_control_characters(&mut app);
    let lines = &app.wizard.paste.as_ref().unwrap().textarea;
    assert!(lines
        .lines()
        .iter()
        .all(|l| !l.chars().any(char::is_control)));
    app.on_key(ctrl('s'));
    assert_eq!(app.wizard.spec.hosts.len(), 3);
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.wizard.step, Step::NETWORK);
    let screen = render(&mut app, W, H);
    assert!(screen.contains("Pod CIDR"), "{screen}");
    assert!(!screen.contains("etcd,node"), "{screen}");
    assert_no_control_characters(&mut app);
}

#[test]
fn control_characters_from_a_host_never_reach_the_screen() {
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    app.on_engine(out(
        "prep",
        "hostname",
        "node3",
        "progress 10%\rprogress 20%\u{1b}[1A\u{7}done",
    ));
    let screen = render(&mut app, W, H);
    assert!(screen.contains("progress 10%"), "{screen}");
    assert_no_control_characters(&mut app);
}

#[test]
fn a_runtime_rule_is_shown_beside_the_runtime_and_the_kubernetes_version() {
    for path in ["runtime", "versions.kubernetes"] {
        let mut app = wizard_app(Step::RUNTIME);
        app.wizard.findings.push(config::Finding::error(
            path,
            "docker needs Kubernetes 1.23 or older",
        ));
        let screen = render(&mut app, W, H);
        // The runtime's line shows its choice, the Kubernetes line its version.
        for label in ["◉ containerd", "1.32.0"] {
            let line = screen
                .lines()
                .find(|l| l.contains(label))
                .unwrap_or_else(|| panic!("no {label} line:\n{screen}"));
            assert!(
                line.contains("✗ docker needs Kubernetes 1.23 or older"),
                "{path}: not beside {label}: {line}"
            );
        }
        assert!(
            screen
                .lines()
                .next()
                .unwrap()
                .contains("Runtime & versions ✗1"),
            "the crumb counts it: {screen}"
        );
    }
}

// ---------------------------------------------------------------------- keymaps

#[test]
fn the_pane_shows_the_keys_its_handler_takes() {
    use kubewiz::tui::trouble::PANE_KEYS;
    let mut app = dashboard_app();
    failure_events(&mut app, true);
    let screen = render(&mut app, W, H);
    // The action line: every key with a footer text, from the keymap the handler reads.
    let actions = screen
        .lines()
        .find(|l| l.contains("retry on node2 only"))
        .expect("the action line");
    for b in PANE_KEYS.bindings.iter().filter(|b| b.footer.is_some()) {
        assert!(
            actions.contains(&format!(" {} ", b.label)),
            "{}: {actions}",
            b.label
        );
    }
    // The help lists every binding of the pane.
    app.on_key(key(KeyCode::Char('?')));
    assert!(app.help);
    let help = render(&mut app, W, H);
    insta::assert_snapshot!("help_troubleshoot", help);
    for b in PANE_KEYS.bindings {
        assert!(
            help.lines()
                .any(|l| l.contains(&format!("  {:<16}{}", b.label, b.help))),
            "{} missing from the help:\n{help}",
            b.label
        );
    }
    app.on_key(key(KeyCode::Esc));
    assert!(!app.help, "any key closes the help");

    // The keys do what the pane says: c copies, l opens the full log, Esc closes.
    app.on_key(key(KeyCode::Char('c')));
    assert!(matches!(
        &app.take_effects()[..],
        [kubewiz::tui::Effect::Copy(text)] if text.contains("kubewiz certs renew")
    ));
    app.on_key(key(KeyCode::Char('l')));
    assert!(app.dash.as_ref().unwrap().full_log.is_some());
    app.on_key(key(KeyCode::Esc));
    assert!(app.dash.as_ref().unwrap().full_log.is_none());
    assert!(app.dash.as_ref().unwrap().pane.is_some());
    app.on_key(key(KeyCode::Esc));
    assert!(app.dash.as_ref().unwrap().pane.is_none());
}

#[test]
fn the_wizard_footer_and_help_come_from_the_screen_keymap() {
    // The footer of the hosts table lists `p paste`, and p opens the paste box.
    let mut app = wizard_app(Step::HOSTS);
    let screen = render(&mut app, W, H);
    assert!(
        screen.lines().last().unwrap().contains("p paste"),
        "{screen}"
    );
    app.on_key(key(KeyCode::Char('p')));
    assert!(app.wizard.paste.is_some());
    // In the box the footer changes to the box's keys, and Esc (its "cancel") closes it.
    let screen = render(&mut app, W, H);
    let footer = screen.lines().last().unwrap();
    assert!(
        footer.contains("Ctrl-S add") && footer.contains("Esc cancel"),
        "{footer}"
    );
    assert!(
        !footer.contains("PgDn"),
        "the box has the keyboard: {footer}"
    );
    app.on_key(key(KeyCode::Esc));
    assert!(app.wizard.paste.is_none());
    assert_eq!(app.wizard.step, Step::HOSTS);
}

// ---------------------------------------------------------------------- the whole install

/// The whole plan's stages on the lab (node1 the only master), as `kubewiz plan` lists them;
/// `join` and `addons` as the contract between the stages names them.
fn install_stages() -> Vec<StageSummary> {
    use kubewiz::events::StepSummary;
    use kubewiz::plan::StepScope;
    let all: Vec<String> = HOSTS.iter().map(|s| s.to_string()).collect();
    let node1 = vec!["node1".to_string()];
    let stage = |name: &str, hosts: &[String], steps: &[(&str, StepScope, bool)]| StageSummary {
        name: name.into(),
        steps: steps
            .iter()
            .map(|(step, scope, barrier)| StepSummary {
                name: step.to_string(),
                scope: *scope,
                barrier: *barrier,
                hosts: if *scope == StepScope::Once {
                    hosts[..1].to_vec()
                } else {
                    hosts.to_vec()
                },
            })
            .collect(),
        hosts: hosts.to_vec(),
    };
    use StepScope::{EachHost as E, Once as O, Serial as S};
    vec![
        stage(
            "preflight",
            &all,
            &[("checks", E, false), ("clock", E, false)],
        ),
        StageSummary::each_host("prep", &PREP, &all),
        stage(
            "etcd",
            &all,
            &[
                ("bundle", E, false),
                ("install", E, false),
                ("certs", E, false),
                ("unit", E, false),
                ("data-dir", E, false),
                ("start", E, true),
                ("health", E, true),
                ("report", O, false),
            ],
        ),
        StageSummary::each_host(
            "runtime",
            &[
                "packages",
                "cgroup-driver",
                "daemon-json",
                "docker-unit",
                "start",
                "image-bundle",
                "images",
            ],
            &all,
        ),
        stage(
            "network",
            &all,
            &[
                ("bundle", E, false),
                ("install", E, false),
                ("certs", E, false),
                ("config", O, false),
                ("unit", E, false),
                ("start", S, false),
                ("routes", E, true),
                ("docker", E, false),
            ],
        ),
        stage(
            "control_plane",
            &node1,
            &[
                ("bundle", E, false),
                ("install", E, false),
                ("certs", E, false),
                ("apiserver-unit", E, false),
                ("controller-manager-unit", E, false),
                ("scheduler-unit", E, false),
                ("start", E, false),
                ("wait", E, false),
                ("rbac", O, false),
                ("report", E, false),
            ],
        ),
        stage(
            "join",
            &all,
            &[
                ("bootstrap-token", O, false),
                ("kubelet", E, false),
                ("kube-proxy", E, false),
                ("ready", E, true),
                ("nodes", O, false),
            ],
        ),
        stage("addons", &node1, &[("coredns", O, false)]),
    ]
}

/// What the steps of a whole install print for the summary (the contract's lines).
fn summary_output(stage: &str, step: &str, host: &str) -> Vec<String> {
    match (stage, step, host) {
        ("control_plane", "report", "node1") => [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "etcd",
        ]
        .iter()
        .map(|c| format!("kubewiz-component host=node1 name={c} status=ok"))
        .collect(),
        ("join", "nodes", "node1") => HOSTS
            .iter()
            .enumerate()
            .map(|(i, h)| {
                format!(
                    "kubewiz-node name={h} status=Ready version=v1.20.2 internal-ip=10.77.0.1{} runtime=docker://20.10.5 roles={}",
                    i + 1,
                    if i == 0 { "master,node" } else { "node" }
                )
            })
            .collect(),
        ("addons", "coredns", "node1") => {
            vec!["kubewiz-component host=node1 name=coredns status=ok".into()]
        }
        _ => vec![],
    }
}

/// Run `stages` through on the app: every step of every host changed, the summary lines
/// printed where the steps print them; stop (mid-run) at `stop_at` (stage, step) when given,
/// with node1 running it and node2 waiting for its serial turn.
fn run_install(app: &mut App, stages: &[StageSummary], stop_at: Option<(&str, &str)>) {
    run_install_to(app, stages, stop_at, None)
}

/// [`run_install`], and when `fail_at` (stage, step) is given, that step fails on node1 with
/// `diagnosis`: the run ends there, as a failed run.
fn run_install_to(
    app: &mut App,
    stages: &[StageSummary],
    stop_at: Option<(&str, &str)>,
    fail_at: Option<((&str, &str), Diagnosis)>,
) {
    app.set_now(0);
    app.on_engine(Event::PlanStarted {
        cluster: "lab".into(),
        stages: stages.to_vec(),
        total_steps: 0,
        resumed: false,
    });
    let mut t = 0;
    for st in stages {
        app.on_engine(Event::StageStarted {
            stage: st.name.clone(),
        });
        for step in &st.steps {
            if stop_at == Some((st.name.as_str(), step.name.as_str())) {
                app.on_engine(started(&st.name, &step.name, "node1"));
                app.on_engine(Event::StepWaiting {
                    at: StepRef::new(&st.name, &step.name, "node2"),
                    waits_for: kubewiz::events::WaitFor::SerialTurn,
                    for_hosts: vec!["node1".into()],
                });
                app.set_now(t + 700);
                return;
            }
            if let Some(((stage, name), diagnosis)) = &fail_at {
                if (st.name.as_str(), step.name.as_str()) == (*stage, *name) {
                    app.on_engine(started(stage, name, "node1"));
                    let failed = StepOutcome::Failed {
                        exit_status: Some(1),
                        message: "exited with status 1".into(),
                        last_lines: vec!["exited with status 1".into()],
                    };
                    app.on_engine(finished(stage, name, "node1", failed, 90));
                    app.on_engine(Event::Diagnosis {
                        at: StepRef::new(stage, name, "node1"),
                        diagnosis: diagnosis.clone(),
                    });
                    return end_full_run(app, false, t);
                }
            }
            for host in &step.hosts {
                t += 100;
                app.set_now(t);
                app.on_engine(started(&st.name, &step.name, host));
                for line in summary_output(&st.name, &step.name, host) {
                    app.on_engine(out(&st.name, &step.name, host, &line));
                }
                app.on_engine(finished(
                    &st.name,
                    &step.name,
                    host,
                    StepOutcome::Changed,
                    90,
                ));
            }
        }
        app.on_engine(Event::StageFinished {
            stage: st.name.clone(),
            ok: true,
            counts: Counts::default(),
            duration_ms: 1000,
        });
    }
    end_full_run(app, true, t);
}

/// The end of a full run at time `t`: the plan finished (`ok` or not), the run over.
fn end_full_run(app: &mut App, ok: bool, t: u64) {
    app.on_engine(Event::PlanFinished {
        ok,
        interrupted: false,
        counts: Counts::default(),
        duration_ms: t + 500,
    });
    app.on_msg(kubewiz::tui::Msg::RunEnded {
        kind: kubewiz::tui::dashboard::RunKind::Full,
        result: Ok(ok),
    });
    app.set_now(t + 1000);
}

fn install_app(stages: &[StageSummary]) -> App {
    let mut app = App::for_stages(Theme::COLOR, "lab", stages);
    app.wizard.file = "clusters/lab/cluster.yaml".into();
    app.wizard.spec = lab_spec();
    app.on_msg(kubewiz::tui::Msg::LogFile(
        "clusters/lab/logs/kubewiz-wizard-2026-12-02T101500Z-4242.log".into(),
    ));
    app
}

/// Every stage name of the whole plan reads whole in the matrix at 100 columns (it turns: a
/// row per stage, level with the stage table); at 80 the cells drop the step name first.
#[test]
fn eight_stages_are_legible_at_100_and_80_columns() {
    let stages = install_stages();
    for (w, h, name) in [
        (100, 30, "dashboard_8_stages_100"),
        (80, 24, "dashboard_8_stages_80"),
    ] {
        let mut app = install_app(&stages);
        run_install(&mut app, &stages, Some(("network", "start")));
        let screen = render(&mut app, w, h);
        insta::assert_snapshot!(name, screen);
        for st in &stages {
            let row = screen
                .lines()
                .find(|l| l.contains(&format!(" {} ", st.name)))
                .unwrap_or_else(|| panic!("{}: no whole row at {w}:\n{screen}", st.name));
            assert!(row.contains("│"), "{row}");
        }
    }
    // node2 waits for its serial turn: the matrix and the log say so.
    let mut app = install_app(&stages);
    run_install(&mut app, &stages, Some(("network", "start")));
    let screen = render(&mut app, 100, 30);
    let network = screen.lines().find(|l| l.contains(" network ")).unwrap();
    assert!(
        network.contains("▶ 5/8 start") && network.contains("… 4/7 start"),
        "{network}"
    );
    app.on_key(key(KeyCode::Down));
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("network/start — waiting for node1 (serial: one host at a time)"),
        "{screen}"
    );
}

/// The end of a whole install: the summary screen (nodes, components, kubeconfig, commands,
/// log file); `s` goes to the dashboard (its footer says how to come back) and back.
#[test]
fn the_summary_screen_after_a_whole_install() {
    let stages = install_stages();
    let mut app = install_app(&stages);
    run_install(&mut app, &stages, None);
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("summary", screen);
    assert!(screen.contains("Nodes: 3 of 3 Ready"), "{screen}");
    assert!(screen.contains("Components: 5 of 5 healthy"), "{screen}");
    assert!(screen
        .contains("kubectl --kubeconfig clusters/lab/kubeconfigs/admin.conf get nodes -o wide"));
    assert!(screen
        .lines()
        .last()
        .unwrap()
        .contains("s / Esc back to the dashboard"));

    app.on_key(key(KeyCode::Char('s')));
    let screen = render(&mut app, W, H);
    assert!(
        screen.contains("Hosts × stages") || screen.contains("Stages × hosts"),
        "{screen}"
    );
    let footer = screen.lines().last().unwrap();
    assert!(
        footer.contains("s summary") && footer.contains("q quit"),
        "{footer}"
    );
    app.on_key(key(KeyCode::Char('?')));
    assert!(render(&mut app, W, H).contains("the cluster summary, once nodes joined"));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('s')));
    assert!(render(&mut app, W, H).contains("Nodes: 3 of 3 Ready"));
    app.on_key(key(KeyCode::Esc));
    assert!(!render(&mut app, W, H).contains("Nodes: 3 of 3 Ready"));
}

/// The air-gapped end of a whole install: every node joined, then CoreDNS's image could not be
/// had (C3). The troubleshooting pane comes first; `s` shows the cluster that is up, headed by
/// the failure and its fix.
#[test]
fn the_summary_after_a_run_that_stopped_on_an_add_on() {
    let stages = install_stages();
    let mut app = install_app(&stages);
    let c3 = Diagnosis {
        id: Some("C3".into()),
        title: "add-on image coredns:1.7.0 is neither in the bundle nor pullable".into(),
        cause: "the nodes cannot pull it".into(),
        evidence: vec![],
        fix: "put coredns:1.7.0 as a docker-save tarball in the bundle's images/ and apply again"
            .into(),
        manual_commands: vec![],
        auto_fix: None,
    };
    run_install_to(&mut app, &stages, None, Some((("addons", "coredns"), c3)));
    let screen = render(&mut app, W, H);
    assert!(
        !screen.contains("Nodes: 3 of 3 Ready"),
        "the failure first:\n{screen}"
    );
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('s')));
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("summary_stopped", screen);
    assert!(screen.contains("The run stopped on a failure"), "{screen}");
    assert!(screen.contains("addons/coredns on node1"), "{screen}");
    assert!(
        screen.contains("C3: add-on image coredns:1.7.0"),
        "{screen}"
    );
    assert!(screen.contains("Nodes: 3 of 3 Ready"), "{screen}");
}

/// A partial plan (`--only-stages prep,etcd`): the summary says what it has, nothing invented.
#[test]
fn the_summary_of_a_partial_run_invents_nothing() {
    let stages = stages();
    let mut app = install_app(&stages);
    run_install(&mut app, &stages, None);
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("summary_partial", screen);
    for said in [
        kubewiz::summary::ClusterSummary::NO_NODES,
        kubewiz::summary::ClusterSummary::NO_COMPONENTS,
        kubewiz::summary::ClusterSummary::NO_COMMANDS,
    ] {
        assert!(screen.contains(said), "{said}:\n{screen}");
    }
    assert!(!screen.contains("kubectl --kubeconfig"), "{screen}");
    // No summary while the run goes, or after one that failed before any node joined.
    let mut app = dashboard_app();
    prep_events(&mut app, false);
    app.on_key(key(KeyCode::Char('s')));
    assert!(render(&mut app, W, H)
        .contains("the summary comes at the end of a run that joined the nodes"));
    let mut app = dashboard_app();
    failure_events(&mut app, true);
    app.on_msg(kubewiz::tui::Msg::RunEnded {
        kind: kubewiz::tui::dashboard::RunKind::Full,
        result: Ok(false),
    });
    assert!(app.dash.as_ref().unwrap().summary.is_none());
}

/// A deploy whose plan cannot be built (the bundle lacks the Kubernetes tarball for the chosen
/// version) comes back to the review, whose Validation pane lists why instead of "valid".
#[test]
fn the_review_lists_why_the_plan_cannot_be_built() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut spec = lab_spec();
    spec.binaries = config::BinariesSpec::Bundle {
        bundle_dir: bundle.clone(),
    };
    // The real error of the real deploy path.
    let request = kubewiz::deploy::Request::new(
        spec.clone(),
        kubewiz::cluster_dir::ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml")),
    );
    let err = kubewiz::deploy::prepare(&request).expect_err("no tarball in the bundle");
    let message = format!("cannot build the plan: {err:#}")
        .replace(&tmp.path().display().to_string(), "/srv/lab");
    assert!(message.contains("release tarball"), "{message}");

    let mut app = wizard_app(Step::REVIEW);
    app.wizard.spec = spec;
    app.wizard.go(Step::HOSTS, &mut vec![]);
    app.wizard.go(Step::REVIEW, &mut vec![]);
    assert!(render(&mut app, W, H).contains("✓ the file is valid"));
    app.dash = Some(kubewiz::tui::dashboard::Dashboard::from_summaries(
        "lab",
        &[],
    ));
    app.mode = Mode::Dashboard;
    app.on_msg(kubewiz::tui::Msg::RunEnded {
        kind: kubewiz::tui::dashboard::RunKind::Full,
        result: Err(message),
    });
    assert_eq!(app.mode, Mode::Wizard);
    let screen = render(&mut app, W, H);
    insta::assert_snapshot!("review_plan_error", screen);
    assert!(!screen.contains("the file is valid"), "{screen}");
    assert!(screen.contains("the plan cannot be built"), "{screen}");
    // An edit clears it (the next deploy tries again).
    app.on_key(key(KeyCode::End));
    typed(&mut app, " ");
    assert!(!render(&mut app, W, H).contains("the plan cannot be built"));
}

//! The TUI's side of the deploy path: nothing is built on the UI thread, the dashboard takes
//! its shape from `PlanStarted`, a retry asks for the narrowing `apply --step` uses.

use super::dashboard::{RunKind, StepState};
use super::theme::Theme;
use super::{App, Effect, Mode, Msg};
use crate::deploy::Narrowing;
use crate::events::{Event, StageSummary, StepRef};

const CLUSTER: &str = r#"
name: lab
defaults: { user: kube, sudo: true, auth: { method: agent } }
hosts:
  - { name: node1, address: 10.77.0.11, roles: [etcd, master, node] }
  - { name: node2, address: 10.77.0.12, roles: [etcd, node] }
network: { pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12 }
"#;

/// The app on a saved cluster file, deployed: (app, its temp dir, the StartRun request).
fn deployed() -> (App, tempfile::TempDir, Box<crate::deploy::Request>) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cluster.yaml");
    std::fs::write(&file, CLUSTER).unwrap();
    let mut app = App::with_file(Theme::MONO, &file);
    assert!(app.prompt.is_none(), "no journal, nothing to resume");
    app.take_effects();
    app.deploy();
    let request = match app.take_effects().pop() {
        Some(Effect::StartRun {
            request,
            kind: RunKind::Full,
        }) => request,
        other => panic!("expected a full StartRun, got {other:?}"),
    };
    (app, tmp, request)
}

fn etcd_summary() -> StageSummary {
    let hosts = ["node1".to_string(), "node2".to_string()];
    let mut s = StageSummary::each_host("etcd", &["start", "report"], &hosts);
    s.steps[1].scope = crate::plan::StepScope::Once;
    s.steps[1].hosts = vec!["node1".into()];
    s
}

#[test]
fn deploy_builds_no_plan_and_the_dashboard_takes_the_announced_shape() {
    let (mut app, tmp, request) = deployed();
    assert_eq!(app.mode, Mode::Dashboard);
    assert!(app.is_running());
    assert!(app.dash.as_ref().unwrap().stages.is_empty());
    // The PKI is the run task's work (deploy::prepare), not the UI thread's.
    assert!(
        !tmp.path().join("pki").exists(),
        "no PKI written by deploy()"
    );
    assert_eq!(request.narrowing, Narrowing::default());
    assert!(request.retry_stages.is_empty());
    // Until the run announces its plan, the dashboard draws (empty) without a fault.
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let screen = format!("{}", t.backend());
    assert!(screen.contains("building the plan"), "{screen}");

    app.on_engine(Event::PlanStarted {
        cluster: "lab".into(),
        stages: vec![etcd_summary()],
        total_steps: 3,
        resumed: false,
    });
    t.draw(|f| app.draw(f)).unwrap();
    assert!(!format!("{}", t.backend()).contains("building the plan"));
    let d = app.dash.as_ref().unwrap();
    assert_eq!(d.hosts, ["node1", "node2"]);
    assert_eq!(d.cells[0][0], [StepState::Pending, StepState::Pending]);
    assert_eq!(
        d.cells[0][1],
        [StepState::Pending, StepState::NotHere],
        "report runs on node1 only"
    );
    // A later (narrowed) run's announcement does not reshape the dashboard.
    app.on_engine(Event::PlanStarted {
        cluster: "lab".into(),
        stages: vec![StageSummary::each_host(
            "etcd",
            &["start"],
            &["node2".to_string()],
        )],
        total_steps: 1,
        resumed: true,
    });
    assert_eq!(app.dash.as_ref().unwrap().hosts, ["node1", "node2"]);
}

#[test]
fn a_plan_that_cannot_be_built_goes_back_to_the_wizard() {
    let (mut app, _tmp, _) = deployed();
    app.on_msg(Msg::RunEnded {
        kind: RunKind::Full,
        result: Err("cannot build the plan: the bundle is missing".into()),
    });
    assert_eq!(app.mode, Mode::Wizard);
    assert_eq!(
        app.wizard.status,
        Some((true, "cannot build the plan: the bundle is missing".into()))
    );
}

#[test]
fn a_retry_asks_for_one_step_on_the_hosts_and_a_fix_for_its_stage_afresh() {
    let (mut app, _tmp, _) = deployed();
    app.on_engine(Event::PlanStarted {
        cluster: "lab".into(),
        stages: vec![etcd_summary()],
        total_steps: 3,
        resumed: false,
    });
    app.skipped.push(StepRef::new("etcd", "report", "node1"));
    app.on_msg(Msg::RunEnded {
        kind: RunKind::Full,
        result: Ok(false),
    });
    app.start_retry("etcd", "start", vec!["node2".into()]);
    match app.take_effects().pop() {
        Some(Effect::StartRun { request, kind }) => {
            assert!(matches!(kind, RunKind::Retry { .. }));
            assert_eq!(
                request.narrowing,
                Narrowing {
                    skipped: vec![StepRef::new("etcd", "report", "node1")],
                    ..Narrowing::one_step("etcd", "start", vec!["node2".into()])
                }
            );
        }
        other => panic!("expected a retry StartRun, got {other:?}"),
    }
    app.on_msg(Msg::RunEnded {
        kind: RunKind::Full,
        result: Ok(false),
    });
    app.on_msg(Msg::FixDone {
        stage: "etcd".into(),
        result: Ok(()),
    });
    match app.take_effects().pop() {
        Some(Effect::StartRun { request, kind }) => {
            assert_eq!(kind, RunKind::Full);
            assert_eq!(request.retry_stages, ["etcd"]);
            assert_eq!(
                request.narrowing.skipped,
                [StepRef::new("etcd", "report", "node1")]
            );
            assert!(request.narrowing.step.is_none());
        }
        other => panic!("expected a full StartRun, got {other:?}"),
    }
}

//! One deploy path: the TUI's retry of one step and `apply --step … --only-hosts …` narrow the
//! plan the same way and leave the same journal (the step recorded, the run left open), so the
//! run after either skips the retried step. Against the lab's real hosts.

mod common;

use common::cli::{apply_json, cluster_copy};
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::deploy::{Narrowing, Request};
use kubewiz::engine::CancellationToken;
use kubewiz::events::Event;
use serde_json::Value;
use std::path::Path;

const STAGE: &str = "prep";
const STEP: &str = "sysctl";
const HOST: &str = "node2";

fn journal(file: &Path) -> Value {
    let path = ClusterDir::of_cluster_file(file).journal();
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The journal's step keys and whether the run is complete.
fn journal_state(file: &Path) -> (Vec<String>, bool) {
    let j = journal(file);
    let keys = j["steps"].as_object().unwrap().keys().cloned().collect();
    (keys, j["run_complete"].as_bool().unwrap())
}

/// The TUI's retry: the request `App::start_retry` sends (see src/tui/deploy_tests.rs), run
/// by the TUI's run task. Returns the stages PlanStarted announced, as JSON.
async fn tui_retry(file: &Path) -> Value {
    let spec = kubewiz::config::load(file).unwrap().spec;
    let request = Request {
        narrowing: Narrowing::one_step(STAGE, STEP, vec![HOST.into()]),
        ..Request::new(spec, ClusterDir::of_cluster_file(file))
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = kubewiz::tui::connect::run_request(request, tx, CancellationToken::new())
        .await
        .unwrap();
    assert!(summary.ok, "{:?}", summary.outcomes);
    let mut stages = None;
    while let Ok(ev) = rx.try_recv() {
        if let Event::PlanStarted { stages: s, .. } = &ev {
            stages = Some(serde_json::to_value(s).unwrap());
        }
    }
    stages.expect("PlanStarted sent")
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_retried_step_is_narrowed_and_journaled_alike_by_the_tui_and_the_cli() {
    let Some(lab) = common::lab() else { return };
    let (_cli_dir, cli_file) = cluster_copy(&lab.dir);
    let (_tui_dir, tui_file) = cluster_copy(&lab.dir);
    let step = format!("{STAGE}/{STEP}");

    let cli = {
        let file = cli_file.clone();
        let step = step.clone();
        tokio::task::spawn_blocking(move || {
            apply_json(&file, &["--step", &step, "--only-hosts", HOST])
        })
        .await
        .unwrap()
    };
    assert_eq!(cli.0, 0, "the CLI retry failed: {:?}", cli.1);
    let tui = tui_retry(&tui_file).await;

    // The same narrowed plan: one stage, one step, one host.
    assert_eq!(cli.1[0]["event"], "plan_started");
    assert_eq!(cli.1[0]["stages"], tui, "CLI and TUI narrow alike");
    assert_eq!(tui[0]["steps"].as_array().map(|s| s.len()), Some(1));
    assert_eq!(tui[0]["steps"][0]["name"], STEP);
    assert_eq!(tui[0]["steps"][0]["hosts"], serde_json::json!([HOST]));
    assert_eq!(tui[0]["hosts"], serde_json::json!([HOST]));

    // The same journal: the step recorded, the run left open for the full run to resume.
    let key = format!("{step}@{HOST}");
    for file in [&cli_file, &tui_file] {
        assert_eq!(journal_state(file), (vec![key.clone()], false), "{file:?}");
    }

    // The run after either skips the retried step (the journal has it) and runs the rest.
    for file in [cli_file, tui_file] {
        let (code, events) = tokio::task::spawn_blocking({
            let file = file.clone();
            move || apply_json(&file, &["--only-stages", STAGE])
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{events:?}");
        assert_eq!(events[0]["resumed"], true, "{file:?}");
        let finished: Vec<&Value> = events
            .iter()
            .filter(|e| e["event"] == "step_finished" && e["step"] == STEP)
            .collect();
        assert_eq!(finished.len(), 3, "{finished:?}");
        for e in finished {
            let skipped = e["outcome"]["status"] == "skipped";
            assert_eq!(skipped, e["host"] == HOST, "{file:?}: {e}");
            if skipped {
                let reason = e["outcome"]["reason"].as_str().unwrap();
                assert!(reason.contains("journal"), "{reason}");
            }
        }
        assert!(journal_state(&file).1, "the full stage completes the run");
    }
}

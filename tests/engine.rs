//! Engine against the lab's real hosts: concurrency, retry, journal resume after a kill.

mod common;

use kubewiz::cli::targets::{host_key_policy, ssh_targets};
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config;
use kubewiz::engine::{self, CancellationToken, HostPool, RunOptions};
use kubewiz::events::{Event, StepOutcome};
use kubewiz::plan::{HostSteps, Plan, RetryPolicy, Stage, Step};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn lab_cluster_file() -> Option<PathBuf> {
    Some(common::lab()?.dir.join("cluster/cluster.yaml"))
}

fn pool(file: &Path) -> (Arc<HostPool>, Vec<String>) {
    let loaded = config::load(file).expect("lab cluster file loads");
    let hosts = loaded.spec.resolved_hosts();
    let names = hosts.iter().map(|h| h.name.clone()).collect();
    let dir = ClusterDir::of_cluster_file(file);
    let pool = HostPool::new(
        ssh_targets(&hosts).unwrap(),
        host_key_policy(&dir, false),
        Duration::from_secs(10),
    );
    (Arc::new(pool), names)
}

fn step(name: &str, script: &str, retry: RetryPolicy) -> Step {
    Step::script(
        name,
        name,
        format!("{}\n{script}", "report() { echo \"KUBEWIZ-RESULT $*\"; }"),
    )
    .retry(retry)
}

fn one_stage(hosts: &[String], steps: Vec<Step>) -> Plan {
    Plan {
        cluster: "lab".into(),
        stages: vec![Stage {
            name: "test".into(),
            units: vec![],
            description: "engine test".into(),
            hosts: hosts
                .iter()
                .map(|h| HostSteps {
                    host: h.clone(),
                    steps: steps.clone(),
                })
                .collect(),
        }],
    }
}

async fn run(
    plan: &Plan,
    pool: Arc<HostPool>,
    opts: RunOptions,
) -> (engine::RunSummary, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = engine::run(plan, pool, opts, tx, CancellationToken::new())
        .await
        .unwrap();
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (summary, events)
}

/// Each host prints when its step started and ended (remote clock, shared by the lab machines).
fn intervals(events: &[Event]) -> Vec<(f64, f64)> {
    let mut out = vec![];
    for e in events {
        if let Event::Output { line, .. } = e {
            if let Some(rest) = line.strip_prefix("span ") {
                let (a, b) = rest.split_once(' ').unwrap();
                out.push((a.parse().unwrap(), b.parse().unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn hosts_run_concurrently_and_the_bound_holds() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    assert!(hosts.len() >= 2, "the lab has at least two hosts");
    let s = step(
        "span",
        "a=$(date +%s.%N); sleep 0.7; b=$(date +%s.%N); echo \"span $a $b\"; report unchanged",
        RetryPolicy::ONCE,
    );
    let plan = one_stage(&hosts, vec![s]);

    let (summary, events) = run(&plan, pool.clone(), RunOptions::default()).await;
    assert!(summary.ok, "{summary:?}");
    let spans = intervals(&events);
    assert_eq!(spans.len(), hosts.len());
    let latest_start = spans.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    let earliest_end = spans.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    assert!(
        latest_start < earliest_end,
        "parallel: all spans overlap {spans:?}"
    );

    let opts = RunOptions {
        parallel: 1,
        ..RunOptions::default()
    };
    let (summary, events) = run(&plan, pool, opts).await;
    assert!(summary.ok);
    let mut spans = intervals(&events);
    spans.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "parallel=1: no overlap {spans:?}");
    }
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_failing_step_is_retried_then_succeeds_or_fails_with_its_tail() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let hosts = vec![hosts[0].clone()];
    let marker = format!("/tmp/kubewiz-retry-{}", std::process::id());
    let flaky = step(
        "flaky",
        &format!(
            "if [ -f {marker} ]; then rm -f {marker}; report changed; else touch {marker}; echo first try fails >&2; exit 4; fi"
        ),
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(200),
        },
    );
    let (summary, events) = run(
        &one_stage(&hosts, vec![flaky]),
        pool.clone(),
        RunOptions::default(),
    )
    .await;
    assert!(summary.ok, "{summary:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::StepRetrying { attempt: 2, .. })));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished {
            outcome: StepOutcome::Changed,
            attempt: 2,
            ..
        }
    )));

    let broken = step(
        "broken",
        "echo one; echo two >&2; exit 7",
        RetryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(100),
        },
    );
    let after = step("after", "report changed", RetryPolicy::ONCE);
    let (summary, events) = run(
        &one_stage(&hosts, vec![broken, after]),
        pool,
        RunOptions::default(),
    )
    .await;
    assert!(!summary.ok);
    let failed = events.iter().find_map(|e| match e {
        Event::StepFinished {
            outcome:
                StepOutcome::Failed {
                    exit_status,
                    last_lines,
                    ..
                },
            attempt,
            ..
        } => Some((*exit_status, last_lines.clone(), *attempt)),
        _ => None,
    });
    assert_eq!(
        failed,
        Some((Some(7), vec!["one".to_string(), "two".to_string()], 2))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished { step, outcome: StepOutcome::Skipped { .. }, .. } if step == "after"
    )));
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_killed_run_resumes_from_the_journal() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("state/journal.json");
    let opts = RunOptions {
        journal: Some(journal.clone()),
        ..RunOptions::default()
    };
    let counter = format!("/tmp/kubewiz-resume-{}", std::process::id());
    let quick = |n: &str| {
        step(
            n,
            &format!("echo {n} >> {counter}; report changed"),
            RetryPolicy::ONCE,
        )
    };
    let slow = step("slow", "sleep 30; report changed", RetryPolicy::ONCE);
    let plan = one_stage(
        &hosts,
        vec![quick("one"), quick("two"), slow, quick("four")],
    );

    // Run until every host has finished "two", then kill the run (drop the task): the process
    // state is gone, only the journal on disk remains, as after a crash or kill -9.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn({
        let (plan, pool, opts) = (plan.clone(), pool.clone(), opts.clone());
        async move { engine::run(&plan, pool, opts, tx, CancellationToken::new()).await }
    });
    let mut twos = 0;
    while let Some(e) = rx.recv().await {
        if let Event::StepFinished { step, .. } = &e {
            if step == "two" {
                twos += 1;
                if twos == hosts.len() {
                    break;
                }
            }
        }
    }
    task.abort();
    let _ = task.await;

    // The next run: same plan except the slow step is now quick.
    let mut plan = plan;
    for h in &mut plan.stages[0].hosts {
        h.steps[2] = quick("slow");
    }
    let (summary, events) = run(&plan, pool.clone(), opts).await;
    assert!(summary.ok, "{summary:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PlanStarted { resumed: true, .. })));
    let skipped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished {
                step,
                outcome: StepOutcome::Skipped { reason },
                ..
            } => {
                assert!(reason.contains("journal"), "{reason}");
                Some(step.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped.len(),
        2 * hosts.len(),
        "one and two skipped everywhere: {skipped:?}"
    );
    // Each quick step ran exactly once per host across both runs.
    let conn = pool.connection(&hosts[0]).await.unwrap();
    let mut lines = vec![];
    let req = kubewiz::ssh::ExecRequest {
        command: format!("cat {counter}; rm -f {counter}"),
        sudo: true,
        timeout: Some(Duration::from_secs(10)),
        stdin: None,
    };
    conn.exec(&req, &mut |l| lines.push(l.line)).await.unwrap();
    assert_eq!(lines, vec!["one", "two", "slow", "four"]);

    // That run completed: the one after starts afresh (nothing skipped).
    let opts = RunOptions {
        journal: Some(journal),
        ..RunOptions::default()
    };
    let (_, events) = run(&plan, pool.clone(), opts).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::PlanStarted { resumed: false, .. })));
    let conn = pool.connection(&hosts[0]).await.unwrap();
    conn.exec(
        &kubewiz::ssh::ExecRequest {
            command: format!("rm -f {counter}"),
            sudo: true,
            timeout: None,
            stdin: None,
        },
        &mut |_| {},
    )
    .await
    .unwrap();
}

//! Engine against the lab's real hosts: concurrency, retry, journal resume after a kill, and
//! the cluster-wide steps (barrier, once, serial), timed by the hosts' own clock (the lab
//! machines share the host kernel's).

mod common;

use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config;
use kubewiz::deploy::targets::{host_key_policy, ssh_targets};
use kubewiz::engine::{self, CancellationToken, HostPool, RunOptions};
use kubewiz::events::{Event, OutputStream, SkipReason, StepOutcome, WaitFor};
use kubewiz::plan::{HostSteps, Plan, RetryPolicy, Stage, Step, StepScope};
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

/// Each host prints when its step started and ended (remote clock, shared by the lab
/// machines): (host, start, end).
fn intervals(events: &[Event]) -> Vec<(String, f64, f64)> {
    let mut out = vec![];
    for e in events {
        if let Event::Output { at, line, .. } = e {
            if let Some(rest) = line.strip_prefix("span ") {
                let (a, b) = rest.split_once(' ').unwrap();
                out.push((at.host.clone(), a.parse().unwrap(), b.parse().unwrap()));
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
    let latest_start = spans.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let earliest_end = spans.iter().map(|s| s.2).fold(f64::MAX, f64::min);
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
    spans.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    for w in spans.windows(2) {
        assert!(w[0].2 <= w[1].1, "parallel=1: no overlap {spans:?}");
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
    // stdout and stderr are separate streams: the tail has both lines, in whichever order
    // they arrived.
    let (exit_status, mut tail, attempt) = failed.expect("the broken step failed");
    tail.sort();
    assert_eq!(
        (exit_status, tail, attempt),
        (Some(7), vec!["one".into(), "two".into()], 2)
    );
    // Each attempt started once, and each sent both lines, each tagged with its own stream.
    let mut per_attempt: Vec<(u32, Vec<(OutputStream, String)>)> = vec![];
    for e in &events {
        match e {
            Event::StepStarted { at, attempt } if at.step == "broken" => {
                per_attempt.push((*attempt, vec![]))
            }
            Event::Output { at, stream, line } if at.step == "broken" => per_attempt
                .last_mut()
                .expect("output only after the attempt started")
                .1
                .push((*stream, line.clone())),
            _ => {}
        }
    }
    for (_, lines) in &mut per_attempt {
        lines.sort_by_key(|(_, l)| l.clone());
    }
    let both = vec![
        (OutputStream::Stdout, "one".to_string()),
        (OutputStream::Stderr, "two".to_string()),
    ];
    assert_eq!(per_attempt, vec![(1, both.clone()), (2, both)]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished {
            at,
            outcome: StepOutcome::Skipped { reason: SkipReason::EarlierStepFailed },
            ..
        } if at.step == "after"
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
        if let Event::StepFinished { at, .. } = &e {
            if at.step == "two" {
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
                at,
                outcome: StepOutcome::Skipped { reason },
                ..
            } => {
                assert_eq!(*reason, SkipReason::DoneInJournal);
                Some(at.step.clone())
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
    let lines = on_host(&pool, &hosts[0], &format!("cat {counter}; rm -f {counter}")).await;
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
    on_host(&pool, &hosts[0], &format!("rm -f {counter}")).await;
}

/// A stage whose hosts each get their own steps (`steps(index, host)`).
fn stage_per_host(hosts: &[String], steps: impl Fn(usize, &str) -> Vec<Step>) -> Plan {
    let mut plan = one_stage(hosts, vec![]);
    for (i, h) in plan.stages[0].hosts.iter_mut().enumerate() {
        h.steps = steps(i, &h.host.clone());
    }
    plan
}

/// `(host, value)` of every output line `<tag> <value>`.
fn stamps(events: &[Event], tag: &str) -> Vec<(String, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Output { at, line, .. } => {
                let v = line.strip_prefix(tag)?.strip_prefix(' ')?;
                Some((at.host.clone(), v.trim().parse().unwrap()))
            }
            _ => None,
        })
        .collect()
}

/// Every host's outcome of one step.
fn outcomes_of(summary: &engine::RunSummary, step: &str) -> Vec<(String, StepOutcome)> {
    summary
        .outcomes
        .iter()
        .filter(|(at, _)| at.step == step)
        .map(|(at, o)| (at.host.clone(), o.clone()))
        .collect()
}

/// Run a shell command on a host over the test's pool; its stdout lines.
async fn on_host(pool: &HostPool, host: &str, command: &str) -> Vec<String> {
    let conn = pool.connection(host).await.unwrap();
    let mut lines = vec![];
    let req = kubewiz::ssh::ExecRequest {
        command: command.to_string(),
        sudo: true,
        timeout: Some(Duration::from_secs(10)),
        stdin: None,
    };
    conn.exec(&req, &mut |l| lines.push(l.line)).await.unwrap();
    lines
}

/// Hosts take different times for the step before a barrier; the barrier step starts on no
/// host before the slowest has finished — also with `--parallel 1`, and with a host that does
/// not have the barrier step at all.
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_barrier_step_starts_only_once_every_host_is_past_the_steps_before_it() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    assert!(hosts.len() >= 3, "the lab has three hosts");
    let last = hosts.len() - 1;
    let plan = stage_per_host(&hosts, |i, _| {
        // The last host is the slowest, and has no barrier step of its own.
        let pre = step(
            "pre",
            &format!(
                "sleep 0.{}; echo \"pre-end $(date +%s.%N)\"; report changed",
                1 + 4 * i
            ),
            RetryPolicy::ONCE,
        );
        let post = step(
            "post",
            "echo \"post-start $(date +%s.%N)\"; report changed",
            RetryPolicy::ONCE,
        )
        .after_barrier();
        let tail = step("tail", "report unchanged", RetryPolicy::ONCE);
        if i == last {
            vec![pre, tail]
        } else {
            vec![pre, post, tail]
        }
    });
    for parallel in [64, 1] {
        let opts = RunOptions {
            parallel,
            ..RunOptions::default()
        };
        let (summary, events) = run(&plan, pool.clone(), opts).await;
        assert!(summary.ok, "parallel {parallel}: {summary:?}");
        let pre_end = stamps(&events, "pre-end");
        let post_start = stamps(&events, "post-start");
        assert_eq!(pre_end.len(), hosts.len());
        assert_eq!(post_start.len(), hosts.len() - 1);
        let latest_pre = pre_end.iter().map(|s| s.1).fold(f64::MIN, f64::max);
        for (host, t) in &post_start {
            assert!(
                *t > latest_pre,
                "parallel {parallel}: {host} started post at {t} before every pre ended \
                 ({pre_end:?})"
            );
        }
        // Who waited said for whom: never itself, never nobody.
        let waits: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::StepWaiting {
                    at,
                    waits_for,
                    for_hosts,
                } => Some((at.clone(), *waits_for, for_hosts.clone())),
                _ => None,
            })
            .collect();
        assert!(!waits.is_empty(), "someone waited at the barrier");
        for (at, waits_for, for_hosts) in &waits {
            assert_eq!(at.step, "post");
            assert_eq!(*waits_for, WaitFor::Barrier);
            assert!(
                !for_hosts.is_empty() && !for_hosts.contains(&at.host),
                "{waits:?}"
            );
        }
    }
}

/// A host failing before a barrier: the hosts waiting there skip the rest, naming it; the run
/// ends (no host waits forever).
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_host_failing_before_a_barrier_makes_the_waiting_hosts_skip_naming_it() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let bad = hosts[1].clone();
    let plan = stage_per_host(&hosts, |i, _| {
        let pre = if i == 1 {
            step(
                "pre",
                "sleep 0.5; echo broken >&2; exit 3",
                RetryPolicy::ONCE,
            )
        } else {
            step("pre", "report changed", RetryPolicy::ONCE)
        };
        vec![
            pre,
            step("post", "report changed", RetryPolicy::ONCE).after_barrier(),
            step("tail", "report changed", RetryPolicy::ONCE),
        ]
    });
    let (summary, _) = tokio::time::timeout(
        Duration::from_secs(120),
        run(&plan, pool.clone(), RunOptions::default()),
    )
    .await
    .expect("the run ends");
    assert!(!summary.ok);
    let peer = SkipReason::PeerFailed { host: bad.clone() };
    for step in ["post", "tail"] {
        for (host, outcome) in outcomes_of(&summary, step) {
            let want = if host == bad {
                SkipReason::EarlierStepFailed
            } else {
                peer.clone()
            };
            assert_eq!(
                outcome,
                StepOutcome::Skipped { reason: want },
                "{host} {step}"
            );
        }
    }
    assert_eq!(outcomes_of(&summary, "post").len(), hosts.len());
    assert_eq!(summary.counts.failed, 1);
    assert!(peer.to_string().contains(&bad));
}

/// Cancel while hosts wait at a barrier: every waiter is released and the run ends
/// interrupted.
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn cancel_releases_the_hosts_waiting_at_a_barrier() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let slow = hosts[hosts.len() - 1].clone();
    let plan = stage_per_host(&hosts, |_, host| {
        let pre = if host == slow {
            step("pre", "sleep 3; report changed", RetryPolicy::ONCE)
        } else {
            step("pre", "report changed", RetryPolicy::ONCE)
        };
        vec![
            pre,
            step("post", "report changed", RetryPolicy::ONCE).after_barrier(),
        ]
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (plan, pool, cancel) = (plan.clone(), pool.clone(), cancel.clone());
        async move { engine::run(&plan, pool, RunOptions::default(), tx, cancel).await }
    });
    // Cancel as soon as one host waits.
    while let Some(e) = rx.recv().await {
        if matches!(e, Event::StepWaiting { .. }) {
            cancel.cancel();
            break;
        }
    }
    let summary = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the run ends after a cancel")
        .unwrap()
        .unwrap();
    assert!(summary.interrupted);
    let post = outcomes_of(&summary, "post");
    assert_eq!(post.len(), hosts.len());
    for (host, outcome) in post {
        assert_eq!(
            outcome,
            StepOutcome::Skipped {
                reason: SkipReason::Interrupted
            },
            "{host}"
        );
    }
}

/// A `once` step runs on exactly one host, once (counted on every host's disk and in the
/// events); a plan that puts it on two hosts is refused before anything runs.
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn a_once_step_runs_exactly_once() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let counter = format!("/tmp/kubewiz-once-{}", std::process::id());
    let once = step(
        "token",
        &format!("echo made >> {counter}; report changed"),
        RetryPolicy::ONCE,
    )
    .scope(StepScope::Once);
    let each = step("each", "report unchanged", RetryPolicy::ONCE);
    let plan = stage_per_host(&hosts, |i, _| {
        if i == 0 {
            vec![each.clone(), once.clone()]
        } else {
            vec![each.clone()]
        }
    });
    let clean = format!("cat {counter} 2>/dev/null; rm -f {counter}");
    for h in &hosts {
        on_host(&pool, h, &format!("rm -f {counter}")).await;
    }
    let (summary, events) = run(&plan, pool.clone(), RunOptions::default()).await;
    assert!(summary.ok, "{summary:?}");
    let runs = events
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { at, .. } if at.step == "token"))
        .count();
    assert_eq!(runs, 1);
    let announced = events.iter().find_map(|e| match e {
        Event::PlanStarted { stages, .. } => Some(stages[0].steps[1].clone()),
        _ => None,
    });
    let announced = announced.expect("plan announced");
    assert_eq!(announced.scope, StepScope::Once);
    assert_eq!(announced.hosts, vec![hosts[0].clone()]);
    for (i, h) in hosts.iter().enumerate() {
        let lines = on_host(&pool, h, &clean).await;
        let want: Vec<String> = if i == 0 { vec!["made".into()] } else { vec![] };
        assert_eq!(lines, want, "{h}");
    }

    // The same step on two hosts is a plan error: nothing runs.
    let twice = stage_per_host(&hosts, |_, _| vec![once.clone()]);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = engine::run(
        &twice,
        pool.clone(),
        RunOptions::default(),
        tx,
        CancellationToken::new(),
    )
    .await
    .expect_err("a once step on every host is refused")
    .to_string();
    assert!(err.contains("token runs once but is on"), "{err}");
    for h in &hosts {
        assert!(on_host(&pool, h, &clean).await.is_empty(), "{h}");
    }
}

/// A serial step runs on one host at a time, in the stage's host order, even with room for
/// all of them at once.
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn serial_steps_never_overlap_and_go_in_host_order() {
    let Some(file) = lab_cluster_file() else {
        return;
    };
    let (pool, hosts) = pool(&file);
    let s = step(
        "span",
        "a=$(date +%s.%N); sleep 0.4; b=$(date +%s.%N); echo \"span $a $b\"; report unchanged",
        RetryPolicy::ONCE,
    )
    .scope(StepScope::Serial);
    let plan = one_stage(&hosts, vec![s]);
    let (summary, events) = run(&plan, pool, RunOptions::default()).await;
    assert!(summary.ok, "{summary:?}");
    let mut spans = intervals(&events);
    spans.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    let order: Vec<&String> = spans.iter().map(|s| &s.0).collect();
    assert_eq!(order, hosts.iter().collect::<Vec<_>>(), "{spans:?}");
    for w in spans.windows(2) {
        assert!(w[0].2 <= w[1].1, "serial: no overlap {spans:?}");
    }
    // Whoever waited for its turn waited for the host just before it.
    let mut waited = 0;
    for e in &events {
        if let Event::StepWaiting {
            at,
            waits_for,
            for_hosts,
        } = e
        {
            let i = hosts.iter().position(|h| *h == at.host).unwrap();
            assert_eq!(*waits_for, WaitFor::SerialTurn);
            assert!(i > 0, "the first host never waits");
            assert_eq!(for_hosts, &vec![hosts[i - 1].clone()]);
            waited += 1;
        }
    }
    assert!(waited >= 1, "the last host waited for its turn");
}

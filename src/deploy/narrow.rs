//! Narrowing a plan to what the user asked for, and the one journal rule every deploy run
//! follows (apply, its retries after a fix, the TUI's runs and its retries of one step).

use crate::cluster_dir::ClusterDir;
use crate::engine::RunOptions;
use crate::events::StepRef;
use crate::plan::Plan;

/// What part of the plan to run. Empty: the whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Start at this stage and run it and the ones after it again, whatever the journal says.
    pub from_stage: Option<String>,
    /// Only these stages.
    pub only_stages: Vec<String>,
    /// Only these hosts.
    pub only_hosts: Vec<String>,
    /// Only this one step, `stage/step`, which always runs (even when the journal has it).
    pub step: Option<String>,
    /// Steps the user chose to skip (the TUI's troubleshooting pane).
    pub skipped: Vec<StepRef>,
}

impl Narrowing {
    /// One step again on some hosts: what the TUI's retry and `apply --step S --only-hosts H`
    /// both ask for.
    pub fn one_step(stage: &str, step: &str, hosts: Vec<String>) -> Narrowing {
        Narrowing {
            step: Some(format!("{stage}/{step}")),
            only_hosts: hosts,
            ..Narrowing::default()
        }
    }

    /// Narrow `plan` in place. Returns the stages whose journal entries are forgotten so that
    /// they run again: every stage from `from_stage` on, and the stage of the one step.
    /// Errors name what does not exist in the plan (a stage, a step).
    ///
    /// Order: skipped steps go first, then stages, then hosts, then the one step, so that a
    /// step asked for on hosts that do not run it is an error rather than an empty run.
    pub fn apply(&self, plan: &mut Plan) -> Result<Vec<String>, String> {
        let mut rerun = vec![];
        if !self.skipped.is_empty() {
            for st in &mut plan.stages {
                for h in &mut st.hosts {
                    h.steps.retain(|s| {
                        !self
                            .skipped
                            .contains(&StepRef::new(&st.name, &s.name, &h.host))
                    });
                }
            }
        }
        if let Some(stage) = &self.from_stage {
            plan.start_at_stage(stage)?;
            rerun.extend(plan.stage_names());
        }
        if !self.only_stages.is_empty() {
            plan.retain_stages(&self.only_stages)?;
        }
        if !self.only_hosts.is_empty() {
            plan.retain_hosts(&self.only_hosts);
        }
        if let Some(step) = &self.step {
            plan.only_step(step)?;
            rerun.extend(plan.stage_names());
        }
        rerun.dedup();
        Ok(rerun)
    }

    /// Whether a successful run of the narrowed plan leaves the run open in the journal: yes
    /// when it did only a piece of some stage's work (one step, some hosts), since finishing
    /// that piece says nothing about the rest; the full run after it still resumes. A run of
    /// whole stages (`--only-stages`, `--from-stage`) or without the steps the user skipped
    /// completes the run: the next one starts afresh and checks every step again, which is
    /// always safe.
    pub fn partial(&self) -> bool {
        self.step.is_some() || !self.only_hosts.is_empty()
    }
}

/// The run options of every deploy run, one rule for the CLI and the TUI:
/// - the journal is always kept, also for a retried step: its success is recorded, so the
///   full plan run after it skips it, and `partial` keeps that narrowed success from marking
///   the run complete (which would make the next run forget what the interrupted run did);
/// - the stages in `rerun` (from the narrowing) and `retry_stages` (retried after a fix) run
///   again: their entries in the journal are forgotten, only for the steps the narrowed plan
///   has.
pub fn run_options(
    dir: &ClusterDir,
    narrowing: &Narrowing,
    rerun: Vec<String>,
    retry_stages: &[String],
    parallel: usize,
) -> RunOptions {
    let mut rerun_stages = rerun;
    for s in retry_stages {
        if !rerun_stages.contains(s) {
            rerun_stages.push(s.clone());
        }
    }
    RunOptions {
        parallel,
        journal: Some(dir.journal()),
        rerun_stages,
        partial: narrowing.partial(),
        views: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{HostSteps, Stage, Step};

    /// Three stages on hosts a, b; stage "last" has a step only host a runs.
    fn plan() -> Plan {
        let stage = |name: &str, steps: &[&str]| Stage {
            name: name.into(),
            description: String::new(),
            units: vec![],
            hosts: ["a", "b"]
                .iter()
                .map(|h| HostSteps {
                    host: h.to_string(),
                    steps: steps
                        .iter()
                        .filter(|s| **s != "report" || *h == "a")
                        .map(|s| Step::script(s, "", "true"))
                        .collect(),
                })
                .collect(),
        };
        Plan {
            cluster: "t".into(),
            stages: vec![
                stage("first", &["one", "two"]),
                stage("middle", &["one", "two"]),
                stage("last", &["one", "report"]),
            ],
        }
    }

    /// `stage/step@host` of every step left.
    fn keys(plan: &Plan) -> Vec<String> {
        plan.stages
            .iter()
            .flat_map(|s| {
                s.hosts.iter().flat_map(move |h| {
                    h.steps
                        .iter()
                        .map(move |st| StepRef::new(&s.name, &st.name, &h.host).to_string())
                })
            })
            .collect()
    }

    #[test]
    fn nothing_asked_keeps_the_whole_plan_and_completes_the_run() {
        let mut p = plan();
        let n = Narrowing::default();
        assert_eq!(n.apply(&mut p).unwrap(), Vec::<String>::new());
        assert_eq!(keys(&p).len(), 11);
        assert!(!n.partial());
    }

    #[test]
    fn from_stage_drops_the_earlier_stages_and_runs_the_rest_again() {
        let mut p = plan();
        let n = Narrowing {
            from_stage: Some("middle".into()),
            ..Default::default()
        };
        assert_eq!(n.apply(&mut p).unwrap(), ["middle", "last"]);
        assert_eq!(p.stage_names(), ["middle", "last"]);
        assert!(!n.partial());
        let mut p = plan();
        let err = Narrowing {
            from_stage: Some("nope".into()),
            ..Default::default()
        }
        .apply(&mut p)
        .unwrap_err();
        assert!(err.contains("no stage named \"nope\""), "{err}");
    }

    #[test]
    fn only_stages_and_hosts_narrow_without_rerunning() {
        let mut p = plan();
        let n = Narrowing {
            only_stages: vec!["last".into(), "first".into()],
            only_hosts: vec!["b".into()],
            ..Default::default()
        };
        assert!(n.apply(&mut p).unwrap().is_empty());
        assert_eq!(
            keys(&p),
            ["first/one@b", "first/two@b", "last/one@b"],
            "report runs on a only"
        );
        assert!(n.partial(), "some hosts only: the run stays open");
    }

    #[test]
    fn one_step_on_some_hosts_reruns_its_stage_and_stays_partial() {
        let mut p = plan();
        let n = Narrowing::one_step("middle", "two", vec!["a".into()]);
        assert_eq!(n.apply(&mut p).unwrap(), ["middle"]);
        assert_eq!(keys(&p), ["middle/two@a"]);
        assert!(n.partial());
        // A step the remaining hosts do not run is an error, not an empty run.
        let mut p = plan();
        let err = Narrowing::one_step("last", "report", vec!["b".into()])
            .apply(&mut p)
            .unwrap_err();
        assert!(err.contains("no step \"last/report\""), "{err}");
        let mut p = plan();
        let err = Narrowing {
            step: Some("middle".into()),
            ..Default::default()
        }
        .apply(&mut p)
        .unwrap_err();
        assert!(err.contains("not of the form stage/step"), "{err}");
    }

    #[test]
    fn skipped_steps_are_left_out_on_their_host_only() {
        let mut p = plan();
        let n = Narrowing {
            skipped: vec![
                StepRef::new("middle", "one", "b"),
                StepRef::new("last", "report", "a"),
            ],
            ..Default::default()
        };
        assert!(n.apply(&mut p).unwrap().is_empty());
        let k = keys(&p);
        assert_eq!(k.len(), 9);
        assert!(!k.contains(&"middle/one@b".to_string()));
        assert!(k.contains(&"middle/one@a".to_string()));
        assert!(!k.iter().any(|x| x.starts_with("last/report")));
        assert!(
            !n.partial(),
            "skipping completes the run: the next one checks again"
        );
    }

    #[test]
    fn every_run_keeps_the_journal_and_a_fix_retry_adds_its_stage_once() {
        let dir = ClusterDir::of_cluster_file(std::path::Path::new("/tmp/c/cluster.yaml"));
        let full = run_options(&dir, &Narrowing::default(), vec![], &[], 64);
        assert_eq!(full.journal, Some(dir.journal()));
        assert!(!full.partial && full.rerun_stages.is_empty());
        let n = Narrowing::one_step("etcd", "health", vec!["node2".into()]);
        let retry = run_options(&dir, &n, vec!["etcd".into()], &["etcd".into()], 3);
        assert_eq!(
            retry.journal,
            Some(dir.journal()),
            "a retried step is recorded"
        );
        assert!(retry.partial);
        assert_eq!(retry.rerun_stages, ["etcd"]);
        assert_eq!(retry.parallel, 3);
        let fixed = run_options(&dir, &Narrowing::default(), vec![], &["etcd".into()], 64);
        assert_eq!(fixed.rerun_stages, ["etcd"]);
        assert!(!fixed.partial);
    }
}

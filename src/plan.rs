//! A plan: stages in order, each a list of steps per host. Built from a ClusterSpec by the
//! stage builders in `stages`; run by `engine`; printed by `kubewiz plan`.

use crate::events::{StageSummary, StepSummary};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub cluster: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub description: String,
    /// systemd units whose journal explains a failed step of this stage (e.g. `etcd`).
    pub units: Vec<String>,
    /// Steps per host, in the order they run on that host.
    pub hosts: Vec<HostSteps>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostSteps {
    pub host: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Short, unique within its stage (e.g. `swap`); shown as `stage/name`.
    pub name: String,
    pub description: String,
    pub action: StepAction,
    /// Remote files this step writes, for `kubewiz plan`.
    pub writes: Vec<String>,
    pub retry: RetryPolicy,
    /// Seconds the step may run before it is stopped and counted as failed.
    pub timeout: Duration,
    /// Which hosts run it and how (each on its own, once, one at a time).
    pub scope: StepScope,
    /// Every host of the stage finishes the steps before this one before any host starts it
    /// (etcd members start together; health is awaited only once every member was started).
    pub barrier: bool,
}

/// Which hosts of its stage run a step, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepScope {
    /// Every host of the stage, each on its own, at the same time (bounded by `--parallel`).
    #[default]
    EachHost,
    /// One chosen host only (the step is in that host's list alone): a bootstrap token, a
    /// table of the cluster, a config written into etcd.
    Once,
    /// Every host, one at a time in the stage's host order: a host starts the step when the
    /// host before it has finished it (flanneld, whose etcd watch misses simultaneous leases).
    Serial,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepAction {
    /// A shell script run through `sh -c` (with sudo when the host needs it). It reports its
    /// result on a line `KUBEWIZ-RESULT changed|unchanged|na <reason>`; without one, exit 0
    /// means `done`. Any non-zero exit is a failure.
    Script {
        script: String,
        /// False for ad-hoc commands (`kubewiz exec`): the exit status alone decides.
        reports_result: bool,
    },
    /// Files put in place idempotently (sha256 compared first, nothing written when equal),
    /// then `on_change` run when any of them was written. Reports changed or unchanged.
    Files {
        files: Vec<RemoteFile>,
        on_change: Option<String>,
    },
    /// Measure the host's clock against this machine's (which signs the certificates): fails
    /// when they differ by more than `max_skew_ms`. Changes nothing.
    ClockSkew { max_skew_ms: u64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteFile {
    pub path: String,
    pub mode: u32,
    pub source: FileSource,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// Rendered content (configs, units, certificates).
    Inline {
        #[serde(
            skip_serializing_if = "is_secret_or_binary",
            serialize_with = "as_text"
        )]
        content: Vec<u8>,
        /// Private keys: never printed by `plan --show-scripts` or JSON.
        secret: bool,
    },
    /// A local file streamed to the host (release tarballs); `sha256` is of its content.
    Local {
        path: std::path::PathBuf,
        sha256: String,
    },
}

fn is_secret_or_binary(content: &[u8]) -> bool {
    std::str::from_utf8(content).is_err() || looks_secret(content)
}

/// Belt and braces: whatever the `secret` flag says, PEM private keys, kubeconfigs with an
/// embedded key (`client-key-data`, base64 where "PRIVATE KEY" does not show) or a bearer
/// token (`token:` of a user), and bootstrap token Secrets (`token-secret:`) are never
/// serialised.
pub fn looks_secret(content: &[u8]) -> bool {
    let has = |needle: &[u8]| content.windows(needle.len()).any(|w| w == needle);
    has(b"PRIVATE KEY")
        || has(b"client-key-data:")
        || has(b"\n    token: ")
        || has(b"token-secret:")
}

fn as_text<S: serde::Serializer>(content: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(content))
}

impl RemoteFile {
    pub fn inline(path: &str, mode: u32, content: impl Into<Vec<u8>>) -> RemoteFile {
        let content = content.into();
        RemoteFile {
            path: path.into(),
            mode,
            source: FileSource::Inline {
                secret: looks_secret(&content),
                content,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RetryPolicy {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled for every further one.
    pub backoff: Duration,
}

impl RetryPolicy {
    pub const ONCE: RetryPolicy = RetryPolicy {
        attempts: 1,
        backoff: Duration::ZERO,
    };

    pub fn delay_before(&self, attempt: u32) -> Duration {
        // attempt is 2 for the first retry.
        self.backoff * 2u32.saturating_pow(attempt.saturating_sub(2))
    }
}

impl Step {
    /// A step with the defaults most steps want: one attempt, 60 s, every host, no barrier.
    pub fn new(name: &str, description: &str, action: StepAction) -> Step {
        Step {
            name: name.into(),
            description: description.into(),
            action,
            writes: vec![],
            retry: RetryPolicy::ONCE,
            timeout: Duration::from_secs(60),
            scope: StepScope::EachHost,
            barrier: false,
        }
    }

    /// A step running a script that reports `KUBEWIZ-RESULT changed|unchanged|na`.
    pub fn script(name: &str, description: &str, script: impl Into<String>) -> Step {
        Step::new(
            name,
            description,
            StepAction::Script {
                script: script.into(),
                reports_result: true,
            },
        )
    }

    pub fn writes<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Step {
        self.writes = paths.into_iter().map(Into::into).collect();
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Step {
        self.retry = retry;
        self
    }

    pub fn timeout_secs(mut self, secs: u64) -> Step {
        self.timeout = Duration::from_secs(secs);
        self
    }

    pub fn scope(mut self, scope: StepScope) -> Step {
        self.scope = scope;
        self
    }

    /// Wait for every host of the stage to finish the earlier steps before this one starts.
    pub fn after_barrier(mut self) -> Step {
        self.barrier = true;
        self
    }

    /// Hash of everything the step does: when it matches the journal, the step's effect is known
    /// to be in place from an earlier (interrupted) run.
    pub fn input_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        match &self.action {
            StepAction::Script {
                script,
                reports_result,
            } => {
                h.update(if *reports_result {
                    b"script\0".as_slice()
                } else {
                    b"adhoc\0".as_slice()
                });
                h.update(script.as_bytes());
            }
            StepAction::Files { files, on_change } => {
                h.update(b"files\0");
                for f in files {
                    h.update(f.path.as_bytes());
                    h.update(b"\0");
                    h.update(f.mode.to_le_bytes());
                    match &f.source {
                        FileSource::Inline { content, .. } => h.update(Sha256::digest(content)),
                        FileSource::Local { sha256, .. } => h.update(sha256.as_bytes()),
                    }
                }
                h.update(on_change.as_deref().unwrap_or("").as_bytes());
            }
            StepAction::ClockSkew { max_skew_ms } => {
                h.update(b"clock\0");
                h.update(max_skew_ms.to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}

impl Stage {
    /// The stage's steps in order: each host's list is a part of it, in the same order.
    pub fn step_order(&self) -> Vec<&Step> {
        let mut order: Vec<&Step> = vec![];
        for h in &self.hosts {
            for s in &h.steps {
                if !order.iter().any(|o| o.name == s.name) {
                    order.push(s);
                }
            }
        }
        order
    }

    /// The hosts that have step `name`, in the stage's host order.
    pub fn hosts_of(&self, name: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.steps.iter().any(|s| s.name == name))
            .map(|h| h.host.clone())
            .collect()
    }

    /// The stage as `PlanStarted` announces it.
    pub fn summary(&self) -> StageSummary {
        StageSummary {
            name: self.name.clone(),
            steps: self
                .step_order()
                .into_iter()
                .map(|s| StepSummary {
                    name: s.name.clone(),
                    scope: s.scope,
                    barrier: s.barrier,
                    hosts: self.hosts_of(&s.name),
                })
                .collect(),
            hosts: self.hosts.iter().map(|h| h.host.clone()).collect(),
        }
    }

    /// What the engine relies on to run the stage's cluster-wide steps: a host has a step at
    /// most once and in the stage's order, every host's copy of a step has the same scope and
    /// barrier, a `once` step is on one host only.
    pub fn validate(&self) -> Result<(), String> {
        let order = self.step_order();
        let stage = &self.name;
        for h in &self.hosts {
            let mut last: Option<usize> = None;
            for s in &h.steps {
                let pos = order
                    .iter()
                    .position(|o| o.name == s.name)
                    .expect("every step is in the order");
                if last.is_some_and(|l| pos <= l) {
                    return Err(format!(
                        "stage {stage}: host {} has step {} twice or out of the stage's order",
                        h.host, s.name
                    ));
                }
                last = Some(pos);
                let first = order[pos];
                if first.scope != s.scope || first.barrier != s.barrier {
                    return Err(format!(
                        "stage {stage}: step {} has a different scope or barrier on host {}",
                        s.name, h.host
                    ));
                }
            }
        }
        for s in order.iter().filter(|s| s.scope == StepScope::Once) {
            let hosts = self.hosts_of(&s.name);
            if hosts.len() > 1 {
                return Err(format!(
                    "stage {stage}: step {} runs once but is on {} hosts ({})",
                    s.name,
                    hosts.len(),
                    hosts.join(", ")
                ));
            }
        }
        Ok(())
    }
}

impl Plan {
    /// Every stage's [`Stage::validate`].
    pub fn validate(&self) -> Result<(), String> {
        self.stages.iter().try_for_each(Stage::validate)
    }

    pub fn total_steps(&self) -> usize {
        self.stages
            .iter()
            .flat_map(|s| &s.hosts)
            .map(|h| h.steps.len())
            .sum()
    }

    /// Keep only the given hosts (by name).
    pub fn retain_hosts(&mut self, names: &[String]) {
        for stage in &mut self.stages {
            stage.hosts.retain(|h| names.contains(&h.host));
        }
    }

    /// Keep only the named stages. Errors on a name the plan does not have.
    pub fn retain_stages(&mut self, names: &[String]) -> Result<(), String> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.stages.iter().any(|s| &s.name == *n))
        {
            return Err(format!(
                "no stage named {unknown:?}; stages are: {}",
                self.stage_names().join(", ")
            ));
        }
        self.stages.retain(|s| names.contains(&s.name));
        Ok(())
    }

    /// Drop the stages before `stage`. Errors when no stage has that name.
    pub fn start_at_stage(&mut self, stage: &str) -> Result<(), String> {
        let Some(i) = self.stages.iter().position(|s| s.name == stage) else {
            return Err(format!(
                "no stage named {stage:?}; stages are: {}",
                self.stage_names().join(", ")
            ));
        };
        self.stages.drain(..i);
        Ok(())
    }

    /// Keep only one step (`stage/step`), on whatever hosts remain.
    pub fn only_step(&mut self, stage_step: &str) -> Result<(), String> {
        let (stage, step) = stage_step
            .split_once('/')
            .ok_or_else(|| format!("{stage_step:?} is not of the form stage/step"))?;
        let known = self.stages.iter().any(|s| {
            s.name == stage
                && s.hosts
                    .iter()
                    .any(|h| h.steps.iter().any(|st| st.name == step))
        });
        if !known {
            return Err(format!("no step {stage_step:?} in the plan"));
        }
        self.stages.retain(|s| s.name == stage);
        for s in &mut self.stages {
            for h in &mut s.hosts {
                h.steps.retain(|st| st.name == step);
            }
        }
        Ok(())
    }

    pub fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_step(name: &str, script: &str) -> Step {
        Step::script(name, "", script).timeout_secs(5)
    }

    fn plan() -> Plan {
        let stage = |name: &str| Stage {
            name: name.into(),
            description: String::new(),
            units: vec![],
            hosts: ["a", "b"]
                .iter()
                .map(|h| HostSteps {
                    host: h.to_string(),
                    steps: vec![script_step("one", "true"), script_step("two", "false")],
                })
                .collect(),
        };
        Plan {
            cluster: "c".into(),
            stages: vec![stage("prep"), stage("etcd")],
        }
    }

    #[test]
    fn hash_changes_with_script_and_name() {
        let a = script_step("x", "echo 1").input_hash();
        assert_eq!(a, script_step("x", "echo 1").input_hash());
        assert_ne!(a, script_step("x", "echo 2").input_hash());
        assert_ne!(a, script_step("y", "echo 1").input_hash());
    }

    #[test]
    fn filters_hosts_stages_and_steps() {
        let mut p = plan();
        assert_eq!(p.total_steps(), 8);
        p.retain_hosts(&["b".into()]);
        assert_eq!(p.total_steps(), 4);
        p.start_at_stage("etcd").unwrap();
        assert_eq!(p.stage_names(), vec!["etcd"]);
        assert!(p
            .start_at_stage("nope")
            .unwrap_err()
            .contains("stages are: etcd"));
        p.only_step("etcd/two").unwrap();
        assert_eq!(p.total_steps(), 1);
        assert!(plan().only_step("etcd/three").is_err());
        assert!(plan().only_step("etcd").is_err());
    }

    fn stage_of(hosts: &[(&str, Vec<Step>)]) -> Stage {
        Stage {
            name: "s".into(),
            description: String::new(),
            units: vec![],
            hosts: hosts
                .iter()
                .map(|(h, steps)| HostSteps {
                    host: h.to_string(),
                    steps: steps.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn validation_catches_what_the_engine_cannot_run() {
        let a = || script_step("a", "true");
        let b = || script_step("b", "true").after_barrier();
        let once = || script_step("report", "true").scope(StepScope::Once);
        // A once step on one host, a host without the barrier step: fine.
        let ok = stage_of(&[("n1", vec![a(), b(), once()]), ("n2", vec![a()])]);
        assert_eq!(ok.validate(), Ok(()));
        let s = ok.summary();
        assert_eq!(s.step_names(), vec!["a", "b", "report"]);
        assert_eq!(s.steps[2].how().as_deref(), Some("once on n1"));
        assert_eq!(s.steps[1].how().as_deref(), Some("waits for all hosts"));
        assert_eq!(s.steps[0].how(), None);

        let twice = stage_of(&[("n1", vec![once()]), ("n2", vec![once()])]);
        let err = twice.validate().unwrap_err();
        assert!(
            err.contains("report runs once but is on 2 hosts (n1, n2)"),
            "{err}"
        );
        let reordered = stage_of(&[("n1", vec![a(), b()]), ("n2", vec![b(), a()])]);
        assert!(reordered
            .validate()
            .unwrap_err()
            .contains("out of the stage's order"));
        let mixed = stage_of(&[
            ("n1", vec![a(), b()]),
            ("n2", vec![a(), script_step("b", "")]),
        ]);
        assert!(mixed
            .validate()
            .unwrap_err()
            .contains("different scope or barrier on host n2"));
    }

    #[test]
    fn backoff_doubles() {
        let r = RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(100),
        };
        assert_eq!(r.delay_before(2), Duration::from_millis(100));
        assert_eq!(r.delay_before(3), Duration::from_millis(200));
        assert_eq!(r.delay_before(4), Duration::from_millis(400));
    }
}

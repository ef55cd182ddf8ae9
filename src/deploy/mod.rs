//! One deploy path for `kubewiz apply` and the TUI: build the plan the way apply does (the PKI
//! first), narrow it, choose the journal options by one rule, run it on a host pool, and fix
//! and retry. The front ends keep only what is theirs: arguments or keys, printing or drawing,
//! and asking for consent.

pub mod fix;
pub mod narrow;
pub mod targets;

pub use fix::{
    apply_fix, apply_fixes, offers, Emit, FixContext, FixNote, FixOffer, MAX_FIX_ROUNDS,
};
pub use narrow::{run_options, Narrowing};

use crate::cluster_dir::ClusterDir;
use crate::config::{ClusterSpec, ResolvedHost};
use crate::engine::{self, CancellationToken, HostPool, RunOptions, RunSummary};
use crate::events::Event;
use crate::pki::PkiReport;
use crate::plan::Plan;
use crate::stages::PlanOptions;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use targets::Secrets;
use tokio::sync::mpsc::UnboundedSender;

/// What to deploy: the cluster, how its plan is built and narrowed, what runs afresh.
#[derive(Debug, Clone)]
pub struct Request {
    pub spec: ClusterSpec,
    pub dir: ClusterDir,
    pub plan: PlanOptions,
    pub narrowing: Narrowing,
    /// The stage retried after a fix: its steps run again whatever the journal says.
    pub retry_stages: Vec<String>,
    /// How many hosts work at the same time.
    pub parallel: usize,
}

impl Request {
    /// The whole plan of the cluster, resuming what the journal has.
    pub fn new(spec: ClusterSpec, dir: ClusterDir) -> Request {
        Request {
            spec,
            dir,
            plan: PlanOptions::default(),
            narrowing: Narrowing::default(),
            retry_stages: vec![],
            parallel: RunOptions::default().parallel,
        }
    }

    /// The same run again after a fix of a failure in `stage`: that stage runs afresh (its
    /// steps put the rest right, e.g. upload a re-issued certificate and restart).
    pub fn retry_after_fix(&self, stage: &str) -> Request {
        Request {
            retry_stages: vec![stage.to_string()],
            ..self.clone()
        }
    }
}

/// A plan ready to run, with its run options.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    pub options: RunOptions,
    /// What the PKI step created or re-issued (nothing when it was in place).
    pub pki: PkiReport,
}

/// Build the plan as apply does: the PKI first (kept in the cluster directory, created once,
/// never regenerated silently: a re-issued leaf is reported and its old files backed up), then
/// the plan, which reads it, then the narrowing. Blocking: it writes the PKI and hashes the
/// bundle's tarballs, so a UI calls it off its thread.
pub fn prepare(req: &Request) -> Result<Prepared> {
    let pki = crate::pki::ensure(&req.dir, &req.spec)?;
    // The kubelets' bootstrap token: kept while fresh, else a new one (the join stage ships it).
    crate::stages::join::token::ensure(&req.dir, time::OffsetDateTime::now_utc())?;
    // Rendered now, so a missing or foreign release manifest stops the run before any host
    // changes; applied to the cluster by the add-ons stage.
    crate::addons::write(&req.dir, &crate::addons::rendered(&req.spec)?)?;
    let mut plan = crate::stages::build_plan(&req.spec, &req.dir, &req.plan)?;
    let rerun = req.narrowing.apply(&mut plan).map_err(anyhow::Error::msg)?;
    let mut options = run_options(
        &req.dir,
        &req.narrowing,
        rerun,
        &req.retry_stages,
        req.parallel,
    );
    options.views = stage_views(&plan, &req.spec, &req.dir);
    Ok(Prepared { plan, options, pki })
}

/// The cluster-wide views of the plan's stages that have one, bound to this cluster.
fn stage_views(plan: &Plan, spec: &ClusterSpec, dir: &ClusterDir) -> engine::StageViews {
    let mut views = engine::StageViews::default();
    for stage in &plan.stages {
        let Some(view) = crate::stages::stage(&stage.name).and_then(|s| s.health.view) else {
            continue;
        };
        let (spec, dir) = (spec.clone(), dir.clone());
        let run: engine::StageView = Arc::new(move |pool: Arc<HostPool>| {
            let (spec, dir) = (spec.clone(), dir.clone());
            Box::pin(async move {
                let ctx = crate::stages::FixContext {
                    spec: &spec,
                    dir: &dir,
                    pool: &*pool,
                };
                view(&ctx).await
            })
        });
        views.0.insert(stage.name.clone(), run);
    }
    views
}

/// The hosts the plan runs on (a narrowed plan connects only to those).
pub fn hosts_in(plan: &Plan, hosts: &[ResolvedHost]) -> Vec<ResolvedHost> {
    hosts
        .iter()
        .filter(|h| {
            plan.stages
                .iter()
                .any(|s| s.hosts.iter().any(|x| x.host == h.name))
        })
        .cloned()
        .collect()
}

/// One connection pool over `hosts`, with the cluster's known hosts; `accept_new` records
/// keys never seen before.
pub fn pool(
    hosts: &[ResolvedHost],
    dir: &ClusterDir,
    secrets: Secrets,
    accept_new: bool,
    connect_timeout: Duration,
) -> Result<Arc<HostPool>> {
    Ok(Arc::new(HostPool::new(
        targets::ssh_targets_from(hosts, secrets)?,
        targets::host_key_policy(dir, accept_new),
        connect_timeout,
    )))
}

/// Run a plan on the pool, the events to `tx`. Err only when the journal cannot be used.
pub async fn run_plan(
    plan: &Plan,
    pool: Arc<HostPool>,
    options: RunOptions,
    tx: UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    tracing::info!(cluster = %plan.cluster, steps = plan.total_steps(), partial = options.partial, "run starts");
    let result = engine::run(plan, pool, options, tx, cancel).await;
    if let Ok(s) = &result {
        tracing::info!(ok = s.ok, interrupted = s.interrupted, "run ends");
    }
    result
}

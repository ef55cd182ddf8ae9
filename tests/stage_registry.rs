//! The stage registry is the one list of stages: a stage defined here, outside kubewiz, shows in
//! the plan's order and output, preflight's ports, `kubewiz diagnose`'s stages and the failure
//! catalog's accepted stages and fixes by being added to the registry, nothing else. And every
//! embedded template is rendered by some stage.

use kubewiz::cli::plan_cmd;
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config::{self, BinariesSpec, ClusterSpec, Role, Runtime};
use kubewiz::diagnose::{Catalog, Vocabulary};
use kubewiz::plan::{HostSteps, Step, StepAction};
use kubewiz::stages::{
    self, build_plan_with, BuildCtx, Built, FixDef, Health, PlanOptions, RoleNeeds, StageDef,
    Templates,
};
use minijinja::context;

/// A whole stage: one step from its own template, a port for preflight, a health probe, a fix.
const THROWAWAY: StageDef = StageDef {
    name: "throwaway",
    description: "a stage only this test has",
    units: &["throwaway"],
    build,
    needs: &[RoleNeeds {
        role: Role::Node,
        ports: &[4242],
        units: &["throwaway"],
    }],
    health: Health {
        roles: &[Role::Node],
        command: Some(|| "systemctl is-active --quiet throwaway".into()),
        view: None,
    },
    fixes: &[FixDef {
        name: "poke-throwaway",
        destroys: None,
        run: |ctx, host, emit| Box::pin(stages::fix::run_script(ctx, host, "true", emit)),
    }],
};

fn build(ctx: &BuildCtx<'_>) -> anyhow::Result<Built> {
    let mut hosts = vec![];
    for h in ctx.spec.hosts_with_role(Role::Node) {
        let script = ctx
            .templates
            .script("throwaway/hello.sh", context! { name => h.name })?;
        hosts.push(HostSteps {
            host: h.name.clone(),
            steps: vec![Step::script("hello", "say hello", script)],
        });
    }
    Ok(Built {
        description: format!("{} on {} node(s)", THROWAWAY.description, hosts.len()),
        hosts,
    })
}

/// The throwaway stage's template: what would live in assets/templates/throwaway/.
const TEMPLATES: &[(&str, &str)] = &[(
    "throwaway/hello.sh",
    include_str!("fixtures/stages/throwaway/hello.sh"),
)];

const SPEC: &str = r#"
name: reg
hosts:
  - {name: m1, address: 10.9.0.1, roles: [etcd, master]}
  - {name: w1, address: 10.9.0.2, roles: [node]}
network:
  pod_cidr: 10.244.0.0/16
  service_cidr: 10.96.0.0/12
"#;

fn spec() -> ClusterSpec {
    config::parse_str(SPEC).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The registry with the throwaway stage added at the end: the one line a new stage needs.
fn registry() -> Vec<StageDef> {
    stages::REGISTRY
        .iter()
        .copied()
        .chain([THROWAWAY])
        .collect()
}

fn script_of<'p>(plan: &'p kubewiz::plan::Plan, stage: &str, host: &str, step: &str) -> &'p str {
    let st = plan
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.hosts.iter().find(|h| h.host == host))
        .and_then(|h| h.steps.iter().find(|s| s.name == step))
        .unwrap_or_else(|| panic!("no step {stage}/{step}@{host}"));
    match &st.action {
        StepAction::Script { script, .. } => script,
        other => panic!("{stage}/{step} is not a script: {other:?}"),
    }
}

#[test]
fn a_stage_added_to_the_registry_is_in_the_plan_preflight_diagnose_and_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
    let spec = spec();
    let reg = registry();
    let t = Templates::with(TEMPLATES);
    let plan = build_plan_with(&reg, &t, &spec, &dir, &PlanOptions::default()).unwrap();

    // The plan: in registry order, with the stage's name, units and steps on its hosts.
    let mut names = stages::names(stages::REGISTRY);
    names.push("throwaway");
    assert_eq!(plan.stage_names(), names);
    let s = plan.stages.last().unwrap();
    assert_eq!(s.units, ["throwaway"]);
    assert_eq!(s.hosts.len(), 1);
    assert!(script_of(&plan, "throwaway", "w1", "hello").contains("echo \"hello from w1\""));
    let out = plan_cmd::render(&plan, true);
    assert!(
        out.contains("stage throwaway: a stage only this test has on 1 node(s)"),
        "{out}"
    );
    assert!(out.contains("throwaway/hello"), "{out}");
    let count = format!("plan for cluster reg: {} stage(s)", names.len());
    assert!(out.contains(&count), "{out}");

    // Preflight checks the stage's port on its role's hosts only, and lets its unit hold it.
    let w1 = script_of(&plan, "preflight", "w1", "checks");
    assert!(w1.contains("for p in 4242 10249 10250 10256; do"), "{w1}");
    assert!(
        w1.contains("for unit in kubelet kube-proxy throwaway; do"),
        "{w1}"
    );
    let m1 = script_of(&plan, "preflight", "m1", "checks");
    assert!(!m1.contains("4242"), "{m1}");
    // Without the stage, w1's preflight is today's.
    let before = build_plan_with(
        stages::REGISTRY,
        &Templates::new(),
        &spec,
        &dir,
        &PlanOptions::default(),
    )
    .unwrap();
    assert!(
        script_of(&before, "preflight", "w1", "checks").contains("for p in 10249 10250 10256; do")
    );

    // Diagnose: the stage is one of its stages, probing the stage's hosts with its command.
    assert_eq!(stages::names(&reg), names);
    let check = stages::health_check(&reg, &spec, "throwaway").expect("diagnose knows it");
    let hosts: Vec<&str> = check.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["w1"]);
    assert_eq!(check.units, ["throwaway"]);
    assert_eq!(
        check.command.as_deref(),
        Some("systemctl is-active --quiet throwaway")
    );
    assert!(stages::health_check(stages::REGISTRY, &spec, "throwaway").is_none());

    // The catalog: an entry of the stage, with the stage's fix, loads against the registry
    // that has it, and only there.
    let entry = r#"
version: 1
entries:
  - id: T1
    stage: throwaway
    title: the throwaway daemon is sad
    priority: 10
    signatures: ['throwaway is sad']
    samples: ['throwaway is sad']
    cause: c
    fix: f
    auto_fix: {action: poke-throwaway, description: poke it, destructive: false}
    source: [s]
"#;
    let c = Catalog::from_yaml_with(entry, &Vocabulary::of(&reg)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.get("T1").map(|e| e.stage.as_str()), Some("throwaway"));
    let e = Catalog::from_yaml(entry).unwrap_err();
    assert_eq!(
        (e.entry.as_deref(), e.field.as_str()),
        (Some("T1"), "stage"),
        "{e}"
    );
    assert!(stages::fix::fix_in(&reg, "poke-throwaway").is_some());
    assert!(stages::fix("poke-throwaway").is_none());
}

/// Every file under assets/templates is rendered by some stage's build (or, for a fix's own
/// script, by that fix), for one sample cluster with its binaries from each source (a bundle,
/// a mirror, already installed) and each runtime.
#[test]
fn every_embedded_template_is_rendered_by_some_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
    let mut spec = spec();
    let version = spec.versions.etcd.trim_start_matches('v').to_string();
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let v = &spec.versions;
    for tarball in [
        format!("etcd-v{version}-linux-amd64.tar.gz"),
        format!("flannel-v{}-linux-amd64.tar.gz", v.flannel),
        format!("cni-plugins-linux-amd64-v{}.tgz", v.cni_plugins),
        "kubernetes-server-linux-amd64.tar.gz".into(),
    ] {
        std::fs::write(bundle.join(tarball), b"not really a tarball").unwrap();
    }
    let t = Templates::new();
    let sources = [
        BinariesSpec::Bundle { bundle_dir: bundle },
        BinariesSpec::Mirror {
            mirror_url: "http://127.0.0.1:9/releases".into(),
        },
        BinariesSpec::Installed,
    ];
    for (binaries, runtime) in sources
        .into_iter()
        .flat_map(|b| [Runtime::Docker, Runtime::Containerd].map(|r| (b.clone(), r)))
    {
        spec.binaries = binaries;
        spec.runtime = runtime;
        let plan =
            build_plan_with(stages::REGISTRY, &t, &spec, &dir, &PlanOptions::default()).unwrap();
        let install = script_of(&plan, "etcd", "m1", "install");
        assert!(
            !install.contains("{{") && !install.contains("{%"),
            "{install}"
        );
    }
    // Templates only a fix renders (it runs on live hosts): rendered the way the fix does.
    let approve =
        stages::join::fixes::approve_client_csrs_script(&t, &spec, "kubectl", "abcdef").unwrap();
    assert!(approve.contains("system:bootstrap:abcdef"), "{approve}");
    let rendered = t.rendered();
    for (name, _) in stages::templates::EMBEDDED {
        assert!(
            rendered.contains(*name),
            "no stage renders {name}: rendered {rendered:?}"
        );
    }
}

/// Preflight already checks the ports of stages not built yet; each such stage is one the
/// catalog lists as upcoming, and none is in the registry (a built stage declares its own).
#[test]
fn upcoming_needs_are_of_upcoming_stages_only() {
    let upcoming = Catalog::builtin().upcoming_stages();
    for (name, _) in stages::preflight::UPCOMING_NEEDS {
        assert!(
            stages::stage(name).is_none(),
            "{name} is built: move its ports into its StageDef::needs"
        );
        assert!(
            upcoming.iter().any(|u| u == name),
            "{name} is not an upcoming stage of the catalog ({upcoming:?})"
        );
    }
}

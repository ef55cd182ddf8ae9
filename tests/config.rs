//! Cluster-file loading and validation, driven by the fixtures in `tests/fixtures/config/`:
//!
//! - `valid/*.yaml` must load; the warnings must match the sibling `.warnings` file (none when
//!   there is no such file).
//! - `invalid/*.yaml` must fail to load; the findings must match the sibling `.expected` file,
//!   one finding per line as `Display` prints it.
//!
//! Adding a fixture adds a case. `UPDATE_EXPECTED=1 cargo test --test config` rewrites the
//! `.expected` and `.warnings` files from the current output: review the diff by eye.
//!
//! Paths inside the fixtures are relative to the crate root, the working directory of tests.

use kubewiz::config::{
    self, versions, ClusterSpec, ConfigError, Finding, HostSpec, Role, Severity,
};
use std::fs;
use std::path::{Path, PathBuf};

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new("tests/fixtures/config").join(kind)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECTED").is_some_and(|v| v != "0" && !v.is_empty())
}

fn render(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual only.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

/// Compares `actual` with the file `expected_path` (missing = `default`), or rewrites the file.
fn compare(yaml: &Path, expected_path: &Path, actual: &str, failures: &mut Vec<String>) {
    if updating() {
        if actual.is_empty() && expected_path.extension().is_some_and(|x| x == "warnings") {
            let _ = fs::remove_file(expected_path);
        } else {
            fs::write(expected_path, actual).unwrap();
        }
        return;
    }
    let expected = match fs::read_to_string(expected_path) {
        Ok(text) => text,
        Err(_) if expected_path.extension().is_some_and(|x| x == "warnings") => String::new(),
        Err(_) => {
            failures.push(format!(
                "{}: no {} (run with UPDATE_EXPECTED=1 to write it); findings:\n{actual}",
                yaml.display(),
                expected_path.display()
            ));
            return;
        }
    };
    if expected != actual {
        failures.push(format!(
            "{}: findings differ from {} (- expected, + actual):\n{}",
            yaml.display(),
            expected_path.display(),
            diff(&expected, actual)
        ));
    }
}

fn finish(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_fixtures_load() {
    let files = yaml_files(&fixture_dir("valid"));
    assert!(files.len() >= 6, "expected at least 6 valid fixtures");
    let mut failures = Vec::new();
    for yaml in &files {
        match config::load(yaml) {
            Ok(loaded) => {
                assert!(loaded
                    .warnings
                    .iter()
                    .all(|w| w.severity == Severity::Warning));
                compare(
                    yaml,
                    &yaml.with_extension("warnings"),
                    &render(&loaded.warnings),
                    &mut failures,
                );
            }
            Err(e) => failures.push(format!("{}: does not load:\n{e}", yaml.display())),
        }
    }
    finish(failures);
}

#[test]
fn invalid_fixtures_report_expected_findings() {
    let files = yaml_files(&fixture_dir("invalid"));
    assert!(files.len() >= 15, "expected at least 15 invalid fixtures");
    let mut failures = Vec::new();
    for yaml in &files {
        match config::load(yaml) {
            Ok(loaded) => failures.push(format!(
                "{}: loads without errors (warnings: {:?})",
                yaml.display(),
                loaded.warnings
            )),
            Err(e) => {
                assert_eq!(e.file, *yaml);
                assert!(e.findings.iter().any(Finding::is_error));
                compare(
                    yaml,
                    &yaml.with_extension("expected"),
                    &render(&e.findings),
                    &mut failures,
                );
            }
        }
    }
    finish(failures);
}

#[test]
fn everything_wrong_is_reported_at_once() {
    let e = config::load(&fixture_dir("invalid").join("everything-wrong.yaml")).unwrap_err();
    assert!(e.findings.len() >= 10, "{e}");
    let e = config::load(&fixture_dir("invalid").join("unknown-keys-everywhere.yaml")).unwrap_err();
    assert!(e.findings.len() >= 8, "{e}");
}

#[test]
fn example_in_assets_loads_cleanly() {
    let loaded =
        config::load(Path::new("assets/cluster.example.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.spec.hosts.len() >= 2);
}

/// The wizard's starting point and the example file are combinations the version rules allow:
/// a user who only adds a host gets a file that validates.
#[test]
fn wizard_defaults_and_the_example_validate() {
    let mut spec = kubewiz::tui::wizard::default_spec("lab");
    spec.hosts.push(HostSpec {
        name: "node1".into(),
        address: "10.77.0.11".into(),
        port: None,
        user: None,
        auth: None,
        sudo: None,
        roles: Role::ALL.to_vec(),
    });
    let findings = config::validate(&spec);
    assert!(
        !findings.iter().any(Finding::is_error),
        "the wizard's defaults do not validate:\n{}",
        render(&findings)
    );
    let example = config::load(Path::new("assets/cluster.example.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .spec;
    for (what, s) in [("wizard default", &spec), ("example", &example)] {
        // What the version rules decide, named, so a change of either default is seen here.
        let k8s = &s.versions.kubernetes;
        let docker_ok = versions::has(versions::Feature::Dockershim, k8s) == Some(true);
        assert!(
            s.runtime != config::Runtime::Docker || docker_ok,
            "{what}: runtime docker with Kubernetes {k8s}"
        );
    }
}

#[test]
fn to_yaml_round_trips() {
    let mut files = yaml_files(&fixture_dir("valid"));
    files.push("assets/cluster.example.yaml".into());
    for yaml in files {
        let spec = config::load(&yaml).unwrap().spec;
        let text = config::to_yaml(&spec);
        let back: ClusterSpec = config::parse_str(&text).unwrap_or_else(|f| {
            panic!(
                "{}: to_yaml output does not parse: {f:?}\n{text}",
                yaml.display()
            )
        });
        assert_eq!(back, spec, "{}:\n{text}", yaml.display());
        assert_eq!(config::to_yaml(&back), text);
    }
}

#[test]
fn type_error_has_path_and_position() {
    let text = "name: lab\nhosts:\n  - name: node1\n    address: 10.77.0.11\n    port: \"abc\"\n    roles: [etcd, master, node]\nnetwork: {pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12}\n";
    let findings = config::parse_str(text).unwrap_err();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "hosts[0].port");
    assert_eq!(
        findings[0].to_string(),
        "error: hosts[0].port: expected a port number (1-65535), found \"abc\" (line 5, column 11)"
    );
}

#[test]
fn validate_reports_without_positions() {
    let mut spec = config::load(&fixture_dir("valid").join("minimal.yaml"))
        .unwrap()
        .spec;
    spec.hosts[0].address = "10.0.0.300".into();
    let findings = config::validate(&spec);
    assert_eq!(
        render(&findings),
        "error: hosts[0].address: \"10.0.0.300\" is not an IP address\n"
    );
}

#[test]
fn config_error_display_lists_every_finding() {
    let e = ConfigError {
        file: "cluster.yaml".into(),
        findings: vec![
            Finding::error("hosts[1].address", "\"10.0.0.300\" is not an IP address"),
            Finding::warning("hosts", "something"),
        ],
    };
    assert_eq!(
        e.to_string(),
        "cluster.yaml: 2 problems\nerror: hosts[1].address: \"10.0.0.300\" is not an IP address\nwarning: hosts: something"
    );
    let one = ConfigError {
        file: "c.yaml".into(),
        findings: vec![Finding::error("", "cannot read the file")],
    };
    assert_eq!(
        one.to_string(),
        "c.yaml: 1 problem\nerror: cannot read the file"
    );
}

#[test]
fn missing_file_is_a_config_error() {
    let e = config::load(Path::new("tests/fixtures/config/no-such-file.yaml")).unwrap_err();
    assert_eq!(e.findings.len(), 1);
    assert!(
        e.findings[0].message.starts_with("cannot read the file: "),
        "{e}"
    );
}

#[test]
fn resolved_hosts_apply_defaults() {
    let spec = config::load(&fixture_dir("valid").join("defaults-inherited.yaml"))
        .unwrap()
        .spec;
    let hosts = spec.resolved_hosts();
    let summary: Vec<(String, u16, String, bool)> = hosts
        .iter()
        .map(|h| (h.name.clone(), h.port, h.user.clone(), h.sudo))
        .collect();
    assert_eq!(
        summary,
        [
            ("node1".into(), 2200, "admin".into(), true),
            ("node2".into(), 2200, "admin".into(), true),
            ("node3".into(), 22, "root".into(), false),
        ]
    );
    assert!(matches!(
        &hosts[0].auth,
        config::AuthSpec::Password { password_env: Some(v) } if v == "LAB_PASSWORD"
    ));
    assert_eq!(hosts[2].auth, config::AuthSpec::Agent);
    assert_eq!(spec.cluster_dns_ip(), Some("10.96.0.10".parse().unwrap()));
    assert_eq!(
        spec.apiserver_service_ip(),
        Some("10.96.0.1".parse().unwrap())
    );
    assert_eq!(spec.hosts_with_role(config::Role::Master).len(), 1);
}

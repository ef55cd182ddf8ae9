//! Runtime & versions: the container runtime, the versions to install, where the release
//! binaries come from. A rule about a combination (docker needs an older Kubernetes) is shown
//! beside both the runtime and the Kubernetes version, whichever path its finding carries.

use super::{no_lines, FormScreen, Screen, Step};
use crate::config::versions::{self, Feature};
use crate::config::{BinariesSpec, ClusterSpec, Finding, Runtime};
use crate::tui::input::{Field, Form};
use std::path::PathBuf;

impl Step {
    pub const RUNTIME: Step = Step("runtime");
}

pub const SCREEN: Screen = Screen {
    step: Step::RUNTIME,
    title: "Runtime & versions",
    paths: &["runtime", "versions", "binaries"],
    form: Some(FormScreen {
        form,
        apply,
        intro,
        after: no_lines,
    }),
    ..Screen::BASE
};

/// The runtimes in a line, with docker's last Kubernetes release from the version table.
fn runtime_hint() -> String {
    let docker_until = versions::rule(Feature::Dockershim)
        .until
        .map(|m| format!(" (Kubernetes ≤ {m})"))
        .unwrap_or_default();
    format!("docker as in the binary guides{docker_until}; containerd as modern clusters use")
}

fn form(s: &ClusterSpec) -> Form {
    let v = &s.versions;
    let mut fields = vec![
        Field::choice(
            "runtime",
            "Runtime",
            "runtime",
            &["docker", "containerd"],
            match s.runtime {
                Runtime::Docker => "docker",
                Runtime::Containerd => "containerd",
            },
        )
        .also("versions.kubernetes")
        .hint(runtime_hint()),
        Field::text(
            "kubernetes",
            "Kubernetes",
            "versions.kubernetes",
            &v.kubernetes,
        )
        .also("runtime"),
        Field::text("etcd", "etcd", "versions.etcd", &v.etcd),
        Field::text("flannel", "flannel", "versions.flannel", &v.flannel),
        Field::text("calico", "calico", "versions.calico", &v.calico),
        Field::text(
            "cni_plugins",
            "CNI plugins",
            "versions.cni_plugins",
            &v.cni_plugins,
        ),
    ];
    let (source, extra) = match &s.binaries {
        BinariesSpec::Installed => ("installed", None),
        BinariesSpec::Bundle { bundle_dir } => (
            "bundle",
            Some(
                Field::text(
                    "bundle_dir",
                    "Bundle dir",
                    "binaries.bundle_dir",
                    &bundle_dir.display().to_string(),
                )
                .hint("directory of release tarballs on this machine, uploaded to the hosts (offline installs)"),
            ),
        ),
        BinariesSpec::Mirror { mirror_url } => (
            "mirror",
            Some(
                Field::text("mirror_url", "Mirror URL", "binaries.mirror_url", mirror_url)
                    .hint("http(s) URL the hosts download the binaries from"),
            ),
        ),
    };
    fields.push(
        Field::choice(
            "source",
            "Binaries",
            "binaries",
            &["installed", "bundle", "mirror"],
            source,
        )
        .hint("installed: already on the hosts' PATH; bundle: tarballs from here; mirror: hosts download"),
    );
    fields.extend(extra);
    Form::new(fields)
}

fn apply(f: &Form, s: &mut ClusterSpec) -> Vec<Finding> {
    s.runtime = if f.value("runtime") == "containerd" {
        Runtime::Containerd
    } else {
        Runtime::Docker
    };
    // Field by field: versions the form does not show stay as they are.
    let v = &mut s.versions;
    for (field, value) in [
        ("kubernetes", &mut v.kubernetes),
        ("etcd", &mut v.etcd),
        ("flannel", &mut v.flannel),
        ("calico", &mut v.calico),
        ("cni_plugins", &mut v.cni_plugins),
    ] {
        *value = f.value(field).trim().to_string();
    }
    s.binaries = match f.value("source").as_str() {
        "bundle" => BinariesSpec::Bundle {
            bundle_dir: PathBuf::from(f.value("bundle_dir").trim()),
        },
        "mirror" => BinariesSpec::Mirror {
            mirror_url: f.value("mirror_url").trim().to_string(),
        },
        _ => BinariesSpec::Installed,
    };
    vec![]
}

fn intro(_: &ClusterSpec) -> Vec<String> {
    vec![
        "Container runtime, the versions to install, and where the release binaries come from."
            .into(),
    ]
}

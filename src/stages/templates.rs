//! The step templates: every file under assets/templates, embedded by build.rs and named by its
//! path there (`etcd/start.sh`). A stage refers to its templates by those names.

use anyhow::{Context, Result};
use minijinja::Environment;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// (name, text) of every file under assets/templates, sorted by name.
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Every step script starts with this (`report`, `has`, `set -eu`); not a template of its own.
const PRELUDE: &str = "prelude.sh";

/// Where a unit's restart marker lives: a step that changes what the unit runs (binaries,
/// certificates, the unit file) touches it; the stage's start step restarts the unit when it
/// finds the marker, then removes it. A marker survives an interrupted run until the next start.
pub fn restart_marker(unit: &str) -> String {
    format!("/run/kubewiz/{unit}.restart")
}

/// The shell line that leaves the restart marker for `unit`.
pub fn touch_restart_marker(unit: &str) -> String {
    format!("mkdir -p /run/kubewiz && touch {}", restart_marker(unit))
}

/// The step `unit` that puts a systemd unit file in place: on a change, systemd reloads and
/// the unit's restart marker is left for the stage's start step.
pub fn unit_step(description: &str, path: &str, unit: &str, content: String) -> crate::plan::Step {
    use crate::plan::{RemoteFile, Step, StepAction};
    Step::new(
        "unit",
        description,
        StepAction::Files {
            files: vec![RemoteFile::inline(path, 0o644, content)],
            on_change: Some(format!(
                "systemctl daemon-reload\n{}",
                touch_restart_marker(unit)
            )),
        },
    )
    .retry(super::RETRY)
}

/// The embedded templates (and any a caller adds), with the `sq` filter and the restart-marker
/// functions. Remembers which templates were rendered, so a test can show that each is used.
pub struct Templates {
    env: Environment<'static>,
    rendered: Mutex<BTreeSet<String>>,
}

impl Templates {
    pub fn new() -> Templates {
        Templates::with(&[])
    }

    /// The embedded templates plus `extra` (name, text): a stage defined outside the binary,
    /// such as the throwaway stage of the registry test.
    pub fn with(extra: &[(&'static str, &'static str)]) -> Templates {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.add_filter("sq", super::shell_quote);
        env.add_function("restart_marker", |unit: &str| restart_marker(unit));
        env.add_function("touch_restart_marker", |unit: &str| {
            touch_restart_marker(unit)
        });
        for (name, text) in EMBEDDED.iter().chain(extra) {
            env.add_template(name, text)
                .unwrap_or_else(|e| panic!("template {name} is broken: {e}"));
        }
        Templates {
            env,
            rendered: Mutex::new(BTreeSet::new()),
        }
    }

    /// Render a file template (units, configs) as is.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        self.rendered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .with_context(|| format!("rendering template {name}"))
    }

    /// Render a step script: the prelude, then the step's template.
    pub fn script(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        let prelude = self.render(PRELUDE, minijinja::context! {})?;
        Ok(format!("{prelude}{}", self.render(name, ctx)?))
    }

    /// The names of the templates rendered so far.
    pub fn rendered(&self) -> BTreeSet<String> {
        self.rendered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_under_assets_templates_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates");
        let mut on_disk = vec![];
        let mut todo = vec![dir.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        assert_eq!(embedded, on_disk);
        assert!(embedded.contains(&"etcd/start.sh"), "{embedded:?}");
    }
}

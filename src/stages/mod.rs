//! Stage builders: each turns a ClusterSpec into the steps of one stage, per host.
//! Step scripts are minijinja templates under assets/templates, embedded in the binary.

pub mod etcd;
pub mod preflight;
pub mod prep;

use crate::cluster_dir::ClusterDir;
use crate::config::ClusterSpec;
use crate::plan::Plan;
use anyhow::{Context, Result};
use minijinja::Environment;

/// The stages `apply` runs, in order. Later issues add etcd, runtime, network, control plane…
pub const STAGES: &[&str] = &["preflight", "prep", "etcd"];

/// What shapes a plan besides the cluster file.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Preflight checks whose failure is only a warning (`--ignore-preflight-errors`).
    pub ignore_preflight: Vec<String>,
}

/// The plan `apply` runs for this cluster. Reads the PKI from the cluster directory (apply
/// creates it first; `plan` shows placeholders when it does not exist yet).
pub fn build_plan(spec: &ClusterSpec, dir: &ClusterDir, opts: &PlanOptions) -> Result<Plan> {
    let t = Templates::new();
    Ok(Plan {
        cluster: spec.name.clone(),
        stages: vec![
            preflight::build(spec, &opts.ignore_preflight, &t)?,
            prep::build(spec, &t)?,
            etcd::build(spec, dir, &t)?,
        ],
    })
}

/// The embedded templates.
pub struct Templates {
    env: Environment<'static>,
}

const PRELUDE: &str = include_str!("../../assets/templates/prelude.sh");

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.add_filter("sq", shell_quote);
        for (name, text) in prep::TEMPLATES
            .iter()
            .chain(etcd::TEMPLATES)
            .chain(preflight::TEMPLATES)
        {
            env.add_template(name, text)
                .unwrap_or_else(|e| panic!("embedded template {name} is broken: {e}"));
        }
        Templates { env }
    }

    /// Render a file template (units, configs) as is.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .with_context(|| format!("rendering template {name}"))
    }

    /// Render a step script: the prelude, then the step's template.
    pub fn script(&self, name: &str, ctx: minijinja::Value) -> Result<String> {
        let body = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .with_context(|| format!("rendering template {name}"))?;
        Ok(format!("{PRELUDE}{body}"))
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// POSIX single-quoting, for values put into shell scripts.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("node1"), "node1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}

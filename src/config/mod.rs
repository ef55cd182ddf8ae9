//! The cluster file: model, loading and validation.
//!
//! - [`parse_str`]: YAML syntax, types and unknown keys (at any depth), each with its path and,
//!   where known, its line and column.
//! - [`validate`]: the semantic checks on a parsed [`ClusterSpec`], errors and warnings.
//! - [`load`]: both, for a file; `Err` when anything is an [`Severity::Error`].
//! - [`to_yaml`]: the text the wizard saves; it parses back to the same spec.
//!
//! Every function reports every problem it finds at once, never only the first.
//!
//! Relative paths in the file (`key_file`, `bundle_dir`) are relative to the working directory;
//! a leading `~/` means the home directory ([`expand_home`]).

mod model;
mod parse;
mod resolve;
mod text;
mod validate;
pub mod versions;

pub use model::*;
pub use parse::parse_str;
pub use resolve::ResolvedHost;
pub use text::expand_home;
pub use validate::validate;

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem of a cluster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Where in the file: `hosts[1].address`, `network.pod_cidr`, `hosts` (about the list as a
    /// whole). Empty for the file as a whole (a YAML syntax error, an unreadable file).
    pub path: String,
    /// Lowercase, says the reason and, where possible, the fix. Findings of [`parse_str`] end in
    /// `(line L, column C)` when the position is known.
    pub message: String,
}

impl Finding {
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `error: hosts[1].address: "10.0.0.300" is not an IP address`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.severity, self.message)
        } else {
            write!(f, "{}: {}: {}", self.severity, self.path, self.message)
        }
    }
}

/// A cluster file that cannot be used: every finding (errors and warnings) of the file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub findings: Vec<Finding>,
}

impl ConfigError {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }
}

/// `cluster.yaml: 2 problems` and then one finding per line.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.findings.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for finding in &self.findings {
            write!(f, "\n{finding}")?;
        }
        Ok(())
    }
}

/// A cluster file that passed: the spec and what is worth a look but does not stop the install.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: ClusterSpec,
    pub warnings: Vec<Finding>,
}

/// Reads, parses and validates a cluster file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let fail = |findings| ConfigError {
        file: path.to_path_buf(),
        findings,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![Finding::error(
            "",
            format!("cannot read the file: {e}"),
        )])
    })?;
    let spec = parse_str(&text).map_err(fail)?;
    let findings = validate(&spec);
    if findings.iter().any(Finding::is_error) {
        return Err(fail(findings));
    }
    Ok(Loaded {
        spec,
        warnings: findings,
    })
}

/// The cluster file as the wizard saves it; [`parse_str`] reads it back to the same spec.
pub fn to_yaml(spec: &ClusterSpec) -> String {
    // Serializing plain data (strings, numbers, enums with string tags) cannot fail.
    serde_yaml::to_string(spec).expect("a ClusterSpec serializes to YAML")
}

//! Fix and retry: which fixes the failures of a run offer, applying them (consent for the
//! destructive ones comes from the front end), and the stage to run again after a fix.

use crate::events::{AutoFix, Diagnosis, StepRef};
use anyhow::Result;
// Where the fixes live today; the one place that names it (with `known` and `apply_fix`).
pub use crate::stages::fix::{Emit, FixContext};

/// Rounds of fix-and-retry `apply --auto-fix` runs before giving up.
pub const MAX_FIX_ROUNDS: usize = 2;

/// A fix the diagnosis of a failed step offers, with where the failure was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixOffer {
    pub stage: String,
    pub host: String,
    /// The catalog entry that offered it (e.g. E1).
    pub id: Option<String>,
    pub fix: AutoFix,
}

/// Whether kubewiz can run the fix `action`.
pub fn known(action: &str) -> bool {
    crate::stages::fix::known(action)
}

/// The fixes a run's diagnoses offer that kubewiz can run, each action once (the first
/// failure that offers it names the host and the stage), in the order the failures came.
pub fn offers(diagnoses: &[(StepRef, Diagnosis)]) -> Vec<FixOffer> {
    let mut out: Vec<FixOffer> = vec![];
    for (at, d) in diagnoses {
        let Some(fix) = &d.auto_fix else { continue };
        if !known(&fix.action) || out.iter().any(|o| o.fix.action == fix.action) {
            continue;
        }
        out.push(FixOffer {
            stage: at.stage.clone(),
            host: at.host.clone(),
            id: d.id.clone(),
            fix: fix.clone(),
        });
    }
    out
}

/// Run the fix `action` for a failure on `host`; `consent` is the user's for a destructive
/// one. The implementations live with their stages.
pub use crate::stages::fix::apply as apply_fix;

/// What [`apply_fixes`] tells the front end.
#[derive(Debug)]
pub enum FixNote<'a> {
    /// A destructive fix left out: no consent.
    NoConsent(&'a FixOffer),
    /// A fix starts.
    Fixing(&'a FixOffer),
    /// A line of what the running fix did.
    Line(String),
}

/// Apply the offers in order. A destructive one runs only when `consent` says yes (the CLI
/// asks on the terminal or has `--yes`; the TUI asked in its pane). Returns the stage to run
/// again (that of the first fix applied), or None when nothing was fixed.
pub async fn apply_fixes(
    ctx: &FixContext<'_>,
    offers: &[FixOffer],
    consent: &mut (dyn FnMut(&FixOffer) -> Result<bool> + Send),
    note: &mut (dyn FnMut(FixNote<'_>) + Send),
) -> Result<Option<String>> {
    let mut stage = None;
    for offer in offers {
        let ok = !offer.fix.destructive || consent(offer)?;
        if !ok {
            note(FixNote::NoConsent(offer));
            continue;
        }
        note(FixNote::Fixing(offer));
        let mut emit = |line: String| note(FixNote::Line(line));
        apply_fix(ctx, &offer.fix.action, &offer.host, ok, &mut emit).await?;
        stage.get_or_insert_with(|| offer.stage.clone());
    }
    Ok(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnosis(id: &str, action: Option<&str>) -> Diagnosis {
        Diagnosis {
            id: Some(id.into()),
            title: String::new(),
            cause: String::new(),
            evidence: vec![],
            fix: String::new(),
            manual_commands: vec![],
            auto_fix: action.map(|a| AutoFix {
                action: a.into(),
                description: format!("do {a}"),
                destructive: a == "wipe-etcd-data",
            }),
        }
    }

    fn failed(stage: &str, host: &str, d: Diagnosis) -> (StepRef, Diagnosis) {
        (StepRef::new(stage, "step", host), d)
    }

    #[test]
    fn each_runnable_fix_is_offered_once_for_the_first_failure_that_names_it() {
        let ds = vec![
            failed("etcd", "node2", diagnosis("E1", Some("reissue-etcd-certs"))),
            failed("etcd", "node3", diagnosis("E1", Some("reissue-etcd-certs"))),
            failed("etcd", "node1", diagnosis("E9", None)),
            failed("etcd", "node1", diagnosis("X", Some("no-such-runner"))),
            failed("prep", "node1", diagnosis("P1", Some("swap-off"))),
        ];
        let o = offers(&ds);
        let got: Vec<(&str, &str, &str)> = o
            .iter()
            .map(|o| (o.stage.as_str(), o.host.as_str(), o.fix.action.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("etcd", "node2", "reissue-etcd-certs"),
                ("prep", "node1", "swap-off")
            ]
        );
        assert_eq!(o[0].id.as_deref(), Some("E1"));
    }
}

//! The failure diagnosis engine's knowledge: the catalog of known failures
//! (`assets/failures.yaml`), the normalisation of evidence lines, and the matcher that turns the
//! evidence gathered after a failed step (its output, a journal tail, probe output) into a
//! [`crate::events::Diagnosis`].
//!
//! What the engine does with it, when a step of stage S fails on a host:
//! 1. gather evidence as (source, line) pairs: the step's output, the unit's
//!    `journalctl -u <unit> -o cat` tail, and the output of [`Catalog::probes_for`]`(S)` run over
//!    SSH on that host, each probe's lines with the probe's **name** as source (probe checks only
//!    look at their own probe's output);
//! 2. optionally add `clock skew across hosts: <spread>s > 1s` when the spread of `date +%s.%N`
//!    across hosts exceeds a second (entry H4);
//!    when the host cannot be reached over SSH, gather nothing there: the SSH error's message
//!    (source `ssh`) and [`reach::probe`]'s TCP connect and ping from the control machine (source
//!    `from the control machine`) are the evidence instead (entries S1..S7);
//! 3. [`Catalog::diagnose`]`(S, &evidence)` and emit the result as an `Event::Diagnosis`;
//!    `auto_fix.action` names what to run, `destructive` means ask first.
//!
//! ```
//! use kubewiz::diagnose::Catalog;
//! let evidence = [("journalctl -u etcd", "etcdmain: listen tcp 10.77.0.11:2380: bind: address already in use")];
//! let d = Catalog::builtin().diagnose("etcd", &evidence);
//! assert_eq!(d.id.as_deref(), Some("E8"));
//! ```

pub mod catalog;
pub mod matcher;
pub mod normalize;
pub mod reach;

pub use catalog::{
    AutoFixSpec, Catalog, CatalogError, Entry, Probe, Vocabulary, ANY_STAGE, ROOT_CAUSE_PRIORITY,
};
pub use matcher::EntryMatch;
pub use normalize::normalize;

//! The failure diagnosis engine's knowledge: the catalog of known failures
//! (`assets/failures.yaml`), the normalisation of evidence lines, and the matcher that turns the
//! evidence gathered after a failed step (its output, a journal tail, probe output) into a
//! [`crate::events::Diagnosis`].
//!
//! ```
//! use kubewiz::diagnose::Catalog;
//! let evidence = [("journalctl -u etcd", "etcdmain: listen tcp 10.77.0.11:2380: bind: address already in use")];
//! let d = Catalog::builtin().diagnose("etcd", &evidence);
//! assert_eq!(d.id.as_deref(), Some("E8"));
//! ```

pub mod catalog;
pub mod fixes;
pub mod matcher;
pub mod normalize;

pub use catalog::{
    AutoFixSpec, Catalog, CatalogError, Entry, Probe, AUTO_FIX_ACTIONS, ROOT_CAUSE_PRIORITY, STAGES,
};
pub use matcher::EntryMatch;
pub use normalize::normalize;

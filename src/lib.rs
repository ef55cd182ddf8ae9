//! kubewiz: installs a Kubernetes cluster from binaries over SSH.
//!
//! One flow whatever the front end: cluster file → [`config::ClusterSpec`] → [`plan::Plan`] →
//! [`engine`] → [`events::Event`] stream → a printer (plain lines, JSON lines) or the TUI.
//! Nothing below `engine` knows about the terminal.

pub mod addons;
pub mod cli;
pub mod cluster_dir;
pub mod config;
pub mod deploy;
pub mod diagnose;
pub mod engine;
pub mod events;
pub mod logging;
pub mod output;
pub mod pki;
pub mod plan;
pub mod ssh;
pub mod stages;
pub mod summary;
pub mod tui;

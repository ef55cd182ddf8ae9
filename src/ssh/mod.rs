//! SSH layer (russh): one connection per host, streamed exec, upload, host-key checks.
//!
//! - [`Connection`]: connect (host key checked against a [`HostKeyPolicy`]), `exec` with output
//!   lines streamed as they arrive, idempotent `upload`, transparent reconnect.
//! - [`probe_host_key`]: read a host's key to show it before the user trusts it.
//! - Every failure is an [`SshError`] naming the host and saying what to do; secrets
//!   ([`Secret`]) never appear in errors, logs or `Debug` output.

mod auth;
mod connection;
mod error;
mod exec;
pub mod known_hosts;
mod lines;
pub mod shell;
mod target;
mod upload;

pub use auth::load_private_key;
pub use connection::{probe_host_key, Connection};
pub use error::SshError;
pub use exec::{ExecOutcome, ExecRequest, OutputLine, Stream};
pub use known_hosts::{fingerprint, HostKeyPolicy};
pub use lines::LineSplitter;
pub use target::{Secret, SshAuth, SshTarget};
pub use upload::{
    Options as UploadOptions, UploadMethod, UploadOutcome, UploadRequest, UploadSource,
};

//! SSH layer (russh): one connection per host, streamed exec, upload, host-key checks.
//!
//! - [`Connection`]: connect (host key checked against a [`HostKeyPolicy`], then login with a
//!   key file, the ssh-agent or a password), [`Connection::exec`] with output lines streamed
//!   as they arrive, idempotent [`Connection::upload`], transparent reconnect when the
//!   connection is found dead before an operation.
//! - [`probe_host_key`]: read a host's key to show it before the user trusts it.
//! - Every failure is an [`SshError`] naming the host and saying what to do; secrets
//!   ([`Secret`]) never appear in errors, logs or `Debug` output.
//!
//! How commands run: `sh -c '<command>'` (quoted), through `sudo -n` (or `sudo -S -p <marker>`
//! when the target has a sudo password) when root is asked for and the user is not root. The
//! shell first prints a marker line with its process group on stderr (filtered out): until it
//! appears, stderr is sudo's, so the password is written only when sudo actually prompts and
//! the command's own stdin is sent only once the command runs. On timeout the channel is
//! closed and that process group is stopped.

mod auth;
mod connection;
mod error;
mod exec;
pub mod known_hosts;
mod lines;
pub mod shell;
mod target;
mod tunnel;
mod upload;

pub use auth::{key_is_encrypted, load_private_key};
pub use connection::{probe_host_key, Connection};
pub use error::SshError;
pub use exec::{ExecOutcome, ExecRequest, OutputLine, Stream};
pub use known_hosts::{fingerprint, HostKeyPolicy};
pub use lines::LineSplitter;
pub use target::{Secret, SshAuth, SshTarget};
pub use tunnel::TunnelError;
pub use upload::{
    Options as UploadOptions, UploadMethod, UploadOutcome, UploadRequest, UploadSource,
};

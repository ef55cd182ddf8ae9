//! Shared helpers for integration tests against the lab machines (`scripts/lab`).
//!
//! Tests find the lab through `KUBEWIZ_LAB` (the path of `.lab/`). Every test that needs it is
//! `#[ignore = "needs the lab (KUBEWIZ_LAB)"]`, so a plain `cargo test` lists it as ignored
//! rather than passing it unrun; `--include-ignored` runs it, and [`lab`] then panics when
//! `KUBEWIZ_LAB` is unset (a lab run without a lab fails loudly):
//!
//! ```ignore
//! #[tokio::test]
//! #[ignore = "needs the lab (KUBEWIZ_LAB)"]
//! async fn something_on_the_lab() {
//!     let Some(lab) = common::lab() else { return };
//!     let conn = lab.connect(1, "kube").await;
//! }
//! ```
#![allow(dead_code)]

pub mod cli;
pub mod join;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kubewiz::ssh::{
    Connection, ExecOutcome, ExecRequest, HostKeyPolicy, OutputLine, Secret, SshAuth, SshTarget,
    Stream,
};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The lab: `.lab/` with `id_lab`, `cluster/known_hosts`, `<user>.password`.
pub struct Lab {
    pub dir: PathBuf,
}

/// The lab; panics when `KUBEWIZ_LAB` is not set, or is not a lab directory.
///
/// Never `None`: the `Option` only keeps the `let Some(lab) = common::lab() else { return };`
/// lines of the lab tests compiling while other branches still add tests written that way.
pub fn lab() -> Option<Lab> {
    let dir = match std::env::var_os("KUBEWIZ_LAB") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "this test needs the lab: set KUBEWIZ_LAB to the lab directory (e.g. KUBEWIZ_LAB=$PWD/.lab after scripts/lab up), or run without --include-ignored / --ignored"
        ),
    };
    let cluster_file = dir.join("cluster/cluster.yaml");
    assert!(
        cluster_file.is_file(),
        "KUBEWIZ_LAB={} is not a lab directory: {} is missing (scripts/lab up writes it)",
        dir.display(),
        cluster_file.display()
    );
    Some(Lab { dir })
}

impl Lab {
    /// Address of lab machine `i` (1-based): 10.77.0.1i, or the i-th of the comma-separated
    /// `KUBEWIZ_LAB_HOSTS`.
    pub fn address(&self, i: usize) -> String {
        if let Ok(list) = std::env::var("KUBEWIZ_LAB_HOSTS") {
            if let Some(a) = list.split(',').nth(i - 1) {
                return a.trim().to_owned();
            }
        }
        format!("10.77.0.{}", 10 + i)
    }

    /// sshd port of the lab machines: 22, or `KUBEWIZ_LAB_PORT`.
    pub fn port(&self) -> u16 {
        std::env::var("KUBEWIZ_LAB_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(22)
    }

    /// The lab's ed25519 key, authorized for root, kube and ops.
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_lab")
    }

    /// known_hosts with the lab machines' real host keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("cluster/known_hosts")
    }

    /// `<user>.password` (trimmed).
    pub fn password(&self, user: &str) -> Secret {
        let p = self.dir.join(format!("{user}.password"));
        let text = std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
        Secret::from(text.trim().to_owned())
    }

    /// Target for machine `i` as `user` with the lab key; sudo on for non-root users, no sudo
    /// password.
    pub fn target(&self, i: usize, user: &str) -> SshTarget {
        SshTarget {
            name: format!("lab{i}"),
            address: self.address(i),
            port: self.port(),
            user: user.to_owned(),
            auth: SshAuth::KeyFile {
                path: self.key(),
                passphrase: None,
            },
            sudo: user != "root",
            sudo_password: None,
        }
    }

    /// Trusts exactly the lab's known_hosts; never learns.
    pub fn policy(&self) -> Arc<HostKeyPolicy> {
        Arc::new(HostKeyPolicy {
            known_hosts: vec![self.known_hosts()],
            learn_file: std::env::temp_dir().join("kubewiz-tests-never-written-known_hosts"),
            accept_new: false,
        })
    }

    pub async fn connect_target(&self, target: SshTarget) -> Connection {
        let label = target.label();
        Connection::connect(target, self.policy(), CONNECT_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("connecting to {label}: {e}"))
    }

    pub async fn connect(&self, i: usize, user: &str) -> Connection {
        self.connect_target(self.target(i, user)).await
    }

    /// The system `ssh` client to machine `i` as `user` running `script` (lab key, lab
    /// known_hosts, no prompts): for tests that stream a file into a command's stdin.
    pub fn ssh_command(&self, i: usize, user: &str, script: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg("none")
            .arg("-i")
            .arg(self.key())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-p",
            ])
            .arg(self.port().to_string())
            .arg(format!("{user}@{}", self.address(i)))
            .arg(script);
        cmd
    }
}

/// What a command printed, collected.
#[derive(Debug, Default)]
pub struct Output {
    pub outcome: ExecOutcome,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        self.stdout.join("\n")
    }
}

/// Runs `req`, collecting output; panics on an SSH error.
pub async fn run(conn: &Connection, req: ExecRequest) -> Output {
    try_run(conn, req)
        .await
        .unwrap_or_else(|e| panic!("exec failed: {e}"))
}

/// Runs `req`, collecting output.
pub async fn try_run(
    conn: &Connection,
    req: ExecRequest,
) -> Result<Output, kubewiz::ssh::SshError> {
    let mut out = Output::default();
    let outcome = {
        let mut sink = |l: OutputLine| match l.stream {
            Stream::Stdout => out.stdout.push(l.line),
            Stream::Stderr => out.stderr.push(l.line),
        };
        conn.exec(&req, &mut sink).await?
    };
    out.outcome = outcome;
    Ok(out)
}

/// Runs `command` (as root through sudo when `sudo`) and returns stdout; panics unless it
/// exits 0.
pub async fn sh(conn: &Connection, command: &str, sudo: bool) -> String {
    let out = run(conn, ExecRequest::new(command).sudo(sudo)).await;
    assert_eq!(
        out.outcome.exit_status,
        Some(0),
        "`{command}` failed: {:?}",
        out.stderr
    );
    out.stdout_text()
}

/// A key pair made with ssh-keygen in a temp dir (deleted on drop).
pub struct TempKey {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub public: String,
    /// Unique comment, used to find the authorized_keys line again.
    pub tag: String,
}

/// `ssh-keygen -t <kind>` (e.g. "ed25519", "rsa", "ecdsa") with `passphrase` ("" for none).
pub fn keygen(kind: &str, passphrase: &str) -> TempKey {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("id_{kind}"));
    let tag = format!(
        "kubewiz-test-{kind}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", &tag, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    let st = cmd.status().expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen -t {kind} failed");
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .expect("read public key")
        .trim()
        .to_owned();
    TempKey {
        dir,
        path,
        public,
        tag,
    }
}

/// Adds `key` to `user`'s authorized_keys on the host of `admin` (a connection whose user may
/// sudo). Undo with [`unauthorize_key`].
pub async fn authorize_key(admin: &Connection, user: &str, key: &TempKey) {
    let cmd = format!(
        "h=$(getent passwd {user} | cut -d: -f6) && mkdir -p \"$h/.ssh\" && printf '%s\\n' '{pubkey}' >> \"$h/.ssh/authorized_keys\" && chown {user}: \"$h/.ssh\" \"$h/.ssh/authorized_keys\" && chmod 700 \"$h/.ssh\" && chmod 600 \"$h/.ssh/authorized_keys\"",
        pubkey = key.public
    );
    sh(admin, &cmd, true).await;
}

/// Removes the line [`authorize_key`] added.
pub async fn unauthorize_key(admin: &Connection, user: &str, key: &TempKey) {
    let cmd = format!(
        "h=$(getent passwd {user} | cut -d: -f6) && sed -i '/ {tag}$/d' \"$h/.ssh/authorized_keys\"",
        tag = key.tag
    );
    sh(admin, &cmd, true).await;
}

/// A file of `size` pseudo-random bytes in `dir`.
pub fn random_file(dir: &Path, name: &str, size: usize) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).expect("write");
        left -= n;
    }
    f.flush().expect("flush");
    path
}

/// Hex sha256 of a local file.
pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Sends `tracing` output to the test's output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=kubewiz::ssh=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

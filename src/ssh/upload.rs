//! Idempotent file upload: compare sha256 remotely, write to a temp name, set mode and
//! owner, rename over the destination, verify. SFTP (pipelined writes) with an exec
//! `cat > tmp` fallback when the sftp subsystem is unavailable.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use russh::ChannelMsg;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connection::Connection;
use super::error::SshError;
use super::exec::Stdin;
use super::shell::quote;

/// What to upload.
#[derive(Clone, Debug)]
pub enum UploadSource {
    Bytes(Vec<u8>),
    /// Streamed from disk, never loaded whole.
    File(PathBuf),
}

/// One file to put on a host.
#[derive(Clone, Debug)]
pub struct UploadRequest {
    pub source: UploadSource,
    /// Absolute path on the host; its parent directories are created.
    pub remote_path: String,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// `user:group` or `user` to chown to (needs root: set `sudo` unless logged in as root).
    pub owner: Option<String>,
    /// Write as root (through sudo unless the target user is root).
    pub sudo: bool,
}

/// How the bytes travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadMethod {
    Sftp,
    Exec,
}

/// Result of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadOutcome {
    /// `false` when the destination already had this content, mode and owner.
    pub changed: bool,
    /// Hex sha256 of the content.
    pub sha256: String,
    pub bytes: u64,
    /// How the bytes would have travelled (`Sftp` when unchanged: nothing was sent).
    pub method: UploadMethod,
}

/// Knobs for tests and diagnostics.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Skip SFTP and send the bytes through `cat > tmp`, as when the subsystem is missing.
    pub force_exec: bool,
}

/// Shell command printing the sha256 of stdin first on its line: sha256sum, or the much
/// faster `openssl dgst` when installed (coreutils' sha256sum does not use SHA CPU extensions).
const SHA256: &str =
    "{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }";

/// SFTP write requests in flight at once (each up to the server's max write length,
/// 255 KiB for OpenSSH).
const SFTP_WRITES_IN_FLIGHT: usize = 16;
const READ_CHUNK: usize = 1024 * 1024;

fn local_digest(source: &UploadSource) -> std::io::Result<(String, u64)> {
    match source {
        UploadSource::Bytes(b) => Ok((hex::encode(Sha256::digest(b)), b.len() as u64)),
        UploadSource::File(path) => file_digest(path),
    }
}

/// A file's digest, computed once per process for a given (path, size, mtime): the same
/// release tarball goes to every host.
fn file_digest(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (std::path::PathBuf, u64, Option<std::time::SystemTime>);
    static CACHE: OnceLock<Mutex<HashMap<Key, (String, u64)>>> = OnceLock::new();
    let meta = std::fs::metadata(path)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().expect("digest cache").get(&key) {
        return Ok(hit.clone());
    }
    let computed = {
        {
            let mut f = std::fs::File::open(path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; READ_CHUNK];
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            (hex::encode(hasher.finalize()), total)
        }
    };
    cache
        .lock()
        .expect("digest cache")
        .insert(key, computed.clone());
    Ok(computed)
}

/// `user:group` → (user, group), either part optional.
fn split_owner(owner: &str) -> (Option<&str>, Option<&str>) {
    let (u, g) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    fn nonempty(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    (nonempty(u), g.and_then(nonempty))
}

/// The state line printed by the check command: `<sha256> <mode> <user> <group> <uid> <gid>`.
#[derive(Debug, PartialEq, Eq)]
struct RemoteState {
    sha256: String,
    mode: String,
    user: String,
    group: String,
    uid: String,
    gid: String,
}

fn parse_state(lines: &[String]) -> Option<RemoteState> {
    let line = lines.iter().find(|l| l.starts_with("kubewiz-state "))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 7 {
        return None;
    }
    Some(RemoteState {
        sha256: f[1].to_owned(),
        mode: f[2].to_owned(),
        user: f[3].to_owned(),
        group: f[4].to_owned(),
        uid: f[5].to_owned(),
        gid: f[6].to_owned(),
    })
}

fn state_matches(state: &RemoteState, sha256: &str, mode: u32, owner: Option<&str>) -> bool {
    if state.sha256 != sha256 || state.mode != format!("{:o}", mode & 0o7777) {
        return false;
    }
    if let Some(owner) = owner {
        let (u, g) = split_owner(owner);
        if u.is_some_and(|u| u != state.user && u != state.uid) {
            return false;
        }
        if g.is_some_and(|g| g != state.group && g != state.gid) {
            return false;
        }
    }
    true
}

/// Files at least this big get a digest record on the host, so that checking them again costs a
/// `stat` instead of reading the whole file (the release tarballs: 116 MiB for Kubernetes, on
/// every host, in two stages of every run).
const RECORD_MIN_BYTES: u64 = 1 << 20;
/// Where the records live: one small file per uploaded path, named by the path's hash.
const RECORD_DIR: &str = "/var/lib/kubewiz/upload-digests";

/// The record of a remote file's sha256, keyed by what any change to the file changes (size,
/// inode, ctime with nanoseconds: a write, a rename over it, a chmod or a `touch` each give a
/// new ctime, and ctime cannot be set back by a user). This is rsync's quick check, made
/// stricter by using ctime. Writing it is best effort: a login user who cannot write
/// [`RECORD_DIR`] just gets the hash computed every time.
struct DigestRecord {
    /// `None` for small files (hashing them is cheaper than the bookkeeping).
    record_path: Option<String>,
}

impl DigestRecord {
    fn for_file(dest: &str, size: u64) -> Self {
        let record_path = (size >= RECORD_MIN_BYTES).then(|| {
            let key = hex::encode(&Sha256::digest(dest.as_bytes())[..16]);
            format!("{RECORD_DIR}/{key}")
        });
        DigestRecord { record_path }
    }

    /// Shell setting `h` to the sha256 of the file at `qdest` (first on the line): from the
    /// record when the file is still the one recorded, else by reading it (and recording it).
    fn hash_command(&self, qdest: &str) -> String {
        let hash = format!("h=$({SHA256} < {qdest}) || exit 1");
        match &self.record_path {
            None => hash,
            Some(r) => format!(
                "id=$(stat -c '%s %i %z' -- {qdest}) && if [ -f {r} ] && {{ read -r a; read -r b; }} < {r} && [ \"$a\" = \"$id\" ] && [ -n \"$b\" ]; then h=$b; else {hash}; {store}; fi",
                store = store_command(r, qdest),
            ),
        }
    }

    /// Shell setting `h` by reading the file at `qdest` (always: it verifies what was just
    /// written), then recording it.
    fn verify_command(&self, qdest: &str) -> String {
        let hash = format!("h=$({SHA256} < {qdest})");
        match &self.record_path {
            None => hash,
            Some(r) => format!("{hash} && {{ {}; }}", store_command(r, qdest)),
        }
    }
}

/// Shell writing the record `r` of `h` for the file at `qdest` as it is now; never fails.
fn store_command(r: &str, qdest: &str) -> String {
    format!(
        "{{ id=$(stat -c '%s %i %z' -- {qdest}) && mkdir -p {RECORD_DIR} && printf '%s\\n%s\\n' \"$id\" \"${{h%% *}}\" > {r}.tmp && mv -f {r}.tmp {r}; }} 2>/dev/null || true"
    )
}

fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

pub(crate) async fn upload(
    conn: &Connection,
    req: &UploadRequest,
    options: Options,
) -> Result<UploadOutcome, SshError> {
    let host = conn.host().to_owned();
    let dest = req.remote_path.as_str();
    let fail = |reason: String| SshError::Upload {
        host: host.clone(),
        remote_path: dest.to_owned(),
        reason,
    };
    if !dest.starts_with('/') || dest.ends_with('/') {
        return Err(fail(
            "the remote path must be an absolute file path; fix the path".to_owned(),
        ));
    }

    // 1. Ask what is there now (the check also creates the parent directory, needed anyway)
    //    while the local content is hashed. The remote file is hashed only when its size
    //    matches; when it does not (or there is no file), the transfer starts at once and the
    //    local hash finishes alongside it.
    let local_size = match &req.source {
        UploadSource::Bytes(b) => b.len() as u64,
        UploadSource::File(p) => std::fs::metadata(p)
            .map_err(|e| SshError::LocalFile {
                host: host.clone(),
                path: p.clone(),
                reason: e.to_string(),
            })?
            .len(),
    };
    let source = req.source.clone();
    let mut digest_task = Some(tokio::task::spawn_blocking(move || local_digest(&source)));
    let qdest = quote(dest);
    let record = DigestRecord::for_file(dest, local_size);
    let check = format!(
        "mkdir -p -- {dir} && if [ -f {qdest} ]; then set -- $(stat -c '%s %a %U %G %u %g' -- {qdest}) && if [ \"$1\" = {local_size} ]; then {hash}; else h=-; fi && echo \"kubewiz-state ${{h%% *}} $2 $3 $4 $5 $6\"; fi",
        dir = quote(parent_dir(dest)),
        hash = record.hash_command(&qdest),
    );
    let cap = conn.capture(&check, req.sudo, Stdin::Empty).await?;
    if !cap.outcome.success() {
        return Err(fail(format!(
            "checking the destination failed: {}; check that the directory can be created{}",
            cap.stderr_text(),
            if req.sudo {
                ""
            } else {
                " (or upload with sudo)"
            }
        )));
    }
    let mut digest = None;
    if let Some(state) = parse_state(&cap.stdout).filter(|s| s.sha256 != "-") {
        let (sha256, bytes) = await_digest(digest_task.take(), req, &host).await?;
        if state_matches(&state, &sha256, req.mode, req.owner.as_deref()) {
            tracing::debug!(path = dest, "unchanged");
            return Ok(UploadOutcome {
                changed: false,
                sha256,
                bytes,
                method: UploadMethod::Sftp,
            });
        }
        digest = Some((sha256, bytes));
    }

    let via_sudo = conn.target().needs_sudo(req.sudo);
    let staged = format!("{dest}.kubewiz-tmp");
    // 2. Where the bytes land first: next to the destination, or (sudo) in a private
    //    directory of the login user, installed from there as root.
    let (tmp_dir, tmp_file) = if via_sudo {
        let cap = conn
            .capture(
                "mktemp -d \"${TMPDIR:-/tmp}/kubewiz-upload.XXXXXXXX\"",
                false,
                Stdin::Empty,
            )
            .await?;
        let dir = cap
            .stdout
            .first()
            .filter(|d| cap.outcome.success() && d.starts_with('/'))
            .cloned()
            .ok_or_else(|| {
                fail(format!(
                    "cannot create a temporary directory: {}",
                    cap.stderr_text()
                ))
            })?;
        let file = format!("{dir}/data");
        (Some(dir), file)
    } else {
        (None, staged.clone())
    };

    let cleanup = |conn: &Connection| {
        let cmd = match &tmp_dir {
            Some(d) => format!("rm -rf -- {}", quote(d)),
            None => format!("rm -f -- {}", quote(&tmp_file)),
        };
        let conn = conn.clone();
        async move {
            let _ = conn.capture(&cmd, false, Stdin::Empty).await;
        }
    };

    // 3. Send the bytes.
    let started = Instant::now();
    let method = match send(conn, req, &tmp_file, options).await {
        Ok(m) => m,
        Err(e) => {
            cleanup(conn).await;
            return Err(e);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let (sha256, bytes) = match digest {
        Some(d) => d,
        None => match await_digest(digest_task.take(), req, &host).await {
            Ok(d) => d,
            Err(e) => {
                cleanup(conn).await;
                return Err(e);
            }
        },
    };
    tracing::debug!(
        path = dest,
        bytes,
        ?method,
        seconds = secs,
        mib_per_s = bytes as f64 / 1048576.0 / secs.max(1e-6),
        "bytes sent"
    );

    // 4. Mode, owner, rename over the destination, and print the result's hash.
    let (user, group) = req
        .owner
        .as_deref()
        .map(split_owner)
        .unwrap_or((None, None));
    let mode = format!("{:o}", req.mode & 0o7777);
    let finish = if let Some(dir) = &tmp_dir {
        let mut install = format!("install -m {mode}");
        if let Some(u) = user {
            install.push_str(&format!(" -o {}", quote(u)));
        }
        if let Some(g) = group {
            install.push_str(&format!(" -g {}", quote(g)));
        }
        format!(
            "{install} -- {src} {staged} && mv -f -- {staged} {qdest}; rc=$?; rm -rf -- {dir}; [ $rc -eq 0 ] || {{ rm -f -- {staged}; exit $rc; }}; {verify} && echo \"kubewiz-sha256 ${{h%% *}}\"",
            verify = record.verify_command(&qdest),
            src = quote(&tmp_file),
            staged = quote(&staged),
            dir = quote(dir),
        )
    } else {
        let mut steps = vec![format!("chmod {mode} -- {}", quote(&staged))];
        match (user, group) {
            (Some(u), Some(g)) => steps.push(format!(
                "chown -- {} {}",
                quote(&format!("{u}:{g}")),
                quote(&staged)
            )),
            (Some(u), None) => steps.push(format!("chown -- {} {}", quote(u), quote(&staged))),
            (None, Some(g)) => steps.push(format!("chgrp -- {} {}", quote(g), quote(&staged))),
            (None, None) => {}
        }
        steps.push(format!("mv -f -- {} {qdest}", quote(&staged)));
        format!(
            "{{ {}; }} || {{ rc=$?; rm -f -- {}; exit $rc; }}; {verify} && echo \"kubewiz-sha256 ${{h%% *}}\"",
            steps.join(" && "),
            quote(&staged),
            verify = record.verify_command(&qdest),
        )
    };
    let cap = match conn.capture(&finish, req.sudo, Stdin::Empty).await {
        Ok(c) => c,
        Err(e) => {
            if !matches!(e, SshError::Disconnected { .. }) {
                cleanup(conn).await;
            }
            return Err(e);
        }
    };
    if !cap.outcome.success() {
        return Err(fail(format!(
            "installing the file failed: {}",
            cap.stderr_text()
        )));
    }
    let remote_hash = cap
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("kubewiz-sha256 "))
        .unwrap_or("")
        .to_owned();
    if remote_hash != sha256 {
        return Err(fail(format!(
            "the file on the host has sha256 {remote_hash:?} but {sha256} was sent; run again and check the disk on the host"
        )));
    }
    Ok(UploadOutcome {
        changed: true,
        sha256,
        bytes,
        method,
    })
}

/// The local (sha256, size), from the hashing task started at the beginning.
async fn await_digest(
    task: Option<tokio::task::JoinHandle<std::io::Result<(String, u64)>>>,
    req: &UploadRequest,
    host: &str,
) -> Result<(String, u64), SshError> {
    let fail = |reason: String| match &req.source {
        UploadSource::File(p) => SshError::LocalFile {
            host: host.to_owned(),
            path: p.clone(),
            reason,
        },
        UploadSource::Bytes(_) => SshError::Upload {
            host: host.to_owned(),
            remote_path: req.remote_path.clone(),
            reason,
        },
    };
    let task = task.ok_or_else(|| fail("the local file was hashed twice".to_owned()))?;
    task.await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))
}

/// Puts the content at `tmp_file` (as the login user): SFTP, else exec `cat`.
async fn send(
    conn: &Connection,
    req: &UploadRequest,
    tmp_file: &str,
    options: Options,
) -> Result<UploadMethod, SshError> {
    if !options.force_exec {
        match send_sftp(conn, req, tmp_file).await {
            Ok(()) => return Ok(UploadMethod::Sftp),
            Err(SftpFailure::Unavailable(why)) => {
                tracing::debug!(reason = %why, "sftp unavailable; falling back to exec");
            }
            Err(SftpFailure::Fatal(e)) => return Err(e),
        }
    }
    send_exec(conn, req, tmp_file).await?;
    Ok(UploadMethod::Exec)
}

enum SftpFailure {
    /// The subsystem could not be started: use the exec fallback.
    Unavailable(String),
    Fatal(SshError),
}

async fn send_sftp(
    conn: &Connection,
    req: &UploadRequest,
    tmp_file: &str,
) -> Result<(), SftpFailure> {
    let host = conn.host().to_owned();
    let fail = |reason: String| {
        SftpFailure::Fatal(SshError::Upload {
            host: host.clone(),
            remote_path: req.remote_path.clone(),
            reason,
        })
    };
    let mut open = conn
        .open_channel("sftp upload")
        .await
        .map_err(SftpFailure::Fatal)?;
    let disconnected = || {
        SftpFailure::Fatal(SshError::Disconnected {
            host: host.clone(),
            during: format!("the upload of {}", req.remote_path),
        })
    };
    open.channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|_| disconnected())?;
    // Wait for the server's answer to the subsystem request.
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match open.channel.wait().await {
                Some(ChannelMsg::Success) => return Ok(()),
                Some(ChannelMsg::Failure) => return Err("the server refused the sftp subsystem"),
                Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) => {
                    return Err("the server closed the sftp channel")
                }
                None => return Err("connection lost"),
                Some(_) => continue,
            }
        }
    })
    .await;
    match answer {
        Ok(Ok(())) => {}
        Ok(Err("connection lost")) => return Err(disconnected()),
        Ok(Err(why)) => return Err(SftpFailure::Unavailable(why.to_owned())),
        Err(_) => {
            return Err(SftpFailure::Unavailable(
                "no answer to the sftp request".into(),
            ))
        }
    }
    let config = russh_sftp::client::Config {
        max_concurrent_writes: SFTP_WRITES_IN_FLIGHT,
        request_timeout_secs: 60,
        ..Default::default()
    };
    let handle = open.handle.clone();
    let sftp = match SftpSession::new_with_config(open.channel.into_stream(), config).await {
        Ok(s) => s,
        Err(e) => return Err(SftpFailure::Unavailable(format!("sftp init failed: {e}"))),
    };
    let attrs = FileAttributes {
        permissions: Some(0o600),
        ..FileAttributes::empty()
    };
    let mut file = sftp
        .open_with_flags_and_attributes(
            tmp_file,
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
            attrs,
        )
        .await
        .map_err(|e| {
            fail(format!(
                "cannot create {tmp_file}: {e}; check that the login user may write there{}",
                if req.sudo {
                    ""
                } else {
                    " (or upload with sudo)"
                }
            ))
        })?;
    let io_fail = |e: std::io::Error| {
        if handle.is_closed() {
            disconnected()
        } else {
            fail(format!("writing {tmp_file} failed: {e}"))
        }
    };
    match &req.source {
        UploadSource::Bytes(b) => file.write_all(b).await.map_err(io_fail)?,
        UploadSource::File(path) => {
            let mut local = tokio::fs::File::open(path).await.map_err(|e| {
                SftpFailure::Fatal(SshError::LocalFile {
                    host: host.clone(),
                    path: path.clone(),
                    reason: e.to_string(),
                })
            })?;
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let n = local.read(&mut buf).await.map_err(|e| {
                    SftpFailure::Fatal(SshError::LocalFile {
                        host: host.clone(),
                        path: path.clone(),
                        reason: e.to_string(),
                    })
                })?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).await.map_err(io_fail)?;
            }
        }
    }
    // Waits for every write to be acknowledged, then closes the handle.
    file.shutdown().await.map_err(io_fail)?;
    let _ = sftp.close().await;
    Ok(())
}

async fn send_exec(conn: &Connection, req: &UploadRequest, tmp_file: &str) -> Result<(), SshError> {
    let stdin = match &req.source {
        UploadSource::Bytes(b) => Stdin::Bytes(b.clone()),
        UploadSource::File(path) => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| SshError::LocalFile {
                    host: conn.host().to_owned(),
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            Stdin::Reader(Box::new(tokio::io::BufReader::with_capacity(READ_CHUNK, f)))
        }
    };
    let cmd = format!("umask 077 && cat > {}", quote(tmp_file));
    let cap = conn.capture(&cmd, false, stdin).await?;
    if !cap.outcome.success() {
        return Err(SshError::Upload {
            host: conn.host().to_owned(),
            remote_path: req.remote_path.clone(),
            reason: format!(
                "writing {tmp_file} failed: {}; check that the login user may write there{}",
                cap.stderr_text(),
                if req.sudo {
                    ""
                } else {
                    " (or upload with sudo)"
                }
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_split() {
        assert_eq!(split_owner("root:root"), (Some("root"), Some("root")));
        assert_eq!(split_owner("etcd"), (Some("etcd"), None));
        assert_eq!(split_owner(":adm"), (None, Some("adm")));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_dir("/etc/x.conf"), "/etc");
        assert_eq!(parent_dir("/x"), "/");
        assert_eq!(parent_dir("/a/b/c"), "/a/b");
    }

    #[test]
    fn state_parsing_and_matching() {
        let lines = vec![
            "noise".to_owned(),
            "kubewiz-state abc 644 root adm 0 4".to_owned(),
        ];
        let s = parse_state(&lines).unwrap();
        assert!(state_matches(&s, "abc", 0o644, None));
        assert!(state_matches(&s, "abc", 0o644, Some("root:adm")));
        assert!(state_matches(&s, "abc", 0o100644, Some("0:4")));
        assert!(!state_matches(&s, "abc", 0o600, None));
        assert!(!state_matches(&s, "abd", 0o644, None));
        assert!(!state_matches(&s, "abc", 0o644, Some("kube")));
        assert!(parse_state(&["x".to_owned()]).is_none());
        // Size differs: the remote file was not hashed.
        let s = parse_state(&["kubewiz-state - 644 root root 0 0".to_owned()]).unwrap();
        assert_eq!(s.sha256, "-");
        assert!(!state_matches(&s, "abc", 0o644, None));
    }

    #[test]
    fn digest_of_bytes_and_file_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let a = local_digest(&UploadSource::Bytes(data.clone())).unwrap();
        let b = local_digest(&UploadSource::File(p)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.1, 3_000_000);
        assert_eq!(
            local_digest(&UploadSource::Bytes(Vec::new())).unwrap().0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

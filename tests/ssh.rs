//! SSH layer against real sshd on the lab machines (`KUBEWIZ_LAB`); no mocks.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{authorize_key, keygen, lab, run, sh, try_run, unauthorize_key, CONNECT_TIMEOUT};
use kubewiz::ssh::known_hosts::known_hosts_name;
use kubewiz::ssh::{
    probe_host_key, Connection, ExecRequest, HostKeyPolicy, OutputLine, SshAuth, SshError, Stream,
    UploadMethod, UploadOptions, UploadRequest, UploadSource,
};

// ---------------------------------------------------------------- exec

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_streams_lines_in_order_as_they_arrive() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let start = Instant::now();
    let mut seen: Vec<(String, Duration)> = Vec::new();
    let outcome = {
        let mut sink = |l: OutputLine| {
            assert_eq!(l.stream, Stream::Stdout);
            seen.push((l.line, start.elapsed()));
        };
        conn.exec(
            &ExecRequest::new("for i in 1 2 3; do echo $i; sleep 0.2; done"),
            &mut sink,
        )
        .await
        .unwrap()
    };
    let end = start.elapsed();
    assert_eq!(outcome.exit_status, Some(0));
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lines, ["1", "2", "3"]);
    // Each line arrives when printed, ~0.2 s apart, well before the command ends.
    assert!(
        seen[1].1 - seen[0].1 >= Duration::from_millis(120),
        "{seen:?}"
    );
    assert!(
        seen[2].1 - seen[1].1 >= Duration::from_millis(120),
        "{seen:?}"
    );
    assert!(
        end - seen[0].1 >= Duration::from_millis(450),
        "{seen:?} end {end:?}"
    );
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_separates_stdout_and_stderr_and_keeps_partial_last_line() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let out = run(
        &conn,
        ExecRequest::new("echo out1; echo err1 >&2; printf 'crlf\\r\\n'; printf 'tail-no-newline'"),
    )
    .await;
    assert_eq!(out.stdout, ["out1", "crlf", "tail-no-newline"]);
    assert_eq!(out.stderr, ["err1"]);
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_exit_codes_are_outcomes_not_errors() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    for (cmd, code) in [("true", 0), ("exit 3", 3), ("no-such-command-kubewiz", 127)] {
        let out = run(&conn, ExecRequest::new(cmd)).await;
        assert_eq!(out.outcome.exit_status, Some(code), "{cmd}: {out:?}");
        assert_eq!(out.outcome.exit_signal, None);
    }
    let out = run(&conn, ExecRequest::new("kill -TERM $$")).await;
    assert!(
        out.outcome.exit_signal.as_deref() == Some("TERM") || out.outcome.exit_status == Some(143),
        "{out:?}"
    );
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_timeout_stops_the_command_and_connection_stays_usable() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let start = Instant::now();
    let err = try_run(
        &conn,
        ExecRequest::new("echo started; sleep 20.321").timeout(Duration::from_millis(800)),
    )
    .await
    .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    match &err {
        SshError::Timeout { host, after } => {
            assert!(host.contains("lab1") && host.contains(":22"), "{host}");
            assert_eq!(*after, Duration::from_millis(800));
        }
        e => panic!("expected Timeout, got {e:?}"),
    }
    assert!(err.to_string().contains("lab1"));
    assert_eq!(sh(&conn, "echo still-here", false).await, "still-here");
    // The timed-out command was stopped on the host, not just abandoned.
    let left = run(&conn, ExecRequest::new("pgrep -f '^sleep 20[.]321$'")).await;
    assert_eq!(
        left.outcome.exit_status,
        Some(1),
        "still running: {:?}",
        left.stdout
    );
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_timeout_with_sudo_stops_the_root_command() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let err = try_run(
        &conn,
        ExecRequest::new("sleep 20.654")
            .sudo(true)
            .timeout(Duration::from_millis(800)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err:?}");
    let left = run(&conn, ExecRequest::new("pgrep -f '^sleep 20[.]654$'")).await;
    assert_eq!(
        left.outcome.exit_status,
        Some(1),
        "still running: {:?}",
        left.stdout
    );
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_stdin_is_delivered_then_eof() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let out = run(
        &conn,
        ExecRequest::new("wc -c; cat >/dev/null").stdin(vec![b'x'; 300_000]),
    )
    .await;
    assert_eq!(out.stdout_text().trim(), "300000");
    // Without stdin the command sees EOF at once instead of hanging.
    let out = run(
        &conn,
        ExecRequest::new("cat; echo eof").timeout(Duration::from_secs(10)),
    )
    .await;
    assert_eq!(out.stdout, ["eof"]);
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_large_output_and_parallel_commands_on_one_connection() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let mut count = 0usize;
    let mut last = String::new();
    {
        let mut sink = |l: OutputLine| {
            count += 1;
            last = l.line;
        };
        conn.exec(&ExecRequest::new("seq 1 200000"), &mut sink)
            .await
            .unwrap();
    }
    assert_eq!((count, last.as_str()), (200_000, "200000"));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = conn.clone();
            tokio::spawn(async move { sh(&c, &format!("sleep 0.3; echo {i}"), false).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), i.to_string());
    }
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn exec_command_runs_through_sh_verbatim() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let out = sh(&conn, "x='it'\"'\"'s'; echo \"$x\" $((2*3)) 'a  b'", false).await;
    assert_eq!(out, "it's 6 a  b");
}

// ---------------------------------------------------------------- sudo

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn sudo_as_kube_runs_as_root() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    assert_eq!(
        sh(&conn, "id -u", false).await.trim(),
        sh(&conn, "id -u kube", false).await.trim()
    );
    assert_eq!(sh(&conn, "id -u", true).await, "0");
    // Stdin reaches the command, untouched, through sudo.
    let out = run(
        &conn,
        ExecRequest::new("cat")
            .sudo(true)
            .stdin(b"one\ntwo\n".to_vec()),
    )
    .await;
    assert_eq!(out.stdout, ["one", "two"]);
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn sudo_as_root_user_needs_no_sudo() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "root").await;
    assert_eq!(sh(&conn, "id -u", true).await, "0");
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn sudo_password_required_fails_fast_without_password() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "ops").await;
    let start = Instant::now();
    let err = try_run(&conn, ExecRequest::new("id -u").sudo(true))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(err, SshError::SudoPasswordRequired { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("lab1"), "{err}");
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn sudo_with_password_works_and_never_leaks_it() {
    let Some(lab) = lab() else { return };
    let password = lab.password("ops");
    let mut target = lab.target(1, "ops");
    target.sudo_password = Some(password.clone());
    let conn = lab.connect_target(target).await;
    assert_eq!(sh(&conn, "id -u", true).await, "0");
    // The command's stdin is exactly what was given (the password went to sudo only).
    let out = run(
        &conn,
        ExecRequest::new("cat")
            .sudo(true)
            .stdin(b"payload\n".to_vec()),
    )
    .await;
    assert_eq!(out.stdout, ["payload"]);
    assert!(
        !out.stdout
            .iter()
            .chain(&out.stderr)
            .any(|l| l.contains(password.expose())),
        "password leaked into output"
    );
    // kube needs no password: a given password must not end up in the command's stdin.
    let mut target = lab.target(1, "kube");
    target.sudo_password = Some(password.clone());
    let kube = lab.connect_target(target).await;
    let out = run(
        &kube,
        ExecRequest::new("cat").sudo(true).stdin(b"data\n".to_vec()),
    )
    .await;
    assert_eq!(out.stdout, ["data"]);
    let out = run(&kube, ExecRequest::new("cat").sudo(true)).await;
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn sudo_wrong_password_is_reported() {
    let Some(lab) = lab() else { return };
    let mut target = lab.target(1, "ops");
    target.sudo_password = Some("definitely-wrong-password".into());
    let conn = lab.connect_target(target).await;
    let start = Instant::now();
    let err = try_run(&conn, ExecRequest::new("id -u").sudo(true))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::SudoPasswordWrong { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("definitely-wrong-password"));
    assert!(start.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- auth

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn wrong_key_is_rejected() {
    let Some(lab) = lab() else { return };
    let key = keygen("ed25519", "");
    let mut target = lab.target(1, "kube");
    target.auth = SshAuth::KeyFile {
        path: key.path.clone(),
        passphrase: None,
    };
    let err = Connection::connect(target, lab.policy(), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    match &err {
        SshError::AuthRejected { host, user, method } => {
            assert!(host.contains(&lab.address(1)));
            assert_eq!(user, "kube");
            assert!(method.contains(&key.path.display().to_string()), "{method}");
        }
        e => panic!("expected AuthRejected, got {e:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn rsa_and_ecdsa_keys_work() {
    let Some(lab) = lab() else { return };
    let admin = lab.connect(2, "kube").await;
    for kind in ["rsa", "ecdsa"] {
        let key = keygen(kind, "");
        authorize_key(&admin, "kube", &key).await;
        let mut target = lab.target(2, "kube");
        target.auth = SshAuth::KeyFile {
            path: key.path.clone(),
            passphrase: None,
        };
        let res = Connection::connect(target, lab.policy(), CONNECT_TIMEOUT).await;
        let out = match &res {
            Ok(c) => Some(sh(c, "echo hi", false).await),
            Err(_) => None,
        };
        unauthorize_key(&admin, "kube", &key).await;
        let conn = res.unwrap_or_else(|e| panic!("{kind} key: {e}"));
        assert_eq!(out.as_deref(), Some("hi"));
        conn.close().await;
    }
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn ssh_agent_identities_are_tried_in_turn() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start ssh-agent");
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // An unauthorized key first, then the lab key: the agent's identities are tried in turn.
    let stranger = keygen("ed25519", "");
    for key in [stranger.path.clone(), lab.key()] {
        let st = std::process::Command::new("ssh-add")
            .arg("-q")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &sock)
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::env::set_var("SSH_AUTH_SOCK", &sock);
    let mut target = lab.target(2, "kube");
    target.auth = SshAuth::Agent;
    let res = Connection::connect(target, lab.policy(), CONNECT_TIMEOUT).await;
    let out = match &res {
        Ok(c) => Some(sh(c, "whoami", false).await),
        Err(_) => None,
    };
    let _ = agent.kill();
    let _ = agent.wait();
    res.unwrap();
    assert_eq!(out.as_deref(), Some("kube"));
}

#[tokio::test]
async fn encrypted_key_needs_its_passphrase() {
    // No lab needed: the key is read before connecting.
    let key = keygen("ed25519", "correct horse");
    let target = |passphrase: Option<&str>| kubewiz::ssh::SshTarget {
        name: "nowhere".into(),
        address: "192.0.2.1".into(), // TEST-NET-1: never reached
        port: 22,
        user: "kube".into(),
        auth: SshAuth::KeyFile {
            path: key.path.clone(),
            passphrase: passphrase.map(Into::into),
        },
        sudo: true,
        sudo_password: None,
    };
    let policy = Arc::new(HostKeyPolicy::default());
    let t = Duration::from_millis(300);
    let err = Connection::connect(target(None), policy.clone(), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SshError::KeyEncrypted { ref path } if *path == key.path),
        "{err:?}"
    );
    let err = Connection::connect(target(Some("wrong")), policy.clone(), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SshError::KeyPassphraseWrong { .. }),
        "{err:?}"
    );
    // With the right passphrase the key loads and the connect goes on to the network.
    let err = Connection::connect(target(Some("correct horse")), policy, t)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SshError::ConnectTimeout { .. } | SshError::Connect { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn password_auth_works_or_is_rejected_cleanly() {
    let Some(lab) = lab() else { return };
    let mut target = lab.target(3, "kube");
    target.auth = SshAuth::Password(lab.password("kube"));
    match Connection::connect(target.clone(), lab.policy(), CONNECT_TIMEOUT).await {
        Ok(conn) => assert_eq!(sh(&conn, "whoami", false).await, "kube"),
        // The lab's sshd may have password logins off; then the refusal must be clean.
        Err(SshError::AuthRejected { method, .. }) => assert_eq!(method, "password"),
        Err(e) => panic!("{e:?}"),
    }
    target.auth = SshAuth::Password("not-the-password".into());
    let err = Connection::connect(target, lab.policy(), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::AuthRejected { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("not-the-password"));
}

// ---------------------------------------------------------------- host keys

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn unknown_host_key_refused_without_consent_and_learned_with_it() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let learn = dir.path().join("sub/known_hosts");
    let policy = HostKeyPolicy {
        known_hosts: vec![learn.clone()],
        learn_file: learn.clone(),
        accept_new: false,
    };
    let (ktype, fp, openssh) = probe_host_key(&lab.address(1), lab.port(), CONNECT_TIMEOUT)
        .await
        .unwrap();
    assert!(fp.starts_with("SHA256:"), "{fp}");
    assert!(openssh.starts_with(&ktype), "{openssh}");
    assert!(!learn.exists(), "probing must not record anything");

    let err = Connection::connect(
        lab.target(1, "kube"),
        Arc::new(policy.clone()),
        CONNECT_TIMEOUT,
    )
    .await
    .unwrap_err();
    match &err {
        SshError::HostKeyUnknown {
            host,
            fingerprint,
            key_type,
        } => {
            assert!(host.contains(&lab.address(1)));
            assert_eq!((fingerprint, key_type), (&fp, &ktype));
        }
        e => panic!("expected HostKeyUnknown, got {e:?}"),
    }
    assert!(!learn.exists());

    let conn = Connection::connect(
        lab.target(1, "kube"),
        Arc::new(policy.with_accept_new(true)),
        CONNECT_TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(sh(&conn, "echo ok", false).await, "ok");
    let text = std::fs::read_to_string(&learn).unwrap();
    assert_eq!(
        text,
        format!(
            "{} {}\n",
            known_hosts_name(&lab.address(1), lab.port()),
            openssh
        )
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&learn).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let conn = Connection::connect(lab.target(1, "kube"), Arc::new(policy), CONNECT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(sh(&conn, "echo again", false).await, "again");
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn changed_host_key_is_a_hard_error() {
    let Some(lab) = lab() else { return };
    let (_, real_fp, _) = probe_host_key(&lab.address(1), lab.port(), CONNECT_TIMEOUT)
        .await
        .unwrap();
    let other = keygen("ed25519", "");
    let other_pub = other.public.rsplit_once(' ').unwrap().0.to_owned();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "# test\n{} {other_pub}\n",
            known_hosts_name(&lab.address(1), lab.port())
        ),
    )
    .unwrap();
    let other_fp = {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(other.path.with_extension("pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    // Even with accept_new a changed key is never learned.
    let policy = HostKeyPolicy {
        known_hosts: vec![kh.clone()],
        learn_file: kh.clone(),
        accept_new: true,
    };
    let err = Connection::connect(lab.target(1, "kube"), Arc::new(policy), CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    match &err {
        SshError::HostKeyChanged {
            host,
            file,
            line,
            expected,
            presented,
        } => {
            assert!(host.contains(&lab.address(1)));
            assert_eq!((file, *line), (&kh, 2));
            assert!(expected.contains(&other_fp), "{expected} vs {other_fp}");
            assert!(presented.contains(&real_fp), "{presented} vs {real_fp}");
        }
        e => panic!("expected HostKeyChanged, got {e:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&other_fp) && msg.contains(&real_fp) && msg.contains(":2 "),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 2);
}

// ---------------------------------------------------------------- upload

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn upload_100mb_verified_then_unchanged() {
    let Some(lab) = lab() else { return };
    common::init_tracing();
    let conn = lab.connect(1, "kube").await;
    let dir = tempfile::tempdir().unwrap();
    let size = 100 * 1024 * 1024;
    let file = common::random_file(dir.path(), "big.bin", size);
    let local = common::sha256_file(&file);
    let remote = "/tmp/kubewiz-test/upload/big.bin";
    sh(&conn, "rm -rf /tmp/kubewiz-test/upload", false).await;
    let req = UploadRequest {
        source: UploadSource::File(file.clone()),
        remote_path: remote.into(),
        mode: 0o640,
        owner: None,
        sudo: false,
    };
    let start = Instant::now();
    let up = conn.upload(&req).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(up.changed);
    assert_eq!(up.method, UploadMethod::Sftp);
    assert_eq!(
        (up.sha256.as_str(), up.bytes),
        (local.as_str(), size as u64)
    );
    let remote_sum = sh(
        &conn,
        &format!("sha256sum {remote} | cut -d' ' -f1; stat -c %a {remote}"),
        false,
    )
    .await;
    assert_eq!(remote_sum, format!("{local}\n640"));
    println!(
        "upload: 100 MiB in {secs:.2} s = {:.1} MiB/s (hash, check, transfer, verify)",
        100.0 / secs
    );

    // Same content again: nothing written.
    let start = Instant::now();
    let again = conn.upload(&req).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.sha256, local);
    println!("unchanged upload: {:.2} s", start.elapsed().as_secs_f64());

    // scp of the same file, for comparison.
    if std::env::var_os("KUBEWIZ_TEST_SCP").is_some() {
        let start = Instant::now();
        let st = std::process::Command::new("scp")
            .args([
                "-q",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                lab.known_hosts().display()
            ))
            .arg("-i")
            .arg(lab.key())
            .arg("-P")
            .arg(lab.port().to_string())
            .arg(&file)
            .arg(format!(
                "kube@{}:/tmp/kubewiz-test/upload/scp.bin",
                lab.address(1)
            ))
            .status()
            .unwrap();
        assert!(st.success());
        let scp = start.elapsed().as_secs_f64();
        println!("scp: 100 MiB in {scp:.2} s = {:.1} MiB/s", 100.0 / scp);
    }
    sh(&conn, "rm -rf /tmp/kubewiz-test/upload; rmdir /tmp/kubewiz-test /etc/kubewiz-test 2>/dev/null; true", false).await;
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn upload_exec_fallback_without_and_with_sudo() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::random_file(dir.path(), "mid.bin", 5 * 1024 * 1024 + 7);
    let local = common::sha256_file(&file);
    let force = UploadOptions { force_exec: true };
    sh(
        &conn,
        "rm -rf /tmp/kubewiz-test/fallback /etc/kubewiz-test/fallback",
        true,
    )
    .await;

    let req = UploadRequest {
        source: UploadSource::File(file.clone()),
        remote_path: "/tmp/kubewiz-test/fallback/mid.bin".into(),
        mode: 0o600,
        owner: None,
        sudo: false,
    };
    let up = conn.upload_with(&req, force).await.unwrap();
    assert_eq!((up.changed, up.method), (true, UploadMethod::Exec));
    assert_eq!(
        sh(
            &conn,
            "sha256sum < /tmp/kubewiz-test/fallback/mid.bin | cut -d' ' -f1",
            false
        )
        .await,
        local
    );

    let req = UploadRequest {
        source: UploadSource::Bytes(b"fallback through sudo\n".to_vec()),
        remote_path: "/etc/kubewiz-test/fallback/f.conf".into(),
        mode: 0o644,
        owner: Some("root:root".into()),
        sudo: true,
    };
    let up = conn.upload_with(&req, force).await.unwrap();
    assert_eq!((up.changed, up.method), (true, UploadMethod::Exec));
    assert_eq!(
        sh(&conn, "cat /etc/kubewiz-test/fallback/f.conf; stat -c '%a %U %G' /etc/kubewiz-test/fallback/f.conf", false).await,
        "fallback through sudo\n644 root root"
    );
    assert!(!conn.upload_with(&req, force).await.unwrap().changed);
    sh(
        &conn,
        "rm -rf /tmp/kubewiz-test/fallback /etc/kubewiz-test/fallback; rmdir /tmp/kubewiz-test /etc/kubewiz-test 2>/dev/null; true",
        true,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn upload_with_sudo_applies_mode_and_owner() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let path = "/etc/kubewiz-test/owned/app.conf";
    sh(&conn, "rm -rf /etc/kubewiz-test/owned", true).await;
    let mut req = UploadRequest {
        source: UploadSource::Bytes(b"key: value\n".to_vec()),
        remote_path: path.into(),
        mode: 0o640,
        owner: Some("root:kube".into()),
        sudo: true,
    };
    let stat = format!("stat -c '%a %U %G' {path}; cat {path}");
    let up = conn.upload(&req).await.unwrap();
    assert!(up.changed);
    assert_eq!(sh(&conn, &stat, true).await, "640 root kube\nkey: value");
    // No temp files left behind.
    assert_eq!(
        sh(&conn, "ls -A /etc/kubewiz-test/owned", true).await,
        "app.conf"
    );

    assert!(
        !conn.upload(&req).await.unwrap().changed,
        "same content, mode, owner"
    );
    req.mode = 0o600;
    assert!(conn.upload(&req).await.unwrap().changed, "mode differs");
    assert_eq!(sh(&conn, &stat, true).await, "600 root kube\nkey: value");
    req.owner = Some("kube:kube".into());
    assert!(conn.upload(&req).await.unwrap().changed, "owner differs");
    assert_eq!(sh(&conn, &stat, true).await, "600 kube kube\nkey: value");
    req.source = UploadSource::Bytes(b"key: other\n".to_vec());
    assert!(conn.upload(&req).await.unwrap().changed, "content differs");
    assert_eq!(sh(&conn, &stat, true).await, "600 kube kube\nkey: other");

    // Without sudo, kube cannot write into /etc: a clear Upload error.
    req.sudo = false;
    req.owner = None;
    req.remote_path = "/etc/kubewiz-test-denied/x".into();
    let err = conn.upload(&req).await.unwrap_err();
    assert!(matches!(err, SshError::Upload { .. }), "{err:?}");
    sh(&conn, "rm -rf /etc/kubewiz-test/owned; rmdir /tmp/kubewiz-test /etc/kubewiz-test 2>/dev/null; true", true).await;
}

/// A big file's check is answered from its digest record while the file is the one recorded,
/// and never once the file changed, even in place with the same size.
#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn upload_digest_record_never_hides_a_change() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(1, "kube").await;
    let dir = tempfile::tempdir().unwrap();
    let file = common::random_file(dir.path(), "tarball.bin", 4 * 1024 * 1024);
    let local = common::sha256_file(&file);
    let path = "/opt/kubewiz-test/record/tarball.bin";
    sh(&conn, "rm -rf /opt/kubewiz-test/record", true).await;
    let req = UploadRequest {
        source: UploadSource::File(file.clone()),
        remote_path: path.into(),
        mode: 0o644,
        owner: None,
        sudo: true,
    };
    assert!(conn.upload(&req).await.unwrap().changed);
    // The upload left a record naming the file's sha256.
    let recorded = sh(
        &conn,
        "grep -rlx -- \"$(sha256sum /opt/kubewiz-test/record/tarball.bin | cut -d' ' -f1)\" /var/lib/kubewiz/upload-digests | wc -l",
        true,
    )
    .await;
    assert_eq!(recorded, "1", "one record holds the uploaded file's sha256");
    assert!(!conn.upload(&req).await.unwrap().changed, "same file again");

    // One byte changed in place: same size, same inode; the record must not answer for it.
    sh(
        &conn,
        &format!("printf 'X' | dd of={path} bs=1 seek=1000 conv=notrunc status=none"),
        true,
    )
    .await;
    let up = conn.upload(&req).await.unwrap();
    assert!(up.changed, "a file changed in place is sent again");
    let remote = sh(&conn, &format!("sha256sum {path} | cut -d' ' -f1"), true).await;
    assert_eq!(remote, local);

    // Only its times touched: hashed again (the record is stale), found equal, nothing sent.
    sh(&conn, &format!("touch {path}"), true).await;
    assert!(!conn.upload(&req).await.unwrap().changed, "touched only");
    sh(&conn, "rm -rf /opt/kubewiz-test; true", true).await;
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn upload_as_ops_with_sudo_password() {
    let Some(lab) = lab() else { return };
    let mut target = lab.target(1, "ops");
    target.sudo_password = Some(lab.password("ops"));
    let conn = lab.connect_target(target).await;
    let req = UploadRequest {
        source: UploadSource::Bytes(b"ops was here\n".to_vec()),
        remote_path: "/etc/kubewiz-test/ops/o.conf".into(),
        mode: 0o600,
        owner: Some("root:root".into()),
        sudo: true,
    };
    assert!(conn.upload(&req).await.unwrap().changed);
    assert_eq!(
        sh(
            &conn,
            "cat /etc/kubewiz-test/ops/o.conf; stat -c '%a %U' /etc/kubewiz-test/ops/o.conf",
            true
        )
        .await,
        "ops was here\n600 root"
    );
    assert!(!conn.upload(&req).await.unwrap().changed);
    sh(
        &conn,
        "rm -rf /etc/kubewiz-test/ops; rmdir /tmp/kubewiz-test /etc/kubewiz-test 2>/dev/null; true",
        true,
    )
    .await;
}

// ---------------------------------------------------------------- connection drops

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn connection_killed_mid_command_then_reconnects() {
    let Some(lab) = lab() else { return };
    let a = lab.connect(3, "kube").await;
    let b = lab.connect(3, "root").await;
    let marker = "sleep 30.123";
    // From B, once A's sleep runs, kill the sshd process serving A (the first sshd ancestor
    // of that sleep).
    let killer = async {
        let script = format!(
            r#"for _ in $(seq 1 50); do p=$(pgrep -f '^{marker}$' | head -n1); [ -n "$p" ] && break; sleep 0.1; done
[ -n "$p" ] || {{ echo "no sleep found" >&2; exit 1; }}
echo "sleep $p"
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  c=$(cat /proc/$p/comm)
  case "$c" in sshd|sshd-session|sshd-auth) kill -9 "$p"; echo "killed $p $c"; exit 0;; esac
  p=$(awk '{{print $4}}' /proc/$p/stat)
done
echo "no sshd ancestor" >&2; exit 1"#
        );
        sh(&b, &script, false).await
    };
    let start = Instant::now();
    let (res, killed) = tokio::join!(try_run(&a, ExecRequest::new(marker)), killer);
    println!("{killed}");
    let err = res.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    match &err {
        SshError::Disconnected { host, during } => {
            assert!(host.contains("lab3"));
            assert!(during.contains(marker), "{during}");
        }
        e => panic!("expected Disconnected, got {e:?}"),
    }
    assert!(err.to_string().contains("unknown"), "{err}");
    // The next exec on A reconnects.
    assert_eq!(sh(&a, "echo back", false).await, "back");
    // The orphaned sleep: stop it by its pid.
    if let Some(pid) = killed.lines().find_map(|l| l.strip_prefix("sleep ")) {
        sh(&b, &format!("kill {pid} 2>/dev/null || true"), false).await;
    }
}

#[tokio::test]
#[ignore = "needs the lab (KUBEWIZ_LAB)"]
async fn closed_connection_reconnects_on_next_use() {
    let Some(lab) = lab() else { return };
    let conn = lab.connect(2, "kube").await;
    conn.close().await;
    assert_eq!(sh(&conn, "echo reopened", false).await, "reopened");
}

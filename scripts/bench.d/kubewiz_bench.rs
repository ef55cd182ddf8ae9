//! kubewiz benchmark helper (a `[[bench]]` target with `harness = false`), driven by
//! `scripts/bench`. Every mode takes its inputs on the command line and prints one JSON object
//! per measurement on stdout (diagnostics go to stderr). Each run opens fresh connections.
//!
//!   kubewiz_bench plan    --cluster F --hosts N [--steps 20] [--runs 5]
//!       one Stage, `--steps` tiny scripts per host, through kubewiz::engine::run.
//!   kubewiz_bench upload  --cluster F --hosts N --file P --remote R [--runs 5]
//!       Connection::upload of P to R on N hosts in parallel (R removed before every run);
//!       `--force-exec 1` sends through the `cat > tmp` fallback instead of SFTP.
//!   kubewiz_bench connect --cluster F --hosts N [--runs 5]
//!       where the time of `exec true` goes with kubewiz's own pool: connect (TCP + kex + auth)
//!       of every host in parallel, then the exec on the already open connections.
//!   kubewiz_bench russh   --cluster F --hosts N [--runs 5]
//!       raw russh (no kubewiz code) `true` on N hosts with several client settings, timed per
//!       phase (tcp, kex, auth, channel, exec), to tell algorithm choices from kubewiz overhead.
//!   kubewiz_bench russh-upload --cluster F --hosts N --file P --remote R [--runs 3]
//!       raw russh `cat > R` fed with P per cipher: the transport's ceiling for uploads.
//!   kubewiz_bench sha256 --file P [--runs 3]
//!       sha256 of P with the sha2 crate (what Connection::upload computes before sending).
//!
//! The raw russh modes accept any host key: they only ever talk to the lab's own hosts and are
//! probes of the transport, not of kubewiz's host-key checks.

use anyhow::{anyhow, bail, Context, Result};
use futures::future::join_all;
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config::ResolvedHost;
use kubewiz::deploy::targets::{host_key_policy, ssh_targets};
use kubewiz::engine::{self, CancellationToken, HostPool, RunOptions};
use kubewiz::plan::{HostSteps, Plan, Stage, Step, StepAction};
use kubewiz::ssh::{UploadRequest, UploadSource};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

struct Args {
    mode: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
        let mode = it
            .next()
            .ok_or_else(|| anyhow!("usage: kubewiz_bench MODE --cluster FILE --hosts N ..."))?;
        let mut opts = HashMap::new();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("unexpected argument {k:?}"))?
                .to_string();
            let v = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
            opts.insert(key, v);
        }
        Ok(Args { mode, opts })
    }
    fn get(&self, k: &str) -> Result<&str> {
        self.opts
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("--{k} is required for {}", self.mode))
    }
    fn num(&self, k: &str, default: usize) -> Result<usize> {
        match self.opts.get(k) {
            Some(v) => v.parse().with_context(|| format!("--{k} {v:?}")),
            None => Ok(default),
        }
    }
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

struct Lab {
    file: PathBuf,
    name: String,
    hosts: Vec<ResolvedHost>,
}

fn load(args: &Args) -> Result<Lab> {
    let file = PathBuf::from(args.get("cluster")?);
    let loaded = kubewiz::config::load(&file).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut hosts = loaded.spec.resolved_hosts();
    let n = args.num("hosts", hosts.len())?;
    if n > hosts.len() {
        bail!("{} has {} hosts, {} asked", file.display(), hosts.len(), n);
    }
    hosts.truncate(n);
    Ok(Lab {
        file,
        name: loaded.spec.name.clone(),
        hosts,
    })
}

/// A fresh pool: no connection is open until first use.
fn pool(lab: &Lab) -> Result<Arc<HostPool>> {
    let targets = ssh_targets(&lab.hosts)?;
    let dir = ClusterDir::of_cluster_file(&lab.file);
    let policy = host_key_policy(&dir, false);
    Ok(Arc::new(HostPool::new(targets, policy, CONNECT_TIMEOUT)))
}

fn script_step(name: String, script: String) -> Step {
    Step::new(
        &name,
        "",
        StepAction::Script {
            script,
            reports_result: false,
        },
    )
    .timeout_secs(120)
}

fn plan_of(lab: &Lab, steps: impl Fn() -> Vec<Step>) -> Plan {
    Plan {
        cluster: lab.name.clone(),
        stages: vec![Stage {
            name: "bench".into(),
            units: vec![],
            description: "benchmark".into(),
            hosts: lab
                .hosts
                .iter()
                .map(|h| HostSteps {
                    host: h.name.clone(),
                    steps: steps(),
                })
                .collect(),
        }],
    }
}

/// Run a plan on `pool`, draining the events concurrently. Errors when a step failed.
async fn run_plan(plan: &Plan, pool: Arc<HostPool>) -> Result<usize> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move {
        let mut n = 0usize;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let summary = engine::run(
        plan,
        pool,
        RunOptions::default(),
        tx,
        CancellationToken::new(),
    )
    .await?;
    let events = drain.await?;
    if !summary.ok {
        let failed: Vec<String> = summary
            .outcomes
            .iter()
            .filter(|(_, o)| o.is_failure())
            .map(|(at, o)| format!("{at}: {o:?}"))
            .collect();
        bail!("the plan failed: {}", failed.join("; "));
    }
    Ok(events)
}

async fn mode_plan(args: &Args) -> Result<()> {
    let lab = load(args)?;
    let steps = args.num("steps", 20)?;
    let runs = args.num("runs", 5)?;
    let plan = plan_of(&lab, || {
        (1..=steps)
            .map(|i| {
                script_step(
                    format!("step{i:02}"),
                    format!("mkdir -p /tmp/kwbench && echo step {i} > /tmp/kwbench/{i}"),
                )
            })
            .collect()
    });
    for run in 1..=runs {
        let t0 = Instant::now();
        let pool = pool(&lab)?;
        let events = run_plan(&plan, pool.clone()).await?;
        pool.close_all().await;
        let secs = t0.elapsed().as_secs_f64();
        emit(
            json!({"bench": "plan", "tool": "kubewiz", "hosts": lab.hosts.len(), "steps": steps,
                    "run": run, "seconds": secs, "events": events}),
        );
    }
    Ok(())
}

async fn mode_upload(args: &Args) -> Result<()> {
    let lab = load(args)?;
    let runs = args.num("runs", 5)?;
    let file = PathBuf::from(args.get("file")?);
    let remote = args.get("remote")?.to_string();
    // --force-exec 1: the `cat > tmp` fallback instead of SFTP (diagnostics).
    let force_exec = args.num("force-exec", 0)? != 0;
    let bytes = std::fs::metadata(&file)
        .with_context(|| format!("{}", file.display()))?
        .len();
    let remote_dir = Path::new(&remote)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/".into());
    let cleanup = plan_of(&lab, || {
        vec![script_step(
            "clean".into(),
            format!("rm -f '{remote}' && mkdir -p '{remote_dir}' && sync"),
        )]
    });
    for run in 1..=runs {
        // Untimed: the file must not be there, or an idempotent upload would write nothing.
        let p = pool(&lab)?;
        run_plan(&cleanup, p.clone())
            .await
            .context("removing the remote file")?;
        p.close_all().await;

        let t0 = Instant::now();
        let pool = pool(&lab)?;
        let per_host = join_all(lab.hosts.iter().map(|h| {
            let pool = pool.clone();
            let req = UploadRequest {
                source: UploadSource::File(file.clone()),
                remote_path: remote.clone(),
                mode: 0o644,
                owner: None,
                sudo: false,
            };
            let name = h.name.clone();
            async move {
                let t = Instant::now();
                let conn = pool.connection(&name).await.map_err(|e| anyhow!("{e}"))?;
                let connected = t.elapsed().as_secs_f64();
                let up = if force_exec {
                    let opts = kubewiz::ssh::UploadOptions { force_exec: true };
                    conn.upload_with(&req, opts).await
                } else {
                    conn.upload(&req).await
                }
                .map_err(|e| anyhow!("{name}: {e}"))?;
                if !up.changed {
                    bail!("{name}: upload reported no change although the file had been removed");
                }
                Ok::<_, anyhow::Error>((connected, t.elapsed().as_secs_f64()))
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        pool.close_all().await;
        let secs = t0.elapsed().as_secs_f64();
        let connect_max = per_host.iter().map(|x| x.0).fold(0.0, f64::max);
        emit(
            json!({"bench": "upload", "tool": "kubewiz", "force_exec": force_exec, "hosts": lab.hosts.len(), "bytes": bytes,
                    "run": run, "seconds": secs, "connect_max_seconds": connect_max,
                    "per_host_seconds": per_host.iter().map(|x| x.1).collect::<Vec<_>>()}),
        );
    }
    Ok(())
}

async fn mode_connect(args: &Args) -> Result<()> {
    let lab = load(args)?;
    let runs = args.num("runs", 5)?;
    let exec = plan_of(&lab, || vec![script_step("true".into(), "true".into())]);
    for run in 1..=runs {
        let t0 = Instant::now();
        let pool = pool(&lab)?;
        let connects = join_all(lab.hosts.iter().map(|h| {
            let pool = pool.clone();
            let name = h.name.clone();
            async move {
                let t = Instant::now();
                pool.connection(&name).await.map_err(|e| anyhow!("{e}"))?;
                Ok::<_, anyhow::Error>(t.elapsed().as_secs_f64())
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let connected = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        run_plan(&exec, pool.clone()).await?;
        let exec_secs = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        pool.close_all().await;
        let close_secs = t2.elapsed().as_secs_f64();
        let mut sorted = connects.clone();
        sorted.sort_by(f64::total_cmp);
        emit(
            json!({"bench": "phases", "tool": "kubewiz", "hosts": lab.hosts.len(), "run": run,
                    "connect_all_seconds": connected,
                    "connect_min_seconds": sorted.first(), "connect_max_seconds": sorted.last(),
                    "exec_seconds": exec_secs, "close_seconds": close_secs,
                    "seconds": t0.elapsed().as_secs_f64()}),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Raw russh probes (no kubewiz code): what the transport costs with a given client setting.

struct AnyKey;

impl russh::client::Handler for AnyKey {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::ssh_key::PublicKey,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

#[derive(Clone)]
struct Variant {
    name: &'static str,
    config: Arc<russh::client::Config>,
}

fn variant(
    name: &'static str,
    nodelay: bool,
    kex: Option<&'static [russh::kex::Name]>,
    cipher: Option<&'static [russh::cipher::Name]>,
) -> Variant {
    let mut c = russh::client::Config {
        nodelay,
        // kubewiz's Connection uses an 8 MiB window; the default is 2 MiB.
        window_size: if nodelay {
            8 * 1024 * 1024
        } else {
            2 * 1024 * 1024
        },
        ..Default::default()
    };
    if let Some(k) = kex {
        c.preferred.kex = std::borrow::Cow::Borrowed(k);
    }
    if let Some(ci) = cipher {
        c.preferred.cipher = std::borrow::Cow::Borrowed(ci);
    }
    Variant {
        name,
        config: Arc::new(c),
    }
}

/// Timestamps (seconds from the start) of one raw session's phases.
#[derive(Default, Clone, Copy)]
struct Phases {
    tcp: f64,
    kex: f64,
    auth: f64,
    channel: f64,
    exec: f64,
    closed: f64,
}

async fn raw_session(
    v: &Variant,
    host: &ResolvedHost,
    key: Arc<russh::keys::PrivateKey>,
    command: &str,
    stdin_file: Option<&Path>,
) -> Result<Phases> {
    let t = Instant::now();
    let mut p = Phases::default();
    let sock = tokio::net::TcpStream::connect((host.address.to_string(), host.port)).await?;
    if v.config.nodelay {
        sock.set_nodelay(true)?;
    }
    p.tcp = t.elapsed().as_secs_f64();
    let mut handle = russh::client::connect_stream(v.config.clone(), sock, AnyKey).await?;
    p.kex = t.elapsed().as_secs_f64();
    let hash = handle.best_supported_rsa_hash().await?.flatten();
    let auth = handle
        .authenticate_publickey(
            host.user.clone(),
            russh::keys::PrivateKeyWithHashAlg::new(key, hash),
        )
        .await?;
    if !auth.success() {
        bail!("{}: public key rejected", host.name);
    }
    p.auth = t.elapsed().as_secs_f64();
    let ch = handle.channel_open_session().await?;
    p.channel = t.elapsed().as_secs_f64();
    ch.exec(true, command).await?;
    // Read the channel's messages while writing: russh queues them per channel, and a full
    // queue stalls the connection (and so the writer).
    let (mut rx, tx) = ch.split();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut started = Some(started_tx);
        let mut status = None;
        while let Some(msg) = rx.wait().await {
            match msg {
                russh::ChannelMsg::Success => {
                    if let Some(s) = started.take() {
                        let _ = s.send(());
                    }
                }
                russh::ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        status
    });
    if let Some(path) = stdin_file {
        // Only once the server has started the command (the exec request's reply).
        started_rx
            .await
            .map_err(|_| anyhow!("{}: the exec request was refused", host.name))?;
        let f = tokio::fs::File::open(path).await?;
        let mut w = tx.make_writer();
        tokio::io::copy(&mut tokio::io::BufReader::with_capacity(1 << 20, f), &mut w).await?;
        tokio::io::AsyncWriteExt::shutdown(&mut w).await?;
    }
    tx.eof().await?;
    let status = reader.await?;
    if status != Some(0) {
        bail!("{}: {command:?} exited with {status:?}", host.name);
    }
    p.exec = t.elapsed().as_secs_f64();
    handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await?;
    p.closed = t.elapsed().as_secs_f64();
    Ok(p)
}

fn key_of(host: &ResolvedHost) -> Result<Arc<russh::keys::PrivateKey>> {
    match &host.auth {
        kubewiz::config::AuthSpec::Key { key_file, .. } => Ok(Arc::new(
            russh::keys::load_secret_key(key_file, None)
                .with_context(|| format!("{}", key_file.display()))?,
        )),
        _ => bail!("the raw russh probes need key auth"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

async fn mode_russh(args: &Args) -> Result<()> {
    use russh::{cipher, kex};
    let lab = load(args)?;
    let runs = args.num("runs", 5)?;
    let key = key_of(&lab.hosts[0])?;
    static ECDH: [kex::Name; 2] = [kex::ECDH_SHA2_NISTP256, kex::EXTENSION_SUPPORT_AS_CLIENT];
    static DH14: [kex::Name; 2] = [kex::DH_G14_SHA256, kex::EXTENSION_SUPPORT_AS_CLIENT];
    static GCM: [cipher::Name; 1] = [cipher::AES_256_GCM];
    let variants = [
        variant(
            "russh defaults (curve25519, chacha20-poly1305, Nagle on, 2 MiB window)",
            false,
            None,
            None,
        ),
        variant(
            "russh as kubewiz sets it (nodelay, 8 MiB window)",
            true,
            None,
            None,
        ),
        variant("russh nodelay + aes256-gcm", true, None, Some(&GCM)),
        variant(
            "russh nodelay + kex ecdh-sha2-nistp256",
            true,
            Some(&ECDH),
            None,
        ),
        variant(
            "russh nodelay + kex dh-group14-sha256",
            true,
            Some(&DH14),
            None,
        ),
    ];
    for run in 1..=runs {
        // Interleave the variants within a run so drift hits them alike.
        for v in &variants {
            let t0 = Instant::now();
            let phases = join_all(
                lab.hosts
                    .iter()
                    .map(|h| raw_session(v, h, key.clone(), "true", None)),
            )
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
            let secs = t0.elapsed().as_secs_f64();
            let m = |f: fn(&Phases) -> f64| median(phases.iter().map(f).collect());
            emit(
                json!({"bench": "russh", "variant": v.name, "hosts": lab.hosts.len(), "run": run,
                        "seconds": secs,
                        "tcp": m(|p| p.tcp), "kex": m(|p| p.kex), "auth": m(|p| p.auth),
                        "channel": m(|p| p.channel), "exec": m(|p| p.exec), "closed": m(|p| p.closed)}),
            );
        }
    }
    Ok(())
}

async fn mode_russh_upload(args: &Args) -> Result<()> {
    use russh::cipher;
    let lab = load(args)?;
    let runs = args.num("runs", 3)?;
    let key = key_of(&lab.hosts[0])?;
    let file = PathBuf::from(args.get("file")?);
    let remote = args.get("remote")?.to_string();
    let bytes = std::fs::metadata(&file)?.len();
    static CHACHA: [cipher::Name; 1] = [cipher::CHACHA20_POLY1305];
    static GCM256: [cipher::Name; 1] = [cipher::AES_256_GCM];
    static GCM128: [cipher::Name; 1] = [cipher::AES_128_GCM];
    let variants = [
        variant(
            "russh cat>file chacha20-poly1305",
            true,
            None,
            Some(&CHACHA),
        ),
        variant("russh cat>file aes256-gcm", true, None, Some(&GCM256)),
        variant("russh cat>file aes128-gcm", true, None, Some(&GCM128)),
    ];
    let cmd = format!("mkdir -p \"$(dirname '{remote}')\" && rm -f '{remote}' && cat > '{remote}'");
    for run in 1..=runs {
        for v in &variants {
            let t0 = Instant::now();
            let phases = join_all(
                lab.hosts
                    .iter()
                    .map(|h| raw_session(v, h, key.clone(), &cmd, Some(&file))),
            )
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
            let secs = t0.elapsed().as_secs_f64();
            let xfer = median(phases.iter().map(|p| p.exec - p.channel).collect());
            emit(
                json!({"bench": "russh-upload", "variant": v.name, "hosts": lab.hosts.len(),
                        "bytes": bytes, "run": run, "seconds": secs, "transfer_median_seconds": xfer}),
            );
        }
    }
    Ok(())
}

fn mode_sha256(args: &Args) -> Result<()> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let file = PathBuf::from(args.get("file")?);
    for run in 1..=args.num("runs", 3)? {
        let t0 = Instant::now();
        let mut f = std::fs::File::open(&file)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n as u64;
        }
        let digest = hex::encode(h.finalize());
        emit(
            json!({"bench": "sha256", "tool": "sha2 crate", "bytes": total, "run": run,
                    "seconds": t0.elapsed().as_secs_f64(), "sha256": digest}),
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kubewiz_bench: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match args.mode.as_str() {
            "plan" => mode_plan(&args).await,
            "upload" => mode_upload(&args).await,
            "connect" => mode_connect(&args).await,
            "russh" => mode_russh(&args).await,
            "russh-upload" => mode_russh_upload(&args).await,
            "sha256" => mode_sha256(&args),
            m => bail!("unknown mode {m:?}: plan, upload, connect, russh, russh-upload, sha256"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubewiz_bench {}: {e:#}", args.mode);
            std::process::ExitCode::from(1)
        }
    }
}

//! Logs: one file per run under the cluster directory's logs/ (tracing + tracing-appender).
//! Nothing is logged to the terminal, so the TUI and the printers own stdout. No secret is ever
//! logged: secrets live in `ssh::Secret`, whose Debug and Display print `***`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keeps the log writer alive; logs are flushed when it is dropped.
pub struct LogGuard {
    _guard: WorkerGuard,
    pub file: PathBuf,
}

/// Start logging into `<logs_dir>/kubewiz-<command>-<UTC time>.log`. Level from KUBEWIZ_LOG
/// (tracing's EnvFilter syntax), default `kubewiz=debug,info`.
pub fn init(logs_dir: &Path, command: &str) -> Result<LogGuard> {
    std::fs::create_dir_all(logs_dir)
        .with_context(|| format!("creating the log directory {}", logs_dir.display()))?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "");
    let name = format!("kubewiz-{command}-{stamp}-{}.log", std::process::id());
    let file = logs_dir.join(&name);
    let appender = tracing_appender::rolling::never(logs_dir, &name);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("KUBEWIZ_LOG")
        .unwrap_or_else(|_| EnvFilter::new("kubewiz=debug,info"));
    // A second init (tests running several commands in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(LogGuard {
        _guard: guard,
        file,
    })
}

//! `kubewiz certs list|check|generate -f cluster.yaml`: the PKI in the cluster directory.

use crate::cluster_dir::ClusterDir;
use crate::config;
use crate::pki::{self, CertRow};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The cluster file; the PKI lives in `pki/` and `kubeconfigs/` beside it.
    #[arg(
        short = 'f',
        long = "file",
        default_value = "cluster.yaml",
        global = true
    )]
    pub file: PathBuf,
    #[command(subcommand)]
    pub command: CertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Every certificate: file, subject, SANs, issuer, expiry, days left.
    List,
    /// Verify chains, SANs against the cluster file, key pairs, kubeconfigs and expiry
    /// (exit status 1 on any error).
    Check {
        /// Warn about certificates expiring within this many days.
        #[arg(long, default_value_t = 30)]
        warn_days: i64,
    },
    /// Create what is missing and re-issue what the cluster file no longer matches (old files
    /// are kept in pki/backup/); prints what changed and why.
    Generate,
}

pub fn run(args: &CertsArgs) -> anyhow::Result<ExitCode> {
    let loaded = match config::load(&args.file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let spec = &loaded.spec;
    let dir = ClusterDir::of_cluster_file(&args.file);
    match &args.command {
        CertsCommand::List => {
            let rows = pki::list(&dir, spec)?;
            if rows.is_empty() {
                println!(
                    "no certificates in {}; create them with: kubewiz certs generate -f {}",
                    pki::pki_dir(&dir).display(),
                    args.file.display()
                );
            } else {
                print!("{}", render_list(&rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        CertsCommand::Check { warn_days } => {
            let report = pki::check(&dir, spec, *warn_days)?;
            let width = report
                .findings
                .iter()
                .map(|f| f.file.len())
                .max()
                .unwrap_or(0);
            for f in &report.findings {
                println!("{:<7}  {:<width$}  {}", f.severity, f.file, f.message);
            }
            println!(
                "{} files checked: {} error{}, {} warning{}",
                report.files_checked,
                report.errors(),
                plural(report.errors()),
                report.warnings(),
                plural(report.warnings())
            );
            Ok(if report.errors() > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        CertsCommand::Generate => {
            let report = pki::ensure(&dir, spec)?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// SANs wrap onto continuation lines past this width.
const SANS_WIDTH: usize = 48;

/// The `certs list` table.
pub fn render_list(rows: &[CertRow]) -> String {
    let header = [
        "FILE",
        "SUBJECT",
        "SANS",
        "ISSUER",
        "NOT AFTER",
        "DAYS LEFT",
    ];
    // Each row: its cells, the SANs split into lines.
    let table: Vec<([String; 6], Vec<String>)> = rows
        .iter()
        .map(|r| {
            let sans = wrap(
                &r.sans
                    .iter()
                    .map(|s| s.replacen("IP ", "IP:", 1).replacen("DNS ", "DNS:", 1))
                    .collect::<Vec<_>>(),
                SANS_WIDTH,
            );
            (
                [
                    r.file.clone(),
                    r.subject.clone(),
                    sans.first().cloned().unwrap_or_else(|| "-".into()),
                    r.issuer.clone(),
                    if r.issuer.is_empty() {
                        String::new()
                    } else {
                        pki::format_time(r.not_after)
                    },
                    if r.issuer.is_empty() {
                        String::new()
                    } else {
                        r.days_left.to_string()
                    },
                ],
                sans.into_iter().skip(1).collect(),
            )
        })
        .collect();
    let mut widths = header.map(str::len);
    for (cells, more) in &table {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
        for m in more {
            widths[2] = widths[2].max(m.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i == 5 {
                s.push_str(&format!("{c:>w$}"));
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for (cells, more) in &table {
        out.push_str(&line([
            &cells[0], &cells[1], &cells[2], &cells[3], &cells[4], &cells[5],
        ]));
        for m in more {
            out.push_str(&line(["", "", m, "", "", ""]));
        }
    }
    out
}

/// Comma-separated items in lines of at most `width` characters (an item longer than that
/// gets a line of its own).
fn wrap(items: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    let mut cur = String::new();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        if !cur.is_empty() && cur.len() + 1 + piece.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&piece);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_sans() {
        let items: Vec<String> = [
            "IP:10.0.0.1",
            "IP:10.0.0.2",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            wrap(&items, 30),
            [
                "IP:10.0.0.1, IP:10.0.0.2,",
                "DNS:kubernetes.default.svc.cluster.local"
            ]
        );
        assert!(wrap(&[], 30).is_empty());
    }

    #[test]
    fn list_table() {
        let row = |file: &str, sans: &[&str], days| CertRow {
            file: file.into(),
            subject: "CN=x".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            issuer: "CN=etcd-ca".into(),
            not_after: time::OffsetDateTime::UNIX_EPOCH,
            days_left: days,
        };
        let table = render_list(&[
            row("pki/etcd/ca.crt", &[], 3649),
            row(
                "pki/etcd/m1/peer.crt",
                &["IP 10.77.0.11", "DNS m1", "IP 127.0.0.1", "DNS localhost"],
                364,
            ),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "FILE                  SUBJECT  SANS                                  ISSUER      NOT AFTER             DAYS LEFT",
                "pki/etcd/ca.crt       CN=x     -                                     CN=etcd-ca  1970-01-01 00:00 UTC       3649",
                "pki/etcd/m1/peer.crt  CN=x     IP:10.77.0.11, DNS:m1, IP:127.0.0.1,  CN=etcd-ca  1970-01-01 00:00 UTC        364",
                &format!("{:31}DNS:localhost", ""),
            ]
        );
    }
}

//! Headless front ends: print the event stream as plain lines or as JSON lines.

mod plain;

use crate::events::Event;
use crate::summary::{ClusterSummary, SummaryLines};
use serde::Serialize;
use std::io::Write;
use tokio::sync::mpsc::UnboundedReceiver;

pub use plain::PlainPrinter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines, one per output line and per step result.
    Plain,
    /// One JSON object per event, per line.
    Json,
}

/// Drain events until the engine drops its sender, printing each to stdout; returns the
/// summary lines the steps printed (for the end of the run).
pub async fn print_events(
    mut rx: UnboundedReceiver<Event>,
    format: Format,
    mut plain: PlainPrinter,
) -> SummaryLines {
    let mut lines = SummaryLines::default();
    let stdout = std::io::stdout();
    let mut batch = Vec::with_capacity(256);
    // recv_many: print whatever has piled up in one locked write, so a flood of output lines
    // costs one syscall per batch instead of one per line.
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut out = stdout.lock();
        for ev in batch.drain(..) {
            lines.observe(&ev);
            let _ = match format {
                Format::Json => serde_json::to_writer(&mut out, &ev)
                    .map_err(std::io::Error::other)
                    .and_then(|_| out.write_all(b"\n")),
                Format::Plain => plain.write(&mut out, &ev),
            };
        }
        let _ = out.flush();
    }
    lines
}

/// The summary's JSON line: the event stream's last record, `{"event":"summary",...}`. Not an
/// [`Event`]: the engine never sends it, the front end makes it from the events and what the
/// run knows (the kubeconfig, the log file).
#[derive(Serialize)]
struct SummaryRecord<'a> {
    event: &'static str,
    #[serde(flatten)]
    summary: &'a ClusterSummary,
}

/// Print the end-of-run summary: a table for people, one JSON line for programs.
pub fn write_summary(
    out: &mut impl Write,
    format: Format,
    plain: &PlainPrinter,
    summary: &ClusterSummary,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let record = SummaryRecord {
                event: "summary",
                summary,
            };
            serde_json::to_writer(&mut *out, &record).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }
        Format::Plain => plain.write_summary(out, summary),
    }
}

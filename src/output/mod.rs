//! Headless front ends: print the event stream as plain lines or as JSON lines.

mod plain;

use crate::events::Event;
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

/// Drain events until the engine drops its sender, printing each to stdout.
pub async fn print_events(
    mut rx: UnboundedReceiver<Event>,
    format: Format,
    mut plain: PlainPrinter,
) {
    let stdout = std::io::stdout();
    let mut batch = Vec::with_capacity(256);
    // recv_many: print whatever has piled up in one locked write, so a flood of output lines
    // costs one syscall per batch instead of one per line.
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut out = stdout.lock();
        for ev in batch.drain(..) {
            let _ = match format {
                Format::Json => serde_json::to_writer(&mut out, &ev)
                    .map_err(std::io::Error::other)
                    .and_then(|_| out.write_all(b"\n")),
                Format::Plain => plain.write(&mut out, &ev),
            };
        }
        let _ = out.flush();
    }
}

//! The terminal, the event loop and the driver that carries out the app's effects.
//!
//! - [`TerminalGuard`]: raw mode + alternate screen + bracketed paste, restored on drop and by
//!   a panic hook (so a panic never leaves the terminal broken).
//! - [`run_loop`]: keys, engine events and background results in; frames out, coalesced:
//!   every pending engine event is drained (`recv_many`) before a frame, and frames are drawn
//!   at most every [`FRAME`], inside a synchronized update.
//! - [`Driver`]: runs engine plans and connection tests in tokio tasks; the app only gets
//!   their events and results.

use super::{connect, App, Effect, Msg};
use crate::engine::CancellationToken;
use crate::events::Event;
use crate::logging::LogGuard;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, BeginSynchronizedUpdate, EndSynchronizedUpdate,
    EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::Terminal;
use std::io::{self, Write};
use std::sync::Once;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// At most ~30 frames a second.
pub const FRAME: Duration = Duration::from_millis(33);

/// Restores the terminal when dropped.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> io::Result<(TerminalGuard, Terminal<CrosstermBackend<io::Stdout>>)> {
        install_panic_hook();
        enable_raw_mode()?;
        let guard = TerminalGuard;
        let mut out = io::stdout();
        execute!(
            out,
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}

/// Figures of a loop run (the bench reports them).
#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    pub frames: u64,
    pub worst_frame: Duration,
    pub draw_total: Duration,
    pub engine_events: u64,
    pub batches: u64,
}

/// Where the loop's inputs come from.
pub struct Inputs {
    /// Terminal events (keys, paste, resize); None when there is no terminal input (bench).
    pub terminal: Option<UnboundedReceiver<TermEvent>>,
    pub engine: UnboundedReceiver<Event>,
    pub msgs: UnboundedReceiver<Msg>,
}

/// Runs until the app quits (or `stop_after` elapses: the bench). `clock` is when the session
/// started: the app's time is milliseconds since then.
pub async fn run_loop<B: Backend + Write>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut inputs: Inputs,
    driver: &mut Driver,
    stop_after: Option<Duration>,
) -> io::Result<LoopStats> {
    let clock = Instant::now();
    let ms = |t: Instant| t.duration_since(clock).as_millis() as u64;
    let mut stats = LoopStats::default();
    let mut dirty = true;
    let mut last_draw = clock.checked_sub(FRAME).unwrap_or(clock);
    let mut batch: Vec<Event> = Vec::with_capacity(4096);
    loop {
        if app.quit {
            break;
        }
        let now = Instant::now();
        if stop_after.is_some_and(|d| now.duration_since(clock) >= d) {
            break;
        }
        if dirty && now.duration_since(last_draw) >= FRAME {
            app.set_now(ms(now));
            let started = Instant::now();
            execute!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
            terminal.draw(|f| app.draw(f))?;
            execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
            let took = started.elapsed();
            stats.frames += 1;
            stats.draw_total += took;
            stats.worst_frame = stats.worst_frame.max(took);
            last_draw = now;
            dirty = false;
        }
        // Wake for the next frame when something changed; else once a second while a run is
        // going (clocks and durations move).
        let wake = if dirty {
            last_draw + FRAME
        } else {
            Instant::now() + Duration::from_millis(if app.is_running() { 1000 } else { 5000 })
        };
        let has_terminal = inputs.terminal.is_some();
        tokio::select! {
            biased;
            ev = async { inputs.terminal.as_mut().expect("checked").recv().await }, if has_terminal => {
                match ev {
                    Some(ev) => {
                        app.set_now(ms(Instant::now()));
                        app.on_terminal(ev);
                        dirty = true;
                    }
                    None => inputs.terminal = None,
                }
            }
            n = inputs.engine.recv_many(&mut batch, 4096) => {
                if n > 0 {
                    app.set_now(ms(Instant::now()));
                    stats.engine_events += n as u64;
                    stats.batches += 1;
                    for ev in batch.drain(..) {
                        app.on_engine(ev);
                    }
                    dirty = true;
                }
            }
            m = inputs.msgs.recv() => {
                if let Some(m) = m {
                    app.set_now(ms(Instant::now()));
                    app.on_msg(m);
                    dirty = true;
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                if app.is_running() {
                    dirty = true;
                }
            }
        }
        for effect in app.take_effects() {
            driver.apply(effect);
        }
    }
    Ok(stats)
}

/// Carries out effects: background tasks report back through the channels.
pub struct Driver {
    pub events_tx: UnboundedSender<Event>,
    pub msg_tx: UnboundedSender<Msg>,
    cancel: Option<CancellationToken>,
    log: Option<LogGuard>,
    /// Write OSC 52 to stdout (the real terminal); off in the bench.
    pub clipboard: bool,
}

impl Driver {
    /// A driver and the loop inputs it feeds (without terminal input).
    pub fn new() -> (Driver, Inputs) {
        let (events_tx, engine) = unbounded_channel();
        let (msg_tx, msgs) = unbounded_channel();
        (
            Driver {
                events_tx,
                msg_tx,
                cancel: None,
                log: None,
                clipboard: true,
            },
            Inputs {
                terminal: None,
                engine,
                msgs,
            },
        )
    }

    pub fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::InitLog(dir) => {
                if self.log.is_none() {
                    match crate::logging::init(&dir.logs(), "wizard") {
                        Ok(g) => {
                            let _ = self.msg_tx.send(Msg::LogFile(g.file.clone()));
                            self.log = Some(g);
                        }
                        Err(e) => {
                            let _ = self
                                .msg_tx
                                .send(Msg::Notice(true, format!("no log file: {e:#}")));
                        }
                    }
                }
            }
            Effect::OpenFile(_) => {} // handled by the app
            Effect::TestHost { index, host, dir } => {
                let tx = self.msg_tx.clone();
                tokio::spawn(async move {
                    let check = connect::test_host(&host, &dir).await;
                    let _ = tx.send(Msg::HostCheck {
                        index,
                        address: host.address.to_string(),
                        check,
                    });
                });
            }
            Effect::AcceptKey {
                index,
                host,
                fingerprint,
                dir,
            } => {
                let tx = self.msg_tx.clone();
                tokio::spawn(async move {
                    let check = connect::accept_and_test(&host, &dir, &fingerprint).await;
                    let _ = tx.send(Msg::HostCheck {
                        index,
                        address: host.address.to_string(),
                        check,
                    });
                });
            }
            Effect::StartRun { request, kind } => {
                let cancel = CancellationToken::new();
                self.cancel = Some(cancel.clone());
                let events = self.events_tx.clone();
                let msgs = self.msg_tx.clone();
                tokio::spawn(async move {
                    let r = connect::run_request(*request, events, cancel).await;
                    let _ = msgs.send(Msg::RunEnded {
                        kind,
                        result: r.map(|s| s.ok),
                    });
                });
            }
            Effect::ApplyFix {
                request,
                action,
                host,
                destructive_ok,
                stage,
            } => {
                let msgs = self.msg_tx.clone();
                tokio::spawn(async move {
                    let notices = msgs.clone();
                    let mut emit = move |line: String| {
                        tracing::info!(target: "kubewiz::fix", "{line}");
                        let _ = notices.send(Msg::Notice(false, line));
                    };
                    let r = connect::apply_fix(&request, &action, &host, destructive_ok, &mut emit)
                        .await;
                    let _ = msgs.send(Msg::FixDone {
                        stage,
                        result: r.map_err(|e| format!("{e:#}")),
                    });
                });
            }
            Effect::Cancel => {
                if let Some(c) = &self.cancel {
                    c.cancel();
                }
            }
            Effect::Copy(text) => {
                if self.clipboard {
                    let mut out = io::stdout();
                    let _ = out.write_all(osc52(&text).as_bytes());
                    let _ = out.flush();
                }
            }
        }
    }

    /// Stop a run still going (quitting): the engine finishes the running steps.
    pub fn cancel(&self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }
}

/// `ESC ] 52 ; c ; base64 BEL`: sets the terminal's clipboard (tmux passes it on with
/// `set-clipboard on`).
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    format!("\x1b]52;c;{encoded}\x07")
}

/// The wizard on a terminal: `kubewiz` or `kubewiz wizard [-f FILE]`.
pub async fn run_terminal(mut app: App) -> anyhow::Result<App> {
    use futures::StreamExt;
    let (mut driver, mut inputs) = Driver::new();
    let (term_tx, term_rx) = unbounded_channel();
    inputs.terminal = Some(term_rx);
    let (guard, mut terminal) = TerminalGuard::enter()?;
    let reader = tokio::spawn(async move {
        let mut stream = crossterm::event::EventStream::new();
        while let Some(Ok(ev)) = stream.next().await {
            if term_tx.send(ev).is_err() {
                break;
            }
        }
    });
    // SIGTERM / SIGHUP (a closed terminal): stop cleanly, the terminal restored by the guard.
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let tx = driver.msg_tx.clone();
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                if tx.send(Msg::Terminate).is_err() {
                    break;
                }
            }
        })
    };
    for e in app.take_effects() {
        driver.apply(e);
    }
    let result = run_loop(&mut terminal, &mut app, inputs, &mut driver, None).await;
    driver.cancel();
    reader.abort();
    signals.abort();
    drop(terminal);
    drop(guard);
    result?;
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_standard_base64() {
        let osc = |b64: &str| format!("\x1b]52;c;{b64}\x07");
        assert_eq!(osc52(""), osc(""));
        assert_eq!(osc52("f"), osc("Zg=="));
        assert_eq!(osc52("fo"), osc("Zm8="));
        assert_eq!(osc52("foo"), osc("Zm9v"));
        assert_eq!(osc52("foobar"), osc("Zm9vYmFy"));
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }
}

//! TUI bench (driven by scripts/bench-tui): a flood of output into the real app loop.
//!
//! Synthetic `Event::Output` lines go over the real engine channel into the real
//! `tui::runner::run_loop` (coalesced rendering, `recv_many`), which draws the dashboard with
//! the real crossterm backend into /dev/null (a 120×40 viewport). Reports CPU (% of one core,
//! getrusage over the whole process, producer included), frames drawn, the worst frame, and
//! RSS (peak, and sampled over time to show it stays flat: the logs are ring buffers).
//!
//! Usage: cargo bench --bench tui_bench -- [--secs 30] [--rate 10000]

use kubewiz::events::{Event, OutputStream, StageSummary, StepRef};
use kubewiz::tui::runner::{run_loop, Driver};
use kubewiz::tui::theme::Theme;
use kubewiz::tui::App;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::BufWriter;
use std::time::{Duration, Instant};

/// CPU time (user + system) of the whole process.
fn cpu_time() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// `VmRSS` (now) or `VmHWM` (peak) in KiB. (getrusage's ru_maxrss would count the RSS of the
/// process that forked this one: cargo.)
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = arg("--secs", 30);
    let rate = arg("--rate", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let hosts: Vec<String> = (1..=3).map(|i| format!("node{i}")).collect();
        let stages = vec![StageSummary::each_host("flood", &["output"], &hosts)];
        let mut app = App::for_stages(Theme::COLOR, "bench", &stages);
        let sink = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let backend = CrosstermBackend::new(BufWriter::with_capacity(64 * 1024, sink));
        let mut terminal = Terminal::with_options(
            backend,
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, 120, 40)),
            },
        )
        .unwrap();
        let (mut driver, inputs) = Driver::new();
        driver.clipboard = false;
        let tx = driver.events_tx.clone();
        tx.send(Event::PlanStarted {
            cluster: "bench".into(),
            stages,
            total_steps: 3,
            resumed: false,
        })
        .unwrap();
        tx.send(Event::StageStarted { stage: "flood".into() }).unwrap();
        for h in &hosts {
            tx.send(Event::StepStarted {
                at: StepRef::new("flood", "output", h),
                attempt: 1,
            })
            .unwrap();
        }
        // The producer: `rate` lines a second in 10 ms ticks, round robin over the hosts.
        let duration = Duration::from_secs(secs);
        let producer = tokio::spawn(async move {
            let per_tick = (rate / 100).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let start = Instant::now();
            let mut n: u64 = 0;
            while start.elapsed() < duration {
                tick.tick().await;
                for _ in 0..per_tick {
                    let host = format!("node{}", n % 3 + 1);
                    let line = format!(
                        "{n:>9} {host} Nov 23 16:31:30 etcd[812]: rafthttp: health check for peer ed3d9c87aff5aaf0 could not connect: x509"
                    );
                    let _ = tx.send(Event::Output {
                        at: StepRef::new("flood", "output", &host),
                        stream: OutputStream::Stdout,
                        line,
                    });
                    n += 1;
                }
            }
            (n, start.elapsed())
        });
        // RSS samples every 5 s.
        let sampler = tokio::spawn(async move {
            let mut samples = vec![];
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                samples.push(status_kib("VmRSS:"));
                if samples.len() as u64 > secs / 5 {
                    break samples;
                }
            }
        });
        let cpu0 = cpu_time();
        let wall0 = Instant::now();
        let stats = run_loop(
            &mut terminal,
            &mut app,
            inputs,
            &mut driver,
            Some(duration + Duration::from_millis(200)),
        )
        .await
        .unwrap();
        let wall = wall0.elapsed();
        let cpu1 = cpu_time();
        let maxrss = status_kib("VmHWM:");
        let (lines, produced_for) = producer.await.unwrap();
        let samples = sampler.await.unwrap();
        let cpu_pct = (cpu1 - cpu0).as_secs_f64() / wall.as_secs_f64() * 100.0;
        let kept: usize = (0..3)
            .filter_map(|h| app.dash.as_ref().unwrap().ring(0, h, 0).map(|r| r.len()))
            .sum();
        println!("## TUI bench: {rate} output lines/s for {secs} s into the dashboard\n");
        println!("| figure | value | target |");
        println!("|---|---|---|");
        println!("| lines sent | {lines} ({:.0}/s) | {rate}/s |", lines as f64 / produced_for.as_secs_f64());
        println!("| lines handled by the app | {} in {} batches (recv_many) | all |", stats.engine_events.saturating_sub(5), stats.batches);
        println!("| CPU, whole process | {cpu_pct:.1}% of one core | ≤ 25% |");
        println!("| frames drawn | {} ({:.1}/s) | ≤ ~30/s |", stats.frames, stats.frames as f64 / wall.as_secs_f64());
        println!("| worst frame (draw + write) | {:.2} ms | ≤ 50 ms |", stats.worst_frame.as_secs_f64() * 1000.0);
        println!("| mean frame | {:.2} ms | |", stats.draw_total.as_secs_f64() * 1000.0 / stats.frames.max(1) as f64);
        println!("| peak RSS | {:.1} MiB | bounded |", maxrss as f64 / 1024.0);
        println!(
            "| RSS every 5 s | {} | flat |",
            samples
                .iter()
                .map(|k| format!("{:.1}", *k as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(", ")
                + " MiB"
        );
        println!("| log lines kept (3 rings) | {kept} of {lines} | ≤ 3 × {} |", kubewiz::tui::logbuf::LINES_PER_STEP);
        let ok = cpu_pct <= 25.0 && stats.worst_frame <= Duration::from_millis(50);
        println!("\nverdict: {}", if ok { "PASS" } else { "FAIL" });
    });
}

//! Probes from the control machine, for a host kubewiz cannot reach over SSH: a TCP connect to
//! its SSH port and one ping. Each gives one evidence line in a fixed wording that the failure
//! catalog's S entries match (documented in the header of assets/failures.yaml):
//!
//! ```text
//! tcp connect to 10.77.0.13:22: open, answers "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
//! tcp connect to 10.77.0.13:22: refused (Connection refused (os error 111))
//! tcp connect to 10.77.0.99:22: no route to host (No route to host (os error 113))
//! tcp connect to 10.77.0.13:22: no answer within 4s
//! ping 10.77.0.13: answers (time=0.057 ms)
//! ping 10.77.0.99: no answer within 2s (1 packets transmitted, 0 received, 100% packet loss, time 0ms)
//! ```
//!
//! Both probes run at once and are bounded (4 s and about 2 s), so a diagnosis of an
//! unreachable host costs a few seconds at most.

use std::io;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The evidence source of the probes' lines.
pub const SOURCE: &str = "from the control machine";
/// The evidence source of an SSH error's message.
pub const SSH_SOURCE: &str = "ssh";

/// Longer than Linux's ARP resolution (3 probes 1 s apart), so an address nobody has on the
/// local subnet reports "no route to host" rather than a timeout.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(4);
/// How long the SSH server gets to send its banner once the port accepted.
const BANNER_TIMEOUT: Duration = Duration::from_millis(1500);
/// `ping -W`: seconds to wait for the one reply.
pub const PING_WAIT_SECS: u32 = 2;
/// Bound on the ping process itself (name resolution included).
const PING_TIMEOUT: Duration = Duration::from_secs(PING_WAIT_SECS as u64 + 2);

/// What a TCP connect to the SSH port found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpVerdict {
    /// The port accepted; `banner` is the first line the server sent, if any in time.
    Open { banner: Option<String> },
    /// The host answered with a reset: it is up, nothing listens on the port (or a firewall
    /// rejects with a reset).
    Refused(String),
    /// "No route to host": no ARP answer on the local subnet (host off, address unused), an
    /// ICMP host-unreachable from a router, or a firewall's REJECT (icmp-host-prohibited).
    NoRoute(String),
    /// "Network is unreachable": this machine has no route to that network at all.
    NetworkUnreachable(String),
    /// No answer at all within the timeout: a firewall drops the packets, or the host is down
    /// behind a router.
    TimedOut(Duration),
    /// Anything else (name resolution, ...), with the error's text.
    Failed(String),
}

/// Sorts a connect error into a verdict; the error's own text is kept as the detail.
pub fn classify(err: &io::Error) -> TcpVerdict {
    let text = err.to_string();
    match err.kind() {
        io::ErrorKind::ConnectionRefused => TcpVerdict::Refused(text),
        io::ErrorKind::HostUnreachable => TcpVerdict::NoRoute(text),
        io::ErrorKind::NetworkUnreachable => TcpVerdict::NetworkUnreachable(text),
        io::ErrorKind::TimedOut => TcpVerdict::TimedOut(TCP_TIMEOUT),
        _ => TcpVerdict::Failed(text),
    }
}

/// The evidence line of a TCP probe of `address:port`.
pub fn tcp_line(address: &str, port: u16, verdict: &TcpVerdict) -> String {
    let what = match verdict {
        TcpVerdict::Open {
            banner: Some(banner),
        } => format!("open, answers {banner:?}"),
        TcpVerdict::Open { banner: None } => format!(
            "open, but sent no SSH banner within {}s",
            BANNER_TIMEOUT.as_secs_f32()
        ),
        TcpVerdict::Refused(e) => format!("refused ({e})"),
        TcpVerdict::NoRoute(e) => format!("no route to host ({e})"),
        TcpVerdict::NetworkUnreachable(e) => format!("network unreachable ({e})"),
        TcpVerdict::TimedOut(after) => format!("no answer within {}s", after.as_secs()),
        TcpVerdict::Failed(e) => format!("failed ({e})"),
    };
    format!("tcp connect to {}: {what}", socket_label(address, port))
}

fn socket_label(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Connects to `address:port` (resolving a name), reads the server's first line, closes.
pub async fn tcp_probe(address: &str, port: u16, timeout: Duration) -> TcpVerdict {
    let connect = TcpStream::connect((address, port));
    let mut stream = match tokio::time::timeout(timeout, connect).await {
        Err(_) => return TcpVerdict::TimedOut(timeout),
        Ok(Err(e)) => return classify(&e),
        Ok(Ok(s)) => s,
    };
    let mut buf = vec![0u8; 256];
    let mut got = 0;
    let deadline = Instant::now() + BANNER_TIMEOUT;
    while got < buf.len() && !buf[..got].contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf[got..])).await {
            Ok(Ok(n)) if n > 0 => got += n,
            _ => break,
        }
    }
    let first = String::from_utf8_lossy(&buf[..got]);
    let banner = first
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    TcpVerdict::Open { banner }
}

/// One line out of `ping -c 1 -W N`'s exit status and output: the reply's time, or why there
/// was none (its statistics line, and an ICMP error such as "Destination Host Unreachable").
pub fn ping_summary(address: &str, exit_code: Option<i32>, output: &str) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle)).copied();
    if exit_code == Some(0) {
        let time = find("bytes from")
            .and_then(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let at = words.iter().position(|w| w.starts_with("time="))?;
                Some(format!(" ({})", words[at..].join(" ")))
            })
            .unwrap_or_default();
        return format!("ping {address}: answers{time}");
    }
    let stats = find("packets transmitted");
    let error = lines
        .iter()
        .find(|l| l.starts_with("From ") || l.starts_with("ping:"))
        .copied();
    match (stats, error) {
        // exit 1: sent, no reply
        (Some(stats), error) => {
            let icmp = error.map(|e| format!("{e}; ")).unwrap_or_default();
            format!("ping {address}: no answer within {PING_WAIT_SECS}s ({icmp}{stats})")
        }
        (None, Some(error)) => format!("ping {address}: cannot ping ({error})"),
        (None, None) => format!(
            "ping {address}: cannot ping (exit status {})",
            exit_code.map_or("none".to_string(), |c| c.to_string())
        ),
    }
}

/// `ping -c 1 -W 2 ADDRESS`, summarised in one line; a control machine without ping says so.
pub async fn ping_probe(address: &str) -> String {
    let mut cmd = tokio::process::Command::new("ping");
    cmd.args(["-c", "1", "-W", &PING_WAIT_SECS.to_string(), "--", address])
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(PING_TIMEOUT, cmd.output()).await {
        Err(_) => format!(
            "ping {address}: cannot ping (ping did not end within {}s)",
            PING_TIMEOUT.as_secs()
        ),
        Ok(Err(e)) => format!("ping {address}: cannot run ping ({e})"),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            ping_summary(address, out.status.code(), &text)
        }
    }
}

/// Both probes at once: the TCP line, then the ping line.
pub async fn probe(address: &str, port: u16) -> Vec<String> {
    let (tcp, ping) = tokio::join!(tcp_probe(address, port, TCP_TIMEOUT), ping_probe(address));
    vec![tcp_line(address, port, &tcp), ping]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn os_errors_are_classified_by_kind() {
        // The kernel's errno values: what tokio's connect returns for each.
        let refused = classify(&io::Error::from_raw_os_error(111));
        assert_eq!(
            refused,
            TcpVerdict::Refused("Connection refused (os error 111)".into())
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(113)),
            TcpVerdict::NoRoute("No route to host (os error 113)".into())
        );
        assert!(matches!(
            classify(&io::Error::from_raw_os_error(101)),
            TcpVerdict::NetworkUnreachable(_)
        ));
        assert!(matches!(
            classify(&io::Error::from_raw_os_error(110)),
            TcpVerdict::TimedOut(_)
        ));
        assert!(matches!(
            classify(&io::Error::other("failed to lookup address information")),
            TcpVerdict::Failed(_)
        ));
    }

    #[test]
    fn tcp_lines_have_the_catalogs_wording() {
        assert_eq!(
            tcp_line(
                "10.77.0.13",
                22,
                &TcpVerdict::Refused("Connection refused (os error 111)".into())
            ),
            "tcp connect to 10.77.0.13:22: refused (Connection refused (os error 111))"
        );
        assert_eq!(
            tcp_line("fe80::1", 2222, &TcpVerdict::TimedOut(TCP_TIMEOUT)),
            "tcp connect to [fe80::1]:2222: no answer within 4s"
        );
        assert_eq!(
            tcp_line(
                "10.77.0.13",
                22,
                &TcpVerdict::Open {
                    banner: Some("SSH-2.0-OpenSSH_9.2p1".into())
                }
            ),
            "tcp connect to 10.77.0.13:22: open, answers \"SSH-2.0-OpenSSH_9.2p1\""
        );
    }

    #[test]
    fn ping_output_is_summarised_in_one_line() {
        // iputils 20221126, LC_ALL=C, on this machine: a lab machine, and an unused lab address.
        let answered = "PING 10.77.0.13 (10.77.0.13) 56(84) bytes of data.\n\
            64 bytes from 10.77.0.13: icmp_seq=1 ttl=64 time=0.572 ms\n\n\
            --- 10.77.0.13 ping statistics ---\n\
            1 packets transmitted, 1 received, 0% packet loss, time 0ms\n\
            rtt min/avg/max/mdev = 0.572/0.572/0.572/0.000 ms\n";
        assert_eq!(
            ping_summary("10.77.0.13", Some(0), answered),
            "ping 10.77.0.13: answers (time=0.572 ms)"
        );
        let silent = "PING 10.77.0.99 (10.77.0.99) 56(84) bytes of data.\n\n\
            --- 10.77.0.99 ping statistics ---\n\
            1 packets transmitted, 0 received, 100% packet loss, time 0ms\n\n";
        assert_eq!(
            ping_summary("10.77.0.99", Some(1), silent),
            "ping 10.77.0.99: no answer within 2s (1 packets transmitted, 0 received, 100% packet loss, time 0ms)"
        );
        // `ping -c 4 -W 2 10.77.0.99`: the ICMP errors come once ARP gives up.
        let icmp = "PING 10.77.0.99 (10.77.0.99) 56(84) bytes of data.\n\
            From 10.77.0.1 icmp_seq=1 Destination Host Unreachable\n\
            From 10.77.0.1 icmp_seq=2 Destination Host Unreachable\n\
            From 10.77.0.1 icmp_seq=3 Destination Host Unreachable\n\n\
            --- 10.77.0.99 ping statistics ---\n\
            4 packets transmitted, 0 received, +3 errors, 100% packet loss, time 3058ms\n\
            pipe 4\n";
        assert_eq!(
            ping_summary("10.77.0.99", Some(1), icmp),
            "ping 10.77.0.99: no answer within 2s (From 10.77.0.1 icmp_seq=1 Destination Host Unreachable; 4 packets transmitted, 0 received, +3 errors, 100% packet loss, time 3058ms)"
        );
        // exit 2: a name that does not resolve
        assert_eq!(
            ping_summary(
                "nosuchhost.invalid",
                Some(2),
                "\nping: nosuchhost.invalid: Name or service not known\n"
            ),
            "ping nosuchhost.invalid: cannot ping (ping: nosuchhost.invalid: Name or service not known)"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_an_open_one_shows_its_banner() {
        // A port that was just free on loopback: nothing listens, the kernel resets.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let v = tcp_probe("127.0.0.1", port, TCP_TIMEOUT).await;
        assert!(matches!(v, TcpVerdict::Refused(_)), "{v:?}");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"SSH-2.0-test\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let v = tcp_probe("127.0.0.1", port, TCP_TIMEOUT).await;
        assert_eq!(
            v,
            TcpVerdict::Open {
                banner: Some("SSH-2.0-test".into())
            }
        );
    }
}

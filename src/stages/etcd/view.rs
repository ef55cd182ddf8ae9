//! etcd as its clients see it, for `kubewiz diagnose --stage etcd`: every member checked on its
//! cluster address — client port with `GET /health`, peer port with a handshake — through each
//! member's sshd (an SSH tunnel, so the path is the members' network, firewall included), with
//! the cluster directory's CA and health-check client certificate: the control machine's view,
//! not the member's own copy of the CA. Plus the certificate files on each member compared with
//! the cluster file's address, and each unit's state.
//!
//! The result is findings: evidence lines in kubewiz's own wording, which the catalog's entries
//! (E1, E2, E9, E13 cut off, E14 quorum lost) match like any log line.

use super::{CLIENT_PORT, PEER_PORT, PKI_DIR};
use crate::config::Role;
use crate::pki::tls_check::{ClientIdentity, Rejection, TlsCheck};
use crate::pki::CertInfo;
use crate::ssh::{ExecRequest, TunnelError};
use crate::stages::fix::FixContext;
use crate::stages::{Finding, Severity};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// A member this many raft entries behind the most advanced one is reported as far behind
/// (a healthy member trails by a handful; catching up after a restart takes seconds).
const FAR_BEHIND: u64 = 10_000;
/// How long one member may take to answer one check through one tunnel.
const ANSWER_WITHIN: Duration = Duration::from_secs(4);
/// Source of the findings made from the client checks.
pub const SOURCE: &str = "client view";
/// Source of the findings about certificate files.
const FILES_SOURCE: &str = "certificate files";

/// A member as the cluster file has it.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub address: String,
}

/// What a check from `via` to a member's port found.
#[derive(Debug, Clone)]
pub enum Reach {
    /// TLS happened: what it saw.
    Tls(Box<TlsCheck>),
    /// The tunnel did not open: refused (or no route) from `via`.
    Refused,
    /// No answer within the deadline (dropped).
    NoAnswer,
    /// `via` could not be used (no SSH, forwarding disabled): says nothing about the member.
    Unknown(String),
}

/// Everything gathered, as plain data (the analysis below is a pure function of it).
#[derive(Debug, Default)]
pub struct Gathered {
    /// (via, target, port) → what was seen.
    pub reach: BTreeMap<(String, String, u16), Reach>,
    /// member → `systemctl show -p ActiveState` (None: could not ask).
    pub active: BTreeMap<String, Option<String>>,
    /// member → (file name, parsed certificate) for server.crt and peer.crt.
    pub files: BTreeMap<String, Vec<(String, CertInfo)>>,
    /// member → fingerprint of its ca.crt, compared with the cluster directory's.
    pub ca_fingerprint: BTreeMap<String, String>,
    pub cluster_ca_fingerprint: String,
    /// member → its raft index, as it reports it itself.
    pub raft_index: BTreeMap<String, u64>,
}

/// The registry's view function for etcd.
pub fn view<'a>(ctx: &'a FixContext<'a>) -> futures::future::BoxFuture<'a, Vec<Finding>> {
    Box::pin(async move {
        let members: Vec<Member> = ctx
            .spec
            .hosts_with_role(Role::Etcd)
            .iter()
            .map(|h| Member {
                name: h.name.clone(),
                address: h.address.clone(),
            })
            .collect();
        match gather(ctx, &members).await {
            Ok(g) => analyse(&members, &g),
            // Without the cluster's PKI there is no client view; the local checks still run.
            Err(why) => members
                .iter()
                .map(|m| Finding {
                    host: m.name.clone(),
                    severity: Severity::Warning,
                    source: SOURCE.into(),
                    line: format!("no client view: {why}"),
                })
                .collect(),
        }
    })
}

async fn gather(ctx: &FixContext<'_>, members: &[Member]) -> Result<Gathered, String> {
    let read = |p: std::path::PathBuf| {
        std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let ca = read(crate::pki::etcd_ca_cert_path(ctx.dir))?;
    let (crt, key) = crate::pki::etcd_healthcheck_client_paths(ctx.dir);
    let identity = ClientIdentity::from_pem(&ca, &read(crt)?, &read(key)?)
        .map_err(|e| format!("the cluster directory's etcd PKI: {e:#}"))?;
    let cluster_ca_fingerprint = crate::pki::parse_cert_pem(&ca)
        .map_err(|e| format!("the cluster directory's etcd CA: {e:#}"))?
        .fingerprint();
    let mut g = Gathered {
        cluster_ca_fingerprint,
        ..Gathered::default()
    };
    let per_via = members.iter().map(|via| {
        let identity = &identity;
        async move {
            let mut reach = vec![];
            let conn = match ctx.pool.connection(&via.name).await {
                Ok(c) => c,
                Err(e) => {
                    for t in members {
                        for port in [CLIENT_PORT, PEER_PORT] {
                            let r = Reach::Unknown(e.to_string());
                            reach.push(((via.name.clone(), t.name.clone(), port), r));
                        }
                    }
                    return (via.name.clone(), reach, MemberState::default());
                }
            };
            for t in members {
                for port in [CLIENT_PORT, PEER_PORT] {
                    let r = check(&conn, identity, t, port).await;
                    tracing::debug!(via = %via.name, target = %t.name, port, reach = %describe(&r), "etcd client view");
                    reach.push(((via.name.clone(), t.name.clone(), port), r));
                }
            }
            (via.name.clone(), reach, member_state(&conn).await)
        }
    });
    for (name, reach, state) in futures::future::join_all(per_via).await {
        g.reach.extend(reach);
        g.active.insert(name.clone(), state.active);
        g.files.insert(name.clone(), state.files);
        if let Some(ca) = state.ca_fingerprint {
            g.ca_fingerprint.insert(name.clone(), ca);
        }
        if let Some(index) = state.raft_index {
            g.raft_index.insert(name, index);
        }
    }
    Ok(g)
}

async fn check(
    conn: &crate::ssh::Connection,
    identity: &ClientIdentity,
    target: &Member,
    port: u16,
) -> Reach {
    let Ok(ip) = target.address.parse::<IpAddr>() else {
        return Reach::Unknown(format!("{} is not an IP address", target.address));
    };
    match conn.tunnel(&target.address, port, ANSWER_WITHIN).await {
        Ok(stream) => {
            // The client port answers /health; the peer port is only shaken hands with.
            let path = (port == CLIENT_PORT).then_some("/health");
            Reach::Tls(Box::new(identity.check(stream, ip, path, ANSWER_WITHIN).await))
        }
        Err(TunnelError::ConnectFailed { .. }) => Reach::Refused,
        Err(TunnelError::NoAnswer { .. }) => Reach::NoAnswer,
        Err(e) => Reach::Unknown(e.to_string()),
    }
}

/// What a member says about itself: its unit's state, its certificate files (public
/// certificates only) and its raft index.
#[derive(Debug, Default)]
struct MemberState {
    active: Option<String>,
    files: Vec<(String, CertInfo)>,
    ca_fingerprint: Option<String>,
    raft_index: Option<u64>,
}

async fn member_state(conn: &crate::ssh::Connection) -> MemberState {
    let etcdctl = super::etcdctl();
    let script = format!(
        "echo \"active=$(systemctl show etcd -p ActiveState --value 2>/dev/null)\"; \
         echo \"raft=$({etcdctl} endpoint status -w fields 2>/dev/null | sed -n 's/^\"RaftIndex\" : //p')\"; \
         for f in server.crt peer.crt ca.crt; do echo \"@@ $f\"; cat {PKI_DIR}/$f 2>/dev/null; done"
    );
    let req = ExecRequest::new(script)
        .sudo(true)
        .timeout(Duration::from_secs(15));
    let mut lines = vec![];
    let mut state = MemberState::default();
    if conn.exec(&req, &mut |l| lines.push(l.line)).await.is_err() {
        return state;
    }
    let mut sections: Vec<(String, String)> = vec![];
    for l in lines {
        if let Some(a) = l.strip_prefix("active=") {
            state.active = Some(a.trim().to_string()).filter(|a| !a.is_empty());
        } else if let Some(r) = l.strip_prefix("raft=") {
            state.raft_index = r.trim().parse().ok();
        } else if let Some(name) = l.strip_prefix("@@ ") {
            sections.push((name.to_string(), String::new()));
        } else if let Some((_, text)) = sections.last_mut() {
            text.push_str(&l);
            text.push('\n');
        }
    }
    for (name, text) in sections {
        let Ok(info) = crate::pki::parse_cert_pem(text.as_bytes()) else {
            continue;
        };
        if name == "ca.crt" {
            state.ca_fingerprint = Some(info.fingerprint());
        } else {
            state.files.push((name, info));
        }
    }
    state
}

/// The findings, per member. Pure: every rule here is tested below on constructed data.
pub fn analyse(members: &[Member], g: &Gathered) -> Vec<Finding> {
    let mut out = vec![];
    let running = |m: &Member| g.active.get(&m.name).cloned().flatten().as_deref() == Some("active");
    let problem = |host: &str, source: &str, line: String| Finding {
        host: host.to_string(),
        severity: Severity::Problem,
        source: source.to_string(),
        line,
    };

    // Certificates as presented on the cluster address, once per member and port (the first
    // via that got a certificate says it; another via would show the same certificate).
    for t in members {
        for port in [CLIENT_PORT, PEER_PORT] {
            let seen = members.iter().find_map(|via| {
                match g.reach.get(&(via.name.clone(), t.name.clone(), port)) {
                    Some(Reach::Tls(c)) if c.presented.is_some() => Some((via, c)),
                    _ => None,
                }
            });
            let Some((via, c)) = seen else { continue };
            let url = format!("https://{}:{port}", t.address);
            let names = c.presented.as_ref().map(names_of).unwrap_or_default();
            let line = match &c.rejected {
                None => None,
                Some(Rejection::NotValidForAddress) => Some(format!(
                    "through {}: {url} presents a certificate that does not name {} (it names {names})",
                    via.name, t.address
                )),
                Some(Rejection::UnknownCa) => Some(format!(
                    "through {}: {url} presents a certificate not signed by the cluster's etcd CA (issuer {})",
                    via.name,
                    c.presented.as_ref().map(|p| p.issuer_text.as_str()).unwrap_or("unknown")
                )),
                Some(Rejection::Expired) => c.presented.as_ref().map(|p| {
                    format!(
                        "through {}: {url} presents a certificate outside its validity: current time {} is after {}",
                        via.name,
                        crate::pki::rfc3339(time::OffsetDateTime::now_utc()),
                        crate::pki::rfc3339(p.not_after)
                    )
                }),
                Some(Rejection::Other(why)) => Some(format!(
                    "through {}: {url} presents a certificate that does not verify: {why}",
                    via.name
                )),
            };
            if let Some(line) = line {
                out.push(problem(&t.name, SOURCE, line));
            }
        }
    }

    // Certificate files on each member against the cluster file's address, and its CA copy.
    for t in members {
        for (file, info) in g.files.get(&t.name).into_iter().flatten() {
            let names_address = info.sans.iter().any(|s| match s {
                crate::pki::San::Ip(ip) => ip.to_string() == t.address,
                crate::pki::San::Dns(d) => *d == t.address,
            });
            if !names_address {
                out.push(problem(
                    &t.name,
                    FILES_SOURCE,
                    format!(
                        "{PKI_DIR}/{file} on {} does not name {}, the member's address in the cluster file (it names {})",
                        t.name,
                        t.address,
                        names_of(info)
                    ),
                ));
            }
        }
        if let Some(fp) = g.ca_fingerprint.get(&t.name) {
            if *fp != g.cluster_ca_fingerprint {
                out.push(problem(
                    &t.name,
                    FILES_SOURCE,
                    format!(
                        "{PKI_DIR}/ca.crt on {} is not the cluster's etcd CA (sha256 {} there, {} in the cluster directory)",
                        t.name,
                        &fp[..16.min(fp.len())],
                        &g.cluster_ca_fingerprint[..16.min(g.cluster_ca_fingerprint.len())]
                    ),
                ));
            }
        }
    }

    // Who cannot exchange with whom on the peer port, among running members. A member is cut
    // off when it fails with more peers than any other member does.
    let runners: Vec<&Member> = members.iter().filter(|m| running(m)).collect();
    let lost = |via: &Member, t: &Member| -> Option<&'static str> {
        match g.reach.get(&(via.name.clone(), t.name.clone(), PEER_PORT)) {
            Some(Reach::NoAnswer) => Some("no answer"),
            Some(Reach::Refused) => Some("refused"),
            _ => None,
        }
    };
    let mut failing: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for a in &runners {
        for b in &runners {
            if a.name == b.name {
                continue;
            }
            if let Some(how) = lost(b, a) {
                failing
                    .entry(a.name.as_str())
                    .or_default()
                    .0
                    .push(format!("{} ({how})", b.name));
            }
            if let Some(how) = lost(a, b) {
                failing
                    .entry(a.name.as_str())
                    .or_default()
                    .1
                    .push(format!("{} ({how})", b.name));
            }
        }
    }
    let worst = failing
        .values()
        .map(|(i, o)| peers_of(i, o))
        .max()
        .unwrap_or(0);
    for (name, (inbound, outbound)) in &failing {
        let m = members.iter().find(|m| m.name == *name).expect("a member");
        let mut parts = vec![];
        if !inbound.is_empty() {
            parts.push(format!(
                "its peer port {PEER_PORT} does not answer {}",
                inbound.join(", ")
            ));
        }
        if !outbound.is_empty() {
            parts.push(format!(
                "it does not reach {} on {PEER_PORT}",
                outbound.join(", ")
            ));
        }
        let direction = match (inbound.is_empty(), outbound.is_empty()) {
            (false, false) => "both directions",
            (false, true) => "inbound only",
            _ => "outbound only",
        };
        // Only the member that fails with the most peers is called cut off; the others are
        // told whom they lost, in words no catalog entry blames them for.
        let (severity, what) = if peers_of(inbound, outbound) == worst {
            (Severity::Problem, "is cut off from its peers")
        } else {
            (Severity::Warning, "does not exchange with every peer")
        };
        let line = format!(
            "{} ({}) {what} ({direction}): {}",
            m.name,
            m.address,
            parts.join("; ")
        );
        out.push(Finding {
            host: m.name.clone(),
            severity,
            source: SOURCE.into(),
            line,
        });
    }

    // Quorum: a majority of the members must run. Said on the members that do run (the stopped
    // ones are told so by their own unit state, E11).
    let total = members.len();
    let needs = total / 2 + 1;
    if !runners.is_empty() && runners.len() < needs {
        let up: Vec<&str> = runners.iter().map(|m| m.name.as_str()).collect();
        let down: Vec<String> = members
            .iter()
            .filter(|m| !running(m))
            .map(|m| {
                let state = g.active.get(&m.name).cloned().flatten();
                format!("{} ({})", m.name, state.as_deref().unwrap_or("unreachable"))
            })
            .collect();
        for m in &runners {
            out.push(problem(
                &m.name,
                SOURCE,
                format!(
                    "quorum lost: {} of {total} members running ({}), a quorum needs {needs}; not running: {}",
                    runners.len(),
                    up.join(", "),
                    down.join(", ")
                ),
            ));
        }
    }

    // A member whose sshd cannot be used for the view: say so, or its silence reads as health.
    for via in members {
        let mut reasons: Vec<&str> = g
            .reach
            .iter()
            .filter(|((v, _, _), _)| *v == via.name)
            .filter_map(|(_, r)| match r {
                Reach::Unknown(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        reasons.dedup();
        if let Some(why) = reasons.first() {
            out.push(Finding {
                host: via.name.clone(),
                severity: Severity::Warning,
                source: SOURCE.into(),
                line: format!("no client view through {}: {why}", via.name),
            });
        }
    }

    // A member far behind the most advanced one: it does not apply what it is sent, or is still
    // catching up from a snapshot.
    if let Some((ahead, &max)) = g.raft_index.iter().max_by_key(|(_, i)| **i) {
        for (name, &index) in &g.raft_index {
            if max - index >= FAR_BEHIND {
                out.push(problem(
                    name,
                    SOURCE,
                    format!(
                        "{name} is far behind: raft index {index}, {} behind {ahead} ({max})",
                        max - index
                    ),
                ));
            }
        }
    }

    // A running member that answers TLS but says it is unhealthy, from every via that got in.
    for t in &runners {
        let bodies: Vec<(&str, &str)> = members
            .iter()
            .filter_map(|via| match g.reach.get(&(via.name.clone(), t.name.clone(), CLIENT_PORT)) {
                Some(Reach::Tls(c)) => c.body.as_deref().map(|b| (via.name.as_str(), b)),
                _ => None,
            })
            .collect();
        if let Some((via, body)) = bodies.iter().find(|(_, b)| !b.contains("\"health\":\"true\"")) {
            out.push(problem(
                &t.name,
                SOURCE,
                format!(
                    "through {via}: https://{}:{CLIENT_PORT}/health answers {body}",
                    t.address
                ),
            ));
        }
    }
    out
}

/// One line for the log: what a check saw, without the certificate's bytes.
fn describe(r: &Reach) -> String {
    match r {
        Reach::Tls(c) => format!(
            "tls rejected={:?} error={:?} body={:?} names={}",
            c.rejected,
            c.error,
            c.body,
            c.presented.as_ref().map(names_of).unwrap_or_default()
        ),
        Reach::Refused => "refused".into(),
        Reach::NoAnswer => "no answer".into(),
        Reach::Unknown(why) => format!("unknown: {why}"),
    }
}

/// How many distinct peers a member fails with.
fn peers_of(inbound: &[String], outbound: &[String]) -> usize {
    let mut peers: Vec<&str> = inbound
        .iter()
        .chain(outbound)
        .map(|p| p.split(' ').next().unwrap_or(p))
        .collect();
    peers.sort();
    peers.dedup();
    peers.len()
}

/// `IP 10.77.0.99, DNS localhost` → `10.77.0.99, localhost`.
fn names_of(c: &CertInfo) -> String {
    let names: Vec<String> = c
        .sans
        .iter()
        .map(|s| match s {
            crate::pki::San::Ip(ip) => ip.to_string(),
            crate::pki::San::Dns(d) => d.clone(),
        })
        .collect();
    if names.is_empty() {
        "no names".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Member> {
        (1..=3)
            .map(|i| Member {
                name: format!("node{i}"),
                address: format!("10.77.0.1{i}"),
            })
            .collect()
    }

    /// Every member running and every check answered with a healthy body.
    fn healthy() -> Gathered {
        let mut g = Gathered::default();
        for via in members() {
            g.active.insert(via.name.clone(), Some("active".into()));
            for t in members() {
                for port in [CLIENT_PORT, PEER_PORT] {
                    let body = (port == CLIENT_PORT).then(|| "{\"health\":\"true\"}".to_string());
                    let c = TlsCheck {
                        presented: None,
                        rejected: None,
                        error: None,
                        body,
                    };
                    g.reach
                        .insert((via.name.clone(), t.name.clone(), port), Reach::Tls(Box::new(c)));
                }
            }
        }
        g
    }

    fn lines(f: &[Finding], host: &str, severity: Severity) -> Vec<String> {
        f.iter()
            .filter(|f| f.host == host && f.severity == severity)
            .map(|f| f.line.clone())
            .collect()
    }

    #[test]
    fn a_healthy_cluster_has_no_findings() {
        assert_eq!(analyse(&members(), &healthy()), vec![]);
    }

    #[test]
    fn the_member_no_peer_reaches_is_the_one_cut_off() {
        let mut g = healthy();
        for other in ["node1", "node2"] {
            g.reach
                .insert((other.into(), "node3".into(), PEER_PORT), Reach::NoAnswer);
            g.reach
                .insert(("node3".into(), other.into(), PEER_PORT), Reach::NoAnswer);
        }
        let f = analyse(&members(), &g);
        assert_eq!(
            lines(&f, "node3", Severity::Problem),
            ["node3 (10.77.0.13) is cut off from its peers (both directions): its peer port 2380 \
              does not answer node1 (no answer), node2 (no answer); it does not reach node1 (no answer), \
              node2 (no answer) on 2380"]
        );
        // Its peers lost one peer each: worth a warning, not the blame.
        assert_eq!(lines(&f, "node1", Severity::Problem), Vec::<String>::new());
        assert_eq!(lines(&f, "node1", Severity::Warning).len(), 1);
    }

    #[test]
    fn one_way_refusal_is_called_inbound_only() {
        let mut g = healthy();
        for other in ["node1", "node2"] {
            g.reach
                .insert((other.into(), "node3".into(), PEER_PORT), Reach::Refused);
        }
        let f = analyse(&members(), &g);
        let p = lines(&f, "node3", Severity::Problem);
        assert_eq!(p.len(), 1, "{f:?}");
        assert!(p[0].contains("(inbound only)") && p[0].contains("node1 (refused)"), "{p:?}");
    }

    #[test]
    fn two_stopped_members_of_three_lose_the_quorum_said_on_the_running_one() {
        let mut g = healthy();
        for stopped in ["node2", "node3"] {
            g.active.insert(stopped.into(), Some("inactive".into()));
            for via in ["node1", "node2", "node3"] {
                for port in [CLIENT_PORT, PEER_PORT] {
                    g.reach
                        .insert((via.into(), stopped.into(), port), Reach::Refused);
                }
            }
        }
        let f = analyse(&members(), &g);
        assert!(
            lines(&f, "node1", Severity::Problem).contains(
                &"quorum lost: 1 of 3 members running (node1), a quorum needs 2; not running: \
                  node2 (inactive), node3 (inactive)"
                    .to_string()
            ),
            "{f:?}"
        );
        // Stopped members are not "cut off": their own unit state says what they are.
        assert!(f.iter().all(|f| !f.line.contains("cut off")), "{f:?}");
        assert!(lines(&f, "node2", Severity::Problem).is_empty(), "{f:?}");
    }

    #[test]
    fn one_stopped_member_keeps_the_quorum() {
        let mut g = healthy();
        g.active.insert("node3".into(), Some("inactive".into()));
        let f = analyse(&members(), &g);
        assert!(f.iter().all(|f| !f.line.starts_with("quorum lost")), "{f:?}");
    }

    #[test]
    fn a_member_whose_sshd_forwards_nothing_is_a_warning_not_silence() {
        let mut g = healthy();
        for t in ["node1", "node2", "node3"] {
            for port in [CLIENT_PORT, PEER_PORT] {
                g.reach.insert(
                    ("node2".into(), t.into(), port),
                    Reach::Unknown("node2 does not allow TCP forwarding".into()),
                );
            }
        }
        let f = analyse(&members(), &g);
        assert_eq!(
            lines(&f, "node2", Severity::Warning),
            ["no client view through node2: node2 does not allow TCP forwarding"]
        );
        assert!(f.iter().all(|f| f.severity == Severity::Warning), "{f:?}");
    }

    #[test]
    fn a_member_far_behind_is_named_with_the_gap() {
        let mut g = healthy();
        g.raft_index = [("node1", 60_010), ("node2", 60_000), ("node3", 50_000)]
            .into_iter()
            .map(|(n, i)| (n.to_string(), i))
            .collect();
        let f = analyse(&members(), &g);
        assert_eq!(
            lines(&f, "node3", Severity::Problem),
            ["node3 is far behind: raft index 50000, 10010 behind node1 (60010)"]
        );
        assert!(lines(&f, "node2", Severity::Problem).is_empty(), "{f:?}");
    }

    #[test]
    fn an_unhealthy_answer_on_the_cluster_address_is_a_problem() {
        let mut g = healthy();
        let c = TlsCheck {
            presented: None,
            rejected: None,
            error: None,
            body: Some("{\"health\":\"false\"}".into()),
        };
        g.reach.insert(
            ("node1".into(), "node2".into(), CLIENT_PORT),
            Reach::Tls(Box::new(c)),
        );
        let f = analyse(&members(), &g);
        assert_eq!(
            lines(&f, "node2", Severity::Problem),
            ["through node1: https://10.77.0.12:2379/health answers {\"health\":\"false\"}"]
        );
    }
}

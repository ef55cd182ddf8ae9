//! The fix `replace-etcd-member`: a member whose data directory is damaged (catalog E12, as
//! after a power loss) is replaced the way etcd's documentation says for a failed member
//! (runtime reconfiguration, "Replace a failed etcd member"), from a healthy member:
//!
//! 1. look: which other members are healthy, the cluster's member list; refuse, before
//!    changing anything, when the others do not hold a quorum of the cluster;
//! 2. `etcdctl member remove` the damaged member;
//! 3. stop it and move its data directory aside (kept, never deleted), leaving a fresh one with
//!    this cluster's marker (so the stage's data-dir check accepts it);
//! 4. record in the cluster directory that it joins as existing ([`super::joined`]) and write
//!    its unit with `--initial-cluster-state=existing`;
//! 5. `etcdctl member add NAME --peer-urls=https://ADDR:2380`;
//! 6. start it, and wait until it is healthy on its cluster address with a raft index close to
//!    the leader's.
//!
//! Each step is reported as a line. A run cut short is safe to repeat: a member already removed
//! is not removed again, one already added (unstarted, with its peer URL) is not added again.

use crate::stages::fix::{capture, run_script, upload, Captured, Emit, FixContext};
use crate::stages::templates::restart_marker;
use crate::stages::{shell_quote, Templates};
use super::{
    backup_dir, client_url, cluster_token, etcdctl, etcdctl_at, joined, move_data_aside,
    peer_url, UnitInputs, DATA_DIR, UNIT, UNIT_NAME,
};
use crate::config::{HostSpec, Role};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How far behind the leader's raft index the new member may be to count as caught up: a
/// busy cluster moves on while it is asked, a member still copying is thousands behind.
const CATCH_UP_ENTRIES: u64 = 100;
/// How long the new member gets to join and catch up.
const CATCH_UP_SECS: u64 = 180;
/// How often it is asked meanwhile.
const POLL: Duration = Duration::from_secs(2);
/// How many more times the other members' health is asked before a refusal, and how long apart.
const QUORUM_LOOKS: usize = 2;
const QUORUM_PAUSE: Duration = Duration::from_secs(5);
/// Timeout of one etcdctl call over SSH (etcdctl's own is 5 s per endpoint).
const ETCDCTL_SECS: u64 = 30;

/// A member as `etcdctl member list -w json` lists it. An added member that has not started
/// yet has no name and no client URLs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Member {
    #[serde(rename = "ID")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

impl Member {
    /// The ID as etcdctl takes it (`member remove 8e9e05c52164694d`).
    pub fn hex_id(&self) -> String {
        format!("{:x}", self.id)
    }

    fn started(&self) -> bool {
        !self.name.is_empty()
    }
}

#[derive(Debug, Deserialize)]
struct MemberList {
    #[serde(default)]
    members: Vec<Member>,
}

/// One endpoint of `etcdctl endpoint status -w json`.
#[derive(Debug, Clone, Deserialize)]
struct EndpointStatus {
    #[serde(rename = "Endpoint")]
    endpoint: String,
    #[serde(rename = "Status")]
    status: Status,
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    header: Header,
    leader: u64,
    #[serde(rename = "raftIndex")]
    raft_index: u64,
    #[serde(rename = "raftAppliedIndex", default)]
    raft_applied_index: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Header {
    member_id: u64,
}

/// The members a cluster of `size` members needs to keep its quorum.
pub fn quorum(size: usize) -> usize {
    size / 2 + 1
}

/// Why replacing `target` would lose the cluster's quorum, or None when it is safe: while the
/// member is removed and added back, the cluster (of `size` members, `target` counted) must
/// still commit both changes with the healthy members other than it.
pub fn quorum_refusal(target: &str, size: usize, healthy_others: &[String]) -> Option<String> {
    let need = quorum(size);
    if healthy_others.len() >= need {
        return None;
    }
    let which = if healthy_others.is_empty() {
        "none is".to_string()
    } else {
        format!(
            "only {} {} ({})",
            healthy_others.len(),
            if healthy_others.len() == 1 {
                "is"
            } else {
                "are"
            },
            healthy_others.join(", ")
        )
    };
    let why = if size <= 1 {
        format!("{target} is the cluster's only member: there is no other copy of the data")
    } else {
        format!(
            "the cluster has {size} members, so removing {target} and adding it back needs \
             {need} healthy members besides it, and {which}"
        )
    };
    Some(format!(
        "refusing to replace {target}: {why}. Nothing was changed: bring the other members back \
         first (a cluster that has lost its quorum is restored from a snapshot, not repaired \
         member by member)"
    ))
}

/// Whether a member at raft index `index` has caught up with a leader at `leader`.
pub fn caught_up(index: u64, leader: u64) -> bool {
    index + CATCH_UP_ENTRIES >= leader
}

/// Replace the damaged member `host` (see the module docs).
pub async fn replace_member(ctx: &FixContext<'_>, host: &str, emit: &mut Emit<'_>) -> Result<()> {
    let members = ctx.spec.hosts_with_role(Role::Etcd);
    let target = *members
        .iter()
        .find(|h| h.name == host)
        .ok_or_else(|| anyhow!("{host} is not an etcd member in the cluster file"))?;
    let Some(seen) = look(ctx, &members, target, emit).await? else {
        return Ok(());
    };
    let operator = seen.operator.as_str();
    let peer = peer_url(&target.address);

    // Out of the cluster. An added member that never started is the one an earlier run of this
    // fix added: it stays, and is not added again.
    match &seen.listed {
        Some(m) if m.started() => {
            emit(format!(
                "step 1/6: member remove {} ({host}) on {operator}",
                m.hex_id()
            ));
            let remove = format!("member remove {}", m.hex_id());
            etcdctl_step(ctx, operator, &remove, emit).await?;
        }
        Some(m) => emit(format!(
            "step 1/6: {host} was removed already ({} is the unstarted member added for it)",
            m.hex_id()
        )),
        None => emit(format!(
            "step 1/6: {host} is not in the member list any more: nothing to remove"
        )),
    }
    let token = cluster_token(ctx.spec, ctx.dir);
    let moved_to = stop_and_move_aside(ctx, host, &token, emit).await?;

    // From now on this member joins as existing: the record first, then its unit.
    let backup = moved_to.as_deref().unwrap_or("(there was no data directory)");
    joined::record(ctx.dir, host, &token, backup)
        .context("recording that the member joins as existing")?;
    let unit = UnitInputs::of(ctx.spec, ctx.dir)?.render(&Templates::new(), ctx.spec, target)?;
    upload(ctx, host, UNIT, 0o644, &unit).await?;
    run_script(ctx, host, "systemctl daemon-reload", emit).await?;
    emit(format!(
        "step 3/6: {UNIT} on {host} says --initial-cluster-state=existing (recorded in {})",
        joined::path(ctx.dir).display()
    ));

    // Back in the cluster, as a new member with the same name and peer URL.
    if seen.listed.as_ref().is_some_and(|m| !m.started()) {
        emit(format!("step 4/6: {host} was added already"));
    } else {
        emit(format!(
            "step 4/6: member add {host} --peer-urls={peer} on {operator}"
        ));
        let add = format!("member add {host} --peer-urls={peer}");
        etcdctl_step(ctx, operator, &add, emit).await?;
    }

    // Started, it copies the data from the others. The unit it starts with is the current
    // one: a restart asked for by an earlier step is done too.
    emit(format!("step 5/6: start etcd on {host}"));
    let start = format!(
        "systemctl start --no-block {UNIT_NAME} && rm -f {}",
        restart_marker(UNIT_NAME)
    );
    run_script(ctx, host, &start, emit).await?;
    let client = client_url(&target.address);
    emit(format!(
        "step 6/6: wait up to {CATCH_UP_SECS} s for {host} to be healthy on {client} and catch up"
    ));
    let all_clients: Vec<String> = members.iter().map(|h| client_url(&h.address)).collect();
    wait_caught_up(ctx, operator, host, &client, &all_clients.join(","), emit).await?;
    if let Some(b) = moved_to {
        emit(format!(
            "{host} replaced; its old data directory is kept in {b} on {host} \
             (remove it once you no longer need it)"
        ));
    }
    Ok(())
}

/// What the fix saw before changing anything.
struct Seen {
    /// A healthy member to run etcdctl on.
    operator: String,
    /// The damaged member in the member list, if it is still there.
    listed: Option<Member>,
}

/// Look before changing anything: the other members' health, the member list, the quorum.
/// An error (the refusal) when the others do not hold a quorum; None when `target` is healthy
/// after all (nothing to replace).
async fn look(
    ctx: &FixContext<'_>,
    members: &[&HostSpec],
    target: &HostSpec,
    emit: &mut Emit<'_>,
) -> Result<Option<Seen>> {
    let host = target.name.as_str();
    let (peer, client) = (peer_url(&target.address), client_url(&target.address));
    let others: Vec<&HostSpec> = members
        .iter()
        .copied()
        .filter(|h| h.name != host)
        .collect();
    emit(format!(
        "replacing etcd member {host} ({peer}): checking the other members first"
    ));
    let mut healthy = healthy_members(ctx, &others, emit).await;
    // A member that was just restarted (by another fix, by hand) is healthy again within
    // seconds: look again before refusing.
    for _ in 0..QUORUM_LOOKS {
        if healthy.len() >= quorum(members.len()) {
            break;
        }
        emit(format!(
            "{} of {} other members healthy: looking again in {} s",
            healthy.len(),
            others.len(),
            QUORUM_PAUSE.as_secs()
        ));
        tokio::time::sleep(QUORUM_PAUSE).await;
        healthy = healthy_members(ctx, &others, emit).await;
    }
    let Some(operator) = healthy.first().cloned() else {
        // No member commits anything: there is no member list to read, the cluster file says
        // how many members there are.
        bail!(quorum_refusal(host, members.len(), &[]).unwrap_or_default());
    };
    let list = member_list(ctx, &operator).await?;
    let listed = list
        .iter()
        .find(|m| m.peer_urls.contains(&peer) || m.name == host)
        .cloned();
    // Counted with the target, also when an earlier run removed it already.
    let size = list.len() + usize::from(listed.is_none());
    let names: Vec<String> = list.iter().map(describe).collect();
    emit(format!(
        "member list (from {operator}): {}",
        names.join(", ")
    ));
    if let Some(refusal) = quorum_refusal(host, size, &healthy) {
        bail!(refusal);
    }
    emit(format!(
        "quorum kept: {} of the {size} members are healthy besides {host} ({}), {} needed",
        healthy.len(),
        healthy.join(", "),
        quorum(size)
    ));
    if let Some(m) = listed.as_ref().filter(|m| m.started()) {
        if healthy_at(ctx, &operator, &client).await {
            emit(format!(
                "{host} (member {}) is healthy on {client}: nothing to replace",
                m.hex_id()
            ));
            return Ok(None);
        }
    }
    Ok(Some(Seen { operator, listed }))
}

/// Stop etcd on `host`, move its data directory aside (kept) and leave a fresh one with this
/// cluster's marker (the stage's data-dir check accepts it); where the old one went.
async fn stop_and_move_aside(
    ctx: &FixContext<'_>,
    host: &str,
    token: &str,
    emit: &mut Emit<'_>,
) -> Result<Option<String>> {
    emit(format!(
        "step 2/6: stop etcd on {host}, move {DATA_DIR} aside (kept), fresh {DATA_DIR}"
    ));
    let script = format!(
        "systemctl stop {UNIT_NAME}; systemctl reset-failed {UNIT_NAME} 2>/dev/null || true\n\
         {}\n\
         mkdir -p {DATA_DIR} && chmod 700 {DATA_DIR}\n\
         printf '%s\\n' {} > {DATA_DIR}/kubewiz-cluster\n\
         echo \"fresh {DATA_DIR} with this cluster's marker\"",
        move_data_aside(&backup_dir()),
        shell_quote(token),
    );
    let mut moved_to = None;
    let moved = format!("moved {DATA_DIR} to ");
    run_script(ctx, host, &script, &mut |l: String| {
        if let Some(to) = l.strip_prefix(&moved) {
            moved_to = Some(to.to_string());
        }
        emit(format!("{host}: {l}"))
    })
    .await
    .with_context(|| format!("stopping {host} and moving its data directory aside"))?;
    Ok(moved_to)
}

/// The members of `hosts` whose etcd answers healthy on the host itself (it commits through a
/// quorum), in the cluster file's order; each is reported.
async fn healthy_members(
    ctx: &FixContext<'_>,
    hosts: &[&HostSpec],
    emit: &mut Emit<'_>,
) -> Vec<String> {
    let checks = hosts.iter().map(|h| async move {
        let cmd = format!("{} endpoint health 2>&1", etcdctl());
        (h.name.clone(), capture(ctx, &h.name, &cmd, ETCDCTL_SECS).await)
    });
    let mut healthy = vec![];
    for (name, r) in futures::future::join_all(checks).await {
        match r {
            Ok(out) if out.ok() => {
                emit(format!("{name}: healthy"));
                healthy.push(name);
            }
            Ok(out) => emit(format!("{name}: not healthy: {}", out.last_line())),
            Err(e) => emit(format!("{name}: cannot be checked: {e:#}")),
        }
    }
    healthy
}

async fn member_list(ctx: &FixContext<'_>, operator: &str) -> Result<Vec<Member>> {
    let out = etcdctl_json(ctx, operator, &etcdctl(), "member list -w json").await?;
    let list: MemberList = serde_json::from_str(&out.stdout_text())
        .with_context(|| format!("reading etcdctl member list on {operator}"))?;
    Ok(list.members)
}

/// Whether the member at `client` answers healthy, asked from `operator` on its cluster address.
async fn healthy_at(ctx: &FixContext<'_>, operator: &str, client: &str) -> bool {
    let cmd = format!("{} endpoint health", etcdctl_at(client));
    matches!(capture(ctx, operator, &cmd, ETCDCTL_SECS).await, Ok(o) if o.ok())
}

/// Run an etcdctl command that prints JSON on `host`; an error with its stderr when it fails.
async fn etcdctl_json(
    ctx: &FixContext<'_>,
    host: &str,
    etcdctl: &str,
    args: &str,
) -> Result<Captured> {
    let out = capture(ctx, host, &format!("{etcdctl} {args}"), ETCDCTL_SECS).await?;
    if !out.ok() {
        bail!("etcdctl {args} failed on {host}: {}", out.last_line());
    }
    Ok(out)
}

/// An etcdctl command that changes the cluster, on `operator`; its output is reported.
async fn etcdctl_step(
    ctx: &FixContext<'_>,
    operator: &str,
    args: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let out = capture(ctx, operator, &format!("{} {args}", etcdctl()), ETCDCTL_SECS).await?;
    for l in out.stdout.iter().filter(|l| !l.trim().is_empty()) {
        emit(format!("{operator}: {l}"));
    }
    if !out.ok() {
        bail!("etcdctl {args} failed on {operator}: {}", out.last_line());
    }
    Ok(())
}

/// Poll from `operator` until `host` is healthy on `client` and within [`CATCH_UP_ENTRIES`]
/// of the leader's raft index (the leader is one of `all_clients`, every member's client URL).
async fn wait_caught_up(
    ctx: &FixContext<'_>,
    operator: &str,
    host: &str,
    client: &str,
    all_clients: &str,
    emit: &mut Emit<'_>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(CATCH_UP_SECS);
    let mut last_report = Instant::now();
    loop {
        let last = if healthy_at(ctx, operator, client).await {
            match indexes(ctx, operator, client, all_clients).await {
                Ok((index, leader)) if caught_up(index, leader) => {
                    emit(format!(
                        "{host} is healthy on {client}, raft index {index} \
                         (leader {leader}): caught up"
                    ));
                    return Ok(());
                }
                Ok((index, leader)) => format!("raft index {index}, leader {leader}"),
                Err(e) => format!("{e:#}"),
            }
        } else {
            format!("not healthy on {client} yet")
        };
        if Instant::now() >= deadline {
            bail!(
                "{host} did not catch up within {CATCH_UP_SECS} s ({last}): \
                 see journalctl -u {UNIT_NAME} on {host}"
            );
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            emit(format!("{host}: {last}"));
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The raft index the member at `client` has applied, and the leader's raft index, as the
/// endpoints `all_clients` report them to `operator`.
async fn indexes(
    ctx: &FixContext<'_>,
    operator: &str,
    client: &str,
    all_clients: &str,
) -> Result<(u64, u64)> {
    let cmd = format!("{} endpoint status -w json", etcdctl_at(all_clients));
    let out = capture(ctx, operator, &cmd, ETCDCTL_SECS).await?;
    // An endpoint that does not answer makes etcdctl exit 1, but the others' statuses are
    // printed all the same.
    if out.stdout.iter().all(|l| l.trim().is_empty()) {
        bail!("etcdctl endpoint status failed on {operator}: {}", out.last_line());
    }
    let statuses: Vec<EndpointStatus> = serde_json::from_str(&out.stdout_text())
        .with_context(|| format!("reading etcdctl endpoint status on {operator}"))?;
    raft_progress(&statuses, client)
        .ok_or_else(|| anyhow!("no status of {client} or of the leader yet"))
}

/// (the member at `client`'s applied index, the leader's raft index) from endpoint statuses.
fn raft_progress(statuses: &[EndpointStatus], client: &str) -> Option<(u64, u64)> {
    let member = statuses.iter().find(|s| s.endpoint == client)?;
    let leader_id = member.status.leader;
    let leader = statuses
        .iter()
        .find(|s| s.status.header.member_id == leader_id)?;
    let index = member
        .status
        .raft_applied_index
        .unwrap_or(member.status.raft_index);
    Some((index, leader.status.raft_index))
}

fn describe(m: &Member) -> String {
    if m.started() {
        format!("{} {}", m.name, m.hex_id())
    } else {
        format!(
            "{} {} (unstarted)",
            m.peer_urls.first().map(String::as_str).unwrap_or("?"),
            m.hex_id()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quorum_is_a_majority() {
        assert_eq!(
            [1, 2, 3, 4, 5, 7].map(quorum),
            [1, 2, 2, 3, 3, 4],
            "members needed for 1, 2, 3, 4, 5, 7"
        );
    }

    #[test]
    fn replacing_needs_a_quorum_besides_the_member() {
        // 3 members, the two others healthy: safe.
        assert_eq!(quorum_refusal("node3", 3, &names(&["node1", "node2"])), None);
        // 5 members, 3 others healthy: safe; 2: not.
        assert_eq!(quorum_refusal("e5", 5, &names(&["e1", "e2", "e3"])), None);
        assert!(quorum_refusal("e5", 5, &names(&["e1", "e2"])).is_some());
        // 3 members, one other healthy: refused, with the numbers and the names.
        let r = quorum_refusal("node3", 3, &names(&["node1"])).unwrap();
        assert!(r.starts_with("refusing to replace node3"), "{r}");
        assert!(
            r.contains("3 members") && r.contains("needs 2 healthy members besides it")
                && r.contains("only 1 is (node1)"),
            "{r}"
        );
        assert!(r.contains("Nothing was changed"), "{r}");
        let r = quorum_refusal("node3", 3, &[]).unwrap();
        assert!(r.contains("and none is"), "{r}");
        // 2 members: one broken is already a lost quorum.
        assert!(quorum_refusal("b", 2, &names(&["a"])).is_some());
        // The only member.
        let r = quorum_refusal("solo", 1, &[]).unwrap();
        assert!(r.contains("only member"), "{r}");
    }

    #[test]
    fn catching_up_is_being_close_to_the_leader() {
        assert!(caught_up(1000, 1000));
        assert!(caught_up(950, 1000));
        assert!(!caught_up(10, 1000));
    }

    #[test]
    fn etcdctl_json_is_read() {
        // etcdctl 3.4.23's output (loopback cluster, n3 removed and added back, not started yet).
        let list: MemberList = serde_json::from_str(r#"{"header":{"cluster_id":15199172901756752217,"member_id":3692233933096397577,"raft_term":6},"members":[{"ID":2452382902118433590,"peerURLs":["http://127.0.0.13:42380"]},{"ID":3692233933096397577,"name":"n1","peerURLs":["http://127.0.0.11:42380"],"clientURLs":["http://127.0.0.11:42379"]},{"ID":13775127572453255724,"name":"n2","peerURLs":["http://127.0.0.12:42380"],"clientURLs":["http://127.0.0.12:42379"]}]}"#).unwrap();
        assert_eq!(list.members.len(), 3);
        // As `etcdctl member list` (table) prints them.
        assert_eq!(list.members[1].hex_id(), "333d733329daab09");
        assert_eq!(list.members[2].hex_id(), "bf2b158b1bc3ea2c");
        assert!(list.members[1].started() && !list.members[0].started());
        assert_eq!(
            describe(&list.members[0]),
            "http://127.0.0.13:42380 22089d419602c336 (unstarted)"
        );

        let statuses: Vec<EndpointStatus> = serde_json::from_str(r#"[{"Endpoint":"http://127.0.0.11:42379","Status":{"header":{"cluster_id":15199172901756752217,"member_id":3692233933096397577,"revision":81,"raft_term":6},"version":"3.4.23","dbSize":24576,"leader":13775127572453255724,"raftIndex":95,"raftTerm":6,"raftAppliedIndex":95,"dbSizeInUse":24576}},{"Endpoint":"http://127.0.0.12:42379","Status":{"header":{"cluster_id":15199172901756752217,"member_id":13775127572453255724,"revision":81,"raft_term":6},"version":"3.4.23","dbSize":24576,"leader":13775127572453255724,"raftIndex":98,"raftTerm":6,"raftAppliedIndex":98,"dbSizeInUse":24576}}]"#).unwrap();
        assert_eq!(raft_progress(&statuses, "http://127.0.0.11:42379"), Some((95, 98)));
        assert_eq!(raft_progress(&statuses, "http://127.0.0.13:42379"), None);
    }
}

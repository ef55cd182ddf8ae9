//! The end of an install: what the cluster looks like and how to use it.
//!
//! Steps print machine-readable lines in their output (the contract between the stages and
//! the front ends):
//!
//! ```text
//! kubewiz-node name=node1 status=Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5 roles=master,node
//! kubewiz-component host=node1 name=kube-apiserver status=ok
//! ```
//!
//! [`SummaryLines`] picks them out of a run's [`Event::Output`]s (the last line per node or
//! per host and component wins: a rerun or a retry reports afresh); [`ClusterSummary`] adds
//! what the run itself knows (the admin kubeconfig, the log file, the first commands to try).
//! The TUI's summary screen and the headless end-of-run table both draw a `ClusterSummary`.

use crate::cluster_dir::ClusterDir;
use crate::events::{Diagnosis, Event, OutputStream, StepRef};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One node as the join stage reports it (`kubectl get nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub status: String,
    pub version: String,
    pub internal_ip: String,
    pub runtime: String,
    pub roles: String,
}

/// The node table's column titles, in the order of [`NodeRow::cells`].
pub const NODE_COLUMNS: [&str; 6] = [
    "NAME",
    "STATUS",
    "VERSION",
    "INTERNAL-IP",
    "RUNTIME",
    "ROLES",
];

impl NodeRow {
    pub fn cells(&self) -> [&str; 6] {
        [
            &self.name,
            &self.status,
            &self.version,
            &self.internal_ip,
            &self.runtime,
            &self.roles,
        ]
    }

    pub fn ready(&self) -> bool {
        self.status == "Ready"
    }
}

/// One component's health as seen from one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentRow {
    pub host: String,
    pub name: String,
    /// `ok`, or why not.
    pub status: String,
}

impl ComponentRow {
    pub fn healthy(&self) -> bool {
        self.status == "ok"
    }
}

/// A summary line of a step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryLine {
    Node(NodeRow),
    Component(ComponentRow),
}

const NODE_PREFIX: &str = "kubewiz-node ";
const COMPONENT_PREFIX: &str = "kubewiz-component ";

/// Parse one output line; None for any other line and for a malformed summary line (a missing
/// or repeated key, a node without a name, a component without a status).
pub fn parse_line(line: &str) -> Option<SummaryLine> {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix(NODE_PREFIX) {
        return parse_node(rest).map(SummaryLine::Node);
    }
    if let Some(rest) = line.strip_prefix(COMPONENT_PREFIX) {
        return parse_component(rest).map(SummaryLine::Component);
    }
    None
}

/// `name=… status=… version=… internal-ip=… runtime=… roles=…`: every key once, in any order
/// (keys kubewiz does not know are left aside, so a later field does not break an older
/// reader); values without spaces, only the name must not be empty.
fn parse_node(rest: &str) -> Option<NodeRow> {
    const KEYS: [&str; 6] = [
        "name",
        "status",
        "version",
        "internal-ip",
        "runtime",
        "roles",
    ];
    let mut values: [Option<&str>; 6] = [None; 6];
    for token in rest.split_whitespace() {
        let (k, v) = token.split_once('=')?;
        if let Some(i) = KEYS.iter().position(|x| *x == k) {
            if values[i].replace(v).is_some() {
                return None;
            }
        }
    }
    let [name, status, version, internal_ip, runtime, roles] = values.map(|v| v.map(String::from));
    let row = NodeRow {
        name: name.filter(|n| !n.is_empty())?,
        status: status?,
        version: version?,
        internal_ip: internal_ip?,
        runtime: runtime?,
        roles: roles?,
    };
    Some(row)
}

/// `host=… name=… status=<the rest of the line>`, in that order (the status may hold spaces).
fn parse_component(rest: &str) -> Option<ComponentRow> {
    let rest = rest.trim_start();
    let (host, rest) = rest.strip_prefix("host=")?.split_once(' ')?;
    let (name, rest) = rest.trim_start().strip_prefix("name=")?.split_once(' ')?;
    let status = rest.trim_start().strip_prefix("status=")?.trim();
    if host.is_empty() || name.is_empty() || status.is_empty() {
        return None;
    }
    Some(ComponentRow {
        host: host.into(),
        name: name.into(),
        status: status.into(),
    })
}

/// The summary lines of a run so far: fed every event, it keeps the last line per node and per
/// (host, component), in the order they were first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryLines {
    pub nodes: Vec<NodeRow>,
    pub components: Vec<ComponentRow>,
}

impl SummaryLines {
    pub fn observe(&mut self, ev: &Event) {
        if let Event::Output {
            stream: OutputStream::Stdout,
            line,
            ..
        } = ev
        {
            self.add_line(line);
        }
    }

    pub fn add_line(&mut self, line: &str) {
        match parse_line(line) {
            Some(SummaryLine::Node(n)) => self.put_node(n),
            Some(SummaryLine::Component(c)) => self.put_component(c),
            None => {}
        }
    }

    /// Lines of a later run (a retry after a fix) replace those of an earlier one.
    pub fn merge(&mut self, later: &SummaryLines) {
        later.nodes.iter().for_each(|n| self.put_node(n.clone()));
        later
            .components
            .iter()
            .for_each(|c| self.put_component(c.clone()));
    }

    fn put_node(&mut self, n: NodeRow) {
        match self.nodes.iter_mut().find(|x| x.name == n.name) {
            Some(old) => *old = n,
            None => self.nodes.push(n),
        }
    }

    fn put_component(&mut self, c: ComponentRow) {
        match self
            .components
            .iter_mut()
            .find(|x| x.host == c.host && x.name == c.name)
        {
            Some(old) => *old = c,
            None => self.components.push(c),
        }
    }
}

/// The failure a run stopped on, for a summary of a cluster that is up but not finished (the
/// nodes joined, an add-on did not come up): where, what the catalog made of it, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoppedOn {
    pub stage: String,
    pub step: String,
    pub host: String,
    /// `C3: add-on image … is neither in the bundle nor pullable`, or the step's own message
    /// when the catalog had no entry for it.
    pub cause: String,
    /// The catalog's fix; None when it had none.
    pub fix: Option<String>,
}

impl StoppedOn {
    pub fn new(at: &StepRef, message: &str, diagnosis: Option<&Diagnosis>) -> StoppedOn {
        let known = diagnosis.and_then(|d| d.id.as_ref().map(|id| (id, d)));
        StoppedOn {
            stage: at.stage.clone(),
            step: at.step.clone(),
            host: at.host.clone(),
            cause: match known {
                Some((id, d)) => format!("{id}: {}", d.title),
                None => message.to_string(),
            },
            fix: known.map(|(_, d)| d.fix.clone()),
        }
    }

    /// `addons/coredns-wait on node1`
    pub fn place(&self) -> String {
        format!("{}/{} on {}", self.stage, self.step, self.host)
    }
}

/// Whether a run that stopped on a failure still gets a summary: only when it got as far as
/// reporting nodes, i.e. there is a cluster to describe (a run that failed in preflight has
/// nothing to show but its failure).
pub fn summary_after_failure(lines: &SummaryLines) -> bool {
    !lines.nodes.is_empty()
}

/// What a run ends with: the cluster as its steps reported it, how to use it, and the failure
/// it stopped on when it did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSummary {
    pub cluster: String,
    /// None for a run that finished; else the first failure (see [`summary_after_failure`]).
    pub stopped_on: Option<StoppedOn>,
    /// As the join stage reported them; empty when no step of the run did.
    pub nodes: Vec<NodeRow>,
    /// As the control plane and add-ons reported them; empty when no step of the run did.
    pub components: Vec<ComponentRow>,
    /// The cluster directory's admin kubeconfig (it is written before any host is touched).
    pub kubeconfig: PathBuf,
    /// This run's log file, when there is one.
    pub log_file: Option<PathBuf>,
    /// The first commands to try; empty when the run reported neither an apiserver nor a node
    /// (nothing says there is a cluster to talk to yet).
    pub next_commands: Vec<String>,
}

impl ClusterSummary {
    /// The summary of a run of `cluster_file` (paths shown as given: absolute ones for a
    /// headless run, whatever the TUI was opened with for the screen).
    pub fn new(
        cluster: &str,
        lines: &SummaryLines,
        cluster_file: &Path,
        log_file: Option<&Path>,
    ) -> ClusterSummary {
        let dir = ClusterDir::of_cluster_file(cluster_file);
        let kubeconfig = crate::pki::admin_kubeconfig_path(&dir);
        let reachable = !lines.nodes.is_empty()
            || lines
                .components
                .iter()
                .any(|c| c.name == "kube-apiserver" && c.healthy());
        let next_commands = if reachable {
            let k = kubeconfig.display();
            vec![
                format!("kubectl --kubeconfig {k} get nodes -o wide"),
                format!("kubectl --kubeconfig {k} get pods -A"),
                format!("kubewiz kubeconfig -f {} --merge", cluster_file.display()),
            ]
        } else {
            vec![]
        };
        ClusterSummary {
            cluster: cluster.into(),
            stopped_on: None,
            nodes: lines.nodes.clone(),
            components: lines.components.clone(),
            kubeconfig,
            log_file: log_file.map(Path::to_path_buf),
            next_commands,
        }
    }

    /// The summary of a run that stopped on `failure`.
    pub fn stopped(mut self, failure: StoppedOn) -> ClusterSummary {
        self.stopped_on = Some(failure);
        self
    }

    /// Why there is no node table, said without guessing more than the run knows.
    pub const NO_NODES: &'static str = "no node reported by this run (the join stage reports them)";
    pub const NO_COMPONENTS: &'static str =
        "no component reported by this run (the control_plane and addons stages report them)";
    pub const NO_COMMANDS: &'static str =
        "no apiserver or node reported by this run: kubectl has nothing to talk to yet";

    /// `node1 kube-apiserver ok` rows, aligned: (host width, name width).
    pub fn component_widths(&self) -> (usize, usize) {
        let w = |f: fn(&ComponentRow) -> &str, title: &str| {
            self.components
                .iter()
                .map(|c| f(c).chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        (w(|c| &c.host, "HOST"), w(|c| &c.name, "COMPONENT"))
    }

    /// Width of each node column, its title included.
    pub fn node_widths(&self) -> [usize; 6] {
        let mut w = NODE_COLUMNS.map(str::len);
        for n in &self.nodes {
            for (i, c) in n.cells().iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::StepRef;

    const NODE1: &str = "kubewiz-node name=node1 status=Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5 roles=master,node";

    fn out(line: &str, stream: OutputStream) -> Event {
        Event::Output {
            at: StepRef::new("join", "nodes", "node1"),
            stream,
            line: line.into(),
        }
    }

    #[test]
    fn node_and_component_lines_parse() {
        assert_eq!(
            parse_line(NODE1),
            Some(SummaryLine::Node(NodeRow {
                name: "node1".into(),
                status: "Ready".into(),
                version: "v1.20.2".into(),
                internal_ip: "10.77.0.11".into(),
                runtime: "docker://20.10.5".into(),
                roles: "master,node".into(),
            }))
        );
        assert_eq!(
            parse_line("kubewiz-component host=node1 name=kube-scheduler status=Get \"https://127.0.0.1:10259/healthz\": dial tcp 127.0.0.1:10259: connect: connection refused  "),
            Some(SummaryLine::Component(ComponentRow {
                host: "node1".into(),
                name: "kube-scheduler".into(),
                status: "Get \"https://127.0.0.1:10259/healthz\": dial tcp 127.0.0.1:10259: connect: connection refused".into(),
            }))
        );
        // An empty value (a node without an InternalIP address) is kept as it is.
        let Some(SummaryLine::Node(n)) = parse_line(
            "kubewiz-node name=n2 status=NotReady version=v1.20.2 internal-ip= runtime=containerd://1.4.13 roles=node extra=later",
        ) else {
            panic!()
        };
        assert_eq!((n.internal_ip.as_str(), n.ready()), ("", false));
    }

    #[test]
    fn malformed_lines_are_ignored() {
        for line in [
            "",
            "node1 Ready",
            "kubewiz-node",
            // a key missing
            "kubewiz-node name=node1 status=Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5",
            // no name
            "kubewiz-node name= status=Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5 roles=node",
            // a key twice
            "kubewiz-node name=a name=b status=Ready version=v1.20.2 internal-ip=1.2.3.4 runtime=x roles=node",
            // a word that is not key=value (a value with a space)
            "kubewiz-node name=node1 status=Not Ready version=v1.20.2 internal-ip=10.77.0.11 runtime=docker://20.10.5 roles=node",
            "kubewiz-component host=node1 name=etcd",
            "kubewiz-component host=node1 name=etcd status=",
            "kubewiz-component name=etcd host=node1 status=ok",
            "kubewiz-component host= name=etcd status=ok",
            "  kubewiz-component host=node1 name=etcd status=ok",
            "kubewiz-nodes name=node1 status=Ready version=v1 internal-ip=1 runtime=r roles=node",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_last_line_per_node_and_component_wins_in_first_seen_order() {
        let mut s = SummaryLines::default();
        s.observe(&out(
            &NODE1.replace("Ready", "NotReady"),
            OutputStream::Stdout,
        ));
        s.observe(&out(
            "kubewiz-node name=node2 status=Ready version=v1.20.2 internal-ip=10.77.0.12 runtime=docker://20.10.5 roles=node",
            OutputStream::Stdout,
        ));
        s.observe(&out(NODE1, OutputStream::Stdout));
        // stderr is not the contract's stream.
        s.observe(&out(&NODE1.replace("Ready", "Gone"), OutputStream::Stderr));
        s.observe(&out(
            "kubewiz-component host=node1 name=etcd status=failed: context deadline exceeded",
            OutputStream::Stdout,
        ));
        s.observe(&out(
            "kubewiz-component host=node1 name=kube-apiserver status=ok",
            OutputStream::Stdout,
        ));
        s.observe(&out(
            "kubewiz-component host=node1 name=etcd status=ok",
            OutputStream::Stdout,
        ));
        s.observe(&out(
            "kubewiz-component host=node2 name=etcd status=ok",
            OutputStream::Stdout,
        ));
        let names: Vec<(&str, &str)> = s
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.status.as_str()))
            .collect();
        assert_eq!(names, [("node1", "Ready"), ("node2", "Ready")]);
        let comps: Vec<(&str, &str, &str)> = s
            .components
            .iter()
            .map(|c| (c.host.as_str(), c.name.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            comps,
            [
                ("node1", "etcd", "ok"),
                ("node1", "kube-apiserver", "ok"),
                ("node2", "etcd", "ok")
            ]
        );

        let mut later = SummaryLines::default();
        later.add_line("kubewiz-component host=node2 name=etcd status=unhealthy");
        s.merge(&later);
        assert_eq!(s.components[2].status, "unhealthy");
        assert_eq!(s.components.len(), 3);
    }

    #[test]
    fn the_summary_offers_commands_only_when_there_is_a_cluster_to_talk_to() {
        let file = Path::new("/x/lab/cluster.yaml");
        let none = ClusterSummary::new("lab", &SummaryLines::default(), file, None);
        assert!(none.next_commands.is_empty());
        assert_eq!(none.kubeconfig, Path::new("/x/lab/kubeconfigs/admin.conf"));

        let mut lines = SummaryLines::default();
        lines.add_line("kubewiz-component host=node1 name=kube-apiserver status=ok");
        let s = ClusterSummary::new("lab", &lines, file, Some(Path::new("/x/lab/logs/a.log")));
        assert_eq!(
            s.next_commands,
            [
                "kubectl --kubeconfig /x/lab/kubeconfigs/admin.conf get nodes -o wide",
                "kubectl --kubeconfig /x/lab/kubeconfigs/admin.conf get pods -A",
                "kubewiz kubeconfig -f /x/lab/cluster.yaml --merge",
            ]
        );
        assert_eq!(s.component_widths(), (5, 14));
    }

    fn diagnosis(id: Option<&str>) -> Diagnosis {
        Diagnosis {
            id: id.map(String::from),
            title: "add-on image x:1 is neither in the bundle nor pullable".into(),
            cause: "c".into(),
            evidence: vec![],
            fix: "put x:1 in the bundle".into(),
            manual_commands: vec![],
            auto_fix: None,
        }
    }

    #[test]
    fn a_stopped_run_names_the_step_the_catalog_entry_and_its_fix() {
        let at = StepRef::new("addons", "coredns-wait", "node1");
        let known = StoppedOn::new(&at, "exited with status 1", Some(&diagnosis(Some("C3"))));
        assert_eq!(known.place(), "addons/coredns-wait on node1");
        assert_eq!(
            known.cause,
            "C3: add-on image x:1 is neither in the bundle nor pullable"
        );
        assert_eq!(known.fix.as_deref(), Some("put x:1 in the bundle"));
        // Without a catalog entry the step's own message is all there is, and no fix is made up.
        let unknown = StoppedOn::new(&at, "exited with status 1", Some(&diagnosis(None)));
        assert_eq!(
            (unknown.cause.as_str(), unknown.fix),
            ("exited with status 1", None)
        );

        let mut lines = SummaryLines::default();
        assert!(
            !summary_after_failure(&lines),
            "nothing joined: no cluster to describe"
        );
        lines.add_line(NODE1);
        assert!(summary_after_failure(&lines));
        let s = ClusterSummary::new("lab", &lines, Path::new("c.yaml"), None).stopped(known);
        assert_eq!(s.stopped_on.unwrap().host, "node1");
    }
}

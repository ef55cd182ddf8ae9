//! Evidence line normalisation: one text form for every log format, so a catalog signature is
//! written once and matches text logs, JSON logs and journald output alike.
//!
//! The steps, in order:
//! 1. trim; strip a journald prefix (`Nov 23 16:31:30 m1 etcd[812]: `, short or ISO form);
//! 2. strip one log-library prefix: capnslog (`2026-11-23 16:31:30.838370 I | `, or just `I | `),
//!    klog (`E1123 16:31:30.838370    1234 server.go:302] `), Go's `log` (`2026/11/23 16:31:30 `);
//! 3. a JSON object with a `msg` (etcd >= 3.4 with `--logger=zap`, klog's JSON format) collapses to
//!    `<msg>[ from "<remote-addr>"][ <key>=<value>...][: <error>]`: `level`, `ts`, `caller`,
//!    `stacktrace` and `logger` are dropped, the other fields follow in key order, strings bare
//!    unless empty or holding spaces or quotes (then `"..."`, unescaped), and `error` (or `err`)
//!    comes last after `: `, the way etcd's text logs put the error after the message;
//! 4. any other line has its `\"` escapes turned into `"`.
//!
//! So etcd 3.4's text line
//! `rejected connection from "10.77.0.11:36172" (error "remote error: tls: bad certificate", ServerName "")`
//! and its JSON twin, normalised to
//! `rejected connection from "10.77.0.11:39864" server-name="": remote error: tls: bad certificate`,
//! are both matched by `rejected connection from "(?P<peer>[^"]+?):\d+".*?remote error: tls: bad certificate`.

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// JSON fields that carry no diagnostic meaning.
const DROPPED_FIELDS: &[&str] = &["level", "ts", "caller", "stacktrace", "logger", "msg"];

fn journald_prefix() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"^(?:[A-Z][a-z]{2} [ 0-9]\d \d{2}:\d{2}:\d{2}",
            r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}))",
            r" \S+ [^\s:\[\]]+(?:\[\d+\])?: "
        ))
        .expect("journald prefix regex")
    })
}

fn log_prefix() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // capnslog (etcd <= 3.4 text logs), with or without the timestamp
            r"^(?:(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? )?[DINWEC] \| ",
            // klog
            r"|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\s\]]+\] ",
            // Go's log package
            r"|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? )"
        ))
        .expect("log prefix regex")
    })
}

/// The normalised form of one evidence line (see the module docs).
pub fn normalize(line: &str) -> String {
    let mut s = line.trim();
    if let Some(m) = journald_prefix().find(s) {
        s = &s[m.end()..];
    }
    if let Some(m) = log_prefix().find(s) {
        s = &s[m.end()..];
    }
    let s = s.trim();
    if s.starts_with('{') && s.ends_with('}') {
        if let Some(collapsed) = parse_object(s).and_then(|o| collapse_json(&o)) {
            return collapsed;
        }
    }
    s.replace("\\\"", "\"")
}

/// A JSON object, also when the whole line arrived escaped once (`{\"level\":...}`).
fn parse_object(s: &str) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s) {
        return Some(o);
    }
    if s.contains("\\\"") {
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&s.replace("\\\"", "\"")) {
            return Some(o);
        }
    }
    None
}

fn collapse_json(o: &Map<String, Value>) -> Option<String> {
    let msg = o.get("msg").or_else(|| o.get("message"))?.as_str()?;
    let mut out = msg.trim().to_string();
    if let Some(addr) = o.get("remote-addr").and_then(Value::as_str) {
        out.push_str(&format!(" from \"{addr}\""));
    }
    let error_key = ["error", "err"].into_iter().find(|k| o.contains_key(*k));
    // serde_json's Map iterates in key order: deterministic, so signatures may rely on it.
    for (k, v) in o {
        if DROPPED_FIELDS.contains(&k.as_str())
            || k == "message"
            || k == "remote-addr"
            || Some(k.as_str()) == error_key
        {
            continue;
        }
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&render_value(v));
    }
    if let Some(k) = error_key {
        out.push_str(": ");
        match &o[k] {
            Value::String(e) => out.push_str(e),
            other => out.push_str(&other.to_string()),
        }
    }
    Some(out)
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"') => {
            format!("\"{s}\"")
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    // Lines from the lab (etcd 3.4.23, see shared/reference/lab.md).
    const LAB_BAD_MEMBER: &str = r#"2026-11-23 16:31:30.838370 I | embed: rejected connection from "10.77.0.11:36172" (error "remote error: tls: bad certificate", ServerName "")"#;
    const LAB_HEALTHY_PEER: &str = r#"I | embed: rejected connection from "10.77.0.13:39778" (error "tls: \"10.77.0.13\" does not match any of DNSNames [\"localhost\"]", ServerName "", IPAddresses ["10.77.0.99"], DNSNames ["localhost"])"#;
    const LAB_HEALTH_CHECK: &str = "W | rafthttp: health check for peer ed3d9c87aff5aaf0 could not connect: x509: certificate is valid for 10.77.0.99, not 10.77.0.13";
    const LAB_ZAP: &str = r#"{"level":"warn","ts":"2026-11-23T16:31:30.838Z","caller":"embed/config_logging.go:287","msg":"rejected connection","remote-addr":"10.77.0.11:39864","server-name":"","error":"remote error: tls: bad certificate"}"#;

    #[test]
    fn capnslog_prefix_is_stripped_with_or_without_timestamp() {
        assert_eq!(
            normalize(LAB_BAD_MEMBER),
            r#"embed: rejected connection from "10.77.0.11:36172" (error "remote error: tls: bad certificate", ServerName "")"#
        );
        assert_eq!(
            normalize(LAB_HEALTH_CHECK),
            "rafthttp: health check for peer ed3d9c87aff5aaf0 could not connect: x509: certificate is valid for 10.77.0.99, not 10.77.0.13"
        );
        assert_eq!(
            normalize("E | etcdserver: publish error: etcdserver: request timed out"),
            "etcdserver: publish error: etcdserver: request timed out"
        );
    }

    #[test]
    fn escaped_quotes_are_unescaped() {
        assert_eq!(
            normalize(LAB_HEALTHY_PEER),
            r#"embed: rejected connection from "10.77.0.13:39778" (error "tls: "10.77.0.13" does not match any of DNSNames ["localhost"]", ServerName "", IPAddresses ["10.77.0.99"], DNSNames ["localhost"])"#
        );
    }

    #[test]
    fn zap_json_collapses_to_msg_fields_and_error() {
        assert_eq!(
            normalize(LAB_ZAP),
            r#"rejected connection from "10.77.0.11:39864" server-name="": remote error: tls: bad certificate"#
        );
        // The JSON error keeps its own (decoded) quotes.
        let line = r#"{"level":"warn","ts":"2026-11-23T17:58:16.924Z","caller":"etcdserver/cluster_util.go:315","msg":"failed to reach the peer URL","address":"https://127.0.0.13:2380/version","remote-member-id":"99e95e058a97b252","error":"Get \"https://127.0.0.13:2380/version\": x509: certificate is valid for 10.77.0.99, not 127.0.0.13"}"#;
        assert_eq!(
            normalize(line),
            r#"failed to reach the peer URL address=https://127.0.0.13:2380/version remote-member-id=99e95e058a97b252: Get "https://127.0.0.13:2380/version": x509: certificate is valid for 10.77.0.99, not 127.0.0.13"#
        );
    }

    #[test]
    fn text_and_json_forms_match_one_signature() {
        let re = regex::Regex::new(
            r#"rejected connection from "(?P<peer>[^"]+?):\d+".*?remote error: tls: bad certificate"#,
        )
        .unwrap();
        for line in [LAB_BAD_MEMBER, LAB_ZAP] {
            let n = normalize(line);
            let caps = re.captures(&n).unwrap_or_else(|| panic!("no match: {n}"));
            assert!(caps["peer"].starts_with("10.77.0.11"));
        }
    }

    #[test]
    fn json_fields_keep_key_order_and_render_non_strings() {
        let line = r#"{"level":"fatal","msg":"discovery failed","name":"n3","peers":["a","b"],"count":3,"error":"member 13b3fcd2fe2f12da has already been bootstrapped","stacktrace":"x\ny"}"#;
        assert_eq!(
            normalize(line),
            r#"discovery failed count=3 name=n3 peers=["a","b"]: member 13b3fcd2fe2f12da has already been bootstrapped"#
        );
    }

    #[test]
    fn once_escaped_json_line_is_still_collapsed() {
        let line = r#"{\"level\":\"warn\",\"msg\":\"rejected connection\",\"remote-addr\":\"10.77.0.11:39864\",\"error\":\"remote error: tls: bad certificate\"}"#;
        assert_eq!(
            normalize(line),
            r#"rejected connection from "10.77.0.11:39864": remote error: tls: bad certificate"#
        );
    }

    #[test]
    fn json_without_msg_or_broken_json_stays_text() {
        assert_eq!(normalize(r#"{"a":1}"#), r#"{"a":1}"#);
        // lab.md abbreviates a zap line with "...": not JSON, so only unescaped.
        let abbreviated = r#"{"level":"warn",...,"msg":"rejected connection"}"#;
        assert_eq!(normalize(abbreviated), abbreviated);
    }

    #[test]
    fn journald_and_klog_prefixes_are_stripped() {
        assert_eq!(
            normalize("Nov 23 16:31:30 m1 etcd[812]: 2026-11-23 16:31:30.838370 C | etcdmain: listen tcp 10.77.0.11:2380: bind: address already in use"),
            "etcdmain: listen tcp 10.77.0.11:2380: bind: address already in use"
        );
        assert_eq!(
            normalize("2026-11-23T16:31:30+0000 m1 kubelet[99]: E1123 16:31:30.838370    2134 server.go:302] failed to run Kubelet: running with swap on is not supported, please disable swap"),
            "failed to run Kubelet: running with swap on is not supported, please disable swap"
        );
        assert_eq!(
            normalize("2017/11/23 16:31:30 [FATAL] plugin/loop: Loop (127.0.0.1:34614 -> :53) detected for zone \".\""),
            "[FATAL] plugin/loop: Loop (127.0.0.1:34614 -> :53) detected for zone \".\""
        );
    }

    #[test]
    fn plain_lines_are_only_trimmed() {
        assert_eq!(normalize("  -P FORWARD DROP \r"), "-P FORWARD DROP");
        assert_eq!(normalize(""), "");
    }
}

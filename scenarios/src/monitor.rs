//! The config file the runner hands to `argus monitor --config FILE` in monitored scenarios.
//!
//! Format (TOML), agreed with the node crate:
//!
//! ```toml
//! heartbeat_timeout_ms = 3000   # restart a node whose heartbeats stop this long
//! audit_fail_threshold = 3      # ... or whose failed audits reach this count
//! restart_budget = 5            # restarts per node before the monitor gives up on it
//! restart_backoff_ms = 500      # first restart delay, doubled per restart of that node
//!
//! [[node]]
//! name = "n0"                   # also passed to the node as --name
//! exec_prefix = ["ip", "netns", "exec", "argus-sc-123-n0", "sh", "-c", "...", "/out/nodes/n0"]
//! args = ["--data", "/out/nodes/n0/data", "--http", "unix:/out/nodes/n0/http.sock", ...]
//! ```
//!
//! The monitor runs each node as `exec_prefix ++ [its own executable, "node"] ++ args`. The
//! prefix places the node in its namespace and wraps it in `sh -c` so that the node's pid
//! lands in `<dir>/pid` and its stderr in `<dir>/stderr.log`; the runner signals that pid for
//! kill and pause faults. Pure: renders text, starts nothing.

use std::path::Path;

use serde::Serialize;

use crate::schema::Monitor;

/// `sh -c` script: `$0` is the node's folder; the node replaces the shell (same pid).
pub const WRAPPER_SCRIPT: &str = r#"echo $$ > "$0/pid"; exec "$@" 2>>"$0/stderr.log""#;

#[derive(Debug, Clone, Serialize)]
pub struct MonitorNode {
    pub name: String,
    pub exec_prefix: Vec<String>,
    pub args: Vec<String>,
}

#[derive(Serialize)]
struct MonitorFile<'a> {
    heartbeat_timeout_ms: u64,
    audit_fail_threshold: u32,
    restart_budget: u32,
    restart_backoff_ms: u64,
    node: &'a [MonitorNode],
}

/// The wrapper prefix for a node whose folder is `dir`, after the lab's own prefix.
pub fn wrapped_prefix(lab_prefix: &[String], dir: &Path) -> Vec<String> {
    let mut p = lab_prefix.to_vec();
    p.extend(["sh".to_string(), "-c".to_string(), WRAPPER_SCRIPT.to_string(), dir.display().to_string()]);
    p
}

/// Renders the monitor config.
pub fn render(m: &Monitor, nodes: &[MonitorNode]) -> Result<String, toml::ser::Error> {
    toml::to_string(&MonitorFile {
        heartbeat_timeout_ms: m.heartbeat_timeout_ms,
        audit_fail_threshold: m.audit_fail_threshold,
        restart_budget: m.restart_budget,
        restart_backoff_ms: m.backoff_ms,
        node: nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_the_wrapper_records_pid_and_stderr() {
        let m = Monitor {
            heartbeat_timeout_ms: 3000,
            audit_fail_threshold: 3,
            restart_budget: 5,
            backoff_ms: 500,
        };
        let dir = std::env::temp_dir().join(format!("argus-sc-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let node = MonitorNode {
            name: "n0".into(),
            exec_prefix: wrapped_prefix(&[], &dir),
            args: vec!["--name".into(), "n0".into()],
        };
        let text = render(&m, std::slice::from_ref(&node)).unwrap();
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["heartbeat_timeout_ms"].as_integer(), Some(3000));
        assert_eq!(v["node"][0]["name"].as_str(), Some("n0"));
        assert_eq!(v["node"][0]["args"][1].as_str(), Some("n0"));
        // Run the prefix as the monitor would, with a shell standing in for the node.
        let mut argv = node.exec_prefix.clone();
        argv.extend(["sh".into(), "-c".into(), "echo to-stderr >&2; echo $$".into()]);
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        let printed_pid = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let file_pid = std::fs::read_to_string(dir.join("pid")).unwrap().trim().to_string();
        assert_eq!(printed_pid, file_pid, "the node keeps the wrapper's pid");
        assert!(std::fs::read_to_string(dir.join("stderr.log")).unwrap().contains("to-stderr"));
    }
}

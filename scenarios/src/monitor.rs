//! The config file the runner hands to `argus monitor --config FILE` in monitored scenarios.
//!
//! The file is `argus_interface::monitor::MonitorConfig`, the type the monitor reads; the
//! runner sets the scenario's `[monitor]` values and the node list, and leaves every other key
//! at the monitor's default.
//!
//! The monitor runs each node as `exec_prefix ++ [its own executable, "node"] ++ args`. The
//! prefix places the node in its namespace and wraps it in `sh -c` so that the node's pid
//! lands in `<dir>/pid` and its stderr in `<dir>/stderr.log`; the runner signals that pid for
//! kill and pause faults. Pure: renders text, starts nothing.

use std::path::Path;

use argus_interface::monitor::{MonitorConfig, NodeSpec};

use crate::schema::Monitor;

/// `sh -c` script: `$0` is the node's folder; the node replaces the shell (same pid).
pub const WRAPPER_SCRIPT: &str = r#"echo $$ > "$0/pid"; exec "$@" 2>>"$0/stderr.log""#;

/// One supervised node: its name, namespace prefix and arguments after `argus node`.
pub type MonitorNode = NodeSpec;

/// The wrapper prefix for a node whose folder is `dir`, after the lab's own prefix.
pub fn wrapped_prefix(lab_prefix: &[String], dir: &Path) -> Vec<String> {
    let mut p = lab_prefix.to_vec();
    p.extend(["sh".to_string(), "-c".to_string(), WRAPPER_SCRIPT.to_string(), dir.display().to_string()]);
    p
}

/// The monitor config for `nodes` under the scenario's `[monitor]` values.
pub fn config(m: &Monitor, nodes: &[MonitorNode]) -> MonitorConfig {
    MonitorConfig {
        heartbeat_timeout_ms: m.heartbeat_timeout_ms,
        health_timeout_ms: m.health_timeout_ms,
        audit_fail_threshold: m.audit_fail_threshold,
        restart_budget: m.restart_budget,
        restart_backoff_ms: m.backoff_ms,
        node: nodes.to_vec(),
        ..MonitorConfig::default()
    }
}

/// Renders the monitor config, refusing one the monitor would refuse.
pub fn render(m: &Monitor, nodes: &[MonitorNode]) -> Result<String, String> {
    let c = config(m, nodes);
    c.validate()?;
    c.to_toml()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_the_wrapper_records_pid_and_stderr() {
        let m = Monitor {
            heartbeat_timeout_ms: 3000,
            health_timeout_ms: 4000,
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
            ..Default::default()
        };
        let text = render(&m, std::slice::from_ref(&node)).unwrap();
        let back = MonitorConfig::from_toml(&text).unwrap();
        assert_eq!(back, config(&m, std::slice::from_ref(&node)));
        assert_eq!(
            (back.heartbeat_timeout_ms, back.health_timeout_ms, back.restart_backoff_ms),
            (3000, 4000, 500)
        );
        assert_eq!(back.node[0].args[1], "n0");
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

//! Monitor configuration as the monitor applies it: reading the file (its type,
//! `MonitorConfig`, is in `argus_interface::monitor`, shared with the scenario runner), the
//! `--spawn N -- NODE-ARGS...` shortcut that builds the node list, and the pure argument
//! rewriting the monitor applies (dropping `--fault`, adding bootstrap peers). Never starts
//! anything.

use std::path::Path;

pub use argus_interface::monitor::{MAX_NODES, MonitorConfig, NodeSpec};

use super::MonitorError;
use super::policy::PolicyConfig;

/// Reads and parses a config file; unknown keys are errors that name the line.
pub fn load(path: &Path) -> Result<MonitorConfig, MonitorError> {
    let p = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| MonitorError::Config(format!("cannot read {p}: {e}")))?;
    MonitorConfig::from_toml(&text).map_err(|e| MonitorError::Config(format!("{p}: {e}")))
}

/// Checks single fields and relations between them.
pub fn validate(cfg: &MonitorConfig) -> Result<(), MonitorError> {
    cfg.validate().map_err(MonitorError::Config)
}

impl From<&MonitorConfig> for PolicyConfig {
    fn from(c: &MonitorConfig) -> PolicyConfig {
        PolicyConfig {
            heartbeat_timeout_ms: c.heartbeat_timeout_ms,
            health_timeout_ms: c.health_timeout_ms,
            audit_fail_threshold: c.audit_fail_threshold,
            audit_fail_min_auditors: c.audit_fail_min_auditors,
            audit_window_ms: c.audit_window_ms,
            restart_backoff_ms: c.restart_backoff_ms,
            restart_backoff_max_ms: c.restart_backoff_max_ms,
            restart_budget: c.restart_budget,
            budget_window_ms: c.budget_window_ms,
            startup_grace_ms: c.startup_grace_ms,
            ready_timeout_ms: c.ready_timeout_ms,
        }
    }
}

/// `--spawn N -- ARGS`: nodes `n0..n{N-1}` with the shared `args`, each given
/// `--data <data_root>/nK` and `--name nK`.
pub fn spawn_nodes(count: usize, shared: &[String], data_root: &Path) -> Result<Vec<NodeSpec>, MonitorError> {
    if count == 0 || count > MAX_NODES {
        return Err(MonitorError::Config(format!("--spawn takes 1 to {MAX_NODES} nodes")));
    }
    if let Some(a) = shared.iter().find(|a| ["--data", "--name"].contains(&flag_name(a))) {
        return Err(MonitorError::Config(format!(
            "{a}: the monitor gives each spawned node its own --data and --name"
        )));
    }
    Ok((0..count)
        .map(|k| {
            let name = format!("n{k}");
            let mut args = vec![
                "--data".to_string(),
                data_root.join(&name).display().to_string(),
                "--name".into(),
                name.clone(),
            ];
            args.extend(shared.iter().cloned());
            NodeSpec { name, args, ..Default::default() }
        })
        .collect())
}

/// `--flag=value` -> `--flag`.
fn flag_name(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(f, _)| f)
}

/// Removes `--fault X` and `--fault=X` from node arguments; true when one was there.
pub fn drop_fault(args: &mut Vec<String>) -> bool {
    let before = args.len();
    let mut out = Vec::with_capacity(args.len());
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fault" => {
                it.next();
            }
            s if s.starts_with("--fault=") => {}
            _ => out.push(a),
        }
    }
    *args = out;
    args.len() != before
}

/// Whether the node arguments turn mDNS off (then the monitor hands out bootstrap peers).
pub fn mdns_off(args: &[String]) -> bool {
    args.iter().any(|a| a == "--no-mdns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn spawn_gives_each_node_its_data_dir_and_name() {
        let n = spawn_nodes(3, &strings(&["--no-mdns", "--backend", "ndarray"]), Path::new("/r")).unwrap();
        assert_eq!(n[2].name, "n2");
        assert_eq!(
            n[2].args,
            strings(&["--data", "/r/n2", "--name", "n2", "--no-mdns", "--backend", "ndarray"])
        );
        assert!(spawn_nodes(2, &strings(&["--data=/x"]), Path::new("/r")).is_err());
        assert!(spawn_nodes(0, &[], Path::new("/r")).is_err());
    }

    #[test]
    fn drop_fault_removes_both_spellings_only() {
        let mut a = strings(&["--data", "d", "--fault", "anomalous=0.5", "--admin"]);
        assert!(drop_fault(&mut a));
        assert_eq!(a, strings(&["--data", "d", "--admin"]));
        let mut b = strings(&["--fault=anomalous", "--no-mdns"]);
        assert!(drop_fault(&mut b));
        assert_eq!(b, strings(&["--no-mdns"]));
        assert!(!drop_fault(&mut b));
        assert!(mdns_off(&b));
    }
}

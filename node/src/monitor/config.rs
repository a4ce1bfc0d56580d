//! Monitor configuration: the TOML file (`--config FILE`), the `--spawn N -- NODE-ARGS...`
//! shortcut that builds the node list, and the pure argument rewriting the monitor applies
//! (dropping `--fault`, adding bootstrap peers). Never starts anything.
//!
//! ```toml
//! argus_bin = "/usr/local/bin/argus"  # default: the running executable
//! heartbeat_timeout_ms = 5000
//! audit_fail_threshold = 3            # FAIL verdicts within audit_window_ms ...
//! audit_fail_min_auditors = 2         # ... from at least this many distinct auditors
//! audit_window_ms = 60000
//! restart_backoff_ms = 1000           # doubled per restart inside budget_window_ms
//! restart_backoff_max_ms = 30000
//! restart_budget = 5                  # restarts per node per budget_window_ms, then give up
//! budget_window_ms = 600000
//! startup_grace_ms = 15000
//! ready_timeout_ms = 120000
//! stop_timeout_ms = 5000              # SIGTERM, then SIGKILL after this long
//! listen = ["/ip4/0.0.0.0/tcp/0"]     # the monitor's own libp2p settings
//! peers = []
//! mdns = true
//! http = "127.0.0.1:0"                # or "unix:/path/monitor.sock"
//! log_dir = "/var/log/argus"          # optional: each node's stderr in <log_dir>/<name>.log
//!
//! [[node]]
//! name = "n0"
//! args = ["--data", "/srv/argus/n0", "--http", "unix:/srv/argus/n0.sock"]
//! exec_prefix = ["ip", "netns", "exec", "argus-n0"]   # optional
//! env = { RUST_LOG = "info" }                          # optional
//! ```
//!
//! Each node runs as `exec_prefix ++ [argus_bin, "node"] ++ args`. The scenario runner writes
//! this same format (`scenarios/src/monitor.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::MonitorError;
use super::policy::PolicyConfig;

/// Most nodes one monitor supervises (each costs a process, a pipe and a few tasks).
pub const MAX_NODES: usize = 256;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    pub argus_bin: Option<PathBuf>,
    pub heartbeat_timeout_ms: u64,
    pub audit_fail_threshold: u32,
    pub audit_fail_min_auditors: u32,
    pub audit_window_ms: u64,
    pub restart_backoff_ms: u64,
    pub restart_backoff_max_ms: u64,
    pub restart_budget: u32,
    pub budget_window_ms: u64,
    pub startup_grace_ms: u64,
    pub ready_timeout_ms: u64,
    pub stop_timeout_ms: u64,
    pub listen: Vec<String>,
    pub peers: Vec<String>,
    pub mdns: bool,
    pub http: String,
    pub log_dir: Option<PathBuf>,
    pub node: Vec<NodeSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// Arguments after `argus node`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Command words put before the binary (a namespace, a wrapper script).
    #[serde(default)]
    pub exec_prefix: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            argus_bin: None,
            // Five heartbeat periods (1 s each, NetConfig::heartbeat_interval_ms): one or two
            // lost gossip messages or a GC-like stall never look like a dead node.
            heartbeat_timeout_ms: 5_000,
            // Auditors compare with a tolerance (IoU >= 0.5, close scores), so an honest node
            // fails rarely; three failures in a minute are a pattern, not noise.
            audit_fail_threshold: 3,
            // Corroboration: one broken auditor must not get healthy nodes restarted. Set 1 in
            // a two-node network, where a worker has only one possible auditor.
            audit_fail_min_auditors: 2,
            audit_window_ms: 60_000,
            restart_backoff_ms: 1_000,
            restart_backoff_max_ms: 30_000,
            // Five restarts in ten minutes (1+2+4+8+16 s of backoff): a node that keeps failing
            // after that needs a person, not a sixth restart.
            restart_budget: 5,
            budget_window_ms: 600_000,
            // Loading the detector, joining the mesh and the first heartbeats take a few
            // seconds on a loaded host; 15 s leaves a wide margin (heartbeats only).
            startup_grace_ms: 15_000,
            // wgpu adapter setup and shader compilation can take a minute on a cold machine.
            ready_timeout_ms: 120_000,
            // A node flushes its store on SIGTERM in well under a second.
            stop_timeout_ms: 5_000,
            listen: vec!["/ip4/0.0.0.0/tcp/0".into()],
            peers: Vec::new(),
            mdns: true,
            http: "127.0.0.1:0".into(),
            log_dir: None,
            node: Vec::new(),
        }
    }
}

impl MonitorConfig {
    /// Reads a TOML file; unknown keys are errors that name the line.
    pub fn load(path: &Path) -> Result<Self, MonitorError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| MonitorError::Config(format!("cannot read {p}: {e}")))?;
        toml::from_str(&text).map_err(|e| MonitorError::Config(format!("{p}: {e}")))
    }

    /// Checks single fields and relations between them.
    pub fn validate(&self) -> Result<(), MonitorError> {
        let bad = |m: String| Err(MonitorError::Config(m));
        if self.node.is_empty() || self.node.len() > MAX_NODES {
            return bad(format!("need 1 to {MAX_NODES} nodes, have {}", self.node.len()));
        }
        let mut names = std::collections::HashSet::new();
        for n in &self.node {
            let ok = !n.name.is_empty()
                && n.name.len() <= 64
                && n.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return bad(format!("node name {:?}: 1-64 characters of [A-Za-z0-9-_.]", n.name));
            }
            if !names.insert(&n.name) {
                return bad(format!("node name {:?} appears twice", n.name));
            }
        }
        let positive = [
            ("heartbeat_timeout_ms", self.heartbeat_timeout_ms),
            ("audit_window_ms", self.audit_window_ms),
            ("restart_backoff_ms", self.restart_backoff_ms),
            ("budget_window_ms", self.budget_window_ms),
            ("ready_timeout_ms", self.ready_timeout_ms),
            ("stop_timeout_ms", self.stop_timeout_ms),
            ("audit_fail_threshold", u64::from(self.audit_fail_threshold)),
            ("audit_fail_min_auditors", u64::from(self.audit_fail_min_auditors)),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return bad(format!("{name} must be positive"));
        }
        if self.audit_fail_min_auditors > self.audit_fail_threshold {
            return bad("audit_fail_min_auditors cannot exceed audit_fail_threshold".into());
        }
        if self.restart_backoff_max_ms < self.restart_backoff_ms {
            return bad("restart_backoff_max_ms must be at least restart_backoff_ms".into());
        }
        if self.restart_backoff_max_ms >= self.budget_window_ms {
            return bad(
                "restart_backoff_max_ms must be below budget_window_ms, or the budget never fills".into()
            );
        }
        if self.listen.is_empty() {
            return bad("listen: the monitor needs at least one listen address".into());
        }
        Ok(())
    }

    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            heartbeat_timeout_ms: self.heartbeat_timeout_ms,
            audit_fail_threshold: self.audit_fail_threshold,
            audit_fail_min_auditors: self.audit_fail_min_auditors,
            audit_window_ms: self.audit_window_ms,
            restart_backoff_ms: self.restart_backoff_ms,
            restart_backoff_max_ms: self.restart_backoff_max_ms,
            restart_budget: self.restart_budget,
            budget_window_ms: self.budget_window_ms,
            startup_grace_ms: self.startup_grace_ms,
            ready_timeout_ms: self.ready_timeout_ms,
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
    fn file_with_defaults_parses_and_the_old_aliases_are_refused() {
        let text = "heartbeat_timeout_ms = 3000\nrestart_backoff_ms = 500\naudit_fail_threshold = 3\nrestart_budget = 5\n\
                    [[node]]\nname = \"n0\"\nexec_prefix = [\"sh\", \"-c\"]\nargs = [\"--data\", \"/tmp/x\"]\n\
                    [node.env]\nRUST_LOG = \"debug\"\n";
        assert!(toml::from_str::<MonitorConfig>("backoff_ms = 500").is_err());
        assert!(toml::from_str::<MonitorConfig>("[[nodes]]\nname = \"n0\"").is_err());
        let c: MonitorConfig = toml::from_str(text).unwrap();
        c.validate().unwrap();
        assert_eq!((c.heartbeat_timeout_ms, c.restart_backoff_ms, c.startup_grace_ms), (3_000, 500, 15_000));
        assert_eq!(c.node[0].env["RUST_LOG"], "debug");
        assert_eq!(c.node[0].exec_prefix, strings(&["sh", "-c"]));
    }

    #[test]
    fn unknown_keys_and_bad_relations_are_rejected() {
        assert!(toml::from_str::<MonitorConfig>("bogus = 1").unwrap_err().to_string().contains("bogus"));
        assert!(toml::from_str::<MonitorConfig>("[[node]]\nname = \"a\"\nargz = []").is_err());
        let mut c =
            MonitorConfig { node: spawn_nodes(2, &[], Path::new("/d")).unwrap(), ..Default::default() };
        c.validate().unwrap();
        c.audit_fail_min_auditors = 4;
        assert!(c.validate().is_err());
        c.audit_fail_min_auditors = 1;
        c.restart_backoff_max_ms = 10;
        assert!(c.validate().is_err());
        c.restart_backoff_max_ms = 30_000;
        c.node[1].name = "n0".into();
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        c.node.clear();
        assert!(c.validate().is_err());
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

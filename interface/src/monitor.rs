//! The monitor's config file (`argus monitor --config FILE`, TOML). The monitor reads it and
//! the scenario runner writes it, both with this type, so neither needs aliases for the
//! other's spelling; unknown keys are errors.
//!
//! ```toml
//! argus_bin = "/usr/local/bin/argus"  # default: the running executable
//! heartbeat_timeout_ms = 5000        # silent this long over the network: "unreachable" (no restart)
//! health_timeout_ms = 10000           # no answer to the local health probe this long: restart
//! probe_interval_ms = 1000            # the health probe (GET /v1/status on the node's own socket)
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
//! network_key = "/etc/argus/swarm.key" # optional: the private network's key (`argus keygen`)
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
//! this type (`scenarios/src/monitor.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Most nodes one monitor supervises (each costs a process, a pipe and a few tasks).
pub const MAX_NODES: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argus_bin: Option<PathBuf>,
    pub heartbeat_timeout_ms: u64,
    pub health_timeout_ms: u64,
    pub probe_interval_ms: u64,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_key: Option<PathBuf>,
    pub http: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<PathBuf>,
    pub node: Vec<NodeSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
            // Restarts need local evidence: the node's own HTTP socket (a Unix socket or
            // loopback, never the network) answers `GET /v1/status` through its event loop. A
            // stopped or wedged process stops answering; a loaded one answers late, so ten
            // seconds without one answer, probed every second, is not a slow node.
            health_timeout_ms: 10_000,
            probe_interval_ms: 1_000,
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
            network_key: None,
            http: "127.0.0.1:0".into(),
            log_dir: None,
            node: Vec::new(),
        }
    }
}

impl MonitorConfig {
    /// Parses the TOML text of a config file; the error names the line of an unknown key.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Checks single fields and relations between them.
    pub fn validate(&self) -> Result<(), String> {
        let bad = Err::<(), String>;
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
            ("health_timeout_ms", self.health_timeout_ms),
            ("probe_interval_ms", self.probe_interval_ms),
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
        if self.health_timeout_ms < 2 * self.probe_interval_ms {
            return bad(
                "health_timeout_ms must be at least twice probe_interval_ms (one lost probe is no evidence)"
                    .into(),
            );
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> MonitorConfig {
        let node = |n: &str| NodeSpec {
            name: n.into(),
            args: vec!["--name".into(), n.into()],
            ..Default::default()
        };
        MonitorConfig { node: vec![node("n0"), node("n1")], ..Default::default() }
    }

    #[test]
    fn file_with_defaults_parses_and_the_old_aliases_are_refused() {
        let text = "heartbeat_timeout_ms = 3000\nrestart_backoff_ms = 500\naudit_fail_threshold = 3\nrestart_budget = 5\n\
                    [[node]]\nname = \"n0\"\nexec_prefix = [\"sh\", \"-c\"]\nargs = [\"--data\", \"/tmp/x\"]\n\
                    [node.env]\nRUST_LOG = \"debug\"\n";
        assert!(MonitorConfig::from_toml("backoff_ms = 500").is_err());
        assert!(MonitorConfig::from_toml("[[nodes]]\nname = \"n0\"").is_err());
        let c = MonitorConfig::from_toml(text).unwrap();
        c.validate().unwrap();
        assert_eq!((c.heartbeat_timeout_ms, c.restart_backoff_ms, c.startup_grace_ms), (3_000, 500, 15_000));
        assert_eq!(c.node[0].env["RUST_LOG"], "debug");
        assert_eq!(c.node[0].exec_prefix, ["sh", "-c"]);
    }

    #[test]
    fn what_the_runner_writes_the_monitor_reads_back_unchanged() {
        let mut c = two_nodes();
        c.heartbeat_timeout_ms = 1_234;
        c.node[1].exec_prefix = vec!["ip".into(), "netns".into(), "exec".into(), "x".into()];
        c.node[1].env.insert("RUST_LOG".into(), "info".into());
        let text = c.to_toml().unwrap();
        assert_eq!(MonitorConfig::from_toml(&text).unwrap(), c, "{text}");
    }

    #[test]
    fn unknown_keys_and_bad_relations_are_rejected() {
        assert!(MonitorConfig::from_toml("bogus = 1").unwrap_err().contains("bogus"));
        assert!(MonitorConfig::from_toml("[[node]]\nname = \"a\"\nargz = []").is_err());
        let mut c = two_nodes();
        c.validate().unwrap();
        c.audit_fail_min_auditors = 4;
        assert!(c.validate().is_err());
        c.audit_fail_min_auditors = 1;
        c.restart_backoff_max_ms = 10;
        assert!(c.validate().is_err());
        c.restart_backoff_max_ms = 30_000;
        c.node[1].name = "n0".into();
        assert!(c.validate().unwrap_err().contains("twice"));
        c.node.clear();
        assert!(c.validate().is_err());
    }
}

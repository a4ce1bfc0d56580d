//! What a run needs to know of each node of a scenario: its name, backend, extra flags, and
//! whether it is a hostile member.

use super::{Backend, Scenario};

/// The `argus node --fault` values that make a hostile member.
pub const HOSTILE_FAULTS: [&str; 3] = ["blackhole", "liar", "flooder"];

impl Scenario {
    /// Names of all nodes, initial ones first, then spares.
    pub fn node_names(&self) -> Vec<String> {
        (0..self.nodes.count + self.nodes.spare).map(|i| format!("n{i}")).collect()
    }

    /// The backend of node `name`, after overrides (`None`: the node's default).
    pub fn backend_of(&self, name: &str) -> Option<Backend> {
        self.nodes.overrides.get(name).and_then(|o| o.backend).or(self.nodes.backend)
    }

    /// Extra flags of node `name`: `nodes.args` then its override's args.
    pub fn extra_args_of(&self, name: &str) -> Vec<String> {
        let mut args = self.nodes.args.clone();
        if let Some(o) = self.nodes.overrides.get(name) {
            args.extend(o.args.iter().cloned());
        }
        args
    }

    /// Whether the node is started as a hostile member (`--fault blackhole|liar|flooder` in its
    /// args): it is then left out of the loss, convergence and work figures, and the others
    /// must ban it (`checks.hostile_ban_max_s`).
    pub fn is_hostile(&self, name: &str) -> bool {
        let args = self.extra_args_of(name);
        let value = |i: usize, a: &String| match a.strip_prefix("--fault=") {
            Some(v) => Some(v.to_string()),
            None => (a == "--fault").then(|| args.get(i + 1).cloned()).flatten(),
        };
        args.iter().enumerate().filter_map(|(i, a)| value(i, a)).any(|v| HOSTILE_FAULTS.contains(&v.as_str()))
    }
}

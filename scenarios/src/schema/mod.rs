//! The scenario file format (`scenarios/*.toml`): serde structs, parsing and defaults.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`), and parse errors carry the line
//! and column of the offending key. Relations between fields (names that must exist, a
//! timeline that must end healed, checks that need a workload) are checked in [`validate`].
//! This module never touches processes, the network or the clock; it only describes a run.
//! The format is documented for users in `scenarios/README.md`.

mod nodes;
mod sources;
mod timeline;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use nodes::HOSTILE_FAULTS;
pub use sources::derive_seed;
pub use validate::{Fault, Plan, SourceKind, SourcePlan, TimedFault};

/// Errors found while reading or validating a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
}

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; also the default output folder prefix.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds everything random in the run (source seeds not given, query choices, `random`
    /// fault targets). `--seed` overrides it; a failed run prints the seed to replay.
    pub seed: u64,
    /// Length of the load phase in seconds; timeline steps happen inside it.
    pub duration_s: f64,
    /// Seconds to keep observing after the load phase, before settling (lets adaptive
    /// controllers such as the audit ratio recover). Default 0.
    #[serde(default)]
    pub idle_s: f64,
    /// Upper bound in seconds on waiting for replicas to converge after the run. Default 60.
    #[serde(default = "default_settle_s")]
    pub settle_s: f64,
    /// Upper bound in seconds on nodes meshing up before the load starts. Default 30.
    #[serde(default = "default_warmup_s")]
    pub warmup_s: f64,
    pub nodes: Nodes,
    /// When present, nodes are spawned and supervised by `argus monitor` instead of the runner.
    #[serde(default)]
    pub monitor: Option<Monitor>,
    /// A private network (`[network] key = true`) and outsiders trying to join it.
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub queries: Option<Queries>,
    #[serde(default)]
    pub timeline: Vec<toml::Spanned<Step>>,
    #[serde(default)]
    pub checks: Checks,
}

/// Inference backend of a node (`argus node --backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Ndarray,
    Flex,
    Wgpu,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        }
    }
}

/// The worker nodes. They are named `n0`, `n1`, ... in order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nodes {
    /// Nodes started before the load begins.
    pub count: usize,
    /// Extra nodes declared but only started by a `start` step (named after the first ones).
    #[serde(default)]
    pub spare: usize,
    /// `--backend` for every node; absent: the node's own default.
    #[serde(default)]
    pub backend: Option<Backend>,
    /// Extra `argus node` flags for every node, e.g. `["--fault", "anomalous=0.5"]`.
    #[serde(default)]
    pub args: Vec<String>,
    /// A node config table, written to `<out>/node-config.toml` and passed with `--config`.
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// Per-node changes, keyed by node name (`[nodes.overrides.n3]`).
    #[serde(default)]
    pub overrides: BTreeMap<String, NodeOverride>,
    /// Seconds to wait for a node's ready line (wgpu on a software Vulkan needs ~15 s).
    #[serde(default = "default_ready_timeout_s")]
    pub ready_timeout_s: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOverride {
    #[serde(default)]
    pub backend: Option<Backend>,
    /// Appended after `nodes.args`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Settings handed to `argus monitor` (see `monitor.rs` for the generated config file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    #[serde(default = "default_heartbeat_timeout_ms")]
    pub heartbeat_timeout_ms: u64,
    /// No answer to the local health probe this long restarts a node.
    #[serde(default = "default_health_timeout_ms")]
    pub health_timeout_ms: u64,
    #[serde(default = "default_audit_fail_threshold")]
    pub audit_fail_threshold: u32,
    #[serde(default = "default_restart_budget")]
    pub restart_budget: u32,
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

/// `[network]`: with `key = true` the runner writes a key (`argus keygen`) into the output
/// folder and gives it to every node, sender and the monitor (`--network-key`). `outsiders`
/// nodes are started once the members have meshed, without the key, each with an identity of
/// its own and `--fault anomalous` (so any result of theirs that got in would be visible), and
/// keep dialling the members until the end.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub key: bool,
    #[serde(default)]
    pub outsiders: u32,
}

/// Most outsider processes a scenario may start.
pub const MAX_OUTSIDERS: u32 = 32;

/// One image source (`argus send`). Exactly one of `synthetic_seed`/`dir` may be given;
/// with neither, it sends synthetic scenes seeded from the scenario seed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub name: String,
    pub rate_per_s: f64,
    /// Number of images (required for synthetic sources).
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub synthetic_seed: Option<u64>,
    /// A folder of PNG/JPEG files, relative to the scenario file (`~/` means the home folder).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// The model the images need (`shapes` or `coco`); by default the sender's own: `shapes`
    /// for synthetic scenes, `coco` for a folder.
    #[serde(default)]
    pub model: Option<String>,
    /// Seconds after the load starts.
    #[serde(default)]
    pub start_s: f64,
    /// Seconds the sender stays after its last image to serve fetches.
    #[serde(default = "default_linger_s")]
    pub linger_s: u64,
    #[serde(default = "default_min_peers")]
    pub min_peers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    Local,
    Majority,
}

/// Query load: random announced images asked of random live nodes during the load phase.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Queries {
    pub rate_per_s: f64,
    #[serde(default = "default_consistency")]
    pub consistency: Consistency,
    #[serde(default = "default_query_timeout_ms")]
    pub timeout_ms: u64,
}

/// The kinds of timeline steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Partition,
    Isolate,
    Heal,
    Kill,
    Pause,
    Resume,
    Restart,
    KillAll,
    RestartAll,
    RollingRestart,
    Anomalous,
    Start,
}

/// One timeline step as written. Which optional fields a kind takes is checked in
/// [`validate`]; a field a kind does not use is an error.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Seconds after the load starts.
    pub at_s: f64,
    pub fault: FaultKind,
    /// Target node (`n3`) or `random` (picked with the seed among the initial nodes).
    #[serde(default)]
    pub node: Option<String>,
    /// `partition`: group name -> members (node names, source names, `monitor`).
    #[serde(default)]
    pub groups: Option<BTreeMap<String, Vec<String>>>,
    /// `anomalous`: probability that a result is perturbed (0 turns it off).
    #[serde(default)]
    pub rate: Option<f64>,
    /// `rolling_restart`: seconds between consecutive node restarts.
    #[serde(default)]
    pub interval_s: Option<f64>,
    /// `restart`/`rolling_restart`: start with an empty data folder (a replacement node).
    #[serde(default)]
    pub fresh_data: Option<bool>,
}

/// Thresholds. Absent optional checks are not run; `lost_max` and the workload and liveness
/// checks always run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Announced images missing on some live node at the end. Default 0.
    #[serde(default)]
    pub lost_max: u64,
    /// (sum of images processed by all nodes - distinct images) / distinct images.
    pub duplicate_ratio_max: Option<f64>,
    /// Seconds from each heal (or the end of the load when nothing heals) to equal
    /// fingerprints on every live node.
    pub converge_max_s: Option<f64>,
    /// Share of queries issued during partitions that got an answer (found or not found).
    pub partition_answered_min_ratio: Option<f64>,
    /// Restarts the monitor must report.
    pub restarts_min: Option<u32>,
    /// Restarts the monitor may report at most (0: it must restart no healthy node).
    pub restarts_max: Option<u32>,
    /// Connections between members and outsiders seen at the end, at most.
    pub outsider_connections_max: Option<u64>,
    /// Stored winners produced by an outsider, at most.
    pub outsider_values_max: Option<u64>,
    /// Every hostile member (see `Scenario::is_hostile`) banned by every honest live member
    /// within this many seconds of when it could first misbehave (see `Figures::hostile_bans`).
    pub hostile_ban_max_s: Option<f64>,
    /// Seconds from a fault on a monitored node to the monitor restarting it.
    pub restart_max_s: Option<f64>,
    /// During the load the mean audit ratio must fall to at most this.
    pub audit_ratio_low_max: Option<f64>,
    /// During the idle tail the mean audit ratio must climb back to at least this.
    pub audit_ratio_recovered_min: Option<f64>,
    pub latency_p50_max_ms: Option<f64>,
    pub latency_p99_max_ms: Option<f64>,
    /// Completed images per second over the load window.
    pub throughput_min_per_s: Option<f64>,
    /// Share of stored images whose register holds more than one candidate.
    pub split_votes_max_ratio: Option<f64>,
    /// Every node ever started must have processed at least this many images.
    pub min_processed_per_node: Option<u64>,
    /// Every node ever started must have audited at least this many other workers' results
    /// (with mixed backends: each backend checks the others).
    pub min_audits_per_node: Option<u64>,
    /// Images whose stored value at the end is vouched for only by a node that produced it
    /// while anomalous (see the `anomalous` fault).
    pub anomalous_values_max: Option<u64>,
    /// Seconds from the last node started until every node sees all the others.
    pub mesh_max_s: Option<f64>,
}

fn default_settle_s() -> f64 {
    60.0
}
fn default_warmup_s() -> f64 {
    30.0
}
fn default_ready_timeout_s() -> f64 {
    60.0
}
fn default_heartbeat_timeout_ms() -> u64 {
    3_000
}
fn default_health_timeout_ms() -> u64 {
    3_000
}
fn default_audit_fail_threshold() -> u32 {
    3
}
fn default_restart_budget() -> u32 {
    5
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_linger_s() -> u64 {
    10
}
fn default_min_peers() -> u32 {
    1
}
fn default_consistency() -> Consistency {
    Consistency::Majority
}
/// Above the node's own 5 s request timeout, so a majority read that waits on an
/// unreachable peer still answers before the client gives up.
fn default_query_timeout_ms() -> u64 {
    10_000
}

impl Scenario {
    /// Parses a scenario from TOML text. `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, SchemaError> {
        toml::from_str(text)
            .map_err(|e| SchemaError::Parse { path: path.to_path_buf(), message: e.to_string() })
    }

    /// Reads, parses and validates a scenario file; `seed` overrides the file's seed.
    pub fn load(path: &Path, seed: Option<u64>) -> Result<Plan, SchemaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SchemaError::Read { path: path.to_path_buf(), source })?;
        let scenario = Scenario::parse(&text, path)?;
        plan(scenario, &text, path, seed)
    }
}

/// 1-based line of byte offset `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Validates `scenario` and resolves it into a [`Plan`]; `seed` overrides the file's seed.
pub fn plan(mut scenario: Scenario, text: &str, path: &Path, seed: Option<u64>) -> Result<Plan, SchemaError> {
    let cx = validate::Ctx { text, path };
    let seed = seed.unwrap_or(scenario.seed);
    scenario.seed = seed;
    validate::check_top(&scenario, &cx)?;
    validate::check_nodes(&scenario, &cx)?;
    let sources = sources::plan_sources(&scenario, &cx, seed)?;
    let faults = timeline::simulate(&scenario, &cx, seed)?;
    validate::check_checks(&scenario, &faults, &cx)?;
    Ok(Plan { scenario, seed, path: path.to_path_buf(), faults, sources })
}

#[cfg(test)]
mod tests;

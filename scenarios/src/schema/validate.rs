//! Relations between the fields of a scenario, and the types of its resolution into a [`Plan`]
//! (typed faults with absolute times, `random` targets drawn with the seed, source seeds
//! derived; `schema::plan` puts it together).
//!
//! The timeline is simulated step by step (which nodes run, which are paused or dead, whether
//! a partition is active) so that impossible timelines fail before anything starts.
//! Pure: never starts processes or touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::{FaultKind, Scenario, SchemaError, Step, line_of};

/// A validated scenario ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub seed: u64,
    pub path: PathBuf,
    pub faults: Vec<TimedFault>,
    pub sources: Vec<SourcePlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimedFault {
    pub at_ms: u64,
    /// Line of the step in the scenario file.
    pub line: usize,
    #[serde(flatten)]
    pub fault: Fault,
}

/// A fault with its targets resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    Partition { groups: BTreeMap<String, Vec<String>> },
    Isolate { node: String },
    Heal,
    Kill { node: String },
    Pause { node: String },
    Resume { node: String },
    Restart { node: String, fresh_data: bool },
    KillAll,
    RestartAll,
    RollingRestart { interval_ms: u64, fresh_data: bool },
    Anomalous { node: String, rate: f64 },
    Start { node: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct SourcePlan {
    pub name: String,
    pub rate_per_s: f64,
    /// `--model` for the sender, when the file names one.
    pub model: Option<String>,
    pub kind: SourceKind,
    pub start_ms: u64,
    pub linger_s: u64,
    pub min_peers: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Synthetic { seed: u64, count: u64 },
    Dir { path: PathBuf },
}

/// Flags the runner sets itself; a scenario may not pass them in `args`.
const RUNNER_FLAGS: &[&str] =
    &["--data", "--http", "--listen", "--peer", "--no-mdns", "--name", "--admin-token", "--backend"];

/// At most this many nodes: they share one /24 with sources and the monitor.
const MAX_NODES: usize = 200;

pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn err(&self, line: usize, message: impl Into<String>) -> SchemaError {
        SchemaError::Invalid { path: self.path.to_path_buf(), line, message: message.into() }
    }
    /// Line of the `nth` occurrence of `needle`, or 1.
    pub(super) fn line(&self, needle: &str, nth: usize) -> usize {
        self.text.match_indices(needle).nth(nth).map_or(1, |(at, _)| line_of(self.text, at))
    }
}

pub(super) fn finite_pos(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

pub(super) fn check_top(s: &Scenario, cx: &Ctx) -> Result<(), SchemaError> {
    let ok_name = !s.name.is_empty()
        && s.name.len() <= 64
        && s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok_name {
        return Err(cx.err(cx.line("name", 0), "name must be 1-64 of [A-Za-z0-9_-]"));
    }
    if !finite_pos(s.duration_s) {
        return Err(cx.err(cx.line("duration_s", 0), "duration_s must be > 0"));
    }
    for (key, v) in [("settle_s", s.settle_s), ("warmup_s", s.warmup_s)] {
        if !finite_pos(v) {
            return Err(cx.err(cx.line(key, 0), format!("{key} must be > 0")));
        }
    }
    if !(s.idle_s.is_finite() && s.idle_s >= 0.0) {
        return Err(cx.err(cx.line("idle_s", 0), "idle_s must be >= 0"));
    }
    if let Some(n) = &s.network {
        let line = cx.line("[network]", 0);
        if n.outsiders > super::MAX_OUTSIDERS {
            return Err(cx.err(line, format!("network: at most {} outsiders", super::MAX_OUTSIDERS)));
        }
        if n.outsiders > 0 && !n.key {
            return Err(cx.err(line, "network: outsiders need key = true (they are the ones without it)"));
        }
    }
    if let Some(m) = &s.monitor {
        let line = cx.line("[monitor]", 0);
        if m.heartbeat_timeout_ms == 0 || m.backoff_ms == 0 || m.audit_fail_threshold == 0 {
            return Err(cx.err(
                line,
                "monitor: heartbeat_timeout_ms, backoff_ms and audit_fail_threshold must be > 0",
            ));
        }
        if m.health_timeout_ms < 2_000 {
            return Err(cx.err(
                line,
                "monitor: health_timeout_ms must be at least 2000 (twice the monitor's 1 s probe interval)",
            ));
        }
        if s.nodes.spare > 0 {
            return Err(
                cx.err(line, "monitor: spare nodes are not supported (the monitor owns the node set)")
            );
        }
    }
    if let Some(q) = &s.queries
        && (!finite_pos(q.rate_per_s) || q.timeout_ms == 0)
    {
        return Err(cx.err(cx.line("[queries]", 0), "queries: rate_per_s and timeout_ms must be > 0"));
    }
    Ok(())
}

pub(super) fn check_nodes(s: &Scenario, cx: &Ctx) -> Result<(), SchemaError> {
    let n = &s.nodes;
    let line = cx.line("[nodes]", 0);
    if n.count == 0 || n.count + n.spare > MAX_NODES {
        return Err(cx.err(line, format!("nodes: count must be >= 1 and count + spare <= {MAX_NODES}")));
    }
    if !finite_pos(n.ready_timeout_s) {
        return Err(cx.err(line, "nodes: ready_timeout_s must be > 0"));
    }
    let names = s.node_names();
    for name in n.overrides.keys() {
        if !names.contains(name) {
            return Err(cx.err(
                cx.line(name, 0),
                format!("nodes.overrides: no node named `{name}` (nodes are {})", names.join(", ")),
            ));
        }
    }
    let all_args = n.args.iter().chain(n.overrides.values().flat_map(|o| o.args.iter()));
    for arg in all_args {
        let flag = arg.split('=').next().unwrap_or(arg);
        let owned = RUNNER_FLAGS.contains(&flag) || (flag == "--config" && n.config.is_some());
        if owned {
            return Err(cx.err(
                cx.line(arg, 0),
                format!("node flag `{flag}` is set by the runner; remove it from args"),
            ));
        }
    }
    Ok(())
}

pub(super) fn check_checks(s: &Scenario, faults: &[TimedFault], cx: &Ctx) -> Result<(), SchemaError> {
    let c = &s.checks;
    let line = cx.line("[checks]", 0);
    let ratios = [
        ("duplicate_ratio_max", c.duplicate_ratio_max),
        ("partition_answered_min_ratio", c.partition_answered_min_ratio),
        ("audit_ratio_low_max", c.audit_ratio_low_max),
        ("audit_ratio_recovered_min", c.audit_ratio_recovered_min),
        ("split_votes_max_ratio", c.split_votes_max_ratio),
    ];
    for (key, v) in ratios {
        if v.is_some_and(|v| !(v.is_finite() && (0.0..=1.0).contains(&v))) {
            return Err(cx.err(cx.line(key, 0), format!("checks.{key} must be within 0..=1")));
        }
    }
    let positives = [
        ("converge_max_s", c.converge_max_s),
        ("restart_max_s", c.restart_max_s),
        ("latency_p50_max_ms", c.latency_p50_max_ms),
        ("latency_p99_max_ms", c.latency_p99_max_ms),
        ("throughput_min_per_s", c.throughput_min_per_s),
    ];
    for (key, v) in positives {
        if v.is_some_and(|v| !finite_pos(v)) {
            return Err(cx.err(cx.line(key, 0), format!("checks.{key} must be > 0")));
        }
    }
    let monitored = s.monitor.is_some();
    if (c.restarts_min.is_some() || c.restarts_max.is_some() || c.restart_max_s.is_some()) && !monitored {
        return Err(cx.err(line, "checks.restarts_min/restarts_max/restart_max_s need a [monitor]"));
    }
    let outsiders = s.network.as_ref().map_or(0, |n| n.outsiders);
    if (c.outsider_connections_max.is_some() || c.outsider_values_max.is_some()) && outsiders == 0 {
        return Err(
            cx.err(line, "checks.outsider_connections_max/outsider_values_max need [network] outsiders > 0")
        );
    }
    let partitions =
        faults.iter().any(|f| matches!(f.fault, Fault::Partition { .. } | Fault::Isolate { .. }));
    if c.partition_answered_min_ratio.is_some() && (s.queries.is_none() || !partitions) {
        return Err(cx.err(
            line,
            "checks.partition_answered_min_ratio needs [queries] and a partition or isolate step",
        ));
    }
    if c.audit_ratio_recovered_min.is_some() && s.idle_s <= 0.0 {
        return Err(cx.err(line, "checks.audit_ratio_recovered_min needs idle_s > 0 (the recovery window)"));
    }
    Ok(())
}

/// Draws a node among `candidates` with the seeded generator (for `node = "random"`).
pub(super) fn draw(rng: &mut StdRng, candidates: &[String]) -> Option<String> {
    if candidates.is_empty() {
        return None;
    }
    Some(candidates[rng.random_range(0..candidates.len())].clone())
}

pub(super) fn rng_for(seed: u64) -> StdRng {
    StdRng::seed_from_u64(super::derive_seed(seed, u64::MAX - 1))
}

pub(super) fn unused_fields(step: &Step) -> Vec<&'static str> {
    let allowed: &[&str] = match step.fault {
        FaultKind::Partition => &["groups"],
        FaultKind::Heal | FaultKind::KillAll | FaultKind::RestartAll => &[],
        FaultKind::Isolate | FaultKind::Kill | FaultKind::Pause | FaultKind::Resume | FaultKind::Start => {
            &["node"]
        }
        FaultKind::Restart => &["node", "fresh_data"],
        FaultKind::Anomalous => &["node", "rate"],
        FaultKind::RollingRestart => &["interval_s", "fresh_data"],
    };
    let present = [
        ("node", step.node.is_some()),
        ("groups", step.groups.is_some()),
        ("rate", step.rate.is_some()),
        ("interval_s", step.interval_s.is_some()),
        ("fresh_data", step.fresh_data.is_some()),
    ];
    present.into_iter().filter(|(k, p)| *p && !allowed.contains(k)).map(|(k, _)| k).collect()
}

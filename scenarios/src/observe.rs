//! What a run observed, as plain data: announcements (the senders' own lines are the ground
//! truth of what was announced), status samples, query outcomes, completions, faults applied,
//! monitor decisions and the final contents of every node's store. Times are milliseconds
//! since the load started (`t_ms`), except fields named `*_unix_ms`.
//!
//! Only data and pure derivations live here; the tasks that fill it are in `collect.rs`, the
//! verdicts in `checks.rs`. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One image a sender printed as announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub image_id: String,
    pub source: String,
    pub seq: u64,
    pub captured_at_unix_ms: u64,
    /// Capture time relative to the load start.
    pub t_ms: u64,
}

/// One `GET /v1/status` + `GET /v1/registers/digest` of one node in one polling round.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusSample {
    pub round: u64,
    pub t_ms: u64,
    pub node: String,
    /// The runner expected this node to be up when it asked.
    pub expected_live: bool,
    /// A hostile member: left out of convergence.
    #[serde(default)]
    pub hostile: bool,
    pub ok: bool,
    pub error: Option<String>,
    pub audit_ratio: f64,
    pub queue_len: u64,
    pub registers: u64,
    pub peers: usize,
    pub uptime_ms: u64,
    /// The node's `images_processed` counter (since it started).
    pub processed: Option<f64>,
    /// The node's `audits_performed` counter (audits it ran for other workers' results).
    #[serde(default)]
    pub audits: Option<f64>,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QueryOutcome {
    Found { corroborating: Option<u64>, asked: Option<u64>, answered: Option<u64> },
    NotFound,
    Failed { error: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuerySample {
    pub t_ms: u64,
    pub node: String,
    pub image_id: String,
    pub took_ms: u64,
    #[serde(flatten)]
    pub outcome: QueryOutcome,
}

/// A fault as applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRecord {
    pub at_ms: u64,
    pub done_ms: u64,
    /// `partition`, `heal`, `kill`, ... (the step's `fault`).
    pub kind: String,
    pub targets: Vec<String>,
    pub detail: String,
    /// `anomalous`: the rate set (0 turns the fault off).
    pub rate: Option<f64>,
    pub ok: bool,
    pub error: Option<String>,
}

/// A line of the monitor's stdout (`{"event":"restart","node":..,"reason":..}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorEvent {
    pub t_ms: u64,
    pub event: String,
    pub node: String,
    pub reason: String,
}

/// One node's store at the end of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinalNode {
    pub name: String,
    pub expected_live: bool,
    /// A hostile member: left out of the loss and work figures.
    #[serde(default)]
    pub hostile: bool,
    /// Its bans at the end: (banned peer, unix ms of the ban).
    #[serde(default)]
    pub bans: Vec<(String, u64)>,
    /// When it started (unix ms), from its uptime at the end.
    #[serde(default)]
    pub started_unix_ms: Option<u64>,
    pub responded: bool,
    pub error: Option<String>,
    /// image id -> number of candidates in its register.
    pub candidates: BTreeMap<String, u64>,
    /// The node's PeerId, from its status at the end.
    pub peer_id: Option<String>,
    /// image id -> the register's winner as this node holds it.
    pub winners: BTreeMap<String, Winner>,
    /// Its connected peers and `connections_refused` counter at the end.
    #[serde(default)]
    pub peers: Vec<String>,
    #[serde(default)]
    pub connections_refused: Option<u64>,
}

impl FinalNode {
    /// Up as the runner expected, answered at the end, and not a hostile member: a node whose
    /// store and counters the figures judge.
    pub fn answering_member(&self) -> bool {
        self.expected_live && self.responded && !self.hostile
    }
}

/// A register's winning value: who produced it (earliest attester) and how many nodes vouch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Winner {
    pub worker: Option<String>,
    pub votes: u64,
    /// Unix ms of its earliest attestation.
    pub first_ts_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observations {
    pub t0_unix_ms: u64,
    /// End of the load phase, of the idle tail, and of the settle wait.
    pub load_end_ms: u64,
    pub idle_end_ms: u64,
    pub end_ms: u64,
    pub announced: Vec<Announcement>,
    pub samples: Vec<StatusSample>,
    pub queries: Vec<QuerySample>,
    /// image id -> when a stored result was first seen (or reported stored), run time.
    pub completions: BTreeMap<String, u64>,
    pub faults: Vec<FaultRecord>,
    /// (t_ms, number of nodes running and not paused), from the start.
    pub live_counts: Vec<(u64, usize)>,
    pub monitor_events: Vec<MonitorEvent>,
    pub final_nodes: Vec<FinalNode>,
    /// Whether the lab is monitored (nodes restart on their own).
    pub monitored: bool,
    /// How each sender ran.
    pub sources: Vec<crate::sources::SourceRun>,
    /// Seconds from the last node started until every node saw all the others (mDNS in the
    /// namespace lab); `None` when they did not within `warmup_s`.
    #[serde(default)]
    pub mesh_s: Option<f64>,
    /// PeerIds of the outsiders started without the network key (`[network] outsiders`).
    #[serde(default)]
    pub outsiders: Vec<String>,
}

impl Observations {
    /// Nodes running (not paused) at `t_ms`; with no record, assume some were.
    pub fn live_at(&self, t_ms: u64) -> usize {
        self.live_counts.iter().take_while(|(t, _)| *t <= t_ms).last().map_or(usize::MAX, |(_, n)| *n)
    }

    /// Images that must be stored everywhere: announced while at least one node lived.
    pub fn required(&self) -> BTreeSet<&str> {
        self.announced.iter().filter(|a| self.live_at(a.t_ms) > 0).map(|a| a.image_id.as_str()).collect()
    }

    /// Rounds of samples, in order.
    pub fn rounds(&self) -> Vec<(u64, Vec<&StatusSample>)> {
        let mut by: BTreeMap<u64, Vec<&StatusSample>> = BTreeMap::new();
        for s in &self.samples {
            by.entry(s.round).or_default().push(s);
        }
        by.into_iter().collect()
    }

    /// Images processed per node, summed over its incarnations (a drop in uptime marks a
    /// restart; each incarnation contributes the largest counter value seen). A lower bound:
    /// work done after the last sample of an incarnation is not seen.
    pub fn processed_per_node(&self) -> BTreeMap<String, f64> {
        self.counter_per_node(|s| s.processed)
    }

    /// Audits performed per node, summed over incarnations like [`Self::processed_per_node`].
    pub fn audits_per_node(&self) -> BTreeMap<String, f64> {
        self.counter_per_node(|s| s.audits)
    }

    fn counter_per_node(&self, counter: impl Fn(&StatusSample) -> Option<f64>) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let mut by_node: BTreeMap<&str, Vec<&StatusSample>> = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.ok) {
            by_node.entry(&s.node).or_default().push(s);
        }
        for (node, samples) in by_node {
            let (mut total, mut current, mut last_uptime) = (0.0, 0.0_f64, 0);
            for s in samples {
                if s.uptime_ms < last_uptime {
                    total += current;
                    current = 0.0;
                }
                last_uptime = s.uptime_ms;
                current = current.max(counter(s).unwrap_or(0.0));
            }
            out.insert(node.to_string(), total + current);
        }
        out
    }
}

/// Whether one round shows every expected-live node answering with one fingerprint.
pub fn round_converged(samples: &[&StatusSample]) -> bool {
    let live: Vec<_> = samples.iter().filter(|s| s.expected_live && !s.hostile).collect();
    if live.is_empty() || live.iter().any(|s| !s.ok || s.fingerprint.is_none()) {
        return false;
    }
    live.iter().map(|s| s.fingerprint.as_deref()).collect::<BTreeSet<_>>().len() == 1
}

/// Divergence of one round: distinct fingerprints among answering nodes minus one, and the
/// spread of register counts (most minus fewest).
pub fn round_divergence(samples: &[&StatusSample]) -> (usize, u64) {
    let ok: Vec<_> = samples.iter().filter(|s| s.ok).collect();
    let distinct = ok.iter().filter_map(|s| s.fingerprint.as_deref()).collect::<BTreeSet<_>>().len();
    let max = ok.iter().map(|s| s.registers).max().unwrap_or(0);
    let min = ok.iter().map(|s| s.registers).min().unwrap_or(0);
    (distinct.saturating_sub(1), max - min)
}

/// Nearest-rank percentile of `values` (sorted in place); `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

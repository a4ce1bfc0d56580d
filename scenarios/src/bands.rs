//! Time bands of a run for the chart and the checks: when a partition was in force, when a
//! node was down, paused, restarting or anomalous. Derived from the fault records and the
//! monitor's restart events. Pure.

use serde::Serialize;

use crate::observe::{FaultRecord, Observations};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandKind {
    Partition,
    Down,
    Paused,
    Restart,
    Anomalous,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub kind: BandKind,
    pub start_ms: u64,
    pub end_ms: u64,
    pub label: String,
    /// The node a node fault is about (`None` for partitions and fleet-wide faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Kinds of fault records that bring `node` back (or end its fault).
fn ends(r: &FaultRecord, node: &str, kinds: &[&str]) -> bool {
    kinds.contains(&r.kind.as_str()) && (r.targets.iter().any(|t| t == node) || r.kind == "restart_all")
}

/// First time after `from` at which `node`'s state ends: a matching record or, under a
/// monitor, a restart event of that node.
fn end_for(obs: &Observations, from: u64, node: &str, kinds: &[&str]) -> u64 {
    let by_fault =
        obs.faults.iter().filter(|r| r.at_ms >= from && ends(r, node, kinds)).map(|r| r.at_ms).min();
    let by_monitor = obs
        .monitor_events
        .iter()
        .filter(|e| e.t_ms >= from && e.event == "restart" && e.node == node)
        .map(|e| e.t_ms)
        .min();
    [by_fault, by_monitor].into_iter().flatten().min().unwrap_or(obs.end_ms).max(from)
}

/// All bands of a run, in start order.
pub fn bands(obs: &Observations) -> Vec<Band> {
    let mut out = Vec::new();
    for (i, r) in obs.faults.iter().enumerate() {
        if !r.ok {
            continue;
        }
        let start = r.at_ms;
        let node = r.targets.first().cloned().unwrap_or_default();
        let about = (!node.is_empty()).then(|| node.clone());
        let band = |kind, end_ms: u64, label: String| Band {
            kind,
            start_ms: start,
            end_ms,
            label,
            node: if kind == BandKind::Partition { None } else { about.clone() },
        };
        match r.kind.as_str() {
            "partition" | "isolate" => {
                let end =
                    obs.faults[i + 1..].iter().find(|f| f.kind == "heal").map_or(obs.end_ms, |f| f.at_ms);
                out.push(band(BandKind::Partition, end, format!("{} {}", r.kind, r.detail)));
            }
            "kill" => {
                let end = end_for(obs, start, &node, &["restart", "start", "restart_all"]);
                out.push(band(BandKind::Down, end, format!("kill {node}")));
            }
            "kill_all" => {
                let end = obs.faults[i + 1..]
                    .iter()
                    .find(|f| f.kind == "restart_all")
                    .map_or(obs.end_ms, |f| f.at_ms);
                out.push(band(BandKind::Down, end, "kill_all".into()));
            }
            "pause" => {
                let end = end_for(obs, start, &node, &["resume", "restart", "restart_all"]);
                out.push(band(BandKind::Paused, end, format!("pause {node}")));
            }
            "restart" | "start" | "restart_all" => {
                out.push(band(
                    BandKind::Restart,
                    r.done_ms.max(start),
                    format!("{} {}", r.kind, r.targets.join(",")),
                ));
            }
            "anomalous" if r.rate.unwrap_or(0.0) > 0.0 => {
                let end = end_for(obs, start + 1, &node, &["anomalous", "restart", "restart_all"]);
                out.push(band(BandKind::Anomalous, end, format!("anomalous {node}")));
            }
            _ => {}
        }
    }
    for e in obs.monitor_events.iter().filter(|e| e.event == "restart") {
        out.push(Band {
            kind: BandKind::Restart,
            start_ms: e.t_ms,
            end_ms: e.t_ms,
            label: format!("monitor restarts {}", e.node),
            node: Some(e.node.clone()),
        });
    }
    out.sort_by_key(|b| (b.start_ms, b.end_ms));
    out
}

/// Whether `t_ms` lies inside a partition band.
pub fn in_partition(bands: &[Band], t_ms: u64) -> bool {
    bands.iter().any(|b| b.kind == BandKind::Partition && b.start_ms <= t_ms && t_ms < b.end_ms)
}

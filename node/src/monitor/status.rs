//! The supervisor's status snapshot for the HTTP API: the policy's view of each node plus what
//! the shell knows. Read-only.

use super::http::{NodeStatus, Snapshot};
use super::supervise::Supervisor;

impl Supervisor {
    /// The status snapshot: the policy's view of each node plus what the shell knows.
    pub(super) fn snapshot(&self) -> Snapshot {
        let now = self.now_ms();
        let nodes = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let v = self.policy.view(i, now);
                NodeStatus {
                    name: slot.spec.name.clone(),
                    state: v.as_ref().map_or("unknown", |v| v.state).to_string(),
                    pid: slot.child.as_ref().map(|h| h.pid),
                    peer_id: slot.peer.map(|p| p.to_string()),
                    http: slot.http.clone(),
                    incarnation: slot.incarnation,
                    restarts: v.as_ref().map_or(0, |v| v.restarts_total),
                    restarts_in_window: v.as_ref().map_or(0, |v| v.restarts_in_window),
                    last_heartbeat_age_ms: v.as_ref().and_then(|v| v.last_heartbeat_age_ms),
                    audit_fails: v.as_ref().map_or(0, |v| v.audit_fails),
                    last_reason: slot.last_reason.clone(),
                    fault_dropped: slot.fault_dropped,
                    heartbeat: slot.heartbeat.clone(),
                }
            })
            .collect();
        let c = &self.counters;
        Snapshot {
            peer_id: self.me.to_string(),
            uptime_ms: now,
            peers_connected: c.peers_connected,
            heartbeats_total: c.heartbeats,
            verdicts_pass_total: c.verdicts_pass,
            verdicts_fail_total: c.verdicts_fail,
            restarts_total: c.restarts.clone(),
            give_ups_total: c.give_ups,
            unreachable_total: c.unreachable,
            probes_failed_total: c.probes_failed,
            nodes,
        }
    }
}

//! The monitor's failure detector and restart policy as a pure state machine: it takes events
//! (heartbeats, audit verdicts, readiness, exits) stamped with the current time in ms and, on
//! `tick`, returns decisions (start, restart, give up). It never touches processes, sockets or
//! clocks, so every rule is unit-tested with a fake clock (`policy_tests.rs`).
//!
//! Rules, per node:
//! - A node is started at the first tick (with sequential start, only once no other node is
//!   still waiting for its ready line). Until its ready line arrives it is `Starting`; no
//!   ready line within `ready_timeout_ms` is a failure.
//! - Restarts need local evidence. Once ready, the shell probes the node's own HTTP socket
//!   (`on_probe`); no successful probe for `health_timeout_ms` (counted from the ready line
//!   until the first answer) is a failure. A node the shell cannot probe (no HTTP address in
//!   its ready line) is judged by its exit and its audits alone.
//! - Heartbeats travel over the network, which may be cut while the process is healthy: a
//!   node silent for longer than `heartbeat_timeout_ms` (or `startup_grace_ms` before its
//!   first heartbeat) is only *unreachable*. It is reported (`Decision::Unreachable`, once per
//!   silence) and counted, never restarted for it. A partition between the monitor and its
//!   nodes therefore restarts nothing.
//! - FAIL verdicts against it are counted within a sliding `audit_window_ms`; reaching
//!   `audit_fail_threshold`, from at least `audit_fail_min_auditors` distinct auditors, is a
//!   failure. A verdict counts only when it judges a result the current incarnation published
//!   (seen on the results topic since it started): verdicts about the previous incarnation's
//!   results keep arriving for a while after a restart and must not condemn the repaired node.
//! - A node that exits by itself (or cannot be spawned) has failed.
//! - A failure is a restart after a backoff of `restart_backoff_ms` doubled for every restart
//!   already inside `budget_window_ms`, capped at `restart_backoff_max_ms`; when the window
//!   already holds `restart_budget` restarts the monitor gives up on the node for good (an
//!   operator must look at it), so a node that fails again right after each restart is never
//!   restarted in a tight loop.

use std::collections::{HashSet, VecDeque};

use argus_protocol::ids::ImageId;
use libp2p::PeerId;

pub use super::reason::Reason;

/// Index of a node in the monitor's node list.
pub type NodeIx = usize;

/// The numbers the policy runs on (a subset of `MonitorConfig`, checked by its `validate`).
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub heartbeat_timeout_ms: u64,
    pub health_timeout_ms: u64,
    pub audit_fail_threshold: u32,
    pub audit_fail_min_auditors: u32,
    pub audit_window_ms: u64,
    pub restart_backoff_ms: u64,
    pub restart_backoff_max_ms: u64,
    pub restart_budget: u32,
    pub budget_window_ms: u64,
    pub startup_grace_ms: u64,
    pub ready_timeout_ms: u64,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Spawn the node now (its first start, or the end of a restart's backoff).
    Start { node: NodeIx },
    /// Stop the node now; a `Start` follows after `backoff_ms`. `drop_fault`: restart it
    /// without its `--fault` argument (a restart for failed audits models a repair).
    Restart { node: NodeIx, reason: Reason, drop_fault: bool, backoff_ms: u64 },
    /// Stop the node now and never start it again: its restart budget is spent.
    GiveUp { node: NodeIx, reason: Reason },
    /// No heartbeat over the network for `silent_ms`: report it, restart nothing (the node
    /// may be cut off from the monitor, not dead). Once per silence.
    Unreachable { node: NodeIx, silent_ms: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not running; start at `start_at_ms`.
    Down {
        start_at_ms: u64,
    },
    /// Spawned at `since_ms`, no ready line yet.
    Starting {
        since_ms: u64,
    },
    /// Ready at `ready_ms`. `healthy_since_ms`: the last successful health probe, or the ready
    /// line once a probe has failed before any succeeded (None: never probed).
    Up {
        ready_ms: u64,
        last_heartbeat_ms: Option<u64>,
        healthy_since_ms: Option<u64>,
    },
    GaveUp,
}

#[derive(Debug)]
struct NodeState {
    phase: Phase,
    /// FAIL verdicts in the audit window: (time, auditor).
    fails: VecDeque<(u64, PeerId)>,
    /// Results published by the current incarnation (bounded, oldest evicted first).
    results: HashSet<ImageId>,
    results_order: VecDeque<ImageId>,
    /// Restart times inside the budget window.
    restarts: VecDeque<u64>,
    restarts_total: u64,
    /// Whether it was ever started (sequential first starts wait for the others).
    started_once: bool,
    /// Set by `on_exit` while starting or up; consumed by `tick`.
    exited: Option<Reason>,
    /// Heartbeats have stopped (reported once, until one comes again).
    unreachable: bool,
    unreachable_total: u64,
}

/// Read-only view of one node for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub state: &'static str,
    pub last_heartbeat_age_ms: Option<u64>,
    pub audit_fails: u32,
    pub restarts_total: u64,
    pub restarts_in_window: u32,
    /// Times its heartbeats stopped reaching the monitor while it was up.
    pub unreachable_total: u64,
}

/// Most FAIL verdicts remembered per node; far above any sensible threshold.
const MAX_FAILS_KEPT: usize = 1_024;
/// Result ids remembered per incarnation (32 B each: 256 KiB per node); audits judge recent
/// results, so hours of work at a few images per second per node fit.
const MAX_RESULTS_KEPT: usize = 8_192;

pub struct MonitorPolicy {
    cfg: PolicyConfig,
    nodes: Vec<NodeState>,
    sequential: bool,
}

impl MonitorPolicy {
    /// Every node starts `Down`, due at time 0: the first `tick` starts them all.
    pub fn new(cfg: PolicyConfig, node_count: usize) -> Self {
        let fresh = || NodeState {
            phase: Phase::Down { start_at_ms: 0 },
            fails: VecDeque::new(),
            results: HashSet::new(),
            results_order: VecDeque::new(),
            restarts: VecDeque::new(),
            restarts_total: 0,
            started_once: false,
            exited: None,
            unreachable: false,
            unreachable_total: 0,
        };
        Self { cfg, nodes: (0..node_count).map(|_| fresh()).collect(), sequential: false }
    }

    /// First starts one at a time, in order: a node is started only when no other is still
    /// waiting for its ready line (so it can be handed the others' addresses as bootstrap
    /// peers). Restarts are never held back.
    pub fn with_sequential_start(mut self, on: bool) -> Self {
        self.sequential = on;
        self
    }

    /// The node printed its ready line.
    pub fn on_ready(&mut self, node: NodeIx, now_ms: u64) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if matches!(n.phase, Phase::Starting { .. }) {
            n.phase = Phase::Up { ready_ms: now_ms, last_heartbeat_ms: None, healthy_since_ms: None };
        }
    }

    pub fn on_heartbeat(&mut self, node: NodeIx, now_ms: u64) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if let Phase::Up { last_heartbeat_ms, .. } = &mut n.phase {
            *last_heartbeat_ms = Some(last_heartbeat_ms.map_or(now_ms, |t| t.max(now_ms)));
        }
    }

    /// The shell probed the node's own HTTP socket: it answered (`ok`) or not (an error, a
    /// timeout). Only the current incarnation's probes may be passed in.
    pub fn on_probe(&mut self, node: NodeIx, ok: bool, now_ms: u64) {
        let Some(n) = self.nodes.get_mut(node) else { return };
        if let Phase::Up { ready_ms, healthy_since_ms, .. } = &mut n.phase {
            if ok {
                *healthy_since_ms = Some(healthy_since_ms.map_or(now_ms, |t| t.max(now_ms)));
            } else if healthy_since_ms.is_none() {
                *healthy_since_ms = Some(*ready_ms);
            }
        }
    }

    /// The node published a result for `image` (ignored unless it is starting or up: a
    /// stopped incarnation's last messages may still be in flight).
    pub fn on_result(&mut self, node: NodeIx, image: ImageId) {
        let Some(n) = self.nodes.get_mut(node) else { return };
        if !matches!(n.phase, Phase::Starting { .. } | Phase::Up { .. }) || !n.results.insert(image) {
            return;
        }
        n.results_order.push_back(image);
        if n.results_order.len() > MAX_RESULTS_KEPT
            && let Some(old) = n.results_order.pop_front()
        {
            n.results.remove(&old);
        }
    }

    /// An audit verdict on `worker`'s result for `image`, rendered by `auditor`.
    pub fn on_verdict(&mut self, worker: NodeIx, image: &ImageId, auditor: PeerId, pass: bool, now_ms: u64) {
        let Some(n) = self.nodes.get_mut(worker) else { return };
        if pass || !matches!(n.phase, Phase::Up { .. }) || !n.results.contains(image) {
            return;
        }
        n.fails.push_back((now_ms, auditor));
        if n.fails.len() > MAX_FAILS_KEPT {
            n.fails.pop_front();
        }
    }

    /// The process ended. Ignored unless it was starting or up (the monitor stopped it
    /// otherwise, and the shell filters exits of earlier incarnations).
    pub fn on_exit(&mut self, node: NodeIx, code: Option<i32>, signal: Option<i32>) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if matches!(n.phase, Phase::Starting { .. } | Phase::Up { .. }) {
            n.exited = Some(Reason::Exited { code, signal });
        }
    }

    /// Applies the rules at `now_ms` and returns what to do, in node order.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        for node in 0..self.nodes.len() {
            if let Some(d) = self.decide(node, now_ms) {
                out.push(d);
            }
        }
        out
    }

    fn decide(&mut self, node: NodeIx, now_ms: u64) -> Option<Decision> {
        let hold_first_start =
            self.sequential && self.nodes.iter().any(|n| matches!(n.phase, Phase::Starting { .. }));
        let cfg = &self.cfg;
        let n = &mut self.nodes[node];
        let window_start = now_ms.saturating_sub(cfg.audit_window_ms);
        while n.fails.front().is_some_and(|(t, _)| *t < window_start) {
            n.fails.pop_front();
        }
        let phase = n.phase;
        match phase {
            Phase::GaveUp => None,
            Phase::Down { .. } if hold_first_start && !n.started_once => None,
            Phase::Down { start_at_ms } if now_ms >= start_at_ms => {
                n.phase = Phase::Starting { since_ms: now_ms };
                n.started_once = true;
                Some(Decision::Start { node })
            }
            Phase::Down { .. } => None,
            Phase::Starting { since_ms } => {
                let waited_ms = now_ms.saturating_sub(since_ms);
                let reason = n
                    .exited
                    .take()
                    .or((waited_ms >= cfg.ready_timeout_ms).then_some(Reason::NotReady { waited_ms }))?;
                Some(self.fail(node, reason, now_ms))
            }
            Phase::Up { ready_ms, last_heartbeat_ms, healthy_since_ms } => {
                let reason = n.exited.take().or_else(|| failed_audits(cfg, &n.fails)).or_else(|| {
                    let since = healthy_since_ms?;
                    let silent_ms = now_ms.saturating_sub(since);
                    (silent_ms >= cfg.health_timeout_ms).then_some(Reason::Unhealthy { silent_ms })
                });
                if let Some(reason) = reason {
                    n.unreachable = false;
                    return Some(self.fail(node, reason, now_ms));
                }
                match silent(cfg, ready_ms, last_heartbeat_ms, now_ms) {
                    Some(silent_ms) if !n.unreachable => {
                        n.unreachable = true;
                        n.unreachable_total += 1;
                        Some(Decision::Unreachable { node, silent_ms })
                    }
                    Some(_) => None,
                    None => {
                        n.unreachable = false;
                        None
                    }
                }
            }
        }
    }

    /// A failure: restart with backoff, or give up when the budget is spent.
    fn fail(&mut self, node: NodeIx, reason: Reason, now_ms: u64) -> Decision {
        let cfg = &self.cfg;
        let n = &mut self.nodes[node];
        n.fails.clear();
        n.results.clear();
        n.results_order.clear();
        n.exited = None;
        let budget_start = now_ms.saturating_sub(cfg.budget_window_ms);
        while n.restarts.front().is_some_and(|t| *t < budget_start) {
            n.restarts.pop_front();
        }
        if n.restarts.len() >= cfg.restart_budget as usize {
            n.phase = Phase::GaveUp;
            return Decision::GiveUp { node, reason };
        }
        let doublings = n.restarts.len().min(63) as u32;
        let backoff_ms = cfg
            .restart_backoff_ms
            .saturating_mul(1u64.checked_shl(doublings).unwrap_or(u64::MAX))
            .min(cfg.restart_backoff_max_ms);
        n.restarts.push_back(now_ms);
        n.restarts_total += 1;
        n.phase = Phase::Down { start_at_ms: now_ms.saturating_add(backoff_ms) };
        let drop_fault = matches!(reason, Reason::FailedAudits { .. });
        Decision::Restart { node, reason, drop_fault, backoff_ms }
    }

    /// Status of one node at `now_ms`; `None` for an unknown index.
    pub fn view(&self, node: NodeIx, now_ms: u64) -> Option<NodeView> {
        let n = self.nodes.get(node)?;
        let (state, last_hb) = match n.phase {
            Phase::Down { .. } => ("down", None),
            Phase::Starting { .. } => ("starting", None),
            Phase::Up { last_heartbeat_ms, .. } if n.unreachable => ("unreachable", last_heartbeat_ms),
            Phase::Up { last_heartbeat_ms, .. } => ("up", last_heartbeat_ms),
            Phase::GaveUp => ("gave_up", None),
        };
        let window_start = now_ms.saturating_sub(self.cfg.audit_window_ms);
        let budget_start = now_ms.saturating_sub(self.cfg.budget_window_ms);
        Some(NodeView {
            state,
            last_heartbeat_age_ms: last_hb.map(|t| now_ms.saturating_sub(t)),
            audit_fails: n.fails.iter().filter(|(t, _)| *t >= window_start).count() as u32,
            restarts_total: n.restarts_total,
            restarts_in_window: n.restarts.iter().filter(|t| **t >= budget_start).count() as u32,
            unreachable_total: n.unreachable_total,
        })
    }
}

/// Enough FAIL verdicts, from enough distinct auditors, inside the window (already pruned).
fn failed_audits(cfg: &PolicyConfig, fails: &VecDeque<(u64, PeerId)>) -> Option<Reason> {
    let count = fails.len() as u32;
    if count < cfg.audit_fail_threshold {
        return None;
    }
    let auditors: HashSet<&PeerId> = fails.iter().map(|(_, a)| a).collect();
    (auditors.len() as u32 >= cfg.audit_fail_min_auditors).then_some(Reason::FailedAudits { fails: count })
}

/// Heartbeat silence past the deadline, in ms: `heartbeat_timeout_ms` after the last
/// heartbeat, or, before the first one, the later of the grace and the timeout after the ready
/// line.
fn silent(cfg: &PolicyConfig, ready_ms: u64, last_heartbeat_ms: Option<u64>, now_ms: u64) -> Option<u64> {
    let (since, deadline) = match last_heartbeat_ms {
        Some(t) => (t, t.saturating_add(cfg.heartbeat_timeout_ms)),
        None => (ready_ms, ready_ms.saturating_add(cfg.startup_grace_ms.max(cfg.heartbeat_timeout_ms))),
    };
    (now_ms >= deadline).then(|| now_ms - since)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

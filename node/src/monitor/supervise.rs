//! The supervisor: the async shell around `MonitorPolicy`. One task owns the policy, the
//! children and the peer-to-node map; it feeds the policy with child events (ready, exit) and
//! network observations (heartbeats, verdicts), executes the policy's decisions (spawn, kill,
//! give up), reports each one (tracing and a JSON line on stdout) and publishes a status
//! snapshot for the HTTP API. It never decides by itself when to restart: the policy does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use argus_interface::lines::{self, MonitorLine, Restart};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use super::MonitorError;
use super::child::{self, ChildEvent, ChildHandle, Launch, Ready, Sig};
use super::config::{self, MonitorConfig, NodeSpec};
use super::http::Snapshot;
use super::policy::{Decision, MonitorPolicy, NodeIx, PolicyConfig, Reason};
use super::report::{Counters, unix_ms};
use super::watch::{self as netwatch, HeartbeatSummary, Observation};
use crate::net::{NetEvent, NetHandle};

/// Policy ticks: the resolution of every timeout the policy applies.
const TICK: Duration = Duration::from_millis(100);
/// How often nodes we cannot hear from directly are dialled again.
const REDIAL: Duration = Duration::from_secs(5);
/// Child events (ready, exit) waiting for the supervisor; a few per node at most.
pub const CHILD_EVENTS: usize = 256;
/// Bootstrap `--peer` addresses handed to one spawned node, at most.
const MAX_HANDED_PEERS: usize = 16;
/// After SIGKILL at shutdown, how long to wait for the last exits.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Per-node state the shell keeps beside the policy.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) spec: NodeSpec,
    pub(super) child: Option<ChildHandle>,
    pub(super) incarnation: u64,
    pub(super) peer: Option<PeerId>,
    pub(super) listen: Vec<Multiaddr>,
    pub(super) http: Option<String>,
    pub(super) last_reason: Option<String>,
    pub(super) fault_dropped: bool,
    pub(super) heartbeat: Option<HeartbeatSummary>,
    /// A health probe is in flight; the next is due at `next_probe_ms` (`probe`).
    pub(super) probing: bool,
    pub(super) next_probe_ms: u64,
}

pub struct Supervisor {
    pub(super) cfg: MonitorConfig,
    bin: PathBuf,
    /// Hand each spawned node the listen addresses of the others as `--peer` (spawn mode
    /// with mDNS off: loopback nodes cannot find each other otherwise).
    hand_out_peers: bool,
    pub(super) policy: MonitorPolicy,
    pub(super) slots: Vec<Slot>,
    by_peer: HashMap<PeerId, NodeIx>,
    net: NetHandle,
    pub(super) me: PeerId,
    pub(super) started: Instant,
    child_tx: mpsc::Sender<ChildEvent>,
    pub(super) counters: Counters,
    status: watch::Sender<Snapshot>,
}

impl Supervisor {
    pub fn new(
        cfg: MonitorConfig,
        bin: PathBuf,
        hand_out_peers: bool,
        net: NetHandle,
        me: PeerId,
        child_tx: mpsc::Sender<ChildEvent>,
        status: watch::Sender<Snapshot>,
    ) -> Self {
        let policy = MonitorPolicy::new(PolicyConfig::from(&cfg), cfg.node.len())
            .with_sequential_start(hand_out_peers);
        let slots = cfg.node.iter().map(|spec| Slot { spec: spec.clone(), ..Default::default() }).collect();
        Self {
            cfg,
            bin,
            hand_out_peers,
            policy,
            slots,
            by_peer: HashMap::new(),
            net,
            me,
            started: Instant::now(),
            child_tx,
            counters: Counters::default(),
            status,
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Runs until `shutdown` resolves (or the network task dies), then stops every child.
    pub async fn run(
        mut self,
        mut child_rx: mpsc::Receiver<ChildEvent>,
        mut net_rx: mpsc::Receiver<NetEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), MonitorError> {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(REDIAL);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // At most one probe per node is in flight: one answer each fits.
        let (probe_tx, mut probe_rx) = mpsc::channel(self.slots.len().max(1));
        let outcome = loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                Some(ev) = child_rx.recv() => self.on_child(ev),
                ev = net_rx.recv() => match ev {
                    Some(ev) => {
                        if let Some(obs) = netwatch::observe(&self.net, ev).await {
                            self.on_observation(obs);
                        }
                    }
                    // Deaf, the monitor would restart every node for silence: stop instead.
                    None => break Err(MonitorError::Net("the network task stopped".into())),
                },
                Some(p) = probe_rx.recv() => self.on_probed(p),
                _ = tick.tick() => {
                    self.apply_tick();
                    self.probe_due(&probe_tx);
                    self.publish_status();
                }
                _ = redial.tick() => self.redial().await,
            }
        };
        self.stop_all(&mut child_rx).await;
        outcome
    }

    fn apply_tick(&mut self) {
        let now = self.now_ms();
        for d in self.policy.tick(now) {
            match d {
                Decision::Start { node } => self.start(node),
                Decision::Restart { node, reason, drop_fault, backoff_ms } => {
                    self.restart(node, &reason, drop_fault, backoff_ms)
                }
                Decision::GiveUp { node, reason } => self.give_up(node, &reason),
                Decision::Unreachable { node, silent_ms } => self.unreachable(node, silent_ms),
            }
        }
    }

    fn start(&mut self, node: NodeIx) {
        let extra_args = if self.hand_out_peers { self.peer_args(node) } else { Vec::new() };
        let log = self.cfg.log_dir.as_ref().map(|d| d.join(format!("{}.log", self.slots[node].spec.name)));
        let slot = &mut self.slots[node];
        slot.incarnation += 1;
        let launch =
            Launch { node, incarnation: slot.incarnation, bin: &self.bin, spec: &slot.spec, extra_args, log };
        let line = child::argv(&launch).join(" ");
        match child::spawn(launch, self.child_tx.clone()) {
            Ok(h) => {
                info!(node = %slot.spec.name, pid = h.pid, incarnation = slot.incarnation, command = %line, "node spawned");
                slot.child = Some(h);
            }
            Err(e) => {
                error!(node = %slot.spec.name, error = %e, "cannot spawn node");
                self.policy.on_exit(node, None, None);
            }
        }
    }

    /// `--peer` arguments: the listen addresses of the other nodes that are up.
    fn peer_args(&self, node: NodeIx) -> Vec<String> {
        let addrs = self.slots.iter().enumerate().filter(|(i, s)| *i != node && s.child.is_some()).flat_map(
            |(_, s)| {
                let peer = s.peer;
                s.listen.iter().filter_map(move |a| Some(netwatch::with_peer(a, peer?)))
            },
        );
        addrs.take(MAX_HANDED_PEERS).flat_map(|a| ["--peer".to_string(), a.to_string()]).collect()
    }

    fn restart(&mut self, node: NodeIx, reason: &Reason, drop_fault: bool, backoff_ms: u64) {
        self.stop_child(node);
        let slot = &mut self.slots[node];
        // The fault is injected by the lab (`--fault`); a restart for failed audits models
        // the repair, so the node comes back without it. Other restarts keep the arguments.
        let dropped = drop_fault && config::drop_fault(&mut slot.spec.args);
        slot.fault_dropped |= dropped;
        slot.last_reason = Some(reason.to_string());
        *self.counters.restarts.entry(reason.kind().to_string()).or_default() += 1;
        let peer = slot.peer.map(|p| p.to_string());
        warn!(node = %slot.spec.name, peer = ?peer, %reason, backoff_ms, fault_dropped = dropped, "restarting node");
        lines::print(&MonitorLine::Restart(Restart {
            node: slot.spec.name.clone(),
            peer_id: peer,
            reason: reason.to_string(),
            kind: reason.kind().to_string(),
            backoff_ms,
            fault_dropped: dropped,
            at_ms: unix_ms(),
        }));
    }

    fn give_up(&mut self, node: NodeIx, reason: &Reason) {
        self.stop_child(node);
        let slot = &mut self.slots[node];
        slot.last_reason = Some(reason.to_string());
        self.counters.give_ups += 1;
        let peer = slot.peer.map(|p| p.to_string());
        warn!(node = %slot.spec.name, peer = ?peer, %reason, budget = self.cfg.restart_budget, "restart budget spent: giving up on node");
        lines::print(&MonitorLine::GiveUp {
            node: slot.spec.name.clone(),
            peer_id: peer,
            reason: reason.to_string(),
            kind: reason.kind().to_string(),
            at_ms: unix_ms(),
        });
    }

    /// Heartbeats stopped reaching us: a partition or a dead process. Only the local probe and
    /// the process's exit tell them apart, so this restarts nothing.
    fn unreachable(&mut self, node: NodeIx, silent_ms: u64) {
        let slot = &self.slots[node];
        self.counters.unreachable += 1;
        warn!(node = %slot.spec.name, silent_ms, "no heartbeat over the network: unreachable (not restarted for it)");
        lines::print(&MonitorLine::Unreachable {
            node: slot.spec.name.clone(),
            peer_id: slot.peer.map(|p| p.to_string()),
            silent_ms,
            at_ms: unix_ms(),
        });
    }

    /// SIGKILL for the current incarnation; its exit report is then ignored.
    fn stop_child(&mut self, node: NodeIx) {
        if let Some(h) = self.slots[node].child.take() {
            h.signal(Sig::Kill);
        }
    }

    fn on_child(&mut self, ev: ChildEvent) {
        let now = self.now_ms();
        match ev {
            ChildEvent::Ready { node, incarnation, ready } => {
                let current =
                    self.slots.get(node).is_some_and(|s| s.incarnation == incarnation && s.child.is_some());
                if current {
                    self.on_ready(node, ready, now);
                }
            }
            ChildEvent::Exited { node, incarnation, code, signal } => {
                let Some(slot) = self.slots.get_mut(node) else {
                    return;
                };
                if slot.incarnation != incarnation || slot.child.is_none() {
                    debug!(node = %slot.spec.name, incarnation, ?code, ?signal, "stopped incarnation exited");
                    return;
                }
                slot.child = None;
                warn!(node = %slot.spec.name, ?code, ?signal, "node exited by itself");
                self.policy.on_exit(node, code, signal);
            }
        }
    }

    fn on_ready(&mut self, node: NodeIx, ready: Ready, now: u64) {
        let slot = &mut self.slots[node];
        if let Some(old) = slot.peer.filter(|p| *p != ready.peer_id) {
            self.by_peer.remove(&old);
        }
        slot.peer = Some(ready.peer_id);
        slot.listen = ready.listen.clone();
        slot.http = ready.http.clone();
        slot.probing = false;
        slot.next_probe_ms = now;
        self.by_peer.insert(ready.peer_id, node);
        self.policy.on_ready(node, now);
        let pid = slot.child.as_ref().map(|h| h.pid);
        info!(node = %slot.spec.name, peer = %ready.peer_id, ?pid, http = ?ready.http, "node ready");
        lines::print(&MonitorLine::Started {
            node: slot.spec.name.clone(),
            peer_id: ready.peer_id.to_string(),
            pid,
            http: ready.http.clone(),
            incarnation: slot.incarnation,
            at_ms: unix_ms(),
        });
        let net = self.net.clone();
        tokio::spawn(async move { netwatch::dial(&net, ready.peer_id, &ready.listen).await });
    }

    fn on_observation(&mut self, obs: Observation) {
        let now = self.now_ms();
        match obs {
            Observation::Heartbeat { node, summary } => {
                self.counters.heartbeats += 1;
                if let Some(&ix) = self.by_peer.get(&node) {
                    self.policy.on_heartbeat(ix, now);
                    self.slots[ix].heartbeat = Some(summary);
                }
            }
            Observation::Result { worker, image } => {
                if let Some(&ix) = self.by_peer.get(&worker) {
                    self.policy.on_result(ix, image);
                }
            }
            Observation::Verdict { worker, image, auditor, pass } => {
                if pass {
                    self.counters.verdicts_pass += 1;
                } else {
                    self.counters.verdicts_fail += 1;
                }
                if let Some(&ix) = self.by_peer.get(&worker) {
                    if !pass {
                        info!(node = %self.slots[ix].spec.name, %auditor, %image, "audit FAIL against a supervised node");
                    }
                    self.policy.on_verdict(ix, &image, auditor, pass, now);
                }
            }
            Observation::PeerUp(p) => {
                self.counters.peers_connected += 1;
                debug!(peer = %p, "monitor connected");
            }
            Observation::PeerDown(p) => {
                self.counters.peers_connected = self.counters.peers_connected.saturating_sub(1);
                debug!(peer = %p, "monitor disconnected");
            }
        }
    }

    /// Dials running nodes the monitor is not connected to (after a node or link restart).
    async fn redial(&mut self) {
        let Ok(connected) = self.net.peers().await else {
            return;
        };
        for s in &self.slots {
            if let Some(peer) = s.peer.filter(|p| s.child.is_some() && !connected.contains(p)) {
                netwatch::dial(&self.net, peer, &s.listen).await;
            }
        }
    }

    fn publish_status(&self) {
        self.status.send_replace(self.snapshot());
    }

    /// SIGTERM to every child, SIGKILL to those still there after `stop_timeout_ms`.
    async fn stop_all(&mut self, child_rx: &mut mpsc::Receiver<ChildEvent>) {
        let mut live: HashMap<NodeIx, u64> = HashMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(h) = &s.child {
                h.signal(Sig::Term);
                live.insert(i, h.incarnation);
            }
        }
        info!(children = live.len(), "stopping nodes");
        let term_deadline = tokio::time::Instant::now() + Duration::from_millis(self.cfg.stop_timeout_ms);
        child::wait_exits(child_rx, &mut live, term_deadline).await;
        for (&i, _) in live.iter() {
            if let Some(h) = &self.slots[i].child {
                warn!(node = %self.slots[i].spec.name, "node ignored SIGTERM; killing it");
                h.signal(Sig::Kill);
            }
        }
        child::wait_exits(child_rx, &mut live, tokio::time::Instant::now() + KILL_WAIT).await;
        for s in &mut self.slots {
            s.child = None;
        }
        info!(left = live.len(), "nodes stopped");
    }
}

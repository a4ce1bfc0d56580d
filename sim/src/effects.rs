//! How the simulated world carries out a state's `Out` events, and the faults.

use argus_protocol::ids::NodeId;
use argus_protocol::messages::{GossipMessage, ReplicaDigest};
use argus_state::reconcile::{Plan as Reconcile, SPLIT, Step, digest_ranges};
use argus_state::{In, Out, Purpose};
use libp2p_identity::PeerId;

use crate::node::WORKER_QUEUE;
use crate::plan::Fault;
use crate::world::{Ev, FETCH_TIMEOUT_MS, World, sender};

/// Time a store read takes, ms.
const READ_MS: u64 = 1;
/// Time a write batch takes to commit (fsync), ms.
const COMMIT_MS: u64 = 3;

impl World {
    pub(crate) fn apply(&mut self, i: usize, outs: Vec<Out>) {
        let inc = self.nodes[i].incarnation;
        for out in outs {
            if self.trace {
                trace_out(self.now, i, &out);
            }
            self.observed.trace_hash(self.now, i, &out);
            if let (true, Out::Publish(GossipMessage::Claim(c))) = (self.nodes[i].black_hole, &out) {
                self.observed.black_hole_held.insert(c.image_id);
            }
            match out {
                Out::Publish(msg) => {
                    if self.trace {
                        trace_publish(self.now, i, &msg);
                    }
                    match &msg {
                        GossipMessage::Result(r) => self.observed.published(r),
                        GossipMessage::AuditVerdict(v) if !v.pass => {
                            self.observed.failed_audit.insert(v.worker);
                        }
                        _ => {}
                    }
                    self.gossip(i, msg);
                }
                Out::Fetch { image, from } => self.fetch(i, image, from),
                Out::Infer(job) => {
                    let n = &mut self.nodes[i];
                    if n.queue.len() >= WORKER_QUEUE {
                        self.deliver_now(i, In::InferRefused { job });
                        continue;
                    }
                    if matches!(job.purpose, Purpose::Work { .. }) {
                        *n.work_runs.entry(job.image).or_default() += 1;
                    }
                    n.queue.push_back(job);
                    if !n.worker_busy {
                        n.worker_busy = true;
                        let t = self.now + n.speed_ms;
                        self.at(t, Ev::WorkerDone(i, inc));
                    }
                }
                Out::Read { image, then } => {
                    let register = self.nodes[i].store.committed.get(&image).cloned();
                    self.at(
                        self.now + READ_MS,
                        Ev::Deliver { node: i, inc, ev: In::Read { image, register, then } },
                    );
                }
                Out::Write { register, then } => {
                    let image = *register.image_id();
                    self.nodes[i].store.pending.push((image, register, Some(then)));
                    self.schedule_commit(i);
                }
                Out::Answer { id, bytes } => {
                    if let Some((to, to_inc, image)) = self.fetches.get(&id).copied()
                        && to_inc == self.nodes[to].incarnation
                        && self.link_up(i, to)
                    {
                        self.fetches.remove(&id);
                        let at = self.now + self.plan.delay_ms.1;
                        self.at(at, Ev::Deliver { node: to, inc: to_inc, ev: In::Fetched { image, bytes } });
                    }
                }
                // The state drops a banned peer's gossip itself; the network side closes the
                // connection (a redial finds it again, as a node's would after the ban).
                Out::Ban(peer) => {
                    if let Some(&j) = self.peer_index.get(&peer) {
                        self.disconnect(i, j);
                    }
                }
                Out::Unban(_) => {}
                Out::Disconnect(peer) => {
                    if let Some(&j) = self.peer_index.get(&peer) {
                        self.disconnect(i, j);
                    }
                }
                Out::Reconcile { peer, digest } => self.reconcile(i, peer, digest),
                Out::FindSingleVotes { worker } => {
                    let worker_id = argus_protocol::ids::NodeId(worker);
                    let results = self.nodes[i]
                        .store
                        .committed
                        .values()
                        .filter_map(|r| {
                            let (d, c) = r.winner()?;
                            let mut by = c.attestations();
                            let (Some(a), None) = (by.next(), by.next()) else { return None };
                            (*a.node() == worker_id).then(|| argus_state::SingleVote {
                                image: *r.image_id(),
                                digest: *d,
                                model: c.model().clone(),
                                ts: a.ts(),
                            })
                        })
                        .take(argus_state::events::MAX_SINGLE_VOTES)
                        .collect();
                    let ev = In::SingleVotes { worker, results };
                    self.at(self.now + READ_MS, Ev::Deliver { node: i, inc, ev });
                }
                Out::SaveAuditRecord(r) => self.nodes[i].store.audit_record = r,
                Out::SaveClock(ts) => self.nodes[i].store.clock = self.nodes[i].store.clock.max(ts),
                Out::Observe(..) => {}
            }
        }
    }

    fn schedule_commit(&mut self, i: usize) {
        if !self.nodes[i].commit_scheduled {
            self.nodes[i].commit_scheduled = true;
            let inc = self.nodes[i].incarnation;
            self.at(self.now + COMMIT_MS, Ev::Commit(i, inc));
        }
    }

    pub(crate) fn commit(&mut self, i: usize) {
        self.nodes[i].commit_scheduled = false;
        for (image, changed, then) in self.nodes[i].store.commit() {
            self.observed.stored(image, self.now, self.blocked_ms);
            match then {
                Some(then) => self.deliver_now(i, In::Written { image, changed: Some(changed), then }),
                None if changed => {
                    if let Some(register) = self.nodes[i].store.committed.get(&image).cloned() {
                        self.deliver_now(i, In::Merged { register });
                    }
                }
                None => {}
            }
        }
    }

    fn fetch(&mut self, i: usize, image: argus_protocol::ids::ImageId, from: PeerId) {
        let id = self.next_fetch;
        self.next_fetch += 1;
        let inc = self.nodes[i].incarnation;
        self.fetches.insert(id, (i, inc, image));
        self.at(self.now + FETCH_TIMEOUT_MS, Ev::FetchTimeout(id));
        if from == self.sender_key.public().to_peer_id() {
            let s = sender(&self.plan);
            if self.reachable(s, i) && !self.rng.chance(self.plan.loss) {
                let bytes = self.images.iter().find(|(id, _)| *id == image).map(|(_, b)| b.clone());
                self.fetches.remove(&id);
                let at = self.now + 2 * self.plan.delay_ms.1;
                self.at(at, Ev::Deliver { node: i, inc, ev: In::Fetched { image, bytes } });
            }
        } else if let Some(&j) = self.peer_index.get(&from) {
            self.send(i, j, In::FetchAsked { id, image });
        }
    }

    pub(crate) fn worker_done(&mut self, i: usize) {
        let inc = self.nodes[i].incarnation;
        let Some(job) = self.nodes[i].queue.pop_front() else {
            self.nodes[i].worker_busy = false;
            return;
        };
        let outcome = self.nodes[i].detect(&job.image);
        let inference_ms = self.nodes[i].speed_ms as u32;
        if self.nodes[i].queue.is_empty() {
            self.nodes[i].worker_busy = false;
        } else {
            let t = self.now + self.nodes[i].speed_ms;
            self.at(t, Ev::WorkerDone(i, inc));
        }
        self.deliver_now(i, In::Inferred { job, outcome, inference_ms, thumbnail: None });
    }

    pub(crate) fn publish_digest(&mut self, i: usize) {
        let wall = self.time_of(i).wall_ms;
        let ranges = digest_ranges(wall)
            .into_iter()
            .flat_map(|(s, e)| self.nodes[i].store.fingerprints(s, e, 1))
            .collect();
        let node = NodeId(self.nodes[i].key.public().to_peer_id());
        self.gossip(i, GossipMessage::Digest(ReplicaDigest { node, ranges }));
    }

    /// Reconciles node `i` with `peer` as the node's anti-entropy does: `Plan` decides which
    /// ranges to split and pull; each round trip needs the link up.
    fn reconcile(&mut self, i: usize, peer: PeerId, digest: ReplicaDigest) {
        let Some(&j) = self.peer_index.get(&peer) else { return };
        let spans: Vec<_> = digest.ranges.iter().map(|r| (r.start_ms, r.end_ms)).collect();
        let mine: Vec<_> =
            spans.iter().flat_map(|&(s, e)| self.nodes[i].store.fingerprints(s, e, 1)).collect();
        let mut plan = Reconcile::new(&digest.ranges, &mine);
        while let Some(step) = plan.next_step() {
            if !self.runnable(j) || !self.link_up(i, j) {
                return;
            }
            match step {
                Step::Split { start_ms, end_ms } => {
                    let theirs = self.nodes[j].store.fingerprints(start_ms, end_ms, SPLIT);
                    let mine = self.nodes[i].store.fingerprints(start_ms, end_ms, SPLIT);
                    plan.split_answered(&theirs, &mine);
                }
                Step::Pull { start_ms, end_ms } => {
                    for reg in self.nodes[j].store.range(start_ms, end_ms) {
                        self.observed.sync_pulled += 1;
                        self.nodes[i].store.pending.push((*reg.image_id(), reg, None));
                    }
                    self.schedule_commit(i);
                }
            }
        }
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        if self.connected.remove(&(a.min(b), a.max(b))) {
            let (pa, pb) = (self.nodes[a].key.public().to_peer_id(), self.nodes[b].key.public().to_peer_id());
            self.deliver_now(a, In::PeerDown(pb));
            self.deliver_now(b, In::PeerDown(pa));
        }
    }

    /// Connects every pair of running nodes that reach each other and are not connected.
    pub(crate) fn redial(&mut self) {
        let s = sender(&self.plan);
        for i in 0..self.plan.nodes {
            if self.runnable(i) && self.reachable(s, i) && self.sender_connected.insert(i) {
                let sender_peer = self.sender_key.public().to_peer_id();
                self.deliver_now(i, In::PeerUp(sender_peer));
            }
        }
        for a in 0..self.plan.nodes {
            for b in a + 1..self.plan.nodes {
                if self.runnable(a)
                    && self.runnable(b)
                    && self.reachable(a, b)
                    && !self.connected.contains(&(a, b))
                {
                    self.connected.insert((a, b));
                    let (pa, pb) =
                        (self.nodes[a].key.public().to_peer_id(), self.nodes[b].key.public().to_peer_id());
                    self.deliver_now(a, In::PeerUp(pb));
                    self.deliver_now(b, In::PeerUp(pa));
                }
            }
        }
    }

    pub(crate) fn fault_start(&mut self, f: usize) {
        // A busy crash waits (up to `BUSY_WAIT_MS`) for some node to have work to lose.
        if let Fault::BusyCrash { at, .. } = self.plan.faults[f]
            && self.busiest().is_none_or(|(_, work)| work == 0)
            && self.now < at + crate::plan::BUSY_WAIT_MS
        {
            return self.at(self.now + crate::world::TICK_MS, Ev::FaultStart(f));
        }
        self.observed.faults += 1;
        match self.plan.faults[f].clone() {
            Fault::Partition { .. } | Fault::Cut { .. } => {
                // Links go dead silently (no reset): the nodes notice by missing heartbeats.
                self.active.insert(f);
            }
            Fault::Crash { node, .. } => {
                if self.nodes[node].alive() {
                    self.crash(node);
                }
            }
            Fault::Pause { node, until, .. } => {
                self.nodes[node].paused_until = self.nodes[node].paused_until.max(until);
            }
            Fault::BusyCrash { .. } => {
                let Some((node, _)) = self.busiest() else { return };
                self.busy_crashed.insert(f, node);
                self.crash(node);
            }
        }
    }

    /// The running node with the most work in its worker queue (ties: the lowest index), and
    /// how much.
    fn busiest(&self) -> Option<(usize, usize)> {
        let work = |n: &crate::node::SimNode| {
            n.queue.iter().filter(|j| matches!(j.purpose, Purpose::Work { .. })).count()
        };
        (0..self.plan.nodes)
            .filter(|&i| self.nodes[i].alive())
            .map(|i| (i, work(&self.nodes[i])))
            .max_by_key(|&(i, w)| (w, std::cmp::Reverse(i)))
    }

    fn crash(&mut self, node: usize) {
        for other in 0..self.plan.nodes {
            if other != node {
                // The OS closes a dead process's sockets: peers see the connection go.
                self.disconnect(node, other);
            }
        }
        self.nodes[node].crash();
    }

    pub(crate) fn fault_end(&mut self, f: usize) {
        match self.plan.faults[f].clone() {
            Fault::Partition { .. } | Fault::Cut { .. } => {
                self.active.remove(&f);
            }
            Fault::Crash { node, .. } => {
                if !self.nodes[node].alive() {
                    self.start_node(node);
                }
            }
            Fault::BusyCrash { .. } => {
                if let Some(&node) = self.busy_crashed.get(&f)
                    && !self.nodes[node].alive()
                {
                    self.start_node(node);
                }
            }
            Fault::Pause { .. } => {}
        }
    }
}

/// One line per published message of interest (`ARGUS_SIM_TRACE=1`).
fn trace_publish(now: u64, i: usize, msg: &GossipMessage) {
    let short = |id: &argus_protocol::ids::ImageId| id.to_string()[..8].to_string();
    match msg {
        GossipMessage::Result(r) => {
            eprintln!("{now:>6} n{i} result {} votes-for {}", short(&r.image_id), &r.digest.to_string()[..8])
        }
        GossipMessage::Claim(c) => {
            eprintln!("{now:>6} n{i} claim {} takeover={}", short(&c.image_id), c.takeover)
        }
        GossipMessage::Steal(s) => {
            eprintln!("{now:>6} n{i} steal {} from {}", s.count, &s.victim.to_string()[46..])
        }
        GossipMessage::Handoff(h) => {
            eprintln!("{now:>6} n{i} handoff {} images to {}", h.images.len(), &h.to.to_string()[46..])
        }
        GossipMessage::AuditRequest(r) => {
            eprintln!("{now:>6} n{i} audit-request {} -> {} auditors", short(&r.image_id), r.auditors.len())
        }
        GossipMessage::AuditVerdict(v) => eprintln!(
            "{now:>6} n{i} verdict {} pass={} worker {}",
            short(&v.image_id),
            v.pass,
            &v.worker.to_string()[..12]
        ),
        _ => {}
    }
}

fn trace_out(now: u64, i: usize, out: &Out) {
    let short = |id: &argus_protocol::ids::ImageId| id.to_string()[..8].to_string();
    match out {
        Out::Infer(j) if matches!(j.purpose, Purpose::Audit { .. }) => {
            eprintln!("{now:>6} n{i} audit-infer {}", short(&j.image))
        }
        Out::Fetch { image, from } => {
            eprintln!("{now:>6} n{i} fetch {} from {}", short(image), &from.to_string()[46..])
        }
        Out::FindSingleVotes { .. } => eprintln!("{now:>6} n{i} find-single-votes"),
        Out::Read { image, then: argus_state::ReadFor::Audit { .. } } => {
            eprintln!("{now:>6} n{i} audit-read {}", short(image))
        }
        _ => {}
    }
}

//! The simulated world: virtual time, one event queue, the network between the nodes and the
//! image sender, and the faults. Every decision that is random draws from one generator seeded
//! by the plan, and events at the same time keep their insertion order, so a seed replays
//! exactly.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use argus_protocol::ids::ImageId;
use argus_protocol::messages::GossipMessage;
use argus_state::rng::Rng;
use argus_state::{In, Now};
use libp2p_identity::{Keypair, PeerId};

use crate::check::{Observed, Report};
use crate::node::{SimNode, WORKER_QUEUE};
use crate::plan::{Fault, Plan};

pub(crate) const TICK_MS: u64 = 20;
const HEARTBEAT_MS: u64 = 1_000;
const DIGEST_MS: u64 = 1_000;
const REDIAL_MS: u64 = 500;
pub(crate) const FETCH_TIMEOUT_MS: u64 = 2_000;
/// How often the sender re-checks that an image was stored, and re-announces it if not.
const SENDER_RECHECK_MS: u64 = 3_000;
/// Wall clock at simulated time 0.
pub(crate) const EPOCH_WALL_MS: u64 = 1_800_000_000_000;
/// The sender's index in reachability (the nodes are 0..n).
pub(crate) fn sender(p: &Plan) -> usize {
    p.nodes
}

#[derive(Debug)]
pub(crate) enum Ev {
    Deliver {
        node: usize,
        inc: u32,
        ev: In,
    },
    Tick(usize, u32),
    /// The state's next claim deadline (`State::next_wake_ms`).
    Wake(usize, u32),
    Heartbeat(usize, u32),
    Digest(usize, u32),
    WorkerDone(usize, u32),
    Commit(usize, u32),
    Announce(usize),
    SenderCheck,
    Redial,
    FetchTimeout(u64),
    FaultStart(usize),
    FaultEnd(usize),
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

pub struct World {
    pub(crate) plan: Plan,
    pub(crate) rng: Rng,
    pub(crate) now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) peer_index: HashMap<PeerId, usize>,
    pub(crate) sender_key: Keypair,
    /// The images the sender announces: id, bytes.
    pub(crate) images: Vec<(ImageId, Arc<Vec<u8>>)>,
    /// Images the sender has announced (and re-announces until one is stored).
    pub(crate) announced: BTreeSet<usize>,
    /// Faults in force: index into `plan.faults`.
    pub(crate) active: BTreeSet<usize>,
    /// Connected pairs (a < b); the sender is always connected when reachable.
    pub(crate) connected: BTreeSet<(usize, usize)>,
    /// Nodes the sender is connected to (it serves fetches as a peer).
    pub(crate) sender_connected: BTreeSet<usize>,
    /// Outstanding fetches: id -> (requester, its incarnation, image).
    pub(crate) fetches: HashMap<u64, (usize, u32, ImageId)>,
    pub(crate) next_fetch: u64,
    pub observed: Observed,
    pub(crate) trace: bool,
    /// Time so far during which no node could work for the sender: none was running and
    /// reachable from it (every node crashed, paused or cut off), ms.
    pub(crate) blocked_ms: u64,
    /// Per `BusyCrash` fault (index into `plan.faults`): the node it crashed.
    pub(crate) busy_crashed: HashMap<usize, usize>,
}

impl World {
    pub fn new(plan: Plan) -> Self {
        let mut rng = Rng::new(plan.seed);
        let nodes: Vec<SimNode> = (0..plan.nodes)
            .map(|i| {
                let mut node = SimNode::new(
                    i,
                    plan.seed,
                    plan.speed_ms[i],
                    plan.skew_ms[i],
                    plan.noisy[i],
                    plan.anomalous == Some(i),
                );
                node.bidders = plan.bidders;
                node.black_hole = plan.black_hole == Some(i);
                node
            })
            .collect();
        let peer_index = nodes.iter().enumerate().map(|(i, n)| (n.key.public().to_peer_id(), i)).collect();
        let images = (0..plan.images.len())
            .map(|_| {
                let len = 64 + rng.below(2_000) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                (ImageId::of_bytes(&bytes), Arc::new(bytes))
            })
            .collect();
        let sender_key = Keypair::ed25519_from_bytes([0xAA; 32]).expect("32 bytes make an ed25519 key");
        Self {
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            peer_index,
            sender_key,
            images,
            announced: BTreeSet::new(),
            active: BTreeSet::new(),
            connected: BTreeSet::new(),
            sender_connected: BTreeSet::new(),
            fetches: HashMap::new(),
            next_fetch: 0,
            observed: Observed::default(),
            trace: std::env::var_os("ARGUS_SIM_TRACE").is_some(),
            blocked_ms: 0,
            busy_crashed: HashMap::new(),
            plan,
        }
    }

    pub(crate) fn at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at, seq: self.seq, ev }));
    }

    pub fn run(mut self) -> Report {
        for i in 0..self.plan.nodes {
            self.start_node(i);
        }
        for (i, &t) in self.plan.images.clone().iter().enumerate() {
            self.at(t, Ev::Announce(i));
        }
        for (i, f) in self.plan.faults.clone().iter().enumerate() {
            let (start, end) = match f {
                Fault::Partition { at, until, .. } | Fault::Cut { at, until, .. } => (*at, *until),
                Fault::Crash { at, restart, .. } | Fault::BusyCrash { at, restart } => (*at, *restart),
                Fault::Pause { at, until, .. } => (*at, *until),
            };
            self.at(start, Ev::FaultStart(i));
            self.at(end, Ev::FaultEnd(i));
        }
        self.at(0, Ev::Redial);
        self.at(SENDER_RECHECK_MS, Ev::SenderCheck);
        while let Some(Reverse(q)) = self.queue.pop() {
            if q.at > self.plan.end_ms {
                break;
            }
            if self.blocked() {
                self.blocked_ms += q.at - self.now;
            }
            self.now = q.at;
            self.step(q.ev);
        }
        crate::check::check(
            &self.plan,
            &self.nodes,
            &self.observed,
            self.images.iter().map(|i| i.0).collect(),
        )
    }

    pub(crate) fn start_node(&mut self, i: usize) {
        let seed = self.plan.seed;
        self.nodes[i].start(i, self.now, seed);
        let inc = self.nodes[i].incarnation;
        if self.nodes[i].anomalous {
            self.deliver_now(i, In::SetFault(1_000_000));
        }
        // The sender connects (again) at the next redial.
        self.sender_connected.remove(&i);
        let phase = self.rng.below(TICK_MS);
        self.at(self.now + phase, Ev::Tick(i, inc));
        let phase = self.rng.below(HEARTBEAT_MS);
        self.at(self.now + phase, Ev::Heartbeat(i, inc));
        let phase = self.rng.below(DIGEST_MS);
        self.at(self.now + phase, Ev::Digest(i, inc));
    }

    pub(crate) fn time_of(&self, i: usize) -> Now {
        let n = &self.nodes[i];
        let wall = (EPOCH_WALL_MS + self.now) as i64 + n.skew_ms;
        Now { ms: self.now - n.started_ms, wall_ms: wall as u64 }
    }

    /// Whether messages get from `a` to `b` now (either may be the sender).
    pub(crate) fn reachable(&self, a: usize, b: usize) -> bool {
        self.active.iter().all(|&f| match &self.plan.faults[f] {
            Fault::Partition { sides, .. } => sides[a] == sides[b],
            Fault::Cut { pairs, .. } => !pairs.contains(&(a.min(b), a.max(b))),
            _ => true,
        })
    }

    /// Whether no node can work for the sender now: none is running, unpaused and reachable.
    fn blocked(&self) -> bool {
        let s = sender(&self.plan);
        // A black hole runs but never works.
        !(0..self.plan.nodes).any(|i| self.runnable(i) && !self.nodes[i].black_hole && self.reachable(s, i))
    }

    pub(crate) fn runnable(&self, i: usize) -> bool {
        self.nodes[i].alive() && self.nodes[i].paused_until <= self.now
    }

    pub(crate) fn link_up(&self, a: usize, b: usize) -> bool {
        let s = sender(&self.plan);
        if a == s || b == s {
            return self.reachable(a, b);
        }
        self.connected.contains(&(a.min(b), a.max(b))) && self.reachable(a, b)
    }

    /// One network hop: lost, delayed, sometimes duplicated.
    pub(crate) fn send(&mut self, from: usize, to: usize, ev: In) {
        if !self.link_up(from, to) || self.rng.chance(self.plan.loss) {
            return;
        }
        let (lo, hi) = self.plan.delay_ms;
        let copies = if self.rng.chance(self.plan.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + lo + self.rng.below(hi - lo + 1);
            let inc = self.nodes[to].incarnation;
            self.at(at, Ev::Deliver { node: to, inc, ev: ev.clone() });
        }
    }

    pub(crate) fn gossip(&mut self, from: usize, msg: GossipMessage) {
        let author = if from == sender(&self.plan) {
            self.sender_key.public().to_peer_id()
        } else {
            self.nodes[from].key.public().to_peer_id()
        };
        for to in 0..self.plan.nodes {
            if to != from && self.nodes[to].alive() {
                self.send(from, to, In::Gossip { author, msg: msg.clone() });
            }
        }
    }

    pub(crate) fn deliver_now(&mut self, i: usize, ev: In) {
        let now = self.time_of(i);
        let node = &mut self.nodes[i];
        let Some(state) = node.state.as_mut() else { return };
        let outs = state.handle(ev, now);
        let wake = state.next_wake_ms().map(|ms| (node.started_ms + ms).max(self.now));
        self.observed.bounds(state, &node.queue, WORKER_QUEUE);
        if let Some(t) = wake
            && node.wake_at.is_none_or(|at| t < at)
        {
            node.wake_at = Some(t);
            let inc = node.incarnation;
            self.at(t, Ev::Wake(i, inc));
        }
        self.apply(i, outs);
    }

    fn step(&mut self, ev: Ev) {
        // A paused node's events wait for it to resume.
        let held = |w: &Self, node: usize| w.nodes[node].alive() && w.nodes[node].paused_until > w.now;
        match ev {
            Ev::Deliver { node, inc, ev } => {
                if inc != self.nodes[node].incarnation {
                    return;
                }
                if held(self, node) {
                    let t = self.nodes[node].paused_until;
                    return self.at(t, Ev::Deliver { node, inc, ev });
                }
                // An overloaded node handles one event at a time, each taking `handle_ms`.
                let cost = self.plan.handle_ms[node];
                if cost > 0 {
                    if self.nodes[node].busy_until > self.now {
                        let t = self.nodes[node].busy_until;
                        return self.at(t, Ev::Deliver { node, inc, ev });
                    }
                    self.nodes[node].busy_until = self.now + cost;
                }
                self.deliver_now(node, ev);
            }
            Ev::Tick(i, inc) | Ev::Wake(i, inc) | Ev::Heartbeat(i, inc) | Ev::Digest(i, inc)
                if inc != self.nodes[i].incarnation => {}
            Ev::Wake(i, inc) => {
                if held(self, i) {
                    let t = self.nodes[i].paused_until;
                    return self.at(t, Ev::Wake(i, inc));
                }
                // A later wake is scheduled by this delivery when one is still wanted.
                if self.nodes[i].wake_at.is_some_and(|at| at <= self.now) {
                    self.nodes[i].wake_at = None;
                }
                self.deliver_now(i, In::Wake);
            }
            Ev::Tick(i, inc) => {
                if !held(self, i) {
                    self.deliver_now(i, In::Tick);
                }
                self.at(self.now + TICK_MS, Ev::Tick(i, inc));
            }
            Ev::Heartbeat(i, inc) => {
                if !held(self, i) {
                    self.deliver_now(i, In::Heartbeat);
                }
                self.at(self.now + HEARTBEAT_MS, Ev::Heartbeat(i, inc));
            }
            Ev::Digest(i, inc) => {
                if !held(self, i) {
                    self.publish_digest(i);
                }
                self.at(self.now + DIGEST_MS, Ev::Digest(i, inc));
            }
            Ev::WorkerDone(i, inc) => {
                if inc == self.nodes[i].incarnation {
                    self.worker_done(i);
                }
            }
            Ev::Commit(i, inc) => {
                if inc == self.nodes[i].incarnation {
                    self.commit(i);
                }
            }
            Ev::Announce(k) => {
                self.announced.insert(k);
                self.observed.announced_at.insert(self.images[k].0, (self.now, self.blocked_ms));
                self.announce(k);
            }
            Ev::SenderCheck => {
                self.sender_check();
                self.at(self.now + SENDER_RECHECK_MS, Ev::SenderCheck);
            }
            Ev::Redial => {
                self.redial();
                self.at(self.now + REDIAL_MS, Ev::Redial);
            }
            Ev::FetchTimeout(id) => {
                if let Some((node, inc, image)) = self.fetches.remove(&id)
                    && inc == self.nodes[node].incarnation
                {
                    self.deliver_now(node, In::Fetched { image, bytes: None });
                }
            }
            Ev::FaultStart(f) => self.fault_start(f),
            Ev::FaultEnd(f) => self.fault_end(f),
        }
    }
}

//! The `State`: everything one node knows about the protocol, and its event dispatch. The
//! handlers live beside it: `work` (announcements, auctions, results), `audit`, and `peers`
//! (who is there: heartbeats, liveness, expected bidders). Every
//! handler pushes its effects onto `out`, which `handle` hands back.

use std::collections::{HashMap, HashSet};

use argus_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcTimestamp};
use argus_protocol::ids::NodeId;
use argus_protocol::messages::GossipMessage;
use argus_protocol::model_ref::ModelRef;
use libp2p_identity::{Keypair, PeerId};

use crate::counters::Counters;
use crate::events::{In, Now, Out};
use crate::images::ImageBuffer;
use crate::ledger::{Audits, Suspicion};
use crate::load::Load;
use crate::ratio::{AuditRatio, RatioConfig};
use crate::rng::Rng;
use crate::sched::{SchedConfig, Scheduler};
use crate::seen::{MAX_NODES_SEEN, NodeSeen};

/// The protocol's timing and bounds.
#[derive(Debug, Clone)]
pub struct Config {
    pub sched: SchedConfig,
    pub ratio: RatioConfig,
    /// FAIL verdicts after which a worker is suspect and all its results are audited.
    pub suspect_after_fails: u32,
    /// A node not heard from (heartbeat) for this long is not asked for audits or queries.
    pub node_live_ms: u64,
    /// How long a connected peer that has neither sent a heartbeat nor announced an image
    /// keeps auctions from closing early (it may be a node whose first heartbeat is still on
    /// its way: one and a half heartbeat periods).
    pub settle_ms: u64,
    /// A connected node silent this long has its connection closed (a partition cuts links
    /// without resetting TCP; closing lets redialling find it again).
    pub silent_connection_ms: u64,
    /// Finished images stay buffered this long so auditors and late fetchers find them.
    pub image_retain_ms: u64,
    /// Jobs in the inference worker's queue at once; the rest wait in the state's backlog,
    /// where a work image can still yield to a better claim (see `dispatch`).
    pub dispatch_depth: usize,
    /// Uploaded images up to this size travel inside their announcement; larger ones are
    /// fetched by the nodes that bid for them (at most `MAX_INLINE_IMAGE_BYTES`).
    pub inline_max_bytes: usize,
    /// Offence scores, bans, and how long a holder may deliver nothing (see `reputation`).
    pub reputation: crate::reputation::ReputationConfig,
}

/// Images up to this size travel inside their announcement by default: see `Config`. Larger
/// ones reach only the nodes that bid for them (an image's few candidates fetch it from its
/// source as soon as they bid, see `prefetch`), so the bytes a node receives per image do not
/// grow with the network. Measured with `argus-netbench --inline-max-bytes 16384` on 36 KiB
/// images: 32.7 KiB per node per image at 3 nodes, 13.9 at 8, 8.2 at 16 (every image inline:
/// 36-69 KiB, more under a flood's re-announcements); at 2 nodes with audits off the throughput
/// share was 0.88 and 0.93, against 0.91 with every image inline.
pub const DEFAULT_INLINE_MAX_BYTES: usize = 16 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            sched: SchedConfig {
                bid_window_ms: 120,
                claim_grace_ms: 300,
                result_slack_ms: 3_000,
                claim_confirm_ms: 60,
                complete_confirm_ms: 10,
                max_open: 4_096,
                max_done: 65_536,
                bidders: 3,
            },
            ratio: RatioConfig::default(),
            suspect_after_fails: 1,
            node_live_ms: 5_000,
            settle_ms: 1_500,
            silent_connection_ms: 4_000,
            image_retain_ms: 120_000,
            dispatch_depth: 16,
            inline_max_bytes: DEFAULT_INLINE_MAX_BYTES,
            reputation: Default::default(),
        }
    }
}

/// Who this node is.
pub struct Identity {
    pub key: Keypair,
    pub name: String,
    /// The inference backend, as heartbeats report it.
    pub backend: String,
    /// Where this node's HTTP API listens, as heartbeats report it.
    pub http_addr: Option<String>,
}

/// What the store kept of the node's previous run.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    /// The clock's high-water mark.
    pub clock_ms: u64,
    pub audit_record: crate::ledger::AuditRecord,
}

/// A model name this build knows, with its number of classes.
#[derive(Debug, Clone)]
pub struct KnownModel {
    pub name: String,
    pub classes: usize,
}

pub struct State {
    pub(crate) me: PeerId,
    pub(crate) id: Identity,
    pub(crate) cfg: Config,
    /// Every model name this build knows; only these are accepted from the wire.
    pub(crate) known: Vec<KnownModel>,
    /// The models this node runs, with their weights.
    pub(crate) served: Vec<ModelRef>,
    pub(crate) sched: Scheduler<argus_protocol::ids::ImageId, PeerId>,
    pub(crate) images: ImageBuffer,
    pub(crate) hlc: Hlc,
    pub(crate) load: Load,
    pub(crate) backlog: crate::backlog::Backlog,
    pub(crate) ratio: AuditRatio,
    pub(crate) audits: Audits,
    pub(crate) suspicion: Suspicion,
    pub(crate) rng: Rng,
    /// Connected peers, and when each connected (`Now::ms`).
    pub(crate) peers: HashMap<PeerId, u64>,
    /// Images we took on and are fetching, with the nodes still to ask should this fetch fail.
    /// At most one entry per open auction.
    pub(crate) work_fetches: HashMap<argus_protocol::ids::ImageId, Vec<PeerId>>,
    /// Image fetches in flight and waiting, and the prefetches among them (see `inflight`).
    pub(crate) fetches: crate::inflight::Fetches,
    /// Peers that announced images without ever sending a heartbeat: sources, not bidders
    /// (bounded by `MAX_NODES_SEEN`).
    pub(crate) sources: HashSet<PeerId>,
    pub(crate) nodes: HashMap<PeerId, NodeSeen>,
    /// How late peers' heartbeats arrive; the liveness window and the silent-connection rule
    /// follow it (see `lateness::HeartbeatGaps`).
    pub(crate) hb_gaps: crate::lateness::HeartbeatGaps,
    pub(crate) heartbeat_seq: u64,
    pub(crate) fault_ppm: u32,
    /// FAULT INJECTION: a black hole or a liar (see `bans`).
    pub(crate) hostile: crate::fault::Hostile,
    /// A liar's lies so far, and the last attestation it overheard from another worker.
    pub(crate) lies: u64,
    pub(crate) overheard: Option<argus_protocol::attestation::AttestationWire>,
    pub(crate) rep: crate::reputation::Reputation,
    pub(crate) counters: Counters,
    pub(crate) now: Now,
    pub(crate) out: Vec<Out>,
    /// False until the first heartbeat, which re-checks what the audit record doubts.
    pub(crate) started: bool,
    /// An idle node asks for work again no earlier than this (`Now::ms`; see `steal`).
    pub(crate) steal_quiet_until: u64,
    /// The wait after the next `Steal` (0: `STEAL_RETRY_MS`): doubles while steals bring
    /// nothing (see `steal`).
    pub(crate) steal_backoff_ms: u64,
}

/// Events reach a running node at least every tick (20 ms); a gap this long between two means
/// the node itself did not run (starved of CPU on an overloaded machine, or stopped).
pub const STALL_MS: u64 = 1_000;
/// The most time a stall is credited (see `resume_after`).
pub const MAX_STALL_CREDIT_MS: u64 = 60_000;

impl State {
    /// We did not run for `gap_ms`: while we did not, nothing from the network was read either,
    /// and the peers' heartbeats and renewals of that time wait unread in our sockets. Judged
    /// now, every peer would look silent and every holder late at once (a node of 12 on 2
    /// cores closed five healthy connections in one millisecond and took 159 images over from
    /// live holders). So the time we missed is not counted against anyone: each peer's silence
    /// clock and each holder's deadline move on by it; the messages then read count as usual.
    fn resume_after(&mut self, gap_ms: u64) {
        let gap = gap_ms.min(MAX_STALL_CREDIT_MS);
        let now = self.now.ms;
        for s in self.nodes.values_mut() {
            s.last_ms = (s.last_ms + gap).min(now);
        }
        self.sched.extend_deadlines(gap);
        self.counters.stalls += 1;
    }

    /// A node's state. `durable`: what the store kept of the last run; `seed` seeds the audit
    /// choices.
    pub fn new(
        id: Identity,
        cfg: Config,
        known: Vec<KnownModel>,
        served: Vec<ModelRef>,
        durable: Durable,
        seed: u64,
    ) -> Self {
        let me = id.key.public().to_peer_id();
        let clock_ms = durable.clock_ms;
        let mut state = Self {
            me,
            sched: Scheduler::new(me, cfg.sched.clone()),
            images: ImageBuffer::new(cfg.sched.max_open, cfg.image_retain_ms),
            hlc: Hlc::resume(HlcTimestamp(clock_ms), DEFAULT_MAX_DRIFT_MS),
            load: Load::new(&served),
            backlog: Default::default(),
            ratio: AuditRatio::new(&cfg.ratio),
            audits: Audits::default(),
            suspicion: Default::default(),
            rng: Rng::new(seed),
            peers: HashMap::new(),
            work_fetches: HashMap::new(),
            fetches: Default::default(),
            sources: HashSet::new(),
            nodes: HashMap::new(),
            hb_gaps: Default::default(),
            heartbeat_seq: 0,
            fault_ppm: 0,
            hostile: Default::default(),
            lies: 0,
            overheard: None,
            rep: crate::reputation::Reputation::new(cfg.reputation.clone()),
            counters: Counters::default(),
            now: Now { ms: 0, wall_ms: 0 },
            out: Vec::new(),
            started: false,
            steal_quiet_until: 0,
            steal_backoff_ms: 0,
            id,
            cfg,
            known,
            served,
        };
        state.restore_audit_record(durable.audit_record);
        state
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    /// When (in `Now::ms`) the state wants an `In::Wake`: the end of its earliest claim
    /// confirm period; `None` when nothing waits.
    pub fn next_wake_ms(&self) -> Option<u64> {
        self.sched.next_due()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The clock's high-water mark (saved on shutdown).
    pub fn clock(&self) -> u64 {
        self.hlc.last().0
    }

    /// Images in the auction (open or being processed here).
    pub fn open_images(&self) -> usize {
        self.sched.open_len()
    }

    /// Images buffered (bytes or metadata).
    pub fn buffered_images(&self) -> usize {
        self.images.len()
    }

    /// Handles one event at `now`; returns what the caller must do, in order.
    pub fn handle(&mut self, ev: In, now: Now) -> Vec<Out> {
        let gap_ms = now.ms.saturating_sub(self.now.ms);
        self.now = now;
        if gap_ms >= STALL_MS {
            self.resume_after(gap_ms);
        }
        match ev {
            In::Gossip { author, .. } if self.drop_banned(&author) => {}
            In::Gossip { author, msg } => self.on_gossip(author, msg),
            In::Offence { peer, offence } => self.offend(peer, offence),
            In::PeerUp(p) if self.is_banned(&p) => {}
            In::PeerUp(p) => {
                self.peers.entry(p).or_insert(now.ms);
                self.counters.peers = self.peers.len() as u64;
            }
            In::PeerDown(p) => {
                self.peers.remove(&p);
                self.counters.peers = self.peers.len() as u64;
            }
            In::Tick => self.on_tick(),
            In::Wake => self.on_wake(),
            In::Heartbeat => self.on_heartbeat(),
            In::Fetched { image, bytes } => self.on_fetched(image, bytes),
            In::Inferred { job, outcome, inference_ms, thumbnail } => {
                self.on_inferred(job, outcome, inference_ms, thumbnail);
                self.pump();
            }
            In::InferRefused { job } => {
                self.on_infer_refused(job);
                self.pump();
            }
            In::Read { image, register, then } => self.on_read(image, register, then),
            In::Written { image, changed, then } => self.on_written(image, changed, then),
            In::SingleVotes { worker, results } => self.on_single_votes(worker, results),
            In::Merged { register } => self.on_merged(&register),
            In::FetchAsked { id, image } => {
                let bytes = self.images.get(&image).and_then(|e| e.bytes.clone());
                self.out.push(Out::Answer { id, bytes });
            }
            In::SetFault(ppm) => self.fault_ppm = ppm,
        }
        std::mem::take(&mut self.out)
    }

    fn on_gossip(&mut self, author: PeerId, msg: GossipMessage) {
        match msg {
            GossipMessage::Announce(a) => {
                if !self.nodes.contains_key(&author) && self.sources.len() < MAX_NODES_SEEN {
                    self.sources.insert(author);
                }
                self.on_announce(a)
            }
            GossipMessage::Bid(b) => self.on_bid(b.image_id, author, b.wait_ms),
            GossipMessage::Claim(c) => {
                if c.takeover && author != self.me && self.sched.is_done(&c.image_id) {
                    // A takeover of an image we know finished: the claimer missed its result.
                    // If the result is ours, publish it again (only its worker may).
                    self.out.push(Out::Read { image: c.image_id, then: crate::events::ReadFor::Republish });
                }
                if let Some(a) =
                    self.sched.on_claim(&c.image_id, author, c.bid_ms, c.wait_ms, c.takeover, self.now.ms)
                {
                    self.act(a);
                }
            }
            GossipMessage::Steal(s) => self.on_steal(author, s),
            GossipMessage::Handoff(h) => self.on_handoff(author, h),
            GossipMessage::Result(r) => self.on_result(r),
            GossipMessage::Heartbeat(h) => self.on_peer_heartbeat(h),
            GossipMessage::AuditRequest(r) => self.on_audit_request(r),
            GossipMessage::AuditVerdict(v) => self.on_audit_verdict(v),
            GossipMessage::Digest(d) => {
                if author != self.me {
                    self.out.push(Out::Reconcile { peer: author, digest: d });
                }
            }
        }
    }

    pub(crate) fn node_id(&self) -> NodeId {
        NodeId(self.me)
    }

    pub(crate) fn publish(&mut self, msg: GossipMessage) {
        self.out.push(Out::Publish(msg));
    }

    /// The number of classes of a model name this build knows.
    pub(crate) fn classes(&self, name: &str) -> Option<usize> {
        self.known.iter().find(|k| k.name == name).map(|k| k.classes)
    }

    /// The model (with our weights) we serve under this name.
    pub(crate) fn served(&self, name: &str) -> Option<&ModelRef> {
        self.served.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
#[path = "stall_tests.rs"]
mod stall_tests;

//! The node core: one async task that owns the node's protocol state (auction, image buffer,
//! clock, live-node table, audit state) and reacts to network events, worker results, HTTP
//! commands and timers. It never blocks: LMDB runs on the store thread, inference on the
//! worker thread, and slow follow-ups (store writes, image fetches) run in spawned tasks whose
//! number is capped by a semaphore.
//!
//! - `gossip`: handlers for each gossip message.
//! - `work`: auction actions, worker results, publishing our own results.
//! - `inbound`: answers to peers' fetch, query and sync requests.
//! - `audit`: audit requests and verdicts (the ratio itself lives in `crate::audit`).

mod audit;
mod gossip;
mod inbound;
mod work;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argus_protocol::hlc::{DEFAULT_MAX_DRIFT_MS, Hlc, HlcTimestamp};
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::messages::{GossipMessage, Heartbeat};
use argus_protocol::model_ref::ModelRef;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::warn;

use crate::audit::AuditRatio;
use crate::config::NodeConfig;
use crate::images::ImageBuffer;
use crate::metrics::Metrics;
use crate::net::{NetEvent, NetHandle};
use crate::sched::{SchedConfig, Scheduler};
use crate::store::StoreHandle;
use crate::worker::{Done, WorkerHandle};

/// Spawned follow-up tasks (store writes, fetches) in flight at once; beyond it the core does
/// the work inline, which slows intake instead of growing memory.
const MAX_FOLLOW_UPS: usize = 512;
/// Scheduler tick: bid windows and deadlines are checked this often.
const TICK: Duration = Duration::from_millis(20);
/// Finished images stay buffered this long so auditors and late fetchers find them.
const IMAGE_RETAIN_MS: u64 = 120_000;
/// A node not heard from (heartbeat) for this long is not asked for audits or queries.
pub const NODE_LIVE_MS: u64 = 5_000;
/// A connected node silent this long (four missed heartbeats) has its connection closed.
const SILENT_CONNECTION_MS: u64 = 4_000;

/// Commands from the HTTP API.
pub enum Command {
    /// Announce an uploaded image needing `model` (a known name); answers its id once announced.
    Announce { bytes: Vec<u8>, model: String, reply: oneshot::Sender<Result<ImageId, String>> },
    /// Live nodes (heard from recently and connected).
    LiveNodes { reply: oneshot::Sender<Vec<PeerId>> },
}

/// Results of spawned follow-ups, fed back into the core.
pub enum Internal {
    Fetched { image: ImageId, bytes: Option<Arc<Vec<u8>>> },
}

pub(crate) struct NodeSeen {
    pub last_ms: u64,
    /// The node's uptime in its last heartbeat: a smaller one means it restarted.
    pub uptime_ms: u64,
    /// The models (and weights) its last heartbeat advertised.
    pub models: Vec<ModelRef>,
}

pub struct Core {
    pub(crate) me: PeerId,
    pub(crate) key: Keypair,
    pub(crate) name: String,
    pub(crate) cfg: NodeConfig,
    pub(crate) started: Instant,
    pub(crate) sched: Scheduler<ImageId, PeerId>,
    pub(crate) images: ImageBuffer,
    pub(crate) hlc: Hlc,
    pub(crate) store: StoreHandle,
    pub(crate) net: NetHandle,
    pub(crate) worker: WorkerHandle,
    pub(crate) metrics: Arc<Metrics>,
    /// Anomalous-result fault rate in parts per million (fault injection; 0 = off).
    pub(crate) fault_ppm: Arc<AtomicU32>,
    pub(crate) peers: std::collections::HashSet<PeerId>,
    pub(crate) nodes: HashMap<PeerId, NodeSeen>,
    pub(crate) heartbeat_seq: u64,
    pub(crate) http_addr: Option<String>,
    pub(crate) follow_ups: Arc<Semaphore>,
    pub(crate) internal_tx: mpsc::Sender<Internal>,
    pub(crate) ratio: AuditRatio,
    pub(crate) audits: audit::Audits,
    pub(crate) sync_tx: mpsc::Sender<(PeerId, argus_protocol::messages::ReplicaDigest)>,
}

/// What the core needs from the outside world.
pub struct CoreParts {
    pub key: Keypair,
    pub name: String,
    pub cfg: NodeConfig,
    pub store: StoreHandle,
    pub clock_ms: u64,
    pub net: NetHandle,
    pub worker: WorkerHandle,
    pub metrics: Arc<Metrics>,
    pub fault_ppm: Arc<AtomicU32>,
    pub http_addr: Option<String>,
    pub sync_tx: mpsc::Sender<(PeerId, argus_protocol::messages::ReplicaDigest)>,
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Core {
    pub fn new(p: CoreParts) -> (Self, mpsc::Receiver<Internal>) {
        let s = &p.cfg.sched;
        let sched_cfg = SchedConfig {
            bid_window_ms: s.bid_window_ms,
            claim_grace_ms: s.claim_grace_ms,
            result_slack_ms: s.result_slack_ms,
            claim_confirm_ms: s.claim_confirm_ms,
            max_open: s.max_open_images,
            max_done: s.max_done_images,
        };
        let me = p.key.public().to_peer_id();
        let (internal_tx, internal_rx) = mpsc::channel(p.cfg.net.channel_capacity);
        let ratio = AuditRatio::new(&p.cfg.audit);
        let core = Self {
            me,
            sched: Scheduler::new(me, sched_cfg),
            images: ImageBuffer::new(p.cfg.sched.max_open_images, IMAGE_RETAIN_MS),
            hlc: Hlc::resume(HlcTimestamp(p.clock_ms), DEFAULT_MAX_DRIFT_MS),
            key: p.key,
            name: p.name,
            cfg: p.cfg,
            started: Instant::now(),
            store: p.store,
            net: p.net,
            worker: p.worker,
            metrics: p.metrics,
            fault_ppm: p.fault_ppm,
            peers: Default::default(),
            nodes: HashMap::new(),
            heartbeat_seq: 0,
            http_addr: p.http_addr,
            follow_ups: Arc::new(Semaphore::new(MAX_FOLLOW_UPS)),
            internal_tx,
            ratio,
            audits: audit::Audits::default(),
            sync_tx: p.sync_tx,
        };
        (core, internal_rx)
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(crate) fn node_id(&self) -> NodeId {
        NodeId(self.me)
    }

    /// Live peers: connected and heard from within `NODE_LIVE_MS`.
    pub(crate) fn live_nodes(&self) -> Vec<PeerId> {
        let now = self.now_ms();
        let mut v: Vec<_> = self
            .nodes
            .iter()
            .filter(|(p, s)| self.peers.contains(p) && now.saturating_sub(s.last_ms) < NODE_LIVE_MS)
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        v
    }

    /// Live peers that run exactly this model and weights (candidate auditors).
    pub(crate) fn live_holders(&self, model: &ModelRef) -> Vec<PeerId> {
        let mut v = self.live_nodes();
        v.retain(|p| self.nodes.get(p).is_some_and(|s| s.models.contains(model)));
        v
    }

    /// Runs until `shutdown` resolves or every input closes.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut net_events: mpsc::Receiver<NetEvent>,
        mut done: mpsc::Receiver<Done>,
        mut internal: mpsc::Receiver<Internal>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(Duration::from_millis(self.cfg.net.heartbeat_interval_ms));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(d) = done.recv() => self.on_done(d).await,
                Some(ev) = net_events.recv() => self.on_net(ev).await,
                Some(i) = internal.recv() => self.on_internal(i).await,
                Some(c) = commands.recv() => self.on_command(c).await,
                _ = tick.tick() => self.on_tick().await,
                _ = heartbeat.tick() => self.heartbeat().await,
                else => break,
            }
        }
        self.store.save_clock(self.hlc.last().0);
    }

    async fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Gossip { author, msg } => self.on_gossip(author, *msg).await,
            NetEvent::Inbound { id, peer, req } => self.on_inbound(id, peer, req).await,
            NetEvent::PeerUp(p) => {
                self.peers.insert(p);
                self.metrics.peers.store(self.peers.len() as u64, Ordering::Relaxed);
            }
            NetEvent::PeerDown(p) => {
                self.peers.remove(&p);
                self.metrics.peers.store(self.peers.len() as u64, Ordering::Relaxed);
            }
            NetEvent::Listening(_) => {}
        }
    }

    async fn on_command(&mut self, c: Command) {
        match c {
            Command::Announce { bytes, model, reply } => {
                let r = self.announce_upload(bytes, model).await;
                let _ = reply.send(r);
            }
            Command::LiveNodes { reply } => {
                let _ = reply.send(self.live_nodes());
            }
        }
    }

    async fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Fetched { image, bytes } => self.on_fetched(image, bytes).await,
        }
    }

    async fn heartbeat(&mut self) {
        self.heartbeat_seq += 1;
        let m = &self.metrics;
        let hb = Heartbeat {
            node: self.node_id(),
            seq: self.heartbeat_seq,
            uptime_ms: self.now_ms(),
            queue_len: self.worker.load.jobs.load(Ordering::Relaxed).min(u64::from(u32::MAX)) as u32,
            avg_inference_ms: self.worker.load.avg_ms_overall(),
            backend: self.worker.backend.to_string(),
            models: self.worker.models.refs(),
            audit_ratio: self.ratio.value() as f32,
            images_processed: m.images_processed.load(Ordering::Relaxed),
            audits_failed_against: m.audits_failed_against.load(Ordering::Relaxed),
            http_addr: self.http_addr.clone(),
        };
        self.publish(GossipMessage::Heartbeat(hb)).await;
        self.drop_silent_connections().await;
        self.store.save_clock(self.hlc.last().0);
        self.images.expire(self.now_ms());
        self.audit_housekeeping().await;
    }

    /// A connected node whose heartbeats stopped sits behind a dead link (a partition cuts
    /// links without resetting TCP): close the connection so redialling can find it again.
    async fn drop_silent_connections(&mut self) {
        let now = self.now_ms();
        let silent: Vec<PeerId> = self
            .nodes
            .iter()
            .filter(|(p, s)| self.peers.contains(p) && now.saturating_sub(s.last_ms) > SILENT_CONNECTION_MS)
            .map(|(p, _)| *p)
            .collect();
        for peer in silent {
            // Forget it until it is heard again, so the connection is closed once.
            self.nodes.remove(&peer);
            let _ = self.net.send(crate::net::NetCommand::Disconnect { peer }).await;
        }
    }

    pub(crate) async fn publish(&self, msg: GossipMessage) {
        if let Err(e) = self.net.publish(&msg).await {
            warn!(error = %e, "cannot publish");
        }
    }
}
